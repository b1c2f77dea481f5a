//! `trt inspect`: what an engine runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use trt::{EngineLayer, IoTensor};

use crate::common;
use crate::exit::Outcome;

/// Show an engine: the TensorRT version running it, its inputs and outputs, every layer with
/// its precision and tactic, and layer counts by precision. Needs TensorRT and a GPU.
///
/// Precisions and tactics are only known for engines built with detailed profiling
/// (`trt build` records it for every precision).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt inspect model.engine\n  \
    trt inspect model.engine --json > model.inspect.json")]
pub struct InspectArgs {
    /// The engine file.
    pub engine: PathBuf,
    /// Print JSON: {tensorrt_version, engine, io, precision_counts, layers}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Inspection<'a> {
    tensorrt_version: String,
    engine: PathBuf,
    io: &'a [IoTensor],
    precision_counts: BTreeMap<String, usize>,
    layers: &'a [EngineLayer],
}

pub fn run(args: InspectArgs, out: &mut dyn Write) -> Result<Outcome> {
    let bytes = std::fs::read(&args.engine)
        .with_context(|| format!("cannot read {}", args.engine.display()))?;
    common::require_tensorrt()?;
    let runtime = trt::Runtime::new()?;
    let engine = runtime
        .deserialize(&bytes)
        .with_context(|| format!("cannot load {}", args.engine.display()))?;
    let report = engine.inspect()?;
    let info = Inspection {
        tensorrt_version: engine.tensorrt_version().to_string(),
        engine: args.engine.clone(),
        io: engine.io_tensors(),
        precision_counts: report.precision_counts(),
        layers: &report.layers,
    };
    if args.json {
        common::write_json(out, &info)?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "engine    {} ({} bytes)",
        args.engine.display(),
        bytes.len()
    )?;
    writeln!(
        out,
        "TensorRT  {} ({})",
        info.tensorrt_version,
        runtime.library().path().display()
    )?;
    writeln!(out)?;
    let io_rows: Vec<Vec<String>> = info
        .io
        .iter()
        .map(|t| {
            let shape: Vec<String> = t
                .shape
                .iter()
                .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
                .collect();
            vec![
                format!("{:?}", t.mode).to_lowercase(),
                t.name.clone(),
                shape.join("x"),
                format!("{:?}", t.dtype),
            ]
        })
        .collect();
    common::write_columns(out, &["I/O", "NAME", "SHAPE", "TYPE"], &io_rows)?;
    writeln!(out)?;
    write_layers(&report.layers, out)?;
    writeln!(out)?;
    write_counts(&info.precision_counts, out)?;
    if !report.is_detailed() {
        writeln!(out, "note      {NOT_DETAILED}")?;
    }
    Ok(Outcome::Success)
}

/// Why a plan shows no precisions.
pub const NOT_DETAILED: &str =
    "this plan was built without detailed profiling, so TensorRT tells only its \
    layer names: no precisions, formats or tactics. `trt build` records them for every precision; \
    elsewhere build with ProfilingVerbosity::kDETAILED (trtexec --profilingVerbosity=detailed)";

/// Layers with type, precision and tactic.
pub fn write_layers(layers: &[EngineLayer], out: &mut dyn Write) -> Result<()> {
    let rows: Vec<Vec<String>> = layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.layer_type.clone(),
                l.precision.clone().unwrap_or_else(|| "-".into()),
                match (&l.tactic, &l.tactic_name) {
                    (Some(v), Some(n)) => format!("{v} {n}"),
                    (Some(v), None) => v.clone(),
                    (None, Some(n)) => n.clone(),
                    (None, None) => "-".into(),
                },
            ]
        })
        .collect();
    common::write_columns(out, &["LAYER", "TYPE", "PRECISION", "TACTIC"], &rows)?;
    Ok(())
}

/// `layers by precision: INT8 40, FP32 3` (compute layers: reformats and constants excluded).
pub fn write_counts(counts: &BTreeMap<String, usize>, out: &mut dyn Write) -> Result<()> {
    let parts: Vec<String> = counts.iter().map(|(p, n)| format!("{p} {n}")).collect();
    writeln!(
        out,
        "compute layers by precision: {}",
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    )?;
    Ok(())
}
