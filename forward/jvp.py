"""Forward-mode operators: ``jvp`` and ``jacfwd`` (all input directions in one pass)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from autodiff import heap
from autodiff.argnums import as_value, check_float_leaf
from autodiff.batching import (
    Inputs,
    Outputs,
    check_chunk_size,
    check_plain,
    forward_blocks,
    identity_seeds,
    prepare,
    run,
)
from autodiff.core import NDARRAY, Tracer, shape_of, strip_inner, trace_scope
from autodiff.executor import check_executor
from autodiff.pytree import ONE_ARGUMENT, TreeDef, tree_flatten, tree_unflatten
from autodiff.stats import record_forward_pass
from forward.dual import Dual, JVPTrace, new_dual

__all__ = ["jvp", "jacfwd", "push_forward", "forward_jacobian", "one_float_array"]


def push_forward(fun: Callable, in_tree: TreeDef, primals: list, tangents: list,
                 batch_shape: tuple[int, ...] = ()) -> tuple[list, list, TreeDef]:
    """Evaluate ``fun`` on Duals ``(primals, tangents)``; the flat outputs, their tangents, their structure.

    Tangents carry ``batch_shape`` leading axes; outputs that do not depend on the inputs get zero
    tangents of shape ``batch_shape + out.shape``.
    """
    trace = JVPTrace(len(batch_shape))
    record_forward_pass(math.prod(batch_shape))
    with trace_scope(trace):
        duals = [new_dual(trace, p, t) for p, t in zip(primals, tangents)]
        out = fun(*tree_unflatten(in_tree, duals))
    out_flat, out_tree = tree_flatten(out)
    values, out_tangents = [], []
    for o in out_flat:
        o = strip_inner(as_value(o), trace)  # as_value unboxes a Tensor output
        if type(o) is Dual and o._trace is trace:
            values.append(o.primal)
            out_tangents.append(o.tangent)
        else:
            o = as_value(o)
            values.append(o)
            dtype = o.dtype if np.issubdtype(o.dtype, np.inexact) else np.float64
            out_tangents.append(np.zeros(batch_shape + shape_of(o), dtype=dtype))
    return values, out_tangents, out_tree


def jvp(f: Callable, primals: tuple | list, tangents: tuple | list) -> tuple[Any, Any]:
    """Jacobian-vector product: ``(f(*primals), J_f(primals) · tangents)`` in one forward pass.

    ``primals`` and ``tangents`` are tuples matching f's positional arguments (pytrees allowed); each
    tangent has its primal's shape.
    """
    if one_float_array(primals, tangents, "fc"):
        # the common jvp(f, (x,), (v,)) on one float array: nothing to flatten, convert or check
        values, out_t, out_tree = push_forward(f, ONE_ARGUMENT, [primals[0]], [tangents[0]])
        return tree_unflatten(out_tree, values), tree_unflatten(out_tree, out_t)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "jvp(f, primals, tangents) takes tuples: one entry per positional argument of f, e.g. "
            "jvp(f, (x,), (v,)) rather than jvp(f, x, v)."
        )
    flat_p, in_tree = tree_flatten(tuple(primals))
    flat_t, t_tree = tree_flatten(tuple(tangents))
    if t_tree != in_tree:
        raise ValueError(
            f"jvp: tangents have structure {t_tree!r} but primals have {in_tree!r}; they must match."
        )
    flat_p = [as_value(p) for p in flat_p]
    flat_t = [_check_tangent(p, as_value(t), i) for i, (p, t) in enumerate(zip(flat_p, flat_t))]
    values, out_t, out_tree = push_forward(f, in_tree, flat_p, flat_t)
    return tree_unflatten(out_tree, values), tree_unflatten(out_tree, out_t)


def one_float_array(primals: Any, tangents: Any, kinds: str) -> bool:
    """True for ``(x,), (v,)``: one plain array x of a float dtype of ``kinds`` ("f" real, "c"
    complex) and a tangent v of x's shape and dtype, which need no flattening, conversion or check."""
    if type(primals) is not tuple or type(tangents) is not tuple or not len(primals) == 1 == len(tangents):
        return False
    p, t = primals[0], tangents[0]
    return type(p) is NDARRAY and type(t) is NDARRAY and p.dtype == t.dtype and p.shape == t.shape \
        and p.dtype.kind in kinds


def _check_tangent(p: Any, t: Any, i: int) -> Any:
    check_float_leaf(p, "input")
    if shape_of(t) != shape_of(p):
        raise ValueError(
            f"jvp: tangent {i} has shape {shape_of(t)} but its primal has shape {shape_of(p)}; pass a "
            f"tangent of shape {shape_of(p)}."
        )
    if isinstance(t, Tracer):
        return t
    return np.asarray(t, dtype=p.dtype) if t.dtype != p.dtype else t


def jacfwd(f: Callable, argnums: int | tuple[int, ...] = 0, *, chunk_size: int | None = None,
           executor: Any = None, progress: bool = False) -> Callable:
    """Jacobian by forward mode: all n input directions pushed through one forward pass.

    The result for an output y and input x has shape ``y.shape + x.shape`` (a C-contiguous array).
    ``chunk_size=k`` pushes k directions per pass (ceil(n/k) passes) to bound the memory the tangents
    take. With ``executor=`` (a concurrent.futures executor or a Dask Client) each chunk is a task that
    re-evaluates f there (``chunk_size=None``: one chunk per worker); ``progress=True`` shows a progress
    bar over the chunks. Runs with the tuned heap (``autodiff.heap.tuned``), as ``jacobian`` does.
    """
    check_chunk_size(chunk_size)
    check_executor(executor)

    def jacobian_fn(*args, **kwargs):
        with heap.tuned():    # batched tangents: large temporaries, freed and allocated again per pass
            return forward_jacobian(prepare(f, args, kwargs, argnums), chunk_size, executor, progress)

    return jacobian_fn


def forward_jacobian(inputs: Inputs, chunk_size: int | None = None, executor: Any = None,
                     progress: bool = False) -> Any:
    """The Jacobian of ``inputs.fun`` at ``inputs.flat`` by forward mode: J e_j for the n input
    directions e_j, pushed chunk by chunk (``autodiff.batching.run``), laid out by the engine."""
    if executor is not None:
        check_plain(inputs.flat, "jacfwd")
    bounds, parts = run(_forward_chunk, (inputs.fun, inputs.in_tree), inputs.flat, inputs.n,
                        chunk_size, executor, progress)
    values, _, out_tree = parts[-1]
    outputs = Outputs(values, out_tree)
    per_out = forward_blocks([p[1] for p in parts], bounds, outputs, inputs)
    return outputs.nest([inputs.nest(blocks) for blocks in per_out])


def _forward_chunk(fun: tuple, flat: list, bounds: tuple[int, int]) -> tuple[list, list, TreeDef]:
    """Input directions ``start..stop`` of the Jacobian of ``fun = (g, in_tree)`` at the flat point:
    the outputs, their tangents, their structure. Module-level, so that an executor's workers can
    import it."""
    g, in_tree = fun
    start, stop = bounds
    tangents = identity_seeds([(shape_of(x), x.dtype) for x in flat], bounds)
    return push_forward(g, in_tree, flat, tangents, (stop - start,))
