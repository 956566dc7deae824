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
# # Sparse Jacobians: the honest count is the number of colors
#
# The seed document weighs n forward passes against m reverse passes. That assumes a dense Jacobian.
# The Jacobians of science are sparse — a discretised PDE couples each unknown to a few neighbours — and
# then columns that share no row can share one forward pass (they are *structurally orthogonal*: their
# entries never land in the same output), and rows that share no column can share one reverse pass.
# A tridiagonal Jacobian of 100,000 unknowns needs 3 forward passes, not 100,000.
#
# This notebook walks through the three steps autodiff takes:
#
# 1. **detection**: `ad.jacobian_sparsity` runs f once under a third transformation (beside forward and
#    reverse mode, through the same primitive registry) that propagates, for every element of every
#    value, the set of inputs it depends on;
# 2. **coloring**: columns (forward), rows (reverse), or both at once (bidirectional);
# 3. **compressed passes**: one batched JVP (or VJP) with one direction per color, then each entry is
#    read back from the compressed result into a SciPy CSR array.
#
# and measures it against dense forward and reverse Jacobians and against SciPy's grouped finite
# differences (`approx_derivative(..., sparsity=...)`, which groups columns the same way).

# %%
import os

# One BLAS thread: on a shared machine, a multi-threaded matrix product whose threads wait for a busy core
# can be ten times slower than usual, which would blur the comparison. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize._numdiff import approx_derivative

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


# %% [markdown]
# ## 1. The pattern
#
# The 1-D Bratu problem, u'' + e^u = 0 with zero boundary values, discretised on n points: each residual
# couples an unknown to its two neighbours. Plain NumPy; nothing tells autodiff the structure.

# %%
def bratu(u):
    h = 1.0 / (u.size + 1)
    up = np.concatenate([np.zeros(1), u, np.zeros(1)])
    return (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 + np.exp(u)


pattern = ad.jacobian_sparsity(bratu, rng.random(30))
print(type(pattern).__name__, pattern.shape, pattern.dtype, "nnz =", pattern.nnz)

# %% [markdown]
# Each output element's index set is a row of a sparse boolean matrix. The rules go by family, not by
# primitive: slicing and `concatenate` apply themselves to an array of row numbers, the elementwise
# operations take the union of the aligned arguments, `exp` keeps its argument's rows. The result is exact
# here: the three diagonals and nothing else.

# %%
cp = ad.color_jacobian(bratu, rng.random(30))
print(cp)

# %% [markdown]
# ## 2. The colors
#
# Column j's color says which forward pass it joins: columns j and j + 3 never meet in a row, so colors
# 0, 1, 2, 0, 1, 2, ... suffice. The plot shows the pattern with each entry painted in its column's
# color; reading row i of J·S (S: one seed column per color) gives the three entries of row i unmixed.

# %%
coo = cp.pattern.tocoo()
colors = cp.coloring.col_colors
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
axes[0].scatter(coo.col, coo.row, c=colors[coo.col], cmap="tab10", vmin=0, vmax=9, s=30, marker="s")
axes[0].set(title=f"Bratu n=30: {cp.n_colors} column colors", xlabel="input j", ylabel="output i")
axes[0].invert_yaxis()
seed = np.zeros((30, cp.n_colors))
seed[np.arange(30), colors] = 1
axes[1].imshow(seed, aspect="auto", cmap="Greys")
axes[1].set(title="seed matrix S (one column per color)", xlabel="color", ylabel="input j")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Forward, reverse, or both
#
# Three structures, three answers. **Block sums** (m = n/10, each output sums its own 10 inputs): every
# row is full in its block, so columns of one block all collide — 10 forward passes — but rows never
# share a column: one reverse pass gives everything. **Arrowhead** (a dense first row and column): every
# pure coloring needs n passes, because the dense row makes all columns collide and the dense column all
# rows. Together, one reverse pass reads the dense row, and forward passes read the rest (the dense row is
# polluted there, but it is not read from them).

# %%
def block_sums(x):
    return np.sum(x.reshape(-1, 10), axis=1)


def arrowhead(x):
    return np.concatenate([np.sum(x ** 2).reshape(1), x[1:] * x[0] + np.sin(x[1:])])


cases = {"Bratu": (bratu, 300), "block sums": (block_sums, 300), "arrowhead": (arrowhead, 300)}
summary = {}
for name, (f, n) in cases.items():
    cpat = ad.color_jacobian(f, rng.random(n))
    bid = cpat.bidirectional.passes
    summary[name] = (cpat.n_colors_forward, cpat.n_colors_reverse, bid)
    print(f"{name:10s}  auto -> {cpat.mode:13s}  {cpat.saving()}")
print()
print(ad.color_jacobian(arrowhead, rng.random(30)))

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.25
for k, label in enumerate(["forward (column colors)", "reverse (row colors)", "bidirectional"]):
    ax.bar(np.arange(3) + (k - 1) * width, [v[k] for v in summary.values()], width, label=label)
ax.set_xticks(range(3), list(summary))
ax.set_yscale("log")
ax.set(ylabel="passes (n = 300)", title="Passes needed by each mode")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. Time, against dense Jacobians and finite differences
#
# `ad.sparse_jacobian(f)` detects and colors on its first call and keeps both while the shapes stay the
# same; later calls are one batched JVP over the colors plus a gather into the CSR array. Dense
# `jacfwd`/`jacrev` need n (or m) directions and n·m memory, so they stop at a few thousand here. SciPy's
# `approx_derivative` with the same pattern groups columns the same way, but needs one evaluation of f per
# group and per difference, and its entries carry the finite-difference error (the relative errors
# printed are against the largest entry, about 2/h²; ours are exact to rounding).

# %%
sizes = [100, 1000, 3000] if SMALL else [100, 1000, 3000, 10_000, 100_000]
def measure(n):
    """Times (seconds) of f, the sparse Jacobian's first and second call, SciPy's grouped FD and, up to
    n = 3000, dense jacfwd/jacrev; with the errors against the dense Jacobian."""
    x = rng.random(n)
    sj = ad.sparse_jacobian(bratu)
    start = time.perf_counter()
    J = sj(x)
    first = time.perf_counter() - start
    pat = J.astype(bool)
    f0 = bratu(x)

    def fd():
        return approx_derivative(bratu, x, f0=f0, sparsity=pat)

    row = {"n": n, "f": best_time(lambda: bratu(x)), "first": first, "sparse": best_time(lambda: sj(x)),
           "fd": best_time(fd)}
    if n <= 3000:
        row["jacfwd"] = best_time(lambda: ad.jacfwd(bratu)(x), repeat=2)
        row["jacrev"] = best_time(lambda: ad.jacrev(bratu)(x), repeat=2)
        dense = ad.jacfwd(bratu)(x)
        row["error"] = float(abs(J.toarray() - dense).max() / abs(dense).max())
        row["fd_error"] = float(abs(fd().toarray() - dense).max() / abs(dense).max())
    return row


rows = [measure(n) for n in sizes]
for row in rows:
    print(f"n={row['n']:6d}  f {row['f'] * 1e3:7.3f} ms  sparse {row['sparse'] * 1e3:7.2f} ms "
          f"({row['sparse'] / row['f']:5.1f}x f)  first call {row['first'] * 1e3:7.1f} ms  "
          f"SciPy FD {row['fd'] * 1e3:7.2f} ms" +
          (f"  jacfwd {row['jacfwd'] * 1e3:8.1f} ms  jacrev {row['jacrev'] * 1e3:8.1f} ms  "
           f"rel. error {row['error']:.0e} (FD {row['fd_error']:.0e})" if "jacfwd" in row else ""))

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
ns = [r["n"] for r in rows]
for key, label in [("f", "f itself"), ("sparse", "sparse_jacobian (2nd call)"), ("first", "first call"),
                   ("fd", "SciPy grouped FD"), ("jacfwd", "dense jacfwd"), ("jacrev", "dense jacrev")]:
    pts = [(r["n"], r[key]) for r in rows if key in r]
    ax.loglog(*zip(*pts), "o-", label=label)
ax.set(xlabel="n", ylabel="seconds", title="Jacobian of the Bratu residual")
ax.legend()
plt.show()

# %% [markdown]
# The sparse Jacobian grows like f (a constant number of colors); the dense ones like n² (n directions,
# each costing n). The first call pays for detection and coloring once.
#
# ## 5. Sparse Hessians
#
# `ad.hessian_sparsity` runs the same index-set trace over reverse mode's computation of the gradient
# (the trace nests like any transformation), and `ad.sparse_hessian` reads the Hessian from
# Hessian-vector products with a *star* coloring: a coloring in which every entry is recovered directly
# from H·S using symmetry. For the chained Rosenbrock function the Hessian is tridiagonal: 3n − 2 entries,
# 3 HVPs.

# %%
def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


n = 2000 if SMALL else 100_000
x = rng.random(n)
H = ad.sparse_hessian(rosenbrock)(x)
print("entries:", H.nnz, "= 3n - 2:", H.nnz == 3 * n - 2)
small = rng.random(300)
print("max |sparse - dense| at n=300:",
      abs(ad.sparse_hessian(rosenbrock)(small).toarray() - ad.hessian(rosenbrock)(small)).max())
sh = ad.sparse_hessian(rosenbrock)
sh(x)
t_f, t_h = best_time(lambda: rosenbrock(x)), best_time(lambda: sh(x))
print(f"f {t_f * 1e3:.2f} ms, sparse Hessian {t_h * 1e3:.1f} ms ({t_h / t_f:.0f}x f)")

# %% [markdown]
# ## Summary
#
# - The count that matters for a sparse Jacobian is the number of colors, not n or m: 3 for any
#   tridiagonal Jacobian, 1 reverse pass for block sums, 3 passes (forward and reverse together) for an
#   arrowhead where either pure mode needs n.
# - `sparse_jacobian` and `sparse_hessian` return SciPy CSR arrays, so they plug into
#   `solve_ivp(..., jac=...)`, `least_squares(..., jac=...)` and `minimize(..., hess=...)`; the pattern
#   alone goes to `jac_sparsity=`.
# - The pattern holds for inputs that take the same control-flow path as the point it was detected at,
#   and is reused while shapes stay the same; a function that branches on its values should be given a
#   fresh `sparse_jacobian` (or its pattern checked) when the branch can change.
