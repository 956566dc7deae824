"""Structured (co)tangents: the forms that save work, their recognisers, ``densify`` and ``combine``.

A (co)tangent is a dense value (an ndarray, a scalar or a tracer) or ``None``, the symbolic zero. Four
more forms are exact shortcuts for particular dense values, and every optimisation that uses them lives
in this module (each tested against the dense computation in ``tests/test_structured.py``):

- **indexed slice** (:class:`IndexedCotangent`): zero except ``values`` at a basic index, made by the
  VJP of ``x[index]`` on plain arrays. It is the only form that is not an array: the backward sweep adds
  it into a buffer it owns (:func:`combine`) and densifies it before any rule that does not declare it.
- **diagonal batch** (:func:`diagonal_matrix`): a Jacobian's identity seed and what elementwise maps
  make of it, a read-only dense ``(k, k)`` array whose diagonal a side table remembers
  (:func:`diagonal_of`). An elementwise map keeps it diagonal (:func:`through_elementwise`), a product
  with it is a row scaling (:func:`diagonal_times`), two of them sum to another (:func:`combine`).
- **broadcast scalar** (:func:`splat_of`): one value with all strides 0, the cotangent of a total
  ``sum``; scaling it by a constant gives another (:func:`scaling_keeps_splat`, :func:`splat_times`).
- **scratch array** (:func:`is_scratch`): not a (co)tangent but a plain array a rule just computed for
  its own use, which the rule may multiply into in place.

Diagonal batches and broadcast scalars are ordinary read-only arrays: code that does not ask the
recognisers computes with them as the dense values they are, and nothing can write into them. No new
array type exists, so no structure can leak into code that does not know it. A rule receives an
indexed slice only if it declares so (:func:`accepts_structured`); no rule does today.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable

import numpy as np

from autodiff.core import NDARRAY, Tracer, ndim_of, shape_of

__all__ = [
    "ZERO", "DENSE", "INDEXED", "DIAGONAL", "SPLAT", "kind_of", "densify", "handed_out", "combine",
    "accepts_structured", "densify_for", "IndexedCotangent", "diagonal_matrix", "diagonal_of",
    "through_elementwise", "through_elementwise_sum", "diagonal_times", "splat_of", "scaling_keeps_splat",
    "splat_times", "is_scratch", "MIN_SIZE", "identity_matrix", "IDENTITY_KEPT_BYTES",
]

# ---- the kinds ---------------------------------------------------------------------------------------

ZERO, DENSE, INDEXED, DIAGONAL, SPLAT = "zero", "dense", "indexed", "diagonal", "splat"


def kind_of(c: Any) -> str:
    """Which form ``c`` has: ZERO (None), INDEXED, DIAGONAL, SPLAT (a broadcast scalar) or DENSE."""
    if c is None:
        return ZERO
    if type(c) is IndexedCotangent:
        return INDEXED
    if diagonal_of(c) is not None:
        return DIAGONAL
    if splat_of(c) is not None:
        return SPLAT
    return DENSE


def densify(c: Any) -> Any:
    """``c`` as a value any rule can compute with: an indexed slice becomes its dense array; every other
    form already is one (a diagonal batch or broadcast scalar is a dense read-only array; None stays the
    symbolic zero, which the transformations skip)."""
    return c.materialize() if type(c) is IndexedCotangent else c


def handed_out(c: Any) -> Any:
    """``c`` as a transformation hands it to its caller, who may keep and modify it: dense, and a copy
    when it is a read-only array (a broadcast scalar, a diagonal batch)."""
    c = densify(c)
    return np.array(c) if type(c) is NDARRAY and not c.flags.writeable else c


def accepts_structured(*kinds: str) -> Callable[[Callable], Callable]:
    """Decorator: the rule or staged pullback it marks may be handed (co)tangents of these kinds.

    The backward sweep hands an indexed slice only to pullbacks marked ``INDEXED`` (it reads the mark
    of the pullback itself, see :func:`densify_for`) and densifies it for all others. Diagonal batches
    and broadcast scalars are dense arrays, so every rule may receive them; the mark on a rule (a JVP
    rule, or a VJP rule staging pullbacks) then names the rules that look at their structure.
    Decorate functions defined once, not closures made per operation: a mark is an attribute.
    """
    def mark(rule: Callable) -> Callable:
        rule.accepts_structured = frozenset(kinds)   # type: ignore[attr-defined]
        return rule
    return mark


def densify_for(c: Any, rules: tuple) -> Any:
    """``c`` as ``rules`` (pullbacks that will all receive it) may see it: its structured form when each
    declares that kind with :func:`accepts_structured`, else :func:`densify` of it."""
    kind = kind_of(c)
    if kind in (ZERO, DENSE):
        return c
    if all(kind in getattr(r, "accepts_structured", ()) for r in rules):
        return c
    return densify(c)


# ---- combine: the sum of two cotangents ----------------------------------------------------------------
#
# The backward sweep sums the cotangents reaching a node with combine(prev, c, owned). ``owned`` maps
# id -> array for the sums the sweep itself created: no rule holds a reference to them, so adding the next
# contribution in place is safe (and saves an allocation). Arrays a rule returned may be shared (an
# identity VJP returns its input), so they are never written to. For combine a broadcast scalar is dense
# (its sum with anything is a fresh dense array).

_OWNED = "owned"          # a dense array in ``owned``: only the first operand of combine can be one
_NOT_OWNED: dict[int, np.ndarray] = {}


def _sum_kind(c: Any, owned: dict) -> str:
    if type(c) is NDARRAY:
        if owned.get(id(c)) is c:
            return _OWNED
        return DIAGONAL if _KNOWN and diagonal_of(c) is not None else DENSE
    return INDEXED if type(c) is IndexedCotangent else DENSE


def _own(array: Any, owned: dict) -> Any:
    if type(array) is NDARRAY:
        owned[id(array)] = array
    return array


def _dense_sum(a: Any, b: Any, owned: dict) -> Any:
    """a + b for two dense values: a fresh value (owned when it is an array)."""
    return _own(a + b, owned)


def _add_in_place(a: np.ndarray, b: Any, owned: dict) -> Any:
    """a += b into the owned buffer a when b has its shape and dtype; else a fresh sum."""
    if type(b) is NDARRAY and b.shape == a.shape and b.dtype == a.dtype:
        np.add(a, b, out=a)
        return a
    return _dense_sum(a, b, owned)


def _holds(a: Any, b: Any) -> bool:
    """True when a's dtype holds the sum a + b (NumPy's promotion of the two is a's dtype)."""
    return a.dtype == b.dtype or np.promote_types(a.dtype, b.dtype) == a.dtype


def _slice_into_owned(a: np.ndarray, b: IndexedCotangent, owned: dict) -> np.ndarray:
    """b's values added at its index into the owned buffer a (a basic index never repeats an entry),
    when a's dtype holds the sum; else a fresh, promoted sum."""
    if _holds(a, b):
        return b.add_into(a)
    return _own(a + b.materialize(), owned)


def _slice_into_copy(a: Any, b: IndexedCotangent, owned: dict) -> Any:
    """a + b as b added into a copy of a (one pass), or the dense sum when a is not a matching array."""
    if type(a) is NDARRAY and a.dtype == b.dtype and a.shape == b.shape:
        return b.add_into(_own(a.copy(), owned))
    return _own(a + b.materialize(), owned)


def _slice_first(a: IndexedCotangent, b: Any, owned: dict) -> Any:
    return _slice_into_copy(b, a, owned)


def _two_slices(a: IndexedCotangent, b: IndexedCotangent, owned: dict) -> np.ndarray:
    """Two shifted slices in one pass (IndexedCotangent.plus), else one added into the other's dense
    form (the one whose dtype holds the sum)."""
    both = a.plus(b)
    if both is not None:
        return _own(both, owned)
    if _holds(b, a):
        return a.add_into(_own(b.materialize(), owned))
    return _slice_into_owned(_own(a.materialize(), owned), b, owned)


def _two_diagonals(a: np.ndarray, b: np.ndarray, owned: dict) -> Any:
    """diag(u) + diag(v) = diag(u + v): a sum of diagonal batches stays diagonal."""
    u, v = diagonal_of(a), diagonal_of(b)
    if u is not None and v is not None and u.shape == v.shape:
        return diagonal_matrix(u + v)
    return _dense_sum(a, b, owned)


# (kind of the sum so far, kind of the new contribution) -> how to add them; anything else: _dense_sum
_COMBINE: dict[tuple[str, str], Callable[[Any, Any, dict], Any]] = {
    (_OWNED, DENSE): _add_in_place,
    (_OWNED, DIAGONAL): _add_in_place,
    (_OWNED, INDEXED): _slice_into_owned,
    (DENSE, INDEXED): _slice_into_copy,
    (DIAGONAL, INDEXED): _slice_into_copy,
    (INDEXED, DENSE): _slice_first,
    (INDEXED, DIAGONAL): _slice_first,
    (INDEXED, INDEXED): _two_slices,
    (DIAGONAL, DIAGONAL): _two_diagonals,
}


def combine(a: Any, b: Any, owned: dict | None = None) -> Any:
    """The sum ``a + b`` of two cotangents of one value, in the cheapest exact form.

    ``owned`` (id -> array) lists the arrays the caller created and no one else holds; ``a`` may then
    be written into in place (``b`` never is), and fresh sums are added to it. Without ``owned`` the
    operands are never written to. Exact in every case: each entry of the result is the sum of the
    operands' entries (see the table ``_COMBINE``).
    """
    if a is None:
        return b
    if b is None:
        return a
    if owned is None:
        owned = {}
    ka, kb = _sum_kind(a, owned), _sum_kind(b, _NOT_OWNED)
    if ka is DENSE and kb is DENSE:     # the common case, without the table lookup
        total = a + b
        if type(total) is NDARRAY:
            owned[id(total)] = total
        return total
    return _COMBINE.get((ka, kb), _dense_sum)(a, b, owned)


# ---- indexed slices ------------------------------------------------------------------------------------

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
    if len(index) > len(shape) or type(c.values) is not NDARRAY or c.values.dtype != c.dtype:
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


# ---- diagonal batches ----------------------------------------------------------------------------------
#
# A Jacobian pushes (or pulls) the n basis directions of a vector input as one (n, n) batch: the identity.
# The first operations it meets often keep it diagonal, and a matrix product with a diagonal batch is a row
# scaling, not a GEMM: for tanh(W2 tanh(W1 x)) at n = m this halves the work of either mode. The batch
# stays a plain, dense, read-only ndarray; this module remembers, for arrays it made itself, the vector on
# their diagonal. Read-only means the remembered structure cannot go stale; a lookup checks identity
# through a weak reference, so a recycled id never matches. Views, copies and sums are not registered and
# are the dense arrays they are.

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


# Small identities (the whole-vector seeds of a Jacobian) are kept and handed out again: building one
# is a zero fill of k² entries (27 µs at k = 300), paid on every Jacobian call otherwise. They are
# read-only like every diagonal_matrix, and a cotangent handed to the caller is copied
# (``handed_out``), so sharing them is safe. Large ones are built each time (k² bytes held for good).
_IDENTITIES: dict[tuple[int, str], np.ndarray] = {}
IDENTITY_KEPT_BYTES = 2 ** 21
"""The largest identity (in bytes) that :func:`identity_matrix` keeps: a 512 × 512 float64 one."""


def identity_matrix(size: int, dtype: Any) -> np.ndarray:
    """``diagonal_matrix(np.ones(size, dtype))``: the same read-only, registered identity, kept and
    returned again for later calls while it takes at most :data:`IDENTITY_KEPT_BYTES`."""
    dtype = np.dtype(dtype)
    if size * size * dtype.itemsize > IDENTITY_KEPT_BYTES:
        return diagonal_matrix(np.ones(size, dtype=dtype))
    key = (size, dtype.str)
    found = _IDENTITIES.get(key)
    if found is None:
        if len(_IDENTITIES) >= 8:          # a few shapes at a time: drop the oldest
            # list() copies the keys in one step: next(iter(...)) would raise if another thread
            # added an identity between making the iterator and reading it
            _IDENTITIES.pop(list(_IDENTITIES)[0], None)
        found = _IDENTITIES[key] = diagonal_matrix(np.ones(size, dtype=dtype))
    return found


def diagonal_of(a: Any) -> np.ndarray | None:
    """``v`` if ``a`` is an array made by ``diagonal_matrix(v)`` (so ``a == diag(v)``), else None."""
    if not _KNOWN or type(a) is not NDARRAY:
        return None
    entry = _KNOWN.get(id(a))
    if entry is None or entry[0]() is not a:
        return None
    return entry[1]


def through_elementwise(rule: Callable[[Any], Any], value: Any, k: int) -> Any:
    """``rule(value)`` for the (co)tangent map ``rule`` of an elementwise operation on k-vectors, kept
    diagonal when ``value = diag(v)``: then it is ``diag(rule(v))``. Both directions: ``rule`` is a JVP
    (tangent ↦ output tangent) or a staged pullback (cotangent ↦ argument cotangent).

    Why it is exact: an elementwise operation's (co)tangent map is ``t ↦ t * d`` per entry, so on the
    batch ``diag(v)`` it gives ``diag(v * d)`` — the map applied once to the vector ``v``. Anything but
    a (k, k) diagonal batch, or a map that does not return a k-vector for v, goes the ordinary way.
    """
    v = diagonal_of(value)
    if v is None or v.shape[0] != k:
        return rule(value)
    c = rule(v)
    if c is v:
        return value              # an identity map (add's pullback): the same batch, nothing to build
    if type(c) is not NDARRAY or c.shape != (k,):
        return rule(value)
    return diagonal_matrix(c)


def through_elementwise_sum(terms: list[tuple[Callable[[Any], Any], Any]], k: int) -> np.ndarray | None:
    """``diag(Σᵢ ruleᵢ(vᵢ))`` for the terms ``(ruleᵢ, diag(vᵢ))`` of an elementwise operation of several
    k-vector arguments (forward mode: one JVP per traced argument), or None unless every value is a
    (k, k) diagonal batch and every rule returns a k-vector. Exact for the reason given in
    :func:`through_elementwise`: each term is diagonal, and so is their sum."""
    total = None
    for rule, value in terms:
        v = diagonal_of(value)
        if v is None or v.shape != (k,):
            return None
        c = rule(v)
        if type(c) is not NDARRAY or c.shape != (k,):
            return None
        total = c if total is None else total + c
    return None if total is None else diagonal_matrix(total)


def diagonal_times(x: Any, m: Any) -> Any:
    """``x @ m`` as a row scaling ``v[:, None] * m`` when ``x = diag(v)`` (m of shape (k,) or (k, j)),
    else None. Exact: row i of diag(v) @ m is v_i times row i of m."""
    v = diagonal_of(x)
    if v is None or x.shape[-1] != shape_of(m)[0]:
        return None
    return v[:, None] * m if ndim_of(m) == 2 else v * m


# ---- broadcast scalars ---------------------------------------------------------------------------------

def splat_of(g: Any) -> np.ndarray | None:
    """``g``'s single value as a (1, ..., 1) view when ``g`` is a plain array broadcast from one value.

    Why: the cotangent of ``sum`` is a scalar broadcast to the input's shape (all strides 0). Scaling it
    by a constant gives another broadcast scalar, which costs nothing, instead of a full array. The view
    keeps ``g``'s rank, so arithmetic on it has exactly the dtype the full-array operation would have.
    Returns None for anything else (tracers, dense arrays, 0-d or empty arrays).
    """
    if type(g) is not NDARRAY or not g.ndim or not g.size or any(g.strides):
        return None
    return g[(slice(0, 1),) * g.ndim]


def scaling_keeps_splat(scale: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The pullback ``g ↦ scale(g)`` of a scaling by a constant, where a broadcast scalar ``g`` stays a
    broadcast scalar (``scale`` applied to its one value; exact since every entry of g is that value).
    The array test comes first: scalar loops pass Python floats and pay nothing more. (The VJP rules
    that stage it declare ``accepts_structured(SPLAT)``; marking each pullback made on the hot path
    would cost an attribute dictionary per recorded operation.)"""
    def pullback(g):
        if type(g) is NDARRAY:
            one = splat_of(g)
            if one is not None:
                return np.broadcast_to(scale(one), g.shape)
        return scale(g)
    return pullback


def splat_times(g: Any, x: Any, factor: float) -> Any:
    """``g * (factor * x)`` computed as ``x * (factor * s)`` when ``g`` is one value s broadcast to x's
    shape (one pass over x, not two; for a traced x, as in an HVP, one traced operation, not two: then
    the result is traced too), else None. Exact when multiplying by ``factor`` is (a power of 2, as in
    ``x ** 2``'s ``2x``): both orders then round the same product once."""
    if type(x) is not NDARRAY and not isinstance(x, Tracer):
        return None
    one = splat_of(g)
    if one is None or g.shape != x.shape:
        return None
    return x * (one * factor)


# ---- scratch arrays ------------------------------------------------------------------------------------

def is_scratch(d: Any, g: Any) -> bool:
    """True when ``d`` is a plain array that owns its memory, is writeable and is shaped and typed like
    ``g * d``: a rule that just computed ``d`` for its own use may then write ``g * d`` into it.

    Why: that saves an allocation per backward step; for large arrays each fresh allocation is a round
    of page faults, which costs more than the multiplication. The caller must exclude the arrays the
    rule closed over (its inputs and output), which own their memory too.
    """
    return (type(d) is NDARRAY and type(g) is NDARRAY and d.base is None and d.flags.writeable
            and d.shape == g.shape and d.dtype == g.dtype)
