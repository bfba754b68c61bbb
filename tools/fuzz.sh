#!/usr/bin/env bash
# Fuzzes every reader of outside input with libFuzzer (clang, -fsanitize=fuzzer,address,undefined).
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default: 30 s per target, every fuzz/fuzz_*.c)
# Builds build-fuzz/ (CC=clang -DRADARS_FUZZ=ON), writes seed corpora with the normal build
# (build/radars: fuzz/make_seeds.sh), then runs each target for SECONDS on its seeds plus the
# kept inputs of fuzz/regressions/<target>/, two targets at a time. Fails on any crash, leak,
# sanitizer report, timeout (> 10 s per input) or out-of-memory (> 2 GiB): the input is in
# build-fuzz/artifacts/<target>/; keep it in fuzz/regressions/<target>/ once fixed.
# Prints per target: executions, coverage (edges), features and corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
JOBS=$(nproc)
FZ=build-fuzz
if [ ! -x build/radars ]; then echo "fuzz.sh: build/radars missing: run tools/setup.sh first" >&2; exit 1; fi
command -v clang > /dev/null || { echo "fuzz.sh: clang missing (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S . -B "$FZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRADARS_FUZZ=ON > /dev/null
cmake --build "$FZ" -j"$JOBS" --target fuzz_all > "$FZ.log" 2>&1 || { tail -30 "$FZ.log"; exit 1; }
if [ ! -d "$FZ/seeds" ] || [ build/radars -nt "$FZ/seeds" ]; then
  fuzz/make_seeds.sh build "$FZ/seeds"
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
run_one() {
  local t=$1
  mkdir -p "$FZ/corpus/$t" "$FZ/artifacts/$t"
  local kept=()
  [ -d "fuzz/regressions/$t" ] && kept=("fuzz/regressions/$t")
  # -runs=-1 with a wall-clock budget; leaks fail (no OpenCL driver is loaded by any target)
  if "$FZ/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$FZ/artifacts/$t/" \
       "$FZ/corpus/$t" "$FZ/seeds/$t" "${kept[@]}" > "$FZ/$t.log" 2>&1; then
    local execs cov ft corp
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$FZ/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$FZ/$t.log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$FZ/$t.log" | tail -1 | cut -d' ' -f2)
    corp=$(ls "$FZ/corpus/$t" | wc -l)
    printf '%-26s ok   %9s execs  cov %5s  ft %6s  corpus %5s\n' "$t" "$execs" "$cov" "$ft" "$corp"
  else
    printf '%-26s FAIL (log: %s, input: %s)\n' "$t" "$FZ/$t.log" "$(ls "$FZ/artifacts/$t" | head -1)"
    grep -m3 -E "ERROR|SUMMARY|property failed" "$FZ/$t.log" | sed 's/^/    /'
    return 1
  fi
}
export -f run_one
export FZ SECONDS_EACH
mkdir -p "$FZ/fuzz"
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || { echo "fuzz.sh: a target failed"; exit 1; }
echo "fuzz.sh: ${#targets[@]} targets, $SECONDS_EACH s each: no crash"
