//! The bridge TensorRT calls: a [`SessionSpec`] opens a `CalibrationSession` (the buffers and
//! what the callbacks collect), whose address the C++ calibrator carries as `user_data`; the
//! `extern "C"` trampolines turn TensorRT's calls back into session methods, panics included.

use std::ffi::{c_char, c_void, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use cudarc::driver::{CudaStream, DevicePtr};
use tensorrt_sys as sys;

use super::api::{
    CalibrationAlgorithm, CalibrationBatch, CalibrationInput, Calibrator, DeviceInput, Memory,
};
use super::table_file::TablePolicy;
use crate::error::{Error, Result};
use crate::handle::{create, Handle};

/// What one calibration session is made of: the user's calibrator, the TensorRT calibrator it
/// is presented as, the network inputs to fill, where their buffers live, and the table handed
/// to TensorRT and its file.
///
/// A build fills it from its config; the GPU-less tests start from [`SessionSpec::new`].
pub struct SessionSpec<'c> {
    pub(crate) calibrator: &'c mut dyn Calibrator,
    pub(crate) algorithm: CalibrationAlgorithm,
    /// Every network input, shapes with the batch dimension.
    pub(crate) inputs: Vec<CalibrationInput>,
    /// Device buffers on this stream; `None`: host buffers (GPU-less tests).
    pub(crate) stream: Option<Arc<CudaStream>>,
    /// A table for readCalibrationCache: TensorRT should then ask for no data.
    pub(crate) table_given: Option<Vec<u8>>,
    /// The table file, named in errors and written once a build succeeded.
    pub(crate) cache: Option<TablePolicy>,
}

impl<'c> SessionSpec<'c> {
    /// `calibrator` filling `inputs`, presented as its own [`Calibrator::algorithm`], with host
    /// buffers (no stream), no table given and no table file.
    pub fn new(calibrator: &'c mut dyn Calibrator, inputs: Vec<CalibrationInput>) -> Self {
        let algorithm = calibrator.algorithm();
        SessionSpec {
            calibrator,
            algorithm,
            inputs,
            stream: None,
            table_given: None,
            cache: None,
        }
    }

    /// Presents the calibrator to TensorRT as `algorithm` instead of its own.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: CalibrationAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Device buffers allocated on `stream`, which the calibrator uploads on.
    #[must_use]
    pub fn with_stream(mut self, stream: Arc<CudaStream>) -> Self {
        self.stream = Some(stream);
        self
    }

    /// The table that readCalibrationCache hands TensorRT.
    #[must_use]
    pub fn with_table(mut self, table: Vec<u8>) -> Self {
        self.table_given = Some(table);
        self
    }

    /// The table file and what to do with it.
    #[must_use]
    pub fn with_cache_policy(mut self, policy: TablePolicy) -> Self {
        self.cache = Some(policy);
        self
    }
}

/// Everything the C callbacks need during one build.
pub(crate) struct CalibrationSession<'c> {
    calibrator: &'c mut dyn Calibrator,
    pub(super) inputs: Vec<DeviceInput>,
    stream: Option<Arc<CudaStream>>,
    /// The table handed to TensorRT, if any (kept alive for readCalibrationCache).
    table_given: Option<Vec<u8>>,
    pub(super) cache: Option<TablePolicy>,
    /// What TensorRT handed writeCalibrationCache. Kept in memory only: the table reaches the
    /// disk (atomically) once the whole build succeeded, see [`SessionResults::calibrated_table`].
    pub(crate) table_written: Option<Vec<u8>>,
    pub(crate) batches: usize,
    pub(crate) get_batch_calls: usize,
    /// The calibrator said "no more data" (every batch was consumed).
    pub(crate) ended: bool,
    pub(crate) error: Option<Error>,
    created: std::time::Instant,
    /// For each of getBatch's names, the index of its input (reused from call to call).
    order: Vec<usize>,
}

impl<'c> CalibrationSession<'c> {
    /// Allocates one buffer per input up front (getBatch itself allocates nothing): device memory
    /// on `stream`, or host memory when there is no stream (GPU-less tests).
    /// The spec's algorithm is the C++ calibrator's business (see [`BoundCalibrator::new`]).
    pub(crate) fn new(spec: SessionSpec<'c>) -> Result<Self> {
        let SessionSpec {
            calibrator,
            algorithm: _,
            inputs,
            stream,
            table_given,
            cache,
        } = spec;
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
        let order = Vec::with_capacity(device.len());
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
            order,
        })
    }

    /// A table was given: TensorRT should read it and ask for no data.
    pub(crate) fn has_table(&self) -> bool {
        self.table_given.is_some()
    }

    /// The user calibrator's [`Calibrator::prepare`], with every input.
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

    /// TensorRT's getBatch: 1 when every binding points at a filled buffer, 0 at the end of
    /// the data or on an error (stored for after the build).
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
        match self.fill_bindings(bindings, names, n) {
            Ok(true) => {
                self.batches += 1;
                1
            }
            Ok(false) => {
                self.ended = true;
                0
            }
            Err(e) => self.fail(e),
        }
    }

    /// One batch into `bindings`, in the order of TensorRT's `names`; `Ok(false)` when the
    /// calibrator has no more data.
    fn fill_bindings(
        &mut self,
        bindings: *mut *mut c_void,
        names: *const *const c_char,
        n: i32,
    ) -> Result<bool> {
        if self.table_given.is_some() {
            return Err(self.rejected_table());
        }
        if n < 0 || (n > 0 && (bindings.is_null() || names.is_null())) {
            return Err(Error::Calibration(format!(
                "getBatch called with {n} bindings and null arrays"
            )));
        }
        let names: &[*const c_char] = if n == 0 {
            &[]
        } else {
            // SAFETY: TensorRT passes `n` name pointers at `names` (non-null, checked above),
            // alive for the call.
            unsafe { std::slice::from_raw_parts(names, n as usize) }
        };
        // Resolve TensorRT's names to our inputs before touching data: unknown names are an error.
        self.resolve(names)?;
        for input in &mut self.inputs {
            input.filled = false;
        }
        let mut batch = CalibrationBatch {
            inputs: &mut self.inputs,
            stream: self.stream.as_ref(),
        };
        if !self.calibrator.next_batch(&mut batch)? {
            return Ok(false);
        }
        if let Some(missing) = self.inputs.iter().find(|i| !i.filled) {
            let name = missing.info.name.clone();
            return Err(Error::Calibration(format!(
                "next_batch did not fill input `{name}`"
            )));
        }
        // TensorRT reads the buffers on its own stream: the uploads must be complete.
        if let Some(stream) = &self.stream {
            stream.synchronize()?;
        }
        for (i, &input) in self.order.iter().enumerate() {
            // SAFETY: `bindings` is non-null (checked above) with room for `n` pointers, and
            // `order` has one entry per name, so `i < n`.
            unsafe { *bindings.add(i) = self.inputs[input].ptr as *mut c_void };
        }
        Ok(true)
    }

    /// TensorRT only asks for data when it rejected the table it read: it would silently
    /// recalibrate on whatever data there is. Refuse instead.
    fn rejected_table(&self) -> Error {
        let path = self
            .cache
            .as_ref()
            .map(|c| c.path.display().to_string())
            .unwrap_or_default();
        Error::Calibration(format!(
            "TensorRT rejected the calibration table {path} (written by another TensorRT version, \
             for another calibration algorithm, or for another network) and wanted to recalibrate. \
             Delete the table or use TableMode::Recalibrate to calibrate again."
        ))
    }

    /// Fills `order` with the index into `inputs` of each of TensorRT's `names`.
    fn resolve(&mut self, names: &[*const c_char]) -> Result<()> {
        self.order.clear();
        for (i, &p) in names.iter().enumerate() {
            if p.is_null() {
                return Err(Error::Calibration(format!(
                    "getBatch: binding {i} has a null name"
                )));
            }
            // SAFETY: a non-null name from TensorRT is a NUL-terminated string alive for the call.
            let name = unsafe { CStr::from_ptr(p) }.to_bytes();
            match self
                .inputs
                .iter()
                .position(|inp| inp.info.name.as_bytes() == name)
            {
                Some(input) => self.order.push(input),
                None => {
                    return Err(Error::UnknownTensor {
                        name: String::from_utf8_lossy(name).into_owned(),
                        what: "calibrator's inputs",
                        known: self.inputs.iter().map(|i| i.info.name.clone()).collect(),
                    })
                }
            }
        }
        Ok(())
    }

    /// TensorRT's readCalibrationCache: the given table's address and length, or null and 0.
    /// The bytes stay where they are while the session lives.
    fn read_cache(&self) -> (*const c_void, usize) {
        match &self.table_given {
            Some(t) if !t.is_empty() => (t.as_ptr().cast(), t.len()),
            _ => (std::ptr::null(), 0),
        }
    }

    /// Keeps the table in memory. Writing it here would leave a table computed from part of
    /// the data whenever a later batch fails (TensorRT writes the table even then).
    fn write_cache(&mut self, table: &[u8]) {
        self.table_written = Some(table.to_vec());
    }
}

/// Runs a callback body on the session behind `user`: a panic in it is stored as the session's
/// error and TensorRT gets `fallback` (so is a null `user`).
fn with_session<R>(
    user: *mut c_void,
    fallback: R,
    f: impl FnOnce(&mut CalibrationSession<'_>) -> R,
) -> R {
    if user.is_null() {
        return fallback;
    }
    // SAFETY: `user` is the boxed CalibrationSession that outlives the C++ calibrator (see
    // TrtCalibrator::new), and TensorRT calls one callback at a time, from the building thread.
    let session = unsafe { &mut *(user as *mut CalibrationSession<'_>) };
    match crate::panic::catch(|| f(&mut *session)) {
        Ok(r) => r,
        Err(msg) => {
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
    let (data, len) = with_session(user, (std::ptr::null(), 0), |s| s.read_cache());
    // SAFETY: `length` is TensorRT's out-pointer, non-null (checked above).
    unsafe { *length = len };
    data
}

extern "C" fn cb_write_cache(user: *mut c_void, data: *const c_void, length: usize) {
    if data.is_null() || length == 0 {
        return;
    }
    // SAFETY: TensorRT passes `length` readable bytes at `data` (non-null, checked above),
    // alive for the call.
    let table = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) };
    with_session(user, (), |s| s.write_cache(table))
}

/// The C++ calibrator object bound to a session. The session must outlive it (it is dropped
/// first, right after the build).
pub(crate) struct TrtCalibrator {
    handle: Handle<sys::trt_calibrator>,
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
        // The shim copies `callbacks`; the C++ object calls them until it is destroyed.
        let handle = create!(sys::trt_calibrator_create, algorithm.raw(), &callbacks;
            sys::trt_calibrator_destroy, "calibrator")?;
        Ok(TrtCalibrator { handle })
    }

    /// The C++ calibrator, for shim calls. Valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut sys::trt_calibrator {
        self.handle.as_ptr()
    }
}

/// A calibration session and the C++ calibrator whose callbacks point into it: what a build
/// hands TensorRT, and what the vtable tests call as TensorRT would.
pub(crate) struct BoundCalibrator<'c> {
    /// `None` once finished; dropped (never called again) before the session is freed.
    calibrator: Option<TrtCalibrator>,
    /// Owned (from `Box::into_raw`, freed in `Drop`). A raw pointer, not a `Box`: the C++
    /// calibrator holds the same address, and every access, ours and the callbacks', derives
    /// from it (a `Box` would assert unique access that the callbacks break).
    session: NonNull<CalibrationSession<'c>>,
    _owns: PhantomData<Box<CalibrationSession<'c>>>,
}

impl Drop for BoundCalibrator<'_> {
    fn drop(&mut self) {
        // The C++ object first: after this nothing calls into the session.
        drop(self.calibrator.take());
        // SAFETY: `session` came from `Box::into_raw` in `new` and is freed only here, after
        // the only other holder of the pointer (the C++ calibrator) is gone.
        drop(unsafe { Box::from_raw(self.session.as_ptr()) });
    }
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

impl<'c> BoundCalibrator<'c> {
    /// Staging buffers are allocated up front unless a table is given (then TensorRT should not
    /// ask for data, and a getBatch call fails the build).
    pub(crate) fn new(spec: SessionSpec<'c>) -> Result<Self> {
        let algorithm = spec.algorithm;
        let mut session = Box::new(CalibrationSession::new(spec)?);
        if !session.has_table() {
            session.prepare()?;
        }
        let session = NonNull::from(Box::leak(session));
        let mut bound = BoundCalibrator {
            calibrator: None,
            session,
            _owns: PhantomData,
        };
        // SAFETY: the session lives at a stable heap address until `bound` drops, which destroys
        // the C++ calibrator first (see Drop).
        bound.calibrator = Some(unsafe { TrtCalibrator::new(algorithm, session.as_ptr())? });
        Ok(bound)
    }

    /// The session, between callbacks (see `session_mut`).
    pub(super) fn session(&self) -> &CalibrationSession<'c> {
        // SAFETY: owned by `self`; the callbacks, the only other users of the pointer, run only
        // while TensorRT (or the vtable harness) calls the C++ object, not during this borrow.
        unsafe { self.session.as_ref() }
    }

    /// The session, between callbacks (TensorRT calls them from the building thread only, while
    /// `buildSerializedNetwork` runs; `&mut self` means no build is running on this one).
    pub(super) fn session_mut(&mut self) -> &mut CalibrationSession<'c> {
        // SAFETY: owned by `self` (see the field); no callback runs while `&mut self` is held.
        unsafe { self.session.as_mut() }
    }

    /// The C++ calibrator, to attach to a builder config. Valid while `self` lives.
    pub(crate) fn raw(&self) -> *mut sys::trt_calibrator {
        self.calibrator
            .as_ref()
            .map_or(std::ptr::null_mut(), TrtCalibrator::as_ptr)
    }

    /// Destroys the C++ calibrator (detach it from the config first), then hands back what the
    /// session collected.
    pub(crate) fn finish(mut self) -> SessionResults {
        drop(self.calibrator.take());
        let session = self.session_mut();
        SessionResults {
            error: session.error.take(),
            table_written: session.table_written.take(),
            batches: session.batches,
            get_batch_calls: session.get_batch_calls,
            ended: session.ended,
        }
    }
}
