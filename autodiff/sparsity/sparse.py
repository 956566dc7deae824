"""Sparse Jacobians and Hessians from compressed passes (SPEC §9).

With a column coloring, J S (S: n x k, one column per color, the sum of that color's unit vectors)
holds every entry of J unmixed: entry (i, j) is (J S)[i, color(j)]. So k JVPs — pushed through *one*
batched forward pass, a batch of k directions — give all of J; likewise k VJPs with a row coloring
(Sᵀ J), or both with a bidirectional coloring. The decompression is a gather: the positions are
computed once per pattern, later calls only fill the CSR array's data. Hessians use HVPs
(forward-over-reverse) with a star coloring.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from autodiff import heap
from autodiff.batching import run
from autodiff.executor import check_executor
from autodiff.sparsity.coloring import (
    Coloring,
    bidirectional_coloring,
    forward_coloring,
    reverse_coloring,
    star_coloring,
    star_sources,
)
from autodiff.sparsity.detect import _inputs, _stack, hessian_sparsity, shape_signature, trace_patterns
from forward.jvp import push_forward
from reverse.vjp import Recording, grad

__all__ = ["ColoredPattern", "color_jacobian", "sparse_jacobian", "sparse_hessian", "pattern_summary"]

MODES = ("auto", "forward", "reverse", "bidirectional")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")


def _check_chunk(chunk_size: Any) -> None:
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}.")


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


class ColoredPattern:
    """A Jacobian's sparsity pattern with the colorings of each mode and the one chosen.

    ``pattern`` (boolean CSR, (m, n)); ``mode`` ("forward", "reverse" or "bidirectional");
    ``n_colors`` (passes of the chosen mode); ``n_colors_forward`` (column coloring: JVPs),
    ``n_colors_reverse`` (row coloring: VJPs); ``coloring`` (the seeds and where each entry is read).
    """

    def __init__(self, pattern: sp.csr_array, mode: str = "auto") -> None:
        _check_mode(mode)
        self.pattern = pattern
        fwd, rev = forward_coloring(pattern), reverse_coloring(pattern)
        self.n_colors_forward, self.n_colors_reverse = fwd.passes, rev.passes
        options = {"forward": fwd, "reverse": rev}
        if mode in ("auto", "bidirectional"):
            options["bidirectional"] = bidirectional_coloring(pattern, pure=(fwd, rev))
        self.bidirectional = options.get("bidirectional")
        if mode == "auto":
            # fewest passes; on a tie the pure modes first (one kind of pass, no split bookkeeping)
            mode = min(options, key=lambda k: (options[k].passes, list(options).index(k)))
        self.mode = mode
        self.coloring: Coloring = options[mode]
        self.n_colors = self.coloring.passes

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    def saving(self) -> str:
        """What the coloring saves, in passes: "3 JVPs instead of 100000 JVPs or 100000 VJPs"."""
        c = self.coloring
        m, n = self.pattern.shape
        parts = ([_plural(c.n_forward, "JVP")] if c.n_forward else []) + \
            ([_plural(c.n_reverse, "VJP")] if c.n_reverse else [])
        used = " + ".join(parts) or "no pass"
        return f"{used} instead of {_plural(n, 'JVP')} or {_plural(m, 'VJP')}"

    def draw(self, height: int = 16, width: int = 48) -> str:
        """The pattern as text, downsampled to at most ``height`` x ``width`` cells (density shades)."""
        m, n = self.pattern.shape
        if not m or not n:
            return "(empty)"
        h, w = min(height, m), min(width, n)
        coo = self.pattern.tocoo()
        cell = (coo.row.astype(np.int64) * h // m) * w + coo.col.astype(np.int64) * w // n
        counts = np.bincount(cell, minlength=h * w).reshape(h, w)
        area = (m / h) * (n / w)
        shades = " .:+#"
        level = np.where(counts > 0, 1 + np.minimum(3, (counts / area * 3).astype(int)), 0)
        return "\n".join("|" + "".join(shades[v] for v in row) + "|" for row in level)

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        bid = f", bidirectional {self.bidirectional.passes}" if self.bidirectional is not None else ""
        return (f"ColoredPattern({m}x{n}, nnz={self.pattern.nnz}, mode={self.mode!r}, "
                f"n_colors={self.n_colors})\n{self.draw()}\n{self.saving()} "
                f"(colors: forward {self.n_colors_forward}, reverse {self.n_colors_reverse}{bid})")


# ---- detection and coloring of f at args ------------------------------------------------------------

def _pattern(g: Callable, flat: list, in_tree: Any) -> sp.csr_array:
    n = sum(int(np.size(x)) for x in flat)
    return _stack(trace_patterns(g, flat, in_tree)[1], n)


def color_jacobian(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0,
                   mode: str = "auto") -> ColoredPattern:
    """The Jacobian pattern of f at ``args`` (index-set trace) with its colorings.

    "forward": column coloring (structurally orthogonal columns share a JVP); "reverse": row coloring
    (one VJP per color); "bidirectional": JVPs and VJPs together; "auto": the fewest passes.
    """
    _check_mode(mode)
    g, flat, in_tree = _inputs(f, args, argnums)
    return ColoredPattern(_pattern(g, flat, in_tree), mode)


def pattern_summary(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0) -> dict:
    """Figures for a planner: sizes, nnz, density and the passes each mode needs with coloring."""
    cp = color_jacobian(f, *args, argnums=argnums)
    m, n = cp.shape
    bid = cp.bidirectional.passes if cp.bidirectional is not None else None
    return {"n_outputs": m, "n_inputs": n, "nnz": int(cp.pattern.nnz),
            "density": cp.pattern.nnz / max(m * n, 1), "n_colors_forward": cp.n_colors_forward,
            "n_colors_reverse": cp.n_colors_reverse, "n_passes_bidirectional": bid, "mode": cp.mode,
            "n_colors": cp.n_colors, "sparse_pays": cp.n_colors < min(m, n), "saving": cp.saving()}


# ---- compressed passes and decompression ---------------------------------------------------------------

class _Decompressor:
    """Seeds and the gather positions of every entry in the compressed results, computed once per
    pattern; each call then fills the data and copies the index arrays (a plain copy, no format check),
    so a caller that edits one result in place (``eliminate_zeros``) cannot change the next."""

    def __init__(self, coloring: Coloring, dtype: Any) -> None:
        p = coloring.pattern
        m, n = p.shape
        self.shape = (m, n)
        self.indptr, self.indices = _index_arrays(p)
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(p.indptr))
        cols = p.indices.astype(np.int64)
        rev = coloring.from_reverse
        self.fwd_at, self.rev_at = np.flatnonzero(~rev), np.flatnonzero(rev)
        # forward results are (k_f, m): entry (i, j) at [color(j), i]; reverse ones (k_r, n): [color(i), j]
        self.fwd_src = coloring.col_colors[cols[self.fwd_at]] * m + rows[self.fwd_at]
        self.rev_src = coloring.row_colors[rows[self.rev_at]] * n + cols[self.rev_at]
        self.only_forward = len(self.rev_at) == 0
        self.n_forward, self.n_reverse = coloring.n_forward, coloring.n_reverse
        self.fwd_seed = _seeds(coloring.col_colors, self.n_forward, dtype) if self.n_forward else None
        self.rev_seed = _seeds(coloring.row_colors, self.n_reverse, dtype) if self.n_reverse else None

    def assemble(self, fwd: np.ndarray | None, rev: np.ndarray | None) -> sp.csr_array:
        if self.only_forward and fwd is not None:
            return _csr(np.take(fwd, self.fwd_src), self.indices, self.indptr, self.shape)
        parts = [a for a in (fwd, rev) if a is not None]
        data = np.empty(len(self.indices), dtype=np.result_type(*parts) if parts else np.float64)
        if fwd is not None and len(self.fwd_at):
            data[self.fwd_at] = np.take(fwd, self.fwd_src)
        if rev is not None and len(self.rev_at):
            data[self.rev_at] = np.take(rev, self.rev_src)
        return _csr(data, self.indices, self.indptr, self.shape)


def _index_arrays(p: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """indptr and indices in int32 when they fit (half the bytes to copy per call, SciPy's own choice)."""
    if p.nnz < 2**31 - 1 and max(p.shape) < 2**31 - 1:
        return p.indptr.astype(np.int32), p.indices.astype(np.int32)
    return p.indptr, p.indices


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple) -> sp.csr_array:
    """A CSR array on existing canonical index arrays, without SciPy's O(nnz) format check."""
    out = sp.csr_array(shape, dtype=data.dtype)
    out.data, out.indices, out.indptr = data, indices.copy(), indptr.copy()
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def _seeds(colors: np.ndarray, k: int, dtype: Any) -> np.ndarray:
    """The seed matrix transposed, (k, len(colors)): row c is the indicator of color c."""
    seed = np.zeros((k, len(colors)), dtype=dtype)
    on = np.flatnonzero(colors >= 0)
    seed[colors[on], on] = 1
    return seed


def _split_leaves(batch: np.ndarray, flat: list) -> list:
    """(k, n) rows of directions -> one (k,) + x.shape block per input leaf."""
    out, offset = [], 0
    for x in flat:
        size = int(np.size(x))
        out.append(batch[:, offset:offset + size].reshape((batch.shape[0],) + np.shape(x)))
        offset += size
    return out


def _join_leaves(blocks: list, k: int) -> np.ndarray:
    parts = [np.asarray(b).reshape(k, -1) for b in blocks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _forward_passes(g: Callable, in_tree: Any, flat: list, seed: np.ndarray, chunk: int | None,
                    executor: Any = None) -> np.ndarray:
    """(J S)ᵀ, (k, m): the k JVPs of the seed's rows, pushed k (or chunk_size) at a time — or, with an
    executor, as tasks (chunk_size=None: one chunk of colors per worker). The chunk loop is the
    Jacobian engine's (``autodiff.batching.run``)."""
    _, parts = run(_forward_block, (g, in_tree, seed), flat, seed.shape[0], chunk, executor)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _forward_block(fun: tuple, flat: list, bounds: tuple[int, int]) -> np.ndarray:
    """JVPs of seed rows a..b (module-level: an executor's workers import it)."""
    g, in_tree, seed = fun
    a, b = bounds
    _, tangents, _ = push_forward(g, in_tree, flat, _split_leaves(seed[a:b], flat), (b - a,))
    return _join_leaves(tangents, b - a)


def _reverse_passes(g: Callable, in_tree: Any, flat: list, seed: np.ndarray, chunk: int | None,
                    executor: Any = None) -> np.ndarray:
    """Sᵀ J, (k, n): the k VJPs of the seed's rows, pulled through one recording of f — or, with an
    executor, as tasks that each record f and pull their chunk of colors."""
    if executor is None:
        _, parts = run(_pull_block, (Recording(g, in_tree, flat), seed), None, seed.shape[0], chunk)
    else:
        _, parts = run(_reverse_block, (g, in_tree, seed), flat, seed.shape[0], chunk, executor)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _pull_block(shared: tuple, _point: Any, bounds: tuple[int, int]) -> np.ndarray:
    """VJPs of seed rows a..b pulled through the recording ``shared = (rec, seed)``."""
    rec, seed = shared
    a, b = bounds
    cots, offset = [], 0
    for value in rec.values:
        size = int(np.size(value))
        cots.append(seed[a:b, offset:offset + size].reshape((b - a,) + np.shape(value)))
        offset += size
    return _join_leaves(rec.pull(cots, (b - a,)), b - a)


def _reverse_block(fun: tuple, flat: list, bounds: tuple[int, int]) -> np.ndarray:
    """In an executor's task: record f at the point and pull seed rows a..b."""
    g, in_tree, seed = fun
    return _pull_block((Recording(g, in_tree, flat), seed), None, bounds)


def sparse_jacobian(f: Callable, argnums: int | tuple[int, ...] = 0, *, mode: str = "auto",
                    chunk_size: int | None = None, executor: Any = None) -> Callable:
    """A function returning the Jacobian of f as a ``scipy.sparse`` CSR array (m, n), from compressed
    passes: one batched JVP over the column colors (forward), one batched VJP over the row colors
    (reverse), or both (bidirectional); "auto" takes the fewest passes.

    The pattern (index-set trace) and coloring are computed on the first call and reused while the
    arguments' shapes and dtypes stay the same; ``chunk_size=k`` pushes or pulls k colors per pass. A
    function whose control flow (or value-derived indexing, see ``jacobian_sparsity``) changes its
    pattern between calls needs a fresh ``sparse_jacobian`` where the branch changes. ``executor=`` (a
    concurrent.futures executor or a Dask Client) runs the chunks of colors as tasks, as for
    :func:`autodiff.jacfwd`; the pattern and coloring are still computed here, once.
    """
    _check_mode(mode)
    _check_chunk(chunk_size)
    check_executor(executor)
    cache: dict = {}

    @functools.wraps(f)
    @heap.tuned_call
    def sparse_jacobian_fn(*args):
        key = shape_signature(args)
        g, flat, in_tree = _inputs(f, args, argnums)
        plan = cache.get(key)
        if plan is None:
            colored = ColoredPattern(_pattern(g, flat, in_tree), mode)
            dtype = np.result_type(*[x.dtype for x in flat])
            plan = cache[key] = (colored, _Decompressor(colored.coloring, dtype))
        colored, dec = plan
        fwd = rev = None
        if dec.n_forward:
            fwd = _forward_passes(g, in_tree, flat, dec.fwd_seed, chunk_size, executor)
        if dec.n_reverse:
            rev = _reverse_passes(g, in_tree, flat, dec.rev_seed, chunk_size, executor)
        return dec.assemble(fwd, rev)

    sparse_jacobian_fn.cache = cache  # type: ignore[attr-defined]
    return sparse_jacobian_fn


def sparse_hessian(f: Callable, argnums: int | tuple[int, ...] = 0, *,
                   chunk_size: int | None = None) -> Callable:
    """A function returning the Hessian ∇²f of a scalar f as a symmetric CSR array (n, n).

    H S comes from Hessian-vector products (forward mode over the reverse-mode gradient, one batched
    pass over the colors of a star coloring); every entry is read directly from H S (``star_sources``).
    Pattern and coloring are computed on the first call and reused while the shapes stay the same.
    """
    _check_chunk(chunk_size)
    cache: dict = {}

    @functools.wraps(f)
    @heap.tuned_call
    def sparse_hessian_fn(*args):
        key = shape_signature(args)
        g, flat, in_tree = _inputs(f, args, argnums)
        plan = cache.get(key)
        if plan is None:
            pattern = hessian_sparsity(f, *args, argnums=argnums)
            colors = star_coloring(pattern)
            src_row, src_color, _ = star_sources(pattern, colors)
            dtype = np.result_type(*[x.dtype for x in flat])
            k = int(colors.max()) + 1 if len(colors) else 0
            indptr, indices = _index_arrays(pattern)
            plan = cache[key] = (pattern.shape, indices, indptr,
                                 _seeds(colors, k, dtype), src_color * pattern.shape[0] + src_row)
        shape, indices, indptr, seed, src = plan
        if not seed.shape[0]:
            return _csr(np.zeros(0, dtype=seed.dtype), indices, indptr, shape)
        gradient = grad(g, argnums=tuple(range(len(in_tree.children))))  # every selected argument
        hs = _forward_passes(gradient, in_tree, flat, seed, chunk_size)
        return _csr(np.take(hs, src), indices, indptr, shape)

    sparse_hessian_fn.cache = cache  # type: ignore[attr-defined]
    return sparse_hessian_fn
