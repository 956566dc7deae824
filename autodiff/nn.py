"""Numerically stable activations and log-space reductions: relu, sigmoid, softplus, logsumexp, softmax,
log_softmax.

The activations are written with differentiable NumPy operations (``np.logaddexp``, ``np.where``,
``np.exp`` of non-positive arguments); the log-space reductions are the single primitives of
``autodiff.rules.special``. So each works on plain arrays, on tracers of either mode, at any derivative
order, and — through :func:`autodiff.tensor.tensor_function` — on Tensors and Variables (giving Tensors).
None of them overflows at |x| = 1000, and they give exact zeros where the true value underflows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff.core import Tracer, lower
from autodiff.rules import special
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


@tensor_function
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over ``axis`` (all axes by default), computed as m + log(sum(exp(x - m))) with m
    the max, so no exponent is positive. Its derivative is softmax(x) over ``axis``.

    One primitive (``autodiff.rules.special.logsumexp``) with its own rules, in both modes.
    """
    return special.logsumexp(_array(x), axis=axis, keepdims=keepdims)


@tensor_function
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) over ``axis`` (the last by default), from exponents shifted to <= 0.

    Derivative: J v = s (v - Σ s v) with s = softmax(x). One primitive (``autodiff.rules.special``).
    """
    return special.softmax(_array(x), axis=axis)


@tensor_function
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) over ``axis`` (the last by default): finite where softmax underflows to 0.

    Derivative: J v = v - Σ softmax(x) v. One primitive (``autodiff.rules.special``).
    """
    return special.log_softmax(_array(x), axis=axis)
