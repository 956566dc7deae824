"""Shortcuts of a few registry rules for :class:`autodiff.scipy._replay.Program`'s plain-array replays.

The registry's rules are general: batch axes of any rank, structured (co)tangents, tracers, staged
closures. A replay of an ODE's right-hand side calls them hundreds of times on small plain arrays, where
that generality costs more than the arithmetic. Each shortcut here computes *the same expression* as
the registry rule it stands for, on the plain arrays it is given (``tests/test_odeint_replay.py`` checks
them equal, entry for entry), and stands in only for that rule object: a rule the user registers
anew is used as registered.

A VJP shortcut is ``fast(g, ans, *args)``, used only where the argument is not broadcast (its shape is
the output's); a JVP shortcut is ``fast(t, ans, *args)``. Each returns None when its own condition does
not hold, and the registry rule is called instead.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff.core import Primitive, registry


def _neg(g, ans, *args):
    return -g


def _times_second(g, ans, x, y):
    return g * y


def _times_first(g, ans, x, y):
    return x * g


def _tanh(g, ans, x):
    return g * (1.0 - ans * ans)


def _sin(g, ans, x):
    return g * np.cos(x)


def _cos(g, ans, x):
    return g * -np.sin(x)


def _exp(g, ans, x):
    return g * ans


def _is_matrix_vector(a: Any, b: Any, g: Any, max_ndim: int) -> bool:
    return (type(a) is np.ndarray and type(b) is np.ndarray and type(g) is np.ndarray
            and a.ndim == 2 and b.ndim == 1 and g.ndim <= max_ndim)


def _matvec_vjp_matrix(g, ans, a, b):
    """``a @ b``'s pullback to the matrix a: ``g[..., None] * b`` (the outer product)."""
    return g[..., None] * b if _is_matrix_vector(a, b, g, 2) else None


def _matvec_vjp_vector(g, ans, a, b):
    """``a @ b``'s pullback to the vector b: ``g @ a``."""
    return np.matmul(g, a) if _is_matrix_vector(a, b, g, 2) else None


def _matvec_jvp_matrix(t, ans, a, b):
    """``a @ b``'s tangent from the matrix a's (one direction): ``t @ b``."""
    return np.matmul(t, b) if _is_matrix_vector(a, b, t, 2) else None


def _matvec_jvp_vector(t, ans, a, b):
    """``a @ b``'s tangent from the vector b's: ``t @ aᵀ`` (as the registry rule computes it)."""
    return np.matmul(t, np.swapaxes(a, -1, -2)) if _is_matrix_vector(a, b, t, 2) else None


_VJP = {("subtract", 1): _neg, ("negative", 0): _neg, ("multiply", 0): _times_second,
        ("multiply", 1): _times_first, ("tanh", 0): _tanh, ("sin", 0): _sin, ("cos", 0): _cos,
        ("exp", 0): _exp, ("matmul", 0): _matvec_vjp_matrix, ("matmul", 1): _matvec_vjp_vector}
_JVP = {("matmul", 0): _matvec_jvp_matrix, ("matmul", 1): _matvec_jvp_vector}


def _table(shortcuts: dict, kind: str) -> dict[tuple[Primitive, int], tuple[Callable, Callable]]:
    """(primitive, argument) -> (the registry rule at import, its shortcut)."""
    table = {}
    for (name, argnum), fast in shortcuts.items():
        prim = registry[name]
        rules = prim.vjps if kind == "vjp" else prim.jvps
        if rules is not None and argnum < len(rules) and rules[argnum] is not None:
            table[(prim, argnum)] = (rules[argnum], fast)
    return table


VJP_SHORTCUTS = _table(_VJP, "vjp")
JVP_SHORTCUTS = _table(_JVP, "jvp")


def shortcut(prim: Primitive, argnum: int, rule: Callable, jvp: bool) -> Callable | None:
    """The shortcut standing for ``rule`` (``prim``'s rule for argument ``argnum``), or None."""
    found = (JVP_SHORTCUTS if jvp else VJP_SHORTCUTS).get((prim, argnum))
    return found[1] if found is not None and found[0] is rule else None
