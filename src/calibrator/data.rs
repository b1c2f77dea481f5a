//! The ready calibrator over a data pipeline.

use std::sync::Arc;

use cudarc::driver::{CudaStream, PinnedHostSlice};
use trt_calib_data::BatchSource;

use super::api::{CalibrationAlgorithm, CalibrationBatch, CalibrationInput, Calibrator};
use crate::error::{Error, Result};
use crate::network::DataType;

/// Progress callback: `(batches done, total batches if known)`.
pub type Progress = Box<dyn FnMut(usize, Option<usize>) + Send>;

/// A [`Calibrator`] over any [`BatchSource`] (such as `trt_calib_data::Pipeline`): host batches
/// are copied into pinned staging memory and uploaded on the calibration stream. The source
/// decodes and preprocesses batch k+1 on its own threads while TensorRT consumes batch k;
/// `next_batch` allocates nothing.
pub struct DataCalibrator<S: BatchSource> {
    source: S,
    algorithm: CalibrationAlgorithm,
    staging: Vec<(String, PinnedHostSlice<u8>)>,
    names: Vec<String>,
    progress: Option<Progress>,
    done: usize,
    skipped: usize,
}

impl<S: BatchSource> DataCalibrator<S> {
    /// A calibrator over `source`, presented as [`CalibrationAlgorithm::Entropy2`].
    pub fn new(source: S) -> Self {
        DataCalibrator {
            source,
            algorithm: CalibrationAlgorithm::Entropy2,
            staging: Vec::new(),
            names: Vec::new(),
            progress: None,
            done: 0,
            skipped: 0,
        }
    }

    /// Bad files the data check left out (`on_bad_file = "skip"`), known after `prepare`.
    pub fn skipped_files(&self) -> usize {
        self.skipped
    }

    /// Presents the calibrator to TensorRT as `algorithm`.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: CalibrationAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Calls `progress(batches done, total batches)` after every batch handed to TensorRT.
    pub fn with_progress(
        mut self,
        progress: impl FnMut(usize, Option<usize>) + Send + 'static,
    ) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }
}

impl<S: BatchSource> Calibrator for DataCalibrator<S> {
    fn algorithm(&self) -> CalibrationAlgorithm {
        self.algorithm
    }

    fn batch_count(&self) -> Option<usize> {
        Some(self.source.batch_count())
    }

    fn prepare(
        &mut self,
        inputs: &[CalibrationInput],
        stream: Option<&Arc<CudaStream>>,
    ) -> Result<()> {
        let report = check_source(&mut self.source, inputs)?;
        self.skipped = report.skipped.len();
        self.staging.clear();
        if let Some(stream) = stream {
            for input in inputs {
                // SAFETY: the buffer is fully written before every upload.
                let pinned = unsafe {
                    stream
                        .context()
                        .alloc_pinned_with_flags::<u8>(input.bytes(), 0)
                }?;
                self.staging.push((input.name.clone(), pinned));
            }
        }
        self.names = inputs.iter().map(|i| i.name.clone()).collect();
        Ok(())
    }

    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> Result<bool> {
        let host = match self.source.next_batch() {
            None => return Ok(false),
            Some(b) => b?,
        };
        let bytes = |name: &str| {
            let dtype = host.dtype(name).and_then(network_dtype);
            match (host.bytes(name), dtype) {
                (Some(b), Some(d)) => Ok((b, d)),
                _ => Err(Error::Calibration(format!("batch has no input `{name}`"))),
            }
        };
        if self.staging.is_empty() {
            // No GPU (tests): plain copies into the bindings.
            for name in &self.names {
                let (data, dtype) = bytes(name)?;
                batch.copy_bytes_from_host(name, dtype, data)?;
            }
        }
        for (name, pinned) in &mut self.staging {
            let (data, dtype) = bytes(name)?;
            batch.check_dtype(name, dtype)?;
            // Waits for the previous upload from this buffer, then overwrites it.
            let staged = pinned.as_mut_slice()?;
            if staged.len() != data.len() {
                return Err(Error::Shape {
                    name: name.clone(),
                    message: format!(
                        "the batch holds {} bytes, the input needs {}",
                        data.len(),
                        staged.len()
                    ),
                });
            }
            staged.copy_from_slice(data);
            batch.copy_from_pinned(name, pinned)?;
        }
        self.done += 1;
        if let Some(p) = self.progress.as_mut() {
            p(self.done, Some(self.source.batch_count()));
        }
        Ok(true)
    }
}

/// Checks `source` against the network's `inputs` before TensorRT does any work: every input
/// has data and every data input is a network input, then the whole data set (every file
/// decodes; shapes, dtypes and the batch size match). Logs what the check found.
pub(crate) fn check_source<S: BatchSource + ?Sized>(
    source: &mut S,
    inputs: &[CalibrationInput],
) -> Result<trt_calib_data::CheckReport> {
    let have = source.input_shapes().to_vec();
    for input in inputs {
        if !have.iter().any(|(n, _)| *n == input.name) {
            return Err(Error::Calibration(format!(
                "the network input `{}` has no calibration data; the data provides: {}",
                input.name,
                have.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    for (name, _) in &have {
        if !inputs.iter().any(|i| &i.name == name) {
            return Err(Error::UnknownTensor {
                name: name.clone(),
                what: "network's input list",
                known: inputs.iter().map(|i| i.name.clone()).collect(),
            });
        }
    }
    // The whole data set, before TensorRT builds its calibration engine (minutes on large
    // models): every file decodes, shapes, dtypes and the batch size match the network.
    let expected = inputs
        .iter()
        .map(|i| {
            Ok(trt_calib_data::Expected::new(
                &i.name,
                i.shape.clone(),
                data_dtype(&i.name, i.dtype)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let report = source.check(&expected)?;
    if !report.skipped.is_empty() {
        log::warn!(
            "calibration data: {} bad file(s) skipped (on_bad_file = \"skip\"): {}",
            report.skipped.len(),
            report
                .skipped
                .iter()
                .take(5)
                .map(|b| format!("{} ({})", b.path.display(), b.message))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    log::info!(
        target: "trt::build",
        "calibration data checked: {} samples, {} batches, {} images decoded in {:.2} s",
        report.samples,
        report.batches,
        report.images_checked,
        report.seconds
    );
    Ok(report)
}

/// The data pipeline's element type for a network input's type.
pub(crate) fn data_dtype(name: &str, dtype: DataType) -> Result<trt_calib_data::DType> {
    use trt_calib_data::DType as D;
    Ok(match dtype {
        DataType::Float => D::F32,
        DataType::Half => D::F16,
        DataType::Int32 => D::I32,
        DataType::Int64 => D::I64,
        DataType::Int8 => D::I8,
        DataType::Uint8 => D::U8,
        DataType::Bool => D::Bool,
        other => {
            return Err(Error::Shape {
                name: name.into(),
                message: format!("the data pipeline cannot produce {other:?} inputs"),
            })
        }
    })
}

fn network_dtype(dtype: trt_calib_data::DType) -> Option<DataType> {
    use trt_calib_data::DType as D;
    Some(match dtype {
        D::F32 => DataType::Float,
        D::F16 => DataType::Half,
        D::I32 => DataType::Int32,
        D::I64 => DataType::Int64,
        D::I8 => DataType::Int8,
        D::U8 => DataType::Uint8,
        D::Bool => DataType::Bool,
    })
}
