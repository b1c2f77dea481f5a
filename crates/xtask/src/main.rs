//! Project tasks.
//!
//!     cargo xtask test      run the workspace's tests (no GPU or TensorRT library needed), plus a test
//!                           on TensorRT 10.16's real lean runtime, fetched from PyPI (and pip-installs
//!                           the onnx and onnxruntime wheels trt-qdq's test needs, when missing)
//!     cargo xtask ci        what CI runs: fmt, clippy (GPU tests included), a compile check against
//!                           TensorRT 11.4's headers, a docs.rs check, bindings check, tests
//!     cargo xtask headers   print the TensorRT include directory the tasks use
//!     cargo xtask imports   the import graph of src/ (fails on an import circle)
//!
//! Only TensorRT's headers are needed to build. When none are installed (and
//! `TENSORRT_INCLUDE_DIR` is unset), the TensorRT 10.16 headers are taken from the crate
//! registry's `trtx-sys` 0.5.0 package (Apache-2.0, `TensorRT-Headers/TRT-Enterprise-10.16`):
//! fetched with `cargo fetch` on a throwaway manifest and located with `cargo metadata`,
//! without building that crate.

mod imports;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HEADERS_CRATE: &str = "trtx-sys";
const HEADERS_VERSION: &str = "0.5.0";
const HEADERS_SUBDIR: &str = "TensorRT-Headers/TRT-Enterprise-10.16";
const INSTALLED: &[&str] = &[
    "/usr/include/x86_64-linux-gnu",
    "/usr/include/aarch64-linux-gnu",
    "/usr/local/TensorRT/include",
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => headers().and_then(|h| test(&h)),
        "ci" => headers().and_then(|h| ci(&h)),
        "headers" => headers().map(|h| println!("{}", h.display())),
        "imports" => imports::check(&root()),
        _ => {
            eprintln!("usage: cargo xtask <test|ci|headers|imports>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(mut cmd: Command, headers: &Path) -> Result<(), String> {
    cmd.current_dir(root()).env("TENSORRT_INCLUDE_DIR", headers);
    eprintln!("xtask: running {:?}", cmd);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

fn has_headers(dir: &Path) -> bool {
    dir.join("NvInfer.h").is_file() && dir.join("NvOnnxParser.h").is_file()
}

/// Installed headers first (as the build script would find them), else the registry package.
fn headers() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("TENSORRT_INCLUDE_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_headers(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "TENSORRT_INCLUDE_DIR={} has no NvInfer.h/NvOnnxParser.h",
                dir.display()
            ))
        };
    }
    if let Some(root) = std::env::var_os("TENSORRT_ROOT") {
        let dir = PathBuf::from(root).join("include");
        if has_headers(&dir) {
            return Ok(dir);
        }
    }
    if let Some(dir) = INSTALLED.iter().map(PathBuf::from).find(|d| has_headers(d)) {
        return Ok(dir);
    }
    registry_headers()
}

fn registry_headers() -> Result<PathBuf, String> {
    eprintln!("xtask: no TensorRT headers installed; fetching {HEADERS_CRATE} {HEADERS_VERSION} from the registry");
    fetch_headers(HEADERS_CRATE, HEADERS_VERSION, HEADERS_SUBDIR, "headers")
}

/// TensorRT 11's headers, for the compile check: implicit INT8 is gone there.
const HEADERS_11_VERSION: &str = "0.9.1+rtx1.7";
const HEADERS_11_SUBDIR: &str = "TensorRT-Headers/TRT-Enterprise-11.4";

/// The headers `subdir` of registry crate `krate` `version`, fetched with `cargo fetch` on a
/// throwaway manifest under `target/xtask/<name>` and located with `cargo metadata`.
fn fetch_headers(krate: &str, version: &str, subdir: &str, name: &str) -> Result<PathBuf, String> {
    let dir = root().join("target/xtask").join(name);
    std::fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    std::fs::write(
        &manifest,
        format!(
            "[package]\nname = \"trt-headers-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\n{krate} = \"={version}\"\n\n[workspace]\n"
        ),
    )
    .map_err(|e| format!("{}: {e}", manifest.display()))?;
    std::fs::write(dir.join("src/lib.rs"), "").map_err(|e| e.to_string())?;

    let status = cargo()
        .arg("fetch")
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo fetch of {krate} {version} failed"));
    }
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let package = meta["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == krate && p["version"] == version)
        })
        .ok_or_else(|| format!("{krate} {version} not in cargo metadata"))?;
    let src = Path::new(package["manifest_path"].as_str().unwrap_or_default())
        .parent()
        .ok_or("no manifest path")?
        .join(subdir);
    if !has_headers(&src) {
        return Err(format!("{} lacks NvInfer.h/NvOnnxParser.h", src.display()));
    }
    Ok(src)
}

/// The Python wheels trt-qdq's onnxruntime test runs the exported model through (it fails, not
/// skips, without them): installed with pip when `python3` cannot import them.
const ONNX_WHEELS: &[&str] = &["onnx==1.23.2", "onnxruntime==1.32.0"];

fn onnx_wheels() -> Result<(), String> {
    let have = Command::new("python3")
        .args(["-c", "import onnx, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("xtask: installing {ONNX_WHEELS:?} with pip for trt-qdq's onnxruntime test");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet"])
        .args(ONNX_WHEELS)
        .status()
        .map_err(|e| format!("cannot run python3 (needed for {ONNX_WHEELS:?}): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("pip install {ONNX_WHEELS:?} failed ({status})"))
    }
}

fn test(headers: &Path) -> Result<(), String> {
    onnx_wheels()?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--locked"]);
    run(cmd, headers)?;
    // Real TensorRT code without a GPU: the 10.x lean runtime from PyPI, loaded and asked for a
    // runtime (TensorRT's own CUDA error must come back through our logger).
    match header_major(headers) {
        Some(LEAN_MAJOR) if cfg!(all(target_os = "linux", target_arch = "x86_64")) => {
            let dir = lean_runtime()?;
            let mut cmd = cargo();
            cmd.args([
                "test",
                "--locked",
                "-p",
                "tensorrt-sys",
                "--features",
                "lean-runtime-test",
                "--test",
                "lean_runtime",
            ])
            .env("TRT_LEAN_LIB_DIR", &dir);
            run(cmd, headers)
        }
        major => {
            eprintln!(
                "xtask: the lean-runtime test needs TensorRT {LEAN_MAJOR}.x headers on x86_64 Linux \
                 (these are {major:?}): not run"
            );
            Ok(())
        }
    }
}

const LEAN_MAJOR: u32 = 10;
const LEAN_WHEEL: &str = "tensorrt-lean-cu12-libs==10.16.1.11";
const LEAN_LIB: &str = "libnvinfer_lean.so.10";

/// `NV_TENSORRT_MAJOR` of the headers (a number, or a macro that names one).
fn header_major(headers: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(headers.join("NvInferVersion.h")).ok()?;
    let define = |name: &str| {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("#define") && w.next() == Some(name))
                .then(|| w.next().map(String::from))?
        })
    };
    let v = define("NV_TENSORRT_MAJOR")?;
    v.parse().ok().or_else(|| define(&v)?.parse().ok())
}

/// The TensorRT 10.16 lean runtime (`libnvinfer_lean.so.10`, 111 MB) from its PyPI wheel,
/// downloaded once into target/xtask.
fn lean_runtime() -> Result<PathBuf, String> {
    let dir = root().join("target/xtask/lean-10.16.1.11");
    if dir.join(LEAN_LIB).is_file() {
        return Ok(dir);
    }
    let wheels = dir.join("wheel");
    std::fs::create_dir_all(&wheels).map_err(|e| format!("{}: {e}", wheels.display()))?;
    eprintln!("xtask: fetching {LEAN_WHEEL} from PyPI (46 MB) for the lean-runtime test");
    let python = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let status = Command::new("python3")
            .args(args)
            .status()
            .map_err(|e| format!("cannot run python3 (needed to fetch {LEAN_WHEEL}): {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("python3 {args:?} failed ({status})"))
        }
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    python(&[
        &os("-m"),
        &os("pip"),
        &os("download"),
        &os("--quiet"),
        &os("--no-deps"),
        &os("--only-binary=:all:"),
        &os("--python-version"),
        &os("3.12"),
        &os("--implementation"),
        &os("cp"),
        &os("--platform"),
        &os("manylinux_2_28_x86_64"),
        &os("-d"),
        wheels.as_os_str(),
        &os(LEAN_WHEEL),
    ])?;
    let tmp = dir.join(format!("{LEAN_LIB}.tmp"));
    python(&[
        &os("-c"),
        &os("import glob, sys, zipfile\n\
             z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0])\n\
             open(sys.argv[2], 'wb').write(z.read('tensorrt_lean_libs/' + sys.argv[3]))"),
        wheels.as_os_str(),
        tmp.as_os_str(),
        &os(LEAN_LIB),
    ])?;
    std::fs::rename(&tmp, dir.join(LEAN_LIB)).map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(dir)
}

fn ci(headers: &Path) -> Result<(), String> {
    imports::check(&root())?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt, headers)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "gpu",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    // With the GPU tests, so code that only a GPU machine runs stays compiled and lint-clean.
    run(clippy, headers)?;
    // TensorRT 11 headers: everything compiles, with implicit INT8 left out of the shim by #if.
    let headers_11 = fetch_headers(
        HEADERS_CRATE,
        HEADERS_11_VERSION,
        HEADERS_11_SUBDIR,
        "headers-11",
    )?;
    let mut check_11 = cargo();
    check_11
        .args([
            "check",
            "--locked",
            "-p",
            "tensorrt-sys",
            "-p",
            "trt",
            "-p",
            "trt-cli",
        ])
        .args(["--all-targets", "--features", "gpu"])
        .env("CARGO_TARGET_DIR", root().join("target/xtask/trt11"));
    run(check_11, &headers_11)?;
    // What docs.rs does: no TensorRT headers, no shim.
    let mut docs_rs = cargo();
    docs_rs
        .args(["check", "--locked", "-p", "tensorrt-sys", "-p", "trt"])
        .env("DOCS_RS", "1");
    run(docs_rs, headers)?;
    let mut bindings = cargo();
    bindings.args([
        "run",
        "--locked",
        "--quiet",
        "-p",
        "trt-bindgen",
        "--",
        "--check",
    ]);
    run(bindings, headers)?;
    test(headers)
}
