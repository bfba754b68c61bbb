#!/usr/bin/env bash
# radars train / eval / genotype from the command line on a Fashion-MNIST subset: Ctrl-C
# (SIGINT) checkpoints and exits 130, --resume finishes the run, eval reports the final
# record's test accuracy, genotype reads the trained genotype back.
#   tests/train_cli.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1/radars
SRC=$2
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "train_cli: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
args=(--genotype DARTS_V2 --set model.C=4 --set model.layers=3 --set data.train_limit=4000 --set data.test_limit=500
      --set data.batch=16 --epochs 2 --no-plots)
"$B" train "${args[@]}" --out "$T/run" > "$T/out" 2> "$T/log" &
pid=$!
# the first progress line comes after the first step
for _ in $(seq 1 600); do grep -q "train step" "$T/log" && break; sleep 0.1; done
kill -INT $pid
rc=0; wait $pid || rc=$?
cat "$T/log" | grep -v "^genotype" || true
[ $rc -eq 130 ] || { echo "train_cli: Ctrl-C exit status $rc, expected 130"; exit 1; }
grep -q "resume with: radars train --resume" "$T/log" || { echo "train_cli: no resume hint"; exit 1; }
[ -r "$T/run/checkpoint.safetensors" ] || { echo "train_cli: no checkpoint after Ctrl-C"; exit 1; }
"$B" train --resume "$T/run" --no-plots > "$T/out" 2> "$T/log2"
grep -E "^resuming|^epoch|^test" "$T/log2"
acc=$(sed -n 's/^test_acc=\([0-9.]*\) .*/\1/p' "$T/out")
ev=$("$B" eval "$T/run" --json | /usr/bin/python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['top1'])")
echo "train_cli: test accuracy $acc, radars eval $ev"
[ "$acc" = "$ev" ] || { echo "train_cli: eval differs from the run"; exit 1; }
"$B" genotype "$T/run" | grep -q "^Genotype(normal=\[('sep_conv_3x3', 0)" || { echo "train_cli: genotype"; exit 1; }
"$B" genotype --max-skip-normal 0 "$T/run" 2>&1 | grep -q "is a training checkpoint: its genotype is fixed" ||
  { echo "train_cli: a guard option on a training checkpoint was not refused"; exit 1; }
"$B" train --resume "$T/run" --genotype DARTS_V1 2>&1 | grep -q "drop --config and --genotype" || { echo "train_cli: --resume with --genotype accepted"; exit 1; }
echo "train_cli: ok"
