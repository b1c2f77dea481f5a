//! Reproducibility: build the same network several times and diff what the engines run.
//!
//! Two builds from the same network, config and calibration table can still differ: the
//! builder times kernels, and close timings pick different tactics (ResNet-18 on an H100,
//! TensorRT 8.5.3: 4 of 56 layers). Precisions and formats should not change; strict INT8 is
//! there to make sure of it. [`build_repeated`] runs the builds and returns one [`ReportDiff`]
//! per build after the first, against the first.
//!
//! With `TablePolicy::read_write`, the first build calibrates (when the table does not exist yet)
//! and writes the table; the later builds read it: the comparison is "same table, same model".

use crate::build::{BuildOutput, Builder};
use crate::calibrator::Calibrator;
use crate::config::BuildConfig;
use crate::engine::{Engine, Runtime};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::report::{BuildReport, ReportDiff};

/// The builds, their engines and reports, and the diffs of builds 2..n against build 1.
pub struct RepeatedBuilds {
    /// What each build returned (plan, tactics, calibration counts), in build order.
    pub outputs: Vec<BuildOutput>,
    /// The deserialized engines, one per build (for [`RepeatedBuilds::compare_outputs`]).
    pub engines: Vec<Engine>,
    /// Each build's report, in build order (from its deserialized engine and output).
    pub reports: Vec<BuildReport>,
    /// `diffs[i]` compares build `i + 2` with build 1.
    pub diffs: Vec<ReportDiff>,
    /// Per build: the time after TensorRT's build (strict INT8 audit, inspector report).
    pub audit_times: Vec<std::time::Duration>,
}

impl RepeatedBuilds {
    /// Every build ran the same layers with the same precisions, formats and tactics.
    pub fn identical(&self) -> bool {
        self.diffs.iter().all(|d| d.identical)
    }

    /// What a regression test can rely on: every build is identical to build 1, or differs only
    /// in reformat kernels (which TensorRT 8.x times outside the algorithm selector) while
    /// computing bit-identical outputs (`outputs`, from [`compare_outputs`]).
    pub fn reproduced(&self, outputs: &OutputComparison) -> bool {
        outputs.bit_identical()
            && self
                .diffs
                .iter()
                .all(|d| d.identical || d.only_reformat_tactics_differ())
    }

    /// Runs every build's engine on the same seeded input; see [`compare_outputs`].
    pub fn compare_outputs(&self, device: usize, seed: u64) -> Result<OutputComparison> {
        compare_outputs(&self.engines, device, seed)
    }

    /// The engine files are byte-for-byte the same.
    pub fn plans_identical(&self) -> bool {
        self.outputs.windows(2).all(|w| w[0].plan == w[1].plan)
    }
}

/// Diffs of `reports[1..]` against `reports[0]`.
pub fn diff_against_first(reports: &[BuildReport]) -> Vec<ReportDiff> {
    match reports.split_first() {
        Some((first, rest)) => rest.iter().map(|r| first.diff(r)).collect(),
        None => Vec::new(),
    }
}

/// How the builds after the first are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RepeatMode {
    /// Build 1 records its tactics; builds 2..n replay them (through the algorithm selector)
    /// from the same table: a reproducible rebuild, as a regression test wants it.
    #[default]
    ReplayFirst,
    /// Every build from the same config: TensorRT's own build-to-build variation.
    Independent,
}

/// Builds `n` times. `calibrator` makes a fresh calibrator for build `i` (0-based); `None`
/// builds without one (FP32/FP16, or INT8 from an existing table). `on_build` is told each
/// build's index and report as it finishes (for progress output).
pub fn build_repeated(
    builder: &Builder,
    network: &mut Network,
    config: &BuildConfig,
    mut calibrator: Option<&mut dyn FnMut(usize) -> Result<Box<dyn Calibrator>>>,
    n: usize,
    mode: RepeatMode,
    mut on_build: impl FnMut(usize, &BuildOutput, &BuildReport),
) -> Result<RepeatedBuilds> {
    if n == 0 {
        return Err(Error::Invalid(
            "build_repeated: n must be at least 1".into(),
        ));
    }
    let runtime = Runtime::with_logger_on_device(builder.logger().clone(), config.device())?;
    let mut outputs = Vec::with_capacity(n);
    let mut reports = Vec::with_capacity(n);
    let mut audit_times = Vec::with_capacity(n);
    let mut engines = Vec::with_capacity(n);
    // A single build records nothing: the selector costs TensorRT's layer timing cache.
    let first_config = match mode {
        RepeatMode::ReplayFirst if n > 1 => config.clone().with_record_tactics(true),
        _ => config.clone(),
    };
    let mut later_config = None;
    for i in 0..n {
        let config = later_config.as_ref().unwrap_or(&first_config);
        let started = std::time::Instant::now();
        let out = match calibrator.as_mut() {
            Some(make) => {
                let mut c = make(i)?;
                builder.build_calibrated(network, config, &mut *c)?
            }
            None => builder.build(network, config)?,
        };
        let engine = runtime.deserialize(&out.plan)?;
        let report = BuildReport::from_engine(&engine, config, Some(&out))?;
        if i == 0 && mode == RepeatMode::ReplayFirst {
            // Not build 1's timing cache: replay turns the cache off, and TensorRT 8.5.3 refused
            // to load it anyway ("Myelin error from unknown graph ... will not be used").
            let mut c = config.clone().with_replay_tactics(out.tactics.clone());
            // The same table too: build 1 read or wrote it, the later ones must not recalibrate.
            if let Some(policy) = c.calibration_table().cloned() {
                c = c.with_calibration_table(crate::calibrator::TablePolicy::require(policy.path));
            }
            later_config = Some(c);
        }
        audit_times.push(started.elapsed().saturating_sub(out.build_time));
        on_build(i, &out, &report);
        engines.push(engine);
        outputs.push(out);
        reports.push(report);
    }
    let diffs = diff_against_first(&reports);
    Ok(RepeatedBuilds {
        outputs,
        engines,
        reports,
        diffs,
        audit_times,
    })
}

/// What the engines compute for the same input, compared with build 1's engine.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputComparison {
    /// `per_build[i]` compares build `i + 2` with build 1.
    pub per_build: Vec<OutputDiff>,
}

/// One engine's outputs against build 1's.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct OutputDiff {
    /// Every output has the same bits.
    pub bit_identical: bool,
    /// The largest absolute difference over all outputs (infinite when an output's name, type
    /// or shape differs, so it could not be compared).
    pub max_abs_diff: f32,
    /// Elements that differ at all.
    pub differing: usize,
    /// Elements compared, over every output whose name, type and shape matched.
    pub elements: usize,
}

impl OutputComparison {
    /// Every later build's outputs have the same bits as build 1's (true for one build).
    pub fn bit_identical(&self) -> bool {
        self.per_build.iter().all(|d| d.bit_identical)
    }
}

/// Runs every engine on the same seeded inputs ([`Engine::seeded_inputs`]: each input's own type;
/// dynamic inputs take profile 0's opt shape) and compares the outputs with the first engine's.
/// This is what different reformat kernels, the last difference tactic replay leaves, change.
pub fn compare_outputs(engines: &[Engine], device: usize, seed: u64) -> Result<OutputComparison> {
    let Some(first_engine) = engines.first() else {
        return Ok(OutputComparison { per_build: vec![] });
    };
    let ctx = crate::device::device_context(device)?;
    let stream = ctx.new_stream()?;
    let inputs = first_engine.seeded_inputs(seed)?;
    let views: Vec<(&str, crate::HostTensorView<'_>)> =
        inputs.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let mut results = Vec::with_capacity(engines.len());
    for engine in engines {
        results.push(engine.create_context(stream.clone())?.run(&views)?);
    }
    let (first, rest) = results
        .split_first()
        .expect("one result per engine, at least one");
    let per_build = rest
        .iter()
        .map(|outs| {
            let mut d = OutputDiff {
                bit_identical: true,
                ..Default::default()
            };
            for ((na, a), (nb, b)) in first.iter().zip(outs) {
                let Some((elements, differing, max)) = a.diff(b).filter(|_| na == nb) else {
                    d.bit_identical = false;
                    d.max_abs_diff = f32::INFINITY;
                    continue;
                };
                d.elements += elements;
                if differing > 0 {
                    d.bit_identical = false;
                    d.differing += differing;
                    d.max_abs_diff = d.max_abs_diff.max(max as f32);
                }
            }
            d
        })
        .collect();
    Ok(OutputComparison { per_build })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspector::EngineInspection;
    use crate::report::BuildFlags;

    #[test]
    fn diffs_against_the_first_build() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trt-8.5.3");
        let load = |n: &str| {
            let r = EngineInspection::from_json(&std::fs::read_to_string(dir.join(n)).unwrap())
                .unwrap();
            BuildReport::from_parts("8.5.3".parse().unwrap(), &[], r, BuildFlags::default())
        };
        let a = load("resnet18-int8-plain.a.inspector.json");
        let b = load("resnet18-int8-plain.b.inspector.json");
        let d = diff_against_first(&[a.clone(), a.clone(), b]);
        assert_eq!(d.len(), 2);
        assert!(d[0].identical);
        assert_eq!(d[1].tactic_changes.len(), 4);
        // The input's reformat copy is one of them (0x3e8 vs 0x0); three are INT8 convolutions.
        assert_eq!(d[1].reformat_tactic_changes(), 1);
        let reformat = d[1].tactic_changes.iter().find(|t| t.reformat).unwrap();
        assert!(reformat
            .layer
            .starts_with("Reformatting CopyNode for Input Tensor 0"));
        assert!(!d[1].only_reformat_tactics_differ());
        assert!(d[1]
            .summary()
            .ends_with("4 tactic change(s) (1 on reformat layers)"));
        assert!(diff_against_first(&[a]).is_empty());
    }
}
