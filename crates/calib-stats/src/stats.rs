//! Per-tensor running statistics, and the scan kernel every batch goes through first.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Running statistics of one tensor over every batch added so far.
///
/// An empty record (`count == 0`) has `min = +inf`, `max = -inf` and `absmax = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
    /// Largest `|x|` seen: `max(-min, max)`. MinMax calibration's threshold.
    pub absmax: f32,
    /// Number of values seen.
    pub count: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            absmax: 0.0,
            count: 0,
        }
    }
}

impl Stats {
    /// Statistics of one batch. Fails on the first NaN or infinity (`tensor` names it).
    pub fn of(tensor: &str, data: &[f32]) -> Result<Self> {
        let (min, max) = scan(tensor, data)?;
        let mut stats = Stats {
            min,
            max,
            absmax: 0.0,
            count: data.len() as u64,
        };
        if !data.is_empty() {
            stats.absmax = (-min).max(max);
        }
        Ok(stats)
    }

    /// Adds another record's values to this one.
    pub fn merge(&mut self, other: &Stats) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.absmax = self.absmax.max(other.absmax);
        self.count += other.count;
    }
}

/// Lanes of the scan; 16 floats are one AVX-512 register or two AVX2 ones.
const LANES: usize = 16;
/// Absolute-value bits at or above this are an infinity or NaN.
const NON_FINITE: u32 = 0x7f80_0000;

/// `(min, max)` of `data`, or the first non-finite value as an error.
///
/// One pass of lane-wise compares the compiler vectorizes: NaN would slip through float
/// compares, so the absolute values' bit patterns are max-reduced as integers alongside.
pub(crate) fn scan(tensor: &str, data: &[f32]) -> Result<(f32, f32)> {
    let mut mn = [f32::INFINITY; LANES];
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut bits = [0u32; LANES];
    let mut chunks = data.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            let v = c[l];
            mn[l] = if v < mn[l] { v } else { mn[l] };
            mx[l] = if v > mx[l] { v } else { mx[l] };
            bits[l] = bits[l].max(v.to_bits() & 0x7fff_ffff);
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        mn[l] = if v < mn[l] { v } else { mn[l] };
        mx[l] = if v > mx[l] { v } else { mx[l] };
        bits[l] = bits[l].max(v.to_bits() & 0x7fff_ffff);
    }
    if bits.iter().any(|&b| b >= NON_FINITE) {
        // Rare path: find the first offender for the message.
        let index = data.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Err(Error::NonFinite {
            tensor: tensor.to_owned(),
            index,
            value: data[index],
        });
    }
    let min = mn.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let max = mx.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_a_batch_and_merge() {
        let data: Vec<f32> = (0..37).map(|i| i as f32 - 30.0).collect();
        let s = Stats::of("t", &data).unwrap();
        assert_eq!((s.min, s.max, s.absmax, s.count), (-30.0, 6.0, 30.0, 37));
        let mut all = Stats::default();
        all.merge(&s);
        all.merge(&Stats::of("t", &[41.5]).unwrap());
        assert_eq!(
            (all.min, all.max, all.absmax, all.count),
            (-30.0, 41.5, 41.5, 38)
        );
        let empty = Stats::of("t", &[]).unwrap();
        assert_eq!(empty, Stats::default());
    }

    #[test]
    fn non_finite_values_are_refused_with_their_index() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut data = vec![1.0f32; 40];
            data[33] = bad;
            match Stats::of("conv1", &data).unwrap_err() {
                Error::NonFinite { tensor, index, .. } => {
                    assert_eq!((tensor.as_str(), index), ("conv1", 33))
                }
                e => panic!("{e}"),
            }
        }
    }
}
