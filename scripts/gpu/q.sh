# Issue 12 on one model: implicit strict INT8 (TensorRT Entropy2) -> Q/DQ export placed after
# it -> explicit build -> qdq compare -> eval of both against FP32 on held-out data.
#   bash scripts/gpu/q.sh eff|res|mt     (results in /tmp/r/$M, log in $OUT)
set -o pipefail
. "$(dirname "$0")/env.sh"
M=$1; R=/tmp/r/$M; mkdir -p $R
pick $M || exit 2; ev="--data $evdata"
X=--tensorrt-tactics-only
{
[ -s $R/int8.engine ] || step trt build $model --strict-int8 $calib --calib-cache $R/e2.cache -o $R/int8.engine $X
[ -s $R/qdq.engine ] || step trt qdq export $model --calib-cache $R/e2.cache -o $R/qdq.onnx --engine $R/int8.engine.report.json --report $R/qdq.json
[ -s $R/qdq.engine ] || step trt build $R/qdq.onnx -o $R/qdq.engine $X
[ -s $R/compare.json ] || step trt qdq compare $R/int8.engine $R/qdq.engine
[ -s $R/compare.json ] || step sh -c "trt qdq compare $R/int8.engine $R/qdq.engine --json > $R/compare.json"
step trt eval $R/int8.engine --reference $model $ev --save-reference $R/fp32.engine $X
step trt eval $R/qdq.engine --reference $R/fp32.engine $ev $X
} 2>&1 | grep --line-buffered -v "MemUsageChange\|^info: \[" | tee -a $OUT/q_$M.log
tar czf $OUT/q_$M.tgz --exclude='*.engine' --exclude='qdq.onnx' -C /tmp/r $M
