//! Real TensorRT code on a machine without a GPU: the lean runtime of TensorRT 10.x (the PyPI
//! wheel `tensorrt-lean-cu12-libs`, which `cargo xtask test` fetches into `TRT_LEAN_LIB_DIR`).
//! It loads without a GPU; the loader must take it as a runtime-only library, refuse what needs
//! a builder with a clear message, and TensorRT's own words must reach us through our logger.
#![cfg(feature = "lean-runtime-test")]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void, CStr};
use std::path::PathBuf;
use std::sync::Mutex;

use tensorrt_sys::*;

fn lean_dir() -> PathBuf {
    let dir = std::env::var_os("TRT_LEAN_LIB_DIR")
        .map(PathBuf::from)
        .expect("TRT_LEAN_LIB_DIR must name the folder with libnvinfer_lean.so.N (cargo xtask test sets it)");
    assert!(
        dir.join(format!("libnvinfer_lean.so.{}", header_version().0))
            .is_file(),
        "{} has no libnvinfer_lean.so.{}",
        dir.display(),
        header_version().0
    );
    dir
}

static LOGGED: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

extern "C" fn log(_user: *mut c_void, severity: i32, msg: *const c_char) {
    let text = if msg.is_null() {
        "(null)".to_string()
    } else {
        // SAFETY: TensorRT passes a NUL-terminated message.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    if let Ok(mut l) = LOGGED.lock() {
        l.push((severity, text));
    }
}

fn last_error() -> String {
    // SAFETY: the shim's thread-local message, valid until the next shim call on this thread.
    let p = unsafe { trt_last_error() };
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: as above, NUL-terminated.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

#[test]
fn the_lean_runtime_loads_runs_no_builder_and_talks_through_our_logger() {
    let dir = lean_dir();
    // The folder holds only the lean runtime: `open` falls back to it.
    let lib = Library::open(Some(&dir)).unwrap();
    assert!(lib.is_lean());
    assert!(lib
        .path()
        .ends_with(format!("libnvinfer_lean.so.{}", header_version().0)));
    let v = lib.version();
    assert_eq!(
        v.major() as i32,
        header_version().0,
        "header and library majors"
    );
    assert!(v.minor() > 0 || v.major() > 10, "a real 10.x version: {v}");
    println!("lean runtime {v} from {}", lib.path().display());

    let e = lib.builder_factory().unwrap_err().to_string();
    assert!(
        e.contains("lean runtime") && e.contains("no builder"),
        "{e}"
    );
    let e = lib.parser_factory().unwrap_err().to_string();
    assert!(e.contains("no ONNX parser"), "{e}");

    let mut logger = std::ptr::null_mut();
    // SAFETY: a plain C callback with no user data; the logger outlives every use below.
    let status = unsafe { trt_logger_create(Some(log), std::ptr::null_mut(), &mut logger) };
    assert_eq!(status, 0);
    let mut runtime = std::ptr::null_mut();
    // SAFETY: the factory comes from the loaded library; the logger is live.
    let status = unsafe { trt_runtime_create(lib.runtime_factory(), logger, &mut runtime) };
    if status == 0 {
        // A runtime (a GPU, or TensorRT initialises CUDA lazily): a corrupt plan is refused in
        // TensorRT's words, which arrive through our logger.
        let plan = b"definitely not a TensorRT plan, just some bytes of the right kind of size";
        let mut engine = std::ptr::null_mut();
        // SAFETY: live runtime, `plan.len()` readable bytes.
        let s = unsafe {
            trt_runtime_deserialize(runtime, plan.as_ptr().cast(), plan.len(), &mut engine)
        };
        assert_ne!(s, 0, "a corrupt plan was accepted");
        assert!(engine.is_null());
        let msg = last_error();
        let logged = LOGGED.lock().unwrap().clone();
        println!("deserialize: {msg}\nTensorRT logged: {logged:?}");
        assert!(
            logged.iter().any(|(sev, _)| *sev <= 1),
            "TensorRT logged no error through our logger: {logged:?}"
        );
        // SAFETY: created above, destroyed once.
        unsafe { trt_runtime_destroy(runtime) };
    } else {
        // No usable GPU (CI): TensorRT says why through our logger ("CUDA initialization failure
        // with error: 35" on 10.16.1) and hands back 0x228 instead of null: the shim must
        // report that as a failure, not as a runtime the next call would crash on.
        assert!(
            runtime.is_null(),
            "a failed factory's pointer reached Rust: {runtime:?}"
        );
        let msg = last_error();
        let logged = LOGGED.lock().unwrap().clone();
        println!("createInferRuntime: {msg}\nTensorRT logged: {logged:?}");
        assert!(msg.contains("createInferRuntime failed"), "{msg}");
        assert!(
            logged
                .iter()
                .any(|(sev, m)| *sev <= 1 && m.contains("CUDA initialization failure")),
            "{logged:?}"
        );
    }
    // SAFETY: created above, destroyed once, after the runtime.
    unsafe { trt_logger_destroy(logger) };
}
