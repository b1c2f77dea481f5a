//! Histogram collection throughput and threshold time, as ratios against a plain sum of the
//! same data measured in the same run (so a busy or slow machine shifts both).
//!
//!     cargo bench -p trt-calib-stats --bench histogram
//!
//! Data: 16 Mi float32 Gaussian values (64 MiB) in batches of 1 Mi, one tensor. Each figure is
//! the median of 7 runs. "two-pass" counts the data once: both passes' time over 64 MiB.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use trt_calib_stats::{Collector, Histogram, Method, Stats};

const N: usize = 16 << 20;
const BATCH: usize = 1 << 20;
const RUNS: usize = 7;

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn sum(data: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            lanes[l] += c[l];
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn gbs(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn main() {
    let data = common::gaussian(1, N);
    let bytes = N * 4;
    let base = median(|| {
        for b in data.chunks(BATCH) {
            black_box(sum(black_box(b)));
        }
    });
    let base_gbs = gbs(bytes, base);
    println!(
        "data: {} Mi float32 ({} MiB), batches of {} Mi, median of {RUNS}",
        N >> 20,
        bytes >> 20,
        BATCH >> 20
    );
    println!("{:<34} {:>8} {:>10}", "pass", "GB/s", "vs sum");
    let row = |name: &str, t: Duration| {
        let g = gbs(bytes, t);
        println!("{name:<34} {g:>8.2} {:>9.3}x", g / base_gbs);
    };
    row("baseline: plain sum", base);
    row(
        "stats only (min/max/absmax scan)",
        median(|| {
            for b in data.chunks(BATCH) {
                black_box(Stats::of("t", black_box(b)).unwrap());
            }
        }),
    );
    row(
        "histogram add, fixed range",
        median(|| {
            let mut h = Histogram::fixed(5.0).unwrap();
            for b in data.chunks(BATCH) {
                h.add("t", black_box(b)).unwrap();
            }
            black_box(h.total());
        }),
    );
    row(
        "one-pass collector (stats+hist)",
        median(|| {
            let mut c = Collector::one_pass();
            for b in data.chunks(BATCH) {
                c.add("t", black_box(b)).unwrap();
            }
            black_box(c.tensors().len());
        }),
    );
    row(
        "two-pass collector (both passes)",
        median(|| {
            let mut c = Collector::two_pass();
            for b in data.chunks(BATCH) {
                c.add("t", black_box(b)).unwrap();
            }
            c.finish_range_pass();
            for b in data.chunks(BATCH) {
                c.add("t", black_box(b)).unwrap();
            }
            black_box(c.tensors().len());
        }),
    );
    row(
        "histogram add, batches of 1 Ki",
        median(|| {
            let mut h = Histogram::fixed(5.0).unwrap();
            for b in data.chunks(1024) {
                h.add("t", black_box(b)).unwrap();
            }
            black_box(h.total());
        }),
    );

    // Thresholds of one tensor, from the two-pass histogram of the whole data.
    let mut c = Collector::two_pass();
    c.add("t", &data).unwrap();
    c.finish_range_pass();
    c.add("t", &data).unwrap();
    let t = &c.tensors()[0];
    let sum_1m = median(|| {
        black_box(sum(black_box(&data[..BATCH])));
    });
    println!();
    println!(
        "threshold per tensor; baseline: plain sum of 1 Mi floats = {:.3} ms",
        sum_1m.as_secs_f64() * 1e3
    );
    println!(
        "{:<20} {:>10} {:>12} {:>10}",
        "method", "ms", "vs sum 1Mi", "amax"
    );
    for method in [
        Method::MinMax,
        Method::Percentile(99.99),
        Method::Entropy,
        Method::Mse,
    ] {
        let mut amax = 0.0;
        let time = median(|| {
            amax = method
                .threshold("t", &t.stats, black_box(&t.histogram))
                .unwrap();
        });
        let ms = time.as_secs_f64() * 1e3;
        println!(
            "{:<20} {ms:>10.4} {:>11.2}x {amax:>10.4}",
            format!("{method:?}"),
            time.as_secs_f64() / sum_1m.as_secs_f64()
        );
    }
}
