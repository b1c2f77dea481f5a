//! Strict INT8's builds, above the build primitive (see the module docs for the rules):
//! 1. **enforce**: force the plan's layers to INT8 and build with the constraints *obeyed*.
//!    Should TensorRT name forced layers it cannot implement ("No supported formats for ..."),
//!    pin those to the fallback precision and build again;
//! 2. **audit** each enforced engine: a forced layer that did not run INT8 is pinned too and the
//!    engine rebuilt; one that still does not is an error. Every layer's precision is then fixed
//!    by the network, so rebuilds agree;
//! 3. **probe**, only when TensorRT refuses the obeyed constraints without naming a layer: build
//!    with the constraints *preferred*, pin the forced layers that engine ran in another
//!    precision, and enforce again.
//!
//! Obeying first costs one full build plus cheap ones: on EfficientNet-Lite0 (TensorRT 8.5.3) a
//! probe with the constraints preferred takes 98 s against 53 s for a plain INT8 build, while a
//! refused obeyed build fails in seconds. All passes run in one build session, so they share
//! TensorRT's timing cache and a rebuild after a release takes seconds.

use crate::build::calibration::{parse_table, read_checked_table};
use crate::build::output::BuildOutput;
use crate::build::session::{BuildSession, Constraints, Pass, PassResult};
use crate::calibrator::Calibrator;
use crate::config::BuildConfig;
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::inspector::EngineInspection;
use crate::logger::Severity;
use crate::network::Network;
use crate::strict::rules::{self as strict, StrictPlan, MAX_RETRIES};

/// `(layer name, why)` of layers kept out of INT8.
type Released = Vec<(String, String)>;

/// The state strict mode carries from pass to pass.
struct Strict<'s, 'b> {
    session: &'s mut BuildSession<'b>,
    config: &'s BuildConfig,
    plan: StrictPlan,
    released: Released,
    /// The table every pass uses: the given one, or the one the probe calibrated.
    table: Option<Vec<u8>>,
    /// The table this build calibrated (saved by the caller when everything succeeded).
    made: Option<Vec<u8>>,
    /// Deserializes each pass's engine for its audit (made at the first audit, then reused).
    runtime: Option<Runtime>,
    /// (batches, getBatch calls) of the pass that calibrated.
    calibration: (usize, usize),
}

/// Strict INT8 in `session`: probe, enforce, audit. The output carries the [`strict::StrictReport`].
pub(crate) fn build(
    session: &mut BuildSession<'_>,
    network: &mut Network,
    config: &BuildConfig,
    mut calibrator: Option<&mut dyn Calibrator>,
) -> Result<BuildOutput> {
    let plan = strict::plan(network, config.keep_out_of_int8())?;
    strict::apply(network, &plan, config.fallback())?;
    // A given table is checked once, here, and its scales decide what may be INT8 at all.
    let given = read_checked_table(
        session.builder.lib.version(),
        network,
        config,
        calibrator.as_deref(),
    )?;
    let mut s = Strict {
        session,
        config,
        plan,
        released: Vec::new(),
        table: given,
        made: None,
        runtime: None,
        calibration: (0, 0),
    };
    s.release_unscaled(network)?;
    s.release_known(network)?;
    if let Enforced::Built(done) = s.enforce(network, &mut calibrator)? {
        return Ok(*done);
    }
    s.probe(network, &mut calibrator)?;
    match s.enforce(network, &mut calibrator)? {
        Enforced::Built(done) => Ok(*done),
        Enforced::Refused(e) => Err(e),
    }
}

/// How [`Strict::enforce`] ended, short of other errors.
enum Enforced {
    /// The audited build (boxed: it is much larger than an error).
    Built(Box<BuildOutput>),
    /// TensorRT refused the obeyed constraints without naming a forced layer it cannot
    /// implement: the first time, probe with the constraints preferred.
    Refused(Error),
}

impl Strict<'_, '_> {
    /// The probe, retried while TensorRT refuses it and names layers to release (or, once a
    /// table exists, while tensors without a scale release theirs: "Missing scale and zero-point
    /// for tensor ...", TensorRT 8.6 even with the constraints preferred).
    fn probe(
        &mut self,
        network: &mut Network,
        calibrator: &mut Option<&mut dyn Calibrator>,
    ) -> Result<()> {
        log::info!(target: "trt::build", "strict INT8 probe: {} layers forced", self.plan.forced.len());
        // No tactic recording or replay in the probe: only the final engine's tactics matter.
        let probe_config = self.config.without_tactics();
        for attempt in 1..=MAX_RETRIES {
            self.session.builder.logger.take_messages();
            let pass = Pass {
                constraints: Constraints::Prefer,
                table: self.table.as_deref(),
                explicit: false,
            };
            let r = self
                .session
                .pass(network, &probe_config, reborrow(calibrator), pass);
            match self.keep_calibration(r) {
                Ok(probe) => {
                    self.release_unscaled(network)?;
                    return self.release_probe_violations(network, &probe);
                }
                Err(e @ Error::TensorRt { .. }) if self.table.is_some() => {
                    let before = self.released.len();
                    self.release_unscaled(network)?;
                    let failing = self.failing_from_log(network)?;
                    if (failing.is_empty() && self.released.len() == before)
                        || attempt == MAX_RETRIES
                    {
                        return Err(e);
                    }
                    self.release(network, failing)?;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Forced layers the probe's engine did not run in INT8 have no INT8 implementation under
    /// the constraints: release them before enforcing.
    fn release_probe_violations(
        &mut self,
        network: &mut Network,
        probe: &BuildOutput,
    ) -> Result<()> {
        let report = self.engine_report(&probe.plan)?;
        let audit = strict::audit(network, &self.plan, &[], &report)?;
        let violations: Released = audit
            .violations
            .iter()
            .map(|v| {
                (
                    v.layer.clone(),
                    format!(
                        "no INT8 implementation under the constraints (ran {})",
                        v.precision
                    ),
                )
            })
            .collect();
        self.released.extend(violations);
        strict::release(
            network,
            &mut self.plan,
            &self.released,
            self.config.fallback(),
        )
    }

    /// Builds with the constraints obeyed until the audit passes (or what is left is an error).
    fn enforce(
        &mut self,
        network: &mut Network,
        calibrator: &mut Option<&mut dyn Calibrator>,
    ) -> Result<Enforced> {
        for attempt in 1..=MAX_RETRIES {
            log::info!(
                target: "trt::build",
                "strict INT8 build {attempt}: {} layers forced, {} released",
                self.plan.forced.len(),
                self.released.len()
            );
            self.session.builder.logger.take_messages();
            let pass = Pass {
                constraints: Constraints::Obey,
                table: self.table.as_deref(),
                explicit: false,
            };
            let r = self
                .session
                .pass(network, self.config, reborrow(calibrator), pass);
            match self.keep_calibration(r) {
                Ok(out) => {
                    if let Some(done) = self.audit(network, out, attempt)? {
                        return Ok(Enforced::Built(Box::new(done)));
                    }
                }
                Err(e @ Error::TensorRt { .. }) => {
                    // TensorRT names the layers it could not implement; pin exactly those (and,
                    // once this pass calibrated, the forced layers the table gave no scale).
                    let before = self.released.len();
                    self.release_unscaled(network)?;
                    let failing = self.failing_from_log(network)?;
                    if failing.is_empty() && self.released.len() == before {
                        return Ok(Enforced::Refused(e));
                    }
                    if attempt == MAX_RETRIES {
                        return Err(e);
                    }
                    self.release(network, failing)?;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// A pass's output, after keeping the table it calibrated: the calibrator is spent, so every
    /// later pass uses that table (and the caller saves it once the whole build succeeded).
    fn keep_calibration(&mut self, r: PassResult) -> Result<BuildOutput> {
        if let Some(c) = r.calibrated {
            self.calibration = (c.batches, c.get_batch_calls);
            self.made = Some(c.table.clone());
            self.table = Some(c.table);
        }
        r.output
    }

    /// Audits an enforced build. `Some`: done. `None`: forced layers that still did not run INT8
    /// (e.g. a Gemm fused with its bias that the probe ran INT8 but this build did not) were
    /// pinned, so the precisions the engine reports are the ones the network fixes: build again.
    fn audit(
        &mut self,
        network: &mut Network,
        mut out: BuildOutput,
        attempt: usize,
    ) -> Result<Option<BuildOutput>> {
        let report = self.engine_report(&out.plan)?;
        let audit = strict::audit(network, &self.plan, &self.released, &report)?;
        let allow = self.config.settings().allow_strict_violations;
        let fresh: Released = audit
            .violations
            .iter()
            .filter(|v| !self.released.iter().any(|(n, _)| *n == v.layer))
            .map(|v| {
                (
                    v.layer.clone(),
                    format!("ran {} in the enforced build", v.precision),
                )
            })
            .collect();
        if !fresh.is_empty() && !allow && attempt < MAX_RETRIES {
            self.release(network, fresh)?;
            return Ok(None);
        }
        if !audit.violations.is_empty() && !allow {
            return Err(Error::StrictInt8 {
                violations: audit.violations.iter().map(|v| v.to_string()).collect(),
            });
        }
        out.calibration_table = self.made.take();
        (out.calibration_batches, out.get_batch_calls) = self.calibration;
        out.strict = Some(audit);
        Ok(Some(out))
    }

    /// Releases what an earlier strict build of this network released
    /// ([`BuildConfig::with_strict_releases`]), before the first pass.
    fn release_known(&mut self, network: &mut Network) -> Result<()> {
        let forced = self
            .plan
            .forced
            .iter()
            .map(|&i| Ok(network.layer(i)?.name))
            .collect::<Result<Vec<String>>>()?;
        let known = strict::carried_releases(&forced, self.config.strict_releases());
        if !known.is_empty() {
            log::info!(
                target: "trt::strict",
                "{} layer(s) kept out of INT8 as an earlier build released them",
                known.len()
            );
        }
        strict::release(network, &mut self.plan, &known, self.config.fallback())?;
        self.released.extend(known);
        Ok(())
    }

    /// Keeps `layers` out of INT8 from the next pass on.
    fn release(&mut self, network: &mut Network, layers: Released) -> Result<()> {
        for (name, why) in &layers {
            log::warn!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
        }
        strict::release(network, &mut self.plan, &layers, self.config.fallback())?;
        self.released.extend(layers);
        Ok(())
    }

    /// The forced layers that TensorRT's errors since the last pass name (see
    /// [`strict::failing_layers`]).
    fn failing_from_log(&self, network: &Network) -> Result<Released> {
        let messages: Vec<String> = self
            .session
            .builder
            .logger
            .take_messages()
            .into_iter()
            .filter(|(s, _)| *s <= Severity::Error)
            .map(|(_, m)| m)
            .collect();
        strict::failing_layers(network, &self.plan, &messages)
    }

    /// Releases the forced layers whose outputs have no scale in the table (nor a dynamic range
    /// set on the network): TensorRT refuses INT8 outputs without one.
    fn release_unscaled(&mut self, network: &mut Network) -> Result<()> {
        let Some(bytes) = &self.table else {
            return Ok(());
        };
        let table = parse_table(self.config, bytes)?;
        let ranged = network.ranged_tensors().clone();
        let unscaled = strict::unscaled(network, &self.plan, &|t: &str| {
            table.get(t).is_some() || ranged.contains(t)
        })?;
        for (name, why) in &unscaled {
            log::info!(target: "trt::strict", "keeping `{name}` out of INT8: {why}");
        }
        strict::release(network, &mut self.plan, &unscaled, self.config.fallback())?;
        self.released.extend(unscaled);
        Ok(())
    }

    fn engine_report(&mut self, plan: &[u8]) -> Result<EngineInspection> {
        let runtime = match &self.runtime {
            Some(r) => r,
            None => {
                let builder = self.session.builder;
                let r = Runtime::with_logger_on_device(
                    builder.logger.clone(),
                    builder.context.ordinal(),
                )?;
                self.runtime.insert(r)
            }
        };
        EngineInspection::from_json(&runtime.deserialize(plan)?.inspect_json()?)
    }
}

/// Lends the calibrator to one pass. (Not `as_deref_mut`: the trait object's lifetime must
/// shorten with the borrow.)
fn reborrow<'a>(
    c: &'a mut Option<&mut (dyn Calibrator + '_)>,
) -> Option<&'a mut (dyn Calibrator + 'a)> {
    match c {
        Some(c) => Some(&mut **c),
        None => None,
    }
}
