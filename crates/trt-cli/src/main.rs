//! `trt`: build, inspect and deploy TensorRT INT8 engines and their calibration tables.
//!
//! This file only parses the command line and dispatches. Each command group lives in its own
//! module with a `Subcommand` enum and `run(command, out) -> anyhow::Result<Outcome>`; adding a
//! group is one variant in [`Command`], one arm in `main`, and that module.

mod cache;
mod exit;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes: 0 success (or "yes"), 1 a negative answer (incompatible, different), 2 an error.
#[derive(Parser)]
#[command(name = "trt", version, about, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    trt cache show model.calib.cache\n  \
    trt cache check model.calib.cache --trt 10.3\n\n\
    Exit codes: 0 success, 1 negative answer (incompatible, different), 2 error.")]
struct Cli {
    #[command(flatten)]
    verbosity: logging::Verbosity,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// INT8 calibration tables (calibration caches): show, check, diff.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.verbosity);
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Cache(command) => cache::run(command, &mut out),
    };
    exit::finish(result)
}
