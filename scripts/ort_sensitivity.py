"""Layer sensitivity by simulation on the CPU: onnxruntime runs the FP32 model and Q/DQ exports
of it (`trt qdq export`, one Conv/Gemm node left in float at a time) on held-out images, and
prints each node's gain in top-1 agreement with FP32. A diagnostic, not TensorRT: it says where
to look, and `trt build --accuracy-budget --budget-measure-each` measures real engines.

    python scripts/ort_sensitivity.py MODEL_B1.onnx TABLE IMAGES_DIR [--n 128] [--mean 127] [--std 128] [--trt target/debug/trt] [--groups G]

--groups G simulates the budget search's group testing (`trt build --budget-measure-groups G`)
instead: groups of G neighbouring nodes left in float together, then each node of the two groups
that gained most, and prints how many exports that took against one per node.

The model must take one image input of batch 1 (e.g. .device/models/efficientnet_lite0_b1.onnx).
Images: short side 256, centre crop 224, RGB, (x - mean) / std, NCHW.
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("table")
    ap.add_argument("images")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--mean", type=float, default=127.0)
    ap.add_argument("--std", type=float, default=128.0)
    ap.add_argument("--trt", default="target/debug/trt")
    ap.add_argument("--groups", type=int, default=0)
    a = ap.parse_args()
    files = sorted(os.listdir(a.images))
    files = files[:: max(1, len(files) // a.n)][: a.n]

    def prep(p):
        im = Image.open(os.path.join(a.images, p)).convert("RGB")
        w, h = im.size
        s = 256 / min(w, h)
        im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
        w, h = im.size
        l, t = (w - 224) // 2, (h - 224) // 2
        x = (np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float32) - a.mean) / a.std
        return x.transpose(2, 0, 1)

    x = np.stack([prep(f) for f in files])
    so = ort.SessionOptions()
    so.log_severity_level = 3

    def run(m):
        s = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        return np.concatenate([s.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])

    ref = run(a.model)
    out = os.path.join(tempfile.mkdtemp(), "q.onnx")

    def agreement(exclude):
        cmd = [a.trt, "qdq", "export", a.model, "--calib-cache", a.table, "-o", out]
        for e in exclude:
            cmd += ["--exclude", e]
        subprocess.run(cmd, capture_output=True, check=True)
        return float((run(out).argmax(1) == ref.argmax(1)).mean())

    nodes = [n.name for n in onnx.load(a.model).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    base = agreement([])
    print(f"{len(x)} images; all quantized: top-1 agreement {base:.4f}", flush=True)
    if a.groups > 0:
        groups = [nodes[i : i + a.groups] for i in range(0, len(nodes), a.groups)]
        group_gains = []
        for k, g in enumerate(groups):
            gain = agreement(g) - base
            group_gains.append((gain, k))
            print(f"{gain:+.4f}  group {k}: {g[0]} .. {g[-1]}", flush=True)
        group_gains.sort(key=lambda t: (-t[0], t[1]))
        singles = []
        for gain, k in group_gains[:2]:
            if gain <= 0:
                continue
            for n in groups[k]:
                g = agreement([n]) - base
                singles.append((g, n))
                print(f"{g:+.4f}  {n}", flush=True)
        singles.sort(reverse=True)
        print(f"exports: {len(groups) + len(singles)} (one per node: {len(nodes)})")
        print("best:", ", ".join(f"{n} {g:+.4f}" for g, n in singles[:5]))
        return
    gains = []
    for n in nodes:
        g = agreement([n]) - base
        gains.append((g, n))
        print(f"{g:+.4f}  {n}", flush=True)
    gains.sort(reverse=True)
    print("best:", ", ".join(f"{n} {g:+.4f}" for g, n in gains[:5]))


if __name__ == "__main__":
    main()
