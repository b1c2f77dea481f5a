//! Reading and writing ONNX files.

use std::path::Path;

use prost::Message;

use crate::onnx::ModelProto;
use crate::{QdqError, Result};

/// Reads and decodes an ONNX model. The error names the file.
///
/// Weights stored outside the file (external data) are not loaded; the export reports such
/// weights as left unquantized.
pub fn load_model(path: impl AsRef<Path>) -> Result<ModelProto> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| QdqError::Read {
        path: path.to_owned(),
        source,
    })?;
    ModelProto::decode(bytes.as_slice()).map_err(|source| QdqError::Decode {
        path: path.to_owned(),
        source,
    })
}

/// Encodes `model` and writes it atomically (temporary file, synced, renamed over `path`), so
/// a reader never sees half a model.
pub fn save_model(model: &ModelProto, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    trt_calib_table::write_atomic(path, &model.encode_to_vec()).map_err(|source| QdqError::Write {
        path: path.to_owned(),
        source,
    })
}

/// How many `QuantizeLinear` / `DequantizeLinear` nodes the model's main graph has: more than 0
/// means it is explicitly quantized (TensorRT builds it as INT8 without calibration).
pub fn qdq_node_count(model: &ModelProto) -> usize {
    model.graph.as_ref().map_or(0, |g| {
        g.node
            .iter()
            .filter(|n| matches!(n.op_type(), "QuantizeLinear" | "DequantizeLinear"))
            .count()
    })
}
