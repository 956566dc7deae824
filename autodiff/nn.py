"""Numerically stable activations and log-space reductions: relu, sigmoid, softplus, logsumexp, softmax,
log_softmax.

Each is written with differentiable NumPy operations (``np.logaddexp``, ``np.where``, ``np.exp`` of
non-positive arguments), so it works on plain arrays, on tracers of either mode, at any derivative
order, and — through :func:`autodiff.tensor.tensor_function` — on Tensors and Variables (giving Tensors).
None of them overflows at |x| = 1000, and they give exact zeros where the true value underflows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff.core import Tracer, lower
from autodiff.tensor import tensor_function

__all__ = ["relu", "sigmoid", "softplus", "logsumexp", "softmax", "log_softmax"]


def _array(x: Any) -> Any:
    return x if isinstance(x, Tracer) else np.asarray(x)


def _zero(x: Any) -> np.ndarray:
    """A 0-d zero in x's dtype, so that float32 stays float32."""
    return np.zeros((), dtype=np.result_type(lower(x)))


@tensor_function
def relu(x: Any) -> Any:
    """max(x, 0), with derivative 1 for x > 0 and 0 for x <= 0 (0 at the kink, as TensorFlow)."""
    x = _array(x)
    return np.where(lower(x) > 0, x, _zero(x))


@tensor_function
def softplus(x: Any) -> Any:
    """log(1 + e^x) = logaddexp(0, x): never overflows; its derivative is sigmoid(x)."""
    x = _array(x)
    return np.logaddexp(_zero(x), x)


@tensor_function
def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x) = exp(-softplus(-x)): no overflow, exactly 0 where e^x underflows; derivative
    sigmoid(x) sigmoid(-x)."""
    x = _array(x)
    return np.exp(-np.logaddexp(_zero(x), -x))


def _shift(x: Any, axis: Any) -> np.ndarray:
    """The (constant) max of x over ``axis``, kept as size-1 axes; 0 where it is infinite.

    Subtracting any constant c is exact — logsumexp(x) = c + logsumexp(x - c), and the derivative does
    not depend on c — so the shift needs no derivative; the max keeps every exponent <= 0.
    """
    xl = np.asarray(lower(x))
    if xl.size == 0:
        return np.zeros((), dtype=xl.dtype)
    m = np.max(xl, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0).astype(xl.dtype)


@tensor_function
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over ``axis`` (all axes by default), computed as m + log(sum(exp(x - m))).

    Its derivative is softmax(x) over ``axis``.
    """
    x = _array(x)
    m = _shift(x, axis)
    s = np.sum(np.exp(x - m), axis=axis, keepdims=keepdims)
    return np.log(s) + (m if keepdims else np.reshape(m, np.shape(lower(s))))


@tensor_function
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) over ``axis`` (the last by default), from exponents shifted to <= 0."""
    x = _array(x)
    e = np.exp(x - _shift(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


@tensor_function
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) over ``axis`` (the last by default): finite where softmax underflows to 0."""
    x = _array(x)
    z = x - _shift(x, axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
