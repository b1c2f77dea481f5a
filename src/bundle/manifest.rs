//! What a bundle is made of: the manifest and its parts, the target, file digests.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::load::RuntimeLoad;
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
    /// The runtimes that really deserialized (or refused) the engine when the bundle was made
    /// ([`try_load`](super::load::try_load)); empty when none was at hand (and in older manifests).
    /// What TensorRT did, not what its documentation promises.
    #[serde(default)]
    pub loaded_by: Vec<RuntimeLoad>,
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
    /// What runtimes did with the engine ([`try_load`](super::load::try_load)), for the manifest's
    /// `loaded_by`.
    pub loaded_by: Vec<RuntimeLoad>,
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

pub(super) fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name", path.display())))
}
