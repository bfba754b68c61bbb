#!/usr/bin/python3
"""Do zero-cost proxies rank a study's genotypes as training them from scratch does?

Every genotype of a study (study.json with "test_accs": the mean of its training runs is the
truth) is built as the study's evaluation network (PyTorch, tools/torch_darts_eval.py's
NetworkCIFAR: C, cells and input as the study's recipe) at --inits random initialisations and
scored at initialisation, with no training, by the proxies of the zero-cost literature:

  params    parameter count
  synflow   sum |theta * dR/dtheta|, R = sum of the output of the network with |theta| on an
            all-ones input, batch norms off (Tanaka et al. 2020; Abdelfattah et al. 2021)
  naswot    log|det K|, K the Hamming-agreement kernel of the ReLU activation patterns of a
            batch (Mellor et al. 2021)
  grad_norm sum of |dL/dtheta|_2 over the parameter tensors, one labelled batch
  snip      sum |theta * dL/dtheta|, one labelled batch (Lee et al. 2019)

and prints Kendall's tau of each proxy (mean over the inits) against the genotypes' from-scratch
accuracy, with the tau between inits (does a proxy agree with itself?). Labelled batches are
Fashion-MNIST training images. Needs python3-torch; a few minutes on 2 cores for 11 genotypes.

  tools/proxy_rank.py --study docs/study/main3/study.json [--inits 3] [--batch 64] [--C 8 --layers 5]

--pick DIR tests the proxy as a selector, the way the zero-cost literature uses it (NASWOT's
"sample N, keep the best score"): for each of --groups groups it draws --candidates genotypes
with `radars search --strategy random` (search.seed = 1000 + the draw's number, so no draw is one of
a study's random seeds), scores them by --proxy, and trains the best one --train-seeds times
with the study's main recipe (tools/study.py's preset "main"); DIR/pick.json and the table say
what was picked and how it tested.

  tools/proxy_rank.py --pick DIR [--radars build/radars] [--groups 3] [--candidates 17]
                      [--proxy naswot] [--train-seeds 3]
  tools/proxy_rank.py --selftest      Kendall's tau and the proxies on known cases; exit 0/1
"""
import argparse, functools, gzip, json, os, statistics as S, subprocess, sys, time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # 77: ctest's "skipped" for the --selftest test
    sys.exit(77 if "--selftest" in sys.argv else "proxy_rank.py needs Debian's python3-torch")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_darts_eval import NetworkCIFAR, parse_genotype_text  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"


def kendall(a, b):
    """Kendall's tau-b (ties in either list count as neither concordant nor discordant)."""
    n, con, dis, ta, tb = len(a), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0: continue
            if da == 0: ta += 1
            elif db == 0: tb += 1
            elif (da > 0) == (db > 0): con += 1
            else: dis += 1
    return (con - dis) / (((con + dis + ta) * (con + dis + tb)) ** 0.5 or 1)


@functools.lru_cache(maxsize=1)
def fmnist_train():
    """The training set's raw IDX bytes (images, labels), read once per process."""
    with gzip.open(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")) as f:
        img = f.read()
    with gzip.open(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz")) as f:
        lab = f.read()
    return img, lab


def fmnist_batch(n, seed):
    img, lab = fmnist_train()
    count = len(lab) - 8
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(count, generator=g)[:n].tolist()
    x = torch.tensor([list(img[16 + i * 784:16 + (i + 1) * 784]) for i in idx], dtype=torch.float32)
    x = (x / 255.0 - 0.2860) / 0.3530
    y = torch.tensor([lab[8 + i] for i in idx], dtype=torch.long)
    return x.view(n, 1, 28, 28), y


def synflow(net, shape):
    """Linearised network: |theta| (net's parameters are overwritten), each batch norm's running
    statistics reset to 0 / 1 and eval mode (so a BN is its affine part), all-ones input."""
    net = net.double()
    with torch.no_grad():
        for k, p in net.state_dict().items():
            if "running_mean" in k: p.zero_()
            if "running_var" in k: p.fill_(1.0)
        for p in net.parameters():
            p.abs_()
    net.eval()
    net.zero_grad()
    out, _ = net(torch.ones(shape, dtype=torch.float64))
    out.sum().backward()
    s = sum((p * p.grad).abs().sum().item() for p in net.parameters() if p.grad is not None)
    net.float()
    return s


def naswot(net, x):
    codes = []
    def hook(mod, inp, out):
        codes.append((out.detach().flatten(1) > 0).float())
    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    # functional ReLUs inside ops (DARTS' ops use nn.ReLU modules; the pools have none)
    net.train()
    with torch.no_grad():
        net(x)
    for h in hs: h.remove()
    if not codes:
        return float("nan")
    c = torch.cat(codes, 1)
    k = c @ c.t() + (1 - c) @ (1 - c).t()
    return torch.slogdet(k.double())[1].item()


def loss_grads(net, x, y):
    """(grad_norm, snip) of one fresh network on the batch (x, y): one backward pass, kept on the
    network for the other proxy of the pair on the same batch (scored before synflow changes it)."""
    kept = getattr(net, "_proxy_loss_grads", None)
    if kept is None or kept[0] is not x or kept[1] is not y:
        net.train()
        net.zero_grad()
        out, _ = net(x)
        F.cross_entropy(out, y).backward()
        gn = sum(p.grad.norm().item() for p in net.parameters() if p.grad is not None)
        sn = sum((p * p.grad).abs().sum().item() for p in net.parameters() if p.grad is not None)
        kept = net._proxy_loss_grads = (x, y, gn, sn)
    return kept[2], kept[3]


# Each proxy of a fresh network on one labelled batch, in the order they run on one network
# (synflow last: it overwrites the parameters with their magnitudes; the tables print another order).
PROXIES = {
    "params": lambda net, x, y: sum(p.numel() for p in net.parameters()),
    "naswot": lambda net, x, y: naswot(net, x),
    "grad_norm": lambda net, x, y: loss_grads(net, x, y)[0],
    "snip": lambda net, x, y: loss_grads(net, x, y)[1],
    "synflow": lambda net, x, y: synflow(net, tuple(x.shape)),
}


def score_one(geno_text, proxy, inits, batch, C, layers):
    """The proxy's mean over inits (init i: torch seed i, batch i), as the ranking mode scores."""
    vals = []
    for i in range(inits):
        x, y = fmnist_batch(batch, 1000 + i)
        torch.manual_seed(i)
        net = NetworkCIFAR(parse_genotype_text(geno_text), 1, C, 10, layers)
        vals.append(PROXIES[proxy](net, x, y))
    return S.mean(vals)


def pick(a):
    from study import PRESETS
    os.makedirs(a.pick, exist_ok=True)
    state_path = os.path.join(a.pick, "pick.json")
    state = json.load(open(state_path)) if os.path.exists(state_path) else {"groups": []}
    env = dict(os.environ)
    t0 = time.time()
    for g in range(a.groups):
        if g < len(state["groups"]):
            grp = state["groups"][g]
        else:
            cands = []
            for k in range(a.candidates):
                seed = 1000 + g * a.candidates + k
                out = os.path.join(a.pick, f"g{g}-c{k}")
                if not os.path.exists(os.path.join(out, "report.json")):
                    subprocess.run([a.radars, "search", "--strategy", "random", "--out", out, "--set",
                                    f"search.seed={seed}", "--set", "output.checkpoint_every=0"],
                                   check=True, capture_output=True, env=env)
                geno = json.load(open(os.path.join(out, "report.json")))["final"]["genotype"]
                cands.append({"dir": out, "seed": seed, "genotype": geno,
                              "score": score_one(geno, a.proxy, a.inits, a.batch, a.C, a.layers)})
            best = max(cands, key=lambda c: c["score"])
            grp = {"candidates": cands, "best": best["dir"], "test_accs": []}
            state["groups"].append(grp)
            print(f"[{time.time() - t0:5.0f} s] group {g}: best {a.proxy} {best['score']:.2f} of "
                  f"{len(cands)} ({min(c['score'] for c in cands):.2f}..{best['score']:.2f})", flush=True)
        for i in range(len(grp["test_accs"]), a.train_seeds):
            out = grp["best"] + ("-train" if i == 0 else f"-train-t{i}")
            cmd = [a.radars, "train", "--genotype", grp["best"], "--out", out]
            for kv in PRESETS["main"]["train"] + [f"train.seed={i}"]:
                cmd += ["--set", kv]
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            fin = json.load(open(os.path.join(out, "report.json")))["final"]
            grp["test_accs"].append(fin["test_acc"])
            grp["params"] = fin.get("params")
            print(f"[{time.time() - t0:5.0f} s] group {g}: training seed {i}: {100 * fin['test_acc']:.2f}%", flush=True)
        json.dump(state, open(state_path + ".tmp", "w"), indent=1)
        os.replace(state_path + ".tmp", state_path)
    means = [100 * S.mean(grp["test_accs"]) for grp in state["groups"]]
    print(f"\n| group | best {a.proxy} of {a.candidates} | parameters | test acc (mean of {a.train_seeds} runs) |")
    print("|---|---|---|---|")
    for g, grp in enumerate(state["groups"]):
        best = next(c for c in grp["candidates"] if c["dir"] == grp["best"])
        print(f"| {g} | {best['score']:.2f} | {grp.get('params')} | {means[g]:.2f} "
              f"({', '.join(f'{100 * x:.2f}' for x in grp['test_accs'])}) |")
    if len(means) > 1:
        print(f"\nmean over groups: {S.mean(means):.2f} +- {S.stdev(means):.2f}")


def selftest():
    fails = []
    def check(what, ok):
        if not ok: fails.append(what)
    check("tau of one order", abs(kendall([1, 2, 3, 4], [10, 20, 30, 40]) - 1) < 1e-12)
    check("tau of the reverse", abs(kendall([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-12)
    # 4 items: pairs (1,2)+ (1,3)+ (1,4)+ (2,3)- (2,4)+ (3,4)+ -> (5 - 1) / 6
    check("tau of one swap", abs(kendall([1, 2, 3, 4], [1, 3, 2, 4]) - 4 / 6) < 1e-12)
    # tau-b with a tie in b: (1,2) tied; others concordant: 5 / sqrt(6 * 5)
    check("tau-b with a tie", abs(kendall([1, 2, 3, 4], [1, 1, 3, 4]) - 5 / 30 ** 0.5) < 1e-12)
    geno = parse_genotype_text("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), "
                               "('dil_conv_3x3', 2), ('conv_1x1', 1), ('sep_conv_5x5', 3), ('avg_pool_3x3', 0), "
                               "('conv_3x3', 4)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                               "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0),"
                               " ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
                               "reduce_concat=[2, 3, 4, 5])")
    torch.manual_seed(0)
    net = NetworkCIFAR(geno, 1, 4, 10, 3)
    x = torch.randn(8, 1, 28, 28)
    s1 = naswot(net, x)
    # 8 distinct random images: K is positive definite (its diagonal, the feature count, dominates)
    check("naswot finite on distinct images", s1 == s1 and abs(s1) != float("inf"))
    # two equal images: two equal rows of K, singular: log|det K| is -inf
    x2 = x.clone(); x2[1] = x2[0]
    check("naswot -inf on a repeated image", naswot(net, x2) == float("-inf"))
    # the batch's own order does not matter
    check("naswot invariant to the batch order", abs(naswot(net, x.flip(0)) - s1) < 1e-6 * abs(s1))
    # synflow is positive and grows with a wider network (more paths)
    sa = synflow(NetworkCIFAR(geno, 1, 4, 10, 3), (1, 1, 28, 28))
    sb = synflow(NetworkCIFAR(geno, 1, 8, 10, 3), (1, 1, 28, 28))
    check("synflow positive, larger for a wider network", 0 < sa < sb)
    gn, sn = loss_grads(net, x, torch.randint(0, 10, (8,)))
    check("grad_norm and snip positive", gn > 0 and sn > 0)
    # the two gradient proxies of one network share its backward pass: the same pair as a fresh network's
    y8 = torch.randint(0, 10, (8,))
    torch.manual_seed(1)
    a = NetworkCIFAR(geno, 1, 4, 10, 3)
    pair = (PROXIES["grad_norm"](a, x, y8), PROXIES["snip"](a, x, y8))
    torch.manual_seed(1)
    check("grad_norm and snip from one backward pass", pair == loss_grads(NetworkCIFAR(geno, 1, 4, 10, 3), x, y8))
    for f in fails:
        print("proxy_rank selftest: FAILED:", f)
    print("proxy_rank selftest:", "FAILED" if fails else "ok")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--pick", metavar="DIR", help="test the proxy as a selector of random genotypes (above)")
    ap.add_argument("--radars", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                     "radars"))
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=17)
    ap.add_argument("--proxy", default="naswot", choices=sorted(PROXIES))
    ap.add_argument("--train-seeds", type=int, default=3)
    ap.add_argument("--inits", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write every score here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.selftest:
        return selftest()
    if a.pick:
        return pick(a)
    if not a.study:
        sys.exit("proxy_rank: --study FILE or --pick DIR")
    runs = [r for r in json.load(open(a.study))["runs"] if r.get("test_accs")]
    if len(runs) < 3:
        sys.exit(f"proxy_rank: {a.study}: fewer than 3 genotypes with test accuracies")
    proxies = ("params", "synflow", "naswot", "grad_norm", "snip")  # the printed order
    scores = {p: [[None] * len(runs) for _ in range(a.inits)] for p in proxies}
    t0 = time.time()
    for i in range(a.inits):
        x, y = fmnist_batch(a.batch, 1000 + i)
        for j, r in enumerate(runs):
            geno = parse_genotype_text(r["genotype"])
            torch.manual_seed(i)
            net = NetworkCIFAR(geno, 1, a.C, 10, a.layers)
            for p, score in PROXIES.items():
                scores[p][i][j] = score(net, x, y)
        print(f"init {i}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    truth = [100 * S.mean(r["test_accs"]) for r in runs]
    print(f"{len(runs)} genotypes of {a.study}, truth = mean of {len(runs[0]['test_accs'])} from-scratch runs; "
          f"{a.inits} inits, batch {a.batch}, C={a.C}, {a.layers} cells; {time.time() - t0:.0f} s\n")
    print("| proxy | Kendall tau (mean score) | tau per init | tau between inits |")
    print("|---|---|---|---|")
    for p in proxies:
        mean = [S.mean(scores[p][i][j] for i in range(a.inits)) for j in range(len(runs))]
        per = [kendall(scores[p][i], truth) for i in range(a.inits)]
        between = [kendall(scores[p][i], scores[p][k]) for i in range(a.inits) for k in range(i + 1, a.inits)]
        print(f"| {p} | {kendall(mean, truth):+.2f} | {', '.join(f'{t:+.2f}' for t in per)} | "
              f"{', '.join(f'{t:+.2f}' for t in between) or '-'} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"genotypes": [r["genotype"] for r in runs], "strategy": [r["strategy"] for r in runs],
                       "truth": truth, "scores": scores}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
