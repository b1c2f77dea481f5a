//! The threshold plot and a ranking on synthetic activations:
//! `cargo run -p trt-plot --example 01-thresholds -- OUT_DIR`.
//!
//! A heavy-tailed tensor (Laplace-like values with a few outliers) goes through a two-pass
//! `trt_calib_stats::Collector`; its histogram is drawn with the thresholds of the four methods,
//! and the methods are ranked by how far each clips below MinMax.

use trt_calib_stats::{Collector, Method};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    // Deterministic Laplace(0, 1) by inverse CDF over an even grid, plus rare outliers.
    let n = 200_000;
    let data: Vec<f32> = (0..n)
        .map(|i| {
            let u = (i as f64 + 0.5) / n as f64;
            let x = if u < 0.5 {
                (2.0 * u).ln()
            } else {
                -(2.0 * (1.0 - u)).ln()
            };
            let x = if i % 50_000 == 7 { x * 4.0 + 20.0 } else { x };
            x as f32
        })
        .collect();
    let mut c = Collector::two_pass();
    c.add("conv1_out", &data)?;
    c.finish_range_pass();
    c.add("conv1_out", &data)?;
    let t = c.get("conv1_out").unwrap();
    let methods = [
        Method::MinMax,
        Method::Entropy,
        Method::Percentile(99.99),
        Method::Mse,
    ];
    let mut thresholds = Vec::new();
    for m in methods {
        thresholds.push((m.to_string(), m.threshold(&t.name, &t.stats, &t.histogram)?));
    }
    let path = dir.join("conv1_out.svg");
    trt_plot::histogram_svg(
        &path,
        &t.name,
        t.histogram.counts(),
        t.histogram.amax(),
        &thresholds,
    )?;
    println!("{}", path.display());
    let minmax = thresholds[0].1 as f64;
    let clipped: Vec<(String, f64)> = thresholds
        .iter()
        .map(|(m, a)| (m.clone(), 100.0 * (1.0 - *a as f64 / minmax)))
        .collect();
    let path = dir.join("clipping.svg");
    trt_plot::ranking_svg(
        &path,
        "conv1_out: how far below MinMax each method clips",
        &clipped,
        "% of max |x| clipped",
    )?;
    println!("{}", path.display());
    Ok(())
}
