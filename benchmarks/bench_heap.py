"""Issue 12: speed with glibc's default heap (as users run) against a process-wide tuned heap.

Each shape of the main job's grid (two-layer and chain, n, m in 2, 8, 32, 128, 512; both modes through
``ad.jacobian``) and of the Jacobian benchmark (``bench_jacobian``: the three shapes by "auto", the
hourglass, the Hessian and the HVP) is timed in child processes started two ways: with the default
environment (so only ``autodiff.heap.tuned``, applied by ``jacobian``/``hessian``/``hvp`` around each
call, changes the heap) and with ``MALLOC_*_`` variables that tune the heap for the whole process (the
setting ``run.py --tuned-heap`` uses; ``autodiff.heap`` then stands aside). Children alternate
(default, tuned, default, tuned, ...) so both see the same load. BLAS runs on one thread in the children.
Target: default / tuned <= 1.3 on every shape, on the median over rounds of the paired ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import Section, Target, fmt_time, progress, table

HERE = Path(__file__).resolve().parent
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000",
              "MALLOC_TOP_PAD_": str(256 * 2**20)}
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
GRID = (2, 8, 32, 128, 512)
LIMIT = 1.3


def _cases(quick: bool):
    """(label, thunk) for every shape timed: the main job's grid and the Jacobian benchmark's."""
    import numpy as np

    import autodiff as ad
    from autodiff.comparison import FUNCTIONS

    grid = (4, 64, 512) if quick else GRID
    for name, make in FUNCTIONS.items():
        for n in grid:
            for m in grid:
                f, x = make(n, m)
                for mode in ("forward", "reverse"):
                    yield f"{name} n={n} m={m} {mode}", (lambda J=ad.jacobian(f, mode=mode), x=x: J(x))
    from bench_jacobian import hourglass, second_order_problem, two_layer_weights
    for n, m in ((10, 1000), (1000, 10), (300, 300)):
        W1, W2, x = two_layer_weights(n, m)
        f = lambda x, W1=W1, W2=W2: np.tanh(W2 @ np.tanh(W1 @ x))  # noqa: E731
        yield f"bench_jacobian n={n} m={m} auto", (lambda J=ad.jacobian(f), x=x: J(x))
    f, x = hourglass()
    yield "hourglass 300-300-300-5-300-300-300 auto", (lambda J=ad.jacobian(f), x=x: J(x))
    g, x, v = second_order_problem()
    yield "Hessian (A 200x100)", (lambda H=ad.hessian(g), x=x: H(x))
    yield "Hessian-vector product", (lambda x=x, v=v: ad.hvp(g, (x,), (v,)))


def child(quick: bool) -> None:
    """Time every case (best of interleaved short runs) and print {label: seconds} as JSON."""
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    from autodiff.comparison import measure_runs

    cases = dict(_cases(quick))
    runs = measure_runs(cases, min_time=0.002, repeat=5 if quick else 9)
    print(json.dumps({label: min(ts) for label, ts in runs.items()}))


def _spawn(tuned: bool, quick: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(BLAS_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE)])
    if tuned:
        env.update(MALLOC_ENV)
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child"] + (["--quick"] if quick else []),
                         env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"bench_heap child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> Section:
    rounds = 1 if quick else 4
    per_round: dict[str, list[dict[str, float]]] = {"default": [], "tuned": []}
    for i in range(rounds):
        for kind in ("default", "tuned"):
            progress(f"heap: {kind} heap, round {i + 1} of {rounds}")
            per_round[kind].append(_spawn(kind == "tuned", quick))
    rows, worst = [], ("", 0.0)
    for label in per_round["default"][0]:
        t_default = min(r[label] for r in per_round["default"])
        t_tuned = min(r[label] for r in per_round["tuned"])
        # each round's default child against the tuned child that ran right after it
        pairs = zip(per_round["default"], per_round["tuned"])
        paired = statistics.median(d[label] / t[label] for d, t in pairs)
        worst = max(worst, (label, paired), key=lambda item: item[1])
        rows.append([label, fmt_time(t_default), fmt_time(t_tuned), f"{t_default / t_tuned:.2f}",
                     f"{paired:.2f}", "" if paired <= LIMIT else "over 1.3x"])
    over = [r for r in rows if r[5]]
    body = (f"Default heap (what users get: `autodiff.heap.tuned` around each Jacobian, Hessian and HVP) "
            f"against a process-wide tuned heap (`MALLOC_*_` variables): {rounds} rounds, each a child "
            f"process with the default heap then one with the tuned heap, each timing every shape in "
            f"{5 if quick else 9} interleaved rounds of short runs (best run kept), BLAS on one thread. "
            f"Columns: the best time of each kind over all rounds, their ratio, and the median over rounds "
            f"of the paired ratio (default child / the tuned child right after it: a burst of load in one "
            f"child does not decide it). Target on the paired ratio: {len(rows) - len(over)} of "
            f"{len(rows)} shapes within {LIMIT}x; the worst: {worst[0]} ({worst[1]:.2f}x).\n\n"
            + table(["shape", "default heap (best)", "tuned heap (best)", "best / best",
                     "paired ratio (median)", ""], rows))
    targets = [Target(f"issue 12: default heap / tuned heap (paired, median of {rounds} rounds), worst of "
                      f"{len(rows)} shapes ({worst[0]})", worst[1], LIMIT)]
    return Section("Issue 12 — default heap against a tuned heap", body, targets)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child("--quick" in sys.argv)
    else:
        sys.path[:0] = [str(HERE.parent), str(HERE)]
        print(run("--quick" in sys.argv).body)
