"""Shape helpers shared by both modes, for tangents and cotangents that carry leading batch axes.

A batch of b directions is carried as one array of shape ``(b,) + x.shape`` ("batch axes first"), so a
Jacobian is one pass, not a loop. Rules work on the trailing axes; these helpers do the bookkeeping.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autodiff.core import ndim_of, shape_of
from autodiff.diagonal import MIN_SIZE, diagonal_matrix

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


class IndexedCotangent:
    """A cotangent that is zero except at a basic ``index``: ``values`` there, in an array of ``shape``.

    Why: the cotangent of ``x[1:]`` is mostly zeros. Handing the backward sweep the slice and its values
    (instead of a materialised array) lets it add several slices of one array into a single buffer —
    the difference between 2x and 7x for a slicing-heavy gradient such as Rosenbrock's. Only plain
    NumPy values travel this way; traced ones (higher-order derivatives) are always materialised by the
    rule itself, so differentiability is never lost.
    """

    __slots__ = ("shape", "dtype", "index", "values")

    def __init__(self, shape: tuple, dtype: Any, index: tuple, values: np.ndarray) -> None:
        self.shape = shape
        self.dtype = dtype
        self.index = index
        self.values = values

    def materialize(self) -> np.ndarray:
        """The dense cotangent: zeros with ``values`` written at ``index``."""
        out = _zeros_outside(self.shape, self.dtype, self.index)
        out[self.index] = self.values
        return out

    def add_into(self, buffer: np.ndarray) -> np.ndarray:
        """Add this cotangent into ``buffer`` in place (a basic index never repeats an entry)."""
        buffer[self.index] += self.values
        return buffer

    def plus(self, other: IndexedCotangent) -> np.ndarray | None:
        """``self + other`` as a fresh dense array, in one pass over memory, or None if not handled here.

        Why: two shifted slices of one array (``x[1:]`` and ``x[:-1]`` in a stencil) would otherwise
        cost a pass to write the first and a read-modify-write pass to add the second. Handled: both
        indices are boxes of step-1 slices, with the same shape and dtype, that differ along at most
        one axis; each entry is then written once — the sum where the boxes overlap, one value where
        only one box covers it, 0 elsewhere. Small arrays are left to the general path, which has less
        Python overhead.
        """
        if self.shape != other.shape or self.dtype != other.dtype:
            return None
        if math.prod(self.shape) < _PIECEWISE_ZEROS_MIN:
            return None
        a, b = _box(self), _box(other)
        if a is None or b is None:
            return None
        differ = [k for k, (ra, rb) in enumerate(zip(a, b)) if ra != rb]
        if len(differ) > 1:
            return None
        k = differ[0] if differ else 0
        (s1, e1), (s2, e2) = a[k], b[k]
        hull = [slice(lo, hi) for lo, hi in a]
        hull[k] = slice(min(s1, s2), max(e1, e2))
        out = _zeros_outside(self.shape, self.dtype, tuple(hull))
        cuts = sorted({s1, e1, s2, e2})
        for p, q in zip(cuts, cuts[1:]):
            _fill_segment(out, k, hull, p, q, (self.values, s1, e1), (other.values, s2, e2))
        return out


def _box(c: IndexedCotangent) -> list[tuple[int, int]] | None:
    """``c.index`` as one (start, stop) per axis when it is made of step-1 slices, its values exactly
    filling that box in ``c``'s dtype; else None."""
    index, shape = c.index, c.shape
    # values of another dtype (float32 into a float64 gradient) would be summed in their own precision
    if len(index) > len(shape) or type(c.values) is not np.ndarray or c.values.dtype != c.dtype:
        return None
    box = []
    for axis, n in enumerate(shape):
        s = index[axis] if axis < len(index) else slice(None)
        if type(s) is not slice or s.step not in (None, 1):
            return None
        start, stop, _ = s.indices(n)
        box.append((start, max(start, stop)))
    if c.values.shape != tuple(stop - start for start, stop in box):
        return None
    return box


def _fill_segment(out: np.ndarray, k: int, hull: list, p: int, q: int, first: tuple, second: tuple) -> None:
    """Write entries p..q along axis ``k`` of ``out`` (the other axes: ``hull``): the sum of the values
    of the boxes covering them (``(values, start, stop)`` along k), or 0 where none does."""
    where = list(hull)
    where[k] = slice(p, q)
    target = out[tuple(where)]
    parts = []
    for values, start, stop in (first, second):
        if start <= p and q <= stop:
            sel = [slice(None)] * values.ndim
            sel[k] = slice(p - start, q - start)
            parts.append(values[tuple(sel)])
    if len(parts) == 2:
        np.add(parts[0], parts[1], out=target)
    elif parts:
        target[...] = parts[0]
    else:
        target[...] = 0


# Below this many entries np.zeros is cheaper than zeroing only the complement of a slice piecewise.
_PIECEWISE_ZEROS_MIN = 8192


def _zeros_outside(shape: tuple, dtype: Any, index: tuple) -> np.ndarray:
    """An array whose entries outside the basic ``index`` are 0 (those inside are left unset).

    Why: for a large slice such as ``x[1:]`` zeroing all of it and then overwriting nearly all of it
    costs a full extra pass over memory; zeroing only the complement costs a few small writes. Only
    an index made of step-1 slices is handled piecewise; anything else gets np.zeros.
    """
    size = math.prod(shape)
    if size < _PIECEWISE_ZEROS_MIN or len(index) > len(shape) or not all(
            type(s) is slice and s.step in (None, 1) for s in index):
        return np.zeros(shape, dtype=dtype)
    out = np.empty(shape, dtype=dtype)
    # The complement of a box is the union over axes k of: axes before k inside the box, axis k outside.
    inside: list[slice] = []
    for axis, s in enumerate(index):
        start, stop, _ = s.indices(shape[axis])
        stop = max(start, stop)
        if start > 0:
            out[(*inside, slice(0, start))] = 0
        if stop < shape[axis]:
            out[(*inside, slice(stop, None))] = 0
        inside.append(slice(start, stop))
    return out


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
            # can keep it structured (autodiff/diagonal.py) instead of multiplying by it
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
