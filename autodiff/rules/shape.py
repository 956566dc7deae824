"""Shape and indexing primitives: reshape, broadcast_to, transpose, concatenate, indexing, index updates.

Rules address data axes from the end (batch axes are in front). Indexing moves the batch axes to the
back while it indexes, so NumPy's placement of advanced-index axes can never mix them up.
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
    register_op,
    shape_of,
)
from autodiff.shapes import unbroadcast
from autodiff.structured import IndexedCotangent

# ---- reshape ---------------------------------------------------------------------------------------


def _reshape_impl(x, shape):
    return np.reshape(x, shape)


def _batch_reshape(t, x, shape):
    nb = ndim_of(t) - ndim_of(x)
    return np.reshape(t, shape_of(t)[:nb] + tuple(shape))


reshape = primitive(_reshape_impl, name="reshape")
defjvp(reshape, lambda t, ans, x, shape: _batch_reshape(t, x, shape))
defvjp(reshape, lambda ans, x, shape: lambda g: _batch_reshape(g, ans, shape_of(x)))


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
    shape = shape_of(np.expand_dims(np.empty(shape_of(lower(a)), dtype=bool), axis))
    return reshape(a, shape=shape)


@implements(np.squeeze)
def _np_squeeze(a, axis=None):
    shape = shape_of(np.squeeze(np.empty(shape_of(lower(a)), dtype=bool), axis))
    return reshape(a, shape=shape)


# ---- broadcast_to ----------------------------------------------------------------------------------


def _broadcast_impl(x, shape):
    return np.broadcast_to(x, shape)


def _broadcast_jvp(t, ans, x, shape):
    nb = ndim_of(t) - ndim_of(x)
    tshape = shape_of(t)
    pad = len(shape) - ndim_of(x)
    t = np.reshape(t, tshape[:nb] + (1,) * pad + tshape[nb:])
    return np.broadcast_to(t, tshape[:nb] + tuple(shape))


broadcast_to = primitive(_broadcast_impl, name="broadcast_to")
defjvp(broadcast_to, _broadcast_jvp)
defvjp(broadcast_to, lambda ans, x, shape: lambda g: unbroadcast(g, shape_of(x), ndim_of(g) - len(shape)))


@implements(np.broadcast_to)
def _np_broadcast_to(array, shape, subok=False):
    shape = _as_shape(shape)
    if tuple(shape) == shape_of(lower(array)):
        return array
    return broadcast_to(array, shape=shape)


# ---- transpose -------------------------------------------------------------------------------------


def _transpose_impl(x, axes):
    return np.transpose(x, axes)


def _batch_transpose(t, x, axes):
    nb = ndim_of(t) - ndim_of(x)
    return np.transpose(t, tuple(range(nb)) + tuple(nb + a for a in axes))


transpose = primitive(_transpose_impl, name="transpose")
defjvp(transpose, lambda t, ans, x, axes: _batch_transpose(t, x, axes))
defvjp(transpose, lambda ans, x, axes: lambda g: _batch_transpose(g, ans, tuple(np.argsort(axes))))


# np.permute_dims is np.transpose in NumPy >= 2 (one object).
@implements(np.transpose, np.permute_dims)
def _np_transpose(a, axes=None):
    nd = ndim_of(lower(a))
    axes = tuple(range(nd))[::-1] if axes is None else tuple(int(ax) % nd for ax in axes)
    if axes == tuple(range(nd)):
        return a
    return transpose(a, axes=axes)


@implements(np.swapaxes)
def _np_swapaxes(a, axis1, axis2):
    nd = ndim_of(lower(a))
    axes = list(range(nd))
    axes[axis1 % nd], axes[axis2 % nd] = axes[axis2 % nd], axes[axis1 % nd]
    return _np_transpose(a, axes)


@implements(np.moveaxis)
def _np_moveaxis(a, source, destination):
    nd = ndim_of(lower(a))
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
        # The tangent of piece i, zero-padded to the whole: one primitive call, however many pieces.
        sizes = [shape_of(x)[axis] for x in xs]
        widths = [(0, 0)] * ndim_of(t)
        widths[ndim_of(t) + axis] = (sum(sizes[:i]), sum(sizes[i + 1:]))
        return pad_zeros(t, pad_width=tuple(widths))
    return rule


def _concat_vjp_rule(i):
    def rule(ans, *xs, axis):
        sizes = [shape_of(x)[axis] for x in xs]
        start = sum(sizes[:i])
        return lambda g: _slice_axis(g, axis, start, start + sizes[i])
    return rule


def _slice_axis(g, axis, start, stop):
    index = [slice(None)] * ndim_of(g)
    index[axis] = slice(start, stop)
    return g[tuple(index)]


concatenate = primitive(_concatenate_impl, name="concatenate")


def _concat_rules_for(n, maker):
    return tuple(maker(i) for i in range(n))


concatenate.jvps = _concat_rules_for(64, _concat_jvp_rule)
concatenate.vjps = _concat_rules_for(64, _concat_vjp_rule)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


def _cast_all(arrays, dtype, casting, name):
    """The pieces cast to ``dtype`` under NumPy's ``casting`` rule (NumPy itself checks the rule, on
    empty stand-ins, so the error is NumPy's own)."""
    if dtype is None:
        return arrays
    getattr(np, name)([np.empty((0,), np.result_type(lower(a))) for a in arrays], dtype=dtype,
                      casting=casting)
    return [a.astype(dtype) for a in arrays]


# np.concat is np.concatenate in NumPy >= 2 (one object): one adapter, NumPy's one signature.
@implements(np.concatenate, np.concat)
def _np_concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """Join the arrays along ``axis`` (flattened first when ``axis`` is None); linear in each piece."""
    _no_out(out, "concatenate")
    arrays = _cast_all(list(arrays), dtype, casting, "concatenate")
    if axis is None:
        arrays = [np.ravel(a) for a in arrays]
        axis = 0
    nd = ndim_of(lower(arrays[0]))
    axis = int(axis)
    return _concat_many(arrays, axis - nd if axis >= 0 else axis)


def _concat_many(arrays, axis):
    # Rules exist for 64 arguments at a time; longer lists are joined in groups.
    while len(arrays) > 64:
        arrays = [concatenate(*arrays[i:i + 64], axis=axis) for i in range(0, len(arrays), 64)]
    return concatenate(*arrays, axis=axis)


@implements(np.stack)
def _np_stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """Join the arrays along a new ``axis``: each gets a singleton axis there, then concatenate."""
    _no_out(out, "stack")
    arrays = _cast_all(list(arrays), dtype, casting, "stack")
    nd = ndim_of(lower(arrays[0])) + 1
    axis = int(axis) % nd
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
    nd = ndim_of(t)
    moved = np.moveaxis(t, tuple(range(nb)), tuple(range(nd - nb, nd)))
    out = op(moved, index + (slice(None),) * nb)
    ond = ndim_of(out)
    return np.moveaxis(out, tuple(range(ond - nb, ond)), tuple(range(nb)))


def _getitem_impl(x, index):
    return x[index]


def _take(a, index):
    return getitem(a, index=index)


def _getitem_jvp(t, ans, x, index):
    nb = ndim_of(t) - ndim_of(x)
    if _is_basic(index):
        # Basic indices never move axes, so full slices in front address the batch axes exactly.
        return getitem(t, index=(slice(None),) * nb + index)
    return _batched(t, nb, index, _take)


def _getitem_vjp(ans, x, index):
    shape, dtype = shape_of(x), np.result_type(lower(x))
    basic = _is_basic(index)
    ans_nd = ndim_of(ans)   # its rank only: the pullback must not keep the (possibly copied) output

    def pullback(g):
        nb = ndim_of(g) - ans_nd
        if basic:
            full_shape, full_index = shape_of(g)[:nb] + shape, (slice(None),) * nb + index
            if type(g) is np.ndarray:
                # Plain values: let the backward sweep add this slice into a shared buffer.
                return IndexedCotangent(full_shape, np.result_type(dtype, g), full_index, g)
            # A slice picks each entry at most once: write g into zeros (no np.add.at, which is slow).
            return scatter(g, shape=full_shape, index=full_index)
        zeros = np.zeros(shape_of(g)[:nb] + shape, dtype=np.result_type(dtype, lower(g)))
        return _batched_write(index_add, zeros, g, nb, index)

    return pullback


getitem = primitive(_getitem_impl, name="getitem")
defjvp(getitem, _getitem_jvp)
defvjp(getitem, _getitem_vjp)


def _scatter_impl(g, shape, index):
    dtype = np.result_type(g)
    if all(isinstance(it, slice) and it.step in (None, 1) for it in index):
        # Contiguous slices (x[1:], x[:-1] in a stencil): write g, then zero only the margins, so each
        # entry is written once.
        out = np.empty(shape, dtype=dtype)
        out[index] = g
        for axis, it in enumerate(index):
            start, stop, _ = it.indices(shape[axis])
            head = (slice(None),) * axis
            out[head + (slice(0, start),)] = 0
            out[head + (slice(max(start, stop), None),)] = 0
        return out
    out = np.zeros(shape, dtype=dtype)
    out[index] = g
    return out


def _scatter_jvp(t, ans, g, shape, index):
    nb = ndim_of(t) - ndim_of(g)
    return scatter(t, shape=shape_of(t)[:nb] + tuple(shape), index=(slice(None),) * nb + index)


def _scatter_vjp(ans, g, shape, index):
    return lambda c: getitem(c, index=(slice(None),) * (ndim_of(c) - len(shape)) + index)


scatter = primitive(_scatter_impl, name="scatter")
"""``scatter(g, shape=, index=)``: zeros of ``shape`` with ``g`` written at the basic ``index``.

The transpose of basic indexing; it is linear in g, so its JVP is itself and its VJP is indexing.
"""
defjvp(scatter, _scatter_jvp)
defvjp(scatter, _scatter_vjp)


def _tracer_getitem(x, index):
    return getitem(x, index=normalize_index(index, shape_of(lower(x))))


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


def _slot_vjp(ans, x, v, index):
    """Cotangent of the values written at ``index``: g there, summed to v's shape if v was broadcast.

    Staged with the ranks and shapes it needs only, so the pullback keeps neither the output nor v.
    """
    ans_nd, v_shape = ndim_of(ans), shape_of(v)

    def pullback(g):
        nb = ndim_of(g) - ans_nd
        return unbroadcast(_batched(g, nb, index, _take), v_shape, nb)

    return pullback


def _batched_write(op, base, vals, nb, index):
    """op(base, vals, index) with ``nb`` batch axes in front of base (and possibly of vals)."""
    if nb == 0:
        return op(base, vals, index=index)
    nd = ndim_of(base)
    moved = np.moveaxis(base, tuple(range(nb)), tuple(range(nd - nb, nd)))
    slot_nd = ndim_of(_batched(base, nb, index, _take))
    vnd = ndim_of(vals)
    if vnd < slot_nd:
        # vals has no batch axes (or fewer dims): broadcast it to the batched slot first.
        slot_shape = shape_of(_batched(base, nb, index, _take))
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
       _slot_vjp)


def _index_add_jvp_v(t, ans, x, v, index):
    nb = ndim_of(t) - ndim_of(v)
    base = np.zeros(shape_of(t)[:nb] + shape_of(ans), dtype=t.dtype)
    return _batched_write(index_add, base, _pad_values(t, nb, ans, index), nb, index)


def _pad_values(t, nb, ans, index):
    """Tangent of written values, with singleton axes so it broadcasts into the (batched) slot."""
    slot_nd = ndim_of(np.empty(shape_of(lower(ans)), dtype=bool)[index])
    tshape = shape_of(t)
    missing = slot_nd - (len(tshape) - nb)
    return np.reshape(t, tshape[:nb] + (1,) * missing + tshape[nb:]) if missing > 0 else t


def _surviving_writes(shape, index):
    """A boolean array shaped like the slot ``x[index]``: True where that write is the one NumPy keeps.

    ``x[[0, 2, 0]] = v`` writes row 0 twice and keeps the last write, so v[0] has no effect on the result
    (its derivative is 0). NumPy itself decides: write each slot position's number, read back which
    numbers survived. None when every write survives (basic indices never repeat a location).
    """
    if _is_basic(index):
        return None
    slot_shape = shape_of(np.empty(shape, dtype=bool)[index])
    ids = np.full(shape, -1, dtype=np.intp)
    ids[index] = np.arange(int(np.prod(slot_shape, dtype=int))).reshape(slot_shape)
    kept = np.zeros(int(np.prod(slot_shape, dtype=int)), dtype=bool)
    kept[ids[ids >= 0]] = True
    return None if kept.all() else kept.reshape(slot_shape)


def _update_jvp_v(t, ans, x, v, index):
    """Tangent of the written values: written (not added) into zeros, so a repeated location takes the
    tangent of the write NumPy keeps, as the value does."""
    nb = ndim_of(t) - ndim_of(v)
    base = np.zeros(shape_of(t)[:nb] + shape_of(ans), dtype=t.dtype)
    return _batched_write(index_update, base, _pad_values(t, nb, ans, index), nb, index)


def _update_vjp_v(ans, x, v, index):
    """Cotangent of the written values: g gathered at ``index``, zero for writes that were overwritten."""
    kept = _surviving_writes(shape_of(x), index)
    if kept is None:
        return _slot_vjp(ans, x, v, index)
    ans_nd, v_shape = ndim_of(ans), shape_of(v)
    mask = _mask_like(kept, x)

    def pullback(g):
        nb = ndim_of(g) - ans_nd
        return unbroadcast(_batched(g, nb, index, _take) * mask, v_shape, nb)

    return pullback


def _mask_like(mask, like):
    """A 0/1 mask in the float dtype of ``like`` (float64 for integer data)."""
    dtype = np.result_type(lower(like))
    return mask.astype(dtype if np.issubdtype(dtype, np.inexact) else np.float64)


index_update = primitive(_index_update_impl, name="index_update")
defjvp(index_update,
       lambda t, ans, x, v, index: _batched_write(index_update, t, 0.0, ndim_of(t) - ndim_of(x), index),
       _update_jvp_v)
defvjp(index_update,
       lambda ans, x, v, index: lambda g: _batched_write(index_update, g, 0.0, ndim_of(g) - ndim_of(x),
                                                         index),
       _update_vjp_v)


def index_add_public(x, index, values):
    """``x`` with ``values`` added at ``index`` (a new array; repeated indices accumulate).

    The differentiable form of ``x[index] += values``: d/dx is the identity, d/dvalues gathers at index.
    """
    return index_add(x, values, index=normalize_index(index, shape_of(lower(x))))


def index_update_public(x, index, values):
    """``x`` with ``values`` written at ``index`` (a new array), the differentiable ``x[index] = values``.

    d/dx is the identity except at ``index`` (zero there); d/dvalues gathers at ``index``.
    """
    return index_update(x, values, index=normalize_index(index, shape_of(lower(x))))


# ---- pad: zero padding is a primitive (its transpose is a slice); other modes gather --------------


def _pad_impl(x, pad_width):
    return np.pad(x, pad_width)


def _batch_pad_width(t, pad_width):
    return ((0, 0),) * (ndim_of(t) - len(pad_width)) + tuple(pad_width)


def _unpad(g, x_shape, pad_width):
    nb = ndim_of(g) - len(x_shape)
    return g[(slice(None),) * nb + tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x_shape))]


pad_zeros = primitive(_pad_impl, name="pad")
defjvp(pad_zeros, lambda t, ans, x, pad_width: pad_zeros(t, pad_width=_batch_pad_width(t, pad_width)))
defvjp(pad_zeros, lambda ans, x, pad_width: lambda g: _unpad(g, shape_of(x), pad_width))

_GATHER_MODES = ("edge", "reflect", "symmetric", "wrap")


@implements(np.pad)
def _np_pad(array, pad_width, mode="constant", **kwargs):
    shape = shape_of(lower(array))
    widths = tuple((int(b), int(a)) for b, a in np.broadcast_to(np.asarray(pad_width), (len(shape), 2)))
    if mode == "constant":
        out = pad_zeros(array, pad_width=widths)
        values = kwargs.get("constant_values", 0)
        if np.any(np.asarray(values) != 0):
            # The padding values are constants: add them on a zero-padded array of zeros.
            out = out + np.pad(np.zeros(shape, dtype=np.result_type(lower(array))), widths,
                               constant_values=values)
        return out
    if mode in _GATHER_MODES:
        # These modes only copy entries: pad an array of positions, then gather by them.
        where = np.pad(np.arange(int(np.prod(shape, dtype=int))).reshape(shape), widths, mode=mode,
                       **kwargs)
        return np.ravel(array)[where]
    raise NotImplementedError(f"np.pad(mode={mode!r}) is not differentiable here; use one of "
                              f"'constant', {', '.join(map(repr, _GATHER_MODES))}.")


# ---- adapters: stacking, splitting, tiling, flipping, gathering --------------------------------------


@implements(np.atleast_1d)
def _np_atleast_1d(*arys):
    out = [a if ndim_of(lower(a)) >= 1 else np.reshape(a, (1,)) for a in arys]
    return out[0] if len(out) == 1 else out


@implements(np.atleast_2d)
def _np_atleast_2d(*arys):
    out = []
    for a in arys:
        nd = ndim_of(lower(a))
        out.append(a if nd >= 2 else np.reshape(a, (1,) * (2 - nd) + shape_of(lower(a))))
    return out[0] if len(out) == 1 else out


@implements(np.hstack)
def _np_hstack(tup, *, dtype=None, casting="same_kind"):
    arrs = [_np_atleast_1d(a) for a in tup]
    return _np_concatenate(arrs, axis=0 if ndim_of(lower(arrs[0])) == 1 else 1, dtype=dtype,
                           casting=casting)


@implements(np.vstack)
def _np_vstack(tup, *, dtype=None, casting="same_kind"):
    return _np_concatenate([_np_atleast_2d(a) for a in tup], axis=0, dtype=dtype, casting=casting)


@implements(np.column_stack)
def _np_column_stack(tup):
    arrs = [np.reshape(a, (-1, 1)) if ndim_of(lower(a)) < 2 else a for a in tup]
    return _np_concatenate(arrs, axis=1)


def _split_bounds(n, indices_or_sections, equal):
    """(start, stop) of each piece, found by letting NumPy split positions 0..n-1."""
    split = np.split if equal else np.array_split
    pieces = split(np.arange(n), indices_or_sections)
    starts = np.cumsum([0] + [len(p) for p in pieces])
    return list(zip(starts[:-1].tolist(), starts[1:].tolist()))


def _split(ary, indices_or_sections, axis, equal):
    nd = ndim_of(lower(ary))
    axis = int(axis) % nd
    bounds = _split_bounds(shape_of(lower(ary))[axis], indices_or_sections, equal)
    return [ary[(slice(None),) * axis + (slice(b, e),)] for b, e in bounds]


@implements(np.split)
def _np_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, True)


@implements(np.array_split)
def _np_array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, False)


@implements(np.hsplit)
def _np_hsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 1 if ndim_of(lower(ary)) > 1 else 0, True)


@implements(np.vsplit)
def _np_vsplit(ary, indices_or_sections):
    return _split(ary, indices_or_sections, 0, True)


@implements(np.unstack)
def _np_unstack(x, /, *, axis=0):
    nd = ndim_of(lower(x))
    axis = int(axis) % nd
    return tuple(x[(slice(None),) * axis + (i,)] for i in range(shape_of(lower(x))[axis]))


@implements(np.matrix_transpose, np.linalg.matrix_transpose)
def _np_matrix_transpose(x, /):
    return _np_swapaxes(x, -1, -2)


@implements(np.tile)
def _np_tile(A, reps):
    """Tile by broadcasting: interleave singleton axes, broadcast them to ``reps``, merge pairs."""
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    shape = shape_of(lower(A))
    d = max(len(shape), len(reps))
    shape = (1,) * (d - len(shape)) + shape
    reps = (1,) * (d - len(reps)) + reps
    inter = tuple(x for s in shape for x in (1, s))
    wide = np.broadcast_to(np.reshape(A, inter), tuple(x for r, s in zip(reps, shape) for x in (r, s)))
    return np.reshape(wide, tuple(r * s for r, s in zip(reps, shape)))


@implements(np.repeat)
def _np_repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = np.ravel(a), 0
    nd = ndim_of(lower(a))
    axis = int(axis) % nd
    shape = shape_of(lower(a))
    if ndim_of(repeats) == 0:
        r = int(repeats)
        wide = np.broadcast_to(np.expand_dims(a, axis + 1), shape[:axis + 1] + (r,) + shape[axis + 1:])
        return np.reshape(wide, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    positions = np.repeat(np.arange(shape[axis]), np.asarray(repeats))
    return a[(slice(None),) * axis + (positions,)]


@implements(np.flip)
def _np_flip(m, axis=None):
    nd = ndim_of(lower(m))
    axes = range(nd) if axis is None else [int(a) % nd for a in np.atleast_1d(axis)]
    return m[tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(nd))]


@implements(np.fliplr)
def _np_fliplr(m):
    return _np_flip(m, 1)


@implements(np.flipud)
def _np_flipud(m):
    return _np_flip(m, 0)


@implements(np.roll)
def _np_roll(a, shift, axis=None):
    """Roll by joining two slices per axis (so the VJP is slicing too, never a scatter-add)."""
    if axis is None:
        return np.reshape(_np_roll(np.ravel(a), shift, 0), shape_of(lower(a)))
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    nd = ndim_of(lower(a))
    total = {}
    for s, ax in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        total[ax % nd] = total.get(ax % nd, 0) + s
    for ax, s in total.items():
        n = shape_of(lower(a))[ax]
        s = s % n if n else 0
        if s:
            head = (slice(None),) * ax
            a = _np_concatenate([a[head + (slice(n - s, None),)], a[head + (slice(0, n - s),)]], axis=ax)
    return a


@implements(np.take)
def _np_take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise TypeError("np.take(..., out=...) writes in place and cannot be differentiated.")
    if axis is None:
        a, axis = np.ravel(a), 0
    axis = int(axis) % ndim_of(lower(a))
    n = shape_of(lower(a))[axis]
    indices = np.asarray(lower(indices))
    if mode == "wrap":
        indices = np.mod(indices, n)
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    return a[(slice(None),) * axis + (indices,)]


@implements(np.take_along_axis)
def _np_take_along_axis(arr, indices, axis=-1):
    if axis is None:
        return np.ravel(arr)[np.asarray(lower(indices))]
    indices = np.asarray(lower(indices))
    nd = ndim_of(lower(arr))
    axis = int(axis) % nd
    arr_shape = shape_of(lower(arr))
    index = []
    for k in range(nd):
        if k == axis:
            index.append(indices)
        else:
            # Positions along the other axes; index broadcasting then matches NumPy's (size-1 axes of
            # `indices` stretch to the array's).
            shape = [1] * nd
            shape[k] = arr_shape[k]
            index.append(np.arange(arr_shape[k]).reshape(shape))
    return arr[tuple(index)]


@implements(np.sort)
def _np_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The sorted values: a gather by argsort (ties keep the stable order; each value keeps its slot)."""
    if axis is None:
        a, axis = np.ravel(a), -1
    order_idx = np.argsort(lower(a), axis=axis, kind="stable")
    return _np_take_along_axis(a, order_idx, axis)


def _diagonal_positions(n1, n2, offset):
    if offset >= 0:
        i = np.arange(max(0, min(n1, n2 - offset)))
        return i, i + offset
    i = np.arange(max(0, min(n1 + offset, n2)))
    return i - offset, i


@implements(np.diagonal)
def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    """Diagonal along (axis1, axis2), appended as the last axis (as NumPy): a gather."""
    moved = _np_moveaxis(a, (axis1, axis2), (-2, -1))
    n1, n2 = shape_of(lower(moved))[-2:]
    i, j = _diagonal_positions(n1, n2, int(offset))
    return moved[..., i, j]


@implements(np.diag)
def _np_diag(v, k=0):
    """1-D v: a matrix with v on its k-th diagonal; 2-D v: its k-th diagonal."""
    if ndim_of(lower(v)) == 2:
        return _np_diagonal(v, k)
    n = shape_of(lower(v))[0] + abs(int(k))
    i, j = _diagonal_positions(n, n, int(k))
    zeros = np.zeros((n, n), dtype=np.result_type(lower(v)))
    return index_add(zeros, v, index=(i, j))


def _tri_mask(a, k, upper):
    n, m = shape_of(lower(a))[-2:]
    # tril keeps j <= i + k; triu keeps j >= i + k, the complement of tril at k - 1.
    return ~np.tri(n, m, k - 1, dtype=bool) if upper else np.tri(n, m, k, dtype=bool)


@implements(np.tril)
def _np_tril(m, k=0):
    """m with entries above the k-th diagonal set to zero (a where on a constant mask: a product with
    the mask would give -0.0 for negative entries, where NumPy gives 0.0)."""
    return np.where(_tri_mask(m, int(k), False), m, 0.0)


@implements(np.triu)
def _np_triu(m, k=0):
    """m with entries below the k-th diagonal set to zero (a where on a constant mask)."""
    return np.where(_tri_mask(m, int(k), True), m, 0.0)


__all__ = ["reshape", "broadcast_to", "transpose", "concatenate", "getitem", "index_add", "index_update",
           "normalize_index", "index_add_public", "index_update_public", "scatter", "pad_zeros"]


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
    # [0, 2, 0] writes row 0 twice: index_add accumulates, index_update keeps the last write
    choices = [(1,), (slice(0, 2), slice(None)), (np.array([0, 2]),), (slice(None), np.array([3, 1])),
               (np.array([0, 2, 0]),)]
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



def _scatter_sample(rng):
    shape = (3, 4)
    index = [(slice(1, None),), (slice(None), 2), (1, slice(None, None, -2)), (None, slice(0, 2))][
        rng.integers(4)]
    index = normalize_index(index, shape)
    slot = np.zeros(shape)[index].shape
    return Sample((rng.uniform(-2, 2, size=slot),), {"shape": shape, "index": index})


def _pad_sample(rng):
    shapes = [((3,), ((1, 2),)), ((2, 3), ((0, 1), (2, 0))), ((2, 2), ((1, 1), (1, 1)))]
    shape, widths = shapes[rng.integers(len(shapes))]
    return Sample((rng.uniform(-2, 2, size=shape),), {"pad_width": widths})


defdomain(scatter, _scatter_sample)
defdomain(pad_zeros, _pad_sample)
