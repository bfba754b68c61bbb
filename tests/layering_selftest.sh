#!/usr/bin/env bash
# tools/check_layers.py must fail on an include that points up a layer, and pass once it is gone.
#   tests/layering_selftest.sh SOURCE_DIR
set -eu
SRC=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp "$SRC/README.md" "$T/"
mkdir -p "$T/src/runtime" "$T/src/search" "$T/include/radars"
printf '#include "radars/device.h"\n' > "$T/src/search/ok.c"
printf '#include "radars/search.h"\nint f(void);\n' > "$T/src/runtime/up.c"
if python3 "$SRC/tools/check_layers.py" --root "$T" > "$T/out" 2>&1; then
  echo "layering_selftest: an upward include (runtime -> search) passed"; cat "$T/out"; exit 1
fi
grep -q "src/runtime/up.c:1: layer runtime includes radars/search.h of layer search above it" "$T/out"
rm "$T/src/runtime/up.c"
python3 "$SRC/tools/check_layers.py" --root "$T"
echo "layering_selftest: the upward include was caught, the clean tree passed"
