//! Ranges of the network's weights: the float outputs of CONSTANT layers (a PReLU's slope, a
//! bias, a MatMul's weight matrix) and of layers that only reshape, select or join them (the
//! Shuffle TensorRT's ONNX parser puts on a Gemm's weights). TensorRT's calibrators give these tensors
//! scales as they run them, and an INT8 kernel that reads one needs it: without it TensorRT
//! 8.5.3 refused INT8 PReLU in strict mode ("Please provide missing int8 scales"), so a table
//! of ours left MTCNN's PReLU layers out of INT8. Their values are known exactly, so every
//! method takes their largest |value|: clipping a constant gains nothing.

use std::collections::{HashMap, HashSet};

use trt_calib_stats::Threshold;

use crate::error::Result;
use crate::network::LayerInfo;
use crate::strict::rules::constant_tensors;

/// Layer kinds whose output holds their (first) input's values, rearranged (SHUFFLE, IDENTITY,
/// CAST) or a selection of them (SLICE, the broadcast TensorRT's ONNX parser makes of a
/// ConstantOfShape; GATHER): the input's range holds theirs, exactly unless values drop out.
const KEEPS_VALUES: &[&str] = &["SHUFFLE", "IDENTITY", "CAST", "SLICE", "GATHER"];

/// The ranges of constant float tensors, in network order, from `absmax` (a CONSTANT layer's
/// largest |weight|, `None` for non-float weights). Constant-derived tensors of other layers
/// (arithmetic on weights) get none; they are returned apart, for the log.
pub(super) fn weight_ranges(
    layers: &[LayerInfo],
    network_inputs: &HashSet<String>,
    mut absmax: impl FnMut(usize) -> Result<Option<f32>>,
) -> Result<(Vec<Threshold>, Vec<String>)> {
    let constant = constant_tensors(layers, network_inputs);
    let mut range: HashMap<&str, f32> = HashMap::new();
    let (mut ranges, mut unranged) = (Vec::new(), Vec::new());
    for l in layers {
        let float_outputs = l
            .outputs
            .iter()
            .filter(|(n, t)| t.is_float() && constant.contains(n));
        let amax = if l.kind == "CONSTANT" {
            absmax(l.index)?
        } else if l.kind == "CONCATENATION" {
            l.inputs
                .iter()
                .flatten()
                .map(|t| range.get(t.as_str()).copied())
                .try_fold(0f32, |m, a| a.map(|a| m.max(a)))
        } else if KEEPS_VALUES.contains(&l.kind.as_str()) {
            l.inputs
                .first()
                .and_then(|t| t.as_deref())
                .and_then(|t| range.get(t).copied())
        } else {
            None
        };
        for (name, _) in float_outputs {
            match amax {
                Some(a) => {
                    range.insert(name, a);
                    ranges.push(Threshold {
                        tensor: name.clone(),
                        amax: a,
                    });
                }
                None => unranged.push(name.clone()),
            }
        }
    }
    Ok((ranges, unranged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::DataType;

    fn layer(index: usize, kind: &str, inputs: &[&str], output: (&str, DataType)) -> LayerInfo {
        LayerInfo {
            index,
            name: format!("l{index}"),
            kind: kind.into(),
            precision: DataType::Float,
            precision_is_set: false,
            inputs: inputs.iter().map(|s| Some(s.to_string())).collect(),
            outputs: vec![(output.0.into(), output.1)],
        }
    }

    #[test]
    fn constants_and_their_reshapes_get_their_largest_value_arithmetic_and_activations_do_not() {
        use DataType::{Float, Int32};
        // MTCNN's shapes of it: a PReLU slope, a Gemm weight transposed by a Shuffle, a shape
        // constant (INT32), two constants joined, a constant scaled by another, and the
        // activations that read them.
        let layers = vec![
            layer(0, "CONSTANT", &[], ("slope", Float)),
            layer(1, "CONVOLUTION", &["x"], ("conv", Float)),
            layer(2, "PARAMETRIC_RELU", &["conv", "slope"], ("prelu", Float)),
            layer(3, "CONSTANT", &[], ("w", Float)),
            layer(4, "SHUFFLE", &["w"], ("w_t", Float)),
            layer(5, "CONSTANT", &[], ("shape", Int32)),
            layer(6, "SHUFFLE", &["prelu", "shape"], ("flat", Float)),
            layer(7, "MATRIX_MULTIPLY", &["flat", "w_t"], ("mm", Float)),
            layer(8, "CONCATENATION", &["slope", "w_t"], ("both", Float)),
            layer(9, "ELEMENTWISE", &["w", "slope"], ("scaled", Float)),
            // A ConstantOfShape as the parser imports it: a constant broadcast by a Slice.
            layer(10, "CONSTANT", &[], ("fill_value", Float)),
            layer(11, "SLICE", &["fill_value", "shape"], ("filled", Float)),
        ];
        let absmax = |i: usize| {
            Ok(match i {
                0 => Some(0.25),
                3 => Some(1.5),
                5 => None,
                10 => Some(0.05),
                _ => panic!("layer {i} is not a constant"),
            })
        };
        let inputs: HashSet<String> = ["x".to_string()].into();
        let (ranges, unranged) = weight_ranges(&layers, &inputs, absmax).unwrap();
        let got: Vec<(&str, f32)> = ranges.iter().map(|t| (t.tensor.as_str(), t.amax)).collect();
        assert_eq!(
            got,
            [
                ("slope", 0.25),
                ("w", 1.5),
                ("w_t", 1.5),
                ("both", 1.5),
                ("fill_value", 0.05),
                ("filled", 0.05)
            ]
        );
        assert_eq!(unranged, ["scaled"]);
    }

    #[test]
    fn a_constant_that_reads_a_network_input_is_not_a_weight() {
        // A Shuffle of the input is an activation, also when a constant gives its shape.
        let layers = vec![
            layer(0, "CONSTANT", &[], ("shape", DataType::Int32)),
            layer(1, "SHUFFLE", &["x", "shape"], ("xr", DataType::Float)),
        ];
        let inputs: HashSet<String> = ["x".to_string()].into();
        let (ranges, unranged) = weight_ranges(&layers, &inputs, |_| Ok(None)).unwrap();
        assert!(
            ranges.is_empty() && unranged.is_empty(),
            "{ranges:?} {unranged:?}"
        );
    }
}
