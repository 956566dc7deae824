"""Reverse-mode operators: ``vjp``, ``grad``, ``value_and_grad``, ``jacrev`` and ``checkpoint``.

All of them record one evaluation of f on a :class:`~reverse.tape.Tape` and pull cotangents back with
one backward sweep; ``jacrev`` pulls all m output directions through that single sweep (batch axes).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from autodiff import core, heap
from autodiff.argnums import as_value, check_float_leaf, select_args
from autodiff.batching import Inputs, Outputs, check_chunk_size, check_plain, prepare, reverse_blocks, run
from autodiff.core import collector_held, drop_inactive, gc_paused, shape_of, strip_inner, trace_scope
from autodiff.executor import check_executor
from autodiff.pytree import ONE_ARGUMENT, TreeDef, tree_flatten, tree_unflatten
from autodiff.stats import record_backward_pass, record_tape_pass
from reverse.remat import checkpoint
from reverse.tape import Node, Tape, TapeTracer, backward, new_leaf

__all__ = ["vjp", "grad", "value_and_grad", "jacrev", "reverse_jacobian", "checkpoint", "Recording"]


class Recording:
    """One evaluation of f recorded on a tape: flat outputs, their nodes, and the input nodes."""

    __slots__ = ("values", "out_tree", "out_nodes", "in_nodes", "inputs", "tape")

    def __init__(self, fun: Callable, in_tree: TreeDef, flat: list, keep_nodes: bool = False) -> None:
        tape = self.tape = Tape(keep_nodes)
        record_tape_pass()
        with trace_scope(tape):
            leaves = [new_leaf(tape, x) for x in flat]
            out = fun(*tree_unflatten(in_tree, leaves))
        out_flat, self.out_tree = tree_flatten(out)
        self.values: list[Any] = []
        self.out_nodes: list[Node | None] = []  # None: an output that does not depend on the inputs
        for o in out_flat:
            o = strip_inner(as_value(o), tape)  # as_value unboxes a Tensor output
            if type(o) is TapeTracer and o._trace is tape:
                self.values.append(o.primal)
                self.out_nodes.append(o._node)
            else:
                self.values.append(as_value(o))
                self.out_nodes.append(None)
        self.in_nodes = [leaf._node for leaf in leaves]
        self.inputs = flat

    def pull(self, cotangents: list, batch_shape: tuple[int, ...] = (), release: bool = False) -> list:
        """Input cotangents for flat output cotangents (each with ``batch_shape`` leading axes)."""
        seeds = [(n, c) for n, c in zip(self.out_nodes, cotangents) if n is not None and c is not None]
        record_backward_pass(math.prod(batch_shape))
        got = backward(seeds, self.in_nodes, release) if seeds else {}
        grads = []
        for node, x in zip(self.in_nodes, self.inputs):
            g = got.get(node)
            if g is None:
                g = np.zeros(batch_shape + np.shape(x), dtype=x.dtype)
            grads.append(g)
        return grads


def _record(fun: Callable, args: tuple) -> tuple[Recording, TreeDef]:
    flat, in_tree = tree_flatten(args)
    flat = [as_value(x) for x in flat]
    for x in flat:
        check_float_leaf(x, "input")
    return Recording(fun, in_tree, flat), in_tree


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Vector-Jacobian product: ``(f(*primals), vjp_fn)`` with ``vjp_fn(u) = uᵀ J_f(primals)``.

    ``vjp_fn(cotangent)`` takes a cotangent shaped like f's output (same pytree structure) and returns
    a tuple with one cotangent per primal. It may be called many times: the tape is kept.
    """
    rec, in_tree = _record(f, primals)

    def vjp_fn(cotangent: Any) -> tuple:
        flat_c, c_tree = tree_flatten(cotangent)
        if c_tree != rec.out_tree:
            raise ValueError(
                f"vjp_fn: the cotangent has structure {c_tree!r} but f's output has {rec.out_tree!r}; "
                "pass one cotangent per output, shaped like it."
            )
        flat_c = [_check_cotangent(c, v, i) for i, (c, v) in enumerate(zip(flat_c, rec.values))]
        return tuple(tree_unflatten(in_tree, rec.pull(flat_c)))

    return tree_unflatten(rec.out_tree, rec.values), vjp_fn


def _check_cotangent(c: Any, value: Any, i: int) -> Any:
    """The cotangent as an array: numeric, shaped like the output (integers become the output's dtype)."""
    given = c
    c = as_value(c)
    dtype = getattr(c, "dtype", None)
    if dtype is None or dtype.kind not in "biufc":
        got = type(given).__name__ if not isinstance(given, np.ndarray) else f"an array of dtype {dtype}"
        raise TypeError(
            f"vjp_fn: cotangent {i} must be an array shaped like the output, {np.shape(value)}, with a float "
            f"dtype ({value.dtype}); got {got}: {repr(given)[:60]}."
        )
    if np.shape(c) != np.shape(value):
        raise ValueError(
            f"vjp_fn: cotangent {i} has shape {np.shape(c)} but the output has shape {np.shape(value)}; "
            f"pass a cotangent of shape {np.shape(value)}."
        )
    if dtype.kind in "biu" and not isinstance(c, core.Tracer):
        c = np.asarray(c, dtype=_float_or_default(value.dtype))
    return c


def value_and_grad(f: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False) -> Callable:
    """``(f(x), ∇f(x))`` from one recorded evaluation and one backward pass; f returns a scalar.

    With ``has_aux`` f returns ``(value, aux)`` and the result is ``((value, aux), gradient)``. With a
    tuple ``argnums`` the gradient is a tuple, one entry per selected argument.
    """
    def value_and_grad_fn(*args, **kwargs):
        g, dyn, single = select_args(f, args, kwargs, argnums)
        if not has_aux:
            value, grads = _value_and_grad_flat(g, dyn)
            return value, (grads[0] if single else grads)
        aux_box = []

        def scalar_fn(*xs):
            out = g(*xs)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("with has_aux=True, f must return a pair (value, aux).")
            out, aux = out
            aux_box.append(aux)
            return out

        value, grads = _value_and_grad_flat(scalar_fn, dyn)
        grads = grads[0] if single else grads
        return (value, _lower_aux(aux_box[0])), grads

    return value_and_grad_fn


def _value_and_grad_flat(g: Callable, dyn: tuple) -> tuple[Any, Any]:
    """``(g(*dyn), ∇g(*dyn))`` for a scalar ``g``: one recording, one backward sweep seeded with 1."""
    if collector_held():   # inside another transformation (an HVP's gradient): paused already
        return _record_and_pull(g, dyn)
    with gc_paused():    # one pause over the recording and the sweep right after it (core.gc_paused)
        return _record_and_pull(g, dyn)


def _record_and_pull(g: Callable, dyn: tuple) -> tuple[Any, Any]:
    rec, in_tree = _record(g, dyn)
    value, grads = _pull_gradient(rec)
    return value, tree_unflatten(in_tree, grads)


def _pull_gradient(rec: Recording) -> tuple[Any, list]:
    """The recorded scalar output and the flat gradient: one sweep seeded with dL/dL = 1."""
    value = _scalar_output(rec)
    cot = np.array(1, dtype=value.dtype)  # the seed (np.array: no Python-level wrapper)
    return value, rec.pull([cot], release=True)


def grad_of_float_array(f: Callable, x: Any) -> Any:
    """∇f(x) for a scalar f of one argument x that the caller knows to be a float array (or a tracer of
    one): ``grad(f)(x)``'s recording and sweep, without selecting, flattening or checking arguments.

    For an HVP's inner gradient, which runs inside the forward trace's scope (so the collector is
    paused already, core.gc_paused).
    """
    return _pull_gradient(Recording(f, ONE_ARGUMENT, [x]))[1][0]


def _lower_aux(aux: Any) -> Any:
    leaves, tree = tree_flatten(aux)
    return tree_unflatten(tree, [drop_inactive(x) for x in leaves])


def _scalar_output(rec: Recording) -> Any:
    if len(rec.values) != 1:
        raise TypeError(
            f"grad needs f to return one scalar, but it returned a structure with {len(rec.values)} "
            "arrays; use autodiff.jacobian (or jacrev) for several outputs."
        )
    value = rec.values[0]
    if shape_of(value) != ():
        raise TypeError(
            f"grad needs f to return a scalar, but it returned shape {shape_of(value)}. Use "
            "autodiff.jacobian(f) (or jacrev) for a non-scalar output, or reduce it first (e.g. .sum())."
        )
    if value.dtype.kind != "f":
        raise TypeError(f"grad needs a real floating output, got dtype {value.dtype}.")
    return value


def grad(f: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False) -> Callable:
    """The gradient ∇f of a scalar function: one recorded evaluation and one backward pass.

    With ``has_aux`` f returns ``(value, aux)`` and the result is ``(gradient, aux)``.
    """
    value_and_grad_fn = value_and_grad(f, argnums, has_aux=has_aux)

    @functools.wraps(f)
    def grad_fn(*args, **kwargs):
        (value_aux, grads) = value_and_grad_fn(*args, **kwargs)
        return (grads, value_aux[1]) if has_aux else grads

    return grad_fn


def jacrev(f: Callable, argnums: int | tuple[int, ...] = 0, *, chunk_size: int | None = None,
           executor: Any = None, progress: bool = False) -> Callable:
    """Jacobian by reverse mode: all m output directions pulled through one backward pass.

    The result for an output y and input x has shape ``y.shape + x.shape`` (a C-contiguous array).
    ``chunk_size=k`` pulls k directions per backward pass (ceil(m/k) passes) to bound the memory the
    cotangents take. With ``executor=`` (a concurrent.futures executor or a Dask Client) each chunk is
    a task that records f there and pulls its directions (``chunk_size=None``: one chunk per worker);
    ``progress=True`` shows a progress bar over the chunks. Runs with the tuned heap
    (``autodiff.heap.tuned``), as ``jacobian`` does.
    """
    check_chunk_size(chunk_size)
    check_executor(executor)

    def jacobian_fn(*args, **kwargs):
        with heap.tuned():    # batched cotangents: large temporaries, freed and allocated again per pass
            return reverse_jacobian(prepare(f, args, kwargs, argnums), chunk_size, executor, progress)

    return jacobian_fn


def reverse_jacobian(inputs: Inputs, chunk_size: int | None = None, executor: Any = None,
                     progress: bool = False, recording: Recording | None = None) -> Any:
    """The Jacobian of ``inputs.fun`` at ``inputs.flat`` by reverse mode: e_iᵀ J for the m output
    directions e_i, pulled chunk by chunk (``autodiff.batching.run``), laid out by the engine.

    ``recording``: a recording of ``inputs.fun`` at exactly ``inputs.flat`` made already (by the
    planner), pulled from instead of recording f again; with ``executor=`` only its output layout is
    used (the tasks record f themselves).
    """
    if executor is None:
        rec = recording if recording is not None else Recording(inputs.fun, inputs.in_tree, inputs.flat)
        outputs = Outputs(rec.values, rec.out_tree)
        _, parts = run(_pull_chunk, (rec, outputs), None, outputs.m, chunk_size, None, progress)
    else:
        check_plain(inputs.flat, "jacrev")
        outputs = _output_layout(inputs) if recording is None else Outputs(recording.values,
                                                                           recording.out_tree)
        _, parts = run(_reverse_chunk, (inputs.fun, inputs.in_tree), inputs.flat, outputs.m,
                       chunk_size, executor, progress)
    per_out = reverse_blocks(parts, outputs, inputs)
    return outputs.nest([inputs.nest(blocks) for blocks in per_out])


def _pull_chunk(shared: tuple, _point: Any, bounds: tuple[int, int]) -> list:
    """Output directions ``start..stop`` pulled back through the recorded tape: one cotangent per input."""
    rec, outputs = shared
    return rec.pull(outputs.seeds(bounds), (bounds[1] - bounds[0],))


def _reverse_chunk(fun: tuple, inputs: list, bounds: tuple[int, int]) -> list:
    """In an executor's task: record ``fun = (g, in_tree)`` at the point, then pull output directions
    ``start..stop``."""
    g, in_tree = fun
    rec = Recording(g, in_tree, inputs)
    return _pull_chunk((rec, Outputs(rec.values, rec.out_tree)), None, bounds)


def _output_layout(inputs: Inputs) -> Outputs:
    """f's output layout from one plain evaluation: what the tasks' parts are assembled into."""
    out_flat, out_tree = tree_flatten(inputs.fun(*tree_unflatten(inputs.in_tree, inputs.flat)))
    return Outputs([np.asarray(as_value(o)) for o in out_flat], out_tree)


def _float_or_default(dtype: Any) -> Any:
    return dtype if np.issubdtype(dtype, np.inexact) else np.float64
