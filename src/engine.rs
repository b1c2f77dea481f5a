//! Runtime, engine and execution context: deserialize a plan and run it.
//!
//! Two ways to run: [`ExecutionContext::run`] (typed host arrays in and out, synchronous, device
//! buffers reused across calls) and [`Bindings`] (your device buffers, borrowed until the work
//! is enqueued and recorded on the context's stream).

use std::ffi::CString;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use ndarray::{ArrayD, IxDyn};
use tensorrt_sys as sys;

use crate::device::device_context;
use crate::handle::{host_memory, own_host_memory};
use crate::logger::with_log;
use crate::calibrator::HostElement;
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::inspector::EngineReport;
use crate::logger::Logger;
use crate::network::DataType;
use crate::tensor::{self, dtype_name, Feed, HostTensor, HostTensorView, Pod};

pub(crate) struct RuntimeInner {
    raw: NonNull<sys::trt_runtime>,
    logger: Arc<Logger>,
    lib: &'static sys::Library,
    /// The device engines are deserialized on and run on.
    cuda: Arc<CudaContext>,
}

// SAFETY: IRuntime is thread-safe for deserialization (TensorRT's threading rules).
unsafe impl Send for RuntimeInner {}
// SAFETY: as above; `&self` methods only deserialize.
unsafe impl Sync for RuntimeInner {}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        // SAFETY: `raw` came from trt_runtime_create and is destroyed once, here; its engines
        // hold an Arc to this, so none is alive.
        unsafe { sys::trt_runtime_destroy(self.raw.as_ptr()) };
    }
}

/// Deserializes engines on one CUDA device. Keeps the logger and library alive for its engines.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Runtime {
    /// A runtime on CUDA device 0.
    pub fn new() -> Result<Runtime> {
        Runtime::on_device(0)
    }

    /// A runtime on CUDA device `device`; an index past the device count is an error.
    pub fn on_device(device: usize) -> Result<Runtime> {
        let cuda = device_context(device)?;
        Runtime::create(Arc::new(Logger::new()?), cuda)
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

    fn create(logger: Arc<Logger>, cuda: Arc<CudaContext>) -> Result<Runtime> {
        let lib = sys::Library::get()?;
        // TensorRT works on the thread's current CUDA context.
        cuda.bind_to_thread()?;
        let raw = out!(sys::trt_runtime_create, lib.runtime_factory(), logger.raw(); *mut sys::trt_runtime)
            .map_err(|e| with_log(e, &logger))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                raw: NonNull::new(raw).expect("checked by the shim"),
                logger,
                lib,
                cuda,
            }),
        })
    }

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
        // SAFETY: `raw` is a live runtime (owned by `inner`).
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
        self.inner.cuda.bind_to_thread()?;
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
// SAFETY: as above.
unsafe impl Sync for EngineInner {}

impl Drop for EngineInner {
    fn drop(&mut self) {
        // SAFETY: `raw` came from deserialization and is destroyed once; contexts hold an Engine,
        // so none is alive.
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
        let mut p: *mut std::ffi::c_char = std::ptr::null_mut();
        // SAFETY: `raw` is a live engine; `p` is a valid out-pointer.
        ffi::check(unsafe { sys::trt_engine_inspect_json(self.inner.raw.as_ptr(), &mut p) })?;
        let s = ffi::string(p);
        // SAFETY: `p` was allocated by the shim for us and is freed once.
        unsafe { sys::trt_string_free(p) };
        Ok(s)
    }

    /// The inspector's view, parsed: layers, precisions, formats, tactics.
    pub fn report(&self) -> Result<EngineReport> {
        EngineReport::from_json(&self.inspect_json()?)
    }

    pub fn serialize(&self) -> Result<Vec<u8>> {
        let m = own_host_memory(out!(sys::trt_engine_serialize, self.inner.raw.as_ptr(); *mut sys::trt_host_memory)?)?;
        host_memory(&m)
    }

    /// An execution context that runs on `stream`, which must be on the engine's device
    /// (make it with [`Engine::cuda_context`]).
    pub fn create_context(&self, stream: Arc<CudaStream>) -> Result<ExecutionContext> {
        let device = self.device();
        if stream.context().ordinal() != device {
            return Err(Error::Invalid(format!(
                "the stream is on CUDA device {}, the engine on device {device}: make the stream with engine.cuda_context().new_stream()",
                stream.context().ordinal()
            )));
        }
        self.inner.runtime.cuda.bind_to_thread()?;
        let raw =
            out!(sys::trt_engine_create_context, self.inner.raw.as_ptr(); *mut sys::trt_context)
                .map_err(|e| with_log(e, &self.inner.runtime.logger))?;
        let names = self
            .inner
            .io
            .iter()
            .map(|t| ffi::cstring(&t.name))
            .collect::<Result<Vec<_>>>()?;
        let n = self.inner.io.len();
        Ok(ExecutionContext {
            raw: NonNull::new(raw).expect("checked by the shim"),
            engine: self.clone(),
            stream,
            names,
            buffers: (0..n).map(|_| None).collect(),
            staging: vec![Vec::new(); n],
        })
    }
}

/// Runs an engine. One thread at a time (TensorRT's rule for contexts): `Send`, not `Sync`.
pub struct ExecutionContext {
    raw: NonNull<sys::trt_context>,
    engine: Engine,
    stream: Arc<CudaStream>,
    names: Vec<CString>,
    /// Device buffers of the simple `run` path, one per I/O tensor, reused across calls.
    buffers: Vec<Option<CudaSlice<u8>>>,
    /// Host buffers for converted inputs (int64 -> int32), one per I/O tensor, reused.
    staging: Vec<Vec<u8>>,
}

// SAFETY: an IExecutionContext may move between threads but is used by one at a time (&mut self).
unsafe impl Send for ExecutionContext {}

/// The index of tensor `name` of the engine, with the right mode.
fn io_index(io: &[IoTensor], name: &str, mode: IoMode) -> Result<usize> {
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

/// Checks `shape` against an input's declared shape (rank, and every fixed dimension).
fn check_declared(t: &IoTensor, shape: &[usize]) -> Result<()> {
    let declared = &t.shape;
    if declared.len() != shape.len()
        || declared
            .iter()
            .zip(shape)
            .any(|(&d, &s)| d >= 0 && d as usize != s)
    {
        return Err(Error::Shape {
            name: t.name.clone(),
            message: format!("shape {shape:?} does not match the engine's {declared:?}"),
        });
    }
    Ok(())
}

/// The shape of tensor `name` (C string `cname`) in context `raw`; unresolved is an error.
fn context_shape(
    raw: NonNull<sys::trt_context>,
    cname: &CString,
    name: &str,
) -> Result<Vec<usize>> {
    let d = out!(sys::trt_context_tensor_shape, raw.as_ptr(), cname.as_ptr(); sys::trt_dims)?;
    let v = ffi::dims_to_vec(&d);
    if v.iter().any(|&x| x < 0) {
        return Err(Error::Shape {
            name: name.into(),
            message: format!("shape {v:?} is not resolved: set every input shape first"),
        });
    }
    Ok(v.into_iter().map(|x| x as usize).collect())
}

impl ExecutionContext {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Sets the shape of a (dynamic) input; checks rank and fixed dimensions.
    pub fn set_input_shape(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Input)?;
        self.set_input_shape_at(i, shape)
    }

    fn set_input_shape_at(&mut self, i: usize, shape: &[usize]) -> Result<()> {
        check_declared(&self.engine.inner.io[i], shape)?;
        let dims = ffi::dims_from(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        // SAFETY: `raw` is a live context, `names[i]` a NUL-terminated I/O tensor name and
        // `dims` a valid trt_dims that TensorRT copies.
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
        context_shape(self.raw, &self.names[i], name)
    }

    /// Device buffers for every input and output, borrowed until the [`Bindings`] is dropped;
    /// [`Bindings::enqueue`] runs the engine on them. While it lives, the context is borrowed
    /// too, so input shapes cannot change under bound buffers.
    pub fn bindings(&mut self) -> Bindings<'_> {
        Bindings::new(self.raw, &self.engine, &self.stream, &self.names)
    }

    /// The simple path: typed host inputs by name in, typed host outputs out (synchronous:
    /// returns when the outputs are on the host), in the engine's output order.
    ///
    /// Before anything is copied, checks that every input is given once, with an element type
    /// the input takes (the same; int64 for an int32 input, range-checked; int32 for an int64
    /// input) and a shape the engine accepts, and that every output has a host type. Device
    /// buffers are kept and reused by the next call.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut trt::ExecutionContext) -> trt::Result<()> {
    /// use ndarray::{ArrayD, IxDyn};
    /// use trt::HostTensorView;
    /// let image = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 8, 8]));
    /// let ids = ndarray::arr2(&[[1i64, 2, 3, 4], [5, 6, 7, 8]]); // int64 into an int32 input
    /// let outputs = ctx.run(&[
    ///     ("image", HostTensorView::from(&image)),
    ///     ("ids", HostTensorView::from(&ids)),
    /// ])?;
    /// let logits: &ArrayD<f32> = outputs[0].1.as_array().expect("f32 logits");
    /// // One f32 input: no conversion needed.
    /// let outputs = ctx.run(&[("image", image.view())])?;
    /// # Ok(()) }
    /// ```
    pub fn run<'v, V>(&mut self, inputs: &[(&str, V)]) -> Result<Vec<(String, HostTensor)>>
    where
        V: Clone + Into<HostTensorView<'v>>,
    {
        let engine = self.engine.clone();
        let io = &engine.inner.io;
        // 1. Every check, before any conversion or copy.
        let mut given: Vec<Option<(HostTensorView<'v>, Feed)>> = vec![None; io.len()];
        for (name, view) in inputs {
            let i = io_index(io, name, IoMode::Input)?;
            if given[i].is_some() {
                return Err(Error::Shape {
                    name: name.to_string(),
                    message: "input given twice".into(),
                });
            }
            let view: HostTensorView<'v> = view.clone().into();
            let feed = tensor::feed(view.dtype(), io[i].dtype)
                .ok_or_else(|| tensor::mismatch(name, view.dtype(), io[i].dtype))?;
            check_declared(&io[i], view.shape())?;
            given[i] = Some((view, feed));
        }
        for (t, g) in io.iter().zip(&given) {
            match t.mode {
                IoMode::Input if g.is_none() => {
                    return Err(Error::Shape {
                        name: t.name.clone(),
                        message: "input not given".into(),
                    })
                }
                IoMode::Output if !tensor::host_type(t.dtype) => {
                    return Err(Error::Shape {
                        name: t.name.clone(),
                        message: format!(
                            "output type {} has no host type in run(): bind device buffers instead",
                            dtype_name(t.dtype)
                        ),
                    })
                }
                _ => {}
            }
        }
        // 2. Conversions (range checks) into the reused host staging buffers.
        for (i, g) in given.iter().enumerate() {
            let staging = &mut self.staging[i];
            staging.clear();
            match g {
                Some((HostTensorView::I64(a), Feed::NarrowI64)) => {
                    tensor::narrow_i64(&io[i].name, a, staging)?
                }
                Some((HostTensorView::I32(a), Feed::WidenI32)) => tensor::widen_i32(a, staging),
                _ => {}
            }
        }
        // 3. Shapes, then host-to-device copies into the reused device buffers.
        for (i, g) in given.iter().enumerate() {
            let Some((view, feed)) = g else { continue };
            self.set_input_shape_at(i, view.shape())?;
            let stream = self.stream.clone();
            let n = view.len() * io[i].dtype.size();
            let buf = buffer(&stream, &mut self.buffers[i], n)?;
            match feed {
                Feed::Copy => view.with_bytes(|bytes| stream.memcpy_htod(bytes, buf))?,
                Feed::NarrowI64 | Feed::WidenI32 => {
                    stream.memcpy_htod(self.staging[i].as_slice(), buf)?
                }
            }
        }
        let mut shapes = Vec::with_capacity(io.len());
        for (i, t) in io.iter().enumerate() {
            let shape = context_shape(self.raw, &self.names[i], &t.name)?;
            if t.mode == IoMode::Output {
                let n = shape.iter().product::<usize>() * t.dtype.size();
                buffer(&self.stream, &mut self.buffers[i], n)?;
            }
            shapes.push(shape);
        }
        // 4. Bind the context's own buffers and enqueue.
        {
            let mut b = Bindings::new(self.raw, &self.engine, &self.stream, &self.names);
            for (i, slot) in self.buffers.iter_mut().enumerate() {
                let buf = slot.as_mut().expect("allocated above");
                match io[i].mode {
                    IoMode::Input => b.bind_read(i, buf)?,
                    IoMode::Output => b.bind_write(i, buf)?,
                }
            }
            b.enqueue()?;
        }
        // 5. Device-to-host copies, one synchronization, typed arrays.
        let mut downloads = Vec::new();
        for (i, t) in io.iter().enumerate() {
            if t.mode == IoMode::Output {
                let buf = self.buffers[i].as_ref().expect("allocated above");
                let n = shapes[i].iter().product::<usize>();
                downloads.push((i, download(&self.stream, buf, t.dtype, n)?));
            }
        }
        self.stream.synchronize()?;
        downloads
            .into_iter()
            .map(|(i, values)| {
                let name = io[i].name.clone();
                let tensor = values.into_tensor(&shapes[i]).map_err(|e| Error::Shape {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
                Ok((name, tensor))
            })
            .collect()
    }
}

/// `slot`'s buffer, (re)allocated on `stream` when it holds fewer than `bytes`.
fn buffer<'b>(
    stream: &Arc<CudaStream>,
    slot: &'b mut Option<CudaSlice<u8>>,
    bytes: usize,
) -> Result<&'b mut CudaSlice<u8>> {
    if slot.as_ref().is_none_or(|b| b.len() < bytes) {
        *slot = Some(stream.alloc_zeros::<u8>(bytes.max(1))?);
    }
    Ok(slot.as_mut().expect("allocated above"))
}

/// Output values copied to the host, before they get their shape.
enum Download {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    /// Bytes, checked to be 0 or 1 only once the copy is complete.
    Bool(Vec<u8>),
}

impl Download {
    fn into_tensor(self, shape: &[usize]) -> std::result::Result<HostTensor, ndarray::ShapeError> {
        let shape = IxDyn(shape);
        Ok(match self {
            Download::F32(v) => HostTensor::F32(ArrayD::from_shape_vec(shape, v)?),
            Download::F16(v) => HostTensor::F16(ArrayD::from_shape_vec(shape, v)?),
            Download::I32(v) => HostTensor::I32(ArrayD::from_shape_vec(shape, v)?),
            Download::I64(v) => HostTensor::I64(ArrayD::from_shape_vec(shape, v)?),
            Download::I8(v) => HostTensor::I8(ArrayD::from_shape_vec(shape, v)?),
            Download::U8(v) => HostTensor::U8(ArrayD::from_shape_vec(shape, v)?),
            Download::Bool(v) => HostTensor::Bool(ArrayD::from_shape_vec(
                shape,
                v.into_iter().map(|b| b != 0).collect(),
            )?),
        })
    }
}

/// Copies the first `n` elements of type `dtype` of `buf` into a host vector of that type.
fn download(
    stream: &Arc<CudaStream>,
    buf: &CudaSlice<u8>,
    dtype: DataType,
    n: usize,
) -> Result<Download> {
    fn typed<T: Pod>(stream: &Arc<CudaStream>, buf: &CudaSlice<u8>, n: usize) -> Result<Vec<T>> {
        let mut v = vec![T::default(); n];
        let bytes = tensor::slice_bytes_mut(&mut v);
        stream.memcpy_dtoh(&buf.slice(0..bytes.len()), bytes)?;
        Ok(v)
    }
    Ok(match dtype {
        DataType::Float => Download::F32(typed(stream, buf, n)?),
        DataType::Half => Download::F16(typed(stream, buf, n)?),
        DataType::Int32 => Download::I32(typed(stream, buf, n)?),
        DataType::Int64 => Download::I64(typed(stream, buf, n)?),
        DataType::Int8 => Download::I8(typed(stream, buf, n)?),
        DataType::Uint8 => Download::U8(typed(stream, buf, n)?),
        DataType::Bool => Download::Bool(typed(stream, buf, n)?),
        other => {
            return Err(Error::Invalid(format!(
                "output type {} has no host type in run()",
                dtype_name(other)
            )))
        }
    })
}

/// A device buffer TensorRT reads (an input).
trait ReadBuffer {
    fn num_bytes(&self) -> usize;
    fn ordinal(&self) -> usize;
    /// The pointer, after making `stream` wait for earlier writes of the buffer; dropping the
    /// guard records this use on `stream`.
    fn read_ptr<'s>(
        &'s self,
        stream: &'s CudaStream,
    ) -> (CUdeviceptr, cudarc::driver::SyncOnDrop<'s>);
}

/// A device buffer TensorRT writes (an output).
trait WriteBuffer {
    fn num_bytes(&self) -> usize;
    fn ordinal(&self) -> usize;
    /// The pointer, after making `stream` wait for earlier reads and writes of the buffer;
    /// dropping the guard records this write on `stream`.
    fn write_ptr<'s>(
        &'s mut self,
        stream: &'s CudaStream,
    ) -> (CUdeviceptr, cudarc::driver::SyncOnDrop<'s>);
}

impl<T> ReadBuffer for CudaSlice<T> {
    fn num_bytes(&self) -> usize {
        CudaSlice::num_bytes(self)
    }
    fn ordinal(&self) -> usize {
        CudaSlice::ordinal(self)
    }
    fn read_ptr<'s>(
        &'s self,
        stream: &'s CudaStream,
    ) -> (CUdeviceptr, cudarc::driver::SyncOnDrop<'s>) {
        self.device_ptr(stream)
    }
}

impl<T> WriteBuffer for CudaSlice<T> {
    fn num_bytes(&self) -> usize {
        CudaSlice::num_bytes(self)
    }
    fn ordinal(&self) -> usize {
        CudaSlice::ordinal(self)
    }
    fn write_ptr<'s>(
        &'s mut self,
        stream: &'s CudaStream,
    ) -> (CUdeviceptr, cudarc::driver::SyncOnDrop<'s>) {
        self.device_ptr_mut(stream)
    }
}

enum Slot<'a> {
    Empty,
    Read(&'a dyn ReadBuffer),
    Write(&'a mut dyn WriteBuffer),
}

/// Your device buffers bound to an execution context's inputs and outputs: the low-level,
/// copy-free path. Made by [`ExecutionContext::bindings`].
///
/// It borrows every bound buffer (inputs shared, outputs exclusively) and the context, so the
/// borrow checker keeps the buffers alive, unwritten (inputs) and untouched (outputs) for as
/// long as work may be enqueued on them, and keeps input shapes fixed. Each bind checks the
/// element type and size against the tensor's shape in the context and that the buffer is on
/// the context's device. Buffers may belong to other streams of that device: as cudarc does
/// for its own work, binding makes the context's stream wait for the buffer's earlier uses,
/// and every [`enqueue`](Bindings::enqueue) records its use on the buffer's events, so a
/// later read, write or free on another stream waits for the engine. No synchronization
/// happens here: read outputs on the context's stream (or any stream: cudarc waits on the
/// events) once the bindings are gone.
///
/// ```no_run
/// # fn f(ctx: &mut trt::ExecutionContext) -> trt::Result<()> {
/// let stream = ctx.stream().clone();
/// let ids = stream.clone_htod(&[1i32, 2, 3, 4, 5, 6, 7, 8])?;
/// let x = stream.alloc_zeros::<f32>(8)?;
/// let mut y = stream.alloc_zeros::<f32>(8)?;
/// let mut next = stream.alloc_zeros::<i32>(8)?;
/// let mut b = ctx.bindings();
/// b.input("ids", &ids)?.input("x", &x)?;
/// b.output("y", &mut y)?.output("next", &mut next)?;
/// b.enqueue()?;
/// drop(b);
/// let y: Vec<f32> = stream.clone_dtoh(&y)?;
/// # Ok(()) }
/// ```
///
/// Dropping a bound buffer before the work is enqueued does not compile:
///
/// ```compile_fail,E0505
/// # fn f(ctx: &mut trt::ExecutionContext) -> trt::Result<()> {
/// let stream = ctx.stream().clone();
/// let x = stream.alloc_zeros::<f32>(8)?;
/// let mut y = stream.alloc_zeros::<f32>(8)?;
/// let mut b = ctx.bindings();
/// b.input("x", &x)?;
/// b.output("y", &mut y)?;
/// drop(x); // error[E0505]: cannot move out of `x` because it is borrowed
/// b.enqueue()?;
/// # Ok(()) }
/// ```
///
/// Nor does reading an output while the engine may still write it:
///
/// ```compile_fail,E0502
/// # fn f(ctx: &mut trt::ExecutionContext) -> trt::Result<()> {
/// let stream = ctx.stream().clone();
/// let x = stream.alloc_zeros::<f32>(8)?;
/// let mut y = stream.alloc_zeros::<f32>(8)?;
/// let mut b = ctx.bindings();
/// b.input("x", &x)?.output("y", &mut y)?;
/// b.enqueue()?;
/// let early: Vec<f32> = stream.clone_dtoh(&y)?; // error[E0502]: `y` is mutably borrowed
/// b.enqueue()?;
/// # Ok(()) }
/// ```
pub struct Bindings<'a> {
    raw: NonNull<sys::trt_context>,
    engine: &'a Engine,
    stream: &'a Arc<CudaStream>,
    names: &'a [CString],
    slots: Vec<Slot<'a>>,
}

impl<'a> Bindings<'a> {
    fn new(
        raw: NonNull<sys::trt_context>,
        engine: &'a Engine,
        stream: &'a Arc<CudaStream>,
        names: &'a [CString],
    ) -> Bindings<'a> {
        Bindings {
            raw,
            engine,
            stream,
            names,
            slots: (0..engine.inner.io.len()).map(|_| Slot::Empty).collect(),
        }
    }

    /// Binds `buffer` to input `name`: its element type must be the input's and it must hold
    /// the input's current shape.
    pub fn input<T: HostElement>(
        &mut self,
        name: &str,
        buffer: &'a CudaSlice<T>,
    ) -> Result<&mut Self> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Input)?;
        self.check_type(i, T::DTYPE, std::mem::size_of::<T>())?;
        self.bind_read(i, buffer)?;
        Ok(self)
    }

    /// Binds `buffer` to output `name`: its element type must be the output's and it must hold
    /// the output's shape.
    pub fn output<T: HostElement>(
        &mut self,
        name: &str,
        buffer: &'a mut CudaSlice<T>,
    ) -> Result<&mut Self> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Output)?;
        self.check_type(i, T::DTYPE, std::mem::size_of::<T>())?;
        self.bind_write(i, buffer)?;
        Ok(self)
    }

    /// Binds raw bytes to input `name`, of any element type (f16, or data you lay out
    /// yourself); only the size is checked.
    pub fn input_bytes(&mut self, name: &str, buffer: &'a CudaSlice<u8>) -> Result<&mut Self> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Input)?;
        self.bind_read(i, buffer)?;
        Ok(self)
    }

    /// Binds raw bytes to output `name`, of any element type; only the size is checked.
    pub fn output_bytes(&mut self, name: &str, buffer: &'a mut CudaSlice<u8>) -> Result<&mut Self> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Output)?;
        self.bind_write(i, buffer)?;
        Ok(self)
    }

    fn check_type(&self, i: usize, dtype: DataType, size: usize) -> Result<()> {
        let t = &self.engine.inner.io[i];
        if t.dtype != dtype || t.dtype.size() != size {
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!(
                    "the buffer holds {}, the tensor is {}",
                    dtype_name(dtype),
                    dtype_name(t.dtype)
                ),
            });
        }
        Ok(())
    }

    /// Checks a buffer's device and size against tensor `i` in the context now.
    fn check_buffer(&self, i: usize, ordinal: usize, bytes: usize) -> Result<()> {
        let t = &self.engine.inner.io[i];
        let device = self.stream.context().ordinal();
        if ordinal != device {
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!(
                    "the buffer is on CUDA device {ordinal}, the context runs on device {device}"
                ),
            });
        }
        if t.dtype.size() == 0 {
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!("{} tensors cannot be bound here", dtype_name(t.dtype)),
            });
        }
        let shape = context_shape(self.raw, &self.names[i], &t.name)?;
        let need = shape.iter().product::<usize>() * t.dtype.size();
        if bytes < need {
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!(
                    "buffer holds {bytes} bytes; shape {shape:?} of {} needs {need}",
                    dtype_name(t.dtype)
                ),
            });
        }
        Ok(())
    }

    fn set_address(&self, i: usize, ptr: CUdeviceptr) -> Result<()> {
        // SAFETY: `raw` is a live context (borrowed for 'a through the ExecutionContext),
        // `names[i]` the NUL-terminated name of I/O tensor `i`, and `ptr` the start of a device
        // allocation of at least the tensor's size (check_buffer) that this binding borrows for
        // 'a; TensorRT only stores the address here.
        ffi::check(unsafe {
            sys::trt_context_set_tensor_address(
                self.raw.as_ptr(),
                self.names[i].as_ptr(),
                ptr as *mut _,
            )
        })
    }

    fn bind_read(&mut self, i: usize, buffer: &'a dyn ReadBuffer) -> Result<()> {
        self.check_buffer(i, buffer.ordinal(), buffer.num_bytes())?;
        // The guard makes our stream wait for earlier writes of the buffer now; the use itself
        // is recorded after each enqueue.
        let (ptr, _guard) = buffer.read_ptr(self.stream);
        self.set_address(i, ptr)?;
        self.slots[i] = Slot::Read(buffer);
        Ok(())
    }

    fn bind_write(&mut self, i: usize, buffer: &'a mut dyn WriteBuffer) -> Result<()> {
        self.check_buffer(i, buffer.ordinal(), buffer.num_bytes())?;
        let ptr = {
            // Our stream waits for earlier reads and writes of the buffer.
            let (ptr, _guard) = buffer.write_ptr(self.stream);
            ptr
        };
        self.set_address(i, ptr)?;
        self.slots[i] = Slot::Write(buffer);
        Ok(())
    }

    /// Enqueues the engine on the context's stream over the bound buffers (no synchronization).
    /// Every input and output must be bound. Call it as often as you like: each call records
    /// the buffers' use after the work it enqueued.
    pub fn enqueue(&mut self) -> Result<()> {
        if let Some(i) = self.slots.iter().position(|s| matches!(s, Slot::Empty)) {
            let t = &self.engine.inner.io[i];
            return Err(Error::Shape {
                name: t.name.clone(),
                message: format!(
                    "{:?} not bound: bind every input and output before enqueue",
                    t.mode
                ),
            });
        }
        self.stream.context().bind_to_thread()?;
        // SAFETY: `raw` is a live context whose every I/O tensor address was set by this
        // Bindings to a buffer it borrows for 'a and that is large enough for the tensor's
        // shape (shapes cannot change while the context is borrowed); the stream belongs to
        // the context's device and outlives the call.
        ffi::check(unsafe {
            sys::trt_context_enqueue(self.raw.as_ptr(), self.stream.cu_stream() as *mut _)
        })
        .map_err(|e| with_log(e, &self.engine.inner.runtime.logger))?;
        // Record the use on each buffer's events, after the enqueued work (cudarc's
        // stream-ordered model: later users on other streams wait for it, the buffer's free
        // too). Done here, not in Drop, so a leaked Bindings leaves nothing unrecorded.
        let stream: &CudaStream = self.stream;
        for slot in &mut self.slots {
            match slot {
                Slot::Read(b) => drop(b.read_ptr(stream)),
                Slot::Write(b) => drop(b.write_ptr(stream)),
                Slot::Empty => {}
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Bindings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (t, slot) in self.engine.inner.io.iter().zip(&self.slots) {
            let state = match slot {
                Slot::Empty => "unbound",
                Slot::Read(_) => "bound (read)",
                Slot::Write(_) => "bound (written)",
            };
            m.entry(&t.name, &state);
        }
        m.finish()
    }
}

impl Drop for ExecutionContext {
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
        // SAFETY: `raw` came from trt_engine_create_context and is destroyed once, after the
        // stream finished the work enqueued on it; the engine outlives it (we hold an Engine).
        unsafe { sys::trt_context_destroy(self.raw.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(name: &str, mode: IoMode, shape: &[i64], dtype: DataType) -> IoTensor {
        IoTensor {
            name: name.into(),
            mode,
            shape: shape.to_vec(),
            dtype,
        }
    }

    #[test]
    fn names_modes_and_declared_shapes_are_checked() {
        let tensors = [
            io("ids", IoMode::Input, &[-1, 4], DataType::Int32),
            io("x", IoMode::Input, &[2, 4], DataType::Float),
            io("y", IoMode::Output, &[-1, 4], DataType::Float),
        ];
        assert_eq!(io_index(&tensors, "x", IoMode::Input).unwrap(), 1);
        assert_eq!(
            io_index(&tensors, "y", IoMode::Input)
                .unwrap_err()
                .to_string(),
            "tensor `y`: is not an Input tensor"
        );
        assert_eq!(
            io_index(&tensors, "z", IoMode::Input)
                .unwrap_err()
                .to_string(),
            "unknown tensor `z`; the engine has: ids, x"
        );
        assert!(check_declared(&tensors[0], &[7, 4]).is_ok());
        assert_eq!(
            check_declared(&tensors[1], &[2, 5])
                .unwrap_err()
                .to_string(),
            "tensor `x`: shape [2, 5] does not match the engine's [2, 4]"
        );
        assert!(matches!(
            check_declared(&tensors[1], &[2, 4, 1]),
            Err(Error::Shape { .. })
        ));
    }

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
            let e = crate::bundle::GpuInfo::of_device(0)
                .unwrap_err()
                .to_string();
            assert!(e.contains("--compute-capability"), "{e}");
        }
    }
}
