//! The typed settings record and its parts: precision, fallback, exclusions, profiles, tactic
//! sources, compatibility, tactics.

use serde::{Deserialize, Serialize};

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
    /// INT8 is enabled (calibrated or strict).
    pub fn uses_int8(self) -> bool {
        matches!(self, Precision::Int8 | Precision::StrictInt8)
    }
}

/// Precision of layers kept out of INT8 (excluded by name or type, or not INT8-capable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fallback {
    /// FP32 (TF32 where TensorRT allows it).
    #[default]
    Fp32,
    /// FP16 (the builder's FP16 flag is turned on too).
    Fp16,
}

/// What the builder records about the engine it builds (`ProfilingVerbosity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfilingVerbosity {
    /// Layer names only (TensorRT's default).
    LayerNamesOnly,
    /// Nothing per layer.
    None,
    /// Formats, tactics and precisions per layer: what audits and reports need.
    Detailed,
}

/// TensorRT tactic sources (`TacticSource`), as a set.
///
/// Serialized as the list of enabled sources' TensorRT names (`["CUBLAS", "JIT_CONVOLUTIONS"]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TacticSources {
    /// `kCUBLAS`.
    pub cublas: bool,
    /// `kCUBLAS_LT`.
    pub cublas_lt: bool,
    /// `kCUDNN`.
    pub cudnn: bool,
    /// `kEDGE_MASK_CONVOLUTIONS`.
    pub edge_mask_convolutions: bool,
    /// `kJIT_CONVOLUTIONS`.
    pub jit_convolutions: bool,
}

impl TacticSources {
    fn flags(self) -> [(&'static str, bool); 5] {
        [
            ("CUBLAS", self.cublas),
            ("CUBLAS_LT", self.cublas_lt),
            ("CUDNN", self.cudnn),
            ("EDGE_MASK_CONVOLUTIONS", self.edge_mask_convolutions),
            ("JIT_CONVOLUTIONS", self.jit_convolutions),
        ]
    }

    /// The enabled sources' TensorRT names.
    pub fn names(self) -> Vec<String> {
        self.flags()
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// The set named by `names` (TensorRT names, as [`TacticSources::names`] gives them).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut t = TacticSources::default();
        for n in names {
            match n.as_ref() {
                "CUBLAS" => t.cublas = true,
                "CUBLAS_LT" => t.cublas_lt = true,
                "CUDNN" => t.cudnn = true,
                "EDGE_MASK_CONVOLUTIONS" => t.edge_mask_convolutions = true,
                "JIT_CONVOLUTIONS" => t.jit_convolutions = true,
                other => return Err(format!("unknown tactic source `{other}`")),
            }
        }
        Ok(t)
    }
}

impl Serialize for TacticSources {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for TacticSources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        TacticSources::from_names(&names).map_err(serde::de::Error::custom)
    }
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

/// An optimization profile: min / opt / max shape per dynamic input (serialized as the list of
/// its inputs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Profile {
    /// One entry per dynamic input.
    pub inputs: Vec<ProfileInput>,
}

/// The shape range of one input in an optimization profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInput {
    /// The network input's name.
    pub name: String,
    /// Smallest shape.
    pub min: Vec<i64>,
    /// The shape TensorRT optimizes for (and calibrates at, when no calibration profile is given).
    pub opt: Vec<i64>,
    /// Largest shape.
    pub max: Vec<i64>,
}

impl Profile {
    /// An empty profile.
    pub fn new() -> Self {
        Profile::default()
    }

    /// Adds an input's min / opt / max shapes.
    #[must_use]
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
///
/// Serialized as `excluded_layers` / `excluded_types` (the build report's names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerFilter {
    /// Exact layer names.
    #[serde(rename = "excluded_layers", default)]
    pub names: Vec<String>,
    /// TensorRT `LayerType` names, case-insensitive.
    #[serde(rename = "excluded_types", default)]
    pub types: Vec<String>,
}

impl LayerFilter {
    /// Nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.types.is_empty()
    }

    /// Whether the layer `name` of type `kind` is excluded.
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
    /// The layer's name in the engine.
    pub layer: String,
    /// TensorRT's implementation id.
    pub implementation: i64,
    /// TensorRT's tactic id.
    pub tactic: i64,
}

/// What a build does about tactics (`IAlgorithmSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tactics {
    /// TensorRT chooses; nothing is recorded.
    #[default]
    Free,
    /// TensorRT chooses, and each layer's choice is recorded into `BuildOutput::tactics`.
    Record,
    /// The given choices (an earlier build's `BuildOutput::tactics`) are offered to TensorRT as the
    /// only ones, per layer; the choices made are recorded too.
    Replay(Vec<TacticChoice>),
}

impl Tactics {
    /// Whether an algorithm selector is attached at all.
    pub(crate) fn selects(&self) -> bool {
        !matches!(self, Tactics::Free)
    }

    /// The choices to replay, when replaying.
    pub fn replayed(&self) -> Option<&[TacticChoice]> {
        match self {
            Tactics::Replay(t) => Some(t),
            _ => None,
        }
    }
}

/// The settings that shape an engine: one typed record, used by [`BuildConfig`], recorded in the
/// build report (`flags`) and the bundle manifest (`builder_flags`), and read back to rebuild.
///
/// Its JSON form is the one reports have always had (`excluded_layers`, `profiles` as lists of
/// inputs, ...); fields added later have defaults, so older reports and manifests still load.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildSettings {
    /// How layers may run.
    pub precision: Precision,
    /// Precision of layers kept out of INT8.
    pub fallback: Fallback,
    /// Workspace limit in bytes (`None`: TensorRT's default).
    pub workspace: Option<u64>,
    /// Enabled tactic sources (`None`: TensorRT's default set).
    pub tactic_sources: Option<TacticSources>,
    /// Layers kept out of INT8 (both `Int8` and `StrictInt8`).
    #[serde(flatten)]
    pub keep_out_of_int8: LayerFilter,
    /// `StrictInt8`: accept forced layers that did not run INT8 (reported, not an error).
    pub allow_strict_violations: bool,
    /// Optimization profiles.
    pub profiles: Vec<Profile>,
    /// The fixed shapes calibration runs at (`None`: the inputs' static shapes, or the first
    /// profile's OPT shapes for dynamic inputs).
    pub calibration_profile: Option<Profile>,
    /// `kVERSION_COMPATIBLE`: the plan runs on later TensorRT versions too (TensorRT >= 8.6).
    pub version_compatible: bool,
    /// With `version_compatible`: leave TensorRT's lean runtime out of the plan
    /// (`kEXCLUDE_LEAN_RUNTIME`, TensorRT >= 8.6). The plan is smaller and the build does not need
    /// the builder's own `libnvinfer_lean`, but the target must then have a lean runtime to load it.
    #[serde(default)]
    pub exclude_lean_runtime: bool,
    /// Hardware compatibility level (TensorRT >= 8.6; absent in older reports: none).
    #[serde(default)]
    pub hardware_compatibility: HardwareCompatibility,
    /// TensorRT's timing cache during the build (`None`: on, except while replaying tactics,
    /// because TensorRT documents the cache as incompatible with algorithm selection).
    #[serde(default)]
    pub layer_timing_cache: Option<bool>,
    /// What the engine records per layer (`None`: detailed, see [`BuildConfig::profiling`]).
    #[serde(default)]
    pub profiling: Option<ProfilingVerbosity>,
    /// CUDA device ordinal.
    pub device: usize,
}
