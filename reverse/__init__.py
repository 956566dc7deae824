"""Reverse-mode automatic differentiation: the tape, VJPs, gradients, reverse Jacobians, GradientTape.

Reverse mode records the forward pass on a tape and pulls cotangents back through it: one backward pass
per output direction, at the price of keeping the forward pass's intermediates until then. ``jacrev``
pulls all m directions through one batched backward pass.
"""

from autodiff.rules import stop_gradient
from reverse import derived  # noqa: F401  (fills the core's table of derived rules)
from reverse.vjp import checkpoint, grad, jacrev, value_and_grad, vjp

__all__ = ["vjp", "grad", "value_and_grad", "jacrev", "checkpoint", "stop_gradient", "GradientTape"]


def __getattr__(name):
    if name == "GradientTape":
        from reverse.gradient_tape import GradientTape
        return GradientTape
    raise AttributeError(f"module 'reverse' has no attribute {name!r}")
