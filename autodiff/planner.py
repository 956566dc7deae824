"""The cost model behind ``jacobian(mode="auto")``: predicted seconds of each mode, from the recorded graph.

A Jacobian of f: Rⁿ → Rᵐ is one batched pass: forward mode pushes k = n directions, reverse mode pulls
k = m. Each recorded operation costs, in each mode, a Python overhead (independent of k: the pass is
batched) plus its share of the arithmetic, which grows with k:

- an elementwise operation of output size s with p traced arguments: ``k·s·p`` element operations
  (the tangent or cotangent times the partial derivative, per argument), plus in reverse mode ``k·s``
  for every extra contribution a value's cotangent sums;
- a matrix product: ``k·(s·q)`` multiply-adds per traced argument (s·q is the product's own flop count,
  q the contracted length read from the argument's shape);
- any other operation: ``k·(s + Σ parent sizes)`` element operations.

Diagonal seeds change the count (``autodiff/structured.py``): a Jacobian's identity seed of a vector with
at least 100 entries stays a registered ``diag(v)`` through elementwise operations (forward mode: from the
input on; reverse mode: from the output back), where an operation costs one ``(s, s)`` array to build
instead of ``k·s·p``, and the next matrix product becomes a row scaling (``k·s`` instead of ``k·s·q``).
That is why the document's rule (n directions against m) fails at some shapes: one direction does not
cost the same in both modes.

So for each mode, time = fixed + k × per-direction, where "fixed" holds the per-call and per-operation
overheads (and the diagonal paths) and "per-direction" the arithmetic that scales with k. The constants
(seconds per operation per mode, per call per mode, per element, per flop) come from :func:`cost_model`:
a ~0.1 s measurement made once per process, on small synthetic functions and arrays (like FFTW's
planner in its estimate mode). ``plan_jacobian(..., measure=True)`` times the real f instead.

This module is layer 3: it imports ``forward`` and ``reverse``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autodiff import heap
from autodiff.structured import IDENTITY_KEPT_BYTES, MIN_SIZE, diagonal_matrix, through_elementwise

__all__ = ["CostModel", "cost_model", "GraphCosts", "graph_costs", "Prediction", "predict", "seconds_of",
           "LARGE_PRODUCT"]

_MATMULS = frozenset({"matmul", "dot", "tensordot", "inner", "vdot"})

LARGE_ARRAY = 2 ** 17
"""Elements (1 MiB of float64) from which a batched array is priced at the memory-bound rate."""

LARGE_PRODUCT = 10 ** 6
"""Multiply-adds from which a batched matrix product is priced at the large-product rate."""


@dataclass(frozen=True)
class CostModel:
    """Seconds per unit of work, measured on this machine (see :func:`cost_model`)."""

    call: dict            # mode -> fixed seconds per Jacobian call (argument handling, seeds, one pass)
    op: dict              # mode -> seconds of overhead per recorded operation
    elem: float           # seconds per element of a batched elementwise operation on cache-sized arrays
    elem_large: float     # the same on arrays of at least LARGE_ARRAY elements (memory-bound)
    fill: float           # seconds per element of a fresh zeroed array (a diagonal batch's (s, s))
    diag_op: float        # seconds of bookkeeping per operation on the diagonal fast path, beyond the fill
    flop: float           # seconds per multiply-add of a small matrix product (one BLAS thread)
    flop_large: float     # the same for a product of at least LARGE_PRODUCT multiply-adds
    transpose: float = 0.0  # seconds per element of a transposing copy (forward mode's result layout)


def _best_time(fn: Callable[[], Any], repeat: int = 5, min_time: float = 0.004) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` runs of about ``min_time`` each."""
    fn()
    start = time.perf_counter()
    fn()
    number = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def _best_times(fns: list, repeat: int = 5, min_time: float = 0.002) -> list[float]:
    """Best seconds per call of each of ``fns``, timed in alternating rounds (they share the load)."""
    numbers = []
    for fn in fns:
        fn()
        start = time.perf_counter()
        fn()
        numbers.append(max(1, int(min_time / max(time.perf_counter() - start, 1e-7))))
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        for i, (fn, number) in enumerate(zip(fns, numbers)):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / number)
    return best


def _calibration_chain(links: int) -> Callable:
    def f(x):
        for _ in range(links):
            x = np.sin(x) * 0.5 + x  # three operations per link, the mix of the comparison's chain
        return x
    return f


_SHORT, _LONG = 1, 13


def _measure_model() -> CostModel:
    from forward.jvp import jacfwd
    from reverse.vjp import jacrev

    x = np.linspace(0.1, 0.3, 3)
    short, long_ = _calibration_chain(_SHORT), _calibration_chain(_LONG)
    call, op = {}, {}
    with heap.tuned():
        fns = [lambda j=t(g): j(x) for t in (jacfwd, jacrev) for g in (short, long_)]
        times = _best_times(fns)
        for i, mode in enumerate(("forward", "reverse")):
            t_short, t_long = times[2 * i], times[2 * i + 1]
            op[mode] = max((t_long - t_short) / (3 * (_LONG - _SHORT)), 1e-7)
            call[mode] = max(t_short - 3 * _SHORT * op[mode], 1e-6)
        a, b = np.full((16, 1024), 0.5), np.full(1024, 2.0)
        big, bigb = np.full((512, 1024), 0.5), np.full(1024, 2.0)
        elem, elem_large = (t / x.size for t, x in zip(
            _best_times([lambda: a * b, lambda: big * bigb]), (a, big)))
        # a diagonal batch is a fresh zeroed (s, s) array; while a tape holds others, its memory is
        # reused heap (memset), not fresh zero pages
        v = np.ones(512)
        fill = _best_time(lambda: [diagonal_matrix(v) for _ in range(8)]) / (8 * 512 ** 2)
        small = diagonal_matrix(np.ones(128))
        diag_op = max(_best_time(lambda: through_elementwise(lambda g: g * 0.5, small, 128))
                      - fill * 128 ** 2, 1e-7)
        # BLAS runs small products on one thread and large ones on several, which on a busy machine can
        # be much slower per flop: two sizes, one each side of LARGE_PRODUCT
        p, q = np.ones((48, 64)), np.ones((64, 48))
        flop = _best_time(lambda: p @ q) / (48 * 64 * 48)
        p, q = np.ones((128, 128)), np.ones((128, 128))
        flop_large = _best_time(lambda: p @ q, repeat=3) / 128 ** 3
        # forward mode's directions come out as the Jacobian's columns: the C-ordered result is a
        # transposing copy, several times the cost per element of a contiguous pass
        square = np.full((384, 384), 0.5)
        transpose = _best_time(lambda: np.ascontiguousarray(square.T), repeat=3) / square.size
    return CostModel(call=call, op=op, elem=elem, elem_large=elem_large, fill=fill, diag_op=diag_op,
                     flop=flop, flop_large=flop_large, transpose=transpose)


_model: CostModel | None = None
_model_lock = threading.Lock()


def cost_model(recalibrate: bool = False) -> CostModel:
    """The process's cost model, measured on first use (about 0.1 s) and kept."""
    global _model
    with _model_lock:
        if _model is None or recalibrate:
            _model = _measure_model()
        return _model


# --------------------------------------------------------------------------------------------------
# The recorded graph, summarised per mode as fixed work and work per direction.
# --------------------------------------------------------------------------------------------------

@dataclass
class GraphCosts:
    """Work of one Jacobian of a recorded f, per mode: ``fixed`` and ``per_direction`` units.

    Units are operations (``ops``), element operations (``elems``, ``fills``) and multiply-adds
    (``flops``); :func:`predict` turns them into seconds with a :class:`CostModel`.
    """

    n: int
    m: int
    nodes: int
    ops: dict
    fixed: dict            # mode -> {"elems": ..., "fills": ..., "flops": ...} independent of k
    per_direction: dict    # mode -> {"elems": ..., "flops": ...} per direction
    diagonal: dict         # mode -> number of operations on the diagonal fast path


def _contracted(parent_shape: tuple, out_shape: tuple) -> int:
    """q of a matrix product with a traced argument of ``parent_shape`` and result ``out_shape``."""
    if len(parent_shape) <= 1:
        return parent_shape[0] if parent_shape else 1
    if tuple(parent_shape[:-1]) == tuple(out_shape[:-1]):   # the left operand: its last axis contracts
        return parent_shape[-1]
    return parent_shape[-2]                                  # the right operand: its second-to-last


def _size(shape: tuple) -> int:
    return math.prod(shape) if shape else 1


def _forward_diagonal(nodes: list, inputs: list) -> set:
    """Nodes whose forward tangent batch is a registered diagonal (ids)."""
    diag = set()
    if len(inputs) == 1 and len(inputs[0].shape) == 1 and inputs[0].shape[0] >= MIN_SIZE:
        diag.add(id(inputs[0]))
    for node in nodes:
        if node.parents and node.elementwise and len(node.shape) == 1 and all(
                id(p) in diag and p.shape == node.shape for p in node.parents):
            diag.add(id(node))
    return diag


def _reverse_diagonal(nodes: list, outputs: list) -> set:
    """Nodes whose reverse cotangent batch is a registered diagonal (ids)."""
    consumers: dict[int, list] = {}
    for node in nodes:
        for p in node.parents:
            consumers.setdefault(id(p), []).append(node)
    diag = set()
    if len(outputs) == 1 and outputs[0] is not None and len(outputs[0].shape) == 1 \
            and outputs[0].shape[0] >= MIN_SIZE and id(outputs[0]) not in consumers:
        diag.add(id(outputs[0]))
    for node in reversed(nodes):
        users = consumers.get(id(node))
        if users and all(id(u) in diag and u.elementwise and u.shape == node.shape for u in users):
            diag.add(id(node))
    return diag


def _elems(batched_size: int) -> str:
    """The work bucket of an elementwise pass over a batched array of this many elements."""
    return "elems" if batched_size < LARGE_ARRAY else "elems_large"


def _node_work(node: Any, k_mode: str, k: int, diag_in: bool, diag_self: bool) -> tuple[dict, dict]:
    """(fixed, per-direction) work units of one node in one mode with k directions."""
    s = _size(node.shape)
    name = node.prim.name if node.prim is not None else ""
    p = len(node.parents)
    fixed = {"elems": float(s * p), "fills": 0.0, "flops": 0.0}     # partials / primal, once
    per = {"elems": 0.0, "elems_large": 0.0, "flops": 0.0, "flops_large": 0.0}
    if name in _MATMULS:
        q = max(_contracted(par.shape, node.shape) for par in node.parents)
        fixed["flops"] += s * q
        if diag_in:   # a product with a diagonal batch is a row scaling
            size = s if k_mode == "forward" else max(_size(par.shape) for par in node.parents)
            per[_elems(k * size)] += size
        else:
            per["flops" if k * s * q * p < LARGE_PRODUCT else "flops_large"] += s * q * p
    elif node.elementwise:
        if diag_self:     # one diag(v) built per argument
            fixed["fills"] += s * s * p
            fixed["elems"] += 2 * s
        else:
            per[_elems(k * s)] += s * p
    else:
        size = s + sum(_size(par.shape) for par in node.parents)
        per[_elems(k * size)] += size
    return fixed, per


def graph_costs(nodes: list, inputs: list, outputs: list, n: int, m: int,
                directions: dict | None = None) -> GraphCosts:
    """The work of each mode for the recorded ``nodes`` (inputs: leaf nodes; outputs: output nodes).

    ``directions`` (mode -> k) defaults to n forward and m reverse.
    """
    ks = directions or {"forward": n, "reverse": m}
    computed = [node for node in nodes if node.parents]
    fdiag = _forward_diagonal(computed, inputs)
    rdiag = _reverse_diagonal(computed, outputs)
    fixed = {mode: {"elems": 0.0, "fills": 0.0, "flops": 0.0} for mode in ("forward", "reverse")}
    per = {mode: {"elems": 0.0, "elems_large": 0.0, "flops": 0.0, "flops_large": 0.0}
           for mode in ("forward", "reverse")}
    uses: dict[int, int] = {}
    for node in computed:
        for par in node.parents:
            uses[id(par)] = uses.get(id(par), 0) + 1
        for mode, diag_in, diag_self in (
                ("forward", all(id(par) in fdiag for par in node.parents), id(node) in fdiag),
                ("reverse", id(node) in rdiag, id(node) in rdiag)):
            f_work, p_work = _node_work(node, mode, ks[mode], diag_in, diag_self)
            for key, value in f_work.items():
                fixed[mode][key] += value
            for key, value in p_work.items():
                per[mode][key] += value
    # reverse mode sums the cotangents of a value used several times: one batched add per extra use
    for node in computed + list(inputs):
        extra = uses.get(id(node), 0) - 1
        if extra > 0 and id(node) not in rdiag:
            per["reverse"][_elems(ks["reverse"] * _size(node.shape))] += extra * _size(node.shape)
        elif extra > 0:   # a sum of diagonal batches is one more diag(v)
            fixed["reverse"]["fills"] += extra * _size(node.shape) ** 2
    _add_seeds_and_result(fixed, inputs, outputs, fdiag, rdiag, n, m)
    return GraphCosts(n=n, m=m, nodes=len(computed), ops={"forward": len(computed), "reverse": len(computed)},
                      fixed=fixed, per_direction=per,
                      diagonal={"forward": len(fdiag), "reverse": len(rdiag)})


def _add_seeds_and_result(fixed: dict, inputs: list, outputs: list, fdiag: set, rdiag: set, n: int,
                          m: int) -> None:
    """Add to ``fixed`` the work of the seeds and of the result (n·m entries, assembled once).

    A seed is an (n, n) identity batch, dense or a registered diagonal, except a small identity,
    which is built once and kept (``structured.identity_matrix``). Reverse mode's cotangents are the
    Jacobian's rows; forward mode's tangents are its columns, which the C-ordered result transposes —
    unless they came out column-major (a product with a diagonal seed last).
    """
    if not _kept_identity(inputs, fdiag, n):
        fixed["forward"]["fills"] += n * n
    if not _kept_identity(outputs, rdiag, m):
        fixed["reverse"]["fills"] += m * m
    fixed["reverse"]["elems"] += n * m
    if _forward_column_major(outputs, fdiag):
        fixed["forward"]["elems"] += n * m
    else:
        fixed["forward"]["transposed"] = float(n * m)


def _kept_identity(ends: list, diagonal: set, k: int) -> bool:
    """True when a mode's seed is the kept identity: one vector leaf whose seed is a registered diagonal
    (``diagonal``), small enough to be kept (float64 assumed)."""
    return len(ends) == 1 and ends[0] is not None and id(ends[0]) in diagonal \
        and k * k * 8 <= IDENTITY_KEPT_BYTES


def _forward_column_major(outputs: list, fdiag: set) -> bool:
    """True when forward mode's one output tangent comes out column-major, so that the Jacobian needs no
    transposing copy: a matrix product of a diagonal batch (a row scaling) followed by elementwise
    operations of that one traced value only (NumPy keeps their arguments' layout)."""
    if len(outputs) != 1 or outputs[0] is None:
        return False
    node = outputs[0]
    while node.parents and node.elementwise and len(node.parents) == 1 and id(node) not in fdiag:
        node = node.parents[0]
    name = node.prim.name if node.prim is not None else ""
    return name in _MATMULS and all(id(p) in fdiag for p in node.parents)


@dataclass
class Prediction:
    """Predicted seconds of one mode: ``fixed + directions * per_direction``."""

    mode: str
    directions: int
    fixed: float
    per_direction: float

    @property
    def seconds(self) -> float:
        return self.fixed + self.directions * self.per_direction


def seconds_of(work: dict, model: CostModel) -> float:
    """Seconds of a work dict (elems, fills, transposed, flops, flops_large) under ``model``."""
    return (work.get("elems", 0.0) * model.elem + work.get("elems_large", 0.0) * model.elem_large
            + work.get("fills", 0.0) * model.fill + work.get("transposed", 0.0) * model.transpose
            + work.get("flops", 0.0) * model.flop + work.get("flops_large", 0.0) * model.flop_large)


def predict(costs: GraphCosts, model: CostModel) -> dict[str, Prediction]:
    """Predicted time of each pure mode for a graph, with the given cost model."""
    out = {}
    for mode, k in (("forward", costs.n), ("reverse", costs.m)):
        fixed = (model.call[mode] + costs.ops[mode] * model.op[mode] + costs.diagonal[mode] * model.diag_op
                 + seconds_of(costs.fixed[mode], model))
        out[mode] = Prediction(mode, k, fixed, seconds_of(costs.per_direction[mode], model))
    return out
