"""Issue 5: Jacobians in either mode, Hessians and Hessian-vector products, against autograd and JAX.

Workload: f(x) = tanh(W₂ tanh(W₁ x)), hidden width 64, at (n, m) = (10, 1000), (1000, 10), (300, 300).
Ratios are the Jacobian's time / one evaluation of f: for ours and autograd, f in NumPy; for JAX, its own
f (jitted f for the jit column, eager f for the eager one). Peers use the mode that suits the shape:
autograd its forward loop (``make_jvp`` per basis vector) when n < m and its reverse loop (``jacobian``)
otherwise; JAX ``jacfwd`` when n < m and ``jacrev`` otherwise.
Second order: g(x) = Σ log(1 + exp(A x)) + ½‖x‖², A of 200 × 100: Hessian and HVP / one evaluation of g.
Issue 12: the hourglass 300→300→300→5→300→300→300 (tanh layers): forward, reverse, mixed and auto.
Ours are shown as the median ratio over rounds with its range (the spread) and the best time.
"""

from __future__ import annotations

import numpy as np
from _common import Section, Settings, Target, fmt_time, progress, table, time_together, time_together_stats

import autodiff as ad

SHAPES = [(10, 1000), (1000, 10), (300, 300)]
HIDDEN = 64
TARGETS = {(10, 1000): 15, (1000, 10): 20, (300, 300): 60}


def two_layer_weights(n, m, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((HIDDEN, n)) / np.sqrt(n), rng.standard_normal((m, HIDDEN)) / np.sqrt(HIDDEN),
            rng.standard_normal(n))


def hourglass(widths=(300, 300, 300, 5, 300, 300, 300), seed=0):
    """tanh layers through ``widths``: an hourglass with a waist of 5."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]

    def f(x):
        for W in Ws:
            x = np.tanh(W @ x)
        return x

    return f, rng.standard_normal(widths[0])


def second_order_problem():
    """g(x) = Σ log(1 + exp(A x)) + ½‖x‖² with A of 200 × 100, a point and a direction."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((200, 100)) / 10
    x, v = rng.standard_normal(100), rng.standard_normal(100)
    g = lambda x: np.sum(np.log(1 + np.exp(A @ x))) + 0.5 * np.sum(x ** 2)  # noqa: E731
    return g, x, v


def _ours(t) -> str:
    """Median ratio to f with the range over rounds, and the best time."""
    return f"{t.ratio:.1f}x ({t.ratio_lo:.1f}-{t.ratio_hi:.1f}), best {fmt_time(t.best)}"


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _autograd_jacobian(f, n, m):
    import autograd
    from autograd.differential_operators import make_jvp

    if n < m:
        def forward_loop(x):
            jvp_at = make_jvp(f)(x)
            basis = np.eye(n)
            return np.stack([jvp_at(basis[j])[1] for j in range(n)], axis=-1)
        return forward_loop
    return autograd.jacobian(f)


def _jacobians(s: Settings, rows: list, targets: list, auto_rows: list) -> None:
    import autograd.numpy as anp

    jax = _jax()
    jnp = jax.numpy
    for n, m in SHAPES:
        progress(f"Jacobian n={n} m={m}")
        W1, W2, x = two_layer_weights(n, m)
        f = lambda x: np.tanh(W2 @ np.tanh(W1 @ x))  # noqa: E731, B023
        f_ag = lambda x: anp.tanh(W2 @ anp.tanh(W1 @ x))  # noqa: E731, B023
        jW1, jW2 = jnp.asarray(W1), jnp.asarray(W2)
        f_jax = lambda x: jnp.tanh(jW2 @ jnp.tanh(jW1 @ x))  # noqa: E731, B023
        jx = jnp.asarray(x)
        jac_jax = (jax.jacfwd if n < m else jax.jacrev)(f_jax)
        jac_jax_jit, f_jax_jit = jax.jit(jac_jax), jax.jit(f_jax)
        # the per-mode columns through ad.jacobian(mode=...), the same call as "auto" (all three, like
        # ad.jacfwd and ad.jacrev, run with the tuned heap: autodiff/heap.py)
        J_auto, J_fwd, J_rev = ad.jacobian(f), ad.jacobian(f, mode="forward"), ad.jacobian(f, mode="reverse")
        J_ag = _autograd_jacobian(f_ag, n, m)
        ref = J_fwd(x)
        for other in (J_auto(x), J_rev(x), J_ag(x), np.asarray(jac_jax(jx)), np.asarray(jac_jax_jit(jx))):
            np.testing.assert_allclose(other, ref, rtol=1e-10, atol=1e-13)

        t = time_together_stats({
            "f": lambda: f(x), "auto": lambda: J_auto(x), "fwd": lambda: J_fwd(x),  # noqa: B023
            "rev": lambda: J_rev(x), "ag": lambda: J_ag(x),  # noqa: B023
        }, s, base="f")
        tj = time_together({"f": lambda: f_jax(jx).block_until_ready(),  # noqa: B023
                            "jac": lambda: jac_jax(jx).block_until_ready()}, s, base="f")  # noqa: B023
        tjit = time_together({"f": lambda: f_jax_jit(jx).block_until_ready(),  # noqa: B023
                              "jac": lambda: jac_jax_jit(jx).block_until_ready()}, s, base="f")  # noqa: B023
        t_fwd, t_rev = t["fwd"].best, t["rev"].best
        mode = ad.plan_jacobian(f, x).mode
        rows.append([f"{n}", f"{m}", mode, _ours(t["auto"]), _ours(t["fwd"]), _ours(t["rev"]),
                     f"{fmt_time(t['ag'].median)} ({t['ag'].ratio:.0f}x)",
                     f"{fmt_time(tj['jac'][0])} ({tj['jac'][1]:.0f}x)",
                     f"{fmt_time(tjit['jac'][0])} ({tjit['jac'][1]:.1f}x)", fmt_time(t["f"].best)])
        targets.append(Target(f"issue 5: Jacobian n={n}, m={m} ({mode}) / f", t["auto"].ratio,
                              TARGETS[(n, m)]))
        faster = "forward" if t_fwd < t_rev else "reverse"
        clear = max(t_fwd, t_rev) / min(t_fwd, t_rev)
        ok = mode == faster or clear <= 1.5
        auto_rows.append([f"{n}", f"{m}", fmt_time(t_fwd), fmt_time(t_rev), f"{clear:.2f}x", faster, mode,
                          "yes" if mode == faster else ("tie (< 1.5x)" if ok else "NO")])
        targets.append(Target(f"issue 5: auto picks the faster mode (or a tie within 1.5x) at n={n}, m={m}",
                              0.0 if ok else 1.0, 0.0, ""))


def _second_order(s: Settings, targets: list) -> str:
    import autograd
    import autograd.numpy as anp

    jax = _jax()
    jnp = jax.numpy
    progress("Hessian and HVP")
    g, x, v = second_order_problem()
    A = np.random.default_rng(1).standard_normal((200, 100)) / 10   # the same A as second_order_problem's
    g_ag = lambda x: anp.sum(anp.log(1 + anp.exp(A @ x))) + 0.5 * anp.sum(x ** 2)  # noqa: E731
    jA = jnp.asarray(A)
    g_jax = lambda x: jnp.sum(jnp.log(1 + jnp.exp(jA @ x))) + 0.5 * jnp.sum(x ** 2)  # noqa: E731
    jx, jv = jnp.asarray(x), jnp.asarray(v)
    sig = 1 / (1 + np.exp(-(A @ x)))
    H_ref = A.T @ ((sig * (1 - sig))[:, None] * A) + np.eye(100)

    H_ours, H_ag, H_jax = ad.hessian(g), autograd.hessian(g_ag), jax.hessian(g_jax)
    H_jit = jax.jit(H_jax)
    hvp_ag = autograd.hessian_vector_product(g_ag)
    hvp_jax = lambda x, v: jax.jvp(jax.grad(g_jax), (x,), (v,))[1]  # noqa: E731
    hvp_jit = jax.jit(hvp_jax)
    for H in (H_ours(x), H_ag(x), np.asarray(H_jax(jx)), np.asarray(H_jit(jx))):
        np.testing.assert_allclose(H, H_ref, rtol=1e-10, atol=1e-12)
    for hv in (ad.hvp(g, (x,), (v,)), hvp_ag(x, v), np.asarray(hvp_jax(jx, jv)), np.asarray(hvp_jit(jx, jv))):
        np.testing.assert_allclose(hv, H_ref @ v, rtol=1e-10, atol=1e-12)

    g_jit = jax.jit(g_jax)
    cases = {
        "Hessian": (lambda: H_ours(x), lambda: H_ag(x), lambda: H_jax(jx).block_until_ready(),
                    lambda: H_jit(jx).block_until_ready(), 150),
        "Hessian-vector product": (lambda: ad.hvp(g, (x,), (v,)), lambda: hvp_ag(x, v),
                                   lambda: hvp_jax(jx, jv).block_until_ready(),
                                   lambda: hvp_jit(jx, jv).block_until_ready(), 15),
    }
    rows = []
    for name, (ours, ag, eager, jit, limit) in cases.items():
        t = time_together_stats({"g": lambda: g(x), "ours": ours, "ag": ag}, s, base="g")
        te = time_together({"g": lambda: g_jax(jx).block_until_ready(), "d": eager}, s, base="g")
        tj = time_together({"g": lambda: g_jit(jx).block_until_ready(), "d": jit}, s, base="g")
        rows.append([name, _ours(t["ours"]),
                     f"{fmt_time(t['ag'].median)} ({t['ag'].ratio:.0f}x)",
                     f"{fmt_time(te['d'][0])} ({te['d'][1]:.0f}x)",
                     f"{fmt_time(tj['d'][0])} ({tj['d'][1]:.1f}x)",
                     f"{fmt_time(t['g'].best)} / {fmt_time(te['g'][0])} / {fmt_time(tj['g'][0])}"])
        targets.append(Target(f"issue 5: {name} / g", t["ours"].ratio, limit))
    return table(["g(x) = Σ log(1+exp(Ax)) + ½‖x‖², A 200×100", "autodiff", "autograd", "JAX eager",
                  "JAX jit", "g: NumPy / JAX eager / JAX jit"], rows)


def _hourglass(s: Settings, targets: list) -> str:
    progress("hourglass")
    f, x = hourglass()
    J = {mode: ad.jacobian(f, mode=mode) for mode in ("forward", "reverse", "mixed", "auto")}
    ref = J["forward"](x)
    for mode in ("reverse", "mixed", "auto"):
        np.testing.assert_allclose(J[mode](x), ref, rtol=1e-12, atol=1e-14)
    plan = ad.plan_jacobian(f, x)
    t = time_together_stats({"f": lambda: f(x), **{m: (lambda j=j: j(x)) for m, j in J.items()}}, s, base="f")
    pure = min(("forward", "reverse"), key=lambda m: t[m].ratio)
    speedup = t[pure].ratio / t["auto"].ratio
    targets.append(Target("issue 12: hourglass, plan_jacobian picks mixed",
                          0.0 if plan.mode == "mixed" else 1.0, 0.0, ""))
    targets.append(Target(f"issue 12: hourglass, auto / better pure mode ({pure}); limit 1/3",
                          1 / speedup, 1 / 3))
    rows = [[m, _ours(t[m]), fmt_time(plan.predicted[m]) if m in plan.predicted else "-"]
            for m in ("forward", "reverse", "mixed", "auto")]
    return (f"Hourglass 300→300→300→5→300→300→300 (tanh layers), n = m = 300: the plan picks **{plan.mode}** "
            f"(the rule: {plan.rule_mode}); auto is {speedup:.1f}x faster than the better pure mode "
            f"({pure}). "
            f"All four give the same Jacobian (checked to 1e-12).\n\n"
            + table(["mode", "time / f (range), best", "predicted"], rows)
            + f"\n\nThe plan's reason: {plan.reason}")


def run(quick: bool = False) -> Section:
    s = Settings.for_mode(quick)
    rows, targets, auto_rows = [], [], []
    _jacobians(s, rows, targets, auto_rows)
    second = _second_order(s, targets)
    hour = _hourglass(s, targets)
    body = (
        "Jacobian of f(x) = tanh(W₂ tanh(W₁ x)), hidden 64 — time (and time / one evaluation of f):\n\n"
        + table(["n", "m", "auto chose", "autodiff `jacobian`", "ours, mode=\"forward\"",
                 "ours, mode=\"reverse\"", "autograd", "JAX eager", "JAX jit", "f (NumPy)"], rows)
        + "\n\nDid `jacobian(mode=\"auto\")` pick the faster mode?\n\n"
        + table(["n", "m", "forward", "reverse", "gap", "faster", "auto chose", "auto right?"], auto_rows)
        + "\n\nSecond order — time (and time / one evaluation of g; JAX: of its own g):\n\n" + second
        + "\n\n" + hour
    )
    return Section("Issues 5 and 12 — Jacobians, Hessians, HVPs, the hourglass", body, targets)
