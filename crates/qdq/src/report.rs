//! What an export did: every quantized tensor with its scale, every table tensor left out.

use serde::Serialize;

/// The default-domain opset before and after the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpsetChange {
    /// The model's opset.
    pub from: i64,
    /// The exported model's opset (13 or later).
    pub to: i64,
}

/// An activation that got a QuantizeLinear/DequantizeLinear pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizedActivation {
    /// The ONNX tensor.
    pub tensor: String,
    /// The scale written (zero point 0, int8).
    pub scale: f32,
    /// The table's scale; differs from `scale` only for a Concat input (shared scale).
    pub table_scale: f32,
    /// The nodes that now read the dequantized tensor.
    pub consumers: Vec<String>,
    /// The placement rule that put it there.
    pub rule: String,
}

/// A weight quantized per output channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizedWeight {
    /// The initializer.
    pub tensor: String,
    /// The node (Conv, Gemm, MatMul) that reads it.
    pub node: String,
    /// The output-channel axis (the QuantizeLinear `axis`).
    pub axis: usize,
    /// One scale per output channel: `max|w| / 127`.
    pub scales: Vec<f32>,
}

/// A tensor that was not quantized, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unplaced {
    /// The tensor (a table entry, or a weight).
    pub tensor: String,
    /// Why it got no Q/DQ.
    pub reason: String,
}

/// The outcome of [`crate::QdqExport::export`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// Who wrote the table, e.g. `8.5.3`.
    pub table_version: String,
    /// The table's calibration algorithm.
    pub table_algorithm: String,
    /// `default` or `explicit`.
    pub placement: String,
    /// The opset change.
    pub opset: OpsetChange,
    /// Table entries that name a tensor of the model, and how many entries there are.
    pub table_coverage: (usize, usize),
    /// Quantized activations, in graph order.
    pub activations: Vec<QuantizedActivation>,
    /// Quantized weights, in graph order.
    pub weights: Vec<QuantizedWeight>,
    /// Table tensors that got no Q/DQ, in table order, with the reason.
    pub unplaced: Vec<Unplaced>,
    /// Weights of Conv/Gemm/MatMul nodes left in float, with the reason.
    pub unquantized_weights: Vec<Unplaced>,
    /// The excluded nodes (left unquantized).
    pub excluded: Vec<String>,
}
