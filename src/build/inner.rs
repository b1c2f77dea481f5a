//! The builder handle shared by the `Builder` and the networks it creates.

use std::sync::Arc;

use cudarc::driver::CudaContext;
use tensorrt_sys as sys;

use crate::handle::Handle;
use crate::logger::Logger;

/// TensorRT's builder and what it needs alive: shared by the `Builder` and the networks it
/// creates (a network must not outlive its builder).
pub(crate) struct BuilderInner {
    pub(crate) handle: Handle<sys::trt_builder>,
    pub(crate) logger: Arc<Logger>,
    pub(crate) lib: &'static sys::Library,
    /// The device's primary context, kept alive for the builder and made current on the
    /// building thread: TensorRT builds on the thread's current device.
    pub(crate) context: Arc<CudaContext>,
}

// SAFETY: IBuilder may be used from any thread, one call at a time; `Builder::build` takes &self
// but TensorRT serializes builds internally. Networks created from it are not Sync.
unsafe impl Send for BuilderInner {}
// SAFETY: as above: shared `&self` use only creates networks/configs and builds, which TensorRT
// allows from several threads.
unsafe impl Sync for BuilderInner {}

impl BuilderInner {
    /// The builder, for shim calls.
    pub(crate) fn raw(&self) -> *mut sys::trt_builder {
        self.handle.as_ptr()
    }
}
