"""``python -m autodiff``: forward against reverse mode on a grid of Jacobian shapes.

Prints a table (per shape: the passes n vs m, each mode's predicted and measured time with its spread,
the document's rule's choice and ``jacobian(mode="auto")``'s, and whether each was the faster mode),
the summary line, and a takeaway computed from the run; writes the plot ``mode-comparison.png``.
BLAS runs on one thread while it measures: with threadpoolctl if installed, otherwise the process
re-executes itself once with ``OPENBLAS_NUM_THREADS=1`` (and the OMP/MKL equivalents) set before NumPy
loads. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from autodiff.comparison import FUNCTIONS, TIE_BAND, compare, format_table, plot, summary, takeaway

_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_REEXEC_FLAG = "AUTODIFF_MAIN_REEXEC"

DEFAULT_SIZES = (2, 8, 32, 128, 512)
QUICK_SIZES = (4, 32, 256)


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid takes comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--grid needs at least one positive size")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autodiff",
        description="Compare forward and reverse mode Jacobians on a grid of (n inputs, m outputs) "
                    "for a two-layer network and a chain of elementwise steps, and check the mode "
                    "autodiff.jacobian(mode='auto') picks.")
    parser.add_argument("--grid", type=_parse_sizes, default=None, metavar="SIZES",
                        help="comma-separated sizes used for both n and m "
                             f"(default {','.join(map(str, DEFAULT_SIZES))}; "
                             f"--quick: {','.join(map(str, QUICK_SIZES))})")
    parser.add_argument("--output", "-o", default="mode-comparison.png", metavar="PATH",
                        help="where to write the plot (default: mode-comparison.png)")
    parser.add_argument("--quick", action="store_true",
                        help="a small grid and short timings (a few seconds; for smoke tests)")
    parser.add_argument("--functions", default=",".join(FUNCTIONS), metavar="NAMES",
                        help=f"which functions to run (default: {','.join(FUNCTIONS)})")
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    names = [s.strip() for s in args.functions.split(",") if s.strip()]
    unknown = [s for s in names if s not in FUNCTIONS]
    if unknown:
        parser.error(f"unknown function(s) {unknown}; choose from {list(FUNCTIONS)}")
    sizes = args.grid or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    # many short runs, best of them: on a shared machine a short run often finds a quiet moment
    min_time, repeat = (0.001, 5) if args.quick else (0.002, 15)
    pin, how = _pin_blas(argv)

    start = time.perf_counter()

    live = sys.stderr.isatty()  # a terminal gets one line rewritten in place; a log gets one line each

    def progress(i: int, total: int, what: str) -> None:
        line = f"[{i}/{total}] {what:<40} {time.perf_counter() - start:5.1f} s"
        if live:
            print("\r" + line, end="\n" if i == total else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    print(f"BLAS pinned to one thread ({how}); each time is the best of {repeat} rounds (a round runs every "
          f"shape and mode once) of "
          f"~{min_time * 1e3:.0f} ms, with the median's excess over it (the spread) in brackets; "
          f"modes within {TIE_BAND:g}x of each other are a tie.")
    with pin:
        rows = compare(sizes, names, min_time=min_time, repeat=repeat, progress=progress)
    print(format_table(rows))
    print()
    print(summary(rows))
    print()
    print(takeaway(rows))
    if not args.no_plot:
        try:
            plot(rows, args.output)
        except ImportError:
            print("matplotlib is not installed, so no plot was written; install it with "
                  "`pip install matplotlib` (or `pip install -e .[bench]`).", file=sys.stderr)
        else:
            print(f"plot written to {args.output}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


def _pin_blas(argv: list[str] | None) -> tuple:
    """A context that keeps BLAS on one thread, and how: threadpoolctl, or the environment.

    Without threadpoolctl the limit must be set before NumPy loads its BLAS, which ``import autodiff``
    has already done by now: so the process re-executes itself once with the variables set.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        return threadpool_limits(limits=1, user_api="blas"), "threadpoolctl"
    if all(os.environ.get(k) == "1" for k in _BLAS_ENV):
        again = " (the process re-executed itself)" if os.environ.get(_REEXEC_FLAG) else ""
        return contextlib.nullcontext(), f"{', '.join(k + '=1' for k in _BLAS_ENV)}{again}"
    if argv is None and not os.environ.get(_REEXEC_FLAG):
        env = {**os.environ, **{k: "1" for k in _BLAS_ENV}, _REEXEC_FLAG: "1"}
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "autodiff", *sys.argv[1:]], env)
    return contextlib.nullcontext(), "NOT pinned: install threadpoolctl or set OPENBLAS_NUM_THREADS=1"


if __name__ == "__main__":
    sys.exit(main())
