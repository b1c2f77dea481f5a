"""Real photographs for calibration/evaluation -> .device/data/photos/NNN_<source>[_cropK].jpg

Sources (real photographs only; logos, drawings, renders and synthetic test patterns are left out):
  - scikit-image 0.26.0 wheel, skimage/data/ (BSD-3-Clause; see skimage/data/README.txt for each
    image's own licence, mostly public domain / CC0)
  - Debian opencv-doc 4.6.0 (bookworm), /usr/share/doc/opencv-doc/examples/data/ (OpenCV sample
    data, Apache-2.0 / BSD as shipped in OpenCV's samples/data)
Every photo is stored once in full (short side resized to 256 if larger), then distinct square crops
(different regions and scales) of the same originals are added until there are N_TOTAL files.
All files are RGB JPEG quality 90 (grey photos are replicated to 3 channels).
"""
import os
import shutil
import skimage
from PIL import Image

N_TOTAL = 128
SHORT = 256
OUT = os.path.join(os.environ.get("DATA_OUT", ".device/data"), "photos")
SK = os.path.join(os.path.dirname(skimage.__file__), "data")
CV = os.path.join(os.environ.get("DEB_ROOT", "/"), "usr/share/doc/opencv-doc/examples/data")

SOURCES = [(SK, n) for n in [
    "chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
    "camera.png", "coins.png", "moon.png", "grass.png", "gravel.png", "brick.png",
    "hubble_deep_field.jpg", "retina.jpg", "ihc.png",
]] + [(CV, n) for n in [
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
    "board.jpg", "box.png", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png",
    "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "leuvenA.jpg",
    "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
    "squirrel_cls.jpg", "stuff.jpg", "sudoku.png", "left01.jpg", "right07.jpg",
]]

# (side as a fraction of the short side, centre x, centre y) for the extra crops
CROPS = [(0.6, 0.3, 0.3), (0.6, 0.7, 0.7), (0.45, 0.5, 0.5), (0.6, 0.7, 0.3), (0.6, 0.3, 0.7),
         (0.35, 0.4, 0.6), (0.75, 0.5, 0.5)]


def shrink(im):
    w, h = im.size
    s = SHORT / min(w, h)
    if s < 1:
        im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
    return im


def crop(im, frac, cx, cy):
    w, h = im.size
    side = int(frac * min(w, h))
    x0 = min(max(int(cx * w - side / 2), 0), w - side)
    y0 = min(max(int(cy * h - side / 2), 0), h - side)
    return im.crop((x0, y0, x0 + side, y0 + side))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    imgs = []
    for d, n in SOURCES:
        im = Image.open(os.path.join(d, n)).convert("RGB")
        imgs.append((os.path.splitext(n)[0], im))
    items = [(name, shrink(im)) for name, im in imgs]
    k = 0
    while len(items) < N_TOTAL:
        frac, cx, cy = CROPS[k // len(imgs)]
        name, im = imgs[k % len(imgs)]
        items.append((f"{name}_crop{k // len(imgs)}", shrink(crop(im, frac, cx, cy))))
        k += 1
    for i, (name, im) in enumerate(items):
        im.save(os.path.join(OUT, f"{i:03d}_{name}.jpg"), quality=90)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(items)} photos ({len(imgs)} distinct originals, {len(items) - len(imgs)} crops),"
          f" {total / 2**20:.1f} MiB in {OUT}")


if __name__ == "__main__":
    main()
