//! Compiles the C shim against TensorRT's headers (never its libraries) and tells dependents which
//! TensorRT version the headers are, through `links = "tensorrt"` metadata (`DEP_TENSORRT_MAJOR`, ...).

use std::collections::HashMap;
use std::env;
use std::path::{Path, PathBuf};

const TENSORRT_INCLUDE_DIR: &str = "TENSORRT_INCLUDE_DIR";
const TENSORRT_ROOT: &str = "TENSORRT_ROOT";
const CUDA_HOME: &str = "CUDA_HOME";
const DOCS_RS: &str = "DOCS_RS";

/// Where TensorRT's headers live when no variable says otherwise (Debian/Ubuntu packages, JetPack, tarball).
const USUAL_INCLUDE_DIRS: &[&str] = &[
    "/usr/include/x86_64-linux-gnu",
    "/usr/include/aarch64-linux-gnu",
    "/usr/local/TensorRT/include",
    "/usr/include",
];

fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=shim/trt_shim.h");
    println!("cargo:rerun-if-changed=shim/trt_shim.cpp");
    println!("cargo:rerun-if-changed=shim/cuda/cuda_runtime_api.h");

    if env_var(DOCS_RS).is_some() {
        // docs.rs has no TensorRT: document the bindings without compiling the shim.
        println!("cargo:major=10");
        println!("cargo:minor=0");
        println!("cargo:patch=0");
        println!("cargo:rustc-env=TENSORRT_HEADER_VERSION=10.0.0");
        return;
    }

    let include = find_tensorrt_headers().unwrap_or_else(|tried| {
        panic!(
            "\n\nTensorRT headers not found (NvInfer.h and NvOnnxParser.h).\n\
             Looked in:\n{}\n\
             Fix: set {TENSORRT_INCLUDE_DIR}=/path/to/TensorRT/include (or {TENSORRT_ROOT}=/path/to/TensorRT).\n\
             Supported: TensorRT 8.5 through 10.x. Only the headers are needed to build; the libraries are\n\
             opened at run time. Without a TensorRT install, `cargo xtask test` fetches the 10.16 headers.\n\n",
            tried.iter().map(|t| format!("  - {t}\n")).collect::<String>()
        )
    });
    println!(
        "cargo:rerun-if-changed={}",
        include.join("NvInferVersion.h").display()
    );

    let (major, minor, patch) = header_version(&include);
    if major >= 11 {
        // TensorRT 11 removed implicit INT8 (calibrators, kINT8/kFP16, precision constraints,
        // dynamic ranges, the algorithm selector): those shim calls report "removed in TensorRT
        // 11", and the library refuses INT8/FP16/strict builds before TensorRT is asked.
        println!(
            "cargo:warning=TensorRT {major}.{minor}.{patch} headers: implicit INT8 (calibration, strict INT8, tactic replay) does not exist in TensorRT 11; only explicitly quantized (Q/DQ) networks build"
        );
    }
    if major < 8 || (major == 8 && minor < 5) {
        panic!(
            "\n\nTensorRT {major}.{minor}.{patch} headers found in {}: this crate needs TensorRT 8.5 - 10.x.\n\
             Point {TENSORRT_INCLUDE_DIR} at newer headers.\n\n",
            include.display()
        );
    }

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("shim/trt_shim.cpp")
        .include("shim")
        // TensorRT's own headers are not ours to warn about.
        .flag(format!("-isystem{}", include.display()))
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(true);
    match find_cuda_include() {
        Some(cuda) => build.flag(format!("-isystem{}", cuda.display())),
        // The headers need only cudaStream_t / cudaEvent_t from CUDA.
        None => build.include("shim/cuda"),
    };
    build.compile("trt_shim");
    // Tests inspect the compiled shim (no TensorRT symbol may be undefined).
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rustc-env=TRT_SHIM_ARCHIVE={out_dir}/libtrt_shim.a");

    println!("cargo:major={major}");
    println!("cargo:minor={minor}");
    println!("cargo:patch={patch}");
    println!("cargo:include={}", include.display());
    println!("cargo:rustc-env=TENSORRT_HEADER_VERSION={major}.{minor}.{patch}");
}

fn find_tensorrt_headers() -> Result<PathBuf, Vec<String>> {
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(dir) = env_var(TENSORRT_INCLUDE_DIR) {
        candidates.push((
            PathBuf::from(&dir),
            format!("{dir} (from {TENSORRT_INCLUDE_DIR})"),
        ));
    }
    if let Some(root) = env_var(TENSORRT_ROOT) {
        let dir = Path::new(&root).join("include");
        candidates.push((
            dir.clone(),
            format!("{} (from {TENSORRT_ROOT})", dir.display()),
        ));
    }
    match cross_target_arch() {
        // Cross-compiling: the host's own TensorRT would silently give the wrong version; only
        // the target's multiarch folder (a Debian cross package, or a mounted Jetson rootfs) counts.
        Some(arch) => {
            let dir = format!("/usr/include/{arch}-linux-gnu");
            let label = format!(
                "{dir} (cross-compiling: set {TENSORRT_INCLUDE_DIR} to the target's headers)"
            );
            candidates.push((PathBuf::from(dir), label));
        }
        None => {
            for dir in USUAL_INCLUDE_DIRS {
                candidates.push((PathBuf::from(dir), dir.to_string()));
            }
        }
    }
    let mut tried = Vec::new();
    for (dir, label) in candidates {
        if dir.join("NvInfer.h").is_file() && dir.join("NvOnnxParser.h").is_file() {
            return Ok(dir);
        }
        tried.push(label);
    }
    Err(tried)
}

/// The target's CPU architecture when it differs from the host's (cross-compiling).
fn cross_target_arch() -> Option<String> {
    let (target, host) = (env::var("TARGET").ok()?, env::var("HOST").ok()?);
    (target != host).then(|| env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default())
}

fn find_cuda_include() -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = env_var(CUDA_HOME) {
        dirs.push(Path::new(&home).join("include"));
    }
    if cross_target_arch().is_none() {
        dirs.push(PathBuf::from("/usr/local/cuda/include"));
    }
    dirs.into_iter()
        .find(|d| d.join("cuda_runtime_api.h").is_file())
}

/// Reads NV_TENSORRT_MAJOR/MINOR/PATCH, following one level of indirection as 10.x does
/// (`#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE`).
fn header_version(include: &Path) -> (u32, u32, u32) {
    let path = include.join("NvInferVersion.h");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let defines: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?, it.next()?))
        })
        .collect();
    let get = |name: &str| -> u32 {
        let mut value = *defines
            .get(name)
            .unwrap_or_else(|| panic!("{name} not defined in {}", path.display()));
        for _ in 0..4 {
            if let Ok(n) = value.parse() {
                return n;
            }
            value = defines.get(value).copied().unwrap_or(value);
        }
        panic!("cannot read {name} ({value}) from {}", path.display())
    };
    (
        get("NV_TENSORRT_MAJOR"),
        get("NV_TENSORRT_MINOR"),
        get("NV_TENSORRT_PATCH"),
    )
}
