"""Small helpers shared by the rule modules. Each says why it exists."""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff.core import lower, ndim_of


def batch_ndim(t: Any, x: Any) -> int:
    """Number of leading batch axes of a tangent/cotangent ``t`` for a value shaped like ``x``.

    Why: Jacobians push many directions at once on extra leading axes; rules address data axes from
    the end, and need this count only to rebuild shapes.
    """
    return ndim_of(t) - ndim_of(x)


def const_like(mask: Any, like: Any) -> np.ndarray:
    """A constant array (a mask, a count) in the dtype of ``like``.

    Why: masks from comparisons are float64 or bool; multiplying a float32 tangent by a float64 array
    would silently promote the derivative to float64.
    """
    dtype = np.result_type(lower(like))
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(np.float64)
    return np.asarray(mask, dtype=dtype)


def neg_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple) as a sorted tuple of negative axes of an ``ndim``-array.

    Why negative: with batch axes in front of tangents, axes counted from the end name the same data
    axis in the value and in its tangent.
    """
    if axis is None:
        return tuple(range(-ndim, 0))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a - ndim if a >= 0 else a)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with the (negative) ``axes`` set to 1: the shape of a reduction with keepdims."""
    n = len(shape)
    reduced = {a + n for a in axes}
    return tuple(1 if i in reduced else d for i, d in enumerate(shape))
