"""scipy.special, differentiable: erf, erfc, erfinv, expit, logit, gammaln, digamma, polygamma, xlogy,
xlog1py, i0e, i1e; the gamma and beta families (gamma, rgamma, loggamma, beta, betaln, multigammaln, and
the incomplete gammainc, gammaincc, betainc in x), Bessel functions (j0, j1, jv = jn, y0, y1, yv, yn,
i0, i1, iv, ive, kv, kve, k0, k1, k0e, k1e, jve, yve, in x), erfcinv, erfcx, erfi, dawsn, ndtr, log_ndtr,
ndtri, stdtr (in t), expi, exp1, expn (in x), spence, poch, gammasgn (zero derivative), entr, rel_entr,
kl_div, huber, SciPy's own expm1 and log1p; and the stable log-space functions
logsumexp, softmax, log_softmax.

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
import warnings

import numpy as np
import scipy.special as sc
from scipy.integrate import IntegrationWarning, quad

from autodiff.core import Primitive, Sample, defdomain, defjvp, defvjp, lower, nondifferentiable, primitive
from autodiff.forms import defprim
from autodiff.rules._domains import away_from, binary, unary, uniform
from autodiff.rules._util import const_like, keepdims_shape, neg_axes
from autodiff.shapes import align_tangent, unbroadcast

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_HALF_SQRT_PI = math.sqrt(math.pi) / 2.0

# ---- error function, logistic ----------------------------------------------------------------------

erf = defprim(sc.erf, deriv=lambda ans, x: _TWO_OVER_SQRT_PI * np.exp(-x * x), domain=unary())
erfc = defprim(sc.erfc, deriv=lambda ans, x: -_TWO_OVER_SQRT_PI * np.exp(-x * x), domain=unary())
erfinv = defprim(sc.erfinv,              # 1 / erf'(erfinv(x))
                 deriv=lambda ans, x: _HALF_SQRT_PI * np.exp(ans * ans), domain=unary(-0.9, 0.9))
expit = defprim(sc.expit,                # the logistic sigmoid 1 / (1 + e^-x)
                deriv=lambda ans, x: ans * (1.0 - ans), domain=unary())
logit = defprim(sc.logit,                # log(x / (1 - x)), the inverse of expit
                deriv=lambda ans, x: 1.0 / (x * (1.0 - x)), domain=unary(0.05, 0.95))

# ---- gamma family: gammaln' = digamma, digamma' = polygamma(1, ·), polygamma(n, ·)' = polygamma(n+1, ·)


def _polygamma_impl(n, x):
    """scipy's polygamma, in x's float dtype (scipy computes it in float64 even for float32 x)."""
    out = sc.polygamma(n, x)
    dtype = np.result_type(x)
    return out.astype(dtype) if np.issubdtype(dtype, np.floating) and out.dtype != dtype else out


def _polygamma_sample(rng):
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    return Sample((np.int64(rng.integers(0, 3)), uniform(rng, shape, 0.3, 3.0)))


polygamma: Primitive = defprim(_polygamma_impl, deriv=(None, lambda ans, n, x: polygamma(np.add(n, 1), x)),
                    name="polygamma", domain=_polygamma_sample)
gammaln = defprim(sc.gammaln,            # log|Γ(x)|
                  deriv=lambda ans, x: sc.digamma(x), domain=unary(0.2, 4.0))
digamma = defprim(sc.digamma,            # scipy.special.psi is the same ufunc
                  deriv=lambda ans, x: polygamma(1, x), name="digamma", domain=unary(0.2, 4.0))

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
defdomain(xlogy, binary(-2.0, 2.0, 0.2, 3.0))

xlog1py = primitive(sc.xlog1py)
defjvp(xlog1py,
       lambda t, ans, x, y: sc.xlog1py(t, y),
       lambda t, ans, x, y: t * (x / (1.0 + _guarded(y, x, -1.0))))
defvjp(xlog1py,
       lambda ans, x, y: lambda g: sc.xlog1py(g, y),
       lambda ans, x, y: lambda g: g * (x / (1.0 + _guarded(y, x, -1.0))))
defdomain(xlog1py, binary(-2.0, 2.0, -0.8, 3.0))

# ---- exponentially scaled Bessel functions: i0e = e^-|x| I0(x), i1e = e^-|x| I1(x) ------------------
# I0' = I1 and I1' = I0 - I1/x give i0e' = i1e - sign(x) i0e and i1e' = i0e - sign(x) i1e - i1e/x,
# with i1e(x)/x -> 1/2 at 0. Both have a kink at 0 (from e^-|x|); there sign(0) = 0 picks the mean.


def _i1e_over_x(ans, x):
    zero = lower(x) == 0
    if not np.any(zero):
        return ans / x
    return np.where(zero, 0.5, ans / np.where(zero, 1.0, x))


i1e = defprim(sc.i1e, deriv=lambda ans, x: sc.i0e(x) - np.sign(x) * ans - _i1e_over_x(ans, x),
              domain=unary(-3.0, 3.0, avoid=(0.0,)))
i0e = defprim(sc.i0e, deriv=lambda ans, x: sc.i1e(x) - np.sign(x) * ans,
              domain=unary(-3.0, 3.0, avoid=(0.0,)))

# ---- the ufuncs of scipy.special that take a parameter (an order, a shape) and a variable -----------
# Only the variable has a closed-form derivative for most of them (the derivative of jv in its order, or
# of gammainc in a, is not an elementary function). Asking for one of those raises NotImplementedError
# naming the argument, at the call itself in both modes: it never silently gives zero.


def _check_real(name, args):
    """Refuse complex arguments: these rules are written and tested for real input."""
    if any(np.iscomplexobj(lower(a)) for a in args):
        raise NotImplementedError(
            f"scipy.special.{name}: the derivative is implemented for real input only; pass real "
            "arrays (or differentiate the real and imaginary parts separately).")


def _no_derivative(name, argname, why):
    """JVP and VJP rules that raise NotImplementedError: ``name`` has no derivative in ``argname``."""
    message = (f"scipy.special.{name} is not differentiable here with respect to its argument "
               f"{argname!r} ({why}); pass it as a constant (a plain array, or stop_gradient(...)).")

    def jvp(t, ans, *args):
        raise NotImplementedError(message)

    def vjp(ans, *args):
        raise NotImplementedError(message)
    return jvp, vjp


def _in_dtype_of(c, x):
    """Cotangent ``c`` in the float dtype of its argument ``x``, or tangent ``c`` in that of the output
    ``x``: SciPy picks the loop by all arguments, so an integer order may make a float32 input's output
    float64 (yn, gammainc), and the derivatives must follow the values' dtypes."""
    dtype = np.result_type(lower(x))
    if np.issubdtype(dtype, np.floating) and np.result_type(lower(c)) != dtype:
        return c.astype(dtype)
    return c


def _deriv_rules(name, deriv, i):
    """(jvp, vjp) of the partial derivative ``deriv(ans, *args)`` of the elementwise function ``name``
    in its argument ``i``, for real arguments (checked at the call, in both modes)."""
    def jvp(t, ans, *args):
        _check_real(name, args)
        return _in_dtype_of(t * deriv(ans, *args), ans)

    def vjp(ans, *args):
        _check_real(name, args)
        return lambda g: _in_dtype_of(g * deriv(ans, *args), args[i])
    return jvp, vjp


def _float_like(p, x):
    """An integer parameter ``p`` (an order, a shape) as floats of x's dtype, so that arithmetic on it
    does not promote float32 data to float64."""
    dtype = np.result_type(lower(x))
    if np.issubdtype(np.result_type(lower(p)), np.integer) and np.issubdtype(dtype, np.floating):
        return np.asarray(lower(p), dtype=dtype)
    return p


def _defufunc(fn, *derivs, name=None):
    """Register the ufunc ``fn`` with one partial derivative per argument (each real-only). An entry
    may instead be a (argname, why) pair: that argument has no derivative here and asking raises."""
    prim = primitive(fn, name=name)
    pname = fn.__name__
    pairs = [_no_derivative(pname, *d) if isinstance(d, tuple) else _deriv_rules(pname, d, i)
             for i, d in enumerate(derivs)]
    defjvp(prim, *(p[0] for p in pairs))
    defvjp(prim, *(p[1] for p in pairs))
    return prim


_ORDER = ("v", "the derivative in the order is not implemented")


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# gamma, 1/gamma, log gamma (real): Γ' = Γ ψ.
gamma = _defufunc(sc.gamma, lambda ans, x: ans * sc.digamma(x))
defdomain(gamma, unary(-2.5, 4.0, avoid=(0.0, -1.0, -2.0)))
rgamma = _defufunc(sc.rgamma, lambda ans, x: -ans * sc.digamma(x))
defdomain(rgamma, unary(-2.5, 4.0, avoid=(0.0, -1.0, -2.0)))
loggamma = _defufunc(sc.loggamma, lambda ans, x: sc.digamma(x))
defdomain(loggamma, unary(0.2, 4.0))

# beta(a, b) = Γ(a)Γ(b)/Γ(a+b); ∂/∂a log B = ψ(a) - ψ(a+b).
beta = _defufunc(sc.beta, lambda ans, a, b: ans * (sc.digamma(a) - sc.digamma(a + b)),
                 lambda ans, a, b: ans * (sc.digamma(b) - sc.digamma(a + b)))
defdomain(beta, binary(0.3, 3.0))
betaln = _defufunc(sc.betaln, lambda ans, a, b: sc.digamma(a) - sc.digamma(a + b),
                   lambda ans, a, b: sc.digamma(b) - sc.digamma(a + b))
defdomain(betaln, binary(0.3, 3.0))


def _betainc_dx(ans, a, b, x):
    """The beta density x^(a-1) (1-x)^(b-1) / B(a, b), in log space."""
    a, b = _float_like(a, x), _float_like(b, x)
    return np.exp(sc.xlogy(a - 1.0, x) + sc.xlog1py(b - 1.0, -x) - sc.betaln(a, b))


def _gammainc_dx(ans, a, x):
    """The gamma density x^(a-1) e^-x / Γ(a), in log space."""
    a = _float_like(a, x)
    return np.exp(sc.xlogy(a - 1.0, x) - x - sc.gammaln(a))


def _quadrature_ufunc(one):
    """An elementwise function from the scalar quadrature ``one``, in the arguments' float dtype."""
    each = np.vectorize(one, otypes=[np.float64])

    def impl(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IntegrationWarning)  # roundoff at the 1e-13 target, harmless
            out = each(*args)
        dtype = np.result_type(*args)
        return out.astype(dtype) if np.issubdtype(dtype, np.floating) and dtype != out.dtype else out
    return impl


def _def_shape_derivative(name, impl, shape_names, dx):
    """A primitive for a first derivative in a shape parameter: exact in x (``dx``), raising in the
    shape parameters ``shape_names`` (their second derivatives are not implemented)."""
    prim = primitive(impl, name=name, elementwise=True)
    base = name.split("_")[0]
    pairs = [_no_derivative(base, n, "only the first derivative in a shape parameter is implemented")
             for n in shape_names] + [_deriv_rules(name, dx, len(shape_names))]
    defjvp(prim, *(p[0] for p in pairs))
    defvjp(prim, *(p[1] for p in pairs))
    return prim


# ∂P(a, x)/∂a, P the regularized lower incomplete gamma function, is not elementary; it is the integral
# (1/Γ(a)) ∫_0^x (log t - ψ(a)) t^(a-1) e^-t dt, computed by adaptive quadrature (QUADPACK, to 1e-13
# relative) in the form that avoids cancellation: below x = a over [0, x] (with t = x u and the
# log-weighted rule for the u^(a-1) log u endpoint), above it as -∂Q/∂a over [x, ∞), where the integrand
# keeps one sign. One quadrature per element: fine for parameters, slow for large arrays.


def _dp_da_one(a, x):
    """∂P(a, x)/∂a for one a > 0, x >= 0 (NaN outside, as gammainc)."""
    if not (a > 0 and x >= 0):
        return np.nan
    if x == 0:
        return 0.0
    psi = sc.digamma(a)
    if x <= a:
        log_u = quad(lambda u: np.exp(-x * u), 0.0, 1.0, weight="alg-loga", wvar=(a - 1.0, 0.0),
                     epsabs=0.0, epsrel=1e-13, limit=200)[0]
        return (math.log(x) - psi) * sc.gammainc(a, x) + math.exp(a * math.log(x) - sc.gammaln(a)) * log_u
    tail = quad(lambda s: (np.log(x + s) - psi) * np.exp((a - 1.0) * np.log1p(s / x) - s), 0.0, np.inf,
                epsabs=0.0, epsrel=1e-13, limit=200)[0]
    return -math.exp(-x + (a - 1.0) * math.log(x) - sc.gammaln(a)) * tail


def _gammainc_da_dx(ans, a, x):
    """∂/∂x ∂P/∂a = ∂/∂a of the gamma density = density (log x - ψ(a))."""
    return _gammainc_dx(ans, a, x) * (np.log(x) - sc.digamma(_float_like(a, x)))


def _param_sample(params, low, high, avoid=()):
    """Sampler for ``f(*params, x)``: each param a random int8 array (values from its list of
    choices) broadcasting against x, x uniform in [low, high] away from ``avoid``."""
    def sample(rng):
        shape = [(), (3,), (2, 3)][rng.integers(3)]
        pshape = shape[-1:] if rng.integers(2) else shape
        ps = [np.asarray(rng.choice(choices, size=pshape), dtype=np.int8) for choices in params]
        x = away_from(rng, shape, low, high, avoid) if avoid else uniform(rng, shape, low, high)
        return Sample((*ps, x))
    return sample


gammainc_da = _def_shape_derivative("gammainc_da", _quadrature_ufunc(_dp_da_one), ("a",), _gammainc_da_dx)
defdomain(gammainc_da, _param_sample([[1, 2, 3]], 0.2, 4.0))
gammainc = _defufunc(sc.gammainc, lambda ans, a, x: gammainc_da(a, x), _gammainc_dx)
defdomain(gammainc, _param_sample([[1, 2, 3]], 0.2, 4.0))
gammaincc = _defufunc(sc.gammaincc, lambda ans, a, x: -gammainc_da(a, x),
                      lambda ans, a, x: -_gammainc_dx(ans, a, x))
defdomain(gammaincc, _param_sample([[1, 2, 3]], 0.2, 4.0))


# ∂I_x(a, b)/∂a and ∂/∂b, I the regularized incomplete beta function: (1/B(a, b)) ∫_0^x (log t - ψ(a)
# + ψ(a+b)) t^(a-1) (1-t)^(b-1) dt and the same with log(1-t) - ψ(b) + ψ(a+b). Quadrature over the
# smaller tail: [0, x] below the mean a/(a+b) (t = x u, the log-weighted rule for log u), else over
# [0, 1-x] by I_x(a, b) = 1 - I_{1-x}(b, a). 1e-14 against mpmath where tested.


def _ibeta_d_first(p, q, y):
    """∂/∂p I_y(p, q), integrating over [0, y]."""
    log_u = quad(lambda u: np.exp((q - 1.0) * np.log1p(-y * u)), 0.0, 1.0, weight="alg-loga",
                 wvar=(p - 1.0, 0.0), epsabs=0.0, epsrel=1e-13, limit=200)[0]
    c = sc.digamma(p + q) - sc.digamma(p)
    return (math.log(y) + c) * sc.betainc(p, q, y) + math.exp(p * math.log(y) - sc.betaln(p, q)) * log_u


def _ibeta_d_second(p, q, y):
    """∂/∂q I_y(p, q), integrating over [0, y]."""
    c = sc.digamma(p + q) - sc.digamma(q)
    val = quad(lambda u: (np.log1p(-y * u) + c) * np.exp((q - 1.0) * np.log1p(-y * u)), 0.0, 1.0,
               weight="alg", wvar=(p - 1.0, 0.0), epsabs=0.0, epsrel=1e-13, limit=200)[0]
    return math.exp(p * math.log(y) - sc.betaln(p, q)) * val


def _ibeta_da_one(a, b, x):
    """∂I_x(a, b)/∂a for one a, b > 0, 0 <= x <= 1 (NaN outside, as betainc)."""
    if not (a > 0 and b > 0 and 0 <= x <= 1):
        return np.nan
    if x in (0.0, 1.0):
        return 0.0
    return _ibeta_d_first(a, b, x) if x <= a / (a + b) else -_ibeta_d_second(b, a, 1.0 - x)


def _ibeta_db_one(a, b, x):
    """∂I_x(a, b)/∂b for one a, b > 0, 0 <= x <= 1 (NaN outside, as betainc)."""
    if not (a > 0 and b > 0 and 0 <= x <= 1):
        return np.nan
    if x in (0.0, 1.0):
        return 0.0
    return _ibeta_d_second(a, b, x) if x <= a / (a + b) else -_ibeta_d_first(b, a, 1.0 - x)


def _log_density_terms(a, b, x):
    """(log x - ψ(a) + ψ(a+b), log(1-x) - ψ(b) + ψ(a+b)): ∂/∂a and ∂/∂b of the log beta density."""
    a, b = _float_like(a, x), _float_like(b, x)
    both = sc.digamma(a + b)
    return np.log(x) - sc.digamma(a) + both, np.log1p(-x) - sc.digamma(b) + both


betainc_da = _def_shape_derivative(
    "betainc_da", _quadrature_ufunc(_ibeta_da_one), ("a", "b"),
    lambda ans, a, b, x: _betainc_dx(ans, a, b, x) * _log_density_terms(a, b, x)[0])
defdomain(betainc_da, _param_sample([[1, 2, 3], [1, 2, 4]], 0.1, 0.9))
betainc_db = _def_shape_derivative(
    "betainc_db", _quadrature_ufunc(_ibeta_db_one), ("a", "b"),
    lambda ans, a, b, x: _betainc_dx(ans, a, b, x) * _log_density_terms(a, b, x)[1])
defdomain(betainc_db, _param_sample([[1, 2, 3], [1, 2, 4]], 0.1, 0.9))
betainc = _defufunc(sc.betainc, lambda ans, a, b, x: betainc_da(a, b, x),
                    lambda ans, a, b, x: betainc_db(a, b, x), _betainc_dx)
defdomain(betainc, _param_sample([[1, 2, 3], [1, 2, 4]], 0.1, 0.9))


# Bessel functions. Each derivative is a recurrence in the order, so it is a Bessel function again:
# J_v' = (J_{v-1} - J_{v+1})/2 (likewise Y), I_v' = (I_{v-1} + I_{v+1})/2, K_v' = -(K_{v-1} + K_{v+1})/2.
j0 = _defufunc(sc.j0, lambda ans, x: -sc.j1(x))
defdomain(j0, unary(-6.0, 6.0))
j1 = _defufunc(sc.j1, lambda ans, x: 0.5 * (sc.j0(x) - sc.jv(2, x)))
defdomain(j1, unary(-6.0, 6.0))
jv = _defufunc(sc.jv, _ORDER, lambda ans, v, x: 0.5 * (sc.jv(v - 1, x) - sc.jv(v + 1, x)))  # = jn
defdomain(jv, _param_sample([[-1, 0, 1, 2, 3]], -6.0, 6.0))
y0 = _defufunc(sc.y0, lambda ans, x: -sc.y1(x))
defdomain(y0, unary(0.3, 6.0))
y1 = _defufunc(sc.y1, lambda ans, x: 0.5 * (sc.y0(x) - sc.yv(2, x)))
defdomain(y1, unary(0.5, 6.0))
yv = _defufunc(sc.yv, _ORDER, lambda ans, v, x: 0.5 * (sc.yv(v - 1, x) - sc.yv(v + 1, x)))
defdomain(yv, _param_sample([[0, 1, 2]], 0.8, 6.0))
yn = _defufunc(sc.yn, ("n", "the order is an integer"),
               lambda ans, n, x: 0.5 * (sc.yn(n - 1, x) - sc.yn(n + 1, x)))
defdomain(yn, _param_sample([[0, 1, 2]], 0.8, 6.0))
i0 = _defufunc(sc.i0, lambda ans, x: sc.i1(x))
defdomain(i0, unary(-3.0, 3.0))
i1 = _defufunc(sc.i1, lambda ans, x: 0.5 * (sc.i0(x) + sc.iv(2, x)))
defdomain(i1, unary(-3.0, 3.0))
iv = _defufunc(sc.iv, _ORDER, lambda ans, v, x: 0.5 * (sc.iv(v - 1, x) + sc.iv(v + 1, x)))
defdomain(iv, _param_sample([[-1, 0, 1, 2]], -3.0, 3.0))
# ive = e^-|x| I_v: the product rule adds -sign(x) ive (a kink at 0, where sign(0) = 0 takes the mean).
ive = _defufunc(sc.ive, _ORDER,
                lambda ans, v, x: 0.5 * (sc.ive(v - 1, x) + sc.ive(v + 1, x)) - np.sign(x) * ans)
defdomain(ive, _param_sample([[0, 1, 2]], -3.0, 3.0, avoid=(0.0,)))
kv = _defufunc(sc.kv, _ORDER, lambda ans, v, x: -0.5 * (sc.kv(v - 1, x) + sc.kv(v + 1, x)))
defdomain(kv, _param_sample([[0, 1, 2]], 0.5, 4.0))
k0 = _defufunc(sc.k0, lambda ans, x: -sc.k1(x))
defdomain(k0, unary(0.3, 4.0))
k1 = _defufunc(sc.k1, lambda ans, x: -0.5 * (sc.k0(x) + sc.kv(2, x)))
defdomain(k1, unary(0.3, 4.0))
# The scaled kve = e^x K_v (x > 0): the product rule adds kve itself.
kve = _defufunc(sc.kve, _ORDER, lambda ans, v, x: ans - 0.5 * (sc.kve(v - 1, x) + sc.kve(v + 1, x)))
defdomain(kve, _param_sample([[0, 1, 2]], 0.5, 4.0))
k0e = _defufunc(sc.k0e, lambda ans, x: ans - sc.k1e(x))
defdomain(k0e, unary(0.3, 4.0))
k1e = _defufunc(sc.k1e, lambda ans, x: ans - 0.5 * (sc.k0e(x) + sc.kve(2, x)))
defdomain(k1e, unary(0.3, 4.0))

# Error function and normal distribution relatives.
erfcinv = _defufunc(sc.erfcinv, lambda ans, x: -_HALF_SQRT_PI * np.exp(ans * ans))   # 1 / erfc'(ans)
defdomain(erfcinv, unary(0.1, 1.9))
erfcx = _defufunc(sc.erfcx, lambda ans, x: 2.0 * x * ans - _TWO_OVER_SQRT_PI)        # e^(x²) erfc(x)
defdomain(erfcx, unary(-1.5, 3.0))
ndtr = _defufunc(sc.ndtr, lambda ans, x: _INV_SQRT_2PI * np.exp(-0.5 * x * x))
defdomain(ndtr, unary(-3.0, 3.0))
# log Φ(x): Φ'/Φ = φ(x)/Φ(x), formed in log space (finite far in the left tail, where Φ underflows).
log_ndtr = _defufunc(sc.log_ndtr, lambda ans, x: _INV_SQRT_2PI * np.exp(-0.5 * x * x - ans))
defdomain(log_ndtr, unary(-6.0, 3.0))
ndtri = _defufunc(sc.ndtri, lambda ans, x: _SQRT_2PI * np.exp(0.5 * ans * ans))      # 1 / φ(ans)
defdomain(ndtri, unary(0.05, 0.95))

# Information theory (x, y > 0 in the domain; at x = 0 the derivative in x is -inf, as the formula says).
entr = _defufunc(sc.entr, lambda ans, x: -(np.log(x) + 1.0))                         # -x log x
defdomain(entr, unary(0.1, 3.0))
rel_entr = _defufunc(sc.rel_entr, lambda ans, x, y: np.log(x / y) + 1.0,            # x log(x/y)
                     lambda ans, x, y: -(x / y))
defdomain(rel_entr, binary(0.2, 3.0))
kl_div = _defufunc(sc.kl_div, lambda ans, x, y: np.log(x / y),                      # x log(x/y) - x + y
                   lambda ans, x, y: 1.0 - x / y)
defdomain(kl_div, binary(0.2, 3.0))


def _huber_inside(delta, r):
    """|r| <= delta, as a constant mask (the two pieces of the Huber loss)."""
    return np.abs(lower(r)) <= lower(delta)


def _huber_sample(rng):
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    delta = uniform(rng, shape[-1:], 0.5, 1.5)
    r = uniform(rng, shape, -3.0, 3.0)
    r = np.where(np.abs(np.abs(r) - delta) < 0.15, r + 0.4 * np.sign(r + 1e-3), r)
    return Sample((delta, r))


# huber(δ, r) = r²/2 for |r| <= δ, else δ(|r| - δ/2): ∂r = r or δ sign(r), ∂δ = 0 or |r| - δ.
huber = _defufunc(sc.huber,
                  lambda ans, d, r: np.where(_huber_inside(d, r), 0.0, np.abs(r) - d),
                  lambda ans, d, r: np.where(_huber_inside(d, r), r, d * np.sign(r)))
defdomain(huber, _huber_sample)

# Exponential and related integrals: Ei' = e^x/x, E1' = -e^-x/x, E_n' = -E_{n-1}; erfi' = 2/√π e^(x²);
# Dawson's F' = 1 - 2x F; Spence's (dilogarithm) spence' = log(x)/(1 - x); Pochhammer (z)_m =
# Γ(z+m)/Γ(z). gammasgn, the sign of Γ, is piecewise constant.
expi = _defufunc(sc.expi, lambda ans, x: np.exp(x) / x)
defdomain(expi, unary(-3.0, 3.0, avoid=(0.0,)))
exp1 = _defufunc(sc.exp1, lambda ans, x: -np.exp(-x) / x)
defdomain(exp1, unary(0.2, 3.0))


def _expn_dx(ans, n, x):
    """E_n' = -E_{n-1} for n >= 1; E_0 = e^-x/x has E_0' = -E_0 (1 + 1/x) (SciPy has no E_{-1})."""
    zero = np.asarray(lower(n)) == 0
    below = -sc.expn(np.maximum(np.asarray(lower(n)) - 1, 0).astype(np.asarray(lower(n)).dtype), x)
    return np.where(zero, -ans * (1.0 + 1.0 / x), below) if np.any(zero) else below


expn = _defufunc(sc.expn, ("n", "the order is an integer"), _expn_dx)
defdomain(expn, _param_sample([[0, 1, 2, 3]], 0.2, 3.0))
erfi = _defufunc(sc.erfi, lambda ans, x: _TWO_OVER_SQRT_PI * np.exp(x * x))
defdomain(erfi, unary(-1.5, 1.5))
dawsn = _defufunc(sc.dawsn, lambda ans, x: 1.0 - 2.0 * x * ans)
defdomain(dawsn, unary(-3.0, 3.0))
spence = _defufunc(sc.spence, lambda ans, x: np.log(x) / (1.0 - x))
defdomain(spence, unary(0.1, 3.0, avoid=(1.0,)))
poch = _defufunc(sc.poch, lambda ans, z, m: ans * (sc.digamma(z + m) - sc.digamma(z)),
                 lambda ans, z, m: ans * sc.digamma(z + m))
defdomain(poch, binary(0.3, 3.0, -1.5, 2.0))
gammasgn = nondifferentiable(sc.gammasgn)
# jve, yve: scaled by e^-|Im x|, which is 1 for the real x these rules take: the J and Y recurrences.
jve = _defufunc(sc.jve, _ORDER, lambda ans, v, x: 0.5 * (sc.jve(v - 1, x) - sc.jve(v + 1, x)))
defdomain(jve, _param_sample([[-1, 0, 1, 2, 3]], -6.0, 6.0))
yve = _defufunc(sc.yve, _ORDER, lambda ans, v, x: 0.5 * (sc.yve(v - 1, x) - sc.yve(v + 1, x)))
defdomain(yve, _param_sample([[0, 1, 2]], 0.8, 6.0))

# SciPy's own expm1 and log1p (separate ufuncs from NumPy's, hence the names).
special_expm1 = _defufunc(sc.expm1, lambda ans, x: ans + 1.0, name="special_expm1")
defdomain(special_expm1, unary(-2.0, 2.0))
special_log1p = _defufunc(sc.log1p, lambda ans, x: 1.0 / (1.0 + x), name="special_log1p")
defdomain(special_log1p, unary(-0.8, 3.0))

# Student's t distribution function: ∂/∂t stdtr(df, t) is the t density.


def _t_density(df, t):
    """The density of Student's t distribution with ``df`` degrees of freedom."""
    df = _float_like(df, t)
    log_c = sc.gammaln(0.5 * (df + 1.0)) - sc.gammaln(0.5 * df) - 0.5 * np.log(math.pi * df)
    return np.exp(log_c - 0.5 * (df + 1.0) * np.log1p(t * t / df))


def _stdtr_ddf(ans, df, t):
    """∂/∂df of the t distribution function F = 1 - ½ I_w(df/2, ½) (t > 0; ½ I_w for t < 0), with
    w = df/(df + t²): -½ sign(t) (½ ∂I/∂a + I'(w) t²/(df + t²)²)."""
    t2 = t * t
    w = df / (df + t2)
    shape = 0.5 * betainc_da(0.5 * df, 0.5, w) + _betainc_dx(None, 0.5 * df, 0.5, w) * t2 / (df + t2) ** 2
    return -0.5 * np.sign(t) * shape


stdtr = _defufunc(sc.stdtr, _stdtr_ddf, lambda ans, df, t: _t_density(df, t))
defdomain(stdtr, _param_sample([[1, 2, 5]], -4.0, 4.0))

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


logsumexp_p = primitive(_logsumexp_impl, name="logsumexp")
defjvp(logsumexp_p, _lse_jvp_x, _lse_jvp_b)
defvjp(logsumexp_p, _lse_vjp_x, _lse_vjp_b)
defdomain(logsumexp_p, _axis_sample(True))


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
defdomain(softmax_p, _axis_sample(False))


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
defdomain(log_softmax_p, _axis_sample(False))


def multigammaln(a, d):
    """``scipy.special.multigammaln``, differentiable in ``a``: the log of the multivariate gamma
    function, d(d-1)/4 log π + Σ_{j=1..d} gammaln(a - (j - 1)/2). Needs a > (d - 1)/2 everywhere."""
    if isinstance(d, bool) or not np.isscalar(d) or int(d) != d or d < 1:
        raise ValueError(f"multigammaln: d must be a positive integer, got {d!r}")
    d = int(d)
    if np.any(lower(a) <= 0.5 * (d - 1)):
        raise ValueError(f"multigammaln: condition a ({lower(a)!r}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    terms = np.stack([sc.gammaln(a - 0.5 * (j - 1)) for j in range(1, d + 1)])
    return 0.25 * d * (d - 1) * math.log(math.pi) + np.sum(terms, axis=0)


def log_softmax(x, axis=None):
    """``scipy.special.log_softmax``, differentiable: x - logsumexp(x) over ``axis`` (all by default).

    Finite where softmax underflows. Derivative v - softmax(x) Σ v (VJP). Call this on traced values.
    """
    return log_softmax_p(x, axis=neg_axes(axis, np.ndim(lower(x))))


__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "gammaln", "digamma", "polygamma", "xlogy", "xlog1py",
           "i0e", "i1e", "logsumexp", "softmax", "log_softmax", "multigammaln", "gamma", "rgamma",
           "loggamma", "beta", "betaln", "betainc", "gammainc", "gammaincc", "j0", "j1", "jv",
           "y0", "y1", "yv", "yn", "i0", "i1", "iv", "ive", "kv", "kve", "k0", "k1", "k0e", "k1e",
           "erfcinv", "erfcx", "ndtr", "log_ndtr", "ndtri", "entr", "rel_entr", "kl_div", "huber",
           "special_expm1", "special_log1p", "stdtr", "expi", "exp1", "expn", "erfi", "dawsn",
           "spence", "poch", "gammasgn", "jve", "yve", "gammainc_da", "betainc_da", "betainc_db"]
