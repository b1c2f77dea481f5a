"""Checks for tests/onnxruntime.rs, run with the pinned `onnx` and `onnxruntime` wheels.

  calibrate MODEL TABLE   run MODEL with every node output exposed on seeded inputs and write a
                          MinMax-style table (scale = max|x| / 127) in TensorRT's format
  check FP32 QDQ          onnx.checker.check_model(QDQ, full_check=True), run both on other
                          seeded inputs, print one JSON line with the errors and what onnx
                          decodes of the Q/DQ model
"""
import json
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def inputs(model, seed):
    rng = np.random.default_rng(seed)
    feeds = {}
    inits = {i.name for i in model.graph.initializer}
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def session(model):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def calibrate(model_path, table_path):
    model = onnx.load(model_path)
    names = [o for n in model.graph.node for o in n.output]
    known = {o.name for o in model.graph.output}
    for name in names:
        if name not in known:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    amax = {}
    for seed in range(4):
        feeds = inputs(model, seed)
        for name, value in feeds.items():
            amax[name] = max(amax.get(name, 0.0), float(np.abs(value).max()))
        for name, value in zip(names, session(model).run(names, feeds)):
            amax[name] = max(amax.get(name, 0.0), float(np.abs(value).max()))
    with open(table_path, "w") as f:
        f.write("TRT-8503-MinMaxCalibration\n")
        for name, a in amax.items():
            bits = struct.unpack("<I", struct.pack("<f", a / 127.0))[0]
            f.write(f"{name}: {bits:x}\n")


def check(fp32_path, qdq_path):
    onnx.checker.check_model(qdq_path, full_check=True)
    fp32, qdq = onnx.load(fp32_path), onnx.load(qdq_path)
    feeds = inputs(fp32, 100)
    ref = session(fp32).run(None, feeds)[0].ravel()
    got = session(qdq).run(None, feeds)[0].ravel()
    cosine = float(np.dot(ref, got) / (np.linalg.norm(ref) * np.linalg.norm(got)))
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    weight_scales = {}
    for n in qdq.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] in inits:
            weight_scales[n.input[0]] = inits[n.input[1]].astype(np.float64).tolist()
    print(json.dumps({
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "opset": [o.version for o in qdq.opset_import if o.domain in ("", "ai.onnx")][0],
        "quantize_nodes": sum(n.op_type == "QuantizeLinear" for n in qdq.graph.node),
        "max_abs_error": float(np.abs(ref - got).max()),
        "max_abs_ref": float(np.abs(ref).max()),
        "cosine": cosine,
        "weight_scales": weight_scales,
    }))


if __name__ == "__main__":
    {"calibrate": calibrate, "check": check}[sys.argv[1]](*sys.argv[2:])
