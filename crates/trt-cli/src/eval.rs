//! `trt eval`: an engine against a reference (an FP32 engine, or the ONNX model built FP32 here)
//! on data the user names: agreement per output, accuracy with labels, GPU time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use trt::eval::{EvalOptions, Evaluation};
use trt::{BuildConfig, Builder, Engine, Precision, Runtime};
use trt_calib_data::Spec;

use crate::build::{missing_library_hint, ShapeFlags};
use crate::common::{self, write_json, Preprocessing};
use crate::exit::Outcome;

/// Evaluate an engine against a reference on a data set.
///
/// Both engines run every sample of --data; each output is compared (classification outputs
/// [N, C]: top-1 and top-5 agreement; every output: max abs difference, cosine, SQNR). With
/// --labels, both engines' accuracy too. The reference is an engine file, or an ONNX model that
/// is built FP32 here first (--save-reference keeps that engine).
/// Exit code: 0 evaluated (and, with --min-top1, agreeing enough), 1 below --min-top1, 2 error.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt eval model.int8.engine --reference model.fp32.engine --data eval/ --size 224x224 --short-side 256 --rgb --mean 127 --std 128\n  \
    trt eval model.int8.engine --reference model.onnx --save-reference model.fp32.engine --data eval.toml --json\n  \
    trt eval model.int8.engine --reference model.fp32.engine --data eval.toml --labels eval.labels --min-top1 0.95")]
pub struct EvalArgs {
    /// The engine to evaluate (e.g. INT8).
    pub engine: PathBuf,
    /// The reference: an engine file, or an ONNX model (built FP32 here).
    #[arg(long, value_name = "REF.engine|MODEL.onnx")]
    pub reference: PathBuf,
    /// With an ONNX reference: write the FP32 engine built from it here (atomically), for the
    /// next evaluation.
    #[arg(long, value_name = "ENGINE")]
    pub save_reference: Option<PathBuf>,
    #[command(flatten)]
    pub data: EvalData,
    /// One class index per line, in data order (`#` comments allowed): accuracy of both engines.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Exit 1 when the top-1 agreement of a classification output is below this fraction.
    #[arg(long, value_name = "FRACTION")]
    pub min_top1: Option<f64>,
    /// Timed runs per engine on a seeded input (0: no timing).
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Print the evaluation as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub shapes: ShapeFlags,
}

/// Evaluation data: a TOML spec, or a folder of images with preprocessing flags.
#[derive(Args, Debug, Clone)]
pub struct EvalData {
    /// Evaluation data: a TOML spec (several inputs, npy arrays...), or a folder of images
    /// (sorted by file name) preprocessed as the flags say.
    #[arg(long = "data", value_name = "DIR|SPEC.toml")]
    pub path: PathBuf,
    #[command(flatten)]
    pub pre: Preprocessing,
}

impl EvalData {
    /// The spec; a folder feeds `default_name` unless --input-name says otherwise.
    pub fn spec(&self, default_name: impl FnOnce() -> Result<String>) -> Result<Spec> {
        data_spec(&self.path, &self.pre, default_name)
    }
}

/// A TOML spec file, or a folder of images with `pre`'s preprocessing.
pub fn data_spec(
    path: &Path,
    pre: &Preprocessing,
    default_name: impl FnOnce() -> Result<String>,
) -> Result<Spec> {
    if path.is_dir() {
        let name = match &pre.input_name {
            Some(n) => n.clone(),
            None => default_name()?,
        };
        return pre.spec(path, &name);
    }
    if !path.is_file() {
        bail!(
            "{}: no such data (a folder of images or a TOML spec)",
            path.display()
        );
    }
    Spec::from_toml_file(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The only input of an engine (the folder form's default input name).
fn only_input(engine: &Engine) -> Result<String> {
    let names: Vec<String> = engine.inputs().map(|t| t.name.clone()).collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "the engine has {} inputs ({}): say which one the images feed with --input-name, or \
             describe every input in a TOML spec",
            names.len(),
            names.join(", ")
        ),
    }
}

pub fn run(args: EvalArgs, out: &mut dyn Write) -> Result<Outcome> {
    if let Some(t) = args.min_top1 {
        if !(0.0..=1.0).contains(&t) {
            bail!("--min-top1 is a fraction from 0 to 1 (0.95 for 95%), not {t}");
        }
    }
    let onnx = args
        .reference
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if args.save_reference.is_some() && !onnx {
        bail!("--save-reference needs an ONNX --reference (an engine reference is already a file)");
    }
    for (what, p) in [("engine", &args.engine), ("reference", &args.reference)] {
        if !p.is_file() {
            bail!("{}: no such {what}", p.display());
        }
    }
    let labels = match &args.labels {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read labels {}", p.display()))?;
            Some(trt::eval::parse_labels(&text)?)
        }
        None => None,
    };
    common::require_tensorrt()?;
    let runtime = Runtime::new()?;
    let candidate = runtime
        .load(&args.engine)
        .with_context(|| format!("cannot load {}", args.engine.display()))?;
    let spec = args.data.spec(|| only_input(&candidate))?;
    let mut data = spec.open().context("cannot open the evaluation data")?;
    let reference = if onnx {
        let t = Instant::now();
        let config = args.shapes.apply(BuildConfig::new(Precision::Fp32));
        let builder = Builder::on_device(config.device())?;
        let mut network = builder.network_from_onnx_file(&args.reference)?;
        let built = builder
            .build(&mut network, &config)
            .map_err(missing_library_hint)?;
        if let Some(path) = &args.save_reference {
            trt::write_atomic(path, &built.plan)?;
        }
        log::info!(
            "reference: {} built FP32 in {:.1} s",
            args.reference.display(),
            t.elapsed().as_secs_f64()
        );
        runtime.deserialize(&built.plan)?
    } else {
        runtime
            .load(&args.reference)
            .with_context(|| format!("cannot load {}", args.reference.display()))?
    };
    let options = EvalOptions {
        labels,
        timing_iterations: args.iterations,
    };
    let e = trt::eval::evaluate(&candidate, &reference, &mut data, &options)?;
    let failing: Vec<String> = match args.min_top1 {
        Some(min) => e
            .outputs
            .iter()
            .filter_map(|o| o.top1.filter(|t| *t < min).map(|t| (o, t)))
            .map(|(o, t)| {
                format!(
                    "output `{}`: top-1 agreement {:.4}, below the required {min:.4} (--min-top1)",
                    o.name, t
                )
            })
            .collect(),
        None => Vec::new(),
    };
    if args.json {
        write_json(out, &e)?;
    } else {
        print(&args, &e, out)?;
    }
    for f in &failing {
        log::error!("{f}");
    }
    Ok(if failing.is_empty() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn counts(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print(args: &EvalArgs, e: &Evaluation, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "engine     {}: {}",
        args.engine.display(),
        counts(&e.candidate_precisions)
    )?;
    writeln!(
        out,
        "reference  {}: {}",
        args.reference.display(),
        counts(&e.reference_precisions)
    )?;
    writeln!(
        out,
        "data       {} samples, {} batches per engine, {:.2} s",
        e.samples,
        e.batches,
        e.run_time.as_secs_f64()
    )?;
    for o in &e.outputs {
        let mut line = format!("output     {} {:?}:", o.name, o.sample_shape);
        if let (Some(t1), Some(n), Some(t5)) = (o.top1, o.top1_agree, o.top5) {
            line += &format!(
                " top-1 {:.2}% ({n}/{}), top-5 {:.2}%,",
                100.0 * t1,
                o.samples,
                100.0 * t5
            );
        }
        if let (Some(n), Some(t)) = (o.confident_samples, o.confident_top1) {
            line += &format!(
                " top-1 {:.2}% on the {n} the reference is sure of (p >= {}),",
                100.0 * t,
                trt::eval::CONFIDENT
            );
        }
        line += &format!(" cosine {:.5}", o.cosine);
        match o.sqnr_db {
            Some(db) => line += &format!(", SQNR {db:.1} dB"),
            None => line += ", identical",
        }
        line += &format!(", max abs {:.4}", o.max_abs);
        writeln!(out, "{line}")?;
    }
    if let Some(l) = &e.labels {
        writeln!(
            out,
            "labels     {} samples on `{}`: reference top-1 {:.2}%, engine {:.2}% ({:+.2} points)",
            l.samples,
            l.output,
            100.0 * l.reference_top1,
            100.0 * l.candidate_top1,
            100.0 * (l.candidate_top1 - l.reference_top1)
        )?;
    }
    if let Some(l) = &e.latency {
        writeln!(
            out,
            "GPU time   {:.4} ms vs {:.4} ms per batch (median of {}): {:.3} of the reference",
            l.b_ms, l.a_ms, l.iterations, l.ratio
        )?;
    }
    Ok(())
}
