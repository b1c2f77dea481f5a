//! `trt calib`: only a calibration table, by TensorRT's calibrator or computed by trt from
//! activation statistics (`--method`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use trt::stats::{Method, Passes};
use trt::{
    collect_activations, table_from_activations, BuildConfig, BuildOutput, Builder, CollectOptions,
    Precision, TablePolicy,
};

use crate::build::{algorithm, calibrator, missing_library_hint, only_input, secs, ShapeFlags};
use crate::common::{self, CalibData};
use crate::exit::Outcome;
use crate::stability::StabilityArgs;

/// Only make a calibration table: calibrate (INT8 build), write the table, discard the engine.
///
/// With --method the table is computed by trt instead: the network's float activations are
/// marked as outputs of an FP32 engine, every batch runs through it, and each tensor's threshold
/// comes from its histogram; the table is headed with the loaded TensorRT's version.
///
/// With --stability K the calibration is repeated K times with other sample orders and batch
/// sizes and the tables compared with the one written. Exit code: 0 success (with --stability:
/// stable), 1 with --stability: a scale moves more than --stability-threshold, 2 error.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt calib resnet18.onnx --calib calib/ --size 224x224 --rgb --mean 123.675,116.28,103.53 \\\n      \
        --std 58.395,57.12,57.375 --calib-cache resnet18.calib.cache\n  \
    trt calib model.onnx --calib-config calib.toml --minmax --calib-cache model.minmax.cache\n  \
    trt calib fashion_mnist.onnx --calib models/fashion-mnist/calib --gray --mean 72.93 --std 90.0 --calib-cache fm.cache\n  \
    trt calib fashion_mnist.onnx --calib models/fashion-mnist/calib --gray --mean 72.93 --std 90.0 \\\n      \
        --method percentile=99.99 --calib-cache fm.p9999.calib\n  \
    trt calib fashion_mnist.onnx --calib models/fashion-mnist/calib --gray --mean 72.93 --std 90.0 \\\n      \
        --method percentile=99.99 --calib-cache fm.p9999.calib --stability 3\n  \
    trt calib model.onnx --calib-config calib.toml --method mse --calib-cache model.mse.calib --plot plots/")]
pub struct CalibArgs {
    /// The ONNX model.
    pub model: PathBuf,
    #[command(flatten)]
    pub data: CalibData,
    /// The calibration table to write (overwritten if it exists).
    #[arg(long, value_name = "TABLE", required = true)]
    pub calib_cache: PathBuf,
    /// MinMax calibration instead of entropy.
    #[arg(long, conflicts_with = "method")]
    pub minmax: bool,
    /// Compute the table ourselves instead of TensorRT's calibrator: activation statistics from an
    /// FP32 engine, thresholds by entropy, minmax, percentile=P (e.g. percentile=99.99) or mse.
    /// Entropy tables are headed EntropyCalibration2, the others MinMaxCalibration (build them
    /// with --minmax).
    #[arg(long, value_name = "METHOD", value_parser = parse_method)]
    pub method: Option<Method>,
    /// With --method: one pass over the data (histogram ranges grow) instead of two (a range
    /// pass, then histograms over exactly each tensor's range).
    #[arg(long, requires = "method")]
    pub one_pass: bool,
    /// With --method: also write TABLE by METHOD from the same statistics (one collection for
    /// several tables; repeatable), e.g. --also mse:model.mse.calib.
    #[arg(long, value_name = "METHOD:TABLE", requires = "method", value_parser = parse_also)]
    pub also: Vec<(Method, PathBuf)>,
    #[command(flatten)]
    pub plot: crate::plot::PlotArgs,
    /// Timing cache: read if present (a build of the same model made it: the calibration
    /// builds go faster), and written after TensorRT's calibration.
    #[arg(long, value_name = "FILE")]
    pub timing_cache: Option<PathBuf>,
    #[command(flatten)]
    pub shapes: ShapeFlags,
    #[command(flatten)]
    pub stability: StabilityArgs,
}

/// `config` with the timing cache at `path`, when the file exists.
fn with_timing_cache(config: BuildConfig, path: Option<&Path>) -> Result<BuildConfig> {
    let config = match path {
        Some(_) => config.returning_timing_cache(),
        None => config,
    };
    match path.filter(|p| p.is_file()) {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(config.with_timing_cache(bytes))
        }
        None => Ok(config),
    }
}

/// `METHOD:TABLE` (the method names hold no `:`).
fn parse_also(s: &str) -> std::result::Result<(Method, PathBuf), String> {
    let (m, path) = s
        .split_once(':')
        .filter(|(_, p)| !p.is_empty())
        .ok_or_else(|| format!("`{s}`: expected METHOD:TABLE, e.g. mse:model.mse.calib"))?;
    Ok((parse_method(m)?, PathBuf::from(path)))
}

fn parse_method(s: &str) -> std::result::Result<Method, String> {
    s.parse().map_err(|e: trt::stats::Error| e.to_string())
}

pub fn calib(args: CalibArgs, out: &mut dyn Write) -> Result<Outcome> {
    for (i, (_, p)) in args.also.iter().enumerate() {
        if *p == args.calib_cache || args.also[..i].iter().any(|(_, q)| q == p) {
            bail!("--also {}: every table needs its own file", p.display());
        }
    }
    if !args.data.given() {
        bail!("give calibration data: --calib DIR (with preprocessing flags) or --calib-config FILE.toml");
    }
    if !args.model.is_file() {
        bail!("{}: no such ONNX model", args.model.display());
    }
    common::require_tensorrt()?;
    if let Some(k) = args.stability.stability {
        return crate::stability::calib(&args, k, out);
    }
    if let Some(method) = args.method {
        return calib_ours(&args, method, out);
    }
    let config = with_timing_cache(
        args.shapes
            .apply(BuildConfig::new(Precision::Int8))
            .with_calibration_table(TablePolicy::recalibrate(&args.calib_cache)),
        args.timing_cache.as_deref(),
    )?;
    let builder = Builder::on_device(config.device())?;
    let mut network = builder.network_from_onnx_file(&args.model)?;
    let spec = args
        .data
        .spec(|| only_input(&network))?
        .expect("checked above");
    let mut c = calibrator(&spec, algorithm(args.minmax), "calibrating".into())?;
    let t = Instant::now();
    let built: BuildOutput = builder
        .build_calibrated(&mut network, &config, &mut *c)
        .map_err(missing_library_hint)?;
    if built.calibration_table.is_none() {
        bail!("TensorRT built the engine without writing a calibration table");
    }
    if let (Some(path), Some(bytes)) = (&args.timing_cache, &built.timing_cache) {
        trt::write_atomic(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    describe_table(
        &args.calib_cache,
        built.calibration_batches,
        t.elapsed(),
        out,
    )?;
    Ok(Outcome::Success)
}

/// `trt calib --method`: the table from our own activation statistics.
fn calib_ours(args: &CalibArgs, method: Method, out: &mut dyn Write) -> Result<Outcome> {
    let config = with_timing_cache(
        args.shapes.apply(BuildConfig::new(Precision::Fp32)),
        args.timing_cache.as_deref(),
    )?;
    let builder = Builder::on_device(config.device())?;
    let mut network = builder.network_from_onnx_file(&args.model)?;
    let spec = args
        .data
        .spec(|| only_input(&network))?
        .expect("checked by calib");
    let mut data = spec.open().context("cannot open the calibration data")?;
    let passes = if args.one_pass {
        Passes::One
    } else {
        Passes::Two
    };
    let options = CollectOptions::new().with_passes(passes);
    let acts = collect_activations(&builder, &mut network, &mut data, &options, &config)
        .map_err(missing_library_hint)?;
    crate::plot::write_plots(&args.plot, &acts.collector, out)?;
    let t = Instant::now();
    let table = table_from_activations(&acts, method, builder.library().version())?;
    let thresholds = t.elapsed();
    // Every table is computed before the first is written.
    let also_tables = args
        .also
        .iter()
        .map(|(m, _)| table_from_activations(&acts, *m, builder.library().version()))
        .collect::<trt::Result<Vec<_>>>()?;
    table.write_atomic(&args.calib_cache)?;
    let passes = match passes {
        Passes::One => 1,
        Passes::Two => 2,
    };
    writeln!(
        out,
        "method     {method} (computed by trt from activation statistics, not by TensorRT's calibrator)"
    )?;
    writeln!(
        out,
        "tensors    {} ({} marked as outputs of the FP32 collection engine), {} weights (max |w|, read from the network)",
        acts.collector.tensors().len(),
        acts.marked.len(),
        acts.weights.len()
    )?;
    writeln!(
        out,
        "data       {} batches, {} samples, {passes} pass(es)",
        acts.batches, acts.samples
    )?;
    writeln!(
        out,
        "time       collection engine {}, collect {} (histograms {}), thresholds {}",
        secs(acts.build_time),
        secs(acts.collect_time),
        secs(acts.histogram_time),
        secs(thresholds)
    )?;
    describe_table(&args.calib_cache, acts.batches, acts.collect_time, out)?;
    for ((also, path), t) in args.also.iter().zip(&also_tables) {
        t.write_atomic(path)?;
        writeln!(out, "also       {also}:")?;
        describe_table(path, acts.batches, acts.collect_time, out)?;
    }
    if table.algorithm == trt_calib_table::Algorithm::MinMaxCalibration {
        writeln!(
            out,
            "build with --minmax (the table is headed MinMaxCalibration) and --require-cache"
        )?;
    }
    Ok(Outcome::Success)
}

pub(crate) fn describe_table(
    path: &Path,
    batches: usize,
    took: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    let table = trt_calib_table::CalibrationTable::read(path)?;
    writeln!(
        out,
        "table {} written: TensorRT {}, {}, {} tensors, {batches} batches, {}",
        path.display(),
        table.version,
        table.algorithm,
        table.entries.len(),
        secs(took)
    )?;
    Ok(())
}
