//! What to build: the typed settings record ([`BuildSettings`]: precision policy, exclusions,
//! profiles, compatibility), and [`BuildConfig`], which adds what a build reads from this machine
//! (calibration table file, timing cache bytes, tactics to record or replay).
//!
//! The same `BuildSettings` value is what the build report and the bundle manifest record, so a
//! rebuild ([`crate::report::RebuildPlan`]) starts from exactly what the first build was given.
//!
//! `settings.rs` holds the record and its parts; this file the config built on it.

mod settings;

pub use settings::{
    BuildSettings, Fallback, HardwareCompatibility, LayerFilter, Precision, Profile, ProfileInput,
    ProfilingVerbosity, TacticChoice, TacticSources, Tactics,
};

use crate::calibrator::TablePolicy;

/// Everything a build needs besides the network and the calibrator: the [`BuildSettings`], plus
/// what it reads from this machine (the calibration table file, timing cache bytes, tactics).
#[derive(Clone, Debug, Default)]
pub struct BuildConfig {
    settings: BuildSettings,
    calibration_table: Option<TablePolicy>,
    timing_cache: Option<Vec<u8>>,
    return_timing_cache: bool,
    tactics: Tactics,
    strict_releases: Vec<(String, String)>,
}

impl BuildConfig {
    /// A config for `precision`, everything else at its default.
    pub fn new(precision: Precision) -> Self {
        BuildConfig::from_settings(BuildSettings {
            precision,
            ..Default::default()
        })
    }

    /// A config with these settings (e.g. a report's, to rebuild the same way).
    pub fn from_settings(settings: BuildSettings) -> Self {
        BuildConfig {
            settings,
            ..Default::default()
        }
    }

    /// The typed settings (what reports and manifests record).
    pub fn settings(&self) -> &BuildSettings {
        &self.settings
    }
    /// How layers may run.
    pub fn precision(&self) -> Precision {
        self.settings.precision
    }
    /// Precision of layers kept out of INT8.
    pub fn fallback(&self) -> Fallback {
        self.settings.fallback
    }
    /// Layers kept out of INT8.
    pub fn keep_out_of_int8(&self) -> &LayerFilter {
        &self.settings.keep_out_of_int8
    }
    /// Optimization profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.settings.profiles
    }
    /// The CUDA device the build is for.
    pub fn device(&self) -> usize {
        self.settings.device
    }
    /// The calibration table file and what to do with it.
    pub fn calibration_table(&self) -> Option<&TablePolicy> {
        self.calibration_table.as_ref()
    }
    /// The timing cache the build starts from.
    pub fn timing_cache(&self) -> Option<&[u8]> {
        self.timing_cache.as_deref()
    }
    /// Record, replay, or leave tactics alone.
    pub fn tactics(&self) -> &Tactics {
        &self.tactics
    }

    /// Precision of layers kept out of INT8.
    #[must_use]
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.settings.fallback = fallback;
        self
    }
    /// Workspace limit in bytes.
    #[must_use]
    pub fn with_workspace(mut self, bytes: u64) -> Self {
        self.settings.workspace = Some(bytes);
        self
    }
    /// Adds an optimization profile.
    #[must_use]
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.settings.profiles.push(profile);
        self
    }
    /// The fixed shapes to calibrate at.
    #[must_use]
    pub fn with_calibration_profile(mut self, profile: Profile) -> Self {
        self.settings.calibration_profile = Some(profile);
        self
    }
    /// The calibration table file and its policy.
    #[must_use]
    pub fn with_calibration_table(mut self, policy: TablePolicy) -> Self {
        self.calibration_table = Some(policy);
        self
    }
    /// Renamed [`BuildConfig::with_calibration_table`].
    #[deprecated(note = "renamed with_calibration_table")]
    #[must_use]
    pub fn with_calibration_cache(self, policy: TablePolicy) -> Self {
        self.with_calibration_table(policy)
    }
    /// A timing cache to start from (an earlier `BuildOutput::timing_cache`).
    #[must_use]
    pub fn with_timing_cache(mut self, bytes: Vec<u8>) -> Self {
        self.timing_cache = Some(bytes);
        self
    }
    /// Serialize the timing cache into `BuildOutput::timing_cache` after the build (off by
    /// default: only a caller that writes the cache pays for it, and TensorRT 8.5.3 crashed
    /// there now and then after large builds).
    #[must_use]
    pub fn returning_timing_cache(mut self) -> Self {
        self.return_timing_cache = true;
        self
    }
    /// Whether the build returns its serialized timing cache.
    pub fn returns_timing_cache(&self) -> bool {
        self.return_timing_cache
    }
    /// What the engine records per layer.
    #[must_use]
    pub fn with_profiling(mut self, verbosity: ProfilingVerbosity) -> Self {
        self.settings.profiling = Some(verbosity);
        self
    }
    /// The tactic sources TensorRT may use.
    #[must_use]
    pub fn with_tactic_sources(mut self, sources: TacticSources) -> Self {
        self.settings.tactic_sources = Some(sources);
        self
    }
    /// Keeps the layer named `name` out of INT8.
    #[must_use]
    pub fn keep_layer_out_of_int8(mut self, name: impl Into<String>) -> Self {
        self.settings.keep_out_of_int8.names.push(name.into());
        self
    }
    /// `StrictInt8`: layers to release before the first pass, each with why: what an earlier
    /// strict build of the same network and table released (its report's `strict.released`).
    /// TensorRT refuses or ignores them in INT8 whatever else is kept out, so the
    /// accuracy-budget search carries its first build's releases to every later trial, one
    /// pass each instead of one per release found. A hint, not a setting: a rebuild from the
    /// report finds them again. Names that are not forced are ignored.
    #[must_use]
    pub fn with_strict_releases(mut self, releases: Vec<(String, String)>) -> Self {
        self.strict_releases = releases;
        self
    }
    /// The releases given by [`BuildConfig::with_strict_releases`].
    pub fn strict_releases(&self) -> &[(String, String)] {
        &self.strict_releases
    }
    /// Keeps every layer of TensorRT type `kind` (`SOFTMAX`, ...) out of INT8.
    #[must_use]
    pub fn keep_type_out_of_int8(mut self, kind: impl Into<String>) -> Self {
        self.settings.keep_out_of_int8.types.push(kind.into());
        self
    }
    /// `StrictInt8`: accept forced layers that did not run INT8.
    #[must_use]
    pub fn with_allow_strict_violations(mut self, allow: bool) -> Self {
        self.settings.allow_strict_violations = allow;
        self
    }
    /// Record, replay, or leave tactics alone.
    #[must_use]
    pub fn with_tactics(mut self, tactics: Tactics) -> Self {
        self.tactics = tactics;
        self
    }
    /// Replays these tactics (from an earlier build's `BuildOutput::tactics`).
    #[must_use]
    pub fn with_replay_tactics(self, tactics: Vec<TacticChoice>) -> Self {
        self.with_tactics(Tactics::Replay(tactics))
    }
    /// Records the tactic TensorRT picks per layer (a replay records too).
    #[must_use]
    pub fn with_record_tactics(mut self, record: bool) -> Self {
        match (&self.tactics, record) {
            (Tactics::Free, true) => self.tactics = Tactics::Record,
            (Tactics::Record, false) => self.tactics = Tactics::Free,
            _ => {}
        }
        self
    }
    /// Turns TensorRT's timing cache on or off for the build (see `BuildSettings::layer_timing_cache`).
    #[must_use]
    pub fn with_layer_timing_cache(mut self, on: bool) -> Self {
        self.settings.layer_timing_cache = Some(on);
        self
    }
    /// Build a version-compatible plan (TensorRT >= 8.6; refused with a clear error before).
    #[must_use]
    pub fn with_version_compatible(mut self, on: bool) -> Self {
        self.settings.version_compatible = on;
        self
    }
    /// With `with_version_compatible(true)`: leave the lean runtime out of the plan
    /// (`kEXCLUDE_LEAN_RUNTIME`, TensorRT >= 8.6; see `BuildSettings::exclude_lean_runtime`).
    #[must_use]
    pub fn with_exclude_lean_runtime(mut self, on: bool) -> Self {
        self.settings.exclude_lean_runtime = on;
        self
    }
    /// Build for other GPUs too (TensorRT >= 8.6; refused with a clear error before).
    #[must_use]
    pub fn with_hardware_compatibility(mut self, level: HardwareCompatibility) -> Self {
        self.settings.hardware_compatibility = level;
        self
    }
    /// The CUDA device to build for (the builder must be on it: `Builder::on_device`).
    #[must_use]
    pub fn with_device(mut self, device: usize) -> Self {
        self.settings.device = device;
        self
    }

    /// Whether TensorRT's timing cache is on for this build: as set, else on unless replaying
    /// tactics.
    pub fn timing_cache_enabled(&self) -> bool {
        self.settings
            .layer_timing_cache
            .unwrap_or(self.tactics.replayed().is_none())
    }

    /// Detailed unless set: every precision needs it, for reports, `diff`, `--repeat` and strict
    /// audits to see what each layer runs (FP32/FP16 engines are regression-tested too). It costs
    /// a little plan size (layer metadata), measured in the README.
    pub fn profiling(&self) -> ProfilingVerbosity {
        self.settings
            .profiling
            .unwrap_or(ProfilingVerbosity::Detailed)
    }

    /// The same config without tactic recording or replay (strict mode's probe: only the final
    /// engine's tactics matter).
    pub(crate) fn without_tactics(&self) -> BuildConfig {
        BuildConfig {
            tactics: Tactics::Free,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_the_json_that_reports_have_always_had() {
        // A report's `flags` as trt wrote them before the settings record existed.
        let old = r#"{"precision":"StrictInt8","fallback":"Fp16","workspace":null,
            "tactic_sources":["EDGE_MASK_CONVOLUTIONS","JIT_CONVOLUTIONS"],
            "excluded_layers":["/fc/Gemm"],"excluded_types":["SOFTMAX"],
            "allow_strict_violations":false,"timing_cache":true,"replayed_tactics":false,
            "profiles":[[{"name":"x","min":[1,3],"opt":[4,3],"max":[8,3]}]],
            "calibration_profile":null,"version_compatible":false,"device":0}"#;
        let s: BuildSettings = serde_json::from_str(old).unwrap();
        assert_eq!(s.precision, Precision::StrictInt8);
        assert_eq!(s.fallback, Fallback::Fp16);
        assert_eq!(s.keep_out_of_int8.names, ["/fc/Gemm"]);
        assert_eq!(s.keep_out_of_int8.types, ["SOFTMAX"]);
        assert_eq!(s.tactic_sources, Some(TacticSources::tensorrt_only()));
        assert_eq!(s.profiles[0].opt_shape("x"), Some(&[4i64, 3][..]));
        assert_eq!(s.hardware_compatibility, HardwareCompatibility::None);
        // And what it writes reads back the same.
        let again: BuildSettings =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["excluded_layers"][0], "/fc/Gemm");
        assert_eq!(v["profiles"][0][0]["max"][0], 8);
    }

    #[test]
    fn an_unknown_tactic_source_is_refused_by_name() {
        let e = serde_json::from_str::<TacticSources>(r#"["CUBLAS","CUDNN8"]"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown tactic source `CUDNN8`"),
            "{e}"
        );
    }

    #[test]
    fn tactics_modes_and_the_timing_cache_rule() {
        let c = BuildConfig::new(Precision::Int8);
        assert_eq!(c.tactics(), &Tactics::Free);
        assert!(c.timing_cache_enabled());
        let c = c.with_record_tactics(true);
        assert_eq!(c.tactics(), &Tactics::Record);
        assert!(c.timing_cache_enabled());
        let c = c.with_replay_tactics(vec![]).with_record_tactics(false);
        assert!(c.tactics().replayed().is_some(), "a replay stays a replay");
        assert!(!c.timing_cache_enabled());
        assert!(c
            .clone()
            .with_layer_timing_cache(true)
            .timing_cache_enabled());
        assert_eq!(c.without_tactics().tactics(), &Tactics::Free);
    }
}
