//! An implicit engine's INT8 layers mapped back to the model, on real TensorRT 8.5.3 inspector
//! output for ResNet-18 (tests/fixtures/trt-8.5.3 of the workspace) and a graph with the node and
//! tensor names PyTorch's exporter gives ResNet-18 (the names the engine layers carry).

use std::path::{Path, PathBuf};

use trt_qdq::make::{graph, model, node, tensor_f32};
use trt_qdq::onnx::{ModelProto, NodeProto, TensorProto};
use trt_qdq::{engine_layers_from_json, map_engine, EngineMapping, Placement};

fn fixture(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/trt-8.5.3")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn out(node: &str) -> String {
    format!("{node}_output_0")
}

/// ResNet-18 as torch.onnx names it (weights are one-value stand-ins: only names matter here).
fn resnet18() -> ModelProto {
    let mut nodes: Vec<NodeProto> = Vec::new();
    let mut inits: Vec<TensorProto> = Vec::new();
    let mut add = |op: &str, name: &str, inputs: &[&str], weighted: bool| -> String {
        let mut ins: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        if weighted {
            let w = format!("{name}.weight");
            inits.push(tensor_f32(&w, &[1], &[1.0]));
            ins.push(w);
        }
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        let y = out(name);
        nodes.push(node(op, name, &ins, &[&y], vec![]));
        y
    };
    let x = add("Conv", "/conv1/Conv", &["input"], true);
    let x = add("Relu", "/relu/Relu", &[&x], false);
    let mut x = add("MaxPool", "/maxpool/MaxPool", &[&x], false);
    for layer in 1..=4 {
        for block in 0..2 {
            let p = format!("/layer{layer}/layer{layer}.{block}");
            let a = add("Conv", &format!("{p}/conv1/Conv"), &[&x], true);
            let a = add("Relu", &format!("{p}/relu/Relu"), &[&a], false);
            let a = add("Conv", &format!("{p}/conv2/Conv"), &[&a], true);
            let skip = if layer > 1 && block == 0 {
                add(
                    "Conv",
                    &format!("{p}/downsample/downsample.0/Conv"),
                    &[&x],
                    true,
                )
            } else {
                x.clone()
            };
            let s = add("Add", &format!("{p}/Add"), &[&a, &skip], false);
            x = add("Relu", &format!("{p}/relu_1/Relu"), &[&s], false);
        }
    }
    let x = add(
        "GlobalAveragePool",
        "/avgpool/GlobalAveragePool",
        &[&x],
        false,
    );
    let x = add("Flatten", "/flatten/Flatten", &[&x], false);
    let y = add("Gemm", "/fc/Gemm", &[&x], true);
    model(
        graph(
            "resnet18",
            nodes,
            inits,
            &[("input", &[1, 3, 224, 224])],
            &[(&y, &[1, 1000])],
        ),
        13,
    )
}

fn mapping(name: &str) -> EngineMapping {
    let layers = engine_layers_from_json(&fixture(name)).unwrap();
    map_engine(&resnet18(), &layers).unwrap()
}

#[test]
fn every_compute_node_of_the_plain_int8_resnet18_engine_ran_int8() {
    let m = mapping("resnet18-int8-plain.a.inspector.json");
    // 20 Conv (1 + 16 + 3 downsample), 17 Relu, 8 Add, MaxPool, GlobalAveragePool, Gemm: 48.
    // Flatten has no engine layer (TensorRT removed it), so it is not among them.
    assert_eq!(m.int8_compute_nodes.len(), 48, "{:?}", m.int8_compute_nodes);
    assert!(!m.int8_nodes.contains("/flatten/Flatten"));
    assert!(m.unmatched.is_empty(), "{:?}", m.unmatched);
    for n in [
        "/conv1/Conv",
        "/maxpool/MaxPool",
        "/layer2/layer2.0/Add",
        "/layer4/layer4.1/relu_1/Relu",
        "/avgpool/GlobalAveragePool",
        "/fc/Gemm",
    ] {
        assert!(m.int8_compute_nodes.contains(n), "{n}");
    }
}

#[test]
fn the_placement_is_the_activations_each_int8_layer_reads_from_outside() {
    let m = mapping("resnet18-int8-plain.a.inspector.json");
    let t = |s: &str| m.tensors.contains(s);
    // The graph input and the stem's output.
    assert!(t("input") && t("/maxpool/MaxPool_output_0"));
    // Inside a fused layer (Conv + Relu, Conv + Relu + MaxPool): not quantized.
    assert!(!t("/conv1/Conv_output_0") && !t("/relu/Relu_output_0"));
    assert!(!t("/layer1/layer1.0/conv1/Conv_output_0"));
    // A block's first conv reads the previous block's output; its second conv the ReLU.
    assert!(t("/layer1/layer1.0/relu/Relu_output_0"));
    assert!(t("/layer1/layer1.0/relu_1/Relu_output_0"));
    // A downsampling block: conv2 runs alone and the Add fuses with the downsample Conv, so
    // the Add's input that crosses layers is conv2's output (TensorRT's Q/DQ rule, from the
    // engine); the downsample Conv's own output stays inside.
    assert!(t("/layer2/layer2.0/conv2/Conv_output_0"));
    assert!(!t("/layer2/layer2.0/downsample/downsample.0/Conv_output_0"));
    assert_eq!(
        m.read_by["/layer2/layer2.0/conv2/Conv_output_0"],
        "/layer2/layer2.0/downsample/downsample.0/Conv + /layer2/layer2.0/Add + /layer2/layer2.0/relu_1/Relu"
    );
    // In blocks without downsampling conv2 fuses with the Add: the residual input crosses.
    assert!(!t("/layer1/layer1.0/conv2/Conv_output_0"));
    // The head: GlobalAveragePool reads the last block, the Gemm the (removed) Flatten's output.
    assert!(t("/layer4/layer4.1/relu_1/Relu_output_0"));
    assert!(t("/flatten/Flatten_output_0"));
    // Weights are never activations.
    assert!(!m.tensors.iter().any(|x| x.ends_with(".weight")));
    // input, maxpool, 8 blocks x (the inner relu, and the block output read by the next block
    // or the pool), 3 conv2 outputs of downsampling blocks, the flatten output.
    assert_eq!(m.tensors.len(), 2 + 8 * 2 + 3 + 1, "{:#?}", m.tensors);
    assert_eq!(m.placement(), Placement::Exactly(m.tensors.clone()));
}

#[test]
fn engines_built_twice_and_with_constraints_preferred_give_the_same_placement() {
    let a = mapping("resnet18-int8-plain.a.inspector.json");
    for other in [
        "resnet18-int8-plain.b.inspector.json",
        "resnet18-int8-prefer.a.inspector.json",
    ] {
        let b = mapping(other);
        assert_eq!(a.tensors, b.tensors, "{other}");
        assert_eq!(a.int8_compute_nodes, b.int8_compute_nodes, "{other}");
    }
}

#[test]
fn a_build_report_is_read_and_unusable_json_is_refused() {
    let report = r#"{"trt_build_report": 1, "layers": [
        {"name": "/conv1/Conv + /relu/Relu + /maxpool/MaxPool", "layer_type": "CaskConvActPool", "precision": "INT8"},
        {"name": "/layer1/layer1.0/conv1/Conv + /layer1/layer1.0/relu/Relu", "layer_type": "CaskConvolution", "precision": "FP32"},
        {"name": "Reformatting CopyNode for Input Tensor 0 to /fc/Gemm", "layer_type": "Reformat", "precision": "INT8"},
        {"name": "my_plugin", "layer_type": "PluginV2", "precision": "FP32"}
    ]}"#;
    let layers = engine_layers_from_json(report).unwrap();
    let m = map_engine(&resnet18(), &layers).unwrap();
    assert_eq!(
        m.tensors.iter().collect::<Vec<_>>(),
        ["input"],
        "only the INT8 stem reads from outside; a reformat is not a reader"
    );
    assert_eq!(m.int8_compute_nodes.len(), 3);
    assert_eq!(m.unmatched, ["my_plugin"]);
    // Every Conv but the stem's, and the Gemm, ran FP32 (or not at all) there.
    assert_eq!(m.float_weighted_nodes.len(), 20);
    assert!(!m.float_weighted_nodes.contains("/conv1/Conv"));
    assert!(mapping("resnet18-int8-plain.a.inspector.json")
        .float_weighted_nodes
        .is_empty());

    let e = engine_layers_from_json(r#"{"Layers": ["a", "b"]}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("none of its 2 layers has a precision"),
        "{e}"
    );
    let e = engine_layers_from_json(r#"{"x": 1}"#).unwrap_err();
    assert!(e.to_string().contains("neither a build report"), "{e}");
}

#[test]
fn a_myelin_region_covers_the_nodes_between_its_first_and_last() {
    let layers = engine_layers_from_json(
        r#"{"layers": [
        {"name": "{ForeignNode[/layer4/layer4.1/conv2/Conv.../fc/Gemm]}", "layer_type": "Myelin", "precision": "INT8"}
    ]}"#,
    )
    .unwrap();
    let m = map_engine(&resnet18(), &layers).unwrap();
    // conv2, Add, relu_1, GlobalAveragePool, Flatten, Gemm (Flatten moves data: not compute).
    assert_eq!(m.int8_nodes.len(), 6, "{:?}", m.int8_nodes);
    assert_eq!(m.int8_compute_nodes.len(), 5);
    // Read from outside the region: conv2's input and the Add's residual input.
    assert_eq!(
        m.tensors.iter().collect::<Vec<_>>(),
        [
            "/layer4/layer4.0/relu_1/Relu_output_0",
            "/layer4/layer4.1/relu/Relu_output_0"
        ]
    );
}

/// MTCNN's strict INT8 engine and the engine of its Q/DQ export, as the build reports of real
/// TensorRT 8.5.3 and 8.6.0 builds on the H200 list them (tests/fixtures/trt-*/mtcnn-*.json),
/// mapped to the model's names (tests/fixtures/mtcnn_rnet_onet.names.onnx: the graph with
/// one-value stand-ins for the weights). TensorRT fused each net's two heads side by side
/// (`rnet_dense_2 + ... + rnet_Add || rnet_dense_1 + ... + rnet_Add1`), and named NoOp squeezes
/// after the bias Adds (`copied_squeeze_after_rnet_Add1`), in different precisions per engine.
#[test]
fn mtcnn_implicit_and_explicit_engines_run_the_same_int8_nodes() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let model = trt_qdq::load_model(p.join("mtcnn_rnet_onet.names.onnx")).unwrap();
    for version in ["trt-8.5.3", "trt-8.6.0"] {
        let map = |name: &str| {
            let json = std::fs::read_to_string(p.join(version).join(name)).unwrap();
            map_engine(&model, &engine_layers_from_json(&json).unwrap()).unwrap()
        };
        let (a, b) = (
            map("mtcnn-strict.report.json"),
            map("mtcnn-qdq.report.json"),
        );
        assert_eq!(a.int8_compute_nodes, b.int8_compute_nodes, "{version}");
        // Every compute node: 7 Conv, 9 PRelu, 5 MaxPool, 7 MatMul and their 7 bias Adds (both
        // sides of each side-by-side fusion count; the Softmaxes run FP32 in both).
        assert_eq!(
            a.int8_compute_nodes.len(),
            35,
            "{version}: {:?}",
            a.int8_compute_nodes
        );
        for n in [
            "rnet_Add",
            "rnet_Add1",
            "onet_Add1",
            "rnet_dense_1",
            "onet_dense_6",
        ] {
            assert!(a.int8_compute_nodes.contains(n), "{version}: {n}");
        }
    }
}
