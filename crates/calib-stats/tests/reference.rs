//! Thresholds against known answers computed independently, by numpy, in
//! `tests/ref/make_reference.py` (committed with its output, `tests/ref/reference.json`).

mod common;

use serde_json::Value;
use trt_calib_stats::{entropy, mse, percentile, Collector, Histogram, Method, Stats, BINS};

fn reference() -> Value {
    serde_json::from_str(include_str!("ref/reference.json")).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn histogram(case: &Value) -> Histogram {
    let counts: Vec<u64> = case["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    Histogram::from_counts(&counts, f(&case["amax"]) as f32).unwrap()
}

/// The same 1M float32 Gaussian values as numpy's; a two-pass histogram's interpolated
/// percentiles are within one bin width (absmax / 2048 = 0.0024) of numpy's exact sample
/// percentiles, and within 5 standard errors (+ a bin) of the analytic |N(0,1)| quantiles.
#[test]
fn gaussian_percentiles_match_numpy_within_a_bin() {
    let r = &reference()["gaussian"];
    let x = common::gaussian(
        r["seed"].as_u64().unwrap(),
        r["n"].as_u64().unwrap() as usize,
    );
    let mut c = Collector::two_pass();
    for batch in x.chunks(65_536) {
        c.add("g", batch).unwrap();
    }
    c.finish_range_pass();
    for batch in x.chunks(65_536) {
        c.add("g", batch).unwrap();
    }
    let t = c.get("g").unwrap();
    // Same samples: numpy's max |x| is ours, bit for bit.
    assert_eq!(t.stats.absmax, f(&r["absmax"]) as f32);
    let width = t.histogram.bin_width();
    assert!((width - 4.9647 / 2048.0).abs() < 1e-6);
    for p in r["percentiles"].as_array().unwrap() {
        let pct = f(&p["p"]);
        let ours = percentile(&t.histogram, pct).unwrap() as f64;
        let sample = f(&p["sample"]);
        assert!(
            (ours - sample).abs() <= width,
            "p{pct}: histogram {ours} vs numpy {sample} (bin width {width})"
        );
        let analytic = f(&p["analytic"]);
        let tol = 5.0 * f(&p["standard_error"]) + width;
        assert!(
            (ours - analytic).abs() <= tol,
            "p{pct}: {ours} vs analytic {analytic}"
        );
        // Through the collector, the same (capped at absmax, which is far above).
        let via = c.thresholds(Method::Percentile(pct)).unwrap()[0].amax as f64;
        assert_eq!(via, ours);
    }
    // 99.99: the Gaussian's 3.8906 (numpy's sample: 3.8859).
    let p9999 = c.thresholds(Method::Percentile(99.99)).unwrap()[0].amax;
    assert!((p9999 - 3.8859).abs() < 0.003, "{p9999}");
}

/// MinMax of a uniform on [-1.5, 2.5): numpy's min, max and max |x| exactly, one pass or two.
#[test]
fn uniform_minmax_is_numpys_exactly() {
    let r = &reference()["uniform"];
    let u = common::uniform(
        r["seed"].as_u64().unwrap(),
        r["n"].as_u64().unwrap() as usize,
        f(&r["low"]),
        f(&r["high"]),
    );
    let s = Stats::of("u", &u).unwrap();
    assert_eq!(s.min, f(&r["min"]) as f32);
    assert_eq!(s.max, f(&r["max"]) as f32);
    assert_eq!(s.absmax, f(&r["absmax"]) as f32);
    assert_eq!(s.absmax, 2.4999902);
    let mut c = Collector::one_pass();
    for batch in u.chunks(1000) {
        c.add("u", batch).unwrap();
    }
    assert_eq!(c.thresholds(Method::MinMax).unwrap()[0].amax, s.absmax);
}

/// Entropy on crafted histograms: the bin pytorch-quantization's recipe (ported to numpy
/// line by line) chooses, exactly; the threshold is that bin's upper edge.
#[test]
fn entropy_matches_the_numpy_port_of_pytorch_quantization() {
    let cases = reference()["entropy"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 2);
    for case in &cases {
        let h = histogram(case);
        let bins = case["bins"].as_u64().unwrap() as usize;
        let ours = trt_calib_stats::entropy_bin(h.counts(), 128, 128);
        assert_eq!(ours, bins, "{}", case["name"]);
        assert_eq!(
            entropy(&h),
            f(&case["threshold"]) as f32,
            "{}",
            case["name"]
        );
    }
    // The answers themselves, so a regenerated reference that moved would be noticed.
    assert_eq!(cases[0]["bins"], 625);
    assert_eq!(cases[1]["bins"], 1840);
}

/// MSE on a crafted Laplace-like histogram with outliers: numpy's bin exactly, threshold the
/// bin's centre.
#[test]
fn mse_matches_the_numpy_port() {
    let case = &reference()["mse"];
    let h = histogram(case);
    assert_eq!(
        trt_calib_stats::mse_bin(h.counts(), 128),
        case["bin"].as_u64().unwrap() as usize
    );
    assert_eq!(case["bin"], 1418);
    assert_eq!(mse(&h), f(&case["threshold"]) as f32);
    assert_eq!(mse(&h), (1418.5 * 8.0 / BINS as f64) as f32);
}

/// One pass over the same Gaussian: the range grows to a power-of-two multiple of the first
/// batch's, so bins are wider, but percentiles are still within one (wider) bin of numpy's,
/// and the entropy and MSE thresholds stay within 1% of the two-pass ones.
#[test]
fn one_pass_gaussian_thresholds_stay_close_to_two_pass() {
    let r = &reference()["gaussian"];
    let x = common::gaussian(
        r["seed"].as_u64().unwrap(),
        r["n"].as_u64().unwrap() as usize,
    );
    let mut one = Collector::one_pass();
    let mut two = Collector::two_pass();
    for batch in x.chunks(65_536) {
        one.add("g", batch).unwrap();
        two.add("g", batch).unwrap();
    }
    two.finish_range_pass();
    for batch in x.chunks(65_536) {
        two.add("g", batch).unwrap();
    }
    let h1 = &one.get("g").unwrap().histogram;
    let h2 = &two.get("g").unwrap().histogram;
    assert_eq!(h1.total(), 1_000_000);
    assert!(h1.amax() > h2.amax(), "{} vs {}", h1.amax(), h2.amax());
    for p in r["percentiles"].as_array().unwrap() {
        let ours = percentile(h1, f(&p["p"])).unwrap() as f64;
        assert!(
            (ours - f(&p["sample"])).abs() <= h1.bin_width(),
            "p{}: {ours}",
            p["p"]
        );
    }
    for method in [Method::Entropy, Method::Mse] {
        let a1 = one.thresholds(method).unwrap()[0].amax;
        let a2 = two.thresholds(method).unwrap()[0].amax;
        // Measured: entropy 4.8405 vs 4.8386, MSE 3.9575 vs 3.9259 (its minimum is flat).
        assert!(
            (a1 / a2 - 1.0).abs() < 0.01,
            "{method:?}: one pass {a1}, two passes {a2}"
        );
    }
}
