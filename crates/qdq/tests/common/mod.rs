//! The test network, built with the crate's ONNX types, and lookups over exported graphs.
#![allow(dead_code)]

use trt_calib_table::CalibrationTable;
use trt_qdq::make::{attr_int, attr_ints, graph, model, node, tensor_f32};
use trt_qdq::onnx::{GraphProto, ModelProto, NodeProto, TensorProto};

/// Deterministic values in (-1, 1), each block of `per_channel` values scaled by a channel
/// factor, so channels have different maxima.
pub fn values(n: usize, per_channel: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            unit * (0.25 + (i / per_channel.max(1)) as f32 * 0.3)
        })
        .collect()
}

fn conv(name: &str, x: &str, w: &str, b: Option<&str>, y: &str, pad: i64) -> NodeProto {
    let mut inputs = vec![x, w];
    inputs.extend(b);
    let attrs = vec![attr_ints("pads", &[pad, pad, pad, pad])];
    node("Conv", name, &inputs, &[y], attrs)
}

/// x -> conv1 -> relu1 (r1) -> conv2 (c2); add = c2 + r1; relu2 (r2) -> conv3 (c3) and conv4 (c4);
/// concat(c3, c4) -> GlobalAveragePool -> Flatten (f) -> gemm (transB = 1) (g) -> matmul -> y.
pub fn block_model(opset: i64) -> ModelProto {
    let init = vec![
        tensor_f32("w1", &[4, 3, 3, 3], &values(108, 27, 1)),
        tensor_f32("b1", &[4], &values(4, 4, 2)),
        tensor_f32("w2", &[4, 4, 3, 3], &values(144, 36, 3)),
        tensor_f32("b2", &[4], &values(4, 4, 4)),
        tensor_f32("w3", &[2, 4, 1, 1], &values(8, 4, 5)),
        tensor_f32("w4", &[3, 4, 1, 1], &values(12, 4, 6)),
        tensor_f32("wg", &[6, 5], &values(30, 5, 7)),
        tensor_f32("bg", &[6], &values(6, 6, 8)),
        tensor_f32("wm", &[6, 3], &values(18, 3, 9)),
    ];
    let nodes = vec![
        conv("conv1", "x", "w1", Some("b1"), "c1", 1),
        node("Relu", "relu1", &["c1"], &["r1"], vec![]),
        conv("conv2", "r1", "w2", Some("b2"), "c2", 1),
        node("Add", "add", &["c2", "r1"], &["a"], vec![]),
        node("Relu", "relu2", &["a"], &["r2"], vec![]),
        conv("conv3", "r2", "w3", None, "c3", 0),
        conv("conv4", "r2", "w4", None, "c4", 0),
        node(
            "Concat",
            "concat",
            &["c3", "c4"],
            &["cat"],
            vec![attr_int("axis", 1)],
        ),
        node("GlobalAveragePool", "pool", &["cat"], &["p"], vec![]),
        node("Flatten", "flatten", &["p"], &["f"], vec![]),
        node(
            "Gemm",
            "gemm",
            &["f", "wg", "bg"],
            &["g"],
            vec![attr_int("transB", 1)],
        ),
        node("MatMul", "matmul", &["g", "wm"], &["y"], vec![]),
    ];
    let g = graph(
        "block",
        nodes,
        init,
        &[("x", &[1, 3, 8, 8])],
        &[("y", &[1, 3])],
    );
    model(g, opset)
}

/// A table for [`block_model`]: every activation with a distinct scale, plus one
/// TensorRT-internal name.
pub fn block_table() -> CalibrationTable {
    let mut text = String::from("TRT-8503-EntropyCalibration2\n");
    let tensors = [
        "x", "c1", "r1", "c2", "a", "r2", "c3", "c4", "cat", "p", "f", "g", "y",
    ];
    for (i, t) in tensors.iter().enumerate() {
        let scale = 0.01f32 * (i as f32 + 1.0) + 0.001;
        text.push_str(&format!("{t}: {:x}\n", scale.to_bits()));
    }
    text.push_str("(Unnamed Layer* 9) [Shuffle]_output: 3c000000\n");
    CalibrationTable::parse(text.as_bytes()).unwrap()
}

pub fn graph_of(model: &ModelProto) -> &GraphProto {
    model.graph.as_ref().unwrap()
}

pub fn node_named<'a>(g: &'a GraphProto, name: &str) -> &'a NodeProto {
    g.node
        .iter()
        .find(|n| n.name() == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

pub fn init<'a>(g: &'a GraphProto, name: &str) -> &'a TensorProto {
    g.initializer
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

pub fn producer<'a>(g: &'a GraphProto, tensor: &str) -> Option<&'a NodeProto> {
    g.node.iter().find(|n| n.output.iter().any(|o| o == tensor))
}

/// The QuantizeLinear behind the tensor that input `slot` of node `name` reads, checking the
/// chain DequantizeLinear <- QuantizeLinear and that both share the scale and zero point.
pub fn quantizer_of<'a>(g: &'a GraphProto, name: &str, slot: usize) -> Option<&'a NodeProto> {
    let dq = producer(g, &node_named(g, name).input[slot])?;
    if dq.op_type() != "DequantizeLinear" {
        return None;
    }
    let q = producer(g, &dq.input[0]).expect("a DequantizeLinear reads a QuantizeLinear");
    assert_eq!(q.op_type(), "QuantizeLinear");
    assert_eq!(
        q.input[1..],
        dq.input[1..],
        "Q and DQ share scale and zero point"
    );
    Some(q)
}

/// The scale values and the zero-point values (int8) of a QuantizeLinear.
pub fn scale_and_zero(g: &GraphProto, q: &NodeProto) -> (Vec<f32>, Vec<i32>) {
    let scale = init(g, &q.input[1]);
    let zero = init(g, &q.input[2]);
    assert_eq!(zero.data_type(), 3, "zero point is INT8 (3)");
    assert_eq!(scale.data_type(), 1, "scale is FLOAT (1)");
    (scale.float_data.clone(), zero.int32_data.clone())
}

pub fn axis_of(q: &NodeProto) -> Option<i64> {
    q.attribute
        .iter()
        .find(|a| a.name() == "axis")
        .map(|a| a.i())
}
