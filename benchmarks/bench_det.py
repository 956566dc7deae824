"""Gradients of det and of slogdet's log|det| against NumPy's det·inv and JAX (eager and jit).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_det.py [--sizes 3 50 200] [--repeat 7]

Standalone (not part of run.py): prints best-of-``repeat`` seconds per call (each run repeats the call
until it lasts ``--min-time`` seconds), and the ratio to NumPy's hand-written gradient
(det(A) inv(A)ᵀ for det, inv(A)ᵀ for log|det|). The matrices are well conditioned, with det of order 1
(I + a random matrix of spectral radius ~0.3).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402


def best_time(fn, repeat, min_time):
    """Best seconds per call over ``repeat`` runs of enough calls to last ``min_time`` each."""
    fn()
    start = time.perf_counter()
    fn()
    number = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def cases(a):
    """{name: (det-gradient callable, logabsdet-gradient callable)}; None where a peer is missing."""
    out = {
        "numpy det·inv": (lambda: np.linalg.det(a) * np.linalg.inv(a).T, lambda: np.linalg.inv(a).T),
        "autodiff": (lambda: ad.grad(np.linalg.det)(a),
                     lambda: ad.grad(lambda m: np.linalg.slogdet(m)[1])(a)),
    }
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        return out
    aj = jnp.asarray(a)
    gdet, glog = jax.grad(jnp.linalg.det), jax.grad(lambda m: jnp.linalg.slogdet(m)[1])
    jdet, jlog = jax.jit(gdet), jax.jit(glog)
    out["jax eager"] = (lambda: gdet(aj).block_until_ready(), lambda: glog(aj).block_until_ready())
    out["jax jit"] = (lambda: jdet(aj).block_until_ready(), lambda: jlog(aj).block_until_ready())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[3, 50, 200])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.05)
    args = parser.parse_args(argv)
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, best of {args.repeat}")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        a = np.eye(n) + rng.uniform(-1, 1, size=(n, n)) / (2 * np.sqrt(n))   # det stays O(1)
        timings = {name: [best_time(f, args.repeat, args.min_time) for f in fns]
                   for name, fns in cases(a).items()}
        base = timings["numpy det·inv"]
        for name, (t_det, t_log) in timings.items():
            print(f"n={n:4d}  {name:14s}  grad det {t_det * 1e6:9.1f} us ({t_det / base[0]:5.1f}x)"
                  f"   grad slogdet[1] {t_log * 1e6:9.1f} us ({t_log / base[1]:5.1f}x)")


if __name__ == "__main__":
    main()
