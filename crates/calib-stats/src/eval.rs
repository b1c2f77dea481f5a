//! How closely an INT8 engine's outputs follow the FP32 reference: agreement metrics on logits.
//!
//! | metric | field | definition |
//! | --- | --- | --- |
//! | top-1 agreement | [`Agreement::top1`] | rows whose arg-max is the same in both |
//! | top-5 agreement | [`Agreement::top5`] | rows whose reference arg-max is among the candidate's 5 largest |
//! | max abs difference | [`Agreement::max_abs_diff`] | `max |r - c|` over every value |
//! | cosine similarity | [`Agreement::cosine`] | `r·c / (|r| |c|)` over the whole output |
//! | SQNR | [`Agreement::sqnr_db`] | `10 log10(Σ r² / Σ (r - c)²)` over the whole output |
//!
//! Ties in a row go to the lower class index (arg-max and the top 5 alike).
//!
//! ```
//! use trt_calib_stats::eval::Agreement;
//!
//! // 2 samples of 3 classes: the second sample's arg-max moves from class 0 to class 1.
//! let fp32 = [0.1, 2.0, 0.3, /**/ 1.0, 0.9, 0.0];
//! let int8 = [0.1, 1.9, 0.3, /**/ 0.9, 1.0, 0.0];
//! let a = Agreement::compute("logits", &fp32, &int8, 3)?;
//! assert_eq!((a.top1_agree, a.samples, a.top1), (1, 2, 0.5));
//! assert_eq!(a.top5, 1.0); // 3 classes: the top 3
//! assert!((a.max_abs_diff - 0.1).abs() < 1e-6);
//! # Ok::<(), trt_calib_stats::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many of the candidate's largest logits count for top-5 agreement.
pub const TOP_K: usize = 5;

/// The agreement of one output: a candidate (e.g. INT8) against a reference (e.g. FP32).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The output's name.
    pub output: String,
    /// Rows (samples).
    pub samples: usize,
    /// Logits per row.
    pub classes: usize,
    /// Rows with the same arg-max.
    pub top1_agree: usize,
    /// `top1_agree / samples`.
    pub top1: f64,
    /// Rows whose reference arg-max is among the candidate's `min(5, classes)` largest.
    pub top5_agree: usize,
    /// `top5_agree / samples`.
    pub top5: f64,
    /// Largest absolute difference of two values.
    pub max_abs_diff: f32,
    /// Cosine similarity of the two outputs as vectors: 1 when both are zero, 0 when one is.
    pub cosine: f64,
    /// Signal-to-quantization-noise ratio in dB; `None` when the outputs are identical (no
    /// noise: infinite).
    pub sqnr_db: Option<f64>,
}

impl Agreement {
    /// Compares two outputs of `classes` logits per row (row-major, rows = samples).
    ///
    /// Fails when the lengths differ, are not a multiple of `classes`, are empty, or a value is
    /// not finite.
    pub fn compute(
        output: &str,
        reference: &[f32],
        candidate: &[f32],
        classes: usize,
    ) -> Result<Self> {
        let shape = |what| Error::Shape {
            output: output.to_owned(),
            what,
            classes,
            reference: reference.len(),
            candidate: candidate.len(),
        };
        if classes == 0 {
            return Err(shape("zero classes per row"));
        }
        if reference.len() != candidate.len() {
            return Err(shape("the lengths differ"));
        }
        if reference.is_empty() {
            return Err(shape("the outputs are empty"));
        }
        if !reference.len().is_multiple_of(classes) {
            return Err(shape("the length is not a multiple of the classes"));
        }
        for data in [reference, candidate] {
            if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    tensor: output.to_owned(),
                    index,
                    value: data[index],
                });
            }
        }
        let samples = reference.len() / classes;
        let k = TOP_K.min(classes);
        let (mut top1_agree, mut top5_agree) = (0, 0);
        for (r, c) in reference
            .chunks_exact(classes)
            .zip(candidate.chunks_exact(classes))
        {
            let best = argmax(r);
            top1_agree += usize::from(argmax(c) == best);
            top5_agree += usize::from(rank(c, best) < k);
        }
        let (mut dot, mut rr, mut cc, mut noise) = (0f64, 0f64, 0f64, 0f64);
        let mut max_abs_diff = 0f32;
        for (&r, &c) in reference.iter().zip(candidate) {
            let (r64, c64) = (r as f64, c as f64);
            dot += r64 * c64;
            rr += r64 * r64;
            cc += c64 * c64;
            noise += (r64 - c64) * (r64 - c64);
            max_abs_diff = max_abs_diff.max((r - c).abs());
        }
        let cosine = match (rr == 0.0, cc == 0.0) {
            (true, true) => 1.0,
            (true, false) | (false, true) => 0.0,
            (false, false) => dot / (rr.sqrt() * cc.sqrt()),
        };
        let sqnr_db = (noise > 0.0).then(|| 10.0 * (rr / noise).log10());
        Ok(Self {
            output: output.to_owned(),
            samples,
            classes,
            top1_agree,
            top1: top1_agree as f64 / samples as f64,
            top5_agree,
            top5: top5_agree as f64 / samples as f64,
            max_abs_diff,
            cosine,
            sqnr_db,
        })
    }
}

/// Index of the largest value; the lowest index among equals.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Place of class `i` in `row` sorted by value descending, lower index first among equals.
fn rank(row: &[f32], i: usize) -> usize {
    let v = row[i];
    row.iter()
        .enumerate()
        .filter(|&(j, &w)| w > v || (w == v && j < i))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lower_index() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(rank(&[1.0, 3.0, 3.0, 2.0], 2), 1);
        assert_eq!(rank(&[1.0, 3.0, 3.0, 2.0], 0), 3);
    }
}
