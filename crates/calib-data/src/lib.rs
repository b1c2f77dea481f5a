//! Calibration data for TensorRT INT8: images and arrays in, preprocessed named batches out.
//!
//! Replaces hand-written `BatchStream` code: describe the inputs once (in Rust or in a TOML
//! file shared with the `trt` CLI), and get `[N, ...]` batches in each input's dtype (float32,
//! float16, int32, int64, int8, uint8, bool), one contiguous buffer per network input, prepared
//! in parallel ahead of time. [`Pipeline::check`] decodes the whole set first and lists every bad
//! file at once, before TensorRT spends minutes building.
//!
//! | Concept | Type | What it is |
//! |---|---|---|
//! | Data set | [`Spec`] | batch size, order (shuffle seed, limit), last batch, bad-file policy, inputs; [`Spec::from_toml_file`] |
//! | Network input | [`Input`] | a binding name plus a [`Source`]: image folder/list, `.npy`, `.npz` array, raw; [`Input::with_dtype`] |
//! | Element type | [`DType`] | float32, float16, int32, int64, int8, uint8, bool; arrays convert only when exact; [`Spec::with_default_dtype`] takes the network's |
//! | Image preprocessing | [`Preprocess`] | [`Resize`], [`Interpolation`] (OpenCV-exact linear), [`ChannelOrder`], mean, scale/std, [`Layout`] |
//! | Running pipeline | [`Pipeline`] | from [`Spec::open`]; rayon decoding, bounded prefetch thread |
//! | Whole-set check | [`Pipeline::check`] | against [`Expected`] (name, shape, dtype): every image decoded, bad files listed or skipped; [`CheckReport`], [`CheckFailure`] |
//! | Consumer interface | [`BatchSource`] | `next_batch`, `batch_count`, `input_shapes`, `input_dtypes`, `check`, `reset`: what a calibrator needs |
//! | One batch | [`Batch`] | per input: [`Batch::bytes`] (what goes to the device), [`Batch::dtype`], [`Batch::view`] / [`Batch::typed`], [`Batch::get`] (f32) |
//! | Failure | [`Error`] | names the file or the inputs; nothing panics on bad data |
//!
//! Samples are taken in file-name order (or the given list/array order), optionally shuffled
//! with a seed (SplitMix64 + Fisher-Yates, stable across platforms and versions), then cut to
//! `limit`. Every input must yield the same number of samples; sample `i` of every input forms
//! one calibration sample. A partial last batch is dropped or padded by repeating its last sample.
//!
//! ```
//! use trt_calib_data::{BatchSource, DType, Expected, Input, Preprocess, Resize, Spec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("calib-data-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # for i in 0..4u8 {
//! #     image::RgbImage::from_pixel(32, 24, image::Rgb([10 * i, 100, 200])).save(dir.join(format!("{i}.png")))?;
//! # }
//! // Four 32x24 PNGs in `dir`; the seed case: BGR, Caffe mean, resized to 16x16.
//! let pre = Preprocess::bgr()
//!     .with_mean([102.9801, 115.9465, 122.7717])
//!     .with_scale(1.0)
//!     .with_resize(Resize::Exact { width: 16, height: 16 });
//! let mut source = Spec::new(2).with_input(Input::images("data", &dir, pre)).open()?;
//! // Decode every image and compare with what the network takes, before any batch.
//! let report = source.check(&[Expected::new("data", [2, 3, 16, 16], DType::F32)])?;
//! assert_eq!((report.samples, report.batches, report.skipped.len()), (4, 2, 0));
//!
//! assert_eq!(source.batch_count(), 2);
//! assert_eq!(source.input_shapes()[0], ("data".to_string(), vec![2, 3, 16, 16]));
//! while let Some(batch) = source.next_batch() {
//!     let batch = batch?;
//!     let data = batch.get("data").unwrap();
//!     // Channel 0 is blue: 200 - 102.9801.
//!     assert_eq!(data[[0, 0, 5, 5]], 200.0 - 102.9801);
//!     // What a calibrator copies to the device: one contiguous N*C*H*W buffer.
//!     assert_eq!(batch.dtype("data"), Some(DType::F32));
//!     assert_eq!(batch.bytes("data").unwrap().len(), 2 * 3 * 16 * 16 * 4);
//! }
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! The TOML form (relative paths resolve against the TOML file's folder):
//!
//! ```toml
//! batch_size = 8
//! limit = 64              # optional: use at most 64 samples (after shuffling)
//! shuffle_seed = 7        # optional
//! last_batch = "drop"     # or "pad" (repeat the last sample)
//! on_bad_file = "error"   # or "skip" (log::warn! and leave the sample out of every input)
//! prefetch = 2            # optional: batches prepared ahead
//!
//! [[input]]
//! name = "data"
//! images = "calib/"       # a folder (sorted by file name) or a list: ["a.jpg", "b.png"]
//! resize = { short_side = 256, crop = [224, 224] }   # or { width = 224, height = 224 }; omit for none
//! interpolation = "linear"    # "linear" (= cv2 INTER_LINEAR), "nearest", "antialias"
//! channel_order = "bgr"       # "rgb", "bgr" or "gray" (1 channel); required for images
//! mean = [102.9801, 115.9465, 122.7717]   # one value or one per channel, 0..255 units
//! scale = 1.0                 # (x - mean) * scale; or std = [...] for (x - mean) / std
//! layout = "nchw"             # or "nhwc"
//! convert_channels = false    # true: gray <-> colour conversion instead of an error
//! dtype = "float32"           # optional: or "float16" (images give floats only)
//!
//! [[input]]
//! name = "im_info"
//! npy = "im_info.npy"     # or npz = "x.npz" + array = "name", or raw = "x.bin" + shape = [3]
//! dtype = "int32"         # optional: the network's type; default: the network's when known
//!                         # (Spec::with_default_dtype), else the array's own (raw: float32)
//! ```
//!
//! Arrays load in their own type and convert to the input's dtype only when exact: integers are
//! range-checked (int64 -> int32 names the first value out of range and its index), integers
//! become floats only when the float holds them exactly, floats never become integers, float64
//! -> float32 and float32 -> float16 round to nearest (overflow to infinity is an error).
#![warn(missing_docs)]

mod arrays;
mod check;
mod dtype;
mod error;
mod pipeline;
mod pixels;
mod spec;

pub use check::{
    BadFile, BadFileKind, CheckFailure, CheckReport, Expected, InputInfo, LISTED_BAD_FILES,
};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use half::f16;
pub use pipeline::{Batch, BatchSource, FirstBatches, Pipeline, SplitMix64, TypedView};
pub use spec::{
    ChannelOrder, Input, Interpolation, LastBatch, Layout, OnBadFile, PerChannel, Preprocess,
    Resize, Source, Spec,
};
