//! `trt build`: ONNX in, engine out.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use trt::report::BuildReport;
use trt::{
    BuildConfig, Builder, CalibrationAlgorithm, Calibrator, DataCalibrator, Fallback,
    HardwareCompatibility, Network, Precision, Profile, Quantization, TablePolicy, TacticChoice,
    TacticSources,
};
use trt_calib_data::Spec;

use crate::common::{self, parse_profile_arg, parse_shape_arg, CalibData};
use crate::exit::Outcome;

/// Precision flags.
#[derive(Args, Debug, Clone, Default)]
#[group(multiple = false)]
pub struct PrecisionFlags {
    /// Allow FP16 (TensorRT picks per layer).
    #[arg(long)]
    pub fp16: bool,
    /// Allow INT8 (calibrated; TensorRT picks per layer, so precisions may vary between builds).
    #[arg(long)]
    pub int8: bool,
    /// Force INT8 on every layer that can run it, then audit the engine (rebuilds keep the same precisions).
    #[arg(long)]
    pub strict_int8: bool,
}

/// Network shape flags, shared by build and calib.
#[derive(Args, Debug, Clone, Default)]
pub struct ShapeFlags {
    /// A fixed shape for a dynamic input, NAME:DIMS (repeatable). Also the calibration shape.
    #[arg(long = "shapes", value_name = "NAME:1x3x224x224", value_parser = parse_shape_arg)]
    pub shapes: Vec<(String, Vec<i64>)>,
    /// An optimization profile entry NAME:MIN:OPT:MAX, each like 1x3x224x224 (repeatable; one profile).
    /// Calibration uses the OPT shapes unless --shapes gives them.
    #[arg(long = "profile", value_name = "NAME:MIN:OPT:MAX", value_parser = parse_profile_arg)]
    pub profile: Vec<trt::ProfileInput>,
    /// Builder workspace limit in MiB.
    #[arg(long, value_name = "MiB")]
    pub workspace: Option<u64>,
    /// CUDA device.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Only TensorRT's own kernels (no cuBLAS/cuDNN tactics): for machines without those libraries.
    #[arg(long)]
    pub tensorrt_tactics_only: bool,
}

impl ShapeFlags {
    pub(crate) fn apply(&self, mut config: BuildConfig) -> BuildConfig {
        let mut profile = Profile::new();
        for (name, dims) in &self.shapes {
            profile = profile.with_input(name.clone(), dims, dims, dims);
        }
        for p in &self.profile {
            profile = profile.with_input(p.name.clone(), &p.min, &p.opt, &p.max);
        }
        if !profile.inputs.is_empty() {
            config = config.with_profile(profile);
        }
        if !self.shapes.is_empty() {
            let fixed: Vec<(&str, &[i64])> = self
                .shapes
                .iter()
                .map(|(n, d)| (n.as_str(), d.as_slice()))
                .collect();
            config = config.with_calibration_profile(Profile::fixed(&fixed));
        }
        if let Some(mib) = self.workspace {
            config = config.with_workspace(mib << 20);
        }
        if self.tensorrt_tactics_only {
            config = config.with_tactic_sources(TacticSources::tensorrt_only());
        }
        config.with_device(self.device)
    }
}

/// Build an engine from an ONNX model.
///
/// Writes ENGINE atomically and its build report next to it (ENGINE.report.json: flags, I/O,
/// every layer's precision, formats and tactic; compare two with `trt diff`).
/// INT8 needs calibration data (--calib DIR with preprocessing flags, or --calib-config FILE.toml)
/// or an existing table (--calib-cache TABLE).
/// Exit code: 0 built (and, with --check-identical, identical), 1 repeated builds differ, 2 error.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt build resnet18.onnx --int8 --calib calib/ --size 224x224 --short-side 256 --rgb \\\n      \
        --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --calib-cache resnet18.calib.cache -o resnet18.engine\n  \
    trt build resnet18.onnx --int8 --calib-cache bundle/table.cache --require-cache -o model.engine\n  \
    trt build model.onnx --strict-int8 --calib-config calib.toml --calib-cache model.calib.cache \\\n      \
        --exclude-type SOFTMAX --fp16-fallback -o model.engine\n  \
    trt build model.onnx --int8 --calib-cache t.cache --timing-cache model.timing --repeat 2 --check-identical -o m.engine\n  \
    trt build model.onnx --fp16 --profile input:1x3x224x224:8x3x224x224:16x3x224x224 -o model.engine\n  \
    trt build model.onnx --strict-int8 --calib-cache model.calib --accuracy-budget 1 --eval eval/ --size 224x224 --rgb -o model.engine\n  \
    trt build model.qdq.onnx -o model.qdq.engine")]
pub struct BuildArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// The engine file to write.
    #[arg(short, long, value_name = "ENGINE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub precision: PrecisionFlags,
    /// The model's Q/DQ node count, read once.
    #[arg(skip)]
    qdq: std::cell::OnceCell<usize>,
    #[command(flatten)]
    pub data: CalibData,
    /// Calibration table (cache): used when it exists, written after calibrating otherwise.
    #[arg(long, value_name = "TABLE")]
    pub calib_cache: Option<PathBuf>,
    /// The table must exist and be accepted: fail rather than calibrate.
    #[arg(long, requires = "calib_cache", conflicts_with = "recalibrate")]
    pub require_cache: bool,
    /// Ignore an existing table: calibrate again and overwrite it.
    #[arg(long, requires = "calib_cache")]
    pub recalibrate: bool,
    /// MinMax calibration (IInt8MinMaxCalibrator) instead of entropy (IInt8EntropyCalibrator2).
    #[arg(long)]
    pub minmax: bool,
    #[command(flatten)]
    pub shapes: ShapeFlags,
    /// Timing cache: read if present, written after the build (faster, more stable rebuilds).
    #[arg(long, value_name = "FILE")]
    pub timing_cache: Option<PathBuf>,
    /// Write the tactics TensorRT chose (JSON) for --tactics-in.
    #[arg(long, value_name = "FILE")]
    pub tactics_out: Option<PathBuf>,
    /// Replay the tactics of an earlier build (JSON from --tactics-out).
    #[arg(long, value_name = "FILE")]
    pub tactics_in: Option<PathBuf>,
    /// Keep this layer out of INT8 (exact network layer name; repeatable).
    #[arg(long, value_name = "NAME")]
    pub exclude_layer: Vec<String>,
    /// Keep layers of this TensorRT type out of INT8 (SOFTMAX, ...; repeatable).
    #[arg(long, value_name = "TYPE")]
    pub exclude_type: Vec<String>,
    /// Layers kept out of INT8 run FP16 instead of FP32.
    #[arg(long)]
    pub fp16_fallback: bool,
    /// --strict-int8: report forced layers that did not run INT8 instead of failing.
    #[arg(long)]
    pub allow_strict_violations: bool,
    /// Build N times (from the same table) and compare the builds' reports and outputs. Builds
    /// 2..N replay build 1's tactics (see --no-replay).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,
    /// With --repeat: build every time from scratch, to see TensorRT's own build-to-build variation.
    #[arg(long, requires = "repeat")]
    pub no_replay: bool,
    /// TensorRT's timing cache during the build (default: on, but off while replaying tactics,
    /// which TensorRT documents as incompatible with it).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub layer_timing_cache: Option<bool>,
    /// Build a version-compatible engine: it also runs on later TensorRT versions (TensorRT >= 8.6).
    #[arg(long)]
    pub version_compatible: bool,
    /// With --version-compatible: leave TensorRT's lean runtime out of the plan (smaller; needed
    /// where the builder's libnvinfer_lean is missing). The target then needs a lean runtime.
    #[arg(long, requires = "version_compatible")]
    pub exclude_lean_runtime: bool,
    /// Build for other GPUs too: ampere-plus (any compute capability >= 8.0; TensorRT >= 8.6) or
    /// same-cc (same compute capability, other GPU models; TensorRT 10.8+). Not on JetPack.
    #[arg(long, value_name = "LEVEL", value_parser = parse_hardware_compat)]
    pub hardware_compat: Option<HardwareCompatibility>,
    /// With --repeat: exit 1 when the builds differ in layers, precisions, formats or tactics, or
    /// compute different outputs. Reformat kernels alone may differ when the outputs are
    /// bit-identical (TensorRT 8.x picks them outside the algorithm selector); see --exact.
    #[arg(long, requires = "repeat")]
    pub check_identical: bool,
    /// With --check-identical: reformat kernels must match too.
    #[arg(long, requires = "check_identical")]
    pub exact: bool,
    /// With --strict-int8: keep the fewest layers out of INT8 (worst-quantized first) so that
    /// top-1 drops at most POINTS percentage points on the --eval data: agreement with the FP32
    /// build of the same model, or accuracy with --eval-labels. Needs an existing --calib-cache
    /// table. The chosen layers go into the build report's exclusions.
    #[arg(long, value_name = "POINTS", requires = "eval")]
    pub accuracy_budget: Option<f64>,
    /// Evaluation data for --accuracy-budget: a TOML spec, or a folder of images preprocessed
    /// as the calibration flags say. Keep it apart from the calibration data.
    #[arg(long, value_name = "DIR|SPEC.toml", requires = "accuracy_budget")]
    pub eval: Option<PathBuf>,
    /// With --accuracy-budget: one class per evaluation sample (a line each): the budget is on
    /// accuracy instead of agreement with FP32.
    #[arg(long, value_name = "FILE", requires = "accuracy_budget")]
    pub eval_labels: Option<PathBuf>,
    /// With --accuracy-budget: also write the FP32 reference engine the search compared with
    /// (atomically), for `trt eval --reference`.
    #[arg(long, value_name = "ENGINE", requires = "accuracy_budget")]
    pub save_reference: Option<PathBuf>,
    /// With --accuracy-budget: draw the layer ranking (the 30 worst-quantized layers) as an SVG.
    #[arg(long, value_name = "FILE.svg", requires = "accuracy_budget")]
    pub budget_plot: Option<PathBuf>,
    /// With --accuracy-budget: before the search, build and evaluate every unit of fused layers
    /// kept out alone (one build each), and rank by the measured gain instead of the noise
    /// proxy. Slower (EfficientNet-Lite0: about 60 builds), and it sees what the proxy misses.
    #[arg(long, requires = "accuracy_budget")]
    pub budget_measure_each: bool,
    /// With --accuracy-budget: measure by group testing instead: build and evaluate groups of G
    /// neighbouring units kept out (default G: sqrt(units / 2)), then each unit of the two groups
    /// that gained most, and rank by those gains (EfficientNet-Lite0: about 23 builds, not 62).
    #[arg(
        long,
        value_name = "G",
        num_args = 0..=1,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        requires = "accuracy_budget",
        conflicts_with = "budget_measure_each"
    )]
    pub budget_measure_groups: Option<Option<usize>>,
    /// With --accuracy-budget: the most engines the search builds.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 12,
        requires = "accuracy_budget"
    )]
    pub budget_trials: usize,
    /// Where to write the build report (default: ENGINE.report.json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

impl BuildArgs {
    /// The precision flags' choice; with none, an explicitly quantized (Q/DQ) model builds with
    /// INT8 enabled (its Q/DQ nodes decide what runs INT8) and a float model builds FP32.
    fn precision(&self) -> Precision {
        match (
            &self.precision.fp16,
            &self.precision.int8,
            &self.precision.strict_int8,
        ) {
            (_, _, true) => Precision::StrictInt8,
            (_, true, _) => Precision::Int8,
            (true, _, _) => Precision::Fp16,
            _ if self.qdq_nodes() > 0 => Precision::Int8,
            _ => Precision::Fp32,
        }
    }

    /// Everything that can be checked without TensorRT.
    pub fn validate(&self) -> Result<()> {
        let p = self.precision();
        let qdq = self.qdq_nodes();
        if qdq > 0 {
            // An explicitly quantized model: the library says what its build may not ask for.
            let q = trt::Quantization::Explicit { qdq_layers: qdq };
            let model = self.model.display().to_string();
            trt::check_explicit_request(&model, q, &self.config()?, self.data.given())?;
        } else if p.uses_int8() {
            if !self.data.given() && self.calib_cache.is_none() {
                bail!("INT8 needs calibration data (--calib DIR or --calib-config FILE.toml) or a calibration table (--calib-cache TABLE)");
            }
            if !self.data.given() && self.recalibrate {
                bail!("--recalibrate needs calibration data (--calib DIR or --calib-config FILE.toml)");
            }
            if let Some(t) = &self.calib_cache {
                if !self.data.given() && !t.exists() {
                    bail!("{}: no such calibration table, and no calibration data to make one (--calib DIR)", t.display());
                }
                if self.require_cache && !t.exists() {
                    bail!(
                        "{}: no such calibration table (--require-cache forbids calibrating)",
                        t.display()
                    );
                }
            }
        } else {
            if self.data.given() || self.calib_cache.is_some() || self.minmax {
                bail!("calibration flags (--calib, --calib-config, --calib-cache, --minmax) need --int8 or --strict-int8");
            }
            if !self.exclude_layer.is_empty() || !self.exclude_type.is_empty() || self.fp16_fallback
            {
                bail!("--exclude-layer, --exclude-type and --fp16-fallback need --int8 or --strict-int8");
            }
        }
        if let Some(points) = self.accuracy_budget {
            if p != Precision::StrictInt8 {
                bail!("--accuracy-budget needs --strict-int8 (it chooses which layers strict mode keeps out of INT8)");
            }
            if !(points.is_finite() && (0.0..=100.0).contains(&points)) {
                bail!("--accuracy-budget is in percentage points from 0 to 100, not {points}");
            }
            if self.repeat != 1 {
                bail!("--accuracy-budget builds many engines itself: leave out --repeat");
            }
            if self.budget_trials == 0 {
                bail!("--budget-trials must be at least 1");
            }
            match &self.calib_cache {
                Some(t) if t.is_file() && !self.recalibrate => {}
                _ => bail!("--accuracy-budget searches on an existing calibration table: make it first (trt calib ... --calib-cache TABLE) and give it with --calib-cache"),
            }
        }
        if self.allow_strict_violations && p != Precision::StrictInt8 {
            bail!("--allow-strict-violations needs --strict-int8");
        }
        if self.repeat == 0 {
            bail!("--repeat must be at least 1");
        }
        if self.check_identical && self.repeat < 2 {
            bail!("--check-identical needs --repeat 2 or more");
        }
        if !self.model.is_file() {
            bail!("{}: no such ONNX model", self.model.display());
        }
        Ok(())
    }

    /// The model's Q/DQ nodes (0 for a missing file or one that is not ONNX protobuf: the
    /// checks below or the parser will say).
    fn qdq_nodes(&self) -> usize {
        *self.qdq.get_or_init(|| {
            if !self.model.is_file() {
                return 0;
            }
            trt_qdq::load_model(&self.model)
                .map(|m| trt_qdq::qdq_node_count(&m))
                .unwrap_or(0)
        })
    }

    pub(crate) fn config(&self) -> Result<BuildConfig> {
        let mut config = self.shapes.apply(BuildConfig::new(self.precision()));
        if self.fp16_fallback {
            config = config.with_fallback(Fallback::Fp16);
        }
        for l in &self.exclude_layer {
            config = config.keep_layer_out_of_int8(l.clone());
        }
        for t in &self.exclude_type {
            config = config.keep_type_out_of_int8(t.clone());
        }
        config = config.with_allow_strict_violations(self.allow_strict_violations);
        if let Some(t) = &self.calib_cache {
            config = config.with_calibration_table(if self.require_cache {
                TablePolicy::require(t)
            } else if self.recalibrate {
                TablePolicy::recalibrate(t)
            } else {
                TablePolicy::read_write(t)
            });
        }
        if let Some(tc) = &self.timing_cache {
            config = config.returning_timing_cache();
            if tc.exists() {
                let bytes =
                    std::fs::read(tc).with_context(|| format!("cannot read {}", tc.display()))?;
                log::info!("timing cache {} ({} bytes)", tc.display(), bytes.len());
                config = config.with_timing_cache(bytes);
            }
        }
        if let Some(f) = &self.tactics_in {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            let tactics: Vec<TacticChoice> = serde_json::from_str(&text).with_context(|| {
                format!("{}: not a tactics file from --tactics-out", f.display())
            })?;
            config = config.with_replay_tactics(tactics);
        }
        if self.tactics_out.is_some() {
            config = config.with_record_tactics(true);
        }
        if let Some(on) = self.layer_timing_cache {
            config = config.with_layer_timing_cache(on);
        }
        config = config
            .with_version_compatible(self.version_compatible)
            .with_exclude_lean_runtime(self.exclude_lean_runtime);
        if let Some(level) = self.hardware_compat {
            config = config.with_hardware_compatibility(level);
        }
        Ok(config)
    }
}

/// The library recognizes a missing cuBLAS/cuDNN or lean runtime; the CLI says which flag
/// avoids it.
pub(crate) fn missing_library_hint(e: trt::Error) -> anyhow::Error {
    let (tactics, lean) = (e.missing_tactic_library(), e.missing_lean_runtime());
    let e = anyhow::Error::new(e);
    if tactics {
        e.context("TensorRT could not use cuBLAS/cuDNN: install them, or build with --tensorrt-tactics-only")
    } else if lean {
        e.context(
            "TensorRT could not load its lean runtime (libnvinfer_lean), which a version-compatible \
             plan embeds: install it, or add --exclude-lean-runtime (the target then needs a lean runtime)",
        )
    } else {
        e
    }
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{s}`: expected on or off")),
    }
}

fn parse_hardware_compat(s: &str) -> std::result::Result<HardwareCompatibility, String> {
    match s {
        "none" => Ok(HardwareCompatibility::None),
        "ampere-plus" => Ok(HardwareCompatibility::AmperePlus),
        "same-cc" => Ok(HardwareCompatibility::SameComputeCapability),
        _ => Err(format!("`{s}`: expected none, ampere-plus or same-cc")),
    }
}

/// The only input of a network (the quick calibration form's default input name).
pub(crate) fn only_input(network: &Network) -> Result<String> {
    let inputs = network.inputs()?;
    match inputs.as_slice() {
        [one] => Ok(one.name.clone()),
        _ => bail!(
            "the network has {} inputs ({}): name the one the images feed with --input-name, or use --calib-config",
            inputs.len(),
            inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A calibrator over `spec`, with a progress bar.
pub(crate) fn calibrator(
    spec: &Spec,
    algorithm: CalibrationAlgorithm,
    label: String,
) -> Result<Box<dyn Calibrator>> {
    let pipeline = spec.open().context("cannot open the calibration data")?;
    let pb = common::progress(
        Some(trt_calib_data::BatchSource::batch_count(&pipeline) as u64),
        &label,
    );
    // Without a terminal the bar draws nothing: print a line per batch instead, as cargo does.
    let lines = !std::io::stderr().is_terminal() && log::max_level() >= log::LevelFilter::Warn;
    let started = Instant::now();
    let c = DataCalibrator::new(pipeline)
        .with_algorithm(algorithm)
        .with_progress(move |done, total| {
            if let Some(t) = total {
                pb.set_length(t as u64);
            }
            pb.set_position(done as u64);
            if lines {
                let total = total.map(|t| format!("/{t}")).unwrap_or_default();
                eprintln!(
                    "{label}: batch {done}{total}, {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            if Some(done) == total {
                pb.finish_and_clear();
            }
        });
    Ok(Box::new(c))
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn build(args: BuildArgs, out: &mut dyn Write) -> Result<Outcome> {
    args.validate()?;
    let config = args.config()?;
    common::require_tensorrt()?;
    if args.accuracy_budget.is_some() {
        return crate::budget::build(&args, config, out);
    }

    let t_parse = Instant::now();
    let builder = Builder::on_device(config.device())?;
    let mut network = builder.network_from_onnx_file(&args.model)?;
    let parse_time = t_parse.elapsed();
    let algorithm = algorithm(args.minmax);
    let spec = if config.precision().uses_int8() {
        args.data.spec(|| only_input(&network))?
    } else {
        None
    };

    let t_build = Instant::now();
    let mut make = |i: usize| -> trt::Result<Box<dyn Calibrator>> {
        let spec = spec.as_ref().expect("only called with data");
        calibrator(spec, algorithm, format!("calib {}", i + 1))
            .map_err(|e| trt::Error::Invalid(format!("{e:#}")))
    };
    let repeated = trt::repro::build_repeated(
        &builder,
        &mut network,
        &config,
        if spec.is_some() {
            Some(&mut make as &mut dyn FnMut(usize) -> trt::Result<Box<dyn Calibrator>>)
        } else {
            None
        },
        args.repeat,
        if args.no_replay {
            trt::repro::RepeatMode::Independent
        } else {
            trt::repro::RepeatMode::ReplayFirst
        },
        |i, o: &trt::BuildOutput, _| {
            if args.repeat > 1 {
                log::warn!(
                    "build {}/{} done in {}",
                    i + 1,
                    args.repeat,
                    secs(o.build_time)
                );
            }
        },
    )
    .map_err(missing_library_hint)?;
    let audit_time = repeated.audit_times[0];
    let build_time = if args.repeat > 1 {
        t_build.elapsed()
    } else {
        t_build.elapsed().saturating_sub(audit_time)
    };
    let report_path = write_outputs(&args, &repeated)?;
    let times = Times {
        parse: parse_time,
        build: build_time,
        audit: audit_time,
    };
    write_summary(&repeated, &args, &report_path, times, out)?;
    if args.repeat > 1 {
        return write_repeats(&repeated, &args, &config, out);
    }
    Ok(Outcome::Success)
}

pub(crate) fn algorithm(minmax: bool) -> CalibrationAlgorithm {
    if minmax {
        CalibrationAlgorithm::MinMax
    } else {
        CalibrationAlgorithm::Entropy2
    }
}

/// The engine, its report, and (when asked) the timing cache and tactics of build 1.
fn write_outputs(args: &BuildArgs, repeated: &trt::repro::RepeatedBuilds) -> Result<PathBuf> {
    let first = &repeated.outputs[0];
    trt::write_atomic(&args.output, &first.plan)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| BuildReport::path_for_engine(&args.output));
    repeated.reports[0].save(&report_path)?;
    if let Some(tc) = &args.timing_cache {
        // Build 1's cache: the replaying builds run with the cache off. A build that replayed
        // --tactics-in with the cache off has nothing to write: keep the file as it is.
        match &first.timing_cache {
            Some(bytes) if !bytes.is_empty() => trt::write_atomic(tc, bytes)
                .with_context(|| format!("cannot write {}", tc.display()))?,
            _ => log::warn!(
                "{} not written: the build replayed tactics with TensorRT's timing cache off",
                tc.display()
            ),
        }
    }
    if let Some(f) = &args.tactics_out {
        let text = serde_json::to_string_pretty(&first.tactics)?;
        trt::write_atomic(f, text.as_bytes())
            .with_context(|| format!("cannot write {}", f.display()))?;
    }
    Ok(report_path)
}

/// Where build 1's time went.
struct Times {
    parse: Duration,
    build: Duration,
    audit: Duration,
}

/// What build 1 made: files, calibration, time, precisions, strict audit, warnings.
fn write_summary(
    repeated: &trt::repro::RepeatedBuilds,
    args: &BuildArgs,
    report_path: &Path,
    times: Times,
    out: &mut dyn Write,
) -> Result<()> {
    let (first, report) = (&repeated.outputs[0], &repeated.reports[0]);
    writeln!(
        out,
        "engine     {} ({} bytes, TensorRT {})",
        args.output.display(),
        first.plan.len(),
        report.tensorrt_version
    )?;
    writeln!(out, "report     {}", report_path.display())?;
    if let Some(Quantization::Explicit { qdq_layers }) = report.quantization {
        writeln!(
            out,
            "scales     from the model: {qdq_layers} Q/DQ layers (explicit quantization, no calibration)"
        )?;
    }
    if let Some(c) = &report.calibration {
        let table = c
            .table
            .as_ref()
            .map(|t| t.display().to_string())
            .unwrap_or_else(|| "-".into());
        if c.table_written {
            writeln!(
                out,
                "calibrated {} batches ({:?}), table written to {table}",
                c.batches, c.algorithm
            )?;
        } else {
            writeln!(out, "table      {table} (no calibration)")?;
        }
    }
    writeln!(
        out,
        "time       parse {}, {}build {}, audit {}",
        secs(times.parse),
        if first.calibrated() { "calibrate+" } else { "" },
        secs(times.build),
        secs(times.audit)
    )?;
    crate::inspect::write_counts(&report.precision_counts, out)?;
    if let Some(advice) = report.int8_advice() {
        writeln!(out, "warning    {advice}: build with --strict-int8")?;
    }
    if first.timing_cache_refused() {
        writeln!(
            out,
            "warning    TensorRT did not use the timing cache it was given and timed every layer again"
        )?;
    }
    if let Some(strict) = &first.strict {
        writeln!(
            out,
            "strict     {} forced layers ran INT8, {} released, {} violations",
            strict.forced_int8,
            strict.released.len(),
            strict.violations.len()
        )?;
        for v in &strict.violations {
            writeln!(out, "  violation: {v}")?;
        }
        write_kept_out(strict, out)?;
    }
    if first.replay_misses > 0 {
        writeln!(
            out,
            "tactics    {} replayed choices were not offered again",
            first.replay_misses
        )?;
    }
    Ok(())
}

/// The layers kept out of INT8 by name or type, by the precision the engine ran them in.
fn write_kept_out(strict: &trt::strict::StrictReport, out: &mut dyn Write) -> Result<()> {
    let mut ran: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, why) in &strict.skipped {
        if why != trt::strict::EXCLUDED_BY_USER {
            continue;
        }
        let precision = strict
            .layers
            .iter()
            .find(|l| l.name == *name)
            .and_then(|l| l.precision.clone())
            .unwrap_or_else(|| "not in the engine".into());
        *ran.entry(precision).or_default() += 1;
    }
    if !ran.is_empty() {
        let counts: Vec<String> = ran.iter().map(|(p, n)| format!("{p} {n}")).collect();
        writeln!(
            out,
            "kept out   {} layer(s), ran {}",
            ran.values().sum::<usize>(),
            counts.join(", ")
        )?;
    }
    for v in &strict.excluded_int8 {
        writeln!(out, "  kept out of INT8, but {v}")?;
    }
    Ok(())
}

/// `--repeat`: each build against build 1, the engine files, the outputs, and the verdict.
fn write_repeats(
    repeated: &trt::repro::RepeatedBuilds,
    args: &BuildArgs,
    config: &BuildConfig,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let replay = if args.no_replay {
        "built independently"
    } else {
        "replaying build 1's tactics"
    };
    writeln!(
        out,
        "\n{} builds, {replay}, each compared with build 1:",
        args.repeat
    )?;
    for (i, d) in repeated.diffs.iter().enumerate() {
        let misses = repeated.outputs[i + 1].replay_misses;
        let misses = if misses > 0 {
            format!(" ({misses} replayed choices not offered again)")
        } else {
            String::new()
        };
        writeln!(out, "build {}: {}{misses}", i + 2, d.summary())?;
    }
    if let Some(d) = repeated.diffs.iter().find(|d| !d.identical) {
        writeln!(out)?;
        crate::diff::write_diff(d, out)?;
    }
    writeln!(
        out,
        "engine files {}",
        if repeated.plans_identical() {
            "identical"
        } else {
            "differ"
        }
    )?;
    let outputs = repeated.compare_outputs(config.device(), 1)?;
    for (i, d) in outputs.per_build.iter().enumerate() {
        writeln!(
            out,
            "outputs    build {} vs 1 on a seeded input: {}",
            i + 2,
            if d.bit_identical {
                format!("bit-identical ({} values)", d.elements)
            } else {
                format!(
                    "{} of {} values differ, max |diff| {:e}",
                    d.differing, d.elements, d.max_abs_diff
                )
            }
        )?;
    }
    if args.check_identical {
        let ok = if args.exact {
            repeated.identical() && outputs.bit_identical()
        } else {
            repeated.reproduced(&outputs)
        };
        if !repeated.identical() && ok {
            writeln!(
                out,
                "reproduced: only reformat kernels differ (TensorRT 8.x picks them outside the \
                 algorithm selector) and the outputs are bit-identical"
            )?;
        }
        if !ok {
            return Ok(Outcome::Negative);
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names and precisions of the EfficientNet-Lite0 build that showed excluded layers
    /// running INT8 (TensorRT 8.5.3): the line counts what the engine ran, and lists a kept-out
    /// layer that ran INT8 anyway.
    #[test]
    fn kept_out_layers_are_counted_by_the_precision_they_ran() {
        let layer = |name: &str, precision: Option<&str>| trt::strict::AuditedLayer {
            name: name.into(),
            kind: "CONVOLUTION".into(),
            forced: false,
            engine_layer: precision.map(|_| format!("{name} + PWN(clip)")),
            precision: precision.map(String::from),
        };
        let by_user = |n: &str| (n.to_string(), trt::strict::EXCLUDED_BY_USER.to_string());
        let mut report = trt::strict::StrictReport {
            layers: vec![
                layer("/_conv_stem/Conv", Some("FP32")),
                layer("/_blocks.0/_depthwise_conv/Conv", Some("INT8")),
                layer("/Clip", None),
            ],
            skipped: vec![
                by_user("/_conv_stem/Conv"),
                by_user("/_blocks.0/_depthwise_conv/Conv"),
                by_user("/Clip"),
                (
                    "w".into(),
                    "CONSTANT layers compute shapes, indices or constants".into(),
                ),
            ],
            released: vec![],
            violations: vec![],
            excluded_int8: vec![trt::strict::Violation {
                layer: "/_blocks.0/_depthwise_conv/Conv".into(),
                engine_layer: "/_blocks.0/_depthwise_conv/Conv + PWN(clip)".into(),
                precision: "INT8".into(),
            }],
            forced_int8: 0,
            engine_precisions: Default::default(),
        };
        let mut out = Vec::new();
        write_kept_out(&report, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "kept out   3 layer(s), ran FP32 1, INT8 1, not in the engine 1\n  \
             kept out of INT8, but `/_blocks.0/_depthwise_conv/Conv` ran INT8 (engine layer \
             `/_blocks.0/_depthwise_conv/Conv + PWN(clip)`)\n"
        );
        // Nothing kept out: nothing printed.
        report.skipped.truncate(0);
        report.excluded_int8.clear();
        let mut out = Vec::new();
        write_kept_out(&report, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_missing_cublas_gets_a_hint_other_errors_do_not() {
        // The message TensorRT 8.5.3 logged on a machine without cuBLAS (the GPU test machine).
        let e = trt::Error::TensorRt {
            code: 2,
            message: "buildSerializedNetwork failed".into(),
            log: Some("3: [libLoader.h::symbolAddress::92] Error Code 3: Internal Error (SymbolAddress for cublasCreate_v2 could not be loaded, check function name against library symbol)".into()),
        };
        let shown = format!("{:#}", missing_library_hint(e));
        assert!(
            shown.starts_with("TensorRT could not use cuBLAS/cuDNN"),
            "{shown}"
        );
        assert!(shown.contains("--tensorrt-tactics-only"), "{shown}");
        let other = trt::Error::Invalid("no such input".into());
        assert_eq!(
            format!("{:#}", missing_library_hint(other)),
            "no such input"
        );
        let lean = trt::Error::TensorRt {
            code: 2,
            message: "buildSerializedNetwork failed".into(),
            log: Some("Unable to load library: libnvinfer_lean.so.8.6.0".into()),
        };
        let shown = format!("{:#}", missing_library_hint(lean));
        assert!(shown.contains("--exclude-lean-runtime"), "{shown}");
        assert!(shown.contains("libnvinfer_lean.so.8.6.0"), "{shown}");
    }

    #[test]
    fn excluding_the_lean_runtime_needs_version_compatibility() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: BuildArgs,
        }
        let base = ["trt", "m.onnx", "-o", "m.engine", "--exclude-lean-runtime"];
        let e = Cli::try_parse_from(base)
            .err()
            .expect("refused without --version-compatible");
        assert!(e.to_string().contains("--version-compatible"), "{e}");
        let ok = Cli::try_parse_from(base.iter().chain(&["--version-compatible"])).unwrap();
        let config = ok.args.config().unwrap();
        assert!(config.settings().exclude_lean_runtime && config.settings().version_compatible);
    }
}
