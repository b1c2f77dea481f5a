//! `trt calib --stability K`: calibrate again with the samples in other orders and batch sizes,
//! and report the tensors whose scale moves, and (our methods) unhealthy histograms.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use trt::stability::{
    stability_of_calibrator, stability_of_method, StabilityOptions, StabilityRun,
};
use trt::stats::stability::{HistogramHealth, TensorMove, MOVE_THRESHOLD};
use trt::stats::Passes;
use trt::{BuildConfig, Builder, CollectOptions, Precision, TablePolicy};

use crate::build::{algorithm, missing_library_hint, only_input, secs};
use crate::calib::{describe_table, CalibArgs};
use crate::common;
use crate::exit::Outcome;

/// Tensors listed (moving, or unhealthy) before "and N more".
const LISTED_MOVES: usize = 20;

/// The stability flags of `trt calib`.
#[derive(Args, Debug, Clone, Default)]
pub struct StabilityArgs {
    /// After the table, calibrate K more times (variant i: samples shuffled with seed i; batch
    /// size cycling through the original, half and double when the network's batch dimension
    /// is dynamic) and list the tensors whose scale moves more than --stability-threshold, and
    /// (with --method) nearly empty or saturated histograms. Exit code: 0 stable, 1 a scale
    /// moves more than the threshold, 2 error.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Stability")]
    pub stability: Option<u32>,
    /// The relative scale move |s_variant / s_reference - 1| above which a tensor is unstable.
    #[arg(long, value_name = "MOVE", default_value_t = MOVE_THRESHOLD,
        allow_negative_numbers = true, value_parser = parse_threshold, requires = "stability", help_heading = "Stability")]
    pub stability_threshold: f64,
    /// Print the stability run as JSON instead of text.
    #[arg(long, requires = "stability", help_heading = "Stability")]
    pub json: bool,
}

fn parse_threshold(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!(
            "`{s}`: give a relative move >= 0, e.g. 0.05 for 5%"
        )),
    }
}

/// `trt calib ... --stability K`: the reference table written as `trt calib` writes it, then
/// the report. Outcome: `Negative` when unstable.
pub fn calib(args: &CalibArgs, k: u32, out: &mut dyn Write) -> Result<Outcome> {
    let options =
        StabilityOptions::new(k as usize).with_threshold(args.stability.stability_threshold);
    let t = Instant::now();
    let run = match args.method {
        Some(method) => {
            let config = args.shapes.apply(BuildConfig::new(Precision::Fp32));
            let builder = Builder::on_device(config.device())?;
            let mut network = builder.network_from_onnx_file(&args.model)?;
            let spec = args
                .data
                .spec(|| only_input(&network))?
                .expect("checked by calib");
            let passes = if args.one_pass {
                Passes::One
            } else {
                Passes::Two
            };
            let collect = CollectOptions::new().with_passes(passes);
            let run = stability_of_method(
                &builder,
                &mut network,
                &spec,
                &collect,
                method,
                &config,
                &options,
            )
            .map_err(missing_library_hint)?;
            run.reference_table
                .write_atomic(&args.calib_cache)
                .with_context(|| format!("cannot write {}", args.calib_cache.display()))?;
            run
        }
        None => {
            let config = args
                .shapes
                .apply(BuildConfig::new(Precision::Int8))
                .with_calibration_table(TablePolicy::recalibrate(&args.calib_cache));
            let builder = Builder::on_device(config.device())?;
            let mut network = builder.network_from_onnx_file(&args.model)?;
            let spec = args
                .data
                .spec(|| only_input(&network))?
                .expect("checked by calib");
            stability_of_calibrator(
                &builder,
                &mut network,
                &spec,
                algorithm(args.minmax),
                &config,
                &options,
            )
            .map_err(missing_library_hint)?
        }
    };
    let outcome = if run.report.is_stable() {
        Outcome::Success
    } else {
        Outcome::Negative
    };
    if args.stability.json {
        if let Some(acts) = &run.reference_activations {
            crate::plot::write_plots(&args.plot, &acts.collector, &mut std::io::sink())?;
        }
        common::write_json(out, &run)?;
        return Ok(outcome);
    }
    describe_table(&args.calib_cache, run.reference.batches, t.elapsed(), out)?;
    if let Some(acts) = &run.reference_activations {
        // --plot: the reference's histograms, as without --stability.
        crate::plot::write_plots(&args.plot, &acts.collector, out)?;
    }
    write_report(&run, out)?;
    Ok(outcome)
}

/// `12.34%`, `inf`, `NaN`.
fn pct(m: f64) -> String {
    if m.is_nan() {
        "NaN".into()
    } else if m.is_infinite() {
        "inf".into()
    } else {
        format!("{:.2}%", 100.0 * m)
    }
}

/// The text report.
pub fn write_report(run: &StabilityRun, out: &mut dyn Write) -> Result<()> {
    let r = &run.report;
    let tables = &r.tables;
    writeln!(out, "calibration {}", r.calibration)?;
    writeln!(
        out,
        "reference   {}: {} batches, {} tensors",
        r.reference, run.reference.batches, tables.reference_tensors
    )?;
    if let Some(why) = &run.fixed_batch {
        writeln!(out, "batch size  fixed: {why}")?;
    }
    let variant_time: f64 = run.variants.iter().map(|v| v.seconds).sum();
    if run.engines_built > 0 {
        writeln!(
            out,
            "cost        {} FP32 collection engine(s) built once ({}), reference {}, {} variant(s) {}",
            run.engines_built,
            secs_f(run.engine_build_seconds),
            secs_f(run.reference.seconds),
            run.variants.len(),
            secs_f(variant_time)
        )?;
    } else {
        writeln!(
            out,
            "cost        one calibrated build per calibration: reference {}, {} variant(s) {}",
            secs_f(run.reference.seconds),
            run.variants.len(),
            secs_f(variant_time)
        )?;
    }
    writeln!(out)?;
    let rows: Vec<Vec<String>> = run
        .variants
        .iter()
        .zip(&tables.variants)
        .map(|(v, m)| {
            let mut notes = Vec::new();
            if !m.missing.is_empty() {
                notes.push(format!("{} missing", m.missing.len()));
            }
            if !m.extra.is_empty() {
                notes.push(format!("{} extra", m.extra.len()));
            }
            vec![
                v.variant.label.clone(),
                v.batches.to_string(),
                pct(m.max_move),
                m.worst_tensor.clone().unwrap_or_else(|| "-".into()),
                format!(
                    "{}{}",
                    m.above_threshold,
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", notes.join(", "))
                    }
                ),
            ]
        })
        .collect();
    common::write_columns(
        out,
        &[
            "variant",
            "batches",
            "max move",
            "worst tensor",
            "above threshold",
        ],
        &rows,
    )?;
    writeln!(out)?;

    let moving = tables.moving();
    if moving.is_empty() {
        writeln!(
            out,
            "moves       no tensor's scale moves more than {} (largest {})",
            pct(tables.threshold),
            pct(tables.max_move)
        )?;
    } else {
        writeln!(
            out,
            "moves       {} of {} tensors move more than {}, worst first:",
            moving.len(),
            tables.reference_tensors,
            pct(tables.threshold)
        )?;
        let rows: Vec<Vec<String>> = moving.iter().take(LISTED_MOVES).map(move_row).collect();
        common::write_columns(
            out,
            &[
                "tensor",
                "reference scale",
                "max move",
                "variant",
                "its scale",
            ],
            &rows,
        )?;
        if moving.len() > LISTED_MOVES {
            writeln!(out, "and {} more", moving.len() - LISTED_MOVES)?;
        }
    }
    match &r.histograms {
        Some(h) => write_health(h, out)?,
        None => writeln!(
            out,
            "histograms  not checked: TensorRT's calibrator exposes no histograms (use --method for them)"
        )?,
    }
    writeln!(out)?;
    if r.is_stable() {
        writeln!(
            out,
            "verdict     stable: no scale moves more than {} over {} variant(s)",
            pct(tables.threshold),
            tables.variants.len()
        )?;
    } else {
        let extra = tables
            .variants
            .iter()
            .filter(|v| !v.extra.is_empty())
            .count();
        let mut why = format!(
            "{} tensor(s) move more than {}",
            moving.len(),
            pct(tables.threshold)
        );
        if extra > 0 {
            why.push_str(&format!(
                ", {extra} variant(s) have tensors the reference lacks"
            ));
        }
        writeln!(out, "verdict     unstable: {why}")?;
    }
    Ok(())
}

fn move_row(t: &TensorMove) -> Vec<String> {
    let its = match (t.worst_scale, t.missing_in.is_empty()) {
        (Some(s), _) => format!("{s:e}"),
        (None, false) => "missing".into(),
        (None, true) => "-".into(),
    };
    vec![
        t.tensor.clone(),
        format!("{:e}", t.reference_scale),
        pct(t.max_move),
        t.worst_variant.clone().unwrap_or_else(|| "-".into()),
        its,
    ]
}

fn write_health(h: &HistogramHealth, out: &mut dyn Write) -> Result<()> {
    if h.is_healthy() {
        writeln!(
            out,
            "histograms  {} checked at the {} thresholds: none nearly empty or saturated",
            h.checked, h.method
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "histograms  {} of {} nearly empty or saturated at the {} thresholds (warnings; not part of the verdict):",
        h.unhealthy.len(),
        h.checked,
        h.method
    )?;
    for t in h.unhealthy.iter().take(LISTED_MOVES) {
        let problems: Vec<String> = t.problems.iter().map(|p| p.describe(t)).collect();
        writeln!(out, "  {}: {}", t.tensor, problems.join("; "))?;
    }
    if h.unhealthy.len() > LISTED_MOVES {
        writeln!(out, "and {} more", h.unhealthy.len() - LISTED_MOVES)?;
    }
    Ok(())
}

fn secs_f(s: f64) -> String {
    secs(std::time::Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trt::stability::{Variant, VariantRun};
    use trt::stats::stability::{histogram_health, StabilityReport, TableStability};
    use trt::stats::{Collector, Method};
    use trt::table::{Algorithm, CalibrationTable, Entry};

    fn table(scales: &[(String, f32)]) -> CalibrationTable {
        let mut t = CalibrationTable::new("10.16".parse().unwrap(), Algorithm::MinMaxCalibration);
        t.entries = scales
            .iter()
            .map(|(n, s)| Entry::new(n.clone(), *s))
            .collect();
        t
    }

    fn run_of(label: &str, batches: usize, seconds: f64) -> VariantRun {
        VariantRun {
            variant: Variant {
                label: label.into(),
                shuffle_seed: Some(1),
                batch_size: 8,
            },
            batches,
            samples: batches * 8,
            seconds,
        }
    }

    /// 24 tensors t00..t23 with scale 1; the variant moves t00..t21 by 10% + k/1000 and drops
    /// t23: 23 tensors above 5% (t23 missing first, then t21 ... t00), 20 listed, "and 3 more".
    #[test]
    fn the_text_report_lists_the_worst_twenty_and_says_how_many_more() {
        let names: Vec<String> = (0..24).map(|k| format!("t{k:02}")).collect();
        let reference = table(&names.iter().map(|n| (n.clone(), 1.0)).collect::<Vec<_>>());
        let variant = table(
            &names[..23]
                .iter()
                .enumerate()
                .map(|(k, n)| {
                    (
                        n.clone(),
                        if k < 22 { 1.1 + k as f32 / 1000.0 } else { 1.0 },
                    )
                })
                .collect::<Vec<_>>(),
        );
        let mut c = Collector::two_pass();
        c.add("t00", &[0.0, 1.0]).unwrap();
        c.finish_range_pass();
        c.add("t00", &[0.0, 1.0]).unwrap();
        let run = StabilityRun {
            report: StabilityReport {
                calibration: "minmax (computed by trt)".into(),
                reference: "file order, batch 8".into(),
                tables: TableStability::compare(
                    &reference,
                    [("order seed 1, batch 8", &variant)],
                    0.05,
                ),
                histograms: Some(histogram_health(&c, Method::MinMax).unwrap()),
            },
            reference: run_of("file order, batch 8", 4, 0.5),
            variants: vec![run_of("order seed 1, batch 8", 4, 0.25)],
            reference_table: reference.clone(),
            reference_activations: None,
            fixed_batch: Some(
                "the network's inputs have a fixed batch dimension (8): only the order varies"
                    .into(),
            ),
            engines_built: 1,
            engine_build_seconds: 2.0,
            seconds: 3.0,
        };
        let mut out = Vec::new();
        write_report(&run, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "calibration minmax (computed by trt)");
        assert_eq!(
            lines[1],
            "reference   file order, batch 8: 4 batches, 24 tensors"
        );
        assert!(
            lines[2].starts_with("batch size  fixed: the network's inputs"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "cost        1 FP32 collection engine(s) built once (2.00 s), reference 0.50 s, 1 variant(s) 0.25 s"
        );
        assert!(lines[5].starts_with("variant  "), "{text}");
        assert!(
            lines[6].starts_with("order seed 1, batch 8  4        inf       t23"),
            "{text}"
        );
        assert!(lines[6].ends_with("23 (1 missing)"), "{text}");
        assert_eq!(
            lines[8],
            "moves       23 of 24 tensors move more than 5.00%, worst first:"
        );
        assert!(
            lines[10].starts_with("t23 ") && lines[10].ends_with("missing"),
            "{text}"
        );
        assert!(
            lines[11].starts_with("t21 ") && lines[11].contains("12.10%"),
            "{text}"
        );
        assert_eq!(lines[30], "and 3 more");
        // t00: 0 and 1 are two non-empty bins, half of the values in bin 0, half in the top one.
        assert_eq!(
            lines[31],
            "histograms  1 of 1 nearly empty or saturated at the minmax thresholds (warnings; not part of the verdict):"
        );
        assert!(
            lines[32].starts_with("  t00: nearly empty: 2 non-empty bin(s) of 2048"),
            "{text}"
        );
        assert_eq!(
            lines.last().unwrap(),
            &"verdict     unstable: 23 tensor(s) move more than 5.00%"
        );
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["report"]["tables"]["tensors"][0]["tensor"], "t23");
        assert_eq!(
            json["report"]["tables"]["tensors"][0]["max_move"],
            serde_json::Value::Null
        );
        assert_eq!(json["variants"][0]["batches"], 4);
    }
}
