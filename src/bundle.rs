//! Deployment bundles: an engine with its calibration table, build report and ONNX model, plus a
//! `manifest.json` that says which TensorRT version and GPU the engine was built for and the
//! sha256 and size of every file.
//!
//! An engine only runs on the exact TensorRT version (major.minor.patch), the platform (CPU
//! architecture and OS) and the GPU compute capability it was built for, unless it was built
//! version-compatible (later TensorRT too) or hardware-compatible (any Ampere+ GPU), TensorRT >= 8.6.
//! [`verify_bundle`] checks all of that, and every file's integrity, before TensorRT ever sees
//! the engine. When it refuses, the table in the bundle is what lets the
//! target rebuild the engine (tables are portable across GPUs when TensorRT major.minor match).
//!
//! | what | item |
//! |---|---|
//! | the manifest | [`Manifest`], [`BundleFile`], [`GpuInfo`] |
//! | what to put in a bundle | [`BundleSources`] |
//! | where the engine is to run | [`Target`], [`Target::current`] |
//! | make / check a bundle | [`create_bundle`], [`verify_bundle`] -> [`Verification`] |

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibrator::CalibrationAlgorithm;
use crate::config::{BuildSettings, Precision};
use crate::error::{Error, Result};
use crate::report::BuildFlags;

/// The manifest's file name inside a bundle.
pub const MANIFEST: &str = "manifest.json";

/// Manifest format version (field `trt_bundle`).
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// The TensorRT version type of every crate (`8.5.3`; serialized as that string).
pub use tensorrt_sys::TrtVersion;

/// A CUDA compute capability, `major.minor` (8.7 = Jetson Orin, 9.0 = H100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputeCapability {
    /// The architecture generation (8 = Ampere/Ada, 9 = Hopper); engines built Ampere+
    /// compatible run on any major >= 8.
    pub major: u32,
    /// The revision within the generation (8.0 = A100, 8.6 = RTX 30xx, 8.7 = Orin).
    pub minor: u32,
}

impl std::fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for ComputeCapability {
    type Err = Error;
    fn from_str(s: &str) -> Result<ComputeCapability> {
        let bad = || {
            Error::Invalid(format!(
                "compute capability `{s}`: expected MAJOR.MINOR, e.g. 8.7"
            ))
        };
        let (a, b) = s.trim().split_once('.').ok_or_else(bad)?;
        Ok(ComputeCapability {
            major: a.parse().map_err(|_| bad())?,
            minor: b.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for ComputeCapability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ComputeCapability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The GPU an engine was built on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// As the driver names it (`NVIDIA H100 80GB HBM3`, `Orin`); `None` when given by hand.
    pub name: Option<String>,
    /// What the engine's kernels were built for: the target needs the same one unless the
    /// engine is Ampere+ compatible.
    pub compute_capability: ComputeCapability,
}

impl GpuInfo {
    /// Name and compute capability of CUDA device `ordinal`. An error (not a panic) when the
    /// CUDA driver library is missing.
    pub fn of_device(ordinal: usize) -> Result<GpuInfo> {
        use cudarc::driver::sys::CUdevice_attribute as A;
        let ctx = crate::device::device_context(ordinal)?;
        let major = ctx.attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = ctx.attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        Ok(GpuInfo {
            name: Some(ctx.name()?),
            compute_capability: ComputeCapability {
                major: major.max(0) as u32,
                minor: minor.max(0) as u32,
            },
        })
    }
}

/// One file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// File name inside the bundle directory.
    pub path: String,
    /// The sha256 of the file's content, 64 lower-case hex digits.
    pub sha256: String,
    /// The file's size in bytes (checked before the digest, to name truncation as such).
    pub size: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`BUNDLE_FORMAT_VERSION`]).
    pub trt_bundle: u32,
    /// The TensorRT version that built the engine: the engine runs on exactly this version.
    pub tensorrt_version: TrtVersion,
    /// The GPU the engine was built on.
    pub gpu: GpuInfo,
    /// The builder settings (the build report's `flags`), when a report was bundled.
    pub builder_flags: Option<BuildFlags>,
    /// Built with `kVERSION_COMPATIBLE` (TensorRT >= 8.6): runs on this and later TensorRT versions.
    pub version_compatible: bool,
    /// The hardware compatibility level it was built with (TensorRT >= 8.6; absent in older
    /// manifests: none, which is what they meant).
    #[serde(default)]
    pub hardware_compatibility: crate::config::HardwareCompatibility,
    /// CPU architecture and OS of the machine that made the bundle (`x86_64-linux`,
    /// `aarch64-linux`); engines never move between platforms. Absent in older manifests.
    #[serde(default)]
    pub platform: Option<String>,
    /// By role: `engine`, `table`, `report`, `onnx`.
    pub files: BTreeMap<String, BundleFile>,
}

impl Manifest {
    /// Reads `DIR/manifest.json`; an error when it is missing, is not a manifest, or has another
    /// format version than [`BUNDLE_FORMAT_VERSION`]. Checks no file (that is [`verify_bundle`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Manifest> {
        let path = dir.as_ref().join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::Invalid(format!("{}: not a bundle manifest: {e}", path.display()))
        })?;
        if m.trt_bundle != BUNDLE_FORMAT_VERSION {
            return Err(Error::Invalid(format!(
                "{}: bundle format {}; this version of trt reads format {BUNDLE_FORMAT_VERSION}",
                path.display(),
                m.trt_bundle
            )));
        }
        Ok(m)
    }

    /// The engine's file name inside the bundle.
    pub fn engine_file(&self) -> Option<&str> {
        self.files.get("engine").map(|f| f.path.as_str())
    }
}

/// What goes into a bundle. The engine is required; the table is what lets a target with
/// another TensorRT patch version or GPU rebuild it.
#[derive(Clone, Debug, Default)]
pub struct BundleSources {
    /// The serialized engine (plan) file; role `engine`.
    pub engine: PathBuf,
    /// The calibration table (cache) the engine was built from; role `table`.
    pub table: Option<PathBuf>,
    /// The engine's [`BuildReport`](crate::report::BuildReport) JSON; role `report`. The
    /// manifest's builder flags and compatibility modes come from it (without one the manifest
    /// records no flags and neither compatibility mode).
    pub report: Option<PathBuf>,
    /// The ONNX model, for rebuilding on the target; role `onnx`.
    pub onnx: Option<PathBuf>,
}

/// Where an engine was built, or is to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The TensorRT version (`major.minor.patch`); the loaded library's in [`Target::current`].
    pub tensorrt: TrtVersion,
    /// The GPU; its compute capability is what an engine depends on.
    pub gpu: GpuInfo,
}

impl Target {
    /// The loaded TensorRT library and CUDA device `ordinal`.
    pub fn current(ordinal: usize) -> Result<Target> {
        let lib = tensorrt_sys::Library::get()?;
        Ok(Target {
            tensorrt: lib.version(),
            gpu: GpuInfo::of_device(ordinal)?,
        })
    }
}

/// This machine's CPU architecture and OS, as manifests record it: `x86_64-linux`, `aarch64-linux`.
pub fn current_platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// sha256 (lower-case hex) and size of a file.
pub fn file_digest(path: impl AsRef<Path>) -> Result<(String, u64)> {
    let path = path.as_ref();
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&h.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name", path.display())))
}

/// Copies the sources into `out_dir` and writes `manifest.json`. Atomic: the bundle is made in
/// a temporary directory next to `out_dir`, then renamed; an existing `out_dir` is an error
/// unless `overwrite` (then it is replaced, also by rename).
pub fn create_bundle(
    sources: &BundleSources,
    built_on: &Target,
    out_dir: impl AsRef<Path>,
    overwrite: bool,
) -> Result<Manifest> {
    let out_dir = out_dir.as_ref();
    if out_dir.exists() && !overwrite {
        return Err(Error::Invalid(format!(
            "{} already exists (create_bundle replaces it only when told to overwrite)",
            out_dir.display()
        )));
    }
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".trt-bundle-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;

    let roles: [(&str, Option<&PathBuf>); 4] = [
        ("engine", Some(&sources.engine)),
        ("table", sources.table.as_ref()),
        ("report", sources.report.as_ref()),
        ("onnx", sources.onnx.as_ref()),
    ];
    let mut files = BTreeMap::new();
    let mut names = std::collections::HashSet::new();
    for (role, src) in roles {
        let Some(src) = src else { continue };
        let name = file_name(src)?;
        if name == MANIFEST || !names.insert(name.clone()) {
            return Err(Error::Invalid(format!(
                "two bundle files would be named `{name}`; rename one"
            )));
        }
        let dst = tmp.path().join(&name);
        std::fs::copy(src, &dst).map_err(|e| Error::io(src, e))?;
        let (sha256, size) = file_digest(&dst)?;
        files.insert(
            role.to_string(),
            BundleFile {
                path: name,
                sha256,
                size,
            },
        );
    }
    let builder_flags = match &sources.report {
        Some(r) => Some(crate::report::BuildReport::load(r)?.flags),
        None => None,
    };
    // The compatibility modes the engine was built with come from its build report.
    let version_compatible = builder_flags.as_ref().is_some_and(|f| f.version_compatible);
    let hardware_compatibility = builder_flags
        .as_ref()
        .map(|f| f.hardware_compatibility)
        .unwrap_or_default();
    let manifest = Manifest {
        trt_bundle: BUNDLE_FORMAT_VERSION,
        tensorrt_version: built_on.tensorrt,
        gpu: built_on.gpu.clone(),
        builder_flags,
        version_compatible,
        hardware_compatibility,
        platform: Some(current_platform()),
        files,
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    text.push('\n');
    crate::write_atomic(tmp.path().join(MANIFEST), text.as_bytes())?;

    let tmp = tmp.keep();
    if out_dir.exists() {
        // Replace: move the old one aside first, so a failure leaves one complete bundle.
        let old = parent.join(format!(".trt-bundle-old-{}", std::process::id()));
        std::fs::rename(out_dir, &old).map_err(|e| Error::io(out_dir, e))?;
        if let Err(e) = std::fs::rename(&tmp, out_dir) {
            let _ = std::fs::rename(&old, out_dir);
            return Err(Error::io(out_dir, e));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else if let Err(e) = std::fs::rename(&tmp, out_dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::io(out_dir, e));
    }
    Ok(manifest)
}

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
}

impl Verification {
    /// No refusal: every file is intact and the engine fits the target's platform, TensorRT
    /// version and GPU.
    pub fn accepted(&self) -> bool {
        self.refusals.is_empty()
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: &str, cc: &str) -> Target {
        Target {
            tensorrt: v.parse().unwrap(),
            gpu: GpuInfo {
                name: None,
                compute_capability: cc.parse().unwrap(),
            },
        }
    }

    fn sources(dir: &Path) -> BundleSources {
        std::fs::write(dir.join("model.engine"), vec![7u8; 1000]).unwrap();
        std::fs::write(
            dir.join("model.calib.cache"),
            "TRT-8503-EntropyCalibration2\ninput: 3d2020d2\n",
        )
        .unwrap();
        std::fs::write(dir.join("model.onnx"), b"not really onnx").unwrap();
        BundleSources {
            engine: dir.join("model.engine"),
            table: Some(dir.join("model.calib.cache")),
            report: None,
            onnx: Some(dir.join("model.onnx")),
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            TrtVersion::parse_full("8.5.3.1").unwrap().to_string(),
            "8.5.3"
        );
        assert!(TrtVersion::parse_full("8.5").is_err());
        assert_eq!(
            "8.7".parse::<ComputeCapability>().unwrap(),
            ComputeCapability { major: 8, minor: 7 }
        );
        assert!("87".parse::<ComputeCapability>().is_err());
    }

    #[test]
    fn bundle_round_trip_then_tamper() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        let m = create_bundle(&sources(src.path()), &target("8.5.3", "9.0"), &out, false).unwrap();
        assert_eq!(m.files["engine"].size, 1000);
        assert_eq!(m.files.len(), 3);
        // Nothing left behind next to the bundle but the bundle.
        let leftovers: Vec<_> = std::fs::read_dir(src.path())
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().into_string().unwrap();
                n.starts_with(".trt-bundle").then_some(n)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(create_bundle(&sources(src.path()), &target("8.5.3", "9.0"), &out, false).is_err());

        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(v.accepted(), "{:?}", v.refusals);
        assert_eq!(v.files_ok.len(), 3);

        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 2);
        let plan = v.rebuild_plan().unwrap();
        assert_eq!(
            plan.table.as_deref(),
            Some(out.join("model.calib.cache").as_path())
        );
        assert_eq!(
            plan.model.as_deref(),
            Some(out.join("model.onnx").as_path())
        );
        assert_eq!(
            plan.table_written_by, None,
            "8.5.3 and 8.5.2 share their tables"
        );

        let engine = out.join("model.engine");
        let mut bytes = std::fs::read(&engine).unwrap();
        bytes[500] ^= 1;
        std::fs::write(&engine, &bytes).unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 1);
        assert!(
            v.refusals[0].to_string().contains("model.engine"),
            "{}",
            v.refusals[0]
        );
        assert!(v.refusals[0].to_string().contains("sha256"));

        std::fs::write(&engine, &bytes[..999]).unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(
            v.refusals[0].to_string().contains("999 bytes"),
            "{}",
            v.refusals[0]
        );
    }

    #[test]
    fn advice_rebuilds_the_same_way() {
        let src = tempfile::tempdir().unwrap();
        let s = sources(src.path());
        std::fs::write(
            src.path().join("model.calib.cache"),
            "TRT-8503-MinMaxCalibration\ninput: 3d2020d2\n",
        )
        .unwrap();
        let out = src.path().join("bundle");
        create_bundle(&s, &target("8.5.3", "9.0"), &out, false).unwrap();
        rewrite_manifest(&out, |m| {
            m["builder_flags"] = serde_json::json!({
                "precision": "StrictInt8", "fallback": "Fp16",
                "excluded_layers": ["/_fc/Gemm"], "excluded_types": ["SOFTMAX"] });
        });
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        let plan = v.rebuild_plan().unwrap();
        assert_eq!(plan.settings.precision, Precision::StrictInt8);
        assert_eq!(plan.settings.fallback, crate::Fallback::Fp16);
        assert_eq!(plan.settings.keep_out_of_int8.names, ["/_fc/Gemm"]);
        assert_eq!(plan.settings.keep_out_of_int8.types, ["SOFTMAX"]);
        assert_eq!(plan.algorithm, CalibrationAlgorithm::MinMax);
        // Another minor: the table is named, and so is the version that wrote it.
        let v = verify_bundle(&out, "8.6.1".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert_eq!(
            v.rebuild_plan().unwrap().table_written_by,
            Some("8.5.3".parse().unwrap())
        );
        // A corrupt file is no reason to rebuild.
        std::fs::write(out.join("model.engine"), b"x").unwrap();
        let v = verify_bundle(&out, "8.5.3".parse().unwrap(), "9.0".parse().unwrap()).unwrap();
        assert!(!v.accepted());
        assert_eq!(v.rebuild_plan(), None);
    }

    fn rewrite_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.join(MANIFEST);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    }

    #[test]
    fn compatible_engines_accept_later_versions_and_ampere_gpus() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        let m = create_bundle(&sources(src.path()), &target("8.6.1", "8.6"), &out, false).unwrap();
        assert_eq!(m.platform.as_deref(), Some(current_platform().as_str()));
        assert!(!m.version_compatible);
        let check = |v: &str, cc: &str| {
            verify_bundle(&out, v.parse().unwrap(), cc.parse().unwrap())
                .unwrap()
                .refusals
                .len()
        };
        // Plain engine: exact version and GPU only.
        assert_eq!(check("8.6.1", "8.6"), 0);
        assert_eq!(check("10.3.0", "8.6"), 1);
        assert_eq!(check("8.6.1", "8.7"), 1);

        rewrite_manifest(&out, |m| {
            m["version_compatible"] = true.into();
            m["hardware_compatibility"] = "AmperePlus".into();
        });
        assert_eq!(check("8.6.1", "8.6"), 0);
        assert_eq!(check("10.3.0", "9.0"), 0, "later TensorRT, later GPU");
        assert_eq!(check("8.6.0", "8.6"), 1, "an older TensorRT cannot run it");
        assert_eq!(check("8.6.1", "7.5"), 1, "Turing is not Ampere+");
    }

    #[test]
    fn without_a_driver_the_gpu_cannot_be_read_and_that_is_an_error() {
        // SAFETY: only checks whether libcuda can be opened.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            let e = GpuInfo::of_device(0).unwrap_err().to_string();
            assert!(e.starts_with("no CUDA driver (libcuda.so) found"), "{e}");
        } else {
            let e = GpuInfo::of_device(1 << 20).unwrap_err().to_string();
            assert!(e.starts_with("CUDA device 1048576 does not exist"), "{e}");
        }
    }

    #[test]
    fn another_platform_is_refused_and_old_manifests_still_load() {
        let src = tempfile::tempdir().unwrap();
        let out = src.path().join("bundle");
        create_bundle(&sources(src.path()), &target("8.5.2", "8.7"), &out, false).unwrap();
        let other = if current_platform() == "aarch64-linux" {
            "x86_64-linux"
        } else {
            "aarch64-linux"
        };
        rewrite_manifest(&out, |m| m["platform"] = other.into());
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert_eq!(v.refusals.len(), 1);
        assert!(matches!(v.refusals[0], Refusal::Platform { .. }));
        assert!(
            v.refusals[0].to_string().contains(other),
            "{}",
            v.refusals[0]
        );
        assert!(v.rebuild_plan().unwrap().table.is_some());

        // A manifest written before these fields existed.
        rewrite_manifest(&out, |m| {
            let o = m.as_object_mut().unwrap();
            o.remove("platform");
            o.remove("hardware_compatibility");
        });
        let v = verify_bundle(&out, "8.5.2".parse().unwrap(), "8.7".parse().unwrap()).unwrap();
        assert!(v.accepted(), "{:?}", v.refusals);
    }
}
