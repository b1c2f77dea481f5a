//! The calibrator's public face: the [`Calibrator`] trait, the [`CalibrationBatch`] it fills,
//! the inputs it is told about and the algorithm TensorRT sees.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, PinnedHostSlice};
use tensorrt_sys as sys;

use crate::error::{Error, Result};
use crate::network::DataType;

/// Which TensorRT calibrator the Rust calibrator is presented as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CalibrationAlgorithm {
    /// `IInt8EntropyCalibrator2`: KL-divergence thresholds (TensorRT's recommended default for CNNs).
    #[default]
    Entropy2,
    /// `IInt8MinMaxCalibrator`: the full observed range (often better for NLP / wide distributions).
    MinMax,
}

impl CalibrationAlgorithm {
    pub(super) fn raw(self) -> i32 {
        match self {
            CalibrationAlgorithm::Entropy2 => sys::TRT_CALIBRATION_ENTROPY2 as i32,
            CalibrationAlgorithm::MinMax => sys::TRT_CALIBRATION_MINMAX as i32,
        }
    }

    /// The algorithm as a calibration table's header names it.
    pub fn table_algorithm(self) -> trt_calib_table::Algorithm {
        match self {
            CalibrationAlgorithm::Entropy2 => trt_calib_table::Algorithm::EntropyCalibration2,
            CalibrationAlgorithm::MinMax => trt_calib_table::Algorithm::MinMaxCalibration,
        }
    }

    /// The calibrator that makes tables of `algorithm`, the inverse of
    /// [`table_algorithm`](Self::table_algorithm). `None` for the legacy entropy and legacy
    /// (percentile) calibrators, which this crate cannot present to TensorRT.
    pub fn from_table_algorithm(algorithm: trt_calib_table::Algorithm) -> Option<Self> {
        use trt_calib_table::Algorithm as A;
        match algorithm {
            A::EntropyCalibration2 => Some(CalibrationAlgorithm::Entropy2),
            A::MinMaxCalibration => Some(CalibrationAlgorithm::MinMax),
            A::EntropyCalibration | A::LegacyCalibration => None,
        }
    }
}

/// A network input as the calibrator sees it: name, full shape (batch included), element type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalibrationInput {
    /// The input's name in the network (what TensorRT's getBatch asks for).
    pub name: String,
    /// The full shape of one batch, batch dimension first.
    pub shape: Vec<usize>,
    /// The element type the network expects.
    pub dtype: DataType,
}

impl CalibrationInput {
    /// Elements in one batch of this input.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes in one batch of this input (the size of its buffer).
    pub fn bytes(&self) -> usize {
        self.elements() * self.dtype.size()
    }
}

/// Supplies calibration batches. Implement this for a custom data source, or use
/// [`DataCalibrator`](crate::DataCalibrator) over any
/// [`BatchSource`](trt_calib_data::BatchSource).
pub trait Calibrator: Send {
    /// The TensorRT calibrator to present (Entropy2 unless overridden).
    fn algorithm(&self) -> CalibrationAlgorithm {
        CalibrationAlgorithm::Entropy2
    }

    /// Called once before the first batch with every network input (shapes include the batch
    /// dimension). Allocate staging memory here, not in `next_batch`.
    /// `stream` is `None` only when the calibrator is exercised without a GPU (tests).
    fn prepare(
        &mut self,
        _inputs: &[CalibrationInput],
        _stream: Option<&Arc<CudaStream>>,
    ) -> Result<()> {
        Ok(())
    }

    /// Fills **every** input of `batch` with the next calibration batch. `Ok(false)` ends calibration.
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> Result<bool>;

    /// Total batches, when known (for progress bars).
    fn batch_count(&self) -> Option<usize> {
        None
    }
}

/// The device buffers of one calibration batch, one per network input, found by name.
pub struct CalibrationBatch<'a> {
    pub(super) inputs: &'a mut [DeviceInput],
    pub(super) stream: Option<&'a Arc<CudaStream>>,
}

pub(crate) struct DeviceInput {
    pub(crate) info: CalibrationInput,
    pub(crate) memory: Memory,
    pub(crate) ptr: u64,
    pub(crate) filled: bool,
}

/// Where a binding lives: device memory, or host memory when tests drive the calibrator
/// through its vtable without a GPU.
pub(crate) enum Memory {
    Device(CudaSlice<u8>),
    Host(Vec<u8>),
}

impl<'a> CalibrationBatch<'a> {
    /// The stream on which to write the buffers; it is synchronized before TensorRT reads them.
    /// `None` only in GPU-less tests.
    pub fn stream(&self) -> Option<&Arc<CudaStream>> {
        self.stream
    }

    /// The inputs to fill.
    pub fn inputs(&self) -> impl Iterator<Item = &CalibrationInput> {
        self.inputs.iter().map(|i| &i.info)
    }

    fn find(&mut self, name: &str) -> Result<&mut DeviceInput> {
        match self.inputs.iter().position(|i| i.info.name == name) {
            Some(i) => Ok(&mut self.inputs[i]),
            None => Err(Error::UnknownTensor {
                name: name.into(),
                what: "network's input list",
                known: self.inputs.iter().map(|i| i.info.name.clone()).collect(),
            }),
        }
    }

    /// The device buffer of input `name`, to fill by other means (a kernel, a device-to-device copy).
    /// It counts as filled.
    pub fn buffer_mut(&mut self, name: &str) -> Result<&mut CudaSlice<u8>> {
        let input = self.find(name)?;
        match &mut input.memory {
            Memory::Device(buffer) => {
                input.filled = true;
                Ok(buffer)
            }
            Memory::Host(_) => Err(Error::Invalid(
                "no device buffers: the calibrator runs without a GPU".into(),
            )),
        }
    }

    fn upload(
        stream: Option<&Arc<CudaStream>>,
        input: &mut DeviceInput,
        bytes: &[u8],
    ) -> Result<()> {
        match (&mut input.memory, stream) {
            (Memory::Device(buffer), Some(stream)) => stream.memcpy_htod(bytes, buffer)?,
            (Memory::Host(buffer), _) => buffer.copy_from_slice(bytes),
            (Memory::Device(_), None) => {
                return Err(Error::Invalid("device buffer without a stream".into()))
            }
        }
        input.filled = true;
        Ok(())
    }

    /// Copies host data into input `name`, checking the element type and count.
    pub fn copy_from_host<T: HostElement>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let stream = self.stream;
        let input = self.find(name)?;
        check_host(&input.info, T::DTYPE, data.len())?;
        Self::upload(stream, input, as_bytes(data))
    }

    /// Copies raw host bytes of element type `dtype` into input `name`, checking type and size.
    pub fn copy_bytes_from_host(
        &mut self,
        name: &str,
        dtype: DataType,
        bytes: &[u8],
    ) -> Result<()> {
        let stream = self.stream;
        let input = self.find(name)?;
        check_host(&input.info, dtype, input.info.elements())?;
        if bytes.len() != input.info.bytes() {
            return Err(Error::Shape {
                name: name.into(),
                message: format!(
                    "host data has {} bytes, the network input {:?} ({:?}) needs {}",
                    bytes.len(),
                    input.info.shape,
                    input.info.dtype,
                    input.info.bytes()
                ),
            });
        }
        Self::upload(stream, input, bytes)
    }

    /// Fails unless input `name` has element type `dtype`.
    pub fn check_dtype(&mut self, name: &str, dtype: DataType) -> Result<()> {
        let input = self.find(name)?;
        check_host(&input.info, dtype, input.info.elements())
    }

    /// Copies through a pinned staging buffer (the fast path): `staging` must hold exactly the input's bytes.
    pub fn copy_from_pinned(&mut self, name: &str, staging: &PinnedHostSlice<u8>) -> Result<()> {
        let stream = self.stream;
        let input = self.find(name)?;
        if staging.len() != input.info.bytes() {
            return Err(Error::Shape {
                name: name.into(),
                message: format!(
                    "staging holds {} bytes, the input needs {}",
                    staging.len(),
                    input.info.bytes()
                ),
            });
        }
        match (&mut input.memory, stream) {
            (Memory::Device(buffer), Some(stream)) => stream.memcpy_htod(staging, buffer)?,
            _ => {
                return Err(Error::Invalid(
                    "pinned uploads need device buffers and a stream".into(),
                ))
            }
        }
        input.filled = true;
        Ok(())
    }
}

fn check_host(info: &CalibrationInput, dtype: DataType, len: usize) -> Result<()> {
    if dtype != info.dtype {
        return Err(Error::Shape {
            name: info.name.clone(),
            message: format!(
                "host data is {dtype:?}, the network input is {:?}",
                info.dtype
            ),
        });
    }
    if len != info.elements() {
        return Err(Error::Shape {
            name: info.name.clone(),
            message: format!(
                "host data has {len} elements, the network input {:?} needs {}",
                info.shape,
                info.elements()
            ),
        });
    }
    Ok(())
}

/// Sealing: only this crate's primitive types may be host elements (their bytes are viewed raw).
pub(crate) mod sealed {
    /// Implemented for `f32`, `i32`, `i8`, `u8`, `i64` and `bool` only.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for i32 {}
    impl Sealed for i8 {}
    impl Sealed for u8 {}
    impl Sealed for i64 {}
    impl Sealed for bool {}
}

/// Host element types that map to a TensorRT input type: `f32`, `i32`, `i8`, `u8`, `i64` and
/// `bool` (sealed: their bytes are copied raw, so only padding-free primitives qualify).
pub trait HostElement: sealed::Sealed + Copy + cudarc::driver::DeviceRepr {
    /// The TensorRT element type with this Rust type's layout.
    const DTYPE: DataType;
}
impl HostElement for f32 {
    const DTYPE: DataType = DataType::Float;
}
impl HostElement for i32 {
    const DTYPE: DataType = DataType::Int32;
}
impl HostElement for i8 {
    const DTYPE: DataType = DataType::Int8;
}
impl HostElement for u8 {
    const DTYPE: DataType = DataType::Uint8;
}
impl HostElement for i64 {
    const DTYPE: DataType = DataType::Int64;
}

fn as_bytes<T: HostElement>(data: &[T]) -> &[u8] {
    // SAFETY: the byte view covers exactly `data`'s `size_of_val` bytes and borrows it
    // read-only. HostElement is sealed to padding-free primitives (f32, i32, i8, u8, i64, bool),
    // so every byte is initialized.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), std::mem::size_of_val(data)) }
}

#[cfg(test)]
mod tests {
    use super::CalibrationAlgorithm;
    use trt_calib_table::Algorithm;

    #[test]
    fn table_algorithms_map_both_ways_and_legacy_ones_are_refused() {
        let mapped: Vec<_> = Algorithm::ALL
            .iter()
            .map(|&a| (a, CalibrationAlgorithm::from_table_algorithm(a)))
            .collect();
        assert_eq!(
            mapped,
            [
                (
                    Algorithm::EntropyCalibration2,
                    Some(CalibrationAlgorithm::Entropy2)
                ),
                (Algorithm::EntropyCalibration, None),
                (
                    Algorithm::MinMaxCalibration,
                    Some(CalibrationAlgorithm::MinMax)
                ),
                (Algorithm::LegacyCalibration, None),
            ]
        );
        for ours in [CalibrationAlgorithm::Entropy2, CalibrationAlgorithm::MinMax] {
            let table = ours.table_algorithm();
            assert_eq!(
                CalibrationAlgorithm::from_table_algorithm(table),
                Some(ours)
            );
        }
    }
}
