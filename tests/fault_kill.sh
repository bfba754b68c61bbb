#!/usr/bin/env bash
# Killed at any moment, nothing is lost: a tiny RADARS search (RL rounds that prune, then DARTS)
# and a tiny training run are killed with SIGKILL again and again -- at random moments and, one
# time in three, inside a checkpoint commit (RADARS_FAULT_KILL_COMMIT: after the temporary file
# is written, before the rename) -- and resumed each time until they finish. The results must be
# bit-identical to an uninterrupted run: genotype, every tensor of the final checkpoint, the
# optimizer state, and the metrics (one record per unit of work, none lost, none twice).
#   tests/fault_kill.sh BUILD_DIR SOURCE_DIR [KILLS]     (default 20 kills per run)
set -eu
B=$1/radars
SRC=$2
KILLS=${3:-20}
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "fault_kill: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap '[ -n "${FAULT_KILL_KEEP:-}" ] || rm -rf "$T"' EXIT
RANDOM=${FAULT_KILL_SEED:-7}

# kill_until_done DIR KIND ARGS...: the run, killed KILLS times, resumed until it ends
kill_until_done() {
  local dir=$1 kind=$2; shift 2
  local kills=0 commits=0 rc pid
  local cmd=("$B" "$kind" "$@" --out "$dir")
  while :; do
    if [ $kills -ge "$KILLS" ]; then
      "${cmd[@]}" > /dev/null 2>> "$T/$kind.log" || { echo "fault_kill: the last $kind run failed"; tail -3 "$T/$kind.log"; exit 1; }
      break
    fi
    if [ $((kills % 3)) -eq 2 ]; then
      # this process kills itself inside its Nth checkpoint commit
      RADARS_FAULT_KILL_COMMIT=$((1 + RANDOM % 3)) "${cmd[@]}" > /dev/null 2>> "$T/$kind.log" && rc=0 || rc=$?
      [ $rc -eq 137 ] || { echo "fault_kill: $kind exited $rc before its kill in a commit ($kills kills)"; tail -3 "$T/$kind.log"; exit 1; }
      commits=$((commits + 1))
    else
      "${cmd[@]}" > /dev/null 2>> "$T/$kind.log" &
      pid=$!
      # (a run killed before it wrote its recipe has nothing to resume: its directory is not one yet)
      for _ in $(seq 1 500); do [ -r "$dir/config.ini" ] && break; sleep 0.01; done
      sleep "$(printf '0.%02d' $((30 + RANDOM % 70)))"
      if ! kill -0 $pid 2>/dev/null; then
        wait $pid && rc=0 || rc=$?
        echo "fault_kill: $kind ended (status $rc) after $kills kills, before the $KILLS asked: the run is too short"
        exit 1
      fi
      kill -9 $pid
      wait $pid 2>/dev/null || true
    fi
    kills=$((kills + 1))
    cmd=("$B" "$kind" --resume "$dir")
  done
  echo "fault_kill: $kind killed $kills times ($commits of them inside a checkpoint commit), resumed, finished"
}

# compare REF RUN: same genotype, every tensor and optimizer buffer, the same records
compare() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, os, struct, sys
def tensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    return {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items()}, meta
def records(d):
    out = []
    for line in open(os.path.join(d, 'metrics.jsonl')):
        r = json.loads(line)
        for k in ('seconds', 'step_seconds', 'rl_seconds', 'darts_seconds', 'total_seconds', 'latency_ms', 'images_per_s'):
            r.pop(k, None)
        out.append(r)
    return out
ref, run = sys.argv[1], sys.argv[2]
bad = []
if open(os.path.join(ref, 'genotype.txt')).read() != open(os.path.join(run, 'genotype.txt')).read():
    bad.append('genotype')
tr, mr = tensors(os.path.join(ref, 'checkpoint.safetensors'))
tu, mu = tensors(os.path.join(run, 'checkpoint.safetensors'))
if tr.keys() != tu.keys(): bad.append('tensor names')
bad += ['tensor ' + k for k in tr if tr[k] != tu.get(k)]
if ('optimizer' in mr) != ('optimizer' in mu): bad.append('optimizer file')
if 'optimizer' in mr:
    orr, _ = tensors(os.path.join(ref, mr['optimizer'])); ou, _ = tensors(os.path.join(run, mu['optimizer']))
    bad += ['optimizer ' + k for k in orr if orr[k] != ou.get(k)]
rr, ru = records(ref), records(run)
if len(rr) != len(ru): bad.append('%d records, %d uninterrupted' % (len(ru), len(rr)))
else: bad += ['record %d (%s)' % (i, rr[i].get('type')) for i in range(len(rr)) if rr[i] != ru[i]]
left = [f for f in os.listdir(run) if '.tmp.' in f] + \
       ([f for f in os.listdir(run) if '.optim-' in f][1:])
if left: bad.append('left behind: ' + ' '.join(left))
print('fault_kill: %s: %d tensors, %d records compared: %s' % (os.path.basename(run), len(tr), len(rr),
      'identical' if not bad else 'DIFFER: ' + '; '.join(bad[:8])))
sys.exit(1 if bad else 0)
PY
}

search=(search --set model.C=2 --set model.layers=3 --set model.ops=large --set data.batch=8
        --set data.train_limit=800 --set rl.samples=6 --set rl.train_steps=1 --set rl.rounds=4
        --set search.epochs=5 --set search.steps_per_epoch=24 --set search.eval_batches=2
        --set output.checkpoint_every=4 --mem-cap 26MiB)
"$B" "${search[@]}" --out "$T/search_ref" > /dev/null 2> "$T/ref.log" || { tail -3 "$T/ref.log"; exit 1; }
grep -q '"type":"rl_round"' "$T/search_ref/metrics.jsonl" || { echo "fault_kill: the search did not prune"; exit 1; }
kill_until_done "$T/search_run" "${search[@]}"
compare "$T/search_ref" "$T/search_run"

train=(train --genotype DARTS_V2 --set model.C=4 --set model.layers=3 --set data.train_limit=1200
       --set data.test_limit=200 --set data.batch=16 --epochs 3 --set output.checkpoint_every=5 --no-plots)
"$B" "${train[@]}" --out "$T/train_ref" > /dev/null 2> "$T/ref.log" || { tail -3 "$T/ref.log"; exit 1; }
kill_until_done "$T/train_run" "${train[@]}"
compare "$T/train_ref" "$T/train_run"
