//! Inserting the Q/DQ pairs into a copy of the graph, in topological order.

use std::collections::{HashMap, HashSet};

use crate::graph::Index;
use crate::make;
use crate::onnx::{GraphProto, NodeProto, TensorProto};

/// A Q/DQ pair to insert: `tensor -> QuantizeLinear -> DequantizeLinear -> dq`.
pub(crate) struct Pair {
    pub tensor: String,
    /// The dequantized tensor's name.
    pub dq: String,
    nodes: [NodeProto; 2],
    constants: [TensorProto; 2],
}

/// Makes names that the graph does not use yet.
pub(crate) struct Names(HashSet<String>);

impl Names {
    pub fn new(ix: &Index) -> Self {
        Self(ix.names.clone())
    }

    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut n = 1;
        while self.0.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.0.insert(name.clone());
        name
    }
}

impl Pair {
    /// A pair for `tensor` with int8 zero points 0; per channel when `axis` is given.
    pub fn new(names: &mut Names, tensor: &str, scales: Vec<f32>, axis: Option<usize>) -> Self {
        let scale_name = names.fresh(&format!("{tensor}_scale"));
        let zero_name = names.fresh(&format!("{tensor}_zero_point"));
        let q = names.fresh(&format!("{tensor}_quantized"));
        let dq = names.fresh(&format!("{tensor}_dequantized"));
        let dims: Vec<i64> = match axis {
            Some(_) => vec![scales.len() as i64],
            None => vec![],
        };
        let zeros = vec![0i8; scales.len()];
        let attrs = || {
            axis.map(|a| make::attr_int("axis", a as i64))
                .into_iter()
                .collect()
        };
        let inputs = [tensor, scale_name.as_str(), zero_name.as_str()];
        let quantize = make::node(
            "QuantizeLinear",
            &names.fresh(&format!("{tensor}_QuantizeLinear")),
            &inputs,
            &[q.as_str()],
            attrs(),
        );
        let dequantize = make::node(
            "DequantizeLinear",
            &names.fresh(&format!("{tensor}_DequantizeLinear")),
            &[q.as_str(), scale_name.as_str(), zero_name.as_str()],
            &[dq.as_str()],
            attrs(),
        );
        Self {
            tensor: tensor.to_owned(),
            constants: [
                make::tensor_f32(&scale_name, &dims, &scales),
                make::tensor_i8(&zero_name, &dims, &zeros),
            ],
            nodes: [quantize, dequantize],
            dq,
        }
    }
}

/// Where a pair reads from, and which node inputs it feeds.
pub(crate) struct Insertion {
    pub pair: Pair,
    pub readers: Vec<(usize, usize)>,
}

/// `graph` with each insertion's pair placed right after the node that writes its tensor (at the
/// start for graph inputs and initializers), and its readers rewired to the dequantized tensor.
pub(crate) fn rewrite(ix: &Index, insertions: Vec<Insertion>) -> GraphProto {
    let mut graph = ix.graph.clone();
    let mut after: HashMap<Option<usize>, Vec<NodeProto>> = HashMap::new();
    for Insertion { pair, readers } in insertions {
        for (node, slot) in readers {
            graph.node[node].input[slot] = pair.dq.clone();
        }
        let at = ix.producer.get(pair.tensor.as_str()).copied();
        after.entry(at).or_default().extend(pair.nodes);
        graph.initializer.extend(pair.constants);
    }
    let old = std::mem::take(&mut graph.node);
    let mut nodes = after.remove(&None).unwrap_or_default();
    for (i, node) in old.into_iter().enumerate() {
        nodes.push(node);
        nodes.extend(after.remove(&Some(i)).unwrap_or_default());
    }
    graph.node = nodes;
    graph
}
