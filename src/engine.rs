//! Runtime, engine and execution context: deserialize a plan and run it.

use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use tensorrt_sys as sys;

use crate::builder::{host_memory, with_log};
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::inspector::EngineReport;
use crate::logger::Logger;
use crate::network::DataType;

pub(crate) struct RuntimeInner {
    raw: NonNull<sys::trt_runtime>,
    logger: Arc<Logger>,
    lib: &'static sys::Library,
}

// SAFETY: IRuntime is thread-safe for deserialization (TensorRT's threading rules).
unsafe impl Send for RuntimeInner {}
unsafe impl Sync for RuntimeInner {}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        unsafe { sys::trt_runtime_destroy(self.raw.as_ptr()) };
    }
}

/// Deserializes engines. Keeps the logger and library alive for its engines.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Runtime {
    pub fn new() -> Result<Runtime> {
        Runtime::with_logger(Arc::new(Logger::new()?))
    }

    pub fn with_logger(logger: Arc<Logger>) -> Result<Runtime> {
        let lib = sys::Library::get()?;
        let _ctx = crate::builder::cuda_context(0)?;
        let raw = out!(sys::trt_runtime_create, lib.runtime_factory(), logger.raw(); *mut sys::trt_runtime)
            .map_err(|e| with_log(e, &logger))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                raw: NonNull::new(raw).expect("checked by the shim"),
                logger,
                lib,
            }),
        })
    }

    pub fn library(&self) -> &'static sys::Library {
        self.inner.lib
    }

    /// Lets TensorRT run the host code a version-compatible plan carries (its lean runtime),
    /// which such plans need to deserialize. Only for plans you trust. TensorRT >= 8.6.
    pub fn allow_engine_host_code(&self, allowed: bool) -> Result<()> {
        ffi::check(unsafe {
            sys::trt_runtime_set_engine_host_code_allowed(self.inner.raw.as_ptr(), allowed as i32)
        })
    }

    /// Deserializes a plan. A corrupt, truncated or foreign plan is an error.
    pub fn deserialize(&self, plan: &[u8]) -> Result<Engine> {
        if plan.len() < 64 {
            return Err(Error::Invalid(format!(
                "engine plan is {} bytes: truncated or not an engine",
                plan.len()
            )));
        }
        let raw = out!(sys::trt_runtime_deserialize, self.inner.raw.as_ptr(), plan.as_ptr().cast(), plan.len(); *mut sys::trt_engine)
            .map_err(|e| with_log(e, &self.inner.logger))?;
        Engine::new(
            NonNull::new(raw).expect("checked by the shim"),
            self.inner.clone(),
        )
    }

    /// Reads and deserializes an engine file.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        self.deserialize(&bytes).map_err(|e| match e {
            Error::TensorRt { code, message, log } => Error::TensorRt {
                code,
                message: format!("{}: {message}", path.display()),
                log,
            },
            other => other,
        })
    }
}

/// Whether an I/O tensor is read or written by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IoMode {
    Input,
    Output,
}

/// An engine input or output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IoTensor {
    pub name: String,
    pub mode: IoMode,
    /// `-1` marks a dynamic dimension.
    pub shape: Vec<i64>,
    pub dtype: DataType,
}

pub(crate) struct EngineInner {
    raw: NonNull<sys::trt_engine>,
    io: Vec<IoTensor>,
    runtime: Arc<RuntimeInner>,
}

// SAFETY: ICudaEngine is immutable after deserialization and may be shared between threads.
unsafe impl Send for EngineInner {}
unsafe impl Sync for EngineInner {}

impl Drop for EngineInner {
    fn drop(&mut self) {
        unsafe { sys::trt_engine_destroy(self.raw.as_ptr()) };
    }
}

/// A deserialized engine (shareable between threads).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    fn new(raw: NonNull<sys::trt_engine>, runtime: Arc<RuntimeInner>) -> Result<Engine> {
        let e = raw.as_ptr();
        let n = out!(sys::trt_engine_nb_io_tensors, e; i32)?;
        let mut io = Vec::with_capacity(n as usize);
        for i in 0..n {
            let cname = out!(sys::trt_engine_io_tensor_name, e, i; *const std::ffi::c_char)?;
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
        Ok(Engine {
            inner: Arc::new(EngineInner { raw, io, runtime }),
        })
    }

    pub fn io_tensors(&self) -> &[IoTensor] {
        &self.inner.io
    }

    pub fn inputs(&self) -> impl Iterator<Item = &IoTensor> {
        self.inner.io.iter().filter(|t| t.mode == IoMode::Input)
    }

    pub fn outputs(&self) -> impl Iterator<Item = &IoTensor> {
        self.inner.io.iter().filter(|t| t.mode == IoMode::Output)
    }

    pub fn tensor(&self, name: &str) -> Result<&IoTensor> {
        self.inner
            .io
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::UnknownTensor {
                name: name.into(),
                what: "engine",
                known: self.inner.io.iter().map(|t| t.name.clone()).collect(),
            })
    }

    pub fn layer_count(&self) -> Result<usize> {
        Ok(out!(sys::trt_engine_nb_layers, self.inner.raw.as_ptr(); i32)? as usize)
    }

    /// An input's min / opt / max shape in optimization profile `profile` (for dynamic inputs).
    pub fn profile_shapes(&self, name: &str, profile: usize) -> Result<[Vec<i64>; 3]> {
        self.tensor(name)?;
        let cname = ffi::cstring(name)?;
        let shape = |selector: u32| -> Result<Vec<i64>> {
            let d = out!(sys::trt_engine_profile_shape, self.inner.raw.as_ptr(), cname.as_ptr(), profile as i32, selector as i32; sys::trt_dims)?;
            Ok(ffi::dims_to_vec(&d))
        };
        Ok([
            shape(sys::TRT_PROFILE_MIN)?,
            shape(sys::TRT_PROFILE_OPT)?,
            shape(sys::TRT_PROFILE_MAX)?,
        ])
    }

    /// The version of the TensorRT library running this engine.
    pub fn tensorrt_version(&self) -> sys::LibVersion {
        self.inner.runtime.lib.version()
    }

    /// The inspector's JSON for the whole engine (detailed when built with detailed profiling).
    pub fn inspect_json(&self) -> Result<String> {
        let mut p: *mut std::ffi::c_char = std::ptr::null_mut();
        ffi::check(unsafe { sys::trt_engine_inspect_json(self.inner.raw.as_ptr(), &mut p) })?;
        let s = ffi::string(p);
        unsafe { sys::trt_string_free(p) };
        Ok(s)
    }

    /// The inspector's view, parsed: layers, precisions, formats, tactics.
    pub fn report(&self) -> Result<EngineReport> {
        EngineReport::from_json(&self.inspect_json()?)
    }

    pub fn serialize(&self) -> Result<Vec<u8>> {
        let m =
            out!(sys::trt_engine_serialize, self.inner.raw.as_ptr(); *mut sys::trt_host_memory)?;
        let bytes = host_memory(m);
        unsafe { sys::trt_host_memory_destroy(m) };
        bytes
    }

    /// An execution context with its own CUDA stream on `device`.
    pub fn create_context(&self, stream: Arc<CudaStream>) -> Result<ExecutionContext> {
        let raw =
            out!(sys::trt_engine_create_context, self.inner.raw.as_ptr(); *mut sys::trt_context)
                .map_err(|e| with_log(e, &self.inner.runtime.logger))?;
        let names = self
            .inner
            .io
            .iter()
            .map(|t| ffi::cstring(&t.name))
            .collect::<Result<Vec<_>>>()?;
        Ok(ExecutionContext {
            raw: NonNull::new(raw).expect("checked by the shim"),
            engine: self.clone(),
            stream,
            names,
            buffers: Vec::new(),
        })
    }
}

/// Runs an engine. One thread at a time (TensorRT's rule for contexts): `Send`, not `Sync`.
pub struct ExecutionContext {
    raw: NonNull<sys::trt_context>,
    engine: Engine,
    stream: Arc<CudaStream>,
    names: Vec<std::ffi::CString>,
    /// Device buffers of the simple `run` path, reused across calls.
    buffers: Vec<Option<CudaSlice<u8>>>,
}

// SAFETY: an IExecutionContext may move between threads but is used by one at a time (&mut self).
unsafe impl Send for ExecutionContext {}

impl ExecutionContext {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    fn index(&self, name: &str, mode: IoMode) -> Result<usize> {
        let io = &self.engine.inner.io;
        match io.iter().position(|t| t.name == name) {
            Some(i) if io[i].mode == mode => Ok(i),
            Some(_) => Err(Error::Shape {
                name: name.into(),
                message: format!("is not an {mode:?} tensor"),
            }),
            None => Err(Error::UnknownTensor {
                name: name.into(),
                what: "engine",
                known: io
                    .iter()
                    .filter(|t| t.mode == mode)
                    .map(|t| t.name.clone())
                    .collect(),
            }),
        }
    }

    /// Sets the shape of a (dynamic) input; checks rank and fixed dimensions.
    pub fn set_input_shape(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        let i = self.index(name, IoMode::Input)?;
        let declared = &self.engine.inner.io[i].shape;
        if declared.len() != shape.len()
            || declared
                .iter()
                .zip(shape)
                .any(|(&d, &s)| d >= 0 && d as usize != s)
        {
            return Err(Error::Shape {
                name: name.into(),
                message: format!("shape {shape:?} does not match the engine's {declared:?}"),
            });
        }
        let dims = ffi::dims_from(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        ffi::check(unsafe {
            sys::trt_context_set_input_shape(self.raw.as_ptr(), self.names[i].as_ptr(), &dims)
        })
        .map_err(|e| with_log(e, &self.engine.inner.runtime.logger))
    }

    /// The shape of a tensor in this context (outputs resolved from the input shapes).
    pub fn tensor_shape(&self, name: &str) -> Result<Vec<usize>> {
        let i = self
            .engine
            .inner
            .io
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::UnknownTensor {
                name: name.into(),
                what: "engine",
                known: self
                    .engine
                    .inner
                    .io
                    .iter()
                    .map(|t| t.name.clone())
                    .collect(),
            })?;
        let d = out!(sys::trt_context_tensor_shape, self.raw.as_ptr(), self.names[i].as_ptr(); sys::trt_dims)?;
        let v = ffi::dims_to_vec(&d);
        if v.iter().any(|&x| x < 0) {
            return Err(Error::Shape {
                name: name.into(),
                message: format!("shape {v:?} is not resolved: set every input shape first"),
            });
        }
        Ok(v.into_iter().map(|x| x as usize).collect())
    }

    fn check_binding(&self, i: usize, bytes: usize) -> Result<()> {
        let t = &self.engine.inner.io[i];
        let shape = self.tensor_shape(&t.name)?;
        let need = shape.iter().product::<usize>() * t.dtype.size();
        if bytes < need {
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!(
                    "buffer holds {bytes} bytes; shape {shape:?} of {:?} needs {need}",
                    t.dtype
                ),
            });
        }
        Ok(())
    }

    /// Binds a device buffer to an input (low-level path). The buffer must stay alive and
    /// unchanged until the enqueued work completes.
    pub fn bind_input<T: cudarc::driver::DeviceRepr>(
        &mut self,
        name: &str,
        buffer: &CudaSlice<T>,
    ) -> Result<()> {
        let i = self.index(name, IoMode::Input)?;
        self.check_binding(i, buffer.len() * std::mem::size_of::<T>())?;
        let (ptr, _sync) = buffer.device_ptr(&self.stream);
        ffi::check(unsafe {
            sys::trt_context_set_tensor_address(
                self.raw.as_ptr(),
                self.names[i].as_ptr(),
                ptr as *mut _,
            )
        })
    }

    /// Binds a device buffer to an output (low-level path).
    pub fn bind_output<T: cudarc::driver::DeviceRepr>(
        &mut self,
        name: &str,
        buffer: &mut CudaSlice<T>,
    ) -> Result<()> {
        let i = self.index(name, IoMode::Output)?;
        self.check_binding(i, buffer.len() * std::mem::size_of::<T>())?;
        let stream = self.stream.clone();
        let (ptr, _sync) = buffer.device_ptr_mut(&stream);
        ffi::check(unsafe {
            sys::trt_context_set_tensor_address(
                self.raw.as_ptr(),
                self.names[i].as_ptr(),
                ptr as *mut _,
            )
        })
    }

    /// Enqueues inference on the context's stream (low-level path; no synchronization).
    pub fn enqueue(&mut self) -> Result<()> {
        ffi::check(unsafe {
            sys::trt_context_enqueue(self.raw.as_ptr(), self.stream.cu_stream() as *mut _)
        })
        .map_err(|e| with_log(e, &self.engine.inner.runtime.logger))
    }

    /// The simple path: host f32 inputs by name in, host outputs out (synchronous).
    /// Checks that every input is given once, with a shape the engine accepts.
    pub fn run(
        &mut self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
    ) -> Result<Vec<(String, ArrayD<f32>)>> {
        let io = self.engine.inner.io.clone();
        if self.buffers.len() != io.len() {
            self.buffers = (0..io.len()).map(|_| None).collect();
        }
        for t in io.iter().filter(|t| t.mode == IoMode::Input) {
            if !inputs.iter().any(|(n, _)| *n == t.name) {
                return Err(Error::Shape {
                    name: t.name.clone(),
                    message: "input not given".into(),
                });
            }
        }
        for (name, array) in inputs {
            let i = self.index(name, IoMode::Input)?;
            if io[i].dtype != DataType::Float {
                return Err(Error::Shape {
                    name: name.to_string(),
                    message: format!("engine input is {:?}, got f32", io[i].dtype),
                });
            }
            self.set_input_shape(name, array.shape())?;
            let data = array.as_standard_layout();
            let slice = data.as_slice().expect("standard layout");
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    slice.as_ptr().cast::<u8>(),
                    std::mem::size_of_val(slice),
                )
            };
            let stream = self.stream.clone();
            let buf = self.buffer(i, bytes.len())?;
            stream.memcpy_htod(bytes, buf)?;
        }
        let mut outputs = Vec::new();
        for (i, t) in io.iter().enumerate() {
            let shape = self.tensor_shape(&t.name)?;
            let bytes = shape.iter().product::<usize>() * t.dtype.size();
            if t.mode == IoMode::Output {
                self.buffer(i, bytes)?;
                outputs.push((i, shape));
            }
            let stream = self.stream.clone();
            let buf = self.buffers[i].as_ref().expect("allocated above");
            let (ptr, _sync) = buf.device_ptr(&stream);
            ffi::check(unsafe {
                sys::trt_context_set_tensor_address(
                    self.raw.as_ptr(),
                    self.names[i].as_ptr(),
                    ptr as *mut _,
                )
            })?;
        }
        self.enqueue()?;
        let mut result = Vec::with_capacity(outputs.len());
        for (i, shape) in outputs {
            let t = &io[i];
            let n: usize = shape.iter().product();
            let buf = self.buffers[i].as_ref().expect("allocated above");
            let host: Vec<u8> = self.stream.clone_dtoh(&buf.slice(0..n * t.dtype.size()))?;
            let values: Vec<f32> = match t.dtype {
                DataType::Float => host
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                DataType::Int32 => host
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                    .collect(),
                other => {
                    return Err(Error::Shape {
                        name: t.name.clone(),
                        message: format!("output type {other:?} is not supported by run()"),
                    })
                }
            };
            let array =
                ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| Error::Shape {
                    name: t.name.clone(),
                    message: e.to_string(),
                })?;
            result.push((t.name.clone(), array));
        }
        self.stream.synchronize()?;
        Ok(result)
    }

    fn buffer(&mut self, i: usize, bytes: usize) -> Result<&mut CudaSlice<u8>> {
        let needs = self.buffers[i].as_ref().is_none_or(|b| b.len() < bytes);
        if needs {
            self.buffers[i] = Some(self.stream.alloc_zeros::<u8>(bytes.max(1))?);
        }
        Ok(self.buffers[i].as_mut().expect("allocated above"))
    }
}

impl Drop for ExecutionContext {
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
        unsafe { sys::trt_context_destroy(self.raw.as_ptr()) };
    }
}
