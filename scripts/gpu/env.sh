# Source at the start of every GPU call: TensorRT paths, our binaries, assets, the repo path.
V=${V:-85}
if [ "$V" = 86 ]; then . /tmp/kit86/unpack.sh; else . /tmp/kit85/unpack.sh; fi
export PATH=/tmp/bin$V:$PATH TRT_TEST_ASSETS=/tmp/assets RUST_LOG=${RUST_LOG:-info}
mkdir -p /work && ln -sfn "$PWD" /work/main
A=/tmp/assets
PRE="--size 224x224 --short-side 256 --rgb --mean 127 --std 128"
# CLI tests run the trt binary by the path it was built at.
mkdir -p /work/target-$V/release && ln -sfn /tmp/bin$V/trt /work/target-$V/release/trt
