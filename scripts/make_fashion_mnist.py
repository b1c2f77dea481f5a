"""Small Fashion-MNIST conv net, trained here on CPU with fixed seeds.

Data: Debian package dataset-fashion-mnist (Fashion-MNIST by Zalando Research, MIT licence),
/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz.
Net: conv 1->16 3x3 pad 1, ReLU, maxpool 2 -> conv 16->32 3x3 pad 1, ReLU, maxpool 2 ->
flatten 1568 -> fc 32, ReLU -> fc 10 (55,338 parameters).
Preprocessing: x = (pixel / 255 - 0.2860) / 0.3530 (Fashion-MNIST train mean/std), float32 NCHW.
Writes (committed) models/fashion-mnist/: fashion_mnist.onnx (input `image` [8,1,28,28], output
`logits` [8,10], opset 13), calib/NNN_<label>.png (32 train images, raw 8-bit grey),
test_images.npy uint8 [512,28,28] + test_labels.npy uint8 [512] (the first 512 test images);
and (not committed) .device/data/fashion_mnist_test_2048.npy / _labels.npy (the first 2048).
"""
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

SRC = os.path.join(os.environ.get("DEB_ROOT", "/"), "usr/share/datasets/fashion-mnist")
OUT = "models/fashion-mnist"
DATA = os.environ.get("DATA_OUT", ".device/data")
MEAN, STD = 0.2860, 0.3530
EPOCHS, BATCH, LR = 4, 64, 1e-3
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]


def idx(name):
    with gzip.open(os.path.join(SRC, name)) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def prep(u8):
    return ((u8.astype(np.float32) / 255.0 - MEAN) / STD)[:, None]


def main():
    xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
    xte, yte = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)

    torch.manual_seed(0)
    net = Net()
    print("parameters:", sum(p.numel() for p in net.parameters()))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    X, Y = torch.from_numpy(prep(xtr)), torch.from_numpy(ytr.astype(np.int64))
    gen = torch.Generator().manual_seed(1)
    for ep in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(X), generator=gen)
        tot = 0.0
        for i in range(0, len(X), BATCH):
            b = perm[i:i + BATCH]
            loss = F.cross_entropy(net(X[b]), Y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(b)
        net.eval()
        with torch.no_grad():
            acc = (net(torch.from_numpy(prep(xte))).argmax(1).numpy() == yte).mean()
        print(f"epoch {ep + 1}: train loss {tot / len(X):.4f}, test acc {acc:.4f}")

    os.makedirs(os.path.join(OUT, "calib"), exist_ok=True)
    onnx_path = os.path.join(OUT, "fashion_mnist.onnx")
    with torch.no_grad():
        torch.onnx.export(net.eval(), torch.zeros(8, 1, 28, 28), onnx_path, input_names=["image"],
                          output_names=["logits"], opset_version=13, do_constant_folding=True,
                          dynamo=False)

    # calibration images: 32 from the training set, fixed seed
    for f in os.listdir(os.path.join(OUT, "calib")):
        os.remove(os.path.join(OUT, "calib", f))
    pick = np.sort(np.random.default_rng(0).choice(len(xtr), 32, replace=False))
    for n, i in enumerate(pick):
        Image.fromarray(xtr[i], "L").save(os.path.join(OUT, "calib", f"{n:03d}_{ytr[i]}.png"), optimize=False)
    np.save(os.path.join(OUT, "test_images.npy"), np.ascontiguousarray(xte[:512]))
    np.save(os.path.join(OUT, "test_labels.npy"), np.ascontiguousarray(yte[:512]))
    os.makedirs(DATA, exist_ok=True)
    np.save(os.path.join(DATA, "fashion_mnist_test_2048.npy"), np.ascontiguousarray(xte[:2048]))
    np.save(os.path.join(DATA, "fashion_mnist_test_2048_labels.npy"), np.ascontiguousarray(yte[:2048]))

    # FP32 accuracy with onnxruntime (batch 8, static)
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

    def accuracy(u8, lab):
        n = len(u8) // 8 * 8
        x = prep(u8[:n])
        pred = np.concatenate([sess.run(None, {"image": x[i:i + 8]})[0].argmax(1) for i in range(0, n, 8)])
        return (pred == lab[:n]).mean()

    for n in (512, 2048, 10000):
        print(f"onnxruntime FP32 accuracy, first {n} test images: {100 * accuracy(xte[:n], yte[:n]):.2f}%")
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"{OUT}: {size} bytes in total")
    assert size < 2**20


if __name__ == "__main__":
    main()
