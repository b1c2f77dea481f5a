//! Pieces shared by several commands: calibration-data flags, shape flags, loading TensorRT,
//! progress bars, and table output.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use trt_calib_data::{ChannelOrder, Input, Layout, OnBadFile, Preprocess, Resize, Spec};

/// Image preprocessing in flags: the quick form of a calibration-data TOML spec.
#[derive(Args, Debug, Clone, Default)]
pub struct Preprocessing {
    /// Resize every image to WIDTHxHEIGHT (with --short-side: the centre crop's size).
    #[arg(long, value_name = "WxH", value_parser = parse_size, help_heading = "Preprocessing")]
    pub size: Option<(u32, u32)>,
    /// Resize the short side to N first, keeping the aspect ratio, then crop --size from the centre.
    #[arg(
        long,
        value_name = "N",
        requires = "size",
        help_heading = "Preprocessing"
    )]
    pub short_side: Option<u32>,
    /// Channels in BGR order (Caffe, OpenCV models).
    #[arg(long, group = "channel_order", help_heading = "Preprocessing")]
    pub bgr: bool,
    /// Channels in RGB order (PyTorch, TF models).
    #[arg(long, group = "channel_order", help_heading = "Preprocessing")]
    pub rgb: bool,
    /// One grey channel.
    #[arg(long, group = "channel_order", help_heading = "Preprocessing")]
    pub gray: bool,
    /// Mean to subtract, in 0..255 pixel units: one value or one per channel (a,b,c).
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        help_heading = "Preprocessing"
    )]
    pub mean: Vec<f32>,
    /// Multiply after subtracting the mean: (x - mean) * scale. One value or one per channel.
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "std",
        help_heading = "Preprocessing"
    )]
    pub scale: Vec<f32>,
    /// Divide after subtracting the mean: (x - mean) / std. One value or one per channel.
    #[arg(long, value_delimiter = ',', help_heading = "Preprocessing")]
    pub std: Vec<f32>,
    /// NHWC layout instead of NCHW.
    #[arg(long, help_heading = "Preprocessing")]
    pub nhwc: bool,
    /// Convert grey images to 3 channels (--rgb/--bgr) or colour images to 1 (--gray) instead
    /// of refusing them (TOML: `convert_channels = true`).
    #[arg(long, help_heading = "Preprocessing")]
    pub convert_channels: bool,
    /// Leave out unreadable, undecodable, truncated or mismatched images, with a warning each,
    /// instead of failing (TOML: `on_bad_file = "skip"`).
    #[arg(long, help_heading = "Preprocessing")]
    pub skip_bad_files: bool,
    /// Images per batch (N).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        help_heading = "Preprocessing"
    )]
    pub batch: usize,
    /// Use at most N images (in file-name order).
    #[arg(long, value_name = "N", help_heading = "Preprocessing")]
    pub limit: Option<usize>,
    /// The network input the images feed (default: the network's only input; `input` for `trt data`).
    #[arg(long, value_name = "NAME", help_heading = "Preprocessing")]
    pub input_name: Option<String>,
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}`: expected WIDTHxHEIGHT, e.g. 224x224"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}`: expected WIDTHxHEIGHT, e.g. 224x224"))
    };
    Ok((n(w)?, n(h)?))
}

impl Preprocessing {
    /// The preprocessing these flags describe.
    pub fn preprocess(&self) -> Result<Preprocess> {
        let order = match (self.bgr, self.rgb, self.gray) {
            (true, _, _) => ChannelOrder::Bgr,
            (_, true, _) => ChannelOrder::Rgb,
            (_, _, true) => ChannelOrder::Gray,
            _ => bail!("give the channel order of the images: --rgb, --bgr or --gray"),
        };
        let mut p = Preprocess::new(order);
        if !self.mean.is_empty() {
            p = p.with_mean(self.mean.clone());
        }
        if !self.scale.is_empty() {
            p = p.with_scale(self.scale.clone());
        }
        if !self.std.is_empty() {
            p = p.with_std(self.std.clone());
        }
        if let Some((w, h)) = self.size {
            p = p.with_resize(match self.short_side {
                Some(s) => Resize::ShortSideCrop {
                    short_side: s,
                    crop_width: w,
                    crop_height: h,
                },
                None => Resize::Exact {
                    width: w,
                    height: h,
                },
            });
        }
        if self.nhwc {
            p = p.with_layout(Layout::Nhwc);
        }
        Ok(p.with_convert_channels(self.convert_channels))
    }

    /// A one-input spec over the images in `dir`, feeding input `name`.
    pub fn spec(&self, dir: &Path, name: &str) -> Result<Spec> {
        if !dir.is_dir() {
            bail!("{}: not a folder of images", dir.display());
        }
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        let mut spec =
            Spec::new(self.batch).with_input(Input::images(name, dir, self.preprocess()?));
        if let Some(limit) = self.limit {
            spec = spec.with_limit(limit);
        }
        if self.skip_bad_files {
            spec = spec.with_on_bad_file(OnBadFile::Skip);
        }
        Ok(spec)
    }
}

/// Where calibration data comes from: a folder plus flags, or a TOML spec.
#[derive(Args, Debug, Clone, Default)]
pub struct CalibData {
    /// Calibration images: a folder (sorted by file name), preprocessed as the flags below say.
    #[arg(long, value_name = "DIR", conflicts_with = "calib_config")]
    pub calib: Option<PathBuf>,
    /// Calibration data described by a TOML spec (several inputs, npy arrays...); see `trt data preview --help`.
    #[arg(long, value_name = "FILE.toml")]
    pub calib_config: Option<PathBuf>,
    #[command(flatten)]
    pub pre: Preprocessing,
}

impl CalibData {
    pub fn given(&self) -> bool {
        self.calib.is_some() || self.calib_config.is_some()
    }

    /// The spec; `default_name` names the input of the quick form when --input-name is absent.
    pub fn spec(&self, default_name: impl FnOnce() -> Result<String>) -> Result<Option<Spec>> {
        if let Some(toml) = &self.calib_config {
            let spec = Spec::from_toml_file(toml)
                .with_context(|| format!("cannot read {}", toml.display()))?;
            return Ok(Some(spec));
        }
        let Some(dir) = &self.calib else {
            return Ok(None);
        };
        let name = match &self.pre.input_name {
            Some(n) => n.clone(),
            None => default_name()?,
        };
        Ok(Some(self.pre.spec(dir, &name)?))
    }
}

/// `name:1x3x224x224`: a fixed shape for a dynamic input.
pub fn parse_shape_arg(s: &str) -> std::result::Result<(String, Vec<i64>), String> {
    let (name, dims) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}`: expected NAME:DIMS, e.g. input:1x3x224x224"))?;
    if name.is_empty() {
        return Err(format!("`{s}`: the input name is empty"));
    }
    Ok((
        name.to_string(),
        parse_dims(dims).map_err(|e| format!("`{s}`: {e}"))?,
    ))
}

/// `name:MIN:OPT:MAX`, each `1x3x224x224`: an optimization profile entry.
pub fn parse_profile_arg(s: &str) -> std::result::Result<trt::ProfileInput, String> {
    let parts: Vec<&str> = s.rsplitn(4, ':').collect();
    if parts.len() != 4 || parts[3].is_empty() {
        return Err(format!(
            "`{s}`: expected NAME:MIN:OPT:MAX, e.g. input:1x3x224x224:8x3x224x224:16x3x224x224"
        ));
    }
    let d = |p: &str| parse_dims(p).map_err(|e| format!("`{s}`: {e}"));
    let (min, opt, max) = (d(parts[2])?, d(parts[1])?, d(parts[0])?);
    if min.len() != opt.len() || opt.len() != max.len() {
        return Err(format!("`{s}`: MIN, OPT and MAX must have the same rank"));
    }
    if min
        .iter()
        .zip(&opt)
        .zip(&max)
        .any(|((a, b), c)| a > b || b > c)
    {
        return Err(format!("`{s}`: every dimension needs MIN <= OPT <= MAX"));
    }
    Ok(trt::ProfileInput {
        name: parts[3].to_string(),
        min,
        opt,
        max,
    })
}

fn parse_dims(s: &str) -> std::result::Result<Vec<i64>, String> {
    let dims: std::result::Result<Vec<i64>, _> = s
        .split(['x', 'X'])
        .map(|d| d.trim().parse::<i64>())
        .collect();
    match dims {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(d),
        _ => Err(format!(
            "`{s}` is not a shape like 1x3x224x224 (positive dimensions)"
        )),
    }
}

/// Loads TensorRT and checks for the CUDA driver, so that a machine without them gets one
/// clear line instead of a panic deep inside.
pub fn require_tensorrt() -> Result<&'static trt::sys::Library> {
    let lib = trt::sys::Library::get().map_err(trt::Error::from)?;
    // SAFETY: only checks whether libcuda can be opened.
    if !unsafe { trt::cudarc::driver::sys::is_culib_present() } {
        bail!("TensorRT {} was found at {}, but no CUDA driver (libcuda.so): this command needs an NVIDIA GPU", lib.version(), lib.path().display());
    }
    Ok(lib)
}

/// A runtime on GPU 0 of this machine's TensorRT, or why there is none (no library, no
/// driver, no GPU): for the checks that ask TensorRT when it is at hand.
pub fn runtime_here() -> std::result::Result<trt::Runtime, String> {
    require_tensorrt().map_err(|e| format!("{e:#}"))?;
    trt::Runtime::new().map_err(|e| e.to_string())
}

/// A progress bar on stderr (hidden when stderr is not a terminal or with -q).
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let pb = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if log::max_level() < log::LevelFilter::Warn {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = indicatif::ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

/// Writes pretty JSON and a newline.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).context("cannot write JSON")?;
    writeln!(out)?;
    Ok(())
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn write_columns(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == n {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header)?;
    for row in rows {
        line(out, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    Ok(())
}

/// A file name for a tensor name (`/` and other separators replaced).
pub fn tensor_file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}.npy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_profiles() {
        assert_eq!(
            parse_shape_arg("input:1x3x224x224").unwrap(),
            ("input".into(), vec![1, 3, 224, 224])
        );
        assert_eq!(parse_shape_arg("onnx::x:2x3").unwrap().0, "onnx::x");
        assert!(parse_shape_arg("input").is_err());
        assert!(parse_shape_arg("input:1x0").is_err());
        let p = parse_profile_arg("input:1x3x8x8:4x3x8x8:8x3x8x8").unwrap();
        assert_eq!(
            (p.name.as_str(), p.min[0], p.opt[0], p.max[0]),
            ("input", 1, 4, 8)
        );
        assert!(parse_profile_arg("input:8x3:4x3:1x3")
            .unwrap_err()
            .contains("MIN <= OPT <= MAX"));
        assert!(parse_profile_arg("input:1x3:4x3").is_err());
        assert_eq!(parse_size("224x160"), Ok((224, 160)));
        assert!(parse_size("224").is_err());
        assert_eq!(tensor_file_name("/conv1/out:0"), "_conv1_out_0.npy");
    }
}
