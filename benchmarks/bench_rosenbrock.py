"""Issue 4: the gradient of the vectorized Rosenbrock function at n = 100,000, as a ratio to evaluating it.

f(x) = Σ 100 (x[1:] - x[:-1]²)² + (1 - x[:-1])² — slicing is the interesting part: its VJP must write
into a zero array without ``np.add.at`` (autograd's slow path).
"""

from __future__ import annotations

import numpy as np
from _common import Section, Settings, Target, fmt_time, progress, table, time_together

import autodiff as ad

N = 100_000


def rosenbrock(np_):
    def f(x):
        return np_.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return f


def rosenbrock_grad_by_hand(x):
    g = np.zeros_like(x)
    d = x[1:] - x[:-1] ** 2
    g[:-1] = -400.0 * d * x[:-1] - 2 * (1 - x[:-1])
    g[1:] += 200.0 * d
    return g


def rosenbrock_grad_tape_floor(x):
    """The work any unfused reverse mode must do, in plain NumPy with no bookkeeping: the forward pass
    keeping what the backward pass needs, then one NumPy operation per pullback (with the cheapest
    tricks: the sum's and the scaling's cotangents stay scalars, the slices are summed in one pass).
    A floor for a per-operation tape, not something to beat."""
    a = x[:-1]
    s = a * a
    d = x[1:] - s
    w = 1 - a
    value = np.sum(100.0 * (d * d) + w * w)
    g_d = d * 200.0                 # through (.)², 100 (.), sum
    g_a1 = -(w * 2.0)               # through (.)², 1 - (.)
    g_a2 = a * -g_d                 # through - (.), then (.)² = 2 a (.) ...
    g_a2 *= 2.0
    g = np.empty_like(x)
    g[1:-1] = g_d[:-1] + g_a1[1:]   # the two slices' cotangents, one pass
    g[0], g[-1] = g_a1[0], g_d[-1]
    g[:-1] += g_a2
    return value, g


def run(quick: bool = False) -> Section:
    import autograd
    import autograd.numpy as anp

    progress("Rosenbrock")
    s = Settings.for_mode(quick)
    x = np.random.default_rng(0).uniform(-2, 2, N)
    f = rosenbrock(np)
    g_ours, g_ag = ad.grad(f), autograd.grad(rosenbrock(anp))
    ref = rosenbrock_grad_by_hand(x)
    np.testing.assert_allclose(g_ours(x), ref, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(g_ag(x), ref, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(rosenbrock_grad_tape_floor(x)[1], ref, rtol=1e-9, atol=1e-10)
    cases = {"autodiff `grad`": lambda: g_ours(x), "HIPS autograd `grad`": lambda: g_ag(x),
             "hand-written NumPy gradient": lambda: rosenbrock_grad_by_hand(x),
             "floor of an unfused tape (NumPy, no bookkeeping)": lambda: rosenbrock_grad_tape_floor(x)}
    t = time_together({"f": lambda: f(x), **cases}, s, base="f")
    rows = [["evaluation (NumPy)", fmt_time(t["f"][0]), "1.00x"]]
    rows += [[name, fmt_time(t[name][0]), f"{t[name][1]:.2f}x"] for name in cases]
    ours = t["autodiff `grad`"][1]
    body = (f"Gradient of the vectorized Rosenbrock function, n = {N:,}:\n\n"
            + table(["", "time", "/ evaluation"], rows))
    return Section("Issue 4 — Rosenbrock gradient", body,
                   [Target("issue 4: Rosenbrock gradient / evaluation", ours, 2.0)])
