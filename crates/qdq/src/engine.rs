//! An implicit INT8 engine's layers mapped back to the ONNX model: which nodes ran INT8 there,
//! and which activations they read, as a [`Placement::Exactly`] for the export.
//!
//! TensorRT names an engine layer after the network layers it fused, joined by `" + "`
//! (`/conv2/Conv + /Add + /Relu`), with pointwise fusions as `PWN(a, b)`; layers it made itself
//! carry a node's name inside theirs (`reshape_after_/fc/Gemm`) or none (`Reformatting
//! CopyNode ...`, `Identity_3`); a Myelin region (TensorRT 8.6+) is `{ForeignNode[FIRST...LAST]}`.
//! The network layers keep the ONNX node names.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::onnx::ModelProto;
use crate::{Placement, QdqError, Result};

/// One engine layer as far as placement needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineLayer {
    /// The engine layer's name (fused network layer names joined by `" + "`).
    pub name: String,
    /// TensorRT's engine layer type (`CaskConvolution`, `Reformat`, `Constant`, ...; empty when
    /// the JSON does not say).
    pub layer_type: String,
    /// `INT8`, `FP16`, `FP32`, ... (`None` without detailed profiling).
    pub precision: Option<String>,
}

impl EngineLayer {
    /// Reformats and constants: TensorRT's own layers, not the model's computation.
    pub fn is_reformat_or_constant(&self) -> bool {
        self.layer_type == "Reformat"
            || self.layer_type == "Constant"
            || self.name.starts_with("Reformatting CopyNode")
    }
}

/// Reads engine layers from a build report (`ENGINE.report.json`, written by `trt build`: marker
/// `trt_build_report`, `layers[].name/layer_type/precision`) or TensorRT's inspector JSON
/// (`Layers[]` with `Name`, `LayerType` and `Format/Datatype` per input and output; a layer that
/// reads or writes INT8 is INT8). Refused: JSON of neither kind, and an engine without
/// per-layer precisions (built without detailed profiling).
pub fn engine_layers_from_json(json: &str) -> Result<Vec<EngineLayer>> {
    let bad = |why: String| QdqError::EngineJson(why);
    let v: Value = serde_json::from_str(json)
        .or_else(|_| serde_json::from_str(&escape_raw_control_characters(json)))
        .map_err(|e| bad(format!("not JSON: {e}")))?;
    let layers: Vec<EngineLayer> = if let Some(a) = v.get("layers").and_then(Value::as_array) {
        a.iter()
            .map(|l| EngineLayer {
                name: text(l, "name"),
                layer_type: text(l, "layer_type"),
                precision: l.get("precision").and_then(Value::as_str).map(String::from),
            })
            .collect()
    } else if let Some(a) = v.get("Layers").and_then(Value::as_array) {
        a.iter().map(inspector_layer).collect()
    } else {
        return Err(bad(
            "neither a build report (`layers`) nor TensorRT inspector JSON (`Layers`)".into(),
        ));
    };
    if !layers.iter().any(|l| l.precision.is_some()) {
        return Err(bad(format!(
            "none of its {} layers has a precision: build the implicit engine with detailed \
             profiling (trt build does by default)",
            layers.len()
        )));
    }
    Ok(layers)
}

/// TensorRT 8.6.0's inspector JSON can hold raw control characters inside strings (measured on
/// the H200: `control character (\u0000-\u001F) found while parsing a string`), which JSON
/// forbids; `trt::inspector` meets the same text. They are escaped (`\u0001`), keeping every
/// character.
fn escape_raw_control_characters(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string && (c as u32) < 0x20 {
            out.push_str(&format!("\\u{:04x}", c as u32));
            escaped = false;
            continue;
        }
        out.push(c);
        if escaped {
            escaped = false;
        } else if in_string && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
    }
    out
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn inspector_layer(v: &Value) -> EngineLayer {
    if let Some(name) = v.as_str() {
        return EngineLayer {
            name: name.into(),
            layer_type: String::new(),
            precision: None,
        };
    }
    let formats: Vec<String> = ["Inputs", "Outputs"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|t| t.get("Format/Datatype").and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect();
    let precision = if formats.is_empty() {
        None
    } else {
        // The same rule as the trt library's inspector: INT8 in or out is an INT8 layer, else
        // the lowest float precision.
        [
            ("int8", "INT8"),
            ("fp16", "FP16"),
            ("half", "FP16"),
            ("fp32", "FP32"),
            ("float", "FP32"),
            ("int32", "INT32"),
        ]
        .iter()
        .find(|(k, _)| formats.iter().any(|f| f.contains(k)))
        .map(|(_, p)| p.to_string())
    };
    EngineLayer {
        name: text(v, "Name"),
        layer_type: text(v, "LayerType"),
        precision,
    }
}

/// ONNX operators that only move or reshape data: an engine layer made of these alone is not
/// counted as an INT8 compute layer.
pub const DATA_MOVEMENT_OPS: [&str; 11] = [
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Shape",
    "Gather",
    "Slice",
    "Cast",
    "Constant",
];

/// What an engine ran, in the model's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineMapping {
    /// Model nodes (by name) inside an engine layer that ran INT8 (reformats and constants
    /// left out); Q/DQ nodes are never listed.
    pub int8_nodes: BTreeSet<String>,
    /// The same, without data-movement nodes ([`DATA_MOVEMENT_OPS`]): what two engines'
    /// INT8 compute is compared by.
    pub int8_compute_nodes: BTreeSet<String>,
    /// Activations read by an INT8 engine layer from outside it: graph inputs and outputs of
    /// non-Constant nodes, read by an [`EngineMapping::int8_nodes`] node and not written inside
    /// the same engine layer. What [`EngineMapping::placement`] quantizes.
    pub tensors: BTreeSet<String>,
    /// For each tensor, the engine layer that read it (the first one, in engine order).
    pub read_by: BTreeMap<String, String>,
    /// Engine layers (not reformats or constants) in which no model node was found.
    pub unmatched: Vec<String>,
    /// Conv, Gemm and MatMul nodes that did not run INT8 there: excluded from the export
    /// ([`EngineMapping::exclusions`]), so their weights stay float too.
    pub float_weighted_nodes: BTreeSet<String>,
}

impl EngineMapping {
    /// `Placement::Exactly` of [`EngineMapping::tensors`].
    pub fn placement(&self) -> Placement {
        Placement::Exactly(self.tensors.clone())
    }

    /// The nodes to exclude from the export: [`EngineMapping::float_weighted_nodes`].
    pub fn exclusions(&self) -> Vec<String> {
        self.float_weighted_nodes.iter().cloned().collect()
    }
}

/// The names inside one engine layer's name: split at `" || "` (layers TensorRT fused side by
/// side: `a + a_bias || b + b_bias`), at `" + "`, and at `", "` inside `PWN(...)`.
fn tokens(name: &str) -> Vec<&str> {
    name.split(" || ")
        .flat_map(|side| side.split(" + "))
        .flat_map(|part| {
            let pwn = part.trim().starts_with("PWN(");
            let mut p = part.trim();
            while let Some(s) = p.strip_prefix("PWN(") {
                p = s;
            }
            let parts: Vec<&str> = if pwn {
                p.split(", ").collect()
            } else {
                vec![p]
            };
            parts.into_iter().map(move |t| {
                let t = t.trim();
                let t = if pwn { t.trim_end_matches(')') } else { t };
                t.trim_start_matches("PWN(")
            })
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// `{ForeignNode[FIRST...LAST]}` -> `(FIRST, LAST)`.
fn foreign_range(name: &str) -> Option<(&str, &str)> {
    let inner = name
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .strip_prefix("ForeignNode[")?
        .strip_suffix(']')?;
    inner.split_once("...")
}

/// Maps the engine's INT8 layers to model nodes and the activations they read from outside.
///
/// A name is matched exactly first; TensorRT's own names (`reshape_after_/fc/Gemm`,
/// `/conv1/Conv_clone_1`) match the longest model node name they contain.
pub fn map_engine(model: &ModelProto, layers: &[EngineLayer]) -> Result<EngineMapping> {
    let graph = model.graph.as_ref().ok_or(QdqError::NoGraph)?;
    let by_name: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.name().is_empty())
        .map(|(i, n)| (n.name(), i))
        .collect();
    let mut longest: Vec<&str> = by_name.keys().copied().collect();
    longest.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let initializers: HashMap<&str, _> = graph.initializer.iter().map(|t| (t.name(), t)).collect();
    // Initializers and what is computed from them alone (an `Identity` of a shared bias).
    let constants = crate::graph::constant_tensors(graph, &initializers);
    let is_qdq = |i: usize| {
        matches!(
            graph.node[i].op_type(),
            "QuantizeLinear" | "DequantizeLinear"
        )
    };

    let mut m = EngineMapping::default();
    for layer in layers.iter().filter(|l| !l.is_reformat_or_constant()) {
        let mut nodes: BTreeSet<usize> = BTreeSet::new();
        // Myelin (TensorRT 8.6+) names a region by its first and last nodes:
        // `{ForeignNode[/a/Conv.../b/Gemm]}`: every node between them, in graph order.
        if let Some((first, last)) = foreign_range(&layer.name) {
            if let (Some(&i), Some(&j)) = (by_name.get(first), by_name.get(last)) {
                nodes.extend(i.min(j)..=i.max(j));
            }
        }
        let region = !nodes.is_empty();
        for t in tokens(&layer.name).into_iter().filter(|_| !region) {
            let hit = by_name
                .get(t)
                .copied()
                .or_else(|| longest.iter().find(|n| t.contains(**n)).map(|n| by_name[n]));
            if let Some(i) = hit {
                nodes.insert(i);
            }
        }
        if nodes.is_empty() {
            m.unmatched.push(layer.name.clone());
            continue;
        }
        if layer.precision.as_deref() != Some("INT8") {
            continue;
        }
        let inside: HashSet<&str> = nodes
            .iter()
            .flat_map(|&i| graph.node[i].output.iter().map(String::as_str))
            .collect();
        // A NoOp layer computes nothing: TensorRT names the squeezes it adds after a fused
        // layer after that layer's node (`copied_squeeze_after_rnet_Add1` after MatMul + bias
        // Add), so its precision says how the tensor travels, not where the node ran.
        let computes = layer.layer_type != "NoOp";
        for &i in nodes.iter().filter(|&&i| !is_qdq(i)) {
            let node = &graph.node[i];
            m.int8_nodes.insert(node.name().to_owned());
            if computes && !DATA_MOVEMENT_OPS.contains(&node.op_type()) {
                m.int8_compute_nodes.insert(node.name().to_owned());
            }
            for input in node.input.iter().map(String::as_str) {
                if input.is_empty() || constants.contains(input) || inside.contains(input) {
                    continue;
                }
                if m.tensors.insert(input.to_owned()) {
                    m.read_by.insert(input.to_owned(), layer.name.clone());
                }
            }
        }
    }
    m.float_weighted_nodes = graph
        .node
        .iter()
        .filter(|n| matches!(n.op_type(), "Conv" | "Gemm" | "MatMul"))
        .filter(|n| !m.int8_nodes.contains(n.name()))
        .map(|n| n.name().to_owned())
        .collect();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspector_json_with_raw_control_characters_parses() {
        // TensorRT 8.6.0 wrote a raw 0x01 inside a layer name.
        let json = "{\"Layers\": [{\"Name\": \"/conv\u{1}1\", \"LayerType\": \"CaskConvolution\", \
                    \"Outputs\": [{\"Format/Datatype\": \"Channel major INT8 format\"}]}]}";
        assert!(serde_json::from_str::<Value>(json).is_err());
        let layers = engine_layers_from_json(json).unwrap();
        assert_eq!(layers[0].name, "/conv\u{1}1");
    }

    #[test]
    fn layers_fused_side_by_side_split_into_both_sides() {
        // TensorRT 8.5.3's name for MTCNN's two heads on one input, run as one GEMM.
        assert_eq!(
            tokens("rnet_dense_2 + rnet_dense_2/bias:0 + rnet_Add || rnet_dense_1 + rnet_Add1"),
            [
                "rnet_dense_2",
                "rnet_dense_2/bias:0",
                "rnet_Add",
                "rnet_dense_1",
                "rnet_Add1"
            ]
        );
    }

    #[test]
    fn fused_names_split_into_node_names() {
        assert_eq!(
            tokens("/conv2/Conv + /Add + /Relu"),
            ["/conv2/Conv", "/Add", "/Relu"]
        );
        assert_eq!(
            tokens("/c/Conv + PWN(PWN(/Sigmoid), /Mul)"),
            ["/c/Conv", "/Sigmoid", "/Mul"]
        );
        assert_eq!(tokens("PWN(/Relu_2)"), ["/Relu_2"]);
        assert_eq!(tokens("reshape_after_/fc/Gemm"), ["reshape_after_/fc/Gemm"]);
        assert_eq!(
            foreign_range("{ForeignNode[/blocks.0/Conv.../head/Gemm]}"),
            Some(("/blocks.0/Conv", "/head/Gemm"))
        );
        assert_eq!(foreign_range("/conv1/Conv + /Relu"), None);
    }
}
