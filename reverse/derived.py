"""Rules derived from the other mode: a VJP from JVP rules alone, a JVP from VJP rules alone.

A primitive registered with rules for one mode only still works in both (SPEC section 6). Both
derivations transpose a linear map with reverse mode, which is why they live here and not in the core:

- a JVP rule ``t ↦ J t`` is linear in t, so its transpose ``g ↦ Jᵀ g`` is the VJP of that map, taken
  by recording it on a tape at any point (zeros) and pulling g back;
- a staged VJP ``g ↦ Jᵀ g`` is linear in g, so ``J t`` is the VJP of the pullback, pulled back with t
  (the derivative of ⟨Jᵀ g, t⟩ with respect to g).

Both are exact, both batch (the batch axes of g or t are folded into the point of linearization), and
both are differentiable again, since the tape's backward pass is made of primitives. This module fills
``core._derived_rules`` when it loads; forward mode reaches it only through that table.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff import core
from autodiff.core import Primitive, lower, missing_rule
from autodiff.pytree import tree_flatten


def transpose_linear(fun: Callable, primal: Any, cotangent: Any) -> Any:
    """Cotangent of the input of ``fun`` (linear in its one argument) for ``cotangent`` on its output."""
    from reverse.vjp import Recording  # at call time: reverse/__init__ loads this module before vjp
    rec = Recording(fun, tree_flatten((primal,))[1], [primal])
    return rec.pull([cotangent])[0]


def _zeros(batch_from: Any, nb_like: Any, shaped_like: Any) -> np.ndarray:
    """Zeros with the batch axes of ``batch_from`` (relative to ``nb_like``) and the shape and float
    dtype of ``shaped_like``: the point at which a linear map is recorded."""
    nb = np.ndim(batch_from) - np.ndim(nb_like)
    shape = np.shape(batch_from)[:nb] + np.shape(shaped_like)
    return np.zeros(shape, dtype=core._dtype_of(lower(shaped_like)))


def vjp_from_jvp(prim: Primitive, jvps: tuple, argnum: int) -> Callable | None:
    """VJP of a primitive that only has JVP rules (``jvps``): the transpose of the (linear) JVP."""
    rule = jvps[argnum] if argnum < len(jvps) else missing_rule(prim, argnum, "JVP")
    if rule is None:
        return None

    def staged(ans, *args, **params):
        def linear(t):
            return rule(t, ans, *args, **params)

        def pullback(g):
            return transpose_linear(linear, _zeros(g, ans, args[argnum]), g)

        return pullback

    return staged


def jvp_from_vjp(prim: Primitive, vjps: tuple, argnum: int) -> Callable | None:
    """JVP of a primitive that only has VJP rules (``vjps``): J t = d/dg ⟨Jᵀ g, t⟩, linear in g."""
    rule = vjps[argnum] if argnum < len(vjps) else missing_rule(prim, argnum, "VJP")
    if rule is None:
        return None

    def jvp(t, ans, *args, **params):
        pullback = rule(ans, *args, **params)
        return transpose_linear(pullback, _zeros(t, args[argnum], ans), t)

    return jvp


core._derived_rules.update(jvp=jvp_from_vjp, vjp=vjp_from_jvp)
