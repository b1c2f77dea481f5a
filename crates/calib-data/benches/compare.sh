#!/usr/bin/env bash
# Make ~64 real JPEG photos (scikit-image data, several sizes) in a scratch folder, then run
# our pipeline and the OpenCV baseline on them and print the ratio.
#   crates/calib-data/benches/compare.sh [IMAGE_DIR]
# Needs: pip install opencv-python-headless numpy scikit-image
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:-/tmp/calib-bench-images}"
PASSES="${PASSES:-5}"
mkdir -p "$DIR"
python3 - "$DIR" <<'PY'
import os, sys, cv2, numpy as np, skimage.data as d
out = sys.argv[1]
names = ["astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry", "retina", "motorcycle_left"]
imgs = []
for n in names:
    try:
        a = getattr(d, n)()
    except Exception:
        continue
    if a.ndim == 3 and a.shape[2] >= 3:
        imgs.append(np.ascontiguousarray(a[..., :3]))
# 64 JPEGs: every photo at 8 sizes (long side 320..1024), quality 90, as a camera/web set would be.
sizes = [320, 400, 480, 500, 640, 720, 800, 1024]
k = 0
while k < 64:
    a = imgs[k % len(imgs)]
    s = sizes[(k // len(imgs)) % len(sizes)]
    h, w = a.shape[:2]
    f = s / max(h, w)
    b = cv2.resize(a, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(out, f"img_{k:03d}.jpg"), cv2.cvtColor(b, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    k += 1
print(f"{k} JPEGs from {len(imgs)} photos in {out}")
PY
cd "$HERE/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-data}"
OUT_OURS=$(CALIB_BENCH_IMAGES="$DIR" CALIB_BENCH_PASSES="$PASSES" cargo bench -q -p trt-calib-data --bench preprocess 2>/dev/null | tee /dev/stderr)
OUT_CV=$(python3 "$HERE/opencv_baseline.py" "$DIR" "$PASSES" | tee /dev/stderr)
OURS=$(sed -n 's/^RESULT ours_images_per_s=//p' <<<"$OUT_OURS")
OURS_MEAN=$(sed -n 's/^RESULT ours_images_per_s_mean=//p' <<<"$OUT_OURS")
CV=$(sed -n 's/^RESULT opencv_images_per_s=//p' <<<"$OUT_CV")
CV_MEAN=$(sed -n 's/^RESULT opencv_images_per_s_mean=//p' <<<"$OUT_CV")
echo "nproc: $(nproc)"
python3 -c "print(f'best: ours {$OURS:.1f} images/s vs OpenCV {$CV:.1f} images/s: ratio {$OURS/$CV:.2f}x')"
python3 -c "print(f'mean: ours {$OURS_MEAN:.1f} images/s vs OpenCV {$CV_MEAN:.1f} images/s: ratio {$OURS_MEAN/$CV_MEAN:.2f}x')"
