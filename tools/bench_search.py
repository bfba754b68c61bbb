#!/usr/bin/python3
"""Seconds per DARTS search step and peak memory: radars-cl against the PyTorch peer,
run one after the other in this one invocation on the same machine and configs.

  tools/bench_search.py [--build build] [--steps 5] [--repeat 1] [--threads 2] [--configs all|NAME,...]
                        [--device SEL] [--peer-device cpu|cuda[:N]]

--repeat N runs each config's pair (radars-cl, then PyTorch) N times back to back and reports
the median of the N step times of each, and the median and range of the N pairs' ratios (a
pair's two runs are minutes apart, so their ratio sees the same machine): on a shared 2-core
machine one pair's ratio moves by 0.05-0.14 between invocations (README, Speed), more than a
kernel change does.

--device picks radars-cl's OpenCL device (index or name, as `radars devices`); --peer-device
where PyTorch runs. With a CUDA peer, PyTorch's figure is its peak CUDA memory
(peak_device_mb), compared with radars-cl's device peak.

radars-cl's peak is the peak device memory counted by its allocator (POCL's device
memory is host memory); PyTorch's is its peak resident set size. Ratios below 1 favour
radars-cl. The project's targets: step time <= 0.8x PyTorch, peak memory <= 0.5x.
"""
import argparse, os, re, statistics, subprocess, sys

CONFIGS = [  # name, ops, C, layers, batch
    ("darts-C8-L5-B32", "darts", 8, 5, 32),
    ("darts-C16-L8-B16", "darts", 16, 8, 16),
    ("darts-C16-L8-B64", "darts", 16, 8, 64),
    ("large-C16-L8-B16", "large", 16, 8, 16),
]
# not in "all": for devices hundreds of times slower (rusticl on llvmpipe, simulators)
SMALL_CONFIGS = [("darts-C4-L3-B8", "darts", 4, 3, 8)]

def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_search: {' '.join(cmd)} failed:\n{out.stderr}")
    return out.stdout

def field(text, key):
    m = re.search(key + r"=([0-9.]+)", text)
    if not m:
        sys.exit(f"bench_search: no {key} in: {text}")
    return float(m.group(1))

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(here, "..", "build"))
    ap.add_argument("--peer", default=os.path.join(here, "..", "..", "shared", "peers", "torch_darts_ref.py"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1, help="pairs per config, alternated (median and ratio range)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="all")
    ap.add_argument("--device", help="radars-cl's OpenCL device (index or name substring)")
    ap.add_argument("--peer-device", default="cpu", help="PyTorch's device: cpu (default) or cuda[:N]")
    ap.add_argument("--profile", action="store_true", help="print radars-cl's per-kernel profile too")
    a = ap.parse_args()
    for prog in ("bench_step", "radars"):  # both are needed: check before the long runs, not after
        if not os.access(os.path.join(a.build, prog), os.X_OK):
            sys.exit(f"bench_search: {os.path.join(a.build, prog)} is missing (build the project there first)")
    chosen = [c for c in CONFIGS if a.configs == "all" or c[0] in a.configs.split(",")]
    chosen += [c for c in SMALL_CONFIGS if c[0] in a.configs.split(",")]
    rows = []
    for name, ops, C, L, B in chosen:
        base = ["--C", str(C), "--layers", str(L), "--batch", str(B), "--ops", ops, "--steps", str(a.steps)]
        ours_cmd = [os.path.join(a.build, "bench_step")] + base + (["--device", a.device] if a.device else [])
        if a.profile:
            ours_cmd.append("--profile")
        peer_cmd = ["/usr/bin/python3", a.peer, "--threads", str(a.threads), "--device", a.peer_device] + base
        cuda = a.peer_device.startswith("cuda")
        pairs = []
        for _ in range(max(1, a.repeat)):
            ours = run(ours_cmd)
            if a.profile:
                print(ours)
            peer = run(peer_cmd)
            pairs.append((field(ours, "step_s_median"), field(ours, "peak_device_mb"),
                          field(peer, "step_s_median"), field(peer, "peak_device_mb" if cuda else "peak_rss_mb")))
            p = pairs[-1]
            print(f"{name:18s} radars-cl {p[0]:7.3f} s/step {p[1]:7.0f} MB | PyTorch {p[2]:7.3f} s/step {p[3]:7.0f} MB"
                  f" | time x{p[0] / p[2]:.2f}  memory x{p[1] / p[3]:.2f}", flush=True)
        ratios = sorted(p[0] / p[2] for p in pairs)
        rows.append((name, statistics.median(p[0] for p in pairs), max(p[1] for p in pairs),
                     statistics.median(p[2] for p in pairs), max(p[3] for p in pairs), statistics.median(ratios),
                     ratios[0], ratios[-1]))
    dev = run([os.path.join(a.build, "radars"), "devices"] + (["--device", a.device] if a.device else []))
    chosen_dev = next((l.split(":", 1)[1].strip() for l in dev.splitlines() if l.lstrip().startswith("* device")), "?")
    print(f"\nradars-cl on {chosen_dev}; PyTorch on {a.peer_device} ({a.threads} threads)")
    n = max(1, a.repeat)
    print(("%d alternated pairs: median step times, the median of the pairs' ratios and their range; " % n
           if n > 1 else "") + "memory: the largest peak")
    print("config              ours s/step  peer s/step  ratio" + ("  pair ratios" if n > 1 else "") +
          "   ours MB  peer MB  ratio")
    for name, ts, tm, ps, pm, ratio, lo, hi in rows:
        spread = f"  {lo:.2f}-{hi:.2f}  " if n > 1 else ""
        print(f"{name:18s} {ts:11.3f} {ps:12.3f} {ratio:6.2f}{spread} {tm:9.0f} {pm:8.0f} {tm / pm:6.2f}")

if __name__ == "__main__":
    main()
