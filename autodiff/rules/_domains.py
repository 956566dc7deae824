"""Test domains: where the test-suite samples each primitive's inputs.

Each primitive declares, next to its rules, a sampler ``rng -> Sample`` (``autodiff.core.defdomain``).
The registry-driven property tests call it with a NumPy Generator seeded by Hypothesis, so every
registered primitive is checked on scalars, vectors, matrices and broadcasting without hand-written tests.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from autodiff.core import Sample

# Shapes the elementwise samplers pick from: scalar, vector, matrix, and pairs that broadcast.
_SHAPES = [(), (3,), (2, 3)]
_BROADCAST_PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((3,), ()),
                    ((2, 1), (1, 3)), ((), (2, 3))]


def uniform(rng: np.random.Generator, shape: tuple, low: float, high: float) -> np.ndarray:
    """Floats uniform in [low, high], as a float64 array of ``shape``."""
    return rng.uniform(low, high, size=shape)


def away_from(rng: np.random.Generator, shape: tuple, low: float, high: float, points=(0.0,),
              gap: float = 0.1) -> np.ndarray:
    """Uniform in [low, high], nudged at least ``gap`` away from ``points`` (kinks, poles)."""
    x = uniform(rng, shape, low, high)
    for p in points:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.where(x >= p, gap, -gap) * 1.5, x)
    return x


def unary(low: float = -2.0, high: float = 2.0, avoid: tuple = (), **params) -> Callable:
    """Sampler for a one-argument elementwise primitive on [low, high], avoiding points ``avoid``."""
    def sample(rng: np.random.Generator) -> Sample:
        shape = _SHAPES[rng.integers(len(_SHAPES))]
        x = away_from(rng, shape, low, high, avoid) if avoid else uniform(rng, shape, low, high)
        return Sample((x,), params)
    return sample


def binary(low: float = -2.0, high: float = 2.0, low2: float | None = None, high2: float | None = None,
           avoid: tuple = (), avoid2: tuple = (), distinct: bool = False, **params) -> Callable:
    """Sampler for a two-argument elementwise primitive, over shapes that broadcast against each other.

    ``distinct`` keeps the two arguments apart (for max/min, whose derivative jumps where they meet).
    """
    low2 = low if low2 is None else low2
    high2 = high if high2 is None else high2

    pairs = [p for p in _BROADCAST_PAIRS if not distinct or np.broadcast_shapes(*p) == p[0]]

    def sample(rng: np.random.Generator) -> Sample:
        sx, sy = pairs[rng.integers(len(pairs))]
        if rng.integers(2) and not distinct:
            sx, sy = sy, sx
        x = away_from(rng, sx, low, high, avoid) if avoid else uniform(rng, sx, low, high)
        y = away_from(rng, sy, low2, high2, avoid2) if avoid2 else uniform(rng, sy, low2, high2)
        if distinct:  # x has the full shape here: move it away from y where they nearly meet
            x = np.where(np.abs(x - y) < 0.2, y + 0.5, x)
        return Sample((x, y), params)
    return sample


def array(shape_choices: list, low: float = -2.0, high: float = 2.0, params: Callable | dict | None = None,
          distinct: bool = False) -> Callable:
    """Sampler for a one-array primitive: a shape from ``shape_choices`` and params (a dict, or a
    function ``(rng, shape) -> dict``). ``distinct`` spreads values apart (for max, sort: no ties)."""
    def sample(rng: np.random.Generator) -> Sample:
        shape = shape_choices[rng.integers(len(shape_choices))]
        if distinct:
            size = int(np.prod(shape, dtype=int))
            x = (rng.permutation(size) * 0.37 + rng.uniform(-0.05, 0.05, size) + low).reshape(shape)
        else:
            x = uniform(rng, shape, low, high)
        p = params(rng, shape) if callable(params) else dict(params or {})
        return Sample((x,), p)
    return sample
