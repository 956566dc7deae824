"""Order statistics and moments: median, percentile, quantile, cov, corrcoef, nanvar, nanstd, nancumsum.

One primitive, ``order_statistic`` (the k-th smallest values along the last axis), carries every
sort-based derivative: the derivative of a k-th smallest value is 1 at the entry that holds it, and when
several entries tie for it the derivative is split evenly between them (SPEC §2's convention for max and
min, of which the k-th order statistic is the generalisation). Median, percentile and quantile are
adapters that repeat NumPy's own arithmetic on those values (the mean of the two middle values, NumPy's
interpolation between neighbouring order statistics), so they return NumPy's values exactly and are
differentiable in ``a`` and, for the continuous methods, in ``q`` (the slope between the neighbours).
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
from autodiff.rules._util import const_like

# ---- the primitive --------------------------------------------------------------------------------


def _order_statistic_impl(x, kth):
    return np.take(np.partition(x, kth, axis=-1), kth, axis=-1)


def _holders(x, kth):
    """The position of the entry holding each k-th smallest value when no value there is tied (nor
    NaN), else None. O(n): the neighbours k - 1 and k + 1 in sorted order tell whether it is tied."""
    xl = np.asarray(lower(x))
    n = xl.shape[-1]
    ks = np.asarray(kth)
    near = sorted({k + d for k in kth for d in (-1, 0, 1) if 0 <= k + d < n})
    order = np.argpartition(xl, near, axis=-1)
    part = np.take_along_axis(xl, order, axis=-1)
    v = part[..., ks]
    tied = np.isnan(v)
    for d in (-1, 1):
        other = np.clip(ks + d, 0, n - 1)
        tied |= (other != ks) & (part[..., other] == v)
    if np.any(tied):
        return None
    return order[..., ks]


def _tie_shares(x, ans):
    """(..., K, n) constant weights: 1/c on each of the c entries equal to the k-th value, 0 elsewhere."""
    xl, v = lower(x), lower(ans)
    hit = xl[..., None, :] == v[..., :, None]
    count = np.sum(hit, axis=-1, keepdims=True)
    return const_like(hit / np.maximum(count, 1), ans)


def _gather_last(t, index):
    nb = ndim_of(t) - index.ndim
    return np.take_along_axis(t, np.broadcast_to(index, shape_of(t)[:nb] + index.shape), axis=-1)


def _order_statistic_jvp(t, ans, x, kth):
    where = _holders(x, kth)
    if where is not None:      # one entry holds each value: its tangent (a gather, O(n) memory)
        return _gather_last(t, where)
    return np.sum(_tie_shares(x, ans) * t[..., None, :], axis=-1)


def _order_statistic_vjp(ans, x, kth):
    where = _holders(x, kth)
    if where is not None:
        # the transpose of the gather, as a gather too: entry j reads its output's cotangent, or a zero
        n, count = shape_of(x)[-1], len(kth)
        source = np.full(where.shape[:-1] + (n,), count)
        np.put_along_axis(source, where, np.arange(count), axis=-1)
        return lambda g: _gather_last(np.concatenate([g, np.zeros_like(g[..., :1])], axis=-1), source)
    shares = _tie_shares(x, ans)
    return lambda g: np.sum(g[..., :, None] * shares, axis=-2)


def _order_statistic_sample(rng):
    shape = [(4,), (2, 5), (2, 1, 3)][rng.integers(3)]
    size = int(np.prod(shape))
    x = (rng.permutation(size) * 0.37 + rng.uniform(-0.05, 0.05, size) - 1.0).reshape(shape)
    n = shape[-1]
    kth = tuple(sorted(set(int(k) for k in rng.integers(0, n, size=int(rng.integers(1, 3))))))
    return Sample((x,), {"kth": kth})


order_statistic = primitive(_order_statistic_impl, name="order_statistic")
defjvp(order_statistic, _order_statistic_jvp)
defvjp(order_statistic, _order_statistic_vjp)
defdomain(order_statistic, _order_statistic_sample)


# ---- axes: NumPy's _ureduce (several axes are merged into one, last) ---------------------------------


def _as_array(a):
    return a if isinstance(a, Tracer) else np.asanyarray(a)


def _reduced_last(a, axis):
    """``a`` with the reduced axes merged into its last axis, and the normalised axis tuple (None: all)."""
    nd = ndim_of(lower(a))
    if axis is None:
        return np.reshape(a, (-1,)), None
    axes = tuple(np.lib.array_utils.normalize_axis_tuple(axis, nd))
    keep = [i for i in range(nd) if i not in axes]
    moved = np.transpose(a, keep + list(axes))
    return np.reshape(moved, shape_of(lower(moved))[:len(keep)] + (-1,)), axes


def _keep_dims(r, nd, axes, keepdims):
    """NumPy's keepdims: new axes of length 1 where the reduced axes were (after any q axes)."""
    if not keepdims:
        return r
    index = (None,) * nd if axes is None else tuple(None if i in axes else slice(None) for i in range(nd))
    return r[(Ellipsis,) + index]


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


def _with_nans(result, arr, q_ndim=0):
    """NaN where the reduced slice holds a NaN (NumPy's order statistics sort NaN last)."""
    if not np.issubdtype(np.result_type(lower(arr)), np.inexact):
        return result
    has_nan = np.any(np.isnan(lower(arr)), axis=-1)
    if not np.any(has_nan):
        return result
    return np.where(has_nan, np.nan, result)


# ---- median ----------------------------------------------------------------------------------------


@implements(np.median)
def _np_median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle order statistic, or the mean of the two middle ones for an even count
    (derivative 1, or 1/2 each; tied entries share it evenly). NaN in a slice gives NaN."""
    _no_out(out, "median")
    a = _as_array(a)
    nd = ndim_of(lower(a))
    arr, axes = _reduced_last(a, axis)
    n = shape_of(lower(arr))[-1]
    kth = (n // 2 - 1, n // 2) if n % 2 == 0 else ((n - 1) // 2,)
    r = np.mean(order_statistic(arr, kth=kth), axis=-1)
    return _keep_dims(_with_nans(r, arr), nd, axes, keepdims)


# ---- quantile and percentile -------------------------------------------------------------------------

_CONTINUOUS = {"interpolated_inverted_cdf": (0, 1), "hazen": (0.5, 0.5), "weibull": (0, 0),
               "median_unbiased": (1 / 3.0, 1 / 3.0), "normal_unbiased": (3 / 8.0, 3 / 8.0)}
_DISCRETE = ("inverted_cdf", "closest_observation", "lower", "higher", "nearest")
_METHODS = ("linear", "midpoint", "averaged_inverted_cdf") + tuple(_CONTINUOUS) + _DISCRETE


def _boundary_index(index, pick_previous):
    """NumPy's discrete methods: floor or floor + 1 of ``index`` by a condition on its fraction."""
    previous = np.floor(index)
    gamma = index - previous
    res = np.where(pick_previous(gamma, index), previous, previous + 1).astype(np.intp)
    return np.maximum(res, 0)


def _discrete_index(method, n, q):
    """The integer position (into the sorted values) of the discrete methods (q a plain array)."""
    if method == "lower":
        return np.floor((n - 1) * q).astype(np.intp)
    if method == "higher":
        return np.ceil((n - 1) * q).astype(np.intp)
    if method == "nearest":
        return np.around((n - 1) * q).astype(np.intp)
    if method == "inverted_cdf":
        return _boundary_index((n * q) - 1, lambda g, _: g == 0)
    return _boundary_index((n * q) - 1 - 0.5, lambda g, i: (g == 0) & (np.floor(i) % 2 == 1))


def _virtual_index(method, n, q):
    """The fractional position of the q-quantile among n sorted values (traced when q is)."""
    if method == "linear":
        return (n - 1) * q
    if method in _CONTINUOUS:
        alpha, beta = _CONTINUOUS[method]
        return n * q + (alpha + q * (1 - alpha - beta)) - 1
    ql = lower(q)
    if method == "midpoint":
        return 0.5 * (np.floor((n - 1) * ql) + np.ceil((n - 1) * ql))
    return (n * ql) - 1                                      # averaged_inverted_cdf


def _neighbours(virtual, n):
    """NumPy's (previous, next) positions: floor and floor + 1, clamped to the ends (-1: the last)."""
    v = np.asarray(lower(virtual))
    previous = np.array(np.floor(v))
    following = np.array(previous + 1)
    above = v >= n - 1
    previous[above] = -1
    following[above] = -1
    below = v < 0
    previous[below] = 0
    following[below] = 0
    nans = np.isnan(v)
    previous[nans] = -1
    following[nans] = -1
    return previous.astype(np.intp), following.astype(np.intp)


def _gamma(method, virtual, previous):
    gamma = virtual - previous
    gl = np.asarray(lower(gamma))
    if method == "midpoint":
        gamma = np.where(np.asarray(lower(virtual)) % 1 == 0, 0.0, 0.5)
    elif method == "averaged_inverted_cdf":
        gamma = np.where(gl == 0, 0.5, 1.0)
    dtype = np.result_type(lower(virtual))
    return gamma if np.result_type(lower(gamma)) == dtype else gamma.astype(dtype)


def _lerp(a, b, t):
    """NumPy's interpolation a + (b - a) t, computed from b's side for t >= 1/2 (same rounding)."""
    diff = b - a
    low = a + diff * t
    high = b - diff * (1 - t)
    if ndim_of(lower(t)) == 0 and not isinstance(t, Tracer):
        return high if lower(t) >= 0.5 else low
    return np.where(lower(t) >= 0.5, high, low)


def _take_stats(arr, n, *positions):
    """Order statistics of ``arr`` (last axis) at each array of ``positions`` (one primitive call for
    all): for each, an array of shape positions.shape + arr.shape[:-1]."""
    positions = [np.asarray(p) % max(n, 1) for p in positions]
    kth = tuple(int(k) for k in np.unique(np.concatenate([p.ravel() for p in positions])))
    stats = order_statistic(arr, kth=kth)
    nr = ndim_of(lower(stats)) - 1
    out = []
    for p in positions:
        picked = stats[..., np.searchsorted(np.array(kth), p)]
        if p.ndim:   # the q axes first, as in NumPy
            picked = np.transpose(picked, tuple(range(nr, nr + p.ndim)) + tuple(range(nr)))
        out.append(picked)
    return out


def _quantile(arr, q, method, weak_q):
    """Quantiles of ``arr`` along its last axis; q dims first, as in NumPy."""
    n = shape_of(lower(arr))[-1]
    if method in _DISCRETE:
        return _take_stats(arr, n, _discrete_index(method, n, np.asarray(lower(q))))[0]
    virtual = _virtual_index(method, n, q)
    if np.issubdtype(np.result_type(lower(virtual)), np.integer):
        return _take_stats(arr, n, np.asarray(lower(virtual)))[0]
    previous, following = _neighbours(virtual, n)
    gamma = _gamma(method, virtual, previous)
    if weak_q:
        gamma = float(gamma)
    else:
        vshape = shape_of(lower(virtual))
        gamma = np.reshape(gamma, vshape + (1,) * (ndim_of(lower(arr)) - 1))
    result = _lerp(*_take_stats(arr, n, previous, following), gamma)
    if method == "linear" or method in _CONTINUOUS:
        result = _kinks_in_q(arr, virtual, n, result)
    return result


def _kinks_in_q(arr, virtual, n, result):
    """Where q falls exactly on a sorted value the quantile has a kink in q; its derivative there is
    the mean of the slopes on either side (SPEC §2), and at the top end (q = 1) the slope below it.

    The interpolation alone gives the slope above (gamma = 0 there); the correction adds the
    difference times ``virtual - lower(virtual)``, which is 0 in value and has virtual's derivative.
    """
    if not isinstance(virtual, Tracer) or n < 2:
        return result
    v = np.asarray(lower(virtual))
    on_point = (v == np.floor(v)) & (v > 0) & (v <= n - 1)
    if not np.any(on_point):
        return result
    k = np.clip(np.floor(np.where(on_point, v, 1)).astype(np.intp), 1, n - 1)
    before, here, after = _take_stats(arr, n, k - 1, k, np.minimum(k + 1, n - 1))
    below, above = here - before, after - here
    extra = (1,) * (ndim_of(lower(result)) - v.ndim)
    top = np.reshape(v >= n - 1, v.shape + extra)
    coef = np.where(top, below, 0.5 * (below - above))
    delta = np.reshape(virtual - v, v.shape + extra)
    return np.where(np.reshape(on_point, v.shape + extra), result + coef * delta, result)


def _check_q(q, top, what):
    ql = np.asarray(lower(q))
    if ql.size and not (np.all(ql >= 0) and np.all(ql <= top)):
        raise ValueError(f"{what} must be in the range [0, {top}]")


def _quantile_entry(a, q, weak_q, axis, method, keepdims, weights, interpolation, name):
    if weights is not None:
        raise NotImplementedError(f"np.{name}(..., weights=...) is not differentiable here; sort the "
                                  "values and interpolate the weighted CDF with np.interp instead.")
    if interpolation is not None:
        raise TypeError(f"np.{name}: `interpolation` was renamed to `method` (NumPy 1.22); pass method=.")
    if method not in _METHODS:
        raise ValueError(f"{method!r} is not a valid method. Use one of: {_METHODS}")
    a = _as_array(a)
    if np.iscomplexobj(lower(a)):
        raise TypeError("a must be an array of real numbers")
    if ndim_of(lower(q)) > 1:
        raise ValueError("q must be a scalar or 1d")
    nd = ndim_of(lower(a))
    arr, axes = _reduced_last(a, axis)
    r = _quantile(arr, q, method, weak_q)
    r = _with_nans(r, arr)
    return _keep_dims(r, nd, axes, bool(keepdims))


@implements(np.quantile)
def _np_quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                 weights=None, interpolation=None):
    """``np.quantile``: NumPy's q-quantile (any of its 13 methods), differentiable in ``a`` (weights on
    the one or two neighbouring order statistics) and in ``q`` (the slope between them)."""
    _no_out(out, "quantile")
    weak = type(q) in (int, float)   # NumPy keeps a's dtype for a Python-number q
    q = q if isinstance(q, Tracer) else np.asanyarray(q)
    _check_q(q, 1, "Quantiles")
    return _quantile_entry(a, q, weak, axis, method, keepdims, weights, interpolation, "quantile")


@implements(np.percentile)
def _np_percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                   weights=None, interpolation=None):
    """``np.percentile``: ``np.quantile(a, q / 100)``, with the same derivatives."""
    _no_out(out, "percentile")
    weak = type(q) in (int, float)
    q = np.true_divide(q, 100)
    _check_q(q, 1, "Percentiles")
    return _quantile_entry(a, q, weak, axis, method, keepdims, weights, interpolation, "percentile")


# ---- covariance and correlation ------------------------------------------------------------------------


def _as_rows(m, rowvar, dtype):
    m = _as_array(m)
    if ndim_of(lower(m)) > 2:
        raise ValueError("m has more than 2 dimensions")
    X = m if np.result_type(lower(m)) == dtype else m.astype(dtype)
    if ndim_of(lower(X)) < 2:
        X = np.reshape(X, (1,) * (2 - ndim_of(lower(X))) + shape_of(lower(X)))
    return X


def _variables(m, y, rowvar, dtype):
    """NumPy's observation matrix of cov: one variable per row, y's rows after m's (None if empty)."""
    X = _as_rows(m, rowvar, dtype)
    if not rowvar and ndim_of(lower(m)) != 1:
        X = X.T
    if shape_of(lower(X))[0] == 0:
        return None
    if y is not None:
        Y = _as_rows(y, rowvar, dtype)
        if not rowvar and shape_of(lower(Y))[0] != 1:
            Y = Y.T
        X = np.concatenate((X, Y), axis=0)
    return X


def _frequency_weights(fweights, aweights, n):
    """NumPy's checks and product of the frequency and analytic weights (constants)."""
    w = None
    for name, v in (("fweights", fweights), ("aweights", aweights)):
        if v is None:
            continue
        v = np.asarray(lower(v), dtype=float)
        if name == "fweights" and not np.all(v == np.around(v)):
            raise TypeError("fweights must be integer")
        if v.ndim > 1:
            raise RuntimeError(f"cannot handle multidimensional {name}")
        if v.shape[0] != n:
            raise RuntimeError(f"incompatible numbers of samples and {name}")
        if any(v < 0):
            raise ValueError(f"{name} cannot be negative")
        w = v if w is None else w * v
    return w


def _dof_factor(n, ddof, w, w_sum, aweights):
    if w is None:
        return n - ddof
    if ddof == 0:
        return w_sum
    if aweights is None:
        return w_sum - ddof
    return w_sum - ddof * np.sum(w * np.asarray(aweights, dtype=float)) / w_sum


@implements(np.cov)
def _np_cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``np.cov``: (X - mean)(X - mean)ᴴ / (N - ddof) with NumPy's weights; differentiable in m and y."""
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    if isinstance(fweights, Tracer) or isinstance(aweights, Tracer):
        raise NotImplementedError("np.cov: traced fweights/aweights are not differentiable here; pass "
                                  "them as constants (autodiff.stop_gradient), or use np.average.")
    if dtype is None:
        dtype = np.result_type(*(lower(v) for v in (m, y) if v is not None), np.float64)
    X = _variables(m, y, rowvar, dtype)
    if X is None:
        return np.array([]).reshape(0, 0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = shape_of(lower(X))[1]
    w = _frequency_weights(fweights, aweights, n)
    avg = np.average(X, axis=1, weights=w)
    w_sum = None if w is None else np.sum(w)
    fact = _dof_factor(n, ddof, w, w_sum, aweights)
    if fact <= 0:
        import warnings
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    X = X - avg[:, None]
    X_T = X.T if w is None else (X * w).T
    # (for real X, NumPy's X_T.conj() is X_T itself: a view of X, which lets BLAS use its symmetric kernel)
    c = np.dot(X, np.conjugate(X_T) if np.iscomplexobj(lower(X_T)) else X_T)
    c = c * np.true_divide(1, fact)
    return np.squeeze(c)


@implements(np.corrcoef)
def _np_corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: cov / (σ_i σ_j), clipped to [-1, 1] as in NumPy."""
    c = _np_cov(x, y, rowvar, dtype=dtype)
    if ndim_of(lower(c)) == 0:
        return c / c
    d = np.diagonal(c)
    stddev = np.sqrt(np.real(d))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    if np.iscomplexobj(lower(c)):
        return np.clip(np.real(c), -1, 1) + 1j * np.clip(np.imag(c), -1, 1)
    return np.clip(c, -1, 1)


# ---- nanvar, nanstd, nancumsum -------------------------------------------------------------------------


def _nan_args(where, mean, name):
    for label, value in (("where", where), ("mean", mean)):
        if value is not np._NoValue and value is not None:
            raise NotImplementedError(f"np.{name}(..., {label}=...) is not supported on traced values.")


def _divide_into(a, b):
    """``a / b`` kept in a's dtype (NumPy divides the sums by integer counts in place)."""
    q = a / b
    dtype = np.result_type(lower(a))
    return q if np.result_type(lower(q)) == dtype else q.astype(dtype)


@implements(np.nanvar)
def _np_nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *, where=np._NoValue,
               mean=np._NoValue, correction=np._NoValue):
    """``np.nanvar``: the variance of the non-NaN entries, Σ (x - mean)² / (count - ddof) (NaN entries
    have derivative 0; a slice with count <= ddof is NaN)."""
    _no_out(out, "nanvar")
    _nan_args(where, mean, "nanvar")
    keepdims = False if keepdims is np._NoValue else bool(keepdims)
    if correction is not np._NoValue:
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    a = _as_array(a)
    if not np.issubdtype(np.result_type(lower(a)), np.inexact):
        return np.var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    mask = np.isnan(lower(a))
    arr = np.where(mask, 0, a)
    cnt = np.sum(~mask, axis=axis, dtype=np.intp, keepdims=True)
    avg = _divide_into(np.sum(arr, axis=axis, dtype=dtype, keepdims=True), cnt)
    arr = np.where(mask, 0, arr - avg)
    sqr = np.real(arr * np.conjugate(arr)) if np.iscomplexobj(lower(arr)) else arr * arr
    var = np.sum(sqr, axis=axis, dtype=dtype, keepdims=keepdims)
    if ndim_of(lower(var)) < cnt.ndim:
        cnt = cnt.squeeze(axis)
    dof = cnt - ddof
    var = _divide_into(var, dof)
    if np.any(dof <= 0):
        import warnings
        warnings.warn("Degrees of freedom <= 0 for slice.", RuntimeWarning, stacklevel=2)
        var = np.where(dof <= 0, np.nan, var)
    return var


@implements(np.nanstd)
def _np_nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *, where=np._NoValue,
               mean=np._NoValue, correction=np._NoValue):
    """``np.nanstd``: sqrt(nanvar); derivative 0 where the variance is 0 (SPEC §2: std of one value)."""
    var = _np_nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction)
    zero = lower(var) == 0
    if not np.any(zero):
        return np.sqrt(var)
    return np.where(zero, 0.0 * lower(var), np.sqrt(np.where(zero, 1.0, var)))


@implements(np.nancumsum)
def _np_nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: the running sum with NaN entries counted as 0 (derivative 0 there)."""
    _no_out(out, "nancumsum")
    a = _as_array(a)
    if np.issubdtype(np.result_type(lower(a)), np.inexact):
        a = np.where(np.isnan(lower(a)), 0, a)
    return np.cumsum(a, axis=axis, dtype=dtype)


__all__ = ["order_statistic"]
