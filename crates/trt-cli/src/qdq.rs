//! `trt qdq`: explicit quantization (Q/DQ ONNX) from a calibration table, for TensorRT 10/11.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use trt_calib_table::CalibrationTable;
use trt_qdq::{EngineMapping, ExportReport, Placement, QdqExport};

use crate::common::{write_columns, write_json};
use crate::exit::Outcome;

/// Q/DQ (explicit quantization) commands.
#[derive(Subcommand, Debug)]
pub enum QdqCommand {
    /// Write a Q/DQ ONNX model from an FP32 model and its calibration table.
    ///
    /// Activations get the table's scales (zero point 0, int8); Conv/Gemm/MatMul weights get
    /// per-output-channel scales max|w|/127. The default placement follows TensorRT's Q/DQ
    /// recommendations (inputs of Conv/Gemm/MatMul, the residual input of an Add that fuses with
    /// its Conv, Concat inputs with one shared scale; nothing between Conv and ReLU).
    #[command(after_help = "Examples:\n  \
        trt qdq export model.onnx --calib-cache model.calib -o model.qdq.onnx\n  \
        trt qdq export model.onnx --calib-cache model.calib -o model.qdq.onnx --exclude /head/Gemm --report qdq.json\n  \
        trt qdq export model.onnx --calib-cache model.calib -o model.qdq.onnx --placement int8-tensors.txt\n  \
        trt qdq export model.onnx --calib-cache model.calib -o model.qdq.onnx --engine model.engine.report.json")]
    Export(ExportArgs),
    /// Compare an implicit INT8 engine (A) with its explicit Q/DQ engine (B): per-layer
    /// precisions, INT8 layer counts, GPU latency ratio B/A and output agreement on one seeded
    /// input.
    ///
    /// Exit code: 0 within the tolerances, 1 beyond them (latency ratio above
    /// --max-latency-ratio, top-1 agreement below --min-top1), 2 an error.
    #[command(after_help = "Examples:\n  \
        trt qdq compare model.int8.engine model.qdq.engine\n  \
        trt qdq compare model.int8.engine model.qdq.engine --max-latency-ratio 1.05 --min-top1 0.99 --json")]
    Compare(CompareArgs),
}

/// `trt qdq compare` arguments.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The implicit INT8 engine (the reference).
    implicit: PathBuf,
    /// The explicit (Q/DQ) engine.
    explicit: PathBuf,
    /// Largest allowed ratio of median GPU times, explicit over implicit.
    #[arg(long, default_value_t = 1.03)]
    max_latency_ratio: f64,
    /// Smallest allowed top-1 agreement (0..1) of every 2-D output; not checked by default.
    #[arg(long, value_name = "FRACTION")]
    min_top1: Option<f64>,
    /// Seed of the input both engines run on.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Timed runs per engine (0: no timing).
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Untimed runs per engine first.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

/// `trt qdq export` arguments.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The FP32 ONNX model (opset 11 or later; written as opset 13 or later).
    model: PathBuf,
    /// The calibration table whose scales the activations get.
    #[arg(long = "calib-cache", value_name = "TABLE")]
    table: PathBuf,
    /// Where to write the Q/DQ model (atomically).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Leave this node (ONNX node name) unquantized; repeat for several.
    #[arg(long = "exclude", value_name = "NODE")]
    exclude: Vec<String>,
    /// Quantize exactly the activation tensors listed in FILE (one name per line; `#` comments),
    /// instead of the default placement.
    #[arg(long, value_name = "FILE", conflicts_with = "engine")]
    placement: Option<PathBuf>,
    /// Quantize exactly the activations that the INT8 layers of an implicit engine read: its
    /// build report (`ENGINE.report.json`, written by `trt build`) or TensorRT inspector JSON.
    /// Engine layer names (fused: `/conv/Conv + /Relu`) are mapped back to the model's nodes.
    #[arg(long, value_name = "REPORT.json")]
    engine: Option<PathBuf>,
    /// Write the report (every quantized tensor with its scale, every table tensor left out and
    /// why) as JSON to FILE (atomically).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs one `trt qdq` command, writing its report to `out`.
pub fn run(command: QdqCommand, out: &mut dyn Write) -> Result<Outcome> {
    match command {
        QdqCommand::Export(args) => export(&args, out),
        QdqCommand::Compare(args) => compare(&args, out),
    }
}

fn read_placement(path: &Path) -> Result<Placement> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read placement file `{}`", path.display()))?;
    let placement = Placement::parse_list(&text);
    if placement == Placement::exactly(Vec::<String>::new()) {
        bail!(
            "placement file `{}` names no tensor (one tensor name per line)",
            path.display()
        );
    }
    Ok(placement)
}

fn export(args: &ExportArgs, out: &mut dyn Write) -> Result<Outcome> {
    let model = trt_qdq::load_model(&args.model)?;
    let table = CalibrationTable::read(&args.table)?;
    let mut from_engine = None;
    let placement = match (&args.placement, &args.engine) {
        (Some(path), _) => read_placement(path)?,
        (None, Some(path)) => {
            let m = engine_mapping(&model, path)?;
            let p = m.placement();
            from_engine = Some(m);
            p
        }
        (None, None) => Placement::Default,
    };
    // Weighted nodes that ran in float in the implicit engine keep float weights too.
    let engine_exclusions = from_engine.as_ref().map(EngineMapping::exclusions);
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_placement(placement)
        .with_exclusions(
            args.exclude
                .iter()
                .cloned()
                .chain(engine_exclusions.into_iter().flatten()),
        )
        .export()
        .with_context(|| {
            format!(
                "cannot export `{}` with table `{}`",
                args.model.display(),
                args.table.display()
            )
        })?;
    trt_qdq::save_model(&qdq, &args.output)?;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report).context("cannot encode the report")?;
        trt_calib_table::write_atomic(path, &json)
            .with_context(|| format!("cannot write report `{}`", path.display()))?;
    }
    if args.json {
        write_json(out, &report)?;
    } else {
        if let (Some(m), Some(path)) = (&from_engine, &args.engine) {
            print_engine_mapping(path, m, out)?;
        }
        print_report(args, &report, out)?;
    }
    Ok(Outcome::Success)
}

/// The implicit engine's INT8 layers, as model nodes and the tensors they read.
fn engine_mapping(model: &trt_qdq::onnx::ModelProto, path: &Path) -> Result<EngineMapping> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read `{}` (give the build report, ENGINE.report.json, or inspector JSON)",
            path.display()
        )
    })?;
    let layers =
        trt_qdq::engine_layers_from_json(&text).with_context(|| format!("`{}`", path.display()))?;
    let m = trt_qdq::map_engine(model, &layers)?;
    if m.tensors.is_empty() {
        bail!(
            "`{}`: no layer ran INT8 there that reads an activation of the model ({} compute \
             nodes matched): nothing to quantize",
            path.display(),
            m.int8_nodes.len()
        );
    }
    Ok(m)
}

fn print_engine_mapping(path: &Path, m: &EngineMapping, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "engine     {}: {} model node(s) ran INT8 ({} compute), reading {} activation(s)",
        path.display(),
        m.int8_nodes.len(),
        m.int8_compute_nodes.len(),
        m.tensors.len()
    )?;
    if !m.unmatched.is_empty() {
        writeln!(
            out,
            "           engine layers with no model node: {}",
            m.unmatched.join("; ")
        )?;
    }
    Ok(())
}

fn print_report(args: &ExportArgs, r: &ExportReport, out: &mut dyn Write) -> Result<()> {
    let (matched, entries) = r.table_coverage;
    writeln!(
        out,
        "model      {} (opset {} -> {})",
        args.model.display(),
        r.opset.from,
        r.opset.to
    )?;
    writeln!(
        out,
        "table      {}: TensorRT {}, {}, {matched} of {entries} tensors in the model",
        args.table.display(),
        r.table_version,
        r.table_algorithm
    )?;
    writeln!(
        out,
        "placement  {}, {} node(s) excluded",
        r.placement,
        r.excluded.len()
    )?;
    writeln!(
        out,
        "wrote      {}: {} activation(s) and {} weight(s) quantized",
        args.output.display(),
        r.activations.len(),
        r.weights.len()
    )?;
    if let Some(path) = &args.report {
        writeln!(out, "report     {}", path.display())?;
    }
    writeln!(out, "\nactivations (per tensor, zero point 0, int8):")?;
    let rows: Vec<Vec<String>> = r
        .activations
        .iter()
        .map(|a| {
            let table = if a.table_scale == a.scale {
                "=".to_owned()
            } else {
                format!("{:e}", a.table_scale)
            };
            vec![
                a.tensor.clone(),
                format!("{:e}", a.scale),
                table,
                a.consumers.join(","),
                a.rule.clone(),
            ]
        })
        .collect();
    write_columns(out, &["TENSOR", "SCALE", "TABLE", "READ BY", "RULE"], &rows)?;
    writeln!(out, "\nweights (per output channel, max|w|/127):")?;
    let rows: Vec<Vec<String>> = r
        .weights
        .iter()
        .map(|w| {
            let min = w.scales.iter().copied().fold(f32::INFINITY, f32::min);
            let max = w.scales.iter().copied().fold(0f32, f32::max);
            vec![
                w.tensor.clone(),
                w.node.clone(),
                w.axis.to_string(),
                w.scales.len().to_string(),
                format!("{min:e} .. {max:e}"),
            ]
        })
        .collect();
    write_columns(
        out,
        &["WEIGHT", "NODE", "AXIS", "CHANNELS", "SCALES"],
        &rows,
    )?;
    if !r.unquantized_weights.is_empty() {
        writeln!(
            out,
            "\nweights left in float ({}):",
            r.unquantized_weights.len()
        )?;
        for u in &r.unquantized_weights {
            writeln!(out, "  {}: {}", u.tensor, u.reason)?;
        }
    }
    writeln!(out, "\ntable tensors not quantized ({}):", r.unplaced.len())?;
    let rows: Vec<Vec<String>> = r
        .unplaced
        .iter()
        .map(|u| vec![u.tensor.clone(), u.reason.clone()])
        .collect();
    write_columns(out, &["TENSOR", "WHY"], &rows)?;
    Ok(())
}

fn compare(args: &CompareArgs, out: &mut dyn Write) -> Result<Outcome> {
    if let Some(t) = args.min_top1 {
        if !(0.0..=1.0).contains(&t) {
            bail!("--min-top1 is a fraction from 0 to 1 (0.99 for 99%), not {t}");
        }
    }
    if args.max_latency_ratio.is_nan() || args.max_latency_ratio <= 0.0 {
        bail!("--max-latency-ratio must be above 0");
    }
    crate::common::require_tensorrt()?;
    let runtime = trt::Runtime::new()?;
    let load = |p: &Path| {
        runtime
            .load(p)
            .with_context(|| format!("cannot load {}", p.display()))
    };
    let (a, b) = (load(&args.implicit)?, load(&args.explicit)?);
    let options = trt::compare::CompareOptions {
        max_latency_ratio: args.max_latency_ratio,
        min_top1: args.min_top1,
        seed: args.seed,
        warmup: args.warmup,
        iterations: args.iterations,
    };
    let c = trt::compare::compare_engines(&a, &b, &options)?;
    if args.json {
        write_json(out, &c)?;
    } else {
        print_comparison(args, &c, out)?;
    }
    Ok(if c.passed() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn print_comparison(
    args: &CompareArgs,
    c: &trt::compare::EngineComparison,
    out: &mut dyn Write,
) -> Result<()> {
    let counts = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "A (implicit)  {}: {}",
        args.implicit.display(),
        counts(&c.precision_counts[0])
    )?;
    writeln!(
        out,
        "B (explicit)  {}: {}",
        args.explicit.display(),
        counts(&c.precision_counts[1])
    )?;
    writeln!(
        out,
        "INT8 layers   {} -> {}",
        c.int8_layers[0], c.int8_layers[1]
    )?;
    writeln!(out, "layers        {}", c.diff.summary())?;
    match &c.latency {
        Some(l) => writeln!(
            out,
            "GPU latency   {:.4} ms -> {:.4} ms (median of {}), ratio {:.3} (allowed {:.3})",
            l.a_ms, l.b_ms, l.iterations, l.ratio, c.options.max_latency_ratio
        )?,
        None => writeln!(out, "GPU latency   not measured (--iterations 0)")?,
    }
    writeln!(out, "\noutputs (seed {}):", c.options.seed)?;
    let rows: Vec<Vec<String>> = c
        .outputs
        .iter()
        .map(|o| {
            vec![
                o.name.clone(),
                o.elements.to_string(),
                format!("{:e}", o.max_abs),
                format!("{:.6}", o.cosine),
                o.top1.map_or("-".into(), |t| format!("{:.4}", t)),
            ]
        })
        .collect();
    write_columns(
        out,
        &["OUTPUT", "ELEMENTS", "MAX ABS", "COSINE", "TOP-1"],
        &rows,
    )?;
    if !c.diff.precision_changes.is_empty() {
        writeln!(out, "\nprecision changes (layers of both engines):")?;
        let rows: Vec<Vec<String>> = c
            .diff
            .precision_changes
            .iter()
            .map(|p| {
                vec![
                    p.layer.clone(),
                    p.a.clone().unwrap_or_else(|| "-".into()),
                    p.b.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        write_columns(out, &["LAYER", "A", "B"], &rows)?;
    }
    if c.passed() {
        writeln!(out, "\nwithin the tolerances")?;
    } else {
        writeln!(out, "\nbeyond the tolerances:")?;
        for f in &c.failures {
            writeln!(out, "  {f}")?;
        }
    }
    Ok(())
}
