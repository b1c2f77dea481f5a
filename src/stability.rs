//! Calibration stability: calibrate again with the samples in other orders and other batch
//! sizes, and compare the tables with the reference's ([`trt_calib_stats::stability`]).
//!
//! | route | function | cost |
//! | --- | --- | --- |
//! | our methods ([`Method`]) | [`stability_of_method`] | one FP32 collection engine for every variant, then one collection (one or two passes over the data) per variant |
//! | TensorRT's calibrators | [`stability_of_calibrator`] | one whole calibrated INT8 build per variant (TensorRT builds its own calibration engine each time) |
//!
//! Variants ([`variants`]): variant `i` of K (1-based) shuffles the samples with seed `i`
//! ([`Spec::with_shuffle_seed`]) and takes batch size original, half, double, original, ...
//! (cycling with `i`), half at least 1 and double at most the sample count. The batch size only
//! varies when every network input's first dimension is dynamic; otherwise the network fixes it
//! and only the order varies. With a `limit` on the samples, a shuffled variant takes another
//! subset of the samples (the limit applies after shuffling); with `last_batch = "drop"`, other
//! batch sizes may drop other samples at the end.
//!
//! Checked before anything is built: K >= 1, a finite threshold >= 0, and that every variant's
//! data opens with at least one batch.
//!
//! ```no_run
//! use trt::stability::{stability_of_method, StabilityOptions};
//! use trt::stats::Method;
//! use trt::{BuildConfig, Builder, CollectOptions, Precision};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let builder = Builder::new()?;
//! let mut network = builder.network_from_onnx_file("model.onnx")?;
//! let spec = trt::data::Spec::from_toml_file("calib.toml")?;
//! let run = stability_of_method(&builder, &mut network, &spec, &CollectOptions::new(),
//!     Method::Percentile(99.99), &BuildConfig::new(Precision::Fp32), &StabilityOptions::new(3))?;
//! run.reference_table.write_atomic("model.calib")?;
//! for t in run.report.tables.moving() {
//!     println!("{} moves {:.1}% ({:?})", t.tensor, 100.0 * t.max_move, t.worst_variant);
//! }
//! assert_eq!(run.report.is_stable(), run.report.tables.moving().is_empty());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use trt_calib_data::Spec;
use trt_calib_stats::stability::{
    histogram_health, StabilityReport, TableStability, MOVE_THRESHOLD,
};
use trt_calib_stats::Method;
use trt_calib_table::CalibrationTable;

use crate::activations::{table_from_activations, Activations, CollectOptions, CollectionPlan};
use crate::build::{calibration, Builder};
use crate::calibrator::{CalibrationAlgorithm, DataCalibrator, TablePolicy};
use crate::config::{BuildConfig, Profile};
use crate::error::{Error, Result};
use crate::network::Network;

/// How many variants, and when a scale move counts.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityOptions {
    variants: usize,
    threshold: f64,
    vary_batch: bool,
}

impl StabilityOptions {
    /// `variants` recalibrations (K >= 1), threshold [`MOVE_THRESHOLD`] (5%), batch sizes
    /// varied where the network allows it.
    pub fn new(variants: usize) -> Self {
        StabilityOptions {
            variants,
            threshold: MOVE_THRESHOLD,
            vary_batch: true,
        }
    }

    /// A scale moving more than `threshold` (relative, e.g. 0.05) makes the calibration unstable.
    #[must_use]
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// `false`: only the order varies, also for a dynamic-batch network.
    #[must_use]
    pub fn with_batch_sizes(mut self, vary: bool) -> Self {
        self.vary_batch = vary;
        self
    }

    /// K.
    pub fn variants(&self) -> usize {
        self.variants
    }

    /// The move threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    fn check(&self) -> Result<()> {
        if self.variants == 0 {
            return Err(Error::Invalid(
                "stability needs at least 1 variant (K >= 1)".into(),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(Error::Invalid(format!(
                "stability threshold {}: give a finite relative move >= 0, e.g. 0.05",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// One recalibration: the samples in another order, maybe in batches of another size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// `order seed 2, batch 4`.
    pub label: String,
    /// The shuffle seed; `None` for the reference in file order.
    pub shuffle_seed: Option<u64>,
    /// Samples per batch.
    pub batch_size: usize,
}

impl Variant {
    fn new(shuffle_seed: Option<u64>, batch_size: usize) -> Self {
        let order = match shuffle_seed {
            Some(s) => format!("order seed {s}"),
            None => "file order".to_owned(),
        };
        Variant {
            label: format!("{order}, batch {batch_size}"),
            shuffle_seed,
            batch_size,
        }
    }

    /// The reference: `spec` as it is.
    pub fn reference(spec: &Spec) -> Self {
        Variant::new(spec.shuffle_seed(), spec.batch_size())
    }

    /// `spec` in this variant's order and batch size.
    pub fn spec(&self, spec: &Spec) -> Spec {
        let s = spec.clone().with_batch_size(self.batch_size);
        match self.shuffle_seed {
            Some(seed) => s.with_shuffle_seed(seed),
            None => s,
        }
    }
}

/// The K variants of a data set of `samples` samples in batches of `batch`: variant `i`
/// (1-based) is shuffled with seed `i`; with `vary_batch`, its batch size cycles through
/// `batch`, `max(batch / 2, 1)`, `min(batch * 2, samples)` (then `batch` again), else it is
/// `batch`.
///
/// ```
/// let v = trt::stability::variants(8, 32, 4, true);
/// let labels: Vec<&str> = v.iter().map(|v| v.label.as_str()).collect();
/// assert_eq!(labels, ["order seed 1, batch 8", "order seed 2, batch 4", "order seed 3, batch 16", "order seed 4, batch 8"]);
/// assert_eq!(trt::stability::variants(8, 10, 3, true)[2].batch_size, 10);
/// ```
pub fn variants(batch: usize, samples: usize, k: usize, vary_batch: bool) -> Vec<Variant> {
    (1..=k)
        .map(|i| {
            let size = match (vary_batch, i % 3) {
                (true, 2) => (batch / 2).max(1),
                (true, 0) => batch.saturating_mul(2).min(samples.max(batch)),
                _ => batch,
            };
            Variant::new(Some(i as u64), size)
        })
        .collect()
}

/// One calibration of a stability run.
#[derive(Debug, Clone, Serialize)]
pub struct VariantRun {
    /// Its order and batch size.
    pub variant: Variant,
    /// Batches per pass.
    pub batches: usize,
    /// Samples used (our methods; TensorRT's calibrators: batches x batch size).
    pub samples: usize,
    /// The calibration's wall time: opening and checking the data (every file decoded again)
    /// and collecting, both passes (our methods; the engine build not included), or the whole
    /// calibrated build (TensorRT's calibrators).
    pub seconds: f64,
}

/// What a stability run did and found.
#[derive(Debug, Serialize)]
pub struct StabilityRun {
    /// The verdict, moves and (our methods) histogram health.
    pub report: StabilityReport,
    /// The reference calibration (the spec as given).
    pub reference: VariantRun,
    /// The variants, in order.
    pub variants: Vec<VariantRun>,
    /// The reference's table: write it, it is the calibration asked for.
    #[serde(skip)]
    pub reference_table: CalibrationTable,
    /// The reference's statistics (our methods).
    #[serde(skip)]
    pub reference_activations: Option<Activations>,
    /// Why the batch size does not vary, when it does not.
    pub fixed_batch: Option<String>,
    /// FP32 collection engines built (our methods: 1), and their build time.
    pub engines_built: usize,
    /// Seconds spent building collection engines.
    pub engine_build_seconds: f64,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// The variants and, when the batch size cannot vary, why; every variant's data opened (and
/// dropped again) to check it has a batch, and the reference's sample count.
fn plan_variants(
    spec: &Spec,
    options: &StabilityOptions,
    dynamic_batch: bool,
) -> Result<(Vec<Variant>, Option<String>)> {
    options.check()?;
    let samples = spec.open()?.sample_count();
    let fixed = match (options.vary_batch, dynamic_batch) {
        (true, true) => None,
        (false, _) => Some("asked for: only the order varies".to_owned()),
        (true, false) => Some(format!(
            "the network's inputs have a fixed batch dimension ({}): only the order varies",
            spec.batch_size()
        )),
    };
    let list = variants(
        spec.batch_size(),
        samples,
        options.variants,
        fixed.is_none(),
    );
    for v in &list {
        v.spec(spec)
            .open()
            .map_err(|e| Error::Invalid(format!("stability variant `{}`: {e}", v.label)))?;
    }
    Ok((list, fixed))
}

/// Stability of our own `method`: the reference collection over `spec` as given, then one per
/// variant, all through one FP32 collection engine (built for the range of batch sizes on a
/// dynamic-batch network). `collect` and `config` as for [`crate::collect_activations`].
pub fn stability_of_method(
    builder: &Builder,
    network: &mut Network,
    spec: &Spec,
    collect: &CollectOptions,
    method: Method,
    config: &BuildConfig,
    options: &StabilityOptions,
) -> Result<StabilityRun> {
    let started = Instant::now();
    let plan = CollectionPlan::new(network, collect, config)?;
    let (list, fixed_batch) = plan_variants(spec, options, plan.dynamic_batch())?;
    let t = Instant::now();
    let mut data = spec.open()?;
    plan.check(&mut data)?;
    let reference_check = t.elapsed();
    let reference = Variant::reference(spec);
    let sizes = list
        .iter()
        .map(|v| v.batch_size)
        .chain([reference.batch_size]);
    let range = (sizes.clone().min().unwrap_or(1), sizes.max().unwrap_or(1));
    let engine = plan.build(builder, network, config, Some(range))?;
    let version = builder.library().version();

    let acts = engine.run(&mut data, collect.passes())?; // checked above
    let reference_table = table_from_activations(&acts, method, version)?;
    let reference_run = VariantRun {
        variant: reference.clone(),
        batches: acts.batches,
        samples: acts.samples,
        seconds: (reference_check + acts.collect_time).as_secs_f64(),
    };
    let mut runs = Vec::new();
    let mut tables = Vec::new();
    for v in &list {
        let t = Instant::now();
        let mut data = v.spec(spec).open()?;
        let a = engine
            .collect(&mut data, collect.passes())
            .map_err(|e| in_variant(v, e))?;
        tables.push(table_from_activations(&a, method, version)?);
        let seconds = t.elapsed().as_secs_f64();
        log::info!(target: "trt::stability", "{}: {} batches, {seconds:.2} s", v.label, a.batches);
        runs.push(VariantRun {
            variant: v.clone(),
            batches: a.batches,
            samples: a.samples,
            seconds,
        });
    }
    let report = StabilityReport {
        calibration: format!("{method} (computed by trt)"),
        reference: reference.label,
        tables: compare(&reference_table, &list, &tables, options),
        histograms: Some(histogram_health(&acts.collector, method)?),
    };
    Ok(StabilityRun {
        report,
        reference: reference_run,
        variants: runs,
        reference_table,
        fixed_batch,
        engines_built: 1,
        engine_build_seconds: engine.build_time.as_secs_f64(),
        reference_activations: Some(acts),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Stability of TensorRT's calibrator `algorithm`: one calibrated INT8 build with `config`
/// per calibration. The reference writes its table where `config`'s table policy says
/// (recalibrating: a stability run always calibrates), or to a temporary file; the variants
/// write theirs to a temporary folder. A dynamic-batch network calibrates each variant with a
/// calibration profile fixed at its batch size.
pub fn stability_of_calibrator(
    builder: &Builder,
    network: &mut Network,
    spec: &Spec,
    algorithm: CalibrationAlgorithm,
    config: &BuildConfig,
    options: &StabilityOptions,
) -> Result<StabilityRun> {
    let started = Instant::now();
    let shapes = calibration::inputs(network, config)?;
    let dynamic = {
        let inputs = network.inputs()?;
        !inputs.is_empty()
            && inputs
                .iter()
                .all(|t| t.shape.first().is_some_and(|&d| d < 0))
    };
    let (list, fixed_batch) = plan_variants(spec, options, dynamic)?;
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let reference_path = config
        .calibration_table()
        .map_or_else(|| tmp.path().join("reference.calib"), |p| p.path.clone());
    let reference = Variant::reference(spec);

    let calibrate = |network: &mut Network, spec: &Spec, path: &Path, batch: usize| {
        let mut cfg = config
            .clone()
            .with_calibration_table(TablePolicy::recalibrate(path));
        if dynamic && batch != reference.batch_size {
            let dims: Vec<(String, Vec<i64>)> = shapes
                .iter()
                .map(|s| {
                    let d =
                        std::iter::once(batch as i64).chain(s.shape[1..].iter().map(|&d| d as i64));
                    (s.name.clone(), d.collect())
                })
                .collect();
            let fixed: Vec<(&str, &[i64])> = dims
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect();
            cfg = cfg.with_calibration_profile(Profile::fixed(&fixed));
        }
        let t = Instant::now();
        let mut calibrator = DataCalibrator::new(spec.open()?).with_algorithm(algorithm);
        let built = builder.build_calibrated(network, &cfg, &mut calibrator)?;
        if built.calibration_table.is_none() {
            return Err(Error::Calibration(
                "TensorRT built the engine without writing a calibration table".into(),
            ));
        }
        let table = CalibrationTable::read(path)?;
        Ok((table, built.calibration_batches, t.elapsed()))
    };
    let run = |v: &Variant, batches: usize, took: Duration| VariantRun {
        variant: v.clone(),
        batches,
        samples: batches * v.batch_size,
        seconds: took.as_secs_f64(),
    };

    let (reference_table, b, took) =
        calibrate(network, spec, &reference_path, reference.batch_size)?;
    let reference_run = run(&reference, b, took);
    let mut runs = Vec::new();
    let mut tables = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let path: PathBuf = tmp.path().join(format!("variant-{}.calib", i + 1));
        let (table, b, took) =
            calibrate(network, &v.spec(spec), &path, v.batch_size).map_err(|e| in_variant(v, e))?;
        log::info!(target: "trt::stability", "{}: {b} batches, {:.2} s", v.label, took.as_secs_f64());
        tables.push(table);
        runs.push(run(v, b, took));
    }
    let report = StabilityReport {
        calibration: format!("TensorRT {}", algorithm.table_algorithm()),
        reference: reference.label.clone(),
        tables: compare(&reference_table, &list, &tables, options),
        histograms: None,
    };
    Ok(StabilityRun {
        report,
        reference: reference_run,
        variants: runs,
        reference_table,
        reference_activations: None,
        fixed_batch,
        engines_built: 0,
        engine_build_seconds: 0.0,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn compare(
    reference: &CalibrationTable,
    list: &[Variant],
    tables: &[CalibrationTable],
    options: &StabilityOptions,
) -> TableStability {
    let pairs = list.iter().map(|v| v.label.as_str()).zip(tables.iter());
    TableStability::compare(reference, pairs, options.threshold)
}

fn in_variant(v: &Variant, e: Error) -> Error {
    Error::Calibration(format!("stability variant `{}`: {e}", v.label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_cycle_order_and_batch_sizes_within_bounds() {
        let v = variants(1, 5, 3, true);
        let sizes: Vec<usize> = v.iter().map(|v| v.batch_size).collect();
        assert_eq!(sizes, [1, 1, 2]); // half of 1 is 1
        let v = variants(8, 12, 6, true);
        let sizes: Vec<usize> = v.iter().map(|v| v.batch_size).collect();
        assert_eq!(sizes, [8, 4, 12, 8, 4, 12]); // double bounded by the 12 samples
        let seeds: Vec<Option<u64>> = v.iter().map(|v| v.shuffle_seed).collect();
        assert_eq!(seeds, (1..=6).map(Some).collect::<Vec<_>>());
        assert!(variants(8, 32, 5, false).iter().all(|v| v.batch_size == 8));
        assert!(variants(8, 32, 0, true).is_empty());
    }

    #[test]
    fn a_variants_spec_has_its_order_and_batch_size_and_the_rest_as_given() {
        let spec = Spec::new(8).with_limit(20);
        let v = &variants(8, 20, 2, true)[1];
        let s = v.spec(&spec);
        assert_eq!((s.batch_size(), s.shuffle_seed()), (4, Some(2)));
        assert_eq!(
            s.with_batch_size(8).with_limit(20),
            spec.clone().with_shuffle_seed(2)
        );
        assert_eq!(Variant::reference(&spec).label, "file order, batch 8");
        assert_eq!(
            Variant::reference(&spec.with_shuffle_seed(7)).label,
            "order seed 7, batch 8"
        );
    }

    /// The 32 committed Fashion-MNIST images (opened, never decoded: no GPU needed).
    fn fashion(batch: usize) -> Spec {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fashion-mnist/calib");
        Spec::new(batch).with_input(trt_calib_data::Input::images(
            "image",
            dir,
            trt_calib_data::Preprocess::gray(),
        ))
    }

    #[test]
    fn variants_are_planned_and_opened_before_anything_is_built() {
        let (list, fixed) = plan_variants(&fashion(8), &StabilityOptions::new(3), true).unwrap();
        let labels: Vec<&str> = list.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "order seed 1, batch 8",
                "order seed 2, batch 4",
                "order seed 3, batch 16"
            ]
        );
        assert_eq!(fixed, None);
        // A static batch dimension: only the order varies, and the run says why.
        let (list, fixed) = plan_variants(&fashion(8), &StabilityOptions::new(3), false).unwrap();
        assert!(list.iter().all(|v| v.batch_size == 8));
        assert_eq!(
            fixed.as_deref(),
            Some("the network's inputs have a fixed batch dimension (8): only the order varies")
        );
        // Double is bounded by the 32 samples.
        let (list, _) = plan_variants(&fashion(20), &StabilityOptions::new(3), true).unwrap();
        assert_eq!(list[2].batch_size, 32);
        // No batch at all, or no variant: refused before any build.
        let e = plan_variants(&fashion(64), &StabilityOptions::new(2), true).unwrap_err();
        assert!(e.to_string().contains("give no batch"), "{e}");
        let e = plan_variants(&fashion(8), &StabilityOptions::new(0), true).unwrap_err();
        assert!(e.to_string().contains("at least 1 variant"), "{e}");
    }

    #[test]
    fn options_are_checked() {
        let e = StabilityOptions::new(0).check().unwrap_err().to_string();
        assert!(e.contains("at least 1 variant"), "{e}");
        let e = StabilityOptions::new(2)
            .with_threshold(f64::NAN)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("0.05"), "{e}");
        assert!(StabilityOptions::new(2).with_threshold(0.0).check().is_ok());
        assert_eq!(StabilityOptions::new(3).threshold(), 0.05);
    }
}
