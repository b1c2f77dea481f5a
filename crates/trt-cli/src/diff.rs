//! `trt diff`: compare two builds layer by layer.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use trt::report::{ArtifactKind, BuildReport, ReportDiff};
use trt::{EngineInspection, EngineLayer};

use crate::common;
use crate::exit::Outcome;

/// Compare two builds: layers only in one, precision, format and tactic changes (layers matched by name).
///
/// A and B may each be an engine, a build report (`ENGINE.report.json` from `trt build`) or the
/// engine inspector's JSON; the kind is told from the content. Engines need TensorRT and a GPU.
/// Exit code: 0 identical, 1 different, 2 error.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt diff a.engine b.engine\n  \
    trt diff a.engine.report.json b.engine.report.json --json\n  \
    trt diff resnet18-int8-plain.a.inspector.json resnet18-int8-plain.b.inspector.json")]
pub struct DiffArgs {
    /// Build A: engine, build report or inspector JSON.
    pub a: PathBuf,
    /// Build B.
    pub b: PathBuf,
    /// Print JSON: {identical, layers_only_in_a, layers_only_in_b, precision_changes, format_changes, tactic_changes}.
    #[arg(long)]
    pub json: bool,
}

/// What one side was, and its layers.
pub struct Side {
    pub kind: ArtifactKind,
    pub layers: Vec<EngineLayer>,
}

/// Reads an engine, a build report or inspector JSON into engine layers.
pub fn load_layers(path: &Path) -> Result<Side> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kind = ArtifactKind::detect(&bytes)
        .with_context(|| format!("{}: unknown content", path.display()))?;
    let layers = match kind {
        ArtifactKind::InspectorJson => {
            let text = String::from_utf8_lossy(&bytes);
            EngineInspection::from_json(&text)
                .with_context(|| format!("{}: bad inspector JSON", path.display()))?
                .layers
        }
        ArtifactKind::BuildReport => {
            let text = String::from_utf8_lossy(&bytes);
            BuildReport::from_json(&text)
                .with_context(|| format!("{}: bad build report", path.display()))?
                .layers
        }
        ArtifactKind::Engine => {
            common::require_tensorrt().with_context(|| {
                format!("{} is an engine: reading it needs TensorRT", path.display())
            })?;
            let runtime = trt::Runtime::new()?;
            let engine = runtime.deserialize(&bytes).with_context(|| {
                format!("{}: not an engine this TensorRT can load", path.display())
            })?;
            engine.inspect()?.layers
        }
    };
    Ok(Side { kind, layers })
}

fn kind_name(k: ArtifactKind) -> &'static str {
    match k {
        ArtifactKind::InspectorJson => "inspector JSON",
        ArtifactKind::BuildReport => "build report",
        ArtifactKind::Engine => "engine",
    }
}

pub fn run(args: DiffArgs, out: &mut dyn Write) -> Result<Outcome> {
    let a = load_layers(&args.a)?;
    let b = load_layers(&args.b)?;
    let d = ReportDiff::between(&a.layers, &b.layers);
    if args.json {
        common::write_json(out, &d)?;
    } else {
        writeln!(
            out,
            "A  {} ({}, {} layers)",
            args.a.display(),
            kind_name(a.kind),
            a.layers.len()
        )?;
        writeln!(
            out,
            "B  {} ({}, {} layers)",
            args.b.display(),
            kind_name(b.kind),
            b.layers.len()
        )?;
        write_diff(&d, out)?;
    }
    Ok(if d.identical {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// The human form of a diff (used by `trt diff` and `trt build --repeat`).
pub fn write_diff(d: &ReportDiff, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{}", d.summary())?;
    for (label, names) in [
        ("only in A", &d.layers_only_in_a),
        ("only in B", &d.layers_only_in_b),
    ] {
        if !names.is_empty() {
            writeln!(out, "\nlayers {label} ({}):", names.len())?;
            for n in names {
                writeln!(out, "  {n}")?;
            }
        }
    }
    if !d.precision_changes.is_empty() {
        writeln!(out, "\nprecision changes ({}):", d.precision_changes.len())?;
        let rows: Vec<Vec<String>> = d
            .precision_changes
            .iter()
            .map(|c| vec![format!("  {}", c.layer), opt(&c.a), opt(&c.b)])
            .collect();
        common::write_columns(out, &["  LAYER", "A", "B"], &rows)?;
    }
    if !d.format_changes.is_empty() {
        writeln!(out, "\nformat changes ({}):", d.format_changes.len())?;
        for c in &d.format_changes {
            writeln!(out, "  {}", c.layer)?;
            writeln!(
                out,
                "    A: {} -> {}",
                c.a_inputs.join(", "),
                c.a_outputs.join(", ")
            )?;
            writeln!(
                out,
                "    B: {} -> {}",
                c.b_inputs.join(", "),
                c.b_outputs.join(", ")
            )?;
        }
    }
    if !d.tactic_changes.is_empty() {
        writeln!(out, "\ntactic changes ({}):", d.tactic_changes.len())?;
        let with_names = d
            .tactic_changes
            .iter()
            .any(|c| c.a_name.is_some() || c.b_name.is_some());
        let rows: Vec<Vec<String>> = d
            .tactic_changes
            .iter()
            .map(|c| {
                let mut r = vec![format!("  {}", c.layer), opt(&c.a), opt(&c.b)];
                if with_names {
                    r.push(format!("{} -> {}", opt(&c.a_name), opt(&c.b_name)));
                }
                r
            })
            .collect();
        let header: &[&str] = if with_names {
            &["  LAYER", "A", "B", "KERNEL"]
        } else {
            &["  LAYER", "A", "B"]
        };
        common::write_columns(out, header, &rows)?;
    }
    Ok(())
}
