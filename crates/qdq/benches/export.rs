//! Export time of `trt qdq export`, against a baseline measured in the same run: decoding and
//! encoding the same model without quantizing it (the I/O every export pays). Prints the median
//! of 7 runs of each and their ratio.
//!
//!     cargo bench -p trt-qdq --bench export
//!     QDQ_BENCH="model.onnx=model.calib other.onnx=other.calib" cargo bench -p trt-qdq --bench export
//!
//! Without QDQ_BENCH it runs the committed Fashion-MNIST model and table. The GPU side of the
//! explicit/implicit comparison (latency ratio, INT8 layer sets, agreement) is
//! `trt qdq compare IMPLICIT.engine EXPLICIT.engine`, which times both engines in alternating
//! rounds in one run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trt_calib_table::CalibrationTable;
use trt_qdq::{load_model, qdq_node_count, save_model, QdqExport};

const RUNS: usize = 7;

fn median(mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[RUNS / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pairs: Vec<(PathBuf, PathBuf)> = match std::env::var("QDQ_BENCH") {
        Ok(list) => list
            .split_whitespace()
            .map(|p| {
                let (m, t) = p.split_once('=').expect("QDQ_BENCH: MODEL=TABLE pairs");
                (PathBuf::from(m), PathBuf::from(t))
            })
            .collect(),
        Err(_) => vec![(
            root.join("models/fashion-mnist/fashion_mnist.onnx"),
            root.join("models/fashion-mnist/fashion_mnist.ort-minmax.calib"),
        )],
    };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>8} {:>6}",
        "model", "MB", "baseline ms", "export ms", "ratio", "Q/DQ"
    );
    for (model_path, table_path) in pairs {
        let table = CalibrationTable::read(&table_path).unwrap();
        let out = dir.path().join("out.onnx");
        let bytes = std::fs::metadata(&model_path).unwrap().len();
        // Baseline: decode and encode, nothing else.
        let baseline = median(|| {
            let m = load_model(&model_path).unwrap();
            save_model(&m, &out).unwrap();
        });
        let mut nodes = 0;
        let export = median(|| {
            let m = load_model(&model_path).unwrap();
            let (q, _report) = QdqExport::new(&m, &table).export().unwrap();
            nodes = qdq_node_count(&q);
            save_model(&q, &out).unwrap();
        });
        println!(
            "{:<28} {:>10.2} {:>12.2} {:>12.2} {:>8.2} {:>6}",
            model_path.file_name().unwrap().to_string_lossy(),
            bytes as f64 / 1e6,
            ms(baseline),
            ms(export),
            export.as_secs_f64() / baseline.as_secs_f64(),
            nodes
        );
    }
}
