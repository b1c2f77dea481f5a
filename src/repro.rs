//! Reproducibility: build the same network several times and diff what the engines run.
//!
//! Two builds from the same network, config and calibration table can still differ: the
//! builder times kernels, and close timings pick different tactics (ResNet-18 on an H100,
//! TensorRT 8.5.3: 4 of 56 layers). Precisions and formats should not change; strict INT8 is
//! there to make sure of it. [`build_repeated`] runs the builds and returns one [`ReportDiff`]
//! per build after the first, against the first.
//!
//! With `CachePolicy::read_write`, the first build calibrates (when the table does not exist yet)
//! and writes the table; the later builds read it: the comparison is "same table, same model".

use crate::builder::{BuildOutput, Builder};
use crate::calibrator::Calibrator;
use crate::config::BuildConfig;
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::report::{BuildReport, ReportDiff};

/// The builds, their reports, and the diffs of builds 2..n against build 1.
#[derive(Debug)]
pub struct RepeatedBuilds {
    pub outputs: Vec<BuildOutput>,
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

/// Builds `n` times. `calibrator` makes a fresh calibrator for build `i` (0-based); `None`
/// builds without one (FP32/FP16, or INT8 from an existing table). `on_build` is told each
/// build's index and report as it finishes (for progress output).
pub fn build_repeated(
    builder: &Builder,
    network: &mut Network,
    config: &BuildConfig,
    mut calibrator: Option<&mut dyn FnMut(usize) -> Result<Box<dyn Calibrator>>>,
    n: usize,
    mut on_build: impl FnMut(usize, &BuildOutput, &BuildReport),
) -> Result<RepeatedBuilds> {
    if n == 0 {
        return Err(Error::Invalid(
            "build_repeated: n must be at least 1".into(),
        ));
    }
    let runtime = Runtime::with_logger(builder.logger().clone())?;
    let mut outputs = Vec::with_capacity(n);
    let mut reports = Vec::with_capacity(n);
    let mut audit_times = Vec::with_capacity(n);
    for i in 0..n {
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
        audit_times.push(started.elapsed().saturating_sub(out.build_time));
        on_build(i, &out, &report);
        outputs.push(out);
        reports.push(report);
    }
    let diffs = diff_against_first(&reports);
    Ok(RepeatedBuilds {
        outputs,
        reports,
        diffs,
        audit_times,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspector::EngineReport;
    use crate::report::BuildFlags;

    #[test]
    fn diffs_against_the_first_build() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trt-8.5.3");
        let load = |n: &str| {
            let r =
                EngineReport::from_json(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap();
            BuildReport::from_parts("8.5.3", &[], r, BuildFlags::default())
        };
        let a = load("resnet18-int8-plain.a.inspector.json");
        let b = load("resnet18-int8-plain.b.inspector.json");
        let d = diff_against_first(&[a.clone(), a.clone(), b]);
        assert_eq!(d.len(), 2);
        assert!(d[0].identical);
        assert_eq!(d[1].tactic_changes.len(), 4);
        assert!(diff_against_first(&[a]).is_empty());
    }
}
