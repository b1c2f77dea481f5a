//! `trt`: build, inspect and deploy TensorRT INT8 engines and their calibration tables.
//!
//! This file only parses the command line and dispatches. Each command (group) lives in its own
//! module with a clap `Args`/`Subcommand` type and a `run(command, out) -> anyhow::Result<Outcome>`;
//! adding one is one variant in [`Command`], one arm in `main`, and that module.

mod budget;
mod build;
mod bundle;
mod cache;
mod calib;
mod common;
mod data;
mod diff;
mod eval;
mod exit;
mod inspect;
mod logging;
mod plot;
mod qdq;
mod run;
mod stability;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes: 0 success (or "yes"), 1 a negative answer (incompatible, different), 2 an error.
#[derive(Parser)]
#[command(name = "trt", version, about, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    trt data preview --images calib/ --size 224x224 --rgb --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --out batch.npy\n  \
    trt build model.onnx --int8 --calib calib/ --size 224x224 --rgb --calib-cache model.calib.cache -o model.engine\n  \
    trt inspect model.engine\n  \
    trt diff a.engine.report.json b.engine.report.json\n  \
    trt eval model.int8.engine --reference model.onnx --data eval/ --size 224x224 --rgb\n  \
    trt run model.engine --input input=batch.npy --iterations 100\n  \
    trt bundle --engine model.engine --table model.calib.cache --onnx model.onnx -o bundle/\n  \
    trt verify-bundle bundle/\n  \
    trt cache check model.calib.cache --trt 10.3\n  \
    trt qdq export model.onnx --calib-cache model.calib.cache -o model.qdq.onnx\n  \
    trt qdq compare model.int8.engine model.qdq.engine\n\n\
    TensorRT is loaded at run time from TRT_LIB_DIR, then the loader's search path.\n\
    Exit codes: 0 success, 1 negative answer (incompatible, different, refused), 2 error.")]
struct Cli {
    #[command(flatten)]
    verbosity: logging::Verbosity,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an engine from ONNX (FP16, INT8 calibrated by Rust, strict INT8); writes a build report.
    Build(Box<build::BuildArgs>),
    /// Only make an INT8 calibration table (calibrate, write the table, discard the engine; or, with --method, compute it from our own activation statistics).
    Calib(calib::CalibArgs),
    /// Show an engine: TensorRT version, I/O, layers with precision and tactic.
    Inspect(inspect::InspectArgs),
    /// Compare two builds (engines, build reports or inspector JSON), layer by layer.
    Diff(diff::DiffArgs),
    /// Evaluate an engine against a reference (FP32 engine or ONNX) on a data set: agreement, accuracy, GPU time.
    Eval(Box<eval::EvalArgs>),
    /// Run an engine on .npy inputs; write outputs; time it.
    Run(run::RunArgs),
    /// Pack engine, table, report and ONNX with a manifest, for deployment (Jetson).
    Bundle(bundle::BundleArgs),
    /// Check a bundle's files and that its engine fits this TensorRT and GPU.
    VerifyBundle(bundle::VerifyArgs),
    /// Calibration data: preview the first batch as TensorRT receives it.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// INT8 calibration tables (calibration caches): show, check, diff.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Explicit quantization for TensorRT 10/11: a Q/DQ ONNX model from a calibration table
    /// (placed after an implicit engine's INT8 layers, if given), and the two engines compared.
    #[command(subcommand)]
    Qdq(qdq::QdqCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.verbosity);
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Build(args) => build::build(*args, &mut out),
        Command::Calib(args) => calib::calib(args, &mut out),
        Command::Inspect(args) => inspect::run(args, &mut out),
        Command::Diff(args) => diff::run(args, &mut out),
        Command::Eval(args) => eval::run(*args, &mut out),
        Command::Run(args) => run::run(args, &mut out),
        Command::Bundle(args) => bundle::bundle(args, &mut out),
        Command::VerifyBundle(args) => bundle::verify(args, &mut out),
        Command::Data(command) => data::run(command, &mut out),
        Command::Cache(command) => cache::run(command, &mut out),
        Command::Qdq(command) => qdq::run(command, &mut out),
    };
    exit::finish(result)
}
