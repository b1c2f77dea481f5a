//! What a build returns.

use std::time::Duration;

use crate::config::TacticChoice;
use crate::network::Quantization;
use crate::strict::rules::StrictReport;

/// The result of a build.
#[derive(Debug)]
pub struct BuildOutput {
    /// The serialized engine.
    pub plan: Vec<u8>,
    /// The timing cache after the build, to feed the next build (`None` when TensorRT's layer
    /// timing cache was off, as while replaying tactics: there is nothing new to keep).
    pub timing_cache: Option<Vec<u8>>,
    /// The calibration table TensorRT wrote, when it calibrated.
    pub calibration_table: Option<Vec<u8>>,
    /// Calibration batches consumed (0 when a table was used).
    pub calibration_batches: usize,
    /// How many times TensorRT asked for a batch (0 when the table was accepted).
    pub get_batch_calls: usize,
    /// The tactic TensorRT chose per layer (replay with `BuildConfig::with_replay_tactics`).
    pub tactics: Vec<TacticChoice>,
    /// Replayed choices TensorRT did not offer again.
    pub replay_misses: usize,
    /// Strict INT8: which layers were forced, and what ran.
    pub strict: Option<StrictReport>,
    /// TensorRT's warnings and errors during the build.
    pub warnings: Vec<String>,
    /// Wall time of the whole build (every pass, calibration included).
    pub build_time: Duration,
    /// Where the INT8 scales came from: `Explicit` for a network with Q/DQ layers (no
    /// calibration), else `Implicit`.
    pub quantization: Quantization,
}

impl BuildOutput {
    /// TensorRT refused the timing cache it was given and built without it (it logs "The timing
    /// cache will not be used!"; seen on TensorRT 8.5.3 for caches it had written itself).
    pub fn timing_cache_refused(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.contains("timing cache will not be used"))
    }

    /// The build calibrated (consumed calibration batches) rather than reading a table.
    pub fn calibrated(&self) -> bool {
        self.calibration_batches > 0
    }
}
