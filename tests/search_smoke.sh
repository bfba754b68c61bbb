#!/usr/bin/env bash
# A short real search: configs/quick.ini (DARTS, C=4, 3 cells, batch 32) on Fashion-MNIST for
# 4 epochs x 60 steps. The validation accuracy of the supernet (alpha half of the training set)
# must rise well above chance (10%): we require 50%.
#   tests/search_smoke.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1/radars
SRC=$2
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "search_smoke: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B" search --config "$SRC/configs/quick.ini" --set search.epochs=4 --out "$T/run" > "$T/genotype" 2> "$T/log"
cat "$T/log" | grep -E "epoch|cap|genotype" || true
acc=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['final']['valid_acc'])" "$T/run/report.json")
first=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['darts_epochs'][0]['valid_acc'])" "$T/run/report.json")
echo "search_smoke: validation accuracy after the first epoch $first, at the end $acc (chance 0.10)"
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.5 else 1)" "$acc"
grep -q "^Genotype(normal=" "$T/genotype"
# the run directory names the same genotype; derived again with no weightless op allowed in
# the normal cell, it holds none there (every edge of this recipe keeps its convolutions)
"$B" genotype "$T/run" | cmp -s - "$T/genotype" || { echo "search_smoke: radars genotype names another genotype"; exit 1; }
guarded=$("$B" genotype --max-param-free-normal 0 "$T/run")
echo "search_smoke: with --max-param-free-normal 0: $guarded"
normal=${guarded%%reduce=*}
if grep -qE "pool|skip_connect" <<<"$normal"; then echo "search_smoke: the guard left a weightless op"; exit 1; fi
# PC-DARTS in a fresh process: the step's measured peak is its prediction to the byte (the
# optimizer's Adam state covers the betas as well as the alphas)
"$B" search --config "$SRC/configs/quick.ini" --strategy pcdarts --set search.epochs=1 \
  --set search.steps_per_epoch=2 --set search.eval_batches=2 --out "$T/pc" > /dev/null 2> "$T/pclog"
read -r pk pr < <(/usr/bin/python3 -c "
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if '\"peak_bytes\"' in l][-1]
print(e['peak_bytes'], e['predicted_bytes'])" "$T/pc/metrics.jsonl")
echo "search_smoke: PC-DARTS peak $pk B, predicted $pr B"
[ "$pk" = "$pr" ] || { echo "search_smoke: PC-DARTS' peak is not its prediction"; exit 1; }
