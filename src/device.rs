//! The CUDA device a builder or runtime works on: checked before cudarc is asked (it panics
//! without a driver) and before TensorRT sees an index past the device count.

use std::sync::Arc;

use cudarc::driver::CudaContext;

use crate::error::{Error, Result};

/// Checks a CUDA device index against the device count.
fn check_device_index(device: usize, count: usize) -> Result<()> {
    if device < count {
        return Ok(());
    }
    Err(Error::Invalid(match count {
        0 => format!("CUDA device {device} does not exist: the driver sees no CUDA device"),
        1 => format!("CUDA device {device} does not exist: this machine has 1 CUDA device (0)"),
        n => format!(
            "CUDA device {device} does not exist: this machine has {n} CUDA devices (0 to {})",
            n - 1
        ),
    }))
}

/// The primary CUDA context of `device`, after checking that a driver is installed (cudarc
/// would panic) and that the device exists (a clear error instead of CUDA_ERROR_INVALID_DEVICE).
pub(crate) fn device_context(device: usize) -> Result<Arc<CudaContext>> {
    // SAFETY: only tries to open the driver library.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(Error::Invalid(
            "no CUDA driver (libcuda.so) found: building and running engines needs an NVIDIA GPU and its driver"
                .into(),
        ));
    }
    let count = CudaContext::device_count()?;
    check_device_index(device, count.max(0) as usize)?;
    Ok(CudaContext::new(device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_index_is_checked_against_the_count() {
        assert!(check_device_index(0, 1).is_ok());
        assert!(check_device_index(3, 4).is_ok());
        assert_eq!(
            check_device_index(1, 1).unwrap_err().to_string(),
            "CUDA device 1 does not exist: this machine has 1 CUDA device (0)"
        );
        assert_eq!(
            check_device_index(8, 8).unwrap_err().to_string(),
            "CUDA device 8 does not exist: this machine has 8 CUDA devices (0 to 7)"
        );
        assert_eq!(
            check_device_index(0, 0).unwrap_err().to_string(),
            "CUDA device 0 does not exist: the driver sees no CUDA device"
        );
    }
}
