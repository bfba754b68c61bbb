#!/usr/bin/env bash
# On a machine with a GPU's OpenCL driver (NVIDIA, AMD or Intel): list the devices, run the
# kernel self-check, the op tests, bench_ops and the search-step benchmark against PyTorch
# (on CUDA when torch sees a GPU) on that GPU, with the default kernel parameters, then
# `radars tune` (TUNE_BUDGET seconds, default 300) and both benchmarks again, tuned. Everything goes to stdout and to $OUT_DIR.
#   tools/gpu_check.sh [DEVICE_SELECTOR]      (default: gpu's name from `radars devices`, e.g. nvidia)
# Expects a build in build/ (tools/setup.sh build). On a machine where nothing can be
# installed, carry the .debs of ocl-icd-libopencl1 and libclblast1 (and the build's other
# libraries), unpack them with dpkg -x and set LD_LIBRARY_PATH / OCL_ICD_VENDORS (for NVIDIA:
# the ICD under /usr/local/nvidia) before calling this script.
set -uo pipefail
cd "$(dirname "$0")/.."
SEL=${1:-${RADARS_DEVICE:-gpu}}
OUT_DIR=${OUT_DIR:-gpu-check}
mkdir -p "$OUT_DIR"
log() { echo "== $*" | tee -a "$OUT_DIR/summary.txt"; }
status=0
step() {  # step NAME CMD...: runs, logs, records the exit status
  local name=$1; shift
  log "$name: $*"
  local t0=$(date +%s)
  "$@" > "$OUT_DIR/$name.log" 2>&1; local rc=$?
  tail -n 40 "$OUT_DIR/$name.log"
  log "$name: exit $rc, $(( $(date +%s) - t0 )) s"
  [ $rc -eq 0 ] || status=1
}
if [ "$SEL" = gpu ]; then  # first GPU radars finds (the default choice)
  SEL=$(build/radars devices | sed -n 's/^  [* ] device \([0-9]*\): .*\[GPU\]$/\1/p' | head -n1)
  [ -n "$SEL" ] || { echo "gpu_check: no GPU among the OpenCL devices:"; build/radars devices; exit 2; }
fi
export RADARS_DEVICE=$SEL
step devices build/radars devices
step selfcheck build/radars selfcheck
for t in build/tests/test_ops_* build/tests/test_optim build/tests/test_nn_network build/tests/test_nn_supernet; do
  [ -x "$t" ] && step "$(basename "$t")" env RADARS_SOURCE_DIR="$PWD" "$t"
done
# the local-memory kernels written for GPUs, and the other candidates, against the references
step tuned_conv env RADARS_SOURCE_DIR="$PWD" RADARS_TEST_TUNING="conv_pw=local conv_dwc=local" build/tests/test_ops_conv
PEER=cpu
/usr/bin/python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && PEER=cuda
# before and after tuning: the defaults, then radars tune (default recipe), then the tuned kernels
export RADARS_CACHE_DIR=${RADARS_CACHE_DIR:-$PWD/$OUT_DIR/cache}
step bench_ops_defaults env RADARS_TUNING=0 build/bench_ops
step bench_search_defaults env RADARS_TUNING=0 /usr/bin/python3 tools/bench_search.py --device "$SEL" --peer-device "$PEER" --steps 5
step tune build/radars tune --budget "${TUNE_BUDGET:-300}"
step bench_ops_tuned build/bench_ops
step bench_search_tuned /usr/bin/python3 tools/bench_search.py --device "$SEL" --peer-device "$PEER" --steps 5
log "gpu_check: $([ $status -eq 0 ] && echo all steps passed || echo some steps failed), logs in $OUT_DIR"
exit $status
