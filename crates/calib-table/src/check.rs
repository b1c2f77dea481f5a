//! Can a given TensorRT use a table?

use std::fmt;

use crate::table::CalibrationTable;
use crate::TrtVersion;

/// Why TensorRT `target` cannot use a table. `Display` says why and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incompatibility {
    /// Version that wrote the table.
    pub table: TrtVersion,
    /// Version that was to use it.
    pub target: TrtVersion,
    /// The rule that fails.
    pub reason: IncompatibilityReason,
}

/// The rule a table breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncompatibilityReason {
    /// Tables are only valid for the major.minor that wrote them.
    VersionMismatch,
    /// TensorRT 11 removed implicit INT8 calibration: it reads no table at all.
    CalibrationRemoved,
}

/// First major without implicit INT8 calibration (no `IInt8Calibrator`, no `kINT8` flag).
pub const FIRST_MAJOR_WITHOUT_CALIBRATION: u32 = 11;

/// `Ok` when TensorRT `target` can build from `table`: same major.minor, and a TensorRT that
/// still has implicit INT8 calibration (10.x and earlier).
///
/// TensorRT itself does not report a rejected table: it silently recalibrates on whatever data
/// it has. Check before building.
pub fn check(table: &CalibrationTable, target: TrtVersion) -> Result<(), Incompatibility> {
    let reason = if target.major() >= FIRST_MAJOR_WITHOUT_CALIBRATION {
        IncompatibilityReason::CalibrationRemoved
    } else if !table.version.is_table_compatible(&target) {
        IncompatibilityReason::VersionMismatch
    } else {
        return Ok(());
    };
    Err(Incompatibility {
        table: table.version,
        target,
        reason,
    })
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target.major_minor();
        match self.reason {
            IncompatibilityReason::VersionMismatch => write!(
                f,
                "table was written by TensorRT {}; TensorRT {target} cannot use it: calibration \
                 tables are only valid for the same TensorRT major.minor (the optimized graph \
                 and tensor names change between versions). Recalibrate with {target}.",
                self.table
            ),
            IncompatibilityReason::CalibrationRemoved => write!(
                f,
                "table was written by TensorRT {}; TensorRT {target} cannot use it: TensorRT \
                 {FIRST_MAJOR_WITHOUT_CALIBRATION}.0 removed implicit INT8 calibration, so it \
                 reads no calibration table. Quantize the model explicitly (Q/DQ nodes) instead.",
                self.table
            ),
        }
    }
}

impl std::error::Error for Incompatibility {}
