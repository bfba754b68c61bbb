#!/usr/bin/python3
"""A post-hoc simulation on the main study's own training runs (no new run): how much would a
selector gain that trains k candidates from scratch with the study's recipe and keeps the one
with the best held-out validation accuracy (20 batches x 64 training images held out)?

For training seed s and every k-subset of a pool of genotypes, the pick is the genotype with
the best validation accuracy in its seed-s run (after epoch 1 or 3); its quality is its mean
test accuracy over the *other* two training seeds (so the seed's shared luck does not count).
The gain is the pick's quality minus the subset's mean quality. Needs the study's run
directories (study.json's "dir": DIR-train, DIR-train-t1, DIR-train-t2).

  docs/study/main3/ws-rank/select.py [docs/study/main3/study.json] > select.txt
"""
import itertools, json, os, statistics as S, sys

RANDOM_SD = 0.39  # points: sd of the 5 random genotypes' 3-run means (study.md)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "study.json")
    runs = [r for r in json.load(open(path))["runs"] if "test_accs" in r]
    for r in runs:
        r["valid"] = []
        for k in range(len(r["test_accs"])):
            rep = json.load(open(r["dir"] + ("-train" if k == 0 else f"-train-t{k}") + "/report.json"))
            r["valid"].append([e["valid_acc"] for e in rep["epochs_detail"]])

    def quality(r, k):
        return S.mean(a for j, a in enumerate(r["test_accs"]) if j != k)

    pools = [("the 5 random genotypes", [r for r in runs if r["strategy"] == "random"]), ("all 11 genotypes", runs)]
    print("| pool | selected by | best of | mean gain (points) | in random sd | P(gain > 0) |")
    print("|---|---|---|---|---|---|")
    for name, pool in pools:
        for epoch in (1, 3):
            for n in (2, 3, 4):
                gains = []
                for k in range(3):
                    for sub in itertools.combinations(pool, n):
                        pick = max(sub, key=lambda r: r["valid"][k][epoch - 1])
                        gains.append(100 * (quality(pick, k) - S.mean(quality(r, k) for r in sub)))
                g = S.mean(gains)
                print(f"| {name} | epoch {epoch} valid acc | {n} | {g:+.2f} | {g / RANDOM_SD:+.2f} | "
                      f"{sum(x > 0 for x in gains) / len(gains):.2f} |")


if __name__ == "__main__":
    main()
