//! The histogram of `|x|` every threshold except MinMax is chosen from.

use crate::error::{Error, Result};
use crate::stats::scan;

/// Bins of every histogram: 2048 over `[0, amax]`, as TensorRT's entropy calibrator and
/// pytorch-quantization's `HistogramCalibrator` use.
pub const BINS: usize = 2048;

/// Values whose bins are computed together (a loop the compiler vectorizes) before they are
/// counted. Counting into several sub-histograms was measured slower on the 2-core test machine
/// (`benches/histogram.rs`), so there is one set of counts.
const BLOCK: usize = 64;

/// How the range of a [`Histogram`] is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Fixed at construction (the range pass of a two-pass collection found it). Values above it
    /// are counted in the last bin.
    Fixed,
    /// Starts just above the first non-zero batch's `max |x|` (the next `f32`) and doubles,
    /// merging bins pairwise, whenever a batch reaches it. Every value counted is below the range
    /// of its time, so doubling is exact: each value ends in the bin it would have had if the
    /// final range had been known from the start.
    Growing,
}

/// A histogram of `|x|`: [`BINS`] bins of equal width over `[0, amax]`.
///
/// Value `x` goes into bin `floor(|x| * BINS / amax)` (computed in `f64`): bin `k` covers
/// `[k, k + 1) * amax / BINS` and zeros are in bin 0. A [`Range::Fixed`] histogram counts
/// `|x| >= amax` in the last bin (`np.histogram` and `torch.histc` also close the last bin).
///
/// ```
/// use trt_calib_stats::{Histogram, BINS};
///
/// let mut h = Histogram::fixed(4.0)?;
/// h.add("t", &[0.5, -1.0, 3.999, 4.0])?;
/// assert_eq!(h.counts()[256], 1); // 0.5 / (4.0 / 2048)
/// assert_eq!(h.counts()[512], 1);
/// assert_eq!(h.counts()[BINS - 1], 2); // 3.999 and the closed upper edge
///
/// let mut g = Histogram::growing();
/// g.add("t", &[0.5, -1.0])?; // range: the next f32 above 1.0
/// g.add("t", &[3.0])?; // doubled twice, bins merged pairwise
/// assert_eq!(g.amax(), 1.0f32.next_up() * 4.0);
/// assert_eq!(g.total(), 3);
/// # Ok::<(), trt_calib_stats::Error>(())
/// ```
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BINS]>,
    amax: f32,
    range: Range,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("amax", &self.amax)
            .field("range", &self.range)
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

impl Histogram {
    fn with(amax: f32, range: Range) -> Self {
        Self {
            counts: Box::new([0; BINS]),
            amax,
            range,
        }
    }

    /// A histogram over `[0, amax]` (the second pass of a two-pass collection).
    ///
    /// `amax` must be finite and `>= 0`; with `0`, every value is counted in bin 0.
    pub fn fixed(amax: f32) -> Result<Self> {
        if !(amax.is_finite() && amax >= 0.0) {
            return Err(Error::BadHistogram {
                expected: BINS,
                got: BINS,
                amax,
            });
        }
        Ok(Self::with(amax, Range::Fixed))
    }

    /// A histogram whose range grows with the data (a one-pass collection).
    pub fn growing() -> Self {
        Self::with(0.0, Range::Growing)
    }

    /// A histogram with given counts over `[0, amax]` (e.g. one computed elsewhere), fixed range.
    pub fn from_counts(counts: &[u64], amax: f32) -> Result<Self> {
        let mut h = Self::fixed(amax).map_err(|_| Error::BadHistogram {
            expected: BINS,
            got: counts.len(),
            amax,
        })?;
        if counts.len() != BINS {
            return Err(Error::BadHistogram {
                expected: BINS,
                got: counts.len(),
                amax,
            });
        }
        h.counts.copy_from_slice(counts);
        Ok(h)
    }

    /// The counts, bin 0 first.
    pub fn counts(&self) -> &[u64; BINS] {
        &self.counts
    }

    /// The upper edge of the last bin.
    pub fn amax(&self) -> f32 {
        self.amax
    }

    /// Fixed or growing.
    pub fn range(&self) -> Range {
        self.range
    }

    /// Bin width, `amax / BINS`.
    pub fn bin_width(&self) -> f64 {
        self.amax as f64 / BINS as f64
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Counts `|x|` of every value of a batch. Fails, counting nothing, if the batch holds NaN or
    /// an infinity (`tensor` names it in the error). Allocates nothing.
    pub fn add(&mut self, tensor: &str, data: &[f32]) -> Result<()> {
        let (min, max) = scan(tensor, data)?;
        if !data.is_empty() {
            self.add_scanned(data, (-min).max(max));
        }
        Ok(())
    }

    /// [`add`](Self::add) for a non-empty batch already scanned: finite, with this `max |x|`.
    pub(crate) fn add_scanned(&mut self, data: &[f32], absmax: f32) {
        if self.range == Range::Growing && absmax >= self.amax && absmax > 0.0 {
            if self.amax == 0.0 {
                // Only zeros so far: they are in bin 0 whatever the range.
                self.amax = absmax.next_up();
            } else {
                while absmax >= self.amax {
                    self.double();
                }
            }
        }
        self.fill(data);
    }

    /// Doubles the range: bins `2k` and `2k + 1` become bin `k`.
    fn double(&mut self) {
        for k in 0..BINS / 2 {
            self.counts[k] = self.counts[2 * k] + self.counts[2 * k + 1];
        }
        self.counts[BINS / 2..].fill(0);
        self.amax *= 2.0;
    }

    fn fill(&mut self, data: &[f32]) {
        if self.amax == 0.0 {
            self.counts[0] += data.len() as u64;
            return;
        }
        // BINS / amax is exactly half of the previous scale after a doubling, so values keep
        // their (merged) bins; in f64, `|x| < amax` never rounds up into bin BINS.
        let scale = BINS as f64 / self.amax as f64;
        let counts = &mut *self.counts;
        let mut chunks = data.chunks_exact(BLOCK);
        let mut idx = [0u32; BLOCK];
        for c in &mut chunks {
            for (i, &v) in idx.iter_mut().zip(c) {
                *i = bin_of_finite(v, scale);
            }
            for &i in &idx {
                counts[i as usize % BINS] += 1;
            }
        }
        for &v in chunks.remainder() {
            counts[bin(v, scale)] += 1;
        }
    }
}

/// The bin of a finite value (no NaN: `scan` refused those), computed without branches.
#[inline(always)]
fn bin_of_finite(v: f32, scale: f64) -> u32 {
    (v.abs() as f64 * scale).min((BINS - 1) as f64) as u32
}

#[inline(always)]
fn bin(v: f32, scale: f64) -> usize {
    // `as` saturates: huge products land in the last bin.
    ((v.abs() as f64 * scale) as usize).min(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values spread over [-amax, amax] with many repeats.
    fn data(n: usize, amax: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = ((i * 7919) % 1000) as f32 / 999.0;
                if i % 2 == 0 {
                    t * amax
                } else {
                    -t * amax
                }
            })
            .collect()
    }

    #[test]
    fn values_land_in_floor_of_x_over_width() {
        let mut h = Histogram::fixed(2048.0).unwrap();
        h.add("t", &[0.0, 0.99, -1.0, 5.5, 2047.9, 2048.0, 9999.0])
            .unwrap();
        let c = h.counts();
        assert_eq!((c[0], c[1], c[5], c[BINS - 1]), (2, 1, 1, 3));
        assert_eq!(h.total(), 7);
    }

    #[test]
    fn large_and_small_batches_count_the_same() {
        let big = data(100_003, 3.0);
        let mut one = Histogram::fixed(3.0).unwrap();
        one.add("t", &big).unwrap();
        let mut many = Histogram::fixed(3.0).unwrap();
        for c in big.chunks(1000) {
            many.add("t", c).unwrap();
        }
        assert_eq!(one.counts(), many.counts());
        assert_eq!(one.total(), 100_003);
    }

    #[test]
    fn growing_equals_fixed_at_the_final_range() {
        // Batches of growing range 1, 1.5, 7.9: the range doubles 1+ -> 2+ -> 8+, and values equal
        // to an earlier range (1.0, 2.0) must land in the bins the final range gives them.
        let batches = [
            data(10_000, 1.0),
            data(50, 1.5),
            vec![1.0, 2.0, -2.0],
            data(20_000, 7.9),
        ];
        let mut grow = Histogram::growing();
        grow.add("t", &[0.0; 10]).unwrap(); // zeros before any range
        for b in &batches {
            grow.add("t", b).unwrap();
        }
        assert_eq!(grow.amax(), 1.0f32.next_up() * 8.0);
        let mut fixed = Histogram::fixed(grow.amax()).unwrap();
        fixed.add("t", &[0.0; 10]).unwrap();
        for b in &batches {
            fixed.add("t", b).unwrap();
        }
        assert_eq!(grow.counts(), fixed.counts());
        assert_eq!(grow.total(), 30_063);
        assert_eq!(grow.counts()[BINS / 8 - 1], fixed.counts()[BINS / 8 - 1]);
    }

    #[test]
    fn a_bad_batch_counts_nothing() {
        let mut h = Histogram::growing();
        h.add("t", &[1.0, 2.0]).unwrap();
        let before = *h.counts();
        assert!(h.add("t", &[100.0, f32::NAN]).is_err());
        assert_eq!((h.amax(), *h.counts()), (2.0f32.next_up(), before));
        assert!(Histogram::fixed(f32::NAN).is_err());
        assert!(Histogram::from_counts(&[0; 10], 1.0).is_err());
    }
}
