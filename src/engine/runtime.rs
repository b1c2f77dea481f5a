//! The runtime (deserializes plans on one CUDA device) and the engines it makes.

use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::Arc;

use cudarc::driver::CudaContext;
use tensorrt_sys as sys;

use super::io::{find, IoMode, IoTensor};
use crate::device::device_context;
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::handle::{create, host_memory, own_host_memory, Handle};
use crate::inspector::EngineInspection;
use crate::logger::{with_log, Logger};
use crate::network::DataType;
use crate::tensor::HostTensor;

/// What a [`Runtime`] shares with its engines. Fields drop in declaration order: the runtime
/// object is destroyed before the logger it logs to is released.
pub(super) struct RuntimeInner {
    raw: Handle<sys::trt_runtime>,
    pub(super) logger: Arc<Logger>,
    pub(super) lib: &'static sys::Library,
    /// The device engines are deserialized on and run on.
    pub(super) cuda: Arc<CudaContext>,
}

// SAFETY: IRuntime is thread-safe for deserialization (TensorRT's threading rules).
unsafe impl Send for RuntimeInner {}
// SAFETY: as above; `&self` methods only deserialize.
unsafe impl Sync for RuntimeInner {}

/// Deserializes engines on one CUDA device. Keeps the logger and library alive for its engines.
///
/// Cheap to clone (an `Arc`), `Send` and `Sync`: TensorRT's runtime may deserialize from
/// several threads.
///
/// ```no_run
/// # fn main() -> trt::Result<()> {
/// let runtime = trt::Runtime::on_device(0)?;
/// let engine = runtime.load("model.engine")?; // errors name the file
/// let stream = engine.cuda_context().new_stream()?;
/// let mut context = engine.create_context(stream)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(super) inner: Arc<RuntimeInner>,
}

impl Runtime {
    /// A runtime on CUDA device 0.
    pub fn new() -> Result<Runtime> {
        Runtime::on_device(0)
    }

    /// A runtime on CUDA device `device`; an index past the device count is an error.
    pub fn on_device(device: usize) -> Result<Runtime> {
        let cuda = device_context(device)?;
        Runtime::create(Logger::shared()?, cuda)
    }

    /// A runtime on CUDA device 0 with your logger.
    pub fn with_logger(logger: Arc<Logger>) -> Result<Runtime> {
        Runtime::with_logger_on_device(logger, 0)
    }

    /// A runtime on CUDA device `device` with your logger.
    pub fn with_logger_on_device(logger: Arc<Logger>, device: usize) -> Result<Runtime> {
        let cuda = device_context(device)?;
        Runtime::create(logger, cuda)
    }

    /// A runtime that logs to `logger`, on the device of `cuda`.
    fn create(logger: Arc<Logger>, cuda: Arc<CudaContext>) -> Result<Runtime> {
        let lib = sys::Library::get()?;
        // TensorRT works on the thread's current CUDA context.
        cuda.bind_to_thread()?;
        // Its engines hold an Arc to the runtime, so it is destroyed (by the handle) after them.
        let raw = create!(sys::trt_runtime_create, lib.runtime_factory(), logger.raw(); sys::trt_runtime_destroy, "runtime")
            .map_err(|e| with_log(e, &logger))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                raw,
                logger,
                lib,
                cuda,
            }),
        })
    }

    /// The runtime object, for shim calls; valid while `self` lives.
    fn raw(&self) -> *mut sys::trt_runtime {
        self.inner.raw.as_ptr()
    }

    /// The TensorRT library this runtime was created from (its path and version).
    pub fn library(&self) -> &'static sys::Library {
        self.inner.lib
    }

    /// The CUDA device this runtime's engines live on.
    pub fn device(&self) -> usize {
        self.inner.cuda.ordinal()
    }

    /// That device's CUDA context: make the streams of execution contexts with it.
    pub fn cuda_context(&self) -> &Arc<CudaContext> {
        &self.inner.cuda
    }

    /// Lets TensorRT run the host code a version-compatible plan carries (its lean runtime),
    /// which such plans need to deserialize. Only for plans you trust. TensorRT >= 8.6.
    pub fn allow_engine_host_code(&self, allowed: bool) -> Result<()> {
        // SAFETY: `raw()` is a live runtime (owned by `inner`'s handle); the flag is a plain int.
        ffi::check(unsafe {
            sys::trt_runtime_set_engine_host_code_allowed(self.raw(), allowed as i32)
        })
    }

    /// Deserializes a plan. A corrupt, truncated or foreign plan is an error.
    ///
    /// For a plan in a file, [`Runtime::load`] reads it and names the file in its errors.
    pub fn deserialize(&self, plan: &[u8]) -> Result<Engine> {
        if plan.len() < 64 {
            return Err(Error::Invalid(format!(
                "engine plan is {} bytes: truncated or not an engine",
                plan.len()
            )));
        }
        self.inner.cuda.bind_to_thread()?;
        let raw = create!(sys::trt_runtime_deserialize, self.raw(), plan.as_ptr().cast(), plan.len(); sys::trt_engine_destroy, "engine")
            .map_err(|e| explain_refused_plan(with_log(e, &self.inner.logger), self.inner.lib))?;
        Engine::new(raw, plan.len(), self.inner.clone())
    }

    /// Reads and deserializes an engine file, on this runtime's device (choose it with
    /// [`Runtime::on_device`]). Every error about the file names it: unreadable
    /// ([`Error::Io`]), truncated or not a plan ([`Error::Invalid`]), refused by TensorRT
    /// ([`Error::TensorRt`], whose message starts with the path).
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        self.deserialize(&bytes).map_err(|e| naming_file(e, path))
    }
}

/// TensorRT's refusal of a plan, with what it means for the library that refused it: a lean
/// runtime takes only version-compatible plans; a full one, only plans of its exact version
/// unless they are version-compatible.
fn explain_refused_plan(e: Error, lib: &sys::Library) -> Error {
    let Error::TensorRt { code, message, log } = e else {
        return e;
    };
    let v = lib.version();
    let why = if lib.is_lean() {
        format!(
            "TensorRT {v}'s lean runtime ({}) has no builder and loads only \
             version-compatible plans (trt build --version-compatible, TensorRT 8.6 or later, \
             no later than {v}); run other plans on the full TensorRT that built them, or \
             rebuild version-compatible",
            lib.path().display()
        )
    } else {
        format!(
            "a plan TensorRT {v} ({}) refuses is corrupt or from another TensorRT: it loads \
             plans built by exactly this version, and version-compatible plans (TensorRT 8.6 or \
             later) of this or an earlier version; rebuild the engine here, e.g. from its \
             calibration table",
            lib.path().display()
        )
    };
    Error::TensorRt {
        code,
        message: format!("{message} ({why})"),
        log,
    }
}

/// A deserialization error with the plan's file in front of its message (CUDA errors, which
/// are about the device, stay as they are).
fn naming_file(e: Error, path: &Path) -> Error {
    match e {
        Error::TensorRt { code, message, log } => Error::TensorRt {
            code,
            message: format!("{}: {message}", path.display()),
            log,
        },
        Error::Invalid(message) => Error::Invalid(format!("{}: {message}", path.display())),
        other => other,
    }
}

/// What an [`Engine`] shares with its clones and contexts. Fields drop in declaration order:
/// the engine object is destroyed before its runtime is released.
pub(super) struct EngineInner {
    raw: Handle<sys::trt_engine>,
    pub(super) io: Vec<IoTensor>,
    /// The I/O tensor names as C strings, in `io`'s order, for the context's shim calls.
    pub(super) names: Vec<CString>,
    /// The size in bytes of the plan it was deserialized from.
    plan_size: usize,
    pub(super) runtime: Arc<RuntimeInner>,
}

// SAFETY: ICudaEngine is immutable after deserialization and may be shared between threads.
unsafe impl Send for EngineInner {}
// SAFETY: as above.
unsafe impl Sync for EngineInner {}

/// A deserialized engine: its inputs and outputs, the inspector's view of its layers, and the
/// execution contexts that run it.
///
/// Cheap to clone (an `Arc`), `Send` and `Sync`: a TensorRT engine is immutable once
/// deserialized, and each thread runs it through its own [`ExecutionContext`](crate::ExecutionContext). It keeps its
/// runtime (and so the logger and library) alive.
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<EngineInner>,
}

impl Engine {
    /// Reads the I/O tensors of an engine just deserialized from `plan_size` bytes; on error
    /// the handle destroys it.
    fn new(
        raw: Handle<sys::trt_engine>,
        plan_size: usize,
        runtime: Arc<RuntimeInner>,
    ) -> Result<Engine> {
        let e = raw.as_ptr();
        let n = out!(sys::trt_engine_nb_io_tensors, e; i32)?;
        let mut io = Vec::with_capacity(n as usize);
        for i in 0..n {
            let cname = out!(sys::trt_engine_io_tensor_name, e, i; *const c_char)?;
            let name = ffi::string(cname);
            let mode = match out!(sys::trt_engine_tensor_mode, e, cname; i32)? as u32 {
                sys::TRT_IO_INPUT => IoMode::Input,
                _ => IoMode::Output,
            };
            let dims = out!(sys::trt_engine_tensor_shape, e, cname; sys::trt_dims)?;
            let dtype = DataType::from_raw(out!(sys::trt_engine_tensor_type, e, cname; i32)?);
            io.push(IoTensor {
                name,
                mode,
                shape: ffi::dims_to_vec(&dims),
                dtype,
            });
        }
        let names = io
            .iter()
            .map(|t| ffi::cstring(&t.name))
            .collect::<Result<Vec<_>>>()?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                raw,
                io,
                names,
                plan_size,
                runtime,
            }),
        })
    }

    /// The engine object, for shim calls; valid while `self` lives.
    pub(super) fn raw(&self) -> *mut sys::trt_engine {
        self.inner.raw.as_ptr()
    }

    /// The logger its runtime logs to (for the TensorRT errors behind a failed call).
    pub(super) fn logger(&self) -> &Logger {
        &self.inner.runtime.logger
    }

    /// Every input and output, in the engine's order (the order of `run`'s outputs).
    pub fn io_tensors(&self) -> &[IoTensor] {
        &self.inner.io
    }

    /// The inputs, in the engine's order.
    pub fn inputs(&self) -> impl Iterator<Item = &IoTensor> {
        self.inner.io.iter().filter(|t| t.mode == IoMode::Input)
    }

    /// The outputs, in the engine's order.
    pub fn outputs(&self) -> impl Iterator<Item = &IoTensor> {
        self.inner.io.iter().filter(|t| t.mode == IoMode::Output)
    }

    /// Input or output `name`; an unknown name is an error listing the engine's tensors.
    pub fn tensor(&self, name: &str) -> Result<&IoTensor> {
        Ok(&self.inner.io[find(&self.inner.io, name)?])
    }

    /// The size in bytes of the plan this engine was deserialized from.
    pub fn plan_size(&self) -> usize {
        self.inner.plan_size
    }

    /// The number of layers of the built engine (after TensorRT's fusions).
    pub fn layer_count(&self) -> Result<usize> {
        Ok(out!(sys::trt_engine_nb_layers, self.raw(); i32)? as usize)
    }

    /// The CUDA device the engine lives on (its runtime's).
    pub fn device(&self) -> usize {
        self.inner.runtime.cuda.ordinal()
    }

    /// That device's CUDA context: make the streams of execution contexts with it.
    pub fn cuda_context(&self) -> &Arc<CudaContext> {
        &self.inner.runtime.cuda
    }

    /// An input's min / opt / max shape in optimization profile `profile` (for dynamic inputs).
    pub fn profile_shapes(&self, name: &str, profile: usize) -> Result<[Vec<i64>; 3]> {
        let cname = &self.inner.names[find(&self.inner.io, name)?];
        let shape = |selector: u32| -> Result<Vec<i64>> {
            let d = out!(sys::trt_engine_profile_shape, self.raw(), cname.as_ptr(), profile as i32, selector as i32; sys::trt_dims)?;
            Ok(ffi::dims_to_vec(&d))
        };
        Ok([
            shape(sys::TRT_PROFILE_MIN)?,
            shape(sys::TRT_PROFILE_OPT)?,
            shape(sys::TRT_PROFILE_MAX)?,
        ])
    }

    /// One seeded host tensor per input, in each input's own type (floats uniform in [-1, 1),
    /// integers in 0..16, bools 0/1); dynamic inputs take profile 0's opt shape.
    pub fn seeded_inputs(&self, seed: u64) -> Result<Vec<(String, HostTensor)>> {
        let mut rng = trt_calib_data::SplitMix64(seed);
        let mut inputs = Vec::new();
        for t in self.inputs() {
            let mut shape = t.shape.clone();
            if shape.iter().any(|&d| d < 0) {
                shape = self.profile_shapes(&t.name, 0)?[1].clone();
            }
            let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let tensor = HostTensor::seeded(&t.name, t.dtype, &shape, &mut rng)?;
            inputs.push((t.name.clone(), tensor));
        }
        Ok(inputs)
    }

    /// The version of the TensorRT library running this engine.
    pub fn tensorrt_version(&self) -> sys::TrtVersion {
        self.inner.runtime.lib.version()
    }

    /// The inspector's JSON for the whole engine (detailed when built with detailed profiling).
    pub fn inspect_json(&self) -> Result<String> {
        // The shim hands over a malloc'd copy of the text, freed by trt_string_free.
        let json = create!(sys::trt_engine_inspect_json, self.raw(); sys::trt_string_free, "inspector JSON")?;
        Ok(ffi::string(json.as_ptr()))
    }

    /// The inspector's view, parsed: layers, precisions, formats, tactics.
    pub fn inspect(&self) -> Result<EngineInspection> {
        EngineInspection::from_json(&self.inspect_json()?)
    }

    /// Renamed [`Engine::inspect`].
    #[deprecated(note = "renamed inspect")]
    pub fn report(&self) -> Result<EngineInspection> {
        self.inspect()
    }

    /// The engine's plan, as [`Runtime::deserialize`] takes it back.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let m = own_host_memory(
            out!(sys::trt_engine_serialize, self.raw(); *mut sys::trt_host_memory)?,
        )?;
        host_memory(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::ExecutionContext;

    /// Without a driver (CI), creating a runtime is this error, not cudarc's panic; with one,
    /// a device index past the last device is refused by name. Either way something is checked.
    #[test]
    fn a_missing_driver_or_device_is_an_error_not_a_panic() {
        // SAFETY: only tries to open the driver library.
        let driver = unsafe { cudarc::driver::sys::is_culib_present() };
        let err = Runtime::on_device(1 << 20)
            .err()
            .expect("no such device")
            .to_string();
        if driver {
            assert!(
                err.starts_with("CUDA device 1048576 does not exist"),
                "{err}"
            );
        } else {
            assert!(
                err.starts_with("no CUDA driver (libcuda.so) found"),
                "{err}"
            );
        }
    }
    #[test]
    fn load_errors_name_the_file() {
        let path = Path::new("models/net.engine");
        let e = naming_file(
            Error::TensorRt {
                code: 3,
                message: "deserializeCudaEngine failed".into(),
                log: Some("magic tag does not match".into()),
            },
            path,
        );
        assert!(matches!(
            e,
            Error::TensorRt {
                code: 3,
                log: Some(_),
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "TensorRT: models/net.engine: deserializeCudaEngine failed (TensorRT said: magic tag does not match)"
        );
        let e = naming_file(
            Error::Invalid("engine plan is 10 bytes: truncated or not an engine".into()),
            path,
        );
        assert_eq!(
            e.to_string(),
            "models/net.engine: engine plan is 10 bytes: truncated or not an engine"
        );
        let e = naming_file(
            Error::Shape {
                name: "x".into(),
                message: "m".into(),
            },
            path,
        );
        assert_eq!(e.to_string(), "tensor `x`: m");
    }

    /// TensorRT's threading rules, held by the types (this fails to compile if an impl goes).
    #[test]
    fn runtimes_and_engines_are_shared_and_contexts_move() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<Runtime>();
        shared::<Engine>();
        movable::<ExecutionContext>();
    }
}
