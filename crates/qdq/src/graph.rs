//! An index over a graph (producers, consumers, initializers) and the opset check.

use std::collections::{HashMap, HashSet};

use crate::onnx::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use crate::report::OpsetChange;
use crate::{QdqError, Result, MIN_OPSET, QDQ_OPSET};

/// Operators whose inputs or meaning changed in opset 13 (axes/split/... became inputs, Softmax
/// stopped coercing to 2-D): a model of opset 11 or 12 using one of them is not bumped to 13.
const CHANGED_IN_13: [&str; 7] = [
    "Softmax",
    "LogSoftmax",
    "Hardmax",
    "Split",
    "Squeeze",
    "Unsqueeze",
    "ReduceSum",
];

/// Lookups over one graph. Tensor names are ONNX names; node indices are positions in
/// `graph.node`.
pub(crate) struct Index<'a> {
    pub graph: &'a GraphProto,
    pub initializers: HashMap<&'a str, &'a TensorProto>,
    /// The node that writes each tensor.
    pub producer: HashMap<&'a str, usize>,
    /// `(node, input slot)` for every read of each tensor.
    pub consumers: HashMap<&'a str, Vec<(usize, usize)>>,
    /// Graph inputs (not initializers) and node outputs, in graph order.
    pub activations: Vec<&'a str>,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<&'a str>,
    /// Every name in the graph (tensors, nodes), for making fresh names.
    pub names: HashSet<String>,
    /// Tensors computed from initializers alone: initializers, Constant outputs, and outputs of
    /// nodes whose inputs are all constant (PyTorch writes a shared bias as `Identity` of an
    /// initializer). TensorRT folds them into weights; they are never activations.
    pub constants: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    pub fn new(graph: &'a GraphProto) -> Self {
        let initializers: HashMap<&str, &TensorProto> =
            graph.initializer.iter().map(|t| (t.name(), t)).collect();
        let inputs: Vec<&str> = graph
            .input
            .iter()
            .map(|v| v.name())
            .filter(|n| !initializers.contains_key(n))
            .collect();
        let mut activations = inputs.clone();
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        let mut names: HashSet<String> = initializers.keys().map(|n| n.to_string()).collect();
        names.extend(graph.input.iter().map(|v| v.name().to_owned()));
        for (i, node) in graph.node.iter().enumerate() {
            names.insert(node.name().to_owned());
            for (slot, input) in node.input.iter().enumerate() {
                if !input.is_empty() {
                    consumers.entry(input.as_str()).or_default().push((i, slot));
                }
            }
            for output in node.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(output.as_str(), i);
                activations.push(output.as_str());
                names.insert(output.clone());
            }
        }
        let constants = constant_tensors(graph, &initializers);
        Self {
            graph,
            initializers,
            producer,
            consumers,
            activations,
            inputs,
            names,
            constants,
        }
    }

    pub fn node(&self, i: usize) -> &'a NodeProto {
        &self.graph.node[i]
    }

    /// An initializer, or a tensor computed from initializers alone ([`Index::constants`]).
    pub fn is_constant(&self, tensor: &str) -> bool {
        self.constants.contains(tensor)
    }

    /// The initializer behind a weight input: the tensor itself, or the initializer an
    /// `Identity` chain copies.
    pub fn weight(&self, tensor: &str) -> Option<&'a TensorProto> {
        let mut t = tensor;
        for _ in 0..=self.graph.node.len() {
            if let Some(init) = self.initializers.get(t) {
                return Some(init);
            }
            let node = self.node(*self.producer.get(t)?);
            if node.op_type() != "Identity" {
                return None;
            }
            t = node.input.first()?.as_str();
        }
        None
    }

    /// The readers of `tensor`.
    pub fn readers(&self, tensor: &str) -> &[(usize, usize)] {
        self.consumers.get(tensor).map_or(&[], Vec::as_slice)
    }

    /// How a node is named in messages: its name, or `op_type #index` when it has none.
    pub fn label(&self, i: usize) -> String {
        let node = self.node(i);
        if node.name().is_empty() {
            format!("{} #{i}", node.op_type())
        } else {
            node.name().to_owned()
        }
    }
}

/// [`Index::constants`] of a graph (whose nodes are in topological order, as ONNX requires).
pub(crate) fn constant_tensors<'a>(
    graph: &'a GraphProto,
    initializers: &HashMap<&'a str, &'a TensorProto>,
) -> HashSet<&'a str> {
    let mut constants: HashSet<&str> = initializers.keys().copied().collect();
    for node in &graph.node {
        let inputs = || node.input.iter().filter(|t| !t.is_empty());
        let folds = node.op_type() == "Constant"
            || (inputs().next().is_some() && inputs().all(|t| constants.contains(t.as_str())));
        if folds {
            constants.extend(
                node.output
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(String::as_str),
            );
        }
    }
    constants
}

/// Refuses a model that already has Q/DQ nodes; checks the default-domain opset and moves `model` to [`QDQ_OPSET`] when it is older.
///
/// Refuses opsets below [`MIN_OPSET`], and opsets 11-12 when a node's operator changed in 13
/// ([`CHANGED_IN_13`]). Raises the IR version to 7 (the first with opset 13) when lower.
pub(crate) fn upgrade_opset(model: &mut ModelProto) -> Result<OpsetChange> {
    let graph = model.graph.as_ref().ok_or(QdqError::NoGraph)?;
    let import = model
        .opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .ok_or(QdqError::NoOpset)?;
    let found = import.version();
    let quantized = graph
        .node
        .iter()
        .enumerate()
        .find(|(_, n)| matches!(n.op_type(), "QuantizeLinear" | "DequantizeLinear"));
    if let Some((i, node)) = quantized {
        return Err(QdqError::AlreadyQuantized {
            node: Index::new(graph).label(i),
            op_type: node.op_type().to_owned(),
        });
    }
    if found < MIN_OPSET {
        return Err(QdqError::OpsetTooOld {
            found,
            min: MIN_OPSET,
        });
    }
    if found < QDQ_OPSET {
        let changed = graph.node.iter().enumerate().find(|(_, n)| {
            (n.domain().is_empty() || n.domain() == "ai.onnx")
                && CHANGED_IN_13.contains(&n.op_type())
        });
        if let Some((i, node)) = changed {
            return Err(QdqError::OpsetChangesMeaning {
                found,
                node: Index::new(graph).label(i),
                op_type: node.op_type().to_owned(),
            });
        }
    }
    let to = found.max(QDQ_OPSET);
    for import in model.opset_import.iter_mut() {
        if import.domain().is_empty() || import.domain() == "ai.onnx" {
            *import = OperatorSetIdProto {
                domain: import.domain.clone(),
                version: Some(to),
            };
        }
    }
    if model.ir_version() < 7 {
        model.ir_version = Some(7);
    }
    Ok(OpsetChange { from: found, to })
}
