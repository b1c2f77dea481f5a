#!/usr/bin/env python3
"""The same work as benches/preprocess.rs, with OpenCV: for every JPEG in DIR (sorted),
cv2.imread -> BGR2RGB -> short side 256 (INTER_LINEAR) -> centre crop 224 ->
(x - mean) / std in float32 -> CHW, stacked into batches of 8. Prints images/s.

    python3 opencv_baseline.py DIR [PASSES]
"""
import os
import sys
import time

import cv2
import numpy as np

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def preprocess(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    if w <= h:
        nw, nh = 256, int(np.floor(h * 256 / w + 0.5))
    else:
        nw, nh = int(np.floor(w * 256 / h + 0.5)), 256
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    y0, x0 = (nh - 224) // 2, (nw - 224) // 2
    img = img[y0:y0 + 224, x0:x0 + 224]
    x = (img.astype(np.float32) - MEAN) / STD
    return x.transpose(2, 0, 1)


def one_pass(files):
    t = time.perf_counter()
    checksum = 0.0
    for i in range(0, len(files), 8):
        batch = np.ascontiguousarray(np.stack([preprocess(f) for f in files[i:i + 8]]))
        checksum += float(batch.flat[0])
    return time.perf_counter() - t, checksum


def main():
    # Same thread budget as ours (rayon on a 2-core machine): explicit, not left to the default.
    cv2.setNumThreads(int(os.environ.get("OPENCV_THREADS", os.cpu_count() or 1)))
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/calib-bench-images"
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    exts = (".jpg", ".jpeg", ".png", ".bmp")
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith(exts))
    one_pass(files)  # warm-up
    times = [one_pass(files)[0] for _ in range(passes)]
    best, mean = min(times), sum(times) / len(times)
    print(f"opencv {cv2.__version__}: {len(files)} images, {passes} passes, cv2 threads {cv2.getNumThreads()}: "
          f"best {len(files) / best:.1f} images/s, mean {len(files) / mean:.1f} images/s")
    print(f"RESULT opencv_images_per_s={len(files) / best:.1f}")
    print(f"RESULT opencv_images_per_s_mean={len(files) / mean:.1f}")


if __name__ == "__main__":
    main()
