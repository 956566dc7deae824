"""Mixed mode: a Jacobian split at a narrow waist of the recorded graph, J_f = J_g · J_h.

For an hourglass f = g ∘ h: Rⁿ → R^w → Rᵐ with w much smaller than n and m, both pure modes are slow
(n or m directions through the whole of f) while the chain rule needs only w directions on each side:
J_h (w × n) by reverse mode — w cotangents pulled from the waist back to the inputs — and J_g (m × w)
by forward mode — w tangents pushed from the waist to the outputs. Each side is computed in the mode
that needs fewer directions there (the waist is narrower than both ends), and the chain is multiplied
from the waist outwards: the seed's "forward and reverse differ in where the multiplication starts",
and here it starts in the middle. The product J_g · J_h costs m·w·n multiply-adds.

How forward mode is run from an intermediate of a recorded graph: the map u ↦ J_gᵀ u (the backward
sweep from the outputs to the waist, stopped there) is linear, and its transpose is v ↦ J_g v; so the
sweep is itself recorded on a second tape (reverse over reverse), and the w basis vectors at the waist
are pulled back through that record in one batched pass. Exact: no finite differences anywhere.

The waist is found in the recorded graph: a node, not an input or an output, through which every path
from an input to an output passes (removing it disconnects them), and whose size is at most
``WAIST_FRACTION`` of min(n, m); the smallest such node is taken.

This module is layer 3: it imports ``reverse``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from autodiff.batching import Inputs, contiguous, prepare
from autodiff.planner import LARGE_PRODUCT, CostModel, GraphCosts, graph_costs, seconds_of
from autodiff.pytree import tree_flatten, tree_unflatten
from reverse.tape import backward
from reverse.vjp import Recording

__all__ = ["find_waist", "mixed_jacobian", "mixed_at", "jacobian_at_waist", "predict_mixed", "WAIST_FRACTION"]

WAIST_FRACTION = 0.25
"""A waist must be at most this fraction of min(n, m) (else a pure mode is as good)."""

_MAX_CANDIDATES = 16


def _size(shape: tuple) -> int:
    return math.prod(shape) if shape else 1


def _separates(waist: Any, inputs: list, outputs: set, children: dict) -> bool:
    """True if no output is reachable from an input without passing through ``waist``."""
    seen = {id(waist)}
    stack = [node for node in inputs if id(node) not in seen]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        if id(node) in outputs:
            return False
        seen.add(id(node))
        stack.extend(children.get(id(node), ()))
    return True


def _has_complex(nodes: list) -> bool:
    """True if a recorded value is complex.

    With real inputs, a complex value is born where an operation on a real traced value returns a
    complex result, and the tape wraps that node's pullback to take the real part
    (``reverse.tape._real_part``, whose closure is named ``real_pullback``); every later complex value
    descends from such a node.
    """
    return any(getattr(v, "__name__", "") == "real_pullback" for node in nodes for v in node.vjps)


def find_waist(rec: Recording, n: int, m: int) -> Any:
    """The narrowest node of ``rec`` that separates its inputs from its outputs, or None.

    Only nodes of size at most ``WAIST_FRACTION * min(n, m)`` count. A graph with a complex value
    anywhere has none: mixed mode is written for real Jacobians (a complex waist is two real numbers
    per entry, and its real seed would see only one of them).
    """
    nodes = rec.tape.nodes or []
    if any(np.iscomplexobj(v) for v in list(rec.values) + list(rec.inputs)) or _has_complex(nodes):
        return None
    outputs = {id(node) for node in rec.out_nodes if node is not None}
    if not outputs:
        return None
    limit = WAIST_FRACTION * min(n, m)
    inputs = set(id(node) for node in rec.in_nodes)
    candidates = [node for node in nodes if node.parents and id(node) not in outputs
                  and id(node) not in inputs and _size(node.shape) <= limit]
    if not candidates:
        return None
    children: dict[int, list] = {}
    for node in nodes:
        for parent in node.parents:
            children.setdefault(id(parent), []).append(node)
    candidates.sort(key=lambda node: _size(node.shape))
    for node in candidates[:_MAX_CANDIDATES]:
        if _separates(node, rec.in_nodes, outputs, children):
            return node
    return None


def _basis(shape: tuple, dtype: Any) -> np.ndarray:
    size = _size(shape)
    return np.eye(size, dtype=dtype).reshape((size,) + tuple(shape))


def jacobian_at_waist(rec: Recording, waist: Any) -> tuple[list, list]:
    """(J_g per output leaf, J_h per input leaf), each with the waist's size w as its leading axis.

    J_h[j] has shape ``(w,) + x_j.shape`` (reverse mode: w cotangents from the waist to the inputs);
    J_g[i] has shape ``(w,) + y_i.shape`` (the transposed sweep from the outputs to the waist).
    """
    dtype = _float(np.result_type(*[v.dtype for v in rec.values], *[x.dtype for x in rec.inputs]))
    seed = _basis(waist.shape, dtype)
    w = seed.shape[0]
    got = backward([(waist, seed)], rec.in_nodes)
    jh = [got.get(node) if got.get(node) is not None else np.zeros((w,) + np.shape(x), dtype=x.dtype)
          for node, x in zip(rec.in_nodes, rec.inputs)]

    zeros = [np.zeros(np.shape(v), dtype=_float(v.dtype)) for v in rec.values]

    def sweep_to_waist(*cotangents):
        """u ↦ J_gᵀ u: the backward sweep from the outputs, stopped at the waist (linear in u)."""
        seeds = [(node, u) for node, u in zip(rec.out_nodes, cotangents) if node is not None]
        reached = backward(seeds, [waist]).get(waist)
        return np.zeros(waist.shape, dtype=dtype) if reached is None else reached

    # Stop the sweep at the waist: without its parents, nothing behind it is visited.
    parents, vjps = waist.parents, waist.vjps
    waist.parents, waist.vjps = (), ()
    try:
        transposed = Recording(sweep_to_waist, tree_flatten(tuple(zeros))[1], zeros)
    finally:
        waist.parents, waist.vjps = parents, vjps
    jg = transposed.pull([seed], (w,))
    return jg, jh


def _float(dtype: Any) -> Any:
    return dtype if np.issubdtype(dtype, np.inexact) else np.float64


def _product(jg: np.ndarray, jh: np.ndarray, yshape: tuple, xshape: tuple) -> np.ndarray:
    """The block ∂y/∂x = J_g J_h, shape ``y.shape + x.shape``: one (m × w)(w × n) product."""
    w = jg.shape[0]
    return (jg.reshape(w, -1).T @ jh.reshape(w, -1)).reshape(tuple(yshape) + tuple(xshape))


def mixed_jacobian(f: Callable, argnums: int | tuple[int, ...] = 0,
                   on_no_waist: Callable | None = None) -> Callable:
    """The Jacobian of f split at the narrowest waist of its recorded graph (see the module's text).

    Same result and shapes as ``jacfwd``/``jacrev``. Where f's graph has no narrow waist, calls
    ``on_no_waist(*args, **kwargs)`` if given, else raises ValueError.
    """
    def jacobian_fn(*args, **kwargs):
        inputs = prepare(f, args, kwargs, argnums)
        if on_no_waist is None:
            return mixed_at(inputs)
        return mixed_at(inputs, fallback=lambda: on_no_waist(*args, **kwargs))

    return jacobian_fn


def mixed_at(inputs: Inputs, rec: Recording | None = None, fallback: Callable | None = None) -> Any:
    """The mixed-mode Jacobian of ``inputs.fun`` at ``inputs.flat`` (``autodiff.batching.Inputs``).

    ``rec``: a recording of it at exactly these inputs with ``keep_nodes=True`` (the planner's), used
    instead of recording f again. Without a narrow waist: ``fallback()`` if given, else ValueError.
    """
    flat = inputs.flat
    if rec is None:
        rec = Recording(inputs.fun, inputs.in_tree, flat, keep_nodes=True)
    n = inputs.n
    m = sum(int(np.size(v)) for v in rec.values)
    waist = find_waist(rec, n, m)
    if waist is None:
        if fallback is not None:
            return fallback()
        raise ValueError(
            f"mode='mixed' needs a narrow waist in f's graph: an intermediate of at most "
            f"{WAIST_FRACTION:g} x min(n, m) = {WAIST_FRACTION * min(n, m):g} entries through which "
            f"every input-to-output path passes (real inputs and outputs); f (n = {n}, m = {m}) has "
            f"none. Use mode='auto'.")
    jg, jh = jacobian_at_waist(rec, waist)
    per_out = []
    for value, jg_i in zip(rec.values, jg):
        blocks = [contiguous(_product(jg_i, jh_j, np.shape(value), np.shape(x))) for jh_j, x in zip(jh, flat)]
        per_out.append(inputs.nest(blocks))
    return tree_unflatten(rec.out_tree, per_out)


def _ancestors(waist: Any) -> set:
    seen, stack = set(), [waist]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.parents)
    return seen


def predict_mixed(rec: Recording, waist: Any, costs: GraphCosts, model: CostModel) -> tuple[float, float]:
    """(fixed, per-direction) predicted seconds of the mixed Jacobian; the directions are the waist's size.

    One recording of f; a reverse sweep over the part before the waist (h) with w directions; a
    recorded sweep over the part after it (g: about two traced operations per node) and its batched
    transpose with w directions; the product (m·w·n multiply-adds).
    """
    nodes = [node for node in rec.tape.nodes or [] if node.parents]
    before = _ancestors(waist)
    h_nodes = [node for node in nodes if id(node) in before]
    g_nodes = [node for node in nodes if id(node) not in before]
    w = _size(waist.shape)
    # per-direction work of each part, priced as reverse mode with w directions (no diagonal seeds)
    h_costs = graph_costs(h_nodes, [], [], 0, 0, {"forward": w, "reverse": w})
    g_costs = graph_costs(g_nodes, [], [], 0, 0, {"forward": w, "reverse": w})
    per = sum(seconds_of(c.per_direction["reverse"], model) for c in (h_costs, g_costs))
    fixed = (2 * model.call["reverse"] + model.op["reverse"] * (len(nodes) + 2 * len(g_nodes))
             + seconds_of(costs.fixed["reverse"], model) + seconds_of(g_costs.fixed["reverse"], model))
    product = costs.n * costs.m * w
    fixed += product * (model.flop if product < LARGE_PRODUCT else model.flop_large)
    return fixed, per
