//! `trt bundle` and `trt verify-bundle`: ship engines and tables to Jetson boards.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use trt::bundle::{self, BundleSources, ComputeCapability, GpuInfo, Target, TrtVersion};
use trt::report::BuildReport;

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
        (Some(v), _) => v.parse()?,
        (None, Some(v)) => v
            .parse()
            .with_context(|| "the build report's TensorRT version")?,
        (None, None) => common::require_tensorrt()
            .context("cannot tell which TensorRT built the engine: give --trt X.Y.Z or --report")?
            .version()
            .into(),
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
    let sources = BundleSources {
        engine: args.engine,
        table: args.table,
        report: args.report,
        onnx: args.onnx,
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
        Some(v) => v.parse()?,
        None => common::require_tensorrt()
            .context("cannot tell the target's TensorRT version: give --trt X.Y.Z")?
            .version()
            .into(),
    };
    let cc: ComputeCapability = match &args.compute_capability {
        Some(c) => c.parse()?,
        None => {
            GpuInfo::of_device(0)
                .context("cannot read GPU 0: give --compute-capability M.N")?
                .compute_capability
        }
    };
    let v = bundle::verify_bundle(&args.dir, tensorrt, cc)?;
    if args.json {
        common::write_json(out, &v)?;
    } else if v.accepted() {
        writeln!(
            out,
            "ok: {} files verified; engine built with TensorRT {} for compute capability {} runs here",
            v.files_ok.len(),
            v.manifest.tensorrt_version,
            v.manifest.gpu.compute_capability
        )?;
    } else {
        for r in &v.refusals {
            writeln!(out, "refused: {r}")?;
        }
        if let Some(a) = v.advice() {
            writeln!(out, "{a}")?;
        }
    }
    Ok(if v.accepted() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}
