#!/usr/bin/env python3
"""Small ONNX models and data of our own for the regression tests (committed under models/tiny/).

    python3 -m venv /work/venv-tiny && /work/venv-tiny/bin/pip install onnx==1.17.0 numpy onnxruntime
    /work/venv-tiny/bin/python scripts/make_tiny_models.py

Deterministic (numpy seed 0): running it again writes the same bytes.

- reshape_gemm.onnx: the tail of an ONNX-zoo / Caffe2 export (opset 9): Conv, Relu, Conv, Relu,
  GlobalAveragePool, Reshape to [N, -1], Gemm (transB=1), Softmax. TensorRT's ONNX parser adds
  Shuffle layers around the Gemm whose output tensors have no ONNX name ("(Unnamed Layer* N)
  [Shuffle]_output"), and calibration tables need not list them: strict INT8 must not force
  INT8 outputs on tensors without a scale.
  input `data` f32 [1,3,16,16], output `prob` f32 [1,10]; calibration data reshape_gemm.npy
  f32 [16,3,16,16].
- reshape_gemm_cos.onnx: the same graph with every float weight made by a ConstantOfShape node
  (as in the `onnx` wheel's light_* zoo models): weights reach TensorRT as computed tensors.
- image_and_ids.onnx (opset 13): two inputs, one of them integer (token ids): `image` f32
  [4,1,8,8] through Conv/Relu/GlobalAveragePool/Flatten, `ids` int32 [4,6] through Gather on a
  constant embedding [32,8] and ReduceMean over the tokens; Add; Gemm to `logits` f32 [4,5].
  Calibration data image.npy f32 [32,1,8,8], ids.npy int32 [32,6] (values 0..31),
  ids_int64.npy (the same ids as int64), calib.toml naming both inputs.
- prelu.onnx (opset 9): Conv, PRelu (slopes linspace(0.05, 0.30) per channel), Conv, PRelu
  (slopes linspace(-0.20, 0.15)), GlobalAveragePool, Flatten, Gemm: MTCNN's pattern, whose
  slopes reach TensorRT as constant layers that an INT8 PReLU needs a scale for (max |slope|
  0.30 and 0.20). input `data` f32 [4,3,16,16], output `logits` f32 [4,10]; calibration data
  prelu.npy f32 [16,3,16,16]. Its own generator (seed 1), so the files above stay the same.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "tiny")
rng = np.random.default_rng(0)


def init(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def conv_weights(cout, cin, k=3):
    fan_in = cin * k * k
    return (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def save(model, name):
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def reshape_gemm():
    nodes = [
        helper.make_node("Conv", ["data", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pool"]),
        helper.make_node("Reshape", ["pool", "shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], transB=1),
        helper.make_node("Softmax", ["fc"], ["prob"], axis=1),
    ]
    inits = [
        init("w1", conv_weights(16, 3)),
        init("b1", (rng.standard_normal(16) * 0.1).astype(np.float32)),
        init("w2", conv_weights(16, 16)),
        init("b2", (rng.standard_normal(16) * 0.1).astype(np.float32)),
        init("shape", np.array([1, -1], dtype=np.int64)),
        init("fc_w", (rng.standard_normal((10, 16)) * 0.25).astype(np.float32)),
        init("fc_b", (rng.standard_normal(10) * 0.1).astype(np.float32)),
    ]
    graph = helper.make_graph(
        nodes,
        "reshape_gemm",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], producer_name="trt-tiny")
    model.ir_version = 4
    save(model, "reshape_gemm.onnx")
    data = rng.uniform(0.0, 1.0, size=(16, 3, 16, 16)).astype(np.float32)
    np.save(os.path.join(OUT, "reshape_gemm.npy"), data)


def reshape_gemm_constant_of_shape():
    """The same graph with every float weight made by a ConstantOfShape node, as the `onnx`
    wheel's light_* zoo models are: the weights reach TensorRT as computed tensors (FILL or
    constant layers), not as initializers."""
    nodes, inits = [], [init("shape", np.array([1, -1], dtype=np.int64))]
    weights = {"w1": ([16, 3, 3, 3], 0.05), "b1": ([16], 0.01), "w2": ([16, 16, 3, 3], 0.02),
               "b2": ([16], -0.01), "fc_w": ([10, 16], 0.03), "fc_b": ([10], 0.0)}
    for name, (dims, value) in weights.items():
        inits.append(init(name + "__SHAPE", np.array(dims, dtype=np.int64)))
        nodes.append(helper.make_node(
            "ConstantOfShape", [name + "__SHAPE"], [name],
            value=numpy_helper.from_array(np.array([value], dtype=np.float32))))
    nodes += [
        helper.make_node("Conv", ["data", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pool"]),
        helper.make_node("Reshape", ["pool", "shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], transB=1),
        helper.make_node("Softmax", ["fc"], ["prob"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "reshape_gemm_constant_of_shape",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], producer_name="trt-tiny")
    model.ir_version = 4
    save(model, "reshape_gemm_cos.onnx")


def image_and_ids():
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["img_feat"], axis=1),
        helper.make_node("Gather", ["embedding", "ids"], ["tokens"], axis=0),
        helper.make_node("ReduceMean", ["tokens"], ["txt_feat"], axes=[1], keepdims=0),
        helper.make_node("Add", ["img_feat", "txt_feat"], ["joint"]),
        helper.make_node("Gemm", ["joint", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    inits = [
        init("w1", conv_weights(8, 1)),
        init("b1", (rng.standard_normal(8) * 0.1).astype(np.float32)),
        init("embedding", rng.standard_normal((32, 8)).astype(np.float32)),
        init("fc_w", (rng.standard_normal((5, 8)) * 0.3).astype(np.float32)),
        init("fc_b", (rng.standard_normal(5) * 0.1).astype(np.float32)),
    ]
    graph = helper.make_graph(
        nodes,
        "image_and_ids",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [4, 1, 8, 8]),
            helper.make_tensor_value_info("ids", TensorProto.INT32, [4, 6]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="trt-tiny")
    model.ir_version = 8
    save(model, "image_and_ids.onnx")
    image = rng.uniform(0.0, 1.0, size=(32, 1, 8, 8)).astype(np.float32)
    ids = rng.integers(0, 32, size=(32, 6)).astype(np.int32)
    np.save(os.path.join(OUT, "image.npy"), image)
    np.save(os.path.join(OUT, "ids.npy"), ids)
    np.save(os.path.join(OUT, "ids_int64.npy"), ids.astype(np.int64))
    with open(os.path.join(OUT, "calib.toml"), "w") as f:
        f.write(
            "# Calibration data for image_and_ids.onnx (scripts/make_tiny_models.py).\n"
            "batch_size = 4\n\n"
            "[[input]]\nname = \"image\"\nnpy = \"image.npy\"\n\n"
            "[[input]]\nname = \"ids\"\nnpy = \"ids.npy\"\n"
        )
    # Reference outputs for the first batch (onnxruntime, FP32), to check engines against.
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(os.path.join(OUT, "image_and_ids.onnx"))
        (logits,) = sess.run(None, {"image": image[:4], "ids": ids[:4]})
        np.save(os.path.join(OUT, "image_and_ids.logits.npy"), logits.astype(np.float32))
        sess = ort.InferenceSession(os.path.join(OUT, "reshape_gemm.onnx"))
        (prob,) = sess.run(None, {"data": np.load(os.path.join(OUT, "reshape_gemm.npy"))[:1]})
        np.save(os.path.join(OUT, "reshape_gemm.prob.npy"), prob.astype(np.float32))
    except ImportError:
        print("onnxruntime missing: no reference outputs written")


def prelu():
    r = np.random.default_rng(1)

    def weights(cout, cin):
        return (r.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)

    nodes = [
        helper.make_node("Conv", ["data", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c1", "slope1"], ["p1"], name="prelu1"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c2", "slope2"], ["p2"], name="prelu2"),
        helper.make_node("GlobalAveragePool", ["p2"], ["pool"], name="pool"),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    inits = [
        init("w1", weights(16, 3)),
        init("b1", (r.standard_normal(16) * 0.1).astype(np.float32)),
        init("slope1", np.linspace(0.05, 0.30, 16, dtype=np.float32).reshape(16, 1, 1)),
        init("w2", weights(16, 16)),
        init("b2", (r.standard_normal(16) * 0.1).astype(np.float32)),
        init("slope2", np.linspace(-0.20, 0.15, 16, dtype=np.float32).reshape(16, 1, 1)),
        init("fc_w", (r.standard_normal((10, 16)) * 0.25).astype(np.float32)),
        init("fc_b", (r.standard_normal(10) * 0.1).astype(np.float32)),
    ]
    graph = helper.make_graph(
        nodes,
        "prelu",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [4, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], producer_name="trt-tiny")
    model.ir_version = 4
    save(model, "prelu.onnx")
    np.save(os.path.join(OUT, "prelu.npy"), r.uniform(0.0, 1.0, size=(16, 3, 16, 16)).astype(np.float32))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    reshape_gemm()
    reshape_gemm_constant_of_shape()
    image_and_ids()
    prelu()
