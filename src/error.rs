//! One error type for the whole safe API, with a variant per origin.

use std::path::PathBuf;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, by origin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading TensorRT's libraries (which path, which symbol, which version).
    #[error(transparent)]
    Load(#[from] tensorrt_sys::LoadError),

    /// A TensorRT call failed. `log` holds the last errors TensorRT logged before it, when any.
    #[error("TensorRT: {message}{}", log.as_deref().map(|l| format!(" (TensorRT said: {l})")).unwrap_or_default())]
    TensorRt {
        code: i32,
        message: String,
        log: Option<String>,
    },

    /// The ONNX parser rejected the model; one line per parser error.
    #[error("ONNX model {model} rejected:\n{}", errors.join("\n"))]
    Onnx { model: String, errors: Vec<String> },

    /// A CUDA driver call failed.
    #[error("CUDA: {0}")]
    Cuda(#[from] cudarc::driver::DriverError),

    /// A tensor's name is not one the network/engine has.
    #[error("unknown tensor `{name}`; the {what} has: {}", known.join(", "))]
    UnknownTensor {
        name: String,
        what: &'static str,
        known: Vec<String>,
    },

    /// A shape or element-type mismatch.
    #[error("tensor `{name}`: {message}")]
    Shape { name: String, message: String },

    /// Calibration went wrong (the calibrator's own error, a panic in it, a rejected table...).
    #[error("calibration: {0}")]
    Calibration(String),

    /// A forced-INT8 layer did not run in INT8 (strict mode).
    #[error("strict INT8: {} forced layer(s) did not run in INT8: {}", violations.len(), violations.join("; "))]
    StrictInt8 { violations: Vec<String> },

    /// Invalid configuration or argument.
    #[error("{0}")]
    Invalid(String),

    /// File I/O, with the path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A calibration table that cannot be read or used.
    #[error(transparent)]
    Table(#[from] trt_calib_table::TableError),

    /// Calibration data that cannot be read.
    #[error(transparent)]
    Data(#[from] trt_calib_data::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
