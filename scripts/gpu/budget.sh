# Issue 13: accuracy-budget search with group testing, from a table of algos.sh (default: its
# Entropy2 table, calibrated first when missing). Runs in the background (longer than one
# call): poll /tmp/r/budget_$M/budget.log.
#   M=eff|res|mt TABLE=... POINTS=5 G= TRIALS=8 EXTRA=--minmax bash scripts/gpu/budget.sh
. "$(dirname "$0")/env.sh"
M=${M:-eff}; R=/tmp/r/budget_$M; mkdir -p $R /tmp/r/$M/alg
pick $M || exit 2; ev="--eval $evdata"
TABLE=${TABLE:-/tmp/r/$M/alg/e2.cache}
X=--tensorrt-tactics-only
nohup setsid bash -c "
  [ -s $TABLE ] || trt calib $model $calib --calib-cache $TABLE $X
  time trt build $model --strict-int8 --calib-cache $TABLE --require-cache ${EXTRA:-} \
    --accuracy-budget ${POINTS:-5} $ev --budget-measure-groups ${G:-} --budget-trials ${TRIALS:-8} \
    --budget-plot $R/ranking.svg -o $R/budget.engine $X
  echo budget-rc=\$?" > $R/budget.log 2>&1 &
echo started $!
