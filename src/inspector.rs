//! The engine inspector's JSON, read into per-layer records: precision, formats, tactic.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One layer of a built engine (after fusion: names like `conv1 + relu1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineLayer {
    /// The engine layer's name: the fused network layers' names joined by " + ".
    pub name: String,
    /// The engine's layer type: `CaskConvolution`, `Reformat`, `Constant`, ...
    pub layer_type: String,
    /// Derived from the I/O formats: `INT8`, `FP16`, `FP32`, `INT32`, ... (`None` when the
    /// engine was built without detailed profiling).
    pub precision: Option<String>,
    /// The names of the tensors it reads.
    pub inputs: Vec<String>,
    /// The names of the tensors it writes.
    pub outputs: Vec<String>,
    /// Each input's format and element type as the inspector words it ("Row major linear
    /// FP32"); empty without detailed profiling.
    pub input_formats: Vec<String>,
    /// Each output's format and element type; empty without detailed profiling.
    pub output_formats: Vec<String>,
    /// The tactic TensorRT chose, as the number it prints (`0x...`); detailed profiling only.
    pub tactic: Option<String>,
    /// The chosen tactic's kernel name, where TensorRT gives one; detailed profiling only.
    pub tactic_name: Option<String>,
}

impl EngineLayer {
    /// The network layers fused into this one. TensorRT joins their names with " + ", writes
    /// pointwise fusions as `PWN(a, PWN(b), c)` and the two sides of a shared-input merge as
    /// `a || b`; parenthesised names (`(Unnamed Layer* 3) [ElementWise]`) stay whole.
    pub fn fused_names(&self) -> impl Iterator<Item = &str> {
        let mut names = Vec::new();
        fused_parts(&self.name, &mut names);
        names.into_iter()
    }

    /// Reformat/copy layers TensorRT inserted between formats; not computation.
    pub fn is_reformat(&self) -> bool {
        self.layer_type == "Reformat" || self.name.starts_with("Reformatting CopyNode")
    }
}

/// What the inspector says about a whole engine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineInspection {
    /// The engine's layers, in execution order.
    pub layers: Vec<EngineLayer>,
    /// The engine's I/O tensor names.
    pub bindings: Vec<String>,
}

impl EngineInspection {
    /// Parses `IEngineInspector` JSON (`{"Layers": [...], "Bindings": [...]}`), in either the
    /// detailed form (objects) or the names-only form (strings).
    pub fn from_json(json: &str) -> Result<EngineInspection> {
        let v: Value = serde_json::from_str(json)
            .or_else(|_| serde_json::from_str(&escape_raw_control_characters(json)))
            .map_err(|e| Error::Invalid(format!("engine inspector JSON: {e}")))?;
        let layers = v
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Invalid("engine inspector JSON has no `Layers` array".into()))?;
        let bindings = v
            .get("Bindings")
            .and_then(Value::as_array)
            .map(|b| {
                b.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok(EngineInspection {
            layers: layers.iter().map(layer).collect(),
            bindings,
        })
    }

    /// Counts of compute layers (reformats and constants excluded) per precision.
    pub fn precision_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for l in self
            .layers
            .iter()
            .filter(|l| !l.is_reformat() && l.layer_type != "Constant")
        {
            *m.entry(l.precision.clone().unwrap_or_else(|| "unknown".into()))
                .or_insert(0) += 1;
        }
        m
    }

    /// Whether the plan carries per-layer formats (built with detailed profiling). Without them
    /// TensorRT tells only layer names: no precisions, formats or tactics.
    pub fn is_detailed(&self) -> bool {
        self.layers.iter().any(|l| {
            !l.input_formats.is_empty() || !l.output_formats.is_empty() || l.tactic.is_some()
        })
    }

    /// The engine layer that computes network layer `name` (fused or not), if any survived.
    pub fn find_network_layer(&self, name: &str) -> Option<&EngineLayer> {
        self.layers
            .iter()
            .filter(|l| !l.is_reformat())
            .find(|l| l.fused_names().any(|n| n == name))
    }
}

/// Splits `name` at `sep` where no parenthesis or bracket is open.
fn split_top_level<'a>(name: &'a str, sep: &str) -> Vec<&'a str> {
    let (mut parts, mut depth, mut start, mut i) = (Vec::new(), 0i32, 0, 0);
    let bytes = name.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            // Bytes, not `name[i..]`: `i` may sit inside a multi-byte character of a name.
            _ if depth == 0 && bytes[i..].starts_with(sep.as_bytes()) => {
                parts.push(&name[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&name[start..]);
    parts
}

/// The network layer names inside one engine layer's name (see `EngineLayer::fused_names`).
fn fused_parts<'a>(name: &'a str, out: &mut Vec<&'a str>) {
    for side in split_top_level(name, " || ") {
        for part in split_top_level(side, " + ") {
            let part = part.trim();
            match part.strip_prefix("PWN(").and_then(|p| p.strip_suffix(')')) {
                Some(inner) => {
                    for p in split_top_level(inner, ", ") {
                        fused_parts(p, out);
                    }
                }
                None if !part.is_empty() => out.push(part),
                None => {}
            }
        }
    }
}

/// TensorRT 8.6.0's detailed inspector output can hold raw control characters inside strings
/// (measured on the H200: "control character found while parsing a string at line 42"), which
/// JSON forbids. They are escaped (`\u0001`), so the text parses and keeps every character.
/// `trt-qdq` (which does not depend on this crate) has the same function for the same text:
/// change both.
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

/// The string `key` of each object in array `v` (objects without it are skipped).
fn strings(v: Option<&Value>, key: &str) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(key).and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// One entry of the inspector's `Layers`: an object (detailed) or only a name.
fn layer(v: &Value) -> EngineLayer {
    if let Some(name) = v.as_str() {
        return EngineLayer {
            name: name.into(),
            layer_type: String::new(),
            precision: None,
            inputs: vec![],
            outputs: vec![],
            input_formats: vec![],
            output_formats: vec![],
            tactic: None,
            tactic_name: None,
        };
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let input_formats = strings(v.get("Inputs"), "Format/Datatype");
    let output_formats = strings(v.get("Outputs"), "Format/Datatype");
    let precision = precision_of(&input_formats, &output_formats);
    EngineLayer {
        name: s("Name").unwrap_or_default(),
        layer_type: s("LayerType").unwrap_or_default(),
        precision,
        inputs: strings(v.get("Inputs"), "Name"),
        outputs: strings(v.get("Outputs"), "Name"),
        input_formats,
        output_formats,
        tactic: s("TacticValue"),
        tactic_name: s("TacticName"),
    }
}

/// The precision a format string names ("Thirty-two wide channel vectorized row major Int8 format" -> INT8).
pub fn format_precision(format: &str) -> Option<&'static str> {
    let f = format.to_ascii_lowercase();
    [
        ("int8", "INT8"),
        ("fp16", "FP16"),
        ("half", "FP16"),
        ("bf16", "BF16"),
        ("fp8", "FP8"),
        ("fp32", "FP32"),
        ("float", "FP32"),
        ("int32", "INT32"),
        ("int64", "INT64"),
        ("bool", "BOOL"),
        ("uint8", "UINT8"),
    ]
    .iter()
    .find(|(k, _)| f.contains(k))
    .map(|(_, v)| *v)
}

/// A layer runs INT8 when its data flows in or out as INT8 (a conv reading INT8 activations
/// with an FP32 bias is an INT8 conv); otherwise its lowest float precision wins.
fn precision_of(inputs: &[String], outputs: &[String]) -> Option<String> {
    let all: Vec<&'static str> = inputs
        .iter()
        .chain(outputs)
        .filter_map(|f| format_precision(f))
        .collect();
    if all.is_empty() {
        return None;
    }
    for p in ["INT8", "FP8", "FP16", "BF16", "FP32"] {
        if all.contains(&p) {
            return Some(p.into());
        }
    }
    Some(all[0].into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_control_characters_in_strings_are_escaped() {
        let raw = "{\"Layers\": [{\"Name\": \"conv\u{1}1 \\\"q\\\"\tx\", \"LayerType\": \"CaskConvolution\"}],\n\t\"Bindings\": [\"in\"]}";
        assert!(
            serde_json::from_str::<Value>(raw).is_err(),
            "the input must be invalid JSON"
        );
        let r = EngineInspection::from_json(raw).unwrap();
        assert_eq!(r.layers[0].name, "conv\u{1}1 \"q\"\tx");
        assert_eq!(r.layers[0].layer_type, "CaskConvolution");
        assert_eq!(r.bindings, ["in"]);
        // Outside strings, whitespace stays as it is.
        assert_eq!(
            escape_raw_control_characters("{\"a\":\n\t\"b\u{2}\"}"),
            "{\"a\":\n\t\"b\\u0002\"}"
        );
    }

    #[test]
    fn format_strings() {
        assert_eq!(
            format_precision("Thirty-two wide channel vectorized row major Int8 format"),
            Some("INT8")
        );
        assert_eq!(format_precision("Row major linear FP32"), Some("FP32"));
        assert_eq!(
            format_precision("Channel major FP16 format where channel % 8 == 0"),
            Some("FP16")
        );
    }

    /// An engine layer known by its name only, as the names-only inspector JSON gives it.
    fn named(name: &str) -> EngineLayer {
        layer(&Value::from(name))
    }

    #[test]
    fn fused_names_open_pointwise_fusions_and_keep_unnamed_layers_whole() {
        // Names of TensorRT 8.5.3 engines built on the H200 (EfficientNet-Lite0, MTCNN).
        let names = |n: &str| named(n).fused_names().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            names("/_conv_stem/Pad + /_conv_stem/Conv + PWN(/Clip)"),
            ["/_conv_stem/Pad", "/_conv_stem/Conv", "/Clip"]
        );
        assert_eq!(
            names("/c/Conv + PWN(PWN(/Sigmoid), /Mul)"),
            ["/c/Conv", "/Sigmoid", "/Mul"]
        );
        assert_eq!(
            names("PWN((Unnamed Layer* 3) [Activation], (Unnamed Layer* 4) [ElementWise])"),
            [
                "(Unnamed Layer* 3) [Activation]",
                "(Unnamed Layer* 4) [ElementWise]"
            ]
        );
        assert_eq!(
            names("(Unnamed Layer* 121) [ElementWise]"),
            ["(Unnamed Layer* 121) [ElementWise]"]
        );
        assert_eq!(
            names("a + a_bias || b + b_bias"),
            ["a", "a_bias", "b", "b_bias"]
        );
        // A name that only looks like the start of a fusion stays whole.
        assert_eq!(names("PWN(x"), ["PWN(x"]);
        // Names are not all ASCII.
        assert_eq!(
            names("/Größe/Conv + PWN(/Größe/Clip)"),
            ["/Größe/Conv", "/Größe/Clip"]
        );

        let engine = EngineInspection {
            layers: vec![named(
                "/_blocks.0/_depthwise_conv/Conv + PWN(/_blocks.0/Clip)",
            )],
            bindings: vec![],
        };
        assert!(engine.find_network_layer("/_blocks.0/Clip").is_some());
        assert!(engine.find_network_layer("/_blocks.0/Clip_1").is_none());
    }
}
