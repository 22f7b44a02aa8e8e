"""The shapes of bench/functions.js in PyTorch float32: f+g, exact Hv by double backward, GN v by
the double-vjp trick (the same algorithm petscml uses); prints JSON.

  MODEL=mlp    MLP 64-256-256-64, batch 1000, tanh, MSE (the reference MLP)
  MODEL=darcy  the main job's MLP, 33-64-64-31, batch 1000, tanh, MSE
  MODEL=fno    one FNO-1D block written with torch.fft.rfft/irfft (width 64, 16 modes, s = 128,
               batch 20): spectral conv plus a 1x1 convolution and bias, GELU (tanh form), MSE

  TORCH_THREADS (default 2) sets torch.set_num_threads; TORCH_DTYPE=float64 runs it in double
  (the anchor of the petscml-float64 backend). bench/engine.js runs this with and without
  the oneDNN sgemm shim of ../shared/anchors/sgemm_dnnl.c (LD_PRELOAD).
"""
import json, os, sys, time
import torch

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
model_name = os.environ.get('MODEL', 'mlp')
torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
torch.manual_seed(0)
dtype = os.environ.get('TORCH_DTYPE', 'float32')
if dtype not in ('float32', 'float64'):
    raise SystemExit(f'functions_torch.py: TORCH_DTYPE must be float32 or float64, got {dtype!r}')
torch.set_default_dtype(torch.float64 if dtype == 'float64' else torch.float32)

if model_name in ('mlp', 'darcy'):
    sizes = [33, 64, 64, 31] if model_name == 'darcy' else [64, 256, 256, 64]
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        ps += [(torch.randn(a, b) / a ** 0.5).requires_grad_(), torch.zeros(b).requires_grad_()]
    x = torch.rand(1000, sizes[0]) * 2 - 1
    y = torch.rand(1000, sizes[-1]) * 2 - 1

    def model(ps):
        h = x
        for l in range(3):
            h = h @ ps[2 * l] + ps[2 * l + 1]
            if l < 2: h = torch.tanh(h)
        return h
elif model_name == 'fno':
    W, M, S, B = 64, 16, 128, 20
    ps = [(torch.rand(M, W, W) * 2 - 1) / (W * W), (torch.rand(M, W, W) * 2 - 1) / (W * W),
          (torch.rand(W, W) * 2 - 1) / W ** 0.5, torch.zeros(W)]
    ps = [p.requires_grad_() for p in ps]
    x = torch.rand(B, S, W) * 2 - 1
    y = torch.rand(B, S, W) * 2 - 1

    def model(ps):
        w_re, w_im, w, b = ps
        xf = torch.fft.rfft(x, dim=1)[:, :M, :]  # [B, M, W]
        of = torch.einsum('bmi,mio->bmo', xf, torch.complex(w_re, w_im))
        full = torch.cat([of, torch.zeros(B, S // 2 + 1 - M, W, dtype=of.dtype)], dim=1)
        spectral = torch.fft.irfft(full, n=S, dim=1)
        return torch.nn.functional.gelu(spectral + x @ w + b, approximate='tanh')
else:
    raise SystemExit(f'functions_torch.py: MODEL must be mlp, darcy or fno, got {model_name!r}')

v = [torch.randn_like(p) for p in ps]


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


def at_point(kind):
    # The products of a CG solve share their point: keep the graph of what depends only on it
    # (forward pass, first backward) and run only the per-product part each call, as petscml's
    # linearization does. The strongest PyTorch way to run many products at one point.
    if kind == 'hv':
        f = ((model(ps) - y) ** 2).mean()
        g = torch.autograd.grad(f, ps, create_graph=True)
        return lambda: torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), ps, retain_graph=True)
    z = model(ps)
    u = torch.zeros_like(z, requires_grad=True)
    jtu = torch.autograd.grad(z, ps, u, create_graph=True)

    def product():
        jv = torch.autograd.grad(sum((a * b).sum() for a, b in zip(jtu, v)), u, retain_graph=True)[0]
        return torch.autograd.grad(z, ps, 2 * jv / z.numel(), retain_graph=True)
    return product


WARM_S = float(os.environ.get('WARM_S', '1.5'))


def med(f):
    # Steady state, as in training: warm up for WARM_S seconds (at least 3 calls), as bench/functions.js does.
    s = time.perf_counter(); n = 0
    while n < 3 or time.perf_counter() - s < WARM_S:
        f(); n += 1
    t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e3)
    return sorted(t)[len(t) // 2]


print(json.dumps({"torch": torch.__version__, "model": model_name, "threads": torch.get_num_threads(), "dtype": dtype,
                  "sgemm": "oneDNN (shim)" if 'sgemm_dnnl' in os.environ.get('LD_PRELOAD', '') else "OpenBLAS (Debian)",
                  "fg_ms": med(fg), "hv_ms": med(hv), "gn_ms": med(gn),
                  "hv_point_ms": med(at_point('hv')), "gn_point_ms": med(at_point('gn'))}))
