"""Elementwise primitives (broadcasting like ufuncs), each followed by its JVP and VJP rules.

Tangents reaching these JVP rules are already lined up with the output, and the cotangents these VJP
rules return are summed back to each argument's shape by the transformations (``elementwise=True``),
so every rule is the textbook derivative times the incoming (co)tangent.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import (
    Sample,
    defdomain,
    defjvp,
    defvjp,
    implements,
    lower,
    nondifferentiable,
    primitive,
    register_op,
)
from autodiff.rules._domains import away_from, binary, unary, uniform
from autodiff.rules._util import const_like

# ---- arithmetic ------------------------------------------------------------------------------------

add = primitive(np.add)
defjvp(add, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defvjp(add, lambda ans, x, y: _identity, lambda ans, x, y: _identity)


def _identity(g):
    return g


def _negate(g):
    return -g


subtract = primitive(np.subtract)
defjvp(subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defvjp(subtract, lambda ans, x, y: _identity, lambda ans, x, y: _negate)

multiply = primitive(np.multiply)
defjvp(multiply, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defvjp(multiply, lambda ans, x, y: lambda g: g * y, lambda ans, x, y: lambda g: x * g)

divide = primitive(np.divide)          # np.true_divide is the same ufunc
defjvp(divide, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defvjp(divide, lambda ans, x, y: lambda g: g / y, lambda ans, x, y: lambda g: -g * ans / y)

negative = primitive(np.negative)
defjvp(negative, lambda t, ans, x: -t)
defvjp(negative, lambda ans, x: _negate)


def _log_base(x):
    """log(x) where x > 0 and 0 elsewhere: d(x**y)/dy = x**y log x, taken as 0 where x**y is 0 at x=0."""
    xl = lower(x)
    safe = np.where(xl > 0, x, 1.0) if np.ndim(xl) else (x if xl > 0 else 1.0)
    return np.log(safe)


power = primitive(np.power)
defjvp(power,
       lambda t, ans, x, y: t * y * x ** (y - 1),
       lambda t, ans, x, y: t * ans * _log_base(x))
defvjp(power,
       lambda ans, x, y: lambda g: g * y * x ** (y - 1),
       lambda ans, x, y: lambda g: g * ans * _log_base(x))

# ---- non-differentiable elementwise functions (declared: derivative zero where it exists) ---------

sign = nondifferentiable(np.sign)
floor = nondifferentiable(np.floor)
ceil = nondifferentiable(np.ceil)
for _cmp in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
             np.logical_and, np.logical_or, np.logical_not, np.isfinite, np.isnan, np.isinf):
    nondifferentiable(_cmp)

# ---- absolute value: derivative sign(x), 0 at the kink ---------------------------------------------

absolute = primitive(np.absolute)
defjvp(absolute, lambda t, ans, x: t * np.sign(x))
defvjp(absolute, lambda ans, x: lambda g: g * np.sign(x))

# ---- exponentials, logarithms, powers --------------------------------------------------------------

exp = primitive(np.exp)
defjvp(exp, lambda t, ans, x: t * ans)
defvjp(exp, lambda ans, x: lambda g: g * ans)

log = primitive(np.log)
defjvp(log, lambda t, ans, x: t / x)
defvjp(log, lambda ans, x: lambda g: g / x)

sqrt = primitive(np.sqrt)
defjvp(sqrt, lambda t, ans, x: t / (2.0 * ans))
defvjp(sqrt, lambda ans, x: lambda g: g / (2.0 * ans))

square = primitive(np.square)
defjvp(square, lambda t, ans, x: 2.0 * x * t)
defvjp(square, lambda ans, x: lambda g: 2.0 * x * g)

reciprocal = primitive(np.reciprocal)
defjvp(reciprocal, lambda t, ans, x: -t * ans * ans)
defvjp(reciprocal, lambda ans, x: lambda g: -g * ans * ans)

# ---- trigonometric and hyperbolic ------------------------------------------------------------------

sin = primitive(np.sin)
defjvp(sin, lambda t, ans, x: t * np.cos(x))
defvjp(sin, lambda ans, x: lambda g: g * np.cos(x))

cos = primitive(np.cos)
defjvp(cos, lambda t, ans, x: -t * np.sin(x))
defvjp(cos, lambda ans, x: lambda g: -g * np.sin(x))

tan = primitive(np.tan)
defjvp(tan, lambda t, ans, x: t * (1.0 + ans * ans))
defvjp(tan, lambda ans, x: lambda g: g * (1.0 + ans * ans))

tanh = primitive(np.tanh)
defjvp(tanh, lambda t, ans, x: t * (1.0 - ans * ans))
defvjp(tanh, lambda ans, x: lambda g: g * (1.0 - ans * ans))

# ---- selection: maximum/minimum split the derivative evenly at ties --------------------------------


def _share_of_first(x, y, ans):
    """1 where x alone attains the extremum ``ans``, 1/2 at ties, 0 elsewhere (a constant mask)."""
    xl, yl = lower(x), lower(y)
    return const_like((xl == lower(ans)) * np.where(xl == yl, 0.5, 1.0), ans)


def _share_of_second(x, y, ans):
    return _share_of_first(y, x, ans)


def _selective(share):
    def jvp_rule(t, ans, x, y):
        return t * share(x, y, ans)

    def vjp_rule(ans, x, y):
        mask = share(x, y, ans)
        return lambda g: g * mask

    return jvp_rule, vjp_rule


maximum = primitive(np.maximum)
minimum = primitive(np.minimum)
for _prim in (maximum, minimum):
    _jx, _vx = _selective(_share_of_first)
    _jy, _vy = _selective(_share_of_second)
    defjvp(_prim, _jx, _jy)
    defvjp(_prim, _vx, _vy)

# ---- where and clip --------------------------------------------------------------------------------

where = primitive(np.where, elementwise=True)
defjvp(where, None,
       lambda t, ans, c, x, y: np.where(c, t, 0.0),
       lambda t, ans, c, x, y: np.where(c, 0.0, t))
defvjp(where, None,
       lambda ans, c, x, y: lambda g: np.where(c, g, 0.0),
       lambda ans, c, x, y: lambda g: np.where(c, 0.0, g))


@implements(np.where)
def _np_where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(lower(condition))
    return where(lower(condition), x, y)


def _clip_impl(x, lo, hi):
    return np.clip(x, lo, hi)


def _inside(x, lo, hi, ans):
    xl = lower(x)
    mask = np.ones(np.shape(xl), dtype=bool)
    if lo is not None:
        mask = mask & (xl >= lower(lo))
    if hi is not None:
        mask = mask & (xl <= lower(hi))
    return const_like(mask, ans)


def _below(x, lo, hi, ans):
    return const_like(lower(x) < lower(lo), ans)


def _above(x, lo, hi, ans):
    return const_like(lower(x) > lower(hi), ans)


clip = primitive(_clip_impl, name="clip", elementwise=True)
defjvp(clip,
       lambda t, ans, x, lo, hi: t * _inside(x, lo, hi, ans),
       lambda t, ans, x, lo, hi: t * _below(x, lo, hi, ans),
       lambda t, ans, x, lo, hi: t * _above(x, lo, hi, ans))
defvjp(clip,
       lambda ans, x, lo, hi: lambda g: g * _inside(x, lo, hi, ans),
       lambda ans, x, lo, hi: lambda g: g * _below(x, lo, hi, ans),
       lambda ans, x, lo, hi: lambda g: g * _above(x, lo, hi, ans))


@implements(np.clip)
def _np_clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    return clip(a, lo, hi)


# ---- casts -----------------------------------------------------------------------------------------


def _astype_impl(x, dtype):
    return np.asarray(x).astype(dtype)


def _cast_back(ans, x, dtype):
    source = np.result_type(lower(x))
    return lambda g: g.astype(source)


astype = primitive(_astype_impl, name="astype")
defjvp(astype, lambda t, ans, x, dtype: t.astype(dtype) if np.issubdtype(dtype, np.inexact) else None)
defvjp(astype, lambda ans, x, dtype: _cast_back(ans, x, dtype) if np.issubdtype(dtype, np.inexact) else None)

for _name, _prim in (("add", add), ("subtract", subtract), ("multiply", multiply), ("divide", divide),
                     ("power", power), ("negative", negative), ("absolute", absolute),
                     ("astype", astype)):
    register_op(_name, _prim)

__all__ = ["add", "subtract", "multiply", "divide", "negative", "power", "absolute", "sign", "floor",
           "ceil", "exp", "log", "sqrt", "square", "reciprocal", "sin", "cos", "tan", "tanh",
           "maximum", "minimum", "where", "clip", "astype"]

# ---- test domains (where the property tests sample each primitive) ---------------------------------

for _prim in (add, subtract, multiply):
    defdomain(_prim, binary())
defdomain(divide, binary(avoid2=(0.0,), low2=-2.0, high2=2.0))
defdomain(power, binary(0.5, 2.0, -2.0, 2.0))
for _prim in (negative, exp, square, sin, cos, tanh):
    defdomain(_prim, unary())
defdomain(absolute, unary(avoid=(0.0,)))
defdomain(reciprocal, unary(avoid=(0.0,)))
defdomain(log, unary(0.1, 3.0))
defdomain(sqrt, unary(0.1, 3.0))
defdomain(tan, unary(-1.2, 1.2))
defdomain(maximum, binary(distinct=True))
defdomain(minimum, binary(distinct=True))


def _where_sample(rng):
    s = binary()(rng)
    x, y = s.args
    cond = rng.uniform(size=np.broadcast_shapes(np.shape(x), np.shape(y))) > 0.5
    return Sample((cond, x, y))


def _clip_sample(rng):
    x = away_from(rng, (2, 3), -2.0, 2.0, points=(-1.0, 1.0))
    return Sample((x, -1.0 + 0.0 * x[0], np.float64(1.0)))


def _astype_sample(rng):
    return Sample((uniform(rng, (2, 3), -1.0, 1.0),), {"dtype": np.dtype(np.float64)})


defdomain(where, _where_sample)
defdomain(clip, _clip_sample)
defdomain(astype, _astype_sample)
