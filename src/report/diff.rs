//! Two builds compared layer by layer, and telling engine / report / inspector files apart.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::inspector::{EngineInspection, EngineLayer};

/// The marker field of build reports (also [`crate::report::REPORT_MARKER`]).
pub(super) const REPORT_MARKER: &str = "trt_build_report";

/// A layer whose precision (or tactic) differs between A and B.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerChange {
    /// The engine layer's name (the same in both builds: layers are matched by name).
    pub layer: String,
    /// Its value in A (a precision such as `INT8`); `None` when A did not record one (built
    /// without detailed profiling).
    pub a: Option<String>,
    /// Its value in B; `None` as for `a`.
    pub b: Option<String>,
}

/// A layer whose tactic differs: value and (when the engine recorded it) kernel name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TacticChange {
    /// The engine layer's name (the same in both builds).
    pub layer: String,
    /// A's tactic value as the inspector prints it (`0x...`); `None` when A recorded none.
    pub a: Option<String>,
    /// B's tactic value; `None` when B recorded none.
    pub b: Option<String>,
    /// A's kernel name for the tactic, when the engine recorded one.
    pub a_name: Option<String>,
    /// B's kernel name for the tactic, when the engine recorded one.
    pub b_name: Option<String>,
    /// A reformat (copy / conversion) layer: TensorRT 8.x picks its kernel by timing without
    /// offering it to the algorithm selector, so tactic replay cannot pin it.
    #[serde(default)]
    pub reformat: bool,
}

/// A layer whose input or output formats differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatChange {
    /// The engine layer's name (the same in both builds).
    pub layer: String,
    /// A's input formats, one per input ("Row major linear FP32"; see
    /// [`EngineLayer::input_formats`]).
    pub a_inputs: Vec<String>,
    /// A's output formats, one per output.
    pub a_outputs: Vec<String>,
    /// B's input formats, one per input.
    pub b_inputs: Vec<String>,
    /// B's output formats, one per output.
    pub b_outputs: Vec<String>,
}

/// Two builds compared layer by layer, layers matched by name (the k-th layer of a name in A
/// with the k-th of that name in B). Identical when every list is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDiff {
    /// Every list below is empty.
    pub identical: bool,
    /// Names of A's layers without a match in B, in A's order (a name that occurs k times in
    /// A and fewer in B is listed for its unmatched occurrences).
    pub layers_only_in_a: Vec<String>,
    /// Names of B's layers without a match in A, in B's order.
    pub layers_only_in_b: Vec<String>,
    /// Matched layers whose precision differs, in A's order.
    pub precision_changes: Vec<LayerChange>,
    /// Matched layers whose input or output formats differ, in A's order.
    pub format_changes: Vec<FormatChange>,
    /// Matched layers whose tactic value or kernel name differs, in A's order.
    pub tactic_changes: Vec<TacticChange>,
}

impl ReportDiff {
    /// Compares two lists of engine layers (in A's order).
    pub fn between(a: &[EngineLayer], b: &[EngineLayer]) -> ReportDiff {
        let key = |layers: &[EngineLayer]| {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            layers
                .iter()
                .map(|l| {
                    let k = seen.entry(l.name.as_str()).or_insert(0);
                    *k += 1;
                    (l.name.clone(), *k)
                })
                .collect::<Vec<_>>()
        };
        let (ka, kb) = (key(a), key(b));
        let index_b: HashMap<&(String, usize), usize> =
            kb.iter().enumerate().map(|(i, k)| (k, i)).collect();
        let index_a: HashMap<&(String, usize), usize> =
            ka.iter().enumerate().map(|(i, k)| (k, i)).collect();
        let mut d = ReportDiff::default();
        for (i, k) in ka.iter().enumerate() {
            let la = &a[i];
            let Some(&j) = index_b.get(k) else {
                d.layers_only_in_a.push(la.name.clone());
                continue;
            };
            let lb = &b[j];
            if la.precision != lb.precision {
                d.precision_changes.push(LayerChange {
                    layer: la.name.clone(),
                    a: la.precision.clone(),
                    b: lb.precision.clone(),
                });
            }
            if la.input_formats != lb.input_formats || la.output_formats != lb.output_formats {
                d.format_changes.push(FormatChange {
                    layer: la.name.clone(),
                    a_inputs: la.input_formats.clone(),
                    a_outputs: la.output_formats.clone(),
                    b_inputs: lb.input_formats.clone(),
                    b_outputs: lb.output_formats.clone(),
                });
            }
            if la.tactic != lb.tactic || la.tactic_name != lb.tactic_name {
                d.tactic_changes.push(TacticChange {
                    layer: la.name.clone(),
                    a: la.tactic.clone(),
                    b: lb.tactic.clone(),
                    a_name: la.tactic_name.clone(),
                    b_name: lb.tactic_name.clone(),
                    reformat: la.is_reformat(),
                });
            }
        }
        d.layers_only_in_b = kb
            .iter()
            .enumerate()
            .filter(|(_, k)| !index_a.contains_key(k))
            .map(|(j, _)| b[j].name.clone())
            .collect();
        d.identical = d.layers_only_in_a.is_empty()
            && d.layers_only_in_b.is_empty()
            && d.precision_changes.is_empty()
            && d.format_changes.is_empty()
            && d.tactic_changes.is_empty();
        d
    }

    /// Compares two inspector outputs.
    pub fn between_engine_reports(a: &EngineInspection, b: &EngineInspection) -> ReportDiff {
        ReportDiff::between(&a.layers, &b.layers)
    }

    /// Compares two deserialized engines (through the inspector).
    pub fn between_engines(a: &Engine, b: &Engine) -> Result<ReportDiff> {
        Ok(ReportDiff::between(
            &a.inspect()?.layers,
            &b.inspect()?.layers,
        ))
    }

    /// One line: `identical` or the counts of each kind of difference.
    pub fn summary(&self) -> String {
        if self.identical {
            return "identical".into();
        }
        let reformats = self.reformat_tactic_changes();
        format!(
            "different: {} layer(s) only in A, {} only in B, {} precision change(s), {} format change(s), {} tactic change(s){}",
            self.layers_only_in_a.len(),
            self.layers_only_in_b.len(),
            self.precision_changes.len(),
            self.format_changes.len(),
            self.tactic_changes.len(),
            if reformats > 0 {
                format!(" ({reformats} on reformat layers)")
            } else {
                String::new()
            }
        )
    }

    /// How many tactic changes are on reformat layers (see [`TacticChange::reformat`]).
    pub fn reformat_tactic_changes(&self) -> usize {
        self.tactic_changes.iter().filter(|t| t.reformat).count()
    }

    /// Only reformat kernels differ: same layers, precisions and formats, and every layer that
    /// TensorRT lets an algorithm selector choose has the same tactic.
    pub fn only_reformat_tactics_differ(&self) -> bool {
        self.layers_only_in_a.is_empty()
            && self.layers_only_in_b.is_empty()
            && self.precision_changes.is_empty()
            && self.format_changes.is_empty()
            && self.tactic_changes.iter().all(|t| t.reformat)
    }
}

/// What a file given to `trt diff` (or similar) holds, told apart by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A JSON object with a `Layers` array: `IEngineInspector` output.
    InspectorJson,
    /// A JSON object with the `trt_build_report` marker: a [`BuildReport`](crate::BuildReport).
    BuildReport,
    /// Anything else: taken to be a serialized engine.
    Engine,
}

impl ArtifactKind {
    /// Looks at the content: JSON objects are reports or inspector output; everything else is an
    /// engine. A JSON object that is neither is an error (it is certainly not an engine).
    pub fn detect(bytes: &[u8]) -> Result<ArtifactKind> {
        let trimmed = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &bytes[i..])
            .unwrap_or(&[]);
        if trimmed.first() != Some(&b'{') {
            return Ok(ArtifactKind::Engine);
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Ok(ArtifactKind::Engine);
        };
        if v.get(REPORT_MARKER).is_some() {
            Ok(ArtifactKind::BuildReport)
        } else if v.get("Layers").is_some_and(serde_json::Value::is_array) {
            Ok(ArtifactKind::InspectorJson)
        } else {
            Err(Error::Invalid(format!(
                "a JSON object that is neither a build report (no `{REPORT_MARKER}` field) nor engine inspector output (no `Layers` array)"
            )))
        }
    }
}
