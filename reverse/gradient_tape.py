"""``GradientTape``: TensorFlow's tape API on top of reverse mode's :class:`~reverse.tape.Tape`.

Design. A GradientTape owns one *recording* (a ``Tape`` with ``keep_nodes=True`` that is also a
:class:`~autodiff.tensor.TensorWatcher`). Entering the tape pushes the recording on this thread's trace
stack (``trace_scope``; popped on exit even on error), with a fresh level so that it is the innermost
transformation. A watched Tensor or Variable is read as a leaf ``TapeTracer`` of the recording (built on
the value the outer transformations see, so an inner tape's backward pass is recorded by an outer tape:
second derivatives); operations on it are then recorded by the core as for ``grad``, and their results
are Tensors holding TapeTracers, which is why gradients with respect to intermediate results work.

``gradient`` seeds the targets' nodes and runs one backward sweep (``reverse.tape.backward``);
``jacobian`` and ``batch_jacobian`` seed a batch of cotangents (the rows of an identity) and also run a
single sweep. A non-persistent tape frees what it recorded right after its first use. ``reset`` swaps in
a new recording, so values recorded before it become constants; ``stop_recording`` deactivates the
recording for a block (the core then treats its tracers as the constants they hold).

A persistent tape also keeps each operation's arguments while its block runs: ``gradient`` called there
re-stages every VJP rule on the tape's tracers, so the backward pass is recorded by the tape and can be
differentiated again (TensorFlow's behaviour; here over the operations recorded in the same block).
When the block ends the recording forgets the tracers of its watched values (they point back to it: a
reference cycle otherwise), keeping their nodes. Converting a traced value to an array implicitly
(``np.asarray``, SciPy) warns once per tape.

Why is a gradient ``None``? The source was not watched (a ``constant`` needs ``tape.watch(x)``; a
Variable is watched automatically only when trainable and read inside the tape), the target was
computed outside the tape or through ``.numpy()``/``float()``/``stop_gradient``, or the source is not
floating. ``unconnected_gradients="zero"`` gives zeros instead of ``None``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Literal, Sequence

import numpy as np

from autodiff.batching import contiguous, identity_seeds, per_example_blocks, per_example_seeds
from autodiff.core import Tracer, lower, trace_scope
from autodiff.pytree import tree_flatten, tree_leaves, tree_unflatten
from autodiff.stats import record_backward_pass, record_tape_pass
from autodiff.tensor import Tensor, TensorWatcher, Variable, box, read
from reverse.tape import Node, Tape, TapeTracer, _real_part, backward, memory_report, new_leaf, toposort

__all__ = ["GradientTape"]


class _Recording(Tape, TensorWatcher):
    """One recording of a GradientTape: the reverse-mode trace and the Tensors it watches."""

    nodes: list[Node]   # recorded with keep_nodes=True: always a list, never None
    conversion_warning = (
        "A Tensor recorded by an active GradientTape was converted to a NumPy array implicitly "
        "(np.asarray, np.array, or a SciPy function that calls them): the gradient does not flow "
        "through that conversion, so terms computed from it are missing from the gradient. Use "
        "NumPy functions on the Tensor (or autodiff.scipy in place of scipy), or .numpy() to cut "
        "the path on purpose. This warning is shown once per tape.")

    def __init__(self, watch_accessed_variables: bool) -> None:
        Tape.__init__(self, keep_nodes=True)
        self._init_watcher()
        self.active = False           # until the tape is entered
        self.auto_watch = watch_accessed_variables
        self.variables: list[Variable] = []   # watched Variables, in the order first watched

    def _auto_watches(self, tensor: Tensor) -> bool:
        return (self.auto_watch and isinstance(tensor, Variable) and tensor.trainable
                and np.issubdtype(tensor.dtype, np.inexact))

    def _new_view(self, tensor: Tensor, outer: Any) -> tuple[Any, Node]:
        if isinstance(tensor, Variable):
            self.variables.append(tensor)
        if type(outer) is TapeTracer and outer._trace is self:   # an intermediate result of this tape
            return outer, outer._node
        leaf = new_leaf(self, outer)
        return leaf, leaf._node

    def _rebuild(self, node: Node, outer: Any) -> Any:
        if type(outer) is TapeTracer and outer._trace is self:
            return outer
        return TapeTracer(self, outer, node)

    def node_of(self, x: Any, alias: dict | None = None) -> tuple[Node | None, Any]:
        """The node of ``x`` on this recording (or None) and the value of ``x`` it stands for.

        With ``alias`` (one dict per gradient call), a Tensor the tape does not know gets a fresh leaf
        node, the same each time it is asked for: so a target that *is* a source (``gradient(v, v)``
        for a Variable never read inside the tape) gets its seed as gradient, as in TensorFlow.
        """
        tensor = x
        if isinstance(x, Tensor):
            entry = self._watched_entry(x)
            if entry is not None:
                return entry.aux, lower(entry.value)
            x = x._value
        value = lower(x)
        while isinstance(x, Tracer):
            if x._trace is self and isinstance(x, TapeTracer):  # (all of this trace's tracers are)
                return x._node, value
            x = x.primal
        if alias is not None and isinstance(tensor, Tensor):
            node = alias.get(id(tensor))
            if node is None:
                node = alias[id(tensor)] = Node((), (), np.shape(value))
            return node, value
        return None, value

    def detach(self) -> None:
        """Forget the tracers of the watched Tensors (kept: their nodes and plain values).

        A leaf tracer points back to this recording, so keeping it would make a reference cycle that
        only the cyclic collector could free. Called when the tape's block ends; a persistent tape
        entered again rebuilds each tracer on the next read (``_tensor_view``: same node).
        """
        for entry in self._watched.values():
            entry.value = lower(entry.value)
            entry.source = _DETACHED

    def release(self) -> None:
        """Drop every staged VJP (and the arrays it keeps alive): the recording can no longer be used."""
        for node in self.nodes:
            node.parents = ()
            node.vjps = ()
        self.nodes.clear()
        self._watched.clear()   # its leaf tracers point back here: drop the cycle, free at once


class _PersistentRecording(_Recording):
    """A persistent tape's recording: it also keeps each operation's arguments, so that a gradient
    computed inside the tape's own block can be recorded by the tape (as in TensorFlow).

    For such a gradient the backward sweep re-stages every VJP rule on this tape's tracers instead of
    using the closures staged over the values below: the rules' operations are then recorded like any
    other, and the gradient can be differentiated again.
    """

    def __init__(self, watch_accessed_variables: bool) -> None:
        super().__init__(watch_accessed_variables)
        # node -> (primitive, arguments, params, result tracer), for the operations of the current block.
        # The tracers point back here; the cycle lasts only while the block runs (``detach`` clears it).
        self.calls: dict[Node, tuple] = {}

    def apply(self, prim: Any, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        out = Tape.apply(self, prim, args, traced, primals, ans, params)
        if type(out) is TapeTracer:
            self.calls[out._node] = (prim, args, params, out)
        return out

    def release(self) -> None:
        super().release()
        self.calls.clear()

    def detach(self) -> None:
        # The arguments are kept only for gradients taken inside the block: after it, the tape holds
        # just what its staged VJPs need (what memory_report counts).
        super().detach()
        self.calls.clear()

    def restaged(self, node: Node) -> Node:
        """A stand-in for ``node`` whose VJPs are re-staged on this tape's tracers (``parents`` unset)."""
        call = self.calls.get(node)
        if call is None:
            what = "a checkpointed function" if node.prim is None else f"{node.prim.name!r}"
            raise NotImplementedError(
                f"GradientTape.gradient inside a persistent tape's block records the backward pass only "
                f"of operations recorded in this same block, and {what} was not (it was recorded in an "
                f"earlier block of this tape); call gradient() after the block, or nest two tapes."
            )
        prim, args, params, ans = call
        complex_out = np.iscomplexobj(lower(ans))
        rules = prim.vjps
        vjps = []
        for i, a in enumerate(args):   # the same arguments, in the same order, as Tape.apply stages
            if type(a) is not TapeTracer or a._trace is not self:
                continue
            rule = (rules[i] if i < len(rules) else None) if rules is not None else prim.vjp_rule(i)
            if rule is None:
                continue
            pullback = rule(ans, *args, **params)
            if complex_out and not np.iscomplexobj(lower(a.primal)):
                pullback = _real_part(pullback)
            vjps.append(pullback)
        return Node((), tuple(vjps), node.shape, node.elementwise, node.prim)


_DETACHED = object()   # Watched.source of a detached entry: never the outer value, so it is rebuilt


def _recorded_backward(rec: _PersistentRecording, seeds: list, wanted: list) -> dict:
    """The backward sweep from ``seeds``, its operations recorded by ``rec`` (active and innermost).

    Each node reachable from the seeds gets a stand-in whose VJPs were re-staged on ``rec``'s tracers;
    the ordinary sweep then runs over the stand-ins, so every cotangent it computes is a tracer of
    ``rec`` (differentiable again). Returns ``{original node: cotangent}``.
    """
    order = toposort([n for n, _ in seeds])   # children before parents
    stand_in: dict[Node, Node] = {}
    for node in reversed(order):               # parents first: their stand-ins exist already
        new = rec.restaged(node) if node.parents else Node((), (), node.shape)
        new.parents = tuple(stand_in[p] for p in node.parents)
        stand_in[node] = new
    got = backward([(stand_in[n], g) for n, g in seeds], [stand_in[n] for n in wanted if n in stand_in])
    return {n: got[stand_in[n]] for n in wanted if n in stand_in and stand_in[n] in got}


def _zero_policy(unconnected_gradients: Any) -> bool:
    """True for "zero", False for "none" (TensorFlow's UnconnectedGradients, by value or name)."""
    name = str(getattr(unconnected_gradients, "value", unconnected_gradients)).lower()
    if name not in ("none", "zero"):
        raise ValueError(
            f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}."
        )
    return name == "zero"


def _float_dtype(value: Any) -> np.dtype:
    dtype = np.asarray(value).dtype
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


class GradientTape:
    """Record operations on watched Tensors and Variables, then compute gradients by reverse mode.

    ``persistent=False``: ``gradient``/``jacobian`` may be called once, and the recording is freed after
    it. ``watch_accessed_variables=True``: trainable Variables read inside the tape are watched.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self._persistent = bool(persistent)
        self._watch_accessed_variables = bool(watch_accessed_variables)
        self._rec = self._new_recording()
        self._scope: trace_scope | None = None
        self._used = False

    def _new_recording(self) -> _Recording:
        kind = _PersistentRecording if self._persistent else _Recording
        return kind(self._watch_accessed_variables)

    # ---- recording ------------------------------------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self._scope is not None:
            raise RuntimeError("This GradientTape is already recording; it cannot be entered twice.")
        if self._used and not self._persistent:
            self.reset()   # its recording was spent and freed: record afresh
        self._start(self._rec)
        return self

    def __exit__(self, *exc_info) -> Literal[False]:
        self._stop()
        return False

    def _start(self, rec: _Recording) -> None:
        rec.renew_level()   # a fresh level: the tape is the innermost transformation now
        record_tape_pass()
        self._scope = trace_scope(rec)
        self._scope.__enter__()

    def _stop(self) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.__exit__(None, None, None)
            self._rec.detach()

    def watch(self, tensor: Any) -> None:
        """Watch a Tensor or Variable (or a list/tuple/dict nest of them): record what is computed from it.

        Integer and boolean Tensors are not watched (they have no derivative); a warning says so.
        """
        rec = self._rec
        for t in tree_leaves(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.watch takes Tensors or Variables, got {type(t).__name__}; wrap arrays "
                    "with autodiff.constant(x) and use that Tensor in the computation."
                )
            if not np.issubdtype(t.dtype, np.inexact):
                warnings.warn(f"The dtype of a watched tensor must be floating, got {t.dtype}; it is not "
                              "watched (integer and boolean values have no derivative).", stacklevel=2)
                continue
            rec._watch_tensor(t, read(t, until=rec))
        if self._scope is None:
            rec.detach()   # watched outside the block: keep no tracer pointing back to the recording

    def watched_variables(self) -> tuple[Variable, ...]:
        """The Variables this tape watches, in the order they were first watched."""
        return tuple(self._rec.variables)

    @contextmanager
    def stop_recording(self):
        """A block inside which nothing is recorded by this tape (its values act as constants)."""
        if self._scope is None:
            raise ValueError("stop_recording() is only meaningful while the tape is recording (inside "
                             "its `with` block).")
        rec = self._rec
        rec.active = False
        try:
            yield
        finally:
            if self._scope is not None and self._rec is rec:
                rec.active = True

    def reset(self) -> None:
        """Forget everything recorded and watched, as if the tape were exited and entered again fresh."""
        old = self._rec
        self._rec = self._new_recording()
        self._used = False
        old.release()
        if self._scope is not None:
            self._stop()
            self._start(self._rec)

    # ---- results --------------------------------------------------------------------------------
    def _begin_use(self) -> _Recording:
        if self._used and not self._persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients (or "
                "jacobians); create it with GradientTape(persistent=True) to call gradient() repeatedly."
            )
        self._used = True
        return self._rec

    def _end_use(self, rec: _Recording) -> None:
        if not self._persistent:
            rec.release()

    def _backward(self, rec: _Recording, seeds: list, wanted: list) -> dict:
        """One backward sweep; recorded by the tape itself when it is persistent and recording."""
        if isinstance(rec, _PersistentRecording) and self._scope is not None and rec.active:
            return _recorded_backward(rec, seeds, wanted)
        return backward(seeds, wanted, release=not self._persistent)

    def _source(self, rec: _Recording, source: Any, alias: dict | None = None) -> Node | None:
        if not isinstance(source, (Tensor, Tracer)):
            raise TypeError(f"gradient sources must be Tensors or Variables, got {type(source).__name__}.")
        if not np.issubdtype(source.dtype, np.inexact):
            warnings.warn(f"The dtype of the source tensor must be floating (got {source.dtype}); its "
                          "gradient is None.", stacklevel=3)
            return None
        return rec.node_of(source, alias)[0]

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: Any = "none") -> Any:
        """d(sum of targets)/d(source) for each source, in the structure of ``sources``.

        ``target``: a Tensor or a list/nest of Tensors (summed); a non-scalar target is summed, or
        weighted by ``output_gradients`` (one per target, shaped like it). A source the targets do not
        depend on gets ``None`` — or zeros with ``unconnected_gradients="zero"``.

        A ``None`` you did not expect has a common cause: the source was never watched. A constant
        needs ``tape.watch(x)`` before it is used; a Variable is watched automatically only when it is
        trainable and read inside the ``with`` block (and the tape has watch_accessed_variables=True).
        Otherwise the path was cut: by ``.numpy()``/``float()``/``stop_gradient``, by computing
        outside the block or inside ``stop_recording()``, or by an integer source.

        Called inside the block of a persistent tape, the gradient is recorded by that tape (as in
        TensorFlow), so it can be differentiated again; otherwise nest two tapes for second
        derivatives (the inner gradient is then recorded by the outer one).
        """
        zero = _zero_policy(unconnected_gradients)
        rec = self._begin_use()
        try:
            targets, t_tree = tree_flatten(target)
            if output_gradients is None:
                weights = [None] * len(targets)
            else:
                weights, w_tree = tree_flatten(output_gradients)
                if len(weights) != len(targets):
                    raise ValueError(f"output_gradients must match target: {len(weights)} given for "
                                     f"{len(targets)} target(s).")
            alias: dict = {}
            seeds = []
            for i, (t, w) in enumerate(zip(targets, weights)):
                node, value = rec.node_of(t, alias)
                if node is None or not np.issubdtype(np.asarray(value).dtype, np.inexact):
                    continue
                seeds.append((node, _seed(value, w, i)))
            flat, s_tree = tree_flatten(sources)
            nodes = [self._source(rec, s, alias) for s in flat]
            got = {}
            if seeds:
                record_backward_pass(1)
                got = self._backward(rec, seeds, [n for n in nodes if n is not None])
            results = [_result(got.get(n) if n is not None else None, s, (), zero)
                       for n, s in zip(nodes, flat)]
            return tree_unflatten(s_tree, results)
        finally:
            self._end_use(rec)

    def jacobian(self, target: Any, sources: Any, unconnected_gradients: Any = "none",
                 parallel_iterations: Any = None, experimental_use_pfor: bool = True) -> Any:
        """d target / d source, shaped ``target.shape + source.shape``, for each source of the nest.

        Vectorized: all rows come from one backward sweep with a batch of cotangents (the identity).
        """
        zero = _zero_policy(unconnected_gradients)
        _check_target(target, "jacobian")
        rec = self._begin_use()
        try:
            alias: dict = {}
            node, value = rec.node_of(target, alias)
            shape = np.shape(value)
            m = int(np.prod(shape, dtype=int))
            flat, s_tree = tree_flatten(sources)
            nodes = [self._source(rec, s, alias) for s in flat]
            got = {}
            if node is not None and np.issubdtype(np.asarray(value).dtype, np.inexact) and m > 0:
                # the engine's seeds: rows of the identity (a diagonal batch for a vector target)
                seed = identity_seeds([(shape, _float_dtype(value))], (0, m))[0]
                record_backward_pass(m)
                got = self._backward(rec, [(node, seed)], [n for n in nodes if n is not None])
            results = []
            for n, s in zip(nodes, flat):
                g = got.get(n) if n is not None else None
                if g is not None:
                    g = contiguous(np.reshape(g, shape + tuple(s.shape)))
                results.append(_result(g, s, shape, zero))
            return tree_unflatten(s_tree, results)
        finally:
            self._end_use(rec)

    def batch_jacobian(self, target: Any, source: Any, unconnected_gradients: Any = "none",
                       parallel_iterations: Any = None, experimental_use_pfor: bool = True) -> Any:
        """Per-example Jacobians: ``J[b] = d target[b] / d source[b]``, shaped
        ``(batch,) + target.shape[1:] + source.shape[1:]``.

        Assumes (as TensorFlow does) that example b of the target depends only on example b of the
        source. Vectorized: one backward sweep seeds output component j in every example at once.
        """
        zero = _zero_policy(unconnected_gradients)
        _check_target(target, "batch_jacobian")
        rec = self._begin_use()
        try:
            alias: dict = {}
            node, value = rec.node_of(target, alias)
            shape = np.shape(value)
            if len(shape) < 1 or len(source.shape) < 1 or shape[0] != source.shape[0]:
                raise ValueError(f"batch_jacobian needs target and source with the same first (batch) "
                                 f"dimension, got shapes {shape} and {source.shape}.")
            batch, rest = shape[0], shape[1:]
            k = int(np.prod(rest, dtype=int))
            src = self._source(rec, source, alias)
            g = None
            if node is not None and src is not None and np.issubdtype(np.asarray(value).dtype, np.inexact):
                seed = per_example_seeds(batch, rest, _float_dtype(value))
                record_backward_pass(k)
                got = self._backward(rec, [(node, seed)], [src])
                g = got.get(src)
                if g is not None:   # (k, batch) + source.shape[1:]  ->  (batch,) + rest + source.shape[1:]
                    g = per_example_blocks(g, batch, rest, tuple(source.shape[1:]))
            out_shape = (batch,) + rest
            return _result(g, source, out_shape, zero, batch_dims=1)
        finally:
            self._end_use(rec)

    def memory_report(self) -> dict:
        """What the tape holds for its backward pass: ``nodes``, ``saved_bytes``, ``by_primitive``."""
        return memory_report(self._rec.nodes)


def _check_target(target: Any, what: str) -> None:
    if not isinstance(target, (Tensor, Tracer)):
        raise TypeError(f"{what} takes one Tensor as target, got {type(target).__name__}; for several "
                        "targets call it once per target (or stack them into one Tensor).")


def _seed(value: Any, weight: Any, i: int) -> Any:
    """The cotangent that starts the sweep at target ``i``: ones (sum of its entries) or ``weight``.

    A weight of another shape is broadcast to the target's shape where NumPy can (a scalar weights
    every entry alike); otherwise that is a ValueError naming both shapes.
    """
    dtype = np.asarray(value).dtype
    shape = np.shape(value)
    if weight is None:
        return np.ones(shape, dtype=dtype)
    w = read(weight)
    if not isinstance(w, Tracer):
        w = np.asarray(w, dtype=dtype)
    if np.shape(w) != shape:
        if not _broadcasts_to(np.shape(w), shape):
            raise ValueError(
                f"output_gradients[{i}] has shape {np.shape(w)} but its target has shape {shape}; give "
                f"one weight per entry of the target, an array of shape {shape}."
            )
        w = np.broadcast_to(w, shape)
    return w


def _broadcasts_to(small: tuple, shape: tuple) -> bool:
    try:
        return np.broadcast_shapes(small, shape) == shape
    except ValueError:
        return False


def _result(g: Any, source: Any, out_shape: tuple, zero: bool, batch_dims: int = 0) -> Any:
    """A gradient as a Tensor in the source's dtype; None or zeros when the source is unconnected."""
    dtype = source.dtype
    if g is None:
        if not zero or not np.issubdtype(dtype, np.inexact):
            return None
        return box(np.zeros(tuple(out_shape) + tuple(source.shape[batch_dims:]), dtype=dtype))
    if np.asarray(lower(g)).dtype != dtype:
        g = g.astype(dtype)
    return box(g)
