//! GPU test of explicit quantization on the committed Fashion-MNIST model: the implicit strict
//! INT8 engine's INT8 layers become the Q/DQ placement, the Q/DQ model exported from the same
//! table builds INT8 with no calibrator, and the two engines run the same layers in INT8.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test --features gpu --test gpu_qdq -- --nocapture
//!
//! Prints `RESULT {json}` lines (and appends them to `results.jsonl` in the output folder).
#![cfg(feature = "gpu")]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::json;
use trt::compare::{compare_engines, CompareOptions};
use trt::{BuildReport, Engine, Precision, Quantization, TablePolicy};

/// The predicted class of each of the 512 committed test images, and their labels.
fn predictions(engine: &Engine) -> (Vec<usize>, Vec<usize>) {
    let labels: ndarray::Array1<u8> =
        ndarray_npy::read_npy(repo("models/fashion-mnist/test_labels.npy")).unwrap();
    let predicted: Vec<usize> = fashion_logits(engine).iter().map(|r| argmax(r)).collect();
    let labels = labels
        .iter()
        .take(predicted.len())
        .map(|&l| l as usize)
        .collect();
    (predicted, labels)
}

fn agreement(a: &[usize], b: &[usize]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// The model nodes that ran INT8 in compute layers of `engine` (mapped through `model`, the
/// ONNX model the engine was built from).
fn int8_compute_nodes(
    engine: &Engine,
    model: &trt_qdq::onnx::ModelProto,
) -> (trt_qdq::EngineMapping, BTreeSet<String>) {
    let json = engine.inspect_json().unwrap();
    let layers = trt_qdq::engine_layers_from_json(&json).unwrap();
    let m = trt_qdq::map_engine(model, &layers).unwrap();
    let nodes = m.int8_compute_nodes.clone();
    (m, nodes)
}

#[test]
fn gpu_qdq_01_explicit_engine_runs_the_implicit_engines_int8_layers() {
    let b = builder();
    let onnx = require(repo("models/fashion-mnist/fashion_mnist.onnx"));
    let fp32_model = trt_qdq::load_model(&onnx).unwrap();
    let mut net = b.network_from_onnx_file(&onnx).unwrap();
    assert_eq!(net.quantization().unwrap(), Quantization::Implicit);

    // FP32 reference.
    let fp32 = b.build(&mut net, &config(Precision::Fp32)).unwrap();
    let fp32_engine = deserialize(&fp32.plan);
    let (fp32_pred, labels) = predictions(&fp32_engine);

    // 1. Strict INT8, calibrated by TensorRT here (the table is written after the build).
    let table_path = out_dir().join("fashion.qdq-test.calib");
    let _ = std::fs::remove_file(&table_path);
    let strict_cfg =
        config(Precision::StrictInt8).with_calibration_table(TablePolicy::recalibrate(&table_path));
    let mut calibrator = fashion_calibrator();
    let implicit = b
        .build_calibrated(&mut net, &strict_cfg, &mut calibrator)
        .unwrap();
    assert!(implicit.calibration_batches > 0, "TensorRT calibrated");
    let implicit_engine = deserialize(&implicit.plan);
    let table = trt::table::CalibrationTable::read(&table_path).unwrap();

    // 2. Its build report -> placement.
    let report = BuildReport::from_engine(&implicit_engine, &strict_cfg, Some(&implicit)).unwrap();
    let layers = trt_qdq::engine_layers_from_json(&report.to_json()).unwrap();
    let mapping = trt_qdq::map_engine(&fp32_model, &layers).unwrap();
    assert!(!mapping.tensors.is_empty(), "{mapping:?}");

    // 3. Export the Q/DQ model from the same table.
    let (qdq_model, export) = trt_qdq::QdqExport::new(&fp32_model, &table)
        .with_placement(mapping.placement())
        .with_exclusions(mapping.exclusions())
        .export()
        .unwrap();
    let qdq_path = out_dir().join("fashion.qdq-test.qdq.onnx");
    trt_qdq::save_model(&qdq_model, &qdq_path).unwrap();

    // 4. Build it explicit: INT8, no calibrator; a calibrator is refused before TensorRT.
    let mut qnet = b.network_from_onnx_file(&qdq_path).unwrap();
    let q = qnet.quantization().unwrap();
    let n_qdq = 2 * (export.activations.len() + export.weights.len());
    assert_eq!(q, Quantization::Explicit { qdq_layers: n_qdq });
    let mut calibrator = fashion_calibrator();
    let e = b
        .build_calibrated(&mut qnet, &config(Precision::Int8), &mut calibrator)
        .unwrap_err()
        .to_string();
    assert!(e.contains("it is explicitly quantized"), "{e}");
    let explicit_cfg = config(Precision::Int8);
    let explicit = b.build(&mut qnet, &explicit_cfg).unwrap();
    assert_eq!(explicit.calibration_batches, 0);
    let explicit_engine = deserialize(&explicit.plan);

    // 5. The same model nodes run INT8 in compute layers of both engines.
    let (_, implicit_int8) = int8_compute_nodes(&implicit_engine, &fp32_model);
    let (explicit_map, explicit_int8) = int8_compute_nodes(&explicit_engine, &qdq_model);
    let only_implicit: Vec<&String> = implicit_int8.difference(&explicit_int8).collect();
    let only_explicit: Vec<&String> = explicit_int8.difference(&implicit_int8).collect();

    // 6. Latency and agreement on one seeded input; accuracy against FP32 on 512 images.
    let options = CompareOptions::default();
    let cmp = compare_engines(&implicit_engine, &explicit_engine, &options).unwrap();
    let (implicit_pred, _) = predictions(&implicit_engine);
    let (explicit_pred, _) = predictions(&explicit_engine);
    let implicit_vs_fp32 = agreement(&implicit_pred, &fp32_pred);
    let explicit_vs_fp32 = agreement(&explicit_pred, &fp32_pred);
    record(
        "qdq_fashion_mnist",
        json!({
            "tensorrt": b.library().version().to_string(),
            "placement": mapping.tensors, "excluded": mapping.exclusions(),
            "implicit_int8_nodes": implicit_int8, "explicit_int8_nodes": explicit_int8,
            "explicit_unmatched_layers": explicit_map.unmatched,
            "implicit_precisions": cmp.precision_counts[0], "explicit_precisions": cmp.precision_counts[1],
            "latency": cmp.latency, "outputs": cmp.outputs, "within_tolerances": cmp.passed(),
            "failures": cmp.failures,
            "top1_vs_fp32": { "implicit": implicit_vs_fp32, "explicit": explicit_vs_fp32 },
            "accuracy": {
                "fp32": agreement(&fp32_pred, &labels),
                "implicit": agreement(&implicit_pred, &labels),
                "explicit": agreement(&explicit_pred, &labels),
            },
            "build_s": { "implicit": implicit.build_time.as_secs_f64(), "explicit": explicit.build_time.as_secs_f64() },
        }),
    );
    assert!(
        only_implicit.is_empty() && only_explicit.is_empty(),
        "INT8 compute nodes differ: only in the implicit engine {only_implicit:?}, only in the \
         explicit engine {only_explicit:?}"
    );
    assert!(!implicit_int8.is_empty(), "the strict engine ran INT8");
    assert!(
        explicit_vs_fp32 >= implicit_vs_fp32 - 0.01,
        "top-1 agreement with FP32: explicit {explicit_vs_fp32}, implicit {implicit_vs_fp32}"
    );
}
