#!/usr/bin/env bash
# The CLI on bad input: one clear line naming what is wrong, a non-zero exit, never a crash.
#   tests/cli_errors.sh BUILD_DIR SOURCE_DIR
set -u
B=$1/radars
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

# expect STATUS-CLASS PATTERN -- command...   (nonzero: exit status 1..125, not a signal)
expect() {
  local pattern=$1; shift
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 126 ]; then
    echo "FAIL ($rc): $* -> expected an error"; echo "$out"; fails=$((fails + 1)); return
  fi
  if ! grep -qE "$pattern" <<<"$out"; then
    echo "FAIL: $* -> message lacks /$pattern/:"; echo "$out"; fails=$((fails + 1)); return
  fi
  if [ "$(grep -c '^radars:' <<<"$out")" -lt 1 ]; then
    echo "FAIL: $* -> no 'radars:' error line"; echo "$out"; fails=$((fails + 1)); return
  fi
  echo "ok: $*"
}

expect "unknown command 'serch'" "$B" serch
expect "search.epoch.*did you mean 'search.epochs'" "$B" search --set search.epoch=3 --out "$T/a"
expect "search.epochs.*out of range" "$B" search --set search.epochs=-2 --out "$T/b"
expect "search.arch_warmup_epochs = 3 leaves none of search.epochs = 3" "$B" search --set search.epochs=3 \
  --set search.arch_warmup_epochs=3 --out "$T/b2"
expect "not an integer" "$B" search --set model.C=sixteen --out "$T/c"
expect "unknown op 'sep_conv_9x9'" "$B" search --set model.ops=none,sep_conv_9x9 --out "$T/d"
printf 'schema = search\n[search]\nepochs = 3\nbogus = 1\n' > "$T/bad.ini"
expect "bad.ini:4: unknown key" "$B" search --config "$T/bad.ini" --out "$T/e"
expect "no such file|cannot open|not found" "$B" search --config "$T/missing.ini" --out "$T/f"
expect "idx|train-images" "$B" search --set "data.dataset=idx:$T/nothing" --out "$T/g"
printf 'garbage' > "$T/train-images-idx3-ubyte"
printf 'garbage' > "$T/train-labels-idx1-ubyte"
expect "train-images-idx3-ubyte" "$B" search --set "data.dataset=idx:$T" --out "$T/h"
expect "RADARS_DEVICE=no-such-gpu|no device name matches" env RADARS_DEVICE=no-such-gpu "$B" devices
expect "no device name matches" "$B" selfcheck --device no-such-gpu
expect "not a memory size|unknown unit" "$B" search --mem-cap 2parsecs --out "$T/i"
expect "checkpoint.safetensors|No such file|cannot open" "$B" genotype "$T/nope"
printf 'not a safetensors file at all' > "$T/bad.safetensors"
expect "bad.safetensors" "$B" genotype "$T/bad.safetensors"
expect "genotype: --max-param-free-normal needs an integer from -1 to 8, not .9." "$B" genotype --max-param-free-normal 9 "$T/bad.safetensors"
expect "genotype: --max-skip-normal needs an integer from -1 to 8$" "$B" genotype "$T/bad.safetensors" --max-skip-normal
expect "resume" "$B" search --resume "$T/never-ran"
expect "search --score DARTS_V9: unknown genotype 'DARTS_V9'" "$B" search --score DARTS_V9 --out "$T/s1"
expect "scoring genotypes needs a one-shot supernet \(search.strategy = rl or random-ws\), not 'radars'" \
  "$B" search --score DARTS_V2 --out "$T/s2"
expect "genotype 1 to score: op 'sep_conv_3x3' is not in model.ops" "$B" search --strategy random-ws \
  --set model.ops=none,skip_connect,max_pool_3x3 --score DARTS_V2 --out "$T/s3"
mkdir -p "$T/full" && touch "$T/full/x"
expect "not empty|non-empty" "$B" search --out "$T/full"
expect "unknown option" "$B" plan --frobnicate

# radars train / eval
expect "train.epoch.*did you mean 'train.epochs'" "$B" train --set train.epoch=3 --out "$T/t1"
expect "unknown genotype 'DARTS_V9'.*known" "$B" train --genotype DARTS_V9 --out "$T/t2"
expect "genotype.*unknown op 'sep_conv_9x9'" "$B" train --genotype "Genotype(normal=[('sep_conv_9x9', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])" --out "$T/t3"
expect "genotype.*expected" "$B" train --genotype "Genotype(normal=[('sep_conv_3x3', 0)" --out "$T/t4"
expect "model.C.*even" "$B" train --set model.C=7 --out "$T/t5"
expect "for schema 'search', not 'train'" "$B" train --config "$SRC/configs/quick.ini" --out "$T/t6"
expect "not a training run directory|config.ini" "$B" train --resume "$T/never-ran"
expect "unknown option" "$B" train --frobnicate
expect "checkpoint.safetensors|No such file|cannot open" "$B" eval "$T/nope"
expect "bad.safetensors" "$B" eval "$T/bad.safetensors"
expect "eval: --batch needs an integer from 1 to 1000000, not .0." "$B" eval "$T/bad.safetensors" --batch 0
expect "which checkpoint" "$B" eval
expect "plan: --ranks needs an integer from 1 to 65536, not '2x'" "$B" plan --ranks 2x
expect "search: --check-sync needs an integer from 0 to 1000000, not 'abc'" "$B" search --check-sync abc --out "$T/cs"
expect "train: --check-sync needs an integer from 0 to 1000000, not '-1'" "$B" train --check-sync -1 --out "$T/cs2"
expect "unknown schema 'bogus'" "$B" config --schema bogus

# the good paths answer --help and exit 0
for c in devices selfcheck search train eval plan genotype config plot; do
  if ! "$B" $c --help >/dev/null 2>&1; then echo "FAIL: radars $c --help"; fails=$((fails + 1)); fi
done
"$B" config --config "$SRC/configs/default.ini" >/dev/null || { echo "FAIL: config of default.ini"; fails=$((fails + 1)); }
for r in train.ini train_darts_cifar10.ini; do
  "$B" config --config "$SRC/configs/$r" >/dev/null || { echo "FAIL: config of $r"; fails=$((fails + 1)); }
done

echo "$fails failures"
[ $fails -eq 0 ]
