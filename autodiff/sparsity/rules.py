"""Index-set rules: one generic rule per family of primitives, chosen by the primitive's name.

A rule takes ``(ans, args, pats, params)``: the primitive's output, its arguments (the values one
level down; constants as they are), the patterns of the traced arguments that have a derivative
(``{position: CSR (size, n)}``) and the primitive's parameters; it returns the output's pattern.

Families (every name listed below; anything else gets the conservative dense rule, so a primitive
added later is always safe, only possibly loose):

- elementwise (``prim.elementwise``, plus the same-shape maps in ``SAME_SHAPE``): output element i
  depends on the aligned (broadcast) element of each argument — the union of those rows;
- structural (``STRUCTURAL``): selections and rearrangements. The primitive itself is applied to arrays
  of row numbers (+1, so that the zeros a pad or a scatter fills in mean "no input"), which says where
  each output element comes from; exact by construction;
- scatter-add (``index_add``): the base's rows, plus the union of the rows added into each position;
- reductions (``REDUCTIONS``): union along the reduced axes; ``ALONG_AXIS`` maps (softmax, FFTs) give
  every output element the union of its whole slice; scans (cumsum, cumprod) the union of the prefix;
- products (``PRODUCTS``: matmul, einsum): the structure of the product with the other operand's own
  non-zero pattern when it is a constant (so a constant sparse stencil stays sparse), all of it when
  it is traced; ``solve(a, b)``: column l of the solution depends on all of a and on column l of b;
- dense (everything else): every output element depends on every input any traced argument depends on.

Primitives with a zero derivative never reach a rule (the trace returns their value as a constant),
and an argument whose rule is declared ``None`` contributes nothing.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from autodiff.core import Primitive, lower, shape_of
from autodiff.sparsity import patterns as P

__all__ = ["rule_for", "family_of", "STRUCTURAL", "REDUCTIONS", "ALONG_AXIS", "SCANS", "PRODUCTS",
           "SAME_SHAPE", "SCATTER_ADD", "SOLVES"]

Rule = Callable[[Any, list, dict, dict], sp.csr_array]

STRUCTURAL = frozenset({"reshape", "transpose", "broadcast_to", "getitem", "concatenate", "pad", "scatter",
                        "index_update"})
SCATTER_ADD = frozenset({"index_add"})
REDUCTIONS = frozenset({"sum", "prod", "max", "min", "var", "std", "logsumexp", "norm2"})
ALONG_AXIS = frozenset({"softmax", "log_softmax", "fft", "ifft", "rfft", "irfft"})
SCANS = frozenset({"cumsum", "cumprod"})
PRODUCTS = frozenset({"matmul", "einsum"})
SAME_SHAPE = frozenset({"real", "imag", "astype", "conjugate", "positive"})
SOLVES = frozenset({"solve"})


def _size(x: Any) -> int:
    return math.prod(shape_of(x))


def _codes(shape: tuple, start: int = 0) -> np.ndarray:
    return np.arange(start, start + math.prod(shape), dtype=np.int64).reshape(shape)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Reduction axes as non-negative ints (None: all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def broadcast_rows(pattern: sp.csr_array, from_shape: tuple, to_shape: tuple) -> sp.csr_array:
    """The pattern of ``np.broadcast_to(x, to_shape)`` given x's pattern."""
    if tuple(from_shape) == tuple(to_shape):
        return pattern
    return P.take_rows(pattern, np.broadcast_to(_codes(tuple(from_shape)), to_shape))


# ---- elementwise ------------------------------------------------------------------------------------

def elementwise(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """Union of each traced argument's rows, aligned to the output as NumPy broadcasts them."""
    shape = shape_of(ans)
    return P.union([broadcast_rows(p, shape_of(args[i]), shape) for i, p in pats.items()])


# ---- structural: the operation applied to row numbers -------------------------------------------------

def structural(prim: Primitive) -> Rule:
    def rule(ans, args, pats, params):
        stacked, codes, start = [], [], 1
        for i, a in enumerate(args):
            shape = shape_of(a)
            if i in pats:
                codes.append(_codes(shape, start))
                stacked.append(pats[i])
                start += _size(a)
            else:
                codes.append(np.zeros(shape, dtype=np.int64))
        where_from = np.asarray(prim.impl(*codes, **params)) - 1
        rows = stacked[0] if len(stacked) == 1 else sp.vstack(stacked, format="csr")
        return P.take_rows(rows, where_from)
    return rule


def scatter_add(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """``index_add(x, v, index)``: x's rows, plus the rows of every v element added into a position."""
    k = _size(ans)
    parts = [pats[0]] if 0 in pats else []
    if 1 in pats:
        positions = _codes(shape_of(ans))[params["index"]]
        sources = np.broadcast_to(_codes(shape_of(args[1])), positions.shape)
        parts.append(P.select(positions, sources, k, pats[1]))
    return P.union(parts) if parts else P.empty(k, next(iter(pats.values())).shape[1])


# ---- reductions, maps along an axis, scans -----------------------------------------------------------

def _aligned_to_first(args: list, pats: dict) -> sp.csr_array:
    """Union of the traced arguments broadcast to the first argument's shape (logsumexp's weights)."""
    shape = shape_of(args[0])
    return P.union([broadcast_rows(p, shape_of(args[i]), shape) for i, p in pats.items()])


def reduction(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """Each output element: the union of the input elements reduced into it."""
    shape = shape_of(args[0])
    axes = _axes(params.get("axis"), len(shape))
    kept = tuple(1 if d in axes else s for d, s in enumerate(shape))
    target = np.broadcast_to(_codes(kept), shape)
    return P.select(target, _codes(shape), _size(ans), _aligned_to_first(args, pats))


def trace_rule(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """``trace``: the union of the diagonal entries summed into each output element."""
    diag = np.diagonal(_codes(shape_of(args[0])), params["offset"], params["axis1"], params["axis2"])
    target = np.broadcast_to(_codes(shape_of(ans))[..., None], diag.shape)
    return P.select(target, diag, _size(ans), pats[0])


def _spread_along(pattern: sp.csr_array, shape: tuple, axes: tuple[int, ...],
                  out_shape: tuple) -> sp.csr_array:
    """Union over ``axes`` (non-negative) of a value of ``shape``, broadcast back to ``out_shape``."""
    kept = tuple(1 if d in axes else s for d, s in enumerate(shape))
    reduced = P.select(np.broadcast_to(_codes(kept), shape), _codes(shape), math.prod(kept), pattern)
    return broadcast_rows(reduced, kept, out_shape)


def along_axis(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """Every output element depends on the whole input slice along the axis (softmax, FFTs)."""
    shape = shape_of(args[0])
    return _spread_along(pats[0], shape, _axes(params.get("axis"), len(shape)), shape_of(ans))


def solve_rule(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """``solve(a, b)`` (b a stack of matrices): column l of x depends on all of a (its own batch
    element) and on column l of b."""
    parts = []
    for i, axes in ((0, (-2, -1)), (1, (-2,))):
        if i in pats:
            shape = shape_of(args[i])
            parts.append(_spread_along(pats[i], shape, tuple(a % len(shape) for a in axes), shape_of(ans)))
    return P.union(parts)


def scan(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """cumsum/cumprod: element p along the axis depends on elements 0..p of its slice."""
    codes, out = _codes(shape_of(args[0])), _codes(shape_of(ans))
    axis = params.get("axis")
    if axis is None:  # NumPy scans the flattened array
        codes, axis = codes.ravel(), -1
    length = codes.shape[axis]
    codes = np.moveaxis(codes, axis, -1).reshape(-1, length)
    out = np.moveaxis(out, axis, -1).reshape(-1, length)
    later, earlier = np.tril_indices(length)
    return P.select(out[:, later], codes[:, earlier], _size(ans), pats[0])


# ---- products ------------------------------------------------------------------------------------------

def _support(sub: str, value: Any, traced: bool) -> tuple[str, list[np.ndarray]]:
    """The (letters, index tuples) where an operand can be non-zero: its non-zeros if constant."""
    if traced:
        return "", []
    idx = np.nonzero(np.asarray(lower(value)) != 0)
    letters, columns = "", []  # type: tuple[str, list[np.ndarray]]
    keep = np.ones(len(idx[0]) if idx else 1, dtype=bool)
    for c, col in zip(sub, idx):
        if c in letters:  # a repeated letter reads a diagonal: keep the tuples on it
            keep &= columns[letters.index(c)] == col
        else:
            letters += c
            columns.append(col)
    return letters, [col[keep] for col in columns]


def einsum_pairs(ins: list[str], out: str, args: list, i: int, traced: set, ans_shape: tuple) -> tuple:
    """(output element, element of operand i) pairs linked by ``einsum(ins -> out)``.

    With one other operand that is a constant, only its non-zeros link anything; otherwise (several
    other operands, or a traced one) every index combination does (conservative).
    """
    sizes = {c: d for sub, a in zip(ins, args) for c, d in zip(sub, shape_of(a))}
    others = [j for j in range(len(args)) if j != i]
    letters, columns = "", []  # type: tuple[str, list[np.ndarray]]
    if len(others) == 1:
        letters, columns = _support(ins[others[0]], args[others[0]], others[0] in traced)
    free = sorted(set(out + ins[i]) - set(letters))
    grid = [g.ravel() for g in np.indices(tuple(sizes[c] for c in free))] if free else []
    reps = math.prod(sizes[c] for c in free)
    count = len(columns[0]) if columns else 1
    values = {c: np.repeat(col, reps) for c, col in zip(letters, columns)}
    values.update({c: np.tile(g, count) for c, g in zip(free, grid)})
    total = count * reps

    def flat(sub: str, shape: tuple) -> np.ndarray:
        if not sub:
            return np.zeros(total, dtype=np.int64)
        return np.ravel_multi_index(tuple(values[c] for c in sub), shape)

    return flat(out, ans_shape), flat(ins[i], shape_of(args[i]))


def einsum_rule(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    ins, out = params["subscripts"].split("->")
    ins = ins.split(",")
    return _product(ins, out, args, pats, shape_of(ans))


def _product(ins: list[str], out: str, args: list, pats: dict, ans_shape: tuple) -> sp.csr_array:
    k = math.prod(ans_shape)
    parts = []
    for i, p in pats.items():
        o, x = einsum_pairs(ins, out, args, i, set(pats), ans_shape)
        parts.append(P.select(o, x, k, p))
    return P.union(parts)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def matmul_rule(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """matmul as an einsum: batch axes broadcast explicitly first (values and patterns alike)."""
    a, b = args
    sa, sb = shape_of(a), shape_of(b)
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    letters = _LETTERS[3:3 + len(batch)]
    subs, full = [], []
    for pos, (x, s, core) in enumerate(((a, sa, "ij"), (b, sb, "jk"))):
        if len(s) == 1:
            subs.append("j")
            full.append(x)
            continue
        shape = batch + s[-2:]
        if pos in pats:
            pats = {**pats, pos: broadcast_rows(pats[pos], s, shape)}
            full.append(np.broadcast_to(np.zeros((), dtype=bool), shape))  # traced: only the shape matters
        else:
            full.append(np.broadcast_to(np.asarray(lower(x)), shape))
        subs.append(letters + core)
    out = (letters if len(sa) > 1 or len(sb) > 1 else "") + ("i" if len(sa) > 1 else "") + \
        ("k" if len(sb) > 1 else "")
    return _product(subs, out, full, pats, shape_of(ans))


# ---- the conservative default ---------------------------------------------------------------------------

def dense(ans: Any, args: list, pats: dict, params: dict) -> sp.csr_array:
    """Every output element depends on every input that any traced argument depends on."""
    n = next(iter(pats.values())).shape[1]
    return P.dense_rows(_size(ans), n, P.columns_of(list(pats.values())))


def family_of(prim: Primitive) -> str:
    """The family whose rule the index-set trace uses for ``prim`` (by name; 'dense' if unknown)."""
    name = prim.name
    if prim.elementwise or name in SAME_SHAPE:
        return "elementwise"
    for family, names in (("structural", STRUCTURAL), ("scatter-add", SCATTER_ADD),
                          ("reduction", REDUCTIONS), ("along-axis", ALONG_AXIS), ("scan", SCANS),
                          ("product", PRODUCTS), ("solve", SOLVES)):
        if name in names:
            return family
    return "trace" if name == "trace" else "dense"


_RULES: dict[str, Rule] = {
    "elementwise": elementwise, "scatter-add": scatter_add, "reduction": reduction,
    "along-axis": along_axis, "scan": scan, "trace": trace_rule, "solve": solve_rule, "dense": dense,
}


def rule_for(prim: Primitive) -> Rule:
    """The index-set rule of ``prim``."""
    family = family_of(prim)
    if family == "structural":
        return structural(prim)
    if family == "product":
        return matmul_rule if prim.name == "matmul" else einsum_rule
    return _RULES[family]
