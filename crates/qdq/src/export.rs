//! The export: checks first, then placement, weights, rewrite, report.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use trt_calib_table::CalibrationTable;

use crate::graph::{upgrade_opset, Index};
use crate::onnx::ModelProto;
use crate::placement::{default_plan, explicit_plan, Plan, Scales, Use};
use crate::report::{ExportReport, QuantizedActivation, QuantizedWeight, Unplaced};
use crate::rewrite::{rewrite, Insertion, Names, Pair};
use crate::weights::{floats, output_channel_axis, per_channel_scales};
use crate::{Placement, QdqError, Result};

/// The oldest default-domain opset accepted (QuantizeLinear exists from 10; 11 is the oldest
/// that TensorRT's Q/DQ support and the opset-13 bump keep simple).
pub const MIN_OPSET: i64 = 11;

/// The opset the export writes at least: per-channel QuantizeLinear (`axis`) needs 13.
pub const QDQ_OPSET: i64 = 13;

/// Exports a Q/DQ model from an FP32 ONNX model and its calibration table.
///
/// Checks, before anything else (each refusal is a [`QdqError`]):
/// - the model has no Q/DQ nodes yet;
/// - the model's default-domain opset is 11 or later; 11 and 12 are moved to 13 unless a node's
///   operator changed in 13 (Softmax, Split, Squeeze, Unsqueeze, ReduceSum, ...);
/// - at least half of the table's entries name a tensor of the model, and every graph input has
///   a scale (TensorRT-internal names such as `(Unnamed Layer* 3) [Shuffle]_output` are allowed
///   to be the rest);
/// - every exclusion names a node.
///
/// Default placement ([`Placement::Default`]), after TensorRT's Q/DQ placement recommendations:
/// - the activation inputs of `Conv`, `Gemm` and `MatMul` get Q/DQ (per tensor, the table's
///   scale) and their weights (initializer input 1) per-output-channel Q/DQ;
/// - a residual `Add`: the input that is *not* written by the Conv (Gemm, MatMul) the Add fuses
///   with gets Q/DQ; the fused branch stays float, since a Q/DQ there would split Conv and Add;
///   a bias add (one input constant) and an Add of two non-weighted branches get none;
/// - every input of a `Concat` gets Q/DQ with one shared scale, the largest of its inputs'
///   table scales (so no input is clipped; the report gives both);
/// - nothing else: no Q/DQ between a Conv and its ReLU, or before a MaxPool, so Conv+ReLU and
///   Conv+MaxPool fusions stay whole (TensorRT moves Q/DQ across ReLU and MaxPool itself).
///
/// [`Placement::Exactly`] quantizes exactly the tensors named, at every reader not excluded.
/// Excluded nodes keep float inputs and float weights.
pub struct QdqExport<'a> {
    model: &'a ModelProto,
    table: &'a CalibrationTable,
    placement: Placement,
    exclusions: BTreeSet<String>,
}

impl<'a> QdqExport<'a> {
    /// An export with the default placement and no exclusions.
    pub fn new(model: &'a ModelProto, table: &'a CalibrationTable) -> Self {
        Self {
            model,
            table,
            placement: Placement::Default,
            exclusions: BTreeSet::new(),
        }
    }

    /// Sets the placement.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Leaves these nodes (by ONNX node name) unquantized.
    pub fn with_exclusions<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.exclusions = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// Checks, places and writes the Q/DQ pairs; the model given is not changed.
    pub fn export(&self) -> Result<(ModelProto, ExportReport)> {
        let mut out = self.model.clone();
        let opset = upgrade_opset(&mut out)?;
        let graph = self.model.graph.as_ref().ok_or(QdqError::NoGraph)?;
        let ix = Index::new(graph);
        let table_coverage = check_table(&ix, self.table)?;
        let excluded = self.excluded(&ix)?;
        let scales = scales(self.table);
        let plan = match &self.placement {
            Placement::Default => default_plan(&ix, &excluded, &scales),
            Placement::Exactly(tensors) => explicit_plan(&ix, tensors, &excluded, &scales)?,
        };
        let mut names = Names::new(&ix);
        let (mut insertions, activations) = activation_pairs(&ix, &plan.uses, &mut names);
        let (weight_insertions, weights, unquantized_weights) =
            weight_pairs(&ix, &excluded, &mut names);
        insertions.extend(weight_insertions);
        out.graph = Some(rewrite(&ix, insertions));

        let report = ExportReport {
            table_version: self.table.version.to_string(),
            table_algorithm: self.table.algorithm.to_string(),
            placement: match self.placement {
                Placement::Default => "default",
                Placement::Exactly(_) => "explicit",
            }
            .to_owned(),
            opset,
            table_coverage,
            unplaced: unplaced(&ix, self.table, &plan, &activations, &scales),
            activations,
            weights,
            unquantized_weights,
            excluded: self.exclusions.iter().cloned().collect(),
        };
        Ok((out, report))
    }

    fn excluded(&self, ix: &Index) -> Result<HashSet<usize>> {
        let by_name: HashMap<&str, usize> = ix
            .graph
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name(), i))
            .collect();
        self.exclusions
            .iter()
            .map(|name| {
                by_name
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| QdqError::UnknownExclusion {
                        name: name.clone(),
                        close: crate::error::close_names(name, by_name.keys().copied()),
                    })
            })
            .collect()
    }
}

/// Refuses a table that is not this model's; returns (entries naming a model tensor, entries).
fn check_table(ix: &Index, table: &CalibrationTable) -> Result<(usize, usize)> {
    let known: HashSet<&str> = ix.activations.iter().copied().collect();
    let (matched, unmatched): (Vec<&str>, Vec<&str>) = table
        .entries
        .iter()
        .map(|e| e.tensor.as_str())
        .partition(|t| known.contains(t));
    let entries = table.entries.len();
    if matched.is_empty() || matched.len() * 2 < entries {
        return Err(QdqError::TableMismatch {
            matched: matched.len(),
            entries,
            model_tensors: known.len(),
            unmatched: unmatched.iter().take(3).map(|t| t.to_string()).collect(),
        });
    }
    let missing: Vec<String> = ix
        .inputs
        .iter()
        .filter(|i| table.get(i).is_none())
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(QdqError::MissingInputs { inputs: missing });
    }
    Ok((matched.len(), entries))
}

/// Each table tensor's scale, or why it cannot be used (0: TensorRT did not calibrate it).
fn scales(table: &CalibrationTable) -> Scales {
    let usable = |s: f32| -> Result<f32, String> {
        if s.is_finite() && s > 0.0 {
            Ok(s)
        } else {
            Err(format!(
                "its table scale {s} is not a positive number (TensorRT writes 0 for tensors it \
                 did not calibrate)"
            ))
        }
    };
    table
        .entries
        .iter()
        .map(|e| (e.tensor.clone(), usable(e.scale)))
        .collect()
}

/// One pair per (tensor, scale), shared by every use with that scale.
fn activation_pairs(
    ix: &Index,
    uses: &[Use],
    names: &mut Names,
) -> (Vec<Insertion>, Vec<QuantizedActivation>) {
    let mut groups: BTreeMap<(usize, u32), Vec<&Use>> = BTreeMap::new();
    let order: HashMap<&str, usize> = ix
        .activations
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i))
        .collect();
    for u in uses {
        let position = order.get(u.tensor.as_str()).copied().unwrap_or(usize::MAX);
        groups
            .entry((position, u.scale.to_bits()))
            .or_default()
            .push(u);
    }
    let mut insertions = Vec::new();
    let mut report = Vec::new();
    for group in groups.into_values() {
        let first = group[0];
        let pair = Pair::new(names, &first.tensor, vec![first.scale], None);
        let mut consumers: Vec<String> = group.iter().map(|u| ix.label(u.node)).collect();
        consumers.dedup();
        let mut rules: Vec<String> = group.iter().map(|u| u.rule.clone()).collect();
        rules.dedup();
        report.push(QuantizedActivation {
            tensor: first.tensor.clone(),
            scale: first.scale,
            table_scale: first.table_scale,
            consumers,
            rule: rules.join("; "),
        });
        let readers = group.iter().map(|u| (u.node, u.slot)).collect();
        insertions.push(Insertion { pair, readers });
    }
    (insertions, report)
}

type WeightPairs = (Vec<Insertion>, Vec<QuantizedWeight>, Vec<Unplaced>);

/// (weight, axis) -> (its readers, its per-channel scales).
type WeightUses = BTreeMap<(String, usize), (Vec<(usize, usize)>, Vec<f32>)>;

/// Per-channel pairs on input 1 (an initializer) of every Conv, Gemm and MatMul not excluded.
fn weight_pairs(ix: &Index, excluded: &HashSet<usize>, names: &mut Names) -> WeightPairs {
    let mut by_weight = WeightUses::new();
    let mut report = Vec::new();
    let mut refused = Vec::new();
    for (i, node) in ix.graph.node.iter().enumerate() {
        let weighted = matches!(node.op_type(), "Conv" | "Gemm" | "MatMul");
        let Some(tensor) = node
            .input
            .get(1)
            .filter(|_| weighted && !excluded.contains(&i))
        else {
            continue;
        };
        let Some(init) = ix.weight(tensor) else {
            continue; // an activation: the placement decides
        };
        let scales = output_channel_axis(node, init.dims.len()).and_then(|axis| {
            let values = floats(init)?;
            Ok((axis, per_channel_scales(&values, &init.dims, axis)?))
        });
        match scales {
            Ok((axis, scales)) => {
                let key = (tensor.clone(), axis);
                let entry = by_weight.entry(key).or_insert_with(|| (Vec::new(), scales));
                entry.0.push((i, 1));
            }
            Err(reason) => refused.push(Unplaced {
                tensor: tensor.clone(),
                reason: format!("weight of `{}`: {reason}", ix.label(i)),
            }),
        }
    }
    let mut insertions = Vec::new();
    for ((tensor, axis), (readers, scales)) in by_weight {
        let pair = Pair::new(names, &tensor, scales.clone(), Some(axis));
        report.push(QuantizedWeight {
            tensor,
            node: ix.label(readers[0].0),
            axis,
            scales,
        });
        insertions.push(Insertion { pair, readers });
    }
    (insertions, report, refused)
}

/// Every table entry that got no pair, in table order, with the reason.
fn unplaced(
    ix: &Index,
    table: &CalibrationTable,
    plan: &Plan,
    placed: &[QuantizedActivation],
    scales: &Scales,
) -> Vec<Unplaced> {
    let known: HashSet<&str> = ix.activations.iter().copied().collect();
    let placed: HashSet<&str> = placed.iter().map(|a| a.tensor.as_str()).collect();
    let explain = |tensor: &str| -> String {
        if !known.contains(tensor) {
            return "not a tensor of the ONNX model (a TensorRT-internal name, or another \
                    network's)"
                .to_owned();
        }
        if ix.is_constant(tensor) {
            return "computed from initializers alone: TensorRT folds it into weights, so it \
                    gets no activation Q/DQ"
                .to_owned();
        }
        if let Some(Err(reason)) = scales.get(tensor) {
            return reason.clone();
        }
        if let Some(reason) = plan.skipped.get(tensor) {
            return reason.clone();
        }
        let readers: Vec<String> = ix
            .readers(tensor)
            .iter()
            .map(|&(i, _)| format!("{} `{}`", ix.node(i).op_type(), ix.label(i)))
            .collect();
        if readers.is_empty() {
            "no node reads it (a graph output)".to_owned()
        } else {
            format!(
                "no placement rule quantizes it here: read by {}",
                readers.join(", ")
            )
        }
    };
    table
        .entries
        .iter()
        .filter(|e| !placed.contains(e.tensor.as_str()))
        .map(|e| Unplaced {
            tensor: e.tensor.clone(),
            reason: explain(&e.tensor),
        })
        .collect()
}
