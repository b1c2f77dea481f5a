#!/usr/bin/env python3
"""Tiny ONNX models for the typed-I/O GPU tests (tests/gpu_io.rs), committed under models/io/.

    python3 -m venv /work/venv-io && /work/venv-io/bin/pip install onnx==1.17.0 numpy
    /work/venv-io/bin/python scripts/make_io_models.py

No random weights: every constant is written below, so the tests can assert exact outputs
computed by hand. Opset 13, static shapes, checked with onnx.checker (full_check). Running it
again writes the same bytes.

- add_int.onnx: `ids` int32 [2,4] and `x` f32 [2,4] in;
  `y` f32 [2,4] = float(ids) + x and `next` int32 [2,4] = ids + 1 out.
- int_out.onnx: `x` f32 [2,5] in; `idx` int32 [2] = argmax over axis 1 (ArgMax, then Cast to
  int32: TensorRT 8.5 has no int64 I/O) and `pos` bool [2,5] = x > 0 out.
- half_io.onnx: `x` f16 [2,4] in; `y` f16 [2,4] = x * 2 + 0.5 out (computed in f32 between two
  Casts).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "io")
OPSET = [helper.make_opsetid("", 13)]


def save(graph, name):
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="make_io_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def add_int():
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["ids_f", "x"], ["y"]),
        helper.make_node("Add", ["ids", "one"], ["next"]),
    ]
    graph = helper.make_graph(
        nodes,
        "add_int",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT32, [2, 4]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("next", TensorProto.INT32, [2, 4]),
        ],
        [numpy_helper.from_array(np.array([1], dtype=np.int32), "one")],
    )
    save(graph, "add_int.onnx")


def int_out():
    nodes = [
        helper.make_node("ArgMax", ["x"], ["idx64"], axis=1, keepdims=0),
        helper.make_node("Cast", ["idx64"], ["idx"], to=TensorProto.INT32),
        helper.make_node("Greater", ["x", "zero"], ["pos"]),
    ]
    graph = helper.make_graph(
        nodes,
        "int_out",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [
            helper.make_tensor_value_info("idx", TensorProto.INT32, [2]),
            helper.make_tensor_value_info("pos", TensorProto.BOOL, [2, 5]),
        ],
        [numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero")],
    )
    save(graph, "int_out.onnx")


def half_io():
    nodes = [
        helper.make_node("Cast", ["x"], ["x_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x_f", "two"], ["twice"]),
        helper.make_node("Add", ["twice", "half"], ["y_f"]),
        helper.make_node("Cast", ["y_f"], ["y"], to=TensorProto.FLOAT16),
    ]
    graph = helper.make_graph(
        nodes,
        "half_io",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 4])],
        [
            numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two"),
            numpy_helper.from_array(np.array([0.5], dtype=np.float32), "half"),
        ],
    )
    save(graph, "half_io.onnx")


if __name__ == "__main__":
    add_int()
    int_out()
    half_io()
