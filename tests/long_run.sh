#!/usr/bin/env bash
# A long search stays flat: 1000 DARTS steps of a tiny supernet, with host RSS and open file
# descriptors sampled from /proc twice a second and device memory from the epoch records. After
# the first epoch (warm-up: caches, loader buffers), RSS may grow by at most 2 MiB per 1000 steps,
# the descriptors open throughout an epoch must not grow, and the device peak must be the same
# every epoch. Prints the slopes (figures for the notes).
#   tests/long_run.sh BUILD_DIR SOURCE_DIR [STEPS_PER_EPOCH]
set -eu
B=$1/radars
PER=${3:-250}
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "long_run: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B" search --set model.C=2 --set model.layers=3 --set model.ops=darts --set search.strategy=darts \
    --set data.batch=8 --set data.train_limit=4000 --set search.epochs=4 --set search.steps_per_epoch="$PER" \
    --set search.eval_batches=2 --set output.checkpoint_every=50 --out "$T/run" > /dev/null 2> "$T/log" &
pid=$!
t0=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null) || break
  fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
  epochs_done=$(grep -c '"type":"epoch"' "$T/run/metrics.jsonl" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(date +%s.%N) $rss $fds ${epochs_done:-0}" >> "$T/samples"
  sleep 0.5
done
wait $pid || { echo "long_run: the search failed"; tail -3 "$T/log"; exit 1; }
/usr/bin/python3 - "$T/samples" "$T/run/metrics.jsonl" "$PER" <<'PY'
import json, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
epochs = [json.loads(l) for l in open(sys.argv[2]) if '"type": "epoch"' in l or '"type":"epoch"' in l]
per = int(sys.argv[3])
after = [r for r in rows if r[3] >= 1]            # after the first epoch's record
if len(after) < 10: sys.exit("long_run: too few samples after warm-up (%d)" % len(after))
t = [r[0] for r in after]; rss = [r[1] for r in after]; fds = [r[2] for r in after]
n = len(t); mt = sum(t) / n; mr = sum(rss) / n
slope = sum((a - mt) * (b - mr) for a, b in zip(t, rss)) / sum((a - mt) ** 2 for a in t)   # KiB per second
seconds = t[-1] - t[0]
steps_per_s = per * (len(epochs) - 1) / max(seconds, 1e-9)
kib_per_1000 = slope / steps_per_s * 1000
peaks = sorted({e['peak_bytes'] for e in epochs})
# descriptors: the floor (fewest open) of each training epoch after the first. A single sample
# may catch a checkpoint or the run's final files being written (one more descriptor for a
# moment, seen in CI); a leak raises the floor.
floor = [min(r[2] for r in after if r[3] == e) for e in range(1, len(epochs)) if any(r[3] == e for r in after)]
print("long_run: %d steps, %d samples after warm-up over %.0f s: RSS %.1f -> %.1f MiB, slope %+.1f KiB per 1000 steps; "
      "fds %d -> %d (max %d, floor per epoch %s); device peak %s bytes every epoch" % (per * len(epochs), n, seconds,
      rss[0] / 1024, rss[-1] / 1024, kib_per_1000, fds[0], fds[-1], max(fds), "/".join("%d" % f for f in floor),
      "/".join(map(str, peaks))))
bad = []
if kib_per_1000 > 2048: bad.append("host memory grows")
if len(floor) < 2 or floor[-1] > floor[0] or max(fds) > floor[0] + 4: bad.append("descriptors grow")
if len(peaks) != 1: bad.append("device peak moves")
if len(epochs) != 4: bad.append("%d epoch records" % len(epochs))
if bad: sys.exit("long_run: " + ", ".join(bad))
PY
