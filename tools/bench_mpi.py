#!/usr/bin/python3
"""Data-parallel DARTS search steps under Open MPI: seconds per step with one process (POCL's
threads over the machine's cores) against N processes (mpirun -np N, one POCL thread each), and
the gradient all-reduces of the N-process run: calls, bytes and seconds per step once the device
has finished the backward pass (device <-> host copies, and the part inside MPI_Allreduce, which
includes waiting there for the slower rank). Then the ring all-reduce model, from those
measured figures, for 8 and 64 devices on 25 and 200 Gb/s links (README "Scale-out").

  tools/bench_mpi.py [--build build] [--steps 5] [--ranks 2] [--configs all|NAME,...] [--device SEL]
                     [--gpu-speedup X]

The configs are tools/bench_search.py's (the same table). Each run is warmed up first (one step,
so that POCL's per-launch compilation is not timed). --gpu-speedup X adds a what-if row per
config: the same step X times faster (an assumption, not a measurement), the same bytes.
"""
import argparse, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_search import CONFIGS, SMALL_CONFIGS  # noqa: E402  (one table of configs)

LINKS = [("25 Gb/s", 25e9 / 8), ("200 Gb/s", 200e9 / 8)]
LATENCY = 5e-6  # seconds per message of the ring (an assumption: Ethernet/RDMA class)
PCIE = 12e9     # bytes/s each way between a GPU and the host (an assumption: PCIe 3/4 x16, effective)


def search(build, ranks, threads, cfg, steps, out, device):
    name, ops, C, L, B = cfg
    cmd = [os.path.join(build, "radars"), "search", "--strategy", "darts", "--set", f"model.ops={ops}",
           "--set", f"model.C={C}", "--set", f"model.layers={L}", "--set", f"data.batch={B}",
           "--set", "search.epochs=1", "--set", f"search.steps_per_epoch={steps}", "--set", "search.eval_batches=1",
           "--set", f"data.train_limit={max(4 * B * steps, 2000)}", "--set", "memory.cap=0", "--set", "memory.safety_fraction=1",
           "--out", out]
    if device:
        cmd += ["--device", device]
    env = dict(os.environ, POCL_MAX_PTHREAD_COUNT=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "-x", "POCL_MAX_PTHREAD_COUNT"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_mpi: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(l) for l in f if '"type":"epoch"' in l][-1]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(here, "..", "build"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--configs", default="all")
    ap.add_argument("--device")
    ap.add_argument("--gpu-speedup", type=float, default=0)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    chosen = [c for c in CONFIGS if a.configs == "all" or c[0] in a.configs.split(",")]
    chosen += [c for c in SMALL_CONFIGS if c[0] in a.configs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in chosen:
            if cfg[4] % a.ranks:
                print(f"bench_mpi: {cfg[0]}: batch {cfg[4]} is not a multiple of {a.ranks} ranks; skipped")
                continue
            res = {}
            for ranks, threads in ((1, cores), (a.ranks, max(1, cores // a.ranks))):
                tag = f"{cfg[0]}-np{ranks}"
                search(a.build, ranks, threads, cfg, 1, os.path.join(tmp, tag + "-warm"), a.device)
                res[ranks] = search(a.build, ranks, threads, cfg, a.steps, os.path.join(tmp, tag), a.device)
            one, many = res[1], res[a.ranks]
            n_steps = many["steps"]
            calls = many["allreduces"] / n_steps
            nbytes = many["allreduce_bytes"] / n_steps
            secs = many["allreduce_seconds"] / n_steps
            mpi = many["allreduce_mpi_seconds"] / n_steps
            rows.append((cfg, one["step_seconds"], many["step_seconds"], calls, nbytes, secs, mpi,
                         one["peak_bytes"], many["peak_bytes"]))
    print(f"\n{cores} cores; np=1: POCL over {cores} threads; np={a.ranks}: {a.ranks} processes of "
          f"{max(1, cores // a.ranks)} thread(s); {a.steps} steps each, after a warm-up step\n")
    print(f"| config | np=1 s/step | np={a.ranks} s/step | speed-up | all-reduces/step | bytes/step | "
          f"all-reduce ms/step: copies + MPI | share of the step | peak MiB per rank np=1 / np={a.ranks} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cfg, t1, tn, calls, nbytes, secs, mpi, p1, pn in rows:
        print(f"| {cfg[0]} | {t1:.3f} | {tn:.3f} | {t1 / tn:.2f}x | {calls:.1f} | {nbytes / 1e6:.2f} MB | "
              f"{(secs - mpi) * 1e3:.1f} + {mpi * 1e3:.1f} | {secs / tn:.1%} | {p1 / 2**20:.1f} / {pn / 2**20:.1f} |")
    project(rows, a.gpu_speedup)


def project(rows, gpu_speedup):
    """Ring all-reduce model from measured rows (cfg, t1, tn, calls, bytes, secs, mpi, ...)."""
    print("\nRing all-reduce model (no overlap with compute, as now): per step 2(N-1)/N x bytes / link"
          f" + 2(N-1) x {LATENCY * 1e6:.0f} us per call, plus the device<->host copies (measured here; for the"
          f" assumed GPU 2 x bytes / {PCIE / 1e9:.0f} GB/s); compute per rank = the np=1 step (weak scaling:"
          " each rank a whole batch of the config)")
    print("\n| config | compute s/step | devices | link | all-reduce s/step | efficiency |")
    print("|---|---|---|---|---|---|")
    for cfg, t1, tn, calls, nbytes, secs, mpi, *_ in rows:
        cases = [("measured", t1, max(secs - mpi, 0.0))]
        if gpu_speedup > 0:
            cases.append((f"{gpu_speedup:g}x faster, assumed", t1 / gpu_speedup, 2 * nbytes / PCIE))
        for label, compute, copies in cases:
            for n in (8, 64):
                for link, bw in LINKS:
                    comm = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * LATENCY * calls + copies
                    print(f"| {cfg[0]} ({label}) | {compute:.3f} | {n} | {link} | {comm:.4f} | "
                          f"{compute / (compute + comm):.1%} |")


if __name__ == "__main__":
    main()
