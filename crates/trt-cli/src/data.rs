//! `trt data`: check calibration data, and look at it exactly as TensorRT will receive it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ndarray::{ArrayD, Axis};
use serde::Serialize;
use trt_calib_data::{
    BadFile, BatchSource, CheckReport, DType, Error as DataError, Expected, Layout, Pipeline, Spec,
};

use crate::common::{self, Preprocessing};
use crate::exit::Outcome;

/// Calibration data commands.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Check the whole calibration data set before a build: decode every image, find truncated,
    /// undecodable and grey-among-colour files, compare shapes, dtypes, sample counts and the
    /// batch size. Exit 0 when all is well, 1 with the list of problems.
    ///
    /// No TensorRT needed. With --shape/--dtype, the inputs are also compared with what the
    /// network takes.
    #[command(after_help = concat!("Examples:\n  \
        trt data check calib.toml\n  \
        trt data check --images calib/ --size 224x224 --rgb --batch 8\n  \
        trt data check --images calib/ --gray --convert-channels --shape input:8x1x28x28 --json\n  \
        trt data check calib.toml --dtype ids:int32 --shape data:8x3x224x224\n\n",
        "TOML spec:\n  \
        batch_size = 8\n  \
        on_bad_file = \"error\"        # or \"skip\": leave bad files out, with a warning each\n  \
        [[input]]\n  \
        name = \"data\"\n  \
        images = \"calib/\"\n  \
        resize = { short_side = 256, crop = [224, 224] }\n  \
        channel_order = \"rgb\"\n  \
        convert_channels = true        # grey images among colour ones are converted\n  \
        [[input]]\n  \
        name = \"ids\"\n  \
        npy = \"ids.npy\"\n  \
        dtype = \"int32\"\n\n",
        "Exit codes: 0 usable, 1 problems found (listed), 2 error (unreadable spec, bad arguments)."))]
    Check {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON: {ok, batch_size, batches, samples, inputs, images_checked, skipped, seconds}
        /// or {ok: false, bad_files, problems, fixes, skipped}.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole data set, then write the first calibration batch, exactly as TensorRT
    /// receives it (in each input's dtype), as .npy; print per input its shape, dtype and
    /// per-channel min / max / mean.
    ///
    /// Either a TOML spec (the same file `trt build --calib-config` takes), or the quick form:
    /// a folder of images and preprocessing flags.
    #[command(after_help = concat!("Examples:\n  \
        trt data preview calib.toml --out-dir preview/\n  \
        trt data preview --images calib/ --size 224x224 --short-side 256 --rgb \\\n      \
            --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --batch 8 --out batch.npy\n  \
        trt data preview --images models/fashion-mnist/calib --gray --mean 72.93 --std 90.0 --out batch.npy --json\n\n",
        "TOML spec:\n  \
        batch_size = 8\n  \
        [[input]]\n  \
        name = \"data\"\n  \
        images = \"calib/\"\n  \
        resize = { short_side = 256, crop = [224, 224] }\n  \
        channel_order = \"bgr\"\n  \
        mean = [102.9801, 115.9465, 122.7717]\n  \
        scale = 1.0"))]
    Preview {
        #[command(flatten)]
        data: DataArgs,
        /// Write the batch to this .npy file (only when there is one input).
        #[arg(long, value_name = "FILE.npy", conflicts_with = "out_dir")]
        out: Option<PathBuf>,
        /// Write one `<input>.npy` per input into this folder.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Print JSON: {batches, batch_size, skipped, inputs: [{name, shape, dtype, channels: [{min, max, mean}], file}]}.
        #[arg(long)]
        json: bool,
    },
}

/// The data (a TOML spec or the quick form) and, optionally, what the network takes.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// Calibration data spec (TOML). Omit it and give --images for the quick form.
    #[arg(conflicts_with = "images", required_unless_present = "images")]
    spec: Option<PathBuf>,
    /// Quick form: a folder of images (sorted by file name).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    #[command(flatten)]
    pre: Preprocessing,
    /// The network's shape of an input, batch dimension included, e.g. data:8x3x224x224
    /// (repeatable). Inputs not named keep the data's own.
    #[arg(long = "shape", value_name = "NAME:DIMS", value_parser = common::parse_shape_arg, help_heading = "Network")]
    shapes: Vec<(String, Vec<i64>)>,
    /// The network's dtype of an input, e.g. ids:int32 (float32, float16, int32, int64, int8,
    /// uint8, bool; repeatable). An input without a `dtype` of its own is converted to it when exact.
    #[arg(long = "dtype", value_name = "NAME:DTYPE", value_parser = parse_dtype_arg, help_heading = "Network")]
    dtypes: Vec<(String, DType)>,
}

fn parse_dtype_arg(s: &str) -> std::result::Result<(String, DType), String> {
    let (name, dtype) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}`: expected NAME:DTYPE, e.g. ids:int32"))?;
    if name.is_empty() {
        return Err(format!("`{s}`: the input name is empty"));
    }
    let dtype = dtype.parse::<DType>().map_err(|e| match e {
        DataError::Spec { message, .. } => message,
        other => other.to_string(),
    })?;
    Ok((name.to_string(), dtype))
}

impl DataArgs {
    fn spec(&self) -> Result<Spec> {
        match (&self.spec, &self.images) {
            (Some(toml), _) => Spec::from_toml_file(toml)
                .with_context(|| format!("cannot read {}", toml.display())),
            (None, Some(dir)) => self
                .pre
                .spec(dir, self.pre.input_name.as_deref().unwrap_or("input")),
            (None, None) => bail!("give a TOML spec or --images DIR"),
        }
    }

    /// What the network takes, from --shape/--dtype (the data's own shape and dtype for what
    /// they do not name); empty without them.
    fn expected(&self, pipeline: &Pipeline) -> Result<Vec<Expected>> {
        if self.shapes.is_empty() && self.dtypes.is_empty() {
            return Ok(Vec::new());
        }
        let infos = pipeline.input_info();
        let mut names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
        for n in self
            .shapes
            .iter()
            .map(|s| &s.0)
            .chain(self.dtypes.iter().map(|d| &d.0))
        {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
            .into_iter()
            .map(|name| {
                let info = infos.iter().find(|i| i.name == name);
                let shape = match self.shapes.iter().rev().find(|s| s.0 == name) {
                    Some((_, dims)) => dims
                        .iter()
                        .map(|&d| usize::try_from(d).context("negative dimension"))
                        .collect::<Result<Vec<_>>>()?,
                    None => info.map(|i| i.shape.clone()).unwrap_or_default(),
                };
                let dtype = match self.dtypes.iter().rev().find(|d| d.0 == name) {
                    Some((_, d)) => *d,
                    None => info.map(|i| i.dtype).unwrap_or(DType::F32),
                };
                Ok(Expected::new(name, shape, dtype))
            })
            .collect()
    }
}

pub fn run(command: DataCommand, out: &mut dyn Write) -> Result<Outcome> {
    match command {
        DataCommand::Check { data, json } => check(&data, json, out),
        DataCommand::Preview {
            data,
            out: file,
            out_dir,
            json,
        } => preview(&data, file, out_dir, json, out),
    }
}

#[derive(Serialize)]
struct CheckOk<'a> {
    ok: bool,
    #[serde(flatten)]
    report: &'a CheckReport,
}

#[derive(Serialize)]
struct CheckFailed<'a> {
    ok: bool,
    bad_files: &'a [BadFile],
    problems: Vec<String>,
    fixes: &'a [String],
    skipped: &'a [BadFile],
}

fn check(data: &DataArgs, json: bool, out: &mut dyn Write) -> Result<Outcome> {
    let spec = data.spec()?;
    let result = spec.open().and_then(|mut pipeline| {
        let expected = data.expected(&pipeline).map_err(|e| DataError::Spec {
            path: None,
            message: format!("{e:#}"),
        })?;
        pipeline.check(&expected)
    });
    let report = match result {
        Ok(r) => r,
        Err(e @ DataError::Worker(_)) => return Err(e.into()),
        Err(e) => {
            write_failure(&e, json, out)?;
            return Ok(Outcome::Negative);
        }
    };
    if json {
        common::write_json(
            out,
            &CheckOk {
                ok: true,
                report: &report,
            },
        )?;
        return Ok(Outcome::Success);
    }
    let images = if report.images_checked > 0 {
        format!(
            " ({} image(s) decoded in {:.2} s)",
            report.images_checked, report.seconds
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "ok: {} sample(s) per input, {} batch(es) of {}, {} skipped{images}",
        report.samples,
        report.batches,
        report.batch_size,
        report.skipped.len()
    )?;
    for i in &report.inputs {
        writeln!(
            out,
            "input `{}`  shape {}  {}  {}",
            i.name,
            dims(&i.shape),
            i.dtype,
            i.source
        )?;
    }
    for s in &report.skipped {
        writeln!(out, "skipped  {s}")?;
    }
    Ok(Outcome::Success)
}

fn write_failure(e: &DataError, json: bool, out: &mut dyn Write) -> Result<()> {
    match (e, json) {
        (DataError::Check(f), true) => common::write_json(
            out,
            &CheckFailed {
                ok: false,
                bad_files: &f.bad_files,
                problems: f.problems.clone(),
                fixes: &f.fixes,
                skipped: &f.skipped,
            },
        ),
        (other, true) => common::write_json(
            out,
            &CheckFailed {
                ok: false,
                bad_files: &[],
                problems: vec![other.to_string()],
                fixes: &[],
                skipped: &[],
            },
        ),
        (DataError::Check(f), false) => Ok(writeln!(out, "{f}")?),
        (other, false) => Ok(writeln!(out, "calibration data check failed: {other}")?),
    }
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

#[derive(Serialize)]
struct ChannelStats {
    min: f64,
    max: f64,
    mean: f64,
}

#[derive(Serialize)]
struct InputPreview {
    name: String,
    shape: Vec<usize>,
    dtype: DType,
    channel_axis: Option<usize>,
    channels: Vec<ChannelStats>,
    file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Preview {
    batches: usize,
    batch_size: usize,
    skipped: Vec<BadFile>,
    inputs: Vec<InputPreview>,
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

fn stats(a: &ArrayD<f64>) -> ChannelStats {
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &x in a.iter() {
        min = min.min(x);
        max = max.max(x);
        sum += x;
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
    data: &DataArgs,
    file: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let spec = data.spec()?;
    let mut pipeline = spec.open().context("cannot open the calibration data")?;
    let expected = data.expected(&pipeline)?;
    // The whole set first: a bad file in a later batch fails here, not in a build.
    let report = pipeline
        .check(&expected)
        .context("the calibration data does not pass the check (see `trt data check`)")?;
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
    for (name, view) in batch.iter() {
        let path = match (&file, &out_dir) {
            (Some(f), _) => Some(f.clone()),
            (None, Some(d)) => Some(d.join(common::tensor_file_name(name))),
            _ => None,
        };
        if let Some(p) = &path {
            batch
                .write_npy(name, p)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        let values = view.to_f64();
        let axis = channel_axis(&spec, name, values.ndim());
        let channels = match axis {
            Some(ax) => values
                .axis_iter(Axis(ax))
                .map(|c| stats(&c.to_owned()))
                .collect(),
            None => vec![stats(&values)],
        };
        inputs.push(InputPreview {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            dtype: view.dtype(),
            channel_axis: axis,
            channels,
            file: path,
        });
    }
    let preview = Preview {
        batches: report.batches,
        batch_size: batch.size(),
        skipped: report.skipped,
        inputs,
    };
    if json {
        common::write_json(out, &preview)?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "batches  {} of {}",
        preview.batches, preview.batch_size
    )?;
    if !preview.skipped.is_empty() {
        writeln!(out, "skipped  {} bad file(s)", preview.skipped.len())?;
        for s in &preview.skipped {
            writeln!(out, "  {s}")?;
        }
    }
    for input in &preview.inputs {
        writeln!(
            out,
            "\ninput `{}`  shape {}  {}",
            input.name,
            dims(&input.shape),
            input.dtype
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_args() {
        assert_eq!(
            parse_dtype_arg("onnx::ids:int32").unwrap(),
            ("onnx::ids".to_string(), DType::I32)
        );
        assert!(parse_dtype_arg("ids:float64")
            .unwrap_err()
            .contains("unknown dtype `float64`"));
        assert!(parse_dtype_arg("int32").is_err());
    }
}
