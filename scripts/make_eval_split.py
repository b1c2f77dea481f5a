"""Calibration and held-out evaluation photos, split by original -> .device/data/split/{calib,eval}/

The originals are make_photos.py's real photographs (scikit-image and OpenCV sample data). They
are split by original, so no evaluation image shares a scene with a calibration image:
  - calib/: originals 0, 2, 4, ... (every other one), each in full and as 3 variants -> 4 per original;
  - eval/:  originals 1, 3, 5, ..., each as 32 variants: the full photo and square crops at
            3 scales x 5 positions, each also mirrored -> 32 per original (640 for 20 originals).
Every file is RGB JPEG quality 90, short side resized to 256 if larger, named
NNN_<original>_<variant>.jpg so that file-name order groups one original's variants.
"""
import os
import shutil

from PIL import Image, ImageOps

import make_photos as mp

DATA = os.environ.get("DATA_OUT", ".device/data")
OUT = os.path.join(DATA, "split")
POSITIONS = [(0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)]
EVAL_SCALES = [0.85, 0.7, 0.55]
CALIB_VARIANTS = [("crop60", 0.6, 0.3, 0.3), ("crop60b", 0.6, 0.7, 0.7)]


def variants_eval(im):
    out = [("full", im)]
    for s in EVAL_SCALES:
        for k, (cx, cy) in enumerate(POSITIONS):
            out.append((f"s{int(s * 100)}p{k}", mp.crop(im, s, cx, cy)))
    return out + [(f"{n}_flip", ImageOps.mirror(v)) for n, v in out]


def variants_calib(im):
    out = [("full", im), ("full_flip", ImageOps.mirror(im))]
    out += [(n, mp.crop(im, s, cx, cy)) for n, s, cx, cy in CALIB_VARIANTS]
    return out[:4]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    counts = {}
    for part in ("calib", "eval"):
        os.makedirs(os.path.join(OUT, part))
        counts[part] = [0, 0]
    for i, (d, n) in enumerate(mp.SOURCES):
        im = Image.open(os.path.join(d, n)).convert("RGB")
        name = os.path.splitext(n)[0]
        part, variants = ("calib", variants_calib) if i % 2 == 0 else ("eval", variants_eval)
        counts[part][1] += 1
        for v, img in variants(im):
            k = counts[part][0]
            mp.shrink(img).save(os.path.join(OUT, part, f"{k:03d}_{name}_{v}.jpg"), quality=90)
            counts[part][0] += 1
    for part, (files, originals) in counts.items():
        size = sum(os.path.getsize(os.path.join(OUT, part, f)) for f in os.listdir(os.path.join(OUT, part)))
        print(f"{part}: {files} images of {originals} originals, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
