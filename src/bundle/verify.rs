//! Checking a bundle on its target, before TensorRT sees the engine, and the plan to rebuild it
//! there when the engine cannot run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::load::{try_load, RuntimeLoad};
use super::manifest::{
    current_platform, file_digest, ComputeCapability, Manifest, TrtVersion, MANIFEST,
};
use crate::calibrator::CalibrationAlgorithm;
use crate::config::{BuildSettings, Precision};
use crate::engine::Runtime;
use crate::error::Result;

/// Why a bundle cannot be used on a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// A file is missing, truncated, or its content changed.
    Corrupt {
        /// The file's path in the bundle directory; its name as the manifest lists it when that
        /// is not a plain file name; `manifest.json` when the manifest lists no engine.
        file: String,
        /// What is wrong (unreadable, size or sha256 mismatch, not a plain file name), with the
        /// values found and expected.
        problem: String,
    },
    /// The engine was built by another TensorRT version.
    TensorRtVersion {
        /// The version that built the engine (`major.minor.patch`).
        bundle: String,
        /// The target's version.
        target: String,
    },
    /// The engine was built for another GPU architecture.
    ComputeCapability {
        /// The compute capability of the GPU that built the engine (`8.7`).
        bundle: String,
        /// The target GPU's compute capability.
        target: String,
    },
    /// Every check passed, but this machine's TensorRT refused to deserialize the engine.
    NotLoadable {
        /// What the target's runtime answered (see [`RuntimeLoad`]).
        load: RuntimeLoad,
    },
    /// The bundle was made on another CPU architecture or OS (x86_64 vs a Jetson's aarch64).
    Platform {
        /// The platform that made the bundle ([`current_platform`] there: `x86_64-linux`).
        bundle: String,
        /// This machine's platform.
        target: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Corrupt { file, problem } => {
                write!(f, "{file}: {problem}; the file is corrupt or was changed: copy the bundle again")
            }
            Refusal::TensorRtVersion { bundle, target } => write!(
                f,
                "the engine was built with TensorRT {bundle} but this target has TensorRT {target}; \
                 engines need the exact same version (version-compatible ones: the same or a later one, from 8.6)"
            ),
            Refusal::ComputeCapability { bundle, target } => write!(
                f,
                "the engine was built for compute capability {bundle} but this GPU is {target}; \
                 engines only run on the GPU architecture they were built for (Ampere+ compatible ones: on any 8.0 or later)"
            ),
            Refusal::NotLoadable { load } => write!(f, "{load}"),
            Refusal::Platform { bundle, target } => write!(
                f,
                "the bundle was made on {bundle} but this machine is {target}; \
                 engines do not move between platforms"
            ),
        }
    }
}

/// The outcome of [`verify_bundle`].
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// The bundle directory, as given to [`verify_bundle`].
    pub dir: PathBuf,
    /// The bundle's manifest, as read.
    pub manifest: Manifest,
    /// The TensorRT version the bundle was checked against.
    pub target_tensorrt: TrtVersion,
    /// The compute capability the bundle was checked against.
    pub target_compute_capability: ComputeCapability,
    /// Files whose sha256 and size matched (their names in the manifest).
    pub files_ok: Vec<String>,
    /// Every reason the engine cannot be used on the target, file problems first; empty when
    /// it can.
    pub refusals: Vec<Refusal>,
    /// What this machine's runtime did with the engine, when [`Verification::load_here`] asked
    /// it; `None` when it was not asked (no TensorRT here, or another target was named).
    pub loaded_here: Option<RuntimeLoad>,
}

impl Verification {
    /// No refusal: every file is intact and the engine fits the target's platform, TensorRT
    /// version and GPU.
    pub fn accepted(&self) -> bool {
        self.refusals.is_empty()
    }

    /// Asks `runtime` (this machine's) to deserialize the engine, once every other check has
    /// passed: the last word is TensorRT's, so a version-compatible plan the documentation
    /// allows but this runtime refuses is refused here, before it is used. Does nothing when a
    /// check already refused the bundle (TensorRT never sees a corrupt or mismatched plan).
    pub fn load_here(&mut self, runtime: &Runtime) {
        if !self.accepted() {
            return;
        }
        let Some(engine) = self.manifest.engine_file() else {
            return;
        };
        let load = try_load(
            &self.dir.join(engine),
            runtime,
            self.manifest.version_compatible,
        );
        if !load.loaded {
            self.refusals
                .push(Refusal::NotLoadable { load: load.clone() });
        }
        self.loaded_here = Some(load);
    }

    /// How to rebuild the engine on the target, when it was refused for its version, GPU or
    /// platform (not when a file is corrupt: copy the bundle again then). From the bundle's own
    /// table when it has one; the CLI renders the plan as `trt build` flags.
    pub fn rebuild_plan(&self) -> Option<RebuildPlan> {
        let mismatch = self
            .refusals
            .iter()
            .any(|r| !matches!(r, Refusal::Corrupt { .. }));
        if !mismatch {
            return None;
        }
        let file = |role: &str| {
            self.manifest
                .files
                .get(role)
                .map(|f| self.dir.join(&f.path))
        };
        let table = file("table");
        let settings = match &self.manifest.builder_flags {
            Some(f) => f.settings.clone(),
            // No report: INT8, which is what a bundle with a table is for.
            None => BuildSettings {
                precision: Precision::Int8,
                ..Default::default()
            },
        };
        // A table is refused by a calibrator of another algorithm: the plan names the table's.
        let algorithm = table
            .as_ref()
            .and_then(|t| std::fs::read(t).ok())
            .and_then(|b| trt_calib_table::CalibrationTable::parse(&b).ok())
            .and_then(|t| CalibrationAlgorithm::from_table_algorithm(t.algorithm))
            .unwrap_or_default();
        let (built, target) = (self.manifest.tensorrt_version, self.target_tensorrt);
        let same_minor = built.is_table_compatible(&target);
        Some(RebuildPlan {
            model: file("onnx"),
            settings,
            table_written_by: (table.is_some() && !same_minor).then_some(built),
            table,
            algorithm,
        })
    }
}

/// How to rebuild a bundled engine on the target: typed, from the bundle's manifest; the CLI
/// turns it into a `trt build` command line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RebuildPlan {
    /// The bundle's ONNX model (`None`: the bundle has none; the user names it).
    pub model: Option<PathBuf>,
    /// The settings of the bundled build (precision mode, fallback, exclusions, ...), from its
    /// report; INT8 when the bundle has no report.
    pub settings: BuildSettings,
    /// The bundle's calibration table: rebuild from it and never calibrate. `None`: the bundle
    /// has no table, so INT8 needs calibration data on the target.
    pub table: Option<PathBuf>,
    /// The algorithm that made the table (the default when there is none).
    pub algorithm: CalibrationAlgorithm,
    /// Set when the table was written by another TensorRT major.minor than the target's: the
    /// target's TensorRT refuses it, so calibrate there instead.
    pub table_written_by: Option<TrtVersion>,
}

/// Can a runtime of this version run the bundle's engine? The exact version, or for a
/// version-compatible engine the same or a later one (8.6 at least).
fn version_accepts(m: &Manifest, target: TrtVersion) -> bool {
    if m.version_compatible {
        target >= m.tensorrt_version && (target.major(), target.minor()) >= (8, 6)
    } else {
        target == m.tensorrt_version
    }
}

/// Can a GPU of this compute capability run the bundle's engine? The same one, or for an Ampere+
/// compatible engine any 8.0 or later.
fn gpu_accepts(m: &Manifest, target: ComputeCapability) -> bool {
    match m.hardware_compatibility {
        crate::config::HardwareCompatibility::AmperePlus => target.major >= 8,
        _ => target == m.gpu.compute_capability,
    }
}

/// Checks every file's size and sha256 (before TensorRT sees anything), then the platform, the
/// TensorRT version (exact major.minor.patch unless version-compatible) and the compute
/// capability (exact unless Ampere+ compatible) against `target`.
/// `Err` only when the bundle cannot be read at all (no or unreadable manifest).
pub fn verify_bundle(
    dir: impl AsRef<Path>,
    target_tensorrt: TrtVersion,
    target_cc: ComputeCapability,
) -> Result<Verification> {
    let dir = dir.as_ref();
    let manifest = Manifest::load(dir)?;
    let mut refusals = Vec::new();
    let mut files_ok = Vec::new();
    if !manifest.files.contains_key("engine") {
        refusals.push(Refusal::Corrupt {
            file: MANIFEST.into(),
            problem: "the manifest lists no engine".into(),
        });
    }
    for (role, f) in &manifest.files {
        let path = dir.join(&f.path);
        let shown = path.display().to_string();
        if f.path.contains('/') || f.path.contains('\\') || f.path == ".." {
            refusals.push(Refusal::Corrupt {
                file: f.path.clone(),
                problem: format!("{role} is not a plain file name"),
            });
            continue;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                refusals.push(Refusal::Corrupt {
                    file: shown,
                    problem: format!("the {role} cannot be read ({e})"),
                });
                continue;
            }
        };
        if meta.len() != f.size {
            refusals.push(Refusal::Corrupt {
                file: shown,
                problem: format!(
                    "the {role} is {} bytes, the manifest says {} (truncated?)",
                    meta.len(),
                    f.size
                ),
            });
            continue;
        }
        let sha = match file_digest(&path) {
            Ok((sha, _)) => sha,
            Err(e) => {
                refusals.push(Refusal::Corrupt {
                    file: shown,
                    problem: format!("the {role} cannot be read ({e})"),
                });
                continue;
            }
        };
        if sha != f.sha256 {
            refusals.push(Refusal::Corrupt {
                file: shown,
                problem: format!(
                    "the {role}'s sha256 is {sha}, the manifest says {}",
                    f.sha256
                ),
            });
            continue;
        }
        files_ok.push(f.path.clone());
    }
    let platform = current_platform();
    if let Some(p) = manifest.platform.as_ref().filter(|p| **p != platform) {
        refusals.push(Refusal::Platform {
            bundle: p.clone(),
            target: platform,
        });
    }
    if !version_accepts(&manifest, target_tensorrt) {
        refusals.push(Refusal::TensorRtVersion {
            bundle: manifest.tensorrt_version.to_string(),
            target: target_tensorrt.to_string(),
        });
    }
    if !gpu_accepts(&manifest, target_cc) {
        refusals.push(Refusal::ComputeCapability {
            bundle: manifest.gpu.compute_capability.to_string(),
            target: target_cc.to_string(),
        });
    }
    Ok(Verification {
        dir: dir.to_path_buf(),
        manifest,
        target_tensorrt,
        target_compute_capability: target_cc,
        files_ok,
        refusals,
        loaded_here: None,
    })
}
