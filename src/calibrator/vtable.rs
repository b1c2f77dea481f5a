//! Test access to the C++ calibrator objects, called through their vtables as TensorRT does.

use tensorrt_sys as sys;

use super::api::Memory;
use super::bridge::BoundCalibrator;
pub use super::bridge::SessionSpec;
use super::table_file::save_table;
use crate::error::{Error, Result};

/// A calibration session plus its C++ calibrator, outside any build.
pub struct Harness<'c>(BoundCalibrator<'c>);

impl<'c> Harness<'c> {
    /// Opens the session and creates its C++ calibrator, as a build does before it hands the
    /// calibrator to TensorRT (`prepare` runs unless a table is given).
    pub fn new(spec: SessionSpec<'c>) -> Result<Self> {
        Ok(Harness(BoundCalibrator::new(spec)?))
    }

    /// The C++ calibrator, for the `sys::trt_calibrator_vcall_*` functions. Valid while `self`
    /// lives.
    pub fn raw(&self) -> *mut sys::trt_calibrator {
        self.0.raw()
    }

    /// The stored error, if a callback failed.
    pub fn take_error(&mut self) -> Option<Error> {
        self.0.session_mut().error.take()
    }

    /// Batches handed to TensorRT so far (getBatch calls that returned true).
    pub fn batches(&self) -> usize {
        self.0.session().batches
    }

    /// What writeCalibrationCache handed over (held in memory, never written by the callback).
    pub fn table_written(&self) -> Option<&[u8]> {
        self.0.session().table_written.as_deref()
    }

    /// Ends the session as a build does, and saves its table to the session's policy path
    /// exactly as a successful build would: only a complete calibration's table is written.
    /// Returns the stored error (if any) and whether a file was written.
    pub fn finish_and_save(mut self) -> Result<(Option<Error>, bool)> {
        let policy = self.0.session_mut().cache.clone();
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
            .session()
            .inputs
            .iter()
            .find(|i| i.info.name == name)
            .map(|i| i.ptr)
    }

    /// The bytes of a host-memory binding (GPU-less sessions).
    pub fn host_data(&self, name: &str) -> Option<&[u8]> {
        self.0
            .session()
            .inputs
            .iter()
            .find(|i| i.info.name == name)
            .and_then(|i| match &i.memory {
                Memory::Host(b) => Some(b.as_slice()),
                Memory::Device(_) => None,
            })
    }
}
