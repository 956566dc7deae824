"""Index sets as sparse boolean matrices: the values the index-set trace propagates.

A *pattern* of a traced value with k elements is a CSR boolean array of shape (k, n): row r holds the
set of the n (flattened) input elements that element r (in C order) can depend on. Every operation here
is vectorised over rows (no Python loop over elements) and keeps rows sorted and free of duplicates
(canonical CSR), which the row gathers rely on.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["identity", "empty", "take_rows", "union", "select", "dense_rows", "columns_of"]

_INDEX = np.int64


def _csr(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    data = np.ones(len(indices), dtype=bool)
    out = sp.csr_array((data, indices, indptr), shape=shape)
    out.has_sorted_indices = True
    return out


def identity(k: int, n: int, offset: int = 0) -> sp.csr_array:
    """Rows 0..k-1 depend on inputs offset..offset+k-1 (a leaf of the differentiated inputs)."""
    return _csr(np.arange(k + 1, dtype=_INDEX), np.arange(offset, offset + k, dtype=_INDEX), (k, n))


def empty(k: int, n: int) -> sp.csr_array:
    """k rows that depend on nothing (a constant)."""
    return _csr(np.zeros(k + 1, dtype=_INDEX), np.zeros(0, dtype=_INDEX), (k, n))


def take_rows(pattern: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """``pattern[rows]``, where a row number of -1 gives an empty row (an element with no dependence).

    Index arithmetic on indptr only: lengths of the chosen rows, their starts, one gather of indices.
    """
    rows = np.asarray(rows, dtype=_INDEX).ravel()
    indptr, indices = pattern.indptr, pattern.indices
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    lengths = np.where(valid, indptr[safe + 1] - indptr[safe], 0)
    new_indptr = np.zeros(len(rows) + 1, dtype=_INDEX)
    np.cumsum(lengths, out=new_indptr[1:])
    total = int(new_indptr[-1])
    # Position in the old indices of each new entry: the old row's start plus the rank inside the row.
    shift = np.repeat(indptr[safe].astype(_INDEX) - new_indptr[:-1], lengths)
    new_indices = indices[shift + np.arange(total, dtype=_INDEX)]
    return _csr(new_indptr, new_indices, (len(rows), pattern.shape[1]))


def union(patterns: Sequence[sp.csr_array]) -> sp.csr_array:
    """Row-wise union of patterns of the same shape (boolean addition is OR)."""
    pats = list(patterns)
    if len(pats) == 1:
        return pats[0]
    out = functools.reduce(lambda a, b: a + b, pats)
    return _canonical(out)


def _canonical(p: sp.csr_array) -> sp.csr_array:
    p = sp.csr_array(p, dtype=bool)
    p.sum_duplicates()
    p.sort_indices()
    if p.nnz and not p.data.all():
        p.eliminate_zeros()
    return p


def select(out_index: np.ndarray, in_index: np.ndarray, k: int, pattern: sp.csr_array) -> sp.csr_array:
    """Rows ``o`` of the result are the union of ``pattern`` rows ``i`` over the pairs (o, i) given.

    The pairs are a linear map's structure (a reduction, a product with a constant, a scatter-add):
    the result is that 0/1 matrix times the pattern, a sparse product.
    """
    out_index = np.asarray(out_index, dtype=_INDEX).ravel()
    in_index = np.asarray(in_index, dtype=_INDEX).ravel()
    link = sp.csr_array((np.ones(len(out_index), dtype=bool), (out_index, in_index)),
                        shape=(k, pattern.shape[0]))
    return _canonical(link @ pattern)


def columns_of(patterns: Sequence[sp.csr_array]) -> np.ndarray:
    """The sorted set of inputs any of ``patterns`` depends on."""
    parts = [p.indices for p in patterns if p.nnz]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=_INDEX)


def dense_rows(k: int, n: int, cols: np.ndarray) -> sp.csr_array:
    """k rows that each depend on every input in ``cols`` (the conservative answer)."""
    cols = np.asarray(cols, dtype=_INDEX)
    indptr = np.arange(k + 1, dtype=_INDEX) * len(cols)
    return _csr(indptr, np.tile(cols, k), (k, n))
