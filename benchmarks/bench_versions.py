"""Two versions of autodiff side by side: the hot-path figures of one commit against another's.

    python benchmarks/bench_versions.py HEAD~3            # that commit against the working tree
    python benchmarks/bench_versions.py OLD NEW           # two commits (or two source directories)

For refactorings that must not cost speed. Each version runs in its own interpreter (a git worktree
of the commit, made in a temporary directory, or a directory given as is); the cases are timed in
rounds that alternate between the versions, so both see the same load on a shared machine, and the
table gives each case's best time per version and the ratio new / old (the median of the per-round
ratios). BLAS is pinned to one thread. The cases are the per-operation overhead of a scalar loop, the
MLP gradient, Jacobians in both modes at three shapes, a Hessian and a Hessian-vector product.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PINNED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Runs inside each version's interpreter: times every case for about `budget` seconds, prints JSON.
WORKER = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, "benchmarks")      # the version's own benchmark problems (cwd is its tree)
import autodiff as ad
from bench_core import mlp_loss, mlp_problem, scalar_loop

rng = np.random.default_rng(0)
params, X, Y = mlp_problem()

def chain(n, m):
    W1 = rng.standard_normal((64, n)) / np.sqrt(n)
    W2 = rng.standard_normal((m, 64)) / 8.0
    return lambda x: np.tanh(W2 @ np.tanh(W1 @ x))

def square(n):
    W1 = rng.standard_normal((n, n)) / np.sqrt(n)
    W2 = rng.standard_normal((n, n)) / np.sqrt(n)
    return lambda x: np.tanh(W2 @ np.tanh(W1 @ x))

def scalar_f(x):
    return np.sum(np.sin(x) * np.cos(x[::-1])) + np.sum(x ** 3) / 3

x10, x300, x1000, x100 = (rng.standard_normal(k) for k in (10, 300, 1000, 100))
v100 = rng.standard_normal(100)
grad_mlp = ad.grad(mlp_loss(np))
grad_loop = ad.grad(scalar_loop(np))
cases = {
    "per-op overhead (scalar loop grad, 1600 ops)": lambda: grad_loop(0.3),
    "MLP gradient (784-512-512-10, batch 256)": lambda: grad_mlp(params, X, Y),
    "jacfwd n=10 m=1000": (lambda j: lambda: j(x10))(ad.jacfwd(chain(10, 1000))),
    "jacrev n=1000 m=10": (lambda j: lambda: j(x1000))(ad.jacrev(chain(1000, 10))),
    "jacfwd n=m=300": (lambda j: lambda: j(x300))(ad.jacfwd(square(300))),
    "jacrev n=m=300": (lambda j: lambda: j(x300))(ad.jacrev(square(300))),
    "jacobian auto n=m=300": (lambda j: lambda: j(x300))(ad.jacobian(square(300))),
    "hessian n=100": (lambda h: lambda: h(x100))(ad.hessian(scalar_f)),
    "hvp n=100": lambda: ad.hvp(scalar_f, (x100,), (v100,)),
}
try:   # the Jacobian benchmark's second-order problem (issue 12's HVP target: hvp <= 15x g)
    from bench_jacobian import second_order_problem
    g2, x2, v2 = second_order_problem()
    cases["g of the HVP target (A 200x100)"] = lambda: g2(x2)
    cases["hvp of the HVP target (A 200x100)"] = lambda: ad.hvp(g2, (x2,), (v2,))
except ImportError:
    pass
only = [name for name in cases if not sys.argv[2:] or any(word in name for word in sys.argv[2:])]
budget = float(sys.argv[1])
out = {}
for name in only:
    fn = cases[name]
    fn()
    start = time.perf_counter(); fn(); once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(budget / once))
    start = time.perf_counter()
    for _ in range(number):
        fn()
    out[name] = (time.perf_counter() - start) / number
print(json.dumps(out))
"""


def source_tree(rev: str, tmp: Path) -> Path:
    """A directory holding version ``rev``: the directory itself, or a git worktree of the commit."""
    if Path(rev).is_dir():
        return Path(rev).resolve()
    where = tmp / rev.replace("/", "_").replace("~", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True)
    return where


def run_round(tree: Path, budget: float, only: list[str]) -> dict[str, float]:
    """One timing of the cases (those whose names contain a word of ``only``; all if it is empty) in a
    fresh interpreter importing autodiff from ``tree``."""
    env = {**os.environ, **PINNED, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", WORKER, str(budget), *only], env=env, cwd=str(tree),
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(old: Path, new: Path, rounds: int, budget: float,
            only: list[str]) -> list[tuple[str, float, float, float]]:
    """(case, best old, best new, median of per-round new/old ratios) for every case."""
    per_round = []
    for _ in range(rounds):
        per_round.append((run_round(old, budget, only), run_round(new, budget, only)))
    rows = []
    for name in per_round[0][0]:
        olds = [o[name] for o, _ in per_round]
        news = [n[name] for _, n in per_round]
        ratio = statistics.median(n / o for o, n in zip(olds, news))
        rows.append((name, min(olds), min(news), ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="commit (or source directory) to compare against")
    parser.add_argument("new", nargs="?", default=str(ROOT), help="commit or directory (default: this tree)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per case per round")
    parser.add_argument("--only", nargs="*", default=[], help="time only the cases whose names contain one")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trees = [source_tree(rev, Path(tmp)) for rev in (args.old, args.new)]
            rows = compare(trees[0], trees[1], args.rounds, args.budget, args.only)
    finally:
        # the temporary worktrees are gone with the directory; drop git's records of them
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
    print(f"old: {args.old}   new: {args.new}   ({args.rounds} alternating rounds, BLAS on one thread)")
    print(f"{'case':48} {'old (best)':>12} {'new (best)':>12} {'new/old':>8}")
    for name, old_t, new_t, ratio in rows:
        print(f"{name:48} {old_t * 1e3:10.3f}ms {new_t * 1e3:10.3f}ms {ratio:8.3f}")


if __name__ == "__main__":
    main()
