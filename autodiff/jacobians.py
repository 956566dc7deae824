"""The Jacobian helper: pick forward or reverse mode by the sizes, say why, and show what each costs.

For f: Rⁿ → Rᵐ, forward mode gets the Jacobian from n JVP directions and reverse mode from m VJP
directions; both push (pull) all their directions through ONE batched pass (``forward.jacfwd``,
``reverse.jacrev``). So the number of directions decides the time, and "auto" takes forward mode when
n < m and reverse mode otherwise. Memory differs too: forward mode carries n tangents per intermediate
but keeps nothing, reverse mode keeps the tape's intermediates and carries m cotangents per node.
:func:`plan_jacobian` measures both from one recorded evaluation.

This module is layer 3: it imports ``forward`` and ``reverse`` (which never import each other).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from autodiff.argnums import as_value, check_float_leaf, select_args
from autodiff.core import lower
from autodiff.pytree import tree_flatten, tree_unflatten
from forward.jvp import jacfwd, jvp
from reverse.tape import memory_report
from reverse.vjp import Recording, grad, jacrev, value_and_grad

__all__ = ["jacobian", "plan_jacobian", "JacobianPlan", "hessian", "hvp", "DEFAULT_MEMORY_BUDGET"]

_MODES = ("auto", "forward", "reverse")

DEFAULT_MEMORY_BUDGET = 256 * 2**20
"""Bytes one pass may use when ``chunk_size="auto"`` (256 MiB), unless a budget is given."""

# Memory model, calibrated against tracemalloc (tests/test_jacobian.py checks it within a factor 2).
# While a rule runs, one to four arrays of the widest intermediate's size are alive in batched form
# (the incoming tangent or cotangent, the rule's temporaries, its result, a sum of contributions);
# two is within a factor 2 of either end.
_LIVE_COPIES = 2
# Python objects of one recorded operation (node, tracer, staged closure), beyond its arrays.
_NODE_OVERHEAD = 600


def _choose(n: int, m: int) -> str:
    """SPEC 5: forward mode when the input size is smaller than the output size, reverse otherwise."""
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
    key = [tree]
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


def _output_size(g: Callable, dyn: tuple) -> int:
    """m: the total size of g's outputs, from one plain evaluation (no tape, no tangents)."""
    flat, tree = tree_flatten(dyn)
    out = g(*tree_unflatten(tree, [lower(as_value(x)) for x in flat]))
    return sum(int(np.size(lower(o))) for o in tree_flatten(out)[0])


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0, *, mode: str = "auto",
             chunk_size: int | str | None = None, executor: Any = None, memory_budget: int | None = None,
             progress: bool = False) -> Callable:
    """The Jacobian of f, by the mode that needs fewer directions: J[i, j] = ∂f_i/∂x_j.

    ``mode="auto"`` uses forward mode when the input size n is smaller than the output size m, reverse
    mode otherwise (n JVP directions against m VJP directions, each set in one batched pass). The output
    size is found by one plain evaluation of f, remembered per input shape. ``mode="forward"`` /
    ``"reverse"`` force a mode. ``chunk_size=k`` does k directions per pass; ``chunk_size="auto"`` takes
    the chunk that keeps a pass under ``memory_budget`` bytes (default 256 MiB), from
    :func:`plan_jacobian`. The result for output y and input x has shape ``y.shape + x.shape``.
    ``executor=`` runs the chosen mode's chunks as tasks (see :func:`forward.jacfwd`).
    """
    _check_mode(mode)
    _check_chunk(chunk_size)
    fixed_chunk = None if chunk_size == "auto" else chunk_size
    spread = {"executor": executor, "progress": progress}
    impls = {"forward": jacfwd(f, argnums, chunk_size=fixed_chunk, **spread),
             "reverse": jacrev(f, argnums, chunk_size=fixed_chunk, **spread)}
    modes_seen: dict[Any, str] = {}

    def jacobian_fn(*args, **kwargs):
        if chunk_size == "auto":
            plan = _plan(f, args, kwargs, argnums, memory_budget)
            chosen = plan.mode if mode == "auto" else mode
            impl = jacfwd if chosen == "forward" else jacrev
            return impl(f, argnums, chunk_size=plan.chunk_sizes[chosen], **spread)(*args, **kwargs)
        chosen = mode if mode != "auto" else _auto_mode(f, args, kwargs, argnums, modes_seen)
        return impls[chosen](*args, **kwargs)

    return jacobian_fn


def _auto_mode(f: Callable, args: tuple, kwargs: dict, argnums: Any, modes_seen: dict) -> str:
    """The mode for this call: n from the arguments, m from one plain evaluation, cached per shapes."""
    key = _fast_key(args, kwargs)
    if key is None:
        key = _signature(args, kwargs)
    chosen = modes_seen.get(key) if key is not None else None
    if chosen is None:
        g, dyn, _ = select_args(f, args, kwargs, argnums)
        n = sum(int(np.size(lower(x))) for x in tree_flatten(dyn)[0])
        chosen = _choose(n, _output_size(g, dyn))
        if key is not None and len(modes_seen) < 64:
            modes_seen[key] = chosen
    return chosen


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


@dataclass
class JacobianPlan:
    """What computing one Jacobian costs in each mode, and the mode ``jacobian(mode="auto")`` picks.

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

    @property
    def chunk_size(self) -> int:
        """Directions per pass for the chosen mode under the memory budget."""
        return self.chunk_sizes[self.mode]

    def memory_for(self, mode: str, chunk_size: int | None = None) -> int:
        """Estimated peak extra bytes of a Jacobian in ``mode`` doing ``chunk_size`` directions a pass."""
        total = self.n_inputs if mode == "forward" else self.n_outputs
        k = total if chunk_size is None else max(1, min(chunk_size, total))
        fixed = self.fixed_bytes[mode]
        extra_result = self.result_bytes if k < total else 0  # chunks are concatenated at the end
        return fixed + extra_result + k * self.per_direction_bytes[mode]

    def _rows(self) -> list[tuple[str, str, str]]:
        f, r = "forward", "reverse"
        rows = [
            ("directions", f"{self.passes[f]} JVP (n)", f"{self.passes[r]} VJP (m)"),
            ("evaluations of f", "1 (carries the tangents)", "1 recorded + 1 backward sweep"),
            ("kept for the backward pass", "nothing",
             f"{self.tape_nodes} nodes, {_fmt_bytes(self.tape_bytes)} "
             f"({_fmt_bytes(self.tape_new_bytes)} new)"),
            ("peak memory, one pass", _fmt_bytes(self.memory[f]), _fmt_bytes(self.memory[r])),
            (f"chunk under {_fmt_bytes(self.memory_budget)}", str(self.chunk_sizes[f]),
             str(self.chunk_sizes[r])),
        ]
        return rows

    def __str__(self) -> str:
        head = (f"JacobianPlan: n = {self.n_inputs} inputs, m = {self.n_outputs} outputs -> "
                f"{self.mode} mode\n  {self.reason}\n")
        rows = [("", "forward", "reverse")] + self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return head + "\n".join(lines)

    def __repr__(self) -> str:
        return (f"JacobianPlan(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, mode={self.mode!r}, "
                f"memory={{'forward': {self.memory['forward']}, 'reverse': {self.memory['reverse']}}}, "
                f"chunk_size={self.chunk_size})")

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in self._rows())
        return (f"<p><b>JacobianPlan</b>: n = {self.n_inputs}, m = {self.n_outputs} &rarr; "
                f"<b>{self.mode}</b> mode. {self.reason}</p>"
                f"<table><tr><th></th><th>forward</th><th>reverse</th></tr>{cells}</table>")


def plan_jacobian(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0,
                  memory_budget: int | None = None, **kwargs: Any) -> JacobianPlan:
    """The costs of f's Jacobian at ``args`` in each mode, and the mode "auto" picks (with the reason).

    One recorded evaluation of f gives the output size m, every intermediate's size and the bytes the
    tape keeps (``reverse.tape.memory_report``); from those the plan estimates each mode's peak memory
    and the largest chunk of directions per pass that stays under ``memory_budget`` bytes. Keyword
    arguments other than ``argnums`` and ``memory_budget`` are passed to f.
    """
    return _plan(f, args, kwargs, argnums, memory_budget)


def _plan(f: Callable, args: tuple, kwargs: dict, argnums: Any, memory_budget: int | None) -> JacobianPlan:
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    g, dyn, _ = select_args(f, args, kwargs, argnums)
    flat, in_tree = tree_flatten(dyn)
    flat = [lower(as_value(x)) for x in flat]
    for x in flat:
        check_float_leaf(x, "input")
    rec = Recording(g, in_tree, flat, keep_nodes=True)
    report = memory_report(rec.tape.nodes)
    new_bytes = memory_report(rec.tape.nodes, exclude=_reachable_arrays((f, args, kwargs)))["saved_bytes"]
    n = sum(int(np.size(x)) for x in flat)
    m = sum(int(np.size(v)) for v in rec.values)
    dtypes = [np.result_type(lower(v)) for v in list(flat) + list(rec.values)]
    itemsize = max((d.itemsize for d in dtypes if np.issubdtype(d, np.inexact)), default=8)
    # The widest batched tangent (cotangent) a pass creates. Forward mode: any computed value (the
    # inputs' tangents are the basis, counted apart). Reverse mode: any value but the outputs (their
    # cotangents are the basis).
    out_ids = {id(node) for node in rec.out_nodes}
    computed = [(int(np.prod(node.shape, dtype=int)), id(node) in out_ids)
                for node in rec.tape.nodes if node.parents]
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
    mode = _choose(n, m)
    return JacobianPlan(
        n_inputs=n, n_outputs=m, mode=mode, reason=_reason(n, m, mode, memory, tape),
        passes={"forward": n, "reverse": m}, memory=memory,
        per_direction_bytes=per_dir, fixed_bytes=fixed, chunk_sizes=chunks,
        tape_bytes=tape, tape_new_bytes=new_bytes, tape_nodes=report["nodes"], result_bytes=result,
        widest=widest,
        memory_budget=budget,
    )


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
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _reachable_arrays(item, depth + 1, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _reachable_arrays(item, depth + 1, found)
    elif isinstance(obj, types.MethodType):
        _reachable_arrays((obj.__self__, obj.__func__), depth + 1, found)
    elif isinstance(obj, types.FunctionType):
        cells = [c.cell_contents for c in obj.__closure__ or () if _cell_full(c)]
        names = [obj.__globals__[k] for k in obj.__code__.co_names if k in obj.__globals__]
        names = [v for v in names if not isinstance(v, types.ModuleType)]
        _reachable_arrays((cells, obj.__defaults__ or (), names), depth + 1, found)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
        _reachable_arrays(vars(obj), depth + 1, found)
    return found


def _cell_full(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _reason(n: int, m: int, mode: str, memory: dict, tape: int) -> str:
    if mode == "forward":
        return (f"n = {n} inputs < m = {m} outputs, so forward mode pushes {n} JVP directions where reverse "
                f"mode would pull {m} VJP directions, and it keeps no tape (reverse would keep "
                f"{_fmt_bytes(tape)}).")
    cmp = "=" if n == m else ">"
    return (f"n = {n} inputs {cmp} m = {m} outputs, so reverse mode pulls {m} VJP directions where forward "
            f"mode would push {n} JVP directions, at the price of a {_fmt_bytes(tape)} tape.")


# --------------------------------------------------------------------------------------------------
# Second order.
# --------------------------------------------------------------------------------------------------

def hessian(f: Callable, argnums: int | tuple[int, ...] = 0, *, chunk_size: int | None = None,
            executor: Any = None, progress: bool = False) -> Callable:
    """The Hessian ∇²f of a scalar f, forward-over-reverse: H = J(∇f), all n tangents in one pass.

    The gradient is a reverse-mode pass; forward mode pushes all n input directions through it at once
    (``chunk_size=k``: k at a time). Shape ``x.shape + x.shape`` (nested tuples for tuple ``argnums``).
    ``executor=`` runs the chunks of directions as tasks (see :func:`forward.jacfwd`).
    """
    return jacfwd(grad(f, argnums), argnums, chunk_size=chunk_size, executor=executor, progress=progress)


def hvp(f: Callable, primals: tuple | list, tangents: tuple | list) -> Any:
    """The Hessian-vector product H v = d/dε ∇f(x + ε v) without forming H: ``jvp(grad(f), ...)[1]``.

    ``primals`` and ``tangents`` are tuples over f's positional arguments; the gradient is taken with
    respect to the first, so the result is shaped like ``primals[0]``. Costs one forward-over-reverse
    pass: a small constant times one gradient.
    """
    value_and_grad_f = value_and_grad(f)

    def grad_f(*args):
        # grad(f) without the functools.wraps that grad() applies: this function lives for one call.
        return value_and_grad_f(*args)[1]

    return jvp(grad_f, primals, tangents)[1]
