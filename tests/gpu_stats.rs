//! GPU tests of our own calibration: activation statistics collected by running an FP32 engine
//! (`trt::collect_activations`), thresholds and tables computed by `trt-calib-stats`, compared
//! with TensorRT's own Entropy2 table on the same data, and INT8 engines built from our tables.
//! Behind the `gpu` feature; they fail (never skip) when TensorRT or the GPU is missing.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test --release --features gpu --test gpu_stats -- --test-threads=1
#![cfg(feature = "gpu")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use trt::data::{BatchSource, Input, Spec};
use trt::stats::{Method, Passes};
use trt::table::CalibrationTable;
use trt::{
    collect_activations, table_from_activations, Activations, CalibrationAlgorithm, CollectOptions,
    DataCalibrator, Network, Precision, TablePolicy, TensorInfo,
};

const CALIB_IMAGES: usize = 32;

fn fashion_network(b: &trt::Builder) -> Network {
    b.network_from_onnx_file(require(repo("models/fashion-mnist/fashion_mnist.onnx")))
        .unwrap()
}

/// The largest `|x|` of the preprocessed calibration images, from the batches themselves.
fn input_absmax() -> (f32, usize) {
    let (mut absmax, mut count) = (0f32, 0);
    for batch in fashion_spec().open().unwrap() {
        let batch = batch.unwrap();
        let values = batch.as_slice("image").unwrap();
        let real = &values[..values.len() / batch.size() * batch.real_samples()];
        absmax = real.iter().fold(absmax, |m, x| m.max(x.abs()));
        count += real.len();
    }
    (absmax, count)
}

fn collect(b: &trt::Builder, net: &mut Network, passes: Passes) -> Activations {
    let mut data = fashion_spec().open().unwrap();
    collect_activations(
        b,
        net,
        &mut data,
        &CollectOptions::new().with_passes(passes),
        &config(Precision::Fp32),
    )
    .unwrap()
}

/// TensorRT's own Entropy2 table for the same data, and the calibrated build's time.
fn tensorrt_entropy2(b: &trt::Builder, net: &mut Network) -> (CalibrationTable, Duration) {
    let path = out_dir().join("stats_tensorrt_entropy2.calib");
    let cfg = config(Precision::Int8).with_calibration_table(TablePolicy::recalibrate(&path));
    let mut calibrator = DataCalibrator::new(fashion_spec().open().unwrap());
    let built = b.build_calibrated(net, &cfg, &mut calibrator).unwrap();
    assert_eq!(built.calibration_batches, CALIB_IMAGES / 8);
    (CalibrationTable::read(&path).unwrap(), built.build_time)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn gpu_stats_01_collected_activations_cover_tensorrts_table_and_entropy_agrees() {
    let b = builder();
    let mut net = fashion_network(&b);
    let outputs_before: Vec<TensorInfo> = net.outputs().unwrap();
    let (trt_table, trt_build) = tensorrt_entropy2(&b, &mut net);
    let acts = collect(&b, &mut net, Passes::Two);

    // The network is as before: the marks are off again.
    assert_eq!(net.outputs().unwrap(), outputs_before);
    assert!(!acts.marked.is_empty());
    assert!(
        !acts.marked.iter().any(|m| m == "logits"),
        "already an output"
    );
    assert_eq!(
        (acts.batches, acts.samples),
        (CALIB_IMAGES / 8, CALIB_IMAGES)
    );

    // Every tensor TensorRT calibrated (scale > 0) is in our table: an activation collected,
    // or a weight (a constant, or the Shuffle the ONNX parser puts on a Gemm's bias) with its
    // largest |value| read from the network.
    let version = b.library().version();
    let ours = table_from_activations(&acts, Method::Entropy, version).unwrap();
    let missing: Vec<(&str, f32)> = trt_table
        .entries
        .iter()
        .filter(|e| e.scale > 0.0 && ours.get(&e.tensor).is_none_or(|o| o.scale <= 0.0))
        .map(|e| (e.tensor.as_str(), e.scale))
        .collect();
    assert!(
        missing.is_empty(),
        "tensors TensorRT calibrated that our table lacks: {missing:?} (ours: {:?})",
        ours.entries.iter().map(|e| &e.tensor).collect::<Vec<_>>()
    );
    assert!(!acts.weights.is_empty(), "the Gemm biases are weights");
    for w in &acts.weights {
        assert!(
            w.amax > 0.0 && acts.collector.get(&w.tensor).is_none(),
            "{w:?}"
        );
    }
    let calibrated = trt_table.entries.iter().filter(|e| e.scale > 0.0).count();
    assert!(calibrated >= 5, "TensorRT calibrated {calibrated} tensors");

    // MinMax of the input is the preprocessed batches' true max |x|, bit for bit.
    let (absmax, count) = input_absmax();
    let image = acts.collector.get("image").expect("the input is collected");
    assert_eq!(image.stats.count as usize, count);
    assert_eq!(count, CALIB_IMAGES * 28 * 28);
    let minmax = acts.collector.thresholds(Method::MinMax).unwrap();
    assert_eq!(minmax[0].tensor, "image", "inputs come first");
    assert_eq!(minmax[0].amax, absmax);
    // Every activation saw every sample: its count is a multiple of 32.
    for t in acts.collector.tensors() {
        assert_eq!(t.stats.count % CALIB_IMAGES as u64, 0, "{}", t.name);
        assert_eq!(t.histogram.total(), t.stats.count, "{}", t.name);
    }

    // Our entropy thresholds against TensorRT's Entropy2, per activation TensorRT gave a scale
    // (the weights' scales are listed apart).
    let mut thresholds_ms = serde_json::Map::new();
    for method in [
        Method::MinMax,
        Method::Entropy,
        Method::Percentile(99.99),
        Method::Mse,
    ] {
        let t = Instant::now();
        table_from_activations(&acts, method, version).unwrap();
        thresholds_ms.insert(method.to_string(), json!(t.elapsed().as_secs_f64() * 1e3));
    }
    assert_eq!(
        ours.header(),
        trt_table.header(),
        "same version and algorithm"
    );
    let mut per_tensor = Vec::new();
    let mut rel = Vec::new();
    let mut weights = Vec::new();
    for e in trt_table.entries.iter().filter(|e| e.scale > 0.0) {
        let Some(o) = ours.get(&e.tensor) else {
            continue;
        };
        if acts.weights.iter().any(|w| w.tensor == e.tensor) {
            weights.push(json!({ "tensor": e.tensor, "ours": o.scale, "tensorrt": e.scale }));
            continue;
        }
        let d = ((o.scale - e.scale) / e.scale).abs() as f64;
        rel.push(d);
        per_tensor
            .push(json!({ "tensor": e.tensor, "ours": o.scale, "tensorrt": e.scale, "rel": d }));
    }
    assert!(!rel.is_empty());
    let max = rel.iter().copied().fold(0.0, f64::max);
    let compared = rel.len();
    let med = median(&mut rel);
    ours.write_atomic(out_dir().join("stats_ours_entropy.calib"))
        .unwrap();
    record(
        "stats_entropy_vs_tensorrt",
        json!({
            "tensorrt": version.to_string(),
            "tensors_tensorrt": trt_table.entries.len(), "tensors_ours": ours.entries.len(),
            "compared": compared, "weights": weights,
            "median_rel_scale_diff": med, "max_rel_scale_diff": max,
            "per_tensor": per_tensor,
            "collection_engine_build_s": acts.build_time.as_secs_f64(),
            "collect_s": acts.collect_time.as_secs_f64(),
            "histogram_s": acts.histogram_time.as_secs_f64(),
            "thresholds_ms": thresholds_ms,
            "tensorrt_calibrated_int8_build_s": trt_build.as_secs_f64(),
        }),
    );
    assert!(
        med < 0.10,
        "median relative scale difference {med} (max {max}) against TensorRT's Entropy2"
    );
}

/// Our percentile-99.99 table of the calibration data, written to `name` in the output folder.
fn percentile_table(
    b: &trt::Builder,
    net: &mut Network,
    name: &str,
) -> (std::path::PathBuf, CalibrationTable, Activations, Duration) {
    let acts = collect(b, net, Passes::Two);
    let t = Instant::now();
    let table =
        table_from_activations(&acts, Method::Percentile(99.99), b.library().version()).unwrap();
    let thresholds = t.elapsed();
    assert_eq!(table.algorithm, trt::table::Algorithm::MinMaxCalibration);
    let path = out_dir().join(name);
    table.write_atomic(&path).unwrap();
    (path, table, acts, thresholds)
}

/// Builds `precision` from the table at `path` (MinMax header, never calibrating; `data` only
/// gives the calibrator its shapes).
fn build_from_table(
    b: &trt::Builder,
    net: &mut Network,
    precision: Precision,
    path: &std::path::Path,
    data: Spec,
) -> trt::BuildOutput {
    let cfg = config(precision).with_calibration_table(TablePolicy::require(path));
    let mut calibrator =
        DataCalibrator::new(data.open().unwrap()).with_algorithm(CalibrationAlgorithm::MinMax);
    let built = b.build_calibrated(net, &cfg, &mut calibrator).unwrap();
    assert_eq!(
        built.get_batch_calls, 0,
        "built from our table, not calibrated"
    );
    built
}

#[test]
fn gpu_stats_02_int8_from_our_percentile_table_keeps_accuracy() {
    let b = builder();
    let mut net = fashion_network(&b);
    let fp32 = b.build(&mut net, &config(Precision::Fp32)).unwrap();
    let acc32 = fashion_accuracy(&deserialize(&fp32.plan));

    let (path, table, acts, thresholds) = percentile_table(&b, &mut net, "stats_ours_p9999.calib");
    let built = build_from_table(&b, &mut net, Precision::Int8, &path, fashion_spec());
    let engine = deserialize(&built.plan);
    let acc8 = fashion_accuracy(&engine);

    // The same data through TensorRT's calibrator, for the time.
    let (_, trt_build) = tensorrt_entropy2(&b, &mut net);
    let from_table = b
        .build(
            &mut net,
            &config(Precision::Int8).with_calibration_table(TablePolicy::require(
                out_dir().join("stats_tensorrt_entropy2.calib"),
            )),
        )
        .unwrap();
    record(
        "stats_percentile_int8",
        json!({
            "images": 512, "fp32_accuracy": acc32, "int8_accuracy": acc8,
            "fp32_build_s": fp32.build_time.as_secs_f64(),
            "int8_build_s": built.build_time.as_secs_f64(),
            "int8_engine_precisions": engine.inspect().unwrap().precision_counts(),
            "table_entries": table.entries.len(),
            "collection_engine_build_s": acts.build_time.as_secs_f64(),
            "collect_s": acts.collect_time.as_secs_f64(),
            "histogram_s": acts.histogram_time.as_secs_f64(),
            "thresholds_s": thresholds.as_secs_f64(),
            "ours_total_s": (acts.build_time + acts.collect_time + thresholds).as_secs_f64(),
            "tensorrt_calibrated_int8_build_s": trt_build.as_secs_f64(),
            "tensorrt_int8_from_its_table_build_s": from_table.build_time.as_secs_f64(),
            "tensorrt_calibration_s_estimate": trt_build.saturating_sub(from_table.build_time).as_secs_f64(),
        }),
    );
    assert!(
        acc8 >= acc32 - 0.03,
        "INT8 from our percentile-99.99 table: accuracy {acc8} vs FP32 {acc32}"
    );
}

#[test]
fn gpu_stats_04_strict_int8_from_our_percentile_table_runs_int8_and_keeps_accuracy() {
    // Plain INT8 lets TensorRT run every layer FP32 (seen on this model); strict INT8 forces
    // the layers to INT8, so our scales are what the engine computes with.
    let b = builder();
    let mut net = fashion_network(&b);
    let fp32 = b.build(&mut net, &config(Precision::Fp32)).unwrap();
    let acc32 = fashion_accuracy(&deserialize(&fp32.plan));
    let (path, _, _, _) = percentile_table(&b, &mut net, "stats_ours_p9999_strict.calib");
    let built = build_from_table(&b, &mut net, Precision::StrictInt8, &path, fashion_spec());
    let strict = built.strict.as_ref().expect("a strict build has a report");
    let engine = deserialize(&built.plan);
    let acc = fashion_accuracy(&engine);
    record(
        "stats_percentile_strict_int8",
        json!({
            "fp32_accuracy": acc32, "strict_int8_accuracy": acc,
            "build_s": built.build_time.as_secs_f64(),
            "forced_int8": strict.forced_int8, "released": strict.released,
            "violations": strict.violations.len(),
            "engine_precisions": engine.inspect().unwrap().precision_counts(),
        }),
    );
    assert!(strict.forced_int8 > 0, "no layer ran INT8");
    assert!(
        acc >= acc32 - 0.03,
        "strict INT8 from our percentile-99.99 table: accuracy {acc} vs FP32 {acc32}"
    );
}

#[test]
fn gpu_stats_05_our_table_scales_prelu_slopes_so_strict_int8_runs_prelu_in_int8() {
    // MTCNN's pattern: without a scale for the slope (a constant layer), TensorRT 8.5.3 refused
    // INT8 PReLU and strict mode released every PReLU of MTCNN. The slopes' max |w| are known
    // from the generator (scripts/make_tiny_models.py): 0.30 and 0.20.
    let b = builder();
    let model = require(repo("models/tiny/prelu.onnx"));
    let spec =
        || Spec::new(4).with_input(Input::npy("data", require(repo("models/tiny/prelu.npy"))));
    let mut net = b.network_from_onnx_file(&model).unwrap();
    let layers = net.layers().unwrap();
    let slopes: Vec<String> = layers
        .iter()
        .filter(|l| l.kind == "PARAMETRIC_RELU")
        .map(|l| l.inputs[1].clone().expect("a PReLU reads its slope"))
        .collect();
    assert_eq!(slopes.len(), 2, "{slopes:?}");
    // Only a CONSTANT layer has weights to read.
    let conv = layers
        .iter()
        .find(|l| l.name == "conv1")
        .expect("the first Conv");
    let err = net.constant_absmax(conv.index).unwrap_err().to_string();
    assert!(err.contains("is not a CONSTANT layer"), "{err}");

    let mut data = spec().open().unwrap();
    let acts = collect_activations(
        &b,
        &mut net,
        &mut data,
        &CollectOptions::new(),
        &config(Precision::Fp32),
    )
    .unwrap();
    let version = b.library().version();
    let ours = table_from_activations(&acts, Method::MinMax, version).unwrap();
    for (slope, amax) in slopes.iter().zip([0.30f32, 0.20]) {
        let e = ours
            .get(slope)
            .unwrap_or_else(|| panic!("no scale for slope {slope}"));
        assert_eq!(e.scale, amax / 127.0, "{slope}");
    }

    // TensorRT's MinMax calibrator gives the slopes the same scales.
    let theirs_path = out_dir().join("stats_prelu_tensorrt_minmax.calib");
    let cfg =
        config(Precision::Int8).with_calibration_table(TablePolicy::recalibrate(&theirs_path));
    let mut calibrator =
        DataCalibrator::new(spec().open().unwrap()).with_algorithm(CalibrationAlgorithm::MinMax);
    b.build_calibrated(&mut net, &cfg, &mut calibrator).unwrap();
    let theirs = CalibrationTable::read(&theirs_path).unwrap();
    let pairs: Vec<(f32, f32)> = slopes
        .iter()
        .map(|s| {
            (
                ours.get(s).unwrap().scale,
                theirs.get(s).expect("TensorRT scales the slope").scale,
            )
        })
        .collect();
    for (o, t) in &pairs {
        assert!(((o - t) / t).abs() < 1e-6, "ours {o}, TensorRT {t}");
    }

    // Strict INT8 from our table alone: both PReLUs run INT8, none is released.
    let ours_path = out_dir().join("stats_prelu_ours_minmax.calib");
    ours.write_atomic(&ours_path).unwrap();
    let built = build_from_table(&b, &mut net, Precision::StrictInt8, &ours_path, spec());
    let strict = built.strict.as_ref().expect("a strict build has a report");
    record(
        "stats_prelu_strict_int8",
        json!({
            "slope_scales_ours_tensorrt": pairs, "weights": acts.weights.len(),
            "released": strict.released, "engine_precisions": strict.engine_precisions,
        }),
    );
    for name in ["prelu1", "prelu2"] {
        assert!(
            !strict.released.iter().any(|(n, _)| n == name),
            "{name} released: {:?}",
            strict.released
        );
        let l = strict
            .layers
            .iter()
            .find(|l| l.name == name)
            .expect("audited");
        assert_eq!(l.precision.as_deref(), Some("INT8"), "{l:?}");
    }
    assert!(strict.violations.is_empty(), "{:?}", strict.violations);
}

/// A data source with the network's input and no batch.
struct NoBatches(Vec<(String, Vec<usize>)>);

impl BatchSource for NoBatches {
    fn next_batch(&mut self) -> Option<trt::data::Result<trt::data::Batch>> {
        None
    }
    fn batch_count(&self) -> usize {
        0
    }
    fn batch_size(&self) -> usize {
        8
    }
    fn input_shapes(&self) -> &[(String, Vec<usize>)] {
        &self.0
    }
    fn input_dtypes(&self) -> Vec<(String, trt::data::DType)> {
        vec![("image".into(), trt::data::DType::F32)]
    }
    fn reset(&mut self) -> trt::data::Result<()> {
        Ok(())
    }
}

#[test]
fn gpu_stats_03_bad_names_and_empty_data_are_refused_before_building() {
    let b = builder();
    let mut net = fashion_network(&b);
    let outputs_before = net.outputs().unwrap();

    let mut data = fashion_spec().open().unwrap();
    let t = Instant::now();
    let err = collect_activations(
        &b,
        &mut net,
        &mut data,
        &CollectOptions::new().with_tensors(["/conv1/Conv_output", "/Relu_output_0"]),
        &config(Precision::Fp32),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "`/conv1/Conv_output` is not a tensor of the network (closest: `/conv1/Conv_output_0`"
        ),
        "{err}"
    );

    let mut empty = NoBatches(vec![("image".into(), vec![8, 1, 28, 28])]);
    let err = collect_activations(
        &b,
        &mut net,
        &mut empty,
        &CollectOptions::new(),
        &config(Precision::Fp32),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("the calibration data has no batch"), "{err}");
    let refused_in = t.elapsed();
    assert!(
        refused_in < Duration::from_secs(2),
        "refused after {refused_in:?}: nothing was built"
    );
    assert_eq!(net.outputs().unwrap(), outputs_before);

    // Named tensors only, one pass: exactly those are collected.
    let mut data = fashion_spec().open().unwrap();
    let acts = collect_activations(
        &b,
        &mut net,
        &mut data,
        &CollectOptions::new()
            .with_tensors(["/Relu_output_0", "image"])
            .with_passes(Passes::One),
        &config(Precision::Fp32),
    )
    .unwrap();
    let names: Vec<&str> = acts
        .collector
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["image", "/Relu_output_0"]);
    assert_eq!(acts.marked, ["/Relu_output_0"]);
    let relu = acts.collector.get("/Relu_output_0").unwrap();
    assert!(relu.stats.min >= 0.0, "a ReLU output: {:?}", relu.stats);
    assert_eq!(relu.stats.count as usize, CALIB_IMAGES * 16 * 28 * 28);
    assert_eq!(net.outputs().unwrap(), outputs_before);
    record(
        "stats_refusals",
        json!({ "refused_in_s": refused_in.as_secs_f64(), "one_pass_collect_s": acts.collect_time.as_secs_f64() }),
    );
}
