"""Batched directions against one direction at a time, primitive by primitive (for ``check_grads``).

``jacfwd``, ``jacrev`` and ``hessian`` push or pull many directions at once, stacked on a leading batch
axis, so every rule must keep extra leading axes in front. A rule that ignores them gives correct
single-direction derivatives — finite differences and the dot-product identity cannot see the fault —
and then fails, or silently mixes directions, in a Jacobian. This module finds such a rule and names its
primitive:

- forward: f is evaluated under a forward trace carrying a batch of b random tangents; at every primitive
  application the batched output tangent is compared with the tangents of the b directions pushed one
  at a time through the same primitive;
- reverse: f is recorded on a tape; every recorded node's staged VJPs are applied to a batch of b random
  cotangents and compared with the b cotangents pulled one at a time.

The batch size b differs from every dimension of the inputs and outputs, so a misplaced batch axis
cannot broadcast its way through.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from autodiff.core import Primitive, Tracer, bind, lower, shape_of, trace_scope
from autodiff.pytree import tree_flatten
from forward.dual import Dual, JVPTrace, new_dual
from reverse.tape import Node
from reverse.vjp import Recording

__all__ = ["check_batched_directions", "batch_size_for"]


def batch_size_for(arrays: Sequence[Any]) -> int:
    """The smallest batch size >= 2 that is none of the arrays' dimensions."""
    dims = {int(d) for a in arrays for d in shape_of(lower(a))}
    b = 2
    while b in dims:
        b += 1
    return b


def _compare(where: str, got: Any, want: Any, rtol: float) -> None:
    got, want = np.asarray(lower(got)), np.asarray(lower(want))
    if got.shape != want.shape:
        raise AssertionError(f"{where}: the batched result has shape {got.shape}, one direction at a time "
                             f"gives {want.shape}")
    if not want.size:
        return
    err = float(np.max(np.abs(got - want)))
    top = float(np.max(np.abs(want)))
    if not err <= rtol * max(top, 1.0):        # also fails on NaN
        raise AssertionError(f"{where}: the batched result differs from one direction at a time by "
                             f"{err:.3g} (largest entry {top:.3g}, rtol={rtol:g})")


def _random(shape: tuple, dtype: Any, rng: np.random.Generator) -> np.ndarray:
    r = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        r = r + 1j * rng.standard_normal(shape)
    return r.astype(dtype) if np.dtype(dtype).kind in "fc" else r


class _BatchAuditTrace(JVPTrace):
    """A forward trace that checks each primitive's batched tangent against its looped tangents."""

    __slots__ = ("batch", "rtol")

    def __init__(self, batch: int, rtol: float) -> None:
        super().__init__()
        self.batch = batch
        self.rtol = rtol

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        where = (f"check_grads: primitive {prim.name!r}: its JVP on a batch of {self.batch} tangents (as "
                 "jacfwd, jacrev and hessian push them)")
        try:
            out = super().process(prim, args, params)
        except Exception as e:   # a rule that ignores the batch axes typically fails in here
            raise AssertionError(f"{where} raises {type(e).__name__}: {e}. A JVP rule must accept "
                                 "tangents with extra leading (batch) axes and keep them in front.") from e
        if type(out) is Dual and out._trace is self:
            for k in range(self.batch):
                _compare(f"{where}, direction {k}", out.tangent[k], self._one(prim, args, params, k),
                         self.rtol)
        return out

    def _one(self, prim: Primitive, args: tuple, params: dict, k: int) -> Any:
        """The output tangent for direction ``k`` alone, through a fresh forward trace."""
        one = JVPTrace()
        with trace_scope(one):
            duals = [new_dual(one, a.primal, a.tangent[k]) if type(a) is Dual and a._trace is self else a
                     for a in args]
            res = bind(prim, *duals, **params)
        if type(res) is Dual and res._trace is one:
            return res.tangent
        return np.zeros(shape_of(res), dtype=np.result_type(lower(res), np.float64))


def _audit_forward(fun: Callable, xs: Sequence[Any], batch: int, rtol: float, rng) -> None:
    trace = _BatchAuditTrace(batch, rtol)
    ts = [_random((batch,) + shape_of(x), lower(x).dtype, rng) for x in xs]
    with trace_scope(trace):
        fun(*[new_dual(trace, x, t) for x, t in zip(xs, ts)])


def _audit_reverse(fun: Callable, xs: Sequence[Any], batch: int, rtol: float, rng) -> None:
    rec = Recording(fun, tree_flatten(tuple(xs))[1], list(xs), keep_nodes=True)
    for node in rec.tape.nodes or ():
        if node.parents:
            _audit_node(node, batch, rtol, rng)


def _audit_node(node: Node, batch: int, rtol: float, rng) -> None:
    name = node.prim.name if node.prim is not None else "checkpoint"
    g = _random((batch,) + tuple(node.shape), np.float64, rng)
    for j, pullback in enumerate(node.vjps):
        where = (f"check_grads: primitive {name!r}: its VJP (traced argument {j}) on a batch of {batch} "
                 "cotangents (as jacrev and hessian pull them)")
        try:
            c = pullback(g)
        except Exception as e:
            raise AssertionError(f"{where} raises {type(e).__name__}: {e}. A VJP rule must accept "
                                 "cotangents with extra leading (batch) axes and keep them in front.") from e
        if c is None:
            continue
        c = c.materialize() if hasattr(c, "materialize") else c
        for k in range(batch):
            ck = pullback(g[k])
            ck = ck.materialize() if hasattr(ck, "materialize") else ck
            if ck is not None:
                _compare(f"{where}, direction {k}", np.asarray(lower(c))[k], ck, rtol)


def check_batched_directions(fun: Callable, xs: Sequence[Any], modes: Sequence[str], rtol: float,
                             rng: np.random.Generator) -> None:
    """Raise AssertionError naming the primitive whose rule treats a batch of directions differently
    from the same directions one at a time (``fun`` returns a list of outputs)."""
    batch = batch_size_for(list(xs) + [o for o in fun(*xs) if isinstance(o, (np.ndarray, Tracer, float))])
    if "forward" in modes:
        _audit_forward(fun, xs, batch, rtol, rng)
    if "reverse" in modes:
        _audit_reverse(fun, xs, batch, rtol, rng)
