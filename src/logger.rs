//! TensorRT's `ILogger`, forwarded to the `log` crate (target `tensorrt`).

use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex, OnceLock};

use tensorrt_sys as sys;

use crate::error::{Error, Result};
use crate::ffi;
use crate::handle::{create, Handle};

/// TensorRT's message severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `kINTERNAL_ERROR`: TensorRT's own state is broken (forwarded at `log::Level::Error`).
    InternalError,
    /// `kERROR`: a call failed (forwarded at `log::Level::Error`).
    Error,
    /// `kWARNING`: TensorRT went on, possibly not as asked (`log::Level::Warn`).
    Warning,
    /// `kINFO`: progress and facts about the build or engine (`log::Level::Info`).
    Info,
    /// `kVERBOSE`: per-tactic and per-layer detail (`log::Level::Trace`); also any severity
    /// number TensorRT sends that this enum does not know.
    Verbose,
}

impl Severity {
    fn from_raw(s: i32) -> Severity {
        match s {
            0 => Severity::InternalError,
            1 => Severity::Error,
            2 => Severity::Warning,
            3 => Severity::Info,
            _ => Severity::Verbose,
        }
    }

    /// The `log` level each severity is forwarded at.
    pub fn level(self) -> log::Level {
        match self {
            Severity::InternalError | Severity::Error => log::Level::Error,
            Severity::Warning => log::Level::Warn,
            Severity::Info => log::Level::Info,
            Severity::Verbose => log::Level::Trace,
        }
    }
}

/// Warnings and errors kept for error messages and build audits.
const KEPT_MESSAGES: usize = 512;

struct State {
    recent: Mutex<VecDeque<(Severity, String)>>,
}

/// The logger TensorRT calls from any of its threads. Shared (`Arc`) by builders and runtimes.
pub struct Logger {
    // Fields drop in declaration order: the C++ logger before the state its callback reads.
    // Every builder, parser and runtime given this logger holds an `Arc<Logger>`, so none is
    // alive to call it when it drops (TensorRT's process-wide logger pointer: see `shared`).
    raw: Handle<sys::trt_logger>,
    state: Box<State>,
}

// SAFETY: the C++ object only forwards to `log_callback`, whose state is a Mutex; TensorRT calls
// loggers from several threads, which is what this must allow.
unsafe impl Send for Logger {}
// SAFETY: `&Logger` reaches the C++ object only through `trt_logger_vcall_log` (and TensorRT's
// own calls), which read its two immutable fields (callback, user pointer) and run
// `log_callback`; the only shared mutable state, `State::recent`, is behind a Mutex.
unsafe impl Sync for Logger {}

extern "C" fn log_callback(user: *mut c_void, severity: i32, msg: *const c_char) {
    // Nothing may unwind into TensorRT. A panic here (in a `log` implementation) has nowhere to
    // go: the message is lost, the build goes on.
    let _ = crate::panic::catch(|| {
        let text = if msg.is_null() {
            "(null message)".into()
        } else {
            // SAFETY: TensorRT passes a NUL-terminated string; invalid UTF-8 is replaced, not trusted.
            unsafe { CStr::from_ptr(msg) }.to_string_lossy()
        };
        let severity = Severity::from_raw(severity);
        log::log!(target: "tensorrt", severity.level(), "{text}");
        if severity <= Severity::Warning && !user.is_null() {
            // SAFETY: user is the Box<State> owned by the Logger that owns this callback.
            let state = unsafe { &*(user as *const State) };
            if let Ok(mut recent) = state.recent.lock() {
                if recent.len() == KEPT_MESSAGES {
                    recent.pop_front();
                }
                recent.push_back((severity, text.into_owned()));
            }
        }
    });
}

impl Logger {
    /// The process-wide logger that `Builder::new` / `Runtime::new` (and their `on_device`
    /// forms) use. It is never dropped: TensorRT keeps the first logger it is given as its
    /// global one for the whole process ("TensorRT maintains only a single logger pointer"), so a
    /// per-object logger could be freed while TensorRT still calls it.
    pub fn shared() -> Result<Arc<Logger>> {
        static SHARED: OnceLock<Arc<Logger>> = OnceLock::new();
        if let Some(l) = SHARED.get() {
            return Ok(l.clone());
        }
        let made = Arc::new(Logger::new()?);
        // Two threads may race here; one logger wins and the other is dropped unused.
        Ok(SHARED.get_or_init(|| made).clone())
    }

    /// A logger of your own that forwards to the `log` crate (pass it to `Builder::with_logger`
    /// or `Runtime::with_logger`). Keep it alive while any TensorRT object of the process is: see
    /// [`Logger::shared`].
    pub fn new() -> Result<Logger> {
        let state = Box::new(State {
            recent: Mutex::new(VecDeque::new()),
        });
        let user = &*state as *const State as *mut c_void;
        // `user` points into the heap `State` box, which the returned Logger owns and which
        // drops after the C++ logger (field order), so every callback sees it alive.
        let raw = create!(sys::trt_logger_create, Some(log_callback), user; sys::trt_logger_destroy, "logger")?;
        Ok(Logger { raw, state })
    }

    pub(crate) fn raw(&self) -> *mut sys::trt_logger {
        self.raw.as_ptr()
    }

    /// The most recent error TensorRT logged, if any.
    pub fn last_error(&self) -> Option<String> {
        let recent = self.state.recent.lock().ok()?;
        recent
            .iter()
            .rev()
            .find(|(s, _)| *s <= Severity::Error)
            .map(|(_, m)| m.clone())
    }

    /// The last `n` errors TensorRT logged (oldest first), joined by "; ". A failed build often
    /// logs its cause first ("SymbolAddress for cublasCreate_v2 could not be loaded") and a
    /// generic assertion last, so an error message needs more than the last one.
    pub fn recent_errors(&self, n: usize) -> Option<String> {
        let recent = self.state.recent.lock().ok()?;
        let errors: Vec<&str> = recent
            .iter()
            .filter(|(s, _)| *s <= Severity::Error)
            .map(|(_, m)| m.as_str())
            .collect();
        let start = errors.len().saturating_sub(n);
        (!errors.is_empty()).then(|| errors[start..].join("; "))
    }

    /// Takes the warnings and errors logged since the last call (oldest first).
    pub fn take_messages(&self) -> Vec<(Severity, String)> {
        self.state
            .recent
            .lock()
            .map(|mut r| r.drain(..).collect())
            .unwrap_or_default()
    }

    /// Calls the logger through its C++ `ILogger` vtable, as TensorRT does. For tests.
    #[doc(hidden)]
    pub fn call_through_vtable(&self, severity: i32, msg: Option<&CStr>) -> Result<()> {
        // SAFETY: `self.raw` is the live C++ logger this value owns; `msg` is null (which the
        // shim passes on and `log_callback` checks) or a NUL-terminated string borrowed for the
        // call; any `severity` is a valid value of TensorRT's int32-based `Severity` enum.
        ffi::check(unsafe {
            sys::trt_logger_vcall_log(
                self.raw(),
                severity,
                msg.map_or(std::ptr::null(), |m| m.as_ptr()),
            )
        })
    }
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger").finish_non_exhaustive()
    }
}

/// Attaches the logger's recent TensorRT errors to a shim error that has none: the shim's own
/// message is often only "build failed", while TensorRT logged why.
pub(crate) fn with_log(e: Error, logger: &Logger) -> Error {
    match e {
        Error::TensorRt {
            code,
            message,
            log: None,
        } => Error::TensorRt {
            code,
            message,
            log: logger.recent_errors(4),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_logger_is_one_logger_for_the_process() {
        let a = Logger::shared().unwrap();
        let b = Logger::shared().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!a.raw().is_null());
    }
}
