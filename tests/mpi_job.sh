#!/usr/bin/env bash
# Data-parallel search and training under Open MPI (mpirun -np 2 --oversubscribe, one POCL
# thread per rank), issue 15's checks:
#  - DARTS and RADARS (RL waves) searches and a training run with the parameters of both ranks
#    compared after every step (--check-sync 1), the ranks agreeing on the genotype / parameters;
#  - a planted divergence (RADARS_FAULT_DESYNC) is caught, naming the rank and the step;
#  - the same seed and N twice: the same genotype and losses, bit for bit;
#  - np=2 against np=1 with the same global batch: per-epoch losses within 3% (search) and 12%
#    (training, 8 images per rank): batch-norm works per rank (as PyTorch DDP without SyncBN),
#    so the two are not the same computation. Training's bound is measured: over train.seed
#    0-3 the two differed by 1.8-8.0% (2026-12-07, at this commit and the one before; a rounding
#    change moved seed 0 from 4.3% to 7.3%), while ranks that sum their gradients instead of
#    averaging them differ by 19.4% at seed 0, the seed this test runs;
#  - memory per rank: the prediction (radars plan --ranks 2) is the measured peak;
#  - one rank killed mid-run: mpirun stops the job naming the rank, the checkpoint stays
#    readable, --resume finishes with np=2 (the uninterrupted genotype) and with np=1;
#  - Ctrl-C on mpirun: every rank stops at the same step with a checkpoint; resumed.
# Skipped (exit 77) when MPI is not installed or this build has none.
#   tests/mpi_job.sh BUILD_DIR SOURCE_DIR HAVE_MPI(ON|OFF: whether this build has MPI)
set -u
B=$1/radars
SRC=$2
PY=/usr/bin/python3
if ! command -v mpirun > /dev/null; then echo "mpi_job: skipped (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; fi
if [ "${3:-OFF}" != ON ]; then echo "mpi_job: skipped (this build has no MPI: configure with libopenmpi-dev installed)"; exit 77; fi
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "mpi_job: skipped (apt-get install dataset-fashion-mnist)"; exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export POCL_MAX_PTHREAD_COUNT=1
MPI=(mpirun --oversubscribe -x POCL_MAX_PTHREAD_COUNT -x RADARS_CACHE_DIR -x RADARS_FAULT_DESYNC)
export RADARS_FAULT_DESYNC=""
fail() { echo "mpi_job: FAIL: $*"; exit 1; }
field() { # field RUN_DIR TYPE KEY: the KEY of every TYPE record, one per line
  $PY -c "import json,sys
for l in open(sys.argv[1] + '/metrics.jsonl'):
    r = json.loads(l)
    if r['type'] == sys.argv[2]: print(repr(r[sys.argv[3]]))" "$1" "$2" "$3"
}

search=(search --config "$SRC/configs/quick.ini" --set data.train_limit=2000 --set search.epochs=2
        --set search.steps_per_epoch=8 --set search.eval_batches=4 --set output.checkpoint_every=2)

# 1. DARTS, two ranks, parameters compared after every step
"${MPI[@]}" -np 2 "$B" "${search[@]}" --check-sync 1 --out "$T/d2" > "$T/d2.out" 2> "$T/d2.log" || { tail -5 "$T/d2.log"; fail "np=2 DARTS search"; }
grep -q "all 2 ranks derived the same genotype" "$T/d2.log" || fail "no agreement line"
grep -q "^Genotype(normal=" "$T/d2.out" || fail "rank 0 printed no genotype"
[ "$(grep -c '^Genotype(normal=' "$T/d2.out")" = 1 ] || fail "more than one rank printed the genotype"
pk=$(field "$T/d2" epoch peak_bytes | tail -1); pr=$(field "$T/d2" epoch predicted_bytes | tail -1)
[ "$pk" = "$pr" ] || fail "per-rank peak $pk against predicted $pr"
plan=$("$B" plan "${search[@]:1:2}" --set data.train_limit=2000 --ranks 2 2>/dev/null | awk '$1 == "darts" {print $(NF-2), $(NF-1)}')
[ "$plan" = "$($PY -c "import sys; print('%.2f MiB' % (int(sys.argv[1]) / 1048576))" "$pk")" ] || fail "radars plan --ranks 2 says $plan, a rank measured $pk B"
echo "mpi_job: np=2 DARTS: per-rank peak $pk B = predicted = radars plan --ranks 2 ($plan)"

# 2. a planted divergence is caught, naming the rank and the step
RADARS_FAULT_DESYNC=1:3 "${MPI[@]}" -np 2 "$B" "${search[@]}" --check-sync 1 --out "$T/bad" > /dev/null 2> "$T/bad.log" && fail "a divergence went unnoticed"
grep -q "parameters after step 3: rank 1 differs from rank 0" "$T/bad.log" || { tail -5 "$T/bad.log"; fail "no line naming the rank and step"; }
echo "mpi_job: planted divergence caught: $(grep -m1 'differs' "$T/bad.log")"

# 3. the same seed and N: the same run
"${MPI[@]}" -np 2 "$B" "${search[@]}" --out "$T/d2b" > /dev/null 2> "$T/d2b.log" || fail "second np=2 run"
cmp -s "$T/d2/genotype.txt" "$T/d2b/genotype.txt" || fail "np=2 runs of the same seed differ in genotype"
[ "$(field "$T/d2" epoch train_loss)" = "$(field "$T/d2b" epoch train_loss)" ] || fail "np=2 runs of the same seed differ in loss"

# 4. np=2 against np=1, same global batch: losses within 3%
"$B" "${search[@]}" --out "$T/d1" > /dev/null 2> "$T/d1.log" || fail "np=1 run"
$PY - "$T/d1" "$T/d2" <<'EOF' || fail "np=2 losses are not within 3% of np=1's"
import json, sys
def losses(d):
    return [(r["train_loss"], r["search_valid_loss"]) for r in map(json.loads, open(d + "/metrics.jsonl")) if r["type"] == "epoch"]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
worst = max(abs(x - y) / x for p, q in zip(a, b) for x, y in zip(p, q))
print("mpi_job: np=1 vs np=2 per-epoch losses", a, b, "largest relative difference %.4f" % worst)
sys.exit(0 if len(a) == len(b) == 2 and worst < 0.03 else 1)
EOF

# 4b. DARTS' second order under two ranks: every gradient of the unrolled step is the job's
"${MPI[@]}" -np 2 "$B" "${search[@]}" --set search.order=second --set search.epochs=1 --set search.steps_per_epoch=3 \
  --check-sync 1 --out "$T/so" > /dev/null 2> "$T/so.log" || { tail -5 "$T/so.log"; fail "np=2 second-order search"; }
grep -q "all 2 ranks derived the same genotype" "$T/so.log" || fail "second order: no agreement"

# 4c. a rank that fails (a kernel launch refused on rank 1 only): one line naming the rank, the job stops
mpirun -np 1 -x POCL_MAX_PTHREAD_COUNT -x RADARS_CACHE_DIR "$B" "${search[@]}" --out "$T/f" : \
  -np 1 -x POCL_MAX_PTHREAD_COUNT -x RADARS_CACHE_DIR env RADARS_FAULT_LAUNCH=900 "$B" "${search[@]}" --out "$T/f" \
  > /dev/null 2> "$T/f.log" && fail "the job went on after rank 1 failed"
grep -q "^radars: rank 1 of 2: .*launch" "$T/f.log" || { tail -8 "$T/f.log"; fail "no one-line error naming rank 1"; }
echo "mpi_job: a failing rank: $(grep -m1 '^radars: rank 1 of 2' "$T/f.log")"

# 5. RADARS: RL waves (each rank its own paths) prune under a cap, then DARTS; synced every step
radars=(search --config "$SRC/configs/quick.ini" --strategy radars --set model.ops=large --mem-cap 60MiB
        --set rl.samples=4 --set rl.train_steps=2 --set search.epochs=1 --set search.steps_per_epoch=4
        --set search.eval_batches=4 --set data.train_limit=2000 --set rl.warm_start=prior --set rl.warm_start_paths=4)
"${MPI[@]}" -np 2 "$B" "${radars[@]}" --check-sync 1 --out "$T/r2" > /dev/null 2> "$T/r2.log" || { tail -5 "$T/r2.log"; fail "np=2 RADARS"; }
grep -q "all 2 ranks derived the same genotype" "$T/r2.log" || fail "RADARS: no agreement"
[ "$(field "$T/r2" rl_sample sample | wc -l)" -ge 8 ] || fail "RADARS: too few RL samples recorded"
echo "mpi_job: np=2 RADARS: $(grep -c '"type":"rl_round"' "$T/r2/metrics.jsonl") RL rounds, parameters equal after every step"

# 6. one rank killed mid-run: the job stops naming it, the checkpoint is intact, resume with np=2 and np=1
"${MPI[@]}" -np 2 "$B" "${search[@]}" --set search.epochs=3 --out "$T/k" > /dev/null 2> "$T/k.log" &
job=$!
victim=""
for _ in $(seq 1 600); do
  if [ -s "$T/k/checkpoint.safetensors" ] && grep -q '"type":"epoch"' "$T/k/metrics.jsonl" 2>/dev/null; then
    for p in $(pgrep -f "$B search"); do
      tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.1
done
[ -n "$victim" ] || { kill $job; fail "no rank 1 to kill"; }
kill -9 "$victim"
wait $job && fail "the job went on after rank 1 died"
grep -q "rank 1" "$T/k.log" || { tail -5 "$T/k.log"; fail "the job's error does not name rank 1"; }
echo "mpi_job: killed rank 1: $(grep -m1 'rank 1' "$T/k.log" | sed 's/^ *//')"
"$B" genotype "$T/k" > /dev/null || fail "the checkpoint is not readable after the kill"
cp -r "$T/k" "$T/k1"
"${MPI[@]}" -np 2 "$B" search --resume "$T/k" > /dev/null 2> "$T/kr.log" || { tail -5 "$T/kr.log"; fail "resume with np=2"; }
"${MPI[@]}" -np 2 "$B" "${search[@]}" --set search.epochs=3 --out "$T/k_ref" > /dev/null 2>&1 || fail "uninterrupted np=2 run"
cmp -s "$T/k/genotype.txt" "$T/k_ref/genotype.txt" || fail "np=2 resumed after the kill: not the uninterrupted genotype"
"$B" search --resume "$T/k1" > /dev/null 2> "$T/k1.log" || { tail -5 "$T/k1.log"; fail "resume with np=1"; }
grep -q "^Genotype(normal=" "$T/k1/genotype.txt" || fail "np=1 resume wrote no genotype"
echo "mpi_job: resumed with np=2 (the uninterrupted genotype) and with np=1"

# 6b. Ctrl-C on mpirun (SIGTERM to every rank): the ranks stop together at a step, checkpointed
"${MPI[@]}" -np 2 "$B" "${search[@]}" --set search.epochs=3 --out "$T/c" > /dev/null 2> "$T/c.log" &
job=$!
for _ in $(seq 1 600); do [ -s "$T/c/checkpoint.safetensors" ] && break; sleep 0.1; done
kill -INT $job
wait $job
grep -q "stopped after step" "$T/c.log" || { tail -5 "$T/c.log"; fail "Ctrl-C on mpirun: no checkpointed stop"; }
"${MPI[@]}" -np 2 "$B" search --resume "$T/c" > /dev/null 2> "$T/cr.log" || { tail -5 "$T/cr.log"; fail "resume after Ctrl-C"; }
echo "mpi_job: Ctrl-C on mpirun: $(grep -m1 'stopped after step' "$T/c.log" | cut -c1-40)...; resumed"

# 7. training: two ranks share every batch, parameters compared after every step; np=1 resumes it
train=(train --genotype DARTS_V2 --set model.C=4 --set model.layers=3 --set data.train_limit=1200
       --set data.test_limit=200 --set data.batch=16 --epochs 2 --set output.checkpoint_every=5 --no-plots)
"${MPI[@]}" -np 2 "$B" "${train[@]}" --check-sync 1 --out "$T/t2" > "$T/t2.out" 2> "$T/t2.log" || { tail -5 "$T/t2.log"; fail "np=2 training"; }
grep -q "all 2 ranks hold the same parameters" "$T/t2.log" || fail "training: no agreement line"
"$B" "${train[@]}" --out "$T/t1" > /dev/null 2> "$T/t1.log" || fail "np=1 training"
$PY - "$T/t1" "$T/t2" <<'EOF' || fail "np=2 training losses are not within 12% of np=1's"
import json, sys
def losses(d):
    return [r["train_loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r["type"] == "epoch"]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
worst = max(abs(x - y) / x for x, y in zip(a, b))
print("mpi_job: training np=1 vs np=2 per-epoch losses", a, b, "largest relative difference %.4f" % worst)
sys.exit(0 if len(a) == len(b) == 2 and worst < 0.12 else 1)
EOF
"${MPI[@]}" -np 2 "$B" "${train[@]}" --out "$T/ts" --stop-after 7 > /dev/null 2>&1 || fail "np=2 training stopped early"
"$B" train --resume "$T/ts" --no-plots > /dev/null 2> "$T/ts.log" || { tail -5 "$T/ts.log"; fail "np=1 resume of an np=2 training"; }
echo "mpi_job: training np=2 synced every step; resumed with np=1"
echo "mpi_job: all checks passed"
