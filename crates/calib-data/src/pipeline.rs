//! Batching, ordering, parallel preprocessing and bounded prefetch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use crate::arrays;
use crate::error::{Error, Result};
use crate::pixels;
use crate::spec::{Input, Interpolation, LastBatch, OnBadFile, Preprocess, Resize, Source, Spec};

/// One calibration batch: per input name, an `[N, ...]` f32 array in one contiguous,
/// standard-layout (C order) buffer.
#[derive(Debug, Clone)]
pub struct Batch {
    index: usize,
    size: usize,
    real: usize,
    inputs: Vec<(String, ArrayD<f32>)>,
}

impl Batch {
    /// The array of input `name`, shape `[N, ...]`.
    pub fn get(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.view())
    }
    /// The contiguous data of input `name` (what a calibrator copies to the device).
    pub fn as_slice(&self, name: &str) -> Option<&[f32]> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, a)| a.as_slice())
    }
    /// Input names, in spec order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|(n, _)| n.as_str())
    }
    /// `(name, array)` for every input, in spec order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ArrayViewD<'_, f32>)> {
        self.inputs.iter().map(|(n, a)| (n.as_str(), a.view()))
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
    /// Take the arrays out.
    pub fn into_arrays(self) -> Vec<(String, ArrayD<f32>)> {
        self.inputs
    }
}

/// Anything that hands out calibration batches; what a TensorRT calibrator consumes.
pub trait BatchSource: Send {
    /// The next batch; `None` at the end. After an `Err`, the stream ends.
    fn next_batch(&mut self) -> Option<Result<Batch>>;
    /// Number of batches a full pass yields (an upper bound when bad files are skipped).
    fn batch_count(&self) -> usize;
    /// N.
    fn batch_size(&self) -> usize;
    /// `(input name, [N, ...])` for every input, in spec order; known before any batch.
    fn input_shapes(&self) -> &[(String, Vec<usize>)];
    /// Start again from the first batch.
    fn reset(&mut self) -> Result<()>;
}

enum Data {
    Images {
        paths: Vec<PathBuf>,
        pre: Preprocess,
        src_size: Option<(u32, u32)>,
    },
    Array(ArrayD<f32>),
}

struct Resolved {
    name: String,
    data: Data,
    sample_len: usize,
}

impl Resolved {
    fn count(&self) -> usize {
        match &self.data {
            Data::Images { paths, .. } => paths.len(),
            Data::Array(a) => a.shape()[0],
        }
    }

    /// Write sample `i` of this input into `out` (exactly `sample_len` floats).
    fn fill(&self, i: usize, out: &mut [f32]) -> Result<()> {
        match &self.data {
            Data::Array(a) => {
                let all = a
                    .as_slice()
                    .ok_or_else(|| Error::Worker("array not contiguous".into()))?;
                out.copy_from_slice(&all[i * self.sample_len..(i + 1) * self.sample_len]);
                Ok(())
            }
            Data::Images {
                paths,
                pre,
                src_size,
            } => {
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
                    let norm = pixels::Normalizer::new(img.cn, pre);
                    if pre.interpolation == Interpolation::Linear
                        && (geo.0, geo.1) != (img.w, img.h)
                    {
                        // Resample and normalise row by row: no intermediate window.
                        pixels::linear_rows(img, geo, |y, row| norm.row(y, row, cw, ch, out));
                    } else {
                        let window = pixels::resample(img, pre.interpolation, geo);
                        pixels::normalize_into(&window, (cw, ch), &norm, out);
                    }
                    Ok(())
                })
            }
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

fn resolve(input: &Input, on_bad_file: OnBadFile) -> Result<Resolved> {
    let name = input.name.clone();
    let (data, sample_shape) = match (&input.source, &input.preprocess) {
        (Source::ImageDir(_) | Source::ImageList(_), None) => {
            return Err(Error::spec(format!(
                "input `{name}`: image inputs need a Preprocess"
            )))
        }
        (Source::ImageDir(_) | Source::ImageList(_), Some(pre)) => {
            pre.validate()
                .map_err(|e| Error::spec(format!("input `{name}`: {e}")))?;
            let paths = match &input.source {
                Source::ImageDir(d) => list_images(d)?,
                Source::ImageList(l) => l.clone(),
                _ => unreachable!(),
            };
            // Without a resize, the first readable image fixes the size.
            let mut src_size = None;
            let (w, h) = match pre.resize {
                Resize::None => {
                    let mut found = None;
                    for p in &paths {
                        match image::image_dimensions(p) {
                            Ok(d) => {
                                found = Some(d);
                                break;
                            }
                            Err(e) if on_bad_file == OnBadFile::Skip => {
                                log::warn!(
                                    "skipping {} when sizing input `{name}`: {e}",
                                    p.display()
                                )
                            }
                            Err(source) => {
                                return Err(Error::Decode {
                                    path: p.clone(),
                                    source,
                                })
                            }
                        }
                    }
                    let d = found
                        .ok_or_else(|| Error::spec(format!("input `{name}`: no readable image")))?;
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
            )
        }
        (source, _) => {
            let a = match source {
                Source::Npy(p) => arrays::load_npy(p)?,
                Source::Npz { path, array } => arrays::load_npz(path, array)?,
                Source::Raw { path, sample_shape } => arrays::load_raw(path, sample_shape)?,
                _ => unreachable!(),
            };
            if a.ndim() == 0 {
                return Err(Error::spec(format!(
                    "input `{name}`: a 0-d array has no sample axis"
                )));
            }
            let shape = a.shape()[1..].to_vec();
            let a = if a.is_standard_layout() {
                a
            } else {
                a.as_standard_layout().into_owned()
            };
            (Data::Array(a), shape)
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
        sample_len,
    })
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
        let mut bufs: Vec<Vec<f32>> = self
            .inputs
            .iter()
            .map(|i| vec![0f32; n * i.sample_len])
            .collect();
        let mut filled = 0;
        while filled < n && *cursor < self.order.len() {
            let take = (n - filled).min(self.order.len() - *cursor);
            let idx = &self.order[*cursor..*cursor + take];
            *cursor += take;
            let mut slots: Vec<Vec<&mut [f32]>> =
                (0..take).map(|_| Vec::with_capacity(bufs.len())).collect();
            for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
                let l = inp.sample_len;
                for (slot, chunk) in slots
                    .iter_mut()
                    .zip(buf[filled * l..(filled + take) * l].chunks_mut(l))
                {
                    slot.push(chunk);
                }
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
            .map(|(buf, (name, shape))| {
                ArrayD::from_shape_vec(IxDyn(shape), buf)
                    .map(|a| (name.clone(), a))
                    .map_err(|e| Error::Worker(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Batch {
            index,
            size: n,
            real: filled,
            inputs,
        }))
    }
}

/// The [`BatchSource`] built from a [`Spec`]: a background thread decodes and preprocesses
/// batches with rayon and keeps at most `prefetch` of them ready in a bounded channel.
pub struct Pipeline {
    plan: Arc<Plan>,
    shapes: Arc<Vec<(String, Vec<usize>)>>,
    batch_count: usize,
    prefetch: usize,
    rx: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    finished: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("input_shapes", &self.shapes)
            .field("batch_count", &self.batch_count)
            .field("samples", &self.plan.order.len())
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
            .map(|i| resolve(i, spec.on_bad_file))
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
        let batch_count = match spec.last_batch {
            LastBatch::Drop => order.len() / bs,
            LastBatch::Pad => order.len().div_ceil(bs),
        };
        if batch_count == 0 {
            return Err(Error::spec(format!(
                "{} sample(s) with batch_size {bs} and last_batch = \"drop\" give no batch; \
                 lower batch_size or use last_batch = \"pad\"",
                order.len()
            )));
        }
        let shapes = spec
            .inputs
            .iter()
            .zip(&inputs)
            .map(|(spec_in, r)| {
                let mut s = vec![bs];
                match &r.data {
                    Data::Array(a) => s.extend_from_slice(&a.shape()[1..]),
                    Data::Images { pre, src_size, .. } => {
                        let (w, h) = src_size.unwrap_or((0, 0));
                        s.extend(pre.sample_shape(w, h));
                    }
                }
                (spec_in.name.clone(), s)
            })
            .collect();
        let plan = Plan {
            inputs,
            order,
            batch_size: bs,
            last_batch: spec.last_batch,
            on_bad_file: spec.on_bad_file,
        };
        let mut p = Pipeline {
            plan: Arc::new(plan),
            shapes: Arc::new(shapes),
            batch_count,
            prefetch: spec.prefetch.max(1),
            rx: None,
            worker: None,
            stop: Arc::new(AtomicBool::new(false)),
            finished: false,
        };
        p.start()?;
        Ok(p)
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
        self.finished = false;
        Ok(())
    }

    fn shutdown(&mut self) -> Option<Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // a blocked send now fails
        let h = self.worker.take()?;
        h.join().err().map(|p| Error::Worker(panic_message(&p)))
    }

    /// Samples used (after shuffle and limit, before batching).
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
