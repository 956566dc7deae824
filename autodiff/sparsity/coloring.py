"""Colorings of sparsity patterns, vectorised with NumPy (no Python loop over rows or columns).

- ``column_coloring`` (forward mode): columns of one color share no row (structurally orthogonal, a
  distance-2 coloring of the bipartite graph), so one JVP with the sum of their unit vectors gives each
  of their entries unmixed. ``row_coloring`` (reverse mode) is the same on the transpose.
- ``bidirectional_coloring``: a set of rows is computed by reverse passes (row coloring of those rows)
  and the other entries by forward passes (column coloring of the remaining rows), or the same with
  columns; the split is chosen among the rows (columns) with the most entries, where a dense row forces
  every pure coloring to use one color per entry of it. An arrowhead (dense first row and column) needs 3
  passes this way, against n for either pure mode.
- ``star_coloring`` (Hessians, symmetric): the highest-degree vertices ("hubs") get a color each, the
  rest a distance-2 coloring of the graph without the hubs. Every entry is then recovered directly from
  H S: an entry next to a hub from the row of the non-hub (the hub's color is unique there), the others
  from either side. It is a star coloring (a proper coloring in which each edge has an endpoint whose
  color is unique among the other endpoint's neighbours, so every path on four vertices has three
  colors); the number of hubs is chosen by the fewest colors.

The column coloring is greedy in the natural order, computed speculatively: start from colors
``j mod q`` (q ≥ ρ = most entries in a row, a lower bound; q = ρ is optimal for banded patterns), find
conflicts (two columns of one color in a row) with one sort of the entries, and
give every loser at once the smallest color none of its current neighbours has; repeat until no
conflict. The start is ``j mod q`` for the first conflict-free q from ρ up, if a few tries find one
(a grid stencil has one); conflicts are settled by a rank, the column with more entries first and
then a fixed pseudo-random order (settling them by column number lets a band of conflicts advance one
column per round). Each round fixes at least the
lowest-ranked loser; banded patterns and grid stencils have no conflict at all, random patterns a
handful of rounds. ``docs/architecture.md`` has the figures against networkx and igraph.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["Coloring", "column_coloring", "row_coloring", "bidirectional_coloring", "star_coloring",
           "check_coloring", "check_star_coloring", "star_sources", "n_colors"]


def _canonical(pattern) -> sp.csr_array:
    p = sp.csr_array(pattern, dtype=bool)
    p.sum_duplicates()
    p.sort_indices()
    p.eliminate_zeros()
    return p


def _entry_rows(p: sp.csr_array) -> np.ndarray:
    return np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` by one sort (NumPy's hash-based unique is several times slower on large arrays)."""
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def _losers(rows: np.ndarray, cols: np.ndarray, colors: np.ndarray, rank: np.ndarray,
            by_rank: np.ndarray) -> np.ndarray:
    """Columns that share a row with a column of the same color and a lower ``rank``
    (``by_rank`` is the inverse permutation: the column of each rank)."""
    if not len(cols):
        return cols
    n = len(rank)
    base = int(colors.max()) + 1
    # One key per entry: (row, color) first, then the rank, so one sort groups the entries of one
    # color in one row with the lowest rank first (the one that keeps its color).
    ks = np.sort((rows * base + colors[cols]) * n + rank[cols])
    group = ks // n
    dup = np.flatnonzero(group[1:] == group[:-1]) + 1
    return by_rank[_sorted_unique(ks[dup] % n)]


def _smallest_free(owner: np.ndarray, taken: np.ndarray, k: int) -> np.ndarray:
    """For each of k owners, the smallest color not in its set of ``taken`` colors (pairs owner, color)."""
    if not len(owner):
        return np.zeros(k, dtype=np.int64)
    base = int(taken.max()) + 2
    uniq = _sorted_unique(owner * base + taken)
    group, color = uniq // base, uniq % base
    start = np.searchsorted(group, np.arange(k))
    rank = np.arange(len(uniq)) - start[group]
    # Colors are sorted and distinct within a group, so color - rank never decreases: the entries with
    # color == rank are a prefix, and its length is the smallest missing color.
    return np.bincount(group[color == rank], minlength=k)


def _neighbour_colors(their_rows: sp.csr_array, p: sp.csr_array, colors: np.ndarray) -> tuple:
    """(owner, color) pairs: for each row of ``their_rows`` (a column's rows), the colors of every
    colored column in those rows — gathered by index arithmetic, without forming the product."""
    owner = _entry_rows(their_rows)
    r = their_rows.indices
    lengths = p.indptr[r + 1] - p.indptr[r]
    offsets = np.zeros(len(r) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    shift = np.repeat(p.indptr[r].astype(np.int64) - offsets[:-1], lengths)
    taken = colors[p.indices[shift + np.arange(offsets[-1])]]
    owner = np.repeat(owner, lengths)
    keep = taken >= 0
    return owner[keep], taken[keep]


def _periodic_start(rows: np.ndarray, cols: np.ndarray, rho: int, n: int, rank: np.ndarray,
                    by_rank: np.ndarray, tries: int = 8) -> np.ndarray:
    """The start ``j mod q`` for the first conflict-free q = ρ, ρ+1, ... (a few tries), else ρ.

    A stencil on a grid whose rows have length L is conflict-free for a q that separates the offsets
    ±1 and ±L modulo q: the 5-point Laplacian on a 316-wide grid needs q = 6 (316 = -2 mod 6), where
    ρ = 5 mixes ±1 with ±316.
    """
    for q in range(rho, min(rho + tries, n) + 1):
        colors = np.arange(n, dtype=np.int64) % q
        if not len(_losers(rows, cols, colors, rank, by_rank)):
            return colors
    # No period fits (an irregular pattern): start from q = ρ, which leaves the fewest colors.
    return np.arange(n, dtype=np.int64) % rho


def column_coloring(pattern) -> np.ndarray:
    """Colors of the columns (0..k-1) such that no row has two entries in columns of one color."""
    p = _canonical(pattern)
    m, n = p.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows, cols = _entry_rows(p), p.indices.astype(np.int64)
    rho = int(np.diff(p.indptr).max()) if m else 1
    # Conflicts are settled by a rank: more entries first, then a fixed pseudo-random order (not the
    # column number: then a band of conflicts, a 2-D grid's stencil, resolves one column per round).
    # Largest first: a column with more entries wins (a dense column keeps one color for itself).
    degree = np.bincount(cols, minlength=n)
    by_rank = np.lexsort((np.random.default_rng(0).permutation(n), -degree))
    rank = np.empty(n, dtype=np.int64)
    rank[by_rank] = np.arange(n)
    colors = _periodic_start(rows, cols, max(rho, 1), n, rank, by_rank)
    pt = None
    while True:
        losers = _losers(rows, cols, colors, rank, by_rank)
        if not len(losers):
            return _compact(colors)
        if pt is None:
            pt = sp.csr_array(p.T)
        colors[losers] = -1
        their_rows = pt[losers]
        owner, taken = _neighbour_colors(their_rows, p, colors)
        colors[losers] = _smallest_free(owner, taken, len(losers))
        # Only rows that hold a recolored column can have a new conflict.
        touched = p[_sorted_unique(their_rows.indices)]
        rows, cols = _entry_rows(touched), touched.indices.astype(np.int64)


def _compact(colors: np.ndarray) -> np.ndarray:
    """Renumber colors 0..k-1 in order of first use (the speculative start can leave gaps)."""
    used = np.bincount(colors)
    if used.all():
        return colors
    first = np.full(len(used), len(colors))
    np.minimum.at(first, colors, np.arange(len(colors)))
    present = np.flatnonzero(used)
    rank = np.empty(len(used), dtype=np.int64)
    rank[present[np.argsort(first[present], kind="stable")]] = np.arange(len(present))
    return rank[colors]


def row_coloring(pattern) -> np.ndarray:
    """Colors of the rows such that no column has two entries in rows of one color (reverse mode)."""
    return column_coloring(sp.csr_array(_canonical(pattern).T))


def _ncolors(colors: np.ndarray) -> int:
    seeded = colors[colors >= 0]
    return int(seeded.max()) + 1 if len(seeded) else 0


class Coloring:
    """Seeds for compressed passes and where each entry of the pattern is read back.

    ``col_colors[j]`` is the forward pass that column j is seeded in (-1: none), ``row_colors[i]`` the
    reverse pass of row i (-1: none); ``from_reverse`` says, per entry of the pattern (CSR order),
    whether it is read from the reverse passes' results (else from the forward passes').
    """

    __slots__ = ("pattern", "row_colors", "col_colors", "from_reverse", "n_forward", "n_reverse")

    def __init__(self, pattern: sp.csr_array, row_colors: np.ndarray, col_colors: np.ndarray,
                 from_reverse: np.ndarray) -> None:
        self.pattern = pattern
        self.row_colors = row_colors
        self.col_colors = col_colors
        self.from_reverse = from_reverse
        self.n_forward = _ncolors(col_colors) if not from_reverse.all() or not len(from_reverse) else 0
        self.n_reverse = _ncolors(row_colors) if from_reverse.any() else 0

    @property
    def passes(self) -> int:
        return self.n_forward + self.n_reverse


def forward_coloring(pattern) -> Coloring:
    p = _canonical(pattern)
    return Coloring(p, np.full(p.shape[0], -1), column_coloring(p), np.zeros(p.nnz, dtype=bool))


def reverse_coloring(pattern) -> Coloring:
    p = _canonical(pattern)
    return Coloring(p, row_coloring(p), np.full(p.shape[1], -1), np.ones(p.nnz, dtype=bool))


def _heavy_counts(nnz: np.ndarray, limit: int) -> list[int]:
    """How many of the fullest rows (or columns) to try splitting off: 1, 2, 4, ... of those that hold
    at least twice the median number of entries."""
    if not len(nnz):
        return []
    heavy = int(np.count_nonzero(nnz >= max(2 * np.median(nnz), 2)))
    counts, k = [], 1
    while k <= min(heavy, limit):
        counts.append(k)
        k *= 2
    if heavy and heavy <= limit and heavy not in counts:
        counts.append(heavy)
    return counts


def _split_rows(p: sp.csr_array, rows: np.ndarray) -> Coloring:
    """Rows ``rows`` by reverse passes, all other entries by forward passes."""
    m, n = p.shape
    in_r = np.zeros(m, dtype=bool)
    in_r[rows] = True
    row_colors = np.full(m, -1, dtype=np.int64)
    row_colors[rows] = row_coloring(p[rows])
    rest = p.multiply(sp.csr_array((~in_r).astype(bool)[:, None]))
    col_colors = column_coloring(sp.csr_array(rest, dtype=bool))
    return Coloring(p, row_colors, col_colors, in_r[_entry_rows(p)])


def _split_cols(p: sp.csr_array, cols: np.ndarray) -> Coloring:
    """Columns ``cols`` by forward passes, all other entries by reverse passes (the transpose case)."""
    t = _split_rows(sp.csr_array(p.T), cols)
    # Entries of p in CSR order <- entries of p.T in its CSR order.
    order = sp.csr_array((np.arange(p.nnz) + 1, p.indices, p.indptr), shape=p.shape)
    perm = sp.csr_array(order.T).data - 1
    from_reverse = np.empty(p.nnz, dtype=bool)
    from_reverse[perm] = ~t.from_reverse
    return Coloring(p, t.col_colors, t.row_colors, from_reverse)


def bidirectional_coloring(pattern, limit: int = 64, pure: tuple[Coloring, ...] = ()) -> Coloring:
    """Forward and reverse passes together: the best of the pure colorings (``pure``, if computed
    already) and of splitting off the fullest rows (to reverse mode) or the fullest columns (to forward
    mode)."""
    p = _canonical(pattern)
    best = min(pure or (forward_coloring(p), reverse_coloring(p)), key=lambda c: c.passes)
    row_nnz, col_nnz = np.diff(p.indptr), np.bincount(p.indices, minlength=p.shape[1])
    by_rows, by_cols = np.argsort(-row_nnz, kind="stable"), np.argsort(-col_nnz, kind="stable")
    for k in _heavy_counts(row_nnz, min(limit, p.shape[0] - 1)):
        best = min(best, _split_rows(p, np.sort(by_rows[:k])), key=lambda c: c.passes)
    for k in _heavy_counts(col_nnz, min(limit, p.shape[1] - 1)):
        best = min(best, _split_cols(p, np.sort(by_cols[:k])), key=lambda c: c.passes)
    return best


def check_coloring(c: Coloring) -> None:
    """Raise ValueError unless every entry is read unmixed from the pass it is assigned to."""
    p = c.pattern
    rows, cols = _entry_rows(p), p.indices.astype(np.int64)
    fwd, rev = ~c.from_reverse, c.from_reverse
    if (c.col_colors[cols[fwd]] < 0).any() or (c.row_colors[rows[rev]] < 0).any():
        raise ValueError("an entry is read from a pass its row or column is not seeded in")
    for who, other, colors, mine in ((rows, cols, c.col_colors, fwd), (cols, rows, c.row_colors, rev)):
        seeded = colors[other] >= 0
        key = who[seeded] * (int(colors.max()) + 2) + colors[other[seeded]]
        uniq, counts = np.unique(key, return_counts=True)
        mine_key = who[mine] * (int(colors.max()) + 2) + colors[other[mine]]
        if len(mine_key) and (counts[np.searchsorted(uniq, mine_key)] != 1).any():
            raise ValueError("two seeded entries of one color share a row (forward) or column (reverse)")


# ---- symmetric (star) coloring for Hessians ----------------------------------------------------------

def _with_diagonal(pattern) -> sp.csr_array:
    p = _canonical(pattern)
    n = p.shape[0]
    return _canonical(p + p.T + sp.eye_array(n, dtype=bool, format="csr"))


def star_coloring(pattern, limit: int = 64) -> np.ndarray:
    """Colors of a symmetric pattern's vertices such that every entry of H is read directly from H S."""
    h = _with_diagonal(pattern)
    n = h.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    best = column_coloring(h)
    degree = np.diff(h.indptr)
    by_degree = np.argsort(-degree, kind="stable")
    for k in _heavy_counts(degree, min(limit, n - 1)):
        hubs = np.sort(by_degree[:k])
        rest = np.setdiff1d(np.arange(n), hubs)
        colors = np.empty(n, dtype=np.int64)
        colors[hubs] = np.arange(k)
        colors[rest] = k + column_coloring(h[rest][:, rest])
        if _ncolors(colors) < _ncolors(best):
            best = colors
    return best


def star_sources(pattern, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each entry (i, j) of a symmetric pattern (CSR order): the row r and color c of H S that holds
    it unmixed — (i, color j) if color j is unique among row i's columns, else (j, color i).

    Returns (rows, cols_colors, ok) where ok is False for an entry that neither side gives unmixed.
    """
    h = _canonical(pattern)
    rows, cols = _entry_rows(h), h.indices.astype(np.int64)
    base = int(colors.max()) + 1 if len(colors) else 1
    full = _with_diagonal(h)
    frows = _entry_rows(full)
    uniq, counts = np.unique(frows * base + colors[full.indices], return_counts=True)

    def unique_in(r, c):
        key = r * base + c
        at = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
        return (uniq[at] == key) & (counts[at] == 1)

    direct = unique_in(rows, colors[cols])
    swapped = unique_in(cols, colors[rows])
    src_row = np.where(direct, rows, cols)
    src_color = np.where(direct, colors[cols], colors[rows])
    return src_row, src_color, direct | swapped


def check_star_coloring(pattern, colors: np.ndarray) -> None:
    """Raise ValueError unless the coloring is proper and every entry is recovered directly."""
    h = _with_diagonal(pattern)
    rows, cols = _entry_rows(h), h.indices
    off = rows != cols
    if (colors[rows[off]] == colors[cols[off]]).any():
        raise ValueError("two adjacent vertices share a color")
    if not star_sources(h, colors)[2].all():
        raise ValueError("an entry of H is mixed in every column of H S that holds it")


def n_colors(colors: np.ndarray) -> int:
    """Number of colors used (seeds with color -1 do not count)."""
    return _ncolors(colors)


