//! `trt data`: look at calibration data exactly as TensorRT will receive it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ndarray::{ArrayViewD, Axis};
use serde::Serialize;
use trt_calib_data::{BatchSource, Layout, Spec};

use crate::common::{self, Preprocessing};
use crate::exit::Outcome;

/// Calibration data commands.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Write the first calibration batch, exactly as TensorRT receives it, as .npy; print per
    /// input its shape and per-channel min / max / mean.
    ///
    /// Either a TOML spec (the same file `trt build --calib-config` takes), or the quick form:
    /// a folder of images and preprocessing flags.
    #[command(after_help = "Examples:\n  \
        trt data preview calib.toml --out-dir preview/\n  \
        trt data preview --images calib/ --size 224x224 --short-side 256 --rgb \\\n      \
            --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --batch 8 --out batch.npy\n  \
        trt data preview --images models/fashion-mnist/calib --gray --mean 72.93 --std 90.0 --out batch.npy --json\n\n\
        TOML spec:\n  \
        batch_size = 8\n  \
        [[input]]\n  \
        name = \"data\"\n  \
        images = \"calib/\"\n  \
        resize = { short_side = 256, crop = [224, 224] }\n  \
        channel_order = \"bgr\"\n  \
        mean = [102.9801, 115.9465, 122.7717]\n  \
        scale = 1.0")]
    Preview {
        /// Calibration data spec (TOML). Omit it and give --images for the quick form.
        #[arg(conflicts_with = "images", required_unless_present = "images")]
        spec: Option<PathBuf>,
        /// Quick form: a folder of images (sorted by file name).
        #[arg(long, value_name = "DIR")]
        images: Option<PathBuf>,
        #[command(flatten)]
        pre: Preprocessing,
        /// Write the batch to this .npy file (only when there is one input).
        #[arg(long, value_name = "FILE.npy", conflicts_with = "out_dir")]
        out: Option<PathBuf>,
        /// Write one `<input>.npy` per input into this folder.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Print JSON: {batches, batch_size, inputs: [{name, shape, channels: [{min, max, mean}], file}]}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct ChannelStats {
    min: f32,
    max: f32,
    mean: f64,
}

#[derive(Serialize)]
struct InputPreview {
    name: String,
    shape: Vec<usize>,
    channel_axis: Option<usize>,
    channels: Vec<ChannelStats>,
    file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Preview {
    batches: usize,
    batch_size: usize,
    inputs: Vec<InputPreview>,
}

pub fn run(command: DataCommand, out: &mut dyn Write) -> Result<Outcome> {
    match command {
        DataCommand::Preview {
            spec,
            images,
            pre,
            out: file,
            out_dir,
            json,
        } => {
            let spec = match (spec, images) {
                (Some(toml), _) => Spec::from_toml_file(&toml)
                    .with_context(|| format!("cannot read {}", toml.display()))?,
                (None, Some(dir)) => {
                    pre.spec(&dir, pre.input_name.as_deref().unwrap_or("input"))?
                }
                (None, None) => bail!("give a TOML spec or --images DIR"),
            };
            preview(&spec, file, out_dir, json, out)
        }
    }
}

/// Channel axis of an input: NHWC images -> last, other rank >= 2 arrays -> 1.
fn channel_axis(spec: &Spec, name: &str, rank: usize) -> Option<usize> {
    let layout = spec
        .inputs()
        .iter()
        .find(|i| i.name() == name)
        .and_then(|i| i.preprocess())
        .map(|p| p.layout());
    match layout {
        Some(Layout::Nhwc) if rank >= 2 => Some(rank - 1),
        _ if rank >= 2 => Some(1),
        _ => None,
    }
}

fn stats(a: &ArrayViewD<'_, f32>) -> ChannelStats {
    let (mut min, mut max, mut sum) = (f32::INFINITY, f32::NEG_INFINITY, 0f64);
    for &x in a.iter() {
        min = min.min(x);
        max = max.max(x);
        sum += f64::from(x);
    }
    ChannelStats {
        min,
        max,
        mean: if a.is_empty() {
            0.0
        } else {
            sum / a.len() as f64
        },
    }
}

fn preview(
    spec: &Spec,
    file: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let mut pipeline = spec.open().context("cannot open the calibration data")?;
    let batches = pipeline.batch_count();
    let batch = match pipeline.next_batch() {
        Some(b) => b.context("cannot make the first batch")?,
        None => bail!("the calibration data yields no batch (fewer samples than the batch size, and last_batch = \"drop\"?)"),
    };
    let names: Vec<String> = batch.names().map(String::from).collect();
    if file.is_some() && names.len() != 1 {
        bail!(
            "the data has {} inputs ({}); use --out-dir to write one .npy per input",
            names.len(),
            names.join(", ")
        );
    }
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut inputs = Vec::new();
    for (name, array) in batch.iter() {
        let path = match (&file, &out_dir) {
            (Some(f), _) => Some(f.clone()),
            (None, Some(d)) => Some(d.join(common::tensor_file_name(name))),
            _ => None,
        };
        if let Some(p) = &path {
            ndarray_npy::write_npy(p, &array)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        let axis = channel_axis(spec, name, array.ndim());
        let channels = match axis {
            Some(ax) => array.axis_iter(Axis(ax)).map(|c| stats(&c)).collect(),
            None => vec![stats(&array)],
        };
        inputs.push(InputPreview {
            name: name.to_string(),
            shape: array.shape().to_vec(),
            channel_axis: axis,
            channels,
            file: path,
        });
    }
    let report = Preview {
        batches,
        batch_size: batch.size(),
        inputs,
    };
    if json {
        common::write_json(out, &report)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "batches  {} of {}", report.batches, report.batch_size)?;
    for input in &report.inputs {
        let shape: Vec<String> = input.shape.iter().map(|d| d.to_string()).collect();
        writeln!(
            out,
            "\ninput `{}`  shape {}  f32",
            input.name,
            shape.join("x")
        )?;
        if let Some(f) = &input.file {
            writeln!(out, "written  {}", f.display())?;
        }
        let rows: Vec<Vec<String>> = input
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![
                    format!("  {i}"),
                    format!("{:.6}", c.min),
                    format!("{:.6}", c.max),
                    format!("{:.6}", c.mean),
                ]
            })
            .collect();
        common::write_columns(out, &["  CHANNEL", "MIN", "MAX", "MEAN"], &rows)?;
    }
    Ok(Outcome::Success)
}
