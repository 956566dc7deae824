"""Issue 2: the cost of a gradient. Per-operation overhead on a scalar loop, and an MLP gradient.

- Scalar loop: 400 rounds of ``x = sin(x) * 0.999 + 0.01 * x`` (1,600 small operations) on a Python float;
  the gradient (forward + backward) time divided by 1,600 is the per-operation overhead.
- MLP: batch 256, 784-512-512-10, tanh, softmax cross-entropy; gradient time / loss time, and the peak
  of extra memory while the gradient runs (tracemalloc). The gradient itself is 5.1 MiB.
"""

from __future__ import annotations

import numpy as np
from _common import Section, Settings, Target, fmt_time, mib, peak_extra_bytes, progress, table, time_together

import autodiff as ad

N_ROUNDS = 400
N_OPS = 4 * N_ROUNDS


def scalar_loop(np_):
    def f(x):
        for _ in range(N_ROUNDS):
            x = np_.sin(x) * 0.999 + 0.01 * x
        return x
    return f


def mlp_loss(np_):
    def loss(params, X, Y):
        W1, b1, W2, b2, W3, b3 = params
        h = np_.tanh(X @ W1 + b1)
        h = np_.tanh(h @ W2 + b2)
        z = h @ W3 + b3
        z = z - np_.max(z, axis=1, keepdims=True)
        logp = z - np_.log(np_.sum(np_.exp(z), axis=1, keepdims=True))
        return -np_.sum(Y * logp) / X.shape[0]
    return loss


def mlp_grad_by_hand(params, X, Y):
    """Hand-written backpropagation of :func:`mlp_loss` (the NumPy baseline)."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    dz = (p * Y.sum(axis=1, keepdims=True) - Y) / n
    dW3, db3 = h2.T @ dz, dz.sum(axis=0)
    dh2 = (dz @ W3.T) * (1 - h2 * h2)
    dW2, db2 = h1.T @ dh2, dh2.sum(axis=0)
    dh1 = (dh2 @ W2.T) * (1 - h1 * h1)
    dW1, db1 = X.T @ dh1, dh1.sum(axis=0)
    return [dW1, db1, dW2, db2, dW3, db3]


def mlp_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((a, b)) / np.sqrt(a), np.zeros(b)]
    X = rng.standard_normal((256, 784))
    Y = np.eye(10)[rng.integers(0, 10, 256)]
    return params, X, Y


def run(quick: bool = False) -> Section:
    import autograd
    import autograd.numpy as anp

    s = Settings.for_mode(quick)
    targets = []

    progress("scalar loop")
    f_ours, f_ag = scalar_loop(np), scalar_loop(anp)
    g_ours, g_ag = ad.grad(f_ours), autograd.grad(f_ag)
    assert np.isclose(g_ours(0.3), g_ag(0.3), rtol=1e-12)
    t = time_together({"eval": lambda: f_ours(0.3), "ours": lambda: g_ours(0.3),
                       "autograd": lambda: g_ag(0.3)}, s, base="autograd")
    per_op = {k: v[0] / N_OPS * 1e6 for k, v in t.items()}
    rel = t["ours"][1]
    loop_rows = [
        ["plain NumPy evaluation (no derivative)", fmt_time(t["eval"][0]), f"{per_op['eval']:.2f} µs", ""],
        ["autodiff `grad`", fmt_time(t["ours"][0]), f"{per_op['ours']:.2f} µs", f"{rel:.2f}"],
        ["HIPS autograd `grad`", fmt_time(t["autograd"][0]), f"{per_op['autograd']:.2f} µs", "1.00"],
    ]
    targets.append(Target("issue 2: per-op overhead, ours / autograd", rel, 1 / 3))

    progress("MLP gradient")
    params, X, Y = mlp_problem()
    loss, loss_ag = mlp_loss(np), mlp_loss(anp)
    g_mlp, g_mlp_ag = ad.grad(loss), autograd.grad(loss_ag)
    ref = mlp_grad_by_hand(params, X, Y)
    for a, b, c in zip(g_mlp(params, X, Y), g_mlp_ag(params, X, Y), ref):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, c, rtol=1e-9, atol=1e-12)
    cases = {"autodiff `grad`": lambda: g_mlp(params, X, Y),
             "HIPS autograd `grad`": lambda: g_mlp_ag(params, X, Y),
             "hand-written NumPy backprop": lambda: mlp_grad_by_hand(params, X, Y)}
    t = time_together({"loss": lambda: loss(params, X, Y), **cases}, s, base="loss")
    mlp_rows = [["loss evaluation (NumPy)", fmt_time(t["loss"][0]), "1.00x", ""]]
    ratios = {}
    for name, fn in cases.items():
        peak = peak_extra_bytes(fn)
        ratios[name] = (t[name][1], peak)
        mlp_rows.append([name, fmt_time(t[name][0]), f"{t[name][1]:.2f}x", mib(peak)])
    ours_ratio, ours_peak = ratios["autodiff `grad`"]
    targets.append(Target("issue 2: MLP gradient / loss", ours_ratio, 2.3))
    targets.append(Target("issue 2: MLP gradient peak extra memory", ours_peak / 2**20, 10, " MiB"))

    body = (
        f"**Scalar loop** ({N_OPS} operations on a Python float; gradient = forward + backward):\n\n"
        + table(["", "time", "per operation", "ours / autograd"], loop_rows)
        + "\n\n**MLP** (batch 256, 784-512-512-10, tanh, softmax cross-entropy; the gradient is 5.1 MiB):\n\n"
        + table(["", "time", "/ loss", "peak extra memory"], mlp_rows)
    )
    return Section("Issue 2 — cost of a gradient", body, targets)
