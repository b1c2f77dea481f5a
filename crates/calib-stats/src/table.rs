//! Thresholds to a TensorRT calibration table.

use trt_calib_table::{Algorithm, CalibrationTable, Entry, TrtVersion, INT8_MAX};

use crate::collector::Threshold;

/// A TensorRT calibration table of `thresholds`: `scale = amax / 127` per tensor, in the given
/// order, headed `TRT-<version>-<algorithm>` (e.g. `TRT-8503-EntropyCalibration2`).
///
/// Use [`crate::Method::table_algorithm`] for the header of a method; write the table with
/// [`CalibrationTable::write_atomic`]. A zero threshold gives scale 0, as TensorRT writes for
/// tensors it did not calibrate.
///
/// ```
/// use trt_calib_stats::{to_table, Method, Threshold};
///
/// let t = vec![Threshold { tensor: "input".into(), amax: 2.54 }];
/// let table = to_table(&t, "8.5.3".parse()?, Method::Entropy.table_algorithm());
/// assert_eq!(table.header(), "TRT-8503-EntropyCalibration2");
/// assert_eq!(table.get("input").unwrap().scale, 2.54 / 127.0);
/// # Ok::<(), trt_calib_table::VersionError>(())
/// ```
pub fn to_table(
    thresholds: &[Threshold],
    version: TrtVersion,
    algorithm: Algorithm,
) -> CalibrationTable {
    let mut table = CalibrationTable::new(version, algorithm);
    table.entries = thresholds
        .iter()
        .map(|t| Entry::new(t.tensor.clone(), t.amax / INT8_MAX))
        .collect();
    table
}
