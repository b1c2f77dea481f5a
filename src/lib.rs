//! TensorRT from Rust.
