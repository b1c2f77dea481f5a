//! Where Q/DQ pairs go: the default rules, or exactly the tensors named.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::graph::Index;
use crate::{QdqError, Result};

/// Which activations get Q/DQ. Weights of quantized Conv/Gemm/MatMul nodes get Q/DQ either way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// The default rules (see [`crate::QdqExport`]).
    #[default]
    Default,
    /// Exactly these activation tensors, at every (non-excluded) reader, each with its table
    /// scale. This is what an implicit engine's INT8 layers will supply.
    Exactly(BTreeSet<String>),
}

impl Placement {
    /// Exactly the tensors named.
    pub fn exactly<S: Into<String>>(tensors: impl IntoIterator<Item = S>) -> Self {
        Placement::Exactly(tensors.into_iter().map(Into::into).collect())
    }

    /// Parses a placement file: one tensor name per line; blank lines and lines starting with
    /// `#` are skipped; surrounding whitespace is trimmed.
    pub fn parse_list(text: &str) -> Self {
        Self::exactly(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }
}

/// One input of one node to be read through a Q/DQ pair.
#[derive(Debug, Clone)]
pub(crate) struct Use {
    pub node: usize,
    pub slot: usize,
    pub tensor: String,
    pub scale: f32,
    pub table_scale: f32,
    pub rule: String,
}

/// Uses, and reasons for tensors that a rule looked at and left alone.
#[derive(Default)]
pub(crate) struct Plan {
    pub uses: Vec<Use>,
    pub skipped: HashMap<String, String>,
}

impl Plan {
    fn skip(&mut self, tensor: &str, reason: String) {
        self.skipped.entry(tensor.to_owned()).or_insert(reason);
    }
}

/// The scale of each tensor the table has, or why it cannot be used.
pub(crate) type Scales = HashMap<String, Result<f32, String>>;

fn scale_of(scales: &Scales, tensor: &str) -> Result<f32, String> {
    scales
        .get(tensor)
        .cloned()
        .unwrap_or_else(|| Err("the table has no scale for it".to_owned()))
}

const WEIGHTED: [&str; 3] = ["Conv", "Gemm", "MatMul"];

/// The default rules, applied to every node not in `excluded`.
pub(crate) fn default_plan(ix: &Index, excluded: &HashSet<usize>, scales: &Scales) -> Plan {
    let mut plan = Plan::default();
    for (i, node) in ix.graph.node.iter().enumerate() {
        if excluded.contains(&i) {
            for input in &node.input {
                plan.skip(input, format!("read by excluded node `{}`", ix.label(i)));
            }
            continue;
        }
        match node.op_type() {
            op if WEIGHTED.contains(&op) => {
                let rule = format!("input of {op}");
                for slot in 0..node.input.len().min(2) {
                    single(ix, &mut plan, scales, i, slot, &rule);
                }
            }
            "Add" if node.input.len() == 2 => residual_add(ix, &mut plan, scales, excluded, i),
            "Concat" => concat(ix, &mut plan, scales, i),
            _ => {}
        }
    }
    plan
}

fn single(ix: &Index, plan: &mut Plan, scales: &Scales, i: usize, slot: usize, rule: &str) {
    let tensor = &ix.node(i).input[slot];
    if tensor.is_empty() || ix.is_constant(tensor) {
        return;
    }
    match scale_of(scales, tensor) {
        Ok(scale) => plan.uses.push(Use {
            node: i,
            slot,
            tensor: tensor.clone(),
            scale,
            table_scale: scale,
            rule: rule.to_owned(),
        }),
        Err(reason) => plan.skip(tensor, reason),
    }
}

/// TensorRT fuses an Add into the Conv (Gemm, MatMul) that writes one of its inputs, when the
/// other input (the residual) is quantized and the Conv's output is not. So: the residual gets
/// Q/DQ, the fused branch does not. With two such inputs, the one written first (the shortcut
/// of a projection block) is quantized and the later one fuses.
fn residual_add(ix: &Index, plan: &mut Plan, scales: &Scales, excluded: &HashSet<usize>, i: usize) {
    let node = ix.node(i);
    let fusable = |t: &str| -> Option<usize> {
        let &p = ix.producer.get(t)?;
        let op = ix.node(p).op_type();
        (WEIGHTED.contains(&op) && !excluded.contains(&p) && ix.readers(t).len() == 1).then_some(p)
    };
    let (a, b) = (node.input[0].as_str(), node.input[1].as_str());
    if ix.is_constant(a) || ix.is_constant(b) {
        return; // a bias add: it fuses with its Conv/Gemm/MatMul as it is
    }
    let (residual, fused) = match (fusable(a), fusable(b)) {
        (Some(pa), Some(pb)) if pa < pb => (0, pb),
        (Some(pa), Some(_)) => (1, pa),
        (Some(pa), None) => (1, pa),
        (None, Some(pb)) => (0, pb),
        (None, None) => {
            let reason = format!(
                "residual Add `{}`: neither input comes from a Conv/Gemm/MatMul it could fuse with",
                ix.label(i)
            );
            plan.skip(a, reason.clone());
            plan.skip(b, reason);
            return;
        }
    };
    let fused_tensor = node.input[1 - residual].as_str();
    plan.skip(
        fused_tensor,
        format!(
            "fuses into residual Add `{}` with its producer `{}`: a Q/DQ here would split them",
            ix.label(i),
            ix.label(fused)
        ),
    );
    let rule = format!(
        "residual input of Add (the other input, from `{}`, fuses with the Add)",
        ix.label(fused)
    );
    single(ix, plan, scales, i, residual, &rule);
}

/// All inputs of a Concat share one scale (TensorRT concatenates INT8 data without rescaling):
/// the largest of the inputs' table scales, so no input is clipped.
fn concat(ix: &Index, plan: &mut Plan, scales: &Scales, i: usize) {
    let node = ix.node(i);
    let inputs: Vec<&String> = node
        .input
        .iter()
        .filter(|t| !t.is_empty() && !ix.is_constant(t))
        .collect();
    let mut found = Vec::new();
    for tensor in &inputs {
        match scale_of(scales, tensor) {
            Ok(scale) => found.push(scale),
            Err(reason) => {
                for other in &inputs {
                    plan.skip(
                        other,
                        format!(
                            "Concat `{}`: its input `{tensor}` cannot be quantized ({reason}), and \
                             all inputs share one scale",
                            ix.label(i)
                        ),
                    );
                }
                return;
            }
        }
    }
    let shared = found.iter().copied().fold(0f32, f32::max);
    let rule = format!("input of Concat (one scale for all its inputs: the largest, {shared:e})");
    for (slot, tensor) in node.input.iter().enumerate() {
        if let Some(k) = inputs.iter().position(|t| *t == tensor) {
            plan.uses.push(Use {
                node: i,
                slot,
                tensor: tensor.clone(),
                scale: shared,
                table_scale: found[k],
                rule: rule.clone(),
            });
        }
    }
}

/// Exactly the `tensors`, at each reader not in `excluded`, with their table scales.
pub(crate) fn explicit_plan(
    ix: &Index,
    tensors: &BTreeSet<String>,
    excluded: &HashSet<usize>,
    scales: &Scales,
) -> Result<Plan> {
    let known: HashSet<&str> = ix.activations.iter().copied().collect();
    let mut plan = Plan::default();
    for tensor in tensors {
        if !known.contains(tensor.as_str()) {
            return Err(QdqError::UnknownPlacement {
                name: tensor.clone(),
                close: crate::error::close_names(tensor, ix.activations.iter().copied()),
            });
        }
        if let Some(reason) = fused_epilogue(ix, excluded, tensor) {
            plan.skip(tensor, reason);
            continue;
        }
        if let Some(reason) = requantized_copy(ix, tensors, excluded, scales, tensor) {
            plan.skip(tensor, reason);
            continue;
        }
        if ix.is_constant(tensor) {
            plan.skip(
                tensor,
                "computed from initializers alone: TensorRT folds it into weights, so it gets \
                 no activation Q/DQ"
                    .into(),
            );
            continue;
        }
        let scale = scale_of(scales, tensor).map_err(|reason| QdqError::UnusableScale {
            tensor: tensor.clone(),
            reason,
        })?;
        let readers: Vec<(usize, usize)> = ix
            .readers(tensor)
            .iter()
            .copied()
            .filter(|(i, _)| !excluded.contains(i))
            .collect();
        if readers.is_empty() {
            plan.skip(
                tensor,
                "placed, but no node that is not excluded reads it".into(),
            );
        }
        for (node, slot) in readers {
            plan.uses.push(Use {
                node,
                slot,
                tensor: tensor.clone(),
                scale,
                table_scale: scale,
                rule: "explicit placement".to_owned(),
            });
        }
    }
    Ok(plan)
}

/// Operators that move or reshape values without changing them: their output has the same
/// values, so the same scale, as their data input (slot 0). The part of
/// [`crate::DATA_MOVEMENT_OPS`] that keeps every value (not Gather/Slice, which select, nor
/// Cast or Shape).
const VALUE_PRESERVING: [&str; 6] = [
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
];

/// Why `tensor` needs no Q/DQ pair of its own, if it does not: it is written by a
/// value-preserving node (Flatten, Reshape, ...) that is not excluded, whose data input is placed
/// too, with the same scale. The input's pair already makes the node's output quantized values;
/// TensorRT moves the DQ forward across the node. A second pair right after it is a no-op in
/// arithmetic, but TensorRT 8.5 keeps it as an extra layer (a `copied_squeeze_after_...` before
/// the Gemm after a Flatten, NVIDIA/TensorRT#4412), which costs latency the implicit engine does
/// not pay. With different scales the second pair requantizes, so it stays.
fn requantized_copy(
    ix: &Index,
    tensors: &BTreeSet<String>,
    excluded: &HashSet<usize>,
    scales: &Scales,
    tensor: &str,
) -> Option<String> {
    let &p = ix.producer.get(tensor)?;
    let node = ix.node(p);
    if !VALUE_PRESERVING.contains(&node.op_type()) || excluded.contains(&p) {
        return None;
    }
    let input = node.input.first()?;
    if !tensors.contains(input) || ix.is_constant(input) {
        return None;
    }
    let (Ok(a), Ok(b)) = (scale_of(scales, input), scale_of(scales, tensor)) else {
        return None;
    };
    ((a - b).abs() <= f32::EPSILON * a.abs().max(b.abs())).then(|| {
        format!(
            "written by {} `{}` from `{input}`, which is quantized with the same scale: that pair \
             already quantizes it (TensorRT moves the DQ across the {}), a second pair would only \
             add a layer",
            node.op_type(),
            ix.label(p),
            node.op_type()
        )
    })
}

/// Activations TensorRT runs in the epilogue of the Conv/Gemm/MatMul before them (a bias Add
/// or scale Mul fuses too: see [`fused_epilogue`]).
const EPILOGUE: [&str; 11] = [
    "Relu",
    "PRelu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Elu",
    "Selu",
    "Softplus",
];

/// Why `tensor` gets no Q/DQ pair, if it does not: it is the output of a Conv, Gemm or MatMul
/// (not excluded) whose only reader is a pointwise activation, or a bias Add / scale Mul (every
/// other input constant), not excluded. TensorRT fuses that reader into the weighted layer in
/// explicit mode (TensorRT's Q/DQ placement advice: do not quantize a weighted layer's output);
/// a pair between them splits the fusion and leaves a DequantizeLinear layer of its own. An
/// implicit engine may still have run the two as separate INT8 layers (MTCNN's PRelu after each
/// Conv, tf2onnx's MatMul + bias Add on TensorRT 8.5), which is why its placement names the
/// tensor. The reader's own output keeps its pair, so the fused layer still writes INT8.
fn fused_epilogue(ix: &Index, excluded: &HashSet<usize>, tensor: &str) -> Option<String> {
    let &p = ix.producer.get(tensor)?;
    if !WEIGHTED.contains(&ix.node(p).op_type()) || excluded.contains(&p) {
        return None;
    }
    let [(reader, _)] = ix.readers(tensor) else {
        return None;
    };
    let node = ix.node(*reader);
    let op = node.op_type();
    let others_constant = node
        .input
        .iter()
        .filter(|t| t.as_str() != tensor && !t.is_empty())
        .all(|t| ix.is_constant(t));
    let fits = match op {
        "Add" | "Mul" => node.input.len() == 2 && others_constant,
        _ => EPILOGUE.contains(&op) && others_constant,
    };
    (fits && !excluded.contains(reader)).then(|| {
        format!(
            "output of {} `{}`, read only by {op} `{}`, which TensorRT fuses into it: a Q/DQ \
             pair between them would split the fusion",
            ix.node(p).op_type(),
            ix.label(p),
            ix.label(*reader)
        )
    })
}
