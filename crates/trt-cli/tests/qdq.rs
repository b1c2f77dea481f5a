//! `trt qdq export` run as a process on the committed Fashion-MNIST model and its
//! onnxruntime-made MinMax table (models/fashion-mnist/fashion_mnist.ort-minmax.calib).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist")
}

fn trt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trt"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run trt")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn export_writes_the_model_and_the_report_and_prints_what_it_placed() {
    let dir = tempfile::tempdir().unwrap();
    let (model, table) = (
        models().join("fashion_mnist.onnx"),
        models().join("fashion_mnist.ort-minmax.calib"),
    );
    let (out, report) = (dir.path().join("f.qdq.onnx"), dir.path().join("f.json"));
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&out),
        "--exclude",
        "/fc2/Gemm",
        "--report",
        s(&report),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}{}", stdout, text(&o.stderr));
    assert!(stdout.contains("11 of 11 tensors in the model"), "{stdout}");
    assert!(
        stdout.contains(": 3 activation(s) and 3 weight(s) quantized"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/Relu_2_output_0      read by excluded node `/fc2/Gemm`"),
        "{stdout}"
    );

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["excluded"], serde_json::json!(["/fc2/Gemm"]));
    let first = &json["activations"][0];
    assert_eq!(first["tensor"], "image");
    // image: 3c82783f in the table.
    assert_eq!(
        first["scale"].as_f64().unwrap() as f32,
        f32::from_bits(0x3c82783f)
    );

    let qdq = trt_qdq::load_model(&out).unwrap();
    let nodes = &qdq.graph.as_ref().unwrap().node;
    let quantize = nodes
        .iter()
        .filter(|n| n.op_type() == "QuantizeLinear")
        .count();
    assert_eq!(quantize, 6);
    let fc2 = nodes.iter().find(|n| n.name() == "/fc2/Gemm").unwrap();
    assert_eq!(fc2.input, ["/Relu_2_output_0", "fc2.weight", "fc2.bias"]);
}

#[test]
fn refusals_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = models().join("fashion_mnist.onnx");
    let table = models().join("fashion_mnist.ort-minmax.calib");
    let out = dir.path().join("never.onnx");
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&out),
        "--exclude",
        "/fc2/gemm",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(
        stderr
            .contains("caused by: no node named `/fc2/gemm` to exclude; close names: `/fc2/Gemm`"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written after a refusal");

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../calib-table/tests/fixtures/resnet18-random-weights.calib.cache");
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&fixture),
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("the calibration table does not fit the model: 3 of its 74 tensors"),
        "{stderr}"
    );

    let placement = dir.path().join("empty.txt");
    std::fs::write(&placement, "# nothing\n\n").unwrap();
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&out),
        "--placement",
        s(&placement),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("names no tensor"));
}

#[test]
fn building_a_qdq_model_with_calibration_is_refused_before_tensorrt() {
    let dir = tempfile::tempdir().unwrap();
    let (model, table) = (
        models().join("fashion_mnist.onnx"),
        models().join("fashion_mnist.ort-minmax.calib"),
    );
    let qdq = dir.path().join("f.qdq.onnx");
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&qdq),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let engine = dir.path().join("f.engine");
    let o = trt(&[
        "build",
        s(&qdq),
        "--int8",
        "--calib-cache",
        s(&table),
        "-o",
        s(&engine),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    // 4 activations and 4 weights, a QuantizeLinear and a DequantizeLinear each.
    assert!(
        stderr.contains("f.qdq.onnx has 16 Q/DQ layers: it is explicitly quantized; its scales come from the model, so a calibrator/table is not used; build it without --calib/--calib-cache"),
        "{stderr}"
    );
    let o = trt(&["build", s(&qdq), "--strict-int8", "-o", s(&engine)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("strict INT8 (forcing layers) does not apply"));
    assert!(!engine.exists());

    // --int8 alone, or no precision flag at all (a Q/DQ model then builds with INT8 enabled),
    // passes the checks: what stops it here is TensorRT, absent: never "INT8 needs
    // calibration data" nor "build it with --int8".
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for flags in [&["--int8"][..], &[]] {
        let o = Command::new(env!("CARGO_BIN_EXE_trt"))
            .arg("build")
            .arg(&qdq)
            .args(flags)
            .args(["-o", s(&engine)])
            .env_remove("RUST_LOG")
            .env("TRT_LIB_DIR", &empty)
            .env("LD_LIBRARY_PATH", "")
            .output()
            .unwrap();
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(!stderr.contains("calibration"), "{flags:?}: {stderr}");
        assert!(!stderr.contains("--int8"), "{flags:?}: {stderr}");
        assert!(stderr.contains("TensorRT"), "{flags:?}: {stderr}");
    }
}

#[test]
fn export_from_an_implicit_engine_quantizes_what_its_int8_layers_read() {
    let dir = tempfile::tempdir().unwrap();
    let (model, table) = (
        models().join("fashion_mnist.onnx"),
        models().join("fashion_mnist.ort-minmax.calib"),
    );
    // The layers of a build report as TensorRT 8.5 fuses this model, fc2 left in FP32.
    let report = dir.path().join("f.engine.report.json");
    std::fs::write(
        &report,
        r#"{"trt_build_report": 1, "layers": [
          {"name": "Reformatting CopyNode for Input Tensor 0 to /conv1/Conv + /Relu + /MaxPool", "layer_type": "Reformat", "precision": "INT8"},
          {"name": "/conv1/Conv + /Relu + /MaxPool", "layer_type": "CaskConvActPool", "precision": "INT8"},
          {"name": "/conv2/Conv + /Relu_1 + /MaxPool_1", "layer_type": "CaskConvActPool", "precision": "INT8"},
          {"name": "/fc1/Gemm + /Relu_2", "layer_type": "CaskConvolution", "precision": "INT8"},
          {"name": "/fc2/Gemm", "layer_type": "CaskConvolution", "precision": "FP32"},
          {"name": "reshape_after_/fc2/Gemm", "layer_type": "NoOp", "precision": "FP32"}
        ]}"#,
    )
    .unwrap();
    let out = dir.path().join("f.qdq.onnx");
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&out),
        "--engine",
        s(&report),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}{}", stdout, text(&o.stderr));
    assert!(
        stdout.contains(": 8 model node(s) ran INT8 (8 compute), reading 3 activation(s)"),
        "{stdout}"
    );
    // fc2 ran FP32 there: excluded, its weight stays float.
    assert!(
        stdout.contains("placement  explicit, 1 node(s) excluded"),
        "{stdout}"
    );
    assert!(
        stdout.contains(": 3 activation(s) and 3 weight(s) quantized"),
        "{stdout}"
    );
    for t in ["image ", "/MaxPool_output_0 ", "/Flatten_output_0 "] {
        assert!(stdout.contains(&format!("\n{t}")), "{t}: {stdout}");
    }
    let relu2: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("/Relu_2_output_0"))
        .collect();
    assert_eq!(relu2.len(), 1, "{stdout}");
    assert!(
        relu2[0].contains("no placement rule quantizes it here"),
        "{stdout}"
    );

    std::fs::write(&report, r#"{"Layers": ["/conv1/Conv + /Relu"]}"#).unwrap();
    let o = trt(&[
        "qdq",
        "export",
        s(&model),
        "--calib-cache",
        s(&table),
        "-o",
        s(&out),
        "--engine",
        s(&report),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("build the implicit engine with detailed profiling"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn compare_checks_its_tolerances_before_loading_tensorrt() {
    let o = trt(&["qdq", "compare", "a.engine", "b.engine", "--min-top1", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--min-top1 is a fraction from 0 to 1 (0.99 for 99%), not 99"),
        "{}",
        text(&o.stderr)
    );
    let o = trt(&[
        "qdq",
        "compare",
        "a.engine",
        "b.engine",
        "--max-latency-ratio",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--max-latency-ratio must be above 0"));
}
