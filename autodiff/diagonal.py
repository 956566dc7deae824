"""Batches of directions known to be diagonal: the identity seed of a Jacobian, and what it becomes.

A Jacobian pushes (or pulls) the n basis directions of a vector input as one ``(n, n)`` batch: the
identity. The first operations it meets often keep it diagonal — an elementwise function turns
``diag(v)`` into ``diag(v * f'(x))`` — and a matrix product with a diagonal batch is a row scaling, not
a GEMM. For f(x) = tanh(W₂ tanh(W₁ x)) at n = m this halves the work of either mode.

How the structure travels without a new array type: the batch stays a plain, dense ndarray (every rule
that knows nothing of this computes with it as usual), and this module remembers, for arrays it made
itself, the vector on their diagonal. The arrays are read-only, so the remembered structure cannot go
stale; a lookup checks identity through a weak reference, so a recycled ``id`` never matches.
Views, copies and sums of a diagonal array are not registered and are treated as the dense arrays
they are: the fast paths are an optimisation that never changes a value.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

__all__ = ["diagonal_matrix", "diagonal_of", "pull_diagonal", "MIN_SIZE"]

# Below this size a dense batch costs less than the bookkeeping (a few µs per operation), and there is
# no large product to save.
MIN_SIZE = 100

# id(array) -> (weak reference to the array, its diagonal)
_KNOWN: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def diagonal_matrix(v: np.ndarray) -> np.ndarray:
    """diag(v) for a 1-D ``v``: a read-only ``(k, k)`` array that :func:`diagonal_of` recognises."""
    v = np.array(v)          # a private copy: what the registry remembers must not change
    v.flags.writeable = False
    k = v.shape[0]
    out = np.zeros((k, k), dtype=v.dtype)
    out.reshape(-1)[::k + 1] = v
    out.flags.writeable = False
    key = id(out)

    def forget(_ref: weakref.ref, key: int = key) -> None:
        _KNOWN.pop(key, None)

    _KNOWN[key] = (weakref.ref(out, forget), v)
    return out


def diagonal_of(a: Any) -> np.ndarray | None:
    """``v`` if ``a`` is an array made by ``diagonal_matrix(v)`` (so ``a == diag(v)``), else None."""
    if not _KNOWN or type(a) is not np.ndarray:
        return None
    entry = _KNOWN.get(id(a))
    if entry is None or entry[0]() is not a:
        return None
    return entry[1]


def pull_diagonal(pullback, g: Any, k: int) -> Any:
    """An elementwise node's ``pullback`` applied to ``g``, kept diagonal when ``g = diag(v)``.

    Why it is exact: an elementwise operation's (co)tangent map is ``g ↦ g * d`` per entry, so on the
    batch ``diag(v)`` it gives ``diag(v * d)`` — the map applied once to the vector ``v``.
    ``k`` is the node's (vector) size; anything but a (k, k) diagonal batch goes the ordinary way.
    """
    v = diagonal_of(g)
    if v is None or v.shape[0] != k:
        return pullback(g)
    c = pullback(v)
    if c is v:
        return g                  # an identity map (add's pullback): the same batch, nothing to build
    if type(c) is not np.ndarray or c.shape != (k,):
        return pullback(g)
    return diagonal_matrix(c)
