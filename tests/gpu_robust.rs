//! GPU tests for real models and bad data: a failed calibration loses nothing, bad data is found
//! before TensorRT works, strict INT8 survives tables without every scale, FP32 engines show
//! their precisions, integer inputs calibrate, devices are checked.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test --release --features gpu --test gpu_robust -- --test-threads=1
#![cfg(feature = "gpu")]

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;
use trt::data::{Input, Preprocess, Spec};
use trt::{
    BuildConfig, CalibrationBatch, Calibrator, DataCalibrator, Precision, ProfilingVerbosity,
    TablePolicy,
};

const FASHION_MEAN: f32 = 0.2860 * 255.0;
const FASHION_STD: f32 = 0.3530 * 255.0;

fn fashion_spec(dir: &std::path::Path) -> Spec {
    let pre = Preprocess::gray()
        .with_mean([FASHION_MEAN])
        .with_std([FASHION_STD]);
    Spec::new(8).with_input(Input::images("image", dir, pre))
}

/// Hands TensorRT two good Fashion-MNIST batches, then fails: what a file that breaks in the
/// third batch does once TensorRT has spent its time building the calibration engine.
struct FailsAtThird {
    inner: DataCalibrator<trt::data::Pipeline>,
    done: usize,
}

impl Calibrator for FailsAtThird {
    fn prepare(
        &mut self,
        inputs: &[trt::CalibrationInput],
        stream: Option<&std::sync::Arc<cudarc::driver::CudaStream>>,
    ) -> trt::Result<()> {
        self.inner.prepare(inputs, stream)
    }
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        if self.done == 2 {
            return Err(trt::Error::Calibration(
                "batch 3: 017.png is unreadable".into(),
            ));
        }
        self.done += 1;
        self.inner.next_batch(batch)
    }
}

fn table_dir_is(dir: &std::path::Path, want: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, want, "files left in {}", dir.display());
}

#[test]
fn gpu_r1_a_failed_calibration_creates_or_replaces_no_table() {
    let builder = builder();
    let calib = require(repo("models/fashion-mnist/calib"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.calib");
    for existing in [
        None,
        Some(b"TRT-8503-EntropyCalibration2\nimage: 3d2020d2\n".to_vec()),
    ] {
        if let Some(old) = &existing {
            std::fs::write(&path, old).unwrap();
        }
        let mut network = builder
            .network_from_onnx_file(repo("models/fashion-mnist/fashion_mnist.onnx"))
            .unwrap();
        let config =
            config(Precision::Int8).with_calibration_table(TablePolicy::recalibrate(&path));
        let mut c = FailsAtThird {
            inner: DataCalibrator::new(fashion_spec(&calib).open().unwrap()),
            done: 0,
        };
        let t = Instant::now();
        let err = builder
            .build_calibrated(&mut network, &config, &mut c)
            .expect_err("the third batch fails")
            .to_string();
        assert!(err.contains("017.png is unreadable"), "{err}");
        match &existing {
            None => table_dir_is(dir.path(), &[]),
            Some(old) => {
                assert_eq!(
                    &std::fs::read(&path).unwrap(),
                    old,
                    "the old table was touched"
                );
                table_dir_is(dir.path(), &["x.calib"]);
            }
        }
        record(
            "gpu_r1_failed_calibration",
            json!({"existing_table": existing.is_some(), "failed_after_s": t.elapsed().as_secs_f64(), "error": err}),
        );
    }
    // The same build without the failure writes the table (so the check above could fail).
    let mut network = builder
        .network_from_onnx_file(repo("models/fashion-mnist/fashion_mnist.onnx"))
        .unwrap();
    let config = config(Precision::Int8).with_calibration_table(TablePolicy::recalibrate(&path));
    let mut c = DataCalibrator::new(fashion_spec(&calib).open().unwrap());
    let out = builder
        .build_calibrated(&mut network, &config, &mut c)
        .unwrap();
    assert_eq!(out.calibration_batches, 4);
    let table = trt::table::CalibrationTable::read(&path).unwrap();
    assert!(table.get("image").is_some());
}

#[test]
fn gpu_r2_bad_data_is_found_before_tensorrt_builds_anything() {
    let builder = builder();
    let calib = require(repo("models/fashion-mnist/calib"));
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&calib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    // A text file in the third batch and a truncated PNG in the fourth.
    std::fs::write(
        dir.path().join(files[17].file_name().unwrap()),
        "not an image",
    )
    .unwrap();
    let png = std::fs::read(&files[29]).unwrap();
    std::fs::write(
        dir.path().join(files[29].file_name().unwrap()),
        &png[..png.len() / 3],
    )
    .unwrap();
    let table = dir.path().join("bad.calib");

    let mut network = builder
        .network_from_onnx_file(repo("models/fashion-mnist/fashion_mnist.onnx"))
        .unwrap();
    let config = config(Precision::Int8).with_calibration_table(TablePolicy::read_write(&table));
    let mut c = DataCalibrator::new(fashion_spec(dir.path()).open().unwrap());
    let t = Instant::now();
    let err = builder
        .build_calibrated(&mut network, &config, &mut c)
        .expect_err("bad files")
        .to_string();
    let took = t.elapsed().as_secs_f64();
    for f in [&files[17], &files[29]] {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(&name), "{name} not named in: {err}");
    }
    assert!(!table.exists());
    record(
        "gpu_r2_bad_data",
        json!({"error_after_s": took, "error": err}),
    );
}

/// Calibrates plain INT8 (the table TensorRT writes), then builds strict INT8 from that table
/// alone, as `trt build --strict-int8 --calib-cache T --require-cache` does.
fn strict_from_own_table(model: &str, data: &str, input: &str) -> serde_json::Value {
    let builder = builder();
    let model = require(repo(model));
    let table = out_dir().join(format!(
        "{}.calib",
        model.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&table);
    let spec = Spec::new(1).with_input(Input::npy(input, require(repo(data))));
    let mut network = builder.network_from_onnx_file(&model).unwrap();
    let mut c = DataCalibrator::new(spec.open().unwrap());
    let plain = builder
        .build_calibrated(
            &mut network,
            &config(Precision::Int8).with_calibration_table(TablePolicy::read_write(&table)),
            &mut c,
        )
        .unwrap();
    assert_eq!(plain.calibration_batches, 16);
    assert!(table.exists());

    let mut network = builder.network_from_onnx_file(&model).unwrap();
    let strict = builder
        .build(
            &mut network,
            &config(Precision::StrictInt8).with_calibration_table(TablePolicy::require(&table)),
        )
        .unwrap_or_else(|e| panic!("strict INT8 from the model's own table: {e}"));
    let report = strict.strict.unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(
        report.forced_int8 >= 2,
        "the convolutions run INT8: {report:?}"
    );
    json!({
        "forced_int8": report.forced_int8,
        "released": report.released,
        "engine_precisions": report.engine_precisions,
        "build_s": strict.build_time.as_secs_f64(),
    })
}

#[test]
fn gpu_r3_strict_int8_survives_reshape_gemm_tables() {
    let a = strict_from_own_table(
        "models/tiny/reshape_gemm.onnx",
        "models/tiny/reshape_gemm.npy",
        "data",
    );
    record("gpu_r3_strict_reshape_gemm", a);
    let b = strict_from_own_table(
        "models/tiny/reshape_gemm_cos.onnx",
        "models/tiny/reshape_gemm.npy",
        "data",
    );
    record("gpu_r3_strict_reshape_gemm_constant_of_shape", b);
}

#[test]
fn gpu_r4_fp32_and_fp16_engines_report_their_precisions() {
    let builder = builder();
    let model = require(repo("models/fashion-mnist/fashion_mnist.onnx"));
    let mut sizes = serde_json::Map::new();
    for precision in [Precision::Fp32, Precision::Fp16] {
        let mut network = builder.network_from_onnx_file(&model).unwrap();
        let detailed = builder.build(&mut network, &config(precision)).unwrap();
        let report = deserialize(&detailed.plan).inspect().unwrap();
        let counts = report.precision_counts();
        assert!(report.is_detailed());
        assert!(!counts.contains_key("unknown"), "{counts:?}");
        assert!(counts.values().sum::<usize>() >= 4, "{counts:?}");
        if precision == Precision::Fp32 {
            assert_eq!(counts.keys().collect::<Vec<_>>(), ["FP32"], "{counts:?}");
        }
        let names_only = builder
            .build(
                &mut network,
                &config(precision).with_profiling(ProfilingVerbosity::LayerNamesOnly),
            )
            .unwrap();
        let lean = deserialize(&names_only.plan).inspect().unwrap();
        assert!(!lean.is_detailed());
        sizes.insert(
            format!("{precision:?}"),
            json!({"detailed_bytes": detailed.plan.len(), "names_only_bytes": names_only.plan.len(), "counts": counts}),
        );
    }
    record("gpu_r4_plan_sizes", serde_json::Value::Object(sizes));
}

#[test]
fn gpu_r5_int8_build_tells_how_much_ran_int8() {
    let builder = builder();
    let mut network = builder
        .network_from_onnx_file(require(repo("models/fashion-mnist/fashion_mnist.onnx")))
        .unwrap();
    let config = config(Precision::Int8);
    let mut c = DataCalibrator::new(
        fashion_spec(&require(repo("models/fashion-mnist/calib")))
            .open()
            .unwrap(),
    );
    let out = builder
        .build_calibrated(&mut network, &config, &mut c)
        .unwrap();
    let engine = deserialize(&out.plan);
    let report = trt::BuildReport::from_engine(&engine, &config, Some(&out)).unwrap();
    let int8 = report.precision_counts.get("INT8").copied().unwrap_or(0);
    let total: usize = report.precision_counts.values().sum();
    assert_eq!(report.int8_advice().is_some(), 2 * int8 < total);
    record(
        "gpu_r5_int8_share",
        json!({"counts": report.precision_counts, "advice": report.int8_advice()}),
    );
}

#[test]
fn gpu_r6_devices_are_checked() {
    let count = cudarc::driver::CudaContext::device_count().unwrap() as usize;
    let err = trt::Builder::on_device(count).unwrap_err().to_string();
    assert!(
        err.contains(&format!("CUDA device {count} does not exist")),
        "{err}"
    );
    let builder = trt::Builder::on_device(0).unwrap();
    assert_eq!(builder.device(), 0);
    let mut network = builder
        .network_from_onnx_file(require(repo("models/fashion-mnist/fashion_mnist.onnx")))
        .unwrap();
    let err = builder
        .build(
            &mut network,
            &BuildConfig::new(Precision::Fp32).with_device(count),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("Builder::on_device"), "{err}");
}
