//! INT8 calibration driven by Rust code.
//!
//! TensorRT calls `getBatch(bindings, names, n)` on a C++ `IInt8EntropyCalibrator2` (or MinMax)
//! object; the shim forwards it to the bridge (`bridge.rs`), which hands the user's
//! [`Calibrator`] one device buffer per network input (matched by **name**, never by
//! position), then writes those buffers' addresses into `bindings` in the order of TensorRT's
//! `names`.
//!
//! Errors and panics in the Rust side never cross the FFI boundary: they make getBatch return
//! false, are stored, and come back as `Err` from the build once TensorRT returns.
//!
//! | file | what |
//! |---|---|
//! | `api.rs` | the [`Calibrator`] trait, [`CalibrationBatch`] (what it fills), inputs, algorithms |
//! | `data.rs` | [`DataCalibrator`]: a calib-data pipeline as a calibrator |
//! | `bridge.rs` | what TensorRT calls: the session behind the C++ calibrator object |
//! | `table_file.rs` | the calibration table file: [`TablePolicy`], written only after a good build |
//! | `vtable.rs` | a test harness calling the C++ object through its vtable, as TensorRT does |

mod api;
mod bridge;
mod data;
mod table_file;
#[doc(hidden)]
pub mod vtable;

pub use api::{CalibrationAlgorithm, CalibrationBatch, CalibrationInput, Calibrator, HostElement};
pub(crate) use bridge::{BoundCalibrator, SessionSpec};
pub(crate) use data::{check_source, data_dtype};
pub use data::{DataCalibrator, Progress};
pub(crate) use table_file::{save_table, write_atomic};
pub use table_file::{TableMode, TablePolicy};
