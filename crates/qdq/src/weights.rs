//! Per-output-channel weight scales: symmetric, `max|w| / 127` along the output-channel axis.

use trt_calib_table::INT8_MAX;

use crate::onnx::{tensor_proto::DataType, NodeProto, TensorProto};

/// The axis of a weight (input 1) that holds the node's output channels, or why there is none.
///
/// - `Conv`: weight `[M, C/group, k...]`, axis 0.
/// - `Gemm`: `Y = A * B'`; `B` is `[K, N]` (axis 1) or, with `transB = 1`, `[N, K]` (axis 0).
/// - `MatMul`: `B` is `[..., K, N]`, the output columns are the last axis.
pub(crate) fn output_channel_axis(node: &NodeProto, rank: usize) -> Result<usize, String> {
    match node.op_type() {
        "Conv" if rank >= 3 => Ok(0),
        "Gemm" if rank == 2 => {
            let trans_b = node
                .attribute
                .iter()
                .find(|a| a.name() == "transB")
                .map_or(0, |a| a.i());
            Ok(if trans_b != 0 { 0 } else { 1 })
        }
        "MatMul" if rank >= 2 => Ok(rank - 1),
        op => Err(format!(
            "a {op} weight of rank {rank} has no output-channel axis"
        )),
    }
}

/// The float32 values of an initializer, from `float_data` or little-endian `raw_data`.
pub(crate) fn floats(tensor: &TensorProto) -> Result<Vec<f32>, String> {
    if tensor.data_type() != DataType::Float as i32 {
        let name = DataType::try_from(tensor.data_type()).map_or_else(
            |_| tensor.data_type().to_string(),
            |t| t.as_str_name().to_owned(),
        );
        return Err(format!(
            "its type is {name}; only FLOAT weights are quantized"
        ));
    }
    if !tensor.external_data.is_empty() {
        return Err("its data is stored outside the model file (external data)".to_owned());
    }
    let expected: i64 = tensor.dims.iter().product();
    let values: Vec<f32> = match &tensor.raw_data {
        Some(raw) if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        _ => tensor.float_data.clone(),
    };
    if values.len() as i64 != expected {
        return Err(format!(
            "it holds {} values, its shape {:?} needs {expected}",
            values.len(),
            tensor.dims
        ));
    }
    Ok(values)
}

/// `max|w| / 127` for each index along `axis` of a row-major tensor of shape `dims`.
///
/// An all-zero channel gets scale 1 (any scale maps zeros to zero; 0 is not a valid scale).
/// A non-finite weight is refused.
pub(crate) fn per_channel_scales(
    values: &[f32],
    dims: &[i64],
    axis: usize,
) -> Result<Vec<f32>, String> {
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("it holds a non-finite value ({bad})"));
    }
    let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    let channels = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let mut amax = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = (i / inner.max(1)) % channels.max(1);
        amax[c] = amax[c].max(v.abs());
    }
    Ok(amax
        .into_iter()
        .map(|a| if a > 0.0 { a / INT8_MAX } else { 1.0 })
        .collect())
}

/// The SQNR in dB that per-output-channel symmetric INT8 (scale `max|w| / 127` per channel,
/// as the export and TensorRT use) leaves in each Conv, Gemm and MatMul weight of `model`, by
/// node name: `10 log10(sum w^2 / sum (w - s round(w / s))^2)`. Weights read through `Identity`
/// count; nodes whose weight is an activation, not float, or external are left out, and so is a
/// weight without any noise (all zeros).
pub fn weight_sqnr_db(model: &crate::onnx::ModelProto) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Some(graph) = model.graph.as_ref() else {
        return out;
    };
    let ix = crate::graph::Index::new(graph);
    for node in &graph.node {
        if !matches!(node.op_type(), "Conv" | "Gemm" | "MatMul") {
            continue;
        }
        let Some(init) = node.input.get(1).and_then(|t| ix.weight(t)) else {
            continue;
        };
        let Ok(values) = floats(init) else { continue };
        let Ok(axis) = output_channel_axis(node, init.dims.len()) else {
            continue;
        };
        let Ok(scales) = per_channel_scales(&values, &init.dims, axis) else {
            continue;
        };
        let dims: Vec<usize> = init.dims.iter().map(|&d| d.max(0) as usize).collect();
        let inner: usize = dims[axis + 1..].iter().product::<usize>().max(1);
        let channels = dims[axis].max(1);
        let (mut signal, mut noise) = (0f64, 0f64);
        for (i, &w) in values.iter().enumerate() {
            let s = f64::from(scales[(i / inner) % channels]);
            let w = f64::from(w);
            signal += w * w;
            let e = w - s * (w / s).round().clamp(-127.0, 127.0);
            noise += e * e;
        }
        if signal > 0.0 && noise > 0.0 {
            out.insert(node.name().to_owned(), 10.0 * (signal / noise).log10());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_follow_the_axis() {
        // [2, 3]: rows [1, -4, 2] and [0.5, 3, -6].
        let w = [1.0, -4.0, 2.0, 0.5, 3.0, -6.0];
        assert_eq!(
            per_channel_scales(&w, &[2, 3], 0).unwrap(),
            [4.0 / 127.0, 6.0 / 127.0]
        );
        assert_eq!(
            per_channel_scales(&w, &[2, 3], 1).unwrap(),
            [1.0 / 127.0, 4.0 / 127.0, 6.0 / 127.0]
        );
        assert_eq!(
            per_channel_scales(&[0.0, 0.0], &[2, 1], 0).unwrap(),
            [1.0, 1.0]
        );
        assert!(per_channel_scales(&[f32::NAN], &[1, 1], 0).is_err());
    }
}
