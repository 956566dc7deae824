"""Reductions and scans: sum, prod, max, min, var, std, cumsum, cumprod, trace — each primitive followed by
its rules — and the NumPy functions built on them (mean, average, ptp, nan-functions, ufunc.reduce).

Axes are normalised to negative numbers by the NumPy adapters, so that the same axis names the same data
axis in a value and in its batched tangent (batch axes are in front).
"""

from __future__ import annotations

import numpy as np

from autodiff import core
from autodiff.core import (
    NDARRAY,
    Sample,
    Tracer,
    defdomain,
    defjvp,
    defvjp,
    implements,
    implements_ufunc_method,
    lower,
    ndim_of,
    primitive,
    shape_of,
)
from autodiff.forms import deflinear
from autodiff.rules._domains import array
from autodiff.rules._util import const_like, keepdims_shape, neg_axes


def _expand_reduced(g, x_shape, axes, keepdims):
    """Cotangent of a reduction, reshaped so it broadcasts against the input (batch axes in front)."""
    nb = ndim_of(g) - (len(x_shape) - (0 if keepdims else len(axes)))
    gshape = shape_of(g)
    return np.reshape(g, gshape[:nb] + keepdims_shape(x_shape, axes))


def _count(shape, axes) -> int:
    """Number of entries a reduction over ``axes`` combines."""
    return int(np.prod([shape[a] for a in axes], dtype=int))


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


def _flip(x, axis):
    """``x`` reversed along the (negative) ``axis``, by basic indexing (differentiable)."""
    return x[(Ellipsis, slice(None, None, -1)) + (slice(None),) * (-axis - 1)]


def _no_zeros(x) -> bool:
    return bool(np.all(lower(x) != 0))


# ---- sum -------------------------------------------------------------------------------------------


def _sum_impl(x, axis, keepdims):
    # the ndarray method is np.sum without its Python-level wrapper (~1 µs, paid on every sum of a trace)
    if type(x) is NDARRAY:
        return x.sum(axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(ans, x, axis, keepdims):
    shape = shape_of(x)

    def pullback(g):
        if type(g) is NDARRAY or isinstance(g, np.generic):
            return _broadcast_plain(np.asarray(g), shape, axis, keepdims)
        g = _expand_reduced(g, shape, axis, keepdims)
        return np.broadcast_to(g, shape_of(g)[:ndim_of(g) - len(shape)] + shape)

    return pullback


def _broadcast_plain(g, x_shape, axes, keepdims):
    """The sum's cotangent for a plain array ``g``: ``g`` broadcast over the summed axes, read-only view.

    Why: the seed of every gradient of a sum comes here, and np.reshape + np.broadcast_to cost ~3 µs of
    Python wrappers, a tenth of a small gradient; the ndarray methods and a zero-stride view built
    directly on ``g``'s buffer give the same view. Other layouts take np.broadcast_to.
    """
    if g.ndim == 0 and g.dtype.kind in "fc":  # the total of a gradient's seed: every entry gets g
        target, strides = x_shape, (0,) * len(x_shape)
    else:
        nb = g.ndim - (len(x_shape) - (0 if keepdims else len(axes)))
        g = g.reshape(g.shape[:nb] + keepdims_shape(x_shape, axes))
        target = g.shape[:nb] + x_shape
        if g.size == 0 or g.dtype.kind not in "fc" or not g.flags.c_contiguous:
            return np.broadcast_to(g, target)
        strides = tuple(s if d == t else 0 for s, d, t in zip(g.strides, g.shape, target))
    view = np.ndarray(target, g.dtype, g, 0, strides)
    view.flags.writeable = False
    return view


def _axis_params(rng, shape):
    """A random axis argument (None, one axis, negative, or a tuple) and keepdims."""
    nd = len(shape)
    choices = [None] + list(range(-nd, nd)) + ([(0, 1)] if nd >= 2 else [])
    axis = choices[rng.integers(len(choices))]
    return {"axis": neg_axes(axis, nd), "keepdims": bool(rng.integers(2))}


sum_ = deflinear(_sum_impl, transpose=_sum_vjp, name="sum")
defdomain(sum_, array([(), (3,), (2, 3), (2, 3, 2)], params=_axis_params))


_SUM_ALL: dict[int, dict] = {}   # the parameters of a total over every axis, by rank (never modified)


def _masked(a, where, fill):
    """``a`` with ``fill`` where the (constant) ``where=`` mask of a NumPy reduction is False."""
    return a if where is None or where is True else np.where(lower(where), a, fill)


@implements(np.sum)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.sum``: Σ over ``axis``; derivative 1 for every entry summed (0 where ``where=`` is False)."""
    if axis is None and dtype is None and out is None and initial is None and where is None \
            and not keepdims and isinstance(a, Tracer):
        # np.sum(x) of a traced x, the most common reduction: its parameters made once per rank
        nd = ndim_of(a)
        params = _SUM_ALL.get(nd)
        if params is None:
            params = _SUM_ALL[nd] = {"axis": neg_axes(None, nd), "keepdims": False}
        return core.bind_tuple(sum_, (a,), params)   # what sum_(a, **params) does, without star calls
    _no_out(out, "sum")
    a = a if dtype is None else a.astype(dtype)
    s = sum_(_masked(a, where, 0.0), axis=neg_axes(axis, ndim_of(a)), keepdims=bool(keepdims))
    return s if initial is None else s + initial


@implements(np.mean)
def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """``np.mean``: Σ x / count over ``axis`` (count of the selected entries with ``where=``)."""
    _no_out(out, "mean")
    axes = neg_axes(axis, ndim_of(a))
    if where is None or where is True:
        count = _count(shape_of(a), axes)
    else:
        mask = np.broadcast_to(lower(where), shape_of(a))
        count = const_like(np.sum(mask, axis=axes, keepdims=bool(keepdims)), a)
    return _np_sum(a, axes, dtype, None, keepdims, where=where) / count


# ---- prod: the product of the *other* entries, never ans / x at a zero ------------------------------


def _exclusive_cumprod(x):
    """[1, x0, x0 x1, ..., x0 ⋯ x_{n-2}] along the last axis: the product of the entries before each."""
    ones = const_like(np.ones(shape_of(x)[:-1] + (1,)), x)
    return np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)


def _products_of_others(x, axes):
    """∂ prod(x, axes)/∂x_i = the product of all other entries on the reduced axes, shaped like x.

    Written without division — (product of the entries before i) × (product of those after i) over the
    flattened reduced axes — so that it is right where some x_i are 0.
    """
    shape = shape_of(x)
    nd = len(shape)
    reduced = [a + nd for a in axes]
    perm = [i for i in range(nd) if i not in reduced] + reduced
    xt = x if perm == list(range(nd)) else np.transpose(x, perm)
    tshape = shape_of(xt)
    n = _count(shape, axes)
    if n == 0:
        return const_like(np.zeros(shape), x)
    xf = np.reshape(xt, tshape[:nd - len(axes)] + (n,))
    others = _exclusive_cumprod(xf) * _flip(_exclusive_cumprod(_flip(xf, -1)), -1)
    others = np.reshape(others, tshape)
    return others if perm == list(range(nd)) else np.transpose(others, tuple(np.argsort(perm)))


def _prod_partials(ans, x, axis):
    if _no_zeros(x):                      # the hot path: prod / x_i
        return np.reshape(ans, keepdims_shape(shape_of(x), axis)) / x
    return _products_of_others(x, axis)


def _prod_impl(x, axis, keepdims):
    return np.prod(x, axis=axis, keepdims=keepdims)


def _prod_jvp(t, ans, x, axis, keepdims):
    return np.sum(t * _prod_partials(ans, x, axis), axis=axis, keepdims=keepdims)


def _prod_vjp(ans, x, axis, keepdims):
    shape = shape_of(x)
    return lambda g: _expand_reduced(g, shape, axis, keepdims) * _prod_partials(ans, x, axis)


def _with_zeros(sampler):
    """Sampler whose values sometimes hold exact zeros (one or two), where prod/cumprod must not divide."""
    def sample(rng):
        s = sampler(rng)
        x = np.array(s.args[0], dtype=float)
        if x.size and rng.integers(3):
            flat = x.reshape(-1)
            flat[rng.choice(x.size, size=min(x.size, int(rng.integers(1, 3))), replace=False)] = 0.0
        return Sample((x,), s.params)
    return sample


prod = primitive(_prod_impl, name="prod")
defjvp(prod, _prod_jvp)
defvjp(prod, _prod_vjp)
defdomain(prod, _with_zeros(array([(), (3,), (2, 3), (2, 3, 2)], params=_axis_params)))


@implements(np.prod)
def _np_prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.prod``: Π over ``axis``; ∂/∂x_i is the product of the other entries (right at zeros too)."""
    _no_out(out, "prod")
    a = a if dtype is None else a.astype(dtype)
    p = prod(_masked(a, where, 1.0), axis=neg_axes(axis, ndim_of(a)), keepdims=bool(keepdims))
    return p if initial is None else p * initial


# ---- max and min: ties share the derivative evenly ------------------------------------------------


def _extremum_share(x, ans, axis):
    """Constant weights: 1/k on each of the k entries that attain the extremum, 0 elsewhere."""
    xl = lower(x)
    hit = xl == np.reshape(lower(ans), keepdims_shape(shape_of(xl), axis))
    return const_like(hit / np.sum(hit, axis=axis, keepdims=True), ans)


def _extremum_jvp(t, ans, x, axis, keepdims):
    return np.sum(t * _extremum_share(x, ans, axis), axis=axis, keepdims=keepdims)


def _extremum_vjp(ans, x, axis, keepdims):
    share = _extremum_share(x, ans, axis)
    shape = shape_of(x)
    return lambda g: _expand_reduced(g, shape, axis, keepdims) * share


def _amax_impl(x, axis, keepdims):
    return np.max(x, axis=axis, keepdims=keepdims)


def _amin_impl(x, axis, keepdims):
    return np.min(x, axis=axis, keepdims=keepdims)


_SHAPES = [(3,), (2, 3), (2, 3, 2)]


max_ = primitive(_amax_impl, name="max")
defdomain(max_, array(_SHAPES, params=_axis_params, distinct=True))
min_ = primitive(_amin_impl, name="min")
defdomain(min_, array(_SHAPES, params=_axis_params, distinct=True))
for _prim in (max_, min_):
    defjvp(_prim, _extremum_jvp)
    defvjp(_prim, _extremum_vjp)


def _extremum(prim, a, axis, keepdims, initial, where, name):
    if where is not None and where is not True:
        if initial is None:
            raise ValueError(f"np.{name}(..., where=...) needs initial= (as in NumPy).")
        a = np.where(lower(where), a, initial)
    m = prim(a, axis=neg_axes(axis, ndim_of(a)), keepdims=bool(keepdims))
    if initial is None:
        return m
    return np.maximum(m, initial) if prim is max_ else np.minimum(m, initial)


@implements(np.max, np.amax)
def _np_max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.max``: derivative 1 at the maximum, shared evenly (1/k each) between k tied entries."""
    _no_out(out, "max")
    return _extremum(max_, a, axis, keepdims, initial, where, "max")


@implements(np.min, np.amin)
def _np_min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.min``: derivative 1 at the minimum, shared evenly (1/k each) between k tied entries."""
    _no_out(out, "min")
    return _extremum(min_, a, axis, keepdims, initial, where, "min")


@implements(np.ptp)
def _np_ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp``: max - min over ``axis``."""
    _no_out(out, "ptp")
    return _np_max(a, axis, None, keepdims) - _np_min(a, axis, None, keepdims)


# ---- var and std -----------------------------------------------------------------------------------


def _var_impl(x, axis, ddof, keepdims):
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _var_scale(x, axis, ddof) -> float:
    """2 / (N - ddof): var = Σ (x - mean)² / (N - ddof), and Σ (x - mean) = 0 kills mean's derivative."""
    dof = _count(shape_of(x), axis) - ddof
    return 2.0 / dof if dof > 0 else float("nan")


def _centered(x, axis):
    """x - mean(x); conjugated for complex x, whose variance Σ |x - mean|² is not holomorphic (the
    derivative is then Re(conj(x - mean) dx), transposed to g conj(x - mean) under the real pairing)."""
    c = x - np.mean(x, axis=axis, keepdims=True)
    return np.conjugate(c) if np.iscomplexobj(lower(x)) else c


def _var_jvp(t, ans, x, axis, ddof, keepdims):
    d = _var_scale(x, axis, ddof) * np.sum(_centered(x, axis) * t, axis=axis, keepdims=keepdims)
    return np.real(d) if np.iscomplexobj(lower(x)) else d


def _var_vjp(ans, x, axis, ddof, keepdims):
    shape = shape_of(x)

    def pullback(g):
        return (_var_scale(x, axis, ddof) * _expand_reduced(g, shape, axis, keepdims)) * _centered(x, axis)

    return pullback


def _var_params(rng, shape):
    return dict(_axis_params(rng, shape), ddof=int(rng.integers(2)))


def _sometimes_complex(sampler):
    """Sampler whose values are complex half of the time (var/std of complex values are real)."""
    def sample(rng):
        s = sampler(rng)
        x = s.args[0]
        if rng.integers(2):
            x = x + 1j * rng.uniform(-2.0, 2.0, size=shape_of(x))
        return Sample((x,), s.params)
    return sample


var = primitive(_var_impl, name="var")
defjvp(var, _var_jvp)
defvjp(var, _var_vjp)
defdomain(var, _sometimes_complex(array(_SHAPES, params=_var_params)))


def _std_impl(x, axis, ddof, keepdims):
    return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _half_over(u, ans):
    """u / (2 std), and 0 where std is 0: d sqrt(v) = dv / (2 sqrt(v)).

    std = 0 means every entry equals the mean. With one entry (N - ddof = 1 or a reduced axis of
    length 1) std is identically 0 and its derivative is exactly 0; with several equal entries std is a
    kink (the norm of x - mean at its origin) and takes 0, as ``abs`` and ``norm`` do (SPEC section 2).
    The safe-where idiom keeps higher derivatives finite too.
    """
    zero = lower(ans) == 0
    if not np.any(zero):
        return u / (2.0 * ans)
    if ndim_of(zero) == 0:
        return 0.0 * u
    return np.where(zero, 0.0, u / (2.0 * np.where(zero, 1.0, ans)))


def _std_jvp(t, ans, x, axis, ddof, keepdims):
    return _half_over(_var_jvp(t, ans, x, axis, ddof, keepdims), ans)


def _std_vjp(ans, x, axis, ddof, keepdims):
    pull_var = _var_vjp(ans, x, axis, ddof, keepdims)
    return lambda g: pull_var(_half_over(g, ans))


std = primitive(_std_impl, name="std")
defjvp(std, _std_jvp)
defvjp(std, _std_vjp)
defdomain(std, _sometimes_complex(array(_SHAPES, params=_var_params)))


def _ddof(ddof, correction):
    return ddof if correction is None else correction


@implements(np.var)
def _np_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
            correction=None):
    """``np.var``: Σ (x - mean)² / (N - ddof); derivative 2 (x - mean) / (N - ddof)."""
    _no_out(out, "var")
    _unsupported(where, "var", "where")
    a = a if dtype is None else a.astype(dtype)
    if mean is not None:
        return _var_about(a, mean, axis, _ddof(ddof, correction), keepdims)
    return var(a, axis=neg_axes(axis, ndim_of(a)), ddof=_ddof(ddof, correction), keepdims=bool(keepdims))


@implements(np.std)
def _np_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
            correction=None):
    """``np.std``: sqrt(var); derivative (x - mean) / ((N - ddof) std) (infinite where std = 0)."""
    _no_out(out, "std")
    _unsupported(where, "std", "where")
    a = a if dtype is None else a.astype(dtype)
    if mean is not None:
        return np.sqrt(_var_about(a, mean, axis, _ddof(ddof, correction), keepdims))
    return std(a, axis=neg_axes(axis, ndim_of(a)), ddof=_ddof(ddof, correction), keepdims=bool(keepdims))


def _var_about(a, mean, axis, ddof, keepdims):
    """Σ |a - mean|² / (N - ddof) about a given ``mean`` (NumPy's ``mean=``, with keepdims' shape),
    computed as NumPy does it; differentiable in ``a`` and in ``mean``."""
    axes = neg_axes(axis, ndim_of(a))
    d = a - mean
    sq = np.real(d * np.conjugate(d)) if np.iscomplexobj(lower(d)) else d * d
    dof = max(_count(shape_of(a), axes) - ddof, 0)
    return _np_sum(sq, axes, None, None, keepdims) / dof


def _unsupported(value, name, what):
    if value is not None and value is not True:
        raise NotImplementedError(f"np.{name}(..., {what}=...) is not supported on traced values.")


# ---- cumulative sums and products ------------------------------------------------------------------


def _cumsum_impl(x, axis):
    return np.cumsum(x, axis=axis)


def _reverse_cumsum(g, axis):
    """Σ_{i ≥ j} g_i along ``axis``: the transpose of cumsum (each x_j feeds every later partial sum)."""
    return _flip(np.cumsum(_flip(g, axis), axis=axis), axis)


def _scan_params(rng, shape):
    return {"axis": int(rng.integers(-len(shape), 0))}


cumsum = deflinear(_cumsum_impl, name="cumsum",
                   transpose=lambda ans, x, axis: lambda g: _reverse_cumsum(g, axis))
defdomain(cumsum, array(_SHAPES, params=_scan_params))


def _cumprod_impl(x, axis):
    return np.cumprod(x, axis=axis)


def _cumprod_partials(x):
    """M[..., j, i] = ∂ cumprod(x)_i / ∂x_j = Π_{k ≤ i, k ≠ j} x_k for j ≤ i, else 0 (last axis).

    Division-free (for inputs with zeros): Π_{k<j} x_k · Π_{j<k≤i} x_k, the second factor being the
    cumulative product of the matrix whose row j is x with its first j + 1 entries set to 1. O(n²).
    """
    n = shape_of(x)[-1]
    later = np.triu(np.ones((n, n), dtype=bool), 1)                  # [j, i]: i > j
    after_j = np.cumprod(np.where(later, np.expand_dims(x, -2), 1.0), axis=-1)
    upto = const_like(np.triu(np.ones((n, n)), 0), x)                 # [j, i]: j ≤ i
    return np.expand_dims(_exclusive_cumprod(x), -1) * after_j * upto


def _cumprod_jvp(t, ans, x, axis):
    if _no_zeros(x):                        # hot path: y_i Σ_{j≤i} t_j / x_j
        return ans * np.cumsum(t / x, axis=axis)
    m = _cumprod_partials(np.moveaxis(x, axis, -1))
    tm = np.expand_dims(np.moveaxis(t, axis, -1), -1)
    return np.moveaxis(np.sum(tm * m, axis=-2), -1, axis)


def _cumprod_vjp(ans, x, axis):
    def pullback(g):
        if _no_zeros(x):
            return _reverse_cumsum(g * ans, axis) / x
        m = _cumprod_partials(np.moveaxis(x, axis, -1))
        gm = np.expand_dims(np.moveaxis(g, axis, -1), -2)
        return np.moveaxis(np.sum(m * gm, axis=-1), -1, axis)

    return pullback


cumprod = primitive(_cumprod_impl, name="cumprod")
defjvp(cumprod, _cumprod_jvp)
defvjp(cumprod, _cumprod_vjp)
defdomain(cumprod, _with_zeros(array(_SHAPES, params=_scan_params)))


def _scan(prim, a, axis, dtype, name):
    a = a if dtype is None else a.astype(dtype)
    if axis is None:
        a, axis = np.ravel(a), -1
    return prim(a, axis=neg_axes(axis, ndim_of(a))[0])


@implements(np.cumsum)
def _np_cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum`` (flattened when ``axis`` is None); its transpose is the reversed cumulative sum."""
    _no_out(out, "cumsum")
    return _scan(cumsum, a, axis, dtype, "cumsum")


@implements(np.cumprod)
def _np_cumprod(a, axis=None, dtype=None, out=None):
    """``np.cumprod``; ∂y_i/∂x_j = Π_{k≤i, k≠j} x_k, computed without dividing by x where x has zeros."""
    _no_out(out, "cumprod")
    return _scan(cumprod, a, axis, dtype, "cumprod")


def _with_initial(y, axis, value):
    first = np.take(np.zeros(shape_of(lower(y))), [0], axis=axis) + value
    return np.concatenate([const_like(first, y), y], axis=axis)


@implements(np.cumulative_sum)
def _np_cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_sum`` (NumPy ≥ 2.1): cumsum, optionally starting with 0."""
    _no_out(out, "cumulative_sum")
    y = _scan(cumsum, x, axis, dtype, "cumulative_sum")
    return _with_initial(y, -1 if axis is None else axis, 0.0) if include_initial else y


@implements(np.cumulative_prod)
def _np_cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_prod`` (NumPy ≥ 2.1): cumprod, optionally starting with 1."""
    _no_out(out, "cumulative_prod")
    y = _scan(cumprod, x, axis, dtype, "cumulative_prod")
    return _with_initial(y, -1 if axis is None else axis, 1.0) if include_initial else y


# ---- trace -----------------------------------------------------------------------------------------


def _trace_impl(x, offset, axis1, axis2):
    return np.trace(x, offset=offset, axis1=axis1, axis2=axis2)


def _trace_vjp(ans, x, offset, axis1, axis2):
    """The cotangent spread on the (offset) diagonal of the two axes: g ⊗ eye(n1, n2, offset)."""
    shape = shape_of(x)
    nd = len(shape)
    a1, a2 = axis1 + nd, axis2 + nd
    eye = np.eye(shape[a1], shape[a2], k=offset)
    eye_shape = [1] * nd
    eye_shape[a1], eye_shape[a2] = shape[a1], shape[a2]
    diag = const_like(np.reshape(eye if a1 < a2 else eye.T, eye_shape), x)
    return lambda g: _expand_reduced(g, shape, tuple(sorted((axis1, axis2))), False) * diag


def _trace_sample(rng):
    shape = [(3, 3), (2, 3), (2, 3, 4)][rng.integers(3)]
    nd = len(shape)
    a1, a2 = rng.choice(nd, size=2, replace=False) - nd
    return Sample((rng.uniform(-2, 2, size=shape),),
                  {"offset": int(rng.integers(-1, 2)), "axis1": int(a1), "axis2": int(a2)})


trace = deflinear(_trace_impl, transpose=_trace_vjp, name="trace")
defdomain(trace, _trace_sample)


@implements(np.trace)
def _np_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``np.trace``: Σ_i a[..., i, i + offset, ...] over ``axis1``/``axis2``; linear in ``a``."""
    _no_out(out, "trace")
    a = a if dtype is None else a.astype(dtype)
    nd = ndim_of(a)
    ax1, ax2 = (neg_axes(ax, nd)[0] for ax in (axis1, axis2))
    if ax1 == ax2:
        raise ValueError("np.trace: axis1 and axis2 cannot be the same")
    return trace(a, offset=int(offset), axis1=ax1, axis2=ax2)


@implements(np.linalg.trace)
def _np_linalg_trace(x, /, *, offset=0, dtype=None):
    """``np.linalg.trace`` (array API): the trace over the last two axes."""
    return _np_trace(x, offset, -2, -1, dtype)


# ---- average and the nan-functions (compositions of the primitives above) --------------------------


@implements(np.average)
def _np_average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average``: Σ w x / Σ w over ``axis``; differentiable in ``a`` and in ``weights``."""
    if weights is None:
        avg = _np_mean(a, axis, keepdims=keepdims)
        total = const_like(np.full(shape_of(lower(avg)), np.size(lower(a)) / max(np.size(lower(avg)), 1)),
                           avg)
    else:
        shape = shape_of(a)
        if shape_of(weights) != shape:
            if axis is None or ndim_of(weights) != 1:
                raise TypeError("np.average: 1-D weights need axis=; otherwise weights must have a's shape")
            w_shape = [1] * len(shape)
            w_shape[neg_axes(axis, len(shape))[0]] = shape_of(weights)[0]
            weights = np.reshape(weights, tuple(w_shape))
        weights = np.broadcast_to(weights, shape)
        total = _np_sum(weights, axis, keepdims=keepdims)
        avg = _np_sum(a * weights, axis, keepdims=keepdims) / total
    return (avg, np.broadcast_to(total, shape_of(avg))) if returned else avg


def _nan_mask(a):
    return np.isnan(lower(a))


@implements(np.nansum)
def _np_nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nansum``: sum with NaN entries counted as 0 (derivative 0 there)."""
    _unsupported(where, "nansum", "where")
    return _np_sum(np.where(_nan_mask(a), 0.0, a), axis, dtype, out, keepdims, initial)


@implements(np.nanmean)
def _np_nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """``np.nanmean``: the mean of the non-NaN entries (derivative 1/count there, 0 at NaN)."""
    _unsupported(where, "nanmean", "where")
    keep = ~_nan_mask(a)
    count = np.sum(keep, axis=neg_axes(axis, ndim_of(a)), keepdims=bool(keepdims))
    mean = _np_sum(np.where(keep, a, 0.0), axis, dtype, out, keepdims) / const_like(np.maximum(count, 1), a)
    # An all-NaN slice has the value NaN (as NumPy) but no derivative (every entry is NaN).
    return np.where(count == 0, np.nan, mean) if np.any(count == 0) else mean


@implements(np.nanprod)
def _np_nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanprod``: product with NaN entries counted as 1 (derivative 0 there)."""
    _unsupported(where, "nanprod", "where")
    return _np_prod(np.where(_nan_mask(a), 1.0, a), axis, dtype, out, keepdims, initial)


def _nan_extremum(reduce_fn, fill, a, axis, keepdims, initial):
    nan = _nan_mask(a)
    m = reduce_fn(np.where(nan, fill, a), axis, None, keepdims, initial)
    all_nan = np.all(nan, axis=axis, keepdims=bool(keepdims))
    return np.where(all_nan, np.nan, m) if np.any(all_nan) else m


@implements(np.nanmax)
def _np_nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanmax``: max ignoring NaN entries (NaN for an all-NaN slice)."""
    _no_out(out, "nanmax")
    _unsupported(where, "nanmax", "where")
    return _nan_extremum(_np_max, -np.inf, a, axis, keepdims, initial)


@implements(np.nanmin)
def _np_nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanmin``: min ignoring NaN entries (NaN for an all-NaN slice)."""
    _no_out(out, "nanmin")
    _unsupported(where, "nanmin", "where")
    return _nan_extremum(_np_min, np.inf, a, axis, keepdims, initial)


# ---- ufunc methods: np.add.reduce(x), np.multiply.accumulate(x), ... (axis defaults to 0) ------------


def _ufunc_reduce(fn):
    def reduce(array, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        _no_out(out, "reduce")
        if kwargs:
            raise NotImplementedError(f"ufunc.reduce with {sorted(kwargs)} is not supported on traced values")
        a = array if dtype is None else array.astype(dtype)
        return fn(a, axis=axis, keepdims=keepdims)
    return reduce


def _ufunc_accumulate(fn):
    def accumulate(array, axis=0, dtype=None, out=None):
        _no_out(out, "accumulate")
        return fn(array, axis=axis, dtype=dtype)
    return accumulate


for _ufunc, _fn in ((np.add, _np_sum), (np.multiply, _np_prod), (np.maximum, _np_max), (np.fmax, _np_nanmax),
                    (np.minimum, _np_min), (np.fmin, _np_nanmin)):
    implements_ufunc_method(_ufunc, "reduce")(_ufunc_reduce(_fn))
implements_ufunc_method(np.add, "accumulate")(_ufunc_accumulate(_np_cumsum))
implements_ufunc_method(np.multiply, "accumulate")(_ufunc_accumulate(_np_cumprod))

__all__ = ["sum_", "prod", "max_", "min_", "var", "std", "cumsum", "cumprod", "trace"]
