#!/usr/bin/env bash
# radars selfcheck on empty caches (radars-cl's and POCL's): passes when every check
# passes; prints the cold and then the warm time (figures, not assertions).
set -euo pipefail
BUILD=$1
dir=$(mktemp -d /tmp/radars-cold-XXXXXX)
trap 'rm -rf "$dir"' EXIT
export RADARS_CACHE_DIR=$dir/radars POCL_CACHE_DIR=$dir/pocl
for run in cold warm; do
  t0=$(date +%s%N)
  "$BUILD/radars" selfcheck > "$dir/$run.log" 2>&1 || { cat "$dir/$run.log"; exit 1; }
  t1=$(date +%s%N)
  grep -q "all .* checks passed" "$dir/$run.log"
  ms=$(( (t1 - t0) / 1000000 ))
  printf 'cold_selfcheck: %s selfcheck on %s: %d.%01d s\n' "$run" "$(sed -n 's/^device: //p' "$dir/$run.log")" $((ms / 1000)) $((ms % 1000 / 100))
done
