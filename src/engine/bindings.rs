//! Your device buffers bound to an execution context: the copy-free path.

use std::sync::Arc;

use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use tensorrt_sys as sys;

use super::context::{context_shape, ExecutionContext};
use super::io::{io_index, IoMode};
use super::runtime::Engine;
use crate::calibrator::HostElement;
use crate::error::{Error, Result};
use crate::ffi;
use crate::handle::Handle;
use crate::logger::with_log;
use crate::network::DataType;
use crate::tensor::dtype_name;

/// A device buffer TensorRT reads (an input).
pub(super) trait ReadBuffer {
    /// Its size in bytes.
    fn num_bytes(&self) -> usize;
    /// The CUDA device it lives on.
    fn ordinal(&self) -> usize;
    /// The pointer, after making `stream` wait for earlier writes of the buffer; dropping the
    /// guard records this use on `stream`.
    fn read_ptr<'s>(
        &'s self,
        stream: &'s CudaStream,
    ) -> (CUdeviceptr, cudarc::driver::SyncOnDrop<'s>);
}

/// A device buffer TensorRT writes (an output).
pub(super) trait WriteBuffer {
    /// Its size in bytes.
    fn num_bytes(&self) -> usize;
    /// The CUDA device it lives on.
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

/// What is bound to one I/O tensor.
enum Slot<'a> {
    /// Nothing yet: `enqueue` refuses to run.
    Empty,
    /// An input's buffer, borrowed shared.
    Read(&'a dyn ReadBuffer),
    /// An output's buffer, borrowed exclusively.
    Write(&'a mut dyn WriteBuffer),
}

/// Your device buffers bound to an execution context's inputs and outputs: the low-level,
/// copy-free path. Made by [`ExecutionContext::bindings`](crate::ExecutionContext::bindings).
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
    raw: &'a Handle<sys::trt_context>,
    engine: &'a Engine,
    stream: &'a Arc<CudaStream>,
    slots: Vec<Slot<'a>>,
}

impl<'a> Bindings<'a> {
    /// Nothing bound yet, over context `raw` of `engine`, running on `stream`.
    pub(super) fn new(
        raw: &'a Handle<sys::trt_context>,
        engine: &'a Engine,
        stream: &'a Arc<CudaStream>,
    ) -> Bindings<'a> {
        Bindings {
            raw,
            engine,
            stream,
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

    /// Checks a typed buffer's element type (`dtype`, `size` bytes each) against tensor `i`.
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
        let shape = context_shape(self.raw, &self.engine.inner.names[i], &t.name)?;
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

    /// Points tensor `i` of the context at device address `ptr`.
    fn set_address(&self, i: usize, ptr: CUdeviceptr) -> Result<()> {
        // SAFETY: `raw` is a live context (borrowed for 'a through the ExecutionContext), the
        // engine's `names[i]` the NUL-terminated name of I/O tensor `i`, and `ptr` the start of
        // a device allocation of at least the tensor's size (check_buffer) that this binding
        // borrows for 'a; TensorRT only stores the address here.
        ffi::check(unsafe {
            sys::trt_context_set_tensor_address(
                self.raw.as_ptr(),
                self.engine.inner.names[i].as_ptr(),
                ptr as *mut _,
            )
        })
    }

    /// Binds input `i` to `buffer` after checking its device and size.
    pub(super) fn bind_read(&mut self, i: usize, buffer: &'a dyn ReadBuffer) -> Result<()> {
        self.check_buffer(i, buffer.ordinal(), buffer.num_bytes())?;
        // The guard makes our stream wait for earlier writes of the buffer now; the use itself
        // is recorded after each enqueue.
        let (ptr, _guard) = buffer.read_ptr(self.stream);
        self.set_address(i, ptr)?;
        self.slots[i] = Slot::Read(buffer);
        Ok(())
    }

    /// Binds output `i` to `buffer` after checking its device and size.
    pub(super) fn bind_write(&mut self, i: usize, buffer: &'a mut dyn WriteBuffer) -> Result<()> {
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
        .map_err(|e| with_log(e, self.engine.logger()))?;
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

impl ExecutionContext {
    /// Device buffers for every input and output, borrowed until the [`Bindings`] is dropped;
    /// [`Bindings::enqueue`] runs the engine on them. While it lives, the context is borrowed
    /// too, so input shapes cannot change under bound buffers.
    pub fn bindings(&mut self) -> Bindings<'_> {
        Bindings::new(&self.raw, &self.engine, &self.stream)
    }
}
