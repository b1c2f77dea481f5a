//! GPU tests for each TensorRT version we reach (8.5.2, 8.5.3, 8.6.0): the same Fashion-MNIST
//! builds on every one, the compatibility modes where they exist, and what one version does with
//! another's tables and engines. Behind the `gpu` feature; they fail (never skip) when TensorRT
//! or the GPU is missing.
//!
//! `v01` writes this version's table, logits, engine and bundle under `TRT_TEST_OUT/<version>/`.
//! The `peer_*` tests (ignored by default: they need a second version's output) read another
//! version's folder, named by `TRT_TEST_PEER`:
//!
//!     TRT_TEST_OUT=/tmp/out cargo test --features gpu --test gpu_versions    # on 8.5.3
//!     TRT_TEST_OUT=/tmp/out TRT_TEST_PEER=/tmp/out/8.5.3 \
//!         cargo test --features gpu --test gpu_versions -- --include-ignored  # on 8.5.2
#![cfg(feature = "gpu")]

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::*;
use ndarray::Array2;
use serde_json::json;
use trt::bundle::{self, BundleSources, GpuInfo, Target, TrtVersion};
use trt::repro::{build_repeated, RepeatMode};
use trt::{HardwareCompatibility, Precision, Runtime, TablePolicy};

fn version() -> TrtVersion {
    builder().library().version()
}

/// This version's folder under the output folder.
fn own_dir() -> PathBuf {
    let dir = out_dir().join(version().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The other version's folder (`TRT_TEST_PEER`), which its `v01` wrote.
fn peer_dir() -> PathBuf {
    let dir = std::env::var_os("TRT_TEST_PEER")
        .map(PathBuf::from)
        .expect("TRT_TEST_PEER must name the folder another TensorRT version's v01 wrote");
    require(dir.join("fashion.calib"));
    dir
}

fn model() -> PathBuf {
    require(repo("models/fashion-mnist/fashion_mnist.onnx"))
}

fn write_logits(path: PathBuf, rows: &[Vec<f32>]) {
    let a = Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j]);
    ndarray_npy::write_npy(path, &a).unwrap();
}

fn read_logits(path: PathBuf) -> Vec<Vec<f32>> {
    let a: Array2<f32> = ndarray_npy::read_npy(require(path)).unwrap();
    a.outer_iter().map(|r| r.to_vec()).collect()
}

fn int8_layers(engine: &trt::Engine) -> usize {
    engine
        .inspect()
        .unwrap()
        .precision_counts()
        .get("INT8")
        .copied()
        .unwrap_or(0)
}

/// FP32, calibrated INT8 and strict INT8 builds of Fashion-MNIST, each inspected and run, and
/// everything dropped before the test returns: TensorRT 8.6.0 once crashed after such builds.
#[test]
fn v01_fp32_int8_strict_build_inspect_run_and_drop() {
    let v = version();
    let dir = own_dir();
    let b = builder();
    let mut net = b.network_from_onnx_file(model()).unwrap();

    let fp32 = b.build(&mut net, &config(Precision::Fp32)).unwrap();
    let fp32_engine = deserialize(&fp32.plan);
    let fp32_logits = fashion_logits(&fp32_engine);
    let acc32 = fashion_accuracy(&fp32_engine);

    let table = dir.join("fashion.calib");
    let _ = std::fs::remove_file(&table);
    let cfg = config(Precision::Int8).with_calibration_table(TablePolicy::read_write(&table));
    let mut calibrator = fashion_calibrator();
    let int8 = b.build_calibrated(&mut net, &cfg, &mut calibrator).unwrap();
    assert_eq!(int8.calibration_batches, 4, "32 images in batches of 8");
    let written = trt::table::CalibrationTable::read(&table).unwrap();
    assert_eq!(written.version, v, "the table's header is this TensorRT's");
    let int8_engine = deserialize(&int8.plan);
    let int8_logits = fashion_logits(&int8_engine);
    let acc8 = fashion_accuracy(&int8_engine);
    let (top1, _, cos) = agreement(&fp32_logits, &int8_logits);

    let strict_cfg =
        config(Precision::StrictInt8).with_calibration_table(TablePolicy::require(&table));
    let strict = b.build(&mut net, &strict_cfg).unwrap();
    let audit = strict.strict.clone().expect("a strict report");
    assert!(
        audit.violations.is_empty(),
        "strict INT8 on {v}: {:?}",
        audit.violations
    );
    let strict_engine = deserialize(&strict.plan);
    let strict_int8 = int8_layers(&strict_engine);
    assert!(strict_int8 >= 7, "strict INT8 layers on {v}: {strict_int8}");
    let strict_logits = fashion_logits(&strict_engine);
    let acc_strict = fashion_accuracy(&strict_engine);

    // For the peer tests of another version: this version's plain INT8 engine, its logits, and
    // a bundle of it (whose manifest records what this runtime did with the engine).
    write_logits(dir.join("fashion.int8.logits.npy"), &int8_logits);
    write_logits(dir.join("fashion.strict.logits.npy"), &strict_logits);
    let engine_file = dir.join("fashion.engine");
    std::fs::write(&engine_file, &int8.plan).unwrap();
    let rt = Runtime::new().unwrap();
    let load = bundle::try_load(&engine_file, &rt, false);
    assert!(load.loaded, "{load}");
    let target = Target::current(0).unwrap();
    let manifest = bundle::create_bundle(
        &BundleSources {
            engine: engine_file.clone(),
            table: Some(table.clone()),
            onnx: Some(model()),
            loaded_by: vec![load],
            ..Default::default()
        },
        &target,
        dir.join("bundle"),
        true,
    )
    .unwrap();
    assert_eq!(manifest.loaded_by[0].tensorrt, v);

    record(
        "versions_fashion",
        json!({
            "tensorrt": v.to_string(), "fp32_accuracy": acc32, "int8_accuracy": acc8,
            "strict_accuracy": acc_strict, "int8_vs_fp32_top1": top1, "int8_vs_fp32_cosine": cos,
            "fp32_build_s": fp32.build_time.as_secs_f64(), "int8_build_s": int8.build_time.as_secs_f64(),
            "strict_build_s": strict.build_time.as_secs_f64(),
            "int8_precisions": int8_engine.inspect().unwrap().precision_counts(),
            "strict_precisions": strict_engine.inspect().unwrap().precision_counts(),
            "strict_forced_int8": audit.forced_int8, "strict_released": audit.released.len(),
            "table_entries": written.entries.len(), "table_header": written.header(),
        }),
    );
    assert!(acc32 > 0.85, "FP32 accuracy {acc32}");
    assert!(acc8 > acc32 - 0.03, "INT8 {acc8} vs FP32 {acc32}");
    // Measured on 8.5.2, 8.5.3 and 8.6.0 alike: 87.7% against 91.0% (Entropy2, 32 images; the
    // plain INT8 engine ran every layer FP32, so it matches FP32 exactly).
    assert!(
        acc_strict > acc32 - 0.05,
        "strict {acc_strict} vs FP32 {acc32}"
    );
    // Everything goes now, engines before the runtime and builder they came from.
    drop((fp32_engine, int8_engine, strict_engine, rt, net, b));
}

/// Replay and the timing cache on this version: build 2 replays build 1's tactics from the same
/// table; a build given build 1's timing cache says whether TensorRT took it.
#[test]
fn v02_replay_and_timing_cache() {
    let v = version();
    let b = builder();
    let mut net = b.network_from_onnx_file(model()).unwrap();
    let table = own_dir().join("replay.calib");
    let _ = std::fs::remove_file(&table);
    let cfg = config(Precision::StrictInt8).with_calibration_table(TablePolicy::read_write(&table));
    let mut make =
        |_: usize| -> trt::Result<Box<dyn trt::Calibrator>> { Ok(Box::new(fashion_calibrator())) };
    let runs = build_repeated(
        &b,
        &mut net,
        &cfg,
        Some(&mut make),
        2,
        RepeatMode::ReplayFirst,
        |_, _, _| {},
    )
    .unwrap();
    let d = &runs.diffs[0];
    assert!(
        d.layers_only_in_a.is_empty() && d.layers_only_in_b.is_empty(),
        "{d:?}"
    );
    assert!(d.precision_changes.is_empty(), "{:?}", d.precision_changes);
    assert!(d.format_changes.is_empty(), "{:?}", d.format_changes);
    let outputs = runs.compare_outputs(0, 0).unwrap();

    let plain = config(Precision::Int8)
        .with_calibration_table(TablePolicy::require(&table))
        .returning_timing_cache();
    let first = b.build(&mut net, &plain).unwrap();
    let cache = first
        .timing_cache
        .clone()
        .expect("a build returns its timing cache");
    assert!(!cache.is_empty());
    let started = Instant::now();
    let second = b
        .build(&mut net, &plain.clone().with_timing_cache(cache.clone()))
        .unwrap();
    record(
        "versions_replay_timing_cache",
        json!({
            "tensorrt": v.to_string(),
            "replay_tactic_changes": d.tactic_changes.len(),
            "replay_outputs": format!("{outputs:?}"),
            "timing_cache_bytes": cache.len(),
            "timing_cache_refused": second.timing_cache_refused(),
            "build_without_cache_s": first.build_time.as_secs_f64(),
            "build_with_cache_s": started.elapsed().as_secs_f64(),
        }),
    );
}

/// Version and hardware compatibility (TensorRT >= 8.6; refused before TensorRT on 8.5): a
/// version-compatible plan without the lean runtime, loaded back by this runtime with the plan's
/// host code allowed, and an Ampere+ plan that runs.
#[test]
fn v03_version_and_hardware_compatible_plans() {
    let v = version();
    let b = builder();
    let mut net = b.network_from_onnx_file(model()).unwrap();
    let vc = config(Precision::Fp32)
        .with_version_compatible(true)
        .with_exclude_lean_runtime(true);
    let hw = config(Precision::Fp32).with_hardware_compatibility(HardwareCompatibility::AmperePlus);
    if (v.major(), v.minor()) < (8, 6) {
        for cfg in [vc, hw] {
            let e = b.build(&mut net, &cfg).unwrap_err().to_string();
            assert!(e.contains("TensorRT 8.6 or later"), "{e}");
        }
    } else {
        compatible_plans_build_and_load(&b, &mut net, vc, hw);
    }
}

/// 8.6 and later: the plans of both compatibility modes build, load and run.
fn compatible_plans_build_and_load(
    b: &trt::Builder,
    net: &mut trt::Network,
    vc: trt::BuildConfig,
    hw: trt::BuildConfig,
) {
    let v = version();
    let with_lean = b.build(net, &config(Precision::Fp32).with_version_compatible(true));
    let vc_out = b.build(net, &vc).unwrap();
    let path = own_dir().join("fashion.vc.engine");
    std::fs::write(&path, &vc_out.plan).unwrap();
    let rt = Runtime::new().unwrap();
    let load = bundle::try_load(&path, &rt, true);
    // The same bytes without allowing host code: what TensorRT says then.
    let strict_rt = Runtime::new().unwrap();
    let without_host_code = strict_rt.load(&path).err().map(|e| e.to_string());

    let hw_out = b.build(net, &hw).unwrap();
    let hw_engine = deserialize(&hw_out.plan);
    let acc_hw = fashion_accuracy(&hw_engine);

    // A bundle of the version-compatible plan, for the lean runtimes to try.
    let report_path = own_dir().join("fashion.vc.engine.report.json");
    let vc_engine = if load.loaded {
        Some(rt.load(&path).unwrap())
    } else {
        None
    };
    if let Some(e) = &vc_engine {
        trt::report::BuildReport::from_engine(e, &vc, Some(&vc_out))
            .unwrap()
            .save(&report_path)
            .unwrap();
    }
    record(
        "versions_compatibility",
        json!({
            "tensorrt": v.to_string(),
            "version_compatible_with_lean": with_lean.as_ref().map(|o| o.plan.len()).map_err(|e| e.to_string()),
            "version_compatible_without_lean_bytes": vc_out.plan.len(),
            "vc_build_s": vc_out.build_time.as_secs_f64(),
            "loaded_by_own_runtime": load.to_string(),
            "without_host_code": without_host_code,
            "hardware_compatible_bytes": hw_out.plan.len(), "hw_build_s": hw_out.build_time.as_secs_f64(),
            "hardware_compatible_accuracy": acc_hw,
        }),
    );
    if let Err(e) = &with_lean {
        assert!(e.missing_lean_runtime(), "{e}");
    }
    assert!(load.loaded, "{load}");
    assert!(acc_hw > 0.85, "Ampere+ engine accuracy {acc_hw}");
    bundle::create_bundle(
        &BundleSources {
            engine: path.clone(),
            report: Some(report_path),
            onnx: Some(model()),
            loaded_by: vec![load],
            ..Default::default()
        },
        &Target::current(0).unwrap(),
        own_dir().join("bundle-vc"),
        true,
    )
    .unwrap();
}

/// Another version's table on this one: the same major.minor builds from it without
/// calibrating and agrees with the other version's engine on the 512 test images; another
/// major.minor is refused before TensorRT builds anything.
#[test]
#[ignore = "needs TRT_TEST_PEER: another TensorRT version's v01 output"]
fn peer_01_a_table_of_another_version() {
    let (v, peer) = (version(), peer_dir());
    let table = peer.join("fashion.calib");
    let theirs = trt::table::CalibrationTable::read(&table).unwrap();
    assert_ne!(theirs.version, v, "the peer is another TensorRT version");
    let b = builder();
    let mut net = b.network_from_onnx_file(model()).unwrap();
    let cfg = config(Precision::Int8).with_calibration_table(TablePolicy::require(&table));
    let mut calibrator = fashion_calibrator();
    let r = b.build_calibrated(&mut net, &cfg, &mut calibrator);
    if theirs.version.is_table_compatible(&v) {
        agrees_with_the_peer(r.unwrap(), &theirs, &peer);
    } else {
        let e = r.unwrap_err().to_string();
        record(
            "peer_table",
            json!({ "tensorrt": v.to_string(), "table_of": theirs.version.to_string(), "refused": e }),
        );
        assert!(
            e.contains(&theirs.version.to_string()) && e.contains("Recalibrate"),
            "{e}"
        );
    }
}

/// A build from a sibling patch's table: no calibration, and the peer's engine's answers.
fn agrees_with_the_peer(
    out: trt::BuildOutput,
    theirs: &trt::table::CalibrationTable,
    peer: &std::path::Path,
) {
    let v = version();
    assert_eq!(
        out.get_batch_calls, 0,
        "a table of {} used without calibrating",
        theirs.version
    );
    let ours = fashion_logits(&deserialize(&out.plan));
    let theirs_logits = read_logits(peer.join("fashion.int8.logits.npy"));
    let (top1, _, cos) = agreement(&theirs_logits, &ours);
    let max_abs = theirs_logits
        .iter()
        .flatten()
        .zip(ours.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    record(
        "peer_table",
        json!({ "tensorrt": v.to_string(), "table_of": theirs.version.to_string(),
                "top1_agreement": top1, "cosine": cos, "max_abs": max_abs }),
    );
    assert!(
        top1 >= 0.97,
        "top-1 agreement with {}'s engine: {top1}",
        theirs.version
    );
    assert!(cos > 0.99, "cosine with {}'s engine: {cos}", theirs.version);
}

/// Another version's engine: `verify_bundle` refuses it before TensorRT sees it; forced on
/// TensorRT anyway, the runtime refuses it in its own words, with our explanation.
#[test]
#[ignore = "needs TRT_TEST_PEER: another TensorRT version's v01 output"]
fn peer_02_an_engine_of_another_version() {
    let (v, peer) = (version(), peer_dir());
    let gpu = GpuInfo::of_device(0).unwrap();
    let verdict = bundle::verify_bundle(peer.join("bundle"), v, gpu.compute_capability).unwrap();
    assert!(!verdict.accepted());
    assert!(
        verdict
            .refusals
            .iter()
            .any(|r| matches!(r, bundle::Refusal::TensorRtVersion { .. })),
        "{:?}",
        verdict.refusals
    );
    let plan = verdict
        .rebuild_plan()
        .expect("a plan to rebuild from the bundle's table");
    assert!(plan.table.is_some());

    let forced = Runtime::new().unwrap().load(peer.join("fashion.engine"));
    let e = forced
        .err()
        .expect("TensorRT took another version's engine")
        .to_string();
    record(
        "peer_engine",
        json!({ "tensorrt": v.to_string(), "engine_of": verdict.manifest.tensorrt_version.to_string(),
                "verify_bundle": verdict.refusals.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                "tensorrt_forced": e }),
    );
    assert!(e.contains("from another TensorRT"), "{e}");
}
