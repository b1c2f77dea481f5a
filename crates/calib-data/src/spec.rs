//! What to read and how to preprocess it: [`Spec`], [`Input`], [`Preprocess`], and the TOML form.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

/// Channel order of an image input; `Gray` means one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Three channels, red first (what decoders produce).
    Rgb,
    /// Three channels, blue first (OpenCV / Caffe convention).
    Bgr,
    /// One channel.
    Gray,
}

impl ChannelOrder {
    /// 1 for [`ChannelOrder::Gray`], else 3.
    pub fn channels(self) -> usize {
        match self {
            ChannelOrder::Gray => 1,
            _ => 3,
        }
    }
}

/// Memory layout of one image sample in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[N, C, H, W]` (planar; what most ONNX image models take).
    #[default]
    Nchw,
    /// `[N, H, W, C]` (interleaved).
    Nhwc,
}

/// Resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Bit-exact `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` on 8-bit images
    /// (same coordinate mapping, same 11-bit fixed-point weights and rounding; no antialiasing).
    #[default]
    Linear,
    /// Bit-exact `cv2.INTER_NEAREST`.
    Nearest,
    /// Antialiased bilinear (filter widened on downscale, like PIL's `Image.resize(BILINEAR)`),
    /// computed by `fast_image_resize` with SIMD. Not pixel-identical to OpenCV.
    Antialias,
}

/// Geometry applied to each decoded image before normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resize {
    /// Keep the decoded size; every image of the input must then have the same size.
    #[default]
    None,
    /// Resize to exactly `width` x `height` (aspect ratio not kept).
    Exact {
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
    },
    /// Resize so that the short side is `short_side` (long side `floor(long * short_side / short + 0.5)`),
    /// then cut a centred `crop_width` x `crop_height` window (offset `floor((resized - crop) / 2)`).
    ShortSideCrop {
        /// Target length of the short side.
        short_side: u32,
        /// Crop width.
        crop_width: u32,
        /// Crop height.
        crop_height: u32,
    },
}

/// Per-channel values (mean, scale, std). One value applies to every channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PerChannel(pub Vec<f32>);

impl From<f32> for PerChannel {
    fn from(v: f32) -> Self {
        PerChannel(vec![v])
    }
}
impl<const N: usize> From<[f32; N]> for PerChannel {
    fn from(v: [f32; N]) -> Self {
        PerChannel(v.to_vec())
    }
}
impl From<Vec<f32>> for PerChannel {
    fn from(v: Vec<f32>) -> Self {
        PerChannel(v)
    }
}
impl From<&[f32]> for PerChannel {
    fn from(v: &[f32]) -> Self {
        PerChannel(v.to_vec())
    }
}

impl PerChannel {
    /// The value for channel `c` (a single value is broadcast).
    pub(crate) fn get(&self, c: usize) -> f32 {
        if self.0.len() == 1 {
            self.0[0]
        } else {
            self.0[c]
        }
    }
    fn check(&self, what: &str, channels: usize) -> Result<()> {
        if self.0.len() == 1 || self.0.len() == channels {
            Ok(())
        } else {
            Err(Error::spec(format!(
                "`{what}` has {} values but the input has {channels} channel(s); give 1 or {channels}",
                self.0.len()
            )))
        }
    }
}

/// How one image input becomes floats: resize, channel order, `(x - mean) * scale` or
/// `(x - mean) / std` per channel (x in 0..=255), layout.
///
/// ```
/// use trt_calib_data::{Preprocess, Resize};
/// // The Caffe/Detectron seed case: BGR, mean subtracted, no scaling.
/// let p = Preprocess::bgr().with_mean([102.9801, 115.9465, 122.7717]).with_scale(1.0);
/// // ImageNet-style: short side 256, centre crop 224, RGB, (x - mean) / std.
/// let q = Preprocess::rgb()
///     .with_resize(Resize::ShortSideCrop { short_side: 256, crop_width: 224, crop_height: 224 })
///     .with_mean([123.675, 116.28, 103.53])
///     .with_std([58.395, 57.12, 57.375]);
/// assert_eq!(q.channels(), 3);
/// # let _ = p;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub(crate) order: ChannelOrder,
    pub(crate) resize: Resize,
    pub(crate) interpolation: Interpolation,
    pub(crate) mean: PerChannel,
    /// Scale (multiply) or std (divide), depending on `divide`.
    pub(crate) factor: PerChannel,
    pub(crate) divide: bool,
    pub(crate) layout: Layout,
    pub(crate) convert_channels: bool,
}

impl Preprocess {
    /// Three channels in the given order, mean 0, scale 1, no resize, NCHW, linear interpolation.
    pub fn new(order: ChannelOrder) -> Self {
        Preprocess {
            order,
            resize: Resize::None,
            interpolation: Interpolation::Linear,
            mean: PerChannel(vec![0.0]),
            factor: PerChannel(vec![1.0]),
            divide: false,
            layout: Layout::Nchw,
            convert_channels: false,
        }
    }
    /// RGB output.
    pub fn rgb() -> Self {
        Self::new(ChannelOrder::Rgb)
    }
    /// BGR output.
    pub fn bgr() -> Self {
        Self::new(ChannelOrder::Bgr)
    }
    /// One-channel output.
    pub fn gray() -> Self {
        Self::new(ChannelOrder::Gray)
    }
    /// Per-channel mean, in output channel order, in 0..=255 units.
    #[must_use]
    pub fn with_mean(mut self, mean: impl Into<PerChannel>) -> Self {
        self.mean = mean.into();
        self
    }
    /// Multiply by `scale` after subtracting the mean (replaces any std).
    #[must_use]
    pub fn with_scale(mut self, scale: impl Into<PerChannel>) -> Self {
        self.factor = scale.into();
        self.divide = false;
        self
    }
    /// Divide by `std` after subtracting the mean (replaces any scale).
    #[must_use]
    pub fn with_std(mut self, std: impl Into<PerChannel>) -> Self {
        self.factor = std.into();
        self.divide = true;
        self
    }
    /// Geometry.
    #[must_use]
    pub fn with_resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }
    /// Resampling filter.
    #[must_use]
    pub fn with_interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }
    /// NCHW or NHWC.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }
    /// Convert gray images to 3 channels (replicated) or colour images to 1 channel
    /// (OpenCV's `COLOR_RGB2GRAY` fixed-point weights) instead of failing.
    #[must_use]
    pub fn with_convert_channels(mut self, convert: bool) -> Self {
        self.convert_channels = convert;
        self
    }
    /// Output channels (1 or 3).
    pub fn channels(&self) -> usize {
        self.order.channels()
    }
    /// The channel order.
    pub fn channel_order(&self) -> ChannelOrder {
        self.order
    }
    /// The resize.
    pub fn resize(&self) -> Resize {
        self.resize
    }
    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let c = self.channels();
        self.mean.check("mean", c)?;
        self.factor
            .check(if self.divide { "std" } else { "scale" }, c)?;
        if self.divide && self.factor.0.contains(&0.0) {
            return Err(Error::spec("`std` contains 0"));
        }
        match self.resize {
            Resize::Exact { width, height } if width == 0 || height == 0 => {
                Err(Error::spec("resize width and height must be > 0"))
            }
            Resize::ShortSideCrop {
                short_side,
                crop_width,
                crop_height,
            } => {
                if crop_width == 0 || crop_height == 0 || short_side == 0 {
                    Err(Error::spec("short_side and crop sizes must be > 0"))
                } else if crop_width > short_side || crop_height > short_side {
                    Err(Error::spec(format!(
                        "crop {crop_width}x{crop_height} is larger than short_side {short_side}"
                    )))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Per-sample shape (without N) for a decoded size of `src_w` x `src_h`.
    pub(crate) fn sample_shape(&self, src_w: u32, src_h: u32) -> Vec<usize> {
        let (w, h) = match self.resize {
            Resize::None => (src_w, src_h),
            Resize::Exact { width, height } => (width, height),
            Resize::ShortSideCrop {
                crop_width,
                crop_height,
                ..
            } => (crop_width, crop_height),
        };
        let (c, h, w) = (self.channels(), h as usize, w as usize);
        match self.layout {
            Layout::Nchw => vec![c, h, w],
            Layout::Nhwc => vec![h, w, c],
        }
    }
}

/// Where the samples of one input come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Every `.jpg`/`.jpeg`/`.png`/`.bmp` file (case-insensitive) directly in a folder, sorted by file name.
    ImageDir(PathBuf),
    /// These image files, in this order.
    ImageList(Vec<PathBuf>),
    /// A `.npy` array; axis 0 indexes samples. Any of float32, float64, float16, int64, int32,
    /// int16, int8, uint32, uint16, uint8, bool, loaded in its own type and converted (exactly)
    /// to the input's [`DType`].
    Npy(PathBuf),
    /// The array `array` of a `.npz` file (compressed or not).
    Npz {
        /// The `.npz` file.
        path: PathBuf,
        /// Name of the array inside (without `.npy`).
        array: String,
    },
    /// Raw little-endian elements, samples back to back, each of `sample_shape`; the element
    /// type is the input's explicit dtype ([`Input::with_dtype`], TOML `dtype`), else float32.
    Raw {
        /// The file.
        path: PathBuf,
        /// Shape of one sample.
        sample_shape: Vec<usize>,
    },
}

/// One named network input: a source, plus preprocessing for images.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub(crate) name: String,
    pub(crate) source: Source,
    pub(crate) preprocess: Option<Preprocess>,
    pub(crate) dtype: Option<DType>,
}

impl Input {
    /// Images from a folder (sorted by file name).
    pub fn images(
        name: impl Into<String>,
        dir: impl Into<PathBuf>,
        preprocess: Preprocess,
    ) -> Self {
        Input {
            name: name.into(),
            source: Source::ImageDir(dir.into()),
            preprocess: Some(preprocess),
            dtype: None,
        }
    }
    /// Images from an explicit list.
    pub fn image_list<P: Into<PathBuf>>(
        name: impl Into<String>,
        paths: impl IntoIterator<Item = P>,
        preprocess: Preprocess,
    ) -> Self {
        Input {
            name: name.into(),
            source: Source::ImageList(paths.into_iter().map(Into::into).collect()),
            preprocess: Some(preprocess),
            dtype: None,
        }
    }
    /// A `.npy` array (axis 0 = samples).
    pub fn npy(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Input {
            name: name.into(),
            source: Source::Npy(path.into()),
            preprocess: None,
            dtype: None,
        }
    }
    /// A named array of a `.npz` file.
    pub fn npz(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        array: impl Into<String>,
    ) -> Self {
        Input {
            name: name.into(),
            source: Source::Npz {
                path: path.into(),
                array: array.into(),
            },
            preprocess: None,
            dtype: None,
        }
    }
    /// Raw little-endian data with the given per-sample shape (float32 unless
    /// [`Input::with_dtype`] says otherwise).
    pub fn raw(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        sample_shape: impl Into<Vec<usize>>,
    ) -> Self {
        Input {
            name: name.into(),
            source: Source::Raw {
                path: path.into(),
                sample_shape: sample_shape.into(),
            },
            preprocess: None,
            dtype: None,
        }
    }
    /// The element type the batches of this input have (what the network input takes).
    ///
    /// Without it, the dtype is the one given by [`Spec::with_default_dtype`] (the network's), else
    /// float32 for images and raw files, and an array's own type for `.npy`/`.npz` (float64 gives
    /// float32, int16/uint16 int32, uint32 int64). Arrays convert only when exact (see
    /// [`DType`]); images give float32 or float16 only.
    #[must_use]
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = Some(dtype);
        self
    }
    /// The dtype set with [`Input::with_dtype`] (or TOML `dtype`).
    pub fn dtype(&self) -> Option<DType> {
        self.dtype
    }
    /// The input (binding) name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }
    /// Preprocessing (images only).
    pub fn preprocess(&self) -> Option<&Preprocess> {
        self.preprocess.as_ref()
    }
}

/// What to do with the last, incomplete batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastBatch {
    /// Leave it out.
    #[default]
    Drop,
    /// Fill it up by repeating its last real sample.
    Pad,
}

/// What to do with an image that cannot be used: unreadable, undecodable, truncated, or with
/// the wrong channel count or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadFile {
    /// Fail the batch with an error naming the file.
    #[default]
    Error,
    /// Leave the sample out (for every input) with a `log::warn!`. [`Pipeline::check`] leaves
    /// them out before batches are formed, so that batch counts are exact.
    Skip,
}

/// A whole calibration data set: inputs, batching, order. Open it with [`Spec::open`].
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub(crate) batch_size: usize,
    pub(crate) limit: Option<usize>,
    pub(crate) shuffle_seed: Option<u64>,
    pub(crate) last_batch: LastBatch,
    pub(crate) on_bad_file: OnBadFile,
    pub(crate) prefetch: usize,
    pub(crate) inputs: Vec<Input>,
    pub(crate) default_dtypes: Vec<(String, DType)>,
}

impl Spec {
    /// No inputs yet, file order, no limit, last batch dropped, bad files are errors, 2 batches prefetched.
    pub fn new(batch_size: usize) -> Self {
        Spec {
            batch_size,
            limit: None,
            shuffle_seed: None,
            last_batch: LastBatch::Drop,
            on_bad_file: OnBadFile::Error,
            prefetch: 2,
            inputs: Vec::new(),
            default_dtypes: Vec::new(),
        }
    }
    /// Add an input.
    #[must_use]
    pub fn with_input(mut self, input: Input) -> Self {
        self.inputs.push(input);
        self
    }
    /// Use at most `limit` samples (taken after shuffling).
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Shuffle the samples with a fixed seed (SplitMix64 + Fisher-Yates; same order on every platform).
    #[must_use]
    pub fn with_shuffle_seed(mut self, seed: u64) -> Self {
        self.shuffle_seed = Some(seed);
        self
    }
    /// Another batch size (e.g. to calibrate again with other batches of the same samples).
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Drop or pad the last incomplete batch.
    #[must_use]
    pub fn with_last_batch(mut self, last_batch: LastBatch) -> Self {
        self.last_batch = last_batch;
        self
    }
    /// Fail on, or skip, bad image files.
    #[must_use]
    pub fn with_on_bad_file(mut self, on_bad_file: OnBadFile) -> Self {
        self.on_bad_file = on_bad_file;
        self
    }
    /// Batches prepared ahead by the background thread (at least 1).
    #[must_use]
    pub fn with_prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches.max(1);
        self
    }
    /// The dtype of input `name` when the input has none of its own ([`Input::with_dtype`]):
    /// call it with the network's input types. A name the spec has no input for is ignored.
    #[must_use]
    pub fn with_default_dtype(mut self, name: impl Into<String>, dtype: DType) -> Self {
        let name = name.into();
        self.default_dtypes.retain(|(n, _)| *n != name);
        self.default_dtypes.push((name, dtype));
        self
    }
    /// [`Spec::with_default_dtype`] for several inputs.
    pub fn with_default_dtypes<S: Into<String>>(
        mut self,
        dtypes: impl IntoIterator<Item = (S, DType)>,
    ) -> Self {
        for (n, d) in dtypes {
            self = self.with_default_dtype(n, d);
        }
        self
    }
    /// Fail on bad files, or skip them.
    pub fn on_bad_file(&self) -> OnBadFile {
        self.on_bad_file
    }
    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// The shuffle seed; `None`: file (or array) order.
    pub fn shuffle_seed(&self) -> Option<u64> {
        self.shuffle_seed
    }
    /// The inputs.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// List files, load arrays, check counts and start the prefetch thread.
    pub fn open(&self) -> Result<Pipeline> {
        Pipeline::open(self)
    }

    /// Read a spec from a TOML file; relative paths resolve against the file's folder.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, base).map_err(|e| match e {
            Error::Spec {
                path: None,
                message,
            } => Error::Spec {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })
    }

    /// Parse a spec from TOML text; relative paths resolve against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: impl AsRef<Path>) -> Result<Self> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| Error::spec(e.to_string()))?;
        raw.into_spec(base_dir.as_ref())
    }
}

// ---- TOML form -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    batch_size: usize,
    limit: Option<usize>,
    shuffle_seed: Option<u64>,
    #[serde(default)]
    last_batch: LastBatch,
    #[serde(default)]
    on_bad_file: OnBadFile,
    prefetch: Option<usize>,
    #[serde(default)]
    input: Vec<RawInput>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum Num {
    I(i64),
    F(f64),
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum NumOrList {
    One(Num),
    Many(Vec<Num>),
}

impl NumOrList {
    fn into_per_channel(self) -> PerChannel {
        let f = |n: Num| match n {
            Num::I(i) => i as f32,
            Num::F(f) => f as f32,
        };
        match self {
            NumOrList::One(n) => PerChannel(vec![f(n)]),
            NumOrList::Many(v) => PerChannel(v.into_iter().map(f).collect()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResize {
    width: Option<u32>,
    height: Option<u32>,
    short_side: Option<u32>,
    crop: Option<[u32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    images: Option<StrOrList>,
    npy: Option<String>,
    npz: Option<String>,
    array: Option<String>,
    raw: Option<String>,
    shape: Option<Vec<usize>>,
    channel_order: Option<ChannelOrder>,
    resize: Option<RawResize>,
    interpolation: Option<Interpolation>,
    mean: Option<NumOrList>,
    scale: Option<NumOrList>,
    std: Option<NumOrList>,
    layout: Option<Layout>,
    convert_channels: Option<bool>,
    dtype: Option<DType>,
}

impl RawSpec {
    fn into_spec(self, base: &Path) -> Result<Spec> {
        let mut spec = Spec::new(self.batch_size);
        spec.limit = self.limit;
        spec.shuffle_seed = self.shuffle_seed;
        spec.last_batch = self.last_batch;
        spec.on_bad_file = self.on_bad_file;
        if let Some(p) = self.prefetch {
            spec = spec.with_prefetch(p);
        }
        if self.input.is_empty() {
            return Err(Error::spec("no `[[input]]` table"));
        }
        for input in self.input {
            spec.inputs.push(input.into_input(base)?);
        }
        Ok(spec)
    }
}

impl RawInput {
    fn into_input(self, base: &Path) -> Result<Input> {
        let sources = [
            self.images.is_some(),
            self.npy.is_some(),
            self.npz.is_some(),
            self.raw.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources != 1 {
            return Err(self.err(format!(
                "give exactly one of `images`, `npy`, `npz`, `raw` (found {sources})"
            )));
        }
        if self.images.is_some() {
            return self.into_image_input(base);
        }
        let image_keys = self.channel_order.is_some()
            || self.resize.is_some()
            || self.interpolation.is_some()
            || self.mean.is_some()
            || self.scale.is_some()
            || self.std.is_some()
            || self.layout.is_some()
            || self.convert_channels.is_some();
        if image_keys {
            return Err(self.err(
                "preprocessing keys (channel_order, resize, mean, ...) apply to `images` only"
                    .into(),
            ));
        }
        self.into_array_input(base)
    }

    /// An error about this input.
    fn err(&self, m: String) -> Error {
        Error::spec(format!("input `{}`: {m}", self.name))
    }

    /// An `images` input: its preprocessing, checked.
    fn into_image_input(self, base: &Path) -> Result<Input> {
        if self.array.is_some() || self.shape.is_some() {
            return Err(self.err("`array` and `shape` belong to `npz` and `raw` inputs".into()));
        }
        let order = self.channel_order.ok_or_else(|| {
            self.err("image inputs need `channel_order = \"rgb\"`, `\"bgr\"` or `\"gray\"`".into())
        })?;
        let mut pre = Preprocess::new(order);
        if let Some(r) = &self.resize {
            pre.resize = match *r {
                RawResize {
                    width: Some(width),
                    height: Some(height),
                    short_side: None,
                    crop: None,
                } => Resize::Exact { width, height },
                RawResize {
                    width: None,
                    height: None,
                    short_side: Some(s),
                    crop: Some([w, h]),
                } => Resize::ShortSideCrop {
                    short_side: s,
                    crop_width: w,
                    crop_height: h,
                },
                _ => {
                    return Err(self.err(
                        "`resize` is `{ width = W, height = H }` or \
                                    `{ short_side = S, crop = [W, H] }`"
                            .into(),
                    ))
                }
            };
        }
        if let Some(i) = self.interpolation {
            pre.interpolation = i;
        }
        if let Some(m) = self.mean.clone() {
            pre.mean = m.into_per_channel();
        }
        match (self.scale.clone(), self.std.clone()) {
            (Some(_), Some(_)) => return Err(self.err("give `scale` or `std`, not both".into())),
            (Some(s), None) => pre = pre.with_scale(s.into_per_channel()),
            (None, Some(s)) => pre = pre.with_std(s.into_per_channel()),
            (None, None) => {}
        }
        if let Some(l) = self.layout {
            pre.layout = l;
        }
        if let Some(c) = self.convert_channels {
            pre.convert_channels = c;
        }
        if let Some(d) = self.dtype.filter(|d| !d.is_float()) {
            return Err(self.err(format!(
                "images are preprocessed into float32 or float16, not {d}; \
                 give integer data as an `npy` array instead"
            )));
        }
        pre.validate().map_err(|e| match e {
            Error::Spec { message, .. } => self.err(message),
            other => other,
        })?;
        let source = match self.images {
            Some(StrOrList::One(dir)) => Source::ImageDir(base.join(dir)),
            Some(StrOrList::Many(list)) => {
                Source::ImageList(list.iter().map(|p| base.join(p)).collect())
            }
            None => unreachable!("checked by into_input"),
        };
        Ok(Input {
            name: self.name,
            source,
            preprocess: Some(pre),
            dtype: self.dtype,
        })
    }

    /// An `npy`, `npz` or `raw` input.
    fn into_array_input(self, base: &Path) -> Result<Input> {
        let source = if let Some(p) = &self.npy {
            Source::Npy(base.join(p))
        } else if let Some(p) = &self.npz {
            let array = self
                .array
                .clone()
                .ok_or_else(|| self.err("`npz` needs `array = \"name\"`".into()))?;
            Source::Npz {
                path: base.join(p),
                array,
            }
        } else if let Some(p) = &self.raw {
            let sample_shape = self.shape.clone().ok_or_else(|| {
                self.err("`raw` needs `shape = [...]` (the shape of one sample)".into())
            })?;
            Source::Raw {
                path: base.join(p),
                sample_shape,
            }
        } else {
            return Err(self.err("no source".into()));
        };
        Ok(Input {
            name: self.name,
            source,
            preprocess: None,
            dtype: self.dtype,
        })
    }
}
