#!/usr/bin/env bash
# radars tune end to end: the tuning file is written, later runs use it (and say so in one
# line), a hand-set tuning runs the op checks correctly, and a corrupt, truncated, stale or
# invalid file is ignored with the reason (defaults, exit 0) and rebuilt by the next tune.
#   tests/tune_cli.sh BUILD_DIR
set -u
B=$1/radars
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "tune_cli: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RADARS_CACHE_DIR=$T/cache
PY=/usr/bin/python3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
small=(--set model.C=2 --set model.layers=3 --set data.batch=2 --set model.ops=none,skip_connect,sep_conv_3x3,max_pool_3x3)

# note PATTERN: a run (radars plan) succeeds and its kernel-parameter line matches PATTERN
note() {
  local out rc
  out=$("$B" plan "${small[@]}" 2>&1 >/dev/null); rc=$?
  local line
  line=$(grep "kernel parameters:" <<<"$out")
  if [ $rc -ne 0 ]; then fail "plan exited $rc: $out"; return; fi
  if [ "$(grep -c "kernel parameters:" <<<"$out")" -ne 1 ]; then fail "not one kernel-parameter line: $out"; return; fi
  if grep -qE "$1" <<<"$line"; then echo "ok: $line"; else fail "expected /$1/, got: $line"; fi
}

note "defaults for .*no tuning data; 'radars tune' measures this device"

"$B" tune "${small[@]}" --budget 10 > "$T/out" 2> "$T/log" || { fail "tune failed"; tail -5 "$T/log"; }
cat "$T/out"
# when every parameter kept its default, "tuned" is the defaults' own timing, not another one
$PY - "$T/out" <<'PY' || fail "tuned and default seconds differ although nothing changed"
import re, sys
text = open(sys.argv[1]).read()
rows = re.findall(r"^(\w+) +(\S+) +(\S+) ", text.split("one pass over")[0], re.M)
same = all(d == t for k, d, t in rows if k != "parameter")
m = re.search(r"([0-9.]+) s with the defaults, ([0-9.]+) s tuned", text)
assert m, "no summary line"
assert not same or m.group(1) == m.group(2), m.group(0)
PY
file=$(sed -n 's/^written: //p' "$T/out")
[ -n "$file" ] && [ -r "$file" ] || { fail "no tuning file written"; echo "tune_cli: $fails failure(s)"; exit 1; }
grep -q "^radars: tuning '.*' at [0-9]* edge shapes" "$T/log" || fail "tune printed no progress"
grep -q "^radars: \[1/" "$T/log" || fail "tune timed no candidate"
$PY - "$file" <<'PY' || fail "the tuning file lacks its fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == 1 and d["device"] and d["driver"] and len(d["kernels"]) == 16
assert set(d["params"]) == {"wg", "conv_pw", "conv_row", "conv_dwc", "conv_group", "conv_rows", "conv_block",
                          "conv_pw_block", "conv_pw_pixels", "conv_pw_walk", "conv_pw_dw_block", "mixed_pass",
                          "mixed_walk"}
assert d["seconds_per_pass"]["tuned"] > 0
PY
note "tuned for .*tuning-[0-9a-f]{16}\.json"

# edit KEY VALUE: sets a top-level or params field of the tuning file (VALUE as JSON)
edit() {
  $PY - "$file" "$1" "$2" <<'PY'
import json, sys
path, key, value = sys.argv[1:]
d = json.load(open(path))
(d["params"] if key in d["params"] else d)[key] = json.loads(value)
json.dump(d, open(path, "w"))
PY
}
cp "$file" "$T/good.json"

# a hand-set tuning (other convolution and mixed-op kernels) passes every op check
edit conv_dwc '"generic"'; edit conv_pw '"generic"'; edit mixed_pass 4; edit mixed_walk '"coalesced"'
edit conv_rows 2; edit conv_block 16; edit conv_pw_block 2; edit conv_pw_pixels 16; edit conv_pw_dw_block 2
note "tuned for"
"$B" selfcheck -v > "$T/sc" 2>&1 || { fail "selfcheck under conv_dwc=generic conv_pw=generic mixed_pass=4 failed"; tail -5 "$T/sc"; }
grep -q "kernel parameters: tuned" "$T/sc" || fail "selfcheck did not use the tuning file"
# the convolutions' tiles from the file are the ones cl/conv.cl's parts are built with
if grep -q "program 'conv -DVL=8 -DDWC_RB=2 -DDWC_K=3'" "$T/sc" \
  && grep -q "program 'conv -DVL=8 -DCONV_COB=16 -DCONV_CIB=16 -DCONV_CIB2=8 -DROW_LIST=" "$T/sc" \
  && grep -q "program 'conv -DVL=8 -DPW_COB=2 -DPW_PB=2 -DPW_DW_COB=4 -DPW_DW_CIB=2 " "$T/sc"; then
  echo "ok: conv_rows=2 conv_block=16 conv_pw_block=2 conv_pw_pixels=16 conv_pw_dw_block=2 build cl/conv.cl's parts with their tiles"
else fail "cl/conv.cl not built with the file's tiles"; fi
# ... and the runs really take those kernels: the depthwise convolutions go generic
step=("$1/bench_step" --C 2 --layers 3 --batch 2 --hw 8 --ops none,sep_conv_3x3 --steps 1 --profile)
"${step[@]}" > "$T/p1" 2>&1 || fail "bench_step under the tuning file failed"
RADARS_TUNING=0 "${step[@]}" > "$T/p0" 2>&1 || fail "bench_step without the tuning file failed"
if grep -q " conv_fwd_gen " "$T/p1" && ! grep -q " dwc_fwd_" "$T/p1" && grep -q " dwc_fwd_" "$T/p0"; then
  echo "ok: conv_dwc=generic runs conv_fwd_gen, the defaults dwc_fwd_*"
else fail "the kernels run do not follow the tuning file"; fi

cp "$T/good.json" "$file"; edit kernels '"0123456789abcdef"'
note "ignored .*stale: the kernels changed.*'radars tune' rebuilds it"
cp "$T/good.json" "$file"; edit driver '"0.0-other"'
note "ignored .*stale: measured on .* driver 0.0-other"
cp "$T/good.json" "$file"; edit wg 3
note "ignored .*params.wg = '3' is not one of its candidates"
cp "$T/good.json" "$file"; edit conv_dwc '"fast"'
note "ignored .*params.conv_dwc = 'fast'"
cp "$T/good.json" "$file"; edit format 7
note "ignored .*not a format-1 tuning file"
head -c 40 "$T/good.json" > "$file"
note "ignored .*not a JSON object"
printf '\x00\xff garbage' > "$file"
note "ignored .*not a JSON object"
cp "$T/good.json" "$file"
RADARS_TUNING=0 "$B" plan "${small[@]}" 2>&1 >/dev/null | grep -q "defaults for .*(RADARS_TUNING=0)" \
  && echo "ok: RADARS_TUNING=0" || fail "RADARS_TUNING=0 did not turn the file off"

# the next tune rebuilds a corrupt file
printf 'garbage' > "$file"
"$B" tune "${small[@]}" --budget 3 > "$T/out2" 2> "$T/log2" || { fail "tune over a corrupt file failed"; tail -3 "$T/log2"; }
note "tuned for"

# bad tune arguments: one line, non-zero exit
out=$("$B" tune --budget -3 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "^radars: tune: --budget needs a positive number" <<<"$out" && echo "ok: --budget -3" || fail "--budget -3: $rc $out"
out=$("$B" tune --set model.C=zero 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "^radars:.*not an integer" <<<"$out" && echo "ok: model.C=zero" || fail "model.C=zero: $rc $out"

[ $fails -eq 0 ] && echo "tune_cli: all passed" || { echo "tune_cli: $fails failure(s)"; exit 1; }
