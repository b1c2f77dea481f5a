# Source at the start of every GPU call: TensorRT paths, our binaries, assets, the repo path.
V=${V:-85}
if [ "$V" = 86 ]; then . /tmp/kit86/unpack.sh; else . /tmp/kit85/unpack.sh; fi
export PATH=/tmp/bin$V:$PATH TRT_TEST_ASSETS=/tmp/assets RUST_LOG=${RUST_LOG:-info}
mkdir -p /work && ln -sfn "$PWD" /work/main
A=/tmp/assets
PRE="--size 224x224 --short-side 256 --rgb --mean 127 --std 128"
# CLI tests run the trt binary by the path it was built at.
mkdir -p /work/target-$V/release && ln -sfn /tmp/bin$V/trt /work/target-$V/release/trt
# The model of M (eff|res|mt): its ONNX file, calibration flags, and held-out data (path and
# preprocessing, after --data or --eval).
pick() {
  case $1 in
    eff) model=$A/models/efficientnet_lite0.onnx; calib="--calib $A/data/split/calib $PRE"; evdata="$A/data/split/eval $PRE" ;;
    res) model=$A/models/resnet18.onnx; calib="--calib $A/data/split/calib $PRE"; evdata="$A/data/split/eval $PRE" ;;
    mt)  model=$A/models/mtcnn_rnet_onet.onnx; calib="--calib-config /tmp/mtcnn.toml"; evdata=/tmp/mtcnn_eval.toml ;;
    *)   echo "unknown model $1 (eff|res|mt)" >&2; return 1 ;;
  esac
}
# One logged step of a run: the command, then its exit code and seconds.
step() { echo "=== $M: $*"; local t=$SECONDS; "$@"; local rc=$?; echo "=== rc=$rc $((SECONDS - t)) s"; }
