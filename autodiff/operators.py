"""The operators, ndarray methods and array properties of the array-like classes, from one table.

Two classes behave like NumPy arrays: the core's ``Tracer`` (a traced value) and the TensorFlow-style
``Tensor`` (a box around a value). They have the same operators (``+``, ``@``, ``<``, ``x[i]``, ...), the
same ndarray methods (``x.sum(axis)``, ``x.reshape(...)``, ...) and the same properties (``x.T``,
``x.ndim``, ...). This module states them once and :func:`install` puts them on a class.

- :data:`OPERATORS` lists the operators: each row names the special method, the NumPy ufunc that computes
  it, the primitive a tracer may bind directly (registered in the core under that name), and whether the
  operands are swapped. How a row becomes a method is the class's business: ``install`` takes a
  ``make_operator(row)`` from the class (a tracer binds the primitive without NumPy's dispatch, the hot
  path; a Tensor unboxes, applies the ufunc and boxes the result).
- :data:`METHODS` and :data:`PROPERTIES` are the ndarray methods and properties. They are written with
  NumPy functions applied to ``self``; NumPy's dispatch protocols (``__array_function__``,
  ``__array_ufunc__``) take each class to its own implementation, so one function serves both classes.
  Signatures follow ndarray's, positional order included (``x.sum(0, None, None, True)`` is keepdims);
  ``out=`` cannot be honoured (neither class is ever written in place) and is refused.

A class keeps the members it defines itself (``install`` skips them), and provides ``shape`` and ``dtype``
(read from what it stores), which the properties here derive the others from.

Layer 0: imports only NumPy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = ["Operator", "OPERATORS", "METHODS", "PROPERTIES", "install"]


class Operator(NamedTuple):
    """One operator of the array-like classes: ``name`` computes ``ufunc`` on ``self`` (and ``other``).

    ``op`` names the primitive a tracer binds directly (``core.register_op``), or is None when the ufunc
    reaches its adapter through NumPy's dispatch; ``reflected`` swaps the operands (``other - self``);
    ``compare`` marks the comparisons, which give plain booleans (no derivative).
    """

    name: str
    ufunc: np.ufunc
    op: str | None
    arity: int
    reflected: bool = False
    compare: bool = False
    doc: str = ""


# (special-method stem, symbol, ufunc, primitive a tracer binds directly)
_ARITHMETIC: tuple[tuple[str, str, np.ufunc, str | None], ...] = (
    ("add", "+", np.add, "add"),
    ("sub", "-", np.subtract, "subtract"),
    ("mul", "*", np.multiply, "multiply"),
    ("truediv", "/", np.divide, "divide"),
    ("pow", "**", np.power, "power"),
    ("matmul", "@", np.matmul, "matmul"),
    ("floordiv", "//", np.floor_divide, None),
    ("mod", "%", np.mod, None),
)
_UNARY: tuple[tuple[str, str, np.ufunc, str], ...] = (
    ("neg", "-", np.negative, "negative"),
    ("abs", "abs", np.absolute, "absolute"),
)
_COMPARISONS: tuple[tuple[str, str, np.ufunc], ...] = (
    ("lt", "<", np.less), ("le", "<=", np.less_equal), ("gt", ">", np.greater),
    ("ge", ">=", np.greater_equal), ("eq", "==", np.equal), ("ne", "!=", np.not_equal),
)


def _operator_rows() -> tuple[Operator, ...]:
    rows = []
    for stem, symbol, ufunc, op in _ARITHMETIC:
        rows.append(Operator(f"__{stem}__", ufunc, op, 2,
                             doc=f"``self {symbol} other``: np.{ufunc.__name__}."))
        rows.append(Operator(f"__r{stem}__", ufunc, op, 2, reflected=True,
                             doc=f"``other {symbol} self``: np.{ufunc.__name__} with the operands swapped."))
    for stem, symbol, ufunc, op in _UNARY:
        call = f"{symbol}(self)" if symbol.isalpha() else f"{symbol}self"
        rows.append(Operator(f"__{stem}__", ufunc, op, 1, doc=f"``{call}``: np.{ufunc.__name__}."))
    for stem, symbol, ufunc in _COMPARISONS:
        rows.append(Operator(f"__{stem}__", ufunc, None, 2, compare=True,
                             doc=f"``self {symbol} other``: np.{ufunc.__name__} of the values, plain "
                                 "booleans (no derivative), so Python control flow works."))
    return tuple(rows)


OPERATORS: tuple[Operator, ...] = _operator_rows()
"""Every operator of the array-like classes, as rows for the class's ``make_operator``."""


# ---- ndarray methods, through NumPy's functions ------------------------------------------------------

def _refuse_out(x: Any, out: Any, method: str) -> None:
    if out is not None:
        raise TypeError(
            f"x.{method}(..., out=...) would write into an array in place, which cannot be differentiated "
            f"when x is {type(x)._array_state}; use the returned value instead."
        )


def _sum(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """Sum of the entries over ``axis`` (all of them when None): ``np.sum``."""
    _refuse_out(self, out, "sum")
    return np.sum(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs)


def _mean(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """Arithmetic mean over ``axis``: ``np.mean``."""
    _refuse_out(self, out, "mean")
    return np.mean(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs)


def _prod(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """Product of the entries over ``axis``: ``np.prod``."""
    _refuse_out(self, out, "prod")
    return np.prod(self, axis=axis, dtype=dtype, keepdims=keepdims, **kwargs)


def _max(self, axis=None, out=None, keepdims=False, **kwargs):
    """Largest entry over ``axis``: ``np.max`` (the derivative goes to the maxima)."""
    _refuse_out(self, out, "max")
    return np.max(self, axis=axis, keepdims=keepdims, **kwargs)


def _min(self, axis=None, out=None, keepdims=False, **kwargs):
    """Smallest entry over ``axis``: ``np.min`` (the derivative goes to the minima)."""
    _refuse_out(self, out, "min")
    return np.min(self, axis=axis, keepdims=keepdims, **kwargs)


def _var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    """Variance over ``axis``, ``sum |x - mean|² / (N - ddof)``: ``np.var``."""
    _refuse_out(self, out, "var")
    return np.var(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs)


def _std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    """Standard deviation over ``axis``, the square root of the variance: ``np.std``."""
    _refuse_out(self, out, "std")
    return np.std(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs)


def _cumsum(self, axis=None, dtype=None, out=None):
    """Running sums along ``axis`` (of the flattened value when None): ``np.cumsum``."""
    _refuse_out(self, out, "cumsum")
    return np.cumsum(self, axis=axis, dtype=dtype)


def _cumprod(self, axis=None, dtype=None, out=None):
    """Running products along ``axis`` (of the flattened value when None): ``np.cumprod``."""
    _refuse_out(self, out, "cumprod")
    return np.cumprod(self, axis=axis, dtype=dtype)


def _argmax(self, axis=None, out=None, **kwargs):
    """Index of the largest entry along ``axis``: ``np.argmax`` of the value (integers, no derivative)."""
    return np.argmax(self, axis=axis, out=out, **kwargs)


def _argmin(self, axis=None, out=None, **kwargs):
    """Index of the smallest entry along ``axis``: ``np.argmin`` of the value (integers, no derivative)."""
    return np.argmin(self, axis=axis, out=out, **kwargs)


def _argsort(self, axis=-1, kind=None, order=None, **kwargs):
    """The indices that sort the value along ``axis``: ``np.argsort`` (integers, no derivative)."""
    return np.argsort(self, axis=axis, kind=kind, order=order, **kwargs)


def _nonzero(self):
    """The indices of the nonzero entries, one array per axis: ``np.nonzero`` (no derivative)."""
    return np.nonzero(self)


def _reshape(self, *shape, order="C", copy=None):
    """The same entries in a new shape (``x.reshape(2, 3)`` or ``x.reshape((2, 3))``): ``np.reshape``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return np.reshape(self, shape, order=order)


def _transpose(self, *axes):
    """The axes permuted (reversed when none are given): ``np.transpose``."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return np.transpose(self, axes if axes else None)


def _swapaxes(self, axis1, axis2):
    """Axes ``axis1`` and ``axis2`` interchanged: ``np.swapaxes``."""
    return np.swapaxes(self, axis1, axis2)


def _ravel(self, order="C"):
    """The entries as a 1-d array: ``np.ravel``."""
    return np.ravel(self, order=order)


def _flatten(self, order="C"):
    """The entries as a 1-d array (a new value; nothing here is written in place): ``np.ravel``."""
    return np.ravel(self, order=order)


def _squeeze(self, axis=None):
    """Axes of length one removed (all of them when ``axis`` is None): ``np.squeeze``."""
    return np.squeeze(self, axis=axis)


def _dot(self, b, out=None):
    """The dot product with ``b``: ``np.dot``."""
    _refuse_out(self, out, "dot")
    return np.dot(self, b)


def _clip(self, min=None, max=None, out=None, **kwargs):
    """The entries limited to ``[min, max]``: ``np.clip`` (derivative 1 inside, 0 where clipped)."""
    _refuse_out(self, out, "clip")
    return np.clip(self, min, max, **kwargs)


def _conj(self):
    """The complex conjugate: ``np.conjugate`` (the value itself for real values)."""
    return np.conjugate(self)


def _trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Sum along a diagonal: ``np.trace``."""
    _refuse_out(self, out, "trace")
    return np.trace(self, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype)


def _diagonal(self, offset=0, axis1=0, axis2=1):
    """A diagonal: ``np.diagonal``."""
    return np.diagonal(self, offset=offset, axis1=axis1, axis2=axis2)


def _repeat(self, repeats, axis=None):
    """Each entry repeated ``repeats`` times along ``axis``: ``np.repeat``."""
    return np.repeat(self, repeats, axis=axis)


def _take(self, indices, axis=None, out=None, mode="raise"):
    """The entries at ``indices`` along ``axis``: ``np.take``."""
    _refuse_out(self, out, "take")
    return np.take(self, indices, axis=axis, mode=mode)


def _all(self, axis=None, out=None, keepdims=False, **kwargs):
    """Whether every entry is true along ``axis``: ``np.all`` of the value (booleans, no derivative)."""
    return np.all(self, axis=axis, out=out, keepdims=keepdims, **kwargs)


def _any(self, axis=None, out=None, keepdims=False, **kwargs):
    """Whether some entry is true along ``axis``: ``np.any`` of the value (booleans, no derivative)."""
    return np.any(self, axis=axis, out=out, keepdims=keepdims, **kwargs)


def _round(self, decimals=0, out=None):
    """The entries rounded to ``decimals`` decimals: ``np.round`` (derivative zero)."""
    _refuse_out(self, out, "round")
    return np.round(self, decimals)


def _python_round(self, ndigits=None):
    """``round(x, ndigits)``: ``np.round`` to ``ndigits`` decimals (0 when None), an array, not a number."""
    return np.round(self, ndigits or 0)


def _pos(self):
    """``+self``: the value itself (it is immutable)."""
    return self


def _len(self) -> int:
    """The length of the first axis."""
    shape = self.shape
    if not shape:
        raise TypeError(f"len() of a 0-d {type(self)._array_noun}")
    return shape[0]


def _iter(self):
    """The entries along the first axis, ``x[0], x[1], ...``."""
    for i in range(len(self)):
        yield self[i]


def _reversed(self):
    """The entries along the first axis, last first."""
    for i in range(len(self) - 1, -1, -1):
        yield self[i]


METHODS: dict[str, Callable] = {
    "sum": _sum, "mean": _mean, "prod": _prod, "max": _max, "min": _min, "var": _var, "std": _std,
    "cumsum": _cumsum, "cumprod": _cumprod, "argmax": _argmax, "argmin": _argmin, "argsort": _argsort,
    "nonzero": _nonzero, "reshape": _reshape, "transpose": _transpose, "swapaxes": _swapaxes,
    "ravel": _ravel, "flatten": _flatten, "squeeze": _squeeze, "dot": _dot, "clip": _clip,
    "conj": _conj, "conjugate": _conj, "trace": _trace, "diagonal": _diagonal, "repeat": _repeat,
    "take": _take, "all": _all, "any": _any, "round": _round, "__round__": _python_round,
    "__pos__": _pos, "__len__": _len, "__iter__": _iter, "__reversed__": _reversed,
}
"""The ndarray methods, by name: each applies the NumPy function of the same meaning to ``self``."""


# ---- properties, derived from the class's shape and dtype --------------------------------------------

def _ndim(self) -> int:
    """The number of axes."""
    return len(self.shape)


def _size(self) -> int:
    """The number of entries."""
    return math.prod(self.shape)


def _itemsize(self) -> int:
    """The bytes of one entry."""
    return int(self.dtype.itemsize)


def _nbytes(self) -> int:
    """The bytes of all entries (of the value; what a tracer holds besides is not counted)."""
    return math.prod(self.shape) * int(self.dtype.itemsize)


def _T(self):
    """The transpose (axes reversed): ``np.transpose``."""
    return np.transpose(self)


def _mT(self):
    """The transpose of the last two axes (a stack of matrices): ``np.swapaxes(x, -1, -2)``."""
    return np.swapaxes(self, -1, -2)


def _real(self):
    """The real part: ``np.real``."""
    return np.real(self)


def _imag(self):
    """The imaginary part: ``np.imag`` (zeros for real values)."""
    return np.imag(self)


PROPERTIES: dict[str, Callable] = {
    "ndim": _ndim, "size": _size, "itemsize": _itemsize, "nbytes": _nbytes, "T": _T, "mT": _mT,
    "real": _real, "imag": _imag,
}
"""The read-only array properties, by name (getters)."""


def install(cls: type, make_operator: Callable[[Operator], Callable], *, noun: str, state: str) -> None:
    """Put the table on ``cls``: ``make_operator(row)`` for each of :data:`OPERATORS`, then the shared
    :data:`METHODS` and :data:`PROPERTIES`. Members that ``cls`` defines itself are kept.

    ``noun`` and ``state`` word the error messages: ``len() of a 0-d <noun>`` and ``x.sum(..., out=...)
    ... cannot be differentiated when x is <state>``.
    """
    # read by the messages of _len and _refuse_out
    cls._array_noun = noun      # type: ignore[attr-defined]
    cls._array_state = state    # type: ignore[attr-defined]
    own = set(vars(cls))
    for row in OPERATORS:
        if row.name not in own:
            method = make_operator(row)
            method.__name__ = row.name
            method.__qualname__ = f"{cls.__qualname__}.{row.name}"
            method.__doc__ = row.doc
            setattr(cls, row.name, method)
    for name, fn in METHODS.items():
        if name not in own:
            setattr(cls, name, fn)
    for name, getter in PROPERTIES.items():
        if name not in own:
            setattr(cls, name, property(getter, doc=getter.__doc__))
