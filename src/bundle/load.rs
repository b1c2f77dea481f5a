//! What a TensorRT runtime really did with a bundle's engine: the manifest records it when the
//! bundle is made, and `verify` asks the target's runtime before the engine is used.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::Runtime;
use tensorrt_sys::TrtVersion;

/// One attempt to deserialize an engine: which runtime, and what TensorRT answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeLoad {
    /// The runtime library's version.
    pub tensorrt: TrtVersion,
    /// It was a lean runtime (`libnvinfer_lean.so.N`), not the full library.
    #[serde(default)]
    pub lean: bool,
    /// TensorRT deserialized the engine.
    pub loaded: bool,
    /// TensorRT's words (and ours) when it refused; `None` when it loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl std::fmt::Display for RuntimeLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.lean { " lean runtime" } else { "" };
        match (&self.error, self.loaded) {
            (_, true) => write!(f, "TensorRT {}{kind} loaded the engine", self.tensorrt),
            (Some(e), false) => write!(
                f,
                "TensorRT {}{kind} refused the engine: {e}",
                self.tensorrt
            ),
            (None, false) => write!(f, "TensorRT {}{kind} refused the engine", self.tensorrt),
        }
    }
}

/// Deserializes the plan in `engine` on `runtime` and says what TensorRT answered; the engine
/// is dropped at once. A version-compatible plan carries host code (its lean runtime) that
/// TensorRT runs only when allowed: `version_compatible` allows it, for a bundle whose files
/// were checked against the manifest first. An unreadable file is a refusal with the reason.
pub fn try_load(engine: &Path, runtime: &Runtime, version_compatible: bool) -> RuntimeLoad {
    let lib = runtime.library();
    let result = if version_compatible {
        runtime.allow_engine_host_code(true)
    } else {
        Ok(())
    }
    .and_then(|()| runtime.load(engine));
    RuntimeLoad {
        tensorrt: lib.version(),
        lean: lib.is_lean(),
        loaded: result.is_ok(),
        error: result.err().map(|e| e.to_string()),
    }
}
