# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Higher order: Hessians, Hessian-vector products, Newton's method
#
# Derivative rules in this toolkit are written with differentiable operations, so a derivative can be
# differentiated again, in either mode. For a scalar f: Rⁿ → R the Hessian H = ∇²f is the Jacobian of
# the gradient, and there are several ways to get it:
#
# | composition | how | passes |
# | --- | --- | --- |
# | forward-over-reverse | `ad.hessian(f)` = `jacfwd(grad(f))` | a reverse gradient, pushed along n tangents |
# | reverse-over-reverse | `jacrev(grad(f))` | the gradient's own tape, pulled back along n cotangents |
# | forward-over-forward | `jacfwd(jacfwd(f))` | n × n tangent pairs |
# | reverse-over-forward | `jacrev(jacfwd(f))` | n tangents, recorded, pulled back n times |
# | nested tapes | `outer.jacobian(inner.gradient(y, x), x)` | reverse-over-reverse, TensorFlow style |
#
# We check them against SciPy's closed-form Rosenbrock derivatives, time them, then use Hessian-vector
# products — H v without forming H — to drive Newton-type optimizers.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # steadier timings on a shared machine

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy import optimize

import autodiff as ad

# The test suite sets AUTODIFF_NOTEBOOK_SMALL=1 to run every notebook quickly with small sizes.
SMALL = os.environ.get("AUTODIFF_NOTEBOOK_SMALL", "0") not in ("", "0")
rng = np.random.default_rng(0)


def best_time(fn, repeat=3 if SMALL else 5):
    """The fastest of `repeat` runs of fn(), in seconds."""
    return best_times([fn], repeat)[0]


def best_times(fns, repeat=5 if SMALL else 9, min_time=0.003):
    """Seconds per call of each of fns: best of `repeat` interleaved runs of ~min_time each.

    A single call of a small Hessian takes a fraction of a millisecond, so one call per run measures the
    machine's load as much as the Hessian; repeating the call within a run, interleaving the functions
    and taking each one's best run keeps the comparison between sizes and methods fair.
    """
    numbers = []
    for fn in fns:
        fn()
        start = time.perf_counter()
        fn()
        numbers.append(max(1, int(min_time / max(time.perf_counter() - start, 1e-7))))
    best = [float("inf")] * len(fns)
    for r in range(repeat):
        shift = r * len(fns) // repeat  # each round starts elsewhere: no function always runs first
        for i in list(range(shift, len(fns))) + list(range(shift)):
            fn, number = fns[i], numbers[i]
            if number <= 2:
                fn()  # untimed: a slow call right after a large neighbour runs with cold caches
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / number)
    return best


def rosen(x):
    """The n-dimensional Rosenbrock function Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)², minimum 0 at (1, …, 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


x = rng.uniform(-2, 2, size=6)
assert np.isclose(rosen(x), optimize.rosen(x))

# %% [markdown]
# ## Five ways to the Hessian, one answer

# %%
def hessian_nested_tapes(x):
    """The Hessian from two GradientTapes: the inner one's gradient is recorded by the outer one."""
    x = ad.constant(x)
    with ad.GradientTape() as outer:
        outer.watch(x)
        with ad.GradientTape() as inner:
            inner.watch(x)
            y = rosen(x)
        g = inner.gradient(y, x)
    return outer.jacobian(g, x).numpy()


ways = {
    "forward-over-reverse (ad.hessian)": ad.hessian(rosen),
    "reverse-over-reverse": ad.jacrev(ad.grad(rosen)),
    "forward-over-forward": ad.jacfwd(ad.jacfwd(rosen)),
    "reverse-over-forward": ad.jacrev(ad.jacfwd(rosen)),
    "nested tapes": hessian_nested_tapes,
}
H_ref = optimize.rosen_hess(x)
for name, hess in ways.items():
    H = hess(x)
    err = np.max(np.abs(H - H_ref)) / np.max(np.abs(H_ref))
    print(f"{name:36} shape {H.shape}, max relative error against scipy.optimize.rosen_hess: {err:.1e}")

# %% [markdown]
# All five agree with the closed form to rounding error. Their costs differ: time them as n grows.

# %%
sizes = [4, 16, 48] if SMALL else [4, 16, 64, 128, 256]
points = [rng.uniform(-2, 2, size=n) for n in sizes]
# every (size, method) timed together, round by round: a burst of load hits one round of all of them
flat = best_times([lambda hess=hess, xn=xn: hess(xn) for xn in points for hess in ways.values()])
timings = {name: flat[k::len(ways)] for k, name in enumerate(ways)}

short = {name: name.split(" (")[0].replace("-over-", "/") for name in ways}
print(f"{'n':>5}" + "".join(f"{short[name]:>18}" for name in ways) + "   (ms)")
for i, n in enumerate(sizes):
    print(f"{n:5}" + "".join(f"{timings[name][i] * 1e3:18.2f}" for name in ways))

for name in ways:
    steps = np.diff(timings[name])
    if np.all(steps > 0):
        print(f"{short[name]:>16}: grows with n at every step")
    else:
        worst = int(np.argmin(steps))
        t0, t1 = timings[name][worst], timings[name][worst + 1]
        print(f"{short[name]:>16}: not monotonic — {t0 * 1e3:.2f} ms at n = {sizes[worst]}, "
              f"{t1 * 1e3:.2f} ms at n = {sizes[worst + 1]} (a drop of {1 - t1 / t0:.0%})")

fig, ax = plt.subplots(figsize=(6.5, 4))
for name in ways:
    ax.loglog(sizes, np.array(timings[name]) * 1e3, "o-", label=name)
ax.set(xlabel="n (dimension)", ylabel="time (ms)", title="Full Hessian of the Rosenbrock function")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# (Each time is the best of several rounds, each round running every size and method for a few
# milliseconds: with one call per run and one size after the other, as an earlier version of this
# notebook measured, a busy machine made the small sizes come out in the wrong order. Where a line above
# still reports a drop, it is between sizes whose time is mostly the fixed cost of a call.)
#
# They are not alike. Over **reverse**, the inner gradient is one backward pass with a single cotangent, so
# every intermediate is a vector of about n numbers, and the outer mode adds n directions: n × n numbers
# per intermediate. Over **forward**, the inner `jacfwd` already carries n tangent directions through every
# intermediate (n × n numbers), and the outer mode adds n more: n³ numbers per intermediate — the steep
# curves. For a scalar function, put reverse mode inside. Forward-over-reverse is `ad.hessian`'s choice:
# one gradient tape, and forward mode on top keeps no second tape. The nested tapes do the same work as
# reverse-over-reverse through the TensorFlow-style front end.

# %% [markdown]
# ## Hessian-vector products without the Hessian
#
# Newton-type methods often need only H v. `ad.hvp(f, (x,), (v,))` computes it as the derivative of the
# gradient in the direction v — forward-over-reverse with one tangent — which costs a small multiple of one
# gradient, whatever n is. Forming H first costs n times as much (and n² memory).

# %%
x = rng.uniform(-2, 2, size=50)
vv = rng.standard_normal(50)
Hv = ad.hvp(rosen, (x,), (vv,))
print("max |hvp − rosen_hess_prod|:", np.max(np.abs(Hv - optimize.rosen_hess_prod(x, vv))))
print("max |hvp − hessian @ v|:    ", np.max(np.abs(Hv - ad.hessian(rosen)(x) @ vv)))

# The same product in the TensorFlow style: a ForwardAccumulator around a GradientTape.
xt, vt = ad.constant(x), ad.constant(vv)
with ad.ForwardAccumulator(xt, vt) as acc:
    with ad.GradientTape() as tape:
        tape.watch(xt)
        y = rosen(xt)
    g = tape.gradient(y, xt)
print("max |accumulator over tape − hvp|:", np.max(np.abs(acc.jvp(g).numpy() - Hv)))

hvp_sizes = [16, 64, 256] if SMALL else [16, 64, 256, 1024, 2048]
t_hvp, t_full, t_grad = [], [], []
for n in hvp_sizes:
    xn, vn = rng.uniform(-2, 2, size=n), rng.standard_normal(n)
    t_hvp.append(best_time(lambda xn=xn, vn=vn: ad.hvp(rosen, (xn,), (vn,))))
    t_full.append(best_time(lambda xn=xn, vn=vn: ad.hessian(rosen)(xn) @ vn))
    t_grad.append(best_time(lambda xn=xn: ad.grad(rosen)(xn)))
for n, a, b, c in zip(hvp_sizes, t_hvp, t_full, t_grad):
    print(f"n = {n:5}: hvp {a * 1e3:7.2f} ms ({a / c:.1f} gradients), hessian @ v {b * 1e3:8.2f} ms "
          f"(×{b / a:.1f} the hvp)")

fig, ax = plt.subplots(figsize=(6.5, 4))
ax.loglog(hvp_sizes, np.array(t_hvp) * 1e3, "o-", label="ad.hvp (forward-over-reverse, one tangent)")
ax.loglog(hvp_sizes, np.array(t_full) * 1e3, "s-", label="ad.hessian(f)(x) @ v")
ax.loglog(hvp_sizes, np.array(t_grad) * 1e3, "^--", label="ad.grad (for scale)")
ax.set(xlabel="n (dimension)", ylabel="time (ms)", title="Hessian-vector product")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Newton's method on the Rosenbrock function
#
# Newton's step solves H(x) s = −∇f(x). We take it with a backtracking line search (halve the step until f
# decreases) from the classic start (−1.2, 1), and compare with gradient descent using the same gradient.

# %%
grad_f = ad.grad(rosen)
hess_f = ad.hessian(rosen)


def newton(x, tol=1e-10, max_iter=100):
    path = [x]
    for _ in range(max_iter):
        g = grad_f(x)
        if np.linalg.norm(g) < tol:
            break
        step = np.linalg.solve(hess_f(x), -g)
        t = 1.0
        while rosen(x + t * step) > rosen(x) and t > 1e-8:
            t /= 2
        x = x + t * step
        path.append(x)
    return np.array(path)


def gradient_descent(x, lr=1e-3, max_iter=20_000, tol=1e-6):
    path = [x]
    for _ in range(max_iter):
        g = grad_f(x)
        if np.linalg.norm(g) < tol:
            break
        x = x - lr * g
        path.append(x)
    return np.array(path)


x0 = np.array([-1.2, 1.0])
p_newton = newton(x0)
p_gd = gradient_descent(x0, max_iter=2_000 if SMALL else 20_000)
print(f"Newton: {len(p_newton) - 1} iterations to {p_newton[-1]}, f = {rosen(p_newton[-1]):.1e}")
print(f"gradient descent: {len(p_gd) - 1} iterations to {p_gd[-1]}, f = {rosen(p_gd[-1]):.1e}")

X, Y = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
Z = 100 * (Y - X**2) ** 2 + (1 - X) ** 2
fig, ax = plt.subplots(figsize=(6, 5))
ax.contour(X, Y, np.log10(Z + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
ax.plot(p_gd[:, 0], p_gd[:, 1], "-", c="tab:blue", lw=1, label=f"gradient descent ({len(p_gd) - 1} steps)")
ax.plot(p_newton[:, 0], p_newton[:, 1], "o-", c="tab:red", label=f"Newton ({len(p_newton) - 1} steps)")
ax.plot(1, 1, "k*", ms=12)
ax.set(xlabel="x₀", ylabel="x₁", title="Rosenbrock: Newton with exact Hessians")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## `scipy.optimize.minimize` driven by the toolkit
#
# SciPy's optimizers accept a gradient (`jac=`) and a Hessian-vector product (`hessp=`). Without `jac=`,
# they estimate the gradient by finite differences: n + 1 evaluations of f per gradient, and only about
# half the digits. We minimize the n-dimensional Rosenbrock function with
#
# - BFGS with finite-difference gradients,
# - BFGS with `jac=ad.grad(rosen)`,
# - Newton-CG and trust-ncg with `jac=` and `hessp=` from `ad.hvp`,
#
# and count iterations and evaluations of f (including those spent on finite differences).

# %%
n = 10 if SMALL else 20
x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n)  # the start used in SciPy's tutorial, repeated
x_star = np.ones(n)


def hessp(x, p):
    return ad.hvp(rosen, (x,), (p,))


def counted(fn, counter):
    def wrapped(x, *args):
        counter[0] += 1
        return fn(x, *args)
    return wrapped


runs = {
    "BFGS, finite-difference gradient": dict(method="BFGS"),
    "BFGS, jac=ad.grad": dict(method="BFGS", jac=grad_f),
    "Newton-CG, jac + hessp=ad.hvp": dict(method="Newton-CG", jac=grad_f, hessp=hessp),
    "trust-ncg, jac + hessp=ad.hvp": dict(method="trust-ncg", jac=grad_f, hessp=hessp),
}
histories, table = {}, []
for name, kwargs in runs.items():
    calls = [0]
    history = [rosen(x0)]
    start = time.perf_counter()
    res = optimize.minimize(counted(rosen, calls), x0, callback=lambda xk, h=history: h.append(rosen(xk)),
                            options={"maxiter": 5000}, **kwargs)
    seconds = time.perf_counter() - start
    histories[name] = history
    table.append((name, res.nit, calls[0], res.get("njev", 0), res.get("nhev", 0),
                  np.max(np.abs(res.x - x_star)), seconds))

print(f"n = {n}, start {x0[:5]}...")
print(f"{'method':34}{'iterations':>11}{'f evals':>9}{'grads':>7}{'hvps':>6}{'max |x − 1|':>13}"
      f"{'time (s)':>10}")
for name, nit, nf, ng, nh, err, sec in table:
    print(f"{name:34}{nit:11}{nf:9}{ng:7}{nh:6}{err:13.1e}{sec:10.3f}")

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, history in histories.items():
    ax.semilogy(np.maximum(history, 1e-20), label=name)
ax.set(xlabel="iteration", ylabel="f(x) (minimum 0)", title=f"Rosenbrock, n = {n}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With finite differences every gradient costs n + 1 evaluations of f, and its error (about √ε relative)
# limits how close BFGS gets to the minimum; with `jac=ad.grad` the same BFGS takes about the same path for
# a fraction of the evaluations and ends closer. The Newton-type methods use the exact curvature from
# `ad.hvp` — a few Hessian-vector products per iteration, never the n × n Hessian — and, from this start,
# need fewer iterations than BFGS (the figures are in the table above; the paths depend on the start).
