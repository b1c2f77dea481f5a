//! Time of `Pipeline::check` (decode every image, in parallel) on photo-like JPEGs of about
//! 256 px, made from the committed fixture photo.
//!
//! `cargo bench -p trt-calib-data --bench check` (`CALIB_CHECK_IMAGES=128`, `CALIB_CHECK_SIDE=256`)

use std::time::Instant;

use trt_calib_data::{Input, Preprocess, Resize, Spec};

fn main() {
    let n: usize = std::env::var("CALIB_CHECK_IMAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    let side: u32 = std::env::var("CALIB_CHECK_SIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let dir = std::env::temp_dir().join(format!("calib-check-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let photo = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chelsea_150x100.png"
    ))
    .expect("fixture")
    .to_rgb8();
    // 256 x 171 (3:2, like a photo), every image a little different so no two files are equal.
    let (w, h) = (side, side * 2 / 3);
    let mut bytes = 0;
    for i in 0..n {
        let mut img = image::imageops::resize(&photo, w, h, image::imageops::FilterType::Triangle);
        for (x, y, p) in img.enumerate_pixels_mut() {
            if (x + y) as usize % 17 == i % 17 {
                p.0[0] = p.0[0].wrapping_add(i as u8);
            }
        }
        let path = dir.join(format!("{i:04}.jpg"));
        img.save_with_format(&path, image::ImageFormat::Jpeg)
            .expect("write jpeg");
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    let spec = Spec::new(8).with_input(Input::images(
        "data",
        &dir,
        Preprocess::rgb().with_resize(Resize::ShortSideCrop {
            short_side: 256,
            crop_width: 224,
            crop_height: 224,
        }),
    ));
    let mut best = f64::INFINITY;
    for pass in 0..6 {
        // A fresh pipeline each time: the check decodes once per pipeline.
        let mut p = spec.open().expect("open");
        let t = Instant::now();
        let report = p.check(&[]).expect("check");
        let s = t.elapsed().as_secs_f64();
        assert_eq!(report.images_checked, n);
        if pass > 0 {
            best = best.min(s); // pass 0 warms the page cache and the rayon pool
        }
    }
    let threads = rayon::current_num_threads();
    println!(
        "check: {n} JPEGs of {w}x{h} ({} KiB), {threads} rayon threads: best {:.1} ms ({:.0} images/s)",
        bytes / 1024,
        best * 1e3,
        n as f64 / best
    );
    println!("RESULT check_ms={:.2}", best * 1e3);
    let _ = std::fs::remove_dir_all(&dir);
}
