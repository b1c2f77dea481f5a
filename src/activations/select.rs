//! Which tensors to collect: the network's float inputs and activations, or the named ones,
//! every name checked (unknown names with the closest known ones).

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::network::{LayerInfo, TensorInfo};
use crate::strict::rules::constant_tensors;

/// The tensors to collect: float inputs (from the batches) and activations (engine outputs).
#[derive(Debug, PartialEq)]
pub(super) struct Selection {
    pub inputs: Vec<String>,
    pub activations: Vec<String>,
}

/// Float network inputs and float outputs of layers on the activation path, in network order:
/// not constants, nor what is computed from constants only (the Shuffle TensorRT's ONNX parser
/// puts on a Gemm's weights is one: its values are the same for every batch). With `wanted`,
/// only those (every name checked).
pub(super) fn select(
    inputs: &[TensorInfo],
    layers: &[LayerInfo],
    wanted: Option<&[String]>,
) -> Result<Selection> {
    let float_inputs: Vec<&str> = inputs
        .iter()
        .filter(|t| t.dtype.is_float())
        .map(|t| t.name.as_str())
        .collect();
    let input_names: HashSet<String> = inputs.iter().map(|t| t.name.clone()).collect();
    let constant = constant_tensors(layers, &input_names);
    let activations: Vec<&str> = layers
        .iter()
        .filter(|l| l.kind != "CONSTANT")
        .flat_map(|l| l.outputs.iter())
        .filter(|(n, dtype)| dtype.is_float() && !constant.contains(n))
        .map(|(n, _)| n.as_str())
        .collect();
    let Some(wanted) = wanted else {
        return Ok(Selection {
            inputs: float_inputs.iter().map(|s| s.to_string()).collect(),
            activations: activations.iter().map(|s| s.to_string()).collect(),
        });
    };
    if wanted.is_empty() {
        return Err(Error::Invalid(
            "no tensor named to collect: name at least one, or collect every activation".into(),
        ));
    }
    let mut problems = Vec::new();
    for name in wanted {
        if float_inputs.contains(&name.as_str()) || activations.contains(&name.as_str()) {
            continue;
        }
        let input = inputs.iter().find(|t| &t.name == name);
        let output = layers
            .iter()
            .find_map(|l| l.outputs.iter().find(|(n, _)| n == name).map(|o| (l, o.1)));
        problems.push(match (input, output) {
            (Some(t), _) => format!("`{name}` is a {:?} input, not a float one", t.dtype),
            (None, Some((l, _))) if l.kind == "CONSTANT" => {
                format!(
                    "`{name}` is the output of constant layer `{}` (weights, not an activation)",
                    l.name
                )
            }
            (None, Some((l, _))) if constant.contains(name) => {
                format!(
                    "`{name}` is computed by layer `{}` from constants only (weights, the same for every batch)",
                    l.name
                )
            }
            (None, Some((l, dtype))) => {
                format!(
                    "`{name}` is a {dtype:?} output of layer `{}`, not a float activation",
                    l.name
                )
            }
            (None, None) => {
                let all = inputs.iter().map(|t| t.name.as_str()).chain(
                    layers
                        .iter()
                        .flat_map(|l| l.outputs.iter().map(|o| o.0.as_str())),
                );
                let close = closest(name, all, 3);
                if close.is_empty() {
                    format!("`{name}` is not a tensor of the network")
                } else {
                    format!(
                        "`{name}` is not a tensor of the network (closest: {})",
                        close
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
        });
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "cannot collect {} of the tensors asked for: {}; the network has {} float input(s) \
             and {} float activation(s) (Network::layers lists them)",
            problems.len(),
            problems.join("; "),
            float_inputs.len(),
            activations.len()
        )));
    }
    let keep = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| wanted.iter().any(|w| w == *n))
            .map(|s| s.to_string())
            .collect()
    };
    Ok(Selection {
        inputs: keep(&float_inputs),
        activations: keep(&activations),
    })
}

/// Up to `n` of `names` closest to `name` (edit distance, ignoring case; names containing it or
/// contained in it first), nearest first; none farther than a third of `name`'s length.
pub(super) fn closest<'a>(
    name: &str,
    names: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let limit = (lower.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|c| {
            let cl = c.to_lowercase();
            let d = if cl.contains(&lower) || lower.contains(&cl) {
                0
            } else {
                distance(&lower, &cl)
            };
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// Levenshtein distance, by characters.
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
