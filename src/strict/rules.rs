//! Strict INT8's rules: which layers to force and how, what to release, and the audit (the
//! module docs of `crate::strict` say why).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::{Fallback, LayerFilter};
use crate::error::Result;
use crate::inspector::EngineInspection;
use crate::network::{DataType, LayerInfo, Network};

/// Builds retried after releasing layers TensorRT could not implement in INT8.
pub(crate) const MAX_RETRIES: usize = 32;

/// Layer types that are never forced: shape/index/control computations and data movement of
/// constants. (Exact TensorRT `LayerType` names.)
pub const NEVER_FORCED: &[&str] = &[
    "CONSTANT",
    "SHAPE",
    "GATHER",
    "ASSERTION",
    "FILL",
    "TRIP_LIMIT",
    "ITERATOR",
    "LOOP_OUTPUT",
    "RECURRENCE",
    "CONDITION",
    "CONDITIONAL_INPUT",
    "CONDITIONAL_OUTPUT",
    "NON_ZERO",
    "ONE_HOT",
    "NMS",
    "TOPK",
    "SCATTER",
    "CAST",
    "PLUGIN",
    "PLUGIN_V2",
];

/// The skip reason of a layer the user keeps out of INT8 (`--exclude-layer`, `--exclude-type`).
pub const EXCLUDED_BY_USER: &str = "excluded by the user";

/// Which layers strict mode forces, and why the others are left alone.
#[derive(Clone, Debug, Default)]
pub struct StrictPlan {
    /// Indices of forced layers.
    pub forced: Vec<usize>,
    /// Forced layers that also read constant tensors (weights or biases that reach the layer
    /// as tensors, e.g. through PyTorch's `Identity` nodes): only their outputs are constrained
    /// to INT8. A compute-precision constraint would demand INT8 for those FP32 constant inputs
    /// too, which no kernel offers ("No supported formats", ResNet-18 on TensorRT 8.5.3); an
    /// INT8 activation in and INT8 out already leaves only INT8 kernels.
    pub outputs_only: HashSet<usize>,
    /// `(layer name, reason)` for layers not forced.
    pub skipped: Vec<(String, String)>,
    /// Indices of the layers the user keeps out of INT8 that would otherwise be forced: they
    /// are pinned to the fallback precision. Left unconstrained, TensorRT (INT8 on) is free to
    /// run them INT8 anyway, and did: EfficientNet-Lite0 on TensorRT 8.5.3 ran the excluded
    /// convolutions INT8 when they were left free.
    pub excluded: Vec<usize>,
}

/// Chooses the layers to force (see the module docs for the rules).
pub fn plan(network: &Network, exclude: &LayerFilter) -> Result<StrictPlan> {
    let layers = network.layers()?;
    let inputs: HashSet<String> = network.inputs()?.into_iter().map(|t| t.name).collect();
    Ok(plan_layers(&layers, &inputs, exclude))
}

/// [`plan`] on the network's layers (in definition order) and input names.
pub(crate) fn plan_layers(
    layers: &[LayerInfo],
    inputs: &HashSet<String>,
    exclude: &LayerFilter,
) -> StrictPlan {
    let constant_tensors = constant_tensors(layers, inputs);
    let mut plan = StrictPlan::default();
    for l in layers {
        let by_rule = skip_reason(l, &constant_tensors);
        let reason = if exclude.matches(&l.name, &l.kind) {
            if by_rule.is_none() {
                plan.excluded.push(l.index);
            }
            Some(EXCLUDED_BY_USER.to_string())
        } else {
            by_rule
        };
        match reason {
            None => {
                plan.forced.push(l.index);
                if l.inputs
                    .iter()
                    .flatten()
                    .any(|t| constant_tensors.contains(t))
                {
                    plan.outputs_only.insert(l.index);
                }
            }
            Some(r) => plan.skipped.push((l.name.clone(), r)),
        }
    }
    plan
}

/// Tensors computed only from constants (weights and what is derived from them).
pub(crate) fn constant_tensors(
    layers: &[LayerInfo],
    network_inputs: &HashSet<String>,
) -> HashSet<String> {
    let mut constant: HashSet<String> = HashSet::new();
    // Layers are in topological order in a parsed network; one pass suffices, two are cheap insurance.
    for _ in 0..2 {
        for l in layers {
            let all_const = l
                .inputs
                .iter()
                .flatten()
                .all(|t| constant.contains(t) && !network_inputs.contains(t));
            // A layer without inputs (CONSTANT, or a FILL with static dimensions, which is how
            // TensorRT imports ONNX ConstantOfShape weights) produces a constant.
            if l.kind == "CONSTANT" || all_const {
                constant.extend(l.outputs.iter().map(|(n, _)| n.clone()));
            }
        }
    }
    constant
}

/// Why the rules leave `l` unforced (user exclusions aside), or `None` to force it.
fn skip_reason(l: &LayerInfo, constant: &HashSet<String>) -> Option<String> {
    if NEVER_FORCED.contains(&l.kind.as_str()) {
        return Some(format!(
            "{} layers compute shapes, indices or constants",
            l.kind
        ));
    }
    if l.outputs.iter().all(|(n, _)| constant.contains(n)) {
        return Some("computes on constants only (weights); TensorRT folds it".into());
    }
    if l.outputs
        .iter()
        .any(|(_, t)| !t.is_float() && *t != DataType::Int8)
    {
        return Some("produces non-float (index or shape) tensors".into());
    }
    None
}

fn fallback_type(fallback: Fallback) -> DataType {
    match fallback {
        Fallback::Fp32 => DataType::Float,
        Fallback::Fp16 => DataType::Half,
    }
}

fn network_outputs(network: &Network) -> Result<HashMap<String, DataType>> {
    Ok(network
        .outputs()?
        .into_iter()
        .map(|t| (t.name, t.dtype))
        .collect())
}

/// Constrains layer `index` to `precision`; its float outputs get `precision` too, except
/// network outputs, which keep their declared type.
fn constrain(
    network: &mut Network,
    l: &LayerInfo,
    precision: DataType,
    outputs: &HashMap<String, DataType>,
) -> Result<()> {
    network.set_layer_precision(l.index, precision)?;
    for (o, (name, dtype)) in l.outputs.iter().enumerate() {
        match outputs.get(name) {
            Some(declared) => network.set_strict_output_type(l.index, o, *declared)?,
            None if dtype.is_float() => network.set_strict_output_type(l.index, o, precision)?,
            None => {}
        }
    }
    Ok(())
}

/// Applies the plan: forced layers compute INT8 and their float outputs are INT8 too, except
/// network outputs, which keep their declared type (`outputs_only` layers get only the output
/// types). Excluded layers compute in `fallback`, their float outputs too. A layer outside the
/// plan that an earlier plan constrained (a precision or output types set on the same network)
/// has both reset.
pub fn apply(network: &mut Network, plan: &StrictPlan, fallback: Fallback) -> Result<()> {
    let outputs = network_outputs(network)?;
    let forced: HashSet<usize> = plan.forced.iter().copied().collect();
    let excluded: HashSet<usize> = plan.excluded.iter().copied().collect();
    for l in network.layers()? {
        if excluded.contains(&l.index) {
            constrain(network, &l, fallback_type(fallback), &outputs)?;
        } else if plan.outputs_only.contains(&l.index) {
            if l.precision_is_set {
                network.reset_layer_precision(l.index)?;
            }
            for (o, (name, dtype)) in l.outputs.iter().enumerate() {
                match outputs.get(name) {
                    Some(declared) => network.set_strict_output_type(l.index, o, *declared)?,
                    None if dtype.is_float() => {
                        network.set_strict_output_type(l.index, o, DataType::Int8)?
                    }
                    None => {}
                }
            }
        } else if forced.contains(&l.index) {
            constrain(network, &l, DataType::Int8, &outputs)?;
        } else if l.precision_is_set || network.has_strict_output_types(l.index) {
            if l.precision_is_set {
                network.reset_layer_precision(l.index)?;
            }
            network.reset_output_types(l.index, l.outputs.len())?;
        }
    }
    Ok(())
}

/// Takes the named layers out of the forced set and pins them to the fallback precision, so
/// their precision cannot change between builds either.
pub(crate) fn release(
    network: &mut Network,
    plan: &mut StrictPlan,
    layers: &[(String, String)],
    fallback: Fallback,
) -> Result<()> {
    let outputs = network_outputs(network)?;
    for (name, _) in layers {
        let mut found = None;
        for (pos, &i) in plan.forced.iter().enumerate() {
            if network.layer(i)?.name == *name {
                found = Some(pos);
                break;
            }
        }
        if let Some(pos) = found {
            let index = plan.forced.remove(pos);
            let l = network.layer(index)?;
            constrain(network, &l, fallback_type(fallback), &outputs)?;
        }
    }
    Ok(())
}

const CARRIED: &str = " (released by an earlier build)";

/// The releases of an earlier build (`known`) that apply to this plan: those of its `forced`
/// layers, each reason marked as carried over.
pub(crate) fn carried_releases(
    forced: &[String],
    known: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, why) in known {
        if forced.contains(name) && !out.iter().any(|(n, _)| n == name) {
            let why = if why.ends_with(CARRIED) {
                why.clone()
            } else {
                format!("{why}{CARRIED}")
            };
            out.push((name.clone(), why));
        }
    }
    out
}

/// Forced layers with a float output that has no INT8 scale: not in the calibration table and
/// no dynamic range set. TensorRT cannot write such a tensor in INT8 ("Missing scale and
/// zero-point for tensor ...", a build error when the constraints are obeyed), so these layers
/// are released, each with the tensor that lacks its scale. Network outputs keep their declared
/// type and need no scale.
pub(crate) fn unscaled(
    network: &Network,
    plan: &StrictPlan,
    scaled: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, String)>> {
    let outputs = network_outputs(network)?;
    let mut found = Vec::new();
    for &i in &plan.forced {
        let l = network.layer(i)?;
        if let Some((tensor, _)) = l
            .outputs
            .iter()
            .find(|(t, dtype)| dtype.is_float() && !outputs.contains_key(t) && !scaled(t))
        {
            found.push((
                l.name,
                format!("its output `{tensor}` has no scale in the calibration table"),
            ));
        }
    }
    Ok(found)
}

/// `Int8` mode with exclusions: keep the named layers in the fallback precision (preferred).
pub fn keep_out(network: &mut Network, filter: &LayerFilter, fallback: Fallback) -> Result<()> {
    let outputs = network_outputs(network)?;
    for l in network.layers()? {
        if filter.matches(&l.name, &l.kind) && !NEVER_FORCED.contains(&l.kind.as_str()) {
            constrain(network, &l, fallback_type(fallback), &outputs)?;
        }
    }
    Ok(())
}

/// The forced layers TensorRT names in its error messages, each with the message: by layer
/// name, or through a tensor it names ("Missing scale and zero-point for tensor X"): the forced
/// layer that produces it, else the forced layers that read it.
pub(crate) fn failing_layers(
    network: &Network,
    plan: &StrictPlan,
    messages: &[String],
) -> Result<Vec<(String, String)>> {
    let forced: Vec<LayerInfo> = plan
        .forced
        .iter()
        .map(|&i| network.layer(i))
        .collect::<Result<_>>()?;
    let mut failing: Vec<(String, String)> = Vec::new();
    let mut add = |l: &LayerInfo, m: &String| {
        if !failing.iter().any(|(n, _)| *n == l.name) {
            failing.push((l.name.clone(), m.clone()));
        }
    };
    for m in messages {
        let mut named = false;
        for l in forced.iter().filter(|l| mentions(m, &l.name)) {
            add(l, m);
            named = true;
        }
        if named {
            continue;
        }
        let producers: Vec<&LayerInfo> = forced
            .iter()
            .filter(|l| l.outputs.iter().any(|(t, _)| mentions(m, t)))
            .collect();
        if !producers.is_empty() {
            producers.into_iter().for_each(|l| add(l, m));
            continue;
        }
        for l in forced
            .iter()
            .filter(|l| l.inputs.iter().flatten().any(|t| mentions(m, t)))
        {
            add(l, m);
        }
    }
    Ok(failing)
}

/// Does a TensorRT message name this layer (alone, inside a fused "a + b" name, or behind a
/// prefix TensorRT gives rewritten layers, such as "copied_squeeze_after_")?
fn mentions(message: &str, layer: &str) -> bool {
    let bytes = message.as_bytes();
    let boundary = |c: u8| {
        matches!(
            c,
            b' ' | b':' | b'\'' | b'"' | b'[' | b']' | b'(' | b')' | b',' | b'\n'
        )
    };
    message.match_indices(layer).any(|(at, _)| {
        let before = if at == 0 { b' ' } else { bytes[at - 1] };
        let end = at + layer.len();
        let after = if end >= bytes.len() { b' ' } else { bytes[end] };
        // A full stop ends the name only when a space or the end follows ("tensor X. Tensor
        // scale ..."): names such as `layer1.0` contain dots.
        let full_stop = after == b'.' && bytes.get(end + 1).is_none_or(|c| c.is_ascii_whitespace());
        (boundary(before) || before == b'_') && (boundary(after) || full_stop)
    })
}

/// One layer in the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedLayer {
    /// The network layer's name.
    pub name: String,
    /// Its TensorRT `LayerType` name (`CONVOLUTION`, `SHUFFLE`, ...).
    pub kind: String,
    /// Strict mode constrained it to INT8 (and it was not released afterwards).
    pub forced: bool,
    /// The engine layer that computes it (`None`: folded or fused away without a trace).
    pub engine_layer: Option<String>,
    /// The precision that engine layer runs (`INT8`, `FP32`, ...); `None` when there is no
    /// such layer or the engine was built without detailed profiling.
    pub precision: Option<String>,
}

/// A forced layer that did not run INT8.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The forced network layer.
    pub layer: String,
    /// The engine layer that computes it (fused names joined by " + ").
    pub engine_layer: String,
    /// The precision it ran instead of INT8 (`FP32`, `FP16`, ...).
    pub precision: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ran {} (engine layer `{}`)",
            self.layer, self.precision, self.engine_layer
        )
    }
}

/// What strict mode forced and what the engine actually runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrictReport {
    /// Every network layer, in definition order.
    pub layers: Vec<AuditedLayer>,
    /// `(layer name, reason)` for layers not forced (rules, user exclusions).
    pub skipped: Vec<(String, String)>,
    /// `(layer name, reason)` for layers forced at first, then pinned to the fallback precision
    /// because TensorRT has no INT8 implementation for them under the constraints (the reason:
    /// TensorRT's error, the precision a probe build ran, or a missing scale).
    pub released: Vec<(String, String)>,
    /// Forced layers whose engine layer runs another known precision than INT8. A strict build
    /// fails with them unless violations are allowed, so a build's report has none otherwise.
    pub violations: Vec<Violation>,
    /// Layers kept out of INT8 (pinned to the fallback) that the engine still runs INT8: a
    /// constraint TensorRT did not keep (expected empty: with the constraints obeyed TensorRT
    /// keeps them or fails the build).
    #[serde(default)]
    pub excluded_int8: Vec<Violation>,
    /// Forced layers found in the engine running INT8.
    pub forced_int8: usize,
    /// Engine compute layers (reformats and constants excluded) per precision.
    pub engine_precisions: std::collections::BTreeMap<String, usize>,
}

/// Checks every forced layer against the engine.
pub fn audit(
    network: &Network,
    plan: &StrictPlan,
    released: &[(String, String)],
    engine: &EngineInspection,
) -> Result<StrictReport> {
    let forced: HashSet<usize> = plan.forced.iter().copied().collect();
    let excluded: HashSet<usize> = plan.excluded.iter().copied().collect();
    let mut layers = Vec::new();
    let mut violations = Vec::new();
    let mut excluded_int8 = Vec::new();
    let mut forced_int8 = 0;
    for l in network.layers()? {
        let is_forced = forced.contains(&l.index);
        let found = engine.find_network_layer(&l.name);
        let precision = found.and_then(|e| e.precision.clone());
        if let (true, Some(e), Some("INT8")) =
            (excluded.contains(&l.index), found, precision.as_deref())
        {
            excluded_int8.push(Violation {
                layer: l.name.clone(),
                engine_layer: e.name.clone(),
                precision: "INT8".into(),
            });
        }
        if let (true, Some(e)) = (is_forced, found) {
            match precision.as_deref() {
                Some("INT8") => forced_int8 += 1,
                Some(p) => violations.push(Violation {
                    layer: l.name.clone(),
                    engine_layer: e.name.clone(),
                    precision: p.into(),
                }),
                None => {}
            }
        }
        layers.push(AuditedLayer {
            name: l.name,
            kind: l.kind,
            forced: is_forced,
            engine_layer: found.map(|e| e.name.clone()),
            precision,
        });
    }
    Ok(StrictReport {
        layers,
        skipped: plan.skipped.clone(),
        released: released.to_vec(),
        violations,
        excluded_int8,
        forced_int8,
        engine_precisions: engine.precision_counts(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_respects_name_boundaries() {
        let m = "2: [optimizer.cpp::computeCosts::3728] Error Code 2: No supported formats for /layer1/layer1.0/conv1/Conv + /layer1/layer1.0/relu/Relu";
        assert!(mentions(m, "/layer1/layer1.0/conv1/Conv"));
        assert!(mentions(m, "/layer1/layer1.0/relu/Relu"));
        assert!(!mentions(m, "/layer1/layer1.0/conv1"));
        assert!(!mentions(m, "layer1.0/conv1/Conv"));
    }

    fn layer(index: usize, kind: &str, inputs: &[&str], output: &str) -> LayerInfo {
        LayerInfo {
            index,
            name: format!("{kind}_{index}"),
            kind: kind.into(),
            precision: DataType::Float,
            precision_is_set: false,
            inputs: inputs.iter().map(|t| Some(t.to_string())).collect(),
            outputs: vec![(output.into(), DataType::Float)],
        }
    }

    #[test]
    fn weights_made_by_fill_layers_are_constants() {
        // ONNX ConstantOfShape with a static shape: a FILL layer without inputs, reshaped before
        // the Gemm (the `onnx` wheel's light_resnet50 builds its classifier this way).
        let layers = vec![
            layer(0, "CONVOLUTION", &["data"], "conv"),
            layer(1, "FILL", &[], "fc_w"),
            layer(2, "SHUFFLE", &["fc_w"], "fc_w_t"),
            layer(3, "SHUFFLE", &["conv"], "flat"),
            layer(4, "MATRIX_MULTIPLY", &["flat", "fc_w_t"], "fc"),
        ];
        let inputs: HashSet<String> = ["data".to_string()].into();
        let constant = constant_tensors(&layers, &inputs);
        let mut names: Vec<&str> = constant.iter().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["fc_w", "fc_w_t"]);
        assert!(skip_reason(&layers[2], &constant)
            .unwrap()
            .contains("constants only"));
        assert_eq!(skip_reason(&layers[3], &constant), None);
        assert_eq!(skip_reason(&layers[4], &constant), None);
    }

    /// A conv -> clip -> conv chain with constant weights: the user keeps `CONVOLUTION_2` and
    /// the weights' constant out. Only the conv is pinned to the fallback (a layer that would
    /// have been forced), the constant stays a plain skip; nothing excluded is forced.
    #[test]
    fn excluded_layers_that_would_be_forced_are_pinned() {
        let layers = vec![
            layer(0, "CONVOLUTION", &["data"], "c0"),
            layer(1, "ACTIVATION", &["c0"], "a1"),
            layer(2, "CONVOLUTION", &["a1"], "c2"),
            layer(3, "CONSTANT", &[], "w"),
            layer(4, "ELEMENTWISE", &["c2", "w"], "y"),
        ];
        let inputs: HashSet<String> = ["data".to_string()].into();
        let filter = LayerFilter {
            names: vec!["CONVOLUTION_2".into(), "CONSTANT_3".into()],
            types: vec![],
        };
        let p = plan_layers(&layers, &inputs, &filter);
        assert_eq!(p.excluded, [2]);
        assert_eq!(p.forced, [0, 1, 4]);
        assert_eq!(p.outputs_only.iter().copied().collect::<Vec<_>>(), [4]);
        let why: Vec<(&str, &str)> = p
            .skipped
            .iter()
            .map(|(n, r)| (n.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            why,
            [
                ("CONVOLUTION_2", EXCLUDED_BY_USER),
                ("CONSTANT_3", EXCLUDED_BY_USER)
            ]
        );
        // By type: every activation, and nothing else.
        let by_type = LayerFilter {
            names: vec![],
            types: vec!["activation".into()],
        };
        let p = plan_layers(&layers, &inputs, &by_type);
        assert_eq!((p.excluded, p.forced), (vec![1], vec![0, 2, 4]));
        // No filter: nothing excluded.
        assert!(plan_layers(&layers, &inputs, &LayerFilter::default())
            .excluded
            .is_empty());
    }

    #[test]
    fn an_earlier_builds_releases_apply_to_forced_layers_only_once_each() {
        let forced = ["/ReduceMean".to_string(), "/fc/Gemm".to_string()];
        let known = [
            (
                "/fc/Gemm".to_string(),
                "ran FP32 in the enforced build".to_string(),
            ),
            // Kept out by the user in this build, so not forced: nothing to release.
            (
                "/conv1/Conv".to_string(),
                "ran FP32 in the enforced build".to_string(),
            ),
            ("/fc/Gemm".to_string(), "again".to_string()),
            (
                "/ReduceMean".to_string(),
                "No supported formats (released by an earlier build)".to_string(),
            ),
        ];
        assert_eq!(
            carried_releases(&forced, &known),
            [
                (
                    "/fc/Gemm".to_string(),
                    "ran FP32 in the enforced build (released by an earlier build)".to_string()
                ),
                (
                    "/ReduceMean".to_string(),
                    "No supported formats (released by an earlier build)".to_string()
                ),
            ]
        );
        assert!(carried_releases(&forced, &[]).is_empty());
    }

    #[test]
    fn mentions_sees_a_tensor_at_the_end_of_a_sentence() {
        // TensorRT 8.5.3, strict INT8 on an ONNX-zoo ResNet-50 (Caffe2 export, opset 9).
        let m = "4: [standardEngineBuilder.cpp::initCalibrationParams::1460] Error Code 4: Internal Error (Missing scale and zero-point for tensor (Unnamed Layer* 1832) [Shuffle]_output. Tensor scale and zero-point must be known when output type constraint for a tensor is set to int8 and BuilderFlag::kSTRICT_TYPES flag is set.)";
        assert!(mentions(m, "(Unnamed Layer* 1832) [Shuffle]_output"));
        assert!(!mentions(m, "(Unnamed Layer* 1832) [Shuffle]"));
        assert!(!mentions(m, "(Unnamed Layer* 183) [Shuffle]_output"));
        assert!(!mentions("layer /layer1.0/conv", "/layer1"));
    }

    #[test]
    fn mentions_sees_rewritten_layer_names() {
        // TensorRT 8.5.3 on our Fashion-MNIST net, strict INT8 (before network outputs kept their type).
        let m = "2: [optimizer.cpp::filterPTQFormats::4442] Error Code 2: Internal Error (Assertion !n->candidateRequirements.empty() failed. copied_squeeze_after_(Unnamed Layer* 17) [ElementWise] requires output to be in floating point precision. No format available with unquantized output.";
        assert!(mentions(m, "(Unnamed Layer* 17) [ElementWise]"));
        assert!(!mentions(m, "(Unnamed Layer* 1) [ElementWise]"));
    }
}
