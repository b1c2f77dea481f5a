//! Build reports: what was asked (precision, flags, calibration) and what the engine runs (every
//! layer's precision, formats and tactic), as JSON; and the diff between two builds.
//!
//! | what | type |
//! |---|---|
//! | one build, on disk as `ENGINE.report.json` | [`BuildReport`] (marker field `trt_build_report`) |
//! | the builder settings it records | [`BuildFlags`] ([`BuildSettings`] and two facts) |
//! | calibration table and batches | [`CalibrationInfo`] |
//! | two builds compared layer by layer (matched by name) | [`ReportDiff`] |
//! | any of engine / report / inspector JSON, told apart by content | [`ArtifactKind::detect`] |
//!
//! ```
//! use trt::report::ReportDiff;
//! use trt::EngineInspection;
//! let a = EngineInspection::from_json(r#"{"Layers":[{"Name":"conv","LayerType":"CaskConvolution","TacticValue":"0x1"}]}"#).unwrap();
//! let b = EngineInspection::from_json(r#"{"Layers":[{"Name":"conv","LayerType":"CaskConvolution","TacticValue":"0x2"}]}"#).unwrap();
//! let d = ReportDiff::between(&a.layers, &b.layers);
//! assert!(!d.identical);
//! assert_eq!(d.tactic_changes.len(), 1);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build::BuildOutput;
use crate::calibrator::{CalibrationAlgorithm, TableMode};
use crate::config::{BuildConfig, BuildSettings};
use crate::engine::{Engine, IoMode, IoTensor};
use crate::error::{Error, Result};
use crate::inspector::{EngineInspection, EngineLayer};
use crate::network::{DataType, Quantization};
use crate::strict::StrictReport;

mod diff;

pub use diff::{ArtifactKind, FormatChange, LayerChange, ReportDiff, TacticChange};

/// The version of the report format, stored in the marker field `trt_build_report`.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// The name of the marker field that tells a build report from other JSON.
pub const REPORT_MARKER: &str = "trt_build_report";

impl ReportDiff {
    /// Compares two build reports.
    pub fn between_reports(a: &BuildReport, b: &BuildReport) -> ReportDiff {
        a.diff(b)
    }
}

/// An engine input or output, as recorded in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTensor {
    /// The engine's I/O tensor name (the network's input or output name).
    pub name: String,
    /// `-1` marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// The element type the engine takes or gives for it.
    pub dtype: DataType,
}

/// The settings a build was given (the typed [`BuildSettings`] record, flattened: the JSON is
/// the one reports have always had), plus two facts about its inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildFlags {
    /// Precision, exclusions, profiles, compatibility, ...
    #[serde(flatten)]
    pub settings: BuildSettings,
    /// A timing cache was given to the build.
    #[serde(default)]
    pub timing_cache: bool,
    /// Tactics were replayed from an earlier build.
    #[serde(default)]
    pub replayed_tactics: bool,
}

impl BuildFlags {
    /// What the report records of `config`.
    pub fn from_config(config: &BuildConfig) -> BuildFlags {
        BuildFlags {
            settings: config.settings().clone(),
            timing_cache: config.timing_cache().is_some_and(|t| !t.is_empty()),
            replayed_tactics: config.tactics().replayed().is_some(),
        }
    }
}

/// How the build got its INT8 scales.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationInfo {
    /// The calibration table (cache) file, when one was named.
    pub table: Option<PathBuf>,
    /// What was done with the table file (`None`: no table file).
    pub mode: Option<TableMode>,
    /// The algorithm the table's header names (the table TensorRT wrote, else the table file);
    /// the default, `Entropy2`, when there is no readable table (scales from dynamic ranges).
    pub algorithm: CalibrationAlgorithm,
    /// Calibration batches consumed (0 when the table was used).
    pub batches: usize,
    /// Times TensorRT asked for a batch.
    pub get_batch_calls: usize,
    /// TensorRT calibrated and wrote a new table.
    pub table_written: bool,
}

/// One build, for humans and for [`ReportDiff`]: settings, I/O, every engine layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Marker and format version ([`REPORT_FORMAT_VERSION`]).
    pub trt_build_report: u32,
    /// The TensorRT version that built the engine (`major.minor.patch`).
    pub tensorrt_version: tensorrt_sys::TrtVersion,
    /// The settings the build was given.
    pub flags: BuildFlags,
    /// The engine's inputs, in the engine's I/O order.
    pub inputs: Vec<ReportTensor>,
    /// The engine's outputs, in the engine's I/O order.
    pub outputs: Vec<ReportTensor>,
    /// Compute layers (reformats and constants excluded) per precision.
    pub precision_counts: BTreeMap<String, usize>,
    /// Every engine layer, in engine order.
    pub layers: Vec<EngineLayer>,
    /// How the INT8 scales were obtained: `Some` for `Int8`/`StrictInt8` builds once
    /// [`BuildReport::add_build_output`] has run; `None` for other precisions and for reports
    /// of an engine alone.
    pub calibration: Option<CalibrationInfo>,
    /// The strict INT8 audit, when built with `StrictInt8`.
    pub strict: Option<StrictReport>,
    /// Where the INT8 scales came from, once [`BuildReport::add_build_output`] has run:
    /// `Explicit` for a Q/DQ network (then `calibration` is `None`). Absent in older reports.
    #[serde(default)]
    pub quantization: Option<Quantization>,
    /// Wall time of the build in seconds, when known (not compared by diffs).
    pub build_seconds: Option<f64>,
    /// TensorRT warnings during the build.
    pub warnings: Vec<String>,
    /// How an accuracy budget chose the layers kept out of INT8 (those layers are in
    /// `flags`' exclusions, so a rebuild from this report repeats them). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_budget: Option<crate::strict::budget::BudgetSearch>,
}

impl BuildReport {
    /// A report from its parts: what the CPU-only paths (and tests) use.
    pub fn from_parts(
        tensorrt_version: tensorrt_sys::TrtVersion,
        io: &[IoTensor],
        engine: EngineInspection,
        flags: BuildFlags,
    ) -> BuildReport {
        let tensor = |t: &IoTensor| ReportTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            dtype: t.dtype,
        };
        BuildReport {
            trt_build_report: REPORT_FORMAT_VERSION,
            tensorrt_version,
            flags,
            inputs: io
                .iter()
                .filter(|t| t.mode == IoMode::Input)
                .map(tensor)
                .collect(),
            outputs: io
                .iter()
                .filter(|t| t.mode == IoMode::Output)
                .map(tensor)
                .collect(),
            precision_counts: engine.precision_counts(),
            layers: engine.layers,
            calibration: None,
            strict: None,
            quantization: None,
            build_seconds: None,
            warnings: Vec::new(),
            accuracy_budget: None,
        }
    }

    /// The report of a built engine: `engine` is `output.plan` deserialized (or any engine;
    /// `output` is then `None` and calibration/strict/timing stay empty).
    pub fn from_engine(
        engine: &Engine,
        config: &BuildConfig,
        output: Option<&BuildOutput>,
    ) -> Result<BuildReport> {
        let mut report = BuildReport::from_parts(
            engine.tensorrt_version(),
            engine.io_tensors(),
            engine.inspect()?,
            BuildFlags::from_config(config),
        );
        if let Some(out) = output {
            report.add_build_output(config, out)?;
        }
        Ok(report)
    }

    /// Records calibration, the strict audit, timing and warnings of a build.
    pub fn add_build_output(&mut self, config: &BuildConfig, out: &BuildOutput) -> Result<()> {
        self.quantization = Some(out.quantization);
        if config.precision().uses_int8() && !out.quantization.is_explicit() {
            // The table TensorRT wrote (or read) names the algorithm in its header.
            let algorithm = match (&out.calibration_table, config.calibration_table()) {
                (Some(bytes), _) => table_bytes_algorithm(bytes),
                (None, Some(p)) => std::fs::read(&p.path)
                    .ok()
                    .and_then(|b| table_bytes_algorithm(&b)),
                (None, None) => None,
            }
            .unwrap_or_default();
            self.calibration = Some(CalibrationInfo {
                table: config.calibration_table().map(|p| p.path.clone()),
                mode: config.calibration_table().map(|p| p.mode),
                algorithm,
                batches: out.calibration_batches,
                get_batch_calls: out.get_batch_calls,
                table_written: out.calibration_table.is_some(),
            });
        }
        self.strict.clone_from(&out.strict);
        self.build_seconds = Some(out.build_time.as_secs_f64());
        self.warnings = out.warnings.clone();
        Ok(())
    }

    /// A warning when an `Int8` build (not strict) runs few or none of its compute layers in
    /// INT8: TensorRT picks each layer's precision by timing, and for small layers FP32 kernels
    /// (no reformat to INT8) often win, so "INT8" may mean nothing ran INT8. `None` for other
    /// precisions, for strict builds (their audit speaks), for explicitly quantized builds (the
    /// Q/DQ nodes decide), and when at least half run INT8.
    pub fn int8_advice(&self) -> Option<String> {
        let explicit = self.quantization.is_some_and(Quantization::is_explicit);
        if self.flags.settings.precision != crate::Precision::Int8 || explicit {
            return None;
        }
        let int8 = self.precision_counts.get("INT8").copied().unwrap_or(0);
        let known: usize = self
            .precision_counts
            .iter()
            .filter(|(p, _)| p.as_str() != "unknown")
            .map(|(_, n)| n)
            .sum();
        if known == 0 || 2 * int8 >= known {
            return None;
        }
        let what = if int8 == 0 {
            format!("no compute layer runs INT8 (0 of {known})")
        } else {
            format!("only {int8} of {known} compute layers run INT8")
        };
        Some(format!(
            "{what}: TensorRT chose each layer's precision by timing and found FP32/FP16 kernels faster \
             (small layers, reformat costs), and a rebuild may choose differently. Strict INT8 \
             (Precision::StrictInt8) forces INT8 wherever TensorRT has an INT8 kernel and audits it"
        ))
    }

    /// Parses a report (checks the marker and the format version).
    pub fn from_json(json: &str) -> Result<BuildReport> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::Invalid(format!("build report JSON: {e}")))?;
        match v.get(REPORT_MARKER).and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(REPORT_FORMAT_VERSION) => {}
            Some(n) => {
                return Err(Error::Invalid(format!(
                "build report format {n}; this version of trt reads format {REPORT_FORMAT_VERSION}"
            )))
            }
            None => {
                return Err(Error::Invalid(format!(
                    "not a build report (no `{REPORT_MARKER}` field)"
                )))
            }
        }
        serde_json::from_value(v).map_err(|e| Error::Invalid(format!("build report JSON: {e}")))
    }

    /// The report as pretty-printed JSON, the form [`BuildReport::from_json`] reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Reads a report file.
    pub fn load(path: impl AsRef<Path>) -> Result<BuildReport> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        BuildReport::from_json(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// Writes the report atomically (temporary file, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut text = self.to_json();
        text.push('\n');
        crate::write_atomic(path, text.as_bytes())
    }

    /// The report file that belongs to an engine file: `ENGINE.report.json`.
    pub fn path_for_engine(engine: impl AsRef<Path>) -> PathBuf {
        let mut s = engine.as_ref().as_os_str().to_owned();
        s.push(".report.json");
        PathBuf::from(s)
    }

    /// Layer-by-layer differences from `other`.
    pub fn diff(&self, other: &BuildReport) -> ReportDiff {
        ReportDiff::between(&self.layers, &other.layers)
    }
}

fn table_bytes_algorithm(bytes: &[u8]) -> Option<CalibrationAlgorithm> {
    let table = trt_calib_table::CalibrationTable::parse(bytes).ok()?;
    CalibrationAlgorithm::from_table_algorithm(table.algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_tells_reports_by_the_same_marker() {
        assert_eq!(REPORT_MARKER, diff::REPORT_MARKER);
    }

    fn v853() -> tensorrt_sys::TrtVersion {
        "8.5.3".parse().unwrap()
    }
    use crate::config::Precision;

    fn fixture(name: &str) -> EngineInspection {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trt-8.5.3")
            .join(name);
        EngineInspection::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn plain_a_vs_b_differ_in_four_tactics_only() {
        let (a, b) = (
            fixture("resnet18-int8-plain.a.inspector.json"),
            fixture("resnet18-int8-plain.b.inspector.json"),
        );
        assert_eq!(a.layers.len(), 56);
        let d = ReportDiff::between_engine_reports(&a, &b);
        assert!(!d.identical);
        assert_eq!(d.tactic_changes.len(), 4, "{:#?}", d.tactic_changes);
        assert_eq!(d.precision_changes.len(), 0);
        assert_eq!(d.format_changes.len(), 0);
        assert!(d.layers_only_in_a.is_empty() && d.layers_only_in_b.is_empty());
        let conv = d
            .tactic_changes
            .iter()
            .find(|c| c.layer == "/layer2/layer2.0/conv1/Conv + /layer2/layer2.0/relu/Relu")
            .expect("layer2.0 conv1 changed tactic");
        assert_eq!(conv.a.as_deref(), Some("0x671c943720ba8655"));
        assert_eq!(conv.b.as_deref(), Some("0x70ccdad7e8ced9ab"));
        // The input reformat changed tactic too (0x3e8 -> 0x0).
        assert!(d.tactic_changes.iter().any(|c| c
            .layer
            .starts_with("Reformatting CopyNode for Input Tensor 0")));
    }

    #[test]
    fn the_table_header_names_the_algorithm() {
        let real = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("crates/calib-table/tests/fixtures/resnet18-random-weights.calib.cache"),
        )
        .unwrap();
        assert_eq!(
            table_bytes_algorithm(&real),
            Some(CalibrationAlgorithm::Entropy2)
        );
        assert_eq!(
            table_bytes_algorithm(b"TRT-8503-MinMaxCalibration\ninput: 3d2020d2\n"),
            Some(CalibrationAlgorithm::MinMax)
        );
        assert_eq!(table_bytes_algorithm(b"garbage"), None);
    }

    #[test]
    fn a_report_is_identical_to_itself() {
        let a = fixture("resnet18-int8-plain.a.inspector.json");
        let d = ReportDiff::between_engine_reports(&a, &a);
        assert!(d.identical);
        assert_eq!(d.summary(), "identical");
    }

    #[test]
    fn plain_vs_prefer_same_formats_eight_tactics() {
        let (a, p) = (
            fixture("resnet18-int8-plain.a.inspector.json"),
            fixture("resnet18-int8-prefer.a.inspector.json"),
        );
        let d = ReportDiff::between_engine_reports(&a, &p);
        assert_eq!(d.tactic_changes.len(), 8);
        assert_eq!(d.precision_changes.len(), 0);
        assert_eq!(d.format_changes.len(), 0);
    }

    #[test]
    fn renamed_and_changed_layers_are_reported() {
        let a = fixture("resnet18-int8-plain.a.inspector.json");
        let mut b = a.clone();
        let i = b
            .layers
            .iter()
            .position(|l| l.precision.as_deref() == Some("INT8") && !l.is_reformat())
            .unwrap();
        let name = b.layers[i].name.clone();
        b.layers[i].output_formats = vec!["Row major linear FP32".into()];
        b.layers[i].input_formats = vec!["Row major linear FP32".into()];
        b.layers[i].precision = Some("FP32".into());
        b.layers[0].name.push_str(" renamed");
        let d = ReportDiff::between_engine_reports(&a, &b);
        assert_eq!(
            d.precision_changes,
            vec![LayerChange {
                layer: name.clone(),
                a: Some("INT8".into()),
                b: Some("FP32".into())
            }]
        );
        assert_eq!(d.format_changes.len(), 1);
        assert_eq!(d.layers_only_in_a, vec![a.layers[0].name.clone()]);
        assert_eq!(d.layers_only_in_b, vec![b.layers[0].name.clone()]);
    }

    #[test]
    fn report_round_trips_and_is_detected() {
        let a = fixture("resnet18-int8-plain.a.inspector.json");
        let io = vec![
            IoTensor {
                name: "input".into(),
                mode: IoMode::Input,
                shape: vec![8, 3, 224, 224],
                dtype: DataType::Float,
            },
            IoTensor {
                name: "logits".into(),
                mode: IoMode::Output,
                shape: vec![8, 1000],
                dtype: DataType::Float,
            },
        ];
        let config = BuildConfig::new(Precision::Int8).keep_type_out_of_int8("SOFTMAX");
        let r = BuildReport::from_parts(v853(), &io, a.clone(), BuildFlags::from_config(&config));
        assert_eq!(r.inputs[0].shape, vec![8, 3, 224, 224]);
        assert_eq!(r.outputs[0].name, "logits");
        assert_eq!(
            r.flags.settings.keep_out_of_int8.types,
            vec!["SOFTMAX".to_string()]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = BuildReport::path_for_engine(dir.path().join("m.engine"));
        assert!(path.ends_with("m.engine.report.json"));
        r.save(&path).unwrap();
        let back = BuildReport::load(&path).unwrap();
        assert_eq!(back, r);
        assert!(back.diff(&r).identical);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            ArtifactKind::detect(&bytes).unwrap(),
            ArtifactKind::BuildReport
        );
        let inspector = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/trt-8.5.3/resnet18-int8-plain.a.inspector.json"),
        )
        .unwrap();
        assert_eq!(
            ArtifactKind::detect(&inspector).unwrap(),
            ArtifactKind::InspectorJson
        );
        assert_eq!(
            ArtifactKind::detect(b"\x00\x01ftrt plan").unwrap(),
            ArtifactKind::Engine
        );
        assert!(ArtifactKind::detect(b"{\"x\": 1}").is_err());
        assert!(BuildReport::from_json("{\"trt_build_report\": 99}")
            .unwrap_err()
            .to_string()
            .contains("format 99"));
    }

    #[test]
    fn int8_builds_that_run_little_int8_are_told_to_use_strict_mode() {
        let io = [];
        let real = fixture("resnet18-int8-plain.a.inspector.json");
        let int8 = BuildFlags::from_config(&BuildConfig::new(Precision::Int8));
        let r = BuildReport::from_parts(v853(), &io, real.clone(), int8.clone());
        assert!(r.precision_counts["INT8"] > 20, "{:?}", r.precision_counts);
        assert_eq!(
            r.int8_advice(),
            None,
            "a real INT8 ResNet-18 runs mostly INT8"
        );

        // What the README's Fashion-MNIST command printed on TensorRT 8.5.3: "FP32 8".
        let mut fp32_only = r.clone();
        fp32_only.precision_counts = [("FP32".to_string(), 8)].into_iter().collect();
        let advice = fp32_only.int8_advice().expect("nothing ran INT8");
        assert!(
            advice.starts_with("no compute layer runs INT8 (0 of 8)"),
            "{advice}"
        );
        assert!(advice.contains("Precision::StrictInt8"), "{advice}");

        let mut few = r.clone();
        few.precision_counts = [("FP32".to_string(), 5), ("INT8".to_string(), 3)]
            .into_iter()
            .collect();
        let advice = few.int8_advice().unwrap();
        assert!(
            advice.starts_with("only 3 of 8 compute layers run INT8"),
            "{advice}"
        );

        // An explicitly quantized build: the Q/DQ nodes decide; no advice, and the field
        // survives the JSON round trip (older reports without it still load).
        let mut explicit = fp32_only.clone();
        explicit.quantization = Some(Quantization::Explicit { qdq_layers: 16 });
        assert_eq!(explicit.int8_advice(), None);
        let back = BuildReport::from_json(&explicit.to_json()).unwrap();
        assert_eq!(back.quantization, explicit.quantization);
        let mut old: serde_json::Value = serde_json::from_str(&explicit.to_json()).unwrap();
        old.as_object_mut().unwrap().remove("quantization");
        let old = BuildReport::from_json(&old.to_string()).unwrap();
        assert_eq!(old.quantization, None);

        // Strict and FP32 builds get no such advice; neither do plans without precisions.
        for flags in [
            BuildFlags::from_config(&BuildConfig::new(Precision::StrictInt8)),
            BuildFlags::from_config(&BuildConfig::new(Precision::Fp32)),
        ] {
            let mut other = fp32_only.clone();
            other.flags = flags;
            assert_eq!(other.int8_advice(), None);
        }
        let mut unknown = r.clone();
        unknown.precision_counts = [("unknown".to_string(), 8)].into_iter().collect();
        assert_eq!(unknown.int8_advice(), None);
    }

    #[test]
    fn a_names_only_plan_is_not_detailed() {
        let names_only = EngineInspection::from_json(
            r#"{"Layers": ["conv1 + relu1", "fc"], "Bindings": ["input", "logits"]}"#,
        )
        .unwrap();
        assert!(!names_only.is_detailed());
        assert_eq!(names_only.precision_counts()["unknown"], 2);
        assert!(fixture("resnet18-int8-plain.a.inspector.json").is_detailed());
    }
}
