//! Statistics and histograms of many tensors, keyed by name, batch after batch.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::histogram::Histogram;
use crate::method::Method;
use crate::stats::Stats;

/// How many times the calibration data goes through the [`Collector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passes {
    /// One pass: each histogram's range grows (doubles) with the data ([`crate::Range::Growing`]).
    One,
    /// Two passes over the same batches: the first measures each tensor's range, the second
    /// (after [`Collector::finish_range_pass`]) fills histograms over exactly `[0, absmax]`,
    /// so all 2048 bins are used.
    Two,
}

/// One tensor's record.
#[derive(Debug, Clone)]
pub struct TensorStats {
    /// The tensor's name.
    pub name: String,
    /// Running statistics (in a two-pass collection: of the range pass).
    pub stats: Stats,
    /// Its histogram of `|x|`.
    pub histogram: Histogram,
}

/// A tensor's chosen threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The tensor's name.
    pub tensor: String,
    /// The threshold: values are quantized over `[-amax, amax]`.
    pub amax: f32,
}

/// Statistics of every tensor, in the order the tensors were first added.
///
/// ```
/// use trt_calib_stats::{Collector, Method};
///
/// let mut c = Collector::two_pass();
/// let batches = [vec![0.5f32, -2.0, 1.0], vec![4.0, 0.0, -0.25]];
/// for b in &batches {
///     c.add("input", b)?; // range pass
/// }
/// c.finish_range_pass();
/// for b in &batches {
///     c.add("input", b)?; // fill pass
/// }
/// assert_eq!(c.get("input").unwrap().stats.absmax, 4.0);
/// assert_eq!(c.thresholds(Method::MinMax)?[0].amax, 4.0);
/// # Ok::<(), trt_calib_stats::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Collector {
    passes: Passes,
    filling: bool,
    tensors: Vec<TensorStats>,
    index: HashMap<String, usize>,
}

impl Collector {
    /// A collector that passes over the data once.
    pub fn one_pass() -> Self {
        Self::new(Passes::One)
    }

    /// A collector that passes over the data twice; call [`finish_range_pass`](Self::finish_range_pass)
    /// between the passes.
    pub fn two_pass() -> Self {
        Self::new(Passes::Two)
    }

    /// A collector for `passes`.
    pub fn new(passes: Passes) -> Self {
        Self {
            passes,
            filling: passes == Passes::One,
            tensors: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// One or two passes.
    pub fn passes(&self) -> Passes {
        self.passes
    }

    /// Adds one batch of a tensor's values. A batch with NaN or an infinity is refused and
    /// changes nothing.
    ///
    /// One pass: statistics and histogram. Two passes: the statistics in the range pass, the
    /// histogram in the fill pass, which refuses a tensor the range pass did not see.
    pub fn add(&mut self, tensor: &str, data: &[f32]) -> Result<()> {
        if self.passes == Passes::Two && self.filling {
            let i = *self.index.get(tensor).ok_or_else(|| Error::UnknownTensor {
                tensor: tensor.to_owned(),
            })?;
            return self.tensors[i].histogram.add(tensor, data);
        }
        let batch = Stats::of(tensor, data)?;
        let i = match self.index.get(tensor) {
            Some(&i) => i,
            None => {
                self.index.insert(tensor.to_owned(), self.tensors.len());
                self.tensors.push(TensorStats {
                    name: tensor.to_owned(),
                    stats: Stats::default(),
                    histogram: Histogram::growing(),
                });
                self.tensors.len() - 1
            }
        };
        let t = &mut self.tensors[i];
        if self.passes == Passes::One && !data.is_empty() {
            t.histogram.add_scanned(data, batch.absmax); // scanned once, by `Stats::of`
        }
        t.stats.merge(&batch);
        Ok(())
    }

    /// Ends the range pass of a two-pass collection: every tensor gets a histogram over
    /// `[0, absmax]`. Does nothing in a one-pass collection or when called again.
    pub fn finish_range_pass(&mut self) {
        if self.filling {
            return;
        }
        for t in &mut self.tensors {
            // absmax of finite values is finite and >= 0.
            t.histogram = Histogram::fixed(t.stats.absmax).unwrap_or_else(|_| Histogram::growing());
        }
        self.filling = true;
    }

    /// The record of `tensor`.
    pub fn get(&self, tensor: &str) -> Option<&TensorStats> {
        self.index.get(tensor).map(|&i| &self.tensors[i])
    }

    /// Every tensor's record, in the order they were first added.
    pub fn tensors(&self) -> &[TensorStats] {
        &self.tensors
    }

    /// Every tensor's threshold by `method`, in the order they were first added (tensors in
    /// parallel). Fails for a tensor without values, or, in a two-pass collection, when the
    /// method needs histograms and the fill pass has not filled them.
    pub fn thresholds(&self, method: Method) -> Result<Vec<Threshold>> {
        self.tensors
            .par_iter()
            .map(|t| {
                let amax = method.threshold(&t.name, &t.stats, &t.histogram)?;
                Ok(Threshold {
                    tensor: t.name.clone(),
                    amax,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_two_passes_agree_on_stats_and_keep_first_seen_order() {
        let batches: Vec<(&str, Vec<f32>)> = vec![
            ("b", vec![1.0, -3.0]),
            ("a", vec![0.5; 100]),
            ("b", vec![2.0, 7.0, -1.0]),
        ];
        let mut one = Collector::one_pass();
        let mut two = Collector::two_pass();
        for (name, data) in &batches {
            one.add(name, data).unwrap();
            two.add(name, data).unwrap();
        }
        two.finish_range_pass();
        for (name, data) in &batches {
            two.add(name, data).unwrap();
        }
        let names: Vec<&str> = one.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        for c in [&one, &two] {
            let b = c.get("b").unwrap();
            assert_eq!(
                (b.stats.min, b.stats.max, b.stats.absmax, b.stats.count),
                (-3.0, 7.0, 7.0, 5)
            );
            assert_eq!(b.histogram.total(), 5);
        }
        assert_eq!(two.get("b").unwrap().histogram.amax(), 7.0);
        assert_eq!(
            one.get("b").unwrap().histogram.amax(),
            3.0f32.next_up() * 4.0
        );
        let t = two.thresholds(Method::MinMax).unwrap();
        assert_eq!(
            t[0],
            Threshold {
                tensor: "b".into(),
                amax: 7.0
            }
        );
        assert_eq!(t[1].amax, 0.5);
        // 99% of b's |x| (1, 3, 2, 7, 1) lies below 7: the histogram's top bin, capped at absmax.
        assert_eq!(
            two.thresholds(Method::Percentile(100.0)).unwrap()[0].amax,
            7.0
        );
    }

    #[test]
    fn two_pass_refuses_unknown_tensors_and_empty_ones_have_no_threshold() {
        let mut c = Collector::two_pass();
        c.add("x", &[1.0]).unwrap();
        c.add("empty", &[]).unwrap();
        c.finish_range_pass();
        assert_eq!(
            c.add("y", &[1.0]).unwrap_err(),
            Error::UnknownTensor { tensor: "y".into() }
        );
        c.add("x", &[1.0]).unwrap();
        assert_eq!(
            c.thresholds(Method::Entropy).unwrap_err(),
            Error::Empty {
                tensor: "empty".into()
            }
        );
    }
}
