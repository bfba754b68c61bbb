#!/usr/bin/python3
"""PyTorch DARTS evaluation network (NetworkCIFAR) built from a genotype: the peer that
radars-cl's discrete network (include/radars/network.h) is checked and timed against.

Module and parameter names follow DARTS' model.py / operations.py (stem, cells.N.preprocess0,
cells.N._ops.K with K = position in the genotype's list, auxiliary_head, classifier), with
every batch-norm affine, so a radars-cl safetensors checkpoint loads here with strict names.
All 15 ops of SEARCH.md's `large` set are supported; the ops DARTS lacks (5x5 pools, dil_conv_7x7,
conv_1x1, conv_3x3) follow SEARCH.md; conv_7x1_1x7 is a bare nn.Sequential as in DARTS' operations.py
(`_ops.K.1.weight`, `_ops.K.3.running_mean`), unlike the search supernet peer's `.op` modules.

  torch_darts_eval.py --load CKPT.safetensors --input X.f32 --genotype G --C C --layers L
                      --cin CIN --hw HW --classes K [--auxiliary] [--train-mode]
      logits of the raw float32 N x CIN x HW x HW input, one row per image ("%.6g");
      eval mode (running statistics) unless --train-mode (batch statistics, no drop-path).
  torch_darts_eval.py --bench --genotype G [--C 16 --layers 8 --batch 64 --cin 1 --hw 28
                      --classes 10 --steps 5 --threads 2 --auxiliary --drop-path 0.2]
      times training steps (CE + 0.4 aux CE, clip 5, SGD 0.025/0.9/3e-4) on random data.
  torch_darts_eval.py --names --genotype G ...      state_dict names and shapes (no num_batches_tracked).
  torch_darts_eval.py --selftest                    all 15 ops at both strides forward/backward,
                                                    safetensors round trip, strict names; exit 0/1.

G: a DARTS-form string (`Genotype(normal=[...], normal_concat=[2, 3, 4, 5] or range(2, 6), ...)`),
a file holding one or its JSON form, or NAME for configs/genotypes/NAME.txt.
Needs Debian's python3-torch.
"""
import argparse, ast, json, os, resource, statistics, struct, sys, tempfile, time
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # 77: ctest's "skipped" for the --selftest test
    sys.exit(77 if "--selftest" in sys.argv else "torch_darts_eval.py needs Debian's python3-torch")

OPS_LARGE = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5", "sep_conv_7x7", "dil_conv_7x7", "conv_1x1", "conv_3x3",
             "conv_7x1_1x7", "max_pool_5x5", "avg_pool_5x5"]
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- genotypes

def _literal(node):
    """A literal, or range(a[, b[, c]]) of int literals: the only call DARTS' genotypes use."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 3):
        return list(range(*[ast.literal_eval(a) for a in node.args]))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"genotype: not a literal: {ast.unparse(node)[:60]}") from None


def parse_genotype_text(text):
    """DARTS' printed form or the JSON form -> dict of the 4 fields. Never evaluates code."""
    text = text.strip()
    if text.startswith("{"):
        g = json.loads(text)
    else:
        try:
            call = ast.parse(text, mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"genotype: syntax error: {e.msg}") from None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise ValueError("genotype: expected Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
        if len(call.args) > len(FIELDS):
            raise ValueError("genotype: too many fields")
        g = dict(zip(FIELDS, (_literal(a) for a in call.args)))
        for kw in call.keywords:
            if kw.arg not in FIELDS or kw.arg in g:
                raise ValueError(f"genotype: unexpected or repeated field {kw.arg!r}")
            g[kw.arg] = _literal(kw.value)
    for f in FIELDS:
        if f not in g:
            raise ValueError(f"genotype: missing field {f!r}")
    out = {}
    for kind in ("normal", "reduce"):
        try:
            edges = [(str(op), int(i)) for op, i in g[kind]]
            concat = [int(c) for c in g[kind + "_concat"]]
        except (TypeError, ValueError):
            raise ValueError(f"genotype: {kind} must be a list of (op, input) pairs and "
                             f"{kind}_concat a list of ints") from None
        if not edges or len(edges) % 2:
            raise ValueError(f"genotype: {kind} needs an even, non-zero number of edges")
        for k, (op, i) in enumerate(edges):
            if op not in OPS_LARGE:
                raise ValueError(f"genotype: {kind}[{k}]: unknown op {op!r}")
            if not 0 <= i < 2 + k // 2:
                raise ValueError(f"genotype: {kind}[{k}]: input {i} out of range for node {k // 2}")
        if not concat or any(not 0 <= c < 2 + len(edges) // 2 for c in concat):
            raise ValueError(f"genotype: {kind}_concat {concat} names states that do not exist")
        out[kind], out[kind + "_concat"] = edges, concat
    return out


def load_genotype(arg):
    """A genotype string, a file holding one, or a name under configs/genotypes/."""
    if arg.lstrip().startswith(("Genotype", "{")):
        return parse_genotype_text(arg)
    path = arg if os.path.isfile(arg) else os.path.join(ROOT, "configs", "genotypes", arg + ".txt")
    if not os.path.isfile(path):
        raise ValueError(f"genotype: {arg!r} is neither a genotype, a file, nor configs/genotypes/{arg}.txt")
    with open(path) as f:
        return parse_genotype_text(f.read())

# ---------------------------------------------------------------- ops

class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, s, p):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x): return self.op(x)


class SepConv(nn.Module):
    def __init__(self, c, k, s):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(), nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c))
    def forward(self, x): return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c, k, s):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, s, k - 1, dilation=2, groups=c, bias=False),
                                nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
    def forward(self, x): return self.op(x)


def conv_7x1_1x7(c, s):
    """DARTS' operations.py: a bare Sequential, so its tensors are `1.weight`, `2.weight`, `3.*`."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, (1, 7), (1, s), (0, 3), bias=False),
                         nn.Conv2d(c, c, (7, 1), (s, 1), (3, 0), bias=False), nn.BatchNorm2d(c))


class Zero(nn.Module):
    def __init__(self, s):
        super().__init__(); self.s = s
    def forward(self, x): return x[:, :, ::self.s, ::self.s].mul(0.)


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], 1))


def make_op(name, c, s):
    k = int(name[-1]) if name[-1].isdigit() else 0
    if name == "none": return Zero(s)
    if name == "skip_connect": return nn.Identity() if s == 1 else FactorizedReduce(c, c)
    if name.startswith("max_pool"): return nn.MaxPool2d(k, s, k // 2)
    if name.startswith("avg_pool"): return nn.AvgPool2d(k, s, k // 2, count_include_pad=False)
    if name.startswith("sep_conv"): return SepConv(c, k, s)
    if name.startswith("dil_conv"): return DilConv(c, k, s)
    if name == "conv_1x1": return ReLUConvBN(c, c, 1, s, 0)
    if name == "conv_3x3": return ReLUConvBN(c, c, 3, s, 1)
    if name == "conv_7x1_1x7": return conv_7x1_1x7(c, s)
    raise ValueError(name)


def drop_path(x, p):
    """Zero whole images of an op's output with probability p, scaling the rest by 1/(1-p)."""
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype).bernoulli_(1 - p)
    return x * mask / (1 - p)

# ---------------------------------------------------------------- network

class Cell(nn.Module):
    def __init__(self, geno, cpp, cp, c, red, red_prev):
        super().__init__()
        self.preprocess0 = FactorizedReduce(cpp, c) if red_prev else ReLUConvBN(cpp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(cp, c, 1, 1, 0)
        kind = "reduce" if red else "normal"
        self.edges, self.concat = geno[kind], geno[kind + "_concat"]
        self._ops = nn.ModuleList(make_op(op, c, 2 if red and i < 2 else 1) for op, i in self.edges)

    def forward(self, s0, s1, drop_prob):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for n in range(len(self.edges) // 2):
            s = 0
            for k in (2 * n, 2 * n + 1):
                op, h = self._ops[k], states[self.edges[k][1]]
                h = op(h)
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                s = s + h
            states.append(s)
        return torch.cat([states[i] for i in self.concat], 1)


class AuxiliaryHeadCIFAR(nn.Module):
    """Expects an 8x8 map (8..10 pixels give the 2x2 map the 2x2 conv reduces to 1x1)."""
    def __init__(self, c, ncls):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, 3, 0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, ncls)
    def forward(self, x): return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    def __init__(self, geno, cin, C, ncls, layers, auxiliary=False, stem_mult=3):
        super().__init__()
        self.aux_at = 2 * layers // 3 if auxiliary else -1
        self.drop_path_prob = 0.0
        cc = stem_mult * C
        self.stem = nn.Sequential(nn.Conv2d(cin, cc, 3, padding=1, bias=False), nn.BatchNorm2d(cc))
        cpp, cp, cc = cc, cc, C
        self.cells = nn.ModuleList(); red_prev = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red: cc *= 2
            cell = Cell(geno, cpp, cp, cc, red, red_prev)
            self.cells.append(cell)
            red_prev = red; cpp, cp = cp, len(cell.concat) * cc
            if i == self.aux_at: c_aux = cp
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, ncls)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cp, ncls)

    def forward(self, x):
        """(logits, auxiliary logits or None); the auxiliary head runs in training only, as in DARTS."""
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_at and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux

# ---------------------------------------------------------------- safetensors

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32}


def load_safetensors(path):
    """8-byte little-endian header size, JSON header (dtype, shape, data_offsets), raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n]); data = blob[8 + n:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__": continue
        a, b = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[meta["dtype"]]) if b > a else \
            torch.empty(0, dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"])
    return out


def save_safetensors(state, path):
    """The writer the self-test uses (Debian has no python3-safetensors)."""
    names = {v: k for k, v in DTYPES.items()}
    header, chunks, off = {}, [], 0
    for name, t in state.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw); off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def load_checkpoint(net, path):
    """Strict names and shapes; a missing num_batches_tracked is tolerated (radars-cl does not keep it)."""
    state = load_safetensors(path)
    want = net.state_dict()
    missing = [k for k in want if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in want]
    shape = [f"{k} {list(state[k].shape)} vs {list(want[k].shape)}"
             for k in state if k in want and state[k].shape != want[k].shape]
    if missing or unexpected or shape:
        raise SystemExit(f"checkpoint {path} does not match the network: missing={missing[:6]} "
                         f"unexpected={unexpected[:6]} shape={shape[:6]} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected, {len(shape)} shapes)")
    net.load_state_dict({k: v.to(want[k].dtype) for k, v in state.items()}, strict=False)

# ---------------------------------------------------------------- modes

def bench(a, net):
    """Times DARTS' train.py step: CE (+ weight * aux CE), backward, clip 5, SGD."""
    opt = torch.optim.SGD(net.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
    net.train(); net.drop_path_prob = a.drop_path
    x = torch.randn(a.batch, a.cin, a.hw, a.hw); y = torch.randint(0, a.classes, (a.batch,))
    times = []
    for i in range(a.steps + 1):  # step 0 warms up allocator and kernels
        t = time.perf_counter()
        opt.zero_grad()
        logits, aux = net(x)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + a.aux_weight * F.cross_entropy(aux, y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        if i: times.append(time.perf_counter() - t)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # DARTS counts parameters without the auxiliary head
    nparam = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary_head"))
    print(f"images_per_s={a.batch / med:.1f} step_s_median={med:.4f} peak_rss_mb={rss:.0f} params={nparam}")


ALL_OPS_GENOTYPE = {  # 8 nodes: every op at stride 1 (normal) and at stride 2 (reduce, inputs 0/1)
    "normal": list(zip(OPS_LARGE + ["sep_conv_3x3"], [0, 1, 2, 1, 3, 2, 4, 0, 5, 3, 6, 1, 7, 2, 8, 0])),
    "normal_concat": list(range(2, 10)),
    "reduce": list(zip(OPS_LARGE + ["sep_conv_3x3"], [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 8])),
    "reduce_concat": list(range(2, 10))}


def selftest():
    """Forward/backward of the published genotypes and of one using all 15 ops at both strides;
    a state_dict written as safetensors must load into a fresh net and give identical logits,
    and a renamed tensor must be refused."""
    torch.backends.mkldnn.enabled = False  # oneDNN's per-shape setup would take ~20 s of this 1 s test
    ok = True
    for name in ("DARTS_V1", "DARTS_V2", "PC_DARTS"):
        net = NetworkCIFAR(load_genotype(name), 1, 16, 10, 8, auxiliary=False)
        logits, _ = net(torch.randn(2, 1, 28, 28))
        logits.sum().backward()
    net = NetworkCIFAR(ALL_OPS_GENOTYPE, 1, 4, 10, 3, auxiliary=True)
    net.train(); net.drop_path_prob = 0.2
    x = torch.randn(4, 1, 32, 32)
    logits, aux = net(x)
    (F.cross_entropy(logits, torch.arange(4)) + 0.4 * F.cross_entropy(aux, torch.arange(4))).backward()
    if any(p.grad is None for p in net.parameters()):
        print("selftest: a parameter got no gradient"); ok = False
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.safetensors")
        save_safetensors(net.state_dict(), path)
        net2 = NetworkCIFAR(ALL_OPS_GENOTYPE, 1, 4, 10, 3, auxiliary=True)
        load_checkpoint(net2, path)
        net.eval(); net2.eval()
        with torch.no_grad():
            same = torch.equal(net(x)[0], net2(x)[0])
        print(f"selftest: safetensors round trip {'ok' if same else 'FAILED'}"); ok &= same
        bad = {("cells.0.typo" if k == "cells.0.preprocess1.op.1.weight" else k): v
               for k, v in net.state_dict().items()}
        save_safetensors(bad, path)
        try:
            load_checkpoint(NetworkCIFAR(ALL_OPS_GENOTYPE, 1, 4, 10, 3, auxiliary=True), path)
            print("selftest: a renamed tensor was accepted"); ok = False
        except SystemExit as e:
            ok &= "cells.0.typo" in str(e)
    print("selftest:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genotype", default="DARTS_V2")
    ap.add_argument("--C", type=int, default=16); ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--cin", type=int, default=1); ap.add_argument("--hw", type=int, default=28)
    ap.add_argument("--classes", type=int, default=10); ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--auxiliary", action="store_true"); ap.add_argument("--aux-weight", type=float, default=0.4)
    ap.add_argument("--drop-path", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=5); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load"); ap.add_argument("--input"); ap.add_argument("--train-mode", action="store_true")
    ap.add_argument("--bench", action="store_true"); ap.add_argument("--names", action="store_true")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    if a.selftest:
        return selftest()
    try:
        geno = load_genotype(a.genotype)
    except ValueError as e:
        raise SystemExit(str(e))
    if a.auxiliary:  # the head's 5/3 pool and 2x2 conv need 8..10 pixels after the two reductions
        side = ((a.hw + 1) // 2 + 1) // 2
        if not 8 <= side <= 10:
            raise SystemExit(f"--auxiliary needs an 8..10 pixel map at cell {2 * a.layers // 3}, "
                             f"--hw {a.hw} gives {side} (DARTS: 32)")
    net = NetworkCIFAR(geno, a.cin, a.C, a.classes, a.layers, a.auxiliary)
    if a.names:
        for k, v in net.state_dict().items():
            if not k.endswith("num_batches_tracked"):  # optional in checkpoints; radars-cl has none
                print(k, " ".join(map(str, v.shape)))
    elif a.load:
        if not a.input:
            raise SystemExit("--load needs --input X.f32")
        load_checkpoint(net, a.load)
        x = torch.frombuffer(bytearray(open(a.input, "rb").read()), dtype=torch.float32)
        x = x.reshape(-1, a.cin, a.hw, a.hw)
        net.train(a.train_mode)  # drop_path_prob stays 0: no drop-path in --train-mode
        with torch.no_grad():
            for row in net(x)[0]:
                print(" ".join("%.6g" % v for v in row.tolist()))
    elif a.bench:
        bench(a, net)
    else:
        ap.error("choose one of --load, --bench, --names, --selftest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
