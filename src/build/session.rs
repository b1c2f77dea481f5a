//! The build primitive: one [`BuildSession`] per `Builder::build*` call, owning what every pass of
//! it shares (TensorRT's timing cache), and [`BuildSession::pass`], one `buildSerializedNetwork`
//! with a fresh builder config and everything attached to it, in named steps.
//!
//! Strict INT8 runs several passes (enforce, audit rebuilds, a probe when needed) in one session:
//! they share the timing cache object, so a layer timed by one pass is not timed again.

use std::time::{Duration, Instant};

use tensorrt_sys as sys;

use crate::build::calibration::{self, NoData};
use crate::build::inner::BuilderInner;
use crate::build::output::BuildOutput;
use crate::build::selector::Selector;
use crate::calibrator::{BoundCalibrator, Calibrator, SessionSpec};
use crate::config::{
    BuildConfig, BuildSettings, Fallback, HardwareCompatibility, Precision, ProfilingVerbosity,
};
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::handle::{create, host_memory, own_host_memory, Handle};
use crate::logger::with_log;
use crate::network::Network;

/// How precision constraints are treated in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Constraints {
    /// TensorRT picks precisions freely.
    None,
    /// Layer precisions are preferred (`kPREFER_PRECISION_CONSTRAINTS`).
    Prefer,
    /// Layer precisions are obeyed (`kOBEY_PRECISION_CONSTRAINTS`).
    Obey,
}

/// What one pass builds, besides the network and config.
pub(crate) struct Pass<'t> {
    pub constraints: Constraints,
    /// The calibration table to use instead of the configured file (strict mode's later passes
    /// use the table its first pass calibrated).
    pub table: Option<&'t [u8]>,
    /// The network has Q/DQ layers: INT8 on (before TensorRT 11), no calibrator attached.
    pub explicit: bool,
}

/// One pass's result. `calibrated` is what a complete calibration produced, kept even when
/// TensorRT failed afterwards (strict mode retries from it).
pub(crate) struct PassResult {
    pub output: Result<BuildOutput>,
    pub calibrated: Option<Calibrated>,
}

/// The table a pass's calibration wrote, and what it cost.
pub(crate) struct Calibrated {
    pub table: Vec<u8>,
    pub batches: usize,
    pub get_batch_calls: usize,
}

/// One build request: the builder and the timing cache its passes share.
///
/// Field order is drop order: the timing cache goes before the config that created it.
pub(crate) struct BuildSession<'b> {
    pub(crate) builder: &'b BuilderInner,
    timing_cache: Handle<sys::trt_timing_cache>,
    _cache_config: Handle<sys::trt_config>,
    started: Instant,
}

/// A builder config and the objects attached to it. Field order is drop order: the config first,
/// then what it pointed to.
struct Attached<'c> {
    config: Handle<sys::trt_config>,
    selector: Option<Selector>,
    calibrator: Option<BoundCalibrator<'c>>,
}

impl<'b> BuildSession<'b> {
    /// A session whose timing cache starts from `config`'s bytes (or empty).
    pub(crate) fn new(builder: &'b BuilderInner, config: &BuildConfig) -> Result<Self> {
        let cache_config = create!(sys::trt_builder_create_config, builder.raw(); sys::trt_config_destroy, "builder config")?;
        let bytes = config.timing_cache().unwrap_or(&[]);
        let timing_cache = create!(
            sys::trt_config_create_timing_cache, cache_config.as_ptr(), bytes.as_ptr().cast(), bytes.len();
            sys::trt_timing_cache_destroy, "timing cache"
        )?;
        Ok(BuildSession {
            builder,
            timing_cache,
            _cache_config: cache_config,
            started: Instant::now(),
        })
    }

    /// The timing cache as it is now (every pass so far has added to it).
    pub(crate) fn serialized_timing_cache(&self) -> Result<Vec<u8>> {
        let mem = own_host_memory(
            out!(sys::trt_timing_cache_serialize, self.timing_cache.as_ptr(); *mut sys::trt_host_memory)?,
        )?;
        host_memory(&mem)
    }

    /// Time since the session started.
    /// Times from now on (the next build's `build_time`).
    pub(crate) fn restart_clock(&mut self) {
        self.started = Instant::now();
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// One `buildSerializedNetwork`.
    pub(crate) fn pass(
        &mut self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut dyn Calibrator>,
        pass: Pass<'_>,
    ) -> PassResult {
        let mut calibrated = None;
        let output = self.run_pass(network, config, calibrator, pass, &mut calibrated);
        PassResult { output, calibrated }
    }

    fn run_pass(
        &mut self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut dyn Calibrator>,
        pass: Pass<'_>,
        calibrated: &mut Option<Calibrated>,
    ) -> Result<BuildOutput> {
        let started = Instant::now();
        log_start(config, pass.constraints);
        let mut no_data = NoData;
        let mut attached = Attached {
            config: create!(sys::trt_builder_create_config, self.builder.raw(); sys::trt_config_destroy, "builder config")?,
            selector: None,
            calibrator: None,
        };
        let c = attached.config.as_ptr();
        apply_precision(
            c,
            config,
            pass.constraints,
            self.builder.lib.version(),
            pass.explicit,
        )?;
        apply_options(c, config)?;
        self.apply_compatibility(c, config)?;
        self.apply_profiles(c, config)?;
        self.attach_timing_cache(c, config)?;
        attached.selector = attach_selector(c, config)?;
        if config.precision().uses_int8() && !pass.explicit {
            // Shorten the calibrator's borrow to this pass (to match `no_data`'s).
            let calibrator: Option<&mut dyn Calibrator> = match calibrator {
                Some(c) => Some(&mut *c),
                None => None,
            };
            let bound =
                self.attach_calibrator(c, network, config, calibrator, &mut no_data, pass.table)?;
            attached.calibrator = Some(bound);
        }

        let built = out!(sys::trt_builder_build_serialized, self.builder.raw(), network.raw.as_ptr(), c; *mut sys::trt_host_memory);
        // SAFETY: `c` is the live config; null detaches (the shim and TensorRT accept it). Our
        // objects are detached from the config before they go away.
        unsafe {
            sys::trt_config_set_calibrator(c, std::ptr::null_mut());
            sys::trt_config_set_algorithm_selector(c, std::ptr::null_mut());
        }
        let Attached {
            config: cfg,
            selector,
            calibrator: bound,
        } = attached;
        drop(cfg);
        let (mut calibration_table, mut batches, mut calls) = (None, 0, 0);
        if let Some(mut results) = bound.map(BoundCalibrator::finish) {
            if let Some(e) = results.error.take() {
                return Err(e);
            }
            calibration_table = results.calibrated_table();
            batches = results.batches;
            calls = results.get_batch_calls;
            *calibrated = calibration_table.clone().map(|table| Calibrated {
                table,
                batches,
                get_batch_calls: calls,
            });
        }
        let selected = selector.map(Selector::finish).transpose()?;
        let mem = own_host_memory(built.map_err(|e| with_log(e, &self.builder.logger))?)?;
        let plan = host_memory(&mem)?;
        let warnings = self
            .builder
            .logger
            .take_messages()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        log_done(started, plan.len(), batches);
        let (tactics, replay_misses) = selected.map(|s| (s.tactics, s.misses)).unwrap_or_default();
        Ok(BuildOutput {
            plan,
            timing_cache: None,
            calibration_table,
            calibration_batches: batches,
            get_batch_calls: calls,
            tactics,
            replay_misses,
            strict: None,
            warnings,
            build_time: started.elapsed(),
            quantization: crate::network::Quantization::Implicit,
        })
    }

    /// Compatibility flags (checked before the build by `check_compatibility`).
    fn apply_compatibility(&self, c: *mut sys::trt_config, config: &BuildConfig) -> Result<()> {
        let s = config.settings();
        if s.version_compatible {
            set_flag(c, sys::TRT_FLAG_VERSION_COMPATIBLE)?;
        }
        if s.exclude_lean_runtime {
            set_flag(c, sys::TRT_FLAG_EXCLUDE_LEAN_RUNTIME)?;
        }
        if s.hardware_compatibility != HardwareCompatibility::None {
            // SAFETY: `c` is a live config.
            ffi::check(unsafe {
                sys::trt_config_set_hardware_compatibility(c, s.hardware_compatibility.raw())
            })?;
        }
        Ok(())
    }

    fn apply_profiles(&self, c: *mut sys::trt_config, config: &BuildConfig) -> Result<()> {
        for profile in config.profiles() {
            let p = make_profile(self.builder, profile)?;
            out!(sys::trt_config_add_profile, c, p; i32)?;
        }
        Ok(())
    }

    /// The session's timing cache, always attached so the next pass and the caller get what this
    /// pass timed; TensorRT's layer timing cache may still be turned off (see
    /// `BuildConfig::timing_cache_enabled`).
    fn attach_timing_cache(&self, c: *mut sys::trt_config, config: &BuildConfig) -> Result<()> {
        // SAFETY: both are live; the cache outlives every config of this session (field order).
        ffi::check(unsafe { sys::trt_config_set_timing_cache(c, self.timing_cache.as_ptr(), 0) })?;
        if !config.timing_cache_enabled() {
            set_flag(c, sys::TRT_FLAG_DISABLE_TIMING_CACHE)?;
        }
        Ok(())
    }

    /// INT8 calibration: our calibrator, a table, or both, bound to the config.
    fn attach_calibrator<'c>(
        &self,
        c: *mut sys::trt_config,
        network: &Network,
        config: &BuildConfig,
        calibrator: Option<&'c mut dyn Calibrator>,
        no_data: &'c mut NoData,
        table_override: Option<&[u8]>,
    ) -> Result<BoundCalibrator<'c>> {
        let inputs = calibration::inputs(network, config)?;
        let table = match table_override {
            Some(t) => Some(t.to_vec()),
            None => calibration::read_checked_table(
                self.builder.lib.version(),
                network,
                config,
                calibrator.as_deref(),
            )?,
        };
        let (calib, algorithm): (&'c mut dyn Calibrator, _) = match calibrator {
            Some(c) => {
                let a = c.algorithm();
                (c, a)
            }
            None => {
                let Some(bytes) = table.as_deref() else {
                    return Err(Error::Calibration(
                        "INT8 needs calibration data (build_calibrated) or an existing calibration table \
                         (BuildConfig::with_calibration_table)"
                            .into(),
                    ));
                };
                let a = calibration::table_algorithm(config, bytes)?;
                (no_data, a)
            }
        };
        let stream = self.builder.context.new_stream()?;
        let bound = BoundCalibrator::new(SessionSpec {
            calibrator: calib,
            algorithm,
            inputs: inputs.clone(),
            stream: Some(stream),
            table_given: table,
            cache: config.calibration_table().cloned(),
        })?;
        // SAFETY: both are live; the calibrator is detached from the config after the build,
        // before `bound` drops (see `run_pass`).
        ffi::check(unsafe { sys::trt_config_set_calibrator(c, bound.raw()) })?;
        if let Some(profile) = calibration::profile(network, config, &inputs)? {
            let p = make_profile(self.builder, &profile)?;
            // SAFETY: `c` is live and `p` is a profile of this builder.
            ffi::check(unsafe { sys::trt_config_set_calibration_profile(c, p) })?;
        }
        Ok(bound)
    }
}

/// What TensorRT would refuse (or misread) about the settings, said first: implicit INT8 and
/// FP16 on TensorRT 11 (`explicit`: the network has Q/DQ layers, whose INT8 11 builds),
/// compatibility modes before 8.6.
pub(crate) fn check_compatibility(
    s: &BuildSettings,
    v: sys::TrtVersion,
    explicit: bool,
) -> Result<()> {
    let explicit_int8 = explicit && s.precision == Precision::Int8;
    if v.major() >= 11 && s.precision != Precision::Fp32 && !explicit_int8 {
        return Err(Error::Invalid(format!(
            "TensorRT {v} has no implicit INT8 or FP16 precision (removed in TensorRT 11): its INT8 \
             comes only from Q/DQ nodes in the model (explicit quantization)"
        )));
    }
    if s.exclude_lean_runtime && !s.version_compatible {
        return Err(Error::Invalid(
            "excluding the lean runtime only applies to version-compatible plans: build version-compatible too"
                .into(),
        ));
    }
    let wants = s.version_compatible || s.hardware_compatibility != HardwareCompatibility::None;
    if wants && (v.major(), v.minor()) < (8, 6) {
        return Err(Error::Invalid(format!(
            "version and hardware compatibility need TensorRT 8.6 or later; this is TensorRT {v} \
             (build on the target instead, from the shipped calibration table)"
        )));
    }
    Ok(())
}

fn set_flag(c: *mut sys::trt_config, flag: u32) -> Result<()> {
    // SAFETY: `c` is a live config; the shim maps the flag by name and rejects unknown ones.
    ffi::check(unsafe { sys::trt_config_set_flag(c, flag as i32, 1) })
}

/// Precision flags: INT8 (and FP16 for an FP16 fallback), and how constraints are treated. An
/// explicitly quantized network on TensorRT 11 gets no flag: 11 has none, and builds Q/DQ as is.
fn apply_precision(
    c: *mut sys::trt_config,
    config: &BuildConfig,
    constraints: Constraints,
    version: sys::TrtVersion,
    explicit: bool,
) -> Result<()> {
    match config.precision() {
        Precision::Fp32 => {}
        Precision::Int8 if explicit && version.major() >= 11 => {}
        Precision::Fp16 => set_flag(c, sys::TRT_FLAG_FP16)?,
        Precision::Int8 | Precision::StrictInt8 => {
            set_flag(c, sys::TRT_FLAG_INT8)?;
            if config.fallback() == Fallback::Fp16 {
                set_flag(c, sys::TRT_FLAG_FP16)?;
            }
        }
    }
    match constraints {
        Constraints::Obey => set_flag(c, sys::TRT_FLAG_OBEY_PRECISION_CONSTRAINTS),
        Constraints::Prefer => set_flag(c, sys::TRT_FLAG_PREFER_PRECISION_CONSTRAINTS),
        Constraints::None => Ok(()),
    }
}

/// Workspace, profiling verbosity, tactic sources.
fn apply_options(c: *mut sys::trt_config, config: &BuildConfig) -> Result<()> {
    let s = config.settings();
    if let Some(ws) = s.workspace {
        // SAFETY: `c` is a live config.
        ffi::check(unsafe { sys::trt_config_set_workspace_limit(c, ws) })?;
    }
    let verbosity = match config.profiling() {
        ProfilingVerbosity::LayerNamesOnly => sys::TRT_PROFILING_LAYER_NAMES_ONLY,
        ProfilingVerbosity::None => sys::TRT_PROFILING_NONE,
        ProfilingVerbosity::Detailed => sys::TRT_PROFILING_DETAILED,
    };
    // SAFETY: `c` is a live config.
    ffi::check(unsafe { sys::trt_config_set_profiling_verbosity(c, verbosity as i32) })?;
    if let Some(sources) = s.tactic_sources {
        // SAFETY: `c` is a live config.
        ffi::check(unsafe { sys::trt_config_set_tactic_sources(c, sources.mask()) })?;
    }
    Ok(())
}

/// Tactics: record what TensorRT picks, or replay earlier picks. Only when asked.
fn attach_selector(c: *mut sys::trt_config, config: &BuildConfig) -> Result<Option<Selector>> {
    let selector = Selector::new(config.tactics())?;
    if let Some(s) = &selector {
        // SAFETY: both are live; the selector is detached after the build, before it drops.
        ffi::check(unsafe { sys::trt_config_set_algorithm_selector(c, s.raw()) })?;
    }
    Ok(selector)
}

/// An optimization profile of `builder` (TensorRT owns it; it lives as long as the builder).
fn make_profile(
    builder: &BuilderInner,
    profile: &crate::config::Profile,
) -> Result<*mut sys::trt_profile> {
    let p = out!(sys::trt_builder_create_profile, builder.raw(); *mut sys::trt_profile)?;
    for input in &profile.inputs {
        let name = ffi::cstring(&input.name)?;
        for (sel, dims) in [
            (sys::TRT_PROFILE_MIN, &input.min),
            (sys::TRT_PROFILE_OPT, &input.opt),
            (sys::TRT_PROFILE_MAX, &input.max),
        ] {
            let d = ffi::dims_from(dims)?;
            // SAFETY: `p` is a live profile, `name` a NUL-terminated string, `d` valid dims.
            ffi::check(unsafe { sys::trt_profile_set_dims(p, name.as_ptr(), sel as i32, &d) })?;
        }
    }
    Ok(p)
}

fn log_start(config: &BuildConfig, constraints: Constraints) {
    log::info!(
        target: "trt::build",
        "building: {:?}{}",
        config.precision(),
        match constraints {
            Constraints::None => "",
            Constraints::Prefer => ", precision constraints preferred",
            Constraints::Obey => ", precision constraints obeyed",
        }
    );
}

fn log_done(started: Instant, bytes: usize, batches: usize) {
    log::info!(
        target: "trt::build",
        "built in {:.1} s ({bytes} bytes){}",
        started.elapsed().as_secs_f64(),
        if batches > 0 {
            format!(", calibrated on {batches} batches")
        } else {
            String::new()
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_settings_are_checked_before_tensorrt() {
        let v = |s: &str| s.parse::<sys::TrtVersion>().unwrap();
        let vc = BuildConfig::new(Precision::Fp32).with_version_compatible(true);
        assert!(check_compatibility(vc.settings(), v("8.6.0"), false).is_ok());
        let e = check_compatibility(vc.settings(), v("8.5.3"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("need TensorRT 8.6 or later; this is TensorRT 8.5.3"),
            "{e}"
        );
        let lean = vc.clone().with_exclude_lean_runtime(true);
        assert!(check_compatibility(lean.settings(), v("10.16.1"), false).is_ok());
        let alone = BuildConfig::new(Precision::Fp32).with_exclude_lean_runtime(true);
        let e = check_compatibility(alone.settings(), v("10.16.1"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("only applies to version-compatible plans"),
            "{e}"
        );
        let hw = BuildConfig::new(Precision::Fp32)
            .with_hardware_compatibility(HardwareCompatibility::AmperePlus);
        assert!(check_compatibility(hw.settings(), v("8.5.2"), false).is_err());
        assert!(check_compatibility(
            BuildConfig::new(Precision::Int8).settings(),
            v("8.5.2"),
            false
        )
        .is_ok());
        // TensorRT 11: INT8 only for a Q/DQ network, and not strict.
        let int8 = BuildConfig::new(Precision::Int8);
        assert!(check_compatibility(int8.settings(), v("11.4.0"), false).is_err());
        assert!(check_compatibility(int8.settings(), v("11.4.0"), true).is_ok());
        let strict = BuildConfig::new(Precision::StrictInt8);
        assert!(check_compatibility(strict.settings(), v("11.4.0"), true).is_err());
    }
}
