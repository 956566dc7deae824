"""Counters of the work transformations do: primal evaluations, JVP directions, VJP directions.

They let notebooks and tests see that a Jacobian is one pass per chunk, not a loop per direction.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Counts", "counting", "record_forward_pass", "record_backward_pass"]


@dataclass
class Counts:
    """What transformations performed while counting.

    ``forward_passes``: evaluations of the function under forward mode (each pushes ``jvp_directions``
    tangent directions in total); ``recorded_passes``: evaluations recorded on a tape;
    ``backward_passes``: backward sweeps (pulling ``vjp_directions`` cotangent directions in total).
    """

    forward_passes: int = 0
    jvp_directions: int = 0
    recorded_passes: int = 0
    backward_passes: int = 0
    vjp_directions: int = 0

    @property
    def primal_evaluations(self) -> int:
        """Evaluations of the user's function, in either mode."""
        return self.forward_passes + self.recorded_passes


class _Local(threading.local):
    def __init__(self) -> None:
        self.active: list[Counts] = []


_local = _Local()


@contextmanager
def counting():
    """Count the passes made inside the block: ``with counting() as c: ...; c.jvp_directions``."""
    counts = Counts()
    _local.active.append(counts)
    try:
        yield counts
    finally:
        _local.active.remove(counts)


def record_forward_pass(directions: int) -> None:
    """Note one forward-mode evaluation pushing ``directions`` tangent directions."""
    for c in _local.active:
        c.forward_passes += 1
        c.jvp_directions += directions


def record_tape_pass() -> None:
    """Note one evaluation recorded on a tape."""
    for c in _local.active:
        c.recorded_passes += 1


def record_backward_pass(directions: int) -> None:
    """Note one backward sweep pulling ``directions`` cotangent directions."""
    for c in _local.active:
        c.backward_passes += 1
        c.vjp_directions += directions
