//! What to build: precision policy, profiles, calibration table, timing cache, tactics.

use crate::calibrator::CachePolicy;
use tensorrt_sys as sys;

/// How layers may run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// FP32 (TF32 allowed where TensorRT allows it by default).
    #[default]
    Fp32,
    /// FP16 allowed: TensorRT picks per layer.
    Fp16,
    /// INT8 allowed (calibrated): TensorRT picks per layer, so precisions can change between builds.
    Int8,
    /// INT8 forced on every layer that can run it (precision constraints, obeyed), then audited
    /// from the built engine: rebuilt engines keep the same per-layer precisions.
    StrictInt8,
}

impl Precision {
    pub fn uses_int8(self) -> bool {
        matches!(self, Precision::Int8 | Precision::StrictInt8)
    }
}

/// Precision of layers kept out of INT8 (excluded by name or type, or not INT8-capable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fallback {
    #[default]
    Fp32,
    Fp16,
}

/// What the builder records about the engine it builds (`ProfilingVerbosity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfilingVerbosity {
    LayerNamesOnly,
    None,
    /// Formats, tactics and precisions per layer: what audits and reports need.
    Detailed,
}

/// TensorRT tactic sources (`TacticSource`), as a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TacticSources {
    pub cublas: bool,
    pub cublas_lt: bool,
    pub cudnn: bool,
    pub edge_mask_convolutions: bool,
    pub jit_convolutions: bool,
}

impl TacticSources {
    /// Only TensorRT's own convolution kernels (no cuBLAS / cuDNN): what machines without those
    /// libraries need. Edge-mask and JIT convolutions stay on, or INT8 convolutions vanish.
    pub fn tensorrt_only() -> Self {
        TacticSources {
            edge_mask_convolutions: true,
            jit_convolutions: true,
            ..Default::default()
        }
    }

    pub(crate) fn mask(self) -> u32 {
        use tensorrt_sys as sys;
        let mut m = 0;
        if self.cublas {
            m |= sys::TRT_TACTIC_CUBLAS;
        }
        if self.cublas_lt {
            m |= sys::TRT_TACTIC_CUBLAS_LT;
        }
        if self.cudnn {
            m |= sys::TRT_TACTIC_CUDNN;
        }
        if self.edge_mask_convolutions {
            m |= sys::TRT_TACTIC_EDGE_MASK_CONVOLUTIONS;
        }
        if self.jit_convolutions {
            m |= sys::TRT_TACTIC_JIT_CONVOLUTIONS;
        }
        m
    }
}

/// An optimization profile: min / opt / max shape per dynamic input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub inputs: Vec<ProfileInput>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileInput {
    pub name: String,
    pub min: Vec<i64>,
    pub opt: Vec<i64>,
    pub max: Vec<i64>,
}

impl Profile {
    pub fn new() -> Self {
        Profile::default()
    }

    pub fn with_input(
        mut self,
        name: impl Into<String>,
        min: &[i64],
        opt: &[i64],
        max: &[i64],
    ) -> Self {
        self.inputs.push(ProfileInput {
            name: name.into(),
            min: min.to_vec(),
            opt: opt.to_vec(),
            max: max.to_vec(),
        });
        self
    }

    /// A profile with one fixed shape per input (what calibration profiles must be).
    pub fn fixed(shapes: &[(&str, &[i64])]) -> Self {
        Profile {
            inputs: shapes
                .iter()
                .map(|(n, s)| ProfileInput {
                    name: n.to_string(),
                    min: s.to_vec(),
                    opt: s.to_vec(),
                    max: s.to_vec(),
                })
                .collect(),
        }
    }

    pub(crate) fn opt_shape(&self, name: &str) -> Option<&[i64]> {
        self.inputs
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.opt.as_slice())
    }
}

/// Layers to keep out of INT8, by exact layer name or by TensorRT layer type (`SOFTMAX`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerFilter {
    pub names: Vec<String>,
    pub types: Vec<String>,
}

impl LayerFilter {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.types.is_empty()
    }

    pub fn matches(&self, name: &str, kind: &str) -> bool {
        self.names.iter().any(|n| n == name)
            || self.types.iter().any(|t| t.eq_ignore_ascii_case(kind))
    }
}

/// Which GPUs a plan may run on besides the one that built it (`HardwareCompatibilityLevel`,
/// TensorRT >= 8.6). Not supported on JetPack: Jetson engines are built on the Jetson.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HardwareCompatibility {
    /// Only GPUs with the builder's compute capability (TensorRT's default).
    #[default]
    None,
    /// Any Ampere or later GPU (compute capability >= 8.0).
    AmperePlus,
    /// Any GPU with the same compute capability (TensorRT 10.8+ headers).
    SameComputeCapability,
}

impl HardwareCompatibility {
    pub(crate) fn raw(self) -> i32 {
        (match self {
            HardwareCompatibility::None => sys::TRT_HW_COMPAT_NONE,
            HardwareCompatibility::AmperePlus => sys::TRT_HW_COMPAT_AMPERE_PLUS,
            HardwareCompatibility::SameComputeCapability => {
                sys::TRT_HW_COMPAT_SAME_COMPUTE_CAPABILITY
            }
        }) as i32
    }
}

/// A tactic TensorRT chose for a layer (recorded by an algorithm selector, replayable).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TacticChoice {
    pub layer: String,
    pub implementation: i64,
    pub tactic: i64,
}

/// Everything a build needs besides the network and the calibrator.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    pub precision: Precision,
    pub fallback: Fallback,
    pub workspace: Option<u64>,
    pub profiles: Vec<Profile>,
    pub calibration_profile: Option<Profile>,
    pub calibration_cache: Option<CachePolicy>,
    pub timing_cache: Option<Vec<u8>>,
    pub profiling: Option<ProfilingVerbosity>,
    pub tactic_sources: Option<TacticSources>,
    /// Kept out of INT8 (both `Int8` and `StrictInt8`).
    pub keep_out_of_int8: LayerFilter,
    /// `StrictInt8`: accept forced layers that did not run INT8 (reported, not an error).
    pub allow_strict_violations: bool,
    /// Replay these tactics (from an earlier build's `BuildOutput::tactics`).
    pub replay_tactics: Option<Vec<TacticChoice>>,
    /// Record the tactic TensorRT picks per layer into `BuildOutput::tactics`.
    pub record_tactics: bool,
    /// TensorRT's timing cache during the build (`None`: on, except while replaying tactics,
    /// because TensorRT documents the cache as incompatible with algorithm selection).
    pub layer_timing_cache: Option<bool>,
    /// `kVERSION_COMPATIBLE`: the plan runs on later TensorRT versions too (TensorRT >= 8.6).
    pub version_compatible: bool,
    /// Hardware compatibility level (TensorRT >= 8.6).
    pub hardware_compatibility: HardwareCompatibility,
    /// CUDA device ordinal.
    pub device: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            precision: Precision::Fp32,
            fallback: Fallback::Fp32,
            workspace: None,
            profiles: Vec::new(),
            calibration_profile: None,
            calibration_cache: None,
            timing_cache: None,
            profiling: None,
            tactic_sources: None,
            keep_out_of_int8: LayerFilter::default(),
            allow_strict_violations: false,
            replay_tactics: None,
            record_tactics: false,
            layer_timing_cache: None,
            version_compatible: false,
            hardware_compatibility: HardwareCompatibility::None,
            device: 0,
        }
    }
}

impl BuildConfig {
    pub fn new(precision: Precision) -> Self {
        BuildConfig {
            precision,
            ..Default::default()
        }
    }
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }
    pub fn with_workspace(mut self, bytes: u64) -> Self {
        self.workspace = Some(bytes);
        self
    }
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profiles.push(profile);
        self
    }
    pub fn with_calibration_profile(mut self, profile: Profile) -> Self {
        self.calibration_profile = Some(profile);
        self
    }
    pub fn with_calibration_cache(mut self, policy: CachePolicy) -> Self {
        self.calibration_cache = Some(policy);
        self
    }
    pub fn with_timing_cache(mut self, bytes: Vec<u8>) -> Self {
        self.timing_cache = Some(bytes);
        self
    }
    pub fn with_profiling(mut self, verbosity: ProfilingVerbosity) -> Self {
        self.profiling = Some(verbosity);
        self
    }
    pub fn with_tactic_sources(mut self, sources: TacticSources) -> Self {
        self.tactic_sources = Some(sources);
        self
    }
    pub fn keep_layer_out_of_int8(mut self, name: impl Into<String>) -> Self {
        self.keep_out_of_int8.names.push(name.into());
        self
    }
    pub fn keep_type_out_of_int8(mut self, kind: impl Into<String>) -> Self {
        self.keep_out_of_int8.types.push(kind.into());
        self
    }
    pub fn with_allow_strict_violations(mut self, allow: bool) -> Self {
        self.allow_strict_violations = allow;
        self
    }
    pub fn with_replay_tactics(mut self, tactics: Vec<TacticChoice>) -> Self {
        self.replay_tactics = Some(tactics);
        self
    }
    pub fn with_record_tactics(mut self, record: bool) -> Self {
        self.record_tactics = record;
        self
    }
    /// Turns TensorRT's timing cache on or off for the build (see `layer_timing_cache`).
    pub fn with_layer_timing_cache(mut self, on: bool) -> Self {
        self.layer_timing_cache = Some(on);
        self
    }
    /// Build a version-compatible plan (TensorRT >= 8.6; refused with a clear error before).
    pub fn with_version_compatible(mut self, on: bool) -> Self {
        self.version_compatible = on;
        self
    }
    /// Build for other GPUs too (TensorRT >= 8.6; refused with a clear error before).
    pub fn with_hardware_compatibility(mut self, level: HardwareCompatibility) -> Self {
        self.hardware_compatibility = level;
        self
    }
    pub fn with_device(mut self, device: usize) -> Self {
        self.device = device;
        self
    }

    /// Whether TensorRT's timing cache is on for this build: as set, else on unless replaying
    /// tactics.
    pub fn timing_cache_enabled(&self) -> bool {
        self.layer_timing_cache
            .unwrap_or(self.replay_tactics.is_none())
    }

    /// Detailed unless set: every precision needs it, for reports, `diff`, `--repeat` and strict
    /// audits to see what each layer runs (FP32/FP16 engines are regression-tested too). It costs
    /// a little plan size (layer metadata), measured in the README.
    pub(crate) fn effective_profiling(&self) -> ProfilingVerbosity {
        self.profiling.unwrap_or(ProfilingVerbosity::Detailed)
    }
}
