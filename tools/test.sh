#!/usr/bin/env bash
# The whole test suite: set up, build, run every test; fuzz every reader of outside input
# for a fixed budget; then the tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (skip with RADARS_NO_SANITIZE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
tools/setup.sh build
(cd build && ctest --output-on-failure -j"$JOBS")
# Every reader of outside input under libFuzzer for a fixed budget (RADARS_FUZZ_SECONDS, default 30 s each)
tools/fuzz.sh "${RADARS_FUZZ_SECONDS:-30}"
if [ "${RADARS_NO_SANITIZE:-0}" != 1 ]; then
  RADARS_SKIP_APT=1 tools/setup.sh build-asan -DRADARS_SANITIZE=ON
  # Leaks inside the OpenCL driver and CLBlast are suppressed (tests/lsan.supp); ours are not.
  # Slow unwinding: with the fast one, a driver's leak can lose the frames that name the driver
  # (Clover's, seen as "<unknown module>"), and the suppression would not match.
  (cd build-asan && LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$JOBS")
fi
echo "test.sh: all tests passed"
