"""``python -m autodiff``: forward against reverse mode on a grid of Jacobian shapes.

Prints a table (n, m, forward time, reverse time, their ratio, the mode ``jacobian(mode="auto")``
chose, whether it was the faster one, each mode's memory from ``plan_jacobian``) and writes the plot
``mode-comparison.png`` (time ratio against n/m). ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
import time

from autodiff.comparison import FUNCTIONS, compare, format_table, plot, summary

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
    min_time, repeat = (0.002, 3) if args.quick else (0.01, 5)

    start = time.perf_counter()

    live = sys.stderr.isatty()  # a terminal gets one line rewritten in place; a log gets one line each

    def progress(i: int, total: int, what: str) -> None:
        line = f"[{i}/{total}] {what:<40} {time.perf_counter() - start:5.1f} s"
        if live:
            print("\r" + line, end="\n" if i == total else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    rows = compare(sizes, names, min_time=min_time, repeat=repeat, progress=progress)
    print(format_table(rows))
    print()
    print(summary(rows))
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


if __name__ == "__main__":
    sys.exit(main())
