//! Export on small graphs built in the test: scales, zero points and placement, tensor by tensor.

mod common;

use common::*;
use trt_calib_table::CalibrationTable;
use trt_qdq::{make, Placement, QdqError, QdqExport};

/// max|w| / 127 of each row of a row-major `[rows, inner]` view (axis 0).
fn row_scales(w: &[f32], rows: usize) -> Vec<f32> {
    let inner = w.len() / rows;
    (0..rows)
        .map(|r| {
            w[r * inner..(r + 1) * inner]
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                / 127.0
        })
        .collect()
}

/// max|w| / 127 of each column of a row-major `[rows, cols]` matrix (axis 1).
fn column_scales(w: &[f32], cols: usize) -> Vec<f32> {
    (0..cols)
        .map(|c| {
            w.iter()
                .skip(c)
                .step_by(cols)
                .fold(0f32, |m, v| m.max(v.abs()))
                / 127.0
        })
        .collect()
}

fn table_scale(table: &CalibrationTable, t: &str) -> f32 {
    table.get(t).unwrap().scale
}

#[test]
fn default_placement_puts_table_scales_on_compute_inputs_and_keeps_fusions() {
    let (model, table) = (block_model(13), block_table());
    let (qdq, report) = QdqExport::new(&model, &table).export().unwrap();
    let g = graph_of(&qdq);

    // Activation inputs of Conv/Gemm/MatMul: the table's scale, zero point 0 (int8), per tensor.
    for (node, tensor) in [
        ("conv1", "x"),
        ("conv2", "r1"),
        ("conv3", "r2"),
        ("conv4", "r2"),
    ]
    .into_iter()
    .chain([("gemm", "f"), ("matmul", "g")])
    {
        let q = quantizer_of(g, node, 0).unwrap_or_else(|| panic!("{node} input has no Q/DQ"));
        assert_eq!(q.input[0], tensor);
        let (scale, zero) = scale_and_zero(g, q);
        assert_eq!(scale, [table_scale(&table, tensor)], "{node} <- {tensor}");
        assert_eq!(zero, [0]);
        assert_eq!(axis_of(q), None);
        assert!(
            init(g, &q.input[1]).dims.is_empty(),
            "per-tensor scale is a scalar"
        );
    }

    // No Q/DQ between a Conv and its ReLU, nor between relu1 and the Relu input.
    assert_eq!(node_named(g, "relu1").input, ["c1"]);
    assert_eq!(node_named(g, "relu2").input, ["a"]);
    assert!(g
        .node
        .iter()
        .all(|n| n.op_type() != "QuantizeLinear" || n.input[0] != "c1"));

    // Residual Add: conv2's output fuses into the Add and stays float; the skip input r1 is
    // quantized, through the same pair that feeds conv2.
    let add = node_named(g, "add");
    assert_eq!(add.input[0], "c2");
    let skip = quantizer_of(g, "add", 1).expect("the residual input is quantized");
    assert_eq!(skip.input[0], "r1");
    assert_eq!(
        add.input[1],
        node_named(g, "conv2").input[0],
        "one pair for r1"
    );
    assert_eq!(scale_and_zero(g, skip).0, [table_scale(&table, "r1")]);

    // Concat: both inputs share one scale, the larger of the two table scales.
    let shared = table_scale(&table, "c3").max(table_scale(&table, "c4"));
    assert!(table_scale(&table, "c3") != table_scale(&table, "c4"));
    for slot in 0..2 {
        let q = quantizer_of(g, "concat", slot).unwrap();
        assert_eq!(scale_and_zero(g, q), (vec![shared], vec![0]));
    }
    let c3 = report
        .activations
        .iter()
        .find(|a| a.tensor == "c3")
        .unwrap();
    assert_eq!(
        (c3.scale, c3.table_scale),
        (shared, table_scale(&table, "c3"))
    );

    // Weights: per output channel, max|w|/127 computed here from the model's own values.
    let w = |name: &str| init(graph_of(&model), name).float_data.clone();
    let expected = [
        ("conv1", 0, row_scales(&w("w1"), 4)),
        ("conv2", 0, row_scales(&w("w2"), 4)),
        ("conv3", 0, row_scales(&w("w3"), 2)),
        ("conv4", 0, row_scales(&w("w4"), 3)),
        ("gemm", 0, row_scales(&w("wg"), 6)), // transB = 1: wg is [N, K]
        ("matmul", 1, column_scales(&w("wm"), 3)), // wm is [K, N]
    ];
    for (node, axis, scales) in expected {
        let q = quantizer_of(g, node, 1).unwrap_or_else(|| panic!("{node} weight has no Q/DQ"));
        assert_eq!(axis_of(q), Some(axis), "{node}");
        let (got, zero) = scale_and_zero(g, q);
        assert_eq!(got, scales, "{node}");
        assert_eq!(zero, vec![0; scales.len()]);
        assert!(
            scales.windows(2).any(|p| p[0] != p[1]),
            "{node}: channels differ"
        );
    }
    // The biases stay float.
    assert_eq!(node_named(g, "conv1").input[2], "b1");
    assert_eq!(node_named(g, "gemm").input[2], "bg");

    // 7 activation pairs (x, r1, r2, c3, c4, f, g) and 6 weight pairs; nothing else added.
    let count = |op: &str| g.node.iter().filter(|n| n.op_type() == op).count();
    assert_eq!(
        (count("QuantizeLinear"), count("DequantizeLinear")),
        (13, 13)
    );
    assert_eq!(report.activations.len(), 7);
    assert_eq!(report.weights.len(), 6);
    assert_eq!(report.table_coverage, (13, 14));

    // The report lists every table tensor left out, with why.
    let reason = |t: &str| {
        let u = report.unplaced.iter().find(|u| u.tensor == t);
        u.unwrap_or_else(|| panic!("{t} not in the report"))
            .reason
            .clone()
    };
    let unplaced: Vec<&str> = report.unplaced.iter().map(|u| u.tensor.as_str()).collect();
    assert_eq!(
        unplaced,
        [
            "c1",
            "c2",
            "a",
            "cat",
            "p",
            "y",
            "(Unnamed Layer* 9) [Shuffle]_output"
        ]
    );
    assert!(
        reason("(Unnamed Layer* 9) [Shuffle]_output").contains("not a tensor of the ONNX model")
    );
    assert!(reason("c2").contains("fuses into residual Add `add` with its producer `conv2`"));
    assert!(reason("c1").contains("Relu `relu1`"), "{}", reason("c1"));
    assert!(reason("cat").contains("GlobalAveragePool `pool`"));
    assert!(reason("y").contains("no node reads it"));
}

#[test]
fn exclusions_leave_nodes_and_their_weights_float() {
    let (model, table) = (block_model(13), block_table());
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_exclusions(["conv3", "gemm"])
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    assert_eq!(node_named(g, "conv3").input, ["r2", "w3"]);
    assert_eq!(node_named(g, "gemm").input, ["f", "wg", "bg"]);
    // conv4 still reads r2 through a pair, and its weight is quantized.
    assert_eq!(quantizer_of(g, "conv4", 0).unwrap().input[0], "r2");
    assert!(quantizer_of(g, "conv4", 1).is_some());
    assert_eq!(report.excluded, ["conv3", "gemm"]);
    let f = report.unplaced.iter().find(|u| u.tensor == "f").unwrap();
    assert_eq!(f.reason, "read by excluded node `gemm`");

    let err = QdqExport::new(&model, &table)
        .with_exclusions(["conv_3"])
        .export()
        .unwrap_err();
    assert!(matches!(err, QdqError::UnknownExclusion { .. }));
    let message = err.to_string();
    assert!(
        message.starts_with("no node named `conv_3` to exclude; close names: `conv3`"),
        "{message}"
    );
}

#[test]
fn explicit_placement_quantizes_exactly_the_tensors_named() {
    let (model, table) = (block_model(13), block_table());
    let placement = Placement::parse_list("# from the implicit engine\nr1\n\n  cat  \n");
    assert_eq!(placement, Placement::exactly(["cat", "r1"]));
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_placement(placement)
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    let placed: Vec<(&str, f32)> = report
        .activations
        .iter()
        .map(|a| (a.tensor.as_str(), a.scale))
        .collect();
    assert_eq!(
        placed,
        [
            ("r1", table_scale(&table, "r1")),
            ("cat", table_scale(&table, "cat"))
        ]
    );
    assert_eq!(quantizer_of(g, "conv2", 0).unwrap().input[0], "r1");
    assert_eq!(quantizer_of(g, "add", 1).unwrap().input[0], "r1");
    assert_eq!(quantizer_of(g, "pool", 0).unwrap().input[0], "cat");
    assert!(
        quantizer_of(g, "conv1", 0).is_none(),
        "x is not in the placement"
    );
    assert_eq!(report.weights.len(), 6, "weights are quantized either way");

    let err = QdqExport::new(&model, &table)
        .with_placement(Placement::exactly(["r_1"]))
        .export()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no activation tensor named `r_1` to quantize; close names: `r1`, `c1`, `r2`"
    );
}

#[test]
fn a_table_of_another_network_is_refused_with_numbers() {
    let model = block_model(13);
    let other =
        CalibrationTable::parse(b"TRT-8503-EntropyCalibration2\nx: 3c000000\ninput: 3c000000\n/conv1/Conv_output_0: 3c000000\n/Relu_output_0: 3c000000\n").unwrap();
    let err = QdqExport::new(&model, &other).export().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the calibration table does not fit the model: 1 of its 4 tensors are tensors of the \
         model (at least half must be; the model has 13 activation tensors); not in the model: \
         `input`, `/conv1/Conv_output_0`, `/Relu_output_0`. Is it another network's table?"
    );
    let no_input =
        CalibrationTable::parse(b"TRT-8503-EntropyCalibration2\nr1: 3c000000\n").unwrap();
    let err = QdqExport::new(&model, &no_input).export().unwrap_err();
    assert!(
        matches!(err, QdqError::MissingInputs { ref inputs } if inputs == &["x"]),
        "{err}"
    );
}

#[test]
fn a_zero_scale_is_reported_not_used() {
    let model = block_model(13);
    let mut table = block_table();
    table
        .entries
        .iter_mut()
        .find(|e| e.tensor == "r2")
        .unwrap()
        .scale = 0.0;
    let (qdq, report) = QdqExport::new(&model, &table).export().unwrap();
    assert!(quantizer_of(graph_of(&qdq), "conv3", 0).is_none());
    let r2 = report.unplaced.iter().find(|u| u.tensor == "r2").unwrap();
    assert!(
        r2.reason.contains("table scale 0 is not a positive number"),
        "{}",
        r2.reason
    );
    let err = QdqExport::new(&model, &table)
        .with_placement(Placement::exactly(["r2"]))
        .export()
        .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("cannot quantize `r2` as the placement asks: its table scale 0"));
}

#[test]
fn gemm_without_trans_b_is_quantized_along_its_columns() {
    let w = values(30, 6, 11); // [K = 5, N = 6]
    let gemm = make::node("Gemm", "fc", &["x", "w"], &["y"], vec![]);
    let g = make::graph(
        "fc",
        vec![gemm],
        vec![make::tensor_f32("w", &[5, 6], &w)],
        &[("x", &[1, 5])],
        &[("y", &[1, 6])],
    );
    let table =
        CalibrationTable::parse(b"TRT-8503-MinMaxCalibration\nx: 3c000000\ny: 3d000000\n").unwrap();
    let (qdq, report) = QdqExport::new(&make::model(g, 13), &table)
        .export()
        .unwrap();
    let q = quantizer_of(graph_of(&qdq), "fc", 1).unwrap();
    assert_eq!(axis_of(q), Some(1));
    assert_eq!(scale_and_zero(graph_of(&qdq), q).0, column_scales(&w, 6));
    assert_eq!(report.table_algorithm, "MinMaxCalibration");
}

#[test]
fn opsets_below_13_are_moved_to_13_unless_meaning_would_change() {
    let table = block_table();
    let (qdq, report) = QdqExport::new(&block_model(11), &table).export().unwrap();
    assert_eq!((report.opset.from, report.opset.to), (11, 13));
    assert_eq!(qdq.opset_import[0].version(), 13);

    let err = QdqExport::new(&block_model(10), &table)
        .export()
        .unwrap_err();
    assert!(
        matches!(err, QdqError::OpsetTooOld { found: 10, min: 11 }),
        "{err}"
    );

    let mut softmax = block_model(12);
    let g = softmax.graph.as_mut().unwrap();
    g.node
        .push(make::node("Softmax", "prob", &["y"], &["z"], vec![]));
    let err = QdqExport::new(&softmax, &table).export().unwrap_err();
    assert!(
        err.to_string().starts_with(
            "the model imports ONNX opset 12, and its node `prob` (Softmax) changed meaning"
        ),
        "{err}"
    );
}

#[test]
fn saved_models_load_back_equal_and_are_not_quantized_twice() {
    let (model, table) = (block_model(13), block_table());
    let (qdq, _) = QdqExport::new(&model, &table).export().unwrap();
    let err = QdqExport::new(&qdq, &table).export().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the model is already explicitly quantized: node `x_QuantizeLinear` is a \
         QuantizeLinear; export from the FP32 model"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block.qdq.onnx");
    trt_qdq::save_model(&qdq, &path).unwrap();
    assert_eq!(trt_qdq::load_model(&path).unwrap(), qdq);
    std::fs::write(&path, b"\xff\xff\xff not protobuf").unwrap();
    let err = trt_qdq::load_model(&path).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("is not an ONNX model (protobuf ModelProto)"),
        "{err}"
    );
}

/// x -> convA (ca), x -> convB (cb); `op`(ca, cb) -> s; plus m = MatMul(s2, wm) + bias.
fn two_branches(op: &str) -> trt_qdq::onnx::ModelProto {
    let init = vec![
        make::tensor_f32("wa", &[2, 2, 1, 1], &values(4, 2, 21)),
        make::tensor_f32("wb", &[2, 2, 1, 1], &values(4, 2, 22)),
        make::tensor_f32("wm", &[4, 3], &values(12, 3, 23)),
        make::tensor_f32("bias", &[3], &values(3, 3, 24)),
    ];
    let attrs = if op == "Concat" {
        vec![make::attr_int("axis", 1)]
    } else {
        vec![]
    };
    let nodes = vec![
        make::node("Conv", "convA", &["x", "wa"], &["ca"], vec![]),
        make::node("Conv", "convB", &["x", "wb"], &["cb"], vec![]),
        make::node(op, "join", &["ca", "cb"], &["s"], attrs),
        make::node("MatMul", "mm", &["v", "wm"], &["m"], vec![]),
        make::node("Add", "bias_add", &["m", "bias"], &["out"], vec![]),
    ];
    let inputs: [(&str, &[i64]); 2] = [("x", &[1, 2, 2, 2]), ("v", &[1, 4])];
    let g = make::graph(
        "two",
        nodes,
        init,
        &inputs,
        &[("s", &[1, 2, 2, 2]), ("out", &[1, 3])],
    );
    make::model(g, 13)
}

fn table_of(entries: &[(&str, f32)]) -> CalibrationTable {
    let mut text = String::from("TRT-8503-EntropyCalibration2\n");
    for (t, s) in entries {
        text.push_str(&format!("{t}: {:x}\n", s.to_bits()));
    }
    CalibrationTable::parse(text.as_bytes()).unwrap()
}

#[test]
fn projection_add_quantizes_the_earlier_branch_and_bias_adds_stay_float() {
    let table = table_of(&[
        ("x", 0.01),
        ("ca", 0.02),
        ("cb", 0.03),
        ("v", 0.04),
        ("m", 0.05),
    ]);
    let (qdq, report) = QdqExport::new(&two_branches("Add"), &table)
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    // Both Add inputs come from Convs: convA's (written first, the shortcut) is quantized,
    // convB's fuses with the Add.
    assert_eq!(quantizer_of(g, "join", 0).unwrap().input[0], "ca");
    assert_eq!(node_named(g, "join").input[1], "cb");
    // A bias add (one constant input) gets no Q/DQ: it fuses with the MatMul.
    assert_eq!(node_named(g, "bias_add").input, ["m", "bias"]);
    assert_eq!(quantizer_of(g, "mm", 0).unwrap().input[0], "v");
    let m = report.unplaced.iter().find(|u| u.tensor == "m").unwrap();
    assert!(m.reason.contains("Add `bias_add`"), "{}", m.reason);
}

#[test]
fn a_concat_with_an_unscaled_input_stays_float() {
    let table = table_of(&[("x", 0.01), ("ca", 0.02), ("v", 0.04)]);
    let (qdq, report) = QdqExport::new(&two_branches("Concat"), &table)
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    assert_eq!(node_named(g, "join").input, ["ca", "cb"]);
    let ca = report.unplaced.iter().find(|u| u.tensor == "ca").unwrap();
    assert_eq!(
        ca.reason,
        "Concat `join`: its input `cb` cannot be quantized (the table has no scale for it), and \
         all inputs share one scale"
    );
}

/// PyTorch's export of ResNet-18: a bias shared by several Convs is written once and read
/// through `Identity` nodes (`onnx::Conv_197 = Identity(onnx::Conv_194)`), and so can a weight.
/// TensorRT's table then holds the Identity output with scale 0.
fn identity_weights() -> trt_qdq::onnx::ModelProto {
    let init = vec![
        make::tensor_f32("w0", &[2, 2, 1, 1], &values(4, 2, 31)),
        make::tensor_f32("b0", &[2], &[0.0, 0.0]),
    ];
    let nodes = vec![
        make::node("Identity", "Identity_w", &["w0"], &["w"], vec![]),
        make::node("Identity", "Identity_b", &["b0"], &["b"], vec![]),
        make::node("Conv", "conv", &["x", "w", "b"], &["y"], vec![]),
    ];
    let g = make::graph(
        "identity",
        nodes,
        init,
        &[("x", &[1, 2, 2, 2])],
        &[("y", &[1, 2, 2, 2])],
    );
    make::model(g, 13)
}

#[test]
fn weights_read_through_identity_are_quantized_per_channel_and_never_as_activations() {
    let model = identity_weights();
    let table = table_of(&[("x", 0.01), ("b", 0.0), ("y", 0.02)]);
    // Placed after an engine whose INT8 layer read x and (by name) the Identity output b.
    let placement = Placement::exactly(["x", "b"]);
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_placement(placement)
        .export()
        .expect("an Identity of an initializer is a constant, not an unusable activation");
    let g = graph_of(&qdq);
    let conv = node_named(g, "conv");
    assert_eq!(quantizer_of(g, "conv", 0).unwrap().input[0], "x");
    // The weight behind the Identity gets per-channel scales from w0's values.
    let q = quantizer_of(g, "conv", 1).expect("the weight read through Identity is quantized");
    assert_eq!(q.input[0], "w");
    assert_eq!(axis_of(q), Some(0));
    let w0 = init(graph_of(&model), "w0").float_data.clone();
    assert_eq!(scale_and_zero(g, q).0, row_scales(&w0, 2));
    // The bias stays float and is reported as a constant.
    assert_eq!(conv.input[2], "b");
    let b = report.unplaced.iter().find(|u| u.tensor == "b").unwrap();
    assert!(
        b.reason.contains("computed from initializers alone"),
        "{}",
        b.reason
    );
    // The default placement agrees.
    let (qdq, _) = QdqExport::new(&model, &table).export().unwrap();
    assert_eq!(node_named(graph_of(&qdq), "conv").input[2], "b");
}

#[test]
fn weight_sqnr_is_the_per_channel_int8_noise_of_each_weight() {
    // conv: channel 0 = [1.0, 0.5] (scale 1/127: 0.5 lands between levels 63 and 64, error
    // 0.5 - 64/127), channel 1 = [2.0, -2.0] (exact). A MatMul read through Identity counts.
    let init = vec![
        make::tensor_f32("w", &[2, 2, 1, 1], &[1.0, 0.5, 2.0, -2.0]),
        make::tensor_f32("m0", &[2, 2], &[1.0, 1.0, 1.0, 1.0]),
    ];
    let nodes = vec![
        make::node("Conv", "conv", &["x", "w"], &["y"], vec![]),
        make::node("Identity", "id", &["m0"], &["m"], vec![]),
        make::node("MatMul", "mm", &["v", "m"], &["z"], vec![]),
    ];
    let inputs: [(&str, &[i64]); 2] = [("x", &[1, 2, 1, 1]), ("v", &[1, 2])];
    let g = make::graph(
        "w",
        nodes,
        init,
        &inputs,
        &[("y", &[1, 2, 1, 1]), ("z", &[1, 2])],
    );
    let db = trt_qdq::weight_sqnr_db(&make::model(g, 13));
    let e = 0.5f64 - 64.0 / 127.0;
    let expected = 10.0 * (9.25 / (e * e)).log10();
    assert!(
        (db["conv"] - expected).abs() < 1e-3,
        "{} {expected}",
        db["conv"]
    );
    // All ones are exact in INT8 but for float rounding of the scale: far above any real weight.
    assert!(db["mm"] > 100.0, "{db:?}");
}

/// x -> conv (c) -> MaxPool (p) -> Flatten (f) -> Gemm (out): the Fashion-MNIST head.
fn pool_flatten_gemm() -> trt_qdq::onnx::ModelProto {
    let init = vec![
        make::tensor_f32("wc", &[2, 2, 1, 1], &values(4, 2, 41)),
        make::tensor_f32("wg", &[3, 2], &values(6, 2, 42)),
    ];
    let nodes = vec![
        make::node("Conv", "conv", &["x", "wc"], &["c"], vec![]),
        make::node(
            "MaxPool",
            "pool",
            &["c"],
            &["p"],
            vec![make::attr_ints("kernel_shape", &[2, 2])],
        ),
        make::node("Flatten", "flatten", &["p"], &["f"], vec![]),
        make::node(
            "Gemm",
            "fc",
            &["f", "wg"],
            &["out"],
            vec![make::attr_int("transB", 1)],
        ),
    ];
    let g = make::graph(
        "head",
        nodes,
        init,
        &[("x", &[1, 2, 2, 2])],
        &[("out", &[1, 3])],
    );
    make::model(g, 13)
}

#[test]
fn a_flatten_of_a_tensor_quantized_with_the_same_scale_gets_no_second_pair() {
    let model = pool_flatten_gemm();
    // What the implicit engine's INT8 layers read: the conv input, the pool's, the Flatten's
    // and the Gemm's. A MinMax table gives a Flatten the scale of its input.
    let placement = Placement::exactly(["x", "c", "p", "f"]);
    let table = table_of(&[("x", 0.01), ("c", 0.02), ("p", 0.02), ("f", 0.02)]);
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_placement(placement.clone())
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    // The pool's output is quantized where the Flatten reads it; the Gemm reads f directly.
    assert_eq!(quantizer_of(g, "flatten", 0).unwrap().input[0], "p");
    assert_eq!(node_named(g, "fc").input[0], "f");
    let f = report.unplaced.iter().find(|u| u.tensor == "f").unwrap();
    assert!(f.reason.contains("Flatten `flatten`"), "{}", f.reason);
    assert!(f.reason.contains("same scale"), "{}", f.reason);
    // MaxPool changes values, so its output keeps its own pair even at the same scale.
    assert_eq!(quantizer_of(g, "pool", 0).unwrap().input[0], "c");
    let quantized: Vec<&str> = report
        .activations
        .iter()
        .map(|a| a.tensor.as_str())
        .collect();
    assert!(!quantized.contains(&"f"), "{quantized:?}");

    // With another scale the second pair requantizes: it stays.
    let table = table_of(&[("x", 0.01), ("c", 0.02), ("p", 0.02), ("f", 0.03)]);
    let (qdq, _) = QdqExport::new(&model, &table)
        .with_placement(placement.clone())
        .export()
        .unwrap();
    let q = quantizer_of(graph_of(&qdq), "fc", 0).expect("f keeps its pair");
    assert_eq!(q.input[0], "f");
    assert_eq!(scale_and_zero(graph_of(&qdq), q).0, [0.03]);

    // And when the Flatten's input is not quantized, f is.
    let (qdq, _) = QdqExport::new(&model, &table)
        .with_placement(Placement::exactly(["x", "c", "f"]))
        .export()
        .unwrap();
    assert_eq!(quantizer_of(graph_of(&qdq), "fc", 0).unwrap().input[0], "f");
}

#[test]
fn a_weighted_output_read_only_by_its_activation_or_bias_gets_no_pair() {
    // x -> conv (c) -> PRelu(slope) (r) -> MatMul (m) -> Add(bias) (out); an implicit engine
    // that ran PRelu and the bias Add as INT8 layers of their own names c and m.
    let init = vec![
        make::tensor_f32("wc", &[2, 2, 1, 1], &values(4, 2, 51)),
        make::tensor_f32("slope", &[2, 1, 1], &[0.25, 0.5]),
        make::tensor_f32("wm", &[8, 3], &values(24, 3, 52)),
        make::tensor_f32("bias", &[3], &values(3, 3, 53)),
    ];
    let nodes = vec![
        make::node("Conv", "conv", &["x", "wc"], &["c"], vec![]),
        make::node("PRelu", "prelu", &["c", "slope"], &["r"], vec![]),
        make::node("Flatten", "flatten", &["r"], &["f"], vec![]),
        make::node("MatMul", "mm", &["f", "wm"], &["m"], vec![]),
        make::node("Add", "bias_add", &["m", "bias"], &["out"], vec![]),
    ];
    let g = make::graph(
        "epilogue",
        nodes,
        init,
        &[("x", &[1, 2, 2, 2])],
        &[("out", &[1, 3])],
    );
    let model = make::model(g, 13);
    let table = table_of(&[
        ("x", 0.01),
        ("c", 0.02),
        ("r", 0.03),
        ("f", 0.03),
        ("m", 0.04),
    ]);
    let (qdq, report) = QdqExport::new(&model, &table)
        .with_placement(Placement::exactly(["x", "c", "r", "f", "m"]))
        .export()
        .unwrap();
    let g = graph_of(&qdq);
    assert_eq!(node_named(g, "prelu").input, ["c", "slope"]);
    assert_eq!(node_named(g, "bias_add").input, ["m", "bias"]);
    for t in ["c", "m"] {
        let u = report.unplaced.iter().find(|u| u.tensor == t).unwrap();
        assert!(
            u.reason.contains("which TensorRT fuses into it"),
            "{t}: {}",
            u.reason
        );
    }
    // The activation's output keeps its pair (read by the Flatten), and the Flatten's output,
    // at the same scale, needs none: the MatMul reads f directly.
    assert_eq!(quantizer_of(g, "flatten", 0).unwrap().input[0], "r");
    assert_eq!(node_named(g, "mm").input[0], "f");
    assert_eq!(quantizer_of(g, "conv", 0).unwrap().input[0], "x");

    // Placed alone, the Conv output is still left to the fusion.
    let (qdq, _) = QdqExport::new(&model, &table)
        .with_placement(Placement::exactly(["x", "c"]))
        .export()
        .unwrap();
    assert!(
        quantizer_of(graph_of(&qdq), "prelu", 0).is_none(),
        "a fused activation's input gets no pair"
    );
}
