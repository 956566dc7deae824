"""Dual numbers: forward mode's traced values, and the trace that pushes tangents through JVP rules.

A :class:`Dual` holds a primal value x and a tangent t (a direction, or a batch of directions stacked on
extra leading axes). Applying a primitive f gives ``Dual(f(x), J_f(x) t)``: the tangent is pushed through
f's JVP rule in the same pass that computes the value, so forward mode keeps no intermediates.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from autodiff.core import Primitive, Trace, Tracer, apply_below, lower, missing_rule, shape_of
from autodiff.diagonal import diagonal_matrix, diagonal_of, pull_diagonal
from autodiff.shapes import align_tangent, fit_tangent

__all__ = ["Dual", "JVPTrace", "new_dual"]


class JVPTrace(Trace):
    """One forward-mode transformation: a ``jvp`` call, a ``ForwardAccumulator``, or free Duals."""

    __slots__ = ("batch_ndim",)

    def __init__(self, batch_ndim: int = -1) -> None:
        super().__init__()
        # how many leading batch axes every tangent of this trace has (jvp/jacfwd know it), or -1
        self.batch_ndim = batch_ndim

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        """Compute ``prim(*primals)`` and its tangent ``sum_i J_i t_i`` from the JVP rules."""
        if len(args) == 1 and type(args[0]) is Dual and args[0]._trace is self:
            return self._unary(prim, args[0], params)
        primals: list[Any] = []
        traced = []  # (argument index, tangent) of this trace's Duals
        outer: Trace | Literal[False] | None = None  # the transformation one level down, if traced
        for a in args:
            if type(a) is Dual and a._trace is self:
                traced.append((len(primals), a.tangent))
                a = a.primal
            if isinstance(a, Tracer):
                outer = a._trace if outer is None or outer is a._trace else False
            primals.append(a)
        ans = prim.impl(*primals, **params) if outer is None else apply_below(outer, prim, primals, params)
        if prim.nondiff:
            return ans
        if not prim.elementwise:
            return self._checked(prim, traced, ans, primals, params)
        return self._elementwise(prim, traced, ans, primals, params)

    def _elementwise(self, prim: Primitive, traced: list, ans: Any, primals: list, params: dict) -> Any:
        """The tangent of an elementwise primitive: each traced argument's tangent, broadcast to the
        output's shape where the argument was broadcast, through its rule; the terms summed."""
        jvps = prim.jvps
        ans_shape = shape_of(ans)
        if len(ans_shape) == 1 and diagonal_of(traced[0][1]) is not None:
            out = _diagonal_jvp(prim, traced, ans, primals, params)
            if out is not None:
                return new_dual(self, ans, out)
        out = None
        nb = -1  # batch axes of the tangents, counted only when some argument was broadcast
        for i, t in traced:
            rule = (jvps[i] if i < len(jvps) else missing_rule(prim, i, "JVP")) if jvps is not None \
                else prim.jvp_rule(i)
            if rule is None:
                continue
            x = primals[i]
            x_shape = x.shape if type(x) is np.ndarray else shape_of(x)
            if x_shape != ans_shape:
                nb = len(shape_of(t)) - len(x_shape)
                t = align_tangent(t, x, ans)
            ti = rule(t, ans, *primals, **params) if params else rule(t, ans, *primals)
            if ti is not None:
                out = ti if out is None else out + ti
        if out is None:
            return ans
        if nb >= 0:
            out = fit_tangent(out, ans, nb)
        return new_dual(self, ans, out)

    def _checked(self, prim: Primitive, traced: list, ans: Any, primals: list, params: dict) -> Any:
        """The tangent of a non-elementwise primitive, each rule's result checked against the output's
        shape with the batch axes in front (a tuple comparison: cheap next to such a rule)."""
        jvps = prim.jvps
        want = ans.shape if type(ans) is np.ndarray else shape_of(ans)
        nbt = self.batch_ndim
        if nbt < 0:
            i0, t0 = traced[0]
            nbt = len(shape_of(t0)) - len(shape_of(primals[i0]))
        out = None
        for i, t in traced:
            rule = (jvps[i] if i < len(jvps) else missing_rule(prim, i, "JVP")) if jvps is not None \
                else prim.jvp_rule(i)
            if rule is None:
                continue
            ti = rule(t, ans, *primals, **params) if params else rule(t, ans, *primals)
            if ti is None:
                continue
            got = ti.shape if type(ti) is np.ndarray else shape_of(ti)
            if (nbt or got != want) and (len(got) != nbt + len(want) or got[nbt:] != want):
                raise _tangent_error(prim, i, got, t, nbt, want)
            out = ti if out is None else out + ti
        return ans if out is None else new_dual(self, ans, out)

    def _unary(self, prim: Primitive, a: Dual, params: dict) -> Any:
        """``process`` for the common one-argument call: no lists, no broadcasting to line up."""
        p = a.primal
        ans = apply_below(p._trace, prim, (p,), params) if isinstance(p, Tracer) else prim.impl(p, **params)
        if prim.nondiff:
            return ans
        jvps = prim.jvps
        rule = (jvps[0] if jvps else missing_rule(prim, 0, "JVP")) if jvps is not None else prim.jvp_rule(0)
        if rule is None:
            return ans
        t = a.tangent
        if prim.elementwise and diagonal_of(t) is not None and len(shape_of(p)) == 1:
            # a diagonal batch of directions stays diagonal through an elementwise function
            out = pull_diagonal(lambda v: rule(v, ans, p, **params), t, shape_of(p)[0])
        else:
            out = rule(t, ans, p, **params)
            if out is not None and not prim.elementwise:
                got = out.shape if type(out) is np.ndarray else shape_of(out)
                want = ans.shape if type(ans) is np.ndarray else shape_of(ans)
                nbt = self.batch_ndim if self.batch_ndim >= 0 else len(shape_of(t)) - len(shape_of(p))
                if (nbt or got != want) and (len(got) != nbt + len(want) or got[nbt:] != want):
                    raise _tangent_error(prim, 0, got, t, nbt, want)
        return ans if out is None else new_dual(self, ans, out)


def _tangent_error(prim: Primitive, argnum: int, got: tuple, t: Any, nb: int, want: tuple) -> ValueError:
    """The error for a JVP rule whose tangent is not shaped like the output (with the batch axes)."""
    batch = tuple(shape_of(t))[:nb]
    return ValueError(
        f"the JVP rule of primitive {prim.name!r} for argument {argnum} returned a tangent of shape "
        f"{tuple(got)}; it must have shape {batch + tuple(want)}: the tangent's batch axes {batch} in "
        f"front, then the output's shape {tuple(want)}."
    )


def _diagonal_jvp(prim: Primitive, traced: list, ans: Any, primals: list, params: dict) -> Any:
    """The tangent of an elementwise operation whose traced arguments all carry diagonal batches
    ``diag(v_i)`` (and were not broadcast): ``diag(sum_i rule_i(v_i))``, or None when that does not apply.

    Exact for the same reason as for one argument: the JVP of an elementwise operation acts entry by
    entry, so it maps the batch diag(v) to diag of its value on v (autodiff/diagonal.py).
    """
    k = shape_of(ans)[0]
    total = None
    for i, t in traced:
        v = diagonal_of(t)
        if v is None or v.shape != (k,) or shape_of(primals[i]) != (k,):
            return None
        rule = prim.jvp_rule(i)
        if rule is None:
            continue
        c = rule(v, ans, *primals, **params)
        if type(c) is not np.ndarray or c.shape != (k,):
            return None
        total = c if total is None else total + c
    return None if total is None else diagonal_matrix(total)


def new_dual(trace: JVPTrace, primal: Any, tangent: Any) -> Dual:
    """A Dual of ``trace`` without the public constructor's checks (the hot path)."""
    d = object.__new__(Dual)
    d.primal = primal
    d.tangent = tangent
    d._trace = trace
    return d


# Duals made directly by the user belong to one per-process forward trace that never ends, so that
# ordinary dual-number arithmetic works: Dual(a, b) * Dual(c, d) == Dual(a c, a d + b c).
_FREE = JVPTrace()


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
