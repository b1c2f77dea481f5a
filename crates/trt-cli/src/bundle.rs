//! `trt bundle` and `trt verify-bundle`: ship engines and tables to Jetson boards.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use trt::bundle::{self, BundleSources, ComputeCapability, GpuInfo, Target, TrtVersion};
use trt::report::BuildReport;
use trt::{CalibrationAlgorithm, Precision};

use crate::common;
use crate::exit::Outcome;

/// Pack an engine with its calibration table, build report and ONNX model into a folder with a
/// manifest.json (TensorRT version, GPU and compute capability, builder flags, sha256 and size
/// of every file). The folder is made next to DIR and renamed into place.
///
/// The TensorRT version and GPU come from the loaded TensorRT and GPU 0 unless given
/// (--trt, or the build report's version; --compute-capability).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt bundle --engine model.engine --table model.calib.cache --report model.engine.report.json \\\n      \
        --onnx model.onnx -o bundle/\n  \
    trt bundle --engine model.engine --table model.calib.cache --trt 8.5.2 --compute-capability 8.7 -o bundle/")]
pub struct BundleArgs {
    /// The engine.
    #[arg(long, value_name = "ENGINE")]
    pub engine: PathBuf,
    /// The calibration table (lets the target rebuild the engine).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<PathBuf>,
    /// The build report (ENGINE.report.json); its flags go into the manifest.
    #[arg(long, value_name = "REPORT")]
    pub report: Option<PathBuf>,
    /// The ONNX model.
    #[arg(long, value_name = "MODEL.onnx")]
    pub onnx: Option<PathBuf>,
    /// The bundle folder to create.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Replace DIR if it exists.
    #[arg(long)]
    pub force: bool,
    /// The TensorRT version that built the engine, MAJOR.MINOR.PATCH (default: the report's, else the loaded library's).
    #[arg(long = "trt", value_name = "X.Y.Z")]
    pub trt: Option<String>,
    /// The compute capability the engine was built for, M.N (default: GPU 0's).
    #[arg(long, value_name = "M.N")]
    pub compute_capability: Option<String>,
    /// Do not ask this machine's TensorRT to load the engine (by default it is asked when one
    /// is here, and what it did goes into the manifest's loaded_by).
    #[arg(long)]
    pub no_load: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn bundle(args: BundleArgs, out: &mut dyn Write) -> Result<Outcome> {
    let report_version = match &args.report {
        Some(r) => Some(BuildReport::load(r)?.tensorrt_version),
        None => None,
    };
    let tensorrt: TrtVersion = match (&args.trt, report_version) {
        (Some(v), _) => TrtVersion::parse_full(v)?,
        (None, Some(v)) => v,
        (None, None) => common::require_tensorrt()
            .context("cannot tell which TensorRT built the engine: give --trt X.Y.Z or --report")?
            .version(),
    };
    let gpu = match &args.compute_capability {
        Some(cc) => GpuInfo {
            name: None,
            compute_capability: cc.parse()?,
        },
        None => {
            GpuInfo::of_device(0).context("cannot read GPU 0: give --compute-capability M.N")?
        }
    };
    if args.output.exists() && !args.force {
        anyhow::bail!(
            "{} already exists (use --force to replace it)",
            args.output.display()
        );
    }
    // What this machine's TensorRT really does with the engine goes into the manifest.
    let mut not_loaded = None;
    let loaded_by = if args.no_load {
        vec![]
    } else {
        match common::runtime_here() {
            Ok(rt) => {
                let vc = match &args.report {
                    Some(r) => BuildReport::load(r)?.flags.settings.version_compatible,
                    None => false,
                };
                vec![bundle::try_load(&args.engine, &rt, vc)]
            }
            Err(why) => {
                not_loaded = Some(why);
                vec![]
            }
        }
    };
    let sources = BundleSources {
        engine: args.engine,
        table: args.table,
        report: args.report,
        onnx: args.onnx,
        loaded_by,
    };
    let manifest = bundle::create_bundle(
        &sources,
        &Target { tensorrt, gpu },
        &args.output,
        args.force,
    )?;
    if args.json {
        common::write_json(out, &manifest)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "bundle {}", args.output.display())?;
    writeln!(
        out,
        "built with TensorRT {} for compute capability {}{}",
        manifest.tensorrt_version,
        manifest.gpu.compute_capability,
        manifest
            .gpu
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )?;
    let rows: Vec<Vec<String>> = manifest
        .files
        .iter()
        .map(|(role, f)| {
            vec![
                role.clone(),
                f.path.clone(),
                f.size.to_string(),
                f.sha256.clone(),
            ]
        })
        .collect();
    common::write_columns(out, &["ROLE", "FILE", "BYTES", "SHA256"], &rows)?;
    for load in &manifest.loaded_by {
        writeln!(out, "{load}")?;
    }
    if let Some(why) = not_loaded {
        writeln!(out, "no TensorRT here loaded the engine ({why})")?;
    }
    Ok(Outcome::Success)
}

/// Check a bundle before using its engine: every file's size and sha256 (a corrupt or truncated
/// file is named, before TensorRT ever sees it), then the TensorRT version (exact X.Y.Z) and
/// the compute capability against this machine (or --trt / --compute-capability).
///
/// Exit code: 0 usable, 1 refused (corrupt file or other version / GPU; the message says what
/// to do), 2 error (no or unreadable manifest).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt verify-bundle bundle/\n  \
    trt verify-bundle bundle/ --trt 8.5.2 --compute-capability 8.7     # JetPack 5.1 on Orin")]
pub struct VerifyArgs {
    /// The bundle folder.
    pub dir: PathBuf,
    /// The target's TensorRT version, X.Y.Z (default: the loaded library's).
    #[arg(long = "trt", value_name = "X.Y.Z")]
    pub trt: Option<String>,
    /// The target's compute capability, M.N (default: GPU 0's).
    #[arg(long, value_name = "M.N")]
    pub compute_capability: Option<String>,
    /// Print JSON: {dir, manifest, target_tensorrt, target_compute_capability, files_ok, refusals}.
    #[arg(long)]
    pub json: bool,
}

pub fn verify(args: VerifyArgs, out: &mut dyn Write) -> Result<Outcome> {
    // The manifest first: a missing bundle is an error whatever the target.
    bundle::Manifest::load(&args.dir)?;
    let tensorrt: TrtVersion = match &args.trt {
        Some(v) => TrtVersion::parse_full(v)?,
        None => common::require_tensorrt()
            .context("cannot tell the target's TensorRT version: give --trt X.Y.Z")?
            .version(),
    };
    let cc: ComputeCapability = match &args.compute_capability {
        Some(c) => c.parse()?,
        None => {
            GpuInfo::of_device(0)
                .context("cannot read GPU 0: give --compute-capability M.N")?
                .compute_capability
        }
    };
    let mut v = bundle::verify_bundle(&args.dir, tensorrt, cc)?;
    // The target is this machine: its TensorRT has the last word.
    if args.trt.is_none() && args.compute_capability.is_none() {
        if let Ok(rt) = common::runtime_here() {
            v.load_here(&rt);
        }
    }
    if args.json {
        common::write_json(out, &v)?;
    } else if v.accepted() {
        writeln!(
            out,
            "ok: {} files verified; engine built with TensorRT {} for compute capability {} runs here{}",
            v.files_ok.len(),
            v.manifest.tensorrt_version,
            v.manifest.gpu.compute_capability,
            v.loaded_here
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        )?;
    } else {
        for r in &v.refusals {
            writeln!(out, "refused: {r}")?;
        }
        if let Some(plan) = v.rebuild_plan() {
            write_rebuild_plan(&plan, out)?;
        }
    }
    Ok(if v.accepted() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

/// The `trt build` flags that rebuild with `settings`' precision mode, fallback and exclusions.
fn precision_flags(settings: &trt::BuildSettings) -> Vec<String> {
    let mut flags: Vec<String> = match settings.precision {
        Precision::Fp32 => vec![],
        Precision::Fp16 => vec!["--fp16".into()],
        Precision::Int8 => vec!["--int8".into()],
        Precision::StrictInt8 => vec!["--strict-int8".into()],
    };
    if !settings.precision.uses_int8() {
        return flags;
    }
    if settings.fallback == trt::Fallback::Fp16 {
        flags.push("--fp16-fallback".into());
    }
    let f = &settings.keep_out_of_int8;
    flags.extend(f.names.iter().map(|n| format!("--exclude-layer '{n}'")));
    flags.extend(f.types.iter().map(|t| format!("--exclude-type '{t}'")));
    flags
}

/// Prints the library's rebuild plan as the command to run on the target.
fn write_rebuild_plan(plan: &bundle::RebuildPlan, out: &mut dyn Write) -> Result<()> {
    let model = plan
        .model
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "MODEL.onnx".into());
    let mut flags = precision_flags(&plan.settings);
    let int8 = plan.settings.precision.uses_int8();
    if int8 && plan.algorithm == CalibrationAlgorithm::MinMax {
        flags.push("--minmax".into());
    }
    let flags = flags.join(" ");
    match (&plan.table, int8) {
        (Some(t), true) => {
            writeln!(
                out,
                "rebuild the engine on the target from the bundle's calibration table:\n  \
                 trt build {model} {flags} --calib-cache {} --require-cache -o model.engine",
                t.display()
            )?;
            if let Some(v) = plan.table_written_by {
                writeln!(
                    out,
                    "(the table was written by TensorRT {v}; TensorRT accepts tables of the same major.minor only, \
                     so recalibrate on the target with --calib DIR --recalibrate if it is refused)"
                )?;
            }
        }
        (None, true) => writeln!(
            out,
            "rebuild the engine on the target (the bundle has no calibration table, so INT8 needs calibration data):\n  \
             trt build {model} {flags} --calib DIR --calib-cache model.calib.cache -o model.engine"
        )?,
        (_, false) => writeln!(
            out,
            "rebuild the engine on the target:\n  trt build {model} {flags} -o model.engine"
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_plan_renders_as_the_same_build() {
        let settings = trt::BuildConfig::new(Precision::StrictInt8)
            .with_fallback(trt::Fallback::Fp16)
            .keep_layer_out_of_int8("/_fc/Gemm")
            .keep_type_out_of_int8("SOFTMAX")
            .settings()
            .clone();
        let plan = bundle::RebuildPlan {
            model: Some("b/model.onnx".into()),
            settings,
            table: Some("b/model.calib.cache".into()),
            algorithm: CalibrationAlgorithm::MinMax,
            table_written_by: Some("8.5.3".parse().unwrap()),
        };
        let mut out = Vec::new();
        write_rebuild_plan(&plan, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            "trt build b/model.onnx --strict-int8 --fp16-fallback --exclude-layer '/_fc/Gemm' \
             --exclude-type 'SOFTMAX' --minmax --calib-cache b/model.calib.cache --require-cache -o model.engine"
        ), "{text}");
        assert!(text.contains("written by TensorRT 8.5.3"), "{text}");

        let fp16 = bundle::RebuildPlan {
            settings: trt::BuildConfig::new(Precision::Fp16).settings().clone(),
            table: None,
            table_written_by: None,
            ..plan
        };
        let mut out = Vec::new();
        write_rebuild_plan(&fp16, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("trt build b/model.onnx --fp16 -o model.engine"));
    }
}
