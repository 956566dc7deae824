"""Shape and indexing primitives: reshape, broadcast_to, transpose, concatenate, indexing, index updates.

Rules address data axes from the end (batch axes are in front). Indexing moves the batch axes to the
back while it indexes, so NumPy's placement of advanced-index axes can never mix them up.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import Sample, Tracer, defdomain, defjvp, defvjp, implements, lower, primitive, register_op
from autodiff.shapes import unbroadcast

# ---- reshape ---------------------------------------------------------------------------------------


def _reshape_impl(x, shape):
    return np.reshape(x, shape)


def _batch_reshape(t, x, shape):
    nb = np.ndim(t) - np.ndim(x)
    return np.reshape(t, np.shape(t)[:nb] + tuple(shape))


reshape = primitive(_reshape_impl, name="reshape")
defjvp(reshape, lambda t, ans, x, shape: _batch_reshape(t, x, shape))
defvjp(reshape, lambda ans, x, shape: lambda g: _batch_reshape(g, ans, np.shape(x)))


def _fill_minus_one(size, shape):
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=int))
        shape = tuple(size // known if s == -1 else s for s in shape)
    return shape


@implements(np.reshape)
def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise NotImplementedError("reshape with order other than 'C' is not supported on traced values.")
    shape = _fill_minus_one(int(np.size(lower(a))), _as_shape(shape if shape is not None else newshape))
    return reshape(a, shape=shape)


def _as_shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


@implements(np.ravel)
def _np_ravel(a, order="C"):
    return _np_reshape(a, (-1,), order)


@implements(np.expand_dims)
def _np_expand_dims(a, axis):
    shape = np.shape(np.expand_dims(np.empty(np.shape(lower(a)), dtype=bool), axis))
    return reshape(a, shape=shape)


@implements(np.squeeze)
def _np_squeeze(a, axis=None):
    shape = np.shape(np.squeeze(np.empty(np.shape(lower(a)), dtype=bool), axis))
    return reshape(a, shape=shape)


# ---- broadcast_to ----------------------------------------------------------------------------------


def _broadcast_impl(x, shape):
    return np.broadcast_to(x, shape)


def _broadcast_jvp(t, ans, x, shape):
    nb = np.ndim(t) - np.ndim(x)
    tshape = np.shape(t)
    pad = len(shape) - np.ndim(x)
    t = np.reshape(t, tshape[:nb] + (1,) * pad + tshape[nb:])
    return np.broadcast_to(t, tshape[:nb] + tuple(shape))


broadcast_to = primitive(_broadcast_impl, name="broadcast_to")
defjvp(broadcast_to, _broadcast_jvp)
defvjp(broadcast_to, lambda ans, x, shape: lambda g: unbroadcast(g, np.shape(x), np.ndim(g) - len(shape)))


@implements(np.broadcast_to)
def _np_broadcast_to(array, shape, subok=False):
    shape = _as_shape(shape)
    if tuple(shape) == np.shape(lower(array)):
        return array
    return broadcast_to(array, shape=shape)


# ---- transpose -------------------------------------------------------------------------------------


def _transpose_impl(x, axes):
    return np.transpose(x, axes)


def _batch_transpose(t, x, axes):
    nb = np.ndim(t) - np.ndim(x)
    return np.transpose(t, tuple(range(nb)) + tuple(nb + a for a in axes))


transpose = primitive(_transpose_impl, name="transpose")
defjvp(transpose, lambda t, ans, x, axes: _batch_transpose(t, x, axes))
defvjp(transpose, lambda ans, x, axes: lambda g: _batch_transpose(g, ans, tuple(np.argsort(axes))))


@implements(np.transpose)
def _np_transpose(a, axes=None):
    nd = np.ndim(lower(a))
    axes = tuple(range(nd))[::-1] if axes is None else tuple(int(ax) % nd for ax in axes)
    if axes == tuple(range(nd)):
        return a
    return transpose(a, axes=axes)


@implements(np.swapaxes)
def _np_swapaxes(a, axis1, axis2):
    nd = np.ndim(lower(a))
    axes = list(range(nd))
    axes[axis1 % nd], axes[axis2 % nd] = axes[axis2 % nd], axes[axis1 % nd]
    return _np_transpose(a, axes)


@implements(np.moveaxis)
def _np_moveaxis(a, source, destination):
    nd = np.ndim(lower(a))
    src = [int(s) % nd for s in np.atleast_1d(source)]
    dst = [int(d) % nd for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: `source` and `destination` must have the same number of elements")
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _np_transpose(a, tuple(order))


# ---- concatenate -----------------------------------------------------------------------------------


def _concatenate_impl(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _concat_jvp_rule(i):
    def rule(t, ans, *xs, axis):
        parts = [t if j == i else np.zeros(np.shape(t)[:np.ndim(t) - np.ndim(x)] + np.shape(x),
                                           dtype=t.dtype) for j, x in enumerate(xs)]
        return np.concatenate(parts, axis=axis)
    return rule


def _concat_vjp_rule(i):
    def rule(ans, *xs, axis):
        sizes = [np.shape(x)[axis] for x in xs]
        start = sum(sizes[:i])
        return lambda g: _slice_axis(g, axis, start, start + sizes[i])
    return rule


def _slice_axis(g, axis, start, stop):
    index = [slice(None)] * np.ndim(g)
    index[axis] = slice(start, stop)
    return g[tuple(index)]


concatenate = primitive(_concatenate_impl, name="concatenate")


def _concat_rules_for(n, maker):
    return tuple(maker(i) for i in range(n))


concatenate.jvps = _concat_rules_for(64, _concat_jvp_rule)
concatenate.vjps = _concat_rules_for(64, _concat_vjp_rule)


@implements(np.concatenate)
def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    if axis is None:
        arrays = [np.ravel(a) for a in arrays]
        axis = 0
    nd = np.ndim(lower(arrays[0]))
    return _concat_many(arrays, axis - nd if axis >= 0 else axis)


def _concat_many(arrays, axis):
    # Rules exist for 64 arguments at a time; longer lists are joined in groups.
    while len(arrays) > 64:
        arrays = [concatenate(*arrays[i:i + 64], axis=axis) for i in range(0, len(arrays), 64)]
    return concatenate(*arrays, axis=axis)


@implements(np.stack)
def _np_stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    nd = np.ndim(lower(arrays[0])) + 1
    axis = axis % nd
    return _np_concatenate([np.expand_dims(a, axis) for a in arrays], axis=axis)


# ---- indexing --------------------------------------------------------------------------------------


def normalize_index(index, shape):
    """``index`` as a tuple with no Ellipsis and boolean masks turned into integer arrays.

    Static: tracers are not allowed in an index (a derivative with respect to an index is zero).
    """
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for item in index:
        if isinstance(item, Tracer):
            item = lower(item)
        if isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == bool:
            items.extend(np.nonzero(item))
        else:
            items.append(item)
    consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
    if any(it is Ellipsis for it in items):
        at = next(i for i, it in enumerate(items) if it is Ellipsis)
        fill = [slice(None)] * (len(shape) - consumed)
        items = items[:at] + fill + [it for it in items[at + 1:] if it is not Ellipsis]
    return tuple(items)


def _is_basic(index):
    return all(isinstance(it, (slice, int, np.integer)) or it is None for it in index)


def _batched(t, nb, index, op):
    """Apply ``op(array, index)`` to ``t`` whose first ``nb`` axes are batch axes.

    Moves batch axes last, so appending full slices for them keeps NumPy's placement of advanced-index
    axes unchanged; then moves them back to the front.
    """
    if nb == 0:
        return op(t, index)
    nd = np.ndim(t)
    moved = np.moveaxis(t, tuple(range(nb)), tuple(range(nd - nb, nd)))
    out = op(moved, index + (slice(None),) * nb)
    ond = np.ndim(out)
    return np.moveaxis(out, tuple(range(ond - nb, ond)), tuple(range(nb)))


def _getitem_impl(x, index):
    return x[index]


def _take(a, index):
    return getitem(a, index=index)


def _getitem_vjp(ans, x, index):
    shape, dtype = np.shape(x), np.result_type(lower(x))

    def pullback(g):
        nb = np.ndim(g) - np.ndim(ans)
        zeros = np.zeros(np.shape(g)[:nb] + shape, dtype=dtype)
        return _batched_write(index_add, zeros, g, nb, index)

    return pullback


getitem = primitive(_getitem_impl, name="getitem")
defjvp(getitem, lambda t, ans, x, index: _batched(t, np.ndim(t) - np.ndim(x), index, _take))
defvjp(getitem, _getitem_vjp)


def _tracer_getitem(x, index):
    return getitem(x, index=normalize_index(index, np.shape(lower(x))))


register_op("getitem", _tracer_getitem)


def _index_add_impl(x, v, index):
    out = np.array(x, copy=True)
    if _is_basic(index):
        out[index] += v
    else:
        np.add.at(out, index, v)
    return out


def _index_update_impl(x, v, index):
    out = np.array(x, copy=True)
    out[index] = v
    return out


def _slot_cotangent(g, ans, v, index):
    """Cotangent of the values written at ``index``: g there, summed to v's shape if v was broadcast."""
    nb = np.ndim(g) - np.ndim(ans)
    picked = _batched(g, nb, index, _take)
    return unbroadcast(picked, np.shape(v), nb)


def _batched_write(op, base, vals, nb, index):
    """op(base, vals, index) with ``nb`` batch axes in front of base (and possibly of vals)."""
    if nb == 0:
        return op(base, vals, index=index)
    nd = np.ndim(base)
    moved = np.moveaxis(base, tuple(range(nb)), tuple(range(nd - nb, nd)))
    slot_nd = np.ndim(_batched(base, nb, index, _take))
    vnd = np.ndim(vals)
    if vnd < slot_nd:
        # vals has no batch axes (or fewer dims): broadcast it to the batched slot first.
        slot_shape = np.shape(_batched(base, nb, index, _take))
        vals = np.broadcast_to(vals, slot_shape)
    vals_moved = np.moveaxis(vals, tuple(range(nb)), tuple(range(slot_nd - nb, slot_nd)))
    out = op(moved, vals_moved, index=index + (slice(None),) * nb)
    return np.moveaxis(out, tuple(range(nd - nb, nd)), tuple(range(nb)))


index_add = primitive(_index_add_impl, name="index_add")
defjvp(index_add,
       lambda t, ans, x, v, index: t,
       lambda t, ans, x, v, index: _index_add_jvp_v(t, ans, x, v, index))
defvjp(index_add,
       lambda ans, x, v, index: lambda g: g,
       lambda ans, x, v, index: lambda g: _slot_cotangent(g, ans, v, index))


def _index_add_jvp_v(t, ans, x, v, index):
    nb = np.ndim(t) - np.ndim(v)
    base = np.zeros(np.shape(t)[:nb] + np.shape(ans), dtype=t.dtype)
    return _batched_write(index_add, base, _pad_values(t, nb, ans, index), nb, index)


def _pad_values(t, nb, ans, index):
    """Tangent of written values, with singleton axes so it broadcasts into the (batched) slot."""
    slot_nd = np.ndim(np.empty(np.shape(lower(ans)), dtype=bool)[index])
    tshape = np.shape(t)
    missing = slot_nd - (len(tshape) - nb)
    return np.reshape(t, tshape[:nb] + (1,) * missing + tshape[nb:]) if missing > 0 else t


index_update = primitive(_index_update_impl, name="index_update")
defjvp(index_update,
       lambda t, ans, x, v, index: _batched_write(index_update, t, 0.0, np.ndim(t) - np.ndim(x), index),
       lambda t, ans, x, v, index: _index_add_jvp_v(t, ans, x, v, index))
defvjp(index_update,
       lambda ans, x, v, index: lambda g: _batched_write(index_update, g, 0.0, np.ndim(g) - np.ndim(x),
                                                         index),
       lambda ans, x, v, index: lambda g: _slot_cotangent(g, ans, v, index))


def index_add_public(x, index, values):
    """``x`` with ``values`` added at ``index`` (a new array; repeated indices accumulate).

    The differentiable form of ``x[index] += values``: d/dx is the identity, d/dvalues gathers at index.
    """
    return index_add(x, values, index=normalize_index(index, np.shape(lower(x))))


def index_update_public(x, index, values):
    """``x`` with ``values`` written at ``index`` (a new array), the differentiable ``x[index] = values``.

    d/dx is the identity except at ``index`` (zero there); d/dvalues gathers at ``index``.
    """
    return index_update(x, values, index=normalize_index(index, np.shape(lower(x))))


__all__ = ["reshape", "broadcast_to", "transpose", "concatenate", "getitem", "index_add", "index_update",
           "normalize_index", "index_add_public", "index_update_public"]


# ---- test domains ----------------------------------------------------------------------------------

def _reshape_sample(rng):
    x = rng.uniform(-2, 2, size=(2, 3))
    return Sample((x,), {"shape": [(6,), (3, 2), (1, 6, 1)][rng.integers(3)]})


def _broadcast_sample(rng):
    shapes = [((3,), (2, 3)), ((), (2, 3)), ((2, 1), (2, 3)), ((1,), (4,))]
    src, dst = shapes[rng.integers(len(shapes))]
    return Sample((rng.uniform(-2, 2, size=src),), {"shape": dst})


def _transpose_sample(rng):
    x = rng.uniform(-2, 2, size=(2, 3, 4))
    return Sample((x,), {"axes": tuple(int(a) for a in rng.permutation(3))})


def _concatenate_sample(rng):
    axis = int(rng.integers(-2, 0))
    a = rng.uniform(-2, 2, size=(2, 3))
    b = rng.uniform(-2, 2, size=(2, 3))
    return Sample((a, b), {"axis": axis})


_INDEXES = [
    (2,), (slice(1, None),), (slice(None), 1), (np.array([0, 2, 2]),), (slice(None), np.array([1, 0])),
    (np.array([0, 1]), slice(None), np.array([1, 1])), (None, 1), (np.array([[0], [2]]), np.array([1, 2])),
]


def _getitem_sample(rng):
    x = rng.uniform(-2, 2, size=(3, 4, 2))
    index = _INDEXES[rng.integers(len(_INDEXES))]
    return Sample((x,), {"index": normalize_index(index, x.shape)})


def _index_write_sample(rng):
    x = rng.uniform(-2, 2, size=(3, 4))
    choices = [(1,), (slice(0, 2), slice(None)), (np.array([0, 2]),), (slice(None), np.array([3, 1]))]
    index = normalize_index(choices[rng.integers(len(choices))], x.shape)
    slot = x[index]
    v = rng.uniform(-2, 2, size=slot.shape if rng.integers(2) else slot.shape[-1:])
    return Sample((x, v), {"index": index})


defdomain(reshape, _reshape_sample)
defdomain(broadcast_to, _broadcast_sample)
defdomain(transpose, _transpose_sample)
defdomain(concatenate, _concatenate_sample)
defdomain(getitem, _getitem_sample)
defdomain(index_add, _index_write_sample)
defdomain(index_update, _index_write_sample)
