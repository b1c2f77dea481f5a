//! Evaluation as a step of its own: how closely an engine (INT8) follows a reference engine
//! (FP32) on data the user names, and, given labels, how accurate both are. What `trt eval`
//! prints and the accuracy-budget search ([`crate::strict::budget`]) measures with.
//!
//! | what | type / function |
//! |---|---|
//! | every output of every real sample of a data set, from one engine | [`run_outputs`], [`EngineOutputs`] |
//! | candidate against reference: top-1/top-5 (classification), max abs, cosine, SQNR | [`compare_outputs`], [`OutputMetrics`] |
//! | accuracy against labels | [`LabelAccuracy`], [`parse_labels`] |
//! | all of it, with GPU time and precisions | [`evaluate`], [`Evaluation`] |
//!
//! A classification output is one of `[N, C]` (or `[N, C, 1, 1]`) with `C >= 2`: it gets top-1
//! and top-5 agreement. Every output gets max abs, cosine and SQNR. Padding samples of a padded
//! last batch are left out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use trt_calib_data::{BatchSource, Expected};
use trt_calib_stats::eval::Agreement;

use crate::compare::{floats, latency, Latency};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The outputs of one engine over a data set: real samples only, in data order.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineOutputs {
    /// One entry per engine output, in the engine's order.
    pub outputs: Vec<SampleOutputs>,
    /// Real samples (padding left out).
    pub samples: usize,
    /// Batches run.
    pub batches: usize,
    /// Wall time of the whole pass (data, copies, runs).
    pub run_time: Duration,
}

/// One output of every sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOutputs {
    /// The output tensor's name.
    pub name: String,
    /// The shape of one sample's output (the batch dimension left out).
    pub sample_shape: Vec<usize>,
    /// Every sample's values, row-major, sample after sample.
    pub values: Vec<f32>,
}

impl SampleOutputs {
    /// Classes per sample, for a classification output (`[C]`, or `[C, 1, 1]`, with `C >= 2`).
    pub fn classes(&self) -> Option<usize> {
        let big: Vec<usize> = self
            .sample_shape
            .iter()
            .copied()
            .filter(|&d| d != 1)
            .collect();
        match (self.sample_shape.first(), big.as_slice()) {
            (Some(&c), [d]) if c == *d && c >= 2 => Some(c),
            _ => None,
        }
    }
}

/// Runs every batch of `data` through `engine` (a fresh context on a new stream) and keeps
/// every output of every real sample.
///
/// Before the first run, checks the data against the engine's inputs: names, dtypes, and the
/// shapes of static inputs (every file is decoded by this check). An output whose first
/// dimension is not the batch is refused when a batch is padded (its padding cannot be told
/// apart).
pub fn run_outputs<S: BatchSource + ?Sized>(
    engine: &Engine,
    data: &mut S,
) -> Result<EngineOutputs> {
    let started = Instant::now();
    check_data(engine, data)?;
    let mut ctx = engine.create_context(engine.cuda_context().new_stream()?)?;
    let mut outputs: Vec<SampleOutputs> = Vec::new();
    let (mut samples, mut batches) = (0, 0);
    while let Some(batch) = data.next_batch() {
        let batch = batch?;
        let feeds: Vec<(&str, trt_calib_data::TypedView<'_>)> = batch.iter().collect();
        let outs = ctx.run(&feeds)?;
        let (n, real) = (data.batch_size(), batch.real_samples());
        for (k, (name, tensor)) in outs.into_iter().enumerate() {
            let shape = tensor.shape().to_vec();
            let values = floats(&name, &tensor)?;
            let (sample_shape, keep) = if shape.first() == Some(&n) && n > 0 {
                let per = values.len() / n;
                (shape[1..].to_vec(), per * real)
            } else if real == n {
                (shape.clone(), values.len())
            } else {
                return Err(Error::Shape {
                    name,
                    message: format!(
                        "output shape {shape:?} does not start with the batch size {n}, so the \
                         {} padding sample(s) of a padded batch cannot be left out; evaluate on \
                         a sample count that is a multiple of the batch size",
                        n - real
                    ),
                });
            };
            if batches == 0 {
                outputs.push(SampleOutputs {
                    name,
                    sample_shape,
                    values: Vec::new(),
                });
            } else if outputs[k].sample_shape != sample_shape {
                return Err(Error::Shape {
                    name,
                    message: format!(
                        "batch {batches} gives per-sample shape {sample_shape:?}, earlier \
                         batches {:?}",
                        outputs[k].sample_shape
                    ),
                });
            }
            outputs[k].values.extend_from_slice(&values[..keep]);
        }
        samples += real;
        batches += 1;
    }
    if batches == 0 {
        return Err(Error::Invalid(
            "the evaluation data gave no batch (give at least as many samples as the batch size)"
                .into(),
        ));
    }
    Ok(EngineOutputs {
        outputs,
        samples,
        batches,
        run_time: started.elapsed(),
    })
}

/// Names, dtypes and static shapes of the data against the engine's inputs, before any run.
fn check_data<S: BatchSource + ?Sized>(engine: &Engine, data: &mut S) -> Result<()> {
    let have = data.input_shapes().to_vec();
    let mut expected = Vec::new();
    for input in engine.inputs() {
        let Some((_, data_shape)) = have.iter().find(|(n, _)| *n == input.name) else {
            return Err(Error::Invalid(format!(
                "the engine input `{}` has no data; the data provides: {}",
                input.name,
                have.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let shape = if input.shape.iter().all(|&d| d >= 0) {
            input.shape.iter().map(|&d| d as usize).collect()
        } else {
            data_shape.clone()
        };
        expected.push(Expected::new(
            &input.name,
            shape,
            crate::calibrator::data_dtype(&input.name, input.dtype)?,
        ));
    }
    for (name, _) in &have {
        if engine.inputs().all(|t| &t.name != name) {
            return Err(Error::UnknownTensor {
                name: name.clone(),
                what: "engine's inputs",
                known: engine.inputs().map(|t| t.name.clone()).collect(),
            });
        }
    }
    match data.check(&expected) {
        // The data checker speaks of calibration data; here it is evaluation data.
        Err(trt_calib_data::Error::Check(f)) => {
            return Err(Error::Invalid(as_evaluation_data(&f.to_string())));
        }
        r => {
            r?;
        }
    }
    data.reset()?;
    Ok(())
}

/// The data checker's "calibration data check failed: ..." as evaluation data's.
fn as_evaluation_data(text: &str) -> String {
    text.strip_prefix("calibration data")
        .map_or_else(|| text.to_owned(), |rest| format!("evaluation data{rest}"))
}

/// How closely one output of the candidate follows the reference's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputMetrics {
    /// The output's name.
    pub name: String,
    /// One sample's output shape.
    pub sample_shape: Vec<usize>,
    /// Samples compared.
    pub samples: usize,
    /// Classification outputs: samples whose arg-max is the same in both.
    pub top1_agree: Option<usize>,
    /// `top1_agree / samples`.
    pub top1: Option<f64>,
    /// Classification outputs: the fraction of samples whose reference arg-max is among the
    /// candidate's 5 largest.
    pub top5: Option<f64>,
    /// Classification outputs: samples on which the reference is confident (its top class has
    /// probability >= [`CONFIDENT`]: the output's softmax, or the output itself when its rows
    /// already are probabilities).
    pub confident_samples: Option<usize>,
    /// Top-1 agreement on those samples (`None` when there are none): disagreement on samples
    /// the reference itself barely separates is noise, not a broken model.
    pub confident_top1: Option<f64>,
    /// The largest `|reference - candidate|`.
    pub max_abs: f64,
    /// Cosine similarity of the whole output as one vector.
    pub cosine: f64,
    /// Signal-to-noise ratio in dB (`None`: identical outputs).
    pub sqnr_db: Option<f64>,
}

/// The reference's top-class probability from which a sample counts as confident.
pub const CONFIDENT: f64 = 0.5;

/// The top-class probability of each row: softmax of logits, or the row itself when it is
/// already a distribution (non-negative, summing to 1 within 1e-3).
fn top_probability(values: &[f32], classes: usize) -> Vec<f64> {
    values
        .chunks_exact(classes)
        .map(|row| {
            let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            if row.iter().all(|&v| v >= 0.0) && (sum - 1.0).abs() < 1e-3 {
                max
            } else {
                let z: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
                1.0 / z
            }
        })
        .collect()
}

/// Samples where the reference is confident, and the top-1 agreement on them.
fn confident_agreement(r: &[f32], c: &[f32], classes: usize) -> (usize, Option<f64>) {
    let p = top_probability(r, classes);
    let (mut n, mut same) = (0usize, 0usize);
    for ((row_r, row_c), p) in r.chunks_exact(classes).zip(c.chunks_exact(classes)).zip(p) {
        if p >= CONFIDENT {
            n += 1;
            same += usize::from(crate::compare::argmax(row_r) == crate::compare::argmax(row_c));
        }
    }
    (n, (n > 0).then(|| same as f64 / n as f64))
}

/// Accuracy of both engines against labels (the first classification output's arg-max).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelAccuracy {
    /// The output the labels are compared with.
    pub output: String,
    /// Labelled samples.
    pub samples: usize,
    /// The reference's top-1 accuracy.
    pub reference_top1: f64,
    /// The candidate's top-1 accuracy.
    pub candidate_top1: f64,
}

/// Compares the candidate's outputs with the reference's, output by output (matched by name),
/// and both with `labels` (one class per sample, in data order) when given.
pub fn compare_outputs(
    reference: &EngineOutputs,
    candidate: &EngineOutputs,
    labels: Option<&[usize]>,
) -> Result<(Vec<OutputMetrics>, Option<LabelAccuracy>)> {
    if reference.samples != candidate.samples {
        return Err(Error::Invalid(format!(
            "the reference ran {} samples and the candidate {}: not the same data",
            reference.samples, candidate.samples
        )));
    }
    let mut metrics = Vec::new();
    for r in &reference.outputs {
        let c = candidate
            .outputs
            .iter()
            .find(|c| c.name == r.name)
            .ok_or_else(|| Error::UnknownTensor {
                name: r.name.clone(),
                what: "candidate engine's outputs",
                known: candidate.outputs.iter().map(|c| c.name.clone()).collect(),
            })?;
        if c.sample_shape != r.sample_shape {
            return Err(Error::Shape {
                name: r.name.clone(),
                message: format!(
                    "the reference gives {:?} per sample, the candidate {:?}: not the same model",
                    r.sample_shape, c.sample_shape
                ),
            });
        }
        let classes = r.classes();
        let per = classes.unwrap_or_else(|| r.sample_shape.iter().product::<usize>().max(1));
        let a = Agreement::compute(&r.name, &r.values, &c.values, per)?;
        let confident = classes.map(|k| confident_agreement(&r.values, &c.values, k));
        metrics.push(OutputMetrics {
            name: r.name.clone(),
            sample_shape: r.sample_shape.clone(),
            samples: reference.samples,
            top1_agree: classes.map(|_| a.top1_agree),
            top1: classes.map(|_| a.top1),
            top5: classes.map(|_| a.top5),
            confident_samples: confident.map(|c| c.0),
            confident_top1: confident.and_then(|c| c.1),
            max_abs: f64::from(a.max_abs_diff),
            cosine: a.cosine,
            sqnr_db: a.sqnr_db,
        });
    }
    let accuracy = match labels {
        None => None,
        Some(labels) => {
            let (r, classes) = reference
                .outputs
                .iter()
                .find_map(|o| o.classes().map(|c| (o, c)))
                .ok_or_else(|| {
                    Error::Invalid(
                        "labels given, but no output is a classification output ([N, C])".into(),
                    )
                })?;
            let c = &candidate
                .outputs
                .iter()
                .find(|c| c.name == r.name)
                .expect("matched above");
            if labels.len() != reference.samples {
                return Err(Error::Invalid(format!(
                    "{} labels for {} samples: give one label per sample, in data order",
                    labels.len(),
                    reference.samples
                )));
            }
            if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
                return Err(Error::Invalid(format!(
                    "label {l} of sample {i} is not a class of output `{}` ({classes} classes)",
                    r.name
                )));
            }
            let hits = |o: &SampleOutputs| {
                o.values
                    .chunks_exact(classes)
                    .zip(labels)
                    .filter(|(row, &l)| crate::compare::argmax(row) == l)
                    .count() as f64
                    / labels.len() as f64
            };
            Some(LabelAccuracy {
                output: r.name.clone(),
                samples: labels.len(),
                reference_top1: hits(r),
                candidate_top1: hits(c),
            })
        }
    };
    Ok((metrics, accuracy))
}

/// Labels from text: one class index per line, in data order; blank lines and `#` comments
/// are skipped.
pub fn parse_labels(text: &str) -> Result<Vec<usize>> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            l.parse::<usize>().map_err(|_| {
                Error::Invalid(format!(
                    "labels line {}: `{l}` is not a class index (one integer per line)",
                    i + 1
                ))
            })
        })
        .collect()
}

/// What [`evaluate`] measures besides the outputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvalOptions {
    /// One class per sample, in data order.
    pub labels: Option<Vec<usize>>,
    /// Timed runs per engine on a seeded input (0: no timing).
    pub timing_iterations: usize,
}

/// A candidate engine evaluated against a reference engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Real samples evaluated.
    pub samples: usize,
    /// Batches per engine.
    pub batches: usize,
    /// One entry per reference output.
    pub outputs: Vec<OutputMetrics>,
    /// Accuracy against labels, when given.
    pub labels: Option<LabelAccuracy>,
    /// Median GPU time per batch: `a_ms` the reference, `b_ms` the candidate, `ratio`
    /// candidate / reference.
    pub latency: Option<Latency>,
    /// The reference's compute layers per precision.
    pub reference_precisions: BTreeMap<String, usize>,
    /// The candidate's.
    pub candidate_precisions: BTreeMap<String, usize>,
    /// Wall time of both passes over the data.
    pub run_time: Duration,
}

impl Evaluation {
    /// The top-1 agreement of the first classification output.
    pub fn top1(&self) -> Option<f64> {
        self.outputs.iter().find_map(|o| o.top1)
    }
}

/// Runs `data` through the reference, then again through the candidate, and compares them.
pub fn evaluate<S: BatchSource + ?Sized>(
    candidate: &Engine,
    reference: &Engine,
    data: &mut S,
    options: &EvalOptions,
) -> Result<Evaluation> {
    for r in reference.inputs() {
        let c = candidate.tensor(&r.name)?;
        if c.dtype != r.dtype || c.shape != r.shape {
            return Err(Error::Shape {
                name: r.name.clone(),
                message: format!(
                    "the reference takes {:?} {:?}, the candidate {:?} {:?}: not the same model",
                    r.dtype, r.shape, c.dtype, c.shape
                ),
            });
        }
    }
    let started = Instant::now();
    let r = run_outputs(reference, data)?;
    data.reset()?;
    let c = run_outputs(candidate, data)?;
    let run_time = started.elapsed();
    let (outputs, labels) = compare_outputs(&r, &c, options.labels.as_deref())?;
    let latency = if options.timing_iterations > 0 {
        let inputs = reference.seeded_inputs(0)?;
        latency(reference, candidate, &inputs, 20, options.timing_iterations)?
    } else {
        None
    };
    Ok(Evaluation {
        samples: r.samples,
        batches: r.batches,
        outputs,
        labels,
        latency,
        reference_precisions: reference.inspect()?.precision_counts(),
        candidate_precisions: candidate.inspect()?.precision_counts(),
        run_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(name: &str, shape: &[usize], values: &[f32]) -> EngineOutputs {
        let per: usize = shape.iter().product();
        EngineOutputs {
            outputs: vec![SampleOutputs {
                name: name.into(),
                sample_shape: shape.to_vec(),
                values: values.to_vec(),
            }],
            samples: values.len() / per,
            batches: 1,
            run_time: Duration::ZERO,
        }
    }

    #[test]
    fn hand_made_logits_give_known_agreement_and_accuracy() {
        // 4 samples of 3 classes. Arg-max: reference 2, 0, 1, 0; candidate 2, 1, 1, 0.
        let r = outputs(
            "logits",
            &[3],
            &[0.1, 0.2, 0.9, 0.8, 0.5, 0.1, 0.0, 1.0, 0.2, 0.6, 0.3, 0.2],
        );
        let c = outputs(
            "logits",
            &[3],
            &[0.1, 0.2, 0.8, 0.5, 0.7, 0.1, 0.0, 1.0, 0.2, 0.6, 0.3, 0.2],
        );
        let labels = [2, 1, 1, 2];
        let (m, acc) = compare_outputs(&r, &c, Some(&labels)).unwrap();
        assert_eq!(m[0].top1_agree, Some(3));
        assert_eq!(m[0].top1, Some(0.75));
        assert_eq!(m[0].top5, Some(1.0)); // 3 classes: every class is in the top 5
        assert!((m[0].max_abs - 0.3).abs() < 1e-6, "{}", m[0].max_abs);
        // noise = 0.1^2 + 0.3^2 + 0.2^2 = 0.14; signal = sum of squares of the reference.
        let signal: f64 = [
            0.1f64, 0.2, 0.9, 0.8, 0.5, 0.1, 0.0, 1.0, 0.2, 0.6, 0.3, 0.2,
        ]
        .iter()
        .map(|v| v * v)
        .sum();
        let expected = 10.0 * (signal / 0.14).log10();
        assert!((m[0].sqnr_db.unwrap() - expected).abs() < 1e-4);
        // Softmax top probabilities of the reference rows (none is a distribution: each sums
        // to more than 1): 0.514, 0.447, 0.550, 0.415. Samples 0 and 2 are confident, and
        // both agree.
        assert_eq!(m[0].confident_samples, Some(2));
        assert_eq!(m[0].confident_top1, Some(1.0));
        let acc = acc.unwrap();
        // Reference right on samples 0 and 2; candidate on 0, 1 and 2.
        assert_eq!((acc.reference_top1, acc.candidate_top1), (0.5, 0.75));
    }

    #[test]
    fn other_outputs_get_no_top1_and_bad_input_is_refused() {
        let boxes = outputs("boxes", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let moved = outputs("boxes", &[2, 2], &[1.0, 2.0, 3.0, 5.0]);
        let (m, _) = compare_outputs(&boxes, &moved, None).unwrap();
        assert_eq!((m[0].top1, m[0].top5), (None, None));
        assert_eq!((m[0].confident_samples, m[0].confident_top1), (None, None));
        assert_eq!(m[0].max_abs, 1.0);
        let e = compare_outputs(&boxes, &moved, Some(&[0])).unwrap_err();
        assert!(
            e.to_string()
                .contains("no output is a classification output"),
            "{e}"
        );
        let other = outputs("scores", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let e = compare_outputs(&boxes, &other, None).unwrap_err();
        assert!(e.to_string().contains("`boxes`"), "{e}");
        let logits = outputs("l", &[2], &[1.0, 0.0, 0.0, 1.0]);
        let e = compare_outputs(&logits, &logits, Some(&[0])).unwrap_err();
        assert!(e.to_string().contains("1 labels for 2 samples"), "{e}");
        let e = compare_outputs(&logits, &logits, Some(&[0, 2])).unwrap_err();
        assert!(e.to_string().contains("label 2 of sample 1"), "{e}");
    }

    #[test]
    fn classes_are_told_from_shapes() {
        let s = |shape: &[usize]| SampleOutputs {
            name: "o".into(),
            sample_shape: shape.to_vec(),
            values: vec![],
        };
        assert_eq!(s(&[1000]).classes(), Some(1000));
        assert_eq!(s(&[10, 1, 1]).classes(), Some(10));
        assert_eq!(s(&[1]).classes(), None);
        assert_eq!(s(&[4, 4]).classes(), None);
        assert_eq!(s(&[1, 10]).classes(), None);
    }

    #[test]
    fn probabilities_are_taken_as_they_are_and_logits_through_softmax() {
        let p = top_probability(&[0.7, 0.2, 0.1, 2.0, 0.0, 0.0], 3);
        assert!((p[0] - 0.7).abs() < 1e-6, "a distribution is used as it is");
        let expected = 1.0 / (1.0 + 2.0 * (-2.0f64).exp());
        assert!((p[1] - expected).abs() < 1e-6, "{} {expected}", p[1]);
        assert_eq!(
            confident_agreement(&[0.3, 0.3, 0.4], &[0.4, 0.3, 0.3], 3),
            (0, None)
        );
    }

    #[test]
    fn data_check_failures_speak_of_evaluation_data() {
        assert_eq!(
            as_evaluation_data("calibration data check failed: 1 problem(s)\n  batch_size is 32"),
            "evaluation data check failed: 1 problem(s)\n  batch_size is 32"
        );
        assert_eq!(as_evaluation_data("other"), "other");
    }

    #[test]
    fn labels_parse_with_comments_and_refuse_words() {
        assert_eq!(parse_labels("3\n\n# cat\n7 # dog\n").unwrap(), [3, 7]);
        let e = parse_labels("3\ncat\n").unwrap_err().to_string();
        assert!(e.contains("labels line 2: `cat`"), "{e}");
    }
}
