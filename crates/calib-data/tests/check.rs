//! `Pipeline::check`: the whole data set before any batch; bad files listed or skipped.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::Axis;
use trt_calib_data::{
    BadFileKind, BatchSource, DType, Error, Expected, Input, LastBatch, OnBadFile, Preprocess,
    Resize, Spec,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh folder with `n` 8x6 RGB PNGs whose red channel is the image number (`img_00.png`, ...).
fn numbered_images(test: &str, n: u8) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calib-check-{test}-{}", std::process::id()));
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
fn red_values(src: &mut impl BatchSource) -> Vec<Vec<u8>> {
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

fn check_failure(e: Error) -> trt_calib_data::CheckFailure {
    match e {
        Error::Check(f) => *f,
        other => panic!("expected a check failure, got {other}"),
    }
}

/// The chelsea fixture photo encoded as a JPEG and cut to its first 3000 bytes.
fn truncated_jpeg() -> Vec<u8> {
    let photo = image::open(fixture("chelsea_150x100.png"))
        .unwrap()
        .to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&photo)
        .unwrap();
    assert!(jpeg.len() > 5000, "{} bytes", jpeg.len());
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    jpeg.truncate(3000);
    jpeg
}

// ---- log capture (for the skip warnings) -----------------------------------------------------

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
struct Capture;
impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            LOG.lock()
                .unwrap()
                .push(format!("{} {}", r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}
fn capture_logs() {
    static CAPTURE: Capture = Capture;
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Warn);
}
fn warnings_about(what: &str) -> Vec<String> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(what))
        .cloned()
        .collect()
}

// ---- tests -----------------------------------------------------------------------------------

#[test]
fn grey_among_colour_names_the_file_and_the_fix() {
    let dir = numbered_images("grey", 6);
    image::GrayImage::from_pixel(8, 6, image::Luma([90]))
        .save(dir.join("img_03_grey.png"))
        .unwrap();
    let mut src = Spec::new(2).with_input(images(&dir)).open().unwrap();
    let err = src.check(&[]).unwrap_err();
    let text = err.to_string();
    let f = check_failure(err);
    assert_eq!(f.bad_files.len(), 1, "{text}");
    assert_eq!(f.bad_files[0].kind, BadFileKind::Channels);
    assert_eq!(f.bad_files[0].path, dir.join("img_03_grey.png"));
    assert!(
        text.contains("img_03_grey.png (input `data`): has 1 channel(s), the input has 3"),
        "{text}"
    );
    assert!(
        text.contains("`convert_channels = true` for input `data`")
            && text.contains("--convert-channels"),
        "{text}"
    );

    // With conversion the same folder passes, and the grey image is replicated into 3 channels.
    let mut src = Spec::new(7)
        .with_input(Input::images(
            "data",
            &dir,
            Preprocess::rgb().with_convert_channels(true),
        ))
        .open()
        .unwrap();
    let report = src.check(&[]).unwrap();
    assert_eq!(
        (report.samples, report.batches, report.images_checked),
        (7, 1, 7)
    );
    let b = src.next_batch().unwrap().unwrap();
    let grey = b.get("data").unwrap().index_axis(Axis(0), 4).to_owned();
    assert_eq!(
        (grey[[0, 2, 2]], grey[[1, 2, 2]], grey[[2, 2, 2]]),
        (90.0, 90.0, 90.0)
    );
}

#[test]
fn text_file_in_the_second_batch_is_found_before_any_batch() {
    let dir = numbered_images("text", 8);
    // File-name order puts it at position 5: the second batch of 4.
    std::fs::write(dir.join("img_04_x.jpg"), "this is not an image\n").unwrap();
    let mut src = Spec::new(4).with_input(images(&dir)).open().unwrap();
    let f = check_failure(src.check(&[]).unwrap_err());
    assert_eq!(f.bad_files.len(), 1);
    assert_eq!(f.bad_files[0].kind, BadFileKind::Undecodable);
    assert_eq!(f.bad_files[0].sample, 5);
    assert!(f.bad_files[0].path.ends_with("img_04_x.jpg"));
    assert!(
        f.fixes.iter().any(|x| x.contains("on_bad_file = \"skip\"")),
        "{:?}",
        f.fixes
    );

    // Skipped: left out before batching, so the counts are exact and nothing fails later.
    let mut src = Spec::new(4)
        .with_input(images(&dir))
        .with_on_bad_file(OnBadFile::Skip)
        .open()
        .unwrap();
    assert_eq!(src.batch_count(), 2, "9 files, before the check");
    let report = src.check(&[]).unwrap();
    assert_eq!((report.samples, report.batches), (8, 2));
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].kind, BadFileKind::Undecodable);
    assert_eq!(src.batch_count(), 2);
    assert_eq!(
        red_values(&mut src),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
    );
}

#[test]
fn the_image_crate_accepts_a_truncated_jpeg_so_we_check_the_end_marker() {
    let cut = truncated_jpeg();
    // Measured: the decoder fills the missing rows and reports nothing.
    let decoded = image::load_from_memory(&cut).expect("the decoder accepts it");
    assert_eq!((decoded.width(), decoded.height()), (150, 100));

    capture_logs();
    let dir = numbered_images("truncated", 5);
    std::fs::write(dir.join("img_02_cut.jpg"), &cut).unwrap();

    // Default policy: an error, found by the check ...
    let mut src = Spec::new(2).with_input(images(&dir)).open().unwrap();
    let err = src.check(&[]).unwrap_err();
    let text = err.to_string();
    let f = check_failure(err);
    assert_eq!(f.bad_files.len(), 1, "{text}");
    assert_eq!(f.bad_files[0].kind, BadFileKind::Truncated);
    assert!(
        text.contains("img_02_cut.jpg (input `data`): the JPEG data ends (3000 bytes)")
            && text.contains("before the end-of-image marker (FF D9)"),
        "{text}"
    );
    // ... and by the batch that holds it when nobody checked (it is sized 150x100, not 8x6,
    // so give every image one size).
    let pre = Preprocess::rgb().with_resize(Resize::Exact {
        width: 8,
        height: 6,
    });
    let mut src = Spec::new(6)
        .with_input(Input::images("data", &dir, pre.clone()))
        .open()
        .unwrap();
    let err = src.next_batch().unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Truncated { .. }) && err.to_string().contains("img_02_cut.jpg"),
        "{err}"
    );

    // Skip: a warning naming the file, and the report counts it.
    let mut src = Spec::new(2)
        .with_input(Input::images("data", &dir, pre))
        .with_on_bad_file(OnBadFile::Skip)
        .open()
        .unwrap();
    let report = src.check(&[]).unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].kind, BadFileKind::Truncated);
    assert_eq!((report.samples, report.batches), (5, 2));
    let warned = warnings_about("img_02_cut.jpg");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("end-of-image marker"), "{warned:?}");
    let batches: Vec<_> = std::iter::from_fn(|| src.next_batch())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 2);
}

#[test]
fn a_whole_jpeg_passes() {
    let dir = std::env::temp_dir().join(format!("calib-check-jpeg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("chelsea_150x100.jpg"), dir.join("a.jpg")).unwrap();
    // Data appended after the end-of-image marker (phones do this) is fine.
    let mut appended = std::fs::read(fixture("chelsea_150x100.jpg")).unwrap();
    appended.extend_from_slice(&[0x55; 4096]);
    std::fs::write(dir.join("b.jpg"), appended).unwrap();
    let mut src = Spec::new(2).with_input(images(&dir)).open().unwrap();
    let report = src.check(&[]).unwrap();
    assert_eq!((report.images_checked, report.batches), (2, 1));
}

#[test]
fn every_problem_in_one_error_against_the_network() {
    let dir = numbered_images("network", 2);
    std::fs::write(dir.join("img_00_bad.png"), b"\x89PNG\r\n\x1a\n broken").unwrap();
    image::RgbImage::new(9, 6)
        .save(dir.join("img_01_wide.png"))
        .unwrap();
    let mut src = Spec::new(3)
        .with_input(images(&dir).with_dtype(DType::F32))
        .with_input(Input::npy("im_info", fixture("im_info_4.npy")).with_dtype(DType::F32))
        .open()
        .unwrap();
    let expected = [
        Expected::new("data", [2, 3, 6, 10], DType::F16),
        Expected::new("im_info", [2, 3], DType::F32),
        Expected::new("scale", [2, 1], DType::F32),
    ];
    let err = src.check(&expected).unwrap_err();
    let text = err.to_string();
    let f = check_failure(err);
    let kinds: Vec<_> = f.bad_files.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [BadFileKind::Undecodable, BadFileKind::Size],
        "{text}"
    );
    assert!(text.contains("img_01_wide.png (input `data`): is 9x6, the input's first image is 8x6 and there is no resize"), "{text}");
    assert_eq!(f.problems.len(), 4, "{text}");
    assert!(
        f.problems[0].contains(
            "the network input `scale` has no calibration data; the data has: data, im_info"
        ),
        "{text}"
    );
    assert!(
        f.problems[1].starts_with(
            "batch_size is 3 but the network's batch dimension is 2: set `batch_size = 2`"
        ),
        "{text}"
    );
    assert!(
        f.problems[2]
            .contains("input `data`: one sample is [3, 6, 8], the network expects [3, 6, 10]"),
        "{text}"
    );
    assert!(
        f.problems[3].contains("input `data`: the data is float32, the network expects float16"),
        "{text}"
    );
    assert!(text.contains("fix: give the input a `resize`"), "{text}");
}

#[test]
fn a_check_follows_the_network_dtype_and_a_second_check_only_compares() {
    let dir = numbered_images("follow", 4);
    let mut src = Spec::new(2).with_input(images(&dir)).open().unwrap();
    let first = src.check(&[]).unwrap();
    assert_eq!(first.inputs[0].dtype, DType::F32);
    // The network takes float16: the input has no dtype of its own, so it follows.
    let second = src
        .check(&[Expected::new("data", [2, 3, 6, 8], DType::F16)])
        .unwrap();
    assert_eq!(second.inputs[0].dtype, DType::F16);
    assert_eq!(
        (second.images_checked, second.seconds),
        (first.images_checked, first.seconds)
    );
    assert_eq!(src.input_dtypes(), [("data".to_string(), DType::F16)]);
    let b = src.next_batch().unwrap().unwrap();
    assert_eq!(b.dtype("data"), Some(DType::F16));
    assert_eq!(b.bytes("data").unwrap().len(), 2 * 3 * 6 * 8 * 2);
    let v = b.view::<trt_calib_data::f16>("data").unwrap();
    assert_eq!(v[[1, 0, 0, 0]].to_f32(), 1.0);
    assert_eq!(v[[1, 2, 0, 0]].to_f32(), 200.0);
    // After a batch was taken, a check restarts the stream from the first batch.
    src.check(&[]).unwrap();
    let again = src.next_batch().unwrap().unwrap();
    assert_eq!(again.index(), 0);

    // Integer network inputs cannot be fed from images.
    let mut src = Spec::new(2).with_input(images(&dir)).open().unwrap();
    let f = check_failure(
        src.check(&[Expected::new("data", [2, 3, 6, 8], DType::I32)])
            .unwrap_err(),
    );
    assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
    assert!(
        f.problems[0].contains(
            "the network input is int32, but images are preprocessed into float32 or float16"
        ),
        "{:?}",
        f.problems
    );
}

#[test]
fn skip_with_pad_and_limit_counts_exactly() {
    let dir = numbered_images("skippad", 7);
    std::fs::write(dir.join("img_00_bad.bmp"), b"BM nope").unwrap();
    std::fs::write(dir.join("img_05_bad.png"), b"nope").unwrap();
    // 9 files, the first 8 used (limit), two of them bad: 6 samples, batches of 4, padded.
    let mut src = Spec::new(4)
        .with_input(images(&dir))
        .with_limit(8)
        .with_last_batch(LastBatch::Pad)
        .with_on_bad_file(OnBadFile::Skip)
        .open()
        .unwrap();
    let report = src.check(&[]).unwrap();
    assert_eq!((report.samples, report.batches), (6, 2));
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|b| b.path.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(skipped, ["img_00_bad.bmp", "img_05_bad.png"]);
    assert_eq!(
        red_values(&mut src),
        vec![vec![0, 1, 2, 3], vec![4, 5, 5, 5]]
    );
}

#[test]
fn skip_without_a_check_still_skips_during_batching() {
    let dir = numbered_images("nocheck", 5);
    std::fs::write(dir.join("img_01_cut.jpg"), truncated_jpeg()).unwrap();
    let pre = Preprocess::rgb().with_resize(Resize::Exact {
        width: 8,
        height: 6,
    });
    let mut src = Spec::new(2)
        .with_input(Input::images("data", &dir, pre))
        .with_on_bad_file(OnBadFile::Skip)
        .open()
        .unwrap();
    // 6 files: an upper bound of 3 batches; the truncated file is left out as it comes.
    assert_eq!(src.batch_count(), 3);
    assert_eq!(red_values(&mut src), vec![vec![0, 1], vec![2, 3]]);
}

#[test]
fn custom_sources_get_the_comparison() {
    struct Fixed(Vec<(String, Vec<usize>)>);
    impl BatchSource for Fixed {
        fn next_batch(&mut self) -> Option<trt_calib_data::Result<trt_calib_data::Batch>> {
            None
        }
        fn batch_count(&self) -> usize {
            3
        }
        fn batch_size(&self) -> usize {
            4
        }
        fn input_shapes(&self) -> &[(String, Vec<usize>)] {
            &self.0
        }
        fn input_dtypes(&self) -> Vec<(String, DType)> {
            vec![("ids".into(), DType::I64)]
        }
        fn reset(&mut self) -> trt_calib_data::Result<()> {
            Ok(())
        }
    }
    let mut s = Fixed(vec![("ids".into(), vec![4, 7])]);
    let r = s
        .check(&[Expected::new("ids", [4, 7], DType::I64)])
        .unwrap();
    assert_eq!(
        (r.batches, r.samples, r.inputs[0].source),
        (3, 12, "custom")
    );
    let f = check_failure(
        s.check(&[Expected::new("ids", [4, 7], DType::I32)])
            .unwrap_err(),
    );
    assert_eq!(
        f.problems,
        ["input `ids`: the data is int64, the network expects int32; set `dtype = \"int32\"` for it (or remove its `dtype`, so that it follows the network)"]
    );
}
