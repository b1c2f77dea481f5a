//! Runtime, engine and execution context: deserialize a plan and run it.
//!
//! Two ways to run: [`ExecutionContext::run`] (typed host arrays in and out, synchronous, device
//! buffers reused across calls) and [`Bindings`] (your device buffers, borrowed until the work
//! is enqueued and recorded on the context's stream).

mod bindings;
mod context;
mod io;
mod run;
mod runtime;

pub use bindings::Bindings;
pub use context::ExecutionContext;
pub use io::{IoMode, IoTensor};
pub use runtime::{Engine, Runtime};
