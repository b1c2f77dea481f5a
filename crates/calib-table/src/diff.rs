//! What changed between two tables.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

use crate::table::{CalibrationTable, Entry};
use crate::{Algorithm, TrtVersion};

/// A header field that differs: `a` in the first table, `b` in the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Changed<T> {
    /// Value in table A.
    pub a: T,
    /// Value in table B.
    pub b: T,
}

/// A tensor whose scale differs between the tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeChange {
    /// Tensor name.
    pub tensor: String,
    /// Scale in A.
    pub scale_a: f32,
    /// Scale in B.
    pub scale_b: f32,
    /// Dynamic range in A (`scale_a * 127`).
    pub range_a: f64,
    /// Dynamic range in B.
    pub range_b: f64,
    /// `range_b - range_a`.
    pub abs_change: f64,
    /// `(range_b - range_a) / |range_a|`; `None` when `range_a` is zero (serialized as `null`).
    pub rel_change: Option<f64>,
}

impl RangeChange {
    /// Size of the relative change used for sorting: `|rel_change|`, infinite when A is zero.
    pub fn magnitude(&self) -> f64 {
        self.rel_change.map_or(f64::INFINITY, f64::abs)
    }
}

/// Differences between table A and table B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDiff {
    /// Versions, when they differ.
    pub version: Option<Changed<TrtVersion>>,
    /// Algorithms, when they differ.
    pub algorithm: Option<Changed<Algorithm>>,
    /// Tensors only in A, in A's order.
    pub only_in_a: Vec<Entry>,
    /// Tensors only in B, in B's order.
    pub only_in_b: Vec<Entry>,
    /// Tensors whose scale differs (bit for bit), largest relative change first.
    pub changed: Vec<RangeChange>,
    /// Number of tensors with the same scale in both.
    pub unchanged: usize,
}

impl TableDiff {
    /// Same version, algorithm, tensors and scales. Entry order is not compared.
    pub fn is_identical(&self) -> bool {
        self.version.is_none()
            && self.algorithm.is_none()
            && self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.changed.is_empty()
    }
}

/// Compares two tables tensor by tensor (by name).
pub fn diff(a: &CalibrationTable, b: &CalibrationTable) -> TableDiff {
    let in_a: HashMap<&str, &Entry> = a.entries.iter().map(|e| (e.tensor.as_str(), e)).collect();
    let in_b: HashMap<&str, &Entry> = b.entries.iter().map(|e| (e.tensor.as_str(), e)).collect();

    let mut changed = Vec::new();
    let mut unchanged = 0;
    let mut only_in_a = Vec::new();
    for ea in &a.entries {
        match in_b.get(ea.tensor.as_str()) {
            None => only_in_a.push(ea.clone()),
            Some(eb) if eb.scale.to_bits() == ea.scale.to_bits() => unchanged += 1,
            Some(eb) => {
                let range_a = f64::from(ea.scale) * 127.0;
                let range_b = f64::from(eb.scale) * 127.0;
                let abs_change = range_b - range_a;
                changed.push(RangeChange {
                    tensor: ea.tensor.clone(),
                    scale_a: ea.scale,
                    scale_b: eb.scale,
                    range_a,
                    range_b,
                    abs_change,
                    rel_change: (range_a != 0.0).then(|| abs_change / range_a.abs()),
                });
            }
        }
    }
    let only_in_b = b
        .entries
        .iter()
        .filter(|e| !in_a.contains_key(e.tensor.as_str()))
        .cloned()
        .collect();
    // Largest first; NaN (from NaN scales) sorts before everything. Stable: ties keep A's order.
    changed.sort_by(|x, y| descending(x.magnitude(), y.magnitude()));

    TableDiff {
        version: changed_field(a.version, b.version),
        algorithm: changed_field(a.algorithm, b.algorithm),
        only_in_a,
        only_in_b,
        changed,
        unchanged,
    }
}

fn changed_field<T: PartialEq>(a: T, b: T) -> Option<Changed<T>> {
    (a != b).then_some(Changed { a, b })
}

fn descending(x: f64, y: f64) -> Ordering {
    y.total_cmp(&x)
}
