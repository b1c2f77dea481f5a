//! Two engines of one model compared: per-layer precisions (the [`ReportDiff`] machinery), INT8
//! layer counts, GPU latency on the same seeded input, and how closely their outputs agree. What
//! `trt qdq compare IMPLICIT.engine EXPLICIT.engine` prints; the verdict is decided here.
//!
//! | what | type / function |
//! |---|---|
//! | the whole comparison, with its verdict | [`EngineComparison`], [`compare_engines`] |
//! | tolerances and timing | [`CompareOptions`] |
//! | one output: max abs, cosine, top-1 agreement of 2-D logits | [`OutputAgreement::between`] |
//! | GPU time of one engine | [`gpu_times_ms`] |
//!
//! ```
//! use ndarray::{arr2, IxDyn};
//! use trt::compare::OutputAgreement;
//! use trt::HostTensor;
//! let a = HostTensor::F32(arr2(&[[0.1f32, 0.9], [0.8, 0.2]]).into_dyn());
//! let b = HostTensor::F32(arr2(&[[0.2f32, 0.7], [0.4, 0.6]]).into_dyn());
//! let g = OutputAgreement::between("logits", &a, &b).unwrap();
//! assert_eq!(g.top1, Some(0.5)); // row 0 agrees (class 1), row 1 does not
//! assert!((g.max_abs - 0.4).abs() < 1e-6);
//! ```

use std::sync::Arc;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaSlice, CudaStream};
use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::report::ReportDiff;
use crate::tensor::HostTensor;

/// Tolerances and timing of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareOptions {
    /// B's median GPU time over A's may be at most this (default 1.03: B at most 3% slower).
    pub max_latency_ratio: f64,
    /// Every 2-D output's top-1 agreement (fraction of rows whose argmax is the same in A and
    /// B) must be at least this; `None` (the default): not checked.
    pub min_top1: Option<f64>,
    /// Seed of the input both engines run on ([`Engine::seeded_inputs`]).
    pub seed: u64,
    /// Untimed runs of each engine before timing.
    pub warmup: usize,
    /// Timed runs of each engine, in rounds that alternate A and B; 0: latency is not measured
    /// (and not judged).
    pub iterations: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            max_latency_ratio: 1.03,
            min_top1: None,
            seed: 0,
            warmup: 20,
            iterations: 200,
        }
    }
}

/// How closely one output of B follows A's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputAgreement {
    /// The output tensor's name.
    pub name: String,
    /// Elements compared.
    pub elements: usize,
    /// The largest `|a - b|`.
    pub max_abs: f64,
    /// Cosine similarity of the two outputs as flat vectors (1 for two all-zero outputs).
    pub cosine: f64,
    /// For a 2-D output (rows of logits): the fraction of rows whose argmax agrees.
    pub top1: Option<f64>,
}

impl OutputAgreement {
    /// Compares two outputs of the same shape (float32 or float16; other types are refused).
    pub fn between(name: &str, a: &HostTensor, b: &HostTensor) -> Result<OutputAgreement> {
        if a.shape() != b.shape() {
            return Err(Error::Shape {
                name: name.into(),
                message: format!(
                    "the engines give shapes {:?} and {:?}: not the same model",
                    a.shape(),
                    b.shape()
                ),
            });
        }
        let (x, y) = (floats(name, a)?, floats(name, b)?);
        let (mut max_abs, mut dot, mut na, mut nb) = (0f64, 0f64, 0f64, 0f64);
        for (&p, &q) in x.iter().zip(&y) {
            let (p, q) = (f64::from(p), f64::from(q));
            max_abs = max_abs.max((p - q).abs());
            dot += p * q;
            na += p * p;
            nb += q * q;
        }
        let cosine = if na == 0.0 && nb == 0.0 {
            1.0
        } else if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            dot / (na.sqrt() * nb.sqrt())
        };
        let top1 = match a.shape() {
            [rows, cols] if *rows > 0 && *cols > 0 => {
                let same = x
                    .chunks(*cols)
                    .zip(y.chunks(*cols))
                    .filter(|(r, s)| argmax(r) == argmax(s))
                    .count();
                Some(same as f64 / *rows as f64)
            }
            _ => None,
        };
        Ok(OutputAgreement {
            name: name.into(),
            elements: x.len(),
            max_abs,
            cosine,
            top1,
        })
    }
}

/// The index of the largest value (the first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}

pub(crate) fn floats(name: &str, t: &HostTensor) -> Result<Vec<f32>> {
    match t {
        HostTensor::F32(a) => Ok(a.iter().copied().collect()),
        HostTensor::F16(a) => Ok(a.iter().map(|v| v.to_f32()).collect()),
        other => Err(Error::Shape {
            name: name.into(),
            message: format!(
                "a {} output: only float outputs are compared",
                crate::tensor::dtype_name(other.dtype())
            ),
        }),
    }
}

/// Median GPU times of both engines, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// A's median GPU time per run (CUDA events around the enqueue).
    pub a_ms: f64,
    /// B's.
    pub b_ms: f64,
    /// `b_ms / a_ms`.
    pub ratio: f64,
    /// Timed runs per engine.
    pub iterations: usize,
}

impl Latency {
    /// From both engines' per-run times.
    pub fn from_times(a: &[f64], b: &[f64]) -> Option<Latency> {
        let (a_ms, b_ms) = (median(a)?, median(b)?);
        Some(Latency {
            a_ms,
            b_ms,
            ratio: if a_ms > 0.0 { b_ms / a_ms } else { f64::NAN },
            iterations: a.len().min(b.len()),
        })
    }
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// Two engines compared, with the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct EngineComparison {
    /// Layer by layer, matched by engine layer name (fusions differ between an implicit and a
    /// Q/DQ engine, so layers only in one of them are expected).
    pub diff: ReportDiff,
    /// Compute layers per precision (reformats and constants excluded), A then B.
    pub precision_counts: [std::collections::BTreeMap<String, usize>; 2],
    /// INT8 compute layers of A and of B.
    pub int8_layers: [usize; 2],
    /// GPU latency, when measured.
    pub latency: Option<Latency>,
    /// One entry per output, in A's output order.
    pub outputs: Vec<OutputAgreement>,
    /// The options judged against.
    pub options: CompareOptions,
    /// Why the comparison fails (empty: it passes).
    pub failures: Vec<String>,
}

impl EngineComparison {
    /// No tolerance was exceeded.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What exceeds the tolerances: a latency ratio above `max_latency_ratio`, a 2-D output's top-1
/// agreement below `min_top1`.
pub fn judge(
    latency: Option<&Latency>,
    outputs: &[OutputAgreement],
    options: &CompareOptions,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(l) = latency {
        if l.ratio.is_nan() || l.ratio > options.max_latency_ratio {
            failures.push(format!(
                "B is slower: {:.4} ms / {:.4} ms = {:.3}, above the allowed {:.3} \
                 (--max-latency-ratio)",
                l.b_ms, l.a_ms, l.ratio, options.max_latency_ratio
            ));
        }
    }
    if let Some(min) = options.min_top1 {
        for o in outputs {
            if let Some(t) = o.top1.filter(|t| *t < min) {
                failures.push(format!(
                    "output `{}`: top-1 agreement {:.4}, below the required {min:.4} (--min-top1)",
                    o.name, t
                ));
            }
        }
    }
    failures
}

/// Per-run GPU times (ms) of `engine` on `inputs` (in its input types): device buffers bound
/// once, `warmup` untimed runs, then `iterations` runs between CUDA events.
pub fn gpu_times_ms(
    engine: &Engine,
    inputs: &[(String, HostTensor)],
    warmup: usize,
    iterations: usize,
) -> Result<Vec<f64>> {
    let stream: Arc<CudaStream> = engine.cuda_context().new_stream()?;
    let mut context = engine.create_context(stream.clone())?;
    for (name, t) in inputs {
        context.set_input_shape(name, t.shape())?;
    }
    let mut device_inputs: Vec<(&str, CudaSlice<u8>)> = Vec::new();
    for (name, t) in inputs {
        let t = t.clone().into_standard_layout();
        let bytes = t.as_bytes().ok_or_else(|| Error::Shape {
            name: name.clone(),
            message: "not in standard layout".into(),
        })?;
        device_inputs.push((name.as_str(), stream.clone_htod(bytes)?));
    }
    let mut device_outputs: Vec<(String, CudaSlice<u8>)> = Vec::new();
    for t in engine.outputs() {
        let shape = context.tensor_shape(&t.name)?;
        let n = shape.iter().product::<usize>() * t.dtype.size();
        device_outputs.push((t.name.clone(), stream.alloc_zeros::<u8>(n.max(1))?));
    }
    let cuda = engine.cuda_context().clone();
    let mut bound = context.bindings();
    for (name, buf) in &device_inputs {
        bound.input_bytes(name, buf)?;
    }
    for (name, buf) in &mut device_outputs {
        bound.output_bytes(name, buf)?;
    }
    for _ in 0..warmup {
        bound.enqueue()?;
    }
    stream.synchronize()?;
    let start = cuda.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let end = cuda.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        start.record(&stream)?;
        bound.enqueue()?;
        end.record(&stream)?;
        stream.synchronize()?;
        times.push(f64::from(start.elapsed_ms(&end)?));
    }
    Ok(times)
}

/// Median GPU times of `a` and `b` on the same `inputs`: `iterations` timed runs each (0: not
/// measured), in rounds that alternate A and B so that clock changes of the GPU fall on both.
pub fn latency(
    a: &Engine,
    b: &Engine,
    inputs: &[(String, HostTensor)],
    warmup: usize,
    iterations: usize,
) -> Result<Option<Latency>> {
    if iterations == 0 {
        return Ok(None);
    }
    let rounds = 4.min(iterations);
    let per = iterations.div_ceil(rounds);
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let warm = if r == 0 { warmup } else { 2 };
        ta.extend(gpu_times_ms(a, inputs, warm, per)?);
        tb.extend(gpu_times_ms(b, inputs, warm, per)?);
    }
    Ok(Latency::from_times(&ta, &tb))
}

/// Compares engine `b` with engine `a` (the reference: the implicit engine) on one seeded input
/// in A's input types, and judges the result against `options`.
pub fn compare_engines(
    a: &Engine,
    b: &Engine,
    options: &CompareOptions,
) -> Result<EngineComparison> {
    let (ia, ib) = (a.inspect()?, b.inspect()?);
    let diff = ReportDiff::between(&ia.layers, &ib.layers);
    let precision_counts = [ia.precision_counts(), ib.precision_counts()];
    let int8_layers = [
        precision_counts[0].get("INT8").copied().unwrap_or(0),
        precision_counts[1].get("INT8").copied().unwrap_or(0),
    ];
    let inputs = a.seeded_inputs(options.seed)?;
    for (name, t) in &inputs {
        let other = b.tensor(name)?;
        if other.dtype != t.dtype() {
            return Err(Error::Shape {
                name: name.clone(),
                message: format!(
                    "engine A takes {:?}, engine B {:?}: not the same model",
                    t.dtype(),
                    other.dtype
                ),
            });
        }
    }
    let run = |e: &Engine| -> Result<Vec<(String, HostTensor)>> {
        let mut ctx = e.create_context(e.cuda_context().new_stream()?)?;
        let views: Vec<(&str, crate::HostTensorView<'_>)> =
            inputs.iter().map(|(n, t)| (n.as_str(), t.view())).collect();
        ctx.run(&views)
    };
    let (oa, ob) = (run(a)?, run(b)?);
    let mut outputs = Vec::new();
    for (name, ta) in &oa {
        let tb = ob
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::UnknownTensor {
                name: name.clone(),
                what: "second engine's outputs",
                known: ob.iter().map(|(n, _)| n.clone()).collect(),
            })?;
        outputs.push(OutputAgreement::between(name, ta, tb)?);
    }
    let latency = latency(a, b, &inputs, options.warmup, options.iterations)?;
    let failures = judge(latency.as_ref(), &outputs, options);
    Ok(EngineComparison {
        diff,
        precision_counts,
        int8_layers,
        latency,
        outputs,
        options: options.clone(),
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    fn f32s(rows: &[[f32; 3]]) -> HostTensor {
        HostTensor::F32(arr2(rows).into_dyn())
    }

    #[test]
    fn agreement_of_logits() {
        let a = f32s(&[
            [1.0, 2.0, 3.0],
            [3.0, 2.0, 1.0],
            [0.0, 5.0, 1.0],
            [1.0, 1.0, 0.0],
        ]);
        let b = f32s(&[
            [1.0, 2.0, 3.5],
            [1.0, 2.0, 1.5],
            [0.0, 5.0, 1.0],
            [1.0, 1.0, 0.0],
        ]);
        let g = OutputAgreement::between("logits", &a, &b).unwrap();
        assert_eq!(g.elements, 12);
        assert_eq!(g.top1, Some(0.75));
        assert!((g.max_abs - 2.0).abs() < 1e-12);
        // a.b = 15.5 + 8.5 + 26 + 2 = 52; |a|^2 = 14 + 14 + 26 + 2, |b|^2 = 17.25 + 7.25 + 26 + 2.
        let expected = 52.0 / (56f64.sqrt() * 52.5f64.sqrt());
        assert!((g.cosine - expected).abs() < 1e-12, "{}", g.cosine);
        let same = OutputAgreement::between("l", &a, &a).unwrap();
        assert_eq!((same.max_abs, same.top1), (0.0, Some(1.0)));
        assert!((same.cosine - 1.0).abs() < 1e-12);
    }

    #[test]
    fn other_shapes_have_no_top1_and_mismatches_are_refused() {
        let a = HostTensor::F32(arr1(&[1.0f32, 0.0]).into_dyn());
        assert_eq!(OutputAgreement::between("v", &a, &a).unwrap().top1, None);
        let b = f32s(&[[1.0, 0.0, 0.0]]);
        let e = OutputAgreement::between("v", &a, &b)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the same model"), "{e}");
        let i = HostTensor::I32(arr1(&[1, 2]).into_dyn());
        let e = OutputAgreement::between("ids", &i, &i)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only float outputs are compared"), "{e}");
        assert_eq!(argmax(&[f32::NAN, 1.0, 3.0, 3.0]), 2);
    }

    #[test]
    fn the_verdict_follows_the_tolerances() {
        let o = CompareOptions::default();
        let fast = Latency::from_times(&[1.0, 1.1, 0.9], &[1.02, 1.0, 1.03]).unwrap();
        assert!((fast.ratio - 1.02).abs() < 1e-12);
        assert!(judge(Some(&fast), &[], &o).is_empty());
        let slow = Latency::from_times(&[1.0], &[1.05]).unwrap();
        let f = judge(Some(&slow), &[], &o);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("1.050, above the allowed 1.030"), "{}", f[0]);
        let out = |t| OutputAgreement {
            name: "logits".into(),
            elements: 10,
            max_abs: 0.1,
            cosine: 0.99,
            top1: Some(t),
        };
        // Top-1 is checked only when asked.
        assert!(judge(None, &[out(0.5)], &o).is_empty());
        let strict = CompareOptions {
            min_top1: Some(0.99),
            ..o
        };
        assert!(judge(None, &[out(0.995)], &strict).is_empty());
        let f = judge(None, &[out(0.98)], &strict);
        assert!(
            f[0].contains("top-1 agreement 0.9800, below the required 0.9900"),
            "{}",
            f[0]
        );
        // A NaN ratio (A took no time) fails rather than passes.
        let nan = Latency::from_times(&[0.0], &[1.0]).unwrap();
        assert_eq!(judge(Some(&nan), &[], &strict).len(), 1);
    }
}
