//! Calibration data pipeline.
