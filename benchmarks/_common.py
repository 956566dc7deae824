"""Shared pieces of the benchmarks: timing (median of repeated runs), peak memory, tables, targets."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Settings:
    """How long to time each case: ``min_time`` seconds per run, ``repeat`` runs, median taken."""

    min_time: float = 0.05
    repeat: int = 9

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        return cls(0.003, 3) if quick else cls()


def median_time(fn: Callable[[], object], s: Settings) -> float:
    """Median seconds per call of ``fn``: ``s.repeat`` runs of enough calls to last ``s.min_time``."""
    fn()  # warm-up (caches, jit compilation) outside the measurement
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(s.min_time / once))
    times = []
    for _ in range(s.repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


@dataclass
class Timing:
    """One function's figures from :func:`time_together_stats` (seconds per call; ratios to the base)."""

    median: float
    best: float
    ratio: float          # median over rounds of the per-round ratio to the base
    ratio_lo: float       # smallest and largest per-round ratio: the spread
    ratio_hi: float

    @property
    def spread(self) -> float:
        """How much the median run exceeds the best one (0.05 = 5 %)."""
        return self.median / self.best - 1


def time_together_stats(fns: dict[str, Callable[[], object]], s: Settings, base: str) -> dict[str, Timing]:
    """Time several functions round-robin and return each one's :class:`Timing`.

    Each round times every function once (``s.min_time`` worth of calls), so a function and its baseline
    see the same load on a shared machine; the ratio is the median over rounds of the per-round ratio.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()  # warm-up (caches, jit compilation)
        start = time.perf_counter()
        fn()
        numbers[name] = max(1, int(s.min_time / max(time.perf_counter() - start, 1e-7)))
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(s.repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            rounds[name].append((time.perf_counter() - start) / numbers[name])
    out = {}
    for name, ts in rounds.items():
        ratios = [t / b for t, b in zip(ts, rounds[base])]
        out[name] = Timing(statistics.median(ts), min(ts), statistics.median(ratios), min(ratios),
                           max(ratios))
    return out


def time_together(fns: dict[str, Callable[[], object]], s: Settings, base: str) -> dict[str, tuple]:
    """``{name: (median seconds per call, median ratio to base)}`` from :func:`time_together_stats`."""
    return {name: (t.median, t.ratio) for name, t in time_together_stats(fns, s, base).items()}


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated while ``fn()`` runs, beyond those allocated when it starts (tracemalloc)."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del result
    return peak


def mib(b: float) -> str:
    return f"{b / 2**20:.1f} MiB"


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Target:
    """A speed target: ``value`` must be <= ``limit`` (``what`` says of what)."""

    what: str
    value: float
    limit: float
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    def row(self) -> list[str]:
        if self.limit <= 0:  # a yes/no target: value 0 means yes
            return [self.what, "yes" if self.met else "no", "yes", "met" if self.met else "missed"]
        verdict = "met" if self.met else f"missed by {self.value / self.limit:.2f}x"
        return [self.what, f"{self.value:.2f}{self.unit}", f"<= {self.limit:.3g}{self.unit}", verdict]


@dataclass
class Section:
    """One benchmark's output: a title, Markdown body, and its targets."""

    title: str
    body: str
    targets: list[Target] = field(default_factory=list)


def progress(msg: str) -> None:
    print(f"  ... {msg}", flush=True)
