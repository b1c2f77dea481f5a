//! GPU tests of the calibration stability report (`trt::stability`) on Fashion-MNIST: our
//! percentile method through one FP32 collection engine, and TensorRT's Entropy2 with one
//! calibrated build per variant. Behind the `gpu` feature; they fail (never skip) when TensorRT
//! or the GPU is missing.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test --release --features gpu --test gpu_stability -- --test-threads=1
#![cfg(feature = "gpu")]

mod common;

use common::*;
use serde_json::json;
use trt::stability::{stability_of_calibrator, stability_of_method, StabilityOptions};
use trt::stats::stability::TableStability;
use trt::stats::{Method, Passes};
use trt::{
    collect_activations, table_from_activations, CalibrationAlgorithm, CollectOptions, Network,
    Precision, TablePolicy,
};

const CALIB_IMAGES: usize = 32;
const K: usize = 3;

fn fashion_network(b: &trt::Builder) -> Network {
    b.network_from_onnx_file(require(repo("models/fashion-mnist/fashion_mnist.onnx")))
        .unwrap()
}

/// Two-pass histograms count the same values whatever the order, so percentile thresholds of
/// order-only variants (the Fashion-MNIST network fixes the batch at 8) can only move by what
/// the FP32 engine computes differently for a sample in another batch position: nothing, or
/// rounding. The reference equals `collect_activations` on the same data.
#[test]
fn gpu_stability_01_percentile_is_order_invariant_through_one_engine() {
    let b = builder();
    let mut net = fashion_network(&b);
    let method = Method::Percentile(99.99);
    let collect = CollectOptions::new().with_passes(Passes::Two);
    let config = config(Precision::Fp32);
    let run = stability_of_method(
        &b,
        &mut net,
        &fashion_spec(),
        &collect,
        method,
        &config,
        &StabilityOptions::new(K),
    )
    .unwrap();

    assert_eq!(run.engines_built, 1);
    assert!(
        run.fixed_batch
            .as_deref()
            .is_some_and(|w| w.contains("fixed batch dimension (8)")),
        "{:?}",
        run.fixed_batch
    );
    assert_eq!(run.variants.len(), K);
    for (i, v) in run.variants.iter().enumerate() {
        assert_eq!(v.variant.shuffle_seed, Some(i as u64 + 1));
        assert_eq!(v.variant.batch_size, 8);
        assert_eq!((v.batches, v.samples), (CALIB_IMAGES / 8, CALIB_IMAGES));
    }
    assert_eq!(run.reference.variant.label, "file order, batch 8");
    assert_eq!(run.reference.batches, CALIB_IMAGES / 8);

    let acts = run.reference_activations.as_ref().unwrap();
    let tables = &run.report.tables;
    assert_eq!(tables.reference_tensors, acts.collector.tensors().len());
    assert_eq!(tables.tensors.len(), run.reference_table.entries.len());
    assert!(tables.reference_tensors >= 5, "{tables:?}");
    assert!(
        tables.max_move < 1e-3,
        "order-only variants moved a percentile scale by {} ({:?})",
        tables.max_move,
        tables.tensors.first()
    );
    assert!(run.report.is_stable());
    for v in &tables.variants {
        assert!(v.missing.is_empty() && v.extra.is_empty(), "{v:?}");
    }
    let health = run.report.histograms.as_ref().unwrap();
    assert_eq!(health.checked, tables.reference_tensors);

    // The reference is what collect_activations gives (another FP32 build: equal up to
    // rounding of other tactics).
    let mut data = fashion_spec().open().unwrap();
    let direct = collect_activations(&b, &mut net, &mut data, &collect, &config).unwrap();
    let direct = table_from_activations(&direct, method, b.library().version()).unwrap();
    let same = TableStability::compare(
        &direct,
        [("stability reference", &run.reference_table)],
        1e-3,
    );
    assert!(same.is_stable(), "{:?}", same.tensors.first());

    record(
        "gpu_stability_01",
        json!({
            "method": method.to_string(),
            "variants": run.variants.iter().map(|v| &v.variant.label).collect::<Vec<_>>(),
            "tensors": tables.reference_tensors,
            "max_move": tables.max_move,
            "reference_vs_collect_activations_max_move": same.max_move,
            "unhealthy": health.unhealthy.iter().map(|t| json!({
                "tensor": t.tensor,
                "problems": t.problems,
                "first_bin_share": t.first_bin_share,
                "top_bin_share": t.top_bin_share,
                "clipped_share": t.clipped_share,
                "occupied_bins": t.occupied_bins,
            })).collect::<Vec<_>>(),
            "engine_build_s": run.engine_build_seconds,
            "reference_collect_s": run.reference.seconds,
            "variants_collect_s": run.variants.iter().map(|v| v.seconds).sum::<f64>(),
            "total_s": run.seconds,
        }),
    );
}

/// TensorRT's Entropy2, one calibrated build per variant: the report covers every tensor of
/// the reference table (written where the config's table policy says); how far Entropy2 moves
/// with the order is measured and recorded, not asserted.
#[test]
fn gpu_stability_02_entropy2_report_covers_the_reference_table() {
    let b = builder();
    let mut net = fashion_network(&b);
    let path = out_dir().join("stability_entropy2_reference.calib");
    let _ = std::fs::remove_file(&path);
    let cfg = config(Precision::Int8).with_calibration_table(TablePolicy::recalibrate(&path));
    let run = stability_of_calibrator(
        &b,
        &mut net,
        &fashion_spec(),
        CalibrationAlgorithm::Entropy2,
        &cfg,
        &StabilityOptions::new(2),
    )
    .unwrap();

    let written = trt::table::CalibrationTable::read(&path).unwrap();
    assert_eq!(written, run.reference_table);
    assert_eq!(
        written.algorithm,
        trt::table::Algorithm::EntropyCalibration2
    );
    let tables = &run.report.tables;
    let mut reported: Vec<&str> = tables.tensors.iter().map(|t| t.tensor.as_str()).collect();
    let mut expected: Vec<&str> = written.entries.iter().map(|e| e.tensor.as_str()).collect();
    reported.sort_unstable();
    expected.sort_unstable();
    assert_eq!(reported, expected);
    assert!(expected.len() >= 5, "{expected:?}");
    assert!(
        run.report.histograms.is_none(),
        "TensorRT exposes no histograms"
    );
    assert_eq!(run.variants.len(), 2);
    for v in &run.variants {
        assert_eq!(v.batches, CALIB_IMAGES / 8, "{v:?}");
    }
    assert_eq!(run.reference.batches, CALIB_IMAGES / 8);
    assert_eq!(run.report.is_stable(), tables.is_stable());

    record(
        "gpu_stability_02",
        json!({
            "calibration": run.report.calibration,
            "tensors": tables.reference_tensors,
            "max_move": tables.max_move,
            "moving": tables.moving().iter().map(|t| json!({
                "tensor": t.tensor, "max_move": t.max_move, "variant": t.worst_variant,
            })).collect::<Vec<_>>(),
            "stable": run.report.is_stable(),
            "variants": tables.variants.iter().map(|v| json!({
                "label": v.label, "max_move": v.max_move, "worst": v.worst_tensor,
                "missing": v.missing.len(), "extra": v.extra.len(),
            })).collect::<Vec<_>>(),
            "reference_build_s": run.reference.seconds,
            "variant_builds_s": run.variants.iter().map(|v| v.seconds).collect::<Vec<_>>(),
        }),
    );
}
