# Issue 13: accuracy-budget search on EfficientNet-Lite0 from q.sh's Entropy2 table, group
# testing. Runs in the background (longer than one call): poll $R/budget.log.
. scripts/gpu/env.sh
R=/tmp/r/budget; mkdir -p $R
model=$A/models/efficientnet_lite0.onnx
nohup setsid trt build $model --strict-int8 --calib-cache /tmp/r/eff/e2.cache --accuracy-budget ${POINTS:-5} \
  --eval $A/data/split/eval $PRE --budget-measure-groups ${G:-} --budget-trials ${TRIALS:-8} \
  --budget-plot $R/ranking.svg -o $R/budget.engine --tensorrt-tactics-only > $R/budget.log 2>&1 &
echo started $!
