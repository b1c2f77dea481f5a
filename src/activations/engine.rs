//! The FP32 collection engine: planned (tensors, shapes) and checked against the data before
//! TensorRT builds, built once, then run over any number of batch sources (the stability report
//! runs the same data in other orders and batch sizes through one engine).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use trt_calib_data::{Batch, BatchSource, TypedView};
use trt_calib_stats::{Collector, Passes, Threshold};

use super::select::{select, Selection};
use super::types::{Activations, CollectOptions};
use super::weights::weight_ranges;
use crate::build::calibration;
use crate::build::Builder;
use crate::calibrator::{check_source, CalibrationInput};
use crate::config::{BuildConfig, HardwareCompatibility, Precision, Profile, Tactics};
use crate::engine::{Engine, Runtime};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::tensor::HostTensor;

/// What to collect and at which shapes, before anything is built.
pub(crate) struct CollectionPlan {
    selection: Selection,
    /// Ranges of the network's weights (every tensor collected), from the network itself.
    weights: Vec<Threshold>,
    shapes: Vec<CalibrationInput>,
    /// Every network input's first dimension is dynamic: the batch size may vary.
    dynamic_batch: bool,
}

impl CollectionPlan {
    /// The tensors of `options` (every name checked) and the calibration shapes of `config`.
    pub(crate) fn new(
        network: &Network,
        options: &CollectOptions,
        config: &BuildConfig,
    ) -> Result<Self> {
        let inputs = network.inputs()?;
        let layers = network.layers()?;
        let selection = select(&inputs, &layers, options.tensors())?;
        let weights = if options.tensors().is_none() {
            let names: HashSet<String> = inputs.iter().map(|t| t.name.clone()).collect();
            let (ranges, unranged) =
                weight_ranges(&layers, &names, |i| network.constant_absmax(i))?;
            if !unranged.is_empty() {
                log::debug!(target: "trt::activations",
                    "no range for {} tensor(s) computed from weights: {unranged:?}", unranged.len());
            }
            ranges
        } else {
            Vec::new()
        };
        let shapes = calibration::inputs(network, config)?;
        let dynamic_batch = !inputs.is_empty()
            && inputs
                .iter()
                .all(|t| t.shape.first().is_some_and(|&d| d < 0));
        Ok(CollectionPlan {
            selection,
            weights,
            shapes,
            dynamic_batch,
        })
    }

    /// Every network input's first dimension is dynamic.
    pub(crate) fn dynamic_batch(&self) -> bool {
        self.dynamic_batch
    }

    /// The shapes with batch size `n`.
    fn shapes_for(&self, n: usize) -> Vec<CalibrationInput> {
        let mut shapes = self.shapes.clone();
        for s in &mut shapes {
            if let Some(d) = s.shape.first_mut() {
                *d = n;
            }
        }
        shapes
    }

    /// Checks `data` against the network's inputs at the calibration shapes (every file
    /// decodes, names, dtypes, shapes, batch size) and that it has a batch.
    pub(crate) fn check<S: BatchSource + ?Sized>(&self, data: &mut S) -> Result<()> {
        self.check_at(data, &self.shapes)
    }

    fn check_at<S: BatchSource + ?Sized>(
        &self,
        data: &mut S,
        shapes: &[CalibrationInput],
    ) -> Result<()> {
        let report = check_source(data, shapes)?;
        if report.batches == 0 || data.batch_count() == 0 {
            return Err(Error::Calibration(
                "the calibration data has no batch: activation statistics need at least one \
                 (give more samples than the batch size, or lower it)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Marks the tensors as outputs, builds the FP32 engine with `config`'s settings, and takes
    /// the marks off again (also when the build fails). `batches`: the smallest and largest
    /// batch size the engine must take (a dynamic-batch network only; else the calibration
    /// shapes' batch).
    pub(crate) fn build(
        self,
        builder: &Builder,
        network: &mut Network,
        config: &BuildConfig,
        batches: Option<(usize, usize)>,
    ) -> Result<CollectionEngine> {
        let outputs: HashSet<String> = network.outputs()?.into_iter().map(|t| t.name).collect();
        let fp32 = self.collection_config(network, config, batches)?;
        let marked: Vec<String> = self
            .selection
            .activations
            .iter()
            .filter(|t| !outputs.contains(*t))
            .cloned()
            .collect();
        let built = with_outputs(network, &marked, |network| builder.build(network, &fp32))?;
        let runtime = Runtime::with_logger_on_device(builder.logger().clone(), builder.device())?;
        let engine = runtime.deserialize(&built.plan)?;
        for name in &self.selection.activations {
            let t = engine.tensor(name)?;
            if !t.dtype.is_float() {
                return Err(Error::Shape {
                    name: name.clone(),
                    message: format!(
                        "the collection engine gives it as {:?}, not a float type",
                        t.dtype
                    ),
                });
            }
        }
        let batches = batches.filter(|_| self.dynamic_batch);
        Ok(CollectionEngine {
            plan: self,
            engine,
            batches,
            marked,
            build_time: built.build_time,
        })
    }

    /// The FP32 build of the collection engine: `config`'s settings with FP32, no table, free
    /// tactics, no compatibility modes, and (for a dynamic network) one profile: fixed at the
    /// calibration shapes, or over `batches` for a dynamic batch.
    fn collection_config(
        &self,
        network: &Network,
        config: &BuildConfig,
        batches: Option<(usize, usize)>,
    ) -> Result<BuildConfig> {
        let mut settings = config.settings().clone();
        settings.precision = Precision::Fp32;
        settings.version_compatible = false;
        settings.exclude_lean_runtime = false;
        settings.hardware_compatibility = HardwareCompatibility::None;
        match batches {
            Some((min, max)) if self.dynamic_batch => {
                let dims = |n: usize, s: &[usize]| -> Vec<i64> {
                    std::iter::once(n as i64)
                        .chain(s[1..].iter().map(|&d| d as i64))
                        .collect()
                };
                let mut p = Profile::new();
                for s in &self.shapes {
                    let opt = dims(s.shape[0].clamp(min, max), &s.shape);
                    p = p.with_input(&s.name, &dims(min, &s.shape), &opt, &dims(max, &s.shape));
                }
                settings.profiles = vec![p];
            }
            _ => {
                if let Some(p) = calibration::profile(network, config, &self.shapes)? {
                    settings.profiles = vec![p];
                }
            }
        }
        settings.calibration_profile = None;
        Ok(BuildConfig::from_settings(settings).with_tactics(Tactics::Free))
    }
}

/// A built collection engine; [`collect`](Self::collect) runs a batch source through it.
pub(crate) struct CollectionEngine {
    plan: CollectionPlan,
    engine: Engine,
    /// The batch sizes the engine takes (a dynamic-batch network built for a range).
    batches: Option<(usize, usize)>,
    pub(crate) marked: Vec<String>,
    pub(crate) build_time: Duration,
}

impl CollectionEngine {
    /// Checks `data` ([`CollectionPlan::check`]; an engine built for a range of batch sizes
    /// takes any of them), then runs every batch once (`Passes::One`) or twice through the
    /// engine into a new [`Collector`].
    pub(crate) fn collect<S: BatchSource + ?Sized>(
        &self,
        data: &mut S,
        passes: Passes,
    ) -> Result<Activations> {
        match self.batches {
            Some((min, max)) => {
                let n = data.batch_size();
                if !(min..=max).contains(&n) {
                    return Err(Error::Invalid(format!(
                        "batch size {n}: the collection engine was built for batches of {min} to {max}"
                    )));
                }
                self.plan.check_at(data, &self.plan.shapes_for(n))?
            }
            None => self.plan.check(data)?,
        }
        self.run(data, passes)
    }

    /// [`collect`](Self::collect) of data already checked by [`CollectionPlan::check`] (its
    /// prefetch thread kept running while the engine was built).
    pub(crate) fn run<S: BatchSource + ?Sized>(
        &self,
        data: &mut S,
        passes: Passes,
    ) -> Result<Activations> {
        let selection = &self.plan.selection;
        let mut ctx = self
            .engine
            .create_context(self.engine.cuda_context().new_stream()?)?;
        let mut collector = Collector::new(passes);
        let n_passes = match passes {
            Passes::One => 1,
            Passes::Two => 2,
        };
        let started = Instant::now();
        let mut histogram_time = Duration::ZERO;
        let (mut batches, mut samples) = (0, 0);
        for pass in 0..n_passes {
            if pass > 0 {
                collector.finish_range_pass();
                data.reset()?;
            }
            let (mut b, mut s) = (0, 0);
            while let Some(batch) = data.next_batch() {
                let batch = batch?;
                let feeds: Vec<(&str, TypedView<'_>)> = batch.iter().collect();
                let outs = ctx.run(&feeds)?;
                let t = Instant::now();
                add_batch(&mut collector, selection, &batch, &outs)?;
                histogram_time += t.elapsed();
                b += 1;
                s += batch.real_samples();
            }
            if pass == 0 {
                (batches, samples) = (b, s);
            } else if (b, s) != (batches, samples) {
                return Err(Error::Calibration(format!(
                    "the calibration data gave {b} batches ({s} samples) in the second pass and \
                     {batches} ({samples}) in the first; two passes need the same batches"
                )));
            }
        }
        if batches == 0 {
            return Err(Error::Calibration(
                "the calibration data gave no batch".into(),
            ));
        }
        Ok(Activations {
            collector,
            weights: self.plan.weights.clone(),
            marked: self.marked.clone(),
            batches,
            samples,
            build_time: self.build_time,
            collect_time: started.elapsed(),
            histogram_time,
        })
    }
}

/// Runs `f` with `marked` marked as network outputs, then takes the marks off again (also when
/// `f` or a mark fails).
fn with_outputs<T>(
    network: &mut Network,
    marked: &[String],
    f: impl FnOnce(&mut Network) -> Result<T>,
) -> Result<T> {
    let mut done = 0;
    let mut result = Ok(());
    for name in marked {
        if let Err(e) = network.mark_output(name) {
            result = Err(e);
            break;
        }
        done += 1;
    }
    let result = result.and_then(|()| f(network));
    let mut unmarked = Ok(());
    for name in marked[..done].iter().rev() {
        if let Err(e) = network.unmark_output(name) {
            unmarked = unmarked.and(Err(e));
        }
    }
    let value = result?;
    unmarked?;
    Ok(value)
}

/// Adds one batch to `collector`: the float inputs from `batch`, the activations from `outs`.
fn add_batch(
    collector: &mut Collector,
    selection: &Selection,
    batch: &Batch,
    outs: &[(String, HostTensor)],
) -> Result<()> {
    let real = (batch.real_samples(), batch.size());
    let mut buf = Vec::new();
    for name in &selection.inputs {
        let view = batch
            .typed(name)
            .ok_or_else(|| Error::Calibration(format!("batch has no input `{name}`")))?;
        let values: &[f32] = match &view {
            TypedView::F32(a) => a
                .as_slice()
                .ok_or_else(|| Error::Calibration(format!("input `{name}` is not contiguous")))?,
            TypedView::F16(a) => {
                buf.clear();
                buf.extend(a.iter().map(|x| x.to_f32()));
                &buf
            }
            _ => continue, // not float: never selected
        };
        collector.add(name, without_padding(values, view.shape(), real))?;
    }
    let by_name: HashMap<&str, &HostTensor> = outs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for name in &selection.activations {
        let t = by_name
            .get(name.as_str())
            .ok_or_else(|| Error::UnknownTensor {
                name: name.clone(),
                what: "collection engine's outputs",
                known: outs.iter().map(|o| o.0.clone()).collect(),
            })?;
        let values: &[f32] = match t {
            HostTensor::F32(a) => a
                .as_slice()
                .ok_or_else(|| Error::Calibration(format!("output `{name}` is not contiguous")))?,
            HostTensor::F16(a) => {
                buf.clear();
                buf.extend(a.iter().map(|x| x.to_f32()));
                &buf
            }
            other => {
                return Err(Error::Shape {
                    name: name.clone(),
                    message: format!("the engine gave {:?}, not a float type", other.dtype()),
                })
            }
        };
        collector.add(name, without_padding(values, t.shape(), real))?;
    }
    Ok(())
}

/// The values of the first `real` samples when the first dimension of `shape` is the batch
/// (`size` samples); all of them otherwise.
pub(super) fn without_padding<'a>(
    values: &'a [f32],
    shape: &[usize],
    (real, size): (usize, usize),
) -> &'a [f32] {
    match shape.first() {
        Some(&n) if n == size && real < size && size > 0 => &values[..values.len() / size * real],
        _ => values,
    }
}
