"""The Jacobian helper: predict each mode's time for this f at these shapes, pick the faster, say why.

For f: Rⁿ → Rᵐ, forward mode gets the Jacobian from n JVP directions and reverse mode from m VJP
directions; both push (pull) all their directions through ONE batched pass (``forward.jacfwd``,
``reverse.jacrev``). The document's rule takes forward mode when n < m: right when one direction costs
the same in both modes and the fixed costs are small. :func:`plan_jacobian` predicts instead —
directions × the cost of one direction in that mode + the mode's fixed cost, from the recorded graph
and a cost model measured once per process (``autodiff/planner.py``) — and considers mixed mode where
the graph has a narrow waist (``autodiff/mixed.py``). ``jacobian(mode="auto")`` takes the plan's mode.
Memory differs too: forward mode carries n tangents per intermediate but keeps nothing, reverse mode
keeps the tape's intermediates and carries m cotangents per node; the plan estimates both.

Every transformation here runs with the tuned heap (``autodiff/heap.py``).

This module is layer 3: it imports ``forward`` and ``reverse`` (which never import each other).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import types
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from autodiff import heap
from autodiff.batching import Inputs, identity_seeds, prepare
from autodiff.core import lower
from autodiff.executor import check_executor
from autodiff.mixed import find_waist, mixed_at, mixed_jacobian, predict_mixed
from autodiff.planner import _best_time, cost_model, graph_costs, predict
from autodiff.pytree import ONE_ARGUMENT, tree_flatten
from forward.jvp import forward_jacobian, jacfwd, jvp, one_float_array, push_forward
from reverse.tape import memory_report
from reverse.vjp import Recording, grad, grad_of_float_array, jacrev, reverse_jacobian, value_and_grad

__all__ = ["jacobian", "plan_jacobian", "JacobianPlan", "hessian", "hvp", "DEFAULT_MEMORY_BUDGET"]

_MODES = ("auto", "forward", "reverse", "mixed")

DEFAULT_MEMORY_BUDGET = 256 * 2**20
"""Bytes one pass may use when ``chunk_size="auto"`` (256 MiB), unless a budget is given."""

# Memory model, calibrated against tracemalloc (tests/test_jacobian.py checks it within a factor 2).
# While a rule runs, one to four arrays of the widest intermediate's size are alive in batched form
# (the incoming tangent or cotangent, the rule's temporaries, its result, a sum of contributions);
# two is within a factor 2 of either end.
_LIVE_COPIES = 2
# Python objects of one recorded operation (node, tracer, staged closure), beyond its arrays.
_NODE_OVERHEAD = 600


def _rule(n: int, m: int) -> str:
    """The document's rule (SPEC 5): forward mode when n < m, reverse otherwise."""
    return "forward" if n < m else "reverse"


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")


def _check_chunk(chunk_size: Any) -> None:
    if chunk_size is None or chunk_size == "auto":
        return
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, None or 'auto', got {chunk_size!r}.")


def _signature(args: tuple, kwargs: dict) -> Any:
    """A hashable key for the shapes of a call (and the values of its non-array arguments), or None."""
    leaves, tree = tree_flatten((args, kwargs))
    key: list[Any] = [tree]
    for leaf in leaves:
        shape = getattr(leaf, "shape", None)
        if shape is not None:
            key.append((tuple(shape), str(getattr(leaf, "dtype", ""))))
            continue
        try:
            hash(leaf)
        except TypeError:
            return None
        key.append((type(leaf), leaf))
    return tuple(key)


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0, *, mode: str = "auto",
             chunk_size: int | str | None = None, executor: Any = None,
             memory_budget: int | None = None, progress: bool = False) -> Callable:
    """The Jacobian of f, J[i, j] = ∂f_i/∂x_j, by the mode predicted to be fastest for f at these shapes.

    ``mode="auto"`` takes :func:`plan_jacobian`'s choice: each mode's time predicted from f's recorded
    graph (directions × cost of one direction + fixed cost), and mixed mode where the graph has a
    narrow waist. The plan is made on the first call for each input shape (one recorded evaluation
    of f, which reverse and mixed mode then pull from: they evaluate f no second time) and kept.
    ``"forward"`` / ``"reverse"`` / ``"mixed"`` force a mode ("mixed" raises ValueError when f's graph
    has no narrow waist). ``chunk_size=k`` does k directions per pass; ``chunk_size="auto"`` takes the
    chunk that keeps a pass under ``memory_budget`` bytes (default 256 MiB). The result for output y
    and input x has shape ``y.shape + x.shape``, a C-contiguous array in every mode. Runs with the
    tuned heap (``autodiff.heap.tuned``). ``executor=`` runs the forward or reverse chunks as tasks
    (see :func:`forward.jacfwd`); mixed mode's two small Jacobians run in this process.
    """
    _check_mode(mode)
    _check_chunk(chunk_size)
    check_executor(executor)
    fixed_chunk = None if chunk_size == "auto" or chunk_size is None else int(chunk_size)
    modes_seen: dict[Any, str] = {}

    def jacobian_fn(*args, **kwargs):
        with heap.tuned():
            inputs = prepare(f, args, kwargs, argnums)      # once, for the plan and the mode alike
            rec = None
            if chunk_size == "auto":
                plan, rec = _plan(f, args, kwargs, argnums, memory_budget, inputs=inputs)
                chosen = plan.mode if mode == "auto" else mode
                chunk = plan.chunk_sizes.get(chosen)
            elif mode == "auto":
                chosen, rec = _auto_mode(f, args, kwargs, argnums, modes_seen, inputs)
                chunk = fixed_chunk
            else:
                chosen, chunk = mode, fixed_chunk
            if chosen == "forward":
                return forward_jacobian(inputs, chunk, executor, progress)
            if chosen == "reverse":
                return reverse_jacobian(inputs, chunk, executor, progress, recording=rec)
            return mixed_at(inputs, rec)

    return jacobian_fn


def _auto_mode(f: Callable, args: tuple, kwargs: dict, argnums: Any, modes_seen: dict,
               inputs: Inputs) -> tuple[str, Recording | None]:
    """The plan's mode for this call, made once per shape signature (one recorded evaluation), and
    that recording when it was made by this call (else None)."""
    key = _fast_key(args, kwargs)
    if key is None:
        key = _signature(args, kwargs)
    chosen = modes_seen.get(key) if key is not None else None
    if chosen is not None:
        return chosen, None
    plan, rec = _plan(f, args, kwargs, argnums, None, inputs=inputs)
    if key is not None and len(modes_seen) < 64:
        modes_seen[key] = plan.mode
    return plan.mode, rec


def _fast_key(args: tuple, kwargs: dict) -> Any:
    """The cache key of a call with only ndarray arguments (the common case), without flattening."""
    if kwargs:
        return None
    key = []
    for a in args:
        if type(a) is not np.ndarray:
            return None
        key.append((a.shape, a.dtype.char))
    return ("fast", *key)


# --------------------------------------------------------------------------------------------------
# The plan: what each mode costs, measured from one recorded evaluation.
# --------------------------------------------------------------------------------------------------

def _fmt_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} GiB"  # pragma: no cover


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-5:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass
class JacobianPlan:
    """What computing one Jacobian costs in each mode, and the mode ``jacobian(mode="auto")`` picks.

    ``mode`` is the mode with the smallest ``predicted`` seconds; ``rule_mode`` is the document's rule
    (forward iff n < m); ``reason`` says why, and where the two differ, why. ``predicted[mode]`` is
    ``predicted_fixed[mode] + directions * predicted_per_direction[mode]`` (the directions are n
    forward, m reverse, and the waist's size for "mixed", which is considered only where f's graph has
    a narrow waist, ``waist_size``). ``measured`` tells whether the figures were timed on f
    (``plan_jacobian(..., measure=True)``) or estimated from the graph.

    ``passes[mode]`` counts directions (n JVP directions forward, m VJP directions reverse; with a chunk
    of k, ceil(n/k) resp. ceil(m/k) batched passes). ``memory[mode]`` is the estimated peak of extra
    bytes of one unchunked Jacobian: forward mode's tangents (n per element of the widest intermediate)
    and the result; reverse mode's tape (``tape_bytes``, measured), its cotangents (m per element of
    the widest intermediate) and the result. ``chunk_sizes[mode]`` is the largest chunk whose pass
    stays under ``memory_budget``.
    """

    n_inputs: int
    n_outputs: int
    mode: str
    reason: str
    rule_mode: str = ""
    predicted: dict = field(default_factory=dict)
    predicted_fixed: dict = field(default_factory=dict)
    predicted_per_direction: dict = field(default_factory=dict)
    measured: bool = False
    waist_size: int | None = None
    diagonal_ops: dict = field(default_factory=dict)
    passes: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    per_direction_bytes: dict = field(default_factory=dict)
    fixed_bytes: dict = field(default_factory=dict)
    chunk_sizes: dict = field(default_factory=dict)
    tape_bytes: int = 0
    tape_new_bytes: int = 0
    tape_nodes: int = 0
    result_bytes: int = 0
    widest: dict = field(default_factory=dict)
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    sparsity: dict | None = None

    @property
    def chunk_size(self) -> int:
        """Directions per pass for the chosen mode under the memory budget."""
        return self.chunk_sizes[self.mode]

    def memory_for(self, mode: str, chunk_size: int | None = None) -> int:
        """Estimated peak extra bytes of a Jacobian in ``mode`` doing ``chunk_size`` directions a pass."""
        if mode == "mixed":
            return self.memory[mode]
        total = self.n_inputs if mode == "forward" else self.n_outputs
        k = total if chunk_size is None else max(1, min(chunk_size, total))
        fixed = self.fixed_bytes[mode]
        extra_result = self.result_bytes if k < total else 0  # chunks are concatenated at the end
        return fixed + extra_result + k * self.per_direction_bytes[mode]

    def _modes(self) -> list[str]:
        return [mode for mode in ("forward", "reverse", "mixed") if mode in self.predicted]

    def _rows(self) -> list[tuple[str, ...]]:
        modes = self._modes()
        how = "timed" if self.measured else "predicted"
        rows = [
            ("directions",) + tuple({"forward": f"{self.passes['forward']} JVP (n)",
                                     "reverse": f"{self.passes['reverse']} VJP (m)",
                                     "mixed": f"{self.waist_size} each side of the waist"}[m]
                                    for m in modes),
            (f"time ({how})",) + tuple(
                f"{_fmt_time(self.predicted[m])} = {_fmt_time(self.predicted_fixed[m])} + "
                f"{self.passes[m]} x {_fmt_time(self.predicted_per_direction[m])}" for m in modes),
            ("evaluations of f",) + tuple({"forward": "1 (carries the tangents)",
                                           "reverse": "1 recorded + 1 backward sweep",
                                           "mixed": "1 recorded + 2 sweeps"}[m] for m in modes),
            ("kept for the backward pass",) + tuple(
                "nothing" if m == "forward" else
                f"{self.tape_nodes} nodes, {_fmt_bytes(self.tape_bytes)} "
                f"({_fmt_bytes(self.tape_new_bytes)} new)" for m in modes),
            ("peak memory, one pass",) + tuple(_fmt_bytes(self.memory[m]) for m in modes),
            (f"chunk under {_fmt_bytes(self.memory_budget)}",)
            + tuple(str(self.chunk_sizes[m]) for m in modes),
        ]
        return rows

    def __str__(self) -> str:
        head = (f"JacobianPlan: n = {self.n_inputs} inputs, m = {self.n_outputs} outputs -> "
                f"{self.mode} mode (the rule's: {self.rule_mode})\n  {self.reason}\n")
        if self.sparsity is not None:
            s = self.sparsity
            head += (f"  sparse: {s['nnz']} non-zeros; colors: forward {s['n_colors_forward']}, reverse "
                     f"{s['n_colors_reverse']}, bidirectional {s['n_passes_bidirectional']}\n")
        rows = [("",) + tuple(self._modes())] + self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return head + "\n".join(lines)

    def __repr__(self) -> str:
        predicted = ", ".join(f"{m!r}: {self.predicted[m]:.3g}" for m in self._modes())
        return (f"JacobianPlan(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, mode={self.mode!r}, "
                f"rule_mode={self.rule_mode!r}, predicted={{{predicted}}}, "
                f"memory={{'forward': {self.memory['forward']}, 'reverse': {self.memory['reverse']}}}, "
                f"chunk_size={self.chunk_size})")

    def _repr_html_(self) -> str:
        cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in self._rows())
        heads = "".join(f"<th>{m}</th>" for m in self._modes())
        return (f"<p><b>JacobianPlan</b>: n = {self.n_inputs}, m = {self.n_outputs} &rarr; "
                f"<b>{self.mode}</b> mode (the rule's: {self.rule_mode}). {self.reason}</p>"
                f"<table><tr><th></th>{heads}</tr>{cells}</table>")


_plan_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_plan_cache_lock = threading.Lock()


def plan_jacobian(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0,
                  memory_budget: int | None = None, measure: bool = False, sparsity: bool = True,
                  **kwargs: Any) -> JacobianPlan:
    """Each mode's predicted time and memory for f's Jacobian at ``args``, and the mode "auto" picks.

    One recorded evaluation of f gives the output size m, the operations with their shapes, flop
    counts and diagonal fast paths (``autodiff.planner``), and the bytes the tape keeps
    (``reverse.tape.memory_report``). Predicted time of a mode = its directions × the cost of one
    direction + its fixed cost, priced with a cost model measured once per process; with
    ``measure=True`` each mode is timed on f instead (the whole Jacobian where it is predicted to take
    under 50 ms, else a probe chunk of 16 directions, scaled by the model). Mixed mode is considered
    where the graph has a narrow waist. The plan is cached per f and shape signature. Memory: each
    mode's peak and the largest chunk of directions per pass under ``memory_budget`` bytes.

    With ``sparsity=True`` (the default) the Jacobian's pattern is detected too (an index-set trace,
    :func:`autodiff.jacobian_sparsity`): when coloring needs fewer passes than either dense mode,
    ``plan.sparsity`` holds nnz, density and the colors of each mode (forward, reverse,
    bidirectional), and the reason says what :func:`autodiff.sparse_jacobian` would save. Keyword
    arguments other than ``argnums``, ``memory_budget``, ``measure`` and ``sparsity`` are passed to f.
    """
    plan = _plan(f, args, kwargs, argnums, memory_budget, measure)[0]
    if not sparsity:
        return plan
    with _plan_cache_lock:
        known = _with_sparsity.get(id(plan))
    if known is not None and known[0]() is plan:
        return known[1]
    summary = _sparsity_summary(f, args, kwargs, argnums)
    full = plan
    if summary["sparse_pays"]:
        reason = f"{plan.reason} {_sparse_sentence(summary)}"
        full = dataclasses.replace(plan, sparsity=summary, reason=reason)
    with _plan_cache_lock:      # kept as long as the cached dense plan lives
        _with_sparsity[id(plan)] = (weakref.ref(plan), full)
    weakref.finalize(plan, _with_sparsity.pop, id(plan), None)
    return full


# id of a cached plan -> (a weak reference to it, the same plan with its sparsity report): the pattern
# is detected once per cached plan (plans compare by value, so they cannot be weak dictionary keys).
_with_sparsity: dict[int, tuple[Any, JacobianPlan]] = {}


def _sparsity_summary(f: Callable, args: tuple, kwargs: dict, argnums: Any) -> dict:
    """nnz, density and the passes of each mode with coloring (autodiff.sparsity.pattern_summary)."""
    from autodiff.sparsity import pattern_summary  # L3 like this module; loaded only when asked

    g = functools.partial(f, **kwargs) if kwargs else f
    return pattern_summary(g, *args, argnums=argnums)


def _sparse_sentence(s: dict) -> str:
    passes = f"{s['n_colors_forward']} JVPs (column colors) or {s['n_colors_reverse']} VJPs (row colors)"
    if s.get("n_passes_bidirectional") is not None:
        passes += f" or {s['n_passes_bidirectional']} passes of both"
    return (f"The Jacobian is sparse ({s['nnz']} non-zeros, density {s['density']:.2g}): "
            f"sparse_jacobian would need {passes} instead of {s['n_inputs']} JVPs or {s['n_outputs']} VJPs.")


def _plan(f: Callable, args: tuple, kwargs: dict, argnums: Any, memory_budget: int | None,
          measure: bool = False, inputs: Inputs | None = None) -> tuple[JacobianPlan, Recording | None]:
    """The plan for f at these shapes (cached per f and shape signature), and the recording it was
    made from when this call made it and it is of the very inputs given (else None)."""
    key = _signature(args, kwargs)
    if key is not None:
        key = (key, argnums if isinstance(argnums, int) else tuple(argnums), memory_budget, measure)
        try:
            with _plan_cache_lock:
                plan = _plan_cache.get(f, {}).get(key)
        except TypeError:   # f cannot be weakly referenced: no cache
            key = None
            plan = None
        if plan is not None:
            return plan, None
    if inputs is None:
        inputs = prepare(f, args, kwargs, argnums)
    with heap.tuned():
        plan, rec = _make_plan(f, args, kwargs, argnums, inputs, memory_budget, measure)
    if key is not None:
        with _plan_cache_lock:
            per_f = _plan_cache.setdefault(f, {})
            if len(per_f) < 32:
                per_f[key] = plan
    return plan, rec


def _make_plan(f: Callable, args: tuple, kwargs: dict, argnums: Any, inputs: Inputs,
               memory_budget: int | None, measure: bool) -> tuple[JacobianPlan, Recording | None]:
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    g, in_tree = inputs.fun, inputs.in_tree
    # The plan is made on the values: an outer transformation's tracers are looked through.
    flat = [lower(x) for x in inputs.flat]
    rec = Recording(g, in_tree, flat, keep_nodes=True)
    nodes = rec.tape.nodes or []
    n = inputs.n
    m = sum(int(np.size(v)) for v in rec.values)
    memory = _memory(f, args, kwargs, rec, nodes, flat, n, m, budget)
    costs = graph_costs(nodes, rec.in_nodes, rec.out_nodes, n, m)
    model = cost_model()
    pure = predict(costs, model)
    fixed = {mode: p.fixed for mode, p in pure.items()}
    per = {mode: p.per_direction for mode, p in pure.items()}
    passes = {"forward": n, "reverse": m}
    waist = find_waist(rec, n, m) if len(nodes) <= _MAX_WAIST_SEARCH else None
    if waist is not None:
        fixed["mixed"], per["mixed"] = predict_mixed(rec, waist, costs, model)
        passes["mixed"] = int(np.prod(waist.shape, dtype=int))
        memory["memory"]["mixed"] = memory["fixed_bytes"]["reverse"] + passes["mixed"] * (n + m) * 16
        memory["chunk_sizes"]["mixed"] = passes["mixed"]
    if measure:
        fixed, per = _measure_modes(f, g, args, kwargs, argnums, in_tree, flat, rec, passes, fixed, per)
    predicted = {mode: fixed[mode] + passes[mode] * per[mode] for mode in fixed}
    mode = min(predicted, key=predicted.__getitem__)
    rule = _rule(n, m)
    reason = _reason(n, m, mode, rule, predicted, fixed, per, passes, costs.diagonal, measure,
                     memory["tape_bytes"])
    plan = JacobianPlan(
        n_inputs=n, n_outputs=m, mode=mode, reason=reason, rule_mode=rule, predicted=predicted,
        predicted_fixed=fixed, predicted_per_direction=per, measured=measure,
        waist_size=passes.get("mixed"), diagonal_ops=costs.diagonal, passes=passes, **memory)
    # reusable by the chosen mode only if it recorded the very inputs (no outer tracer looked through)
    reusable = all(a is b for a, b in zip(flat, inputs.flat))
    return plan, (rec if reusable else None)


# A waist search visits the graph once per candidate: skip it for very long recordings.
_MAX_WAIST_SEARCH = 20000
_PROBE = 16
_TIME_WHOLE_BELOW = 0.05


def _measure_modes(f, g, args, kwargs, argnums, in_tree, flat, rec, passes, fixed, per):
    """Timed (fixed, per-direction) seconds of each mode: the whole Jacobian, or a probe chunk."""
    fixed, per = dict(fixed), dict(per)
    whole = {"forward": jacfwd(f, argnums), "reverse": jacrev(f, argnums),
             "mixed": mixed_jacobian(f, argnums)}
    leaves = [(np.shape(x), x.dtype) for x in flat]
    out_leaves = [(np.shape(v), v.dtype if np.issubdtype(v.dtype, np.inexact) else np.float64)
                  for v in rec.values]
    for mode in fixed:
        estimate = fixed[mode] + passes[mode] * per[mode]
        if mode == "mixed" or estimate < _TIME_WHOLE_BELOW or passes[mode] <= _PROBE:
            seconds = _best_time(lambda j=whole[mode]: j(*args, **kwargs), repeat=3, min_time=0.002)
        else:   # one pass of _PROBE directions, scaled by the model's ratio of the whole to the probe
            if mode == "forward":
                def probe():
                    return push_forward(g, in_tree, flat, identity_seeds(leaves, (0, _PROBE)), (_PROBE,))
            else:
                def probe():
                    return Recording(g, in_tree, flat).pull(identity_seeds(out_leaves, (0, _PROBE)),
                                                          (_PROBE,))
            at_probe = fixed[mode] + _PROBE * per[mode]
            seconds = _best_time(probe, repeat=3, min_time=0.002) * estimate / at_probe
        scale = seconds / estimate
        fixed[mode] *= scale
        per[mode] *= scale
    return fixed, per


def _memory(f, args, kwargs, rec, nodes: list, flat, n: int, m: int, budget: int) -> dict:
    """The memory part of the plan (peak bytes per mode, chunk sizes), from the recording."""
    report = memory_report(nodes)
    new_bytes = memory_report(nodes, exclude=_reachable_arrays((f, args, kwargs)))["saved_bytes"]
    dtypes = [np.result_type(lower(v)) for v in list(flat) + list(rec.values)]
    itemsize = max((d.itemsize for d in dtypes if np.issubdtype(d, np.inexact)), default=8)
    # The widest batched tangent (cotangent) a pass creates. Forward mode: any computed value (the
    # inputs' tangents are the basis, counted apart). Reverse mode: any value but the outputs (their
    # cotangents are the basis).
    out_ids = {id(node) for node in rec.out_nodes}
    computed = [(int(np.prod(node.shape, dtype=int)), id(node) in out_ids)
                for node in nodes if node.parents]
    computed += [(int(np.size(v)), True) for v, node in zip(rec.values, rec.out_nodes) if node is None]
    widest = {"forward": max([size for size, _ in computed] + [1]),
              "reverse": max([size for size, is_out in computed if not is_out] + [1])}
    result = n * m * itemsize
    tape = report["saved_bytes"]
    kept = new_bytes + _NODE_OVERHEAD * report["nodes"]
    # Per direction: one row of the identity (the basis tangent or cotangent) and the live copies.
    live = {mode: int(_LIVE_COPIES * widest[mode] * itemsize) for mode in widest}
    per_dir = {"forward": n * itemsize + live["forward"], "reverse": m * itemsize + live["reverse"]}
    fixed = {"forward": result + live["forward"], "reverse": result + kept + live["reverse"]}
    memory = {mode: fixed[mode] + (n if mode == "forward" else m) * per_dir[mode] for mode in fixed}
    chunks = {}
    for mode, total in (("forward", n), ("reverse", m)):
        # Chunks are concatenated at the end: the result is held twice when there is more than one.
        room = budget - fixed[mode] - (result if memory[mode] > budget else 0)
        chunks[mode] = max(1, min(max(total, 1), int(room // per_dir[mode]) if room > 0 else 1))
    return dict(memory=memory, per_direction_bytes=per_dir, fixed_bytes=fixed, chunk_sizes=chunks,
                tape_bytes=tape, tape_new_bytes=new_bytes, tape_nodes=report["nodes"], result_bytes=result,
                widest=widest, memory_budget=budget)


def _reachable_arrays(obj: Any, depth: int = 0, found: set | None = None) -> set[int]:
    """ids of the arrays that exist before f runs: in its arguments, closure, defaults, globals, self.

    The tape holds some of them (a weight matrix saved by matmul's VJP), but they cost nothing extra.
    """
    found = set() if found is None else found
    if depth > 4:
        return found
    if isinstance(obj, np.ndarray):
        found.add(id(obj))
        if obj.base is not None:
            found.add(id(obj.base))
        return found
    for child in _referents(obj):
        _reachable_arrays(child, depth + 1, found)
    return found


def _referents(obj: Any) -> Iterable[Any]:
    """What ``_reachable_arrays`` looks into, one level down: items, values, or one bundle of a function's
    (or a bound method's, an object's) references, the bundle itself counting as a level."""
    if isinstance(obj, (tuple, list)):
        return obj
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, types.MethodType):
        return ((obj.__self__, obj.__func__),)
    if isinstance(obj, types.FunctionType):
        return (_function_references(obj),)
    if hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
        return (vars(obj),)
    return ()


def _function_references(fn: types.FunctionType) -> tuple:
    """A function's closure cells, defaults and the (non-module) globals its code names."""
    cells = [c.cell_contents for c in fn.__closure__ or () if _cell_full(c)]
    names = [fn.__globals__[k] for k in fn.__code__.co_names if k in fn.__globals__]
    names = [v for v in names if not isinstance(v, types.ModuleType)]
    return (cells, fn.__defaults__ or (), names)


def _cell_full(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _reason(n: int, m: int, mode: str, rule: str, predicted: dict, fixed: dict, per: dict, passes: dict,
            diagonal: dict, measured: bool, tape: int) -> str:
    """One paragraph: the rule's choice, the predicted times, and why the choice departs from the rule."""
    how = "timed" if measured else "predicted"
    cmp = "<" if n < m else ("=" if n == m else ">")
    text = (f"n = {n} inputs {cmp} m = {m} outputs, so the document's rule takes {rule} mode "
            f"({passes[rule]} directions against {passes['reverse' if rule == 'forward' else 'forward']}); "
            f"{how}: " + ", ".join(f"{k} {_fmt_time(v)}" for k, v in predicted.items()) + ".")
    if mode == rule:
        other = "reverse" if rule == "forward" else "forward"
        ratio = predicted[other] / max(predicted[rule], 1e-12)
        tie = " (a near tie)" if ratio < 1.15 else ""
        kept = f", and it keeps no tape (reverse would keep {_fmt_bytes(tape)})" if mode == "forward" else ""
        return text + f" The rule holds{tie}: {mode} mode is {ratio:.1f}x faster{kept}."
    if mode == "mixed":
        best = min(("forward", "reverse"), key=predicted.__getitem__)
        return text + (f" f has a narrow waist of {passes['mixed']} entries: {passes['mixed']} directions on "
                       f"each side of it (reverse mode before it, forward after, then one product) instead "
                       f"of {passes[best]} through the whole of f, "
                       f"{predicted[best] / predicted['mixed']:.1f}x faster than the better pure mode "
                       f"({best}).")
    why = []
    if per[mode] < per[rule]:
        why.append(f"one {mode} direction costs {_fmt_time(per[mode])} against {_fmt_time(per[rule])} "
                   f"for {rule}")
    if fixed[mode] < fixed[rule]:
        why.append(f"{mode} mode's fixed cost is {_fmt_time(fixed[mode])} against {_fmt_time(fixed[rule])}")
    if diagonal.get(mode, 0) > diagonal.get(rule, 0):
        why.append(f"the identity seed stays diagonal through {diagonal[mode]} operations in {mode} mode "
                   f"(against {diagonal.get(rule, 0)} in {rule} mode)")
    return text + (" It departs from the rule because " + "; ".join(why) +
                   f", so {mode} mode is {predicted[rule] / predicted[mode]:.1f}x faster despite "
                   f"{passes[mode]} directions against {passes[rule]}.")


# --------------------------------------------------------------------------------------------------
# Second order.
# --------------------------------------------------------------------------------------------------

def hessian(f: Callable, argnums: int | tuple[int, ...] = 0, *, chunk_size: int | None = None,
            executor: Any = None, progress: bool = False) -> Callable:
    """The Hessian ∇²f of a scalar f, forward-over-reverse: H = J(∇f), all n tangents in one pass.

    The gradient is a reverse-mode pass; forward mode pushes all n input directions through it at once
    (``chunk_size=k``: k at a time). Shape ``x.shape + x.shape`` (nested tuples for tuple ``argnums``).
    Runs with the tuned heap (``autodiff.heap.tuned``). ``executor=`` runs the chunks of directions as
    tasks (see :func:`forward.jacfwd`).
    """
    hessian_of_f = jacfwd(grad(f, argnums), argnums, chunk_size=chunk_size, executor=executor,
                          progress=progress)

    def hessian_fn(*args, **kwargs):
        with heap.tuned():
            return hessian_of_f(*args, **kwargs)

    return hessian_fn


def hvp(f: Callable, primals: tuple | list, tangents: tuple | list) -> Any:
    """The Hessian-vector product H v = d/dε ∇f(x + ε v) without forming H: ``jvp(grad(f), ...)[1]``.

    ``primals`` and ``tangents`` are tuples over f's positional arguments; the gradient is taken with
    respect to the first, so the result is shaped like ``primals[0]``. Costs one forward-over-reverse
    pass: a small constant times one gradient. (On one real array the forward pass runs over the
    gradient's recording and sweep directly, with the same checks and result.)
    """
    if one_float_array(primals, tangents, "f"):
        # hvp(f, (x,), (v,)) on one real array: the forward pass over the gradient's recording and sweep
        # directly, without jvp's and grad's handling of argument structures
        _, out_t, _ = push_forward(lambda x: grad_of_float_array(f, x), ONE_ARGUMENT, [primals[0]],
                                   [tangents[0]])
        return out_t[0]
    value_and_grad_f = value_and_grad(f)

    def grad_f(*args):
        # grad(f) without the functools.wraps that grad() applies: this function lives for one call.
        return value_and_grad_f(*args)[1]

    return jvp(grad_f, primals, tangents)[1]
