//! INT8 calibration computed in Rust: activation statistics to thresholds to a TensorRT
//! calibration table, and metrics of how closely INT8 outputs follow FP32.
//!
//! | concept | type | what it is |
//! | --- | --- | --- |
//! | statistics | [`Stats`] | min, max, `max |x|` and count of one tensor |
//! | histogram | [`Histogram`] | [`BINS`] = 2048 bins of `|x|` over `[0, amax]`, fixed or growing range |
//! | collection | [`Collector`] | statistics and histograms by tensor name, one or two [`Passes`] |
//! | method | [`Method`] | MinMax, entropy (TensorRT's Entropy2 recipe), percentile, MSE |
//! | threshold | [`Threshold`] | a tensor's `amax`; the table's scale is `amax / 127` |
//! | table | [`to_table`] | thresholds to a [`CalibrationTable`](trt_calib_table::CalibrationTable) |
//! | agreement | [`eval::Agreement`] | top-1 / top-5 agreement, max difference, cosine, SQNR |
//! | quantization noise | [`noise::sqnr_db`] | SQNR of a histogram quantized with a threshold |
//! | stability | [`stability::StabilityReport`] | tables of other orders / batch sizes compared; nearly empty or saturated histograms |
//!
//! No TensorRT or GPU is involved: activations come in as `&[f32]` by tensor name.
//!
//! ```
//! use trt_calib_stats::{to_table, Collector, Method};
//! use trt_calib_table::CalibrationTable;
//!
//! let mut c = Collector::one_pass();
//! let batch: Vec<f32> = (0..10_000).map(|i| ((i % 200) as f32 - 100.0) / 25.0).collect();
//! c.add("input", &batch)?;
//! c.add("conv1_out", &batch[..5000])?;
//!
//! let method = Method::Percentile(99.0);
//! let t = c.thresholds(method)?;
//! // |x| takes 0, 0.04, ..., 3.96 (twice each) and 4.0: 99% of it lies below the 3.96s.
//! assert!((t[0].amax - 3.961).abs() < 0.002);
//! let table = to_table(&t, "10.16".parse()?, method.table_algorithm());
//! assert_eq!(table.header(), "TRT-101600-MinMaxCalibration");
//! assert_eq!(CalibrationTable::parse(&table.to_bytes())?, table);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod collector;
mod error;
pub mod eval;
mod histogram;
mod method;
pub mod noise;
pub mod stability;
mod stats;
mod table;

pub use collector::{Collector, Passes, TensorStats, Threshold};
pub use error::{Error, Result};
pub use histogram::{Histogram, Range, BINS};
pub use method::{
    entropy, entropy_bin, mse, mse_bin, percentile, Method, ENTROPY_TIE, QUANT_BINS, START_BIN,
};
pub use stats::Stats;
pub use table::to_table;
