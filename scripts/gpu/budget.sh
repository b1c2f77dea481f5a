# Issue 13: accuracy-budget search with group testing, from a table of algos.sh (default: its
# Entropy2 table, calibrated first when missing). Longer than one call: run it through bg.sh.
#   M=eff|res|mt TABLE=... POINTS=5 G= TRIALS=8 EXTRA=--minmax bash scripts/gpu/budget.sh
set -o pipefail
. "$(dirname "$0")/env.sh"
M=${M:-eff}; R=/tmp/r/budget_$M; mkdir -p $R /tmp/r/$M/alg
pick $M || exit 2
TABLE=${TABLE:-/tmp/r/$M/alg/e2.cache}
X=--tensorrt-tactics-only
{
[ -s $TABLE ] || step trt calib $model $calib --calib-cache $TABLE $X
step trt build $model --strict-int8 --calib-cache $TABLE --require-cache ${EXTRA:-} \
  --accuracy-budget ${POINTS:-5} --eval $evdata --budget-measure-groups ${G:-} --budget-trials ${TRIALS:-8} \
  --budget-plot $R/ranking.svg -o $R/budget.engine $X
} 2>&1 | grep --line-buffered -v "MemUsageChange\|^info: \[" | tee $R/budget.log | tee -a ${OUT:-/tmp/out}/budget_$M.log
tar czf ${OUT:-/tmp/out}/budget_$M.tgz --exclude='*.engine' -C /tmp/r budget_$M
