//! TensorRT calibration tables.
