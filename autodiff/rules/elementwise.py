"""Elementwise primitives (broadcasting like ufuncs), each with its rules and its test domain.

Tangents reaching these JVP rules are already lined up with the output, and the cotangents these VJP
rules return are summed back to each argument's shape by the transformations (``elementwise=True``),
so every rule is the textbook derivative times the incoming (co)tangent. Most primitives therefore
declare just that derivative, one per argument, with :func:`autodiff.forms.defprim` — one statement
with the primitive, its partials and its test domain.

Conventions at the points where a derivative does not exist: ``abs``, ``fabs``, ``copysign`` and
``sign``-like functions give 0 at 0; ``maximum``/``minimum``/``fmax``/``fmin`` split the derivative
evenly between tied arguments; functions with an infinite derivative (``sqrt`` at 0, ``log`` at 0,
``arcsin`` at ±1) give ``inf``, as NumPy's formula does, and ``0 * inf`` is NaN: use the safe ``where``
idiom (see :func:`_np_where`) to keep such points out of a derivative.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from autodiff.core import (
    NDARRAY,
    Sample,
    Tracer,
    defdomain,
    defjvp,
    defvjp,
    implements,
    lower,
    ndim_of,
    nondifferentiable,
    primitive,
    register_op,
    shape_of,
)
from autodiff.forms import defprim, over
from autodiff.rules._domains import away_from, binary, unary, uniform
from autodiff.rules._util import const_like
from autodiff.structured import SPLAT, accepts_structured, is_scratch, scaling_keeps_splat, splat_times

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _identity(g):
    return g


def _is_const_scalar(c) -> bool:
    """True for a plain (untraced) scalar: a Python number, a NumPy scalar or a 0-d array."""
    if type(c) is float or type(c) is int or isinstance(c, np.generic):
        return True
    return type(c) is complex or (type(c) is NDARRAY and c.ndim == 0)


_negate = accepts_structured(SPLAT)(scaling_keeps_splat(operator.neg))


@accepts_structured(SPLAT)
def _multiply_vjp_x(ans, x, y):
    """Pullback ``g ↦ g * y``; a broadcast scalar g stays one when ``y`` is a constant scalar."""
    times_y = lambda g: g * y  # noqa: E731
    return scaling_keeps_splat(times_y) if _is_const_scalar(y) else times_y


@accepts_structured(SPLAT)
def _multiply_vjp_y(ans, x, y):
    """Pullback ``g ↦ x * g`` (the constant on the left, as in the forward product)."""
    x_times = lambda g: x * g  # noqa: E731
    return scaling_keeps_splat(x_times) if _is_const_scalar(x) else x_times


@accepts_structured(SPLAT)
def _divide_vjp_x(ans, x, y):
    """Pullback ``g ↦ g / y``; a broadcast scalar g stays one when ``y`` is a constant scalar."""
    over_y = lambda g: g / y  # noqa: E731
    return scaling_keeps_splat(over_y) if _is_const_scalar(y) else over_y


# ---- arithmetic ------------------------------------------------------------------------------------

# The four arithmetic operations keep hand-written rules: their pullbacks pass cotangents through
# untouched (add) or keep broadcast scalars broadcast (the constant scalings), which t * d cannot.

add = primitive(np.add)
defjvp(add, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defvjp(add, lambda ans, x, y: _identity, lambda ans, x, y: _identity)
defdomain(add, binary())

subtract = primitive(np.subtract)
defjvp(subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defvjp(subtract, lambda ans, x, y: _identity, lambda ans, x, y: _negate)
defdomain(subtract, binary())

multiply = primitive(np.multiply)
defjvp(multiply, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defvjp(multiply, _multiply_vjp_x, _multiply_vjp_y)
defdomain(multiply, binary())

divide = primitive(np.divide)          # np.true_divide is the same ufunc
defjvp(divide, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defvjp(divide, _divide_vjp_x, lambda ans, x, y: lambda g: -g * ans / y)
defdomain(divide, binary(avoid2=(0.0,), low2=-2.0, high2=2.0))

negative = primitive(np.negative)
defjvp(negative, lambda t, ans, x: -t)
defvjp(negative, lambda ans, x: _negate)
defdomain(negative, unary())

positive = primitive(np.positive)
defjvp(positive, lambda t, ans, x: t)
defvjp(positive, lambda ans, x: _identity)
defdomain(positive, unary())


# Python's operators reach NumPy's scalar fast paths (np.float64 * float is ~10x cheaper than the
# np.multiply ufunc call on scalars) and are the same ufuncs on arrays, so they implement the four
# arithmetic primitives. float32 scalars stay float32 (NEP 50).
add.impl = operator.add
subtract.impl = operator.sub
multiply.impl = operator.mul
divide.impl = operator.truediv
negative.impl = operator.neg


def _log_base(x):
    """log(x) where x > 0 and 0 elsewhere: d(x**y)/dy = x**y log x, taken as 0 where x**y is 0 at x=0."""
    xl = lower(x)
    if np.iscomplexobj(xl):
        return np.log(x)                  # principal branch, as np.power uses for complex values
    safe = np.where(xl > 0, x, 1.0) if ndim_of(xl) else (x if xl > 0 else 1.0)
    return np.log(safe)




def _power_dx(ans, x, y):
    """y x^(y-1); for the common constant exponent 2 just 2x (one operation, not a pow).

    At y = 0, x^0 = 1 is constant, so the derivative is 0 even at x = 0, where the formula reads
    0 · 0^(-1) = 0 · inf = NaN (SPEC section 2: where the limit exists the derivative is finite).
    """
    if type(y) is int or type(y) is float:
        if y == 2:
            return 2.0 * x
        if y == 1:
            return 1.0
        if y == 0:
            return 0.0
    return y * x ** _safe_exponent(x, y)


def _safe_exponent(x, y):
    """y - 1, except 1 where x = 0 and y = 0: there y x^(y-1) must be 0 · x = 0, not 0 · inf.

    Only the points with both x = 0 and y = 0 change, so the mixed partials in y at x != 0 (1/x at y = 0)
    stay exact; the mask is a constant, so higher derivatives of 0 · x are 0 too.
    """
    yl = lower(y)
    if not np.any(yl == 0):
        return y - 1
    both_zero = (lower(x) == 0) & (yl == 0)
    if not np.any(both_zero):
        return y - 1
    return np.where(both_zero, 1.0, y - 1)


@accepts_structured(SPLAT)
def _power_vjp_x(ans, x, y):
    """Pullback to the base: g y x^(y-1). It closes over x and y only, not over the output, so that
    ``x ** 2``'s result can be freed as soon as the forward pass is done with it."""
    square = (type(y) is int or type(y) is float) and y == 2

    def pullback(g):
        if square:
            fast = splat_times(g, x, 2.0)    # g 2x as x (2s) for a broadcast scalar g = s
            if fast is not None:
                return fast
            if type(g) is NDARRAY and isinstance(x, Tracer):
                return x * (g * 2.0)         # one traced operation, not two (2 g x: exact either way)
        d = _power_dx(None, x, y)
        if is_scratch(d, g) and d is not x and d is not y:
            return np.multiply(g, d, out=d)
        return g * d
    return pullback


power = defprim(np.power, deriv=(_power_dx, lambda ans, x, y: ans * _log_base(x)),
                vjp={0: _power_vjp_x}, domain=binary(0.5, 2.0, -2.0, 2.0))


def _power_impl(x, y):
    """x ** y through the operator: NumPy's ndarray fast path turns ``x ** 2`` into a square, which is
    several times faster than ``np.power(x, 2)`` on large arrays."""
    return x ** y if isinstance(x, np.ndarray) else np.power(x, y)


power.impl = _power_impl



def _float_power_dx(ans, x, y):
    return y * np.float_power(x, y - 1)


def _float_power_dy(ans, x, y):
    return ans * _log_base(x)


def _vjp_in_own_dtype(deriv, argnum):
    """VJP ``g * deriv`` cast to the argument's float dtype: float_power computes in float64 even for
    float32 inputs, but a float32 input's cotangent must stay float32."""
    def vjp(ans, *args):
        dtype = np.result_type(lower(args[argnum]))
        if not np.issubdtype(dtype, np.inexact):
            dtype = None
        return lambda g: _cast(g * deriv(ans, *args), dtype)
    return vjp


def _cast(x, dtype):
    return x if dtype is None or x.dtype == dtype else x.astype(dtype)


float_power = defprim(np.float_power,     # x**y computed in float64 (or complex128)
                      deriv=(_float_power_dx, _float_power_dy),
                      vjp={0: _vjp_in_own_dtype(_float_power_dx, 0),
                           1: _vjp_in_own_dtype(_float_power_dy, 1)},
                      domain=binary(0.5, 2.0, -2.0, 2.0))


def _mod_quotient(ans, x, y):
    """∂ mod(x, y)/∂y = -floor(x / y): mod(x, y) = x - floor(x / y) y, the floor being locally constant."""
    return const_like(-np.floor(lower(x) / lower(y)), ans)


def _fmod_quotient(ans, x, y):
    """∂ fmod(x, y)/∂y = -trunc(x / y) (fmod rounds the quotient toward zero)."""
    return const_like(-np.trunc(lower(x) / lower(y)), ans)


# mod jumps where x/y is an integer: the domains keep x/y inside (0, 1) + k with y away from 0.
remainder = defprim(np.remainder, deriv=(lambda ans, x, y: 1.0, _mod_quotient),   # np.mod is the same ufunc
                    domain=binary(0.1, 0.9, 1.0, 2.0))
fmod = defprim(np.fmod, deriv=(lambda ans, x, y: 1.0, _fmod_quotient), domain=binary(2.2, 2.8, 1.0, 1.05))

# ---- non-differentiable elementwise functions (declared: derivative zero where it exists) ---------
# Their results are constants in every transformation (no tangent, no tape node).


def _off_grid(rng):
    """Values whose fractional part is in [0.1, 0.4]: away from the jumps of floor, round, sign, ..."""
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    return rng.integers(-3, 3, size=shape) + rng.uniform(0.1, 0.4, size=shape)


def _nondiff_unary_sample(rng):
    return Sample((_off_grid(rng),))


def _nondiff_binary_sample(rng):
    x = _off_grid(rng)
    return Sample((x, x + rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 1.0, size=shape_of(x))))


def _floor_divide_sample(rng):
    return Sample((_off_grid(rng), np.float64(1.0)))


def _nondiff_array_sample(rng):
    """Non-scalar values (np.nonzero refuses 0-d arrays)."""
    return Sample((_off_grid(rng).reshape(-1) if rng.integers(2) else _off_grid(rng) * np.ones((2, 3)),))


sign = nondifferentiable(np.sign, domain=_nondiff_unary_sample)
floor = nondifferentiable(np.floor, domain=_nondiff_unary_sample)
ceil = nondifferentiable(np.ceil, domain=_nondiff_unary_sample)
trunc = nondifferentiable(np.trunc, domain=_nondiff_unary_sample)
rint = nondifferentiable(np.rint, domain=_nondiff_unary_sample)
fix = nondifferentiable(np.fix, domain=_nondiff_unary_sample)
round_ = nondifferentiable(np.round, name="round", domain=_nondiff_unary_sample)
around = nondifferentiable(np.around, name="around", domain=_nondiff_unary_sample)
floor_divide = nondifferentiable(np.floor_divide, domain=_floor_divide_sample)
heaviside = nondifferentiable(np.heaviside, domain=_nondiff_binary_sample)
signbit = nondifferentiable(np.signbit, domain=_nondiff_unary_sample)
_COMPARISONS = (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
                np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
                np.isfinite, np.isnan, np.isinf)
for _cmp in _COMPARISONS:
    nondifferentiable(_cmp, domain=_nondiff_binary_sample if _cmp.nin == 2 else _nondiff_unary_sample)
# Index-valued functions (core dispatches them to the plain values already; registered so that the
# registry declares them).
_INDEX_VALUED = (np.argmax, np.argmin, np.argsort, np.nonzero, np.isposinf, np.isneginf)
for _f in _INDEX_VALUED:
    nondifferentiable(_f, domain=_nondiff_array_sample)

# ---- absolute value: derivative sign(x), 0 at the kink ---------------------------------------------


def _sign_of(ans, x):
    return np.sign(x)


def _is_complex(x) -> bool:
    return np.iscomplexobj(lower(x))


def _unit(x, ans):
    """x / |x| (0 at 0), differentiable: for complex x the direction changes with x, unlike sign(real)."""
    zero = lower(ans) == 0
    if not np.any(zero):
        return x / ans
    return np.where(zero, 0.0, x / np.where(zero, 1.0, ans))


def _abs_jvp(t, ans, x):
    """d|x| = sign(x) dx for real x; Re(conj(x/|x|) dz) for complex x (|x| is not holomorphic)."""
    if _is_complex(x):
        return np.real(np.conjugate(_unit(x, ans)) * t)
    return t * np.sign(x)


def _abs_vjp(ans, x):
    """The transpose under the real pairing Re(Σ a b) (JAX's convention): g conj(x/|x|) for complex x."""
    if _is_complex(x):
        return lambda g: g * np.conjugate(_unit(x, ans))
    return lambda g: g * np.sign(x)


def _abs_sample(rng):
    """Real values away from the kink at 0, or complex values away from 0 (|z| is smooth there)."""
    s = unary(avoid=(0.0,))(rng)
    x = s.args[0]
    if rng.integers(2):
        x = x + 1j * away_from(rng, shape_of(x), -2.0, 2.0, (0.0,))
    return Sample((x,))


absolute = primitive(np.absolute)
defjvp(absolute, _abs_jvp)
defvjp(absolute, _abs_vjp)
defdomain(absolute, _abs_sample)
fabs = defprim(np.fabs, deriv=_sign_of, domain=unary(avoid=(0.0,)))


def _copysign_dx(ans, x, y):
    """∂ copysign(x, y)/∂x = sign(x) · (±1 by y's sign bit); 0 at x = 0 like abs."""
    return const_like(np.sign(lower(x)) * np.copysign(1.0, lower(y)), ans)


copysign = defprim(np.copysign, deriv=(_copysign_dx, None), domain=binary(avoid=(0.0,), avoid2=(0.0,)))

# ---- exponentials, logarithms, powers --------------------------------------------------------------

exp = defprim(np.exp, deriv=lambda ans, x: ans, domain=unary())
exp2 = defprim(np.exp2, deriv=lambda ans, x: ans * _LN2, domain=unary())
expm1 = defprim(np.expm1, deriv=lambda ans, x: ans + 1.0, domain=unary())
log = defprim(np.log, deriv=over(lambda ans, x: x), domain=unary(0.1, 3.0))
log2 = defprim(np.log2, deriv=lambda ans, x: 1.0 / (x * _LN2), domain=unary(0.1, 3.0))
log10 = defprim(np.log10, deriv=lambda ans, x: 1.0 / (x * _LN10), domain=unary(0.1, 3.0))
log1p = defprim(np.log1p, deriv=lambda ans, x: 1.0 / (1.0 + x), domain=unary(-0.9, 3.0))
logaddexp = defprim(np.logaddexp,         # log(e^x + e^y): the weights are a softmax, never overflow
                    deriv=(lambda ans, x, y: np.exp(x - ans), lambda ans, x, y: np.exp(y - ans)),
                    domain=binary())
logaddexp2 = defprim(np.logaddexp2,       # log2(2^x + 2^y)
                     deriv=(lambda ans, x, y: np.exp2(x - ans), lambda ans, x, y: np.exp2(y - ans)),
                     domain=binary())
sqrt = defprim(np.sqrt, deriv=over(lambda ans, x: 2.0 * ans), domain=unary(0.1, 3.0))
cbrt = defprim(np.cbrt, deriv=lambda ans, x: 1.0 / (3.0 * ans * ans), domain=unary(avoid=(0.0,)))
square = defprim(np.square, deriv=lambda ans, x: 2.0 * x, domain=unary())
reciprocal = defprim(np.reciprocal, deriv=lambda ans, x: -ans * ans, domain=unary(avoid=(0.0,)))


def _over_hypot(u, ans):
    """u / hypot(x, y), and 0 where hypot is 0: the origin is a kink of the norm of (x, y), and its
    derivative there is 0 (SPEC section 2, as for ``norm``). The safe-where idiom keeps the division
    finite, so higher derivatives at the origin are finite (0) too."""
    zero = lower(ans) == 0
    if not np.any(zero):
        return u / ans
    if ndim_of(zero) == 0:
        return 0.0 * u
    return np.where(zero, 0.0, u / np.where(zero, 1.0, ans))


hypot = defprim(np.hypot,                 # sqrt(x² + y²); derivative (x, y)/hypot, 0 at the origin
                deriv=(lambda ans, x, y: _over_hypot(x, ans), lambda ans, x, y: _over_hypot(y, ans)),
                domain=binary(avoid=(0.0,), avoid2=(0.0,)))

# ---- trigonometric and hyperbolic ------------------------------------------------------------------

sin = defprim(np.sin, deriv=lambda ans, x: np.cos(x), domain=unary())
cos = defprim(np.cos, deriv=lambda ans, x: -np.sin(x), domain=unary())
tan = defprim(np.tan, deriv=lambda ans, x: 1.0 + ans * ans, domain=unary(-1.2, 1.2))
arcsin = defprim(np.arcsin, deriv=lambda ans, x: 1.0 / np.sqrt(1.0 - x * x), domain=unary(-0.9, 0.9))
arccos = defprim(np.arccos, deriv=lambda ans, x: -1.0 / np.sqrt(1.0 - x * x), domain=unary(-0.9, 0.9))
arctan = defprim(np.arctan, deriv=lambda ans, x: 1.0 / (1.0 + x * x), domain=unary())
arctan2 = defprim(np.arctan2,             # arctan2(y, x): the angle of the point (x, y)
                  deriv=(lambda ans, y, x: x / (x * x + y * y), lambda ans, y, x: -y / (x * x + y * y)),
                  domain=binary(avoid=(0.0,), avoid2=(0.0,)))
sinh = defprim(np.sinh, deriv=lambda ans, x: np.cosh(x), domain=unary())
cosh = defprim(np.cosh, deriv=lambda ans, x: np.sinh(x), domain=unary())


def _tanh_vjp(ans, x):
    """g (1 - ans²) in one scratch array: ans², then 1 - ans², then the product, in place."""
    def pullback(g):
        d = ans * ans
        if is_scratch(d, g):   # 1 - ans², then g (1 - ans²), in one scratch array
            np.subtract(1.0, d, out=d)
            return np.multiply(g, d, out=d)
        return g * (1.0 - d)
    return pullback


tanh = defprim(np.tanh, deriv=lambda ans, x: 1.0 - ans * ans, vjp={0: _tanh_vjp}, domain=unary())
arcsinh = defprim(np.arcsinh, deriv=lambda ans, x: 1.0 / np.sqrt(x * x + 1.0), domain=unary())
arccosh = defprim(np.arccosh, deriv=lambda ans, x: 1.0 / np.sqrt(x * x - 1.0), domain=unary(1.1, 3.0))
arctanh = defprim(np.arctanh, deriv=lambda ans, x: 1.0 / (1.0 - x * x), domain=unary(-0.9, 0.9))
deg2rad = defprim(np.deg2rad, deriv=lambda ans, x: math.pi / 180.0, domain=unary())   # = np.radians
rad2deg = defprim(np.rad2deg, deriv=lambda ans, x: 180.0 / math.pi, domain=unary())   # = np.degrees

# sinc(x) = sin(πx)/(πx). Its derivative (cos(πx) - sinc(x))/x cancels catastrophically near 0, so
# there it is the Taylor series Σ_{k≥1} (-1)^k 2k π^{2k} x^{2k-1}/(2k+1)!, whose own derivatives are
# exact at 0 too (sinc''(0) = -π²/3). Seven terms leave an error below 1e-20 for |x| < 0.1.
_SINC_SERIES = tuple((-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1) for k in range(1, 8))
_SINC_SMALL = 0.1


def _sinc_series(x):
    x2 = x * x
    acc = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        acc = acc * x2 + c
    return acc * x


def _sinc_deriv(ans, x):
    small = np.abs(lower(x)) < _SINC_SMALL
    if ndim_of(small) == 0:               # a scalar: one branch, no masks
        return _sinc_series(x) if small else (np.cos(math.pi * x) - ans) / x
    if not np.any(small):
        return (np.cos(math.pi * x) - ans) / x
    if np.all(small):
        return _sinc_series(x)
    xs = np.where(small, 1.0, x)          # the safe where idiom: no 0/0 even in the unselected branch
    return np.where(small, _sinc_series(x), (np.cos(math.pi * xs) - np.sinc(xs)) / xs)


sinc = defprim(np.sinc, deriv=_sinc_deriv, domain=unary())

# ---- selection: maximum/minimum split the derivative evenly at ties --------------------------------


def _share_of_first(ans, x, y):
    """1 where x alone attains the extremum ``ans``, 1/2 at ties, 0 elsewhere (a constant mask).

    For fmax/fmin a NaN argument never equals ``ans``, so the other argument gets the whole derivative.
    """
    xl, yl, al = lower(x), lower(y), lower(ans)
    if ndim_of(xl) == 0 and ndim_of(yl) == 0:      # scalars: a Python float keeps float32 float32
        return 0.5 if xl == yl else (1.0 if xl == al else 0.0)
    return const_like((xl == al) * np.where(xl == yl, 0.5, 1.0), ans)


def _share_of_second(ans, x, y):
    return _share_of_first(ans, y, x)


def _selective(share):
    def jvp_rule(t, ans, x, y):
        return t * share(ans, x, y)

    def vjp_rule(ans, x, y):
        mask = share(ans, x, y)         # staged: the mask is cheap and x, y need not be kept
        return lambda g: g * mask

    return jvp_rule, vjp_rule


maximum = primitive(np.maximum)
minimum = primitive(np.minimum)
fmax = primitive(np.fmax)                # like maximum, but a NaN loses instead of propagating
fmin = primitive(np.fmin)
for _prim in (maximum, minimum, fmax, fmin):
    _jx, _vx = _selective(_share_of_first)
    _jy, _vy = _selective(_share_of_second)
    defjvp(_prim, _jx, _jy)
    defvjp(_prim, _vx, _vy)
    defdomain(_prim, binary(distinct=True))

# ---- where, clip, nan_to_num -----------------------------------------------------------------------

def _where_sample(rng):
    s = binary()(rng)
    x, y = s.args
    cond = rng.uniform(size=np.broadcast_shapes(shape_of(x), shape_of(y))) > 0.5
    return Sample((cond, x, y))


where = primitive(np.where, elementwise=True)
defjvp(where, None,
       lambda t, ans, c, x, y: np.where(c, t, 0.0),
       lambda t, ans, c, x, y: np.where(c, 0.0, t))
defvjp(where, None,
       lambda ans, c, x, y: lambda g: np.where(c, g, 0.0),
       lambda ans, c, x, y: lambda g: np.where(c, 0.0, g))
defdomain(where, _where_sample)


@implements(np.where)
def _np_where(condition, x=None, y=None):
    """``np.where(c, x, y)``: x where c, y elsewhere; its derivative flows only into the chosen branch.

    The unselected branch still gets a zero (co)tangent, and ``0 * inf`` is NaN: in
    ``np.where(x > 0, np.log(x), 0.0)`` the derivative at ``x = 0`` is NaN, because log's derivative
    there is infinite. The safe idiom applies the same ``where`` to the *argument* first, so that the
    dangerous function is evaluated only at safe points::

        safe_x = np.where(x > 0, x, 1.0)                 # any value where log is smooth
        y = np.where(x > 0, np.log(safe_x), 0.0)         # value and derivative both finite

    (the same idiom as in JAX and TensorFlow). ``np.where(c)`` with one argument is ``np.nonzero``.
    """
    if x is None and y is None:
        return np.nonzero(lower(condition))
    return where(lower(condition), x, y)


def _clip_impl(x, lo, hi):
    return np.clip(x, lo, hi)


def _inside(ans, x, lo, hi):
    xl = lower(x)
    mask = np.ones(shape_of(xl), dtype=bool)
    if lo is not None:
        mask = mask & (xl >= lower(lo))
    if hi is not None:
        mask = mask & (xl <= lower(hi))
    return const_like(mask, ans)


def _below(ans, x, lo, hi):
    return const_like(lower(x) < lower(lo), ans)


def _above(ans, x, lo, hi):
    return const_like(lower(x) > lower(hi), ans)


def _clip_sample(rng):
    x = away_from(rng, (2, 3), -2.0, 2.0, points=(-1.0, 1.0))
    return Sample((x, -1.0 + 0.0 * x[0], np.float64(1.0)))


clip = defprim(_clip_impl, deriv=(_inside, _below, _above), name="clip", domain=_clip_sample)


@implements(np.clip)
def _np_clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    """``np.clip``: derivative 1 inside [a_min, a_max] (bounds included), else into the active bound."""
    if out is not None:
        raise TypeError("np.clip(..., out=...) writes in place and cannot be differentiated; use the "
                        "returned value.")
    if kwargs:
        raise NotImplementedError(f"np.clip with keyword arguments {sorted(kwargs)} is not supported on "
                                  "traced values.")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    return clip(a, lo, hi)


def _nan_to_num_impl(x, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def _nan_to_num_sample(rng):
    x = uniform(rng, (2, 3), -2.0, 2.0)
    return Sample((x,), {"nan": 0.0, "posinf": None, "neginf": None})


nan_to_num = defprim(_nan_to_num_impl, deriv=lambda ans, x, **params: const_like(np.isfinite(lower(x)), ans),
                     name="nan_to_num", domain=_nan_to_num_sample)


@implements(np.nan_to_num)
def _np_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num``: derivative 1 at finite entries, 0 at the replaced NaN/±inf entries."""
    return nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---- casts -----------------------------------------------------------------------------------------


def _astype_impl(x, dtype):
    return np.asarray(x).astype(dtype)


def _cast_back(ans, x, dtype):
    source = np.result_type(lower(x))
    return lambda g: g.astype(source)


astype = primitive(_astype_impl, name="astype")
"""``astype(x, dtype=)`` to a float or complex dtype: the identity map, cast (tangents to ``dtype``,
cotangents back to x's dtype). Casts to integer or boolean dtypes go to :data:`astype_discrete`."""
defjvp(astype, lambda t, ans, x, dtype: t.astype(dtype))
defvjp(astype, _cast_back)
defdomain(astype, lambda rng: Sample((uniform(rng, (2, 3), -1.0, 1.0),), {"dtype": np.dtype(np.float64)}))


def _astype_discrete_impl(x, dtype):
    return np.asarray(x).astype(dtype)


def _astype_discrete_sample(rng):
    dtype = [np.dtype(np.int64), np.dtype(bool), np.dtype(np.int32)][rng.integers(3)]
    return Sample((_off_grid(rng),), {"dtype": dtype})


astype_discrete = nondifferentiable(_astype_discrete_impl, name="astype_discrete",
                                    domain=_astype_discrete_sample)
"""``x.astype(int)``, ``x.astype(bool)``: a cast to a non-float dtype is a constant (derivative zero),
SPEC section 2 — a plain array in every transformation, not a node whose rule would have no pullback."""


def _tracer_astype(x, dtype):
    """``Tracer.astype``: the differentiable cast for float/complex dtypes, a constant otherwise."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.inexact):
        return astype(x, dtype=dtype)
    return astype_discrete(x, dtype=dtype)

for _name, _prim in (("add", add), ("subtract", subtract), ("multiply", multiply), ("divide", divide),
                     ("power", power), ("negative", negative), ("absolute", absolute)):
    register_op(_name, _prim)
register_op("astype", _tracer_astype)

__all__ = ["add", "subtract", "multiply", "divide", "negative", "positive", "power",
           "float_power", "remainder", "fmod", "absolute", "fabs", "copysign", "sign", "floor", "ceil",
           "trunc", "rint", "fix", "round_", "around", "floor_divide", "heaviside", "signbit",
           "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "logaddexp", "logaddexp2",
           "sqrt", "cbrt", "square", "reciprocal", "hypot", "sin", "cos", "tan", "arcsin", "arccos",
           "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "deg2rad",
           "rad2deg", "sinc", "maximum", "minimum", "fmax", "fmin", "where", "clip", "nan_to_num",
           "astype", "astype_discrete"]
