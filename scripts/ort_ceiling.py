"""How far better ranges alone could take INT8, by simulation on the CPU: onnxruntime runs the
FP32 model and Q/DQ exports (`trt qdq export`) of MinMax tables computed here, (1) from the
calibration images, (2) from the evaluation images themselves (an oracle no calibration can
beat on range choice), (3) optionally after clip-aware cross-layer equalization (`--cle M`:
each Conv -> Clip(0, c) -> [Pad] -> Conv pair rescaled per channel so that a channel's
calibration maximum lands at c / M, the next Conv's weights divided back; FP32-equivalent on
the calibration data, not beyond it). Prints top-1 agreement with FP32 and the mean cosine.

    python scripts/ort_ceiling.py MODEL.onnx SPLIT_DIR [--trt target/release/trt] [--cle 4]

MODEL: one image input, any batch (the batch axis is made symbolic). SPLIT_DIR: calib/ and
eval/ (scripts/make_eval_split.py). Images: short side 256, centre crop 224, RGB,
(x - 127) / 128, NCHW (EfficientNet-Lite0's preprocessing).
"""
import argparse
import copy
import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper as nh
from PIL import Image

SO = ort.SessionOptions()
SO.log_severity_level = 3


def prep(path):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
    w, h = im.size
    l, t = (w - 224) // 2, (h - 224) // 2
    x = (np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float32) - 127) / 128
    return x.transpose(2, 0, 1)


def images(d):
    return np.stack([prep(os.path.join(d, f)) for f in sorted(os.listdir(d))])


def symbolic_batch(m):
    m = copy.deepcopy(m)
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    return m


def session(m):
    return ort.InferenceSession(m if isinstance(m, str) else m.SerializeToString(), SO,
                                providers=["CPUExecutionProvider"])


def batches(x, n=8):
    return (x[i : i + n] for i in range(0, len(x), n))


def logits(m, x):
    s = session(m)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: b})[0] for b in batches(x)])


def ranges(m, x):
    """Every float tensor's max |x| and, for NCHW tensors, each channel's max, batch by batch."""
    mm = copy.deepcopy(m)
    have = {o.name for o in mm.graph.output}
    for n in mm.graph.node:
        for o in n.output:
            if o not in have:
                mm.graph.output.append(onnx.ValueInfoProto(name=o))
    s = session(mm)
    names = [o.name for o in s.get_outputs()]
    inp = s.get_inputs()[0].name
    amax, cmax = {inp: float(np.abs(x).max())}, {}
    for b in batches(x):
        for k, v in zip(names, s.run(None, {inp: b})):
            if v.dtype != np.float32:
                continue
            amax[k] = max(amax.get(k, 0.0), float(np.abs(v).max()))
            if v.ndim == 4:
                c = v.max(axis=(0, 2, 3))
                cmax[k] = np.maximum(cmax[k], c) if k in cmax else c
    return amax, cmax


def constant(m, name):
    for i in m.graph.initializer:
        if i.name == name:
            return nh.to_array(i)
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return nh.to_array(n.attribute[0].t)
    return None


def equalize(m, cmax, margin):
    m = copy.deepcopy(m)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    pairs = scaled = 0
    for clip in [n for n in g.node if n.op_type == "Clip"]:
        a = producer.get(clip.input[0])
        lo, hi = constant(m, clip.input[1]), constant(m, clip.input[2])
        if a is None or a.op_type != "Conv" or lo is None or hi is None or float(lo) != 0.0:
            continue
        if len(readers.get(a.output[0], [])) != 1 or len(readers.get(clip.output[0], [])) != 1:
            continue
        b = readers[clip.output[0]][0]
        if b.op_type == "Pad":  # zero padding commutes with a per-channel scale
            if len(readers.get(b.output[0], [])) != 1:
                continue
            b = readers[b.output[0]][0]
        if b.op_type != "Conv":
            continue
        wa = nh.to_array(inits[a.input[1]]).copy()
        wb = nh.to_array(inits[b.input[1]]).copy()
        group = next((x.i for x in b.attribute if x.name == "group"), 1)
        c = cmax[a.output[0]]
        s = np.where((c > 0) & (c * margin < float(hi)), float(hi) / (np.maximum(c, 1e-30) * margin), 1.0).astype(np.float32)
        if group == 1:
            wb /= s.reshape(1, -1, 1, 1)
        elif group == wa.shape[0] and wb.shape[1] == 1:
            wb /= s.reshape(-1, 1, 1, 1)
        else:
            continue
        wa *= s.reshape(-1, 1, 1, 1)
        inits[a.input[1]].CopyFrom(nh.from_array(wa, a.input[1]))
        if len(a.input) > 2:
            inits[a.input[2]].CopyFrom(nh.from_array(nh.to_array(inits[a.input[2]]) * s, a.input[2]))
        inits[b.input[1]].CopyFrom(nh.from_array(wb, b.input[1]))
        pairs += 1
        scaled += int((s > 1).sum())
    print(f"equalized {pairs} Conv pairs, {scaled} channels scaled up", flush=True)
    return m


def quantized(trt, m, amax, tmp):
    model, table, out = (os.path.join(tmp, f) for f in ("m.onnx", "t.cache", "q.onnx"))
    onnx.save(m, model)
    with open(table, "w") as f:
        f.write("TRT-8503-MinMaxCalibration\n")
        for k, a in amax.items():
            f.write(f"{k}: {np.float32(max(a, 1e-8) / 127).view(np.uint32):08x}\n")
    subprocess.run([trt, "qdq", "export", model, "--calib-cache", table, "-o", out],
                   capture_output=True, check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("split")
    ap.add_argument("--trt", default="target/release/trt")
    ap.add_argument("--cle", type=float, default=0.0)
    a = ap.parse_args()
    m = symbolic_batch(onnx.load(a.model))
    xc, xe = images(os.path.join(a.split, "calib")), images(os.path.join(a.split, "eval"))
    ref = logits(m, xe)
    tmp = tempfile.mkdtemp()

    def report(what, model):
        out = logits(model, xe)
        agree = float((out.argmax(1) == ref.argmax(1)).mean())
        cos = np.mean(np.sum(out * ref, 1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1))
        print(f"{what:44s} top-1 agreement {100 * agree:6.2f}%  cosine {cos:.4f}", flush=True)

    print(f"{len(xc)} calibration, {len(xe)} evaluation images", flush=True)
    amax_c, cmax_c = ranges(m, xc)
    report("MinMax from the calibration images", quantized(a.trt, m, amax_c, tmp))
    amax_e, _ = ranges(m, xe)
    report("MinMax from the evaluation images (oracle)", quantized(a.trt, m, amax_e, tmp))
    if a.cle > 0:
        eq = equalize(m, cmax_c, a.cle)
        report(f"FP32 after equalization (margin {a.cle:g})", eq)
        amax_q, _ = ranges(eq, xc)
        report("MinMax after equalization", quantized(a.trt, eq, amax_q, tmp))


if __name__ == "__main__":
    main()
