"""scipy.special, differentiable: erf, erfc, erfinv, expit, logit, gammaln, digamma, polygamma, xlogy,
xlog1py, i0e, i1e; and the stable log-space functions logsumexp, softmax, log_softmax.

How users reach them:

- The ufuncs (``scipy.special.erf``, ``expit``, ``gammaln``, ``digamma``/``psi``, ``xlogy``, ``i0e``, ...)
  dispatch through NumPy's ``__array_ufunc__``: call ``scipy.special.erf(x)`` on traced values as usual.
- ``scipy.special.logsumexp``, ``softmax``, ``log_softmax`` and ``polygamma`` are plain Python functions
  that convert their arguments with ``np.asarray``, so they cannot see traced values (they raise
  TypeError). Call the versions in this module instead — same signatures, same values, and usable on
  plain arrays too::

      from autodiff.rules.special import logsumexp, softmax, log_softmax, polygamma

  (``autodiff.nn`` has ``logsumexp``/``softmax``/``log_softmax`` with TensorFlow's defaults too.)

The log-space functions shift by the maximum before exponentiating: no overflow at |x| = 1000, and
their derivatives (softmax weights) are computed the same way.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from autodiff.core import Sample, defdomain, defjvp, defvjp, lower, primitive
from autodiff.rules._domains import binary, unary, uniform
from autodiff.rules._util import const_like, keepdims_shape, neg_axes
from autodiff.rules.elementwise import defderiv
from autodiff.shapes import align_tangent, unbroadcast

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_HALF_SQRT_PI = math.sqrt(math.pi) / 2.0

# ---- error function, logistic ----------------------------------------------------------------------

erf = primitive(sc.erf)
defderiv(erf, lambda ans, x: _TWO_OVER_SQRT_PI * np.exp(-x * x))

erfc = primitive(sc.erfc)
defderiv(erfc, lambda ans, x: -_TWO_OVER_SQRT_PI * np.exp(-x * x))

erfinv = primitive(sc.erfinv)            # 1 / erf'(erfinv(x))
defderiv(erfinv, lambda ans, x: _HALF_SQRT_PI * np.exp(ans * ans))

expit = primitive(sc.expit)              # the logistic sigmoid 1 / (1 + e^-x)
defderiv(expit, lambda ans, x: ans * (1.0 - ans))

logit = primitive(sc.logit)              # log(x / (1 - x)), the inverse of expit
defderiv(logit, lambda ans, x: 1.0 / (x * (1.0 - x)))

# ---- gamma family: gammaln' = digamma, digamma' = polygamma(1, ·), polygamma(n, ·)' = polygamma(n+1, ·)


def _polygamma_impl(n, x):
    """scipy's polygamma, in x's float dtype (scipy computes it in float64 even for float32 x)."""
    out = sc.polygamma(n, x)
    dtype = np.result_type(x)
    return out.astype(dtype) if np.issubdtype(dtype, np.floating) and out.dtype != dtype else out


polygamma = primitive(_polygamma_impl, name="polygamma", elementwise=True)
defderiv(polygamma, None, lambda ans, n, x: polygamma(np.add(n, 1), x))

gammaln = primitive(sc.gammaln)          # log|Γ(x)|
defderiv(gammaln, lambda ans, x: sc.digamma(x))

digamma = primitive(sc.digamma, name="digamma")        # scipy.special.psi is the same ufunc
defderiv(digamma, lambda ans, x: polygamma(1, x))

# ---- x log y and x log(1 + y): 0 where x = 0, even where log y is -inf -------------------------------


def _guarded(y, x, bad_y):
    """y, with 1 where x = 0 and y = bad_y: there ∂(x log y)/∂y = x / y is 0/0, taken as 0 (like the
    value, which is 0 there); elsewhere y itself, so the derivative is unchanged."""
    both = (lower(x) == 0) & (lower(y) == bad_y)
    return np.where(both, 1.0 - bad_y, y) if np.any(both) else y


xlogy = primitive(sc.xlogy)
defjvp(xlogy,
       lambda t, ans, x, y: sc.xlogy(t, y),                 # t log y, with 0 (not NaN) where t = 0
       lambda t, ans, x, y: t * (x / _guarded(y, x, 0.0)))
defvjp(xlogy,
       lambda ans, x, y: lambda g: sc.xlogy(g, y),
       lambda ans, x, y: lambda g: g * (x / _guarded(y, x, 0.0)))

xlog1py = primitive(sc.xlog1py)
defjvp(xlog1py,
       lambda t, ans, x, y: sc.xlog1py(t, y),
       lambda t, ans, x, y: t * (x / (1.0 + _guarded(y, x, -1.0))))
defvjp(xlog1py,
       lambda ans, x, y: lambda g: sc.xlog1py(g, y),
       lambda ans, x, y: lambda g: g * (x / (1.0 + _guarded(y, x, -1.0))))

# ---- exponentially scaled Bessel functions: i0e = e^-|x| I0(x), i1e = e^-|x| I1(x) ------------------
# I0' = I1 and I1' = I0 - I1/x give i0e' = i1e - sign(x) i0e and i1e' = i0e - sign(x) i1e - i1e/x,
# with i1e(x)/x -> 1/2 at 0. Both have a kink at 0 (from e^-|x|); there sign(0) = 0 picks the mean.


def _i1e_over_x(ans, x):
    zero = lower(x) == 0
    if not np.any(zero):
        return ans / x
    return np.where(zero, 0.5, ans / np.where(zero, 1.0, x))


i1e = primitive(sc.i1e)
defderiv(i1e, lambda ans, x: sc.i0e(x) - np.sign(x) * ans - _i1e_over_x(ans, x))

i0e = primitive(sc.i0e)
defderiv(i0e, lambda ans, x: sc.i1e(x) - np.sign(x) * ans)

# ---- logsumexp, softmax, log_softmax ---------------------------------------------------------------


def _shift(x, axis):
    """max of x over ``axis`` (kept as size-1 axes), 0 where it is ±inf: subtracting it keeps every
    exponent <= 0 and changes nothing else (no derivative: the result does not depend on the shift)."""
    m = np.max(x, axis=axis, keepdims=True) if np.size(x) else np.zeros(keepdims_shape(np.shape(x), axis))
    return np.where(np.isfinite(m), m, 0).astype(np.result_type(x))


def _logsumexp_impl(x, b, axis, keepdims):
    """log |Σ b e^x| over ``axis`` (b = 1 when None), shifted by the max."""
    x = np.asarray(x)
    m = _shift(x, axis)
    e = np.exp(x - m) if b is None else b * np.exp(x - m)
    with np.errstate(divide="ignore"):
        out = np.log(np.abs(np.sum(e, axis=axis, keepdims=True))) + m
    return out if keepdims else np.reshape(out, np.shape(np.sum(e, axis=axis)))


def _lse_sign(x, b, axis):
    """sign(Σ b e^x) over ``axis`` as a constant with size-1 axes (1 when b is None)."""
    xl, bl = lower(x), lower(b)
    return np.sign(np.sum(bl * np.exp(xl - _shift(xl, axis)), axis=axis, keepdims=True))


def _lse_weights(ans, x, b, axis):
    """∂ log|Σ b e^x| / ∂x = b e^(x - lse) sign(Σ b e^x) (the softmax when b is None)."""
    w = np.exp(x - np.reshape(ans, keepdims_shape(np.shape(x), axis)))
    if b is None:
        return w
    return w * const_like(_lse_sign(x, b, axis), ans)


def _lse_jvp_x(t, ans, x, b, axis, keepdims):
    w = _lse_weights(ans, x, b, axis)
    return np.sum(t * (w if b is None else w * b), axis=axis, keepdims=keepdims)


def _lse_jvp_b(t, ans, x, b, axis, keepdims):
    t = align_tangent(t, b, x)           # b may have fewer axes than x (it broadcasts)
    return np.sum(t * _lse_weights(ans, x, b, axis), axis=axis, keepdims=keepdims)


def _expand(g, shape, axis, keepdims):
    nb = np.ndim(g) - (len(shape) - (0 if keepdims else len(axis)))
    return np.reshape(g, np.shape(g)[:nb] + keepdims_shape(shape, axis))


def _lse_vjp_x(ans, x, b, axis, keepdims):
    shape = np.shape(x)

    def pullback(g):
        w = _lse_weights(ans, x, b, axis)
        return _expand(g, shape, axis, keepdims) * (w if b is None else w * b)

    return pullback


def _lse_vjp_b(ans, x, b, axis, keepdims):
    # b may be smaller than x (it broadcasts): sum the cotangent back to b's shape.
    shape, bshape = np.shape(x), np.shape(b)

    def pullback(g):
        c = _expand(g, shape, axis, keepdims) * _lse_weights(ans, x, b, axis)
        return unbroadcast(c, bshape, np.ndim(c) - len(shape))

    return pullback


logsumexp_p = primitive(_logsumexp_impl, name="logsumexp")
defjvp(logsumexp_p, _lse_jvp_x, _lse_jvp_b)
defvjp(logsumexp_p, _lse_vjp_x, _lse_vjp_b)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``scipy.special.logsumexp``, differentiable: log Σ b e^a over ``axis`` (all axes by default).

    Stable (shifted by the max: finite at |a| = 1000). Derivative: b e^(a - lse), the softmax weights
    (∂/∂b: e^(a - lse)). With ``return_sign`` it returns (log|Σ b e^a|, sign), else NaN where the sum is
    negative (as SciPy). Call this on traced values: scipy's own function cannot see them.
    """
    nd = np.ndim(lower(a)) if b is None else max(np.ndim(lower(a)), np.ndim(lower(b)))
    if b is not None and np.ndim(lower(a)) < nd:
        a = np.broadcast_to(a, np.broadcast_shapes(np.shape(lower(a)), np.shape(lower(b))))
    axes = neg_axes(axis, nd)
    out = logsumexp_p(a, b, axis=axes, keepdims=bool(keepdims))
    if b is None:
        return (out, np.ones(np.shape(lower(out)), dtype=np.result_type(lower(out)))) if return_sign else out
    sign = _lse_sign(a, b, axes)
    sign = sign if keepdims else np.reshape(sign, np.shape(lower(out)))
    if return_sign:
        return out, sign.astype(np.result_type(lower(out)))
    return np.where(sign < 0, np.nan, out) if np.any(sign < 0) else out


def _softmax_impl(x, axis):
    e = np.exp(x - _shift(np.asarray(x), axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_rule(ans, x, axis):
    """J v = s ⊙ (v - <s, v>) along ``axis``: the Jacobian is symmetric, so JVP and VJP agree."""
    return lambda v: ans * (v - np.sum(v * ans, axis=axis, keepdims=True))


softmax_p = primitive(_softmax_impl, name="softmax")
defjvp(softmax_p, lambda t, ans, x, axis: _softmax_rule(ans, x, axis)(t))
defvjp(softmax_p, _softmax_rule)


def softmax(x, axis=None):
    """``scipy.special.softmax``, differentiable: e^x / Σ e^x over ``axis`` (all axes by default).

    Stable at |x| = 1000. Derivative s ⊙ (v - <s, v>). Call this on traced values.
    """
    return softmax_p(x, axis=neg_axes(axis, np.ndim(lower(x))))


def _log_softmax_impl(x, axis):
    z = x - _shift(np.asarray(x), axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


log_softmax_p = primitive(_log_softmax_impl, name="log_softmax")
defjvp(log_softmax_p,
       lambda t, ans, x, axis: t - np.sum(t * np.exp(ans), axis=axis, keepdims=True))
defvjp(log_softmax_p,
       lambda ans, x, axis: lambda g: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """``scipy.special.log_softmax``, differentiable: x - logsumexp(x) over ``axis`` (all by default).

    Finite where softmax underflows. Derivative v - softmax(x) Σ v (VJP). Call this on traced values.
    """
    return log_softmax_p(x, axis=neg_axes(axis, np.ndim(lower(x))))


__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "gammaln", "digamma", "polygamma", "xlogy",
           "xlog1py", "i0e", "i1e", "logsumexp", "softmax", "log_softmax"]

# ---- test domains ----------------------------------------------------------------------------------

for _prim in (erf, erfc, expit):
    defdomain(_prim, unary())
defdomain(erfinv, unary(-0.9, 0.9))
defdomain(logit, unary(0.05, 0.95))
defdomain(gammaln, unary(0.2, 4.0))
defdomain(digamma, unary(0.2, 4.0))
defdomain(xlogy, binary(-2.0, 2.0, 0.2, 3.0))
defdomain(xlog1py, binary(-2.0, 2.0, -0.8, 3.0))
defdomain(i0e, unary(-3.0, 3.0, avoid=(0.0,)))
defdomain(i1e, unary(-3.0, 3.0, avoid=(0.0,)))


def _polygamma_sample(rng):
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    return Sample((np.int64(rng.integers(0, 3)), uniform(rng, shape, 0.3, 3.0)))


def _axis_sample(with_b):
    def sample(rng):
        shape = [(3,), (2, 3), (2, 3, 2)][rng.integers(3)]
        nd = len(shape)
        choices = [None] + list(range(-nd, nd)) + ([(0, 1)] if nd >= 2 else [])
        axes = neg_axes(choices[rng.integers(len(choices))], nd)
        x = uniform(rng, shape, -3.0, 3.0)
        if not with_b:
            return Sample((x,), {"axis": axes})
        b = uniform(rng, shape[-1:], 0.5, 2.0) if rng.integers(2) else None
        return Sample((x, b), {"axis": axes, "keepdims": bool(rng.integers(2))})
    return sample


defdomain(polygamma, _polygamma_sample)
defdomain(logsumexp_p, _axis_sample(True))
defdomain(softmax_p, _axis_sample(False))
defdomain(log_softmax_p, _axis_sample(False))
