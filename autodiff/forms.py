"""Rule forms: a primitive, its derivative for both modes and its test domain in one statement.

- :func:`defprim` for elementwise primitives: the partial derivatives ∂ans/∂argᵢ, from which the JVP
  (``t * d``) and the VJP (``g * d``) both follow.
- :func:`deflinear` for linear primitives: the JVP is the primitive itself applied to the tangent, so
  only the transpose (the VJP) is written.

Both return the :class:`~autodiff.core.Primitive`; ``primitive``/``defjvp``/``defvjp``/``defdomain``
remain the general form for everything else. Layer 0: this module imports only NumPy and the core.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Callable

import numpy as np

from autodiff.core import NDARRAY, Primitive, defdomain, defjvp, defvjp, ndim_of, primitive, shape_of
from autodiff.structured import is_scratch


class over:
    """A partial derivative stated as a quotient, ``1 / denominator(ans, *args, **params)``.

    The rules divide by it (``t / den``, ``g / den``) instead of multiplying by its reciprocal: one
    pass instead of two, and the rounding of the textbook rule (``d log x = dx / x``)."""

    __slots__ = ("denominator",)

    def __init__(self, denominator: Callable) -> None:
        self.denominator = denominator


def defprim(fn: Callable, deriv: Callable | over | tuple | None, *, domain: Callable | None = None,
            name: str | None = None, elementwise: bool | None = None,
            vjp: dict[int, Callable] | None = None) -> Primitive:
    """Register the elementwise primitive ``fn`` with its partial derivatives and test domain.

    ``deriv`` is ∂ans/∂x for a one-argument primitive, or a tuple with one partial per positional
    argument (None: derivative zero); each is ``d(ans, *args, **params)``, written with NumPy functions
    so that it differentiates again, or :class:`over` for a quotient. The JVP of argument i is
    ``tᵢ * dᵢ``, its VJP ``g ↦ g * dᵢ``, with dᵢ computed only when the backward pass asks for it (and
    multiplied into in place when it is an array the partial just made). ``vjp`` replaces the staged
    VJP of chosen arguments by a hand-written one computing the same ``g * dᵢ`` with less work.
    ``elementwise`` defaults to True (broadcasting is the transformations' business).
    """
    prim = primitive(fn, name, elementwise=True if elementwise is None else elementwise)
    defderiv(prim, *(deriv if isinstance(deriv, tuple) else (deriv,)))
    if vjp:
        rules = list(prim.vjps or ())
        for argnum, rule in vjp.items():
            rules[argnum] = rule
        defvjp(prim, *rules)
    if domain is not None:
        defdomain(prim, domain)
    return prim


def defderiv(prim: Primitive, *derivs: Callable | over | None) -> None:
    """The JVP and VJP rules of an elementwise ``prim`` from its partials, one per argument (see
    :func:`defprim`)."""
    defjvp(prim, *(None if d is None else _jvp_of(d) for d in derivs))
    defvjp(prim, *(None if d is None else _vjp_of(d) for d in derivs))


def _fixed_arity(fn: Callable) -> int | None:
    """How many arguments after ``ans`` the partial ``fn`` takes, when it takes exactly those, by position
    (no defaults, no ``*args``, no keywords); None otherwise.

    Why: a rule whose signature collects ``**params``, or that spreads them into the partial, costs
    about ten times a plain call in CPython 3.11; a partial that cannot take parameters gets rules
    without either."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or any(p.kind not in plain or p.default is not p.empty for p in params):
        return None
    return len(params) - 1


def _jvp_of(deriv: Callable | over) -> Callable:
    """The JVP ``t * d(ans, *args)`` (``t / den(ans, *args)`` for a quotient)."""
    quotient = isinstance(deriv, over)
    fn: Callable = deriv.denominator if isinstance(deriv, over) else deriv
    op = operator.truediv if quotient else operator.mul
    arity = _fixed_arity(fn)
    if arity == 1:
        def jvp_unary(t, ans, x):
            return op(t, fn(ans, x))
        return jvp_unary
    if arity == 2:
        def jvp_binary(t, ans, x, y):
            return op(t, fn(ans, x, y))
        return jvp_binary

    def jvp(t, ans, *args, **params):
        return op(t, fn(ans, *args, **params))
    return jvp


def _vjp_of(deriv: Callable | over) -> Callable:
    """The staged VJP ``g ↦ g * d(ans, *args)`` (``g / den(ans, *args)`` for a quotient), the partial
    computed only when the backward pass asks for it."""
    quotient = isinstance(deriv, over)
    fn: Callable = deriv.denominator if isinstance(deriv, over) else deriv
    op, ufunc = (operator.truediv, np.divide) if quotient else (operator.mul, np.multiply)
    arity = _fixed_arity(fn)
    if arity == 1:
        def vjp_unary(ans, x):
            return lambda g: _scaled(g, fn(ans, x), op, ufunc, ans, x, None)
        return vjp_unary
    if arity == 2:
        def vjp_binary(ans, x, y):
            return lambda g: _scaled(g, fn(ans, x, y), op, ufunc, ans, x, y)
        return vjp_binary

    def vjp(ans, *args, **params):
        def pullback(g):
            d = fn(ans, *args, **params)
            if d is not ans and all(d is not a for a in args):
                return _scaled(g, d, op, ufunc, None, None, None)   # in place into d when it is scratch
            return op(g, d)
        return pullback
    return vjp


def _scaled(g: Any, d: Any, op: Callable, ufunc: np.ufunc, ans: Any, x: Any, y: Any) -> Any:
    """``op(g, d)``, written into ``d`` when ``d`` is an array the partial just made for this product:
    not ``ans`` or an argument (``x``, ``y``), which others still hold (``structured.is_scratch``)."""
    if type(d) is NDARRAY and d is not ans and d is not x and d is not y and is_scratch(d, g):
        return ufunc(g, d, out=d)
    return op(g, d)


def deflinear(fn: Callable, transpose: Callable | tuple, *, domain: Callable | None = None,
              name: str | None = None, elementwise: bool | None = None,
              batched: Callable | None = None) -> Primitive:
    """Register the linear primitive ``fn`` with its transpose and test domain.

    A linear map is its own derivative: the JVP applies the primitive to the tangent, so only the
    transpose is written. ``transpose`` is the staged VJP ``(ans, *args, **params) -> (g -> Aᵀ g)`` of
    the first argument (the others, static, have derivative zero), or a tuple with one per positional
    argument (None: not an argument the map is linear in) for a map linear in several arrays jointly,
    whose JVP puts the tangent in its argument's place and zeros in the others'.

    Tangents carry leading batch axes; by default the primitive is applied to them as they are, which
    is right when its parameters address data axes from the end (negative axes). Otherwise
    ``batched(t, nb, *args_after_the_first, **params)`` applies it to a tangent with ``nb`` batch axes.
    """
    prim = primitive(fn, name, elementwise=elementwise)
    transposes = transpose if isinstance(transpose, tuple) else (transpose,)
    linear = tuple(i for i, rule in enumerate(transposes) if rule is not None)
    if len(linear) == 1 and linear[0] == 0:
        defjvp(prim, _apply_to_tangent(prim, batched), *transposes[1:])
    else:
        defjvp(prim, *(None if rule is None else _apply_in_slot(prim, i, linear)
                       for i, rule in enumerate(transposes)))
    defvjp(prim, *transposes)
    if domain is not None:
        defdomain(prim, domain)
    return prim


def _apply_to_tangent(prim: Primitive, batched: Callable | None) -> Callable:
    """The JVP of a map linear in its first argument: the map applied to the tangent."""
    if batched is None:
        def jvp(t, ans, x, *rest, **params):
            if type(t) is NDARRAY:          # a plain tangent: the implementation, without bind's scan
                return prim.impl(t, *rest, **params)
            return prim(t, *rest, **params)
        return jvp

    def jvp_batched(t, ans, x, *rest, **params):
        return batched(t, ndim_of(t) - ndim_of(x), *rest, **params)
    return jvp_batched


def _apply_in_slot(prim: Primitive, argnum: int, linear: tuple[int, ...]) -> Callable:
    """The JVP of argument ``argnum`` of a map linear in the arguments ``linear`` jointly: the map applied
    to the tangent in that slot and zeros (with the tangent's batch axes) in the other linear slots."""
    def jvp(t: Any, ans: Any, *args: Any, **params: Any) -> Any:
        nb = ndim_of(t) - ndim_of(args[argnum])
        batch, dtype = shape_of(t)[:nb], _dtype(t)
        slots: list[Any] = list(args)
        for i in linear:
            if i < len(slots):
                slots[i] = t if i == argnum else np.zeros(batch + shape_of(args[i]), dtype=dtype)
        return prim(*slots, **params)
    return jvp


def _dtype(t: Any) -> np.dtype:
    dtype = getattr(t, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.result_type(t)


__all__ = ["defprim", "deflinear", "defderiv", "over"]
