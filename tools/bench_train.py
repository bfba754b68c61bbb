#!/usr/bin/python3
"""Training throughput of the discrete (genotype) network: radars-cl against PyTorch DARTS'
NetworkCIFAR (tools/torch_darts_eval.py --bench), run one after the other in this one
invocation on the same machine and settings.

  tools/bench_train.py [--genotype DARTS_V2] [--C 16] [--layers 8] [--batch 64] [--steps 5]
                       [--threads 2] [--build build] [--device SEL] [--auxiliary] [--drop-path P]

One step = forward, cross-entropy (+ 0.4 x auxiliary), backward, grad-norm clip 5, SGD.
Input 1x28x28, 10 classes (--auxiliary needs --hw 32: the head wants an 8x8 map).
radars-cl's peak is the peak device memory its allocator counts (POCL's device memory is host
memory); PyTorch's is its peak resident set size. Speed ratio above 1 and memory ratio below 1
favour radars-cl.
"""
import argparse, os, re, subprocess, sys

def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_train: {' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout

def field(text, key):
    m = re.search(key + r"=([0-9.eE+-]+)", text)
    if not m:
        sys.exit(f"bench_train: no {key} in: {text}")
    return float(m.group(1))

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(here, "..", "build"))
    ap.add_argument("--genotype", default="DARTS_V2")
    ap.add_argument("--C", type=int, default=16); ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--cin", type=int, default=1); ap.add_argument("--hw", type=int, default=28)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    ap.add_argument("--device", help="radars-cl device selector")
    ap.add_argument("--auxiliary", action="store_true")
    ap.add_argument("--drop-path", type=float, default=0.0)
    a = ap.parse_args()
    base = ["--genotype", a.genotype, "--C", str(a.C), "--layers", str(a.layers), "--batch", str(a.batch),
            "--steps", str(a.steps)]
    shape = ["--cin", str(a.cin), "--hw", str(a.hw), "--classes", str(a.classes)]
    opts = (["--auxiliary"] if a.auxiliary else []) + (["--drop-path", str(a.drop_path)] if a.drop_path else [])
    # the C tool gets shape flags only off its 1x28x28/10 default, so the common case needs no more than it parses
    ours_shape = [] if (a.cin, a.hw, a.classes) == (1, 28, 10) else shape
    ours = run([os.path.join(a.build, "bench_train")] + base + ours_shape + opts
               + (["--device", a.device] if a.device else []))
    peer = run(["/usr/bin/python3", os.path.join(here, "torch_darts_eval.py"), "--bench",
                "--threads", str(a.threads)] + base + shape + opts)
    oi, om = field(ours, "images_per_s"), field(ours, "peak_device_mb")
    pi, pm = field(peer, "images_per_s"), field(peer, "peak_rss_mb")
    print(f"{a.genotype} C={a.C} layers={a.layers} batch={a.batch} in={a.cin}x{a.hw}x{a.hw} steps={a.steps}")
    print(f"radars-cl  {oi:9.1f} images/s  {om:7.0f} MB peak device")
    print(f"PyTorch    {pi:9.1f} images/s  {pm:7.0f} MB peak RSS ({a.threads} threads)")
    print(f"ratio      speed x{oi / pi:.2f} (ours / PyTorch)  memory x{om / pm:.2f} (ours / PyTorch)")

if __name__ == "__main__":
    main()
