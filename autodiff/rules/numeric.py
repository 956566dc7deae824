"""Numerical calculus and signal helpers of NumPy: diff, ediff1d, gradient, trapezoid, polyval, linspace,
interp, convolve, correlate, copy, angle, degrees, radians.

Most are adapters that repeat NumPy's own arithmetic with differentiable operations, in the same order,
so that a traced call returns exactly NumPy's values. Three are primitives whose value is NumPy's own
result and whose rules are written here: ``interp`` (piecewise linear: the derivative in x is the slope
of the segment, the mean of the two one-sided slopes at a knot, SPEC §2's convention for kinks), and
``convolve``/``correlate`` (bilinear: every derivative is again a full convolution, computed for a whole
batch of directions by one 1-D convolution of the rows laid end to end with zero gaps).
"""

from __future__ import annotations

import operator

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
from autodiff.rules.elementwise import deg2rad, rad2deg

# np.degrees/np.radians are separate ufunc objects with the same loops as rad2deg/deg2rad.
implements(np.degrees)(rad2deg)
implements(np.radians)(deg2rad)


def _axis_index(axis, nd: int) -> int:
    axis = int(axis)
    if not -nd <= axis < nd:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension {nd}")
    return axis % nd


def _along(nd: int, axis: int, index) -> tuple:
    """The basic index that applies ``index`` (a slice) along ``axis`` of an ``nd``-array."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (nd - axis - 1)


def _dtype(x) -> np.dtype:
    return np.result_type(lower(x))


# ---- copy, angle ---------------------------------------------------------------------------------


@implements(np.copy)
def _np_copy(a, order="K", subok=False):
    """``np.copy``: the same values; traced values are immutable, so the value itself (derivative 1)."""
    return a


@implements(np.angle)
def _np_angle(z, deg=False):
    """``np.angle``: arctan2(Im z, Re z) (times 180/π with ``deg``); a real input has angle 0 or π."""
    if np.iscomplexobj(lower(z)):
        a = np.arctan2(np.imag(z), np.real(z))
    else:
        a = np.arctan2(0, z)
    return a * (180 / np.pi) if deg else a


# ---- diff, ediff1d ---------------------------------------------------------------------------------


def _edge_piece(value, like, axis):
    """``prepend``/``append`` of np.diff: a scalar is broadcast to ``like`` with length 1 along axis."""
    if ndim_of(lower(value)) == 0:
        shape = list(shape_of(lower(like)))
        shape[axis] = 1
        return np.broadcast_to(value, tuple(shape))
    return value


@implements(np.diff)
def _np_diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``np.diff``: the n-th forward difference a[i+1] - a[i] along ``axis`` (linear: derivative ±1)."""
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    nd = ndim_of(lower(a))
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _axis_index(axis, nd)
    pieces = [a]
    if prepend is not np._NoValue:
        pieces.insert(0, _edge_piece(prepend, a, axis))
    if append is not np._NoValue:
        pieces.append(_edge_piece(append, a, axis))
    if len(pieces) > 1:
        a = np.concatenate(pieces, axis)
    if _dtype(a) == np.bool_:
        return np.diff(lower(a), n=n, axis=axis)
    later, earlier = _along(nd, axis, slice(1, None)), _along(nd, axis, slice(None, -1))
    for _ in range(n):
        a = a[later] - a[earlier]
    return a


def _ediff_end(values, dtype, name):
    values = values if isinstance(values, Tracer) else np.asanyarray(values)
    if not np.can_cast(_dtype(values), dtype, casting="same_kind"):
        raise TypeError(f"dtype of `{name}` must be compatible with input `ary` under the `same_kind` rule.")
    values = np.ravel(values)
    return values if _dtype(values) == dtype else values.astype(dtype)


@implements(np.ediff1d)
def _np_ediff1d(ary, to_end=None, to_begin=None):
    """``np.ediff1d``: differences of the flattened array, with ``to_begin``/``to_end`` around them."""
    ary = np.ravel(ary)
    diff = ary[1:] - ary[:-1]
    if to_begin is None and to_end is None:
        return diff
    dtype = _dtype(ary)
    pieces = [diff if _dtype(diff) == dtype else diff.astype(dtype)]
    if to_begin is not None:
        pieces.insert(0, _ediff_end(to_begin, dtype, "to_begin"))
    if to_end is not None:
        pieces.append(_ediff_end(to_end, dtype, "to_end"))
    return np.concatenate(pieces)


# ---- gradient --------------------------------------------------------------------------------------


def _spacings(f, varargs, axes):
    """NumPy's ``dx`` per axis: a scalar step, or the 1-D differences of given coordinates."""
    n = len(varargs)
    if n == 0:
        return [1.0] * len(axes)
    if n == 1 and ndim_of(lower(varargs[0])) == 0:
        return list(varargs) * len(axes)
    if n != len(axes):
        raise TypeError("invalid number of arguments")
    dx = list(varargs)
    for i, distances in enumerate(dx):
        if not isinstance(distances, Tracer):
            distances = np.asanyarray(distances)
        nd = ndim_of(lower(distances))
        if nd == 0:
            continue
        if nd != 1:
            raise ValueError("distances must be either scalars or 1d")
        if shape_of(lower(distances))[0] != shape_of(lower(f))[axes[i]]:
            raise ValueError("when 1d, distances must match the length of the corresponding dimension")
        if np.issubdtype(_dtype(distances), np.integer):
            distances = distances.astype(np.float64)
        diffx = _np_diff(distances)
        # constant spacing reduces to the scalar case, as in NumPy (same arithmetic, same values)
        dx[i] = diffx[0] if np.all(lower(diffx) == lower(diffx)[0]) else diffx
    return dx


def _interior(f, sl, dx, nd, axis):
    """Second-order central differences at the interior points."""
    if ndim_of(lower(dx)) == 0:
        return (f[sl(slice(2, None))] - f[sl(slice(None, -2))]) / (2. * dx)
    dx1, dx2 = dx[0:-1], dx[1:]
    a = -(dx2) / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    shape = [1] * nd
    shape[axis] = -1
    a, b, c = (np.reshape(v, tuple(shape)) for v in (a, b, c))
    return a * f[sl(slice(None, -2))] + b * f[sl(slice(1, -1))] + c * f[sl(slice(2, None))]


def _edges_first_order(f, sl, dx):
    uniform = ndim_of(lower(dx)) == 0
    dx_0, dx_n = (dx, dx) if uniform else (dx[0], dx[-1])
    first = (f[sl(slice(1, 2))] - f[sl(slice(0, 1))]) / dx_0
    last = (f[sl(slice(-1, None))] - f[sl(slice(-2, -1))]) / dx_n
    return first, last


def _edge_coefficients(dx, uniform, at_start):
    if uniform:
        return (-1.5 / dx, 2. / dx, -0.5 / dx) if at_start else (0.5 / dx, -2. / dx, 1.5 / dx)
    if at_start:
        dx1, dx2 = dx[0], dx[1]
        return (-(2. * dx1 + dx2) / (dx1 * (dx1 + dx2)), (dx1 + dx2) / (dx1 * dx2),
                - dx1 / (dx2 * (dx1 + dx2)))
    dx1, dx2 = dx[-2], dx[-1]
    return ((dx2) / (dx1 * (dx1 + dx2)), - (dx2 + dx1) / (dx1 * dx2), (2. * dx2 + dx1) / (dx2 * (dx1 + dx2)))


def _edges_second_order(f, sl, dx):
    uniform = ndim_of(lower(dx)) == 0
    a, b, c = _edge_coefficients(dx, uniform, True)
    first = a * f[sl(slice(0, 1))] + b * f[sl(slice(1, 2))] + c * f[sl(slice(2, 3))]
    a, b, c = _edge_coefficients(dx, uniform, False)
    last = a * f[sl(slice(-3, -2))] + b * f[sl(slice(-2, -1))] + c * f[sl(slice(-1, None))]
    return first, last


@implements(np.gradient)
def _np_gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: central differences inside, one-sided ones (order ``edge_order``) at the ends,
    with NumPy's coefficients for uniform or given spacings. Linear in f; spacings may be traced too."""
    nd = ndim_of(lower(f))
    axes = tuple(range(nd)) if axis is None else tuple(np.lib.array_utils.normalize_axis_tuple(axis, nd))
    dxs = _spacings(f, varargs, axes)
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    otype = _dtype(f)
    if not np.issubdtype(otype, np.inexact):
        f, otype = f.astype(np.float64), np.dtype(np.float64)
    out = []
    for ax, dx in zip(axes, dxs):
        if shape_of(lower(f))[ax] < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        def sl(index, _ax=ax):
            return _along(nd, _ax, index)
        inner = _interior(f, sl, dx, nd, ax)
        first, last = (_edges_first_order if edge_order == 1 else _edges_second_order)(f, sl, dx)
        parts = [p if _dtype(p) == otype else p.astype(otype) for p in (first, inner, last)]
        out.append(np.concatenate(parts, axis=ax))
    return out[0] if len(axes) == 1 else tuple(out)


# ---- trapezoid, polyval, linspace ------------------------------------------------------------------


@implements(np.trapezoid)
def _np_trapezoid(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid``: Σ d (y[i+1] + y[i]) / 2 along ``axis``; differentiable in y, x and dx."""
    y = y if isinstance(y, Tracer) else np.asanyarray(y)
    nd = ndim_of(lower(y))
    axis = _axis_index(axis, nd)
    if x is None:
        d = dx
    elif ndim_of(lower(x)) == 1:
        d = _np_diff(x)
        shape = [1] * nd
        shape[axis] = shape_of(lower(d))[0]
        d = np.reshape(d, tuple(shape))
    else:
        d = _np_diff(x, axis=axis)
    return np.sum(d * (y[_along(nd, axis, slice(1, None))] + y[_along(nd, axis, slice(None, -1))]) / 2.0,
                  axis=axis)


@implements(np.polyval)
def _np_polyval(p, x):
    """``np.polyval``: Horner's scheme y = y x + p_i, differentiable in the coefficients and in x."""
    if isinstance(x, np.poly1d):
        raise NotImplementedError("np.polyval with a poly1d x is not differentiable; pass an array.")
    if not isinstance(p, Tracer):
        p = np.asanyarray(p)
    if not isinstance(x, Tracer):
        x = np.asanyarray(x)
    y = np.zeros_like(lower(x))
    for i in range(shape_of(lower(p))[0]):
        y = y * x + p[i]
    return y


def _linspace_grid(num, delta, dt, div):
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * ndim_of(lower(delta)))
    if div <= 0:
        return y * delta, np.nan
    step = delta / div
    if np.any(lower(step) == 0):   # NumPy's handling of denormal steps (gh-5437)
        return (y / div) * delta, step
    return y * step, step


@implements(np.linspace)
def _np_linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``np.linspace``: start + i (stop - start) / div, the last point exactly ``stop``; differentiable in
    both endpoints (the derivative of point i is 1 - i/div in start and i/div in stop)."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    dt = np.result_type(lower(start), lower(stop), 1.0)
    delta = stop - start
    if _dtype(delta) != dt:
        delta = delta.astype(dt)
    y, step = _linspace_grid(num, delta, dt, div)
    y = y + start
    if endpoint and num > 1:
        y = np.concatenate([y[:-1], np.broadcast_to(stop, shape_of(lower(y))[1:])[None].astype(_dtype(y))])
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None and np.issubdtype(dtype, np.integer):
        y = np.floor(lower(y))
    y = y if dtype is None or _dtype(y) == np.dtype(dtype) else y.astype(dtype)
    return (y, step) if retstep else y


# ---- interp: a primitive (NumPy's compiled loop gives the value) -----------------------------------


def _interp_impl(x, xp, fp, left, right):
    return np.interp(x, xp, fp, left=left, right=right)


class _Knots:
    """Where each x falls among the knots xp (constants): its knot index k with xp[k] <= x, whether it
    lies strictly inside a segment, exactly on a knot, or outside [xp[0], xp[-1]]."""

    def __init__(self, x, xp):
        xl, xpl = np.asarray(lower(x)), np.asarray(lower(xp))
        n = xpl.shape[0]
        self.n = n
        self.k = np.clip(np.searchsorted(xpl, xl, side="right") - 1, 0, n - 1)
        self.k1 = np.minimum(self.k + 1, n - 1)
        self.knot = xl == xpl[self.k]
        self.strict = (xl > xpl[0]) & (xl < xpl[-1]) & ~self.knot
        self.below = xl < xpl[0]
        self.above = xl > xpl[-1]


def _slopes(xp, fp):
    """0, the slopes of the n - 1 segments, 0 (the flat extensions left and right)."""
    s = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    zero = np.zeros((1,), dtype=_dtype(s))
    return np.concatenate([zero, s, zero])


def _segment_weight(x, xp, kn):
    """w = (x - xp[k]) / (xp[k+1] - xp[k]) at points strictly inside a segment (0 elsewhere)."""
    gap = np.where(kn.strict, xp[kn.k1] - xp[kn.k], 1.0)
    return np.where(kn.strict, (x - xp[kn.k]) / gap, 0.0)


def _interp_dx(x, xp, fp, kn):
    """df/dx: the slope of the segment; at a knot the mean of the slopes on either side."""
    s = _slopes(xp, fp)
    on_knot = 0.5 * (s[kn.k] + s[kn.k + 1])
    return np.where(kn.strict, s[kn.k + 1], np.where(kn.knot, on_knot, 0.0))


def _as_output(tangent, ans):
    """np.interp computes in float64 whatever its inputs: so do its tangents."""
    dtype = _dtype(ans)
    return tangent if _dtype(tangent) == dtype else tangent.astype(dtype)


def _in_dtype_of(coef, t):
    """A coefficient in the tangent's dtype, so that the transposed rule (the derived VJP) returns a
    cotangent in the input's dtype (the final cast to float64 transposes to a cast back)."""
    dtype = _dtype(t)
    return coef if _dtype(coef) == dtype else coef.astype(dtype)


def _interp_jvp_x(t, ans, x, xp, fp, left, right):
    kn = _Knots(x, xp)
    if kn.n < 2:   # one knot: a constant (or a jump) in x
        return _as_output(t * 0.0, ans)
    return _as_output(t * _in_dtype_of(_interp_dx(x, xp, fp, kn), t), ans)


def _interp_jvp_xp(t, ans, x, xp, fp, left, right):
    kn = _Knots(x, xp)
    if kn.n < 2:
        return np.zeros(shape_of(t)[:ndim_of(t) - 1] + shape_of(ans), dtype=_dtype(ans))
    s = _slopes(xp, fp)[kn.k + 1]
    w = _segment_weight(x, xp, kn)
    c0 = np.where(kn.strict, -s * (1.0 - w), np.where(kn.knot, -_interp_dx(x, xp, fp, kn), 0.0))
    c1 = np.where(kn.strict, -s * w, 0.0)
    return _as_output(_in_dtype_of(c0, t) * t[..., kn.k] + _in_dtype_of(c1, t) * t[..., kn.k1], ans)


def _interp_jvp_fp(t, ans, x, xp, fp, left, right):
    kn = _Knots(x, xp)
    w = _segment_weight(x, xp, kn) if kn.n >= 2 else np.zeros(shape_of(lower(x)))
    c0 = np.where(kn.strict, 1.0 - w, 1.0 * (kn.knot & ~np.isnan(lower(x))))
    c0 = np.where(kn.below, float(left is None), np.where(kn.above, float(right is None), c0))
    k0 = np.where(kn.below, 0, np.where(kn.above, kn.n - 1, kn.k))
    return _as_output(_in_dtype_of(c0, t) * t[..., k0] + _in_dtype_of(w, t) * t[..., kn.k1], ans)


def _interp_sample(rng):
    n = int(rng.integers(2, 6))
    xp = np.cumsum(rng.uniform(0.4, 1.0, size=n)) - 1.0
    fp = rng.uniform(-2.0, 2.0, size=n)
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    x = rng.uniform(xp[0] - 0.6, xp[-1] + 0.6, size=shape)
    near = np.abs(x[..., None] - xp).min(axis=-1) < 0.1          # keep off the knots (kinks)
    x = np.where(near, x + 0.15, x)
    ends = [None, None, float(rng.uniform(-3, 3))]
    params = {"left": ends[rng.integers(3)], "right": ends[rng.integers(3)]}
    return Sample((x, xp, fp), params)


interp = primitive(_interp_impl, name="interp")
defjvp(interp, _interp_jvp_x, _interp_jvp_xp, _interp_jvp_fp)
defdomain(interp, _interp_sample)


def _periodic(x, xp, fp, period):
    """NumPy's reduction of a periodic interp to an ordinary one (x and xp modulo the period)."""
    if period == 0:
        raise ValueError("period must be a non-zero value")
    period = abs(period)
    x = x % period
    xp = xp % period
    order = np.argsort(lower(xp))
    xp, fp = xp[order], fp[order]
    xp = np.concatenate((xp[-1:] - period, xp, xp[0:1] + period))
    fp = np.concatenate((fp[-1:], fp, fp[0:1]))
    return x, xp, fp


@implements(np.interp)
def _np_interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: the piecewise-linear interpolant through (xp, fp) at x, NumPy's values exactly.

    Differentiable in x (the segment's slope; at a knot, the mean of the two one-sided slopes; 0
    outside [xp[0], xp[-1]]), in fp (the two interpolation weights) and in xp. ``left``/``right`` may
    be traced (they are the value outside the range).
    """
    if np.iscomplexobj(lower(fp)):
        raise NotImplementedError("np.interp with complex fp is not differentiable here; interpolate the "
                                  "real and imaginary parts separately (np.interp(x, xp, fp.real), ...).")
    x, xp, fp = (v if isinstance(v, Tracer) else np.asarray(v, dtype=np.float64) for v in (x, xp, fp))
    if ndim_of(lower(xp)) != 1 or ndim_of(lower(fp)) != 1:
        raise ValueError("Data points must be 1-D sequences")
    if shape_of(lower(xp))[0] != shape_of(lower(fp))[0]:
        raise ValueError("fp and xp are not of the same length")
    if period is not None:
        x, xp, fp = _periodic(x, xp, fp, period)
        left = right = None
    static_left = None if isinstance(left, Tracer) else left
    static_right = None if isinstance(right, Tracer) else right
    out = interp(x, xp, fp, left=static_left, right=static_right)
    if isinstance(left, Tracer):
        out = np.where(lower(x) < lower(xp)[0], left, out)
    if isinstance(right, Tracer):
        out = np.where(lower(x) > lower(xp)[-1], right, out)
    return out


# ---- convolve and correlate: primitives, bilinear -----------------------------------------------------


def _convolve_impl(a, v, mode):
    return np.convolve(a, v, mode=mode)


def _correlate_impl(a, v, mode):
    return np.correlate(a, v, mode=mode)


def _signal_sample(rng):
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    mode = ["full", "same", "valid"][rng.integers(3)]
    return Sample((rng.uniform(-2, 2, size=n), rng.uniform(-2, 2, size=m)), {"mode": mode})


convolve = primitive(_convolve_impl, name="convolve")
defdomain(convolve, _signal_sample)
correlate = primitive(_correlate_impl, name="correlate")
defdomain(correlate, _signal_sample)


def full_convolve_rows(t, w):
    """The full convolution of every row (last axis) of ``t`` with the 1-D ``w``, by one 1-D call.

    Rows laid end to end, each followed by len(w) - 1 zeros, do not interact: the full convolution of
    that long signal holds each row's full convolution in its own block.
    """
    shape = shape_of(t)
    n, m = shape[-1], shape_of(w)[0]
    if len(shape) == 1:
        return convolve(t, w, mode="full")
    block = n + m - 1
    rows = np.reshape(t, (-1, n))
    count = shape_of(rows)[0]
    if count == 0:
        return np.zeros(shape[:-1] + (block,), dtype=np.result_type(lower(t), lower(w)))
    flat = np.reshape(np.pad(rows, ((0, 0), (0, m - 1))), (-1,))
    return np.reshape(convolve(flat, w, mode="full")[:count * block], shape[:-1] + (block,))


def _window(n: int, m: int, mode: str, swapped_same: bool) -> tuple[int, int]:
    """(offset, length) of NumPy's ``mode`` output inside the full convolution of lengths n and m.

    ``swapped_same``: np.correlate with the longer signal second reverses a swapped computation, which
    moves its 'same' window by one when the shorter length is even.
    """
    short, long_ = min(n, m), max(n, m)
    if mode == "full":
        return 0, n + m - 1
    if mode == "same":
        return (short // 2 if swapped_same else (short - 1) - short // 2), long_
    if mode == "valid":
        return short - 1, long_ - short + 1
    raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")


def _conv_window(a, v, mode, correlating):
    n, m = shape_of(a)[0], shape_of(v)[0]
    return _window(n, m, mode, correlating and n < m)


def _crop(full, start, length):
    return full[..., start:start + length]


def _pad_to_full(g, start, length, total):
    nb = ndim_of(g) - 1
    return np.pad(g, ((0, 0),) * nb + ((start, total - start - length),))


def _reverse(x):
    return x[..., ::-1]


def _bilinear_rules(prim, correlating):
    """JVP and VJP rules of y = (a * w)[window] with w = v (convolve) or v reversed (correlate)."""
    def kernel(v):
        return _reverse(v) if correlating else v

    def jvp_a(t, ans, a, v, mode):
        s, L = _conv_window(a, v, mode, correlating)
        return _crop(full_convolve_rows(t, kernel(v)), s, L)

    def jvp_v(t, ans, a, v, mode):
        s, L = _conv_window(a, v, mode, correlating)
        return _crop(full_convolve_rows(kernel(t), a), s, L)

    def vjp_a(ans, a, v, mode):
        # d/da[j] = Σ_k G[k] w[k - j]: the valid correlation of the full-length cotangent G with w
        n, m = shape_of(a)[0], shape_of(v)[0]
        s, L = _conv_window(a, v, mode, correlating)
        w_reversed = _reverse(kernel(v))
        return lambda g: _crop(full_convolve_rows(_pad_to_full(g, s, L, n + m - 1), w_reversed), m - 1, n)

    def vjp_v(ans, a, v, mode):
        # d/dw[i] = Σ_k G[k] a[k - i]; correlate's v is w reversed
        n, m = shape_of(a)[0], shape_of(v)[0]
        s, L = _conv_window(a, v, mode, correlating)
        a_reversed = _reverse(a)
        return lambda g: kernel(_crop(full_convolve_rows(_pad_to_full(g, s, L, n + m - 1), a_reversed),
                                      n - 1, m))

    defjvp(prim, jvp_a, jvp_v)
    defvjp(prim, vjp_a, vjp_v)


_bilinear_rules(convolve, correlating=False)
_bilinear_rules(correlate, correlating=True)


def _signal(a, name):
    a = a if isinstance(a, Tracer) else np.asarray(a)
    if np.iscomplexobj(lower(a)):
        raise NotImplementedError(f"np.{name} of complex signals is not differentiable here; convolve the "
                                  "real and imaginary parts separately.")
    if ndim_of(lower(a)) == 0:
        a = np.reshape(a, (1,))
    if ndim_of(lower(a)) != 1:
        raise ValueError(f"object too deep for desired array (np.{name} takes 1-D signals)")
    if shape_of(lower(a))[0] == 0:
        raise ValueError(f"np.{name}: the signals cannot be empty")
    return a


def _mode_name(mode):
    names = {0: "valid", 1: "same", 2: "full"}
    return names.get(mode, mode)


@implements(np.convolve)
def _np_convolve(a, v, mode="full"):
    """``np.convolve``: (a * v)[k] = Σ_j a[j] v[k - j] ('full', 'same' or 'valid'); bilinear."""
    return convolve(_signal(a, "convolve"), _signal(v, "convolve"), mode=_mode_name(mode))


@implements(np.correlate)
def _np_correlate(a, v, mode="valid"):
    """``np.correlate``: c[k] = Σ_n a[n + k] v[n] (real signals); bilinear."""
    return correlate(_signal(a, "correlate"), _signal(v, "correlate"), mode=_mode_name(mode))


__all__ = ["interp", "convolve", "correlate", "full_convolve_rows"]
