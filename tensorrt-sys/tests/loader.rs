//! The loader's three failure modes, each with its own clear error, using tiny stand-in
//! libraries compiled here (no TensorRT needed). Plus: the compiled shim leaves no TensorRT
//! symbol undefined.

use std::path::{Path, PathBuf};
use std::process::Command;

use tensorrt_sys::{header_version, Library, LoadError};

fn compile_stand_in(dir: &Path, file_name: &str, source: &str) -> PathBuf {
    let src = dir.join("stand_in.c");
    std::fs::write(&src, source).unwrap();
    let out = dir.join(file_name);
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed to build the stand-in library");
    assert!(status.success(), "compiling the stand-in library failed");
    out
}

fn lib_name() -> String {
    format!("libnvinfer.so.{}", header_version().0)
}

/// A version number in the encoding of `major` (8.x: 8503; 10.x: 100300).
fn encoded(major: i32, minor: i32) -> i32 {
    if major >= 10 {
        major * 10000 + minor * 100
    } else {
        major * 1000 + minor * 100
    }
}

#[test]
fn missing_library_names_every_path_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    match Library::open(Some(dir.path())) {
        Err(LoadError::NotFound { library, tried }) => {
            assert_eq!(library, lib_name());
            // The full library, then the lean runtime, each in the folder and on the loader path.
            assert_eq!(tried.len(), 4, "{tried:?}");
            assert_eq!(
                tried[0].0,
                dir.path().join(lib_name()).display().to_string()
            );
            assert!(tried[1].0.contains("loader search path"), "{tried:?}");
            let lean = format!("libnvinfer_lean.so.{}", header_version().0);
            assert_eq!(tried[2].0, dir.path().join(&lean).display().to_string());
            assert!(tried[3].0.starts_with(&lean), "{tried:?}");
            let msg = Library::open(Some(dir.path())).unwrap_err().to_string();
            assert!(msg.contains("TRT_LIB_DIR"), "{msg}");
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
        Err(other) => panic!("expected NotFound, got {other}"),
        Ok(lib) => eprintln!(
            "skipped: a real TensorRT is on the loader path ({})",
            lib.path().display()
        ),
    }
}

#[test]
fn wrong_major_version_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let header_major = header_version().0;
    let other_major = if header_major == 8 { 10 } else { 8 };
    let v = encoded(other_major, 5);
    compile_stand_in(
        dir.path(),
        &lib_name(),
        &format!("int getInferLibVersion(void) {{ return {v}; }}\n"),
    );
    let err = Library::open(Some(dir.path())).unwrap_err();
    match &err {
        LoadError::VersionMismatch { library, .. } => {
            assert_eq!(library.major() as i32, other_major)
        }
        other => panic!("expected VersionMismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("is TensorRT {other_major}.5.0")),
        "{msg}"
    );
    assert!(msg.contains(tensorrt_sys::HEADER_VERSION), "{msg}");
    assert!(msg.contains("major versions must match"), "{msg}");
}

#[test]
fn a_version_number_in_neither_encoding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 85030 would be 8.50.30 read as 10.x-style, 8 read as 8.x-style: neither is a TensorRT.
    compile_stand_in(
        dir.path(),
        &lib_name(),
        "int getInferLibVersion(void) { return 85030; }\n",
    );
    let err = Library::open(Some(dir.path())).unwrap_err();
    match &err {
        LoadError::UnknownVersion { path, encoded } => {
            assert_eq!(*encoded, 85030);
            assert_eq!(*path, dir.path().join(lib_name()).display().to_string());
        }
        other => panic!("expected UnknownVersion, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("reports version number 85030"), "{msg}");
    assert!(msg.contains("TRT_LIB_DIR"), "{msg}");
}

#[test]
fn missing_entry_point_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (major, minor, _) = header_version();
    let v = encoded(major, minor);
    // The right version, but none of the factories.
    compile_stand_in(
        dir.path(),
        &lib_name(),
        &format!("int getInferLibVersion(void) {{ return {v}; }}\n"),
    );
    let err = Library::open(Some(dir.path())).unwrap_err();
    match &err {
        LoadError::MissingSymbol { symbol, .. } => {
            assert_eq!(*symbol, "createInferBuilder_INTERNAL")
        }
        other => panic!("expected MissingSymbol, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("does not export `createInferBuilder_INTERNAL`"),
        "{err}"
    );
}

#[test]
fn stand_in_with_every_entry_point_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (major, minor, patch) = header_version();
    let v = encoded(major, minor) + patch;
    compile_stand_in(
        dir.path(),
        &lib_name(),
        &format!(
            "int getInferLibVersion(void) {{ return {v}; }}\n\
             void* createInferBuilder_INTERNAL(void* l, int v) {{ return 0; }}\n\
             void* createInferRuntime_INTERNAL(void* l, int v) {{ return 0; }}\n"
        ),
    );
    let lib = Library::open(Some(dir.path())).expect("stand-in with all entry points");
    assert_eq!(lib.version().major() as i32, major);
    assert_eq!(lib.version().minor() as i32, minor);
    assert_eq!(lib.path(), dir.path().join(lib_name()));
    // The parser library is separate and absent here: its own NotFound.
    match lib.parser_factory() {
        Err(LoadError::NotFound { library, .. }) => {
            assert_eq!(library, format!("libnvonnxparser.so.{major}"))
        }
        Err(other) => panic!("expected NotFound for the parser, got {other}"),
        Ok(_) => eprintln!("skipped: a real ONNX parser is on the loader path"),
    }
}

#[test]
fn compiled_shim_leaves_no_tensorrt_symbol_undefined() {
    let archive = env!("TRT_SHIM_ARCHIVE");
    let out = Command::new("nm")
        .args(["-u", "-C", archive])
        .output()
        .expect("nm (binutils) is needed");
    assert!(out.status.success(), "nm failed on {archive}");
    let undefined = String::from_utf8_lossy(&out.stdout);
    assert!(
        undefined.lines().count() > 0,
        "nm listed nothing: wrong file?"
    );
    let offending: Vec<&str> = undefined
        .lines()
        .filter(|l| {
            l.contains("nvinfer1::")
                || l.contains("nvonnxparser::")
                || l.contains("_INTERNAL")
                || l.contains("getInferLibVersion")
        })
        .collect();
    assert!(
        offending.is_empty(),
        "the shim references TensorRT symbols directly: {offending:#?}"
    );
}

/// A folder that holds only a lean runtime (runtime factory, no builder): opened as such, and
/// what needs a builder or a parser says why it cannot have one.
#[test]
fn a_lean_runtime_alone_is_opened_runtime_only() {
    let dir = tempfile::tempdir().unwrap();
    let (major, minor, patch) = header_version();
    let v = encoded(major, minor) + patch;
    let lean = format!("libnvinfer_lean.so.{major}");
    compile_stand_in(
        dir.path(),
        &lean,
        &format!(
            "int getInferLibVersion(void) {{ return {v}; }}\n\
             void* createInferRuntime_INTERNAL(void* l, int v) {{ (void)l; (void)v; return 0; }}\n"
        ),
    );
    let lib = Library::open(Some(dir.path())).unwrap();
    assert!(lib.is_lean());
    assert_eq!(lib.path(), dir.path().join(&lean));
    let e = lib.builder_factory().unwrap_err().to_string();
    assert!(
        e.contains("is TensorRT's lean runtime") && e.contains("no builder"),
        "{e}"
    );
    assert!(e.contains("TRT_LIB_DIR"), "{e}");
    let e = lib.parser_factory().unwrap_err().to_string();
    assert!(e.contains("no ONNX parser"), "{e}");
    // Explicitly, too.
    assert!(Library::open_lean(Some(dir.path())).unwrap().is_lean());
}
