//! The source of batches a calibrator pulls from.

use std::time::Instant;

use super::batch::Batch;
use crate::check::{self, CheckFailure, CheckReport, Expected, InputInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Anything that hands out calibration batches; what a TensorRT calibrator consumes.
pub trait BatchSource: Send {
    /// The next batch; `None` at the end. After an `Err`, the stream ends.
    fn next_batch(&mut self) -> Option<Result<Batch>>;
    /// Number of batches a full pass yields (an upper bound when bad files are skipped without
    /// a [`check`](BatchSource::check)).
    fn batch_count(&self) -> usize;
    /// N.
    fn batch_size(&self) -> usize;
    /// `(input name, [N, ...])` for every input, in spec order; known before any batch.
    fn input_shapes(&self) -> &[(String, Vec<usize>)];
    /// `(input name, dtype)` for every input, in spec order: the element type of its batches.
    fn input_dtypes(&self) -> Vec<(String, DType)>;
    /// Check the data against what the network expects (an empty `expected`: only the data's
    /// own consistency), before any expensive work; every problem in one [`Error::Check`].
    ///
    /// The default compares names, batch size, shapes and dtypes. [`Pipeline`](crate::Pipeline) also decodes
    /// every image, leaves out bad files under `on_bad_file = "skip"`, and converts inputs
    /// without an explicit dtype to the expected one.
    fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        let t = Instant::now();
        let dtypes = self.input_dtypes();
        let mut problems = Vec::new();
        let inputs: Vec<InputInfo> = self
            .input_shapes()
            .iter()
            .map(|(name, shape)| {
                let dtype = dtypes.iter().find(|(n, _)| n == name).map(|d| d.1);
                if dtype.is_none() {
                    problems.push(format!("the source gives no dtype for input `{name}`"));
                }
                InputInfo {
                    name: name.clone(),
                    shape: shape.clone(),
                    dtype: dtype.unwrap_or(DType::F32),
                    source: "custom",
                }
            })
            .collect();
        problems.extend(check::compare(self.batch_size(), &inputs, expected));
        if !problems.is_empty() {
            return Err(Error::Check(Box::new(CheckFailure {
                bad_files: Vec::new(),
                problems,
                fixes: Vec::new(),
                skipped: Vec::new(),
            })));
        }
        Ok(CheckReport {
            batch_size: self.batch_size(),
            batches: self.batch_count(),
            samples: self.batch_count() * self.batch_size(),
            inputs,
            images_checked: 0,
            skipped: Vec::new(),
            seconds: t.elapsed().as_secs_f64(),
        })
    }
    /// Start again from the first batch.
    fn reset(&mut self) -> Result<()>;
}

/// The first `limit` batches of another source (all of them when it has fewer): a sample of
/// the data for work that needs statistics, not every sample (the accuracy-budget search's
/// noise ranking). `check` checks the whole source; `reset` starts the source again.
pub struct FirstBatches<'a, S: BatchSource + ?Sized> {
    inner: &'a mut S,
    limit: usize,
    given: usize,
}

impl<'a, S: BatchSource + ?Sized> FirstBatches<'a, S> {
    /// At most `limit` batches of `inner`, from where it stands (reset it first for the start).
    pub fn new(inner: &'a mut S, limit: usize) -> Self {
        FirstBatches {
            inner,
            limit,
            given: 0,
        }
    }
}

impl<S: BatchSource + ?Sized> BatchSource for FirstBatches<'_, S> {
    fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.given >= self.limit {
            return None;
        }
        self.given += 1;
        self.inner.next_batch()
    }
    fn batch_count(&self) -> usize {
        self.inner.batch_count().min(self.limit)
    }
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }
    fn input_shapes(&self) -> &[(String, Vec<usize>)] {
        self.inner.input_shapes()
    }
    fn input_dtypes(&self) -> Vec<(String, DType)> {
        self.inner.input_dtypes()
    }
    fn check(&mut self, expected: &[Expected]) -> Result<CheckReport> {
        let mut report = self.inner.check(expected)?;
        report.batches = report.batches.min(self.limit);
        report.samples = report.samples.min(self.limit * self.inner.batch_size());
        Ok(report)
    }
    fn reset(&mut self) -> Result<()> {
        self.given = 0;
        self.inner.reset()
    }
}
