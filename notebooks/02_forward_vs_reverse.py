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
# the number of directions scales with n in forward mode and with m in reverse mode. The document's rule
# is *n < m → forward, otherwise reverse*; `ad.jacobian(mode="auto")` instead predicts each mode's time
# for this f at these shapes (directions × cost of one direction + fixed cost, from the recorded graph)
# and takes the faster. We check where the rule is right, where it is off and why, how the prediction
# does on the same table, and why an hourglass-shaped function is best served by neither pure order.

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
    return best_times([fn], repeat)[0]


def best_times(fns, repeat=REPEAT, min_time=0.002):
    """Seconds per call of each of fns: best of `repeat` interleaved runs of ~min_time each.

    Interleaving gives each function the same share of a shared machine's load; short runs repeated
    many times, and their minimum, are what a quiet moment would show.
    """
    numbers = []
    for fn in fns:
        fn()  # warm up
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
# in both modes (`ad.jacobian(f, mode=...)`, best of many short interleaved runs) and record the ratio
# *time(forward) / time(reverse)*, next to the ratio `ad.plan_jacobian` predicts. The rule predicts
# forward to be faster (ratio < 1) exactly when n < m.

# %%
sizes = [2, 16, 128] if SMALL else [2, 8, 32, 128, 512]
cases, calls = [], []
for n in sizes:
    for m in sizes:
        f = mlp(n, m)
        x = rng.standard_normal(n)
        cases.append((n, m, ad.plan_jacobian(f, x)))
        calls += [lambda J=ad.jacobian(f, mode=mode), x=x: J(x) for mode in ("forward", "reverse")]
# all shapes timed together, round by round: a burst of load hits one round of every shape
times = best_times(calls)
rows = [(n, m, times[2 * i], times[2 * i + 1], plan.predicted["forward"] / plan.predicted["reverse"],
         plan.mode) for i, (n, m, plan) in enumerate(cases)]

print("time(forward) / time(reverse), measured [predicted]; rows: n inputs, columns: m outputs")
print("n \\ m " + "".join(f"{m:>15}" for m in sizes))
for n in sizes:
    print(f"{n:>6}" + "".join(f"{tf / tr:7.2f} [{pr:5.2f}]" for nn, _, tf, tr, pr, _ in rows if nn == n))


def spread(values):
    return max(values) / min(values)


big = sizes[-1]
row = [tf / tr for n, m, tf, tr, _, _ in rows if n == big]
col = [tf / tr for n, m, tf, tr, _, _ in rows if m == big]
print(f"\nAlong the n = {big} row, n/m falls {big // sizes[0]}-fold while the measured ratio moves by a "
      f"factor {spread(row):.1f} ({min(row):.2f} to {max(row):.2f}); down the m = {big} column, n/m rises "
      f"{big // sizes[0]}-fold and the ratio moves by a factor {spread(col):.1f} ({min(col):.2f} to "
      f"{max(col):.2f}). If one direction cost the same in both modes, both would move "
      f"{big // sizes[0]}-fold.")

# %% [markdown]
# Each point below is one (n, m). The rule picks forward mode left of the dashed vertical line (n < m)
# and reverse mode on and right of it. A green point is one where the rule picked the faster mode; a
# red one is where it picked the slower mode, labelled with the price of that choice (chosen time /
# best time). The misses are listed below the plot.

# %%
ratio_nm = np.array([n / m for n, m, *_ in rows])
ratio_t = np.array([tf / tr for _, _, tf, tr, *_ in rows])
rule_forward = np.array([n < m for n, m, *_ in rows])
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

# Could another rule on the sizes alone do better? The best "forward iff n < c·m", with c fitted to this
# very table (so it is flattered), against the planner, which never saw these timings.
cs = [2.0 ** k for k in range(-10, 11)]
scores = [int(np.sum((ratio_nm < c) == forward_faster)) for c in cs]
c_best = cs[int(np.argmax(scores))]
auto_right = np.array([mode == ("forward" if tf < tr else "reverse") for _, _, tf, tr, _, mode in rows])
print(f"The best size-only rule 'forward iff n < c·m' fitted to this table (c = {c_best:g}) scores "
      f"{max(scores)} of {len(rows)}; the document's rule (c = 1) {right.sum()}; the planner "
      f"(ad.jacobian(mode='auto')) {auto_right.sum()}.")
clear = np.maximum(ratio_t, 1 / ratio_t) > 1.5
print(f"Where the modes differ by more than 1.5x ({clear.sum()} pairs): the rule is right on "
      f"{right[clear].sum()}, the planner on {auto_right[clear].sum()}.")

# %% [markdown]
# What the numbers above say. The time ratio would follow n/m (the dotted line) only if one direction
# cost the same in both modes and each pass's fixed cost were negligible. Neither holds for this small
# network: both passes are batched (all directions in one pass), so much of the time is a fixed cost per
# operation that does not grow with the directions at all, and reverse mode's is larger (it records a
# tape, then sweeps it). That is why the n = 512 row and the m = 512 column move far less than n/m does
# (the printed factors), and why at small sizes forward mode tends to win even where n ≥ m.
#
# A second effect changes the cost of one direction: from 100 inputs or outputs up, neither mode
# multiplies by its identity seed. The seed is known to be diagonal, stays diagonal through elementwise
# steps, and a matrix product with it is a row scaling (`autodiff/structured.py`), so forward mode's
# first layer costs n × 64 multiplications here instead of n × n × 64, and at n = m both modes run the
# same single matrix product that forms the Jacobian.
#
# So sizes alone are a weak guide: a threshold fitted to the table itself can do better than the
# document's rule (printed above), and neither knows why. The planner models the two effects — fixed
# cost per operation and per pass, and the cost of one direction from the recorded graph's shapes, flop
# counts and diagonal paths — with constants measured once per process; its score is printed next to
# theirs. Where it misses, the printed clear-case count says whether those misses are ties.

# %% [markdown]
# ## `plan_jacobian` explains its choice
#
# `ad.plan_jacobian(f, x)` records one evaluation of f and reports what each mode would cost — directions,
# predicted time (fixed cost + directions × cost of one direction), memory kept for the backward pass,
# peak memory — the document's rule's choice, and the mode `ad.jacobian(f)` will pick, with the reason.

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
# 300 directions through all six layers. `ad.jacobian(f, mode="mixed")` finds the waist in f's recorded
# graph (the narrowest value every input-to-output path passes through) and splits there: the Jacobian
# of h in reverse mode (5 cotangents pulled from the waist back to the input), the Jacobian of g in
# forward mode (5 tangents pushed from the waist to the output), and J_f = J_g · J_h. No hand split:
# f is one function, and `ad.jacobian(f)` ("auto") picks mixed mode by itself when it predicts it faster.
#
# Counting multiply-adds for the toolkit's passes: a pure mode's identity seed of 300 directions is
# registered as diagonal, so the first product with it is a row scaling (no multiply-adds to speak of)
# and the counts are exactly the chain products above. The 5-direction seeds at the waist are small,
# dense identities (diagonal seeds start at 100 entries), so mixed mode does multiply by them: one
# d·5·5 term on each side.

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


MIN_DIAGONAL = 100  # autodiff.diagonal.MIN_SIZE: from this size the identity seed is a row scaling


def seed_term(d_seed, d_next):
    """Multiply-adds of the first product with a dense identity seed (none for a diagonal one)."""
    return 0 if d_seed >= MIN_DIAGONAL else d_seed * d_seed * d_next


x = rng.standard_normal(wide_w)
modes = {mode: ad.jacobian(f_hourglass, mode=mode) for mode in ("forward", "reverse", "mixed", "auto")}
J_ref = ad.jacfwd(f_hourglass)(x)
for J in modes.values():
    assert np.allclose(J(x), J_ref, rtol=1e-12, atol=1e-14)  # mixed is exact

plan = ad.plan_jacobian(f_hourglass, x)
print(plan)
counts = {
    "forward": forward_cost(widths) + seed_term(widths[0], widths[1]),
    "reverse": reverse_cost(widths) + seed_term(widths[-1], widths[-2]),
    "mixed": (reverse_cost(widths[:4]) + seed_term(waist, widths[2]) + forward_cost(widths[3:])
              + seed_term(waist, widths[4]) + wide_w * waist * wide_w),
}
measured = dict(zip(modes, best_times(list(lambda J=J: J(x) for J in modes.values()))))
print(f"\nwidths {widths}")
print(f"{'':10}{'multiply-adds':>15}{'predicted (ms)':>16}{'measured (ms)':>15}")
for k in modes:
    count = f"{counts[k]:15,}" if k in counts else f"{'(= ' + plan.mode + ')':>15}"
    pred = f"{plan.predicted[k] * 1e3:16.3f}" if k in plan.predicted else f"{'':16}"
    print(f"{k:10}{count}{pred}{measured[k] * 1e3:15.3f}")
pure = min(("forward", "reverse"), key=measured.get)
print(f"auto chose {plan.mode}: the better pure mode ({pure}) takes {measured[pure] / measured['auto']:.1f}× "
      f"auto's time; the multiply-add counts alone would predict {counts[pure] / counts['mixed']:.0f}× "
      f"for mixed.")

fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(counts)
ax.bar(np.arange(3) - 0.2, [counts[k] / counts["mixed"] for k in names], 0.4,
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
# because the mixed Jacobian does more, smaller operations (two sweeps, one of them recorded so that it
# can be transposed into forward mode), each with a fixed Python overhead — but the ordering the counts
# predict is the ordering we measure, and the planner's predicted times say the same before anything is
# timed. The dynamic program above finds such splits for any chain of widths.
