"""Reductions: sum, mean, max, min — each primitive followed by its rules.

Axes are normalised to negative numbers by the NumPy adapters, so that the same axis names the same data
axis in a value and in its batched tangent (batch axes are in front).
"""

from __future__ import annotations

import numpy as np

from autodiff.core import defdomain, defjvp, defvjp, implements, lower, primitive
from autodiff.rules._domains import array
from autodiff.rules._util import const_like, keepdims_shape, neg_axes


def _expand_reduced(g, x_shape, axes, keepdims):
    """Cotangent of a reduction, reshaped so it broadcasts against the input (batch axes in front)."""
    nb = np.ndim(g) - (len(x_shape) - (0 if keepdims else len(axes)))
    gshape = np.shape(g)
    return np.reshape(g, gshape[:nb] + keepdims_shape(x_shape, axes))


def _sum_impl(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(ans, x, axis, keepdims):
    shape = np.shape(x)

    def pullback(g):
        g = _expand_reduced(g, shape, axis, keepdims)
        return np.broadcast_to(g, np.shape(g)[:np.ndim(g) - len(shape)] + shape)

    return pullback


sum_ = primitive(_sum_impl, name="sum")
defjvp(sum_, lambda t, ans, x, axis, keepdims: np.sum(t, axis=axis, keepdims=keepdims))
defvjp(sum_, _sum_vjp)


@implements(np.sum)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "sum")
    a = a if dtype is None else a.astype(dtype)
    return sum_(a, axis=neg_axes(axis, np.ndim(a)), keepdims=bool(keepdims))


@implements(np.mean)
def _np_mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_out(out, "mean")
    axes = neg_axes(axis, np.ndim(a))
    count = int(np.prod([np.shape(a)[ax] for ax in axes], dtype=int))
    return _np_sum(a, axes, dtype, None, keepdims) / count


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


# ---- max and min: ties share the derivative evenly ------------------------------------------------


def _extremum_share(x, ans, axis):
    """Constant weights: 1/k on each of the k entries that attain the extremum, 0 elsewhere."""
    xl = lower(x)
    hit = xl == np.reshape(lower(ans), keepdims_shape(np.shape(xl), axis))
    return const_like(hit / np.sum(hit, axis=axis, keepdims=True), ans)


def _extremum_jvp(t, ans, x, axis, keepdims):
    return np.sum(t * _extremum_share(x, ans, axis), axis=axis, keepdims=keepdims)


def _extremum_vjp(ans, x, axis, keepdims):
    share = _extremum_share(x, ans, axis)
    shape = np.shape(x)
    return lambda g: _expand_reduced(g, shape, axis, keepdims) * share


def _amax_impl(x, axis, keepdims):
    return np.max(x, axis=axis, keepdims=keepdims)


def _amin_impl(x, axis, keepdims):
    return np.min(x, axis=axis, keepdims=keepdims)


max_ = primitive(_amax_impl, name="max")
min_ = primitive(_amin_impl, name="min")
for _prim in (max_, min_):
    defjvp(_prim, _extremum_jvp)
    defvjp(_prim, _extremum_vjp)


@implements(np.max, np.amax)
def _np_max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "max")
    return max_(a, axis=neg_axes(axis, np.ndim(a)), keepdims=bool(keepdims))


@implements(np.min, np.amin)
def _np_min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "min")
    return min_(a, axis=neg_axes(axis, np.ndim(a)), keepdims=bool(keepdims))


__all__ = ["sum_", "max_", "min_"]


def _axis_params(rng, shape):
    """A random axis argument (None, one axis, negative, or a tuple) and keepdims."""
    nd = len(shape)
    choices = [None] + list(range(-nd, nd)) + ([(0, 1)] if nd >= 2 else [])
    axis = choices[rng.integers(len(choices))]
    return {"axis": neg_axes(axis, nd), "keepdims": bool(rng.integers(2))}


defdomain(sum_, array([(), (3,), (2, 3), (2, 3, 2)], params=_axis_params))
defdomain(max_, array([(3,), (2, 3), (2, 3, 2)], params=_axis_params, distinct=True))
defdomain(min_, array([(3,), (2, 3), (2, 3, 2)], params=_axis_params, distinct=True))
