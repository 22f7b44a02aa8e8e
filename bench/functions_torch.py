"""Same MLP in PyTorch float32 (f+g, exact Hv by double backward, GN v by double-vjp); prints JSON."""
import json, sys, time
import torch
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.manual_seed(0)
sizes = [64, 256, 256, 64]
ps = []
for a, b in zip(sizes[:-1], sizes[1:]):
    ps += [(torch.randn(a, b) / a ** 0.5).requires_grad_(), torch.zeros(b).requires_grad_()]
x = torch.rand(1000, 64) * 2 - 1
y = torch.rand(1000, 64) * 2 - 1
v = [torch.randn_like(p) for p in ps]
def model(ps):
    h = x
    for l in range(3):
        h = h @ ps[2 * l] + ps[2 * l + 1]
        if l < 2: h = torch.tanh(h)
    return h
def fg():
    f = ((model(ps) - y) ** 2).mean(); return torch.autograd.grad(f, ps)
def hv():
    f = ((model(ps) - y) ** 2).mean()
    g = torch.autograd.grad(f, ps, create_graph=True)
    return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), ps)
def gn():
    z = model(ps)
    u = torch.zeros_like(z, requires_grad=True)
    jtu = torch.autograd.grad(z, ps, u, create_graph=True)
    jv = torch.autograd.grad(sum((a * b).sum() for a, b in zip(jtu, v)), u)[0]
    hjv = 2 * jv / z.numel()
    return torch.autograd.grad(z, ps, hjv)
def med(f):
    for _ in range(3): f()
    t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e3)
    return sorted(t)[len(t) // 2]
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "fg_ms": med(fg), "hv_ms": med(hv), "gn_ms": med(gn)}))
