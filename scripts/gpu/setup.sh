# First call after the parts: kit, binaries, small data into /tmp.
set -e
V=${V:-85}
mkdir -p /tmp/kit$V /tmp/bin$V /tmp/assets/data /tmp/assets/models /tmp/r
if [ "$V" = 86 ]; then cp -r .device/kits/trt-8.6.0/. /tmp/kit86/; else cp -r .device/kits/trt/. /tmp/kit85/; fi
cp .device/bin-$V/* /tmp/bin$V/
for d in .device/data/*; do [ -e "$d" ] && cp -r "$d" /tmp/assets/data/; done
for m in .device/models/*; do [ -e "$m" ] && cp "$m" /tmp/assets/models/; done
cp scripts/gpu/*.toml /tmp/ 2>/dev/null || true
# Background jobs run the scripts from /tmp/g: the working tree is replaced with every call.
mkdir -p /tmp/g && cp scripts/gpu/* /tmp/g/
. scripts/gpu/env.sh
ls $TRT_LIB_DIR; nvidia-smi -L; ls /tmp/assets/data /tmp/assets/models
# Tables of an earlier run (MODEL.e2.cache, MODEL.mm.cache) where algos.sh and budget.sh look.
for t in .device/tables/*.cache; do [ -e "$t" ] || continue; f=$(basename $t); m=${f%%.*}; mkdir -p /tmp/r/$m/alg; cp $t /tmp/r/$m/alg/${f#*.}; done
