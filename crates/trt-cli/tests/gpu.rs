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
