#!/usr/bin/python3
"""The multi-seed strategy study: every strategy x seed searches the same space on the same
data, under the same cap and weight-training budget; every genotype found is trained from
scratch with one fixed recipe and tested on the full test set; a table and a plot go into
the study directory (study.md, study.json, study.png).

  tools/study.py [--preset small|main] [--out runs/study-TIME] [--seeds 3] [--random 5] [--budget 120]
                 [--cap 200MiB] [--strategies radars,radars-proxy,...] [--search-set k=v ...]
                 [--train-set k=v ...] [--train-seeds 1] [--resume]

Budget (--budget): weight-training steps per search, counted the same way for everyone:
  darts, darts-fit, darts-uncapped, pcdarts: search.epochs x search.steps_per_epoch DARTS steps
  rl, random-ws: rl.rounds x rl.samples x rl.train_steps steps on sampled paths
  radars, radars-proxy, radars-pc: the RL rounds it needs to fit the cap (rl.samples x
      rl.train_steps each), then DARTS epochs for what is left (at least one)
  random: nothing trained (a uniform draw from the space)
darts is refused under the cap (the space does not fit: RADARS' point) and is shown as
darts-fit (the largest batch that fits the cap) and darts-uncapped (the device's memory).
radars-proxy is RADARS with the zero-cost warm start (rl.warm_start = prune); radars-pc is
RADARS over the PC-DARTS supernet (search.dnas = pcdarts). Each run directory is kept; with
--resume finished runs are read back instead of run again.
"""
import argparse, json, math, os, re, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["radars", "radars-proxy", "radars-pc", "pcdarts", "darts", "darts-fit", "darts-uncapped", "rl", "random-ws",
       "random"]

# Presets: the search space and data of the study, the one training recipe every genotype gets, and the
# budget. "small": the default main job's space and data with a smaller network; "main": the default main
# job itself (configs/default.ini as it is: its cap, its RL samples and steps, its DARTS epochs), every
# genotype trained with the train_accuracy test's recipe (27,000 images x 3 epochs).
PRESETS = {
    "small": dict(search=["model.ops=large", "model.C=4", "model.layers=3", "data.batch=32",
                          "data.train_limit=20000", "search.eval_batches=20", "rl.prune_per_round=2",
                          "output.checkpoint_every=0"],
                  train=["model.C=8", "model.layers=5", "data.batch=64", "data.train_limit=10000", "train.epochs=2",
                         "model.drop_path=0"],
                  budget=120, steps_per_epoch=20, rl_samples=12, rl_train_steps=2, cap="200MiB", rounds_guess=3),
    # main job: 2 RL rounds x 48 paths x 4 steps + 6 DARTS epochs x 60 steps = 744 weight steps
    "main": dict(search=["output.checkpoint_every=0"],
                 train=["model.C=8", "model.layers=5", "data.batch=64", "data.train_limit=30000", "train.epochs=3",
                        "train.eval_batches=20", "model.drop_path=0"],
                 budget=744, steps_per_epoch=60, rl_samples=48, rl_train_steps=4, cap="600MiB", rounds_guess=2),
}
SEARCH_BASE, TRAIN_BASE = [], []


def run(cmd, log):
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, text=True)
    return p.returncode


def last_line(log):
    try:
        lines = [l for l in open(log).read().splitlines() if l.strip()]
        return lines[-1] if lines else ""
    except OSError:
        return ""


def search(a, name, seed, sets, cap):
    out = os.path.join(a.out, f"{name}-s{seed}")
    rep = os.path.join(out, "report.json")
    if not (a.resume and os.path.exists(rep)):
        if os.path.exists(out):
            subprocess.run(["rm", "-rf", out])
        cmd = [a.radars, "search", "--config", a.config, "--out", out, "--mem-cap", cap]
        for s in SEARCH_BASE + a.search_set + sets + [f"search.seed={seed}"]:
            cmd += ["--set", s]
        t = time.time()
        rc = run(cmd, out + ".log")
        if rc != 0:
            return {"strategy": name, "seed": seed, "error": last_line(out + ".log"), "wall_s": time.time() - t}
    fin = json.load(open(rep))["final"]
    return {"strategy": name, "seed": seed, "dir": out, "search_s": fin["total_seconds"], "peak": fin["peak_bytes"],
            "predicted": fin["predicted_bytes"], "cap": fin["cap"], "rl_rounds": fin["rl_rounds"],
            "steps": None, "genotype": fin["genotype"], "valid_acc": fin.get("valid_acc")}


def train(a, r):
    """Trains the genotype --train-seeds times (train.seed = --train-seed + i); its test
    accuracy is their mean: one training run of this recipe is as noisy as the spread between
    architectures (README, "The strategy study")."""
    accs, secs = [], []
    for i in range(a.train_seeds):
        out = r["dir"] + ("-train" if i == 0 else f"-train-t{i}")
        rep = os.path.join(out, "report.json")
        if not (a.resume and os.path.exists(rep)):
            if os.path.exists(out):
                subprocess.run(["rm", "-rf", out])
            cmd = [a.radars, "train", "--genotype", r["dir"], "--out", out]
            for s in TRAIN_BASE + a.train_set + [f"train.seed={a.train_seed + i}"]:
                cmd += ["--set", s]
            if run(cmd, out + ".log") != 0:
                r["train_error"] = last_line(out + ".log")
                return
        fin = json.load(open(rep))["final"]
        accs.append(fin["test_acc"])
        secs.append(fin.get("total_seconds") or 0)
        r["params"] = fin.get("params")
    r["test_acc"] = statistics.mean(accs)
    r["test_accs"] = accs
    r["train_s"] = sum(secs)


def plan_bytes(a, sets, op_set):
    cmd = [a.radars, "plan", "--config", a.config]
    for s in SEARCH_BASE + a.search_set + sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == op_set:
            # the last size of the row is the total (the "fits" column after it is free text)
            num, unit = re.findall(r"([\d.]+) (B|KiB|MiB|GiB)\b", line)[-1]
            return float(num) * {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}[unit]
    raise SystemExit(f"study: cannot read 'radars plan' for {op_set}:\n{out}")


def parse_bytes(s):
    m = re.match(r"^\s*([\d.]+)\s*(B|KiB|MiB|GiB)?\s*$", s)
    if not m:
        raise SystemExit(f"study: bad size '{s}'")
    return float(m.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, None: 1}[m.group(2)]


def pooled_sd(runs):
    """The standard deviation of one training run around its genotype's mean, pooled over genotypes."""
    ss, df = 0.0, 0
    for r in runs:
        v = r.get("test_accs") or []
        if len(v) > 1:
            m = statistics.mean(v)
            ss += sum((x - m) ** 2 for x in v)
            df += len(v) - 1
    return math.sqrt(ss / df) if df else float("nan")


def mean_sd(v):
    v = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return None, None, 0
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0), len(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radars", default=os.path.join(HERE, "..", "build", "radars"))
    ap.add_argument("--config", default=os.path.join(HERE, "..", "configs", "default.ini"))
    ap.add_argument("--out", default=os.path.join("runs", "study-" + time.strftime("%Y%m%d-%H%M%S")))
    ap.add_argument("--seeds", type=int, default=3, help="seeds per searching strategy (at least 1)")
    ap.add_argument("--random", type=int, default=5, help="random genotypes")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small",
                    help="search space, data, training recipe and budget (the options below override it)")
    ap.add_argument("--budget", type=int, help="weight-training steps per search")
    ap.add_argument("--steps-per-epoch", type=int)
    ap.add_argument("--rl-samples", type=int)
    ap.add_argument("--rl-train-steps", type=int)
    ap.add_argument("--cap")
    ap.add_argument("--rounds-guess", type=int,
                    help="RL rounds RADARS is expected to need (its first run's DARTS epochs are set from it; a "
                         "wrong guess costs a second run); radars-proxy's warm start prunes one round's worth")
    ap.add_argument("--strategies", default=",".join(ALL))
    ap.add_argument("--search-set", action="append", default=[])
    ap.add_argument("--train-set", action="append", default=[])
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--train-seeds", type=int, default=1,
                    help="training runs per genotype (train.seed, +1, ...); a genotype's accuracy is their mean")
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    preset = PRESETS[a.preset]
    SEARCH_BASE[:], TRAIN_BASE[:] = preset["search"], preset["train"]
    for key in ("budget", "steps_per_epoch", "rl_samples", "rl_train_steps", "cap"):
        if getattr(a, key) is None:
            setattr(a, key, preset[key])
    os.makedirs(a.out, exist_ok=True)
    strategies = [s for s in a.strategies.split(",") if s]
    for s in strategies:
        if s not in ALL:
            raise SystemExit(f"study: unknown strategy '{s}' (known: {', '.join(ALL)})")
    a.seeds = max(1, a.seeds)
    a.train_seeds = max(1, a.train_seeds)
    spe, per_round = a.steps_per_epoch, a.rl_samples * a.rl_train_steps
    rl_common = [f"rl.samples={a.rl_samples}", f"rl.train_steps={a.rl_train_steps}", f"search.steps_per_epoch={spe}"]
    darts_epochs = max(1, a.budget // spe)
    rl_rounds = max(1, a.budget // per_round)
    cap = parse_bytes(a.cap)
    # darts-fit: the largest batch (halving) whose DARTS step fits the cap
    batch = 32
    while batch > 1 and plan_bytes(a, [f"data.batch={batch}"], "large") > cap:
        batch //= 2
    runs = []
    t_start = time.time()

    def finish(r):
        # trained at once and the table rewritten: a study stopped early still has a table
        print(f"[{time.time() - t_start:7.0f} s] {r['strategy']} seed {r['seed']}: " +
              (r["error"] if "error" in r else f"{r['search_s']:.0f} s, peak {r['peak'] / 2**20:.1f} MiB"), flush=True)
        if "error" not in r:
            train(a, r)
            print(f"[{time.time() - t_start:7.0f} s]   trained: " +
                  (r.get("train_error") or f"test {100 * r['test_acc']:.2f}%"), flush=True)
        runs.append(r)
        write_results(a, runs, strategies, batch, cap, darts_epochs, rl_rounds, time.time() - t_start, quiet=True)

    def budget_of(r):
        if "error" in r:
            return None
        s = r["strategy"]
        if s == "random":
            return 0
        if s in ("rl", "random-ws"):
            return rl_rounds * per_round
        if s.startswith("radars"):
            return r["rl_rounds"] * per_round + r["darts_epochs"] * spe
        return darts_epochs * spe

    for seed in range(1, a.seeds + 1):
        for name in strategies:
            if name == "random":
                continue
            sets = list(rl_common)
            if name.startswith("radars"):
                sets.append("search.strategy=radars")
                if name == "radars-proxy":
                    sets.append("rl.warm_start=prune")
                if name == "radars-pc":
                    sets.append("search.dnas=pcdarts")
                # rounds it needs: read from a first run, then the DARTS epochs the budget leaves
                guess = a.rounds_guess if a.rounds_guess is not None else preset["rounds_guess"]
                epochs = max(1, (a.budget - guess * per_round) // spe)
                # (rl.rounds is only RADARS' limit: it stops pruning as soon as the survivors fit)
                r = search(a, name, seed, sets + [f"search.epochs={epochs}", "rl.rounds=50"], a.cap)
                if "error" not in r:
                    left = max(1, (a.budget - r["rl_rounds"] * per_round) // spe)
                    if left != epochs:
                        r = search(a, name, seed, sets + [f"search.epochs={left}", "rl.rounds=50"], a.cap)
                        epochs = left
                r["darts_epochs"] = epochs
            elif name in ("rl", "random-ws"):
                r = search(a, name, seed, sets + [f"search.strategy={name}", f"rl.rounds={rl_rounds}"], a.cap)
            else:
                strat = "pcdarts" if name == "pcdarts" else "darts"
                extra = [f"search.strategy={strat}", f"search.epochs={darts_epochs}"]
                run_cap = a.cap
                if name == "darts-fit":
                    extra.append(f"data.batch={batch}")
                if name == "darts-uncapped":
                    run_cap = "0"
                r = search(a, name, seed, sets + extra, run_cap)
            r["budget_steps"] = budget_of(r)
            finish(r)
        # the random genotypes interleaved with the seeds, so a partial study has all of them
        for i in range(seed, a.random + 1, a.seeds) if "random" in strategies else []:
            r = search(a, "random", i, ["search.strategy=random"], a.cap)
            r["budget_steps"] = 0
            finish(r)
    write_results(a, runs, strategies, batch, cap, darts_epochs, rl_rounds, time.time() - t_start)


def budget_text(a, strategies, darts_epochs, rl_rounds, batch):
    """How the budget is spent, for the strategies of this study only."""
    parts = []
    if any(s in ("darts", "darts-fit", "darts-uncapped", "pcdarts") for s in strategies):
        parts.append(f"DARTS: {darts_epochs} epochs x {a.steps_per_epoch} steps")
    if any(s in ("rl", "random-ws") for s in strategies):
        parts.append(f"RL and random-ws: {rl_rounds} rounds x {a.rl_samples} paths x {a.rl_train_steps} steps")
    if any(s.startswith("radars") for s in strategies):
        parts.append(f"RADARS: its rounds of {a.rl_samples} paths x {a.rl_train_steps} steps, then DARTS epochs of "
                     f"{a.steps_per_epoch} steps for the rest")
    if "darts-fit" in strategies:
        parts.append(f"darts-fit at batch {batch}")
    return "; ".join(parts) or "random genotypes only"


def write_results(a, runs, strategies, batch, cap, darts_epochs, rl_rounds, seconds, quiet=False):
    json.dump({"runs": runs, "search_base": SEARCH_BASE + a.search_set, "train_base": TRAIN_BASE + a.train_set,
               "preset": a.preset, "budget": a.budget, "cap": cap, "seconds": seconds}, open(os.path.join(a.out, "study.json"), "w"),
              indent=1)
    rows = []
    rand = [r.get("test_acc") for r in runs if r["strategy"] == "random"]
    rm, rsd, _ = mean_sd(rand)
    lines = [f"# Strategy study ({time.strftime('%Y-%m-%d')})", "",
             f"Preset {a.preset}. Search: {os.path.relpath(a.config)} with "
             f"{' '.join(SEARCH_BASE + a.search_set) or 'nothing changed'}; cap {cap / 2**20:.0f} MiB; budget {a.budget} "
             f"weight-training steps per search ({budget_text(a, strategies, darts_epochs, rl_rounds, batch)}).",
             f"Training of every genotype: {' '.join(TRAIN_BASE + a.train_set)}, "
             + (f"seed {a.train_seed}" if a.train_seeds == 1 else
                f"seeds {a.train_seed}..{a.train_seed + a.train_seeds - 1} (a genotype's accuracy: their mean; "
                f"training-seed sd within a genotype, pooled: {100 * pooled_sd(runs):.2f})")
             + f"; test accuracy on the test split. Whole study: {seconds / 60:.0f} min.", "",
             "| strategy | runs | test acc (mean ± sd) | vs random mean (in random sd) | search s | peak MiB | "
             "cap MiB | budget steps |", "|---|---|---|---|---|---|---|---|"]
    for name in strategies:
        rs = [r for r in runs if r["strategy"] == name]
        ok = [r for r in rs if "test_acc" in r]
        m, sd, n = mean_sd([r["test_acc"] for r in ok])
        sm, _, _ = mean_sd([r.get("search_s") for r in ok])
        pk, _, _ = mean_sd([r.get("peak") for r in ok])
        cp = ok[0]["cap"] if ok else None
        bs = sorted({r["budget_steps"] for r in ok if r.get("budget_steps") is not None})
        if not ok:
            err = rs[0].get("error") or rs[0].get("train_error") if rs else "not run"
            lines.append(f"| {name} | 0 of {len(rs)} | — ({err}) | | | | | |")
            continue
        vs = "" if rm is None or not rsd or name == "random" else f"{(m - rm) / rsd:+.2f}"
        lines.append(f"| {name} | {n} | {100 * m:.2f} ± {100 * sd:.2f} | {vs} | {sm:.0f} | {pk / 2**20:.1f} | "
                     f"{cp / 2**20:.0f} | {', '.join(str(b) for b in bs)} |")
        rows.append((name, ok))
    open(os.path.join(a.out, "study.md"), "w").write("\n".join(lines) + "\n")
    if not quiet:
        print("\n".join(lines))
    plot(a, rows)


def plot(a, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("study: no matplotlib (apt-get install python3-matplotlib): no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    colours = plt.get_cmap("tab10")
    for i, (name, ok) in enumerate(rows):
        x = [max(r["search_s"], 0.5) for r in ok]
        y = [100 * r["test_acc"] for r in ok]
        size = [30 + 400 * r["peak"] / max(rr["peak"] for _, g in rows for rr in g) for r in ok]
        ax.scatter(x, y, s=size, color=colours(i % 10), alpha=0.6, label=name, edgecolors="k", linewidths=0.5)
        ax.errorbar([statistics.mean(x)], [statistics.mean(y)], yerr=[statistics.stdev(y) if len(y) > 1 else 0],
                    color=colours(i % 10), fmt="D", markersize=7, capsize=4)
    ax.set_xscale("log")
    ax.set_xlabel("search time (s, log scale)")
    ax.set_ylabel("test accuracy after training from scratch (%)")
    ax.set_title("Strategies x seeds: marker size = measured peak device memory; diamond = mean ± sd")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "study.png"), dpi=110)


if __name__ == "__main__":
    main()
