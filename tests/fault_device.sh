#!/usr/bin/env bash
# Faults a long run meets, injected: the device fails a kernel launch or a buffer allocation
# (RADARS_FAULT_LAUNCH=N / RADARS_FAULT_ALLOC=N: the Nth of the process fails as the driver
# would fail it), and the disk fills up under a checkpoint write (the run directory on a small
# tmpfs, or a file-size limit where mounting is not allowed). Each time: a non-zero exit with a
# one-line error saying what failed, the last checkpoint intact, and a resume that finishes
# with the same genotype as an uninterrupted run. (Under the sanitizer build, also no leak.)
#   tests/fault_device.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1/radars
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "fault_device: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
cleanup() { mountpoint -q "$T/small" 2>/dev/null && umount "$T/small"; rm -rf "$T"; }
trap cleanup EXIT
args=(search --set model.C=2 --set model.layers=3 --set model.ops=darts --set search.strategy=darts
      --set data.batch=8 --set data.train_limit=400 --set search.epochs=3 --set search.steps_per_epoch=8
      --set search.eval_batches=1 --set output.checkpoint_every=2 --set search.seed=5)
"$B" "${args[@]}" --out "$T/ref" > /dev/null 2> "$T/ref.log" || { tail -3 "$T/ref.log"; exit 1; }

# expect_fault NAME DIR ENV...: the run in DIR fails (one line naming the fault), then resumes to the end
expect_fault() {
  local name=$1 dir=$2; shift 2
  local rc=0
  if [ -d "$dir" ]; then env "$@" "$B" search --resume "$dir" > /dev/null 2> "$T/err" || rc=$?
  else env "$@" "$B" "${args[@]}" --out "$dir" > /dev/null 2> "$T/err" || rc=$?; fi
  [ $rc -ne 0 ] || { echo "fault_device: $name: the run succeeded"; exit 1; }
  [ $rc -lt 128 ] || { echo "fault_device: $name: died of signal $((rc - 128))"; tail -5 "$T/err"; exit 1; }
  local last
  last=$(tail -1 "$T/err")
  echo "fault_device: $name: exit $rc: $last"
  case "$last" in radars:*) ;; *) echo "fault_device: $name: the last line is not radars' error"; exit 1 ;; esac
  if [ -r "$dir/checkpoint.safetensors" ]; then
    "$B" genotype "$dir" > /dev/null 2>&1 || { echo "fault_device: $name: the checkpoint left is unreadable"; exit 1; }
  fi
}
resume_and_compare() {
  local name=$1 dir=$2
  if [ -r "$dir/checkpoint.safetensors" ]; then "$B" search --resume "$dir" > /dev/null 2> "$T/resume.log"
  else rm -rf "$dir"; "$B" "${args[@]}" --out "$dir" > /dev/null 2> "$T/resume.log"; fi \
    || { echo "fault_device: $name: the resume failed"; tail -3 "$T/resume.log"; exit 1; }
  cmp -s "$T/ref/genotype.txt" "$dir/genotype.txt" || { echo "fault_device: $name: another genotype after the resume"; exit 1; }
}

mid=0
for n in 1 400 24000 60000 90000; do
  expect_fault "launch $n fails" "$T/launch$n" RADARS_FAULT_LAUNCH=$n
  grep -q "CL_OUT_OF_RESOURCES" "$T/err" || { echo "fault_device: launch $n: the error does not name the failure"; exit 1; }
  [ -r "$T/launch$n/checkpoint.safetensors" ] && mid=$((mid + 1))
  resume_and_compare "launch $n" "$T/launch$n"
done
for n in 1 10 14 18 24; do
  expect_fault "allocation $n fails" "$T/alloc$n" RADARS_FAULT_ALLOC=$n
  grep -q "CL_MEM_OBJECT_ALLOCATION_FAILURE" "$T/err" || { echo "fault_device: allocation $n: the error does not name the failure"; exit 1; }
  resume_and_compare "allocation $n" "$T/alloc$n"
done
[ $mid -ge 3 ] || { echo "fault_device: only $mid launch faults hit a run that had checkpointed"; exit 1; }

# a disk that fills up under a checkpoint write
ck=$(stat -c %s "$T/ref/checkpoint.safetensors")
mkdir -p "$T/small"
if mount -t tmpfs -o size=$((ck * 3 / 2 / 1024 + 64))k tmpfs "$T/small" 2>/dev/null; then
  how="a tmpfs of $((ck * 3 / 2 / 1024 + 64)) KiB"
  expect_fault "disk full" "$T/small/run"
  grep -q "No space left" "$T/err" || { echo "fault_device: disk full: the error does not say so"; exit 1; }
else
  how="a file-size limit"
  rc=0
  (trap '' XFSZ; ulimit -f $((ck * 3 / 2 / 1024)); exec "$B" "${args[@]}" --out "$T/small/run") > /dev/null 2> "$T/err" || rc=$?
  [ $rc -ne 0 ] && [ $rc -lt 128 ] || { echo "fault_device: file-size limit: exit $rc"; exit 1; }
  grep -q "File too large" "$T/err" || { echo "fault_device: file-size limit: the error does not say so"; exit 1; }
fi
echo "fault_device: disk full ($how): $(tail -1 "$T/err")"
"$B" genotype "$T/small/run" > /dev/null || { echo "fault_device: the checkpoint left on the full disk is unreadable"; exit 1; }
ls "$T/small/run" | grep -q '\.tmp\.' && { echo "fault_device: a temporary file was left on the full disk"; exit 1; }
cp -r "$T/small/run" "$T/moved"
resume_and_compare "disk full" "$T/moved"
echo "fault_device: ok ($mid launch faults after a checkpoint; every resume gave the uninterrupted run's genotype)"
