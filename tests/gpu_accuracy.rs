//! EfficientNet-Lite0 (real ImageNet weights) calibrated in Rust from real photos: INT8 vs FP32
//! agreement for the configurations a user can choose, and strict INT8 on the same model.
//! Behind the `gpu` feature; slow (about a minute per build).
#![cfg(feature = "gpu")]

mod common;

use common::*;
use serde_json::json;
use trt::{BuildConfig, CachePolicy, CalibrationAlgorithm, DataCalibrator, Fallback, Precision};

const MODEL: &str = "models/efficientnet_lite0.onnx";

/// Photos 0..64 calibrate (8 batches of 8, as the C++ reference did); agreement is measured on
/// those 64 and on 64 held-out photos (crops of other regions, at other scales).
fn evaluate(label: &str, cfg: BuildConfig, algorithm: Option<CalibrationAlgorithm>) -> f64 {
    let b = builder();
    let mut net = b
        .network_from_onnx_file(require(assets().join(MODEL)))
        .unwrap();
    let fp32_path = out_dir().join("effnet_fp32_logits.json");
    let (fp32_calib, fp32_held): (Vec<Vec<f32>>, Vec<Vec<f32>>) = match std::fs::read(&fp32_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => {
            let fp32 = deserialize(&b.build(&mut net, &config(Precision::Fp32)).unwrap().plan);
            let l = (
                logits(&fp32, &photo_spec("input", 0..64, 8), "input", "logits"),
                logits(&fp32, &photo_spec("input", 64..128, 8), "input", "logits"),
            );
            std::fs::write(&fp32_path, serde_json::to_vec(&l).unwrap()).unwrap();
            l
        }
    };
    let out = match algorithm {
        Some(a) => {
            let mut c = DataCalibrator::new(photo_spec("input", 0..64, 8).open().unwrap())
                .with_algorithm(a);
            b.build_calibrated(&mut net, &cfg, &mut c).unwrap()
        }
        None => b.build(&mut net, &cfg).unwrap(),
    };
    let engine = deserialize(&out.plan);
    let report = engine.report().unwrap();
    let (t1, t5, cos) = agreement(
        &fp32_calib,
        &logits(&engine, &photo_spec("input", 0..64, 8), "input", "logits"),
    );
    let (h1, h5, hcos) = agreement(
        &fp32_held,
        &logits(&engine, &photo_spec("input", 64..128, 8), "input", "logits"),
    );
    record(
        "efficientnet",
        json!({ "config": label, "images": 64, "top1_agreement": t1, "top5_overlap": t5, "cosine": cos,
                "held_out_images": 64, "held_out_top1": h1, "held_out_top5": h5, "held_out_cosine": hcos,
                "build_s": out.build_time.as_secs_f64(), "calibration_batches": out.calibration_batches,
                "engine_precisions": report.precision_counts(),
                "strict": out.strict.as_ref().map(|s| json!({ "forced_int8": s.forced_int8, "released": s.released.len(), "violations": s.violations.len() })) }),
    );
    t1
}

#[test]
fn gpu_acc_01_entropy2_baseline() {
    let table = out_dir().join("effnet_entropy2.calib");
    let _ = std::fs::remove_file(&table);
    evaluate(
        "entropy2",
        config(Precision::Int8).with_calibration_cache(CachePolicy::read_write(&table)),
        Some(CalibrationAlgorithm::Entropy2),
    );
}

#[test]
fn gpu_acc_02_minmax() {
    let table = out_dir().join("effnet_minmax.calib");
    let _ = std::fs::remove_file(&table);
    evaluate(
        "minmax",
        config(Precision::Int8).with_calibration_cache(CachePolicy::read_write(&table)),
        Some(CalibrationAlgorithm::MinMax),
    );
}

#[test]
fn gpu_acc_03_minmax_fp16_fallback_for_depthwise_and_head() {
    // Depthwise convolutions and the classifier are the usual INT8 casualties of mobile nets.
    let table = out_dir().join("effnet_minmax.calib");
    let net = builder()
        .network_from_onnx_file(require(assets().join(MODEL)))
        .unwrap();
    let layers = net.layers().unwrap();
    let mut cfg = config(Precision::Int8)
        .with_fallback(Fallback::Fp16)
        .with_calibration_cache(CachePolicy::read_write(&table));
    // The stem, the last conv and the classifier stay out of INT8.
    let convs: Vec<&trt::LayerInfo> = layers
        .iter()
        .filter(|l| {
            l.kind == "CONVOLUTION" || l.kind == "MATRIX_MULTIPLY" || l.kind == "FULLY_CONNECTED"
        })
        .collect();
    for l in convs.iter().take(1).chain(convs.iter().rev().take(2)) {
        cfg = cfg.keep_layer_out_of_int8(l.name.clone());
    }
    let t1 = evaluate(
        "minmax+fp16_fallback(stem,last conv,classifier)",
        cfg,
        Some(CalibrationAlgorithm::MinMax),
    );
    assert!(t1 > 0.5);
}

#[test]
fn gpu_acc_04_strict_int8_twice() {
    let table = out_dir().join("effnet_minmax.calib");
    let cfg = config(Precision::StrictInt8)
        .with_calibration_cache(CachePolicy::read_write(&table))
        .with_allow_strict_violations(true);
    let b = builder();
    let mut net = b
        .network_from_onnx_file(require(assets().join(MODEL)))
        .unwrap();
    let mut c = DataCalibrator::new(photo_spec("input", 0..64, 8).open().unwrap())
        .with_algorithm(CalibrationAlgorithm::MinMax);
    let a = b
        .build_calibrated(&mut net, &cfg, &mut c)
        .unwrap()
        .strict
        .unwrap();
    let mut c = DataCalibrator::new(photo_spec("input", 0..64, 8).open().unwrap())
        .with_algorithm(CalibrationAlgorithm::MinMax);
    let bb = b
        .build_calibrated(&mut net, &cfg, &mut c)
        .unwrap()
        .strict
        .unwrap();
    let p = |r: &trt::StrictReport| {
        r.layers
            .iter()
            .map(|l| (l.name.clone(), l.precision.clone()))
            .collect::<Vec<_>>()
    };
    record(
        "efficientnet_strict",
        json!({ "forced_int8": a.forced_int8, "released": a.released, "violations": a.violations.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                "engine_precisions": a.engine_precisions, "identical": p(&a) == p(&bb) }),
    );
    assert_eq!(p(&a), p(&bb));
}
