# Issue 13: accuracy-budget search with group testing, from a table of algos.sh (default: its
# Entropy2 table, calibrated first when missing). Runs in the background (longer than one
# call): poll /tmp/r/budget_$M/budget.log.
#   M=eff|res|mt TABLE=... POINTS=5 G= TRIALS=8 EXTRA=--minmax bash scripts/gpu/budget.sh
. "$(dirname "$0")/env.sh"
M=${M:-eff}; R=/tmp/r/budget_$M; mkdir -p $R /tmp/r/$M/alg
case $M in
  eff) model=$A/models/efficientnet_lite0.onnx; calib="--calib $A/data/split/calib $PRE"; ev="--eval $A/data/split/eval $PRE" ;;
  res) model=$A/models/resnet18.onnx; calib="--calib $A/data/split/calib $PRE"; ev="--eval $A/data/split/eval $PRE" ;;
  mt)  model=$A/models/mtcnn_rnet_onet.onnx; calib="--calib-config /tmp/mtcnn.toml"; ev="--eval /tmp/mtcnn_eval.toml" ;;
esac
TABLE=${TABLE:-/tmp/r/$M/alg/e2.cache}
X=--tensorrt-tactics-only
nohup setsid bash -c "
  [ -s $TABLE ] || trt calib $model $calib --calib-cache $TABLE $X
  time trt build $model --strict-int8 --calib-cache $TABLE --require-cache ${EXTRA:-} \
    --accuracy-budget ${POINTS:-5} $ev --budget-measure-groups ${G:-} --budget-trials ${TRIALS:-8} \
    --budget-plot $R/ranking.svg -o $R/budget.engine $X
  echo budget-rc=\$?" > $R/budget.log 2>&1 &
echo started $!
