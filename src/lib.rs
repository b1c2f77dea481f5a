//! TensorRT from Rust: INT8 engines calibrated by Rust code, strict INT8 that is audited, and
//! engines you can rebuild reproducibly.
//!
//! | concept | type |
//! |---|---|
//! | load TensorRT (once per process, no link-time dependency) | [`tensorrt_sys::Library`] |
//! | TensorRT's log, forwarded to the `log` crate (target `tensorrt`) | [`Logger`] |
//! | ONNX in, network definition out; build a plan | [`Builder`], [`Network`] |
//! | what to build: precision policy, profiles, caches, tactics | [`BuildConfig`], [`Precision`] |
//! | calibration from Rust (every input filled by name) | [`Calibrator`], [`DataCalibrator`] |
//! | calibration tables on disk | [`TablePolicy`], `trt_calib_table` |
//! | our own calibration: activation statistics from an FP32 engine, thresholds, tables | [`collect_activations`], [`table_from_activations`], [`stats`] |
//! | strict INT8: force, build, audit | [`Precision::StrictInt8`], [`StrictReport`] |
//! | deserialize and run | [`Runtime`], [`Engine`], [`ExecutionContext`] |
//! | what the engine runs, per layer | [`EngineInspection`] |
//! | explicit quantization: a Q/DQ network, built INT8 with no calibrator | [`Quantization`] |
//! | two engines compared: precisions, latency, output agreement | [`compare`] |
//! | an engine evaluated against a reference on a data set (agreement, accuracy, time) | [`eval`] |
//! | calibration stability: other orders and batch sizes, tables compared, histogram health | [`stability`] |
//!
//! ```no_run
//! use trt::{BuildConfig, Builder, DataCalibrator, Precision, TablePolicy};
//! use trt_calib_data::Spec;
//!
//! # fn main() -> trt::Result<()> {
//! let builder = Builder::new()?;
//! let mut network = builder.network_from_onnx_file("model.onnx")?;
//! let data = Spec::from_toml_file("calib.toml")?.open()?;
//! let mut calibrator = DataCalibrator::new(data);
//! let config = BuildConfig::new(Precision::Int8)
//!     .with_calibration_table(TablePolicy::read_write("model.calib"));
//! let out = builder.build_calibrated(&mut network, &config, &mut calibrator)?;
//! std::fs::write("model.engine", &out.plan).unwrap();
//! # Ok(()) }
//! ```

#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod activations;
mod build;
mod calibrator;
mod config;
mod device;
mod engine;
mod error;
pub mod eval;
mod ffi;
mod handle;
mod inspector;
mod logger;
mod network;
mod panic;
pub mod strict;
mod tensor;

pub use activations::{collect_activations, table_from_activations, Activations, CollectOptions};
pub use build::{check_explicit_request, BuildOutput, Builder};
pub use calibrator::{
    vtable, CalibrationAlgorithm, CalibrationBatch, CalibrationInput, Calibrator, DataCalibrator,
    HostElement, Progress, TableMode, TablePolicy,
};
pub use config::{
    BuildConfig, BuildSettings, Fallback, HardwareCompatibility, LayerFilter, Precision, Profile,
    ProfileInput, ProfilingVerbosity, TacticChoice, TacticSources, Tactics,
};
pub use engine::{Bindings, Engine, ExecutionContext, IoMode, IoTensor, Runtime};
pub use error::{Error, Result};
pub use inspector::{format_precision, EngineInspection, EngineLayer};
pub use logger::{Logger, Severity};
pub use network::{DataType, LayerInfo, Network, Quantization, TensorInfo};
pub use strict::StrictReport;
pub use tensor::{dtype_name, HostTensor, HostTensorView, TensorElement};

pub use cudarc;
pub use half;
pub use tensorrt_sys as sys;
pub use trt_calib_data as data;
pub use trt_calib_stats as stats;
pub use trt_calib_table as table;

/// Atomically writes `bytes` to `path` (temporary file in the same directory, then rename).
pub fn write_atomic(path: impl AsRef<std::path::Path>, bytes: &[u8]) -> Result<()> {
    calibrator::write_atomic(path.as_ref(), bytes)
}

pub mod bundle;
pub mod compare;
pub mod report;
pub mod repro;
pub mod stability;
pub use report::{BuildReport, ReportDiff};

/// Renamed [`TablePolicy`]: it is the calibration table's policy (TensorRT's timing cache is
/// another thing).
#[deprecated(note = "renamed TablePolicy")]
pub type CachePolicy = TablePolicy;
/// Renamed [`TableMode`].
#[deprecated(note = "renamed TableMode")]
pub type CacheMode = TableMode;
/// Renamed [`EngineInspection`]: what the engine inspector says (the build report is
/// [`BuildReport`]).
#[deprecated(note = "renamed EngineInspection")]
pub type EngineReport = EngineInspection;
