//! The smallest set of layers to keep out of INT8 that meets an accuracy budget.
//!
//! 1. **Rank** the layers strict mode forces by what INT8 costs them: the signal-to-noise
//!    ratio of quantizing each layer's activation inputs with the table's threshold, measured on
//!    the evaluation data's own histograms ([`trt_calib_stats::noise::sqnr_db`]). Lowest first.
//! 2. **Search**: build strict INT8 with the `k` worst layers kept out (at the fallback
//!    precision) and evaluate it against the FP32 reference. `k` = 0, 1, 2, 4, ... until the
//!    budget is met, then bisect between the last miss and the first hit. Every trial is a real
//!    engine; trials share one timing cache and are never repeated.
//! 3. The chosen exclusions are ordinary `keep_layer_out_of_int8` names: the build report
//!    records them (`excluded_layers`), so a rebuild or a bundle repeats them.
//!
//! The search assumes that keeping more of the worst-ranked layers out does not lower
//! accuracy; where that fails, the bisection still returns a set that met the budget, only
//! perhaps not the smallest.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use trt_calib_data::BatchSource;
use trt_calib_stats::{noise::sqnr_db, Collector, Histogram};
use trt_calib_table::CalibrationTable;

use crate::build::{BuildOutput, Builder};
use crate::config::{BuildConfig, Precision};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::eval::{compare_outputs, run_outputs, EngineOutputs};
use crate::network::Network;

/// One layer's cost in INT8, as ranked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    /// The network layer's name (what `keep_layer_out_of_int8` takes).
    pub layer: String,
    /// Its input with the lowest SQNR.
    pub tensor: String,
    /// That input's SQNR in dB under the table's threshold; `None`: not measurable (no
    /// histogram or no scale), ranked last.
    pub sqnr_db: Option<f64>,
}

/// Ranks `layers` (`(layer name, its activation inputs)`) by the lowest SQNR of their inputs,
/// worst first; layers with no measurable input come last, in their given order.
pub fn rank_layers(
    layers: &[(String, Vec<String>)],
    histogram: impl Fn(&str) -> Option<Histogram>,
    amax: impl Fn(&str) -> Option<f32>,
) -> Vec<LayerSensitivity> {
    let mut ranked: Vec<LayerSensitivity> = layers
        .iter()
        .map(|(layer, inputs)| {
            let worst = inputs
                .iter()
                .filter_map(|t| {
                    let db = sqnr_db(&histogram(t)?, amax(t)?)?;
                    Some((t.clone(), db))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            LayerSensitivity {
                layer: layer.clone(),
                tensor: worst.as_ref().map(|w| w.0.clone()).unwrap_or_default(),
                sqnr_db: worst.map(|w| w.1),
            }
        })
        .collect();
    // Stable: equal keys keep the network's order.
    ranked.sort_by(|a, b| match (a.sqnr_db, b.sqnr_db) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    ranked
}

/// The layers strict mode would force to INT8 in `network` with `config`'s exclusions, each
/// with its activation inputs, ranked by [`rank_layers`] on `collector`'s histograms (taken
/// on the evaluation data) and `table`'s thresholds.
pub fn rank_network(
    network: &Network,
    config: &BuildConfig,
    collector: &Collector,
    table: &CalibrationTable,
) -> Result<Vec<LayerSensitivity>> {
    let plan = super::plan(network, config.keep_out_of_int8())?;
    let layers = network.layers()?;
    let inputs: HashSet<String> = network.inputs()?.into_iter().map(|t| t.name).collect();
    let constants = super::rules::constant_tensors(&layers, &inputs);
    let forced: Vec<(String, Vec<String>)> = plan
        .forced
        .iter()
        .map(|&i| {
            let l = &layers[i];
            let ins = l
                .inputs
                .iter()
                .flatten()
                .filter(|t| !constants.contains(*t))
                .cloned()
                .collect();
            (l.name.clone(), ins)
        })
        .collect();
    Ok(rank_layers(
        &forced,
        |t| collector.get(t).map(|s| s.histogram.clone()),
        |t| table.get(t).map(|e| e.dynamic_range()),
    ))
}

/// One trial of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// How many of the worst-ranked layers were kept out of INT8.
    pub kept_out: usize,
    /// Its score: top-1 agreement with the reference, or accuracy with labels (0..1).
    pub score: f64,
    /// The score met the target.
    pub met: bool,
    /// Compute layers that ran INT8 in its engine.
    pub int8_layers: usize,
    /// Seconds building it.
    pub build_s: f64,
    /// Seconds evaluating it.
    pub eval_s: f64,
}

/// How [`search`] chose the exclusions, for the build report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetSearch {
    /// The budget: points (percent) of top-1 the INT8 engine may lose.
    pub budget_points: f64,
    /// What is measured: `top-1 agreement with the FP32 reference` or `top-1 accuracy`.
    pub measure: String,
    /// The reference's own score (1 for agreement; its accuracy with labels).
    pub reference_score: f64,
    /// The score a trial must reach: `reference_score - budget_points / 100`.
    pub target: f64,
    /// Evaluation samples.
    pub samples: usize,
    /// Every forced layer, worst first.
    pub ranking: Vec<LayerSensitivity>,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// The layers kept out of INT8 in the chosen engine.
    pub chosen: Vec<String>,
    /// The chosen engine met the target (else: the best trial is chosen).
    pub met: bool,
    /// Seconds of the whole search (builds and evaluations).
    pub total_s: f64,
}

/// The smallest `k` in `0..=n` whose `trial(k)` (a score) reaches `target`: 0, then 1, 2, 4, ...
/// until one does, then bisection. At most `max_trials` calls; a `k` is never tried twice.
/// Returns `(k, met)`: when no trial met the target, the best-scoring `k` (the smallest among
/// equals) and `false`.
pub fn smallest_meeting(
    n: usize,
    target: f64,
    max_trials: usize,
    mut trial: impl FnMut(usize) -> Result<f64>,
) -> Result<(usize, bool)> {
    let mut scores: BTreeMap<usize, f64> = BTreeMap::new();
    let mut score = |k: usize, scores: &mut BTreeMap<usize, f64>| -> Result<Option<f64>> {
        if let Some(&s) = scores.get(&k) {
            return Ok(Some(s));
        }
        if scores.len() >= max_trials.max(1) {
            return Ok(None);
        }
        let s = trial(k)?;
        scores.insert(k, s);
        Ok(Some(s))
    };
    let mut hit = None;
    let mut miss = 0;
    let mut k = 0;
    loop {
        match score(k, &mut scores)? {
            Some(s) if s >= target => {
                hit = Some(k);
                break;
            }
            Some(_) => miss = k,
            None => break,
        }
        if k >= n {
            break;
        }
        k = (k * 2).clamp(1, n);
    }
    if let Some(mut hi) = hit {
        let mut lo = miss;
        while hi > lo + 1 {
            let mid = lo + (hi - lo) / 2;
            match score(mid, &mut scores)? {
                Some(s) if s >= target => hi = mid,
                Some(_) => lo = mid,
                None => break,
            }
        }
        return Ok((hi, true));
    }
    let best = scores
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(0, |(&k, _)| k);
    Ok((best, false))
}

/// What the search may spend and must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetOptions {
    /// Points (percent) of top-1 the INT8 engine may lose against the reference.
    pub budget_points: f64,
    /// Labels (one class per evaluation sample): the budget applies to accuracy instead of
    /// agreement.
    pub labels: Option<Vec<usize>>,
    /// The most engines built (default 12).
    pub max_trials: usize,
}

impl BudgetOptions {
    /// `budget_points` of agreement, at most 12 trials.
    pub fn new(budget_points: f64) -> Self {
        BudgetOptions {
            budget_points,
            labels: None,
            max_trials: 12,
        }
    }
}

/// Searches the smallest set of `ranking`'s worst layers to keep out of INT8 so that a
/// strict INT8 build of `network` with `config` (which must name an existing calibration
/// table, or carry dynamic ranges: no calibration happens here) scores within the budget of
/// `reference` (the FP32 engine's outputs on `data`). Returns the chosen trial's build, whose
/// `config` exclusions are the chosen layers, and the search's record.
#[allow(clippy::too_many_arguments)]
pub fn search<S: BatchSource + ?Sized>(
    builder: &Builder,
    network: &mut Network,
    config: &BuildConfig,
    reference: &EngineOutputs,
    data: &mut S,
    ranking: Vec<LayerSensitivity>,
    options: &BudgetOptions,
) -> Result<(BuildOutput, BuildConfig, BudgetSearch)> {
    if config.precision() != Precision::StrictInt8 {
        return Err(Error::Invalid(
            "the accuracy-budget search builds strict INT8 (Precision::StrictInt8)".into(),
        ));
    }
    if !(options.budget_points.is_finite() && (0.0..=100.0).contains(&options.budget_points)) {
        return Err(Error::Invalid(format!(
            "the accuracy budget is in points from 0 to 100, not {}",
            options.budget_points
        )));
    }
    let started = Instant::now();
    let (reference_score, measure) = match &options.labels {
        Some(labels) => {
            let (_, acc) = compare_outputs(reference, reference, Some(labels))?;
            (acc.expect("labels given").reference_top1, "top-1 accuracy")
        }
        None => (1.0, "top-1 agreement with the FP32 reference"),
    };
    let target = reference_score - options.budget_points / 100.0;
    let runtime = Runtime::with_logger_on_device(builder.logger().clone(), builder.device())?;
    let mut timing_cache = config.timing_cache().map(<[u8]>::to_vec);
    let mut trials = Vec::new();
    let mut builds: BTreeMap<usize, (BuildOutput, BuildConfig)> = BTreeMap::new();
    let (k, met) = smallest_meeting(ranking.len(), target, options.max_trials, |k| {
        let mut c = config.clone();
        for l in &ranking[..k] {
            c = c.keep_layer_out_of_int8(l.layer.clone());
        }
        if let Some(tc) = &timing_cache {
            c = c.with_timing_cache(tc.clone());
        }
        let built = builder.build(network, &c)?;
        if built.timing_cache.is_some() {
            timing_cache.clone_from(&built.timing_cache);
        }
        let t = Instant::now();
        let engine = runtime.deserialize(&built.plan)?;
        data.reset()?;
        let outputs = run_outputs(&engine, data)?;
        let (metrics, acc) = compare_outputs(reference, &outputs, options.labels.as_deref())?;
        let score = match acc {
            Some(a) => a.candidate_top1,
            None => metrics.iter().find_map(|m| m.top1).ok_or_else(|| {
                Error::Invalid(
                    "no output is a classification output ([N, C]): the budget is on top-1 \
                     agreement"
                        .into(),
                )
            })?,
        };
        let int8_layers = engine
            .inspect()?
            .precision_counts()
            .get("INT8")
            .copied()
            .unwrap_or(0);
        log::info!(
            target: "trt::build",
            "accuracy budget: {k} layer(s) kept out of INT8: {measure} {:.2}% (target {:.2}%), \
             INT8 layers {int8_layers}",
            100.0 * score,
            100.0 * target
        );
        trials.push(Trial {
            kept_out: k,
            score,
            met: score >= target,
            int8_layers,
            build_s: built.build_time.as_secs_f64(),
            eval_s: t.elapsed().as_secs_f64(),
        });
        builds.insert(k, (built, c));
        Ok(score)
    })?;
    let (built, chosen_config) = builds.remove(&k).expect("the chosen k was built");
    let record = BudgetSearch {
        budget_points: options.budget_points,
        measure: measure.into(),
        reference_score,
        target,
        samples: reference.samples,
        chosen: ranking[..k].iter().map(|l| l.layer.clone()).collect(),
        ranking,
        trials,
        met,
        total_s: started.elapsed().as_secs_f64(),
    };
    Ok((built, chosen_config, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(counts_at: &[(usize, u64)], amax: f32) -> Histogram {
        let mut c = vec![0u64; trt_calib_stats::BINS];
        for &(i, n) in counts_at {
            c[i] = n;
        }
        Histogram::from_counts(&c, amax).unwrap()
    }

    /// A small graph: conv1 -> relu -> conv2 -> fc. conv2's input has one huge outlier that
    /// the table's threshold clips, so it is the layer INT8 costs most.
    #[test]
    fn the_layer_whose_input_is_clipped_ranks_first_and_the_search_keeps_only_it_out() {
        let layers = vec![
            ("conv1".to_string(), vec!["x".to_string()]),
            ("conv2".to_string(), vec!["a".to_string()]),
            ("fc".to_string(), vec!["b".to_string()]),
            ("shape".to_string(), vec![]),
        ];
        let h = |t: &str| match t {
            // Spread evenly: fine rounding noise only.
            "x" | "b" => Some(Histogram::from_counts(&[10u64; 2048], 4.0).unwrap()),
            // Mass at 1.0 and an outlier bump at 3.9 that a threshold of 1.2 clips.
            "a" => Some(hist(&[(512, 10_000), (1996, 2_000)], 4.0)),
            _ => None,
        };
        let amax = |t: &str| match t {
            "x" | "b" => Some(4.0),
            "a" => Some(1.2),
            _ => None,
        };
        let ranked = rank_layers(&layers, h, amax);
        let order: Vec<&str> = ranked.iter().map(|r| r.layer.as_str()).collect();
        assert_eq!(order[0], "conv2");
        assert_eq!(ranked[0].tensor, "a");
        assert_eq!(order[3], "shape", "no measurable input: last");
        assert_eq!(ranked[3].sqnr_db, None);
        assert!(ranked[0].sqnr_db.unwrap() < 10.0, "{:?}", ranked[0].sqnr_db);
        assert!(ranked[1].sqnr_db.unwrap() > 40.0, "{:?}", ranked[1].sqnr_db);

        // The accuracy of the engine with the k worst layers kept out: only conv2 matters.
        let mut tried = Vec::new();
        let accuracy = |k: usize| -> f64 {
            if ranked[..k].iter().any(|l| l.layer == "conv2") {
                0.995
            } else {
                0.90
            }
        };
        let (k, met) = smallest_meeting(ranked.len(), 0.99, 12, |k| {
            tried.push(k);
            Ok(accuracy(k))
        })
        .unwrap();
        assert_eq!((k, met), (1, true));
        assert_eq!(tried, [0, 1]);
    }

    #[test]
    fn the_search_bisects_never_repeats_and_stops_at_its_trial_limit() {
        // Met from k = 11 on, of 40.
        let mut tried = Vec::new();
        let (k, met) = smallest_meeting(40, 0.5, 20, |k| {
            tried.push(k);
            Ok(if k >= 11 { 1.0 } else { 0.0 })
        })
        .unwrap();
        assert_eq!((k, met), (11, true));
        assert_eq!(tried, [0, 1, 2, 4, 8, 16, 12, 10, 11]);
        let mut unique = tried.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tried.len());

        // Met at once: one trial.
        let (k, met) = smallest_meeting(40, 0.5, 20, |_| Ok(1.0)).unwrap();
        assert_eq!((k, met), (0, true));

        // Never met: the best score, the smallest k among equals.
        let (k, met) =
            smallest_meeting(5, 0.99, 20, |k| Ok([0.1, 0.5, 0.7, 0.7, 0.6, 0.6][k])).unwrap();
        assert_eq!((k, met), (2, false));

        // At most 3 trials: 0, 1, 2; 2 met, so no bisection is needed.
        let mut n = 0;
        let (k, met) = smallest_meeting(40, 0.5, 3, |k| {
            n += 1;
            Ok(if k >= 2 { 1.0 } else { 0.0 })
        })
        .unwrap();
        assert_eq!((k, met, n), (2, true, 3));
        // The limit stops the bisection too: the best hit so far is kept.
        let (k, met) =
            smallest_meeting(40, 0.5, 6, |k| Ok(if k >= 11 { 1.0 } else { 0.0 })).unwrap();
        assert_eq!((k, met), (16, true));
    }
}
