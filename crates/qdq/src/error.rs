//! Why an export is refused.

use std::path::PathBuf;

/// An export refused, or a file that could not be read or written.
///
/// Every refusal comes before anything is written, and says what does not fit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QdqError {
    /// The model file could not be read.
    #[error("cannot read ONNX model `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ONNX model (protobuf decoding failed).
    #[error("`{}` is not an ONNX model (protobuf ModelProto)", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder found.
        #[source]
        source: prost::DecodeError,
    },
    /// The output file could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The model has no graph.
    #[error("the model has no graph")]
    NoGraph,
    /// An engine's layer list (build report or inspector JSON) could not be used.
    #[error("engine layers: {0}")]
    EngineJson(String),
    /// The model already has Q/DQ nodes: quantizing it again would stack pairs.
    #[error(
        "the model is already explicitly quantized: node `{node}` is a {op_type}; export from \
         the FP32 model"
    )]
    AlreadyQuantized {
        /// The first Q/DQ node.
        node: String,
        /// `QuantizeLinear` or `DequantizeLinear`.
        op_type: String,
    },
    /// The model does not import the default ONNX domain.
    #[error("the model imports no opset of the default ONNX domain")]
    NoOpset,
    /// The default-domain opset is older than [`crate::MIN_OPSET`].
    #[error(
        "the model imports ONNX opset {found}; exporting Q/DQ needs opset {min} or later (the \
         output uses opset 13 for per-channel QuantizeLinear). Convert the model first, e.g. \
         `onnx.version_converter.convert_version(model, 13)`"
    )]
    OpsetTooOld {
        /// The model's default-domain opset.
        found: i64,
        /// The oldest accepted.
        min: i64,
    },
    /// Moving the model to opset 13 would change what one of its nodes means.
    #[error(
        "the model imports ONNX opset {found}, and its node `{node}` ({op_type}) changed meaning \
         or inputs in opset 13, which per-channel QuantizeLinear needs; convert the model to \
         opset 13 first (`onnx.version_converter.convert_version(model, 13)`)"
    )]
    OpsetChangesMeaning {
        /// The model's default-domain opset.
        found: i64,
        /// The first node whose operator changed.
        node: String,
        /// Its operator.
        op_type: String,
    },
    /// The table does not belong to this model.
    #[error(
        "the calibration table does not fit the model: {matched} of its {entries} tensors are \
         tensors of the model (at least half must be; the model has {model_tensors} activation \
         tensors){}. Is it another network's table?",
        examples_text(.unmatched)
    )]
    TableMismatch {
        /// Table entries that name a tensor of the model.
        matched: usize,
        /// Table entries.
        entries: usize,
        /// Activation tensors of the model (graph inputs and node outputs).
        model_tensors: usize,
        /// A few table tensors the model lacks.
        unmatched: Vec<String>,
    },
    /// The table lacks the scale of a graph input.
    #[error(
        "the calibration table has no scale for the model's input(s) {}: it was written for \
         another network (or another export of it)",
        quoted(.inputs)
    )]
    MissingInputs {
        /// The graph inputs without an entry.
        inputs: Vec<String>,
    },
    /// An exclusion names no node of the model.
    #[error("no node named `{name}` to exclude{}", close_text(.close))]
    UnknownExclusion {
        /// The name given.
        name: String,
        /// Node names close to it.
        close: Vec<String>,
    },
    /// An explicit placement names no activation tensor of the model.
    #[error("no activation tensor named `{name}` to quantize{}", close_text(.close))]
    UnknownPlacement {
        /// The name given.
        name: String,
        /// Tensor names close to it.
        close: Vec<String>,
    },
    /// An explicitly placed tensor has no usable scale.
    #[error("cannot quantize `{tensor}` as the placement asks: {reason}")]
    UnusableScale {
        /// The tensor.
        tensor: String,
        /// Why its scale cannot be used.
        reason: String,
    },
}

fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    names.join(", ")
}

fn close_text(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!("; close names: {}", quoted(close))
    }
}

fn examples_text(unmatched: &[String]) -> String {
    if unmatched.is_empty() {
        String::new()
    } else {
        format!("; not in the model: {}", quoted(unmatched))
    }
}

/// Up to five of `candidates` close to `name`: containing it, contained in it, or within an
/// edit distance of a third of its length (at least 2).
pub(crate) fn close_names<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .filter_map(|c| {
            let d = edit_distance(name, c);
            let related = c.contains(name) || name.contains(c);
            (d <= limit || related).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(5)
        .map(|(_, c)| c.to_owned())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_finds_typos_and_parts() {
        let nodes = ["/conv1/Conv", "/conv2/Conv", "/fc/Gemm", "/Relu"];
        assert_eq!(
            close_names("/conv1/conv", nodes),
            ["/conv1/Conv", "/conv2/Conv"]
        );
        assert_eq!(close_names("Gemm", nodes), ["/fc/Gemm"]);
        assert!(close_names("softmax", nodes).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
