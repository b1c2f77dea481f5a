//! Shared by the GPU tests: where the real models and data are, and small evaluation helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use ndarray::{s, Array4, ArrayD, Axis};
use trt::data::{Input, Preprocess, Resize, Spec};
use trt::{BuildConfig, Builder, DataCalibrator, Engine, Precision, Runtime, TacticSources};

/// Root of the generated assets (`scripts/make_models.sh` writes `.device/models`, `.device/data`).
pub fn assets() -> PathBuf {
    std::env::var_os("TRT_TEST_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".device"))
}

/// A required file: GPU tests fail loudly when their inputs are missing.
pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/make_models.sh (or set TRT_TEST_ASSETS) before the gpu tests",
        path.display()
    );
    path
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn out_dir() -> PathBuf {
    let dir = std::env::var_os("TRT_TEST_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("trt-gpu-tests"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Prints a result and appends it to `results.jsonl` in the output folder (for the notes).
pub fn record(test: &str, value: serde_json::Value) {
    let line = serde_json::json!({ "test": test, "result": value });
    println!("RESULT {line}");
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out_dir().join("results.jsonl"))
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

static LOG: Once = Once::new();

pub fn builder() -> Builder {
    LOG.call_once(|| {
        let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .is_test(true)
            .try_init();
    });
    Builder::new().expect("gpu feature on: TensorRT and a GPU must be available (set TRT_LIB_DIR)")
}

/// The GPU machine has no cuBLAS/cuDNN: TensorRT's own kernels only.
pub fn config(precision: Precision) -> BuildConfig {
    BuildConfig::new(precision)
        .with_tactic_sources(TacticSources::tensorrt_only())
        .with_workspace(1 << 30)
}

/// EfficientNet-Lite0 / ResNet preprocessing: RGB, short side 256, centre crop 224, (x-127)/128.
pub fn imagenet() -> Preprocess {
    Preprocess::rgb()
        .with_resize(Resize::ShortSideCrop {
            short_side: 256,
            crop_width: 224,
            crop_height: 224,
        })
        .with_mean([127.0, 127.0, 127.0])
        .with_scale([1.0 / 128.0; 3])
}

pub fn photos(range: std::ops::Range<usize>) -> Vec<PathBuf> {
    let dir = require(assets().join("data/photos"));
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    assert!(
        all.len() >= range.end,
        "{} has {} photos, need {}",
        dir.display(),
        all.len(),
        range.end
    );
    all[range].to_vec()
}

pub fn photo_spec(input: &str, range: std::ops::Range<usize>, batch: usize) -> Spec {
    Spec::new(batch).with_input(Input::image_list(input, photos(range), imagenet()))
}

/// Runs every batch of `spec` through `engine` (input `input`, output `output`); one row of logits per sample.
pub fn logits(engine: &Engine, spec: &Spec, input: &str, output: &str) -> Vec<Vec<f32>> {
    let stream = cudarc::driver::CudaContext::new(0)
        .unwrap()
        .new_stream()
        .unwrap();
    let mut ctx = engine.create_context(stream).unwrap();
    let mut rows = Vec::new();
    for batch in spec.open().unwrap() {
        let batch = batch.unwrap();
        let outs = ctx.run(&[(input, batch.get(input).unwrap())]).unwrap();
        let (_, out) = outs.into_iter().find(|(n, _)| n == output).unwrap();
        let out: ArrayD<f32> = out.into_array().unwrap();
        for row in out.axis_iter(Axis(0)).take(batch.real_samples()) {
            rows.push(row.iter().copied().collect());
        }
    }
    rows
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

pub fn top5(v: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(5);
    idx
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Agreement of `int8` with `fp32`: (top-1 agreement, top-5 overlap, mean cosine).
pub fn agreement(fp32: &[Vec<f32>], int8: &[Vec<f32>]) -> (f64, f64, f64) {
    let n = fp32.len() as f64;
    let top1 = fp32
        .iter()
        .zip(int8)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count() as f64
        / n;
    let top5 = fp32
        .iter()
        .zip(int8)
        .map(|(a, b)| {
            let (ta, tb) = (top5(a), top5(b));
            ta.iter().filter(|x| tb.contains(x)).count() as f64 / 5.0
        })
        .sum::<f64>()
        / n;
    let cos = fp32
        .iter()
        .zip(int8)
        .map(|(a, b)| cosine(a, b))
        .sum::<f64>()
        / n;
    (top1, top5, cos)
}

pub fn deserialize(plan: &[u8]) -> Engine {
    Runtime::new().unwrap().deserialize(plan).unwrap()
}

pub const FASHION_MEAN: f32 = 0.2860 * 255.0;
pub const FASHION_STD: f32 = 0.3530 * 255.0;

/// The 32 committed Fashion-MNIST calibration images, grey, normalized, batches of 8.
pub fn fashion_spec() -> Spec {
    let pre = Preprocess::gray()
        .with_mean([FASHION_MEAN])
        .with_std([FASHION_STD]);
    Spec::new(8).with_input(Input::images(
        "image",
        require(repo("models/fashion-mnist/calib")),
        pre,
    ))
}

/// Entropy2 over [`fashion_spec`].
pub fn fashion_calibrator() -> DataCalibrator<trt::data::Pipeline> {
    DataCalibrator::new(fashion_spec().open().unwrap())
}

/// The engine's logits for the 512 committed Fashion-MNIST test images, one row per image.
pub fn fashion_logits(engine: &Engine) -> Vec<Vec<f32>> {
    let images: ndarray::Array3<u8> =
        ndarray_npy::read_npy(repo("models/fashion-mnist/test_images.npy")).unwrap();
    let stream = cudarc::driver::CudaContext::new(0)
        .unwrap()
        .new_stream()
        .unwrap();
    let mut ctx = engine.create_context(stream).unwrap();
    let mut rows = Vec::new();
    for b in 0..images.len_of(Axis(0)) / 8 {
        let chunk = images.slice(s![b * 8..b * 8 + 8, .., ..]);
        let x: Array4<f32> = Array4::from_shape_fn((8, 1, 28, 28), |(n, _, y, x)| {
            (chunk[[n, y, x]] as f32 - FASHION_MEAN) / FASHION_STD
        });
        let out = ctx.run(&[("image", x.into_dyn().view())]).unwrap();
        let logits = out[0].1.as_array::<f32>().unwrap();
        for n in 0..8 {
            rows.push(logits.index_axis(Axis(0), n).iter().copied().collect());
        }
    }
    rows
}

/// Accuracy of an engine on the 512 committed Fashion-MNIST test images.
pub fn fashion_accuracy(engine: &Engine) -> f64 {
    let labels: ndarray::Array1<u8> =
        ndarray_npy::read_npy(repo("models/fashion-mnist/test_labels.npy")).unwrap();
    let rows = fashion_logits(engine);
    let correct = rows
        .iter()
        .zip(labels.iter())
        .filter(|(r, &l)| argmax(r) == l as usize)
        .count();
    correct as f64 / rows.len() as f64
}
