"""The Jacobian engine: inputs checked once, one loop over chunks of directions, one result layout.

The Jacobian of f: x ↦ y is n directions pushed forward (the columns J e_j: ``jacfwd``, ``hessian``)
or m directions pulled back (the rows e_iᵀ J: ``jacrev``, ``GradientTape.jacobian``), k directions at
a time as one batched pass whose tangents (cotangents) carry a leading axis of k. Everything around
that pass is the same for every Jacobian operator and lives here, once:

1. **Inputs** (:func:`prepare`, :class:`Inputs`): the differentiated arguments selected (``argnums``),
   flattened (pytrees), converted to arrays (a Tensor gives its value) and checked (a floating dtype).
2. **Chunks** (:func:`run`): the directions cut into chunks of ``chunk_size`` (one chunk when it is
   None) and the mode's chunk function called on each, in this process or, with ``executor=``, as one
   task per chunk (``autodiff/executor.py``; one chunk per worker when ``chunk_size`` is None), with a
   progress bar over the chunks when asked.
3. **Layout** (:func:`forward_blocks`, :func:`reverse_blocks`, :func:`per_example_blocks`): the batched
   results placed into one block ``y.shape + x.shape`` per (output leaf, input leaf), C-contiguous and
   writeable whichever mode computed it, nested as f's outputs and the selected arguments are.

A mode supplies only its pass ("push this batch of tangent directions", "pull this batch of
cotangent directions") and its seeds: rows of the identity over the concatenated leaves
(:func:`identity_seeds`, the seeds of ``shapes.basis_rows``; the whole identity of a vector leaf comes as a
registered diagonal batch, which the first operations keep diagonal, ``autodiff/diagonal.py``), or
``batch_jacobian``'s per-example identity (:func:`per_example_seeds`).

Why forward mode's layout costs a copy and reverse mode's does not: a forward pass yields
``(k,) + y.shape``, the transpose of the Jacobian's rows; a reverse pass yields ``(k,) + x.shape``,
its rows. The forward blocks are written once from the chunks (one transposing copy, which also
replaces the concatenation of several chunks); the reverse blocks are views of the chunks' rows, copied
only where a pass handed back a non-contiguous or read-only array. Values that are still traced (a
Jacobian inside another transformation) are assembled with differentiable operations instead; their
layout is the outer transformation's business.

Layer 0: imports NumPy and the other L0 modules only, so that forward and reverse mode share it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from autodiff import shapes
from autodiff.argnums import as_value, check_float_leaf, select_args
from autodiff.core import Tracer, shape_of
from autodiff.executor import _Progress, chunk_bounds, run_chunks
from autodiff.pytree import TreeDef, tree_flatten, tree_unflatten
from autodiff.structured import identity_matrix

__all__ = ["Inputs", "Outputs", "prepare", "check_chunk_size", "check_plain", "run", "local_bounds",
           "identity_seeds", "forward_blocks", "reverse_blocks", "per_example_seeds",
           "per_example_blocks", "contiguous", "float_dtype"]

Bounds = tuple[int, int]


# ---- 1. inputs ------------------------------------------------------------------------------------

class Inputs:
    """The differentiated arguments of one call: ``fun(*tree_unflatten(in_tree, flat))`` is f there.

    ``flat`` holds the checked leaves (arrays, or tracers of outer transformations), ``sizes`` their
    sizes, ``n`` the number of input directions; ``single`` is True for an int ``argnums``.
    """

    __slots__ = ("fun", "flat", "in_tree", "single", "sizes", "n")

    def __init__(self, fun: Callable, flat: list, in_tree: TreeDef, single: bool) -> None:
        self.fun, self.flat, self.in_tree, self.single = fun, flat, in_tree, single
        self.sizes = [int(x.size) for x in flat]
        self.n = sum(self.sizes)

    def leaves(self) -> list[tuple[tuple, Any]]:
        """``(shape, dtype)`` of every leaf: what the forward seeds are built for."""
        return [(shape_of(x), x.dtype) for x in self.flat]

    def nest(self, blocks: list) -> Any:
        """One block per input leaf, nested as the selected arguments (bare for an int argnums)."""
        tree = tree_unflatten(self.in_tree, blocks)
        return tree[0] if self.single else tree


def prepare(f: Callable, args: tuple, kwargs: dict, argnums: Any) -> Inputs:
    """Select (``argnums``), flatten and check the arguments to differentiate, once per call.

    Raises TypeError for an integer or boolean leaf, and the errors of ``argnums.select_args`` for a
    bad ``argnums``.
    """
    fun, dyn, single = select_args(f, args, kwargs, argnums)
    flat, in_tree = tree_flatten(dyn)
    flat = [as_value(x) for x in flat]
    for x in flat:
        check_float_leaf(x, "input")
    return Inputs(fun, flat, in_tree, single)


def float_dtype(dtype: Any) -> np.dtype:
    """The dtype of a (co)tangent for a value of ``dtype``: its own if inexact, else float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


class Outputs:
    """The layout of f's flat outputs: their structure, shapes and (co)tangent dtypes, and m."""

    __slots__ = ("tree", "values", "shapes", "sizes", "m")

    def __init__(self, values: list, tree: TreeDef) -> None:
        self.tree, self.values = tree, values
        self.shapes = [shape_of(v) for v in values]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.m = sum(self.sizes)

    def seeds(self, bounds: Bounds) -> list[np.ndarray]:
        """Reverse mode's seeds: rows ``start..stop`` of the identity over the outputs (float64 for an
        integer output)."""
        leaves = [(s, float_dtype(v.dtype)) for s, v in zip(self.shapes, self.values)]
        return identity_seeds(leaves, bounds)

    def nest(self, per_out: list) -> Any:
        return tree_unflatten(self.tree, per_out)


def identity_seeds(leaves: list[tuple[tuple, Any]], bounds: Bounds) -> list[np.ndarray]:
    """Rows ``start..stop`` of the identity on the concatenated leaves ``(shape, dtype)``, split by
    leaf: leaf j gets shape ``(stop - start,) + shape_j``. The same seeds as ``shapes.basis_rows``.

    Where a chunk covers a whole vector leaf of at least ``shapes.MIN_SIZE`` (= ``diagonal.MIN_SIZE``)
    entries, its block is the identity registered as a diagonal batch (``structured.identity_matrix``,
    kept between calls while small), which the first operations keep diagonal instead of multiplying
    by it. Every other block is a shifted
    identity, ``np.eye(k, size, start - offset)``: one strided fill, a fraction of the cost of an
    index-array assignment.
    """
    start, stop = bounds
    k = stop - start
    threshold = shapes.MIN_SIZE     # read where basis_rows reads it, at call time
    out, offset = [], 0
    for shape, dtype in leaves:
        size = math.prod(shape)
        if len(shape) == 1 and start == offset and k == size >= threshold:
            out.append(identity_matrix(size, dtype))
        else:
            out.append(np.eye(k, size, start - offset, dtype=dtype).reshape((k,) + tuple(shape)))
        offset += size
    return out


# ---- 2. chunks ------------------------------------------------------------------------------------

def check_chunk_size(chunk_size: Any) -> None:
    """Raise ValueError unless ``chunk_size`` is None or a positive int."""
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}.")


def check_plain(flat: list, what: str) -> None:
    """Refuse ``executor=`` under another transformation: the tasks would drop its derivative."""
    if any(isinstance(x, Tracer) for x in flat):
        raise NotImplementedError(
            f"{what}(..., executor=...) inside another transformation: the tasks would lose the outer "
            "derivative. Use executor= on the outermost Jacobian only.")


def local_bounds(total: int, chunk_size: int | None) -> list[Bounds]:
    """Chunks ``[(start, stop), ...]`` of ``range(total)`` for this process: all at once when
    ``chunk_size`` is None; one empty chunk when ``total`` is 0 (so a pass still yields f's outputs)."""
    step = total if not chunk_size else min(chunk_size, max(total, 1))
    return [(start, min(start + step, total)) for start in range(0, max(total, 1), max(step, 1))]


def run(task: Callable[[Any, Any, Bounds], Any], shared: Any, point: Any, total: int,
        chunk_size: int | None = None, executor: Any = None,
        progress: bool = False) -> tuple[list[Bounds], list]:
    """The chunks of ``range(total)`` and ``[task(shared, point, chunk) for chunk in chunks]``.

    In this process (``executor=None``) or as one task per chunk on ``executor``
    (``executor.run_chunks``: ``shared`` is sent to each worker once, ``point`` with every task; the
    results come back in order, so they equal the in-process ones). ``progress=True`` shows a bar over
    the chunks.
    """
    if executor is not None:
        bounds = chunk_bounds(total, chunk_size, executor)
        return bounds, run_chunks(executor, task, shared, point, bounds, progress)
    bounds = local_bounds(total, chunk_size)
    if not progress:
        return bounds, [task(shared, point, b) for b in bounds]
    bar = _Progress(len(bounds))
    try:
        parts = []
        for b in bounds:
            parts.append(task(shared, point, b))
            bar.update()
        return bounds, parts
    finally:
        bar.close()


# ---- 3. layout ------------------------------------------------------------------------------------

def contiguous(a: Any) -> Any:
    """``a`` itself when it is a C-contiguous writeable array (or a tracer), else a C-ordered copy."""
    if type(a) is np.ndarray and not (a.flags.c_contiguous and a.flags.writeable):
        return np.array(a, order="C")
    return a


def _plain(parts: list) -> bool:
    return all(type(p) is np.ndarray for p in parts)


def forward_blocks(chunks: list[list], bounds: list[Bounds], outputs: Outputs, inputs: Inputs) -> list:
    """Per output leaf, the blocks ``y.shape + x.shape`` (one per input leaf) from forward chunks.

    ``chunks[c][i]`` is output i's tangent for the input directions ``bounds[c]``, shaped
    ``(stop - start,) + y_i.shape``.
    """
    per_out = []
    for i, (yshape, size) in enumerate(zip(outputs.shapes, outputs.sizes)):
        pieces = [chunk[i] for chunk in chunks]
        if _plain(pieces):
            per_out.append(_forward_plain(pieces, bounds, yshape, size, inputs))
        else:
            per_out.append(_forward_traced(pieces, yshape, inputs))
    return per_out


def _forward_plain(pieces: list, bounds: list[Bounds], yshape: tuple, m: int, inputs: Inputs) -> list:
    """Each block written once, transposed, straight from the chunks (C order, writeable)."""
    if len(pieces) == 1 and len(inputs.flat) == 1:
        # one pass, one input: the transpose, copied unless the pass left it C-contiguous already (a
        # product with a diagonal seed comes out column-major, so its transpose is row-major)
        return [contiguous(pieces[0].reshape(inputs.n, m).T).reshape(yshape + shape_of(inputs.flat[0]))]
    dtype = pieces[0].dtype if len(pieces) == 1 else np.result_type(*pieces)
    rows = [p.reshape(p.shape[0], m) for p in pieces]        # (k, m): k columns of the Jacobian
    blocks, offset = [], 0
    for x, size in zip(inputs.flat, inputs.sizes):
        block = np.empty((m, size), dtype=dtype)
        for (start, stop), r in zip(bounds, rows):
            lo, hi = max(start, offset), min(stop, offset + size)
            if lo < hi:
                block[:, lo - offset:hi - offset] = r[lo - start:hi - start].T
        blocks.append(block.reshape(yshape + shape_of(x)))
        offset += size
    return blocks


def _forward_traced(pieces: list, yshape: tuple, inputs: Inputs) -> list:
    """The same blocks with differentiable operations, for tangents an outer transformation traces."""
    t = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)
    blocks, offset = [], 0
    for x, size in zip(inputs.flat, inputs.sizes):
        # The methods (ndarray's or Tracer's) rather than np.reshape/np.transpose: same result without
        # NumPy's Python-level dispatch.
        xshape = shape_of(x)
        xnd = len(xshape)
        order = tuple(range(xnd, xnd + len(yshape))) + tuple(range(xnd))
        blocks.append(t[offset:offset + size].reshape(xshape + yshape).transpose(order))
        offset += size
    return blocks


def reverse_blocks(chunks: list[list], outputs: Outputs, inputs: Inputs) -> list:
    """Per output leaf, the blocks ``y.shape + x.shape`` (one per input leaf) from reverse chunks.

    ``chunks[c][j]`` is input j's cotangent for the chunk's output directions, shaped
    ``(stop - start,) + x_j.shape``; the chunks are consecutive.
    """
    per_in = []
    for j in range(len(inputs.flat)):
        parts = [chunk[j] for chunk in chunks]
        per_in.append(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0))
    per_out, offset = [], 0
    for yshape, size in zip(outputs.shapes, outputs.sizes):
        # a run of rows of a C-contiguous array is C-contiguous: usually a view, no copy
        per_out.append([contiguous(t[offset:offset + size].reshape(yshape + shape_of(x)))
                        for t, x in zip(per_in, inputs.flat)])
        offset += size
    return per_out


def per_example_seeds(batch: int, rest: tuple, dtype: Any) -> np.ndarray:
    """``batch_jacobian``'s seeds: direction j is output component j of every example at once, a
    ``(k, batch) + rest`` batch (k = prod(rest)) with ``seed[j, b, j] = 1``."""
    k = math.prod(rest)
    seed = np.zeros((k, batch, k), dtype=dtype)
    seed[np.arange(k), :, np.arange(k)] = 1
    return seed.reshape((k, batch) + tuple(rest))


def per_example_blocks(g: Any, batch: int, rest: tuple, source_rest: tuple) -> Any:
    """``(k, batch) + source_rest`` cotangents of the per-example seeds as the per-example Jacobians,
    ``(batch,) + rest + source_rest``, C-contiguous."""
    shape = (batch,) + tuple(rest) + tuple(source_rest)
    moved = np.moveaxis(g, 0, 1)
    if type(moved) is np.ndarray:
        return contiguous(moved).reshape(shape)
    return np.reshape(moved, shape)
