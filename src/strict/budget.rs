//! The smallest set of layers to keep out of INT8 that meets an accuracy budget.
//!
//! 1. **Units.** The layers strict mode forces are grouped the way TensorRT fuses them: a
//!    pointwise activation (Relu, Clip, ...) that alone reads a compute layer's output joins
//!    that layer's unit (`/_conv_stem/Conv + /Clip`). Keeping only the activation out of INT8
//!    would change nothing, since the tensor between them never exists in the engine.
//! 2. **Rank** the units by what INT8 costs them: the signal-to-noise ratio of quantizing, with
//!    the table's threshold, each tensor a unit reads from outside or writes, measured on the
//!    evaluation data's own histograms ([`trt_calib_stats::noise::sqnr_db`]), and of its
//!    weights in per-channel INT8. Lowest first.
//! 3. **Search**: build strict INT8 with the `k` worst units kept out (at the fallback
//!    precision) and evaluate it against the FP32 reference. `k` = 0, 1, 2, 4, ... until the
//!    budget is met, then bisect between the last miss and the first hit. Every trial is a real
//!    engine; trials share one live timing cache (one build session) and are never repeated.
//! 4. The chosen exclusions are ordinary `keep_layer_out_of_int8` names: the build report
//!    records them (`excluded_layers`), so a rebuild or a bundle repeats them.
//!
//! The search assumes that keeping more of the worst-ranked units out does not lower
//! accuracy; where that fails, the bisection still returns a set that met the budget, only
//! perhaps not the smallest. The ranking is a proxy: it sees each tensor's and weight's own
//! noise, not how a layer's error grows downstream.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use trt_calib_data::BatchSource;
use trt_calib_stats::{noise::sqnr_db, Collector, Histogram};
use trt_calib_table::CalibrationTable;

use crate::build::{BuildOutput, Builder};
use crate::config::{BuildConfig, Precision};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::eval::{compare_outputs, run_outputs, EngineOutputs};
use crate::network::{LayerInfo, Network};
pub use crate::report::budget::{BudgetSearch, LayerSensitivity, Trial};

/// TensorRT layer kinds an activation fuses into (`ACTIVATION` after them runs in their kernel).
const FUSES_ACTIVATION: &[&str] = &[
    "CONVOLUTION",
    "DECONVOLUTION",
    "FULLY_CONNECTED",
    "MATRIX_MULTIPLY",
    "ELEMENTWISE",
    "SCALE",
];

/// Layers kept out of INT8 together, and the tensors whose quantization they incur.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// Network layer names, in network order.
    pub layers: Vec<String>,
    /// Activations read from outside the unit and written by it (constants left out).
    pub tensors: Vec<String>,
}

/// The `forced` layers (indices into `layers`) grouped into [`Unit`]s: an `ACTIVATION` layer
/// whose only input is written by a forced layer of a kind in [`FUSES_ACTIVATION`] (or by an
/// activation already in such a unit), and read by nothing else, joins that layer's unit.
pub fn units(layers: &[LayerInfo], forced: &[usize], constants: &HashSet<String>) -> Vec<Unit> {
    let forced_set: HashSet<usize> = forced.iter().copied().collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for l in layers {
        for (t, _) in &l.outputs {
            producer.insert(t.as_str(), l.index);
        }
        for t in l.inputs.iter().flatten() {
            *readers.entry(t.as_str()).or_default() += 1;
        }
    }
    let by_index: HashMap<usize, &LayerInfo> = layers.iter().map(|l| (l.index, l)).collect();
    let mut unit_of: HashMap<usize, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for &i in forced {
        let l = by_index[&i];
        let joins = (l.kind == "ACTIVATION")
            .then(|| l.inputs.iter().flatten().next())
            .flatten()
            .filter(|t| readers.get(t.as_str()) == Some(&1))
            .and_then(|t| producer.get(t.as_str()))
            .filter(|p| forced_set.contains(p))
            .and_then(|p| unit_of.get(p).copied())
            .filter(|&u| {
                members[u]
                    .iter()
                    .any(|m| FUSES_ACTIVATION.contains(&by_index[m].kind.as_str()))
            });
        match joins {
            Some(u) => {
                members[u].push(i);
                unit_of.insert(i, u);
            }
            None => {
                unit_of.insert(i, members.len());
                members.push(vec![i]);
            }
        }
    }
    members
        .into_iter()
        .map(|m| {
            let written: HashSet<&str> = m
                .iter()
                .flat_map(|i| by_index[i].outputs.iter().map(|(t, _)| t.as_str()))
                .collect();
            let read_inside: HashSet<&str> = m
                .iter()
                .flat_map(|i| by_index[i].inputs.iter().flatten().map(String::as_str))
                .collect();
            let mut tensors: Vec<String> = Vec::new();
            for i in &m {
                let l = by_index[i];
                for t in l.inputs.iter().flatten() {
                    if !written.contains(t.as_str())
                        && !constants.contains(t)
                        && !tensors.contains(t)
                    {
                        tensors.push(t.clone());
                    }
                }
            }
            // What the unit writes for others: outputs not consumed inside it.
            for i in &m {
                for (t, _) in &by_index[i].outputs {
                    if !read_inside.contains(t.as_str()) && !tensors.contains(t) {
                        tensors.push(t.clone());
                    }
                }
            }
            Unit {
                layers: m.iter().map(|i| by_index[i].name.clone()).collect(),
                tensors,
            }
        })
        .collect()
}

/// Ranks `units` by the lowest SQNR of their tensors, or of their layers' INT8 weights
/// (`weight_db`, by layer name: e.g. `trt_qdq::weight_sqnr_db` of the ONNX model, whose node
/// names TensorRT's layers keep), worst first; units with nothing measurable come last, in
/// their given order.
pub fn rank_units(
    units: &[Unit],
    histogram: impl Fn(&str) -> Option<Histogram>,
    amax: impl Fn(&str) -> Option<f32>,
    weight_db: impl Fn(&str) -> Option<f64>,
) -> Vec<LayerSensitivity> {
    let mut ranked: Vec<LayerSensitivity> = units
        .iter()
        .enumerate()
        .map(|(position, u)| {
            let activations = u.tensors.iter().filter_map(|t| {
                let db = sqnr_db(&histogram(t)?, amax(t)?)?;
                Some((t.clone(), db))
            });
            let weights = u
                .layers
                .iter()
                .filter_map(|l| Some((format!("weights of {l}"), weight_db(l)?)));
            let worst = activations
                .chain(weights)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            LayerSensitivity {
                layers: u.layers.clone(),
                tensor: worst.as_ref().map(|w| w.0.clone()).unwrap_or_default(),
                sqnr_db: worst.map(|w| w.1),
                position,
                measured: None,
                group_gain: None,
                together: None,
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

/// The layers strict mode would force to INT8 in `network` with `config`'s exclusions,
/// grouped into [`units`] and ranked by [`rank_units`] on `collector`'s histograms (taken on
/// the evaluation data), `table`'s thresholds and the weights' SQNR by layer name.
pub fn rank_network(
    network: &Network,
    config: &BuildConfig,
    collector: &Collector,
    table: &CalibrationTable,
    weight_db: &BTreeMap<String, f64>,
) -> Result<Vec<LayerSensitivity>> {
    let plan = super::plan(network, config.keep_out_of_int8())?;
    let layers = network.layers()?;
    let inputs: HashSet<String> = network.inputs()?.into_iter().map(|t| t.name).collect();
    let constants = super::rules::constant_tensors(&layers, &inputs);
    Ok(rank_units(
        &units(&layers, &plan.forced, &constants),
        |t| collector.get(t).map(|s| s.histogram.clone()),
        |t| table.get(t).map(|e| e.dynamic_range()),
        |l| weight_db.get(l).copied(),
    ))
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
    /// The most engines the search builds (default 12), probes not counted.
    pub max_trials: usize,
    /// Before the search, measure every unit alone: one build per unit with only that unit
    /// kept out, and rank by the score gained, the proxy's order breaking ties (default off:
    /// the proxy ranking alone). It costs a build per unit, and finds what the proxy cannot
    /// see, such as a layer whose weights amplify its input's quantization noise.
    pub measure_each: bool,
    /// Group testing instead of one build per unit: probe groups of this many units that are
    /// neighbours in the network, then each unit of the two groups that gained most (see
    /// [`rank_by_groups`]). About `n / g + 2 g` builds for `n` units; `None`: off. Ignored when
    /// `measure_each` is on.
    pub measure_groups: Option<usize>,
}

impl BudgetOptions {
    /// `budget_points` of agreement, at most 12 trials, the proxy ranking.
    pub fn new(budget_points: f64) -> Self {
        BudgetOptions {
            budget_points,
            labels: None,
            max_trials: 12,
            measure_each: false,
            measure_groups: None,
        }
    }
}

/// `ranking` reordered by `gain` (measured score with the unit alone kept out), highest first;
/// equal gains keep the given (proxy) order. Each unit's gain is recorded in it.
pub fn rank_by_measurement(
    mut ranking: Vec<LayerSensitivity>,
    mut gain: impl FnMut(&LayerSensitivity) -> Result<f64>,
) -> Result<Vec<LayerSensitivity>> {
    for u in ranking.iter_mut() {
        u.measured = Some(gain(u)?);
    }
    ranking.sort_by(|a, b| {
        let (x, y) = (
            a.measured.unwrap_or(f64::MIN),
            b.measured.unwrap_or(f64::MIN),
        );
        y.total_cmp(&x)
    });
    Ok(ranking)
}

/// The group size that needs the fewest builds for `n` units: `n / g + 2 g` is smallest at
/// `g = sqrt(n / 2)`.
pub fn default_group_size(n: usize) -> usize {
    ((n as f64 / 2.0).sqrt().round() as usize).max(1)
}

/// Group testing: `ranking`'s units in network order are cut into groups of `group`
/// neighbours, and `gain` measures each group kept out of INT8 together. Then each unit of
/// the (at most) two groups that gained most, if they gained anything, is measured alone.
/// The result ranks the units measured alone by their gain, then every other unit by its
/// group's gain, the proxy's order breaking ties. `gain` gets the units to keep out together.
///
/// A measured group whose best unit alone gains less than half of what the whole group
/// gained is one entry of the ranking ([`LayerSensitivity::together`]), ranked by the
/// group's gain: its loss needs several of its units kept out at once (a layer and the
/// producer of its input, both in INT8, round the same tensor), and a prefix of single units
/// would never reach it.
///
/// Neighbours share their error's path through the network, so a loss that sits in one layer
/// (EfficientNet-Lite0's first depthwise convolution, by simulation) shows in its group, for
/// about `n / g + 2 g` builds instead of `n`.
pub fn rank_by_groups(
    ranking: Vec<LayerSensitivity>,
    group: usize,
    mut gain: impl FnMut(&[&LayerSensitivity]) -> Result<f64>,
) -> Result<Vec<LayerSensitivity>> {
    let group = group.max(1);
    // Proxy rank of each unit, for ties.
    let proxy_rank: HashMap<usize, usize> = ranking
        .iter()
        .enumerate()
        .map(|(r, u)| (u.position, r))
        .collect();
    let mut by_position: Vec<LayerSensitivity> = ranking;
    by_position.sort_by_key(|u| u.position);
    let mut gains: Vec<(usize, f64)> = Vec::new();
    for (g, chunk) in by_position.chunks(group).enumerate() {
        let members: Vec<&LayerSensitivity> = chunk.iter().collect();
        gains.push((g, gain(&members)?));
    }
    for (g, chunk) in by_position.chunks_mut(group).enumerate() {
        for u in chunk {
            u.group_gain = Some(gains[g].1);
        }
    }
    let mut best = gains.clone();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let refine: Vec<usize> = best
        .iter()
        .take(2)
        .filter(|(_, g)| *g > 0.0)
        .map(|(g, _)| *g)
        .collect();
    let mut joined = Vec::new();
    for &g in &refine {
        let end = ((g + 1) * group).min(by_position.len());
        for u in &mut by_position[g * group..end] {
            let single = gain(&[&*u])?;
            u.measured = Some(single);
        }
        let members = &by_position[g * group..end];
        let best_alone = members
            .iter()
            .filter_map(|u| u.measured)
            .fold(f64::MIN, f64::max);
        if members.len() > 1 && best_alone < gains[g].1 / 2.0 {
            joined.push((g * group, end, join(members, gains[g].1)));
        }
    }
    // Each joined group replaces its members (ranges are disjoint; last first keeps the
    // earlier ranges' indices valid).
    joined.sort_by_key(|j| std::cmp::Reverse(j.0));
    for (start, end, entry) in joined {
        by_position.splice(start..end, [entry]);
    }
    let mut out = by_position;
    out.sort_by(|a, b| {
        let key = |u: &LayerSensitivity| (u.measured.is_none(), u.measured.or(u.group_gain));
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then_with(|| {
                let (x, y) = (ka.1.unwrap_or(f64::MIN), kb.1.unwrap_or(f64::MIN));
                y.total_cmp(&x)
            })
            .then_with(|| proxy_rank[&a.position].cmp(&proxy_rank[&b.position]))
    });
    Ok(out)
}

/// `members` of one group as one entry of the ranking, measured at `gain` together: their
/// layers in network order, the worst of their tensors, the first one's position.
fn join(members: &[LayerSensitivity], gain: f64) -> LayerSensitivity {
    let worst = members
        .iter()
        .filter_map(|u| Some((u, u.sqnr_db?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    LayerSensitivity {
        layers: members.iter().flat_map(|u| u.layers.clone()).collect(),
        tensor: worst.map(|(u, _)| u.tensor.clone()).unwrap_or_default(),
        sqnr_db: worst.map(|(_, db)| db),
        position: members[0].position,
        measured: Some(gain),
        group_gain: Some(gain),
        together: Some(members.len()),
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
    // One session for every trial: one live timing cache.
    let mut session = builder.session(config)?;
    let mut trials = Vec::new();
    let mut probes = Vec::new();
    // What the first strict build released (TensorRT has no INT8 for them whatever is kept
    // out), given to every later trial: one pass each instead of one per release found.
    let mut first_releases: Option<Vec<(String, String)>> = None;
    // One strict engine with `out` kept out of INT8, evaluated: (score, INT8 layers, build,
    // its config, eval seconds).
    let mut trial = |out: &[String]| -> Result<(f64, usize, BuildOutput, BuildConfig, f64)> {
        let mut c = config.clone();
        for name in out {
            c = c.keep_layer_out_of_int8(name.clone());
        }
        if let Some(r) = &first_releases {
            c = c.with_strict_releases(r.clone());
        }
        let built = builder.build_in(&mut session, network, &c, None)?;
        if first_releases.is_none() {
            first_releases = built.strict.as_ref().map(|s| s.released.clone());
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
        Ok((score, int8_layers, built, c, t.elapsed().as_secs_f64()))
    };
    let measuring = options.measure_each || options.measure_groups.is_some();
    // The engine with nothing kept out: the probes' baseline, and the search's k = 0.
    let mut nothing_out = if measuring { Some(trial(&[])?) } else { None };
    let baseline = nothing_out.as_ref().map(|t| t.0);
    // One probe: `units` kept out together, recorded; its gain over the baseline.
    let mut probe = |units: &[&LayerSensitivity]| -> Result<f64> {
        let layers: Vec<String> = units.iter().flat_map(|u| u.layers.clone()).collect();
        let label = units
            .iter()
            .map(|u| u.layers.join(" + "))
            .collect::<Vec<_>>()
            .join(" | ");
        let (score, int8_layers, built, _, eval_s) = trial(&layers)?;
        let base = baseline.expect("measuring");
        log::info!(
            target: "trt::build",
            "accuracy budget: {label} kept out of INT8: {measure} {:.2}% ({:+.2} points)",
            100.0 * score,
            100.0 * (score - base)
        );
        probes.push(Trial {
            kept_out: units.len(),
            alone: Some(label),
            score,
            met: score >= target,
            int8_layers,
            build_s: built.build_time.as_secs_f64(),
            eval_s,
        });
        Ok(score - base)
    };
    let ranking = match (options.measure_each, options.measure_groups) {
        (true, _) => rank_by_measurement(ranking, |u| probe(&[u]))?,
        (false, Some(g)) => rank_by_groups(ranking, g, probe)?,
        (false, None) => ranking,
    };
    let mut builds: BTreeMap<usize, (BuildOutput, BuildConfig)> = BTreeMap::new();
    let (k, met) = smallest_meeting(ranking.len(), target, options.max_trials, |k| {
        let out: Vec<String> = ranking[..k].iter().flat_map(|u| u.layers.clone()).collect();
        let (score, int8_layers, built, c, eval_s) = match nothing_out.take() {
            Some(done) if k == 0 => done,
            _ => trial(&out)?,
        };
        log::info!(
            target: "trt::build",
            "accuracy budget: {k} layer(s) kept out of INT8: {measure} {:.2}% (target {:.2}%), \
             INT8 layers {int8_layers}",
            100.0 * score,
            100.0 * target
        );
        trials.push(Trial {
            kept_out: k,
            alone: None,
            score,
            met: score >= target,
            int8_layers,
            build_s: built.build_time.as_secs_f64(),
            eval_s,
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
        chosen: ranking[..k].iter().flat_map(|u| u.layers.clone()).collect(),
        ranking,
        probes,
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

    fn layer(index: usize, kind: &str, name: &str, inputs: &[&str], output: &str) -> LayerInfo {
        LayerInfo {
            index,
            name: name.into(),
            kind: kind.into(),
            precision: crate::network::DataType::Float,
            precision_is_set: false,
            inputs: inputs.iter().map(|t| Some(t.to_string())).collect(),
            outputs: vec![(output.to_string(), crate::network::DataType::Float)],
        }
    }

    /// conv1 -> relu1 -> conv2 -> clip2 -> fc, weights w1, w2 constant. conv2's raw output c2
    /// has a terrible SQNR under its threshold, but it never exists in the engine (clip2 fuses
    /// into conv2). relu1's output r1 has an outlier the table's threshold clips: the units
    /// writing and reading it cost most.
    #[test]
    fn activations_join_their_producer_and_the_clipped_tensor_ranks_its_units_first() {
        let layers = vec![
            layer(0, "CONVOLUTION", "conv1", &["x", "w1"], "c1"),
            layer(1, "ACTIVATION", "relu1", &["c1"], "r1"),
            layer(2, "CONVOLUTION", "conv2", &["r1", "w2"], "c2"),
            layer(3, "ACTIVATION", "clip2", &["c2"], "a"),
            layer(4, "FULLY_CONNECTED", "fc", &["a"], "y"),
        ];
        let constants: HashSet<String> = ["w1", "w2"].map(String::from).into();
        let u = units(&layers, &[0, 1, 2, 3, 4], &constants);
        let names: Vec<Vec<&str>> = u
            .iter()
            .map(|u| u.layers.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            names,
            [vec!["conv1", "relu1"], vec!["conv2", "clip2"], vec!["fc"]]
        );
        assert_eq!(u[0].tensors, ["x", "r1"]);
        assert_eq!(u[1].tensors, ["r1", "a"], "c2 is inside the unit");
        assert_eq!(u[2].tensors, ["a", "y"]);
        // An activation whose input has two readers does not join (the tensor exists).
        let mut shared = layers.clone();
        shared.push(layer(5, "ELEMENTWISE", "add", &["c1", "y"], "z"));
        let u2 = units(&shared, &[0, 1, 2, 3, 4, 5], &constants);
        assert_eq!(u2[0].layers, ["conv1"]);
        assert_eq!(u2[1].layers, ["relu1"]);

        let even = || Histogram::from_counts(&[10u64; 2048], 4.0).unwrap();
        let h = |t: &str| match t {
            "x" | "a" | "y" => Some(even()),
            // Mass at 1.0 and an outlier bump at 3.9 that a threshold of 1.2 clips.
            "r1" => Some(hist(&[(512, 10_000), (1996, 2_000)], 4.0)),
            // Worse still, but fused away: must not count.
            "c2" => Some(hist(&[(10, 10), (2040, 10_000)], 4.0)),
            _ => None,
        };
        let amax = |t: &str| match t {
            "r1" => Some(1.2),
            "c2" => Some(0.01),
            _ => Some(4.0),
        };
        // conv2's weights are noisy, but less so than r1.
        let weights = |l: &str| (l == "conv2").then_some(20.0);
        let ranked = rank_units(&u, h, amax, weights);
        let order: Vec<&str> = ranked.iter().map(|r| r.layers[0].as_str()).collect();
        assert_eq!(order, ["conv1", "conv2", "fc"]);
        assert_eq!(
            (ranked[0].tensor.as_str(), ranked[1].tensor.as_str()),
            ("r1", "r1")
        );
        assert!(ranked[0].sqnr_db.unwrap() < 10.0, "{:?}", ranked[0].sqnr_db);
        assert!(ranked[2].sqnr_db.unwrap() > 40.0, "{:?}", ranked[2].sqnr_db);
        // Weights count too: fc's, at 2 dB (below r1's 4.4 dB), put it first.
        let noisy_fc = |l: &str| (l == "fc").then_some(2.0);
        let by_weights = rank_units(&u, h, amax, noisy_fc);
        assert_eq!(by_weights[0].layers, ["fc"]);
        assert_eq!(by_weights[0].tensor, "weights of fc");

        // The engine's accuracy with the k worst units kept out: only conv1 + relu1 matters.
        let mut tried = Vec::new();
        let (k, met) = smallest_meeting(ranked.len(), 0.99, 12, |k| {
            tried.push(k);
            let out = ranked[..k]
                .iter()
                .any(|r| r.layers.contains(&"relu1".to_string()));
            Ok(if out { 0.995 } else { 0.90 })
        })
        .unwrap();
        assert_eq!((k, met), (1, true));
        assert_eq!(tried, [0, 1]);
    }

    #[test]
    fn measured_gains_reorder_the_ranking_and_ties_keep_the_proxy_order() {
        let unit = |name: &str| LayerSensitivity {
            layers: vec![name.to_string()],
            tensor: String::new(),
            sqnr_db: Some(10.0),
            position: 0,
            measured: None,
            group_gain: None,
            together: None,
        };
        // The proxy's order a, b, c, d; measured alone, c gains most (the case the proxy
        // misses: EfficientNet-Lite0's first depthwise convolution), a and d tie.
        let proxy = vec![unit("a"), unit("b"), unit("c"), unit("d")];
        let gains = [("a", 0.01), ("b", -0.02), ("c", 0.11), ("d", 0.01)];
        let mut asked = Vec::new();
        let ranked = rank_by_measurement(proxy, |u| {
            asked.push(u.layers[0].clone());
            Ok(gains.iter().find(|g| g.0 == u.layers[0]).unwrap().1)
        })
        .unwrap();
        let order: Vec<&str> = ranked.iter().map(|r| r.layers[0].as_str()).collect();
        assert_eq!(order, ["c", "a", "d", "b"]);
        assert_eq!(ranked[0].measured, Some(0.11));
        assert_eq!(
            asked,
            ["a", "b", "c", "d"],
            "every unit measured once, in proxy order"
        );
    }

    /// Units u0..u(n-1) in network order, ranked by the proxy in reverse (unit i: tensor ti at
    /// i dB).
    fn reversed_units(n: usize) -> Vec<LayerSensitivity> {
        (0..n)
            .rev()
            .map(|i| LayerSensitivity {
                layers: vec![format!("u{i}")],
                tensor: format!("t{i}"),
                sqnr_db: Some(i as f64),
                position: i,
                measured: None,
                group_gain: None,
                together: None,
            })
            .collect()
    }

    #[test]
    fn group_testing_finds_the_one_costly_unit_in_fewer_builds() {
        // Ten units in network order; the proxy ranks them in reverse. Keeping out unit 4
        // gains 10 points, unit 8 two; gains add up within a group.
        let proxy = reversed_units(10);
        let single = |name: &str| match name {
            "u4" => 0.10,
            "u8" => 0.02,
            _ => 0.0,
        };
        let mut asked: Vec<Vec<String>> = Vec::new();
        let ranked = rank_by_groups(proxy, 3, |units| {
            asked.push(units.iter().map(|u| u.layers[0].clone()).collect());
            Ok(units.iter().map(|u| single(&u.layers[0])).sum())
        })
        .unwrap();
        // Groups {0,1,2} {3,4,5} {6,7,8} {9}, then the singles of the two that gained.
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            asked,
            [
                names(&["u0", "u1", "u2"]),
                names(&["u3", "u4", "u5"]),
                names(&["u6", "u7", "u8"]),
                names(&["u9"]),
                names(&["u3"]),
                names(&["u4"]),
                names(&["u5"]),
                names(&["u6"]),
                names(&["u7"]),
                names(&["u8"]),
            ]
        );
        let order: Vec<&str> = ranked.iter().map(|r| r.layers[0].as_str()).collect();
        // Measured alone first (by gain; the proxy's reverse order among the zeros), then the
        // unmeasured groups by their gain (both 0: proxy order).
        assert_eq!(
            order,
            ["u4", "u8", "u7", "u6", "u5", "u3", "u9", "u2", "u1", "u0"]
        );
        assert_eq!(ranked[0].measured, Some(0.10));
        assert!((ranked[0].group_gain.unwrap() - 0.10).abs() < 1e-12);
        assert_eq!(ranked[6].measured, None);
        assert_eq!(default_group_size(62), 6);
        assert_eq!(default_group_size(1), 1);
    }

    #[test]
    fn a_group_that_gains_only_as_a_whole_is_kept_out_together() {
        // Ten units; u0 and u1 gain 6 points only together (a layer and the producer of its
        // input), nothing alone; u8 gains 2 points alone.
        let proxy = reversed_units(10);
        let gain_of = |names: &[String]| {
            let has = |n: &str| names.iter().any(|x| x == n);
            let mut g = if has("u8") { 0.02 } else { 0.0 };
            if has("u0") && has("u1") {
                g += 0.06;
            }
            g
        };
        let ranked = rank_by_groups(proxy, 3, |units| {
            let names: Vec<String> = units.iter().flat_map(|u| u.layers.clone()).collect();
            Ok(gain_of(&names))
        })
        .unwrap();
        // Group {u0,u1,u2} gained 6 points, its best unit alone 0: one entry, first. Group
        // {u6,u7,u8} gained 2 points and u8 alone explains them: its units stay apart.
        let order: Vec<String> = ranked.iter().map(|r| r.layers.join("+")).collect();
        assert_eq!(
            order,
            ["u0+u1+u2", "u8", "u7", "u6", "u9", "u5", "u4", "u3"]
        );
        let first = &ranked[0];
        assert_eq!(first.together, Some(3));
        assert_eq!(first.measured, Some(0.06));
        // Its worst tensor is its members' lowest SQNR (u0's), its position the first.
        assert_eq!((first.tensor.as_str(), first.sqnr_db), ("t0", Some(0.0)));
        assert_eq!(first.position, 0);
        assert_eq!(first.label(), "u0 .. u2 (3 units together)");
        assert_eq!(ranked[1].together, None);
        assert_eq!(ranked[1].label(), "u8");
        // The search over this ranking: one entry kept out gains the 6 points, which single
        // units in gain order (u8, u7, u6, u2, u1, u0, ...) reached only at k = 6.
        let score = |k: usize| {
            let out: Vec<String> = ranked[..k].iter().flat_map(|u| u.layers.clone()).collect();
            Ok(0.80 + gain_of(&out))
        };
        assert_eq!(
            smallest_meeting(ranked.len(), 0.86, 12, score).unwrap(),
            (1, true)
        );
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
