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
        /// The shim's status code (`sys::TRT_ERR_*`): 1 a null argument, 2 TensorRT returned
        /// failure or null, 3 a C++ exception was caught, 4 an index out of range, 5 not
        /// available in the TensorRT headers the shim was built against.
        code: i32,
        /// The shim's message for the failing call (its thread-local last error).
        message: String,
        /// Up to the last four errors the builder's or runtime's logger kept, joined by "; "
        /// (they may predate this call). `None` when the error did not pass through a logger
        /// or it had kept no error.
        log: Option<String>,
    },

    /// The ONNX parser rejected the model; one line per parser error.
    #[error("ONNX model {model} rejected:\n{}", errors.join("\n"))]
    Onnx {
        /// The model's path, or the label given with its bytes.
        model: String,
        /// One line per parser error, indented (`  node 12: ... (parser error code 8)`); a
        /// single placeholder line when the parser gave none.
        errors: Vec<String>,
    },

    /// A CUDA driver call failed.
    #[error("CUDA: {0}")]
    Cuda(#[from] cudarc::driver::DriverError),

    /// A tensor's name is not one the network/engine has.
    #[error("unknown tensor `{name}`; the {what} has: {}", known.join(", "))]
    UnknownTensor {
        /// The name that was asked for.
        name: String,
        /// What was searched, for the message: `engine`, `network`, `network's input list`, ...
        what: &'static str,
        /// The names that exist there (empty when the search does not list them).
        known: Vec<String>,
    },

    /// A shape or element-type mismatch.
    #[error("tensor `{name}`: {message}")]
    Shape {
        /// The tensor (input, output or binding) whose shape or type is wrong.
        name: String,
        /// What does not match, with both sides (`host data has 3 elements, the network input
        /// [1, 4] needs 4`).
        message: String,
    },

    /// Calibration went wrong (the calibrator's own error, a panic in it, a rejected table...).
    #[error("calibration: {0}")]
    Calibration(String),

    /// A forced-INT8 layer did not run in INT8 (strict mode).
    #[error("strict INT8: {} forced layer(s) did not run in INT8: {}", violations.len(), violations.join("; "))]
    StrictInt8 {
        /// One line per violation: the network layer, the precision it ran, its engine layer
        /// (a [`Violation`](crate::strict::Violation) rendered).
        violations: Vec<String>,
    },

    /// Invalid configuration or argument.
    #[error("{0}")]
    Invalid(String),

    /// File I/O, with the path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// A calibration table that cannot be read or used.
    #[error(transparent)]
    Table(#[from] trt_calib_table::TableError),

    /// Calibration data that cannot be read.
    #[error(transparent)]
    Data(#[from] trt_calib_data::Error),

    /// Activation statistics or thresholds that cannot be computed (non-finite activations,
    /// a tensor without values, a percentile out of range).
    #[error(transparent)]
    Stats(#[from] trt_calib_stats::Error),
}

impl Error {
    /// TensorRT failed because it could not load cuBLAS or cuDNN, which its default tactic
    /// sources include: the build fails deep inside TensorRT ("SymbolAddress for cublasCreate_v2
    /// could not be loaded") on machines without them. Building with only TensorRT's own tactics
    /// (`TacticSources::tensorrt_only`) avoids them.
    pub fn missing_tactic_library(&self) -> bool {
        self.tensorrt_says(|t| {
            let t = t.to_lowercase();
            t.contains("cublas") || t.contains("cudnn")
        })
    }

    /// TensorRT could not load its lean runtime (`libnvinfer_lean.so.N`): a version-compatible
    /// build embeds it in the plan, and some TensorRT packages do not ship it (the 8.6.0 wheel:
    /// "Unable to load library: libnvinfer_lean.so.8.6.0"). Excluding the lean runtime from the
    /// plan (`BuildConfig::with_exclude_lean_runtime`) avoids it.
    pub fn missing_lean_runtime(&self) -> bool {
        self.tensorrt_says(|t| t.contains("libnvinfer_lean"))
    }

    /// A TensorRT failure whose message or logged errors match `test`.
    fn tensorrt_says(&self, test: impl Fn(&str) -> bool) -> bool {
        let Error::TensorRt { message, log, .. } = self else {
            return false;
        };
        test(message) || log.as_deref().is_some_and(test)
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cublas_is_recognized_other_errors_are_not() {
        // The message TensorRT 8.5.3 logged on a machine without cuBLAS (the GPU test machine).
        let e = Error::TensorRt {
            code: 2,
            message: "buildSerializedNetwork failed".into(),
            log: Some("3: [libLoader.h::symbolAddress::92] Error Code 3: Internal Error (SymbolAddress for cublasCreate_v2 could not be loaded, check function name against library symbol)".into()),
        };
        assert!(e.missing_tactic_library());
        assert!(
            !Error::Invalid("no cublas here, but not from TensorRT".into())
                .missing_tactic_library()
        );
        let other = Error::TensorRt {
            code: 2,
            message: "out of memory".into(),
            log: None,
        };
        assert!(!other.missing_tactic_library());
    }
}
