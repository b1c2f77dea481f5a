//! `trt run`: run an engine on .npy inputs, write the outputs, and time it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::ArrayD;
use serde::Serialize;
use trt::cudarc::driver::sys::CUevent_flags;
use trt::cudarc::driver::{CudaContext, CudaSlice};

use crate::common;
use crate::exit::Outcome;

/// Run an engine on .npy inputs (f32), write each output as `<name>.npy`, and optionally time it.
///
/// Timing uses device buffers bound once (no host copies in the loop): wall time per
/// enqueue + synchronize, and GPU time from CUDA events recorded around the enqueue.
/// Needs TensorRT and a GPU.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt run model.engine --input image=batch.npy --output-dir out/\n  \
    trt run model.engine --input image=batch.npy --iterations 200 --warmup 20\n  \
    trt run model.engine --input input=x.npy --input im_info=info.npy --iterations 100 --json")]
pub struct RunArgs {
    /// The engine file.
    pub engine: PathBuf,
    /// An input: NAME=FILE.npy (f32, with the batch dimension). Repeat for each input.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input, required = true)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Where to write `<output>.npy` (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Timed runs (0: just run once and write the outputs).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub iterations: usize,
    /// Untimed runs before timing.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub warmup: usize,
    /// CUDA device.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Print JSON: {outputs: [{name, shape, file}], timing: {...}}.
    #[arg(long)]
    pub json: bool,
}

fn parse_input(s: &str) -> std::result::Result<(String, PathBuf), String> {
    let (n, p) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=FILE.npy"))?;
    if n.is_empty() || p.is_empty() {
        return Err(format!("`{s}`: expected NAME=FILE.npy"));
    }
    Ok((n.to_string(), PathBuf::from(p)))
}

/// Latency statistics in milliseconds.
#[derive(Serialize, Debug, PartialEq)]
pub struct Timing {
    pub iterations: usize,
    pub batch: usize,
    pub wall_median_ms: f64,
    pub wall_p90_ms: f64,
    pub wall_p99_ms: f64,
    pub gpu_median_ms: f64,
    pub gpu_p90_ms: f64,
    pub gpu_p99_ms: f64,
    /// Samples per second (batch / mean wall time per iteration).
    pub throughput: f64,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn timing(mut wall: Vec<f64>, mut gpu: Vec<f64>, batch: usize) -> Timing {
    wall.sort_by(f64::total_cmp);
    gpu.sort_by(f64::total_cmp);
    let mean = wall.iter().sum::<f64>() / wall.len().max(1) as f64;
    Timing {
        iterations: wall.len(),
        batch,
        wall_median_ms: percentile(&wall, 50.0),
        wall_p90_ms: percentile(&wall, 90.0),
        wall_p99_ms: percentile(&wall, 99.0),
        gpu_median_ms: percentile(&gpu, 50.0),
        gpu_p90_ms: percentile(&gpu, 90.0),
        gpu_p99_ms: percentile(&gpu, 99.0),
        throughput: if mean > 0.0 {
            batch as f64 * 1000.0 / mean
        } else {
            0.0
        },
    }
}

#[derive(Serialize)]
struct OutputFile {
    name: String,
    shape: Vec<usize>,
    file: PathBuf,
}

pub fn run(args: RunArgs, out: &mut dyn Write) -> Result<Outcome> {
    let mut arrays: Vec<(String, ArrayD<f32>)> = Vec::new();
    for (name, path) in &args.inputs {
        if arrays.iter().any(|(n, _)| n == name) {
            bail!("input `{name}` given twice");
        }
        let a: ArrayD<f32> = ndarray_npy::read_npy(path)
            .with_context(|| format!("cannot read {} as an f32 .npy array", path.display()))?;
        arrays.push((name.clone(), a.as_standard_layout().into_owned()));
    }
    let bytes = std::fs::read(&args.engine)
        .with_context(|| format!("cannot read {}", args.engine.display()))?;
    common::require_tensorrt()?;
    let runtime = trt::Runtime::new()?;
    let engine = runtime
        .deserialize(&bytes)
        .with_context(|| format!("cannot load {}", args.engine.display()))?;
    let ctx = CudaContext::new(args.device)?;
    let stream = ctx.new_stream()?;
    let mut context = engine.create_context(stream.clone())?;

    let views: Vec<(&str, ndarray::ArrayViewD<'_, f32>)> =
        arrays.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let outputs = context.run(&views)?;
    let dir = args
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for (name, array) in &outputs {
        let file = dir.join(common::tensor_file_name(name));
        ndarray_npy::write_npy(&file, array)
            .with_context(|| format!("cannot write {}", file.display()))?;
        files.push(OutputFile {
            name: name.clone(),
            shape: array.shape().to_vec(),
            file,
        });
    }

    let mut timed = None;
    if args.iterations > 0 {
        // Device buffers bound once: the loop measures the engine, not host copies.
        let mut inputs: Vec<(String, CudaSlice<f32>)> = Vec::new();
        for (name, a) in &arrays {
            let slice = a.as_slice().expect("standard layout");
            inputs.push((name.clone(), stream.clone_htod(slice)?));
        }
        let mut outs: Vec<(String, CudaSlice<u8>)> = Vec::new();
        for t in engine.outputs() {
            let shape = context.tensor_shape(&t.name)?;
            let n = shape.iter().product::<usize>() * t.dtype.size();
            outs.push((t.name.clone(), stream.alloc_zeros::<u8>(n.max(1))?));
        }
        for (name, buf) in &inputs {
            context.bind_input(name, buf)?;
        }
        for (name, buf) in &mut outs {
            context.bind_output(name, buf)?;
        }
        for _ in 0..args.warmup {
            context.enqueue()?;
        }
        stream.synchronize()?;
        let start = ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        let end = ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        let (mut wall, mut gpu) = (
            Vec::with_capacity(args.iterations),
            Vec::with_capacity(args.iterations),
        );
        let pb = common::progress(Some(args.iterations as u64), "timing");
        for _ in 0..args.iterations {
            let t = Instant::now();
            start.record(&stream)?;
            context.enqueue()?;
            end.record(&stream)?;
            stream.synchronize()?;
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            gpu.push(f64::from(start.elapsed_ms(&end)?));
            pb.inc(1);
        }
        pb.finish_and_clear();
        let batch = arrays
            .first()
            .and_then(|(_, a)| a.shape().first().copied())
            .unwrap_or(1);
        timed = Some(timing(wall, gpu, batch));
        drop(context);
    }

    if args.json {
        common::write_json(
            out,
            &serde_json::json!({ "outputs": files, "timing": timed }),
        )?;
        return Ok(Outcome::Success);
    }
    for f in &files {
        let shape: Vec<String> = f.shape.iter().map(|d| d.to_string()).collect();
        writeln!(
            out,
            "output `{}`  {}  -> {}",
            f.name,
            shape.join("x"),
            f.file.display()
        )?;
    }
    if let Some(t) = timed {
        writeln!(out, "\n{} iterations, batch {}", t.iterations, t.batch)?;
        common::write_columns(
            out,
            &["", "MEDIAN ms", "P90 ms", "P99 ms"],
            &[
                vec![
                    "wall".into(),
                    format!("{:.4}", t.wall_median_ms),
                    format!("{:.4}", t.wall_p90_ms),
                    format!("{:.4}", t.wall_p99_ms),
                ],
                vec![
                    "GPU".into(),
                    format!("{:.4}", t.gpu_median_ms),
                    format!("{:.4}", t.gpu_p90_ms),
                    format!("{:.4}", t.gpu_p99_ms),
                ],
            ],
        )?;
        writeln!(out, "throughput {:.1} samples/s", t.throughput)?;
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput() {
        let wall: Vec<f64> = (1..=100).map(f64::from).collect();
        let t = timing(wall.iter().rev().copied().collect(), wall.clone(), 8);
        assert_eq!(
            (t.wall_median_ms, t.wall_p90_ms, t.wall_p99_ms),
            (50.0, 90.0, 99.0)
        );
        assert_eq!(t.gpu_p99_ms, 99.0);
        // mean 50.5 ms per batch of 8.
        assert!((t.throughput - 8000.0 / 50.5).abs() < 1e-9);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(
            parse_input("image=a=b.npy").unwrap(),
            ("image".to_string(), PathBuf::from("a=b.npy"))
        );
        assert!(parse_input("image").is_err());
    }
}
