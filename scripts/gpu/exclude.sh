# Issue 13: strict INT8 keeps excluded layers out of INT8. EfficientNet-Lite0 from its Entropy2
# table with blocks.0's depthwise conv (+ its Clip) kept out, then the stem (+ its Clip) as well;
# each evaluated against FP32 on the held-out data. The build prints "kept out N layer(s), ran
# FP32 N"; the report's strict.excluded_int8 must be empty.
#   bash scripts/gpu/exclude.sh   (results in /tmp/r/eff/excl, log in $OUT)
set -o pipefail
. "$(dirname "$0")/env.sh"
M=eff; A2=/tmp/r/$M/alg; R=/tmp/r/$M/excl; mkdir -p $A2 $R
pick $M; X=--tensorrt-tactics-only
b0="--exclude-layer /_blocks.0/_depthwise_conv/Conv --exclude-layer /_blocks.0/Clip"
stem="--exclude-layer /_conv_stem/Conv --exclude-layer /Clip"
{
[ -s $A2/e2.cache ] || step trt calib $model $calib --calib-cache $A2/e2.cache $X
[ -s $A2/fp32.engine ] || step trt build $model -o $A2/fp32.engine $X
for r in "b0:$b0" "stem_b0:$stem $b0"; do
  n=${r%%:*}; f=${r#*:}
  [ -s $R/$n.eval.json ] && continue
  step trt build $model --strict-int8 $f --calib-cache $A2/e2.cache --require-cache -o $R/$n.engine $X
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['strict']; print('excluded_int8:', s.get('excluded_int8'))" $R/$n.engine.report.json 2>&1
  step sh -c "trt eval $R/$n.engine --reference $A2/fp32.engine --data $evdata $X --json > $R/$n.eval.json"
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); o=e['outputs'][0]; print('top1', o.get('top1'), 'cos', o['cosine'], 'maxabs', o.get('max_abs'), 'lat', (e.get('latency') or {}).get('ratio'), e['candidate_precisions'])" $R/$n.eval.json
  rm -f $R/$n.engine
done
} 2>&1 | grep --line-buffered -v "MemUsageChange\|^info: \[" | tee -a $OUT/exclude.log
tar czf $OUT/exclude.tgz --exclude='*.engine' -C /tmp/r $M/excl
