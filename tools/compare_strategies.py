#!/usr/bin/python3
"""Runs RADARS, plain DARTS and the RL-only baseline on the same data, seed and step budget,
and prints search time, peak device memory, and the validation accuracy of each result.

  tools/compare_strategies.py [--config configs/default.ini] [--mem-cap 600MiB] [--steps 360]
                              [--out runs/compare] [--train-epochs 0] [--set k=v ...]
                              [--train-set k=v ...]

Budget: every strategy gets the same number of weight-training steps (--steps):
DARTS runs them as DARTS steps; RADARS spends what its RL rounds use and the rest on DARTS;
RL spends them all on sampled paths. Plain DARTS is run twice: under the cap (it is refused
when the space does not fit, which is RADARS' point) and with the device's own memory, for
reference. Accuracy is the search's own validation accuracy (the supernet, or for RL the
policy's path, on the alpha half of the training set); with --train-epochs N each genotype is
also trained from scratch for N epochs (`radars train`, configs/train.ini's recipe with the
--train-set overrides, e.g. model.C=8 model.layers=5 data.train_limit=20000) and its test
accuracy reported.
"""
import argparse, json, os, subprocess, sys, time

def run_search(radars, args, out, sets):
    cmd = [radars, "search", "--out", out] + args
    for s in sets:
        cmd += ["--set", s]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    took = time.time() - t
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        return {"error": err[-1] if err else f"exit {p.returncode}", "wall": took}
    rep = json.load(open(os.path.join(out, "report.json")))
    fin = rep["final"]
    return {"wall": took, "search_s": fin["total_seconds"], "peak": fin["peak_bytes"], "cap": fin["cap"],
            "valid_acc": fin["valid_acc"], "rounds": fin["rl_rounds"], "genotype": fin["genotype"]}

def train(radars, run_dir, epochs, sets):
    cmd = [radars, "train", "--genotype", run_dir, "--out", run_dir + "-train", "--set", f"train.epochs={epochs}"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    try:
        return json.load(open(os.path.join(run_dir + "-train", "report.json")))["final"]["test_acc"]
    except (OSError, KeyError, ValueError):
        return None

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radars", default=os.path.join(here, "..", "build", "radars"))
    ap.add_argument("--config", default=os.path.join(here, "..", "configs", "default.ini"))
    ap.add_argument("--mem-cap", default="600MiB")
    ap.add_argument("--steps", type=int, default=240, help="weight-training steps per strategy")
    ap.add_argument("--steps-per-epoch", type=int, default=40)
    ap.add_argument("--rl-samples", type=int, default=16)
    ap.add_argument("--rl-train-steps", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("runs", "compare-" + time.strftime("%Y%m%d-%H%M%S")))
    ap.add_argument("--train-epochs", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--train-set", action="append", default=[], help="overrides of the train recipe")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    base = ["--config", a.config]
    common = a.set + [f"search.steps_per_epoch={a.steps_per_epoch}", f"rl.samples={a.rl_samples}",
                      f"rl.train_steps={a.rl_train_steps}"]
    per_round = a.rl_samples * a.rl_train_steps
    epochs = max(1, a.steps // a.steps_per_epoch)
    results = []
    # RADARS first: its RL rounds decide how many DARTS steps are left of the budget
    radars_dir = os.path.join(a.out, "radars")
    probe = run_search(a.radars, base + ["--strategy", "radars", "--mem-cap", a.mem_cap],
                       radars_dir, common + [f"search.epochs={epochs}"])
    if "error" not in probe:
        used = probe["rounds"] * per_round
        left = max(1, (a.steps - used) // a.steps_per_epoch)
        if left != epochs:  # rerun with the budget the RL rounds left
            radars_dir = os.path.join(a.out, "radars-budget")
            probe = run_search(a.radars, base + ["--strategy", "radars", "--mem-cap", a.mem_cap],
                               radars_dir, common + [f"search.epochs={left}"])
    results.append(("radars (cap)", probe, radars_dir))
    d1 = run_search(a.radars, base + ["--strategy", "darts", "--mem-cap", a.mem_cap], os.path.join(a.out, "darts-cap"),
                    common + [f"search.epochs={epochs}"])
    results.append(("darts (cap)", d1, os.path.join(a.out, "darts-cap")))
    d2 = run_search(a.radars, base + ["--strategy", "darts", "--set", "memory.cap=0"],
                    os.path.join(a.out, "darts-device"), common + [f"search.epochs={epochs}"])
    results.append(("darts (device)", d2, os.path.join(a.out, "darts-device")))
    rounds = max(1, a.steps // per_round)
    r = run_search(a.radars, base + ["--strategy", "rl", "--mem-cap", a.mem_cap], os.path.join(a.out, "rl"),
                   common + [f"rl.rounds={rounds}"])
    results.append(("rl (cap)", r, os.path.join(a.out, "rl")))
    print(f"\nsame data, seed and budget ({a.steps} weight steps); cap {a.mem_cap}; runs in {a.out}")
    print(f"{'strategy':16s} {'search s':>9s} {'peak MiB':>9s} {'cap MiB':>8s} {'valid acc':>9s} {'RL rounds':>9s}"
          + (f" {'test acc':>9s}" if a.train_epochs else ""))
    for name, res, d in results:
        if "error" in res:
            print(f"{name:16s} refused/failed: {res['error']}")
            continue
        line = (f"{name:16s} {res['search_s']:9.1f} {res['peak'] / 2**20:9.1f} {res['cap'] / 2**20:8.0f} "
                f"{100 * res['valid_acc']:8.2f}% {res['rounds']:9d}")
        if a.train_epochs:
            acc = train(a.radars, d, a.train_epochs, a.train_set)
            line += f" {100 * acc:8.2f}%" if acc is not None else "       n/a"
        print(line)
    for name, res, _ in results:
        if "error" not in res:
            print(f"{name}: {res['genotype']}")

if __name__ == "__main__":
    main()
