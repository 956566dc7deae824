"""Layers of the TensorFlow-style API: ``Dense``.

``Dense(units)`` is a :class:`~autodiff.module.Module` that creates its Variables on its first call,
when it sees the number of input features — as Keras does — so its ``trainable_variables`` are empty
until then and ``[kernel, bias]`` after.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable

import numpy as np

from autodiff import nn
from autodiff.core import Tracer, lower
from autodiff.module import Module
from autodiff.tensor import Tensor, Variable, box, read

__all__ = ["Dense", "clear_session", "glorot_uniform"]

_ACTIVATIONS: dict[str, Callable] = {
    "linear": lambda x: x,
    "relu": nn.relu,
    "tanh": np.tanh,
    "sigmoid": nn.sigmoid,
    "softplus": nn.softplus,
    "softmax": nn.softmax,
}

# Default layer names dense, dense_1, dense_2, ... (one counter per base name, as Keras; thread-safe).
_name_lock = threading.Lock()
_name_counters: dict[str, itertools.count] = {}


def _unique_name(base: str) -> str:
    with _name_lock:
        k = next(_name_counters.setdefault(base, itertools.count()))
    return base if k == 0 else f"{base}_{k}"


def clear_session() -> None:
    """Restart default layer names at ``dense`` (as ``tf.keras.backend.clear_session``)."""
    with _name_lock:
        _name_counters.clear()


def _activation(activation: Any) -> Callable | None:
    if activation is None or callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _ACTIVATIONS:
        return _ACTIVATIONS[activation.lower()]
    raise ValueError(f"unknown activation {activation!r}: use None, a callable, or one of "
                     f"{sorted(_ACTIVATIONS)}.")


def glorot_uniform(shape: tuple[int, int], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    """Glorot (Xavier) uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), keeping the variance
    of activations and gradients about constant across layers."""
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


class Dense(Module):
    """A fully connected layer: ``activation(x @ kernel + bias)``.

    ``kernel`` has shape ``(in_features, units)`` (Glorot-uniform), ``bias`` shape ``(units,)`` (zeros);
    both are created on the first call, in that order, named ``"<name>/kernel"`` and ``"<name>/bias"``.
    ``activation``: None, a callable, or "relu", "tanh", "sigmoid", "softplus", "softmax" (last axis).
    ``seed`` makes the initialisation reproducible.
    """

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True, name: str | None = None,
                 *, seed: Any = None) -> None:
        super().__init__(name if name is not None else _unique_name("dense"))
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}.")
        self.units = int(units)
        self.activation = _activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel: Variable | None = None
        self.bias: Variable | None = None
        self._rng = np.random.default_rng(seed)

    @property
    def built(self) -> bool:
        """Whether the Variables exist (after the first call)."""
        return self.kernel is not None

    def build(self, in_features: int, dtype: Any = np.float64) -> None:
        """Create the kernel (in_features, units) and the bias (units,)."""
        self.kernel = Variable(glorot_uniform((int(in_features), self.units), dtype, self._rng),
                               name=f"{self.name}/kernel")
        if self.use_bias:
            self.bias = Variable(np.zeros(self.units, dtype=dtype), name=f"{self.name}/bias")

    def __call__(self, x: Any) -> Tensor:
        """``activation(x @ kernel + bias)`` for x of shape (..., in_features); a Tensor."""
        value = read(x)
        if not isinstance(value, Tracer):
            value = np.asarray(value)
        if np.ndim(value) < 1:
            raise ValueError("Dense expects inputs of shape (..., in_features), got a scalar.")
        dtype = np.result_type(lower(value))
        if not np.issubdtype(dtype, np.inexact):
            dtype = np.dtype(np.float64)
            value = value.astype(dtype)
        kernel = self.kernel
        if kernel is None:  # not built yet
            self.build(np.shape(value)[-1], dtype)
        elif np.shape(value)[-1] != kernel.shape[0]:
            raise ValueError(f"Dense {self.name!r} was built for {kernel.shape[0]} input features, "
                             f"got inputs of shape {np.shape(value)}.")
        y = box(value) @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        if self.activation is not None:
            y = self.activation(y)
        return y if isinstance(y, Tensor) else box(y)
