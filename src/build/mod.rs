//! The builder: ONNX in, serialized engine (plan) out.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Builder`] (create, parse ONNX, build, build_calibrated: dispatch only) |
//! | `output.rs` | [`BuildOutput`]: plan, timing cache, table, tactics, strict audit |
//! | `session.rs` | the primitive: one session per build, one pass per `buildSerializedNetwork` |
//! | `calibration.rs` | calibration shapes, profile and table checks, before TensorRT starts |
//! | `selector.rs` | the algorithm selector (record / replay tactics) |
//! | `explicit.rs` | [`check_explicit_request`]: what a build of a Q/DQ network ([`crate::Quantization`]) may not ask |
//!
//! Policies sit above the primitive: strict INT8 in `crate::strict`, repeated builds in
//! `crate::repro`.

pub(crate) mod calibration;
pub(crate) mod explicit;
pub(crate) mod inner;
pub(crate) mod output;
mod selector;
pub(crate) mod session;

use std::path::Path;
use std::sync::Arc;

use tensorrt_sys as sys;

use crate::build::inner::BuilderInner;
use crate::calibrator::Calibrator;
use crate::config::{BuildConfig, Precision};
use crate::error::{Error, Result};
use crate::handle::create;
use crate::logger::{with_log, Logger};
use crate::network::{Network, OnnxModel};
use crate::strict;

pub use explicit::check_explicit_request;
pub use output::BuildOutput;
use session::{BuildSession, Constraints, Pass};

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

impl Builder {
    /// Loads TensorRT (once per process) and creates a builder on CUDA device 0 with a logger
    /// that forwards to `log`.
    pub fn new() -> Result<Builder> {
        Builder::on_device(0)
    }

    /// A builder on CUDA device `device` (checked against the devices present).
    pub fn on_device(device: usize) -> Result<Builder> {
        Builder::with_logger_on_device(Logger::shared()?, device)
    }

    /// A builder on CUDA device 0 with your logger.
    pub fn with_logger(logger: Arc<Logger>) -> Result<Builder> {
        Builder::with_logger_on_device(logger, 0)
    }

    /// A builder on CUDA device `device` with your logger.
    pub fn with_logger_on_device(logger: Arc<Logger>, device: usize) -> Result<Builder> {
        let lib = sys::Library::get()?;
        // TensorRT needs a current CUDA context on this thread; cudarc binds the primary one.
        let context = crate::device::device_context(device)?;
        let handle = create!(sys::trt_builder_create, lib.builder_factory()?, logger.raw(); sys::trt_builder_destroy, "builder")
            .map_err(|e| with_log(e, &logger))?;
        Ok(Builder {
            inner: Arc::new(BuilderInner {
                handle,
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

    /// The logger TensorRT's messages go through.
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
    /// (`BuildConfig::with_calibration_table`; TensorRT is never allowed to calibrate), or an
    /// explicitly quantized network (Q/DQ layers, [`crate::Quantization::Explicit`]) with
    /// `Precision::Int8` and no table: its scales are the model's.
    pub fn build(&self, network: &mut Network, config: &BuildConfig) -> Result<BuildOutput> {
        self.build_with(network, config, None)
    }

    /// Builds INT8 with `calibrator` feeding TensorRT's getBatch (unless a usable table is given).
    /// Refused for an explicitly quantized network (see [`check_explicit_request`]).
    pub fn build_calibrated(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: &mut dyn Calibrator,
    ) -> Result<BuildOutput> {
        self.build_with(network, config, Some(calibrator))
    }

    fn build_with(
        &self,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut dyn Calibrator>,
    ) -> Result<BuildOutput> {
        let mut session = self.session(config)?;
        self.build_in(&mut session, network, config, calibrator)
    }

    /// A build session whose timing cache starts from `config`'s: builds run in it with
    /// [`Builder::build_in`] share one live timing cache (TensorRT refuses some serialized
    /// caches, e.g. Myelin's, so sharing the object is what makes later builds fast).
    pub(crate) fn session(&self, config: &BuildConfig) -> Result<BuildSession<'_>> {
        // The building thread may not be the one that created the builder.
        self.inner.context.bind_to_thread()?;
        BuildSession::new(&self.inner, config)
    }

    /// One build in `session` (its clock restarted: `build_time` is this build's).
    pub(crate) fn build_in(
        &self,
        session: &mut BuildSession<'_>,
        network: &mut Network,
        config: &BuildConfig,
        calibrator: Option<&mut dyn Calibrator>,
    ) -> Result<BuildOutput> {
        session.restart_clock();
        let quantization = network.quantization()?;
        check_explicit_request(network.source(), quantization, config, calibrator.is_some())?;
        let explicit = quantization.is_explicit();
        self.check_request(network, config, explicit)?;
        self.inner.context.bind_to_thread()?;
        let mut out = match config.precision() {
            Precision::StrictInt8 => strict::build(session, network, config, calibrator),
            p => {
                let constraints = if p == Precision::Int8 && !config.keep_out_of_int8().is_empty() {
                    strict::keep_out(network, config.keep_out_of_int8(), config.fallback())?;
                    Constraints::Prefer
                } else {
                    Constraints::None
                };
                let pass = Pass {
                    constraints,
                    table: None,
                    explicit,
                };
                session.pass(network, config, calibrator, pass).output
            }
        }?;
        // Only now, with the engine built from a complete calibration, does the table reach
        // the disk: a failed build never creates or replaces one. Before the timing cache is
        // serialized, where TensorRT 8.5.3 crashed now and then (the table went with it).
        crate::calibrator::save_table(
            config.calibration_table(),
            out.calibration_table.as_deref(),
        )?;
        if config.timing_cache_enabled() && config.returns_timing_cache() {
            out.timing_cache = Some(session.serialized_timing_cache()?);
        }
        out.build_time = session.elapsed();
        out.quantization = quantization;
        Ok(out)
    }

    /// What can be refused before TensorRT is asked.
    fn check_request(&self, network: &Network, config: &BuildConfig, explicit: bool) -> Result<()> {
        if !Arc::ptr_eq(&network.builder, &self.inner) {
            return Err(Error::Invalid(
                "the network was created by another Builder".into(),
            ));
        }
        if config.device() != self.device() {
            return Err(Error::Invalid(format!(
                "the build config names CUDA device {} but the builder was created on device {}: \
                 create it with Builder::on_device({})",
                config.device(),
                self.device(),
                config.device()
            )));
        }
        session::check_compatibility(config.settings(), self.inner.lib.version(), explicit)
    }
}
