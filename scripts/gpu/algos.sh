# Issue 13 on one model: every calibration algorithm side by side. TensorRT's Entropy2 and
# MinMax, ours (entropy, minmax, percentile 99.99/99.999, MSE) from one collection, each
# built strict INT8 and evaluated against FP32 on the held-out data; plain INT8 from Entropy2.
#   bash scripts/gpu/algos.sh eff|res|mt   (results in /tmp/r/$M/alg, table and log in $OUT)
#   ONLY="o_ent o_mm" bash scripts/gpu/algos.sh mt   (those rows only; TensorRT calibrates only
#   for the rows that need its tables)
set -o pipefail
. "$(dirname "$0")/env.sh"
M=$1; R=/tmp/r/$M/alg; mkdir -p $R
pick $M || exit 2; ev="--data $evdata"
X=--tensorrt-tactics-only
# name:table:build flags (MinMax-headed tables build with --minmax)
runs="e2:e2:--strict-int8 mm:mm:--strict-int8_--minmax o_ent:o_ent:--strict-int8 o_mm:o_mm:--strict-int8_--minmax
  o_p9999:o_p9999:--strict-int8_--minmax o_p99999:o_p99999:--strict-int8_--minmax o_mse:o_mse:--strict-int8_--minmax plain:e2:--int8"
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
{
if { want e2 || want plain; } && [ ! -s $R/e2.cache ]; then step trt calib $model $calib --calib-cache $R/e2.cache $X; fi
if want mm && [ ! -s $R/mm.cache ]; then step trt calib $model $calib --minmax --calib-cache $R/mm.cache $X; fi
if [ ! -s $R/o_mse.cache ]; then step trt calib $model $calib --method entropy --calib-cache $R/o_ent.cache \
  --also minmax:$R/o_mm.cache --also percentile=99.99:$R/o_p9999.cache \
  --also percentile=99.999:$R/o_p99999.cache --also mse:$R/o_mse.cache $X; fi
[ -s $R/fp32.engine ] || step trt build $model -o $R/fp32.engine $X
for r in $runs; do
  n=${r%%:*}; rest=${r#*:}; t=${rest%%:*}; f=${rest#*:}; f=${f//_/ }
  want $n || continue
  [ -s $R/$n.eval.json ] && continue
  if [ ! -s $R/$t.cache ]; then echo "=== $M: $n skipped, no table $R/$t.cache"; continue; fi
  step trt build $model $f --calib-cache $R/$t.cache --require-cache -o $R/$n.engine $X
  step sh -c "trt eval $R/$n.engine --reference $R/fp32.engine $ev --json $X > $R/$n.eval.json.tmp && mv $R/$n.eval.json.tmp $R/$n.eval.json || { rm -f $R/$n.eval.json.tmp; exit 1; }"
  rm -f $R/$n.engine
done
python3 - $R <<'PY'
import json, sys, pathlib
R = pathlib.Path(sys.argv[1])
print("| table | top-1 agreement | cosine (first output) | INT8 / FP32 GPU time | precisions |")
for n in "e2 mm o_ent o_mm o_p9999 o_p99999 o_mse plain".split():
    p = R / f"{n}.eval.json"
    if not p.exists(): continue
    e = json.loads(p.read_text())
    o = e["outputs"]
    top1 = ", ".join(f"{x['name']} {100*x['top1']:.2f}%" for x in o if x.get("top1") is not None)
    lat = e.get("latency") or {}
    print(f"| {n} | {top1} | {o[0]['cosine']:.4f} | {lat.get('ratio', float('nan')):.3f} | {e['candidate_precisions']} |")
PY
} 2>&1 | grep --line-buffered -v "MemUsageChange\|^info: \[" | tee -a $OUT/algos_$M.log
tar czf $OUT/algos_$M.tgz --exclude='*.engine' -C /tmp/r $M/alg
