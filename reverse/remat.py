"""``checkpoint(f)``: f's values and derivatives, with f's intermediates recomputed in the backward pass.

Under a tape (the innermost active transformation), the checkpointed call runs f once under a
:class:`_Program` trace of its own. That trace computes every operation one level below the tape (so the
tape records nothing of f) and writes down the operation with references to where its arguments came
from: f's traced inputs, traced values of the tape that f reached without being given them (closures,
watched Tensors), results of earlier operations, or constants. The tape then gets one node per output
whose parents are the inputs and the closed-over values found; its pullback replays the written-down
operations on the leaves of a fresh tape and pulls the cotangent back through that. The node keeps only
those values and the constants: no intermediate of f.

Operations on closed-over values alone (``np.sin(a)`` inside f, with ``a`` traced by the tape) go to
the tape directly and are recorded there as usual; their results reach the program when they meet f's
inputs, and are found then. Under any other innermost transformation (forward mode, or inside another
checkpoint) there is nothing to save, and f runs as it is.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from autodiff.core import Boxed, Primitive, Trace, Tracer, active_traces, bind, shape_of, trace_scope
from autodiff.pytree import tree_flatten, tree_unflatten
from reverse.tape import Node, Tape, TapeTracer

__all__ = ["checkpoint"]


class _Const:
    """An argument of a written-down operation that is not traced by the tape (held as it is)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _ProgramTracer(Tracer):
    """A value computed inside the checkpointed f: its value one level below the tape, and its slot."""

    __slots__ = ("primal", "_trace", "_slot")

    def __init__(self, trace: _Program, primal: Any, slot: int) -> None:
        self.primal = primal
        self._trace = trace
        self._slot = slot

    def __repr__(self) -> str:
        return f"CheckpointTracer({self.primal!r})"


class _Program(Trace):
    """The operations f applied to traced values, written down while they are computed below ``tape``.

    Slots number the values: leaves (f's traced inputs and the tape's values f reached, in the order
    found) and operation results. ``ops`` holds ``(slot, prim, refs, params)``; a ref is a slot or a
    :class:`_Const`.
    """

    __slots__ = ("tape", "ops", "n_slots", "leaf_slots", "leaves", "_found", "_frees")
    tracer_type = _ProgramTracer

    def __init__(self, tape: Tape) -> None:
        super().__init__()
        self.tape = tape
        self.ops: list[tuple[int, Primitive, tuple, dict]] = []
        self.n_slots = 0
        self.leaf_slots: list[int] = []
        self.leaves: list[TapeTracer] = []     # the tape's tracers, one per leaf slot
        self._found: dict[int, int] = {}       # id(tape tracer) -> its leaf slot (while f runs)
        self._frees: list[tuple[int, ...]] = []  # per kept operation: slots last used by it

    def leaf(self, tracer: TapeTracer) -> int:
        """The leaf slot of one of the tape's tracers (the same slot each time it is met)."""
        slot = self._found.get(id(tracer))
        if slot is None:
            slot = self._found[id(tracer)] = self.n_slots
            self.n_slots += 1
            self.leaf_slots.append(slot)
            self.leaves.append(tracer)      # also keeps it alive, so its id is not reused meanwhile
        return slot

    def wrap_input(self, tracer: TapeTracer) -> _ProgramTracer:
        return _ProgramTracer(self, tracer.primal, self.leaf(tracer))

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        """The skeleton's ``process``, with the tape's tracers that f reached turned into leaves first:
        they are inputs of the program, computed with one level below the tape like f's own inputs."""
        tape = self.tape
        args = tuple(self.wrap_input(a) if type(a) is TapeTracer and a._trace is tape else a for a in args)
        return Trace.process(self, prim, args, params)

    def apply(self, prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        """Write the operation down (where each argument came from) and carry ``ans`` in a new slot."""
        refs: list = [_Const(p) for p in primals]
        for i in traced:
            refs[i] = args[i]._slot
        slot = self.n_slots
        self.n_slots += 1
        self.ops.append((slot, prim, tuple(refs), params))
        return _ProgramTracer(self, ans, slot)

    def prune(self, out_slots: list[int]) -> None:
        """Keep only the operations the outputs need (and forget the lookup used while f ran)."""
        needed = set(out_slots)
        kept = []
        for op in reversed(self.ops):
            if op[0] in needed:
                kept.append(op)
                needed.update(r for r in op[2] if type(r) is int)
        kept.reverse()
        self.ops = kept
        self._found = {}
        # a replay drops each intermediate after its last use, as a plain evaluation would
        last: dict[int, int] = {}
        for k, op in enumerate(kept):
            for r in op[2]:
                if type(r) is int:
                    last[r] = k
        frees: list[list[int]] = [[] for _ in kept]
        for slot, k in last.items():
            if slot not in out_slots:
                frees[k].append(slot)
        self._frees = [tuple(f) for f in frees]

    def replay(self, leaf_values: tuple, out_slot: int) -> Any:
        """Recompute the value of ``out_slot`` from ``leaf_values`` (bound to the active transformations)."""
        values: list = [None] * self.n_slots
        for slot, v in zip(self.leaf_slots, leaf_values):
            values[slot] = v
        for (slot, prim, refs, params), frees in zip(self.ops, self._frees):
            args = [r.value if type(r) is _Const else values[r] for r in refs]
            for r in frees:
                values[r] = None
            values[slot] = bind(prim, *args, **params)
            del args
        return values[out_slot]

    def saved(self) -> tuple:
        """What the checkpoint node keeps for its backward pass: the leaves and the constants."""
        consts = [r.value for op in self.ops for r in op[2] if type(r) is _Const]
        arrays = (np.ndarray, np.generic, Tracer)
        return tuple(self.leaves) + tuple(c for c in consts if isinstance(c, arrays))


def checkpoint(f: Callable) -> Callable:
    """``f`` with the same values and derivatives; in reverse mode its intermediates are not stored.

    For any f (closures over traced values, keyword arguments, nested transformations): under a tape
    the tape keeps only f's traced inputs, the traced values f reached from its closure, and the
    constants f used; the backward pass recomputes f's operations from them (memory for time). Under
    other transformations f runs as it is.
    """
    @functools.wraps(f)
    def checkpointed(*args, **kwargs):
        traces = active_traces()
        tape = traces[-1] if traces else None
        if not isinstance(tape, Tape):
            return f(*args, **kwargs)
        flat, in_tree = tree_flatten((args, kwargs))
        program = _Program(tape)
        flat = [program.wrap_input(a) if isinstance(a, Tracer) and a._trace is tape else a for a in flat]
        args, kwargs = tree_unflatten(in_tree, flat)
        with trace_scope(program):
            out = f(*args, **kwargs)
        return _finish(program, out)

    return checkpointed


def _finish(program: _Program, out: Any) -> Any:
    """f's outputs as the tape's values: one node per output computed by the program."""
    out_flat, out_tree = tree_flatten(out)
    found = [_program_value(program, o) for o in out_flat]
    program.prune([o._slot for o, _ in found if type(o) is _ProgramTracer])
    saved = program.saved()
    results = []
    for o, box in found:
        if type(o) is _ProgramTracer:
            o = _record_output(program, o, saved)
        results.append(o if box is None else box._autodiff_box(o))
    return tree_unflatten(out_tree, results)


def _program_value(program: _Program, o: Any) -> tuple[Any, Boxed | None]:
    """An output leaf without its box and without tracers of inner transformations that have ended."""
    box = None
    if isinstance(o, Boxed):
        box, o = o, o._autodiff_value()
    while isinstance(o, Tracer) and o._trace is not program and not o._trace.active:
        o = o.primal
    return o, box


def _record_output(program: _Program, o: _ProgramTracer, saved: tuple) -> Any:
    tape = program.tape
    if not program.leaves:
        return o.primal                  # f used nothing the tape traces: a constant to it
    pullbacks = _recomputing_pullbacks(program, o._slot, saved)
    node = Node(tuple(t._node for t in program.leaves), pullbacks, shape_of(o.primal))
    if tape.nodes is not None:
        tape.nodes.append(node)
    return TapeTracer(tape, o.primal, node)


def _recomputing_pullbacks(program: _Program, out_slot: int, saved: tuple) -> tuple:
    """One pullback per leaf; the leaves' pullbacks share one recomputation per incoming cotangent.

    ``saved`` is referenced from here so that a tape's memory report sees what the node keeps.
    """
    from reverse.vjp import Recording

    memo: dict[str, Any] = {}
    n = len(program.leaves)

    def sweep(g: Any, j: int) -> Any:
        if memo.get("g") is not g:
            tape = program.tape
            # A tape that is still recording (a persistent GradientTape's gradient inside its block)
            # records the recomputation too, so it can differentiate it again.
            leaves = [t if tape.active else t.primal for t in saved[:n]]
            rec = Recording(lambda *xs: program.replay(xs, out_slot),
                            tree_flatten(tuple(leaves))[1], leaves)
            nb = np.ndim(g) - len(shape_of(rec.values[0]))
            # release: the recomputed intermediates are freed as this backward sweep passes them
            memo["g"], memo["grads"] = g, rec.pull([g], np.shape(g)[:nb], release=True)
        grads = memo["grads"]
        if j == n - 1:
            memo.clear()    # the sweep asks for the leaves in order: the last one frees the results
        return grads[j]

    return tuple((lambda g, j=j: sweep(g, j)) for j in range(n))
