"""Forward against reverse mode on a grid of Jacobian shapes: the measurements behind ``python -m autodiff``.

For f: Rⁿ → Rᵐ forward mode pushes n directions and reverse mode pulls m, so their time ratio should
follow n/m, crossing 1 near n = m; this module measures both modes on a grid of (n, m), records what
``jacobian(mode="auto")`` chose and whether that was the faster mode, and the plan's memory estimates.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from autodiff.jacobians import _fmt_bytes, jacobian, plan_jacobian

__all__ = ["Row", "two_layer", "chain", "FUNCTIONS", "measure", "compare", "format_table", "plot"]


def two_layer(n: int, m: int, hidden: int = 64, seed: int = 0) -> tuple[Callable, np.ndarray]:
    """f(x) = tanh(W₂ tanh(W₁ x)) with a hidden width of 64, and a point x ∈ Rⁿ."""
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((hidden, n)) / np.sqrt(n)
    W2 = rng.standard_normal((m, hidden)) / np.sqrt(hidden)

    def f(x):
        return np.tanh(W2 @ np.tanh(W1 @ x))

    return f, rng.standard_normal(n)


def chain(n: int, m: int, depth: int = 6, seed: int = 0) -> tuple[Callable, np.ndarray]:
    """f(x) = g∘…∘g(A x), g(y) = sin(y) + y/2, ``depth`` times: many cheap elementwise steps in Rᵐ."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        y = A @ x
        for _ in range(depth):
            y = np.sin(y) + 0.5 * y
        return y

    return f, rng.standard_normal(n)


FUNCTIONS = {"two-layer": two_layer, "chain": chain}


def measure(fn: Callable, min_time: float = 0.01, repeat: int = 5) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` runs of ~``min_time`` each (timeit-style)."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(min_time / once))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


@dataclass
class Row:
    """One (function, n, m) of the comparison: times, the ratio, auto's choice, memory estimates."""

    function: str
    n: int
    m: int
    forward_s: float
    reverse_s: float
    auto_mode: str
    forward_bytes: int
    reverse_bytes: int

    @property
    def ratio(self) -> float:
        """Forward time / reverse time: > 1 means reverse mode was faster."""
        return self.forward_s / self.reverse_s

    @property
    def faster(self) -> str:
        return "forward" if self.forward_s < self.reverse_s else "reverse"

    @property
    def auto_was_faster(self) -> bool:
        return self.auto_mode == self.faster


def compare(sizes: Iterable[int], functions: Iterable[str] = tuple(FUNCTIONS), min_time: float = 0.01,
            repeat: int = 5, progress: Callable[[int, int, str], None] | None = None) -> list[Row]:
    """Time forward and reverse mode for every (function, n, m) with n, m in ``sizes``."""
    cases = [(name, n, m) for name in functions for n in sizes for m in sizes]
    rows = []
    for i, (name, n, m) in enumerate(cases):
        if progress is not None:
            progress(i, len(cases), f"{name} n={n} m={m}")
        f, x = FUNCTIONS[name](n, m)
        fwd, rev = jacobian(f, mode="forward"), jacobian(f, mode="reverse")
        plan = plan_jacobian(f, x)
        rows.append(Row(name, n, m, measure(lambda: fwd(x), min_time, repeat),  # noqa: B023
                        measure(lambda: rev(x), min_time, repeat),  # noqa: B023
                        plan.mode, plan.memory["forward"], plan.memory["reverse"]))
    if progress is not None:
        progress(len(cases), len(cases), "done")
    return rows


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def format_table(rows: list[Row]) -> str:
    """The comparison as a plain-text table, one line per (function, n, m)."""
    head = ("function", "n", "m", "forward", "reverse", "fwd/rev", "auto", "auto faster?", "mem fwd",
            "mem rev")
    lines = [head]
    for r in rows:
        ok = "yes" if r.auto_was_faster else ("~tie" if 1 / 1.5 < r.ratio < 1.5 else "NO")
        lines.append((r.function, str(r.n), str(r.m), _fmt_time(r.forward_s), _fmt_time(r.reverse_s),
                      f"{r.ratio:.2f}", r.auto_mode, ok, _fmt_bytes(r.forward_bytes),
                      _fmt_bytes(r.reverse_bytes)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for k, line in enumerate(lines):
        cells = [c.ljust(w) if i in (0, 6, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def summary(rows: list[Row]) -> str:
    """One paragraph: how often auto chose the faster mode, and where it did not by more than 1.5x."""
    clear = [r for r in rows if not 1 / 1.5 < r.ratio < 1.5]
    wrong = [r for r in clear if not r.auto_was_faster]
    text = (f"auto chose the faster mode on {sum(r.auto_was_faster for r in rows)} of {len(rows)} shapes, "
            f"and on {len(clear) - len(wrong)} of the {len(clear)} where the modes differ by more than 1.5x.")
    if wrong:
        text += " Missed: " + ", ".join(f"{r.function} n={r.n} m={r.m} ({r.ratio:.2f})" for r in wrong) + "."
    return text


def plot(rows: list[Row], path: str) -> None:
    """Save the time ratio (forward / reverse) against n/m on log axes, with the n = m line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    markers = {"two-layer": "o", "chain": "s"}
    for name in dict.fromkeys(r.function for r in rows):
        sel = [r for r in rows if r.function == name]
        for mode, color in (("forward", "tab:blue"), ("reverse", "tab:orange")):
            pts = [r for r in sel if r.auto_mode == mode]
            if pts:
                ax.scatter([r.n / r.m for r in pts], [r.ratio for r in pts], marker=markers.get(name, "o"),
                           color=color, alpha=0.8, label=f"{name}, auto chose {mode}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(1.0, color="gray", linestyle="--", label="n = m")
    ax.axhline(1.0, color="gray", linestyle=":")
    ax.set_xlabel("n / m (inputs / outputs)")
    ax.set_ylabel("time forward / time reverse")
    ax.set_title("Jacobian: forward vs reverse mode\n(above 1: reverse is faster)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
