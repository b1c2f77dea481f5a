//! The builder: ONNX in, serialized engine (plan) out.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cudarc::driver::CudaContext;
use tensorrt_sys as sys;

use crate::calibrator::{BoundCalibrator, CacheMode, CalibrationInput, Calibrator, SessionSpec};
use crate::config::{BuildConfig, Fallback, Precision, TacticChoice};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::inspector::EngineReport;
use crate::handle::{create, host_memory, own_host_memory};
use crate::logger::{with_log, Logger, Severity};
use crate::network::{Network, OnnxModel};
use crate::strict::{self, StrictReport};

pub(crate) struct BuilderInner {
    pub(crate) raw: NonNull<sys::trt_builder>,
    pub(crate) logger: Arc<Logger>,
    pub(crate) lib: &'static sys::Library,
    /// The device's primary context, kept alive for the builder and made current on the
    /// building thread: TensorRT builds on the thread's current device.
    pub(crate) context: Arc<CudaContext>,
}

// SAFETY: IBuilder may be used from any thread, one call at a time; `Builder::build` takes &self
// but TensorRT serializes builds internally. Networks created from it are not Sync.
unsafe impl Send for BuilderInner {}
unsafe impl Sync for BuilderInner {}

impl Drop for BuilderInner {
    fn drop(&mut self) {
        unsafe { sys::trt_builder_destroy(self.raw.as_ptr()) };
    }
}

/// Builds engines. Cheap to clone (shared).
#[derive(Clone)]
pub struct Builder {
    inner: Arc<BuilderInner>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("library", &self.inner.lib)
            .finish()
    }
}

/// The result of a build.
#[derive(Debug)]
pub struct BuildOutput {
    /// The serialized engine.
    pub plan: Vec<u8>,
    /// The timing cache after the build (feed it to the next build for speed and stability).
    pub timing_cache: Vec<u8>,
    /// The calibration table TensorRT wrote, when it calibrated.
    pub calibration_table: Option<Vec<u8>>,
    /// Calibration batches consumed (0 when a table was used).
    pub calibration_batches: usize,
    /// How many times TensorRT asked for a batch (0 when the table was accepted).
    pub get_batch_calls: usize,
    /// The tactic TensorRT chose per layer (replay with `BuildConfig::with_replay_tactics`).
    pub tactics: Vec<TacticChoice>,
    /// Replayed choices TensorRT did not offer again.
    pub replay_misses: usize,
    /// Strict INT8: which layers were forced, and what ran.
    pub strict: Option<StrictReport>,
    /// TensorRT's warnings and errors during the build.
    pub warnings: Vec<String>,
    pub build_time: Duration,
}

impl BuildOutput {
    /// TensorRT refused the timing cache it was given and built without it (it logs "The timing
    /// cache will not be used!"; seen on TensorRT 8.5.3 for caches it had written itself).
    pub fn timing_cache_refused(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.contains("timing cache will not be used"))
    }
}

impl Builder {
    /// Loads TensorRT (once per process) and creates a builder on CUDA device 0 with a logger
    /// that forwards to `log`.
    pub fn new() -> Result<Builder> {
        Builder::on_device(0)
    }

    /// A builder on CUDA device `device` (checked against the devices present).
    pub fn on_device(device: usize) -> Result<Builder> {
        Builder::with_logger_on_device(Arc::new(Logger::new()?), device)
    }

    pub fn with_logger(logger: Arc<Logger>) -> Result<Builder> {
        Builder::with_logger_on_device(logger, 0)
    }

    pub fn with_logger_on_device(logger: Arc<Logger>, device: usize) -> Result<Builder> {
        let lib = sys::Library::get()?;
        // TensorRT needs a current CUDA context on this thread; cudarc binds the primary one.
        let context = crate::device::device_context(device)?;
        let raw = out!(sys::trt_builder_create, lib.builder_factory()?, logger.raw(); *mut sys::trt_builder)
            .map_err(|e| with_log(e, &logger))?;
        Ok(Builder {
            inner: Arc::new(BuilderInner {
                raw: NonNull::new(raw).expect("checked by the shim"),
                logger,
                lib,
                context,
            }),
        })
    }

    /// The CUDA device this builder builds for.
    pub fn device(&self) -> usize {
        self.inner.context.ordinal()
    }

    pub fn logger(&self) -> &Arc<Logger> {
        &self.inner.logger
    }

    /// The loaded TensorRT library.
    pub fn library(&self) -> &'static sys::Library {
        self.inner.lib
    }

    /// Parses an ONNX file into an explicit-batch network.
    pub fn network_from_onnx_file(&self, path: impl AsRef<Path>) -> Result<Network> {
        Network::from_onnx(self.inner.clone(), OnnxModel::File(path.as_ref()))
            .map_err(|e| with_log(e, &self.inner.logger))
    }

    /// Parses ONNX bytes; `label` names the model in errors.
    pub fn network_from_onnx_bytes(&self, bytes: &[u8], label: &str) -> Result<Network> {
        Network::from_onnx(self.inner.clone(), OnnxModel::Bytes(bytes, label))
            .map_err(|e| with_log(e, &self.inner.logger))
    }

    /// Builds without a calibrator: FP32/FP16, or INT8 from an existing calibration table
    /// (`BuildConfig::calibration_cache`; TensorRT is never allowed to calibrate).
    pub fn build(&self, network: &mut Network, config: &BuildConfig) -> Result<BuildOutput> {
        self.build_with(network, config, None)
    }

    /// Builds INT8 with `calibrator` feeding TensorRT's getBatch (unless a usable table is given).
    pub fn build_calibrated(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: &mut dyn Calibrator,
    ) -> Result<BuildOutput> {
        self.build_with(network, config, Some(calibrator))
    }

    fn build_with<'c>(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut (dyn Calibrator + 'c)>,
    ) -> Result<BuildOutput> {
        if !Arc::ptr_eq(&network.builder, &self.inner) {
            return Err(Error::Invalid(
                "the network was created by another Builder".into(),
            ));
        }
        if config.device != self.device() {
            return Err(Error::Invalid(format!(
                "the build config names CUDA device {} but the builder was created on device {}: \
                 create it with Builder::on_device({})",
                config.device,
                self.device(),
                config.device
            )));
        }
        // The building thread may not be the one that created the builder.
        self.inner.context.bind_to_thread()?;
        let out = match config.precision {
            Precision::StrictInt8 => self.build_strict(network, config, calibrator),
            Precision::Int8 if !config.keep_out_of_int8.is_empty() => {
                strict::keep_out(network, &config.keep_out_of_int8, config.fallback)?;
                self.build_once(
                    network,
                    config,
                    calibrator,
                    Constraints::Prefer,
                    None,
                    &mut None,
                )
            }
            _ => self.build_once(
                network,
                config,
                calibrator,
                Constraints::None,
                None,
                &mut None,
            ),
        }?;
        // Only now, with the engine built from a complete calibration, does the table reach
        // the disk: a failed build never creates or replaces one.
        crate::calibrator::save_table(
            config.calibration_cache.as_ref(),
            out.calibration_table.as_deref(),
        )?;
        Ok(out)
    }

    /// Strict INT8 (see `strict` for the rules):
    /// 1. force the plan's layers to INT8 and build with the constraints *preferred*: the audit
    ///    of that engine shows which forced layers have no INT8 implementation at all;
    /// 2. pin those to the fallback precision, and build with the constraints *obeyed*: every
    ///    layer's precision is now fixed, so rebuilds agree. Should TensorRT still name a layer it
    ///    cannot implement, pin that one too and build again;
    /// 3. audit the final engine: a forced layer that did not run INT8 is pinned too and the
    ///    engine rebuilt; one that still does not is an error.
    fn build_strict<'c>(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        mut calibrator: Option<&mut (dyn Calibrator + 'c)>,
    ) -> Result<BuildOutput> {
        let mut plan = strict::plan(network, &config.keep_out_of_int8)?;
        strict::apply(network, &plan)?;
        let mut released: Vec<(String, String)> = Vec::new();
        // A given table is checked once, here, and its scales decide what may be INT8 at all.
        let given = self.calibration_table(network, config, calibrator.as_deref())?;
        self.release_unscaled(network, &mut plan, &mut released, given.as_deref(), config)?;

        // 1. Probe.
        log::info!(target: "trt::build", "strict INT8 probe: {} layers forced", plan.forced.len());
        self.inner.logger.take_messages();
        // No tactic recording or replay in the probe: only the final engine's tactics matter.
        let probe_config = BuildConfig {
            record_tactics: false,
            replay_tactics: None,
            ..config.clone()
        };
        // When the probe calibrates, every later build uses its table (the calibrator is spent),
        // including a probe retried after TensorRT refused it: a tensor it found without a scale
        // ("Missing scale and zero-point for tensor ...", TensorRT 8.6 even with the constraints
        // preferred) releases its layer, as in the enforcing builds.
        let mut table = given;
        let mut made: Option<Vec<u8>> = None;
        let mut probe_attempt = 0;
        let probe = loop {
            probe_attempt += 1;
            self.inner.logger.take_messages();
            let mut calibrated = None;
            let r = self.build_once(
                network,
                &probe_config,
                reborrow(&mut calibrator),
                Constraints::Prefer,
                table.clone(),
                &mut calibrated,
            );
            if calibrated.is_some() {
                made.clone_from(&calibrated);
                table = calibrated;
            }
            match r {
                Ok(probe) => break probe,
                Err(e @ Error::TensorRt { .. }) if table.is_some() => {
                    let before = released.len();
                    self.release_unscaled(
                        network,
                        &mut plan,
                        &mut released,
                        table.as_deref(),
                        config,
                    )?;
                    let failing = self.failing_from_log(network, &plan)?;
                    if (failing.is_empty() && released.len() == before)
                        || probe_attempt == strict::MAX_RETRIES
                    {
                        return Err(e);
                    }
                    for (name, why) in &failing {
                        log::warn!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
                    }
                    strict::release(network, &mut plan, &failing, config.fallback)?;
                    released.extend(failing);
                }
                Err(e) => return Err(e),
            }
        };
        self.release_unscaled(network, &mut plan, &mut released, table.as_deref(), config)?;
        let probe_report = self.engine_report(&probe.plan)?;
        let probe_audit = strict::audit(network, &plan, &[], &probe_report)?;
        for v in &probe_audit.violations {
            released.push((
                v.layer.clone(),
                format!(
                    "no INT8 implementation under the constraints (ran {})",
                    v.precision
                ),
            ));
        }
        strict::release(network, &mut plan, &released, config.fallback)?;

        // 2. Enforce.
        for attempt in 1..=strict::MAX_RETRIES {
            log::info!(
                target: "trt::build",
                "strict INT8 build {attempt}: {} layers forced, {} released",
                plan.forced.len(),
                released.len()
            );
            self.inner.logger.take_messages();
            #[allow(clippy::option_as_ref_deref)]
            // the reborrow must shorten the object lifetime too
            let r = self.build_once(
                network,
                config,
                reborrow(&mut calibrator),
                Constraints::Obey,
                table.clone(),
                &mut None,
            );
            match r {
                Ok(mut out) => {
                    // 3. Audit.
                    let report = self.engine_report(&out.plan)?;
                    let audit = strict::audit(network, &plan, &released, &report)?;
                    // A forced layer that still did not run INT8 (e.g. a Gemm fused with its bias
                    // that the probe ran INT8 but this build did not): pin it and build once more,
                    // so the precisions the engine reports are the ones the network fixes.
                    let fresh: Vec<(String, String)> = audit
                        .violations
                        .iter()
                        .filter(|v| !released.iter().any(|(n, _)| *n == v.layer))
                        .map(|v| {
                            (
                                v.layer.clone(),
                                format!("ran {} in the enforced build", v.precision),
                            )
                        })
                        .collect();
                    if !fresh.is_empty()
                        && !config.allow_strict_violations
                        && attempt < strict::MAX_RETRIES
                    {
                        for (name, why) in &fresh {
                            log::warn!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
                        }
                        strict::release(network, &mut plan, &fresh, config.fallback)?;
                        released.extend(fresh);
                        continue;
                    }
                    if !audit.violations.is_empty() && !config.allow_strict_violations {
                        return Err(Error::StrictInt8 {
                            violations: audit.violations.iter().map(|v| v.to_string()).collect(),
                        });
                    }
                    out.calibration_table = out.calibration_table.or(made);
                    out.calibration_batches += probe.calibration_batches;
                    out.get_batch_calls += probe.get_batch_calls;
                    out.build_time += probe.build_time;
                    out.strict = Some(audit);
                    return Ok(out);
                }
                Err(e @ Error::TensorRt { .. }) => {
                    // TensorRT names the layers it could not implement; pin exactly those.
                    let failing = self.failing_from_log(network, &plan)?;
                    if failing.is_empty() || attempt == strict::MAX_RETRIES {
                        return Err(e);
                    }
                    for (name, why) in &failing {
                        log::warn!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
                    }
                    strict::release(network, &mut plan, &failing, config.fallback)?;
                    released.extend(failing);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// The forced layers that TensorRT's errors since the last build name (see
    /// [`strict::failing_layers`]).
    fn failing_from_log(
        &self,
        network: &Network,
        plan: &strict::StrictPlan,
    ) -> Result<Vec<(String, String)>> {
        let messages: Vec<String> = self
            .inner
            .logger
            .take_messages()
            .into_iter()
            .filter(|(s, _)| *s <= Severity::Error)
            .map(|(_, m)| m)
            .collect();
        strict::failing_layers(network, plan, &messages)
    }

    /// Releases the forced layers whose outputs have no scale in `table` (nor a dynamic range
    /// set on the network): TensorRT refuses INT8 outputs without one.
    fn release_unscaled(
        &self,
        network: &mut Network,
        plan: &mut strict::StrictPlan,
        released: &mut Vec<(String, String)>,
        table: Option<&[u8]>,
        config: &BuildConfig,
    ) -> Result<()> {
        let Some(bytes) = table else {
            return Ok(());
        };
        let path = config
            .calibration_cache
            .as_ref()
            .map(|p| p.path.clone())
            .unwrap_or_default();
        let table = trt_calib_table::CalibrationTable::parse(bytes)
            .map_err(|source| Error::Table(trt_calib_table::TableError::Parse { path, source }))?;
        let ranged = network.ranged_tensors().clone();
        let unscaled = strict::unscaled(network, plan, &|t: &str| {
            table.get(t).is_some() || ranged.contains(t)
        })?;
        for (name, why) in &unscaled {
            log::info!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
        }
        strict::release(network, plan, &unscaled, config.fallback)?;
        released.extend(unscaled);
        Ok(())
    }

    fn engine_report(&self, plan: &[u8]) -> Result<EngineReport> {
        let runtime = Runtime::with_logger_on_device(self.inner.logger.clone(), self.device())?;
        EngineReport::from_json(&runtime.deserialize(plan)?.inspect_json()?)
    }

    /// One build. `table` overrides the configured calibration table (strict mode's second build
    /// uses the table its first build wrote).
    fn build_once<'c>(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut (dyn Calibrator + 'c)>,
        constraints: Constraints,
        table_override: Option<Vec<u8>>,
        calibrated: &mut Option<Vec<u8>>,
    ) -> Result<BuildOutput> {
        let started = Instant::now();
        log::info!(
            target: "trt::build",
            "building: {:?}{}",
            config.precision,
            match constraints {
                Constraints::None => "",
                Constraints::Prefer => ", precision constraints preferred",
                Constraints::Obey => ", precision constraints obeyed",
            }
        );
        let mut no_data = NoData;
        let b = self.inner.raw.as_ptr();
        let cfg = create!(sys::trt_builder_create_config, b; sys::trt_config_destroy, "builder config")?;
        let c = cfg.as_ptr();
        let set = |flag: u32, on: bool| {
            ffi::check(unsafe { sys::trt_config_set_flag(c, flag as i32, on as i32) })
        };

        match config.precision {
            Precision::Fp32 => {}
            Precision::Fp16 => set(sys::TRT_FLAG_FP16, true)?,
            Precision::Int8 | Precision::StrictInt8 => {
                set(sys::TRT_FLAG_INT8, true)?;
                if config.fallback == Fallback::Fp16 {
                    set(sys::TRT_FLAG_FP16, true)?;
                }
            }
        }
        match constraints {
            Constraints::Obey => set(sys::TRT_FLAG_OBEY_PRECISION_CONSTRAINTS, true)?,
            Constraints::Prefer => set(sys::TRT_FLAG_PREFER_PRECISION_CONSTRAINTS, true)?,
            Constraints::None => {}
        }
        if let Some(ws) = config.workspace {
            ffi::check(unsafe { sys::trt_config_set_workspace_limit(c, ws) })?;
        }
        let verbosity = match config.effective_profiling() {
            crate::config::ProfilingVerbosity::LayerNamesOnly => {
                sys::TRT_PROFILING_LAYER_NAMES_ONLY
            }
            crate::config::ProfilingVerbosity::None => sys::TRT_PROFILING_NONE,
            crate::config::ProfilingVerbosity::Detailed => sys::TRT_PROFILING_DETAILED,
        };
        ffi::check(unsafe { sys::trt_config_set_profiling_verbosity(c, verbosity as i32) })?;
        if let Some(sources) = config.tactic_sources {
            ffi::check(unsafe { sys::trt_config_set_tactic_sources(c, sources.mask()) })?;
        }

        // Compatibility modes exist from TensorRT 8.6: say so before TensorRT is asked.
        let wants_compat = config.version_compatible
            || config.hardware_compatibility != crate::config::HardwareCompatibility::None;
        let v = self.inner.lib.version();
        if wants_compat && (v.major, v.minor) < (8, 6) {
            return Err(Error::Invalid(format!(
                "version and hardware compatibility need TensorRT 8.6 or later; this is TensorRT {}.{}.{} \
                 (build on the target instead: ship the calibration table and use --require-cache there)",
                v.major, v.minor, v.patch
            )));
        }
        if config.version_compatible {
            set(sys::TRT_FLAG_VERSION_COMPATIBLE, true)?;
        }
        if config.hardware_compatibility != crate::config::HardwareCompatibility::None {
            ffi::check(unsafe {
                sys::trt_config_set_hardware_compatibility(c, config.hardware_compatibility.raw())
            })?;
        }

        for profile in &config.profiles {
            let p = make_profile(b, profile)?;
            out!(sys::trt_config_add_profile, c, p; i32)?;
        }

        // Timing cache: always on, so callers can carry it to the next build.
        let tc_bytes = config.timing_cache.as_deref().unwrap_or(&[]);
        let tc = Owned::new(
            out!(sys::trt_config_create_timing_cache, c, tc_bytes.as_ptr().cast(), tc_bytes.len(); *mut sys::trt_timing_cache)?,
            sys::trt_timing_cache_destroy,
        );
        ffi::check(unsafe { sys::trt_config_set_timing_cache(c, tc.0, 0) })?;

        // TensorRT documents its timing cache as incompatible with algorithm selection, so a
        // replay turns the cache off unless the config says otherwise.
        if !config.timing_cache_enabled() {
            set(sys::TRT_FLAG_DISABLE_TIMING_CACHE, true)?;
        }
        // Tactics: record what TensorRT picks, or replay earlier picks. Only when asked.
        let mut selector_state = Box::new(SelectorState {
            replay: config.replay_tactics.clone(),
            chosen: Mutex::new(Vec::new()),
            misses: Mutex::new(0),
        });
        let selector = if config.record_tactics || config.replay_tactics.is_some() {
            let selector = SelectorHandle::new(&mut selector_state)?;
            ffi::check(unsafe { sys::trt_config_set_algorithm_selector(c, selector.0) })?;
            Some(selector)
        } else {
            None
        };

        // INT8 calibration: our calibrator, a table, or both.
        let mut bound = None;
        if config.precision.uses_int8() {
            let inputs = calibration_inputs(network, config)?;
            let table = match table_override {
                Some(t) => Some(t),
                None => self.calibration_table(network, config, calibrator.as_deref())?,
            };
            let (calib, algorithm): (&mut dyn Calibrator, _) = match calibrator {
                Some(c) => {
                    let a = c.algorithm();
                    (c, a)
                }
                None => {
                    if table.is_none() {
                        return Err(Error::Calibration(
                            "INT8 needs calibration data (build_calibrated) or an existing calibration table \
                             (BuildConfig::with_calibration_cache)"
                                .into(),
                        ));
                    }
                    let bytes = table.as_deref().expect("checked above");
                    (&mut no_data, table_algorithm(config, bytes)?)
                }
            };
            let stream = self.inner.context.new_stream()?;
            let bc = BoundCalibrator::new(SessionSpec {
                calibrator: calib,
                algorithm,
                inputs: inputs.clone(),
                stream: Some(stream),
                table_given: table,
                cache: config.calibration_cache.clone(),
            })?;
            ffi::check(unsafe { sys::trt_config_set_calibrator(c, bc.raw()) })?;
            if network_is_dynamic(network)? || config.calibration_profile.is_some() {
                let profile = config.calibration_profile.clone().unwrap_or_else(|| {
                    crate::config::Profile::fixed(
                        &inputs
                            .iter()
                            .map(|i| {
                                (
                                    i.name.as_str(),
                                    i.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                                )
                            })
                            .collect::<Vec<_>>()
                            .iter()
                            .map(|(n, s)| (*n, s.as_slice()))
                            .collect::<Vec<_>>(),
                    )
                });
                let p = make_profile(b, &profile)?;
                ffi::check(unsafe { sys::trt_config_set_calibration_profile(c, p) })?;
            }
            bound = Some(bc);
        }

        let built = out!(sys::trt_builder_build_serialized, b, network.raw.as_ptr(), c; *mut sys::trt_host_memory);
        // Detach our objects from the config before they go away.
        unsafe {
            sys::trt_config_set_calibrator(c, std::ptr::null_mut());
            sys::trt_config_set_algorithm_selector(c, std::ptr::null_mut());
        }
        let (mut calibration_table, mut batches, mut calls) = (None, 0, 0);
        if let Some(mut results) = bound.map(BoundCalibrator::finish) {
            if let Some(e) = results.error.take() {
                return Err(e);
            }
            calibration_table = results.calibrated_table();
            // Kept even when TensorRT fails after calibrating: strict mode retries from it.
            calibrated.clone_from(&calibration_table);
            batches = results.batches;
            calls = results.get_batch_calls;
        }
        let mem = own_host_memory(built.map_err(|e| with_log(e, &self.inner.logger))?)?;
        let plan = host_memory(&mem)?;
        let tc_mem = own_host_memory(out!(sys::trt_timing_cache_serialize, tc.0; *mut sys::trt_host_memory)?)?;
        let timing_cache = host_memory(&tc_mem)?;
        let tactics = std::mem::take(
            &mut *selector_state
                .chosen
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let replay_misses = *selector_state
            .misses
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        drop(selector);
        let warnings = self
            .inner
            .logger
            .take_messages()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        log::info!(
            target: "trt::build",
            "built in {:.1} s ({} bytes){}",
            started.elapsed().as_secs_f64(),
            plan.len(),
            if batches > 0 {
                format!(", calibrated on {batches} batches")
            } else {
                String::new()
            }
        );
        Ok(BuildOutput {
            plan,
            timing_cache,
            calibration_table,
            calibration_batches: batches,
            get_batch_calls: calls,
            tactics,
            replay_misses,
            strict: None,
            warnings,
            build_time: started.elapsed(),
        })
    }

    /// Reads and checks the table named by the config, before TensorRT sees it: TensorRT would
    /// silently recalibrate on a table it rejects.
    fn calibration_table(
        &self,
        network: &Network,
        config: &BuildConfig,
        calibrator: Option<&dyn Calibrator>,
    ) -> Result<Option<Vec<u8>>> {
        let Some(policy) = &config.calibration_cache else {
            return Ok(None);
        };
        if policy.mode == CacheMode::Recalibrate {
            return Ok(None);
        }
        let bytes = match std::fs::read(&policy.path) {
            Ok(b) => b,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && policy.mode == CacheMode::ReadWrite =>
            {
                return Ok(None)
            }
            Err(e) => return Err(Error::io(&policy.path, e)),
        };
        let table = trt_calib_table::CalibrationTable::parse(&bytes).map_err(|source| {
            Error::Table(trt_calib_table::TableError::Parse {
                path: policy.path.clone(),
                source,
            })
        })?;
        let lib = self.inner.lib.version();
        let target = trt_calib_table::TrtVersion::new(lib.major, lib.minor, lib.patch)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if let Err(why) = trt_calib_table::check(&table, target) {
            return Err(Error::Calibration(format!(
                "{}: {why}",
                policy.path.display()
            )));
        }
        if let Some(c) = calibrator {
            let want = c.algorithm().table_algorithm();
            if table.algorithm != want {
                return Err(Error::Calibration(format!(
                    "{}: the table was made by {} but the calibrator is {}; TensorRT would reject it and \
                     recalibrate. Use the same algorithm, or CacheMode::Recalibrate.",
                    policy.path.display(),
                    table.algorithm,
                    want
                )));
            }
        }
        // TensorRT 8.5.3 does not refuse another network's table: it builds without the
        // missing scales (measured). A table must at least know every network input.
        let missing: Vec<String> = network
            .inputs()?
            .into_iter()
            .filter(|t| table.get(&t.name).is_none())
            .map(|t| t.name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Calibration(format!(
                "{}: the table has no scale for the network input(s) {}: it was made for another network. \
                 TensorRT would build with it anyway, without those scales. Use this network's table, \
                 or calibrate again (CacheMode::Recalibrate).",
                policy.path.display(),
                missing.join(", ")
            )));
        }
        Ok(Some(bytes))
    }
}

fn table_algorithm(
    config: &BuildConfig,
    bytes: &[u8],
) -> Result<crate::calibrator::CalibrationAlgorithm> {
    use crate::calibrator::CalibrationAlgorithm as A;
    let path = config
        .calibration_cache
        .as_ref()
        .map(|p| p.path.clone())
        .unwrap_or_default();
    let table = trt_calib_table::CalibrationTable::parse(bytes).map_err(|source| {
        Error::Table(trt_calib_table::TableError::Parse {
            path: path.clone(),
            source,
        })
    })?;
    match table.algorithm {
        trt_calib_table::Algorithm::MinMaxCalibration => Ok(A::MinMax),
        trt_calib_table::Algorithm::EntropyCalibration2 => Ok(A::Entropy2),
        other => Err(Error::Calibration(format!(
            "{}: tables made by {other} cannot be used (only EntropyCalibration2 and MinMaxCalibration are supported)",
            path.display()
        ))),
    }
}

fn network_is_dynamic(network: &Network) -> Result<bool> {
    Ok(network
        .inputs()?
        .iter()
        .any(|i| i.shape.iter().any(|&d| d < 0)))
}

/// Network inputs with concrete shapes for calibration (dynamic dims from the calibration
/// profile, else the first profile's opt shape).
fn calibration_inputs(network: &Network, config: &BuildConfig) -> Result<Vec<CalibrationInput>> {
    network
        .inputs()?
        .into_iter()
        .map(|t| {
            let shape: Vec<i64> = if t.shape.iter().any(|&d| d < 0) {
                config
                    .calibration_profile
                    .as_ref()
                    .and_then(|p| p.opt_shape(&t.name))
                    .or_else(|| config.profiles.first().and_then(|p| p.opt_shape(&t.name)))
                    .map(<[i64]>::to_vec)
                    .ok_or_else(|| Error::Shape {
                        name: t.name.clone(),
                        message: format!(
                            "dynamic shape {:?}: give a calibration profile (or an optimization profile) for it",
                            t.shape
                        ),
                    })?
            } else {
                t.shape.clone()
            };
            Ok(CalibrationInput { name: t.name, shape: shape.iter().map(|&d| d.max(0) as usize).collect(), dtype: t.dtype })
        })
        .collect()
}

fn make_profile(
    b: *mut sys::trt_builder,
    profile: &crate::config::Profile,
) -> Result<*mut sys::trt_profile> {
    let p = out!(sys::trt_builder_create_profile, b; *mut sys::trt_profile)?;
    for input in &profile.inputs {
        let name = ffi::cstring(&input.name)?;
        for (sel, dims) in [
            (sys::TRT_PROFILE_MIN, &input.min),
            (sys::TRT_PROFILE_OPT, &input.opt),
            (sys::TRT_PROFILE_MAX, &input.max),
        ] {
            let d = ffi::dims_from(dims)?;
            ffi::check(unsafe { sys::trt_profile_set_dims(p, name.as_ptr(), sel as i32, &d) })?;
        }
    }
    Ok(p)
}

/// Owns a shim object and destroys it on drop.
struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));
impl<T> Owned<T> {
    fn new(p: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Self {
        Owned(p, destroy)
    }
}
impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { (self.1)(self.0) };
        }
    }
}

/// Lends the calibrator to one build. (Not `as_deref_mut`: the trait object's lifetime must
/// shorten with the borrow.)
fn reborrow<'a>(
    c: &'a mut Option<&mut (dyn Calibrator + '_)>,
) -> Option<&'a mut (dyn Calibrator + 'a)> {
    match c {
        Some(c) => Some(&mut **c),
        None => None,
    }
}

/// How precision constraints are treated in one build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Constraints {
    None,
    Prefer,
    Obey,
}

/// A calibrator for table-only builds: any request for data means TensorRT rejected the table.
struct NoData;
impl Calibrator for NoData {
    fn next_batch(&mut self, _batch: &mut crate::calibrator::CalibrationBatch<'_>) -> Result<bool> {
        Err(Error::Calibration(
            "no calibration data: the build may only use the calibration table".into(),
        ))
    }
}

// ---------- algorithm selector: record and replay tactics ----------

struct SelectorState {
    replay: Option<Vec<TacticChoice>>,
    chosen: Mutex<Vec<TacticChoice>>,
    misses: Mutex<usize>,
}

struct SelectorHandle(*mut sys::trt_algorithm_selector);

impl SelectorHandle {
    fn new(state: &mut Box<SelectorState>) -> Result<Self> {
        let callbacks = sys::trt_algorithm_selector_callbacks {
            user_data: (&mut **state as *mut SelectorState).cast(),
            select: Some(select_cb),
            report: Some(report_cb),
        };
        Ok(SelectorHandle(
            out!(sys::trt_algorithm_selector_create, &callbacks; *mut sys::trt_algorithm_selector)?,
        ))
    }
}

impl Drop for SelectorHandle {
    fn drop(&mut self) {
        unsafe { sys::trt_algorithm_selector_destroy(self.0) };
    }
}

extern "C" fn select_cb(
    user: *mut c_void,
    layer: *const c_char,
    choices: *const sys::trt_algorithm_choice,
    n: i32,
    selection: *mut i32,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let state = unsafe { &*(user as *const SelectorState) };
        if layer.is_null() || choices.is_null() || selection.is_null() || n <= 0 {
            return 0;
        }
        let name = unsafe { CStr::from_ptr(layer) }.to_string_lossy();
        log::trace!(target: "trt::tactics", "select `{name}`: {n} choices");
        let Some(replay) = &state.replay else {
            return 0;
        };
        let Some(want) = replay.iter().find(|t| t.layer == name) else {
            return 0;
        };
        let choices = unsafe { std::slice::from_raw_parts(choices, n as usize) };
        let mut k = 0;
        for (i, c) in choices.iter().enumerate() {
            if c.implementation == want.implementation && c.tactic == want.tactic {
                unsafe { *selection.add(k) = i as i32 };
                k += 1;
            }
        }
        if k == 0 {
            if let Ok(mut m) = state.misses.lock() {
                *m += 1;
            }
        }
        k as i32
    }))
    .unwrap_or(0)
}

extern "C" fn report_cb(
    user: *mut c_void,
    layers: *const *const c_char,
    choices: *const sys::trt_algorithm_choice,
    n: i32,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if layers.is_null() || choices.is_null() || n <= 0 {
            return;
        }
        let state = unsafe { &*(user as *const SelectorState) };
        let mut chosen = state.chosen.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..n as usize {
            let layer = crate::ffi::string(unsafe { *layers.add(i) });
            let c = unsafe { &*choices.add(i) };
            log::trace!(target: "trt::tactics", "chosen `{layer}`: {:#x}", c.tactic);
            chosen.push(TacticChoice {
                layer,
                implementation: c.implementation,
                tactic: c.tactic,
            });
        }
    }));
}
