"""Dual numbers: forward mode's traced values, and the trace that pushes tangents through JVP rules.

A :class:`Dual` holds a primal value x and a tangent t (a direction, or a batch of directions stacked on
extra leading axes). Applying a primitive f gives ``Dual(f(x), J_f(x) t)``: the tangent is pushed through
f's JVP rule in the same pass that computes the value, so forward mode keeps no intermediates.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from autodiff.core import NDARRAY, Primitive, Trace, Tracer, call_rule, lower, shape_of
from autodiff.core import PLAIN_TYPES as _PLAIN
from autodiff.diagonal import diagonal_matrix, diagonal_of
from autodiff.shapes import align_tangent, fit_tangent

__all__ = ["Dual", "JVPTrace", "new_dual"]

# object.__new__ looked up once (Python 3.11 does not specialize attribute loads on a class)
_new_object = object.__new__


class JVPTrace(Trace):
    """One forward-mode transformation: a ``jvp`` call, a ``ForwardAccumulator``, or free Duals."""

    __slots__ = ("batch_ndim",)

    def __init__(self, batch_ndim: int = -1) -> None:
        super().__init__()
        # how many leading batch axes every tangent of this trace has (jvp/jacfwd know it), or -1
        self.batch_ndim = batch_ndim

    def apply(self, prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        """``Dual(ans, sum_i J_i t_i)`` from the JVP rules of the traced arguments (``ans`` when the sum
        has no term)."""
        jvps = prim.jvps
        if self.batch_ndim < 1 and len(traced) == 1 and prim.elementwise and jvps is not None \
                and traced[0] < len(jvps):
            # The hot case: one traced argument, its tangent a plain array shaped like it and the output,
            # so nothing to line up (no broadcasting) and no batch axes (so no diagonal batch): its rule.
            # (A trace that knows its tangents carry batch axes, jacfwd's, skips the test.)
            i = traced[0]
            t, x = args[i].tangent, primals[i]
            if type(t) in _PLAIN and type(x) in _PLAIN and type(ans) in _PLAIN \
                    and t.shape == x.shape == ans.shape:
                rule = jvps[i]
                out = None if rule is None else call_rule(rule, t, ans, primals, params)
                if out is None:
                    return ans
                d = _new_object(Dual)   # new_dual, inlined
                d.primal, d.tangent, d._trace = ans, out, self
                return d
        if prim.elementwise:
            out = _elementwise_tangent(prim, args, traced, primals, ans, params)
        else:
            out = _checked_tangent(prim, args, traced, primals, ans, params, self.batch_ndim)
        return ans if out is None else new_dual(self, ans, out)


def _elementwise_tangent(prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any],
                         ans: Any, params: dict) -> Any:
    """The tangent of an elementwise primitive (or None): each traced argument's tangent, lined up with
    the output where the argument was broadcast, through its rule; the terms summed and broadcast to
    the output's shape."""
    ans_shape = shape_of(ans)
    if len(ans_shape) == 1 and diagonal_of(args[traced[0]].tangent) is not None:
        out = _diagonal_jvp(prim, args, traced, primals, ans, params)
        if out is not None:
            return out
    jvps = prim.jvps
    out = None
    nb = -1  # batch axes of the tangents, counted only when some argument was broadcast
    for i in traced:
        rule = jvps[i] if jvps is not None and i < len(jvps) else prim.jvp_rule(i)
        if rule is None:
            continue
        t = args[i].tangent
        x = primals[i]
        x_shape = x.shape if type(x) is NDARRAY else shape_of(x)
        if x_shape != ans_shape:
            nb = len(shape_of(t)) - len(x_shape)
            t = align_tangent(t, x, ans)
        ti = call_rule(rule, t, ans, primals, params)
        if ti is not None:
            out = ti if out is None else out + ti
    return fit_tangent(out, ans, nb) if nb >= 0 and out is not None else out


def _checked_tangent(prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
                     params: dict, nbt: int) -> Any:
    """The tangent of a non-elementwise primitive (or None), each rule's result checked against the
    output's shape with the ``nbt`` batch axes in front (a tuple comparison: cheap next to such a rule;
    ``nbt`` < 0: counted from the first traced argument)."""
    jvps = prim.jvps
    want = ans.shape if type(ans) is NDARRAY else shape_of(ans)
    if nbt < 0:
        nbt = len(shape_of(args[traced[0]].tangent)) - len(shape_of(primals[traced[0]]))
    out = None
    for i in traced:
        rule = jvps[i] if jvps is not None and i < len(jvps) else prim.jvp_rule(i)
        if rule is None:
            continue
        t = args[i].tangent
        ti = call_rule(rule, t, ans, primals, params)
        if ti is None:
            continue
        got = ti.shape if type(ti) is NDARRAY else shape_of(ti)
        if (nbt or got != want) and (len(got) != nbt + len(want) or got[nbt:] != want):
            raise _tangent_error(prim, i, got, t, nbt, want)
        out = ti if out is None else out + ti
    return out


def _tangent_error(prim: Primitive, argnum: int, got: tuple, t: Any, nb: int, want: tuple) -> ValueError:
    """The error for a JVP rule whose tangent is not shaped like the output (with the batch axes)."""
    batch = tuple(shape_of(t))[:nb]
    return ValueError(
        f"the JVP rule of primitive {prim.name!r} for argument {argnum} returned a tangent of shape "
        f"{tuple(got)}; it must have shape {batch + tuple(want)}: the tangent's batch axes {batch} in "
        f"front, then the output's shape {tuple(want)}."
    )


def _diagonal_jvp(prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
                  params: dict) -> Any:
    """The tangent of an elementwise operation whose traced arguments all carry diagonal batches
    ``diag(v_i)`` (and were not broadcast): ``diag(sum_i rule_i(v_i))``, or None when that does not apply.

    Exact for the same reason as for one argument: the JVP of an elementwise operation acts entry by
    entry, so it maps the batch diag(v) to diag of its value on v (autodiff/diagonal.py).
    """
    k = shape_of(ans)[0]
    total = None
    for i in traced:
        t = args[i].tangent
        v = diagonal_of(t)
        if v is None or v.shape != (k,) or shape_of(primals[i]) != (k,):
            return None
        rule = prim.jvp_rule(i)
        if rule is None:
            continue
        c = rule(v, ans, *primals, **params)
        if c is v and len(traced) == 1:
            return t              # an identity map: the same batch, nothing to build
        if type(c) is not NDARRAY or c.shape != (k,):
            return None
        total = c if total is None else total + c
    return None if total is None else diagonal_matrix(total)


def new_dual(trace: JVPTrace, primal: Any, tangent: Any) -> Dual:
    """A Dual of ``trace`` without the public constructor's checks (the hot path)."""
    d = _new_object(Dual)
    d.primal = primal
    d.tangent = tangent
    d._trace = trace
    return d


class Dual(Tracer):
    """A dual number ``primal + tangent·ε`` (ε² = 0), scalar or array.

    ``tangent`` has the primal's shape, or extra leading axes for a batch of directions. NumPy functions
    and operators on Duals give Duals: ``np.sin(Dual(x, t)) == Dual(sin x, cos(x)·t)``.
    """

    __slots__ = ("primal", "tangent", "_trace")

    def __init__(self, primal: Any, tangent: Any) -> None:
        primal = primal if isinstance(primal, Tracer) else np.asarray(primal)
        if not np.issubdtype(primal.dtype, np.inexact):
            if isinstance(lower(primal), np.ndarray) and lower(primal).ndim == 0:
                primal = primal.astype(float)
            else:
                raise TypeError(f"Dual needs a floating primal, got dtype {primal.dtype}; use floats.")
        tangent = tangent if isinstance(tangent, Tracer) else np.asarray(tangent, dtype=primal.dtype)
        pshape, tshape = shape_of(primal), shape_of(tangent)
        if len(tshape) < len(pshape) or tshape[len(tshape) - len(pshape):] != pshape:
            raise ValueError(
                f"Dual: the tangent has shape {tshape} but the primal has shape {pshape}; the tangent "
                f"must have shape {pshape} (or (batch, ...) + {pshape} for a batch of directions)."
            )
        self.primal = primal
        self.tangent = tangent
        self._trace = _FREE

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"


JVPTrace.tracer_type = Dual   # the class of this trace's values, defined after it

# Duals made directly by the user belong to one per-process forward trace that never ends, so that
# ordinary dual-number arithmetic works: Dual(a, b) * Dual(c, d) == Dual(a c, a d + b c).
_FREE = JVPTrace()
