//! Which samples go into which batch, and making a batch in parallel.

use ndarray::IxDyn;
use rayon::prelude::*;

use super::batch::{Batch, BatchInput};
use super::resolve::Data;
use super::resolve::Resolved;
use crate::check::{BadFile, BadFileKind, InputInfo};
use crate::dtype::{Buffer, SampleMut};
use crate::error::Result;
use crate::spec::{LastBatch, OnBadFile};

pub(super) struct Plan {
    pub(super) inputs: Vec<Resolved>,
    pub(super) order: Vec<usize>,
    pub(super) batch_size: usize,
    pub(super) last_batch: LastBatch,
    pub(super) on_bad_file: OnBadFile,
}

impl Plan {
    /// Produce batch `index`, advancing `cursor` through `order`. `Ok(None)` at the end.
    pub(super) fn make_batch(
        &self,
        cursor: &mut usize,
        index: usize,
        shapes: &[(String, Vec<usize>)],
    ) -> Result<Option<Batch>> {
        let n = self.batch_size;
        let mut bufs: Vec<Buffer> = self
            .inputs
            .iter()
            .map(|i| Buffer::zeros(i.dtype, n * i.sample_len))
            .collect();
        let mut filled = 0;
        while filled < n && *cursor < self.order.len() {
            let take = (n - filled).min(self.order.len() - *cursor);
            let idx = &self.order[*cursor..*cursor + take];
            *cursor += take;
            let mut slots: Vec<Vec<SampleMut<'_>>> =
                (0..take).map(|_| Vec::with_capacity(bufs.len())).collect();
            for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
                let l = inp.sample_len;
                buf.for_each_chunk_mut(filled * l..(filled + take) * l, l, |j, chunk| {
                    slots[j].push(chunk)
                });
            }
            let results: Vec<Result<()>> = slots
                .into_par_iter()
                .zip(idx.par_iter())
                .map(|(mut outs, &sample)| {
                    for (inp, out) in self.inputs.iter().zip(outs.iter_mut()) {
                        inp.fill(sample, out)?;
                    }
                    Ok(())
                })
                .collect();
            let mut w = filled;
            for (j, r) in results.into_iter().enumerate() {
                let slot = filled + j;
                match r {
                    Ok(()) => {
                        if w != slot {
                            for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
                                let l = inp.sample_len;
                                buf.copy_within(slot * l..(slot + 1) * l, w * l);
                            }
                        }
                        w += 1;
                    }
                    Err(e) if self.on_bad_file == OnBadFile::Skip && e.is_bad_file() => {
                        log::warn!("skipping calibration sample {}: {e}", idx[j]);
                    }
                    Err(e) => return Err(e),
                }
            }
            filled = w;
        }
        if filled == 0 || (filled < n && self.last_batch == LastBatch::Drop) {
            return Ok(None);
        }
        for (buf, inp) in bufs.iter_mut().zip(&self.inputs) {
            let l = inp.sample_len;
            for s in filled..n {
                buf.copy_within((filled - 1) * l..filled * l, s * l);
            }
        }
        let inputs = bufs
            .into_iter()
            .zip(shapes)
            .map(|(data, (name, shape))| BatchInput {
                name: name.clone(),
                shape: IxDyn(shape),
                data,
            })
            .collect();
        Ok(Some(Batch {
            index,
            size: n,
            real: filled,
            inputs,
        }))
    }

    /// Decode every image of every used sample, in parallel; the bad ones, in input then
    /// sample order, and how many images were decoded.
    pub(super) fn check_files(&self) -> (usize, Vec<BadFile>) {
        let tasks: Vec<(usize, usize)> = self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.data, Data::Images { .. }))
            .flat_map(|(k, _)| self.order.iter().map(move |&s| (k, s)))
            .collect();
        let bad: Vec<BadFile> = tasks
            .par_iter()
            .filter_map(|&(k, s)| {
                let inp = &self.inputs[k];
                let e = inp.probe(s).err()?;
                Some(BadFile::from_error(&inp.name, s, &e).unwrap_or_else(|| {
                    let path = match &inp.data {
                        Data::Images { paths, .. } => paths[s].clone(),
                        Data::Array { path, .. } => path.clone(),
                    };
                    BadFile {
                        input: inp.name.clone(),
                        path,
                        sample: s,
                        kind: BadFileKind::Undecodable,
                        message: e.to_string(),
                    }
                }))
            })
            .collect();
        (tasks.len(), bad)
    }

    pub(super) fn infos(&self) -> Vec<InputInfo> {
        self.inputs
            .iter()
            .map(|i| i.info(self.batch_size))
            .collect()
    }
}
