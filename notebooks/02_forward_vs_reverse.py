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
# # Forward or reverse? Measuring the trade-off
#
# The seed document makes two claims:
#
# 1. forward mode is the right choice when the output has more dimensions than the input, reverse mode
#    when the output is much smaller than the input;
# 2. seen as matrix multiplications, the two modes differ only in **where the multiplications start**:
#    forward mode multiplies the chain of Jacobians from the input side, reverse mode from the output side.
#
# This notebook measures both. For f: Rⁿ → Rᵐ, `ad.jacfwd` pushes n tangent directions through one
# batched forward pass and `ad.jacrev` pulls m cotangent directions through one batched backward pass, so
# the work scales with n in forward mode and with m in reverse mode. `ad.jacobian(mode="auto")` follows
# the rule *n < m → forward, otherwise reverse*; we check where that rule is right, where it is off, and
# why an hourglass-shaped function is best served by neither pure order.

# %%
import os

# One BLAS thread: on a shared machine, a multi-threaded matrix product whose threads wait for a busy core
# can be ten times slower than usual, which would blur the comparison. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad

# The test suite sets AUTODIFF_NOTEBOOK_SMALL=1 to run every notebook quickly with small sizes.
SMALL = os.environ.get("AUTODIFF_NOTEBOOK_SMALL", "0") not in ("", "0")
REPEAT = 3 if SMALL else 7
rng = np.random.default_rng(0)


def best_time(fn, repeat=REPEAT):
    """The fastest of `repeat` runs of fn(), in seconds (the minimum is the least noisy estimate)."""
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def mlp(n, m, hidden=64, seed=0):
    """A two-layer network Rⁿ → Rᵐ: x ↦ tanh(W₂ tanh(W₁ x))."""
    r = np.random.default_rng(seed)
    W1 = r.standard_normal((hidden, n)) / np.sqrt(n)
    W2 = r.standard_normal((m, hidden)) / np.sqrt(hidden)
    return lambda x: np.tanh(W2 @ np.tanh(W1 @ x))


# %% [markdown]
# ## One pass per mode, n directions against m
#
# `ad.counting()` counts what the transformations do. Both modes evaluate f once; forward mode carries n
# tangent directions through that evaluation, reverse mode records it and pulls m cotangent directions back.

# %%
f = mlp(n=50, m=3)
x = rng.standard_normal(50)
for name, jac in [("jacfwd", ad.jacfwd), ("jacrev", ad.jacrev)]:
    with ad.counting() as c:
        J = jac(f)(x)
    print(f"{name}: J.shape = {J.shape}, forward passes = {c.forward_passes} carrying {c.jvp_directions} "
          f"JVP directions, recorded passes = {c.recorded_passes}, backward passes = {c.backward_passes} "
          f"pulling {c.vjp_directions} VJP directions")
assert np.allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x))

# %% [markdown]
# ## Timing both modes over a grid of (n, m)
#
# For every pair of input size n and output size m we time the full Jacobian of the two-layer network
# in both modes (best of several runs) and record the ratio *time(forward) / time(reverse)*.
# The rule predicts forward to be faster (ratio < 1) exactly when n < m.

# %%
sizes = [2, 16, 128] if SMALL else [2, 8, 32, 128, 512]
rows = []
for n in sizes:
    for m in sizes:
        f = mlp(n, m)
        x = rng.standard_normal(n)
        t_fwd = best_time(lambda f=f, x=x: ad.jacfwd(f)(x))
        t_rev = best_time(lambda f=f, x=x: ad.jacrev(f)(x))
        rows.append((n, m, t_fwd, t_rev))

print("time(forward) / time(reverse); rows: n inputs, columns: m outputs")
print("n \\ m " + "".join(f"{m:>8}" for m in sizes))
for n in sizes:
    print(f"{n:>6}" + "".join(f"{tf / tr:8.2f}" for nn, _, tf, tr in rows if nn == n))

# %% [markdown]
# Each point below is one (n, m). The rule picks forward mode left of the dashed vertical line (n < m)
# and reverse mode on and right of it. A green point is one where the rule picked the faster mode; a
# red one is where it picked the slower mode, labelled with the price of that choice (chosen time /
# best time). The misses are listed below the plot.

# %%
ratio_nm = np.array([n / m for n, m, _, _ in rows])
ratio_t = np.array([tf / tr for _, _, tf, tr in rows])
rule_forward = np.array([n < m for n, m, _, _ in rows])
forward_faster = ratio_t < 1
right = rule_forward == forward_faster
price = np.where(rule_forward, ratio_t, 1 / ratio_t)  # chosen time / the other mode's time

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.scatter(ratio_nm[right], ratio_t[right], c="tab:green", label="rule picked the faster mode")
ax.scatter(ratio_nm[~right], ratio_t[~right], c="tab:red", marker="x", s=70,
           label="rule picked the slower mode")
grid = np.logspace(np.log10(ratio_nm.min()), np.log10(ratio_nm.max()), 50)
ax.plot(grid, grid, ":", c="gray", label="time ratio = n/m (work ∝ directions)")
ax.axhline(1, c="k", lw=0.8)
ax.axvline(1, c="k", lw=0.8, ls="--")
ax.set(xscale="log", yscale="log", xlabel="n / m (inputs / outputs)",
       ylabel="time(jacfwd) / time(jacrev)", title="Forward against reverse mode, two-layer network")
ax.text(0.02, 0.04, "forward faster", transform=ax.transAxes, fontsize=9)
ax.text(0.02, 0.92, "reverse faster", transform=ax.transAxes, fontsize=9)
ax.legend(fontsize=8, loc="lower right")
plt.show()

print(f"The rule picked the faster mode for {right.sum()} of {len(rows)} (n, m) pairs.")
for i in np.flatnonzero(~right):
    n, m = rows[i][:2]
    print(f"  off at n = {n:4}, m = {m:4}: the rule picks {'forward' if rule_forward[i] else 'reverse'}, "
          f"which takes ×{price[i]:.2f} the time of the other mode")
far = np.abs(np.log(ratio_nm)) >= np.log(8)
print(f"Pairs with n/m ≥ 8 or ≤ 1/8: the rule is right in {right[far].sum()} of {far.sum()}; "
      f"pairs with n/m within a factor 8 of 1: right in {right[~far].sum()} of {(~far).sum()}.")

# %% [markdown]
# Where the arithmetic is large (the n = 512 row, the m = 512 column) the rule is right and the time
# ratio moves with n/m: the work grows with the number of directions each mode carries. Elsewhere this
# network is so small that what decides is what a count of directions ignores: reverse mode records a
# tape and then sweeps it (more Python work per operation), forward mode allocates an n × n identity of
# seed tangents, and the fixed overhead of each operation dominates. There the rule can be off — the
# misses and their price are listed above — but a rule based on sizes alone cannot do better without
# measuring, and the price of a miss is small exactly where misses happen.
#
# One more thing tilts small cases towards forward mode: from 100 inputs or outputs up, neither mode
# multiplies by its identity seed. The seed is known to be diagonal, stays diagonal through elementwise
# steps, and a matrix product with it is a row scaling (`autodiff/diagonal.py`), so forward mode's
# first layer costs n × 64 multiplications here instead of n × n × 64, and at n = m both modes run the
# same single matrix product that forms the Jacobian.

# %% [markdown]
# ## `plan_jacobian` explains its choice
#
# `ad.plan_jacobian(f, x)` records one evaluation of f and reports what each mode would cost — directions,
# memory kept for the backward pass, peak memory — and the mode `ad.jacobian(f)` will pick, with the reason.

# %%
wide = mlp(n=512 if not SMALL else 64, m=4)
tall = mlp(n=4, m=512 if not SMALL else 64)
x_wide = rng.standard_normal(512 if not SMALL else 64)
x_tall = rng.standard_normal(4)
print(ad.plan_jacobian(wide, x_wide))
print()
print(ad.plan_jacobian(tall, x_tall))

# %%
for name, fn, xx in [("wide", wide, x_wide), ("tall", tall, x_tall)]:
    with ad.counting() as c:
        J = ad.jacobian(fn)(xx)
    used = "forward" if c.forward_passes else "reverse"
    print(f"{name}: ad.jacobian used {used} mode (JVP directions {c.jvp_directions}, "
          f"VJP directions {c.vjp_directions}); J.shape = {J.shape}")

# %%
ad.plan_jacobian(wide, x_wide)  # in a notebook the plan also renders as a table

# %% [markdown]
# ## Where the matrix multiplications start
#
# Take a chain f = f_k ∘ … ∘ f_1 with layer widths d₀ (the input), d₁, …, d_k (the output). By the chain
# rule its Jacobian is the product J = J_k ⋯ J_2 J_1, where J_i is d_i × d_{i-1}. Multiplying a
# p × q matrix by a q × r matrix costs p·q·r multiply-adds, and the product can be bracketed in many ways:
#
# - **forward** (from the input side): J_k (⋯ (J_3 (J_2 J_1))) costs Σ_{i=2..k} d_i·d_{i-1}·d₀;
# - **reverse** (from the output side): (((J_k J_{k-1}) J_{k-2}) ⋯) J_1 costs Σ_{i=1..k-1} d_k·d_i·d_{i-1};
# - the **cheapest bracketing** is the matrix-chain problem, solved by dynamic programming over the chain.

# %%
def forward_cost(widths):
    """Multiply-adds of J_k(⋯(J_2 J_1)): every product carries the d₀ input columns."""
    return sum(widths[i] * widths[i - 1] * widths[0] for i in range(2, len(widths)))


def reverse_cost(widths):
    """Multiply-adds of ((J_k J_{k-1})⋯)J_1: every product carries the d_k output rows."""
    k = len(widths) - 1
    return sum(widths[k] * widths[i] * widths[i - 1] for i in range(1, k))


def best_bracketing(widths):
    """The cheapest order for J_k ⋯ J_1 (matrix-chain dynamic programming): (multiply-adds, bracketing).

    cost[i, j] is the least cost of the partial product J_j ⋯ J_i (a d_j × d_{i-1} matrix); splitting
    it as (J_j ⋯ J_{s+1})(J_s ⋯ J_i) adds d_j·d_s·d_{i-1}.
    """
    k = len(widths) - 1
    cost = {(i, i): 0 for i in range(1, k + 1)}
    split = {}
    for length in range(2, k + 1):
        for i in range(1, k - length + 2):
            j = i + length - 1
            cost[i, j], split[i, j] = min(
                (cost[i, s] + cost[s + 1, j] + widths[j] * widths[s] * widths[i - 1], s) for s in range(i, j))

    def show(i, j):
        if i == j:
            return f"J{i}"
        s = split[i, j]
        return f"({show(s + 1, j)} {show(i, s)})"

    return cost[1, k], show(1, k)


shapes = {
    "funnel (wide in, narrow out)": [1000, 500, 100, 10, 1],
    "trumpet (narrow in, wide out)": [1, 10, 100, 500, 1000],
    "diamond (narrow, wide, narrow)": [4, 500, 500, 4],
    "hourglass (wide, narrow, wide)": [300, 300, 300, 5, 300, 300, 300],
}
print(f"{'chain':32}{'forward':>14}{'reverse':>14}{'best':>14}  best bracketing")
for name, widths in shapes.items():
    best, order = best_bracketing(widths)
    print(f"{name:32}{forward_cost(widths):14,}{reverse_cost(widths):14,}{best:14,}  {order}")

# %% [markdown]
# The funnel is the seed's case "output smaller than input": reverse mode needs far fewer multiplications.
# The trumpet is the mirror image. The hourglass is cheap for **neither** pure order: both carry 300
# directions through every layer, while the best bracketing multiplies each half towards the 5-wide waist
# (reverse mode on the first half, forward mode on the second) and joins the two thin factors at the end.

# %% [markdown]
# ### Do the counts predict the time?
#
# We multiply random Jacobians of random chains in both orders with NumPy and time each product chain.
# If multiply-adds are the cost, time should grow in proportion to the count (a line of slope 1 on
# log-log axes) once the matrices are big enough for the arithmetic to dominate.

# %%
def multiply(mats, order):
    """The product J_k ⋯ J_1 of mats = [J_1, …, J_k], from the input side or the output side."""
    if order == "forward":
        out = mats[0]
        for J in mats[1:]:
            out = J @ out
    else:
        out = mats[-1]
        for J in reversed(mats[:-1]):
            out = out @ J
    return out


r = np.random.default_rng(1)
counts, times = [], []
n_chains = 12 if SMALL else 40
top = 200 if SMALL else 600
for _ in range(n_chains):
    widths = list(r.integers(4, top, size=r.integers(3, 7)))
    mats = [r.standard_normal((widths[i], widths[i - 1])) for i in range(1, len(widths))]
    for order, cost in [("forward", forward_cost), ("reverse", reverse_cost)]:
        counts.append(cost(widths))
        times.append(best_time(lambda mats=mats, order=order: multiply(mats, order)))
counts, times = np.array(counts, float), np.array(times)
big = counts > 1e6
slope, intercept = np.polyfit(np.log(counts[big]), np.log(times[big]), 1)
print(f"log-log fit over the products above 10⁶ multiply-adds: time ∝ count^{slope:.2f} "
      f"(1 would be exact proportionality); median rate {np.median(counts[big] / times[big]) / 1e9:.1f} "
      f"G multiply-adds per second")
print(f"correlation of log(count) and log(time) over those: "
      f"{np.corrcoef(np.log(counts[big]), np.log(times[big]))[0, 1]:.3f}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(counts, times * 1e3, "o", alpha=0.7)
ax.set(xlabel="multiply-adds (count)", ylabel="time (ms)",
       title="Products of Jacobian chains: time against the multiply-add count")
plt.show()

# %% [markdown]
# ### The hourglass with the toolkit: neither pure mode, but both
#
# Now the real thing: an hourglass network f = g ∘ h, where h: R³⁰⁰ → R⁵ narrows to the waist and
# g: R⁵ → R³⁰⁰ widens again, each a stack of `tanh(A x)` layers. `jacfwd` and `jacrev` of f each carry
# 300 directions through all six layers. Splitting at the waist, the Jacobian of h is cheap in reverse
# mode (5 outputs), the Jacobian of g is cheap in forward mode (5 inputs), and J_f = J_g · J_h.
#
# (The toolkit seeds its passes with an identity, so its forward count has one more term than the pure
# chain product above: d₀·d₁·d₀ to push the d₀ seed directions through J₁; likewise for reverse.)

# %%
def layers(widths, seed):
    r = np.random.default_rng(seed)
    mats = [r.standard_normal((widths[i], widths[i - 1])) / np.sqrt(widths[i - 1])
            for i in range(1, len(widths))]

    def stack(x):
        for A in mats:
            x = np.tanh(A @ x)
        return x

    return stack


wide_w, waist = (60, 3) if SMALL else (300, 5)
widths = [wide_w, wide_w, wide_w, waist, wide_w, wide_w, wide_w]
h = layers(widths[:4], seed=2)  # R^wide → R^waist
g = layers(widths[3:], seed=3)  # R^waist → R^wide


def f_hourglass(x):
    return g(h(x))


def jac_mixed(x):
    """J_g(h(x)) · J_h(x): reverse mode up to the waist, forward mode after it."""
    return ad.jacfwd(g)(h(x)) @ ad.jacrev(h)(x)


def ad_forward_cost(w):
    return sum(w[0] * w[i - 1] * w[i] for i in range(1, len(w)))


def ad_reverse_cost(w):
    return sum(w[-1] * w[i] * w[i - 1] for i in range(1, len(w)))


x = rng.standard_normal(wide_w)
J_ref = ad.jacfwd(f_hourglass)(x)
assert np.allclose(ad.jacrev(f_hourglass)(x), J_ref) and np.allclose(jac_mixed(x), J_ref)

predicted = {
    "jacfwd(f)": ad_forward_cost(widths),
    "jacrev(f)": ad_reverse_cost(widths),
    "mixed": ad_reverse_cost(widths[:4]) + ad_forward_cost(widths[3:]) + wide_w * waist * wide_w,
}
measured = {
    "jacfwd(f)": best_time(lambda: ad.jacfwd(f_hourglass)(x)),
    "jacrev(f)": best_time(lambda: ad.jacrev(f_hourglass)(x)),
    "mixed": best_time(lambda: jac_mixed(x)),
}
print(f"widths {widths}")
print(f"{'':12}{'multiply-adds':>15}{'time (ms)':>12}")
for k in predicted:
    print(f"{k:12}{predicted[k]:15,}{measured[k] * 1e3:12.3f}")
print(f"mixed is {measured['jacfwd(f)'] / measured['mixed']:.1f}× faster than jacfwd and "
      f"{measured['jacrev(f)'] / measured['mixed']:.1f}× faster than jacrev "
      f"(the counts predict {predicted['jacfwd(f)'] / predicted['mixed']:.0f}× and "
      f"{predicted['jacrev(f)'] / predicted['mixed']:.0f}×)")

fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(predicted)
ax.bar(np.arange(3) - 0.2, [predicted[k] / predicted["mixed"] for k in names], 0.4,
       label="multiply-adds (relative to mixed)")
ax.bar(np.arange(3) + 0.2, [measured[k] / measured["mixed"] for k in names], 0.4,
       label="time (relative to mixed)")
ax.set_xticks(np.arange(3), names)
ax.set(ylabel="relative cost", title=f"Hourglass {widths}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Both pure modes pay for carrying the wide side's directions through the whole network; splitting at the
# waist pays it only on the cheap side of each half. The time saved is smaller than the count saved,
# because the mixed Jacobian does more, smaller operations, each with a fixed Python overhead — but the
# ordering the counts predict is the ordering we measure. The dynamic program above finds such splits for
# any chain of widths.
