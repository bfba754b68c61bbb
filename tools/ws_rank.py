#!/usr/bin/python3
"""Does weight sharing rank the architectures of a study? Each genotype a study trained from
scratch is scored as a path of a one-shot supernet trained on uniformly sampled paths (radars
search --strategy random-ws ... --score GENOTYPE ...: validation accuracy on the shared weights,
every genotype on the same batches); the scores are set against the genotypes' test accuracy
trained from scratch (the mean over the study's training seeds): Kendall's tau and Spearman's
rho, per supernet seed and for the score averaged over seeds.

  tools/ws_rank.py --study docs/study/main3 [--out DIR] [--seeds 1,2,3] [--set rl.rounds=3 ...]

The study's search recipe is configs/default.ini (its "main" preset) unless --config says
otherwise. Each supernet's run directory is kept under --out; with --resume finished ones are
scored again from their checkpoint (radars search --resume RUN --score ...) instead of trained
again. Writes ws_rank.json and ws_rank.md into --out. Needs python3-scipy.
"""
import argparse, json, os, statistics, subprocess, sys

from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))


def scores(a, seed, genotypes):
    out = os.path.join(a.out, f"ws-s{seed}")
    done = os.path.exists(os.path.join(out, "report.json"))
    if done and a.resume:
        cmd = [a.radars, "search", "--resume", out]
    else:
        if os.path.exists(out):
            subprocess.run(["rm", "-rf", out], check=True)
        cmd = [a.radars, "search", "--config", a.config, "--strategy", "random-ws", "--out", out,
               "--set", "output.checkpoint_every=0", "--set", f"search.seed={seed}"]
        for s in a.set:
            cmd += ["--set", s]
    for g in genotypes:
        cmd += ["--score", g]
    with open(out + ".log", "w") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            sys.exit(f"ws_rank: {' '.join(cmd[:4])} failed: see {out}.log")
    recs = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"ws_score"' in l]
    recs = [r for r in recs if r.get("type") == "ws_score"]
    if len(recs) != len(genotypes):
        sys.exit(f"ws_rank: {out}: {len(recs)} ws_score records for {len(genotypes)} genotypes")
    return [r["valid_acc"] for r in sorted(recs, key=lambda r: r["index"])]


def corr(x, y):
    tau, p_tau = stats.kendalltau(x, y)
    rho, p_rho = stats.spearmanr(x, y)
    return {"kendall_tau": tau, "kendall_p": p_tau, "spearman_rho": rho, "spearman_p": p_rho}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", required=True, help="a study directory (study.json of tools/study.py)")
    ap.add_argument("--out", help="where the supernets' runs go (default: STUDY/ws-rank)")
    ap.add_argument("--seeds", default="1,2,3", help="search.seed of each one-shot supernet")
    ap.add_argument("--set", action="append", default=[], help="search recipe overrides, e.g. rl.rounds=3")
    ap.add_argument("--config", default=os.path.join(HERE, "..", "configs", "default.ini"))
    ap.add_argument("--radars", default=os.path.join(HERE, "..", "build", "radars"))
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    a.out = a.out or os.path.join(a.study, "ws-rank")
    os.makedirs(a.out, exist_ok=True)
    runs = [r for r in json.load(open(os.path.join(a.study, "study.json")))["runs"] if "test_acc" in r]
    if len(runs) < 3:
        sys.exit(f"ws_rank: {a.study}: fewer than 3 trained genotypes")
    genotypes = [r["genotype"] for r in runs]
    test = [r["test_acc"] for r in runs]
    seeds = [int(s) for s in a.seeds.split(",")]
    per_seed = {s: scores(a, s, genotypes) for s in seeds}
    mean_score = [statistics.mean(per_seed[s][i] for s in seeds) for i in range(len(runs))]
    result = {"study": a.study, "sets": a.set, "seeds": seeds,
              "genotypes": [{"strategy": r["strategy"], "seed": r["seed"], "test_acc": r["test_acc"],
                             "test_accs": r.get("test_accs"), "params": r.get("params"),
                             "ws_scores": [per_seed[s][i] for s in seeds], "ws_score": mean_score[i]}
                            for i, r in enumerate(runs)],
              "per_seed": {str(s): corr(per_seed[s], test) for s in seeds},
              "mean": corr(mean_score, test)}
    if len(seeds) > 1:  # how well one supernet's scores agree with another's
        result["between_seeds"] = [corr(per_seed[seeds[i]], per_seed[seeds[j]])["kendall_tau"]
                                   for i in range(len(seeds)) for j in range(i + 1, len(seeds))]
    json.dump(result, open(os.path.join(a.out, "ws_rank.json"), "w"), indent=1)
    lines = [f"Weight-sharing ranking of {len(runs)} genotypes of {a.study} (one-shot supernets: random-ws, "
             f"seeds {a.seeds}{', ' + ' '.join(a.set) if a.set else ''})", "",
             "| genotype | test acc (from scratch) | ws score per seed | ws score mean |", "|---|---|---|---|"]
    for g in sorted(result["genotypes"], key=lambda g: -g["test_acc"]):
        lines.append(f"| {g['strategy']}-s{g['seed']} | {100 * g['test_acc']:.2f} | "
                     f"{', '.join(f'{100 * v:.2f}' for v in g['ws_scores'])} | {100 * g['ws_score']:.2f} |")
    lines += ["", "| scores | Kendall tau (p) | Spearman rho (p) |", "|---|---|---|"]
    for k, c in list(result["per_seed"].items()) + [("mean over seeds", result["mean"])]:
        name = f"seed {k}" if k.isdigit() else k
        lines.append(f"| {name} | {c['kendall_tau']:+.2f} ({c['kendall_p']:.2f}) | "
                     f"{c['spearman_rho']:+.2f} ({c['spearman_p']:.2f}) |")
    if "between_seeds" in result:
        lines += ["", "Kendall tau between the seeds' scores: " +
                  ", ".join(f"{t:+.2f}" for t in result["between_seeds"])]
    open(os.path.join(a.out, "ws_rank.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
