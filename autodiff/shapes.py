"""Shape helpers shared by both modes, for tangents and cotangents that carry leading batch axes.

A batch of b directions is carried as one array of shape ``(b,) + x.shape`` ("batch axes first"), so a
Jacobian is one pass, not a loop. Rules work on the trailing axes; these helpers do the bookkeeping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff.core import ndim_of, shape_of
from autodiff.structured import MIN_SIZE, IndexedCotangent, diagonal_matrix

# IndexedCotangent lives in autodiff/structured.py with the other structured forms; re-exported here.
__all__ = ["unbroadcast", "align_tangent", "fit_tangent", "IndexedCotangent", "basis_rows"]


def unbroadcast(g: Any, shape: tuple[int, ...], nb: int) -> Any:
    """Sum the cotangent ``g`` (batch axes ``nb`` first) down to ``batch + shape``.

    Why summing is right: broadcasting copies a value to many places, so the derivative with respect
    to the value is the sum of the derivatives with respect to its copies.
    """
    gshape = shape_of(g)
    if gshape[nb:] == tuple(shape):
        return g
    extra = len(gshape) - nb - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(nb, nb + extra)))
        gshape = shape_of(g)
    elif extra < 0:
        # g is smaller than the value (a rule returned something still to be broadcast): expand it.
        return np.broadcast_to(g, gshape[:nb] + tuple(shape))
    axes = tuple(nb + i for i, (gd, d) in enumerate(zip(gshape[nb:], shape)) if d == 1 and gd != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if shape_of(g)[nb:] != tuple(shape):
        g = np.broadcast_to(g, shape_of(g)[:nb] + tuple(shape))
    return g


def align_tangent(t: Any, x: Any, ans: Any) -> Any:
    """Reshape tangent ``t`` of argument ``x`` so that it broadcasts against the output ``ans``.

    With batch axes in front, a tangent of a lower-rank argument must get singleton axes between the
    batch axes and its own, or NumPy would align its batch axis with the output's data axes.
    """
    xnd, and_ = ndim_of(x), ndim_of(ans)
    if xnd >= and_:
        return t
    tshape = shape_of(t)
    nb = len(tshape) - xnd
    if nb == 0:
        return t
    return np.reshape(t, tshape[:nb] + (1,) * (and_ - xnd) + tshape[nb:])


def fit_tangent(t: Any, ans: Any, nb: int) -> Any:
    """Broadcast an output tangent to ``batch + ans.shape`` (it may be smaller after broadcasting)."""
    want = shape_of(ans)
    tshape = shape_of(t)
    if tshape[nb:] == want and len(tshape) == nb + len(want):
        return t
    return np.broadcast_to(t, tshape[:nb] + want)


def basis_rows(leaves: list[tuple[tuple, Any]], start: int, stop: int) -> list[np.ndarray]:
    """Rows ``start..stop`` of the identity on the concatenated leaves, split by leaf.

    ``leaves`` lists ``(shape, dtype)``; leaf j gets shape ``(stop - start,) + shape_j``. These are the
    directions a Jacobian pushes (forward) or pulls (reverse) in one batched pass.
    """
    k = stop - start
    out, offset = [], 0
    for shape, dtype in leaves:
        size = int(np.prod(shape, dtype=int))
        if len(shape) == 1 and start == offset and k == size >= MIN_SIZE:
            # the whole identity of a vector input: registered as diagonal so that the first operations
            # can keep it structured (autodiff/structured.py) instead of multiplying by it
            out.append(diagonal_matrix(np.ones(size, dtype=dtype)))
            offset += size
            continue
        block = np.zeros((k, size), dtype=dtype)
        lo, hi = max(start, offset), min(stop, offset + size)
        if lo < hi:
            block[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1
        out.append(block.reshape((k,) + tuple(shape)))
        offset += size
    return out
