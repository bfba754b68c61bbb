#!/usr/bin/python3
"""Exact unrolled DARTS architect gradient with PyTorch autograd, for tests/test_search_darts.c.

  torch_unrolled.py PEER CKPT XTRAIN YTRAIN XVAL YVAL N CIN HW C LAYERS CLASSES OPS XI WD [darts]

Loads the supernet checkpoint into the peer's model (../shared/peers/torch_darts_ref.py),
computes w' = w - xi (dL_train/dw + wd w) keeping the graph, then d L_val(w', alpha)/d alpha
(the exact Hessian-vector product, where radars-cl uses DARTS' finite differences), and prints
the gradients of alphas_normal then alphas_reduce, one number per line. XI = 0 gives the
first-order gradient. With "darts", the Hessian-vector product is DARTS' own finite difference
(architect.py: eps = 0.01 / |v|, gradients at w +- eps v), in double precision.
"""
import importlib.util, sys
import torch
import torch.nn.functional as F
from torch.nn.utils import stateless

peer_path, ckpt, xt, yt, xv, yv = sys.argv[1:7]
n, cin, hw, C, layers, classes = map(int, sys.argv[7:13])
ops, xi, wd = sys.argv[13], float(sys.argv[14]), float(sys.argv[15])
darts_fd = len(sys.argv) > 16 and sys.argv[16] == "darts"
spec = importlib.util.spec_from_file_location("peer", peer_path)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
torch.set_default_dtype(torch.float64)
opl = peer.OPS_DARTS if ops == "darts" else peer.OPS_LARGE if ops == "large" else ops.split(",")
net = peer.Network(opl, cin, C, classes, layers).double()
state = peer.load_safetensors(ckpt)
net.load_state_dict({k: v.double() for k, v in state.items()}, strict=False)
net.train()

def load(path, dtype):
    return torch.frombuffer(bytearray(open(path, "rb").read()), dtype=dtype)

x_t = load(xt, torch.float32).double().reshape(n, cin, hw, hw)
x_v = load(xv, torch.float32).double().reshape(n, cin, hw, hw)
y_t = load(yt, torch.int32).long()
y_v = load(yv, torch.int32).long()
names = [k for k, _ in net.named_parameters() if not k.startswith("alphas_")]
weights = [p for k, p in net.named_parameters() if not k.startswith("alphas_")]
alphas = [net.alphas_normal, net.alphas_reduce]
if xi == 0:
    loss = F.cross_entropy(net(x_v), y_v)
    grads = torch.autograd.grad(loss, alphas)
elif darts_fd:
    loss_t = F.cross_entropy(net(x_t), y_t)
    g = torch.autograd.grad(loss_t, weights)
    unrolled = {k: (w - xi * (gw + wd * w)).detach().requires_grad_() for k, w, gw in zip(names, weights, g)}
    loss_v = F.cross_entropy(stateless.functional_call(net, unrolled, (x_v,)), y_v)
    dalpha = torch.autograd.grad(loss_v, alphas, retain_graph=True)
    v = torch.autograd.grad(loss_v, [unrolled[k] for k in names])
    eps = 0.01 / torch.cat([t.flatten() for t in v]).norm()
    def alpha_grad_at(sign):
        moved = {k: (w + sign * eps * vw).detach() for k, w, vw in zip(names, weights, v)}
        return torch.autograd.grad(F.cross_entropy(stateless.functional_call(net, moved, (x_t,)), y_t), alphas)
    gp, gm = alpha_grad_at(1), alpha_grad_at(-1)
    grads = [d - xi * (p - m) / (2 * eps) for d, p, m in zip(dalpha, gp, gm)]
else:
    loss_t = F.cross_entropy(net(x_t), y_t)
    g = torch.autograd.grad(loss_t, weights, create_graph=True)
    unrolled = {k: w - xi * (gw + wd * w) for k, w, gw in zip(names, weights, g)}
    loss_v = F.cross_entropy(stateless.functional_call(net, unrolled, (x_v,)), y_v)
    grads = torch.autograd.grad(loss_v, alphas)
for gr in grads:
    for v in gr.flatten().tolist():
        print("%.9g" % v)
