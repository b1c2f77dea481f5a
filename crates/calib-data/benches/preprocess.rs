//! Throughput of decode + resize (short side 256, INTER_LINEAR-exact) + centre crop 224 +
//! normalise, through the whole pipeline (rayon + prefetch), in images/s.
//!
//! `CALIB_BENCH_IMAGES=/tmp/calib-bench-images cargo bench -p trt-calib-data --bench preprocess`
//! (`benches/compare.sh` makes the images and runs the OpenCV baseline too.)

use std::time::Instant;

use trt_calib_data::{BatchSource, Input, Preprocess, Resize, Spec};

fn main() {
    let dir =
        std::env::var("CALIB_BENCH_IMAGES").unwrap_or_else(|_| "/tmp/calib-bench-images".into());
    let passes: usize = std::env::var("CALIB_BENCH_PASSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let pre = Preprocess::rgb()
        .with_resize(Resize::ShortSideCrop {
            short_side: 256,
            crop_width: 224,
            crop_height: 224,
        })
        .with_mean([123.675, 116.28, 103.53])
        .with_std([58.395, 57.12, 57.375]);
    let batch: usize = std::env::var("CALIB_BENCH_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let spec = Spec::new(batch)
        .with_input(Input::images("data", &dir, pre))
        .with_last_batch(trt_calib_data::LastBatch::Pad);
    let mut src = match spec.open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "{e}\n(run benches/compare.sh, or set CALIB_BENCH_IMAGES to a folder of JPEGs)"
            );
            std::process::exit(1);
        }
    };
    let n = src.sample_count();
    let mut checksum = 0f64;
    let mut run = |src: &mut trt_calib_data::Pipeline| {
        let t = Instant::now();
        while let Some(b) = src.next_batch() {
            let b = b.expect("batch");
            checksum += b.as_slice("data").map(|s| s[0] as f64).unwrap_or(0.0);
        }
        t.elapsed().as_secs_f64()
    };
    run(&mut src); // warm-up (page cache, rayon pool)
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..passes {
        src.reset().expect("reset");
        let s = run(&mut src);
        best = best.min(s);
        total += s;
    }
    let threads = rayon::current_num_threads();
    println!(
        "ours: {n} images, {passes} passes, {threads} rayon threads: best {:.1} images/s, mean {:.1} images/s (checksum {checksum:.3})",
        n as f64 / best,
        n as f64 * passes as f64 / total
    );
    println!("RESULT ours_images_per_s={:.1}", n as f64 / best);
    println!(
        "RESULT ours_images_per_s_mean={:.1}",
        n as f64 * passes as f64 / total
    );
}
