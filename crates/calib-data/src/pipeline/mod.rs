//! Batching, ordering, parallel preprocessing and bounded prefetch.
//!
//! | file | what |
//! |---|---|
//! | `batch.rs` | [`Batch`], [`TypedView`] |
//! | `source.rs` | [`BatchSource`]: what a calibrator pulls batches from |
//! | `resolve.rs` | an input's samples from its spec (files, arrays), order, batch counts |
//! | `plan.rs` | which samples make which batch; making a batch in parallel |
//! | `mod.rs` | [`Pipeline`]: the check, the prefetch thread, `next_batch` |

mod batch;
mod plan;
mod resolve;
mod source;

pub use batch::{Batch, TypedView};
pub use resolve::SplitMix64;
pub use source::{BatchSource, FirstBatches};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::check::{self, BadFile, CheckFailure, CheckReport, Expected, InputInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::spec::{OnBadFile, Spec};
use plan::Plan;
use resolve::{count_batches, resolve, shuffle};

/// What the file check found, kept so that a second check does not decode again.
#[derive(Debug, Clone)]
struct FilesChecked {
    images: usize,
    skipped: Vec<BadFile>,
    seconds: f64,
}

/// The [`BatchSource`] built from a [`Spec`]: a background thread decodes and preprocesses
/// batches with rayon and keeps at most `prefetch` of them ready in a bounded channel.
///
/// The thread starts at [`Pipeline::check`] (which leaves bad files out first) or at the first
/// [`next_batch`](BatchSource::next_batch), whichever comes first.
pub struct Pipeline {
    plan: Arc<Plan>,
    shapes: Arc<Vec<(String, Vec<usize>)>>,
    batch_count: usize,
    prefetch: usize,
    rx: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    started: bool,
    finished: bool,
    files: Option<FilesChecked>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("inputs", &self.plan.infos())
            .field("batch_count", &self.batch_count)
            .field("samples", &self.plan.order.len())
            .field("checked", &self.files.is_some())
            .finish()
    }
}

impl Pipeline {
    pub(crate) fn open(spec: &Spec) -> Result<Self> {
        if spec.batch_size == 0 {
            return Err(Error::spec("batch_size must be > 0"));
        }
        if spec.inputs.is_empty() {
            return Err(Error::spec("no inputs"));
        }
        for (i, a) in spec.inputs.iter().enumerate() {
            if spec.inputs[..i].iter().any(|b| b.name == a.name) {
                return Err(Error::spec(format!("input `{}` appears twice", a.name)));
            }
        }
        let inputs = spec
            .inputs
            .iter()
            .map(|i| {
                let default = spec
                    .default_dtypes
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|d| d.1);
                resolve(i, default)
            })
            .collect::<Result<Vec<_>>>()?;
        let counts: Vec<(String, usize)> =
            inputs.iter().map(|i| (i.name.clone(), i.count())).collect();
        if counts.iter().any(|(_, c)| *c != counts[0].1) {
            return Err(Error::SampleCountMismatch { counts });
        }
        let total = counts[0].1;
        let mut order: Vec<usize> = (0..total).collect();
        if let Some(seed) = spec.shuffle_seed {
            shuffle(&mut order, seed);
        }
        if let Some(limit) = spec.limit {
            order.truncate(limit);
        }
        let bs = spec.batch_size;
        let batch_count = count_batches(order.len(), bs, spec.last_batch);
        if batch_count == 0 {
            return Err(Error::spec(format!(
                "{} sample(s) with batch_size {bs} and last_batch = \"drop\" give no batch; \
                 lower batch_size or use last_batch = \"pad\"",
                order.len()
            )));
        }
        let shapes = inputs
            .iter()
            .map(|r| {
                let mut s = vec![bs];
                s.extend_from_slice(&r.sample_shape);
                (r.name.clone(), s)
            })
            .collect();
        let plan = Plan {
            inputs,
            order,
            batch_size: bs,
            last_batch: spec.last_batch,
            on_bad_file: spec.on_bad_file,
        };
        Ok(Pipeline {
            plan: Arc::new(plan),
            shapes: Arc::new(shapes),
            batch_count,
            prefetch: spec.prefetch.max(1),
            rx: None,
            worker: None,
            stop: Arc::new(AtomicBool::new(false)),
            started: false,
            finished: false,
            files: None,
        })
    }

    /// Check the whole data set before any expensive work, and fix what can be fixed.
    ///
    /// - Decodes every image of every sample that will be used, in parallel (rayon): unreadable,
    ///   undecodable and truncated files (a JPEG without its end-of-image marker, which the
    ///   decoder accepts), channel counts other than the input's (unless `convert_channels`),
    ///   sizes other than the first image's (without a resize). Only decodes: the batches
    ///   decode again later; nothing is kept in memory.
    /// - Under `on_bad_file = "skip"` leaves the bad files' samples out of every input (with a
    ///   `log::warn!` each) before batches are formed, so [`batch_count`](BatchSource::batch_count)
    ///   becomes exact; the report lists them.
    /// - Against `expected` (empty: no network known, skip this): every network input has data
    ///   and every data input is a network input; batch size = the network's batch dimension;
    ///   sample shapes; dtypes. An input without an explicit dtype takes the expected one first
    ///   (arrays convert when exact, images give float32 or float16).
    ///
    /// Every problem comes in one [`Error::Check`], with the fixes. The files are decoded once:
    /// a second call only compares. On success the prefetch thread starts, so batches are ready
    /// while TensorRT builds; called after batches were taken, the stream restarts from the
    /// first batch.
    pub fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        if self.started {
            if let Some(e) = self.shutdown() {
                log::warn!("previous prefetch thread failed: {e}");
            }
            self.started = false;
            self.finished = false;
        }
        let plan = Arc::get_mut(&mut self.plan)
            .ok_or_else(|| Error::Worker("internal: the plan is still shared".into()))?;
        let mut bad_files = Vec::new();
        if self.files.is_none() {
            let t = Instant::now();
            let (images, bad) = plan.check_files();
            let seconds = t.elapsed().as_secs_f64();
            if bad.is_empty() || plan.on_bad_file == OnBadFile::Skip {
                if !bad.is_empty() {
                    let mut drop = vec![false; plan.inputs[0].count()];
                    for b in &bad {
                        log::warn!("skipping calibration sample {}: {b}", b.sample);
                        drop[b.sample] = true;
                    }
                    plan.order.retain(|&s| !drop[s]);
                }
                self.files = Some(FilesChecked {
                    images,
                    skipped: bad,
                    seconds,
                });
            } else {
                bad_files = bad;
            }
        }
        let mut problems = Vec::new();
        // Inputs without an explicit dtype follow the network.
        let mut compared: Vec<Expected> = expected.to_vec();
        for e in &mut compared {
            if let Some(inp) = plan.inputs.iter_mut().find(|i| i.name == e.name) {
                if !inp.explicit && inp.dtype != e.dtype {
                    if let Err(err) = inp.adopt(e.dtype) {
                        problems.push(match err {
                            Error::Spec { message, .. } => message,
                            other => other.to_string(),
                        });
                        // Reported; do not report the dtype difference again.
                        e.dtype = inp.dtype;
                    }
                }
            }
        }
        let infos = plan.infos();
        problems.extend(check::compare(plan.batch_size, &infos, &compared));
        let samples = plan.order.len();
        self.batch_count = count_batches(samples, plan.batch_size, plan.last_batch);
        let skipped = self
            .files
            .as_ref()
            .map(|f| f.skipped.clone())
            .unwrap_or_default();
        if self.batch_count == 0 {
            problems.push(format!(
                "{samples} sample(s) left{} with batch_size {} and last_batch = \"drop\" give no \
                 batch; lower batch_size or use last_batch = \"pad\"",
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" after skipping {} bad file(s)", skipped.len())
                },
                plan.batch_size
            ));
        }
        if !bad_files.is_empty() || !problems.is_empty() {
            return Err(Error::Check(Box::new(CheckFailure {
                fixes: check::fixes_for(&bad_files),
                bad_files,
                problems,
                skipped,
            })));
        }
        let Some(files) = self.files.as_ref() else {
            return Err(Error::Worker("internal: files not checked".into()));
        };
        let report = CheckReport {
            batch_size: plan.batch_size,
            batches: self.batch_count,
            samples,
            inputs: infos,
            images_checked: files.images,
            skipped,
            seconds: files.seconds,
        };
        self.start()?;
        Ok(report)
    }

    /// Every input: name, `[N, ...]`, dtype, kind of source.
    pub fn input_info(&self) -> Vec<InputInfo> {
        self.plan.infos()
    }

    fn start(&mut self) -> Result<()> {
        let (tx, rx) = sync_channel(self.prefetch);
        let (plan, shapes) = (self.plan.clone(), self.shapes.clone());
        self.stop = Arc::new(AtomicBool::new(false));
        let stop = self.stop.clone();
        let handle = std::thread::Builder::new()
            .name("calib-data-prefetch".into())
            .spawn(move || produce(&plan, &shapes, &tx, &stop))
            .map_err(|e| Error::Worker(format!("cannot start the prefetch thread: {e}")))?;
        self.rx = Some(rx);
        self.worker = Some(handle);
        self.started = true;
        self.finished = false;
        Ok(())
    }

    fn shutdown(&mut self) -> Option<Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // a blocked send now fails
        let h = self.worker.take()?;
        h.join().err().map(|p| Error::Worker(panic_message(&p)))
    }

    /// Samples used (after shuffle, limit and, after a check, skipped files; before batching).
    pub fn sample_count(&self) -> usize {
        self.plan.order.len()
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn produce(
    plan: &Plan,
    shapes: &[(String, Vec<usize>)],
    tx: &SyncSender<Result<Batch>>,
    stop: &AtomicBool,
) {
    let mut cursor = 0;
    for index in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let item = match plan.make_batch(&mut cursor, index, shapes) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let is_err = item.is_err();
        if tx.send(item).is_err() || is_err {
            return;
        }
    }
}

impl BatchSource for Pipeline {
    fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        if !self.started {
            if let Err(e) = self.start() {
                self.finished = true;
                return Some(Err(e));
            }
        }
        let received = self.rx.as_ref()?.recv();
        match received {
            Ok(Ok(b)) => Some(Ok(b)),
            Ok(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Err(_) => {
                // The producer is done (or died): report a panic once.
                self.finished = true;
                self.shutdown().map(Err)
            }
        }
    }
    fn batch_count(&self) -> usize {
        self.batch_count
    }
    fn batch_size(&self) -> usize {
        self.plan.batch_size
    }
    fn input_shapes(&self) -> &[(String, Vec<usize>)] {
        &self.shapes
    }
    fn input_dtypes(&self) -> Vec<(String, DType)> {
        self.plan
            .inputs
            .iter()
            .map(|i| (i.name.clone(), i.dtype))
            .collect()
    }
    fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        Pipeline::check(self, expected)
    }
    fn reset(&mut self) -> Result<()> {
        if let Some(e) = self.shutdown() {
            log::warn!("previous prefetch thread failed: {e}");
        }
        self.start()
    }
}

impl Iterator for Pipeline {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
