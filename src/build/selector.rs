//! The algorithm selector: records the tactic TensorRT picks per layer, or replays earlier
//! picks (`IAlgorithmSelector`, through the shim's callback object).

use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

use tensorrt_sys as sys;

use crate::config::{TacticChoice, Tactics};
use crate::error::{Error, Result};
use crate::handle::{create, Handle};
use crate::panic;

/// What the callbacks see and fill during one build.
struct State {
    replay: Option<Vec<TacticChoice>>,
    chosen: Mutex<Vec<TacticChoice>>,
    misses: Mutex<usize>,
    /// A panic in a callback: the build fails with it (TensorRT was told "no preference").
    panicked: Mutex<Option<String>>,
}

/// A selector attached to one build. Fields drop in order: the C++ object first, then the
/// state its callbacks point to.
pub(crate) struct Selector {
    handle: Handle<sys::trt_algorithm_selector>,
    state: Box<State>,
}

/// What the selector saw, after the build.
pub(crate) struct Selected {
    /// The tactic TensorRT chose per layer.
    pub tactics: Vec<TacticChoice>,
    /// Replayed choices TensorRT did not offer again.
    pub misses: usize,
}

impl Selector {
    /// A selector for `tactics`, or `None` when TensorRT is left alone.
    pub(crate) fn new(tactics: &Tactics) -> Result<Option<Selector>> {
        if !tactics.selects() {
            return Ok(None);
        }
        let state = Box::new(State {
            replay: tactics.replayed().map(<[_]>::to_vec),
            chosen: Mutex::new(Vec::new()),
            misses: Mutex::new(0),
            panicked: Mutex::new(None),
        });
        let callbacks = sys::trt_algorithm_selector_callbacks {
            user_data: (&*state as *const State).cast_mut().cast(),
            select: Some(select_cb),
            report: Some(report_cb),
        };
        let handle = create!(sys::trt_algorithm_selector_create, &callbacks; sys::trt_algorithm_selector_destroy, "algorithm selector")?;
        Ok(Some(Selector { handle, state }))
    }

    /// The C++ object, to attach to a builder config.
    pub(crate) fn raw(&self) -> *mut sys::trt_algorithm_selector {
        self.handle.as_ptr()
    }

    /// What was chosen; a panic in a callback is this build's error.
    pub(crate) fn finish(self) -> Result<Selected> {
        let Selector { handle, state } = self;
        drop(handle);
        let state = *state;
        if let Some(p) = state
            .panicked
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(Error::Invalid(format!(
                "the algorithm selector panicked (tactics cannot be trusted): {p}"
            )));
        }
        Ok(Selected {
            tactics: state.chosen.into_inner().unwrap_or_else(|p| p.into_inner()),
            misses: state.misses.into_inner().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

/// Runs a callback body; a panic is recorded in the state and TensorRT gets `fallback`.
fn guarded<R>(user: *mut c_void, fallback: R, f: impl FnOnce(&State) -> R) -> R {
    if user.is_null() {
        return fallback;
    }
    // SAFETY: `user` is the boxed State of the Selector that owns the C++ object calling us; the
    // box outlives that object (Selector's field order) and is only read here (Mutex inside).
    let state = unsafe { &*(user as *const State) };
    match panic::catch(|| f(state)) {
        Ok(r) => r,
        Err(message) => {
            *state.panicked.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
            fallback
        }
    }
}

extern "C" fn select_cb(
    user: *mut c_void,
    layer: *const c_char,
    choices: *const sys::trt_algorithm_choice,
    n: i32,
    selection: *mut i32,
) -> i32 {
    guarded(user, 0, |state| {
        if layer.is_null() || choices.is_null() || selection.is_null() || n <= 0 {
            return 0;
        }
        // SAFETY: TensorRT passes the layer's NUL-terminated name, alive during the call.
        let name = unsafe { CStr::from_ptr(layer) }.to_string_lossy();
        log::trace!(target: "trt::tactics", "select `{name}`: {n} choices");
        let Some(want) = state
            .replay
            .as_ref()
            .and_then(|r| r.iter().find(|t| t.layer == name))
        else {
            return 0;
        };
        // SAFETY: the shim passes `n` choices at `choices`, alive during the call.
        let choices = unsafe { std::slice::from_raw_parts(choices, n as usize) };
        let mut k = 0;
        for (i, c) in choices.iter().enumerate() {
            if c.implementation == want.implementation && c.tactic == want.tactic {
                // SAFETY: `selection` has room for `n` indices and k < n.
                unsafe { *selection.add(k) = i as i32 };
                k += 1;
            }
        }
        if k == 0 {
            *state.misses.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        }
        k as i32
    })
}

extern "C" fn report_cb(
    user: *mut c_void,
    layers: *const *const c_char,
    choices: *const sys::trt_algorithm_choice,
    n: i32,
) {
    guarded(user, (), |state| {
        if layers.is_null() || choices.is_null() || n <= 0 {
            return;
        }
        let mut chosen = state.chosen.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..n as usize {
            // SAFETY: the shim passes `n` layer names and `n` choices, alive during the call.
            let (name, c) = unsafe { (*layers.add(i), &*choices.add(i)) };
            let layer = crate::ffi::string(name);
            log::trace!(target: "trt::tactics", "chosen `{layer}`: {:#x}", c.tactic);
            chosen.push(TacticChoice {
                layer,
                implementation: c.implementation,
                tactic: c.tactic,
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(implementation: i64, tactic: i64) -> sys::trt_algorithm_choice {
        // SAFETY: a plain C struct of integers; all-zero is a valid value.
        let mut c: sys::trt_algorithm_choice = unsafe { std::mem::zeroed() };
        c.implementation = implementation;
        c.tactic = tactic;
        c
    }

    fn state(replay: Option<Vec<TacticChoice>>) -> Box<State> {
        Box::new(State {
            replay,
            chosen: Mutex::new(Vec::new()),
            misses: Mutex::new(0),
            panicked: Mutex::new(None),
        })
    }

    #[test]
    fn replay_selects_the_recorded_choice_and_counts_misses() {
        let s = state(Some(vec![TacticChoice {
            layer: "conv".into(),
            implementation: 7,
            tactic: 0x42,
        }]));
        let user = (&*s as *const State).cast_mut().cast();
        let choices = [choice(1, 1), choice(7, 0x42), choice(7, 0x43)];
        let mut sel = [-1i32; 3];
        let name = c"conv";
        let k = select_cb(user, name.as_ptr(), choices.as_ptr(), 3, sel.as_mut_ptr());
        assert_eq!((k, sel[0]), (1, 1));
        let k = select_cb(
            user,
            name.as_ptr(),
            choices[..1].as_ptr(),
            1,
            sel.as_mut_ptr(),
        );
        assert_eq!(k, 0);
        assert_eq!(*s.misses.lock().unwrap(), 1);
        // A layer not in the replay: TensorRT chooses.
        let other = c"fc";
        assert_eq!(
            select_cb(user, other.as_ptr(), choices.as_ptr(), 3, sel.as_mut_ptr()),
            0
        );
        assert_eq!(*s.misses.lock().unwrap(), 1);
    }

    #[test]
    fn report_records_every_choice() {
        let s = state(None);
        let user = (&*s as *const State).cast_mut().cast();
        let names = [c"a".as_ptr(), c"b".as_ptr()];
        let choices = [choice(1, 2), choice(3, 4)];
        report_cb(user, names.as_ptr(), choices.as_ptr(), 2);
        let chosen = s.chosen.lock().unwrap();
        assert_eq!(chosen.len(), 2);
        assert_eq!(
            (
                chosen[1].layer.as_str(),
                chosen[1].implementation,
                chosen[1].tactic
            ),
            ("b", 3, 4)
        );
    }

    #[test]
    fn a_panic_in_a_callback_fails_the_build_with_its_message() {
        assert!(Selector::new(&Tactics::Free).unwrap().is_none());
        let sel = Selector::new(&Tactics::Record)
            .unwrap()
            .expect("recording needs a selector");
        assert!(!sel.raw().is_null());
        let user = (&*sel.state as *const State).cast_mut().cast();
        assert_eq!(guarded(user, 0, |_| -> i32 { panic!("selector bug") }), 0);
        let e = sel
            .finish()
            .err()
            .expect("the panic is the build's error")
            .to_string();
        assert!(
            e.contains("the algorithm selector panicked") && e.contains("selector bug"),
            "{e}"
        );
        // Without a panic, what was chosen comes back.
        let sel = Selector::new(&Tactics::Record).unwrap().unwrap();
        let user = (&*sel.state as *const State).cast_mut().cast();
        let names = [c"conv".as_ptr()];
        report_cb(user, names.as_ptr(), [choice(5, 6)].as_ptr(), 1);
        let done = sel.finish().unwrap();
        assert_eq!(
            (done.tactics.len(), done.tactics[0].tactic, done.misses),
            (1, 6, 0)
        );
    }

    #[test]
    fn a_panic_in_a_callback_is_recorded_not_unwound() {
        let s = state(None);
        let user = (&*s as *const State).cast_mut().cast();
        let r = guarded(user, 0, |_| -> i32 { panic!("selector bug") });
        assert_eq!(r, 0);
        assert_eq!(s.panicked.lock().unwrap().as_deref(), Some("selector bug"));
    }
}
