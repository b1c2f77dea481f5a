//! Opens TensorRT's libraries at run time and resolves the few exported entry points.
//!
//! TensorRT exports only factories (`createInferBuilder_INTERNAL`, `createInferRuntime_INTERNAL`,
//! `createNvOnnxParser_INTERNAL`) and `getInferLibVersion`; every other call is virtual. The shim
//! receives the factories as function pointers, so nothing links against TensorRT.

use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use trt_version::TrtVersion;

use crate::bindings::{trt_factory_fn, trt_parser_factory_fn};

/// Directory searched first for `libnvinfer.so.N` and `libnvonnxparser.so.N`.
pub const TRT_LIB_DIR: &str = "TRT_LIB_DIR";

const SYM_VERSION: &str = "getInferLibVersion";
const SYM_BUILDER: &str = "createInferBuilder_INTERNAL";
const SYM_RUNTIME: &str = "createInferRuntime_INTERNAL";
const SYM_PARSER: &str = "createNvOnnxParser_INTERNAL";

/// Why TensorRT's libraries could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No candidate path could be opened.
    NotFound {
        /// The file name looked for, e.g. `libnvinfer.so.10`.
        library: String,
        /// Each path tried, with why opening it failed.
        tried: Vec<(String, String)>,
    },
    /// The library opened but lacks an entry point.
    MissingSymbol {
        /// Where the library was opened from.
        path: String,
        /// The entry point looked for, e.g. `createInferBuilder_INTERNAL`.
        symbol: &'static str,
        /// The dynamic loader's message.
        reason: String,
    },
    /// The library's major version differs from the headers the shim was compiled against.
    VersionMismatch {
        /// Where the library was opened from.
        path: String,
        /// The library's own version (`getInferLibVersion`).
        library: TrtVersion,
        /// `major.minor.patch` of the headers ([`HEADER_VERSION`](crate::HEADER_VERSION)).
        headers: String,
    },
    /// `getInferLibVersion` returned a number in neither of TensorRT's encodings (`8503`,
    /// `101600`): whatever the library is, it is no TensorRT this crate knows.
    UnknownVersion {
        /// Where the library was opened from.
        path: String,
        /// What `getInferLibVersion` returned.
        encoded: i32,
    },
    /// The library is TensorRT's lean runtime: it runs version-compatible plans but has no
    /// builder and no ONNX parser. `what` names what was asked for.
    LeanRuntime {
        /// Where the lean runtime was opened from.
        path: String,
        /// `builder` or `ONNX parser`.
        what: &'static str,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { library, tried } => {
                writeln!(f, "TensorRT library {library} not found. Tried:")?;
                for (path, why) in tried {
                    writeln!(f, "  - {path}: {why}")?;
                }
                write!(
                    f,
                    "Set {TRT_LIB_DIR} to the directory that holds {library} (or add it to LD_LIBRARY_PATH)."
                )
            }
            LoadError::MissingSymbol { path, symbol, reason } => write!(
                f,
                "{path} does not export `{symbol}` ({reason}); it is not a TensorRT library this crate can use"
            ),
            LoadError::VersionMismatch { path, library, headers } => write!(
                f,
                "{path} is TensorRT {library}, but this build was compiled against TensorRT {headers} headers; \
                 the major versions must match. Rebuild with TENSORRT_INCLUDE_DIR pointing at the {}.x headers, \
                 or set {TRT_LIB_DIR} to a TensorRT {}.x library directory.",
                library.major(),
                headers.split('.').next().unwrap_or("?")
            ),
            LoadError::UnknownVersion { path, encoded } => write!(
                f,
                "{path} reports version number {encoded} (getInferLibVersion), which is no TensorRT \
                 version (TensorRT 8.5.3 reports 8503, 10.16.0 reports 101600); it is not a TensorRT \
                 library this crate can use. Set {TRT_LIB_DIR} to a TensorRT library directory."
            ),
            LoadError::LeanRuntime { path, what } => write!(
                f,
                "{path} is TensorRT's lean runtime: it deserializes and runs version-compatible plans, \
                 but has no {what}. Building needs the full library (libnvinfer.so.N with \
                 libnvonnxparser.so.N): set {TRT_LIB_DIR} to a directory that holds it."
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// TensorRT's libraries, opened once per process (see [`Library::get`]): the factories the shim's
/// `trt_*_create` calls need, and the library's version.
pub struct Library {
    path: PathBuf,
    version: TrtVersion,
    /// `None` for the lean runtime, which has no builder.
    create_builder: Option<trt_factory_fn>,
    create_runtime: trt_factory_fn,
    parser: OnceLock<Result<Parser, LoadError>>,
    dir_hint: Option<PathBuf>,
    // Keeps the code behind the function pointers mapped.
    _nvinfer: libloading::Library,
}

struct Parser {
    create: trt_parser_factory_fn,
    _lib: libloading::Library,
}

// SAFETY: the fields are function pointers into a library that stays loaded for the life of
// `Library`, plus immutable data; TensorRT's factories may be called from any thread.
unsafe impl Send for Library {}
// SAFETY: as for `Send`: nothing is mutated through `&Library` except the `OnceLock`, which
// synchronises itself.
unsafe impl Sync for Library {}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("version", &self.version)
            .finish()
    }
}

static LIBRARY: OnceLock<Result<Library, LoadError>> = OnceLock::new();

fn header_major() -> u32 {
    crate::header_version().0 as u32
}

impl Library {
    /// The process-wide TensorRT, loaded on first use from `TRT_LIB_DIR`, then the loader's
    /// search path; the lean runtime when that is all there is (see [`Library::open`]). Later
    /// calls return the same library (or the same error).
    pub fn get() -> Result<&'static Library, LoadError> {
        LIBRARY
            .get_or_init(|| {
                let dir = std::env::var_os(TRT_LIB_DIR)
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from);
                Library::open(dir.as_deref())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Opens `libnvinfer.so.<header major>` from `dir` (when given) or the loader's search path;
    /// when that is nowhere, the lean runtime `libnvinfer_lean.so.<major>` (runtime only).
    /// Not cached: use [`Library::get`] in applications.
    pub fn open(dir: Option<&Path>) -> Result<Library, LoadError> {
        match Library::open_named(&format!("libnvinfer.so.{}", header_major()), dir, false) {
            Err(LoadError::NotFound { library, mut tried }) => match Library::open_lean(dir) {
                Err(LoadError::NotFound { tried: lean, .. }) => {
                    tried.extend(lean);
                    Err(LoadError::NotFound { library, tried })
                }
                other => other,
            },
            other => other,
        }
    }

    /// Opens TensorRT's lean runtime `libnvinfer_lean.so.<header major>` (TensorRT >= 8.6): it
    /// deserializes and runs version-compatible plans; it has no builder and no ONNX parser.
    pub fn open_lean(dir: Option<&Path>) -> Result<Library, LoadError> {
        Library::open_named(&format!("libnvinfer_lean.so.{}", header_major()), dir, true)
    }

    fn open_named(name: &str, dir: Option<&Path>, lean: bool) -> Result<Library, LoadError> {
        let major = header_major();
        let (nvinfer, path) = open_first(name, dir)?;
        let path_str = path.display().to_string();

        // SAFETY: `getInferLibVersion` is `int32_t getInferLibVersion()` in every TensorRT
        // 8.x/10.x (NvInferRuntime*.h), so the symbol has this type; calling it has no
        // preconditions, and `nvinfer` stays loaded while `get` is used.
        let encoded = unsafe {
            let get: libloading::Symbol<unsafe extern "C" fn() -> i32> =
                symbol(&nvinfer, &path_str, SYM_VERSION)?;
            get()
        };
        let version =
            TrtVersion::from_lib_version(encoded).ok_or_else(|| LoadError::UnknownVersion {
                path: path_str.clone(),
                encoded,
            })?;
        if version.major() != major {
            return Err(LoadError::VersionMismatch {
                path: path_str,
                library: version,
                headers: crate::HEADER_VERSION.to_string(),
            });
        }
        let create_builder = if lean {
            None
        } else {
            // SAFETY: the factory's C signature is `trt_factory_fn` in every 8.x/10.x library,
            // and the returned `Library` keeps `nvinfer` loaded beside the pointer.
            Some(unsafe { factory(&nvinfer, &path_str, SYM_BUILDER)? })
        };
        // SAFETY: as above.
        let create_runtime = unsafe { factory(&nvinfer, &path_str, SYM_RUNTIME)? };
        Ok(Library {
            path,
            version,
            create_builder,
            create_runtime,
            parser: OnceLock::new(),
            dir_hint: dir.map(Path::to_path_buf),
            _nvinfer: nvinfer,
        })
    }

    /// Whether this is the lean runtime (no builder, no ONNX parser).
    pub fn is_lean(&self) -> bool {
        self.create_builder.is_none()
    }

    /// Where `libnvinfer` was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The library's own version (`getInferLibVersion`).
    pub fn version(&self) -> TrtVersion {
        self.version
    }

    /// `createInferBuilder_INTERNAL`, for `trt_builder_create`; an error for the lean runtime.
    pub fn builder_factory(&self) -> Result<trt_factory_fn, LoadError> {
        self.create_builder.ok_or_else(|| LoadError::LeanRuntime {
            path: self.path.display().to_string(),
            what: "builder",
        })
    }

    /// `createInferRuntime_INTERNAL`, for `trt_runtime_create`.
    pub fn runtime_factory(&self) -> trt_factory_fn {
        self.create_runtime
    }

    /// `createNvOnnxParser_INTERNAL` from `libnvonnxparser.so.N`, opened on first use (deployments
    /// that only run engines never need it).
    pub fn parser_factory(&self) -> Result<trt_parser_factory_fn, LoadError> {
        if self.is_lean() {
            return Err(LoadError::LeanRuntime {
                path: self.path.display().to_string(),
                what: "ONNX parser",
            });
        }
        self.parser
            .get_or_init(|| {
                let name = format!("libnvonnxparser.so.{}", self.version.major());
                let dir = self.dir_hint.as_deref().or_else(|| self.path.parent());
                let (lib, path) = open_first(&name, dir)?;
                // SAFETY: `createNvOnnxParser_INTERNAL` has the C signature of
                // `trt_parser_factory_fn` in every 8.x/10.x parser library, and `lib` is kept
                // loaded beside the pointer in `Parser`.
                let create = unsafe { factory(&lib, &path.display().to_string(), SYM_PARSER)? };
                Ok(Parser { create, _lib: lib })
            })
            .as_ref()
            .map(|p| p.create)
            .map_err(Clone::clone)
    }
}

fn open_first(name: &str, dir: Option<&Path>) -> Result<(libloading::Library, PathBuf), LoadError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = dir {
        candidates.push(dir.join(name));
    }
    // A bare name goes through the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache, ...).
    candidates.push(PathBuf::from(name));
    let mut tried = Vec::new();
    for c in candidates {
        // SAFETY: loading a library runs its static initialisers; TensorRT's are sound to run
        // at any time, and they are what we want.
        match unsafe { libloading::Library::new(&c) } {
            Ok(lib) => return Ok((lib, c)),
            Err(e) => {
                let label = if c.components().count() == 1 {
                    format!(
                        "{} (loader search path: LD_LIBRARY_PATH, ld.so.cache)",
                        c.display()
                    )
                } else {
                    c.display().to_string()
                };
                tried.push((label, source_message(&e)));
            }
        }
    }
    Err(LoadError::NotFound {
        library: name.to_string(),
        tried,
    })
}

fn source_message(e: &libloading::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Resolves `name` in `lib` as a `T`; a missing symbol becomes [`LoadError::MissingSymbol`].
///
/// # Safety
///
/// `T` must be the symbol's real type (for a function, its exact C signature), as for
/// [`libloading::Library::get`]; the result must not be used after `lib` is unloaded (the
/// returned `Symbol` borrows `lib` to ensure that).
unsafe fn symbol<'l, T>(
    lib: &'l libloading::Library,
    path: &str,
    name: &'static str,
) -> Result<libloading::Symbol<'l, T>, LoadError> {
    // SAFETY: the caller guarantees that `T` is the symbol's type.
    unsafe { lib.get(name.as_bytes()) }.map_err(|e| LoadError::MissingSymbol {
        path: path.to_string(),
        symbol: name,
        reason: source_message(&e),
    })
}

/// The address of the function `name` in `lib`, as the function-pointer type `F` (one of the
/// bindings' `Option<unsafe extern "C" fn ...>` factory types).
///
/// # Safety
///
/// `F` must be a pointer-sized `Option` of an `extern "C"` function pointer whose signature is
/// that of the function `name`; the pointer must not be called after `lib` is unloaded (unlike
/// [`symbol`]'s result, the returned copy does not borrow `lib`: keep `lib` alive beside it).
unsafe fn factory<F: Copy>(
    lib: &libloading::Library,
    path: &str,
    name: &'static str,
) -> Result<F, LoadError> {
    // SAFETY: a symbol's address is a valid `*mut c_void`, whatever the symbol is.
    let sym: libloading::Symbol<*mut c_void> = unsafe { symbol(lib, path, name)? };
    let ptr = *sym;
    debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: the caller guarantees that `F` is a pointer-sized `Option<extern "C" fn>` of the
    // function's signature; every pointer value is a valid such `Option` (null is `None`).
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&ptr) })
}
