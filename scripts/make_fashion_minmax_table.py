"""A MinMax-style calibration table for models/fashion-mnist, made with onnxruntime (no GPU).

scale = max|x| / 127 of every node output and the input over the last 256 of the 512 committed
test images (test_images.npy[256:]), preprocessed as the model expects. The header names
TensorRT 8.5.3 and MinMaxCalibration because the format needs one; TensorRT did not write it.

  python3 scripts/make_fashion_minmax_table.py models/fashion-mnist/fashion_mnist.ort-minmax.calib
  python3 scripts/make_fashion_minmax_table.py --accuracy MODEL.onnx   # top-1 on the first 256
"""
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort

DIR = "models/fashion-mnist"


def batches(images):
    x = (images.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    x = x[:, None, :, :]
    return [x[i : i + 8] for i in range(0, len(x), 8)]


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def table(path):
    model = onnx.load(f"{DIR}/fashion_mnist.onnx")
    names = [o for n in model.graph.node for o in n.output if o != "logits"]
    for name in names:
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    names.append("logits")
    amax = {}
    s = session(model)
    for x in batches(np.load(f"{DIR}/test_images.npy")[256:]):
        amax["image"] = max(amax.get("image", 0.0), float(np.abs(x).max()))
        for name, value in zip(names, s.run(names, {"image": x})):
            amax[name] = max(amax.get(name, 0.0), float(np.abs(value).max()))
    with open(path, "w") as f:
        f.write("TRT-8503-MinMaxCalibration\n")
        for name, a in amax.items():
            f.write(f"{name}: {struct.unpack('<I', struct.pack('<f', a / 127.0))[0]:x}\n")


def accuracy(path):
    s = session(onnx.load(path))
    images, labels = np.load(f"{DIR}/test_images.npy")[:256], np.load(f"{DIR}/test_labels.npy")[:256]
    top1 = np.concatenate([s.run(None, {"image": x})[0].argmax(1) for x in batches(images)])
    print(f"{path}: top-1 {np.mean(top1 == labels) * 100:.2f}% on test images 0..255")


if __name__ == "__main__":
    accuracy(sys.argv[2]) if sys.argv[1] == "--accuracy" else table(sys.argv[1])
