//! The thin layer between raw shim calls and `Result`: a status code becomes an [`Error`] carrying
//! the shim's thread-local message (read, then cleared, right after the failing call).

use std::ffi::{c_char, CStr, CString};

use tensorrt_sys as sys;

use crate::error::{Error, Result};

/// Turns a shim status into a `Result`. `log` is the TensorRT log's last error, when the caller has one.
pub(crate) fn check_with(
    status: sys::trt_status,
    log: impl FnOnce() -> Option<String>,
) -> Result<()> {
    if status == sys::TRT_OK as sys::trt_status {
        return Ok(());
    }
    // SAFETY: trt_last_error returns a valid NUL-terminated thread-local string.
    let message = unsafe { CStr::from_ptr(sys::trt_last_error()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: takes no arguments and only clears this thread's message, which `message` has
    // already copied (the pointer above is not used after this).
    unsafe { sys::trt_clear_last_error() };
    Err(Error::TensorRt {
        code: status,
        message,
        log: log(),
    })
}

pub(crate) fn check(status: sys::trt_status) -> Result<()> {
    check_with(status, || None)
}

/// A C string from a name, with a clear error for interior NULs.
pub(crate) fn cstring(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::Invalid(format!("name `{name}` contains a NUL byte")))
}

/// Copies a C string owned by TensorRT; NULL becomes "".
pub(crate) fn string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: TensorRT strings are NUL-terminated and live as long as their object.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

pub(crate) fn dims_to_vec(d: &sys::trt_dims) -> Vec<i64> {
    let n = d.nb_dims.clamp(0, sys::TRT_MAX_DIMS as i32) as usize;
    d.d[..n].to_vec()
}

pub(crate) fn dims_from(shape: &[i64]) -> Result<sys::trt_dims> {
    if shape.len() > sys::TRT_MAX_DIMS as usize {
        return Err(Error::Invalid(format!(
            "{} dimensions; TensorRT allows at most {}",
            shape.len(),
            sys::TRT_MAX_DIMS
        )));
    }
    let mut d = sys::trt_dims {
        nb_dims: shape.len() as i32,
        d: [0; sys::TRT_MAX_DIMS as usize],
    };
    d.d[..shape.len()].copy_from_slice(shape);
    Ok(d)
}

/// Calls a shim getter with one out-parameter.
macro_rules! out {
    ($f:expr, $($arg:expr),* ; $ty:ty) => {{
        let mut v: $ty = Default::default();
        // SAFETY: the caller passes valid handles; `v` is a valid out-pointer.
        $crate::ffi::check(unsafe { $f($($arg,)* &mut v) }).map(|_| v)
    }};
}
pub(crate) use out;
