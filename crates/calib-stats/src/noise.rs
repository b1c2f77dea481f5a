//! How much noise INT8 adds to a tensor: the signal-to-quantization-noise ratio of quantizing
//! its values (as a histogram of `|x|`) symmetrically over `[-amax, amax]` in 255 levels.
//!
//! Each bin's values are taken at the bin centre `c`: within the range the error is the
//! rounding error `c - s * round(c / s)` with `s = amax / 127` (exact zeros, ReLU's, cost
//! nothing), beyond it the clipping error `c - amax`. What the accuracy-budget search ranks
//! layers by: a layer whose input loses most to quantization is the first kept out of INT8.
//!
//! ```
//! use trt_calib_stats::{noise::sqnr_db, Histogram};
//!
//! // 1000 values at 1.0 in a histogram over [0, 2]: amax 2 puts 1.0 near a level
//! // (127 * 0.5 = 63.5 levels: a half-step error), amax 1.0 exactly on one.
//! let mut counts = vec![0u64; 2048];
//! counts[1024] = 1000;
//! let h = Histogram::from_counts(&counts, 2.0)?;
//! let coarse = sqnr_db(&h, 2.0).unwrap();
//! let fine = sqnr_db(&h, 1.0).unwrap();
//! assert!(fine > coarse);
//! // Clipping at 0.5 loses half the signal: 10 log10(1 / 0.25) = 6 dB.
//! assert!((sqnr_db(&h, 0.5).unwrap() - 6.02).abs() < 0.05);
//! # Ok::<(), trt_calib_stats::Error>(())
//! ```

use crate::histogram::Histogram;

/// The SQNR in dB of `h`'s values quantized with threshold `amax`; `None` when there is no
/// signal (every value zero, or no values) or no noise (infinite SQNR), or `amax` is not a
/// positive number.
pub fn sqnr_db(h: &Histogram, amax: f32) -> Option<f64> {
    if !(amax.is_finite() && amax > 0.0) {
        return None;
    }
    let (amax, width) = (f64::from(amax), h.bin_width());
    let step = amax / 127.0;
    let (mut signal, mut noise) = (0f64, 0f64);
    for (i, &n) in h.counts().iter().enumerate().filter(|(_, &n)| n > 0) {
        let c = (i as f64 + 0.5) * width;
        let e = if c > amax {
            c - amax
        } else {
            c - step * (c / step).round()
        };
        signal += n as f64 * c * c;
        noise += n as f64 * e * e;
    }
    (signal > 0.0 && noise > 0.0).then(|| 10.0 * (signal / noise).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_noise_of_a_uniform_tensor_is_about_6_db_per_bit() {
        // |x| uniform over [0, 1], quantized over [-1, 1]: noise s^2/12 with s = 1/127,
        // signal 1/3, so SQNR = 10 log10(4 * 127^2) = 48.1 dB.
        let h = Histogram::from_counts(&[1000u64; 2048], 1.0).unwrap();
        let db = sqnr_db(&h, 1.0).unwrap();
        assert!((db - 48.1).abs() < 0.3, "{db}");
        // Twice the range: twice the step, 6 dB less.
        let wide = sqnr_db(&h, 2.0).unwrap();
        assert!((db - wide - 6.02).abs() < 0.3, "{db} {wide}");
        // No values, or a useless threshold: no number.
        let empty = Histogram::from_counts(&[0u64; 2048], 1.0).unwrap();
        assert_eq!(sqnr_db(&empty, 1.0), None);
        assert_eq!(sqnr_db(&h, 0.0), None);
        assert_eq!(sqnr_db(&h, f32::NAN), None);
    }
}
