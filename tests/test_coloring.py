"""Colorings of sparsity patterns (autodiff.sparsity.coloring): valid on random patterns, and as few
colors as the structure allows on the patterns of the targets (banded, block sums, arrowhead)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from autodiff.sparsity.coloring import (
    Coloring,
    bidirectional_coloring,
    check_coloring,
    check_star_coloring,
    column_coloring,
    forward_coloring,
    n_colors,
    reverse_coloring,
    row_coloring,
    star_coloring,
)


def _random_pattern(seed: int, square: bool = False) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    if square:
        m = n
    density = float(rng.uniform(0.01, 0.5))
    dense = rng.random((m, n)) < density
    if rng.random() < 0.3:           # a few dense rows or columns, as in arrowheads
        dense[rng.integers(0, m, size=2)] = True
        dense[:, rng.integers(0, n, size=2)] = True
    return sp.csr_array(dense)


def _orthogonal_columns(p: sp.csr_array, colors: np.ndarray) -> bool:
    d = p.toarray()
    return all(d[:, colors == c].sum(axis=1).max(initial=0) <= 1 for c in np.unique(colors))


def _arrowhead(n: int) -> sp.csr_array:
    a = sp.lil_array((n, n), dtype=bool)
    a[0, :] = True
    a[:, 0] = True
    a.setdiag(True)
    return sp.csr_array(a)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_column_and_row_colorings_are_structurally_orthogonal(seed):
    p = _random_pattern(seed)
    cols = column_coloring(p)
    rows = row_coloring(p)
    assert _orthogonal_columns(p, cols)
    assert _orthogonal_columns(sp.csr_array(p.T), rows)
    # at least the lower bound (most entries in one row), and colors are 0..k-1 without gaps
    rho = int(np.diff(p.indptr).max(initial=0))
    assert n_colors(cols) >= rho and set(np.unique(cols)) == set(range(n_colors(cols)))
    check_coloring(forward_coloring(p))
    check_coloring(reverse_coloring(p))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_bidirectional_coloring_is_valid_and_never_worse_than_a_pure_mode(seed):
    p = _random_pattern(seed)
    c = bidirectional_coloring(p)
    check_coloring(c)
    assert c.passes <= min(forward_coloring(p).passes, reverse_coloring(p).passes)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_star_coloring_recovers_every_entry_directly(seed):
    p = _random_pattern(seed, square=True)
    h = sp.csr_array(p + p.T, dtype=bool)
    colors = star_coloring(h)
    check_star_coloring(h, colors)


def test_the_checkers_reject_bad_colorings():
    tri = sp.csr_array(sp.eye_array(4, dtype=bool) + sp.eye_array(4, k=1, dtype=bool))
    bad = Coloring(tri, np.full(4, -1), np.zeros(4, dtype=np.int64), np.zeros(tri.nnz, dtype=bool))
    with pytest.raises(ValueError, match="share a row"):
        check_coloring(bad)
    with pytest.raises(ValueError):
        check_star_coloring(sp.csr_array(tri + tri.T), np.array([0, 1, 0, 1]))  # bicolored path


@pytest.mark.parametrize("n", [10, 1000, 100_000])
def test_banded_patterns_get_the_optimal_colors(n):
    tri = sp.csr_array(sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(n, n), dtype=bool))
    assert n_colors(column_coloring(tri)) == 3 and n_colors(row_coloring(tri)) == 3
    assert n_colors(star_coloring(tri)) == 3
    penta = sp.csr_array(sp.diags_array([1] * 5, offsets=[-2, -1, 0, 1, 2], shape=(n, n), dtype=bool))
    assert n_colors(column_coloring(penta)) == 5


def test_block_sums_need_one_reverse_pass():
    n = 1000
    blocks = sp.csr_array(sp.kron(sp.eye_array(n // 10), np.ones((1, 10))), dtype=bool)
    assert forward_coloring(blocks).passes == 10 and reverse_coloring(blocks).passes == 1
    assert bidirectional_coloring(blocks).passes == 1


@pytest.mark.parametrize("n", [30, 10_000])
def test_arrowhead_bidirectional_needs_at_most_four_passes(n):
    a = _arrowhead(n)
    assert forward_coloring(a).passes == n and reverse_coloring(a).passes == n
    c = bidirectional_coloring(a)
    check_coloring(c)
    assert c.passes <= 4 and c.n_forward >= 1 and c.n_reverse >= 1
    assert n_colors(star_coloring(a)) == 2


def test_empty_patterns():
    assert len(column_coloring(sp.csr_array((3, 0), dtype=bool))) == 0
    assert n_colors(column_coloring(sp.csr_array((0, 4), dtype=bool))) <= 1
    check_coloring(bidirectional_coloring(sp.csr_array((5, 5), dtype=bool)))
