//! The execution context: runs an engine on one CUDA stream, one thread at a time.

use std::ffi::CString;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use tensorrt_sys as sys;

use super::io::{check_declared, find, io_index, IoMode};
use super::runtime::Engine;
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::handle::create;
use crate::handle::Handle;
use crate::logger::with_log;

/// Runs an engine on one CUDA stream, through [`run`](ExecutionContext::run) (host arrays) or
/// [`bindings`](crate::Bindings) (your device buffers). Made by
/// [`Engine::create_context`]; keeps the engine alive.
///
/// One thread at a time (TensorRT's rule for contexts): `Send`, not `Sync`.
///
/// ```compile_fail,E0277
/// fn shared<T: Sync>() {}
/// shared::<trt::ExecutionContext>();
/// ```
///
/// Dropping it waits for the work enqueued on its stream before the context is destroyed.
pub struct ExecutionContext {
    // Fields drop in declaration order, after `Drop::drop` has synchronized the stream: the
    // context object is destroyed before the engine it runs is released.
    pub(super) raw: Handle<sys::trt_context>,
    pub(super) engine: Engine,
    pub(super) stream: Arc<CudaStream>,
    /// Device buffers of the simple `run` path, one per I/O tensor, reused across calls.
    pub(super) buffers: Vec<Option<CudaSlice<u8>>>,
    /// Host buffers for converted inputs (int64 -> int32), one per I/O tensor, reused.
    pub(super) staging: Vec<Vec<u8>>,
}

// SAFETY: an IExecutionContext may move between threads but is used by one at a time (&mut self).
unsafe impl Send for ExecutionContext {}

/// The shape of tensor `name` (C string `cname`) in context `raw`; unresolved is an error.
pub(super) fn context_shape(
    raw: &Handle<sys::trt_context>,
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
    /// A context of `engine` (created by it as `raw`) that runs on `stream`.
    pub(super) fn new(
        raw: Handle<sys::trt_context>,
        engine: Engine,
        stream: Arc<CudaStream>,
    ) -> ExecutionContext {
        let n = engine.io_tensors().len();
        ExecutionContext {
            raw,
            engine,
            stream,
            buffers: (0..n).map(|_| None).collect(),
            staging: vec![Vec::new(); n],
        }
    }

    /// The engine this context runs.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The stream the engine's work is enqueued on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Sets the shape of a (dynamic) input; checks rank and fixed dimensions.
    pub fn set_input_shape(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        let i = io_index(&self.engine.inner.io, name, IoMode::Input)?;
        self.set_input_shape_at(i, shape)
    }

    /// Sets the shape of input `i` (an index into the engine's I/O tensors).
    pub(super) fn set_input_shape_at(&mut self, i: usize, shape: &[usize]) -> Result<()> {
        check_declared(&self.engine.inner.io[i], shape)?;
        let dims = ffi::dims_from(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())?;
        // SAFETY: `self.raw` is the live context this value owns, `names[i]` the NUL-terminated
        // name of I/O tensor `i`, and `dims` a valid trt_dims that TensorRT copies.
        ffi::check(unsafe {
            sys::trt_context_set_input_shape(
                self.raw.as_ptr(),
                self.engine.inner.names[i].as_ptr(),
                &dims,
            )
        })
        .map_err(|e| with_log(e, self.engine.logger()))
    }

    /// The shape of a tensor in this context (outputs resolved from the input shapes).
    pub fn tensor_shape(&self, name: &str) -> Result<Vec<usize>> {
        let i = find(&self.engine.inner.io, name)?;
        context_shape(&self.raw, &self.engine.inner.names[i], name)
    }
}

impl Drop for ExecutionContext {
    fn drop(&mut self) {
        // TensorRT work enqueued through this context may still run: wait for it, so that the
        // context (the `raw` handle, dropped right after this) is destroyed only when idle.
        let _ = self.stream.synchronize();
    }
}

impl Engine {
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
        let raw = create!(sys::trt_engine_create_context, self.raw(); sys::trt_context_destroy, "execution context")
            .map_err(|e| with_log(e, self.logger()))?;
        Ok(ExecutionContext::new(raw, self.clone(), stream))
    }
}
