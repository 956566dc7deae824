"""Array-manipulation functions of NumPy: partition, atleast_3d, rollaxis, dsplit, select, rot90, append,
meshgrid.

All but ``partition`` are adapters over the shape primitives (reshape, transpose, flip, concatenate,
broadcast, where), written as NumPy writes them, so values are NumPy's and derivatives are exact.
``partition`` is a primitive: its value is NumPy's own partition (whose order among the unselected
entries is the algorithm's), and its derivative the permutation that maps the input onto that output,
as for ``np.sort`` (each value carries its own derivative to its slot).
"""

from __future__ import annotations

import numpy as np

from autodiff.core import (
    Sample,
    Tracer,
    defdomain,
    defjvp,
    defvjp,
    implements,
    lower,
    ndim_of,
    primitive,
    shape_of,
)

# ---- partition: a permutation ----------------------------------------------------------------------------


def _partition_impl(x, kth, axis):
    return np.partition(x, kth, axis=axis)


def _permutation(x, ans, kth, axis):
    """Indices p with ans = take_along_axis(x, p, axis).

    NumPy's argpartition usually arranges the entries as its partition does (O(n)); where it does not
    (another selection algorithm, ties), the two arrays are sorted and matched value for value.
    """
    xl, al = np.asarray(lower(x)), np.asarray(lower(ans))
    p = np.argpartition(xl, kth, axis=axis)
    if np.array_equal(np.take_along_axis(xl, p, axis=axis), al, equal_nan=True):
        return p
    source = np.argsort(xl, axis=axis)     # (tied values are interchangeable: any matching of them is
    target = np.argsort(al, axis=axis)     # a valid one, so the fast unstable sort does)
    p = np.empty_like(source)
    np.put_along_axis(p, target, source, axis=axis)
    return p


def _gather(t, index, axis):
    return np.take_along_axis(t, np.broadcast_to(index, shape_of(t)), axis=axis)


def _partition_jvp(t, ans, x, kth, axis):
    return _gather(t, _permutation(x, ans, kth, axis), axis)


def _partition_vjp(ans, x, kth, axis):
    p = _permutation(x, ans, kth, axis)
    inverse = np.empty_like(p)
    positions = np.arange(p.shape[axis]).reshape((-1,) + (1,) * (-axis - 1))
    np.put_along_axis(inverse, p, np.broadcast_to(positions, p.shape), axis=axis)
    return lambda g: _gather(g, inverse, axis)


def _partition_sample(rng):
    shape = [(5,), (2, 4), (3, 2, 3)][rng.integers(3)]
    size = int(np.prod(shape))
    x = (rng.permutation(size) * 0.37 + rng.uniform(-0.05, 0.05, size) - 1.0).reshape(shape)
    axis = int(rng.integers(-len(shape), 0))
    n = shape[axis]
    kth = tuple(int(k) for k in rng.integers(0, n, size=int(rng.integers(1, 3))))
    return Sample((x,), {"kth": kth, "axis": axis})


partition = primitive(_partition_impl, name="partition")
defjvp(partition, _partition_jvp)
defvjp(partition, _partition_vjp)
defdomain(partition, _partition_sample)


@implements(np.partition)
def _np_partition(a, kth, axis=-1, kind="introselect", order=None):
    """``np.partition``: NumPy's partitioned array; each value's derivative moves with it."""
    if order is not None:
        raise NotImplementedError("np.partition(..., order=...) applies to structured arrays, which have no "
                                  "derivative.")
    if axis is None:
        a, axis = np.ravel(a), -1
    nd = ndim_of(lower(a))
    axis = int(np.lib.array_utils.normalize_axis_index(axis, nd)) - nd
    kth = tuple(int(k) for k in np.atleast_1d(np.asarray(lower(kth))))
    return partition(a, kth=kth, axis=axis)


# ---- dimensions and axes --------------------------------------------------------------------------------


@implements(np.atleast_3d)
def _np_atleast_3d(*arys):
    """``np.atleast_3d``: (1, 1, 1) for a scalar, (1, n, 1) for a vector, (m, n, 1) for a matrix."""
    out = []
    for a in arys:
        shape = shape_of(lower(a))
        if len(shape) == 0:
            a = np.reshape(a, (1, 1, 1))
        elif len(shape) == 1:
            a = np.reshape(a, (1,) + shape + (1,))
        elif len(shape) == 2:
            a = np.reshape(a, shape + (1,))
        out.append(a)
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.rollaxis)
def _np_rollaxis(a, axis, start=0):
    """``np.rollaxis``: ``axis`` moved to position ``start`` (a transpose)."""
    n = ndim_of(lower(a))
    axis = int(np.lib.array_utils.normalize_axis_index(axis, n))
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return np.transpose(a, axes)


@implements(np.dsplit)
def _np_dsplit(ary, indices_or_sections):
    """``np.dsplit``: np.split along the third axis."""
    if ndim_of(lower(ary)) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return np.split(ary, indices_or_sections, 2)


@implements(np.rot90)
def _np_rot90(m, k=1, axes=(0, 1)):
    """``np.rot90``: rotation by 90° k times in the plane of ``axes`` (flips and a transpose)."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    nd = ndim_of(lower(m))
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ValueError("Axes must be different.")
    if axes[0] >= nd or axes[0] < -nd or axes[1] >= nd or axes[1] < -nd:
        raise ValueError(f"Axes={axes} out of range for array of ndim={nd}.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return np.flip(np.flip(m, axes[0]), axes[1])
    order = list(range(nd))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    if k == 1:
        return np.transpose(np.flip(m, axes[1]), order)
    return np.flip(np.transpose(m, order), axes[1])


@implements(np.append)
def _np_append(arr, values, axis=None):
    """``np.append``: concatenate(arr, values) (both flattened when axis is None)."""
    arr = arr if isinstance(arr, Tracer) else np.asanyarray(arr)
    if axis is None:
        if ndim_of(lower(arr)) != 1:
            arr = np.ravel(arr)
        values = np.ravel(values)
        axis = ndim_of(lower(arr)) - 1
    return np.concatenate((arr, values), axis=axis)


@implements(np.meshgrid)
def _np_meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: coordinate arrays; 'xy' swaps the first two axes (broadcasts: derivative sums)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    s0 = (1,) * ndim
    shapes = [s0[:i] + (-1,) + s0[i + 1:] for i in range(ndim)]
    if indexing == "xy" and ndim > 1:
        shapes[0] = (1, -1) + s0[2:]
        shapes[1] = (-1, 1) + s0[2:]
    out = [np.reshape(x, shape) for x, shape in zip(xi, shapes)]
    if not sparse:
        full = np.broadcast_shapes(*(shape_of(lower(o)) for o in out))
        out = [np.broadcast_to(o, full) for o in out]
    return tuple(out) if copy or not sparse else out


# ---- select ------------------------------------------------------------------------------------------------


@implements(np.select)
def _np_select(condlist, choicelist, default=0):
    """``np.select``: the first choice whose condition holds, else ``default`` (derivative flows to it)."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    conds = [np.asarray(lower(c)) for c in condlist]
    for i, c in enumerate(conds):
        if c.dtype.type is not np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    values = list(choicelist) + [default]
    dtype = np.result_type(*(v if type(v) in (int, float, complex) else lower(v) for v in values))
    shape = np.broadcast_shapes(*(c.shape for c in conds), *(shape_of(lower(v)) for v in values))
    result = np.broadcast_to(default if isinstance(default, Tracer) else np.asarray(default, dtype), shape)
    for cond, choice in zip(conds[::-1], list(choicelist)[::-1]):
        result = np.where(cond, choice, result)
    if np.result_type(lower(result)) != dtype:
        result = result.astype(dtype)
    return np.broadcast_to(result, shape)


__all__ = ["partition"]
