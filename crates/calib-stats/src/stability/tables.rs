//! How far each tensor's scale moves when the calibration is repeated with other sample orders
//! or batch sizes: a reference table against the tables of K variants.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;
use trt_calib_table::{diff, CalibrationTable};

/// Default threshold of a scale move: 0.05, i.e. a scale 5% away from the reference's.
pub const MOVE_THRESHOLD: f64 = 0.05;

/// One tensor of the reference table, and its largest move over the variants.
///
/// The move of a variant is `|s_v / s_ref - 1|` (computed on the dynamic ranges by
/// [`trt_calib_table::diff`], [`RangeChange::magnitude`](trt_calib_table::RangeChange::magnitude)):
/// - `0` when the scales are bit for bit equal or both zero;
/// - `+inf` when the reference scale is 0 and the variant's is not, and when the variant's table
///   has no entry for the tensor (`missing_in` names those variants);
/// - NaN when a scale is NaN; NaN counts as the worst move and as above any threshold.
///
/// JSON writes an infinite or NaN `max_move` as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorMove {
    /// Tensor name.
    pub tensor: String,
    /// Its scale in the reference table.
    pub reference_scale: f32,
    /// The largest move over the variants (0 with no variant).
    pub max_move: f64,
    /// The label of the variant that moved it most (the first of equals); `None` with no move.
    pub worst_variant: Option<String>,
    /// That variant's scale; `None` when it has no entry for the tensor (or with no move).
    pub worst_scale: Option<f32>,
    /// Labels of the variants whose table has no entry for the tensor.
    pub missing_in: Vec<String>,
    /// `max_move` is above the threshold, or NaN.
    pub above_threshold: bool,
}

/// One variant against the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantMoves {
    /// What the variant changed, e.g. `order seed 2, batch 4`.
    pub label: String,
    /// Entries in the variant's table.
    pub tensors: usize,
    /// The largest move of a reference tensor in this variant.
    pub max_move: f64,
    /// The tensor that moved most (the first of equals, in reference order); `None` when nothing
    /// moved.
    pub worst_tensor: Option<String>,
    /// Reference tensors whose move in this variant is above the threshold (or NaN, or missing).
    pub above_threshold: usize,
    /// Reference tensors this variant's table has no entry for.
    pub missing: Vec<String>,
    /// Tensors only this variant's table has.
    pub extra: Vec<String>,
}

/// A reference table against K variants' tables, tensor by tensor (by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableStability {
    /// The threshold a move is compared with (`MOVE_THRESHOLD` = 0.05 by default).
    pub threshold: f64,
    /// Entries of the reference table.
    pub reference_tensors: usize,
    /// One summary per variant, in the order given.
    pub variants: Vec<VariantMoves>,
    /// Every tensor of the reference table, worst first: NaN, then the largest move; equal
    /// moves keep the reference table's order.
    pub tensors: Vec<TensorMove>,
    /// The largest move of all (NaN if any move is NaN; 0 with no variant).
    pub max_move: f64,
}

impl TableStability {
    /// Compares `reference` with every `(label, table)` of `variants`; moves above
    /// `threshold` (e.g. [`MOVE_THRESHOLD`]) are flagged.
    ///
    /// ```
    /// use trt_calib_stats::stability::TableStability;
    /// use trt_calib_table::CalibrationTable;
    ///
    /// let reference = CalibrationTable::parse(b"TRT-8503-MinMaxCalibration\nx: 3f800000\n")?; // 1.0
    /// let v = CalibrationTable::parse(b"TRT-8503-MinMaxCalibration\nx: 3f8ccccd\n")?; // 1.1
    /// let s = TableStability::compare(&reference, [("order seed 1", &v)], 0.05);
    /// assert!((s.max_move - 0.1).abs() < 1e-6);
    /// assert_eq!(s.moving()[0].tensor, "x");
    /// assert!(!s.is_stable());
    /// # Ok::<(), trt_calib_table::ParseError>(())
    /// ```
    pub fn compare<'t, I, L>(reference: &CalibrationTable, variants: I, threshold: f64) -> Self
    where
        I: IntoIterator<Item = (L, &'t CalibrationTable)>,
        L: Into<String>,
    {
        let mut tensors: Vec<TensorMove> = reference
            .entries
            .iter()
            .map(|e| TensorMove {
                tensor: e.tensor.clone(),
                reference_scale: e.scale,
                max_move: 0.0,
                worst_variant: None,
                worst_scale: None,
                missing_in: Vec::new(),
                above_threshold: false,
            })
            .collect();
        let index: HashMap<String, usize> = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.tensor.clone(), i))
            .collect();
        let mut summaries = Vec::new();
        for (label, table) in variants {
            let label: String = label.into();
            let d = diff(reference, table);
            // (tensor index, move, variant's scale); unchanged tensors move 0.
            let mut moves: Vec<(usize, f64, Option<f32>)> = Vec::new();
            for c in &d.changed {
                moves.push((index[&c.tensor], change_magnitude(c), Some(c.scale_b)));
            }
            for e in &d.only_in_a {
                moves.push((index[&e.tensor], f64::INFINITY, None));
            }
            moves.sort_by_key(|m| m.0); // reference order, for "first of equals"
            let mut summary = VariantMoves {
                label: label.clone(),
                tensors: table.entries.len(),
                max_move: 0.0,
                worst_tensor: None,
                above_threshold: 0,
                missing: d.only_in_a.iter().map(|e| e.tensor.clone()).collect(),
                extra: d.only_in_b.iter().map(|e| e.tensor.clone()).collect(),
            };
            for (i, m, scale) in moves {
                let t = &mut tensors[i];
                if scale.is_none() {
                    t.missing_in.push(label.clone());
                }
                if worse(m, t.max_move) {
                    t.max_move = m;
                    t.worst_variant = Some(label.clone());
                    t.worst_scale = scale;
                }
                if worse(m, summary.max_move) {
                    summary.max_move = m;
                    summary.worst_tensor = Some(t.tensor.clone());
                }
                summary.above_threshold += usize::from(above(m, threshold));
            }
            summaries.push(summary);
        }
        for t in &mut tensors {
            t.above_threshold = above(t.max_move, threshold);
        }
        // Stable: equal moves keep the reference order.
        tensors.sort_by(|a, b| descending(a.max_move, b.max_move));
        let max_move = tensors.first().map_or(0.0, |t| t.max_move);
        TableStability {
            threshold,
            reference_tensors: reference.entries.len(),
            variants: summaries,
            tensors,
            max_move,
        }
    }

    /// The tensors whose move is above the threshold (or NaN, or missing in a variant), worst
    /// first: a prefix of [`tensors`](Self::tensors).
    pub fn moving(&self) -> &[TensorMove] {
        let n = self
            .tensors
            .iter()
            .take_while(|t| t.above_threshold)
            .count();
        &self.tensors[..n]
    }

    /// No tensor moves above the threshold, and every variant's table has the same tensors as
    /// the reference.
    pub fn is_stable(&self) -> bool {
        self.moving().is_empty() && self.variants.iter().all(|v| v.extra.is_empty())
    }
}

/// `|s_b / s_a - 1|` of a changed tensor: both zero (`0` and `-0`) is no move, a NaN scale is
/// NaN, a zero reference with a non-zero variant is infinite.
fn change_magnitude(c: &trt_calib_table::RangeChange) -> f64 {
    if c.scale_a.is_nan() || c.scale_b.is_nan() {
        f64::NAN
    } else if c.range_a == 0.0 && c.range_b == 0.0 {
        0.0
    } else {
        c.magnitude()
    }
}

/// `m` is worse than `than`: larger, or NaN where `than` is not.
fn worse(m: f64, than: f64) -> bool {
    m.total_cmp(&than) == Ordering::Greater && !than.is_nan()
}

/// Above `threshold`, or NaN.
fn above(m: f64, threshold: f64) -> bool {
    m.is_nan() || m > threshold
}

/// Largest first, NaN before everything (moves are never negative).
fn descending(x: f64, y: f64) -> Ordering {
    y.abs().total_cmp(&x.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trt_calib_table::{Algorithm, Entry};

    fn table(entries: &[(&str, f32)]) -> CalibrationTable {
        let mut t = CalibrationTable::new("10.16".parse().unwrap(), Algorithm::MinMaxCalibration);
        t.entries = entries.iter().map(|&(n, s)| Entry::new(n, s)).collect();
        t
    }

    /// Reference a = 1.0, b = 2.0, c = 0.5, z = 0.
    /// - v1: a 1.02 (+2%), b 1.8 (-10%), c 0.5, z 0 -> worst b, 0.1
    /// - v2: a 0.94 (-6%), b 2.1 (+5%), c missing, z 0, plus an extra tensor `e`
    ///
    /// Per tensor: c missing in v2 (inf), b 0.1 (v1), a 0.06 (v2), z 0.
    /// Above 5%: c, b, a; b in v2 is 0.05 exactly: not above.
    #[test]
    fn moves_by_hand() {
        let reference = table(&[("a", 1.0), ("b", 2.0), ("c", 0.5), ("z", 0.0)]);
        let v1 = table(&[("a", 1.02), ("b", 1.8), ("c", 0.5), ("z", 0.0)]);
        let v2 = table(&[("a", 0.94), ("b", 2.1), ("z", 0.0), ("e", 3.0)]);
        let s = TableStability::compare(
            &reference,
            [
                ("order seed 1, batch 8", &v1),
                ("order seed 2, batch 4", &v2),
            ],
            MOVE_THRESHOLD,
        );
        let names: Vec<&str> = s.tensors.iter().map(|t| t.tensor.as_str()).collect();
        assert_eq!(names, ["c", "b", "a", "z"]);
        let c = &s.tensors[0];
        assert_eq!(c.max_move, f64::INFINITY);
        assert_eq!(c.missing_in, ["order seed 2, batch 4"]);
        assert_eq!(
            (c.worst_variant.as_deref(), c.worst_scale),
            (Some("order seed 2, batch 4"), None)
        );
        let b = &s.tensors[1];
        assert!((b.max_move - 0.1).abs() < 1e-6, "{}", b.max_move);
        assert_eq!(b.worst_variant.as_deref(), Some("order seed 1, batch 8"));
        assert_eq!(b.worst_scale, Some(1.8));
        let a = &s.tensors[2];
        assert!((a.max_move - 0.06).abs() < 1e-6, "{}", a.max_move);
        assert_eq!(a.worst_variant.as_deref(), Some("order seed 2, batch 4"));
        assert_eq!(
            (s.tensors[3].max_move, s.tensors[3].worst_variant.clone()),
            (0.0, None)
        );
        let moving: Vec<&str> = s.moving().iter().map(|t| t.tensor.as_str()).collect();
        assert_eq!(moving, ["c", "b", "a"]);
        assert_eq!(s.max_move, f64::INFINITY);

        let (s1, s2) = (&s.variants[0], &s.variants[1]);
        assert_eq!((s1.tensors, s1.worst_tensor.as_deref()), (4, Some("b")));
        assert!((s1.max_move - 0.1).abs() < 1e-6);
        assert_eq!(s1.above_threshold, 1);
        assert!(s1.missing.is_empty() && s1.extra.is_empty());
        // v2: a (6%) and c (missing) above; b is 2.1f32 / 2 - 1 = 2.0999999 / 2 - 1 = 0.04999995:
        // not above.
        assert_eq!(s2.above_threshold, 2);
        assert_eq!(
            (s2.missing.clone(), s2.extra.clone()),
            (vec!["c".to_string()], vec!["e".to_string()])
        );
        assert_eq!(s2.worst_tensor.as_deref(), Some("c"));
        assert!(!s.is_stable());
    }

    #[test]
    fn identical_and_signed_zero_tables_are_stable() {
        let reference = table(&[("a", 1.0), ("z", 0.0)]);
        let same = table(&[("z", -0.0), ("a", 1.0)]);
        let near = table(&[("a", 1.049), ("z", 0.0)]);
        let s = TableStability::compare(&reference, [("v1", &same), ("v2", &near)], 0.05);
        assert!(s.is_stable(), "{s:?}");
        assert!(s.moving().is_empty());
        assert!((s.max_move - 0.049).abs() < 1e-6);
        assert_eq!(s.tensors[0].tensor, "a");
        assert_eq!(s.tensors[1].max_move, 0.0);
        // No variant at all: nothing moves.
        let none: [(&str, &CalibrationTable); 0] = [];
        let s = TableStability::compare(&reference, none, 0.05);
        assert!(s.is_stable() && s.max_move == 0.0 && s.variants.is_empty());
    }

    #[test]
    fn nan_and_zero_reference_are_the_worst_moves() {
        let reference = table(&[("a", 1.0), ("n", 1.0), ("z", 0.0)]);
        let v = table(&[("a", 2.0), ("n", f32::NAN), ("z", 0.25)]);
        let s = TableStability::compare(&reference, [("v", &v)], 0.05);
        let names: Vec<&str> = s.tensors.iter().map(|t| t.tensor.as_str()).collect();
        assert_eq!(names, ["n", "z", "a"]);
        assert!(s.tensors[0].max_move.is_nan() && s.max_move.is_nan());
        assert_eq!(s.tensors[1].max_move, f64::INFINITY);
        assert_eq!(s.tensors[2].max_move, 1.0);
        assert_eq!(s.moving().len(), 3);
        assert!(s.variants[0].max_move.is_nan());
        assert_eq!(s.variants[0].worst_tensor.as_deref(), Some("n"));
        // An extra tensor alone makes a variant unstable.
        let extra = table(&[("a", 1.0), ("n", 1.0), ("z", 0.0), ("new", 1.0)]);
        let s = TableStability::compare(&reference, [("v", &extra)], 0.05);
        assert!(s.moving().is_empty() && !s.is_stable());
    }
}
