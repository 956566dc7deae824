"""Forward-mode automatic differentiation: dual numbers, JVPs, forward Jacobians, ForwardAccumulator.

Forward mode pushes tangents along with values: one pass per input direction, and no memory beyond the
tangents themselves. ``jacfwd`` pushes all n directions in one batched pass.
"""

from forward.dual import Dual
from forward.jvp import jacfwd, jvp

__all__ = ["Dual", "jvp", "jacfwd", "ForwardAccumulator"]


def __getattr__(name):
    # The accumulator needs the TensorFlow-style Tensor; load it on first use.
    if name == "ForwardAccumulator":
        from forward.accumulator import ForwardAccumulator
        return ForwardAccumulator
    raise AttributeError(f"module 'forward' has no attribute {name!r}")
