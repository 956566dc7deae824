"""Forward against reverse mode on a grid of Jacobian shapes: the measurements behind ``python -m autodiff``.

For f: Rⁿ → Rᵐ forward mode pushes n directions and reverse mode pulls m, so if one direction cost the
same in both modes their time ratio would follow n/m, crossing 1 at n = m (the document's rule). This
module measures both modes on a grid of (n, m), next to the plan's predicted times, records what the
rule and ``jacobian(mode="auto")`` chose and whether that was the faster mode, and says where and why
the rule fails.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from autodiff.jacobians import _fmt_bytes, jacobian, plan_jacobian

__all__ = ["Row", "two_layer", "chain", "FUNCTIONS", "measure", "measure_runs", "compare", "format_table",
           "summary", "takeaway", "plot", "TIE_BAND"]


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


TIE_BAND = 1.5
"""Modes closer than this factor are a tie: a verdict there may flip between runs on a busy machine."""


def measure(fn: Callable, min_time: float = 0.01, repeat: int = 5) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` runs of ~``min_time`` each (timeit-style)."""
    return min(measure_runs({"fn": fn}, min_time, repeat)["fn"])


def measure_runs(fns: dict, min_time: float = 0.01, repeat: int = 5) -> dict:
    """Seconds per call of each function in ``repeat`` interleaved rounds (one run of each per round).

    Interleaving gives every function the same share of a shared machine's load; each run repeats the
    call until it lasts ~``min_time``.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()
        start = time.perf_counter()
        fn()
        numbers[name] = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    runs: dict = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeat):
        # each round starts elsewhere in the list, and a slow function gets one untimed call before its
        # run: the first call after a large neighbour runs with cold caches, and should not be the one
        # timed every round
        shift = (r * len(names)) // max(repeat, 1)
        for name in names[shift:] + names[:shift]:
            fn = fns[name]
            if numbers[name] <= 2:
                fn()
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            runs[name].append((time.perf_counter() - start) / numbers[name])
    return runs


@dataclass
class Row:
    """One (function, n, m): measured and predicted times of each mode, the rule's and auto's choice."""

    function: str
    n: int
    m: int
    times: dict            # mode -> best measured seconds
    spreads: dict          # mode -> median / best - 1 over the repeats
    predicted: dict        # mode -> predicted seconds (the plan "auto" used)
    auto_mode: str
    rule_mode: str
    forward_bytes: int
    reverse_bytes: int
    reason: str = ""

    @property
    def forward_s(self) -> float:
        return self.times["forward"]

    @property
    def reverse_s(self) -> float:
        return self.times["reverse"]

    @property
    def ratio(self) -> float:
        """Forward time / reverse time: > 1 means reverse mode was faster."""
        return self.forward_s / self.reverse_s

    @property
    def predicted_ratio(self) -> float:
        return self.predicted["forward"] / self.predicted["reverse"]

    @property
    def faster(self) -> str:
        return min(self.times, key=self.times.__getitem__)

    @property
    def gap(self) -> float:
        """The runner-up's time / the fastest mode's time."""
        ts = sorted(self.times.values())
        return ts[1] / ts[0]

    @property
    def clear(self) -> bool:
        return self.gap > TIE_BAND

    @property
    def auto_was_faster(self) -> bool:
        return self.auto_mode == self.faster

    @property
    def rule_was_faster(self) -> bool:
        return self.rule_mode == self.faster

    def verdict(self, mode: str) -> str:
        if mode == self.faster:
            return "yes"
        return "MISS" if self.clear else "~tie"


def compare(sizes: Iterable[int], functions: Iterable[str] = tuple(FUNCTIONS), min_time: float = 0.01,
            repeat: int = 5, progress: Callable[[int, int, str], None] | None = None) -> list[Row]:
    """Time each mode for every (function, n, m) with n, m in ``sizes``, next to the plan's prediction.

    The modes timed are forward, reverse, and mixed where the plan considers it (f has a waist). All
    shapes are planned first, then timed together in ``repeat`` rounds (each round runs every shape and
    mode once), so a burst of load on a shared machine hits one round of every shape rather than every
    round of one shape; each figure is the best round.
    """
    cases = [(name, n, m) for name in functions for n in sizes for m in sizes]
    plans, fns = [], {}
    for i, (name, n, m) in enumerate(cases):
        if progress is not None:
            progress(i, len(cases), f"{name} n={n} m={m}")
        f, x = FUNCTIONS[name](n, m)
        plan = plan_jacobian(f, x)
        plans.append(plan)
        for mode in plan.predicted:
            fns[(i, mode)] = lambda J=jacobian(f, mode=mode), x=x: J(x)
    runs = measure_runs(fns, min_time, repeat)
    rows = []
    for i, ((name, n, m), plan) in enumerate(zip(cases, plans)):
        mine = {mode: runs[(i, mode)] for mode in plan.predicted}
        best = {mode: min(ts) for mode, ts in mine.items()}
        spreads = {mode: statistics.median(ts) / best[mode] - 1 for mode, ts in mine.items()}
        rows.append(Row(name, n, m, best, spreads, dict(plan.predicted), plan.mode, plan.rule_mode,
                        plan.memory["forward"], plan.memory["reverse"], plan.reason))
    if progress is not None:
        progress(len(cases), len(cases), "done")
    return rows


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


HEADER = ("function", "n", "m", "passes fwd/rev", "pred fwd", "pred rev", "forward", "reverse", "mixed",
          "fwd/rev", "rule", "auto", "rule ok?", "auto ok?", "mem fwd", "mem rev")


def format_table(rows: list[Row]) -> str:
    """The comparison as a plain-text table, one line per (function, n, m).

    Measured times are the best of the repeats, with the median's excess over the best in brackets
    (the spread). "ok?" says whether that choice was the fastest measured mode: "yes", "~tie" (wrong,
    but the modes are within 1.5x), or "MISS".
    """
    lines = [HEADER]
    for r in rows:
        timed = {mode: f"{_fmt_time(t)} ({r.spreads[mode]:+.0%})" for mode, t in r.times.items()}
        lines.append((r.function, str(r.n), str(r.m), f"{r.n}/{r.m}", _fmt_time(r.predicted["forward"]),
                      _fmt_time(r.predicted["reverse"]), timed["forward"], timed["reverse"],
                      timed.get("mixed", "-"), f"{r.ratio:.2f}", r.rule_mode, r.auto_mode,
                      r.verdict(r.rule_mode), r.verdict(r.auto_mode), _fmt_bytes(r.forward_bytes),
                      _fmt_bytes(r.reverse_bytes)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    left = {0, 10, 11, 12, 13}
    out = []
    for k, line in enumerate(lines):
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _where(rows: list[Row]) -> str:
    return ", ".join(f"{r.function} n={r.n} m={r.m} ({r.gap:.1f}x)" for r in rows)


def summary(rows: list[Row]) -> str:
    """One paragraph: how often auto chose the faster mode, and where it did not by more than 1.5x."""
    clear = [r for r in rows if r.clear]
    wrong = [r for r in clear if not r.auto_was_faster]
    text = (f"auto chose the faster mode on {sum(r.auto_was_faster for r in rows)} of {len(rows)} shapes, "
            f"and on {len(clear) - len(wrong)} of {len(clear)} where the modes differ by more than "
            f"{TIE_BAND:g}x.")
    if wrong:
        text += " Missed: " + _where(wrong) + "."
    return text


def _why_rule_fails(r: Row) -> str:
    """Why the rule's mode lost at one shape, from the plan's predicted fixed and per-direction costs."""
    best = r.faster
    return (f"{r.function} n={r.n} m={r.m}: {best} {_fmt_time(r.times[best])} against the rule's "
            f"{r.rule_mode} {_fmt_time(r.times[r.rule_mode])}")


def _rule_record(rows: list[Row]) -> str:
    clear = [r for r in rows if r.clear]
    far = [r for r in clear if max(r.n, r.m) >= 16 * min(r.n, r.m)]
    near = [r for r in clear if max(r.n, r.m) < 16 * min(r.n, r.m)]
    return (f"The document's rule (forward iff n < m) chose the faster mode on "
            f"{sum(r.rule_was_faster for r in rows)} of {len(rows)} shapes and on "
            f"{sum(r.rule_was_faster for r in clear)} of {len(clear)} where the modes differ by more than "
            f"{TIE_BAND:g}x: on {sum(r.rule_was_faster for r in far)} of {len(far)} such shapes where n and "
            f"m are at least 16x apart, and on {sum(r.rule_was_faster for r in near)} of {len(near)} where "
            f"they are closer.")


def _rule_failures(fails: list[Row]) -> list[str]:
    lines = ["It fails at " + "; ".join(_why_rule_fails(r) for r in fails) + "."]
    causes = [
        ([r for r in fails if "diagonal" in r.reason],
         "the identity seed stays diagonal through more operations in the mode the rule rejects, so one of "
         "its directions costs far less"),
        ([r for r in fails if "fixed cost" in r.reason],
         "the rule ignores the fixed cost of a pass (reverse mode records a tape and sweeps it), which "
         "dominates there"),
        ([r for r in fails if r.faster == "mixed"], "mixed mode beats both (a narrow waist)"),
    ]
    why = [f"at {len(sel)} of them {text}" for sel, text in causes if sel]
    if why:
        lines.append("Why (from the plans): " + "; ".join(why) + ".")
    return lines


def takeaway(rows: list[Row]) -> str:
    """What the run says about the document's rule: where it holds, where it fails, and why."""
    clear = [r for r in rows if r.clear]
    fails = [r for r in clear if not r.rule_was_faster]
    lines = [_rule_record(rows)]
    lines += _rule_failures(fails) if fails else ["It holds everywhere outside the tie band on this grid."]
    auto_misses = [r for r in clear if not r.auto_was_faster]
    lines.append("Inside the tie band the two modes cost about the same and the verdict can flip between "
                 "runs; outside it the planner's prediction (directions x cost per direction + fixed "
                 "cost) " + ("agreed with the measurement everywhere." if not auto_misses else
                             "missed at " + _where(auto_misses) + "."))
    return "\n".join(lines)


_MARKERS = {"two-layer": "o", "chain": "s"}
_COLORS = {"forward": "tab:blue", "reverse": "tab:orange", "mixed": "tab:green"}


def _mark_misses(ax, rows: list[Row]) -> None:
    """Ring auto's clear misses in red and cross the rule's in black."""
    misses = (("auto missed (> 1.5x)", [r for r in rows if r.clear and not r.auto_was_faster],
               dict(s=220, facecolors="none", edgecolors="red", linewidths=2)),
              ("rule missed (> 1.5x)", [r for r in rows if r.clear and not r.rule_was_faster],
               dict(s=140, marker="x", color="black", linewidths=1)))
    for label, sel, style in misses:
        if sel:
            ax.scatter([r.n / r.m for r in sel], [r.ratio for r in sel], label=label, **style)


def _panel_ratio(ax, rows: list[Row]) -> None:
    """Measured forward/reverse against n/m: auto's choice by colour, misses marked, the n/m line."""
    for name in dict.fromkeys(r.function for r in rows):
        for mode, color in _COLORS.items():
            pts = [r for r in rows if r.function == name and r.auto_mode == mode]
            if pts:
                ax.scatter([r.n / r.m for r in pts], [r.ratio for r in pts], marker=_MARKERS.get(name, "o"),
                           color=color, alpha=0.8, label=f"{name}, auto chose {mode}")
    _mark_misses(ax, rows)
    xs = sorted({r.n / r.m for r in rows})
    ax.plot(xs, xs, color="gray", linewidth=1, label="time ratio = n/m (equal cost per direction)")
    ax.axvline(1.0, color="gray", linestyle="--", label="n = m (the rule switches)")
    ax.axhline(1.0, color="gray", linestyle=":")
    ax.axhspan(1 / TIE_BAND, TIE_BAND, color="gray", alpha=0.12, label=f"tie band ({TIE_BAND:g}x)")
    ax.set(xscale="log", yscale="log", xlabel="n / m (inputs / outputs)",
           ylabel="time forward / time reverse", title="forward vs reverse (above 1: reverse faster)")


def _panel_prediction(ax, rows: list[Row]) -> None:
    """Measured against predicted forward/reverse ratio, with the diagonal."""
    for name in dict.fromkeys(r.function for r in rows):
        sel = [r for r in rows if r.function == name]
        ax.scatter([r.predicted_ratio for r in sel], [r.ratio for r in sel], marker=_MARKERS.get(name, "o"),
                   color="tab:purple", alpha=0.7, label=f"{name}")
    lo = min(min(r.ratio, r.predicted_ratio) for r in rows)
    hi = max(max(r.ratio, r.predicted_ratio) for r in rows)
    ax.plot([lo, hi], [lo, hi], color="gray", linewidth=1, label="measured = predicted")
    ax.axhline(1.0, color="gray", linestyle=":")
    ax.axvline(1.0, color="gray", linestyle=":")
    ax.set(xscale="log", yscale="log", xlabel="predicted forward / reverse",
           ylabel="measured forward / reverse", title="the planner's prediction against the measurement")


def _panel_per_direction(ax, rows: list[Row]) -> None:
    """Seconds per direction against the Jacobian's size: separates problem size from n/m."""
    for mode, color in (("forward", "tab:blue"), ("reverse", "tab:orange")):
        for name in dict.fromkeys(r.function for r in rows):
            sel = [r for r in rows if r.function == name]
            dirs = [r.n if mode == "forward" else r.m for r in sel]
            ax.scatter([r.n * r.m for r in sel], [r.times[mode] / d for r, d in zip(sel, dirs)],
                       marker=_MARKERS.get(name, "o"), color=color, alpha=0.7, label=f"{name}, {mode}")
    ax.set(xscale="log", yscale="log", xlabel="problem size n * m (Jacobian entries)",
           ylabel="seconds per direction", title="time per direction against size")


def plot(rows: list[Row], path: str) -> None:
    """Three panels: time ratio against n/m (misses marked, the n/m line); measured against predicted
    ratio; time per direction against problem size (separates size from n/m). Legends below the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    for ax, panel in zip(axes, (_panel_ratio, _panel_prediction, _panel_per_direction)):
        panel(ax, rows)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
