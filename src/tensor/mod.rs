//! Host tensors of every element type an engine's inputs and outputs can have: owned
//! ([`HostTensor`]) and borrowed ([`HostTensorView`]), one `ndarray` array per element type.
//!
//! | host element | TensorRT type it feeds / comes from |
//! |---|---|
//! | `f32` | `Float` |
//! | [`half::f16`] | `Half` |
//! | `i32` | `Int32` (and `Int64`, widened) |
//! | `i64` | `Int64`, and `Int32` after a range check (TensorRT 8.5 has no int64 I/O) |
//! | `i8` | `Int8` |
//! | `u8` | `Uint8` |
//! | `bool` | `Bool` |

mod convert;
mod host;

pub use convert::dtype_name;
pub(crate) use convert::{feed, host_type, mismatch, narrow_i64, widen_i32, Feed};
pub(crate) use host::{slice_bytes_mut, Pod};
pub use host::{HostTensor, HostTensorView, TensorElement};
