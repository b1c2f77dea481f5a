//! INT8 calibration driven by Rust code.
//!
//! TensorRT calls `getBatch(bindings, names, n)` on a C++ `IInt8EntropyCalibrator2` (or MinMax)
//! object; the shim forwards it to [`get_batch`] here, which hands the user's [`Calibrator`] one
//! device buffer per network input (matched by **name**, never by position), then writes those
//! buffers' addresses into `bindings` in the order of TensorRT's `names`.
//!
//! Errors and panics in the Rust side never cross the FFI boundary: they make getBatch return
//! false, are stored, and come back as `Err` from the build once TensorRT returns.

use std::any::Any;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, PinnedHostSlice};
use tensorrt_sys as sys;
use trt_calib_data::BatchSource;

use crate::error::{Error, Result};
use crate::ffi;
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
    fn raw(self) -> i32 {
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

    /// The calibrator that made a table of `a` (`None`: one we cannot calibrate with).
    pub fn from_table_algorithm(a: trt_calib_table::Algorithm) -> Option<CalibrationAlgorithm> {
        match a {
            trt_calib_table::Algorithm::EntropyCalibration2 => Some(CalibrationAlgorithm::Entropy2),
            trt_calib_table::Algorithm::MinMaxCalibration => Some(CalibrationAlgorithm::MinMax),
            _ => None,
        }
    }
}

/// A network input as the calibrator sees it: name, full shape (batch included), element type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalibrationInput {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DataType,
}

impl CalibrationInput {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn bytes(&self) -> usize {
        self.elements() * self.dtype.size()
    }
}

/// Supplies calibration batches. Implement this for a custom data source, or use
/// [`DataCalibrator`] over any [`BatchSource`].
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
    inputs: &'a mut [DeviceInput],
    stream: Option<&'a Arc<CudaStream>>,
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

/// Host element types that map to a TensorRT input type.
pub trait HostElement: Copy + cudarc::driver::DeviceRepr {
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

/// The data pipeline's element type for a network input's type.
fn data_dtype(name: &str, dtype: DataType) -> Result<trt_calib_data::DType> {
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

fn as_bytes<T: HostElement>(data: &[T]) -> &[u8] {
    // SAFETY: plain-old-data element types; the byte view covers exactly the slice.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), std::mem::size_of_val(data)) }
}

// ---------------------------------------------------------------------------------------------
// The ready calibrator over a data pipeline.

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

    pub fn with_algorithm(mut self, algorithm: CalibrationAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

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
        let have = self.source.input_shapes().to_vec();
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
        let report = self.source.check(&expected)?;
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

// ---------------------------------------------------------------------------------------------
// Calibration tables (TensorRT's "calibration cache").

/// What to do with a calibration table file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    pub path: PathBuf,
    pub mode: CacheMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CacheMode {
    /// Use the table when it exists (and fail if TensorRT rejects it); otherwise calibrate and write it.
    #[default]
    ReadWrite,
    /// The table must exist and be usable: never calibrate.
    Require,
    /// Ignore an existing table, calibrate, and overwrite it.
    Recalibrate,
}

impl CachePolicy {
    pub fn read_write(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::ReadWrite,
        }
    }
    pub fn require(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::Require,
        }
    }
    pub fn recalibrate(path: impl Into<PathBuf>) -> Self {
        CachePolicy {
            path: path.into(),
            mode: CacheMode::Recalibrate,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The bridge TensorRT calls.

/// Everything the C callbacks need during one build.
pub(crate) struct CalibrationSession<'c> {
    calibrator: &'c mut dyn Calibrator,
    inputs: Vec<DeviceInput>,
    stream: Option<Arc<CudaStream>>,
    /// The table handed to TensorRT, if any (kept alive for readCalibrationCache).
    table_given: Option<Vec<u8>>,
    cache: Option<CachePolicy>,
    /// What TensorRT handed writeCalibrationCache. Kept in memory only: the table reaches the
    /// disk (atomically) once the whole build succeeded, see [`SessionResults::calibrated_table`].
    pub(crate) table_written: Option<Vec<u8>>,
    pub(crate) batches: usize,
    pub(crate) get_batch_calls: usize,
    /// The calibrator said "no more data" (every batch was consumed).
    pub(crate) ended: bool,
    pub(crate) error: Option<Error>,
    created: std::time::Instant,
}

impl<'c> CalibrationSession<'c> {
    /// Allocates one buffer per input up front (getBatch itself allocates nothing): device memory
    /// on `stream`, or host memory when there is no stream (GPU-less tests).
    pub(crate) fn new(
        calibrator: &'c mut dyn Calibrator,
        inputs: Vec<CalibrationInput>,
        stream: Option<Arc<CudaStream>>,
        table_given: Option<Vec<u8>>,
        cache: Option<CachePolicy>,
    ) -> Result<Self> {
        let mut device = Vec::with_capacity(inputs.len());
        for info in inputs {
            let size = info.bytes().max(1);
            let (memory, ptr) = match &stream {
                Some(stream) => {
                    let buffer = stream.alloc_zeros::<u8>(size)?;
                    let ptr = {
                        let (p, _sync) = buffer.device_ptr(stream);
                        p
                    };
                    (Memory::Device(buffer), ptr)
                }
                None => {
                    let buffer = vec![0u8; size];
                    let ptr = buffer.as_ptr() as u64;
                    (Memory::Host(buffer), ptr)
                }
            };
            device.push(DeviceInput {
                info,
                memory,
                ptr,
                filled: false,
            });
        }
        Ok(CalibrationSession {
            calibrator,
            inputs: device,
            stream,
            table_given,
            cache,
            table_written: None,
            batches: 0,
            get_batch_calls: 0,
            ended: false,
            error: None,
            created: std::time::Instant::now(),
        })
    }

    pub(crate) fn has_table(&self) -> bool {
        self.table_given.is_some()
    }

    pub(crate) fn prepare(&mut self) -> Result<()> {
        let infos: Vec<CalibrationInput> = self.inputs.iter().map(|i| i.info.clone()).collect();
        self.calibrator.prepare(&infos, self.stream.as_ref())
    }

    fn fail(&mut self, e: Error) -> i32 {
        if self.error.is_none() {
            self.error = Some(e);
        }
        0
    }

    fn get_batch(
        &mut self,
        bindings: *mut *mut c_void,
        names: *const *const c_char,
        n: i32,
    ) -> i32 {
        self.get_batch_calls += 1;
        if self.error.is_some() {
            return 0;
        }
        if self.get_batch_calls == 1 {
            // TensorRT builds its calibration engine before the first request: minutes on
            // large models, so say when that step is over.
            log::info!(
                target: "trt::build",
                "calibration engine ready after {:.1} s; calibrating",
                self.created.elapsed().as_secs_f64()
            );
        }
        if self.table_given.is_some() {
            // TensorRT only asks for data when it rejected the table it read: it would silently
            // recalibrate on whatever data there is. Refuse instead.
            let path = self
                .cache
                .as_ref()
                .map(|c| c.path.display().to_string())
                .unwrap_or_default();
            return self.fail(Error::Calibration(format!(
                "TensorRT rejected the calibration table {path} (written by another TensorRT version, \
                 for another calibration algorithm, or for another network) and wanted to recalibrate. \
                 Delete the table or use CacheMode::Recalibrate to calibrate again."
            )));
        }
        if n < 0 || (n > 0 && (bindings.is_null() || names.is_null())) {
            return self.fail(Error::Calibration(format!(
                "getBatch called with {n} bindings and null arrays"
            )));
        }
        // Resolve TensorRT's names to our inputs before touching data: unknown names are an error.
        for i in 0..n as usize {
            // SAFETY: TensorRT passes `n` valid C strings.
            let p = unsafe { *names.add(i) };
            if p.is_null() {
                return self.fail(Error::Calibration(format!(
                    "getBatch: binding {i} has a null name"
                )));
            }
            let name = unsafe { CStr::from_ptr(p) }.to_bytes();
            if !self
                .inputs
                .iter()
                .any(|inp| inp.info.name.as_bytes() == name)
            {
                return self.fail(Error::UnknownTensor {
                    name: String::from_utf8_lossy(name).into_owned(),
                    what: "calibrator's inputs",
                    known: self.inputs.iter().map(|i| i.info.name.clone()).collect(),
                });
            }
        }
        for input in &mut self.inputs {
            input.filled = false;
        }
        let mut batch = CalibrationBatch {
            inputs: &mut self.inputs,
            stream: self.stream.as_ref(),
        };
        match self.calibrator.next_batch(&mut batch) {
            Ok(true) => {}
            Ok(false) => {
                self.ended = true;
                return 0;
            }
            Err(e) => return self.fail(e),
        }
        if let Some(missing) = self.inputs.iter().find(|i| !i.filled) {
            let name = missing.info.name.clone();
            return self.fail(Error::Calibration(format!(
                "next_batch did not fill input `{name}`"
            )));
        }
        // TensorRT reads the buffers on its own stream: the uploads must be complete.
        if let Some(Err(e)) = self.stream.as_ref().map(|s| s.synchronize()) {
            return self.fail(e.into());
        }
        for i in 0..n as usize {
            let name = unsafe { CStr::from_ptr(*names.add(i)) }.to_bytes();
            let input = self
                .inputs
                .iter()
                .find(|inp| inp.info.name.as_bytes() == name)
                .expect("checked above");
            // SAFETY: bindings has room for n pointers.
            unsafe { *bindings.add(i) = input.ptr as *mut c_void };
        }
        self.batches += 1;
        1
    }

    fn read_cache(&mut self, length: *mut usize) -> *const c_void {
        match &self.table_given {
            Some(t) if !t.is_empty() => {
                unsafe { *length = t.len() };
                t.as_ptr().cast()
            }
            _ => {
                unsafe { *length = 0 };
                std::ptr::null()
            }
        }
    }

    /// Keeps the table in memory. Writing it here would leave a table computed from part of
    /// the data whenever a later batch fails (TensorRT writes the table even then).
    fn write_cache(&mut self, data: *const c_void, length: usize) {
        if data.is_null() || length == 0 {
            return;
        }
        // SAFETY: TensorRT passes `length` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) }.to_vec();
        self.table_written = Some(bytes);
    }
}

/// Writes a file atomically: a temporary file in the same directory, then a rename.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

fn with_session<R>(
    user: *mut c_void,
    fallback: R,
    f: impl FnOnce(&mut CalibrationSession<'_>) -> R,
) -> R {
    if user.is_null() {
        return fallback;
    }
    // SAFETY: user is the CalibrationSession that outlives the C++ calibrator (see TrtCalibrator).
    let session = unsafe { &mut *(user as *mut CalibrationSession<'_>) };
    match catch_unwind(AssertUnwindSafe(|| f(&mut *session))) {
        Ok(r) => r,
        Err(p) => {
            let msg = panic_message(p);
            session.fail(Error::Calibration(format!(
                "the calibrator panicked: {msg}"
            )));
            fallback
        }
    }
}

extern "C" fn cb_batch_size(_user: *mut c_void) -> i32 {
    // Explicit-batch networks carry the batch in the input shapes; TensorRT wants 1 here.
    1
}

extern "C" fn cb_get_batch(
    user: *mut c_void,
    bindings: *mut *mut c_void,
    names: *mut *const c_char,
    n: i32,
) -> i32 {
    with_session(user, 0, |s| s.get_batch(bindings, names, n))
}

extern "C" fn cb_read_cache(user: *mut c_void, length: *mut usize) -> *const c_void {
    if length.is_null() {
        return std::ptr::null();
    }
    unsafe { *length = 0 };
    with_session(user, std::ptr::null(), |s| s.read_cache(length))
}

extern "C" fn cb_write_cache(user: *mut c_void, data: *const c_void, length: usize) {
    with_session(user, (), |s| s.write_cache(data, length))
}

/// The C++ calibrator object bound to a session. The session must outlive it (it is dropped
/// first, right after the build).
pub(crate) struct TrtCalibrator {
    pub(crate) raw: NonNull<sys::trt_calibrator>,
}

impl TrtCalibrator {
    /// # Safety
    /// `session` must stay at the same address and outlive the returned object.
    pub(crate) unsafe fn new(
        algorithm: CalibrationAlgorithm,
        session: *mut CalibrationSession<'_>,
    ) -> Result<Self> {
        let callbacks = sys::trt_calibrator_callbacks {
            user_data: session.cast(),
            batch_size: Some(cb_batch_size),
            get_batch: Some(cb_get_batch),
            read_cache: Some(cb_read_cache),
            write_cache: Some(cb_write_cache),
        };
        let mut raw = std::ptr::null_mut();
        ffi::check(sys::trt_calibrator_create(
            algorithm.raw(),
            &callbacks,
            &mut raw,
        ))?;
        Ok(TrtCalibrator {
            raw: NonNull::new(raw).expect("trt_calibrator_create returned OK and null"),
        })
    }
}

impl Drop for TrtCalibrator {
    fn drop(&mut self) {
        unsafe { sys::trt_calibrator_destroy(self.raw.as_ptr()) };
    }
}

/// A calibration session and the C++ calibrator whose callbacks point into it: what a build
/// hands TensorRT, and what the vtable tests call as TensorRT would.
pub(crate) struct BoundCalibrator<'c> {
    // Declared first: dropped (never called again) before the session it points into.
    calibrator: TrtCalibrator,
    session: Box<CalibrationSession<'c>>,
}

/// What a calibration session left behind once its C++ calibrator is gone.
pub(crate) struct SessionResults {
    pub(crate) error: Option<Error>,
    pub(crate) table_written: Option<Vec<u8>>,
    pub(crate) batches: usize,
    pub(crate) get_batch_calls: usize,
    pub(crate) ended: bool,
}

impl SessionResults {
    /// The table TensorRT wrote, only when it comes from a complete calibration: no callback
    /// failed, at least one batch was consumed and the calibrator reached the end of its data.
    pub(crate) fn calibrated_table(&mut self) -> Option<Vec<u8>> {
        if self.error.is_none() && self.ended && self.batches > 0 {
            self.table_written.take()
        } else {
            None
        }
    }
}

/// Writes a table that a successful build calibrated to the policy's path (atomically), unless
/// the policy only reads. Called once the whole build succeeded, never from a callback.
pub(crate) fn save_table(policy: Option<&CachePolicy>, table: Option<&[u8]>) -> Result<bool> {
    match (policy, table) {
        (Some(policy), Some(bytes)) if policy.mode != CacheMode::Require => {
            write_atomic(&policy.path, bytes)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

impl<'c> BoundCalibrator<'c> {
    /// Staging buffers are allocated up front unless a table is given (then TensorRT should not
    /// ask for data, and a getBatch call fails the build).
    pub(crate) fn new(
        calibrator: &'c mut dyn Calibrator,
        algorithm: CalibrationAlgorithm,
        inputs: Vec<CalibrationInput>,
        stream: Option<Arc<CudaStream>>,
        table_given: Option<Vec<u8>>,
        cache: Option<CachePolicy>,
    ) -> Result<Self> {
        let mut session = Box::new(CalibrationSession::new(
            calibrator,
            inputs,
            stream,
            table_given,
            cache,
        )?);
        if !session.has_table() {
            session.prepare()?;
        }
        let ptr: *mut CalibrationSession<'c> = &mut *session;
        // SAFETY: the session is boxed (stable address) and outlives the calibrator (field order).
        let calibrator = unsafe { TrtCalibrator::new(algorithm, ptr)? };
        Ok(BoundCalibrator {
            calibrator,
            session,
        })
    }

    pub(crate) fn raw(&self) -> *mut sys::trt_calibrator {
        self.calibrator.raw.as_ptr()
    }

    /// Destroys the C++ calibrator (detach it from the config first), then hands back what the
    /// session collected.
    pub(crate) fn finish(self) -> SessionResults {
        let BoundCalibrator {
            calibrator,
            mut session,
        } = self;
        drop(calibrator);
        SessionResults {
            error: session.error.take(),
            table_written: session.table_written.take(),
            batches: session.batches,
            get_batch_calls: session.get_batch_calls,
            ended: session.ended,
        }
    }
}

/// Test access to the C++ calibrator objects, called through their vtables as TensorRT does.
#[doc(hidden)]
pub mod vtable {
    use super::*;

    /// A calibration session plus its C++ calibrator, outside any build.
    pub struct Harness<'c>(BoundCalibrator<'c>);

    impl<'c> Harness<'c> {
        pub fn new(
            calibrator: &'c mut dyn Calibrator,
            inputs: Vec<CalibrationInput>,
            stream: Option<Arc<CudaStream>>,
            table_given: Option<Vec<u8>>,
            cache: Option<CachePolicy>,
        ) -> Result<Self> {
            let algorithm = calibrator.algorithm();
            Ok(Harness(BoundCalibrator::new(
                calibrator,
                algorithm,
                inputs,
                stream,
                table_given,
                cache,
            )?))
        }

        pub fn raw(&self) -> *mut sys::trt_calibrator {
            self.0.raw()
        }

        /// The stored error, if a callback failed.
        pub fn take_error(&mut self) -> Option<Error> {
            self.0.session.error.take()
        }

        pub fn batches(&self) -> usize {
            self.0.session.batches
        }

        /// What writeCalibrationCache handed over (held in memory, never written by the callback).
        pub fn table_written(&self) -> Option<&[u8]> {
            self.0.session.table_written.as_deref()
        }

        /// Ends the session as a build does, and saves its table to the session's policy path
        /// exactly as a successful build would: only a complete calibration's table is written.
        /// Returns the stored error (if any) and whether a file was written.
        pub fn finish_and_save(self) -> Result<(Option<Error>, bool)> {
            let policy = self.0.session.cache.clone();
            let mut results = self.0.finish();
            let table = results.calibrated_table();
            let written = if results.error.is_none() {
                save_table(policy.as_ref(), table.as_deref())?
            } else {
                false
            };
            Ok((results.error, written))
        }

        /// Address of input `name`'s buffer (what getBatch writes into `bindings`).
        pub fn binding_ptr(&self, name: &str) -> Option<u64> {
            self.0
                .session
                .inputs
                .iter()
                .find(|i| i.info.name == name)
                .map(|i| i.ptr)
        }

        /// The bytes of a host-memory binding (GPU-less sessions).
        pub fn host_data(&self, name: &str) -> Option<&[u8]> {
            self.0
                .session
                .inputs
                .iter()
                .find(|i| i.info.name == name)
                .and_then(|i| match &i.memory {
                    Memory::Host(b) => Some(b.as_slice()),
                    Memory::Device(_) => None,
                })
        }
    }
}
