//! Explicit quantization: a network with Q/DQ layers (`QUANTIZE` / `DEQUANTIZE`, from
//! QuantizeLinear / DequantizeLinear nodes) carries its own INT8 scales. It is built with the
//! INT8 flag on (TensorRT 8.5 to 10.x; TensorRT 11 needs no flag) and no calibrator; what can be
//! refused about such a build is decided here, from the layer types and the config alone, before
//! TensorRT is asked.

use crate::config::{BuildConfig, Precision};
use crate::error::{Error, Result};
use crate::network::Quantization;

/// What a build of an explicitly quantized network may not ask for, refused before TensorRT
/// builds: a calibrator or calibration table (the scales are the model's), strict INT8 (the Q/DQ
/// nodes decide which layers run INT8; TensorRT is not told to force any), INT8 exclusions
/// (leave the node out of the Q/DQ export instead), and FP32/FP16 (TensorRT needs INT8 on to
/// build Q/DQ layers). An implicitly quantized network passes unchecked.
pub fn check_explicit_request(
    model: &str,
    quantization: Quantization,
    config: &BuildConfig,
    has_calibrator: bool,
) -> Result<()> {
    let Quantization::Explicit { qdq_layers: n } = quantization else {
        return Ok(());
    };
    let head = format!("{model} has {n} Q/DQ layers: it is explicitly quantized");
    if has_calibrator || config.calibration_table().is_some() {
        return Err(Error::Invalid(format!(
            "{head}; its scales come from the model, so a calibrator/table is not used; build it \
             without --calib/--calib-cache (Builder::build, no calibration table)"
        )));
    }
    match config.precision() {
        Precision::Int8 => {}
        Precision::StrictInt8 => {
            return Err(Error::Invalid(format!(
                "{head}; its Q/DQ nodes decide which layers run INT8, so strict INT8 (forcing \
                 layers) does not apply: build it with --int8 (Precision::Int8) and compare it with \
                 the implicit engine (trt qdq compare)"
            )))
        }
        Precision::Fp32 | Precision::Fp16 => {
            return Err(Error::Invalid(format!(
                "{head}; TensorRT builds Q/DQ layers only with INT8 enabled: build it with --int8 \
                 (Precision::Int8), or build the float model for {:?}",
                config.precision()
            )))
        }
    }
    let keep = config.keep_out_of_int8();
    if !keep.is_empty() {
        return Err(Error::Invalid(format!(
            "{head}; keeping layers out of INT8 does not apply to it: export it again with \
             `trt qdq export --exclude NODE` (keep_out_of_int8: {})",
            keep.names
                .iter()
                .chain(&keep.types)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrator::TablePolicy;

    const QDQ: Quantization = Quantization::Explicit { qdq_layers: 16 };

    fn err(config: &BuildConfig, calibrator: bool) -> String {
        check_explicit_request("m.qdq.onnx", QDQ, config, calibrator)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_mode_comes_from_the_layer_types() {
        let kinds = [
            "QUANTIZE",
            "DEQUANTIZE",
            "CONVOLUTION",
            "DEQUANTIZE",
            "ACTIVATION",
        ];
        assert_eq!(
            Quantization::from_layer_kinds(kinds),
            Quantization::Explicit { qdq_layers: 3 }
        );
        assert!(!Quantization::from_layer_kinds(["CONVOLUTION", "SCALE"]).is_explicit());
        assert!(!Quantization::from_layer_kinds([]).is_explicit());
    }

    #[test]
    fn int8_without_calibration_is_accepted() {
        let c = BuildConfig::new(Precision::Int8);
        assert!(check_explicit_request("m", QDQ, &c, false).is_ok());
    }

    #[test]
    fn a_calibrator_or_a_table_is_refused() {
        let c = BuildConfig::new(Precision::Int8);
        let e = err(&c, true);
        assert!(
            e.starts_with("m.qdq.onnx has 16 Q/DQ layers: it is explicitly quantized; its scales come from the model, so a calibrator/table is not used; build it without --calib/--calib-cache"),
            "{e}"
        );
        let t = c.with_calibration_table(TablePolicy::require("t.cache"));
        assert!(err(&t, false).contains("a calibrator/table is not used"));
    }

    #[test]
    fn strict_float_and_exclusions_are_refused() {
        let e = err(&BuildConfig::new(Precision::StrictInt8), false);
        assert!(
            e.contains("strict INT8 (forcing layers) does not apply"),
            "{e}"
        );
        let e = err(&BuildConfig::new(Precision::Fp16), false);
        assert!(e.contains("only with INT8 enabled"), "{e}");
        let e = err(
            &BuildConfig::new(Precision::Int8).keep_layer_out_of_int8("/fc2/Gemm"),
            false,
        );
        assert!(
            e.contains("trt qdq export --exclude NODE") && e.contains("/fc2/Gemm"),
            "{e}"
        );
    }

    #[test]
    fn an_implicit_network_is_not_checked_here() {
        let c = BuildConfig::new(Precision::StrictInt8);
        assert!(check_explicit_request("m", Quantization::Implicit, &c, true).is_ok());
    }
}
