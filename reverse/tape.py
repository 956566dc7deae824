"""The tape: reverse mode's record of the forward pass, and the iterative backward sweep.

Each recorded operation is a :class:`Node` holding its parents (the nodes of its traced inputs) and
one staged VJP per parent: a closure over exactly what the backward pass needs. The backward sweep
visits the nodes that receive a cotangent latest-made first — a node is always made after its parents,
so that is a reverse topological order, kept in a heap (no recursion: a 10^5-deep chain is fine) — and
pulls the cotangent of each node back to its parents. Reverse mode thus costs one backward pass per output
direction, but it keeps the intermediates of the forward pass alive until that pass.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Iterable, Sequence

import numpy as np

from autodiff.core import (
    NDARRAY,
    PLAIN_TYPES,
    Primitive,
    Trace,
    Tracer,
    _dtype_of,
    collector_held,
    gc_paused,
    ndim_of,
    shape_of,
    stage_rule,
)
from autodiff.shapes import unbroadcast
from autodiff.structured import (
    IndexedCotangent,
    combine,
    densify,
    densify_for,
    diagonal_of,
    handed_out,
    through_elementwise,
)

__all__ = ["Node", "Tape", "TapeTracer", "backward", "new_leaf", "toposort", "memory_report"]

# object.__new__ looked up once (Python 3.11 does not specialize attribute loads on a class)
_new_object = object.__new__


# Every node's place in the order nodes are made in (process-wide; itertools.count is atomic under the
# GIL). A node's parents exist when it is made, so they always have smaller numbers: the backward sweep
# visits nodes by decreasing number and needs no topological sort.
_next_seq = itertools.count().__next__


class Node:
    """One recorded value: its parents, the staged VJP towards each, its shape, and ``seq``, its number
    in the order nodes are made (larger than its parents')."""

    __slots__ = ("parents", "vjps", "shape", "elementwise", "prim", "seq", "__weakref__")

    def __init__(self, parents: tuple, vjps: tuple, shape: tuple, elementwise: bool = False,
                 prim: Primitive | None = None) -> None:
        self.seq = _next_seq()
        self.parents = parents
        self.vjps = vjps
        self.shape = shape
        self.elementwise = elementwise
        self.prim = prim


class TapeTracer(Tracer):
    """A value recorded on a tape: the value (``primal``), its tape and its node."""

    __slots__ = ("primal", "_trace", "_node")

    def __init__(self, trace: Tape, primal: Any, node: Node) -> None:
        self.primal = primal
        self._trace = trace
        self._node = node

    def __repr__(self) -> str:
        return f"TapeTracer({self.primal!r})"


def new_leaf(trace: Tape, value: Any) -> TapeTracer:
    """A traced input: a node with no parents, where the backward sweep collects a gradient."""
    node = Node((), (), shape_of(value))
    if trace.nodes is not None:
        trace.nodes.append(node)
    return TapeTracer(trace, value, node)


class Tape(Trace):
    """One reverse-mode transformation. ``nodes`` lists what it recorded when ``keep_nodes`` is set."""

    __slots__ = ("nodes",)
    tracer_type = TapeTracer

    def __init__(self, keep_nodes: bool = False) -> None:
        super().__init__()
        self.nodes: list[Node] | None = [] if keep_nodes else None

    def apply(self, prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        """A tracer of ``ans`` whose node has one staged VJP per traced argument with a derivative
        (``ans`` itself when none has one)."""
        # The plain value under ``ans`` (a tracer under an outer transformation): its dtype and shape, read
        # here without calls for the common plain array.
        value = ans
        while isinstance(value, Tracer):
            value = value.primal
        if type(value) in PLAIN_TYPES:
            complex_out, shape = value.dtype.kind == "c", value.shape
        else:
            complex_out, shape = _is_complex(value), shape_of(value)
        rules = prim.vjps
        if len(traced) == 1 and rules is not None and traced[0] < len(rules):
            # the common case, one traced argument: its staged VJP, without the lists of the general case
            i = traced[0]
            rule = rules[i]
            if rule is None:
                return ans
            pullback = stage_rule(rule, ans, primals, params)
            if complex_out and _dtype_of(primals[i]).kind != "c":
                pullback = _real_part(pullback)
            parents, vjps = (args[i]._node,), (pullback,)
        else:
            parents, vjps = _staged(prim, args, traced, primals, ans, params, complex_out)
            if not parents:
                return ans
        node = _new_object(Node)   # Node's fields set here: no __init__ frame on the hot path
        node.parents, node.vjps, node.shape, node.elementwise, node.prim, node.seq = \
            parents, vjps, shape, prim.elementwise, prim, _next_seq()
        if self.nodes is not None:
            self.nodes.append(node)
        out = _new_object(TapeTracer)
        out.primal, out._trace, out._node = ans, self, node
        return out


def _staged(prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
            params: dict, complex_out: bool) -> tuple[tuple, tuple]:
    """The parents' nodes and staged VJPs of an operation (``Tape.apply``'s general case): one per traced
    argument whose derivative is not declared zero; a real argument of a complex result gets the real
    part of its cotangent."""
    rules = prim.vjps
    parents, vjps = [], []
    for i in traced:
        rule = rules[i] if rules is not None and i < len(rules) else prim.vjp_rule(i)
        if rule is None:
            continue
        parents.append(args[i]._node)
        pullback = stage_rule(rule, ans, primals, params)
        if complex_out and _dtype_of(primals[i]).kind != "c":
            pullback = _real_part(pullback)
        vjps.append(pullback)
    return tuple(parents), tuple(vjps)


def _is_complex(value: Any) -> bool:
    """True for a complex plain value (``lower`` of a traced one)."""
    dtype = getattr(value, "dtype", None)
    return (dtype if dtype is not None else _dtype_of(value)).kind == "c"


def _real_part(pullback):
    """A real input of a complex-valued operation gets the real part of its cotangent: under the pairing
    Re(sum(a * b)) the transpose of embedding R in C is Re (JAX's convention, docs/complex.md)."""
    def real_pullback(g):
        c = pullback(g)
        return None if c is None else np.real(c)
    return real_pullback


def toposort(roots: Iterable[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, children before parents (iterative depth-first post-order)."""
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    push, pop = stack.append, stack.pop
    while stack:
        node, done = pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        push((node, True))
        for p in node.parents:
            if p not in seen:
                push((p, False))
    order.reverse()
    return order


_NUMPY_SCALARS = PLAIN_TYPES - {np.ndarray}   # immutable, never structured: their sum is just a + b


class _Accumulator:
    """Sums the cotangents reaching each node (``structured.combine``), in place where that is safe.

    A sum this sweep created is owned by it (``owned``: id -> array): no rule holds a reference to it,
    so the next contribution may be added into it in place. Arrays that rules returned may be shared
    (an identity VJP returns its input), so they are never written to.

    ``pending`` is a heap of (-seq, node) for the nodes holding a cotangent not yet pulled back, so
    that :meth:`next_node` gives the latest-made of them; ``floor`` is the number of the last node
    given out, which every node still to receive a cotangent must be below.
    """

    __slots__ = ("cots", "owned", "pending", "floor")

    def __init__(self) -> None:
        self.cots: dict[Node, Any] = {}
        self.owned: dict[int, np.ndarray] = {}
        self.pending: list[tuple[int, Node]] = []
        self.floor = _NO_FLOOR

    def add(self, node: Node, c: Any) -> None:
        cots = self.cots
        prev = cots.get(node)
        if prev is None:
            if node.seq >= self.floor:
                raise _late_cotangent(node, self.floor)
            cots[node] = c
            _heappush(self.pending, (-node.seq, node))
        elif type(prev) is type(c) and type(c) in _NUMPY_SCALARS:
            cots[node] = prev + c    # combine's dense sum, without its kind tests (scalar loops)
        else:
            cots[node] = combine(prev, c, self.owned)

    def next_node(self) -> tuple[Node, Any]:
        """The latest-made node holding a cotangent, and that cotangent summed, in its structured form;
        it is no longer owned (a pullback may return it as it is, and then others hold it). Every node
        made after it that can reach it has been given out already, so its cotangent is complete."""
        node = _heappop(self.pending)[1]
        self.floor = node.seq
        c = self.cots.pop(node)
        if self.owned and self.owned.get(id(c)) is c:
            del self.owned[id(c)]
        return node, c


_NO_FLOOR = float("inf")
_heappush, _heappop = heapq.heappush, heapq.heappop


def _late_cotangent(node: Node, floor: float) -> RuntimeError:
    """A cotangent reaching a node made after one the sweep has already pulled back: the graph's
    order is broken (a node whose parents were made after it), and the gradient would be wrong."""
    return RuntimeError(
        f"internal error in the backward sweep: a cotangent reached node {node.seq} after node "
        f"{floor:.0f}, which was made before it, had been pulled back; a node's parents must be made "
        "before it. Please report this with the function being differentiated."
    )


def backward(seeds: list[tuple[Node, Any]], wanted: Iterable[Node], release: bool = False) -> dict:
    """Pull cotangents from ``seeds`` (node, cotangent) back through the graph.

    Returns ``{node: cotangent}`` for each wanted node the sweep reached. Cotangents may carry leading
    batch axes (the same number for all seeds). With ``release``, each node drops its staged VJPs once
    used, so intermediates are freed as the sweep goes (one-shot gradients). The cyclic garbage
    collector's full collections wait until the sweep ends (see core.gc_paused).
    """
    if collector_held():    # inside a transformation (a Hessian's inner gradient): paused already
        return _sweep(seeds, wanted, release)
    with gc_paused():
        return _sweep(seeds, wanted, release)


def _sweep(seeds: list[tuple[Node, Any]], wanted: Iterable[Node], release: bool) -> dict:
    acc = _Accumulator()
    for node, g in seeds:
        acc.add(node, g)
    want = set(wanted)
    result: dict[Node, Any] = {}
    pending = acc.pending
    while pending:
        node, g = acc.next_node()
        if type(g) is IndexedCotangent:    # the one structured form that is not an array
            g = densify_for(g, node.vjps)
        if node in want:
            result[node] = handed_out(g)   # the caller's to keep and modify: dense, never read-only
        if g is None or not node.parents:
            continue
        if node.elementwise:
            _pull_elementwise(node, g, acc)
        else:
            _pull_checked(node, g, acc)
        if release:
            node.parents = ()
            node.vjps = ()
    return result


def _pull_elementwise(node: Node, g: Any, acc: _Accumulator) -> None:
    """Pull ``g`` through an elementwise node: a diagonal batch stays diagonal towards arguments that
    were not broadcast (``structured.through_elementwise``); an argument that was broadcast gets the
    sum of its copies' cotangents (``shapes.unbroadcast``)."""
    shape = node.shape
    diagonal = len(shape) == 1 and diagonal_of(g) is not None
    for parent, pullback in zip(node.parents, node.vjps):
        if parent.shape == shape:
            c = through_elementwise(pullback, g, shape[0]) if diagonal else pullback(g)
        else:
            c = pullback(g)
            if c is not None:
                c = unbroadcast(densify(c), parent.shape, ndim_of(g) - len(shape))
        if c is not None:
            acc.add(parent, c)


def _pull_checked(node: Node, g: Any, acc: _Accumulator) -> None:
    """Pull ``g`` through a node that is not elementwise, checking each rule's result shape against its
    argument's (batch axes in front; a tuple comparison): a wrong shape would otherwise broadcast
    silently into a wrong gradient further up."""
    nb = ndim_of(g) - len(node.shape)
    for parent, pullback in zip(node.parents, node.vjps):
        c = pullback(g)
        if c is None:
            continue
        if (c.shape if type(c) is NDARRAY else shape_of(c))[nb:] != parent.shape:
            raise _misshapen_cotangent(node, parent, c, g)
        acc.add(parent, c)


def _misshapen_cotangent(node: Node, parent: Node, c: Any, g: Any) -> ValueError:
    """The error for a VJP rule whose cotangent is not shaped like its argument (with g's batch axes)."""
    name = node.prim.name if node.prim is not None else "checkpoint"
    position = [i for i, p in enumerate(node.parents) if p is parent][0]
    batch = tuple(shape_of(g))[:ndim_of(g) - len(node.shape)]
    return ValueError(
        f"the VJP rule of primitive {name!r} for {_argument_name(node, position)} (of shape {parent.shape}) "
        f"returned a cotangent of shape {tuple(shape_of(c))}; it must have shape {batch + parent.shape}: "
        f"the cotangent's batch axes {batch} in front, then the argument's shape. A rule for an argument "
        "that was broadcast must sum the cotangent back to the argument's shape."
    )


def _argument_name(node: Node, position: int) -> str:
    """``argument i`` for the pullback at ``position`` of ``node``, found from the rule that made it
    (its code object is among the rule's constants), else its place among the traced arguments.
    Only used on an error path, so that nodes need not store argument indices."""
    rules = getattr(node.prim, "vjps", None) or ()
    code = getattr(node.vjps[position], "__code__", None)
    for i, rule in enumerate(rules):
        if code is not None and code in getattr(getattr(rule, "__code__", None), "co_consts", ()):
            return f"argument {i}"
    return f"traced argument number {position} (counting only the traced arguments)"


def _arrays_in(obj: Any, found: dict[int, int], depth: int = 0) -> None:
    """Collect (id -> nbytes) of the arrays reachable from a staged VJP's closure cells and defaults."""
    if depth > 4:
        return
    if isinstance(obj, np.ndarray):
        base = obj if obj.base is None else obj.base
        if isinstance(base, np.ndarray):
            found[id(base)] = base.nbytes
        else:
            found[id(obj)] = obj.nbytes
    elif isinstance(obj, np.generic):
        found[id(obj)] = obj.nbytes
    elif isinstance(obj, Tracer):
        _arrays_in(obj.primal, found, depth + 1)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _arrays_in(item, found, depth + 1)
    elif callable(obj):
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                _arrays_in(cell.cell_contents, found, depth + 1)
            except ValueError:  # empty cell
                pass
        _arrays_in(getattr(obj, "__defaults__", None) or (), found, depth + 1)


def memory_report(nodes: Iterable[Node], exclude: Iterable[int] = ()) -> dict:
    """What recorded nodes keep alive for the backward pass.

    ``nodes``: how many operations are recorded; ``saved_bytes``: bytes of the distinct arrays their
    staged VJPs hold (each array counted once, views counted as their base); ``by_primitive``:
    ``{name: {"count": k, "bytes": b}}`` (bytes attributed to the first node that holds an array).
    ``exclude``: ids of arrays not to count (e.g. the ones that existed before the recording: weights).
    """
    seen: set[int] = set(exclude)
    total = 0
    by_primitive: dict[str, dict[str, int]] = {}
    count = 0
    for node in nodes:
        if node.prim is None and not node.parents:
            continue  # an input leaf: nothing saved
        count += 1
        found: dict[int, int] = {}
        for pullback in node.vjps:
            _arrays_in(pullback, found)
        fresh = sum(b for i, b in found.items() if i not in seen)
        seen.update(found)
        total += fresh
        name = node.prim.name if node.prim is not None else "checkpoint"
        entry = by_primitive.setdefault(name, {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += fresh
    return {"nodes": count, "saved_bytes": total, "by_primitive": by_primitive}
