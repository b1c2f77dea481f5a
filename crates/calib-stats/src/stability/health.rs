//! Histograms that cannot give a trustworthy threshold: nearly empty ones, and saturated ones.

use serde::Serialize;

use crate::collector::{Collector, TensorStats};
use crate::error::{Error, Result};
use crate::histogram::BINS;
use crate::method::Method;

/// A histogram with fewer non-empty bins than this (of [`BINS`] = 2048) is nearly empty: 8.
pub const MIN_OCCUPIED_BINS: usize = 8;
/// A histogram with at least this share of its values in bin 0 (`|x| < amax / 2048`) is nearly
/// empty: 0.99.
pub const FIRST_BIN_SHARE: f64 = 0.99;
/// A threshold that clips more than this share of the values is saturated: 0.01 (1%).
pub const CLIPPED_SHARE: f64 = 0.01;
/// A histogram whose top bin (the one holding `max |x|`) holds more than this share of the
/// values is saturated: 0.01 (1%).
pub const TOP_BIN_SHARE: f64 = 0.01;

/// What is wrong with a histogram. The rules, in order (a tensor may break several):
///
/// | problem | kind | rule |
/// | --- | --- | --- |
/// | `no_values` | nearly empty | the histogram counted nothing |
/// | `all_zero` | nearly empty | every value is 0 (`max |x| = 0`); no other rule is checked |
/// | `few_bins` | nearly empty | fewer than [`MIN_OCCUPIED_BINS`] (8) non-empty bins |
/// | `first_bin` | nearly empty | at least [`FIRST_BIN_SHARE`] (99%) of the values in bin 0 |
/// | `clipped` | saturated | more than [`CLIPPED_SHARE`] (1%) of the values above the threshold |
/// | `top_bin` | saturated | more than [`TOP_BIN_SHARE`] (1%) of the values in the bin of `max |x|` |
///
/// The clipped share is read from the histogram as [`crate::percentile`] reads it: values are
/// taken as spread evenly inside their bin, so the bin holding the threshold counts for the
/// part of it above the threshold. A threshold at or above `max |x|` clips nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthProblem {
    /// No values.
    NoValues,
    /// Only zeros.
    AllZero,
    /// Fewer than [`MIN_OCCUPIED_BINS`] non-empty bins.
    FewBins,
    /// At least [`FIRST_BIN_SHARE`] of the values in bin 0.
    FirstBin,
    /// The threshold clips more than [`CLIPPED_SHARE`] of the values.
    Clipped,
    /// More than [`TOP_BIN_SHARE`] of the values in the bin of `max |x|`.
    TopBin,
}

impl HealthProblem {
    /// A saturation problem (`clipped`, `top_bin`); the others are "nearly empty".
    pub fn is_saturation(self) -> bool {
        matches!(self, HealthProblem::Clipped | HealthProblem::TopBin)
    }

    /// One line for people, with the tensor's numbers.
    pub fn describe(self, h: &TensorHealth) -> String {
        let pct = |x: f64| format!("{:.2}%", 100.0 * x);
        match self {
            HealthProblem::NoValues => "nearly empty: no values".into(),
            HealthProblem::AllZero => format!("nearly empty: all {} values are 0", h.values),
            HealthProblem::FewBins => format!(
                "nearly empty: {} non-empty bin(s) of {BINS} (fewer than {MIN_OCCUPIED_BINS})",
                h.occupied_bins
            ),
            HealthProblem::FirstBin => format!(
                "nearly empty: {} of the values in the first bin (at least {})",
                pct(h.first_bin_share),
                pct(FIRST_BIN_SHARE)
            ),
            HealthProblem::Clipped => format!(
                "saturated: the threshold {} clips {} of the values (more than {})",
                h.threshold,
                pct(h.clipped_share),
                pct(CLIPPED_SHARE)
            ),
            HealthProblem::TopBin => format!(
                "saturated: {} of the values in the top bin, at max |x| = {} (more than {})",
                pct(h.top_bin_share),
                h.absmax,
                pct(TOP_BIN_SHARE)
            ),
        }
    }
}

/// The health of one tensor's histogram at its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorHealth {
    /// Tensor name.
    pub tensor: String,
    /// Values in the histogram.
    pub values: u64,
    /// `max |x|` seen.
    pub absmax: f32,
    /// The method's threshold (`amax`); 0 for a tensor without values.
    pub threshold: f32,
    /// Non-empty bins.
    pub occupied_bins: usize,
    /// Share of the values in bin 0.
    pub first_bin_share: f64,
    /// Share of the values in the bin holding `max |x|`.
    pub top_bin_share: f64,
    /// Share of the values above the threshold (clipped by INT8 quantization).
    pub clipped_share: f64,
    /// The rules it breaks; empty when healthy.
    pub problems: Vec<HealthProblem>,
}

impl TensorHealth {
    /// Checks `t`'s histogram against the rules of [`HealthProblem`] at `threshold`.
    pub fn of(t: &TensorStats, threshold: f32) -> Self {
        let h = &t.histogram;
        let counts = h.counts();
        let total = h.total();
        let share = |n: f64| if total == 0 { 0.0 } else { n / total as f64 };
        let absmax = t.stats.absmax;
        let top = if h.amax() > 0.0 {
            ((absmax as f64 * BINS as f64 / h.amax() as f64) as usize).min(BINS - 1)
        } else {
            0
        };
        let mut health = TensorHealth {
            tensor: t.name.clone(),
            values: total,
            absmax,
            threshold,
            occupied_bins: counts.iter().filter(|&&c| c > 0).count(),
            first_bin_share: share(counts[0] as f64),
            top_bin_share: share(counts[top] as f64),
            clipped_share: share(clipped(counts, h.bin_width(), threshold, absmax)),
            problems: Vec::new(),
        };
        let p = &mut health.problems;
        if total == 0 {
            p.push(HealthProblem::NoValues);
        } else if absmax == 0.0 {
            p.push(HealthProblem::AllZero);
        } else {
            if health.occupied_bins < MIN_OCCUPIED_BINS {
                p.push(HealthProblem::FewBins);
            }
            if health.first_bin_share >= FIRST_BIN_SHARE {
                p.push(HealthProblem::FirstBin);
            }
            if health.clipped_share > CLIPPED_SHARE {
                p.push(HealthProblem::Clipped);
            }
            if health.top_bin_share > TOP_BIN_SHARE {
                p.push(HealthProblem::TopBin);
            }
        }
        health
    }

    /// Breaks no rule.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Values above `threshold`, with the bin holding it counted for its part above.
fn clipped(counts: &[u64; BINS], width: f64, threshold: f32, absmax: f32) -> f64 {
    if threshold >= absmax || width == 0.0 {
        return 0.0;
    }
    let x = (threshold.max(0.0) as f64) / width;
    let k = x.floor() as usize;
    if k >= BINS {
        return 0.0;
    }
    let above: u64 = counts[k + 1..].iter().sum();
    above as f64 + counts[k] as f64 * (k as f64 + 1.0 - x)
}

/// The numbers of the rules, as they were applied (for JSON readers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HealthRules {
    /// [`MIN_OCCUPIED_BINS`].
    pub min_occupied_bins: usize,
    /// [`FIRST_BIN_SHARE`].
    pub first_bin_share: f64,
    /// [`CLIPPED_SHARE`].
    pub clipped_share: f64,
    /// [`TOP_BIN_SHARE`].
    pub top_bin_share: f64,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules {
            min_occupied_bins: MIN_OCCUPIED_BINS,
            first_bin_share: FIRST_BIN_SHARE,
            clipped_share: CLIPPED_SHARE,
            top_bin_share: TOP_BIN_SHARE,
        }
    }
}

/// Every tensor of a collection checked at its threshold by one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramHealth {
    /// The method whose thresholds were checked.
    pub method: Method,
    /// The rules' numbers.
    pub rules: HealthRules,
    /// Tensors checked.
    pub checked: usize,
    /// The tensors that break a rule, in the collection's order.
    pub unhealthy: Vec<TensorHealth>,
}

impl HistogramHealth {
    /// No tensor breaks a rule.
    pub fn is_healthy(&self) -> bool {
        self.unhealthy.is_empty()
    }
}

/// Checks every tensor of `collector` at its threshold by `method` (see [`HealthProblem`]).
/// A tensor without values is reported (`no_values`), not an error; fails only for a method
/// that cannot be computed at all (a percentile outside `(0, 100]`), or, in a two-pass
/// collection, when the fill pass has not filled the histograms.
pub fn histogram_health(collector: &Collector, method: Method) -> Result<HistogramHealth> {
    let mut unhealthy = Vec::new();
    for t in collector.tensors() {
        if t.histogram.total() == 0 && t.stats.count > 0 {
            return Err(Error::Empty {
                tensor: t.name.clone(),
            });
        }
        let threshold = match method.threshold(&t.name, &t.stats, &t.histogram) {
            Ok(amax) => amax,
            Err(Error::Empty { .. }) => 0.0,
            Err(e) => return Err(e),
        };
        let health = TensorHealth::of(t, threshold);
        if !health.is_healthy() {
            unhealthy.push(health);
        }
    }
    Ok(HistogramHealth {
        method,
        rules: HealthRules::default(),
        checked: collector.tensors().len(),
        unhealthy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Histogram, Stats};

    fn stats_of(counts: &[u64], amax: f32, absmax: f32) -> TensorStats {
        let h = Histogram::from_counts(counts, amax).unwrap();
        TensorStats {
            name: "t".into(),
            stats: Stats {
                min: -absmax,
                max: absmax,
                absmax,
                count: h.total(),
            },
            histogram: h,
        }
    }

    /// Width 1 (amax 2048): 50 values in bin 0, 40 in bin 10, 10 in bin 2047 (100 in all).
    /// Threshold 10.5: half of bin 10 (20) and bin 2047 (10) are above: 30%.
    /// Top bin = bin of max |x| = 2048 -> 2047: 10%. Bins 3 < 8. Bin 0: 50% < 99%.
    #[test]
    fn shares_by_hand() {
        let mut counts = vec![0u64; BINS];
        (counts[0], counts[10], counts[BINS - 1]) = (50, 40, 10);
        let t = stats_of(&counts, 2048.0, 2048.0);
        let h = TensorHealth::of(&t, 10.5);
        assert_eq!((h.values, h.occupied_bins), (100, 3));
        assert_eq!(
            (h.first_bin_share, h.top_bin_share, h.clipped_share),
            (0.5, 0.1, 0.3)
        );
        use HealthProblem::*;
        assert_eq!(h.problems, [FewBins, Clipped, TopBin]);
        // At max |x| nothing is clipped; inside bin 2047 (2047.5 of 2048), half of it is.
        assert_eq!(TensorHealth::of(&t, 2048.0).clipped_share, 0.0);
        assert_eq!(TensorHealth::of(&t, 2047.5).clipped_share, 0.05);
        // At 5.0 (inside the empty bin 5): bins 10 and 2047.
        assert_eq!(TensorHealth::of(&t, 5.0).clipped_share, 0.5);
        let d = Clipped.describe(&h);
        assert_eq!(
            d,
            "saturated: the threshold 10.5 clips 30.00% of the values (more than 1.00%)"
        );
        assert!(h.problems.iter().filter(|p| p.is_saturation()).count() == 2);
    }

    #[test]
    fn nearly_empty_rules() {
        // 995 of 1000 values in bin 0, one in each of 5 other bins: 6 bins, 99.5% in bin 0.
        let mut counts = vec![0u64; BINS];
        counts[0] = 995;
        for k in [100, 400, 800, 1600, 2047] {
            counts[k] = 1;
        }
        let t = stats_of(&counts, 1.0, 1.0);
        let h = TensorHealth::of(&t, 1.0);
        assert_eq!(h.first_bin_share, 0.995);
        use HealthProblem::*;
        assert_eq!(h.problems, [FewBins, FirstBin]);
        assert_eq!(
            FirstBin.describe(&h),
            "nearly empty: 99.50% of the values in the first bin (at least 99.00%)"
        );
        // Only zeros: one rule, nothing else checked.
        let mut zeros = vec![0u64; BINS];
        zeros[0] = 64;
        let h = TensorHealth::of(&stats_of(&zeros, 0.0, 0.0), 0.0);
        assert_eq!((h.problems.clone(), h.top_bin_share), (vec![AllZero], 1.0));
        // Nothing at all.
        let empty = stats_of(&vec![0; BINS], 0.0, 0.0);
        assert_eq!(TensorHealth::of(&empty, 0.0).problems, [NoValues]);
    }

    /// The collector on synthetic data, two passes:
    /// - `uniform`: 20 000 values evenly over [-1, 1]: healthy under MinMax, and 10% clipped by
    ///   the 90th percentile;
    /// - `relu6`: 7 000 values evenly over [0, 6) plus 3 000 at 6.0 exactly: 30% in the top bin;
    /// - `zeros`: all zero; `sparse`: 10 000 zeros and 50 ones.
    #[test]
    fn collector_by_method() {
        let uniform: Vec<f32> = (0..20_000).map(|i| i as f32 / 9_999.5 - 1.0).collect();
        let mut relu6: Vec<f32> = (0..7_000).map(|i| i as f32 * 6.0 / 7_000.0).collect();
        relu6.extend([6.0; 3_000]);
        let mut sparse = vec![0f32; 10_000];
        sparse.extend([1.0; 50]);
        let zeros = vec![0f32; 500];
        let data = [
            ("uniform", &uniform),
            ("relu6", &relu6),
            ("zeros", &zeros),
            ("sparse", &sparse),
        ];
        let mut c = Collector::two_pass();
        for (n, d) in data {
            c.add(n, d).unwrap();
        }
        assert!(histogram_health(&c, Method::MinMax).is_err(), "not filled");
        c.finish_range_pass();
        for (n, d) in data {
            c.add(n, d).unwrap();
        }
        use HealthProblem::*;
        let h = histogram_health(&c, Method::MinMax).unwrap();
        assert_eq!(h.checked, 4);
        let found: Vec<(&str, &[HealthProblem])> = h
            .unhealthy
            .iter()
            .map(|t| (t.tensor.as_str(), t.problems.as_slice()))
            .collect();
        // sparse: 2 bins, 99.5% zeros, 0.5% in the top bin (not more than 1%).
        assert_eq!(
            found,
            [
                ("relu6", &[TopBin][..]),
                ("zeros", &[AllZero][..]),
                ("sparse", &[FewBins, FirstBin][..])
            ]
        );
        assert!((h.unhealthy[0].top_bin_share - 0.3).abs() < 1e-3);
        let p90 = histogram_health(&c, Method::Percentile(90.0)).unwrap();
        let u = p90
            .unhealthy
            .iter()
            .find(|t| t.tensor == "uniform")
            .unwrap();
        assert_eq!(u.problems, [Clipped]);
        assert!((u.clipped_share - 0.1).abs() < 1e-3, "{}", u.clipped_share);
        assert!(!p90.is_healthy());
        assert!(histogram_health(&c, Method::Percentile(0.0)).is_err());
    }
}
