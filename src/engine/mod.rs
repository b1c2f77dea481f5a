//! Runtime, engine and execution context: deserialize a plan and run it.
//!
//! Two ways to run: [`ExecutionContext::run`] (typed host arrays in and out, synchronous, device
//! buffers reused across calls) and [`Bindings`] (your device buffers, borrowed until the work
//! is enqueued and recorded on the context's stream).
//!
//! | file | what |
//! |---|---|
//! | `runtime.rs` | [`Runtime`] (deserialize, load) and [`Engine`] (I/O, inspector, contexts) |
//! | `io.rs` | [`IoTensor`], [`IoMode`]; name and shape checks |
//! | `context.rs` | [`ExecutionContext`]: shapes, its stream, drop after the stream is idle |
//! | `run.rs` | [`ExecutionContext::run`]: check, convert, upload, enqueue, download |
//! | `bindings.rs` | [`Bindings`]: your device buffers, borrowed until enqueued |
//!
//! Ownership runs one way, through `Arc`s: a context keeps its engine alive, the engine its
//! runtime, the runtime the logger and the library. Each TensorRT object is a
//! `crate::handle::Handle`, destroyed before the owner it points back to.

mod bindings;
mod context;
mod io;
mod run;
mod runtime;

pub use bindings::Bindings;
pub use context::ExecutionContext;
pub use io::{IoMode, IoTensor};
pub use runtime::{Engine, Runtime};
