#!/usr/bin/env bash
# Seed corpora for the fuzz targets: files radars-cl itself writes (a tiny RADARS search
# stopped in its RL phase, a tiny DARTS search, a tiny training run: checkpoints, recipes,
# metrics, genotypes), the recipes and genotypes in configs/, and small valid IDX, CIFAR-10
# and PNG files.
#   fuzz/make_seeds.sh BUILD_DIR OUT_DIR      (BUILD_DIR: a normal build with build/radars)
set -euo pipefail
B=$1/radars
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$2
rm -rf "$OUT"
for t in safetensors search_checkpoint train_checkpoint genotype config idx cifar png base64 metrics tuning; do
  mkdir -p "$OUT/fuzz_$t"
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# A copy of a safetensors file with only its alphas tensors and its metadata.
strip_checkpoint() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
keep, data, out = {}, b'', {}
for k, v in h.items():
    if k == '__metadata__' or not k.startswith('alphas_'):
        continue
    s, e = v['data_offsets']
    out[k] = dict(v, data_offsets=[len(data), len(data) + e - s])
    data += b[8 + n + s:8 + n + e]
out['__metadata__'] = h.get('__metadata__', {})
t = json.dumps(out, separators=(',', ':')).encode()
t += b' ' * (-len(t) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(t)) + t + data)
PY
}
tiny=(--set model.C=2 --set model.layers=3 --set data.batch=4 --set data.train_limit=64 --set search.eval_batches=1)
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  # RADARS with a cap that needs pruning, stopped by SIGINT during the RL phase's first round
  "$B" search "${tiny[@]}" --set model.ops=large --set rl.samples=4 --set rl.train_steps=1 --set rl.rounds=3 \
      --set search.epochs=1 --set search.steps_per_epoch=2 --mem-cap 12MiB --out "$T/radars" > /dev/null 2>&1 || true
  "$B" search --config "$SRC/configs/quick.ini" "${tiny[@]}" --set search.epochs=1 --set search.steps_per_epoch=2 \
      --out "$T/darts" > /dev/null 2>&1 || true
  "$B" search "${tiny[@]}" --strategy rl --set rl.samples=2 --set rl.train_steps=1 --set rl.rounds=1 \
      --out "$T/rl" > /dev/null 2>&1 || true
  "$B" train --genotype DARTS_V2 --set model.C=2 --set model.layers=2 --set data.train_limit=64 --set data.test_limit=16 \
      --set data.batch=8 --epochs 1 --no-plots --out "$T/train" > /dev/null 2>&1 || true
  for r in radars darts rl; do
    [ -r "$T/$r/checkpoint.safetensors" ] || { echo "make_seeds: the $r search wrote no checkpoint" >&2; exit 1; }
    # what rd_checkpoint_peek / _genotype read (metadata, alphas): small enough for libFuzzer's inputs
    strip_checkpoint "$T/$r/checkpoint.safetensors" "$OUT/fuzz_search_checkpoint/$r.safetensors"
    cp "$OUT/fuzz_search_checkpoint/$r.safetensors" "$OUT/fuzz_safetensors/search_$r.safetensors"
    cp "$T/$r/metrics.jsonl" "$OUT/fuzz_metrics/$r.jsonl"
    cp "$T/$r/genotype.txt" "$OUT/fuzz_genotype/$r.txt" 2>/dev/null || true
    { printf '\0'; cat "$T/$r/config.ini"; } > "$OUT/fuzz_config/$r.ini"
  done
  [ -r "$T/train/checkpoint.safetensors" ] || { echo "make_seeds: the training run wrote no checkpoint" >&2; exit 1; }
  cp "$T/train/checkpoint.safetensors" "$OUT/fuzz_train_checkpoint/train.safetensors"
  cp "$T/train/checkpoint.safetensors" "$OUT/fuzz_safetensors/train.safetensors"
  cp "$T/train/metrics.jsonl" "$OUT/fuzz_metrics/train.jsonl"
  { printf '\1'; cat "$T/train/config.ini"; } > "$OUT/fuzz_config/train.ini"
else
  echo "make_seeds: no Fashion-MNIST: no checkpoint seeds" >&2
fi
for f in "$SRC"/configs/*.ini; do
  if grep -q "^schema = train" "$f"; then p='\1'; else p='\0'; fi
  { printf "$p"; cat "$f"; } > "$OUT/fuzz_config/$(basename "$f")"
done
for f in "$SRC"/configs/genotypes/*; do cp "$f" "$OUT/fuzz_genotype/"; done
# Tuning files: one written by a 1-second `radars tune` (the kernels' hash of this build), moved to
# fuzz_tuning's fake device, with a GPU's choices too; and tuning text as RADARS_TEST_TUNING takes it.
RADARS_CACHE_DIR="$T/tune" "$B" tune --config "$SRC/configs/quick.ini" --set model.C=2 --set data.batch=4 --budget 1 \
  > /dev/null 2>&1 || true
for f in "$T"/tune/tuning-*.json; do
  [ -r "$f" ] || continue
  /usr/bin/python3 - "$f" "$OUT/fuzz_tuning" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["device"], t["driver"] = "fuzz device", "fuzz 1"
open(sys.argv[2] + "/cpu.json", "w").write(json.dumps(t, indent=2))
t["params"].update(conv_pw="local", conv_dwc="local", wg=256, mixed_walk="coalesced")
open(sys.argv[2] + "/gpu.json", "w").write(json.dumps(t))
PY
done
printf 'wg=16 conv_group=4 mixed_pass=4 mixed_walk=coalesced' > "$OUT/fuzz_tuning/text_small"
printf 'wg=256 conv_group=128 conv_pw=local conv_dwc=local mixed_pass=16 mixed_walk=runs' > "$OUT/fuzz_tuning/text_large"
/usr/bin/python3 - "$OUT" <<'PY'
import struct, sys, zlib, base64, os
out = sys.argv[1]
def put(target, name, data):
    with open(os.path.join(out, target, name), 'wb') as f: f.write(data)
# IDX: mode byte, images length (u16 LE), images, labels
imgs = struct.pack('>IIII', 0x803, 3, 2, 2) + bytes(range(12))
labs = struct.pack('>II', 0x801, 3) + bytes([0, 1, 2])
for mode in (0, 1, 4, 5):
    put('fuzz_idx', 'idx%d' % mode, bytes([mode]) + struct.pack('<H', len(imgs)) + imgs + labs)
gz = zlib.compressobj(9, zlib.DEFLATED, 31)
gzi = gz.compress(imgs) + gz.flush()
put('fuzz_idx', 'rawgz', bytes([3]) + struct.pack('<H', len(gzi)) + gzi + labs)
# CIFAR-10: two records
put('fuzz_cifar', 'two', bytes([3]) + bytes(3072) + bytes([9]) + bytes(range(256)) * 12)
# PNG: 2x2 grey and 3x2 RGB, 8 bit (resize byte first)
def png(w, h, colour, ch):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    raw = b''.join(b'\0' + bytes((x * 40 + y * 7 + c) % 256 for x in range(w) for c in range(ch)) for y in range(h))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, colour, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
put('fuzz_png', 'grey', bytes([0]) + png(2, 2, 0, 1))
put('fuzz_png', 'rgb_resized', bytes([4]) + png(3, 2, 2, 3))
# base64: byte count, then the text
for n in (0, 1, 2, 3, 16):
    put('fuzz_base64', 'b%d' % n, bytes([n]) + base64.b64encode(bytes(range(n))))
PY
n=$(find "$OUT" -type f | wc -l)
echo "make_seeds: $n seed files in $OUT"
