//! The `trt` tool on a real TensorRT and GPU: the README's main command, inspect, bundle and
//! verify-bundle, each a process that must exit cleanly (TensorRT 8.6.0 once crashed with
//! SIGSEGV after printing a build's summary). Behind the `gpu` feature; it fails (never skips)
//! when TensorRT or the GPU is missing.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test -p trt-cli --features gpu --test gpu
#![cfg(feature = "gpu")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `trt`; panics with its output unless it exits with `code` (a signal has no code).
fn trt(args: &[&str], code: i32) -> String {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_trt"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run trt");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    println!("$ trt {}\n{out}{err}", args.join(" "));
    assert_eq!(
        o.status.code(),
        Some(code),
        "trt {args:?} ended with {:?}\nstdout:\n{out}\nstderr:\n{err}",
        o.status
    );
    out
}

#[test]
fn cli_gpu_01_build_inspect_bundle_verify_exit_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, table) = (dir.path().join("f.engine"), dir.path().join("f.calib"));
    let model = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = root().join("models/fashion-mnist/calib");
    let common = [
        s(&model),
        "--calib",
        s(&calib),
        "--size",
        "28x28",
        "--gray",
        "--mean",
        "72.93",
        "--std",
        "90.015",
        "--tensorrt-tactics-only",
    ];
    let mut args = vec!["build"];
    args.extend(common);
    args.extend(["--int8", "--calib-cache", s(&table), "-o", s(&engine)]);
    let out = trt(&args, 0);
    assert!(out.contains("calibrated 4 batches (Entropy2)"), "{out}");
    assert!(out.contains("compute layers by precision:"), "{out}");
    assert!(table.is_file() && engine.is_file());

    let out = trt(&["inspect", s(&engine)], 0);
    assert!(out.contains("/conv1/Conv"), "{out}");

    let strict = dir.path().join("s.engine");
    let mut args = vec!["build"];
    args.extend(common);
    args.extend([
        "--strict-int8",
        "--calib-cache",
        s(&table),
        "--require-cache",
        "--repeat",
        "2",
        "-o",
        s(&strict),
    ]);
    let out = trt(&args, 0);
    assert!(out.contains("0 violations"), "{out}");

    let report = dir.path().join("s.engine.report.json");
    let bundle = dir.path().join("bundle");
    let out = trt(
        &[
            "bundle",
            "--engine",
            s(&strict),
            "--table",
            s(&table),
            "--report",
            s(&report),
            "-o",
            s(&bundle),
        ],
        0,
    );
    assert!(out.contains("loaded the engine"), "{out}");
    let out = trt(&["verify-bundle", s(&bundle)], 0);
    assert!(out.starts_with("ok: 3 files verified"), "{out}");
    assert!(out.contains("loaded the engine)"), "{out}");
}

/// The 512 committed Fashion-MNIST test images as PNG files (file-name order = npy order) and
/// their labels, one per line.
fn fashion_test_set(dir: &Path) -> (PathBuf, PathBuf) {
    let images: ndarray::Array3<u8> =
        ndarray_npy::read_npy(root().join("models/fashion-mnist/test_images.npy")).unwrap();
    let labels: ndarray::Array1<u8> =
        ndarray_npy::read_npy(root().join("models/fashion-mnist/test_labels.npy")).unwrap();
    let folder = dir.join("test");
    std::fs::create_dir_all(&folder).unwrap();
    for (i, img) in images.outer_iter().enumerate() {
        let px: Vec<u8> = img.iter().copied().collect();
        image::GrayImage::from_raw(28, 28, px)
            .unwrap()
            .save(folder.join(format!("{i:03}.png")))
            .unwrap();
    }
    let text: String = labels.iter().map(|l| format!("{l}\n")).collect();
    let labels_path = dir.join("test.labels");
    std::fs::write(&labels_path, text).unwrap();
    (folder, labels_path)
}

#[test]
fn cli_gpu_02_eval_and_the_accuracy_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (test, labels) = fashion_test_set(dir.path());
    let model = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = root().join("models/fashion-mnist/calib");
    let pre = [
        "--size",
        "28x28",
        "--gray",
        "--mean",
        "72.93",
        "--std",
        "90.015",
        "--tensorrt-tactics-only",
    ];
    let (fp32, strict, table) = (
        dir.path().join("f.fp32.engine"),
        dir.path().join("f.strict.engine"),
        dir.path().join("f.calib"),
    );
    let mut a = vec![
        "build",
        s(&model),
        "-o",
        s(&fp32),
        "--tensorrt-tactics-only",
    ];
    trt(&a, 0);
    a = vec!["build", s(&model), "--calib", s(&calib)];
    a.extend(pre);
    a.extend([
        "--strict-int8",
        "--calib-cache",
        s(&table),
        "-o",
        s(&strict),
    ]);
    trt(&a, 0);

    // The strict engine against the FP32 engine on the 512 test images, with labels.
    let mut a = vec![
        "eval",
        s(&strict),
        "--reference",
        s(&fp32),
        "--data",
        s(&test),
    ];
    a.extend(&pre[..7]);
    // Fashion-MNIST's batch is fixed at 8 (--batch's default); the data check refuses others.
    a.extend(["--labels", s(&labels), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&trt(&a, 0)).unwrap();
    assert_eq!(json["samples"], 512);
    let top1 = json["outputs"][0]["top1"].as_f64().unwrap();
    let acc = &json["labels"];
    // FP32 is 91.0% on these images on every TensorRT we ran (README).
    let fp32_acc = acc["reference_top1"].as_f64().unwrap();
    assert!((fp32_acc - 0.910).abs() < 0.006, "{json}");
    assert!(top1 > 0.85 && top1 < 1.0, "{json}");
    assert!(json["latency"]["ratio"].as_f64().unwrap() > 0.0);
    println!(
        "RESULT cli_eval {{\"top1_agreement\": {top1}, \"fp32\": {fp32_acc}, \"strict\": {}}}",
        acc["candidate_top1"]
    );

    // An ONNX reference is built FP32 here: the same numbers.
    let mut b = vec![
        "eval",
        s(&strict),
        "--reference",
        s(&model),
        "--data",
        s(&test),
    ];
    b.extend(&pre[..7]);
    b.extend(["--tensorrt-tactics-only", "--iterations", "0"]);
    let text = trt(&b, 0);
    assert!(text.contains("output     "), "{text}");

    // Budget: at most 1 point of accuracy lost against FP32 (strict loses about 3).
    let budget = dir.path().join("f.budget.engine");
    let mut a = vec!["build", s(&model), "--calib", s(&calib)];
    a.extend(pre);
    a.extend([
        "--strict-int8",
        "--calib-cache",
        s(&table),
        "--accuracy-budget",
        "1",
        "--eval",
        s(&test),
        "--eval-labels",
        s(&labels),
        "-o",
        s(&budget),
    ]);
    let o = Command::new(env!("CARGO_BIN_EXE_trt"))
        .args(&a)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!(
        "$ trt {}\n{out}{}",
        a.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(matches!(o.status.code(), Some(0 | 1)), "{:?}", o.status);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("f.budget.engine.report.json")).unwrap(),
    )
    .unwrap();
    let search = &report["accuracy_budget"];
    assert!(!search["trials"].as_array().unwrap().is_empty(), "{search}");
    assert_eq!(search["trials"][0]["kept_out"], 0);
    let chosen: Vec<&str> = search["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let excluded: Vec<&str> = report["flags"]["settings"]["excluded_layers"]
        .as_array()
        .or(report["flags"]["excluded_layers"].as_array())
        .expect("the report's exclusions")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for c in &chosen {
        assert!(
            excluded.contains(c),
            "{c} not in the report's exclusions {excluded:?}"
        );
    }
    assert_eq!(o.status.code() == Some(0), search["met"].as_bool().unwrap());
    println!("RESULT cli_budget {search}");
}
