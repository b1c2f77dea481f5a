//! One input's samples resolved from its spec: files listed, arrays loaded, order, counts.

use std::path::{Path, PathBuf};

use crate::arrays;
use crate::check::InputInfo;
use crate::dtype::{self, Buffer, DType, FileData, SampleMut, Target};
use crate::error::{Error, Result};
use crate::pixels::{self, Pixel};
use crate::spec::{Input, Interpolation, LastBatch, Preprocess, Resize, Source};

pub(super) enum Data {
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

pub(super) struct Resolved {
    pub(super) name: String,
    pub(super) data: Data,
    pub(super) sample_shape: Vec<usize>,
    pub(super) sample_len: usize,
    pub(super) dtype: DType,
    /// Set by the spec's input itself (not by a default): a check does not change it.
    pub(super) explicit: bool,
    pub(super) source: &'static str,
}

impl Resolved {
    pub(super) fn count(&self) -> usize {
        match &self.data {
            Data::Images { paths, .. } => paths.len(),
            Data::Array { buf, .. } => buf.len() / self.sample_len,
        }
    }

    /// Write sample `i` of this input into `out` (exactly `sample_len` elements of its dtype).
    pub(super) fn fill(&self, i: usize, out: &mut SampleMut<'_>) -> Result<()> {
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
    pub(super) fn probe(&self, i: usize) -> Result<()> {
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
    pub(super) fn adopt(&mut self, dtype: DType) -> Result<()> {
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

    pub(super) fn info(&self, batch_size: usize) -> InputInfo {
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

pub(super) fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
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

pub(super) fn shuffle(order: &mut [usize], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

pub(super) fn resolve(input: &Input, default_dtype: Option<DType>) -> Result<Resolved> {
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

pub(super) fn count_batches(samples: usize, batch_size: usize, last_batch: LastBatch) -> usize {
    match last_batch {
        LastBatch::Drop => samples / batch_size,
        LastBatch::Pad => samples.div_ceil(batch_size),
    }
}
