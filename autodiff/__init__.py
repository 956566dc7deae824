"""autodiff: dual-mode (forward + reverse) automatic differentiation on NumPy and SciPy.

``import autodiff as ad``. Forward mode (``ad.jvp``, ``ad.jacfwd``, ``ad.Dual``) pushes tangents along
with values — one pass per input direction, little memory. Reverse mode (``ad.vjp``, ``ad.grad``,
``ad.jacrev``, ``ad.GradientTape``) records a tape and pulls cotangents back — one pass per output
direction, but it keeps the forward pass's intermediates. ``ad.jacobian`` picks the mode by the input
and output sizes and ``ad.plan_jacobian`` says why.

This file loads only the core and the rules eagerly; the rest of the public API is re-exported lazily
(PEP 562), because ``forward`` and ``reverse`` import ``autodiff.core`` and an eager import of them here
would be an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from autodiff import core, rules  # noqa: F401  (rules fills the registry)
from autodiff.core import Primitive, defjvp, defvjp, primitive, registry
from autodiff.forms import deflinear, defprim
from autodiff.pytree import tree_flatten, tree_map, tree_unflatten
from autodiff.rules import index_add, index_update, stop_gradient

__version__ = "0.1.0"


def _load_derived_rules() -> None:
    """Bring in reverse mode's derivations of missing rules (reverse/derived.py fills the core's table),
    the first time forward mode needs one in a program that has not loaded reverse mode yet."""
    importlib.import_module("reverse.derived")


core._derived_rules_loader[:] = [_load_derived_rules]

# name -> module that defines it; loaded on first access.
_LAZY = {
    "Dual": "forward", "jvp": "forward", "jacfwd": "forward", "ForwardAccumulator": "forward",
    "vjp": "reverse", "grad": "reverse", "value_and_grad": "reverse", "jacrev": "reverse",
    "checkpoint": "reverse", "GradientTape": "reverse",
    "jacobian": "autodiff.jacobians", "plan_jacobian": "autodiff.jacobians", "hessian": "autodiff.jacobians",
    "hvp": "autodiff.jacobians", "JacobianPlan": "autodiff.jacobians",
    "counting": "autodiff.stats",
    "constant": "autodiff.tensor", "Tensor": "autodiff.tensor", "Variable": "autodiff.tensor",
    "Module": "autodiff.module",
    "jacobian_sparsity": "autodiff.sparsity", "hessian_sparsity": "autodiff.sparsity",
    "color_jacobian": "autodiff.sparsity", "sparse_jacobian": "autodiff.sparsity",
    "sparse_hessian": "autodiff.sparsity", "ColoredPattern": "autodiff.sparsity",
}
_SUBMODULES = {"testing", "layers", "nn", "core", "pytree", "stats", "jacobians", "tensor", "module",
               "scipy", "sparsity", "heap", "planner", "mixed", "forms"}

__all__ = [
    "Primitive", "primitive", "defjvp", "defvjp", "defprim", "deflinear", "registry", "stop_gradient",
    "index_add", "index_update",
    "tree_flatten", "tree_unflatten", "tree_map",
    "Dual", "jvp", "jacfwd", "ForwardAccumulator", "vjp", "grad", "value_and_grad", "jacrev", "checkpoint",
    "GradientTape", "jacobian", "plan_jacobian", "hessian", "hvp", "JacobianPlan", "counting",
    "constant", "Tensor", "Variable", "Module", "testing", "layers", "nn", "scipy",
    "jacobian_sparsity", "hessian_sparsity", "color_jacobian", "sparse_jacobian", "sparse_hessian",
    "ColoredPattern", "sparsity",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"autodiff.{name}")
    raise AttributeError(f"module 'autodiff' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | _SUBMODULES | {"__version__"})


if TYPE_CHECKING:  # names for type checkers and IDEs
    from autodiff.jacobians import JacobianPlan, hessian, hvp, jacobian, plan_jacobian  # noqa: F401
    from autodiff.sparsity import (  # noqa: F401
        ColoredPattern,
        color_jacobian,
        hessian_sparsity,
        jacobian_sparsity,
        sparse_hessian,
        sparse_jacobian,
    )
    from autodiff.stats import counting  # noqa: F401
    from forward import Dual, ForwardAccumulator  # noqa: F401
    from forward.jvp import jacfwd, jvp  # noqa: F401  (in ``forward``, jvp is also the submodule's name)
    from reverse import GradientTape, checkpoint, grad, jacrev, value_and_grad  # noqa: F401
    from reverse.vjp import vjp  # noqa: F401  (in ``reverse``, vjp is also the submodule's name)
