//! One way to own a shim object: [`Handle`] (a non-null pointer and the shim function that
//! destroys it, called exactly once, on drop). Every TensorRT object the crate creates lives in
//! one, so ownership reads the same in every file.

use std::ptr::NonNull;

use tensorrt_sys as sys;

use crate::error::{Error, Result};
use crate::ffi;

/// The shim's destroy function for objects of type `T`.
pub(crate) type Destroy<T> = unsafe extern "C" fn(*mut T);

/// An owned shim object, destroyed on drop.
///
/// Not `Send`/`Sync` by itself: the types that hold one say why they may cross threads.
pub(crate) struct Handle<T> {
    ptr: NonNull<T>,
    destroy: Destroy<T>,
}

impl<T> Handle<T> {
    /// Takes ownership of `raw`; null (a shim factory that produced nothing) is an error naming
    /// `what`.
    ///
    /// # Safety
    /// `raw` is null, or a live object that nothing else owns and that `destroy` frees.
    pub(crate) unsafe fn new(raw: *mut T, destroy: Destroy<T>, what: &str) -> Result<Self> {
        match NonNull::new(raw) {
            Some(ptr) => Ok(Handle { ptr, destroy }),
            None => Err(Error::Invalid(format!(
                "TensorRT returned no {what} (a null object)"
            ))),
        }
    }

    /// The object, for shim calls. Valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` is owned by this handle (see `new`) and freed only here; the shim's
        // destroy functions catch every C++ exception, so nothing unwinds or panics.
        unsafe { (self.destroy)(self.ptr.as_ptr()) };
    }
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({:p})", self.ptr)
    }
}

/// Creates a shim object through a `trt_*_create`-style call with one out-pointer and owns it.
///
/// `create!(sys::trt_builder_create_config, builder_ptr; sys::trt_config_destroy, "builder config")`
macro_rules! create {
    ($f:expr, $($arg:expr),* ; $destroy:expr, $what:expr) => {{
        $crate::ffi::out!($f, $($arg),* ; *mut _).and_then(|raw| {
            // SAFETY: a successful create call hands back a fresh object that only this handle
            // owns, and `$destroy` is its matching destroy function.
            unsafe { $crate::handle::Handle::new(raw, $destroy, $what) }
        })
    }};
}
pub(crate) use create;

/// Copies a serialized TensorRT buffer (`IHostMemory`) into a `Vec` (empty for an empty one).
pub(crate) fn host_memory(mem: &Handle<sys::trt_host_memory>) -> Result<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null(), 0usize);
    // SAFETY: `mem` is a live host-memory object; `data` and `size` are valid out-pointers.
    ffi::check(unsafe { sys::trt_host_memory_data(mem.as_ptr(), &mut data, &mut size) })?;
    if data.is_null() || size == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: TensorRT reports `size` readable bytes at `data`, alive as long as `mem`.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) }.to_vec())
}

/// Takes a host-memory object returned by a shim call.
pub(crate) fn own_host_memory(
    raw: *mut sys::trt_host_memory,
) -> Result<Handle<sys::trt_host_memory>> {
    // SAFETY: shim calls that return host memory hand its ownership to the caller.
    unsafe { Handle::new(raw, sys::trt_host_memory_destroy, "serialized buffer") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count_destroy(p: *mut u32) {
        // SAFETY: the tests below pass a Box they leaked.
        drop(unsafe { Box::from_raw(p) });
        DESTROYED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn a_handle_destroys_its_object_exactly_once_and_null_is_an_error() {
        let before = DESTROYED.load(Ordering::SeqCst);
        let raw = Box::into_raw(Box::new(7u32));
        // SAFETY: a fresh Box, freed by count_destroy.
        let h = unsafe { Handle::new(raw, count_destroy, "number") }.unwrap();
        // SAFETY: the handle's object is a live u32.
        assert_eq!(unsafe { *h.as_ptr() }, 7);
        drop(h);
        assert_eq!(DESTROYED.load(Ordering::SeqCst), before + 1);
        // SAFETY: null is allowed and owns nothing.
        let e = unsafe { Handle::new(std::ptr::null_mut(), count_destroy, "number") }.unwrap_err();
        assert!(e.to_string().contains("no number"), "{e}");
        assert_eq!(DESTROYED.load(Ordering::SeqCst), before + 1);
    }
}
