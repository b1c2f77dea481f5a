//! One way to keep panics out of TensorRT: every `extern "C"` callback (logger, calibrator,
//! algorithm selector) runs its Rust body through [`catch`], and the callers report what it
//! caught as an error of the build (modelled on git2-rs `src/panic.rs`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs a callback body; a panic becomes `Err(message)` instead of unwinding into C++.
///
/// The callback's state may be left half-updated by the panic: callers record the message and
/// fail the build, so that state is never trusted again.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(&*p))
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`).
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch(|| 5), Ok(5));
        assert_eq!(
            catch(|| -> i32 { panic!("boom {}", 3) }),
            Err("boom 3".into())
        );
        assert_eq!(catch(|| -> i32 { panic!("static") }), Err("static".into()));
        assert_eq!(
            catch(|| -> i32 { std::panic::panic_any(42u8) }),
            Err("(a panic without a message)".into())
        );
    }
}
