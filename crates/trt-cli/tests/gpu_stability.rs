//! `trt calib --stability` on a real TensorRT and GPU (Fashion-MNIST, our percentile method):
//! the table is written as without --stability, the report is printed, and order-only variants
//! of a two-pass percentile calibration are stable (exit 0). Behind the `gpu` feature; it fails
//! (never skips) when TensorRT or the GPU is missing.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test -p trt-cli --features gpu --test gpu_stability
#![cfg(feature = "gpu")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_gpu_stability_01_percentile_is_stable_and_the_table_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("fm.p9999.calib");
    let model = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = root().join("models/fashion-mnist/calib");
    let args = [
        "calib",
        s(&model),
        "--calib",
        s(&calib),
        "--gray",
        "--mean",
        "72.93",
        "--std",
        "90.015",
        "--tensorrt-tactics-only",
        "--method",
        "percentile=99.99",
        "--calib-cache",
        s(&table),
        "--stability",
        "2",
    ];
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_trt"))
            .args(args)
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .expect("run trt");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        println!("$ trt {} {}\n{out}{err}", args.join(" "), extra.join(" "));
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        out
    };
    let out = run(&[]);
    assert!(
        out.contains(&format!("table {} written", table.display())),
        "{out}"
    );
    assert!(
        out.contains("calibration percentile=99.99 (computed by trt)"),
        "{out}"
    );
    assert!(
        out.contains("batch size  fixed: the network's inputs have a fixed batch dimension (8)"),
        "{out}"
    );
    assert!(
        out.contains("order seed 1, batch 8") && out.contains("order seed 2, batch 8"),
        "{out}"
    );
    assert!(
        out.contains("verdict     stable: no scale moves more than 5.00% over 2 variant(s)"),
        "{out}"
    );
    assert!(table.is_file());

    let out = run(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("--json prints JSON only");
    assert_eq!(v["variants"].as_array().unwrap().len(), 2);
    assert_eq!(v["engines_built"], 1);
    assert_eq!(
        v["report"]["tables"]["variants"][1]["label"],
        "order seed 2, batch 8"
    );
}
