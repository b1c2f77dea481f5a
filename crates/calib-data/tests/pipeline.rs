//! Batching, joining inputs, order, bad data.

use std::path::{Path, PathBuf};

use ndarray::{array, Axis};
use trt_calib_data::{
    BatchSource, DType, Error, FirstBatches, Input, LastBatch, OnBadFile, Preprocess, Resize, Spec,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh folder with `n` 8x6 PNGs whose red channel is the image number (`img_00.png`, ...).
fn numbered_images(test: &str, n: u8) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calib-data-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        image::RgbImage::from_pixel(8, 6, image::Rgb([i, 50, 200]))
            .save(dir.join(format!("img_{i:02}.png")))
            .unwrap();
    }
    dir
}

/// Red value (= image number) of every sample of every batch, in order.
fn red_values(mut src: impl BatchSource) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(b) = src.next_batch() {
        let b = b.unwrap();
        let a = b.get("data").unwrap();
        out.push(a.axis_iter(Axis(0)).map(|s| s[[0, 0, 0]] as u8).collect());
    }
    out
}

fn images(dir: &Path) -> Input {
    Input::images("data", dir, Preprocess::rgb())
}

#[test]
fn file_name_order_drop_and_pad() {
    let dir = numbered_images("order", 10);
    let drop = Spec::new(4).with_input(images(&dir)).open().unwrap();
    assert_eq!(drop.batch_count(), 2);
    assert_eq!(red_values(drop), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);

    let pad = Spec::new(4)
        .with_input(images(&dir))
        .with_last_batch(LastBatch::Pad)
        .open()
        .unwrap();
    assert_eq!(pad.batch_count(), 3);
    assert_eq!(
        pad.input_shapes(),
        &[("data".to_string(), vec![4, 3, 6, 8])]
    );
    let mut pad = pad;
    let batches: Vec<_> = std::iter::from_fn(|| pad.next_batch())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches[2].real_samples(), 2);
    assert_eq!(
        batches[2]
            .get("data")
            .unwrap()
            .axis_iter(Axis(0))
            .map(|s| s[[0, 0, 0]] as u8)
            .collect::<Vec<_>>(),
        [8, 9, 9, 9]
    );

    // reset starts over.
    pad.reset().unwrap();
    assert_eq!(red_values(pad)[0], vec![0, 1, 2, 3]);
}

#[test]
fn shuffle_is_deterministic_and_limit_applies_after_it() {
    let dir = numbered_images("shuffle", 12);
    let run = |seed| {
        red_values(
            Spec::new(3)
                .with_input(images(&dir))
                .with_shuffle_seed(seed)
                .open()
                .unwrap(),
        )
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    let mut all: Vec<u8> = a.concat();
    assert_ne!(all, (0..12).collect::<Vec<_>>());
    all.sort();
    assert_eq!(all, (0..12).collect::<Vec<_>>());
    // Pinned: SplitMix64 + Fisher-Yates is ours, so the order must never change.
    assert_eq!(a.concat(), PINNED_SEED_7);

    let limited = red_values(
        Spec::new(3)
            .with_input(images(&dir))
            .with_shuffle_seed(7)
            .with_limit(6)
            .open()
            .unwrap(),
    );
    assert_eq!(limited.concat(), a.concat()[..6]);
}

const PINNED_SEED_7: [u8; 12] = [10, 11, 5, 1, 7, 4, 8, 2, 9, 6, 0, 3];

#[test]
fn npy_and_npz_join_with_images_by_name() {
    let dir = numbered_images("join", 4);
    let spec = Spec::new(2)
        .with_input(images(&dir))
        .with_input(Input::npy("im_info", fixture("im_info_4.npy")))
        .with_input(Input::npz("boxes", fixture("extra_4.npz"), "boxes"))
        .with_input(Input::npz("ids", fixture("extra_4.npz"), "ids"));
    let mut src = spec.open().unwrap();
    assert_eq!(
        src.input_shapes(),
        &[
            ("data".to_string(), vec![2, 3, 6, 8]),
            ("im_info".to_string(), vec![2, 3]),
            ("boxes".to_string(), vec![2, 2, 2]),
            ("ids".to_string(), vec![2]),
        ]
    );
    let _ = src.next_batch().unwrap().unwrap();
    let b = src.next_batch().unwrap().unwrap();
    assert_eq!(
        b.get("im_info").unwrap(),
        array![[50.0f32, 75.0, 2.0], [10.0, 20.0, 3.0]].into_dyn()
    );
    assert_eq!(
        b.as_slice("boxes").unwrap(),
        &[8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    );
    // `ids` is int64 in the file and nothing asks for another type: it stays int64.
    assert_eq!(
        src.input_dtypes(),
        [
            ("data".to_string(), DType::F32),
            ("im_info".to_string(), DType::F32),
            ("boxes".to_string(), DType::F32),
            ("ids".to_string(), DType::I64),
        ]
    );
    assert_eq!(b.dtype("ids"), Some(DType::I64));
    assert_eq!(b.slice::<i64>("ids").unwrap(), &[2, 3]);
    assert!(b.as_slice("ids").is_none(), "not f32");
    assert_eq!(b.get("data").unwrap()[[1, 0, 0, 0]], 3.0);
    assert!(b.get("nope").is_none());
    assert!(src.next_batch().is_none());
}

#[test]
fn raw_f32_input() {
    let path = std::env::temp_dir().join(format!("calib-data-raw-{}.f32", std::process::id()));
    let bytes: Vec<u8> = (0..12)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let mut src = Spec::new(2)
        .with_input(Input::raw("x", &path, [2, 3]))
        .open()
        .unwrap();
    assert_eq!(src.input_shapes()[0].1, vec![2, 2, 3]);
    assert_eq!(
        src.next_batch().unwrap().unwrap().get("x").unwrap()[[1, 1, 2]],
        5.5
    );
    // 13 floats is not a whole number of 6-float samples.
    std::fs::write(&path, [0u8; 52]).unwrap();
    let err = Spec::new(2)
        .with_input(Input::raw("x", &path, [2, 3]))
        .open()
        .unwrap_err();
    assert!(err.to_string().contains("calib-data-raw"), "{err}");
}

#[test]
fn mismatched_counts_name_the_inputs() {
    let dir = numbered_images("mismatch", 5);
    let err = Spec::new(2)
        .with_input(images(&dir))
        .with_input(Input::npy("im_info", fixture("im_info_4.npy")))
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::SampleCountMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "inputs yield different numbers of samples: `data` has 5, `im_info` has 4"
    );
}

#[test]
fn corrupt_image_is_an_error_naming_it_or_skipped() {
    let dir = numbered_images("corrupt", 4);
    std::fs::write(
        dir.join("img_01_bad.jpg"),
        b"\xff\xd8\xff\xe0 definitely not a jpeg",
    )
    .unwrap();
    let mut src = Spec::new(5).with_input(images(&dir)).open().unwrap();
    let err = src.next_batch().unwrap().unwrap_err();
    assert!(err.to_string().contains("img_01_bad.jpg"), "{err}");
    assert!(src.next_batch().is_none(), "the stream ends after an error");

    let skip = Spec::new(2)
        .with_input(images(&dir))
        .with_on_bad_file(OnBadFile::Skip)
        .open()
        .unwrap();
    assert_eq!(red_values(skip), vec![vec![0, 1], vec![2, 3]]);
}

#[test]
fn toml_spec_resolves_paths_and_rejects_typos() {
    let dir = numbered_images("toml", 4);
    std::fs::copy(fixture("im_info_4.npy"), dir.join("im_info.npy")).unwrap();
    let toml = r#"
        batch_size = 2
        last_batch = "pad"
        [[input]]
        name = "data"
        images = "."
        resize = { short_side = 4, crop = [4, 4] }
        channel_order = "bgr"
        mean = [102.9801, 115.9465, 122.7717]
        scale = 1
        layout = "nhwc"
        [[input]]
        name = "im_info"
        npy = "im_info.npy"
    "#;
    std::fs::write(dir.join("calib.toml"), toml).unwrap();
    let spec = Spec::from_toml_file(dir.join("calib.toml")).unwrap();
    assert_eq!(
        spec.inputs()[0].preprocess().unwrap().resize(),
        Resize::ShortSideCrop {
            short_side: 4,
            crop_width: 4,
            crop_height: 4
        }
    );
    let mut src = spec.open().unwrap();
    assert_eq!(src.input_shapes()[0].1, vec![2, 4, 4, 3]);
    let b = src.next_batch().unwrap().unwrap();
    // Uniform image: BGR => channel 0 is blue (200).
    assert_eq!(b.get("data").unwrap()[[0, 1, 1, 0]], 200.0 - 102.9801);

    let typo = toml.replace("channel_order", "chanel_order");
    let err = Spec::from_toml_str(&typo, &dir).unwrap_err().to_string();
    assert!(err.contains("chanel_order"), "{err}");
    let bad_mean = toml.replace("mean = [102.9801, 115.9465, 122.7717]", "mean = [1.0, 2.0]");
    let err = Spec::from_toml_str(&bad_mean, &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`data`") && err.contains("mean"), "{err}");
}

#[test]
fn no_resize_needs_equal_sizes() {
    let dir = numbered_images("sizes", 3);
    image::RgbImage::new(9, 6)
        .save(dir.join("img_02.png"))
        .unwrap();
    let err = red_values_result(Spec::new(3).with_input(images(&dir)).open().unwrap());
    assert!(err.contains("img_02.png") && err.contains("9x6"), "{err}");
}

fn red_values_result(mut src: impl BatchSource) -> String {
    match src.next_batch() {
        Some(Err(e)) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn first_batches_stops_early_checks_everything_and_starts_again() {
    let dir = numbered_images("first", 10);
    let mut src = Spec::new(3).with_input(images(&dir)).open().unwrap();
    let mut first = FirstBatches::new(&mut src, 2);
    assert_eq!(first.batch_count(), 2);
    let report = first.check(&[]).unwrap();
    assert_eq!(
        (report.batches, report.samples, report.images_checked),
        (2, 6, 10)
    );
    let mut seen = Vec::new();
    while let Some(b) = first.next_batch() {
        let b = b.unwrap();
        seen.push(
            b.get("data")
                .unwrap()
                .axis_iter(Axis(0))
                .map(|s| s[[0, 0, 0]] as u8)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(seen, vec![vec![0, 1, 2], vec![3, 4, 5]]);
    first.reset().unwrap();
    assert_eq!(red_values(first), vec![vec![0, 1, 2], vec![3, 4, 5]]);
    // It goes on from where the source stands (after the second batch); more than the source
    // has gives all of it.
    assert_eq!(
        red_values(FirstBatches::new(&mut src, 9)),
        vec![vec![6, 7, 8]]
    );
    src.reset().unwrap();
    assert_eq!(red_values(FirstBatches::new(&mut src, 9)).len(), 3);
}
