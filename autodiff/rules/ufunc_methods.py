"""The methods of binary ufuncs on traced values: ``outer``, ``reduce``, ``accumulate``, ``reduceat``.

- ``outer(A, B)`` is the ufunc on A reshaped to ``A.shape + (1,) * B.ndim`` against B: broadcasting
  gives every pair, and the ufunc's own rules its derivative.
- ``reduce`` and ``accumulate`` of a ufunc other than add/multiply/maximum/minimum (whose reductions are
  the sum, prod, max, min and cumsum/cumprod primitives) are the left fold NumPy computes,
  ((x0 ∘ x1) ∘ x2) ∘ ..., one ufunc call per step: the same values, and the derivative of each step.
- ``maximum.accumulate`` (and minimum, fmax, fmin) is the primitive ``running_extremum``: the derivative
  of a running maximum is 1 at the entry holding it, split evenly between tied entries (SPEC §2).
- ``reduceat`` reduces each slice ``a[indices[i]:indices[i+1]]`` with the ufunc's reduce (a single entry
  when ``indices[i] >= indices[i+1]``) and stacks the results.

Zero-derivative ufuncs (comparisons, logical and integer ufuncs) apply the method to the plain values.
The remaining method, ``at``, writes in place; its error points to ``autodiff.index_add``.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import (
    Sample,
    Tracer,
    _ufunc_methods,
    defdomain,
    defjvp,
    defvjp,
    implements_ufunc_method,
    lower,
    ndim_of,
    primitive,
    registry,
    shape_of,
)
from autodiff.rules import elementwise, reductions, special  # noqa: F401  (register their ufuncs first)
from autodiff.rules._util import const_like


def _plain(x):
    return x if isinstance(x, Tracer) else np.asarray(x)


def _no_kwargs(name, kwargs):
    extra = {k: v for k, v in kwargs.items() if v is not None and not (k == "where" and v is True)}
    if extra:
        raise NotImplementedError(f"{name} with {sorted(extra)} is not supported on traced values; "
                                  "compute the result without them (np.where for `where=`).")


# ---- outer ---------------------------------------------------------------------------------------------


def _outer(ufunc):
    def outer(A, B, /, dtype=None, **kwargs):
        _no_kwargs(f"np.{ufunc.__name__}.outer", kwargs)
        A, B = _plain(A), _plain(B)
        wide = np.reshape(A, shape_of(lower(A)) + (1,) * ndim_of(lower(B)))
        out = ufunc(wide, B)
        return out if dtype is None else out.astype(dtype)
    outer.__doc__ = f"``np.{ufunc.__name__}.outer(A, B)``: {ufunc.__name__}(A[..., None, ...], B)."
    return outer


# ---- reduce and accumulate as a left fold ------------------------------------------------------------------


def _fold_axes(a, axis, ufunc, initial):
    """``a`` with the reduced axes merged into axis 0, and the normalised axes (NumPy's checks)."""
    nd = ndim_of(lower(a))
    # NumPy validates the axes (and refuses several axes for a ufunc that is not reorderable, or an
    # empty reduction without identity): let it check a stand-in of the same shape, without memory.
    probe = np.broadcast_to(np.ones((), dtype=np.result_type(lower(a))), shape_of(lower(a)))
    ufunc.reduce(probe, axis=axis, initial=initial)
    axes = tuple(range(nd)) if axis is None else tuple(np.lib.array_utils.normalize_axis_tuple(axis, nd))
    rest = [i for i in range(nd) if i not in axes]
    moved = np.transpose(a, _memory_order(a, axes) + rest)
    rest_shape = tuple(shape_of(lower(a))[i] for i in rest)
    return np.reshape(moved, (-1,) + rest_shape), axes


def _memory_order(a, axes):
    """The reduced axes in the order NumPy's iterator visits them: several axes of a reorderable ufunc
    are reduced in memory order (outermost stride first), which for a transposed array is not the
    logical order, and the rounding of a fold depends on it."""
    if len(axes) < 2:
        return list(axes)
    strides = getattr(np.asarray(lower(a)), "strides", None) or (0,) * ndim_of(lower(a))
    return sorted(axes, key=lambda ax: -abs(strides[ax]))


def _fold_reduce(ufunc):
    def reduce(array, axis=0, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
        _no_kwargs(f"np.{ufunc.__name__}.reduce", {"out": out, "where": where})
        a = _plain(array)
        a = a if dtype is None else a.astype(dtype)
        merged, axes = _fold_axes(a, axis, ufunc, initial)
        n = shape_of(lower(merged))[0]
        if initial is not np._NoValue and initial is not None:
            acc, start = initial, 0
        elif n == 0:
            if ufunc.identity is None:
                raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} which has no "
                                 "identity")
            acc, start = ufunc.identity, 0
        else:
            acc, start = merged[0], 1
        for i in range(start, n):
            acc = ufunc(acc, merged[i])
        acc = np.broadcast_to(acc, shape_of(lower(merged))[1:])
        if keepdims:
            acc = np.reshape(acc, tuple(1 if i in axes else d for i, d in enumerate(shape_of(lower(a)))))
        return acc
    reduce.__doc__ = f"``np.{ufunc.__name__}.reduce``: the left fold of {ufunc.__name__} over ``axis``."
    return reduce


def _fold_accumulate(ufunc):
    def accumulate(array, axis=0, dtype=None, out=None):
        _no_kwargs(f"np.{ufunc.__name__}.accumulate", {"out": out})
        a = _plain(array)
        a = a if dtype is None else a.astype(dtype)
        nd = ndim_of(lower(a))
        ax = int(np.lib.array_utils.normalize_axis_index(axis, nd))
        moved = np.moveaxis(a, ax, 0)
        steps = [moved[0]] if shape_of(lower(moved))[0] else []
        for i in range(1, shape_of(lower(moved))[0]):
            steps.append(ufunc(steps[-1], moved[i]))
        if not steps:
            return a
        return np.moveaxis(np.stack(steps), 0, ax)
    accumulate.__doc__ = f"``np.{ufunc.__name__}.accumulate``: the running left fold of {ufunc.__name__}."
    return accumulate


# ---- maximum.accumulate and friends: a primitive ---------------------------------------------------------

_EXTREMA = {"maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin}


def _running_extremum_impl(x, op, axis):
    return _EXTREMA[op].accumulate(x, axis=axis)


def _along(nd, axis, index):
    return (slice(None),) * (nd + axis) + (index,)


def _gather(t, index, axis):
    nb = ndim_of(t) - index.ndim
    return np.take_along_axis(t, np.broadcast_to(index, shape_of(t)[:nb] + index.shape), axis=axis)


class _Runs:
    """Constants of a running extremum along ``axis``: the runs where its value stays the same, and the
    entries of each run that attain it (``holds``), among which the derivative is shared."""

    def __init__(self, x, ans, axis):
        xl, al = np.asarray(lower(x)), np.asarray(lower(ans))
        nd, n = xl.ndim, xl.shape[axis]
        self.axis = axis
        self.holds = xl == al
        pos = np.broadcast_to(np.arange(n).reshape((n,) + (1,) * (-axis - 1)), al.shape)
        later, earlier = _along(nd, axis, slice(1, None)), _along(nd, axis, slice(None, -1))
        same = np.zeros(al.shape, dtype=bool)          # same[j]: entry j continues the run of j - 1
        same[later] = al[later] == al[earlier]
        self.start = np.maximum.accumulate(np.where(same, 0, pos), axis=axis)
        ends_here = np.ones(al.shape, dtype=bool)
        ends_here[earlier] = ~same[later]
        flip = _along(nd, axis, slice(None, None, -1))
        self.stop = np.minimum.accumulate(np.where(ends_here, pos, n - 1)[flip], axis=axis)[flip] + 1
        counts = _with_zero_first(np.cumsum(self.holds, axis=axis), axis)
        runs = counts[_after(counts, axis)] - np.take_along_axis(counts, self.start, axis)
        self.runs = np.maximum(runs, 1)   # a run after a NaN holds nothing: derivative 0 there


def _with_zero_first(c, axis):
    """c with a zero slice in front along ``axis``: prefix sums that start at an empty prefix."""
    zero = np.zeros_like(c[_along(ndim_of(c), axis, slice(0, 1))])
    return np.concatenate([zero, c], axis=axis)


def _running_extremum_jvp(t, ans, x, op, axis):
    """t at the entry holding the running extremum; the mean of t over the tied entries of its run."""
    r = _Runs(x, ans, axis)
    summed = _with_zero_first(np.cumsum(const_like(r.holds, t) * t, axis=axis), axis)
    total = summed[_after(summed, axis)] - _gather(summed, r.start, axis)
    return total / const_like(r.runs, t)


def _running_extremum_vjp(ans, x, op, axis):
    """Entry j (if it attains its run's value) gets Σ g_i / count_i over the outputs i >= j of its run."""
    r = _Runs(x, ans, axis)

    def pullback(g):
        u = g / const_like(r.runs, g)
        flip = (Ellipsis, slice(None, None, -1)) + (slice(None),) * (-axis - 1)
        rest = np.cumsum(u[flip], axis=axis)[flip]                # Σ_{i >= j} u_i
        rest = np.concatenate([rest, np.zeros_like(rest[_along(ndim_of(rest), axis, slice(0, 1))])],
                              axis=axis)
        return const_like(r.holds, g) * (rest[_position(rest, axis)] - _gather(rest, r.stop, axis))

    return pullback


def _position(c, axis):
    """The first n entries along ``axis`` of a prefix array of length n + 1."""
    return _along(ndim_of(c), axis, slice(0, -1))


def _after(c, axis):
    """The last n entries along ``axis`` of a prefix array of length n + 1 (the prefix through i)."""
    return _along(ndim_of(c), axis, slice(1, None))


def _running_extremum_sample(rng):
    shape = [(5,), (2, 4), (3, 2, 3)][rng.integers(3)]
    size = int(np.prod(shape))
    x = (rng.permutation(size) * 0.37 + rng.uniform(-0.05, 0.05, size) - 1.0).reshape(shape)
    axis = int(rng.integers(-len(shape), 0))
    return Sample((x,), {"op": list(_EXTREMA)[rng.integers(4)], "axis": axis})


running_extremum = primitive(_running_extremum_impl, name="running_extremum")
defjvp(running_extremum, _running_extremum_jvp)
defvjp(running_extremum, _running_extremum_vjp)
defdomain(running_extremum, _running_extremum_sample)


def _extremum_accumulate(op):
    def accumulate(array, axis=0, dtype=None, out=None):
        _no_kwargs(f"np.{op}.accumulate", {"out": out})
        a = _plain(array)
        a = a if dtype is None else a.astype(dtype)
        nd = ndim_of(lower(a))
        return running_extremum(a, op=op, axis=int(np.lib.array_utils.normalize_axis_index(axis, nd)) - nd)
    accumulate.__doc__ = f"``np.{op}.accumulate``: the running {op}; ties share the derivative evenly."
    return accumulate


# ---- reduceat ---------------------------------------------------------------------------------------------


def _reduceat(ufunc):
    def reduceat(array, indices, axis=0, dtype=None, out=None):
        _no_kwargs(f"np.{ufunc.__name__}.reduceat", {"out": out})
        a = _plain(array)
        a = a if dtype is None else a.astype(dtype)
        nd = ndim_of(lower(a))
        ax = int(np.lib.array_utils.normalize_axis_index(axis, nd))
        n = shape_of(lower(a))[ax]
        idx = [int(i) for i in np.asarray(lower(indices)).ravel()]
        for i in idx:
            if not 0 <= i < n:
                raise IndexError(f"index {i} out-of-bounds in {ufunc.__name__}.reduceat [0, {n})")
        pieces = []
        for j, start in enumerate(idx):
            stop = idx[j + 1] if j + 1 < len(idx) else n
            head = (slice(None),) * ax
            if start < stop:
                pieces.append(ufunc.reduce(a[head + (slice(start, stop),)], axis=ax, keepdims=True))
            else:
                pieces.append(a[head + (slice(start, start + 1),)])
        return np.concatenate(pieces, axis=ax)
    reduceat.__doc__ = f"``np.{ufunc.__name__}.reduceat``: {ufunc.__name__}.reduce of each slice."
    return reduceat


# np.add.reduceat sums each slice in its own order (not np.sum's), so it is a primitive of its own: its
# JVP is itself (it is linear), its VJP spreads each output's cotangent over its slice.


def _add_reduceat_impl(x, indices, axis):
    return np.add.reduceat(x, indices, axis=axis)


def _slices_matrix(indices, n, like):
    """(m, n) constant: row i is 1 on the entries output i of reduceat sums."""
    m = len(indices)
    rows = np.zeros((m, n))
    for i, start in enumerate(indices):
        stop = indices[i + 1] if i + 1 < m else n
        rows[i, start:stop if start < stop else start + 1] = 1.0
    return const_like(rows, like)


def _add_reduceat_vjp(ans, x, indices, axis):
    rows = _slices_matrix(indices, shape_of(x)[axis], ans)
    return lambda g: np.moveaxis(np.moveaxis(g, axis, -1) @ rows, -1, axis)


def _add_reduceat_sample(rng):
    shape = [(5,), (4, 3), (2, 5, 2)][rng.integers(3)]
    axis = int(rng.integers(-len(shape), 0))
    n = shape[axis]
    indices = tuple(int(i) for i in rng.integers(0, n, size=int(rng.integers(1, 4))))
    return Sample((rng.uniform(-2, 2, size=shape),), {"indices": indices, "axis": axis})


add_reduceat = primitive(_add_reduceat_impl, name="add_reduceat")
defjvp(add_reduceat, lambda t, ans, x, indices, axis: add_reduceat(t, indices=indices, axis=axis))
defvjp(add_reduceat, _add_reduceat_vjp)
defdomain(add_reduceat, _add_reduceat_sample)


def _np_add_reduceat(array, indices, axis=0, dtype=None, out=None):
    """``np.add.reduceat``: the sum of each slice a[indices[i]:indices[i+1]] (a[indices[i]] alone when
    indices[i] >= indices[i+1]); derivative 1 on each entry of the slice."""
    _no_kwargs("np.add.reduceat", {"out": out})
    a = _plain(array)
    a = a if dtype is None else a.astype(dtype)
    nd = ndim_of(lower(a))
    ax = int(np.lib.array_utils.normalize_axis_index(axis, nd))
    n = shape_of(lower(a))[ax]
    idx = tuple(int(i) for i in np.asarray(lower(indices)).ravel())
    for i in idx:
        if not 0 <= i < n:
            raise IndexError(f"index {i} out-of-bounds in add.reduceat [0, {n})")
    return add_reduceat(a, indices=idx, axis=ax - nd)


implements_ufunc_method(np.add, "reduceat")(_np_add_reduceat)


# ---- zero-derivative ufuncs: the method on the plain values -----------------------------------------


def _on_values(ufunc, method):
    def handler(*args, **kwargs):
        return getattr(ufunc, method)(*(lower(a) for a in args), **kwargs)
    return handler


def _binary_ufuncs():
    """(ufunc, primitive) of every registered two-input, one-output ufunc."""
    seen = {}
    for prim in registry.values():
        fn = prim.fn
        if isinstance(fn, np.ufunc) and fn.nin == 2 and fn.nout == 1 and fn not in seen:
            seen[fn] = prim
    return list(seen.items())


def register_all() -> None:
    """Give outer/reduce/accumulate/reduceat to every registered binary ufunc that lacks them.

    Idempotent; ``autodiff.rules`` calls it again once all rule modules are loaded, so ufuncs
    registered by modules imported after this one are covered too.
    """
    for ufunc, prim in _binary_ufuncs():
        makers = {"outer": _outer, "reduce": _fold_reduce, "accumulate": _fold_accumulate,
                  "reduceat": _reduceat}
        for method, make in makers.items():
            if (ufunc, method) in _ufunc_methods:
                continue       # the sum/prod/max/min/cumsum/cumprod primitives already serve it
            handler = _on_values(ufunc, method) if prim.nondiff else make(ufunc)
            if method == "accumulate" and ufunc.__name__ in _EXTREMA and not prim.nondiff:
                handler = _extremum_accumulate(ufunc.__name__)
            implements_ufunc_method(ufunc, method)(handler)


register_all()

__all__ = ["running_extremum", "add_reduceat", "register_all"]
