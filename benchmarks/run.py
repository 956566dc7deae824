"""Run every benchmark side by side with its peers and write the figures into benchmarks/README.md.

    python benchmarks/run.py            # full run (a few minutes), rewrites benchmarks/README.md
    python benchmarks/run.py --quick    # smoke run: short timings, prints only (unless --write)

It runs with glibc's default heap, as users do (autodiff tunes the heap around its own Jacobians,
Hessians and HVPs: autodiff/heap.py); --tuned-heap re-executes it with heap settings that keep freed
memory for the whole process (MALLOC_ENV), for comparison. BLAS is pinned to one thread (the process
re-executes itself once with OPENBLAS_NUM_THREADS=1 and friends set, before NumPy loads).

Needs the `bench` extra: ``pip install -e ".[bench]"`` (autograd, jax[cpu], matplotlib).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import bench_core  # noqa: E402
import bench_heap  # noqa: E402
import bench_jacobian  # noqa: E402
import bench_odeint  # noqa: E402
import bench_rosenbrock  # noqa: E402
import bench_sparse  # noqa: E402
import numpy as np  # noqa: E402
from _common import table  # noqa: E402

BENCHMARKS = {"core": bench_core, "rosenbrock": bench_rosenbrock, "jacobian": bench_jacobian,
              "odeint": bench_odeint, "sparse": bench_sparse, "heap": bench_heap}

# glibc gives freed memory at the top of the heap back to the OS (and large blocks come from fresh mmaps),
# so a call that keeps intermediates alive and frees them at the end page-faults all of them in again on
# the next call. autodiff tunes the heap around its own transformations (autodiff/heap.py); the peers and
# the plain NumPy baselines get glibc's defaults, as users do. --tuned-heap runs everything with a heap
# that keeps its memory for the whole process (what the figures of earlier rounds used).
MALLOC_ENV = bench_heap.MALLOC_ENV
BLAS_ENV = bench_heap.BLAS_ENV

INTRO = """# Benchmarks

Side-by-side timings of autodiff against HIPS autograd, JAX (eager and `jit`) and hand-written NumPy.
These are not tests: nothing here asserts a time. Every case first checks that all peers give the same
derivative, then times each with the median of repeated runs (timeit-style: each run repeats the call
until it lasts ~50 ms; 9 runs). Ratios are derivative time / function time, so they do not depend much
on the machine; absolute times do. Each derivative is timed round-robin with its baseline (one run of
each per round; the ratio is the median of the per-round ratios), so both see the same load on a
shared machine.

The run uses glibc's default heap, as users do: autodiff tunes the heap only around its own
Jacobians, Hessians and HVPs (`autodiff/heap.py`: large blocks from the heap and freed memory kept, up to
256 MiB between calls); the peers and the plain NumPy baselines get the defaults. With the defaults,
every call that keeps large intermediates alive page-faults them in afresh, which on this VM can cost
more than the arithmetic. `--tuned-heap` runs everything with a process-wide tuned heap
(`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TOP_PAD_`), what earlier rounds reported;
the heap section below compares the two for every shape. BLAS is pinned to one thread (the run
re-executes itself with `OPENBLAS_NUM_THREADS=1` and friends). The machine is shared with other jobs:
our figures are the median ratio over rounds with its range, and the best time.

Run everything (a few minutes) and rewrite the figures below:

```bash
pip install -e ".[bench]"
python benchmarks/run.py            # or --quick for a smoke run (prints only), --only jacobian, --tuned-heap
```

Files: `bench_core.py` (issue 2: per-operation overhead, MLP gradient and its memory),
`bench_rosenbrock.py` (issue 4), `bench_jacobian.py` (issues 5 and 12: Jacobians in both modes, Hessian,
HVP, whether `jacobian(mode="auto")` picks the faster mode, the hourglass in mixed mode), `bench_heap.py`
(issue 12: default heap against a tuned heap on every shape of the main job's grid and of
`bench_jacobian`), `bench_sparse.py` (issue 14: sparse Jacobians
and Hessians from colorings, against SciPy's grouped finite differences and asdex), `bench_odeint.py`
(issue 13: odeint's adjoint and forward sensitivities against autograd's), `bench_distributed.py` (issue 15,
run on its own: a heavy Jacobian on 2 workers), `_common.py` (timing, tracemalloc, tables).
"""


NOTES = """## Where the time goes (targets missed or close to their limit)

- **Rosenbrock, n = 100,000** (missed): f is cheap because NumPy reuses its temporaries in place; reverse
  mode keeps the intermediates its backward pass needs, and the sweep makes about 8 full-array passes
  (~20-30 µs each) on top of ~100 µs of Python work (recording and sweeping ~12 operations). Already done: a
  total's cotangent stays a broadcast scalar through scaling (`100 * u` costs nothing, `x ** 2` pulls back
  in one pass), `x ** 2` no longer keeps its output, the two slices' cotangents are summed in one pass into
  a buffer zeroed only outside them, rules multiply into their own scratch arrays. What is left would need
  writing into incoming cotangents in place (the sweep would have to prove nothing else holds them) or
  fusing operations. The row "floor of an unfused tape" runs exactly the NumPy operations a per-operation
  reverse mode must run, with every trick above and no bookkeeping at all: it measured 2.15-2.4x in earlier
  rounds' runs, 2.9-3.1x in the last round's and 2.51x and 2.75x in this round's full runs (the same NumPy
  code: the VM's memory bandwidth moves), so the 2x target needs fusion (a compiler such as XLA), not a
  faster tape.
- **MLP** (missed): the same GEMMs in the same order as the hand-written backprop, which itself measured
  2.26-2.28x in an earlier round's runs, 2.8-3.0x in the last round's and 2.81x and 2.78x in this round's
  full runs (ours 2.91x and 2.89x), within 5% of ours; the remaining gap is the recorded forward pass (NumPy
  cannot reuse the temporaries of `X @ W + b` in place when a tape holds them) and the small log-softmax
  operations.
- **Hessian-vector product** (limit 15x; met in this round's two full runs, 14.3x with rounds 14.1-15.2 at
  64702c6 and 14.1x with rounds 13.9-16.2 at 3c45f24, missed in most earlier runs): the cost is fixed Python
  work per call, not arithmetic. The floor is ~4x g: an HVP runs ~32 NumPy calls (values and tangents
  forward, the cotangents and their tangents backward, three more matrix-vector products) against g's 9. JAX
  eager takes ~40x, autograd 41-53x. Instructions per HVP (callgrind, BLAS on one thread): 1.148M three
  rounds ago, 1.076M after the cuts two rounds ago, 1.005M after the last round's (1.011M with two of the
  inlined calls taken back for simpler code, and `f(x)`'s shortcut moved into `select_args`), 0.956M after
  this round's: `hvp(f, (x,), (v,))` on one real array runs the forward pass over the gradient's recording
  and sweep directly, without `jvp`'s and `grad`'s handling of argument structures (-24k instructions);
  trace scopes read the thread-local state once (-4k); `object.__new__` looked up once (-7k); and the reads
  Python 3.11 does not specialize gone from the hot paths (`np.ndarray`: NumPy's module has a `__getattr__`;
  a class attribute read through the trace; `prim.impl(...)`, a method call on a slot), with a copy of the
  trace skeleton per transformation so that an HVP's two traces do not evict each other's cached reads (-21k
  together, the copy alone -11k). The last round's cuts: the collector's pause taken once per thread instead
  of once per block (trace scopes hold it, so an HVP's inner gradient and its sweep pay a per-thread check
  instead of a lock and four threshold calls: -10k); `jvp` of one array and gradients of f(x) without
  flattening or argument selection (-30k); `x ** 2`'s pullback on a traced base as one traced operation
  instead of two (-11k); `np.sum(x)` of a traced x binding its total directly (-7k); elementwise partials of
  fixed arity getting rules without `**params` (-4k). In `bench_versions.py aca4096` the HVP's best time
  went from 317 to 280 µs (new/old 0.932, g unchanged at 1.00). The ratio itself swings more than that
  between runs of unchanged code: g took 11-18 µs and the HVP 200-310 µs from run to run: five `--only
  jacobian` runs last round read 18.6x, 14.8x, 17.8x (before its last two cuts), then 15.2x and 16.7x; this
  round, 17.0x and 15.6x before its first cut, then 14.9x and 17.3x. Garbage collection costs nothing here
  (no collection in 1,000 HVPs: everything is freed by reference counting). What is left is spread over ~330
  Python calls per HVP (the trace skeleton, `Trace.process`, the largest, runs 16% of its bytecodes): the
  interpreter runs ~75% of its instructions, NumPy ~14%, OpenBLAS ~7%. Letting the outer trace of an HVP
  call the inner one's rule step directly, skipping the inner dispatch in the forward pass (tried), saved
  only 1.2% of an HVP and cost 1.5% of a plain `grad` or `jvp`, so it was not kept: the cost is in what each
  level does (objects made, attributes read on NumPy's C types, NumPy's ufunc dispatch), not in the number
  of levels. Meeting 15x reliably on this VM would take fewer objects per operation, not shorter paths.
- **Jacobian n = m = 300** (met: 41.9x and 51.1x in this round's full runs; 42-59x in the last round's five
  runs of the same code, 50.7x and 57.3x in the round before, 60-62x in the one before that): a Jacobian's
  identity seed is kept as a known diagonal through elementwise operations, and a matrix product with it is
  a row scaling (`autodiff/structured.py`), so the pass runs one 300 × 64 × 300 GEMM instead of two; f
  itself takes only ~7-12 µs, so the ratio moves with the machine's speed more than most (in the last
  round's full run `jacobian`'s rounds ranged 42-81x, in this round's 41-44x and 49-52x). Forward mode is
  1.2-1.8x slower here: its tangents are the Jacobian's columns and the C-ordered result is a transposing
  copy (67 µs for 300 × 300, against 24 µs for a plain copy). The planner predicted the two modes within 1%
  and one run's auto took forward; it now prices that copy (`CostModel.transpose`, measured) and predicts
  forward 1.12-1.2x slower, so auto takes reverse.
- **Default heap against a tuned heap**: `autodiff.heap.tuned` (around `jacobian`, `hessian`,
  `plan_jacobian`) keeps freed memory between calls, which removes the page faults that made medium
  Jacobians 2-4x slower with glibc's defaults. The remaining gap on small shapes (~10-20 %) is the fixed
  cost of the setting itself (two `mallopt` calls and a lock); this round's first full run read its worst
  paired ratio, 1.30x (the limit), at the 60 µs two-layer n = 2, m = 2 forward Jacobian, whose best times
  differ by 1.12x, and its second 1.11x (the last round's worst was 1.10x); on the largest, memory-bound
  shapes (chain 512 × 512) the figures swing between runs by more than the gap, in both directions. `jacfwd`
  and `jacrev` tune it too (called directly in a fresh process, `jacrev` of the 512 × 512 chain took 6.95 ms
  untuned and 2.72 ms tuned, best of 9); `grad`, `vjp` and `jvp` (one direction) do not, so the MLP and
  Rosenbrock rows above use glibc's defaults, as their peers do.
- Figures move by up to ~2x between runs when the machine is busy (see the load average above): ratios are
  medians of per-round ratios, which cancels most but not all of it.
"""


def machine() -> str:
    import autograd  # noqa: F401
    import jax

    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True,
                             text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    return (f"commit {rev}; Python {platform.python_version()}, NumPy {np.__version__}, "
            f"JAX {jax.__version__}, "
            f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load} at the start; "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings; prints, does not write")
    parser.add_argument("--write", action="store_true", help="write README.md even with --quick")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only these benchmarks (repeatable); does not write README.md")
    parser.add_argument("--output", default=str(HERE / "README.md"), help="where to write the figures")
    parser.add_argument("--tuned-heap", action="store_true",
                        help="tune glibc's heap for the whole process (MALLOC_ENV in run.py), for comparison")
    args = parser.parse_args(argv)

    want = dict(BLAS_ENV, **(MALLOC_ENV if args.tuned_heap else {}))
    if argv is None and any(os.environ.get(k) != v for k, v in want.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **want})

    malloc = ", ".join(f"{k}={os.environ[k]}" for k in MALLOC_ENV if k in os.environ) or \
        "glibc defaults (autodiff.heap.tuned around autodiff's transformations)"
    blas = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in BLAS_ENV)
    env = machine() + "; heap: " + malloc + "; BLAS threads: " + blas
    print(env)
    start = time.perf_counter()
    sections = []
    for name in args.only or BENCHMARKS:
        print(f"[{name}]", flush=True)
        section = BENCHMARKS[name].run(quick=args.quick)
        sections.append(section)
        print(f"\n## {section.title}\n\n{section.body}\n", flush=True)
    targets = [t for s in sections for t in s.targets]
    summary = table(["target", "ours", "limit", "verdict"], [t.row() for t in targets])
    print("## Targets\n\n" + summary)
    elapsed = time.perf_counter() - start
    print(f"\n({elapsed:.0f} s)")

    if (not args.quick or args.write) and not args.only:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts = [INTRO, f"## Latest figures\n\nFrom one run of `python benchmarks/run.py"
                        f"{' --quick' if args.quick else ''}` on {stamp} ({elapsed:.0f} s). {env}.\n",
                 "### Targets\n\n" + summary + "\n"]
        parts += [f"### {s.title}\n\n{s.body}\n" for s in sections]
        parts.append(NOTES)
        Path(args.output).write_text("\n".join(parts))
        print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
