//! The exported model passes `onnx.checker.check_model(full_check=True)` and runs in
//! onnxruntime close to the FP32 model. Needs `python3` with the `onnx` and `onnxruntime`
//! wheels that `.ci/run` installs; fails (does not skip) without them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use trt_calib_table::CalibrationTable;
use trt_qdq::QdqExport;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/onnx_check.py");

fn python(args: &[&Path]) -> String {
    let mut command = Command::new("python3");
    command.arg(SCRIPT).args(args);
    let out = command.output().unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): install Python 3 with the onnx and onnxruntime wheels (.ci/run does)")
    });
    assert!(
        out.status.success(),
        "{SCRIPT} {args:?} failed (the onnx and onnxruntime wheels are installed by .ci/run):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exported_model_passes_the_onnx_checker_and_runs_close_to_fp32_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let (fp32, table_path, qdq_path) = (
        dir.path().join("block.onnx"),
        dir.path().join("block.calib"),
        dir.path().join("block.qdq.onnx"),
    );
    let model = block_model(13);
    trt_qdq::save_model(&model, &fp32).unwrap();
    python(&[Path::new("calibrate"), &fp32, &table_path]);
    let table = CalibrationTable::read(&table_path).unwrap();
    assert_eq!(table.entries.len(), 13, "x and the 12 node outputs");

    let (qdq, report) = QdqExport::new(&model, &table).export().unwrap();
    trt_qdq::save_model(&qdq, &qdq_path).unwrap();
    let line = python(&[Path::new("check"), &fp32, &qdq_path]);
    let result: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    println!("{result}");

    assert_eq!(result["opset"], 13);
    let pairs = report.activations.len() + report.weights.len();
    assert_eq!(result["quantize_nodes"], pairs as u64);
    // onnx decodes the same per-channel weight scales that the export computed.
    for w in &report.weights {
        let decoded: Vec<f32> = result["weight_scales"][&w.tensor]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(decoded, w.scales, "{}", w.tensor);
    }
    // INT8 rounding through six quantized layers costs a little accuracy, not a lot: measured
    // (onnx 1.23.2, onnxruntime 1.32.0) cosine 0.99990, max error 0.041 = 5.5% of max |y|.
    let cosine = result["cosine"].as_f64().unwrap();
    let error = result["max_abs_error"].as_f64().unwrap() / result["max_abs_ref"].as_f64().unwrap();
    assert!(cosine > 0.999, "cosine {cosine}");
    assert!(error < 0.1, "max error {error} of the output range");
    assert!(
        result["max_abs_error"].as_f64().unwrap() > 0.0,
        "Q/DQ changed nothing?"
    );
}
