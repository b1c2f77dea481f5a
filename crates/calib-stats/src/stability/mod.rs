//! Calibration you can trust: does the table stay the same when the calibration is repeated
//! with the samples in another order or in other batch sizes, and are the histograms behind it
//! usable?
//!
//! | concept | type | what it is |
//! | --- | --- | --- |
//! | table stability | [`TableStability`] | per tensor the largest `|s_v / s_ref - 1|` over K variants' tables, worst first |
//! | histogram health | [`HistogramHealth`], [`TensorHealth`] | nearly empty or saturated histograms at a method's thresholds; rules in [`HealthProblem`] |
//! | report | [`StabilityReport`] | both, serializable, with a verdict ([`StabilityReport::is_stable`]) |
//!
//! Running the variants (the calibrations themselves) is the `trt` crate's part
//! (`trt::stability`); this module only compares their results.
//!
//! ```
//! use trt_calib_stats::stability::{histogram_health, StabilityReport, TableStability, MOVE_THRESHOLD};
//! use trt_calib_stats::{to_table, Collector, Method};
//!
//! let method = Method::MinMax;
//! let version = "10.16".parse()?;
//! let table_of = |data: &[f32]| -> Result<_, trt_calib_stats::Error> {
//!     let mut c = Collector::one_pass();
//!     c.add("x", data)?;
//!     Ok((to_table(&c.thresholds(method)?, version, method.table_algorithm()), c))
//! };
//! let (reference, collector) = table_of(&[0.5, -2.0, 1.0])?;
//! let (same, _) = table_of(&[1.0, 0.5, -2.0])?; // another order: MinMax does not care
//! let report = StabilityReport {
//!     calibration: format!("{method}"),
//!     reference: "file order, batch 3".into(),
//!     tables: TableStability::compare(&reference, [("order seed 1, batch 3", &same)], MOVE_THRESHOLD),
//!     histograms: Some(histogram_health(&collector, method)?),
//! };
//! assert!(report.is_stable());
//! assert_eq!(report.tables.max_move, 0.0);
//! // Three values are three non-empty bins of 2048: a nearly empty histogram.
//! assert!(!report.is_healthy());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod health;
mod tables;

pub use health::{
    histogram_health, HealthProblem, HealthRules, HistogramHealth, TensorHealth, CLIPPED_SHARE,
    FIRST_BIN_SHARE, MIN_OCCUPIED_BINS, TOP_BIN_SHARE,
};
pub use tables::{TableStability, TensorMove, VariantMoves, MOVE_THRESHOLD};

use serde::Serialize;

/// A calibration repeated with K variants: how its table moved, and (when the calibration's
/// histograms are at hand, i.e. for our own methods) the health of the reference's histograms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StabilityReport {
    /// What calibrated, e.g. `percentile=99.99` or `TensorRT EntropyCalibration2`.
    pub calibration: String,
    /// What the reference calibration was, e.g. `file order, batch 8`.
    pub reference: String,
    /// The reference table against the variants' tables.
    pub tables: TableStability,
    /// The reference's histograms at its thresholds; `None` when the calibrator exposes no
    /// histograms (TensorRT's).
    pub histograms: Option<HistogramHealth>,
}

impl StabilityReport {
    /// The verdict: no tensor's scale moves above the threshold in any variant, and every
    /// variant's table has the same tensors as the reference. Histogram health is not part of it
    /// (see [`is_healthy`](Self::is_healthy)).
    pub fn is_stable(&self) -> bool {
        self.tables.is_stable()
    }

    /// No histogram breaks a rule of [`HealthProblem`] (true when there are no histograms).
    pub fn is_healthy(&self) -> bool {
        self.histograms
            .as_ref()
            .is_none_or(HistogramHealth::is_healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{to_table, Collector, Method};

    /// Percentile thresholds of a two-pass collection do not depend on the batches' order or
    /// size; a one-pass collection's growing range can (its bins merge as the range doubles),
    /// but on this data (the range is reached by the first batch) it does not either.
    #[test]
    fn two_pass_percentile_tables_are_order_and_batch_invariant() {
        let values: Vec<f32> = (0..4_096)
            .map(|i| ((i * 7_919) % 4_096) as f32 / 512.0 - 4.0)
            .collect();
        let method = Method::Percentile(99.0);
        let table = |order: &[usize], batch: usize| {
            let mut c = Collector::two_pass();
            let samples: Vec<f32> = order.iter().map(|&i| values[i]).collect();
            for _ in 0..2 {
                for b in samples.chunks(batch) {
                    c.add("x", b).unwrap();
                }
                c.finish_range_pass();
            }
            let t = c.thresholds(method).unwrap();
            (
                to_table(&t, "10.16".parse().unwrap(), method.table_algorithm()),
                c,
            )
        };
        let identity: Vec<usize> = (0..values.len()).collect();
        let reversed: Vec<usize> = identity.iter().rev().copied().collect();
        let (reference, collector) = table(&identity, 64);
        let (v1, _) = table(&reversed, 64);
        let (v2, _) = table(&reversed, 32);
        let (v3, _) = table(&identity, 128);
        let tables = TableStability::compare(
            &reference,
            [
                ("reversed, batch 64", &v1),
                ("reversed, batch 32", &v2),
                ("batch 128", &v3),
            ],
            MOVE_THRESHOLD,
        );
        assert_eq!(tables.max_move, 0.0, "{tables:?}");
        let report = StabilityReport {
            calibration: method.to_string(),
            reference: "file order, batch 64".into(),
            tables,
            histograms: Some(histogram_health(&collector, method).unwrap()),
        };
        assert!(report.is_stable());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["tables"]["variants"].as_array().unwrap().len(), 3);
        assert_eq!(json["histograms"]["rules"]["min_occupied_bins"], 8);
        assert_eq!(json["calibration"], "percentile=99");
    }
}
