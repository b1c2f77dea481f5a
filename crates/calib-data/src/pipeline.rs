//! Batching, ordering, parallel preprocessing and bounded prefetch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use half::f16;
use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};
use rayon::prelude::*;

use crate::arrays;
use crate::check::{self, BadFile, BadFileKind, CheckFailure, CheckReport, Expected, InputInfo};
use crate::dtype::{self, Buffer, DType, Element, FileData, SampleMut, Target};
use crate::error::{Error, Result};
use crate::pixels::{self, Pixel};
use crate::spec::{Input, Interpolation, LastBatch, OnBadFile, Preprocess, Resize, Source, Spec};

/// One calibration batch: per input name, an `[N, ...]` array of the input's [`DType`] in one
/// contiguous, standard-layout (C order) buffer.
#[derive(Debug, Clone)]
pub struct Batch {
    index: usize,
    size: usize,
    real: usize,
    inputs: Vec<BatchInput>,
}

#[derive(Debug, Clone)]
struct BatchInput {
    name: String,
    /// Inline for up to 4 dimensions: no allocation per batch.
    shape: IxDyn,
    data: Buffer,
}

/// A read-only `[N, ...]` view of one input of a [`Batch`], in its own element type.
#[derive(Debug, Clone)]
pub enum TypedView<'a> {
    /// float32.
    F32(ArrayViewD<'a, f32>),
    /// float16.
    F16(ArrayViewD<'a, f16>),
    /// int32.
    I32(ArrayViewD<'a, i32>),
    /// int64.
    I64(ArrayViewD<'a, i64>),
    /// int8.
    I8(ArrayViewD<'a, i8>),
    /// uint8.
    U8(ArrayViewD<'a, u8>),
    /// bool.
    Bool(ArrayViewD<'a, bool>),
}

impl TypedView<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TypedView::F32(_) => DType::F32,
            TypedView::F16(_) => DType::F16,
            TypedView::I32(_) => DType::I32,
            TypedView::I64(_) => DType::I64,
            TypedView::I8(_) => DType::I8,
            TypedView::U8(_) => DType::U8,
            TypedView::Bool(_) => DType::Bool,
        }
    }
    /// `[N, ...]`.
    pub fn shape(&self) -> &[usize] {
        match self {
            TypedView::F32(a) => a.shape(),
            TypedView::F16(a) => a.shape(),
            TypedView::I32(a) => a.shape(),
            TypedView::I64(a) => a.shape(),
            TypedView::I8(a) => a.shape(),
            TypedView::U8(a) => a.shape(),
            TypedView::Bool(a) => a.shape(),
        }
    }
    /// A float64 copy (for statistics; exact except for int64 beyond 2^53), bool as 0 / 1.
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            TypedView::F32(a) => a.mapv(f64::from),
            TypedView::F16(a) => a.mapv(f64::from),
            TypedView::I32(a) => a.mapv(f64::from),
            TypedView::I64(a) => a.mapv(|v| v as f64),
            TypedView::I8(a) => a.mapv(f64::from),
            TypedView::U8(a) => a.mapv(f64::from),
            TypedView::Bool(a) => a.mapv(|v| f64::from(u8::from(v))),
        }
    }
}

impl BatchInput {
    fn typed(&self) -> Option<TypedView<'_>> {
        let shape = self.shape.clone();
        Some(match &self.data {
            Buffer::F32(v) => TypedView::F32(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::F16(v) => TypedView::F16(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I32(v) => TypedView::I32(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I64(v) => TypedView::I64(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I8(v) => TypedView::I8(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::U8(v) => TypedView::U8(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::Bool(v) => TypedView::Bool(ArrayViewD::from_shape(shape, v).ok()?),
        })
    }
}

impl Batch {
    fn find(&self, name: &str) -> Option<&BatchInput> {
        self.inputs.iter().find(|i| i.name == name)
    }
    /// The float32 array of input `name`, shape `[N, ...]`; `None` when the input has another
    /// dtype (see [`Batch::view`]).
    pub fn get(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.view::<f32>(name)
    }
    /// The contiguous float32 data of input `name`; `None` for another dtype (see
    /// [`Batch::slice`], [`Batch::bytes`]).
    pub fn as_slice(&self, name: &str) -> Option<&[f32]> {
        self.slice::<f32>(name)
    }
    /// The array of input `name` as `T` (`f32`, [`f16`](struct@half::f16), `i32`, `i64`, `i8`, `u8`, `bool`);
    /// `None` when the input has another dtype.
    pub fn view<T: Element>(&self, name: &str) -> Option<ArrayViewD<'_, T>> {
        let i = self.find(name)?;
        ArrayViewD::from_shape(i.shape.clone(), i.data.slice::<T>()?).ok()
    }
    /// The contiguous data of input `name` as `T`; `None` when the input has another dtype.
    pub fn slice<T: Element>(&self, name: &str) -> Option<&[T]> {
        self.find(name)?.data.slice::<T>()
    }
    /// The contiguous data of input `name` as bytes, in this machine's byte order: what a
    /// calibrator copies to the device (`N * product(dims) * dtype.size()` bytes, no copy made).
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        Some(self.find(name)?.data.as_bytes())
    }
    /// The dtype of input `name`.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        Some(self.find(name)?.data.dtype())
    }
    /// `[N, ...]` of input `name`.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        Some(self.find(name)?.shape.slice())
    }
    /// Input `name` in its own element type.
    pub fn typed(&self, name: &str) -> Option<TypedView<'_>> {
        self.find(name)?.typed()
    }
    /// Input names, in spec order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|i| i.name.as_str())
    }
    /// `(name, array)` for every input, in spec order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, TypedView<'_>)> {
        self.inputs
            .iter()
            .filter_map(|i| Some((i.name.as_str(), i.typed()?)))
    }
    /// Write input `name` to `path` as `.npy`, in its dtype (float16 as `<f2`, bool as `|b1`).
    pub fn write_npy(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let i = self
            .find(name)
            .ok_or_else(|| Error::spec(format!("the batch has no input `{name}`")))?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        arrays::write_npy(std::io::BufWriter::new(file), i.shape.slice(), &i.data)
            .map_err(|e| Error::io(path, e))
    }
    /// Position of this batch in the stream (0-based).
    pub fn index(&self) -> usize {
        self.index
    }
    /// N, the batch size (padding included).
    pub fn size(&self) -> usize {
        self.size
    }
    /// Samples that are not padding (`size()` except for a padded last batch).
    pub fn real_samples(&self) -> usize {
        self.real
    }
}

/// Anything that hands out calibration batches; what a TensorRT calibrator consumes.
pub trait BatchSource: Send {
    /// The next batch; `None` at the end. After an `Err`, the stream ends.
    fn next_batch(&mut self) -> Option<Result<Batch>>;
    /// Number of batches a full pass yields (an upper bound when bad files are skipped without
    /// a [`check`](BatchSource::check)).
    fn batch_count(&self) -> usize;
    /// N.
    fn batch_size(&self) -> usize;
    /// `(input name, [N, ...])` for every input, in spec order; known before any batch.
    fn input_shapes(&self) -> &[(String, Vec<usize>)];
    /// `(input name, dtype)` for every input, in spec order: the element type of its batches.
    fn input_dtypes(&self) -> Vec<(String, DType)>;
    /// Check the data against what the network expects (an empty `expected`: only the data's
    /// own consistency), before any expensive work; every problem in one [`Error::Check`].
    ///
    /// The default compares names, batch size, shapes and dtypes. [`Pipeline`] also decodes
    /// every image, leaves out bad files under `on_bad_file = "skip"`, and converts inputs
    /// without an explicit dtype to the expected one.
    fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        let t = Instant::now();
        let dtypes = self.input_dtypes();
        let mut problems = Vec::new();
        let inputs: Vec<InputInfo> = self
            .input_shapes()
            .iter()
            .map(|(name, shape)| {
                let dtype = dtypes.iter().find(|(n, _)| n == name).map(|d| d.1);
                if dtype.is_none() {
                    problems.push(format!("the source gives no dtype for input `{name}`"));
                }
                InputInfo {
                    name: name.clone(),
                    shape: shape.clone(),
                    dtype: dtype.unwrap_or(DType::F32),
                    source: "custom",
                }
            })
            .collect();
        problems.extend(check::compare(self.batch_size(), &inputs, expected));
        if !problems.is_empty() {
            return Err(Error::Check(Box::new(CheckFailure {
                bad_files: Vec::new(),
                problems,
                fixes: Vec::new(),
                skipped: Vec::new(),
            })));
        }
        Ok(CheckReport {
            batch_size: self.batch_size(),
            batches: self.batch_count(),
            samples: self.batch_count() * self.batch_size(),
            inputs,
            images_checked: 0,
            skipped: Vec::new(),
            seconds: t.elapsed().as_secs_f64(),
        })
    }
    /// Start again from the first batch.
    fn reset(&mut self) -> Result<()>;
}

enum Data {
    Images {
        paths: Vec<PathBuf>,
        pre: Preprocess,
        src_size: Option<(u32, u32)>,
    },
    Array {
        path: PathBuf,
        /// Every sample, in the input's dtype.
        buf: Buffer,
    },
}

struct Resolved {
    name: String,
    data: Data,
    sample_shape: Vec<usize>,
    sample_len: usize,
    dtype: DType,
    /// Set by the spec's input itself (not by a default): a check does not change it.
    explicit: bool,
    source: &'static str,
}

impl Resolved {
    fn count(&self) -> usize {
        match &self.data {
            Data::Images { paths, .. } => paths.len(),
            Data::Array { buf, .. } => buf.len() / self.sample_len,
        }
    }

    /// Write sample `i` of this input into `out` (exactly `sample_len` elements of its dtype).
    fn fill(&self, i: usize, out: &mut SampleMut<'_>) -> Result<()> {
        match (&self.data, out) {
            (Data::Array { buf, .. }, out) => {
                buf.copy_range_to(i * self.sample_len..(i + 1) * self.sample_len, out)
            }
            (Data::Images { .. }, SampleMut::F32(out)) => self.fill_image(i, out),
            (Data::Images { .. }, SampleMut::F16(out)) => self.fill_image(i, out),
            (Data::Images { .. }, _) => Err(Error::Worker(format!(
                "internal: image input `{}` with dtype {}",
                self.name, self.dtype
            ))),
        }
    }

    fn fill_image<T: Pixel>(&self, i: usize, out: &mut [T]) -> Result<()> {
        let Data::Images {
            paths,
            pre,
            src_size,
        } = &self.data
        else {
            return Err(Error::Worker("internal: not an image input".into()));
        };
        let path = &paths[i];
        pixels::with_decoded(path, &self.name, pre, |img| {
            if let Some((w, h)) = *src_size {
                if (img.w, img.h) != (w as usize, h as usize) {
                    return Err(Error::ImageSize {
                        path: path.clone(),
                        input: self.name.clone(),
                        expected_w: w,
                        expected_h: h,
                        found_w: img.w as u32,
                        found_h: img.h as u32,
                    });
                }
            }
            let geo = pixels::geometry(pre.resize, img.w, img.h);
            let (cw, ch) = (geo.4, geo.5);
            let norm = pixels::Normalizer::<T>::new(img.cn, pre);
            if pre.interpolation == Interpolation::Linear && (geo.0, geo.1) != (img.w, img.h) {
                // Resample and normalise row by row: no intermediate window.
                pixels::linear_rows(img, geo, |y, row| norm.row(y, row, cw, ch, out));
            } else {
                let window = pixels::resample(img, pre.interpolation, geo);
                pixels::normalize_into(&window, (cw, ch), &norm, out);
            }
            Ok(())
        })
    }

    /// Decode image sample `i` completely and check its channels and size (no preprocessing).
    fn probe(&self, i: usize) -> Result<()> {
        let Data::Images {
            paths,
            pre,
            src_size,
        } = &self.data
        else {
            return Ok(());
        };
        let path = &paths[i];
        let (w, h, cn) = pixels::probe(path)?;
        if cn != pre.channels() && !pre.convert_channels {
            return Err(Error::Channels {
                path: path.clone(),
                input: self.name.clone(),
                expected: pre.channels(),
                found: cn,
            });
        }
        if let Some((ew, eh)) = *src_size {
            if (w, h) != (ew as usize, eh as usize) {
                return Err(Error::ImageSize {
                    path: path.clone(),
                    input: self.name.clone(),
                    expected_w: ew,
                    expected_h: eh,
                    found_w: w as u32,
                    found_h: h as u32,
                });
            }
        }
        Ok(())
    }

    /// Make the batches `dtype` (an input without an explicit dtype following the network).
    fn adopt(&mut self, dtype: DType) -> Result<()> {
        let (name, sample_len) = (self.name.as_str(), self.sample_len);
        match &mut self.data {
            Data::Images { .. } if dtype.is_float() => {}
            Data::Images { .. } => {
                return Err(Error::spec(format!(
                    "input `{name}`: the network input is {dtype}, but images are preprocessed \
                     into float32 or float16; give integer data as an `npy` array"
                )))
            }
            Data::Array { path, buf } => {
                let mut shape = vec![buf.len() / sample_len];
                shape.extend_from_slice(&self.sample_shape);
                let file = FileData::Known(std::mem::replace(buf, Buffer::U8(Vec::new())));
                let t = Target {
                    path,
                    input: name,
                    shape: &shape,
                };
                let converted = dtype::convert_ref(&file, dtype, &t);
                let FileData::Known(old) = file else {
                    unreachable!("built as Known above")
                };
                *buf = match converted {
                    Ok(b) => b,
                    Err(e) => {
                        *buf = old;
                        return Err(e);
                    }
                };
            }
        }
        self.dtype = dtype;
        Ok(())
    }

    fn info(&self, batch_size: usize) -> InputInfo {
        let mut shape = vec![batch_size];
        shape.extend_from_slice(&self.sample_shape);
        InputInfo {
            name: self.name.clone(),
            shape,
            dtype: self.dtype,
            source: self.source,
        }
    }
}

struct Plan {
    inputs: Vec<Resolved>,
    order: Vec<usize>,
    batch_size: usize,
    last_batch: LastBatch,
    on_bad_file: OnBadFile,
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "bmp")) && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(Error::spec(format!(
            "no .jpg/.jpeg/.png/.bmp files in {}",
            dir.display()
        )));
    }
    Ok(files)
}

/// SplitMix64: tiny, fixed forever, so a seed gives the same sequence on every platform and
/// version (shuffles here; seeded test inputs in `trt::repro`).
pub struct SplitMix64(pub u64);
impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn shuffle(order: &mut [usize], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

fn resolve(input: &Input, default_dtype: Option<DType>) -> Result<Resolved> {
    let name = input.name.clone();
    let explicit = input.dtype.is_some();
    let wanted = input.dtype.or(default_dtype);
    let (data, sample_shape, dtype, source) = match (&input.source, &input.preprocess) {
        (Source::ImageDir(_) | Source::ImageList(_), None) => {
            return Err(Error::spec(format!(
                "input `{name}`: image inputs need a Preprocess"
            )))
        }
        (Source::ImageDir(_) | Source::ImageList(_), Some(pre)) => {
            pre.validate()
                .map_err(|e| Error::spec(format!("input `{name}`: {e}")))?;
            let dtype = wanted.unwrap_or(DType::F32);
            if !dtype.is_float() {
                return Err(Error::spec(format!(
                    "input `{name}`: images are preprocessed into float32 or float16, not \
                     {dtype}; give integer data as an `npy` array instead"
                )));
            }
            let paths = match &input.source {
                Source::ImageDir(d) => list_images(d)?,
                Source::ImageList(l) => l.clone(),
                _ => unreachable!(),
            };
            // Without a resize, the first readable image fixes the size (an unreadable one is
            // reported by the check, or by its batch).
            let mut src_size = None;
            let (w, h) = match pre.resize {
                Resize::None => {
                    let mut found = None;
                    let mut first_err = None;
                    for p in &paths {
                        match image::image_dimensions(p) {
                            Ok(d) => {
                                found = Some(d);
                                break;
                            }
                            Err(source) => {
                                log::debug!(
                                    "cannot size input `{name}` from {}: {source}",
                                    p.display()
                                );
                                first_err.get_or_insert(Error::Decode {
                                    path: p.clone(),
                                    source,
                                });
                            }
                        }
                    }
                    let d = match (found, first_err) {
                        (Some(d), _) => d,
                        (None, Some(e)) => return Err(e),
                        (None, None) => {
                            return Err(Error::spec(format!("input `{name}`: no image")))
                        }
                    };
                    src_size = Some(d);
                    d
                }
                _ => (0, 0),
            };
            let shape = pre.sample_shape(w, h);
            (
                Data::Images {
                    paths,
                    pre: pre.clone(),
                    src_size,
                },
                shape,
                dtype,
                "images",
            )
        }
        (source, _) => {
            let (loaded, path, kind) = match source {
                Source::Npy(p) => (arrays::load_npy(p)?, p, "npy"),
                Source::Npz { path, array } => (arrays::load_npz(path, array)?, path, "npz"),
                Source::Raw { path, sample_shape } => (
                    arrays::load_raw(path, sample_shape, input.dtype.unwrap_or(DType::F32))?,
                    path,
                    "raw",
                ),
                _ => unreachable!(),
            };
            if loaded.shape.is_empty() {
                return Err(Error::spec(format!(
                    "input `{name}`: a 0-d array has no sample axis"
                )));
            }
            let dtype = wanted.unwrap_or_else(|| loaded.data.natural_dtype());
            let t = Target {
                path,
                input: &name,
                shape: &loaded.shape,
            };
            let buf = dtype::convert(loaded.data, dtype, &t)?;
            (
                Data::Array {
                    path: path.clone(),
                    buf,
                },
                loaded.shape[1..].to_vec(),
                dtype,
                kind,
            )
        }
    };
    let sample_len: usize = sample_shape.iter().product();
    if sample_len == 0 {
        return Err(Error::spec(format!(
            "input `{name}`: sample shape {sample_shape:?} has no elements"
        )));
    }
    Ok(Resolved {
        name,
        data,
        sample_shape,
        sample_len,
        dtype,
        explicit,
        source,
    })
}

fn count_batches(samples: usize, batch_size: usize, last_batch: LastBatch) -> usize {
    match last_batch {
        LastBatch::Drop => samples / batch_size,
        LastBatch::Pad => samples.div_ceil(batch_size),
    }
}

impl Plan {
    /// Produce batch `index`, advancing `cursor` through `order`. `Ok(None)` at the end.
    fn make_batch(
        &self,
        cursor: &mut usize,
        index: usize,
        shapes: &[(String, Vec<usize>)],
    ) -> Result<Option<Batch>> {
        let n = self.batch_size;
        let mut bufs: Vec<Buffer> = self
            .inputs
            .iter()
            .map(|i| Buffer::zeros(i.dtype, n * i.sample_len))
            .collect();
        let mut filled = 0;
        while filled < n && *cursor < self.order.len() {
            let take = (n - filled).min(self.order.len() - *cursor);
            let idx = &self.order[*cursor..*cursor + take];
            *cursor += take;
            let mut slots: Vec<Vec<SampleMut<'_>>> =
                (0..take).map(|_| Vec::with_capacity(bufs.len())).collect();
            for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
                let l = inp.sample_len;
                buf.for_each_chunk_mut(filled * l..(filled + take) * l, l, |j, chunk| {
                    slots[j].push(chunk)
                });
            }
            let results: Vec<Result<()>> = slots
                .into_par_iter()
                .zip(idx.par_iter())
                .map(|(mut outs, &sample)| {
                    for (inp, out) in self.inputs.iter().zip(outs.iter_mut()) {
                        inp.fill(sample, out)?;
                    }
                    Ok(())
                })
                .collect();
            let mut w = filled;
            for (j, r) in results.into_iter().enumerate() {
                let slot = filled + j;
                match r {
                    Ok(()) => {
                        if w != slot {
                            for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
                                let l = inp.sample_len;
                                buf.copy_within(slot * l..(slot + 1) * l, w * l);
                            }
                        }
                        w += 1;
                    }
                    Err(e) if self.on_bad_file == OnBadFile::Skip && e.is_bad_file() => {
                        log::warn!("skipping calibration sample {}: {e}", idx[j]);
                    }
                    Err(e) => return Err(e),
                }
            }
            filled = w;
        }
        if filled == 0 || (filled < n && self.last_batch == LastBatch::Drop) {
            return Ok(None);
        }
        for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
            let l = inp.sample_len;
            for s in filled..n {
                buf.copy_within((filled - 1) * l..filled * l, s * l);
            }
        }
        let inputs = bufs
            .into_iter()
            .zip(shapes)
            .map(|(data, (name, shape))| BatchInput {
                name: name.clone(),
                shape: IxDyn(shape),
                data,
            })
            .collect();
        Ok(Some(Batch {
            index,
            size: n,
            real: filled,
            inputs,
        }))
    }

    /// Decode every image of every used sample, in parallel; the bad ones, in input then
    /// sample order, and how many images were decoded.
    fn check_files(&self) -> (usize, Vec<BadFile>) {
        let tasks: Vec<(usize, usize)> = self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.data, Data::Images { .. }))
            .flat_map(|(k, _)| self.order.iter().map(move |&s| (k, s)))
            .collect();
        let bad: Vec<BadFile> = tasks
            .par_iter()
            .filter_map(|&(k, s)| {
                let inp = &self.inputs[k];
                let e = inp.probe(s).err()?;
                Some(BadFile::from_error(&inp.name, s, &e).unwrap_or_else(|| {
                    let path = match &inp.data {
                        Data::Images { paths, .. } => paths[s].clone(),
                        Data::Array { path, .. } => path.clone(),
                    };
                    BadFile {
                        input: inp.name.clone(),
                        path,
                        sample: s,
                        kind: BadFileKind::Undecodable,
                        message: e.to_string(),
                    }
                }))
            })
            .collect();
        (tasks.len(), bad)
    }

    fn infos(&self) -> Vec<InputInfo> {
        self.inputs
            .iter()
            .map(|i| i.info(self.batch_size))
            .collect()
    }
}

/// What the file check found, kept so that a second check does not decode again.
#[derive(Debug, Clone)]
struct FilesChecked {
    images: usize,
    skipped: Vec<BadFile>,
    seconds: f64,
}

/// The [`BatchSource`] built from a [`Spec`]: a background thread decodes and preprocesses
/// batches with rayon and keeps at most `prefetch` of them ready in a bounded channel.
///
/// The thread starts at [`Pipeline::check`] (which leaves bad files out first) or at the first
/// [`next_batch`](BatchSource::next_batch), whichever comes first.
pub struct Pipeline {
    plan: Arc<Plan>,
    shapes: Arc<Vec<(String, Vec<usize>)>>,
    batch_count: usize,
    prefetch: usize,
    rx: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    started: bool,
    finished: bool,
    files: Option<FilesChecked>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("inputs", &self.plan.infos())
            .field("batch_count", &self.batch_count)
            .field("samples", &self.plan.order.len())
            .field("checked", &self.files.is_some())
            .finish()
    }
}

impl Pipeline {
    pub(crate) fn open(spec: &Spec) -> Result<Self> {
        if spec.batch_size == 0 {
            return Err(Error::spec("batch_size must be > 0"));
        }
        if spec.inputs.is_empty() {
            return Err(Error::spec("no inputs"));
        }
        for (i, a) in spec.inputs.iter().enumerate() {
            if spec.inputs[..i].iter().any(|b| b.name == a.name) {
                return Err(Error::spec(format!("input `{}` appears twice", a.name)));
            }
        }
        let inputs = spec
            .inputs
            .iter()
            .map(|i| {
                let default = spec
                    .default_dtypes
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|d| d.1);
                resolve(i, default)
            })
            .collect::<Result<Vec<_>>>()?;
        let counts: Vec<(String, usize)> =
            inputs.iter().map(|i| (i.name.clone(), i.count())).collect();
        if counts.iter().any(|(_, c)| *c != counts[0].1) {
            return Err(Error::SampleCountMismatch { counts });
        }
        let total = counts[0].1;
        let mut order: Vec<usize> = (0..total).collect();
        if let Some(seed) = spec.shuffle_seed {
            shuffle(&mut order, seed);
        }
        if let Some(limit) = spec.limit {
            order.truncate(limit);
        }
        let bs = spec.batch_size;
        let batch_count = count_batches(order.len(), bs, spec.last_batch);
        if batch_count == 0 {
            return Err(Error::spec(format!(
                "{} sample(s) with batch_size {bs} and last_batch = \"drop\" give no batch; \
                 lower batch_size or use last_batch = \"pad\"",
                order.len()
            )));
        }
        let shapes = inputs
            .iter()
            .map(|r| {
                let mut s = vec![bs];
                s.extend_from_slice(&r.sample_shape);
                (r.name.clone(), s)
            })
            .collect();
        let plan = Plan {
            inputs,
            order,
            batch_size: bs,
            last_batch: spec.last_batch,
            on_bad_file: spec.on_bad_file,
        };
        Ok(Pipeline {
            plan: Arc::new(plan),
            shapes: Arc::new(shapes),
            batch_count,
            prefetch: spec.prefetch.max(1),
            rx: None,
            worker: None,
            stop: Arc::new(AtomicBool::new(false)),
            started: false,
            finished: false,
            files: None,
        })
    }

    /// Check the whole data set before any expensive work, and fix what can be fixed.
    ///
    /// - Decodes every image of every sample that will be used, in parallel (rayon): unreadable,
    ///   undecodable and truncated files (a JPEG without its end-of-image marker, which the
    ///   decoder accepts), channel counts other than the input's (unless `convert_channels`),
    ///   sizes other than the first image's (without a resize). Only decodes: the batches
    ///   decode again later; nothing is kept in memory.
    /// - Under `on_bad_file = "skip"` leaves the bad files' samples out of every input (with a
    ///   `log::warn!` each) before batches are formed, so [`batch_count`](BatchSource::batch_count)
    ///   becomes exact; the report lists them.
    /// - Against `expected` (empty: no network known, skip this): every network input has data
    ///   and every data input is a network input; batch size = the network's batch dimension;
    ///   sample shapes; dtypes. An input without an explicit dtype takes the expected one first
    ///   (arrays convert when exact, images give float32 or float16).
    ///
    /// Every problem comes in one [`Error::Check`], with the fixes. The files are decoded once:
    /// a second call only compares. On success the prefetch thread starts, so batches are ready
    /// while TensorRT builds; called after batches were taken, the stream restarts from the
    /// first batch.
    pub fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        if self.started {
            if let Some(e) = self.shutdown() {
                log::warn!("previous prefetch thread failed: {e}");
            }
            self.started = false;
            self.finished = false;
        }
        let plan = Arc::get_mut(&mut self.plan)
            .ok_or_else(|| Error::Worker("internal: the plan is still shared".into()))?;
        let mut bad_files = Vec::new();
        if self.files.is_none() {
            let t = Instant::now();
            let (images, bad) = plan.check_files();
            let seconds = t.elapsed().as_secs_f64();
            if bad.is_empty() || plan.on_bad_file == OnBadFile::Skip {
                if !bad.is_empty() {
                    let mut drop = vec![false; plan.inputs[0].count()];
                    for b in &bad {
                        log::warn!("skipping calibration sample {}: {b}", b.sample);
                        drop[b.sample] = true;
                    }
                    plan.order.retain(|&s| !drop[s]);
                }
                self.files = Some(FilesChecked {
                    images,
                    skipped: bad,
                    seconds,
                });
            } else {
                bad_files = bad;
            }
        }
        let mut problems = Vec::new();
        // Inputs without an explicit dtype follow the network.
        let mut compared: Vec<Expected> = expected.to_vec();
        for e in &mut compared {
            if let Some(inp) = plan.inputs.iter_mut().find(|i| i.name == e.name) {
                if !inp.explicit && inp.dtype != e.dtype {
                    if let Err(err) = inp.adopt(e.dtype) {
                        problems.push(match err {
                            Error::Spec { message, .. } => message,
                            other => other.to_string(),
                        });
                        // Reported; do not report the dtype difference again.
                        e.dtype = inp.dtype;
                    }
                }
            }
        }
        let infos = plan.infos();
        problems.extend(check::compare(plan.batch_size, &infos, &compared));
        let samples = plan.order.len();
        self.batch_count = count_batches(samples, plan.batch_size, plan.last_batch);
        let skipped = self
            .files
            .as_ref()
            .map(|f| f.skipped.clone())
            .unwrap_or_default();
        if self.batch_count == 0 {
            problems.push(format!(
                "{samples} sample(s) left{} with batch_size {} and last_batch = \"drop\" give no \
                 batch; lower batch_size or use last_batch = \"pad\"",
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" after skipping {} bad file(s)", skipped.len())
                },
                plan.batch_size
            ));
        }
        if !bad_files.is_empty() || !problems.is_empty() {
            return Err(Error::Check(Box::new(CheckFailure {
                fixes: check::fixes_for(&bad_files),
                bad_files,
                problems,
                skipped,
            })));
        }
        let Some(files) = self.files.as_ref() else {
            return Err(Error::Worker("internal: files not checked".into()));
        };
        let report = CheckReport {
            batch_size: plan.batch_size,
            batches: self.batch_count,
            samples,
            inputs: infos,
            images_checked: files.images,
            skipped,
            seconds: files.seconds,
        };
        self.start()?;
        Ok(report)
    }

    /// Every input: name, `[N, ...]`, dtype, kind of source.
    pub fn input_info(&self) -> Vec<InputInfo> {
        self.plan.infos()
    }

    fn start(&mut self) -> Result<()> {
        let (tx, rx) = sync_channel(self.prefetch);
        let (plan, shapes) = (self.plan.clone(), self.shapes.clone());
        self.stop = Arc::new(AtomicBool::new(false));
        let stop = self.stop.clone();
        let handle = std::thread::Builder::new()
            .name("calib-data-prefetch".into())
            .spawn(move || produce(&plan, &shapes, &tx, &stop))
            .map_err(|e| Error::Worker(format!("cannot start the prefetch thread: {e}")))?;
        self.rx = Some(rx);
        self.worker = Some(handle);
        self.started = true;
        self.finished = false;
        Ok(())
    }

    fn shutdown(&mut self) -> Option<Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // a blocked send now fails
        let h = self.worker.take()?;
        h.join().err().map(|p| Error::Worker(panic_message(&p)))
    }

    /// Samples used (after shuffle, limit and, after a check, skipped files; before batching).
    pub fn sample_count(&self) -> usize {
        self.plan.order.len()
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn produce(
    plan: &Plan,
    shapes: &[(String, Vec<usize>)],
    tx: &SyncSender<Result<Batch>>,
    stop: &AtomicBool,
) {
    let mut cursor = 0;
    for index in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let item = match plan.make_batch(&mut cursor, index, shapes) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let is_err = item.is_err();
        if tx.send(item).is_err() || is_err {
            return;
        }
    }
}

impl BatchSource for Pipeline {
    fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        if !self.started {
            if let Err(e) = self.start() {
                self.finished = true;
                return Some(Err(e));
            }
        }
        let received = self.rx.as_ref()?.recv();
        match received {
            Ok(Ok(b)) => Some(Ok(b)),
            Ok(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Err(_) => {
                // The producer is done (or died): report a panic once.
                self.finished = true;
                self.shutdown().map(Err)
            }
        }
    }
    fn batch_count(&self) -> usize {
        self.batch_count
    }
    fn batch_size(&self) -> usize {
        self.plan.batch_size
    }
    fn input_shapes(&self) -> &[(String, Vec<usize>)] {
        &self.shapes
    }
    fn input_dtypes(&self) -> Vec<(String, DType)> {
        self.plan
            .inputs
            .iter()
            .map(|i| (i.name.clone(), i.dtype))
            .collect()
    }
    fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        Pipeline::check(self, expected)
    }
    fn reset(&mut self) -> Result<()> {
        if let Some(e) = self.shutdown() {
            log::warn!("previous prefetch thread failed: {e}");
        }
        self.start()
    }
}

impl Iterator for Pipeline {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
