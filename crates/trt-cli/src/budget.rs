//! `trt build --strict-int8 --accuracy-budget POINTS --eval DATA`: the fewest layers kept out of
//! INT8 that meet the budget (the search is `trt::strict::budget`; this parses and prints).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use trt::eval::run_outputs;
use trt::report::BuildReport;
use trt::stats::Passes;
use trt::strict::budget::{rank_network, search, BudgetOptions, BudgetSearch};
use trt::{collect_activations, BuildConfig, Builder, CollectOptions, Precision, Runtime};
use trt_calib_data::{BatchSource, FirstBatches};
use trt_calib_table::CalibrationTable;

use crate::build::{missing_library_hint, only_input, secs, BuildArgs};
use crate::eval::data_spec;
use crate::exit::Outcome;

/// Samples whose activation histograms rank the layers (the rest are only evaluated).
const RANKING_SAMPLES: usize = 128;

pub fn build(args: &BuildArgs, config: BuildConfig, out: &mut dyn Write) -> Result<Outcome> {
    let started = Instant::now();
    let points = args.accuracy_budget.expect("checked by the caller");
    let table_path = args.calib_cache.as_ref().expect("validated");
    let table = CalibrationTable::read(table_path)?;
    let labels = match &args.eval_labels {
        Some(p) => Some(trt::eval::parse_labels(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )?),
        None => None,
    };
    let builder = Builder::on_device(config.device())?;
    let mut network = builder.network_from_onnx_file(&args.model)?;
    let eval_path = args.eval.as_ref().expect("clap requires --eval");
    let spec = data_spec(eval_path, &args.data.pre, || only_input(&network))?;
    let mut data = spec.open().context("cannot open the evaluation data")?;

    // The FP32 reference, and the evaluation data's activation histograms for the ranking.
    let mut fp32 = args.shapes.apply(BuildConfig::new(Precision::Fp32));
    if let Some(tc) = config.timing_cache() {
        fp32 = fp32.with_timing_cache(tc.to_vec());
    }
    let t = Instant::now();
    let reference_plan = builder
        .build(&mut network, &fp32)
        .map_err(missing_library_hint)?;
    if let Some(path) = &args.save_reference {
        trt::write_atomic(path, &reference_plan.plan)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let runtime = Runtime::with_logger_on_device(builder.logger().clone(), builder.device())?;
    let reference_engine = runtime.deserialize(&reference_plan.plan)?;
    let reference = run_outputs(&reference_engine, &mut data)?;
    let reference_s = t.elapsed();
    data.reset()?;
    let t = Instant::now();
    // The ranking's histograms from the first RANKING_SAMPLES samples: the proxy needs each
    // tensor's noise roughly, and a full collection of EfficientNet-Lite0's 99 activations
    // over 640 images took minutes on the H200 (every activation copied to the host).
    let ranking_batches = RANKING_SAMPLES.div_ceil(data.batch_size().max(1));
    let acts = collect_activations(
        &builder,
        &mut network,
        &mut FirstBatches::new(&mut data, ranking_batches),
        // One pass: the ranking needs each tensor's noise roughly, not a two-pass histogram
        // (measured on EfficientNet-Lite0, 640 images: 132 s for the two-pass collection).
        &CollectOptions::new().with_passes(Passes::One),
        &fp32,
    )
    .map_err(missing_library_hint)?;
    // Weight noise by node name, from the ONNX model (TensorRT keeps the node names).
    let weights = trt_qdq::load_model(&args.model)
        .map(|m| trt_qdq::weight_sqnr_db(&m))
        .unwrap_or_default();
    let ranking = rank_network(&network, &config, &acts.collector, &table, &weights)?;
    let ranking_s = t.elapsed();
    let ranking_samples = acts.samples;
    drop(acts);

    let mut options = BudgetOptions::new(points);
    options.labels = labels;
    options.max_trials = args.budget_trials;
    options.measure_each = args.budget_measure_each;
    options.measure_groups = args
        .budget_measure_groups
        .map(|g| g.unwrap_or_else(|| trt::strict::budget::default_group_size(ranking.len())));
    let (built, chosen_config, record) = search(
        &builder,
        &mut network,
        &config,
        &reference,
        &mut data,
        ranking,
        &options,
    )
    .map_err(missing_library_hint)?;

    let engine = runtime.deserialize(&built.plan)?;
    let inputs = reference_engine.seeded_inputs(0)?;
    let latency = trt::compare::latency(&reference_engine, &engine, &inputs, 20, 200)?;
    drop(reference_engine);
    let mut report = BuildReport::from_engine(&engine, &chosen_config, Some(&built))?;
    report.accuracy_budget = Some(record.clone());
    trt::write_atomic(&args.output, &built.plan)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| BuildReport::path_for_engine(&args.output));
    report.save(&report_path)?;
    if let (Some(tc), Some(bytes)) = (&args.timing_cache, &built.timing_cache) {
        trt::write_atomic(tc, bytes).with_context(|| format!("cannot write {}", tc.display()))?;
    }
    writeln!(
        out,
        "engine     {} ({} bytes, TensorRT {})",
        args.output.display(),
        built.plan.len(),
        engine.tensorrt_version()
    )?;
    writeln!(out, "report     {}", report_path.display())?;
    writeln!(
        out,
        "reference  FP32 built and run on {} samples in {}; ranking from the activation histograms of the first {ranking_samples} in {}",
        reference.samples,
        secs(reference_s),
        secs(ranking_s)
    )?;
    print_search(&record, out)?;
    if let Some(svg) = &args.budget_plot {
        let items: Vec<(String, f64)> = record
            .ranking
            .iter()
            .filter_map(|l| Some((l.label(), -l.sqnr_db?)))
            .take(30)
            .collect();
        trt_plot::ranking_svg(
            svg,
            "Layers by INT8 quantization noise of their input (worst on top)",
            &items,
            "noise relative to signal, dB (= -SQNR)",
        )?;
        writeln!(out, "plot       {}", svg.display())?;
    }
    writeln!(
        out,
        "compute layers by precision: {}",
        report
            .precision_counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    if let Some(l) = latency {
        writeln!(
            out,
            "GPU time   {:.4} ms vs FP32 {:.4} ms per batch (median of {}): {:.3}",
            l.b_ms, l.a_ms, l.iterations, l.ratio
        )?;
    }
    writeln!(out, "total      {}", secs(started.elapsed()))?;
    Ok(if record.met {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn print_search(r: &BudgetSearch, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "budget     {} points of {}: target {:.2}% (reference {:.2}%)",
        r.budget_points,
        r.measure,
        100.0 * r.target,
        100.0 * r.reference_score
    )?;
    let by = if r.probes.is_empty() {
        "the lowest SQNR of a tensor they read or write at the table's threshold, or of their INT8 weights"
    } else {
        "by the gain measured with each kept out alone; the SQNR shown for comparison"
    };
    writeln!(out, "ranking    worst first (units of fused layers; {by}):")?;
    for l in r.ranking.iter().take(8) {
        let db = l.sqnr_db.map_or("-".to_owned(), |d| format!("{d:.1} dB"));
        writeln!(out, "           {:>9}  {}  ({})", db, l.label(), l.tensor)?;
    }
    if r.ranking.len() > 8 {
        writeln!(out, "           and {} more", r.ranking.len() - 8)?;
    }
    if !r.probes.is_empty() {
        let groups = r.probes.iter().filter(|p| p.kept_out > 1).count();
        writeln!(
            out,
            "probes     {} builds ({groups} of groups of units, {} of units alone); the best:",
            r.probes.len(),
            r.probes.len() - groups
        )?;
        for l in r.ranking.iter().take(5) {
            if let Some(g) = l.measured.or(l.group_gain) {
                let how = match (l.together, l.measured) {
                    (Some(_), _) => "together: no unit alone explains it".to_owned(),
                    (None, Some(_)) => "alone".to_owned(),
                    (None, None) => "its group".to_owned(),
                };
                writeln!(
                    out,
                    "           {:+7.2} points  {}  ({how})",
                    100.0 * g,
                    l.label()
                )?;
            }
        }
    }
    for t in &r.trials {
        writeln!(
            out,
            "trial      {:>3} kept out: {:.2}% {} (INT8 layers {}, build {:.1} s, eval {:.1} s)",
            t.kept_out,
            100.0 * t.score,
            if t.met { "meets" } else { "misses" },
            t.int8_layers,
            t.build_s,
            t.eval_s
        )?;
    }
    let verdict = if r.met {
        "met"
    } else {
        "NOT met (the best trial is kept)"
    };
    writeln!(
        out,
        "chosen     {} layer(s) kept out of INT8, budget {verdict}, search {:.1} s: {}",
        r.chosen.len(),
        r.total_s,
        if r.chosen.is_empty() {
            "none".to_owned()
        } else {
            r.chosen.join(", ")
        }
    )?;
    Ok(())
}
