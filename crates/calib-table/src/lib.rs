//! TensorRT INT8 calibration tables (calibration caches) as first-class files.
//!
//! | concept | type | what it is |
//! | --- | --- | --- |
//! | table | [`CalibrationTable`] | header `TRT-<version>-<algorithm>`, then `tensor name: hex` lines |
//! | entry | [`Entry`] | a tensor and its float32 scale; [`Entry::dynamic_range`] = scale x 127 |
//! | version | [`TrtVersion`] | who wrote the table: `8503` = 8.5.3, `100300` = 10.3.0 |
//! | algorithm | [`Algorithm`] | `EntropyCalibration2`, `MinMaxCalibration`, ... |
//! | compatibility | [`check`] | tables only work for the TensorRT major.minor that wrote them |
//! | comparison | [`diff`] | tensors added, removed, and ranges changed between two tables |
//!
//! TensorRT silently recalibrates when it rejects a table, so a table written by another
//! version does not fail a build: it just is not used. [`check`] says so before you build.
//!
//! ```
//! use trt_calib_table::{check, CalibrationTable, TrtVersion};
//!
//! let table = CalibrationTable::parse(b"TRT-8503-EntropyCalibration2\ninput: 3c55b689\n")?;
//! let input = table.get("input").unwrap();
//! assert_eq!(input.scale, f32::from_bits(0x3c55b689)); // 0.013044...
//! assert_eq!(input.dynamic_range(), input.scale * 127.0);
//!
//! assert!(check(&table, "8.5.2".parse()?).is_ok()); // same major.minor
//! let err = check(&table, "10.3".parse()?).unwrap_err();
//! assert!(err.to_string().contains("Recalibrate with 10.3."));
//!
//! assert_eq!(table.to_bytes(), b"TRT-8503-EntropyCalibration2\ninput: 3c55b689\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod algorithm;
mod check;
mod diff;
mod error;
mod table;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use check::{check, Incompatibility, IncompatibilityReason, FIRST_MAJOR_WITHOUT_CALIBRATION};
pub use diff::{diff, Changed, RangeChange, TableDiff};
pub use error::{ParseError, ParseErrorKind, TableError};
pub use table::{write_atomic, CalibrationTable, Entry, INT8_MAX};
// The one TensorRT version type of all the `trt` crates lives in `trt-version`.
pub use trt_version::{TrtVersion, VersionError};
