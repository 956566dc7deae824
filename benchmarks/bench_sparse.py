"""Issue 14: sparse Jacobians and Hessians from colorings, against dense modes, SciPy and asdex (JAX).

Workloads: the 1-D Bratu residual (tridiagonal Jacobian), block sums (m = n/10, each output sums its own
10 inputs), an arrowhead (dense first row and column), the chained Rosenbrock function (tridiagonal
Hessian). Ratios are times / one evaluation of f in the same run (timed round-robin with f). asdex
(JAX; a jaxpr interpreter detects the pattern, then colors rows or columns) runs the same Bratu residual
written with jax.numpy: its unjitted call returning a SciPy CSR array, and its jitted BCOO call (a fused,
compiled pass, the floor an eager NumPy tool is measured against).
"""

from __future__ import annotations

import time

import numpy as np
from _common import Section, Settings, Target, fmt_time, progress, table, time_together

import autodiff as ad
from autodiff.sparsity import color_jacobian


def bratu(u):
    h = 1.0 / (u.size + 1)
    up = np.concatenate([np.zeros(1), u, np.zeros(1)])
    return (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 + np.exp(u)


def block_sums(x):
    return np.sum(x.reshape(-1, 10), axis=1)


def arrowhead(x):
    return np.concatenate([np.sum(x ** 2).reshape(1), x[1:] * x[0] + np.sin(x[1:])])


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The exact tridiagonal Hessian, by hand (to check sparse_hessian entry by entry)."""
    import scipy.sparse as sp

    n = x.size
    d = np.zeros(n)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    off = -400 * x[:-1]
    return sp.diags_array([off, d, off], offsets=[-1, 0, 1], shape=(n, n)).toarray() if n <= 2000 else \
        sp.csr_array(sp.diags_array([off, d, off], offsets=[-1, 0, 1], shape=(n, n)))


def _first_call(make, x, tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        fn = make()
        start = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - start)
    return best


def _bratu_case(s: Settings, n: int, rows: list, targets: list) -> None:
    from scipy.optimize._numdiff import approx_derivative

    x = np.random.default_rng(0).random(n)
    cp = color_jacobian(bratu, x)
    sj = ad.sparse_jacobian(bratu)
    pattern = cp.pattern
    f0 = bratu(x)
    fd = lambda: approx_derivative(bratu, x, f0=f0, sparsity=pattern)  # noqa: E731
    res = time_together({"f": lambda: bratu(x), "sparse": lambda: sj(x), "fd": fd}, s, "f")
    first = _first_call(lambda: ad.sparse_jacobian(bratu), x)
    ratio_first = first / res["f"][0]
    rows.append([f"Bratu n={n}", f"{cp.mode}, {cp.n_colors} colors", fmt_time(res["f"][0]),
                 f"{fmt_time(first)} ({ratio_first:.0f}x)",
                 f"{fmt_time(res['sparse'][0])} ({res['sparse'][1]:.1f}x)",
                 f"{fmt_time(res['fd'][0])} ({res['fd'][1]:.1f}x)"])
    if n == 10**5:
        targets += [Target("Bratu n=1e5: 3 colors", 0 if cp.n_colors == 3 else 1, 0),
                    Target("Bratu n=1e5: sparse_jacobian second call / f", res["sparse"][1], 10),
                    Target("Bratu n=1e5: first call (detect + color + passes) / f", ratio_first, 1000)]


def _structure_cases(rows: list, targets: list, quick: bool) -> None:
    n = 10**4 if quick else 10**5
    cp = color_jacobian(block_sums, np.ones(n))
    rows.append([f"block sums n={n}, m={n // 10}", cp.mode, cp.n_colors, cp.n_colors_forward,
                 cp.n_colors_reverse, cp.bidirectional.passes if cp.bidirectional else "-"])
    targets.append(Target("block sums: auto picks reverse with 1 color",
                          0 if (cp.mode, cp.n_colors) == ("reverse", 1) else 1, 0))
    for n in (30, 10**4):
        x = np.random.default_rng(1).random(n)
        cp = color_jacobian(arrowhead, x)
        J = ad.sparse_jacobian(arrowhead)(x)
        ok = np.allclose(J.toarray(), ad.jacfwd(arrowhead)(x)) if n <= 1000 else J.nnz == cp.pattern.nnz
        rows.append([f"arrowhead n={n}", cp.mode, cp.n_colors, cp.n_colors_forward, cp.n_colors_reverse,
                     f"{cp.coloring.n_forward} JVPs + {cp.coloring.n_reverse} VJPs"
                     + ("" if ok else " WRONG")])
        targets.append(Target(f"arrowhead n={n}: bidirectional passes", cp.n_colors, 4, ""))


def _rosenbrock_case(s: Settings, n: int, rows: list, targets: list) -> None:
    x = np.random.default_rng(2).random(n)
    sh = ad.sparse_hessian(rosenbrock)
    H = sh(x)
    want = rosenbrock_hessian(x)
    err = abs(H - want).max() / abs(want).max()
    exact = H.nnz == 3 * n - 2 and err < 1e-12
    res = time_together({"f": lambda: rosenbrock(x), "hess": lambda: sh(x)}, s, "f")
    first = _first_call(lambda: ad.sparse_hessian(rosenbrock), x, tries=1)
    rows.append([f"Rosenbrock n={n}", f"nnz {H.nnz} (3n-2 = {3 * n - 2}), rel. error {err:.1e}",
                 fmt_time(res["f"][0]), fmt_time(first),
                 f"{fmt_time(res['hess'][0])} ({res['hess'][1]:.1f}x)"])
    if n == 10**5:
        targets += [Target("Rosenbrock n=1e5: sparse_hessian exact (3n-2 entries)", 0 if exact else 1, 0),
                    Target("Rosenbrock n=1e5: sparse_hessian second call / f", res["hess"][1], 60)]


def _asdex_case(s: Settings, n: int, rows: list, targets: list) -> None:
    import asdex
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def bratu_jax(u):
        h = 1.0 / (u.size + 1)
        up = jnp.concatenate([jnp.zeros(1), u, jnp.zeros(1)])
        return (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 + jnp.exp(u)

    x = np.random.default_rng(0).random(n)
    xj = jnp.asarray(x)
    start = time.perf_counter()
    coloring = asdex.jacobian_coloring(bratu_jax, xj)
    detect = time.perf_counter() - start
    as_csr = asdex.jacobian_from_coloring(bratu_jax, coloring, output_format="scipy_csr")
    jitted = jax.jit(asdex.jacobian_from_coloring(bratu_jax, coloring))
    f_jit = jax.jit(bratu_jax)
    sj = ad.sparse_jacobian(bratu)
    ours, theirs = sj(x), as_csr(xj)
    same = abs(ours - theirs).max() <= 1e-9 * abs(ours).max()
    res = time_together({"f": lambda: bratu(x), "ours": lambda: sj(x), "asdex": lambda: as_csr(xj),
                         "jit": lambda: jitted(xj).data.block_until_ready(),
                         "fjit": lambda: f_jit(xj).block_until_ready()}, s, "f")
    ours_colors = color_jacobian(bratu, x).n_colors
    within = res["ours"][0] / res["asdex"][0]
    rows.append([f"Bratu n={n}", f"{ours_colors} / {coloring.num_colors}", fmt_time(detect),
                 fmt_time(res["ours"][0]), fmt_time(res["asdex"][0]), f"{within:.2f}x",
                 fmt_time(res["jit"][0]), fmt_time(res["fjit"][0]), "yes" if same else "NO"])
    same_colors = 0 if ours_colors == coloring.num_colors else 1
    targets += [Target(f"Bratu n={n}: same colors as asdex", same_colors, 0),
                Target(f"Bratu n={n}: our second call / asdex's unjitted SciPy-CSR call", within, 3)]


def run(quick: bool = False) -> Section:
    s = Settings.for_mode(quick)
    rows, targets = [], []
    for n in ((10**3, 10**4) if quick else (10**3, 10**4, 10**5)):
        progress(f"Bratu n={n}")
        _bratu_case(s, n, rows, targets)
    struct: list = []
    progress("block sums, arrowhead")
    _structure_cases(struct, targets, quick)
    hess: list = []
    for n in ((10**3, 10**4) if quick else (10**3, 10**5)):
        progress(f"Rosenbrock n={n}")
        _rosenbrock_case(s, n, hess, targets)
    peers: list = []
    for n in (10**4, 10**5):
        progress(f"asdex n={n}")
        _asdex_case(s, n, peers, targets)
    body = (
        "Sparse Jacobian of the Bratu residual — time (and time / one evaluation of f); SciPy: "
        "`approx_derivative(..., sparsity=pattern)`, grouped finite differences:\n\n"
        + table(["case", "coloring", "f", "first call", "second call", "SciPy FD (grouped)"], rows)
        + "\n\nColors and passes (forward: column colors = JVPs; reverse: row colors = VJPs):\n\n"
        + table(["case", "auto chose", "passes", "forward colors", "reverse colors", "bidirectional"], struct)
        + "\n\nSparse Hessian (HVPs with a star coloring):\n\n"
        + table(["case", "result", "f", "first call", "second call"], hess)
        + "\n\nAgainst asdex (JAX), Bratu residual; asdex detection includes tracing its jaxpr:\n\n"
        + table(["case", "colors ours / asdex", "asdex detect + color", "ours (2nd call)",
                 "asdex SciPy CSR (unjitted)", "ours / asdex", "asdex jit (BCOO)", "f jit (JAX)", "same J"],
                peers)
    )
    return Section("Issue 14 — sparse Jacobians and Hessians", body, targets)


# ---- the coloring libraries (docs/architecture.md, "Why our own column coloring") ------------------------

def _patterns(n: int) -> dict:
    import scipy.sparse as sp

    k = int(round(np.sqrt(n)))
    band = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(k, k), dtype=bool)
    grid = sp.kron(sp.eye_array(k), band) + sp.kron(band, sp.eye_array(k))
    rng = np.random.default_rng(0)
    cols, rows = rng.integers(0, n, size=3 * n), np.repeat(np.arange(n), 3)
    tri = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(n, n), dtype=bool)
    return {"tridiagonal": sp.csr_array(tri), "2-D 5-point Laplacian": sp.csr_array(grid, dtype=bool),
            "random, 3 per row": sp.csr_array((np.ones(3 * n, dtype=bool), (rows, cols)), shape=(n, n))}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def _intersection_edges(p) -> np.ndarray:
    import scipy.sparse as sp

    g = sp.triu(sp.csr_array(p.T, dtype=np.int8) @ p.astype(np.int8), k=1).tocoo()
    return np.column_stack([g.row, g.col])


def _networkx_coloring(n: int, edges: np.ndarray) -> dict:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(map(tuple, edges.tolist()))
    return nx.greedy_color(graph, strategy="largest_first")


def _igraph_coloring(n: int, edges: np.ndarray) -> list:
    import igraph as ig

    return ig.Graph(n=n, edges=edges).vertex_coloring_greedy()


def _compare_one(name: str, n: int, p) -> str:
    from autodiff.sparsity.coloring import column_coloring

    t_own, colors = _timed(column_coloring, p)
    t_graph, edges = _timed(_intersection_edges, p)
    t_nx, nxc = _timed(_networkx_coloring, p.shape[1], edges)
    t_ig, igc = _timed(_igraph_coloring, p.shape[1], edges)
    return (f"| {name}, n = {n} | {t_own:.2f} s ({colors.max() + 1}) | {t_graph:.2f} s | "
            f"{t_nx:.1f} s ({max(nxc.values()) + 1}) | {t_ig:.1f} s ({max(igc) + 1}) |")


def coloring_libraries(sizes=(10**5, 10**6)) -> str:
    """Our column coloring against networkx's and igraph's greedy coloring of AᵀA (one run each)."""
    lines = []
    for n in sizes:
        for name, p in _patterns(n).items():
            lines.append(_compare_one(name, n, p))
            print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if "--colorings" in sys.argv:
        coloring_libraries()
    else:
        print(run(quick="--quick" in sys.argv).body)
