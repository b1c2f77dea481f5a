//! Calibration methods: a tensor's histogram and statistics to its threshold (amax).

use serde::{Deserialize, Serialize};
use trt_calib_table::Algorithm;

use crate::error::{Error, Result};
use crate::histogram::Histogram;
use crate::stats::Stats;

/// Quantized bins of 8-bit symmetric quantization (the sign bit aside): 128.
pub const QUANT_BINS: usize = 128;
/// The first candidate threshold of entropy and MSE calibration, in bins: 128.
pub const START_BIN: usize = 128;
/// Divergences (in nats) within this of the smallest are a tie; see [`entropy_bin`].
pub const ENTROPY_TIE: f64 = 1e-12;

/// How a tensor's threshold (the `amax` of `[-amax, amax]`, 127 x the table's scale) is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// The largest `|x|` seen ([`Stats::absmax`]), exactly.
    MinMax,
    /// TensorRT's Entropy2 recipe as pytorch-quantization's `_compute_amax_entropy` writes it:
    /// the candidate whose 128-level quantization loses least information (KL divergence).
    /// See [`entropy_bin`].
    Entropy,
    /// The value below which this percentage of `|x|` lies, e.g. `99.99`; see [`percentile`].
    Percentile(f64),
    /// The candidate minimizing the expected quantization MSE of the histogram; see [`mse_bin`].
    Mse,
}

impl Method {
    /// The algorithm a table of these thresholds is headed with.
    ///
    /// TensorRT has header names only for its own calibrators. Percentile and MSE tables are
    /// headed `MinMaxCalibration`: the table format is the same for every algorithm (one scale
    /// per tensor), and a MinMax header is what TensorRT accepts from a build configured with the
    /// MinMax calibrator (`trt build --minmax`), which then uses the scales as they are.
    pub fn table_algorithm(&self) -> Algorithm {
        match self {
            Method::Entropy => Algorithm::EntropyCalibration2,
            Method::MinMax | Method::Percentile(_) | Method::Mse => Algorithm::MinMaxCalibration,
        }
    }

    /// The threshold of one tensor from its statistics and histogram.
    ///
    /// A percentile is capped at `stats.absmax` (the histogram interpolates within a bin and
    /// could otherwise pass the largest value). Fails for a tensor without values (for the
    /// histogram methods: an empty histogram, e.g. before a two-pass fill) and for a percentile
    /// outside `(0, 100]`.
    pub fn threshold(&self, tensor: &str, stats: &Stats, histogram: &Histogram) -> Result<f32> {
        if let Method::Percentile(p) = self {
            check_percentile(*p)?;
        }
        let needs_histogram = *self != Method::MinMax;
        if stats.count == 0 || (needs_histogram && histogram.total() == 0) {
            return Err(Error::Empty {
                tensor: tensor.to_owned(),
            });
        }
        Ok(match self {
            Method::MinMax => stats.absmax,
            Method::Entropy => entropy(histogram),
            Method::Percentile(p) => percentile(histogram, *p)?.min(stats.absmax),
            Method::Mse => mse(histogram),
        })
    }
}

/// `minmax`, `entropy`, `mse`, `percentile=99.99`: what [`Method`]'s `FromStr` reads.
impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => f.write_str("minmax"),
            Method::Entropy => f.write_str("entropy"),
            Method::Percentile(p) => write!(f, "percentile={p}"),
            Method::Mse => f.write_str("mse"),
        }
    }
}

/// Reads `minmax`, `entropy`, `mse` or `percentile=P` (P in `(0, 100]`, e.g. `99.99`), ignoring
/// case.
impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "minmax" => Method::MinMax,
            "entropy" => Method::Entropy,
            "mse" => Method::Mse,
            _ => {
                let p = lower
                    .strip_prefix("percentile=")
                    .and_then(|p| p.parse::<f64>().ok())
                    .ok_or_else(|| Error::UnknownMethod(s.to_owned()))?;
                check_percentile(p)?;
                Method::Percentile(p)
            }
        })
    }
}

fn check_percentile(p: f64) -> Result<()> {
    if p > 0.0 && p <= 100.0 {
        Ok(())
    } else {
        Err(Error::BadPercentile(p))
    }
}

/// The edge `k` of a histogram (`k * amax / BINS`), as `f32`.
fn edge(h: &Histogram, k: usize) -> f32 {
    (k as f64 * h.bin_width()) as f32
}

/// Entropy calibration's threshold: the upper edge of the last bin [`entropy_bin`] keeps.
pub fn entropy(h: &Histogram) -> f32 {
    edge(h, entropy_bin(h.counts(), QUANT_BINS, START_BIN))
}

/// The entropy recipe on any histogram: the number of bins `i` (the threshold is the upper edge
/// of bin `i - 1`, i.e. edge `i`), for candidates `i = start, start + 1, ..., counts.len()`.
///
/// This is pytorch-quantization's `_compute_amax_entropy` (which follows TensorRT's Entropy2):
/// 1. bin 0 (mostly exact zeros after a ReLU) is replaced by bin 1's count;
/// 2. for each candidate `i`, the reference `P` is bins `0..i` with every count above (the
///    outliers) added to bin `i - 1`;
/// 3. `Q` quantizes bins `0..i` into `quant_bins` levels (bin `j` goes to level
///    `floor(j * quant_bins / i)`), and spreads each level's count evenly over its *non-empty*
///    bins; empty bins stay empty;
/// 4. the divergence is `KL(P || Q)` of the normalized distributions (`Σ p ln(p / q)`, terms
///    with `p = 0` are 0, `p > 0 = q` makes it infinite);
/// 5. the smallest divergence wins. Ties go to the **larger** `i`, as in pytorch-quantization
///    (`last_argmin`). Divergences within [`ENTROPY_TIE`] (1e-12) of the smallest count as
///    tied.
///
/// The divergence is computed from prefix sums (`Σ b ln b`, `Σ b`, non-empty bins), which makes
/// each candidate `O(quant_bins)` instead of `O(i)` (see the benchmark for the time per
/// tensor). That form carries rounding of about 1e-15 where the direct form (numpy's) is
/// exact, e.g. exactly 0 for every candidate that quantizes without loss; the tie tolerance
/// keeps such ties ties. Real differences between candidates are far larger (in
/// `tests/ref/reference.json` the two best differ by 5e-7 and 3e-8).
///
/// `start` is clamped to `1..=counts.len()`. An empty histogram gives `counts.len()`.
pub fn entropy_bin(counts: &[u64], quant_bins: usize, start: usize) -> usize {
    let n = counts.len();
    if n == 0 {
        return 0;
    }
    let mut b: Vec<u64> = counts.to_vec();
    if n > 1 {
        b[0] = b[1];
    }
    // Prefix sums over bins 0..m: counts, non-empty bins, b ln b.
    let mut sum = vec![0u64; n + 1];
    let mut nonzero = vec![0u32; n + 1];
    let mut blnb = vec![0f64; n + 1];
    for j in 0..n {
        sum[j + 1] = sum[j] + b[j];
        nonzero[j + 1] = nonzero[j] + u32::from(b[j] != 0);
        let x = b[j] as f64;
        blnb[j + 1] = blnb[j] + if b[j] != 0 { x * x.ln() } else { 0.0 };
    }
    let total = sum[n];
    if total == 0 {
        return n;
    }
    let p_total = total as f64;
    let start = start.clamp(1, n);
    let (mut best_i, mut best) = (n, f64::INFINITY);
    for i in start..=n {
        let d = divergence(&b, &sum, &nonzero, &blnb, i, quant_bins.min(i), p_total);
        if d <= best || d - best <= ENTROPY_TIE {
            if d < best {
                best = d;
            }
            best_i = i;
        }
    }
    best_i
}

/// `KL(P || Q)` of candidate `i`; see [`entropy_bin`].
fn divergence(
    b: &[u64],
    sum: &[u64],
    nonzero: &[u32],
    blnb: &[f64],
    i: usize,
    nq: usize,
    p_total: f64,
) -> f64 {
    let outliers = (sum[b.len()] - sum[i]) as f64;
    let q_total = p_total - outliers; // spreading keeps each level's count
    let last = i - 1;
    let p_last = b[last] as f64 + outliers;
    // Σ_j p_j ln(p_j / P) - p_j ln(q_j / Q) over j < last, with p_j = b_j:
    //   Σ b ln b - Σ_levels S' ln(S / C) + (Σ b) (ln Q - ln P),
    // S, C the level's count and non-empty bins, S' without bin `last`.
    let mut cross = 0.0;
    let mut q_last = 0.0;
    for k in 0..nq {
        let lo = (k * i).div_ceil(nq);
        let hi = ((k + 1) * i).div_ceil(nq);
        let s = (sum[hi] - sum[lo]) as f64;
        let c = nonzero[hi] - nonzero[lo];
        if c == 0 {
            continue;
        }
        let q = s / c as f64;
        let mut s_kept = s;
        if (lo..hi).contains(&last) {
            if b[last] != 0 {
                q_last = q;
            }
            s_kept -= b[last] as f64;
        }
        if s_kept > 0.0 {
            cross += s_kept * q.ln();
        }
    }
    let kept = sum[last] as f64;
    let mut d = blnb[last] - cross + kept * (q_total.ln() - p_total.ln());
    if p_last > 0.0 {
        if q_last == 0.0 {
            return f64::INFINITY;
        }
        d += p_last * (p_last.ln() - q_last.ln() + q_total.ln() - p_total.ln());
    }
    d / p_total
}

/// The value below which `p` percent of the histogram's values lie (`p` in `(0, 100]`).
///
/// With `N` values, the target rank is `p / 100 * N`. The bin `k` where the cumulative count
/// first reaches it is found, and the threshold interpolated linearly inside it, as if its
/// values were spread evenly: `(k + (target - below) / count_k) * width`, where `below` is
/// the count of bins `0..k`. So `p = 100` gives the upper edge of the last non-empty bin.
/// (pytorch-quantization's `_compute_amax_percentile` returns the lower edge of bin `k`
/// instead; the interpolated value is within the same bin.)
pub fn percentile(h: &Histogram, p: f64) -> Result<f32> {
    check_percentile(p)?;
    let total = h.total();
    let target = p / 100.0 * total as f64;
    let mut below = 0u64;
    for (k, &c) in h.counts().iter().enumerate() {
        if c > 0 && (below + c) as f64 >= target {
            let frac = ((target - below as f64) / c as f64).clamp(0.0, 1.0);
            return Ok(((k as f64 + frac) * h.bin_width()) as f32);
        }
        below += c;
    }
    Ok(h.amax())
}

/// MSE calibration's threshold: the centre of bin [`mse_bin`].
pub fn mse(h: &Histogram) -> f32 {
    ((mse_bin(h.counts(), START_BIN) as f64 + 0.5) * h.bin_width()) as f32
}

/// The bin whose centre, as `amax`, minimizes the expected squared error of 8-bit symmetric
/// quantization over the histogram; candidates are bins `start..counts.len()`.
///
/// pytorch-quantization's `_compute_amax_mse`: every value is taken at its bin's centre `c`,
/// quantized as `clamp(round(c * 127 / amax), -127, 127) * amax / 127` (round half to even),
/// and the squared errors weighted by the counts; the smallest sum wins, the first (smallest
/// `amax`) on ties. Computed in `f64` (pytorch-quantization uses `f32`). An empty histogram,
/// or `start >= counts.len()`, gives the last bin.
pub fn mse_bin(counts: &[u64], start: usize) -> usize {
    let n = counts.len();
    let width = 1.0 / n as f64; // the choice does not depend on the range
    let centre = |j: usize| (j as f64 + 0.5) * width;
    let (mut best_i, mut best) = (n.saturating_sub(1), f64::INFINITY);
    for i in start..n {
        let amax = centre(i);
        let scale = 127.0 / amax;
        let mut err = 0.0;
        for (j, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let x = centre(j);
            let q = (x * scale).round_ties_even().clamp(-127.0, 127.0) / scale;
            err += c as f64 * (q - x) * (q - x);
        }
        if err < best {
            (best_i, best) = (i, err);
        }
    }
    best_i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_and_print_as_the_command_line_writes_them() {
        for (text, m) in [
            ("minmax", Method::MinMax),
            ("Entropy", Method::Entropy),
            ("mse", Method::Mse),
            ("percentile=99.99", Method::Percentile(99.99)),
        ] {
            let parsed: Method = text.parse().unwrap();
            assert_eq!(parsed, m);
            assert_eq!(parsed.to_string().parse::<Method>().unwrap(), m);
        }
        assert_eq!(Method::Percentile(99.9).to_string(), "percentile=99.9");
        assert_eq!(
            "percentile=120".parse::<Method>().unwrap_err(),
            Error::BadPercentile(120.0)
        );
        let e = "kl".parse::<Method>().unwrap_err();
        assert_eq!(e, Error::UnknownMethod("kl".into()));
        assert!(e.to_string().contains("percentile=99.99"), "{e}");
        assert!("percentile".parse::<Method>().is_err());
    }
    use crate::BINS;

    /// The entropy recipe by hand: 6 bins, 2 quantized levels, candidates i = 2..=6.
    ///
    /// counts [9, 4, 2, 2, 0, 1]; bin 0 takes bin 1's count: b = [4, 4, 2, 2, 0, 1], P = 13.
    /// - i = 2: levels j -> j. Q = [4, 4] (sum 8); outliers 5 fold into bin 1: P = [4, 9].
    ///   KL = 4/13 ln((4/13)/(4/8)) + 9/13 ln((9/13)/(4/8)) = 4/13 ln(8/13) + 9/13 ln(18/13)
    ///   = -0.149387 + 0.225292 = 0.075905
    /// - i = 3: levels floor(2j/3) = [0, 0, 1]. Q = [4, 4, 2] (10); P = [4, 4, 2 + 3] .
    ///   KL = 8/13 ln(10/13) + 5/13 ln(25/13) = -0.161455 + 0.251510 = 0.090055
    /// - i = 4: levels [0, 0, 1, 1]. Q = [4, 4, 2, 2] (12); P = [4, 4, 2, 2 + 1].
    ///   KL = 10/13 ln(12/13) + 3/13 ln(18/13) = -0.061572 + 0.075097 = 0.013525
    /// - i = 5: levels [0, 0, 0, 1, 1]; bin 4 is empty so Q keeps it 0, but P = [.., 0 + 1]:
    ///   p > 0 = q, KL = inf.
    /// - i = 6: levels [0, 0, 0, 1, 1, 1]. Level 0: 10 over 3 bins; level 1: 3 over its 2
    ///   non-empty bins. Q = [10/3, 10/3, 10/3, 1.5, 0, 1.5] (13); P = b.
    ///   KL = 8/13 ln 1.2 + 2/13 ln 0.6 + 2/13 ln(4/3) + 1/13 ln(2/3)
    ///   = 0.112198 - 0.078589 + 0.044259 - 0.031190 = 0.046678
    ///
    /// Smallest: i = 4, so the threshold is edge 4 (4/6 of the range).
    #[test]
    fn entropy_by_hand() {
        let counts = [9u64, 4, 2, 2, 0, 1];
        let b = [4u64, 4, 2, 2, 0, 1];
        let mut sum = [0u64; 7];
        let mut nonzero = [0u32; 7];
        let mut blnb = [0f64; 7];
        for j in 0..6 {
            sum[j + 1] = sum[j] + b[j];
            nonzero[j + 1] = nonzero[j] + u32::from(b[j] != 0);
            blnb[j + 1] = blnb[j]
                + if b[j] > 0 {
                    b[j] as f64 * (b[j] as f64).ln()
                } else {
                    0.0
                };
        }
        let kl = |i| divergence(&b, &sum, &nonzero, &blnb, i, 2, 13.0);
        for (i, want) in [(2, 0.075905), (3, 0.090055), (4, 0.013525), (6, 0.046678)] {
            assert!((kl(i) - want).abs() < 2e-6, "i = {i}: {} vs {want}", kl(i));
        }
        assert_eq!(kl(5), f64::INFINITY);
        assert_eq!(entropy_bin(&counts, 2, 2), 4);
        // Starting past the best candidate: i = 6 beats the infinite i = 5.
        assert_eq!(entropy_bin(&counts, 2, 5), 6);
    }

    /// [1, 1, 0, 0]: every candidate quantizes exactly (KL 0 for i = 2, 3, 4); ties go to the
    /// largest i, as pytorch-quantization's last_argmin does (a first-argmin rule would say 2).
    #[test]
    fn entropy_ties_go_to_the_larger_threshold() {
        assert_eq!(entropy_bin(&[1, 1, 0, 0], 2, 2), 4);
        // The full-size recipe: a histogram with data only below bin 128 ties everywhere at 0.
        let mut counts = vec![0u64; BINS];
        counts[..100].fill(7);
        assert_eq!(entropy_bin(&counts, QUANT_BINS, START_BIN), BINS);
        let h = Histogram::from_counts(&counts, 2.0).unwrap();
        assert_eq!(entropy(&h), 2.0);
    }

    #[test]
    fn percentile_interpolates_inside_the_bin() {
        // 100 values: 50 in bin 0, 50 in bin 10 (width 1/2048 of amax = 2048 -> width 1).
        let mut counts = vec![0u64; BINS];
        counts[0] = 50;
        counts[10] = 50;
        let h = Histogram::from_counts(&counts, 2048.0).unwrap();
        assert_eq!(percentile(&h, 50.0).unwrap(), 1.0); // the whole of bin 0
        assert_eq!(percentile(&h, 25.0).unwrap(), 0.5);
        assert_eq!(percentile(&h, 60.0).unwrap(), 10.2); // 10 of bin 10's 50
        assert_eq!(percentile(&h, 100.0).unwrap(), 11.0);
        assert!(percentile(&h, 0.0).is_err());
        assert!(percentile(&h, 100.5).is_err());
    }

    #[test]
    fn mse_of_a_single_spike_is_the_spike() {
        // All values at one centre: amax at that centre quantizes it exactly (error 0); any
        // other candidate does not (for bins past 127).
        let mut counts = vec![0u64; BINS];
        counts[1500] = 1000;
        assert_eq!(mse_bin(&counts, START_BIN), 1500);
    }

    #[test]
    fn table_algorithms() {
        assert_eq!(
            Method::Entropy.table_algorithm(),
            Algorithm::EntropyCalibration2
        );
        assert_eq!(Method::Mse.table_algorithm(), Algorithm::MinMaxCalibration);
        assert_eq!(
            Method::Percentile(99.9).table_algorithm(),
            Algorithm::MinMaxCalibration
        );
    }
}
