"""``ForwardAccumulator``: TensorFlow's forward-mode context manager on top of forward mode's JVPTrace.

Design. The accumulator owns a forward-mode trace (a :class:`~forward.dual.JVPTrace` that also watches
Tensors, :class:`~autodiff.tensor.TensorWatcher`). Entering the accumulator gives that trace a fresh
level (``renew_level``: it is the innermost transformation), pushes it on this thread's trace stack
(popped on exit even on error), and maps each watched primal to a Dual ``(value as the outer
transformations see it, tangent)``. Operations on the primals inside the block then carry tangents
through the JVP rules; ``acc.jvp(y)`` reads the tangent of a Tensor computed inside. Because the Dual is
built on the outer value, an accumulator inside a GradientTape records its tangent computation on the
tape, and a tape inside an accumulator pushes tangents through its backward pass: Hessian-vector
products both ways.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from autodiff.core import Tracer, lower, trace_scope
from autodiff.pytree import tree_flatten, tree_map
from autodiff.stats import record_forward_pass
from autodiff.tensor import Tensor, TensorWatcher, Watched, box, read
from forward.dual import Dual, JVPTrace, new_dual

__all__ = ["ForwardAccumulator"]


class _AccumulatorTrace(JVPTrace, TensorWatcher):
    """The forward-mode trace of one ForwardAccumulator: a JVPTrace that reads each watched Tensor as a
    Dual of its tangent."""

    conversion_warning = (
        "A Tensor computed inside an active ForwardAccumulator was converted to a NumPy array "
        "implicitly (np.asarray, np.array, or a SciPy function that calls them): its tangent does "
        "not flow through that conversion, so jvp() misses the terms computed from it. Use NumPy "
        "functions on the Tensor (or autodiff.scipy in place of scipy), or .numpy() to cut the path "
        "on purpose. This warning is shown once per accumulator.")

    def __init__(self) -> None:
        super().__init__()
        self._init_watcher()
        self.active = False   # until the accumulator is entered

    # ---- TensorWatcher: a watched primal read after its outer value changed gets a new Dual ---------
    def _rebuild(self, tangent: Any, outer: Any) -> Any:
        return new_dual(self, outer, tangent)


class ForwardAccumulator:
    """Compute Jacobian-vector products of everything computed from ``primals`` inside the block.

    ``primals``: a Tensor/Variable or a list/tuple/dict nest of them; ``tangents``: the matching nest of
    directions, each shaped like its primal. ``acc.jvp(target)`` gives the directional derivative of a
    Tensor computed inside the block (``None`` — or zeros with ``unconnected_gradients="zero"`` — when
    it does not depend on the primals).
    """

    def __init__(self, primals: Any, tangents: Any) -> None:
        self._trace = _AccumulatorTrace()
        if isinstance(primals, Tensor):   # one primal: its tangent may be given as a (nested) list
            flat_p, flat_t = [primals], [tangents]
        else:
            flat_p, p_tree = tree_flatten(primals)
            flat_t, t_tree = tree_flatten(tangents)
            if p_tree != t_tree:
                raise ValueError(f"ForwardAccumulator: tangents have structure {t_tree!r} but primals "
                                 f"have {p_tree!r}; give one tangent per primal.")
        self._pairs = []
        for i, (p, t) in enumerate(zip(flat_p, flat_t)):
            if not isinstance(p, Tensor):
                raise TypeError(f"ForwardAccumulator primals must be Tensors or Variables, got "
                                f"{type(p).__name__}; wrap arrays with autodiff.constant(x).")
            if not np.issubdtype(p.dtype, np.inexact):
                raise TypeError(f"ForwardAccumulator: primal {i} has dtype {p.dtype}; integer and boolean "
                                "values have no derivative.")
            if not isinstance(t, (Tensor, Tracer)):
                t = np.asarray(t)
            if tuple(np.shape(lower(read(t)))) != p.shape:
                raise ValueError(f"ForwardAccumulator: tangent {i} has shape {np.shape(lower(read(t)))} but "
                                 f"its primal has shape {p.shape}.")
            self._pairs.append((p, t))
        self._scope: trace_scope | None = None

    def __enter__(self) -> ForwardAccumulator:
        if self._scope is not None:
            raise RuntimeError("This ForwardAccumulator is already active; it cannot be entered twice.")
        # Outer views first (this may make an outer tape watch a Variable), then become the innermost.
        outer = [(p, read(p), read(t)) for p, t in self._pairs]
        trace = self._trace
        trace.renew_level()
        record_forward_pass(1)
        self._scope = trace_scope(trace)
        self._scope.__enter__()
        trace._watched.clear()
        for p, value, t in outer:
            if not isinstance(t, Tracer):
                t = np.asarray(t, dtype=p.dtype)
            trace._watched[id(p)] = Watched(p, value, new_dual(trace, value, t), t)
        return self

    def __exit__(self, *exc_info) -> Literal[False]:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.__exit__(None, None, None)
        # Each watched primal's Dual points back to the trace: keeping it would make a reference cycle
        # that only the cyclic collector frees. jvp() of a primal needs only its tangent (aux).
        for entry in self._trace._watched.values():
            entry.value = entry.source = None
        return False

    # ---- results --------------------------------------------------------------------------------
    def jvp(self, primals: Any, unconnected_gradients: Any = "none") -> Any:
        """The tangent of each Tensor in ``primals`` (a Tensor or a nest of them), as Tensors.

        ``None`` for a Tensor that does not depend on the watched primals, or zeros with
        ``unconnected_gradients="zero"``.
        """
        name = str(getattr(unconnected_gradients, "value", unconnected_gradients)).lower()
        if name not in ("none", "zero"):
            raise ValueError(
                f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}."
            )
        return tree_map(lambda x: self._tangent_of(x, name == "zero"), primals)

    def _tangent_of(self, x: Any, zero: bool) -> Any:
        if isinstance(x, Tensor):
            entry = self._trace._watched_entry(x)
            if entry is not None:   # a primal itself: its tangent (also after the block, when detached)
                return box(entry.aux)
            value = x._value
        else:
            value = x
        v = value
        while isinstance(v, Tracer):
            if type(v) is Dual and v._trace is self._trace:
                return box(v.tangent)
            v = v.primal
        if not zero:
            return None
        base = np.asarray(lower(value))
        dtype = base.dtype if np.issubdtype(base.dtype, np.inexact) else np.float64
        return box(np.zeros(base.shape, dtype=dtype))
