"""Products: matmul and einsum, each with its rules; dot, tensordot, inner, outer, vdot, kron and cross
as contractions built on them.

A 1-D operand of matmul is promoted to a matrix (a row on the left, a column on the right) and the
promoted axis removed afterwards, so one formula covers every case; tangents of an operand with fewer
stacking axes than the output get singleton axes after the batch axes, so batches never align with
stacking axes.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import (
    Sample,
    defdomain,
    defjvp,
    defvjp,
    implements,
    lower,
    ndim_of,
    primitive,
    register_op,
    shape_of,
)
from autodiff.rules._util import const_like
from autodiff.shapes import unbroadcast
from autodiff.structured import DIAGONAL, accepts_structured, diagonal_times


def _promote(x, is_left, nb=0):
    """Matrix form of a matmul operand (1-D left → row, 1-D right → column), batch axes untouched."""
    if ndim_of(x) - nb >= 2:
        return x
    return np.expand_dims(x, -2 if is_left else -1)


def _demote(y, a_was_vector, b_was_vector):
    if a_was_vector and b_was_vector:
        return y[..., 0, 0]
    if a_was_vector:
        return y[..., 0, :]
    if b_was_vector:
        return y[..., 0]
    return y


def _stack_rank(a, b):
    return max(ndim_of(a), ndim_of(b), 2) - 2


def _pad_stack(t, nb, have, want):
    """Insert singleton stacking axes after the batch axes: ``have`` → ``want`` stacking axes."""
    if nb == 0 or have >= want:
        return t
    shape = shape_of(t)
    return np.reshape(t, shape[:nb] + (1,) * (want - have) + shape[nb:])


def _rows_matmul(x, m):
    """``x (..., k) @ m`` with ``m`` of shape (k,) or (k, j), as ONE matrix product.

    Why: with a batch of directions in front, ``np.matmul`` would loop over the batch and call BLAS once
    per direction (k matrix-vector products); folding every leading axis into rows makes it one GEMM.
    """
    scaled = diagonal_times(x, m)     # diag(v) @ m scales the rows of m: no GEMM for an identity seed
    if scaled is not None:
        return scaled
    shape = shape_of(x)
    if len(shape) <= 2:
        return np.matmul(x, m)
    flat = np.reshape(x, (-1, shape[-1]))
    return np.reshape(np.matmul(flat, m), shape[:-1] + shape_of(m)[1:])


def _swap(x):
    return np.swapaxes(x, -1, -2)


@accepts_structured(DIAGONAL)   # through _rows_matmul: diag(v) @ m is a row scaling
def _matmul_jvp_a(t, ans, a, b):
    if ndim_of(b) <= 2:
        return _rows_matmul(t, b)
    nb = ndim_of(t) - ndim_of(a)
    t2 = _promote(t, True, nb)
    t2 = _pad_stack(t2, nb, max(ndim_of(a), 2) - 2, _stack_rank(a, b))
    return _demote(np.matmul(t2, _promote(b, False)), ndim_of(a) == 1, ndim_of(b) == 1)


@accepts_structured(DIAGONAL)   # through _rows_matmul: diag(v) @ m is a row scaling
def _matmul_jvp_b(t, ans, a, b):
    if ndim_of(a) == 1:   # sum_k a[k] t[..., k, m]
        return _rows_matmul(_swap(t) if ndim_of(b) >= 2 else t, a)
    if ndim_of(a) == 2:   # a @ t: one GEMM per direction is already BLAS-3 when t holds matrices
        return _rows_matmul(t, _swap(a)) if ndim_of(b) == 1 else np.matmul(a, t)
    nb = ndim_of(t) - ndim_of(b)
    t2 = _promote(t, False, nb)
    t2 = _pad_stack(t2, nb, max(ndim_of(b), 2) - 2, _stack_rank(a, b))
    return _demote(np.matmul(_promote(a, True), t2), ndim_of(a) == 1, ndim_of(b) == 1)


def _promoted_cotangent(g, ans_nd, a, b):
    nb = ndim_of(g) - ans_nd
    if ndim_of(b) == 1:
        g = np.expand_dims(g, -1)
    if ndim_of(a) == 1:
        g = np.expand_dims(g, -2)
    return g, nb


@accepts_structured(DIAGONAL)   # through _rows_matmul: diag(v) @ m is a row scaling
def _matmul_vjp_a(ans, a, b):
    # Pullbacks keep the operands they need, never ``ans`` itself (only its rank): holding the output
    # would keep one more intermediate alive until the backward pass.
    ans_nd = ndim_of(ans)
    if ndim_of(b) == 2:
        return lambda g: _rows_matmul(g, _swap(b))
    if ndim_of(b) == 1:
        return lambda g: np.expand_dims(g, -1) * b

    def pullback(g):
        g2, nb = _promoted_cotangent(g, ans_nd, a, b)
        a2 = _promote(a, True)
        ga = np.matmul(g2, _swap(_promote(b, False)))
        ga = unbroadcast(ga, shape_of(a2), nb)
        return ga[..., 0, :] if ndim_of(a) == 1 else ga
    return pullback


@accepts_structured(DIAGONAL)   # through _rows_matmul: diag(v) @ m is a row scaling
def _matmul_vjp_b(ans, a, b):
    ans_nd = ndim_of(ans)
    if ndim_of(a) == 1:
        if ndim_of(b) == 1:
            return lambda g: np.expand_dims(g, -1) * a
        return lambda g: unbroadcast(np.expand_dims(g, -2) * np.expand_dims(a, -1), shape_of(b),
                                     ndim_of(g) - ans_nd)
    if ndim_of(a) == 2:
        if ndim_of(b) == 1:
            return lambda g: _rows_matmul(g, a)
        return lambda g: unbroadcast(np.matmul(_swap(a), g), shape_of(b), ndim_of(g) - ans_nd)

    def pullback(g):
        g2, nb = _promoted_cotangent(g, ans_nd, a, b)
        b2 = _promote(b, False)
        gb = np.matmul(_swap(_promote(a, True)), g2)
        gb = unbroadcast(gb, shape_of(b2), nb)
        return gb[..., 0] if ndim_of(b) == 1 else gb
    return pullback


matmul = primitive(np.matmul, elementwise=False)
defjvp(matmul, _matmul_jvp_a, _matmul_jvp_b)
defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
register_op("matmul", matmul)


# ---- einsum: one primitive for every contraction ---------------------------------------------------
#
# The primitive takes *canonical* subscripts: explicit output, no ellipsis, and no broadcasting (the
# adapter removes size-1 axes that broadcast). Then the JVP for an operand is the same contraction with
# the tangent in its place, and the VJP is the contraction of the cotangent with the other operands onto
# that operand's letters. Batch axes get fresh letters in front.

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_impl(*operands, subscripts):
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _split_subscripts(subscripts):
    ins, out = subscripts.split("->")
    return ins.split(","), out


def _fresh(used, k):
    """``k`` letters not in ``used``."""
    free = [c for c in _LETTERS if c not in used]
    if len(free) < k:
        raise ValueError("einsum: too many axes to differentiate (ran out of subscript letters).")
    return "".join(free[:k])


def _einsum_jvp_rule(i):
    def rule(t, ans, *operands, subscripts):
        ins, out = _split_subscripts(subscripts)
        batch = _fresh(subscripts, ndim_of(t) - ndim_of(operands[i]))
        ins = list(ins)
        ins[i] = batch + ins[i]
        ops = list(operands)
        ops[i] = t
        return einsum(*ops, subscripts=",".join(ins) + "->" + batch + out)
    return rule


def _einsum_vjp_rule(i):
    def rule(ans, *operands, subscripts):
        ins, out = _split_subscripts(subscripts)
        sizes = {c: d for sub, x in zip(ins, operands) for c, d in zip(sub, shape_of(x))}
        others = [(sub, x) for j, (sub, x) in enumerate(zip(ins, operands)) if j != i]
        ans_nd = ndim_of(ans)

        def pullback(g):
            batch = _fresh(subscripts, ndim_of(g) - ans_nd)
            used = subscripts + batch
            target, extra = "", []
            for c in ins[i]:
                if c in target:
                    # A repeated letter reads a diagonal: its cotangent lives on that diagonal only.
                    c2 = _fresh(used, 1)
                    used += c2
                    extra.append((c + c2, const_like(np.eye(sizes[c]), g)))
                    c = c2
                target += c
            have = set(batch + out + "".join(sub for sub, _ in others))
            for c in set(ins[i]) - have:
                # A letter that is only summed over: every entry of that axis gets the same cotangent.
                extra.append((c, const_like(np.ones(sizes[c]), g)))
            subs = [batch + out] + [sub for sub, _ in others] + [sub for sub, _ in extra]
            ops = [g] + [x for _, x in others] + [x for _, x in extra]
            return einsum(*ops, subscripts=",".join(subs) + "->" + batch + target)

        return pullback
    return rule


einsum = primitive(_einsum_impl, name="einsum")
einsum.jvps = tuple(_einsum_jvp_rule(i) for i in range(32))
einsum.vjps = tuple(_einsum_vjp_rule(i) for i in range(32))


def _sublist_to_letters(sublist):
    return "".join("..." if item is Ellipsis else _LETTERS[int(item)] for item in sublist)


def _parse_einsum_args(args):
    """NumPy's two call forms -> (subscripts string, operands)."""
    if isinstance(args[0], str):
        return args[0], list(args[1:])
    ops, subs = list(args[0::2]), [_sublist_to_letters(s) for s in args[1::2]]
    out = None
    if len(subs) < len(ops):  # a trailing output sublist was taken as an operand
        out = _sublist_to_letters(ops.pop())
    return ",".join(subs) + ("" if out is None else "->" + out), ops


def canonical_einsum(subscripts, shapes):
    """Explicit, ellipsis-free subscripts for operands of ``shapes``, and the axes to squeeze from each.

    Size-1 axes that broadcast against a longer axis of the same letter are squeezed away, so the
    primitive never broadcasts (which keeps its rules free of un-broadcasting).
    """
    subscripts = subscripts.replace(" ", "")
    ins, out = (subscripts.split("->") + [None])[:2]
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {len(ins)} subscripts for {len(shapes)} operands")
    full, ell = _expand_ellipses(ins, shapes, used=subscripts.replace(".", ""))
    out = _implicit_output(full, ell) if out is None else out.replace("...", ell)
    full, squeeze = _squeeze_broadcast_ones(full, shapes)
    return ",".join(full) + "->" + out, squeeze


def _expand_ellipses(ins, shapes, used):
    """Each operand's subscripts with ``...`` replaced by letters not in ``used``, and those letters.

    The ellipses of all operands share one run of fresh letters, aligned at the right (broadcasting).
    """
    n_ell = max([len(s) - len(sub.replace("...", "")) for sub, s in zip(ins, shapes) if "..." in sub],
                default=0)
    ell = _fresh(used, n_ell)
    full = []
    for sub, shape in zip(ins, shapes):
        if "..." in sub:
            k = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        if len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not match an operand of shape {shape}")
        full.append(sub)
    return full, ell


def _implicit_output(full, ell):
    """NumPy's output of an einsum without ``->``: the ellipsis letters, then the letters that occur
    once, in alphabetical order."""
    counts = {}
    for c in "".join(full):
        counts[c] = counts.get(c, 0) + 1
    return ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))


def _squeeze_broadcast_ones(full, shapes):
    """The subscripts without the size-1 axes that broadcast against a longer axis of the same letter,
    and for each operand the positions of the axes dropped."""
    size = {}
    for sub, shape in zip(full, shapes):
        for c, d in zip(sub, shape):
            size[c] = max(size.get(c, 1), d)
    kept, squeeze = [], []
    for sub, shape in zip(full, shapes):
        drop = tuple(k for k, (c, d) in enumerate(zip(sub, shape)) if d == 1 and size[c] > 1)
        squeeze.append(drop)
        kept.append("".join(c for k, c in enumerate(sub) if k not in drop))
    return kept, squeeze


@implements(np.einsum)
def _np_einsum(*args, out=None, optimize=False, **kwargs):
    if out is not None:
        raise TypeError("np.einsum(..., out=...) writes in place and cannot be differentiated.")
    subscripts, ops = _parse_einsum_args(args)
    if len(ops) > len(einsum.jvps):
        raise NotImplementedError(f"np.einsum on traced values takes at most {len(einsum.jvps)} operands; "
                                  "contract in several steps.")
    shapes = [shape_of(lower(x)) for x in ops]
    canon, squeeze = canonical_einsum(subscripts, shapes)
    ops = [np.reshape(x, tuple(d for k, d in enumerate(s) if k not in drop)) if drop else x
           for x, s, drop in zip(ops, shapes, squeeze)]
    return einsum(*ops, subscripts=canon)


# ---- the other products, as contractions -----------------------------------------------------------


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


@implements(np.dot)
def _np_dot(a, b, out=None):
    if out is not None:
        raise TypeError("np.dot(..., out=...) writes in place and cannot be differentiated.")
    if ndim_of(lower(a)) == 0 or ndim_of(lower(b)) == 0:
        return a * b
    if ndim_of(lower(b)) <= 2:
        return matmul(a, b)
    return _dot_nd(a, b)


def _dot_nd(a, b):
    """dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m]) for b with 3 or more axes.

    NumPy computes each entry as one 1-D dot product of a row of a and a column of b; so do we: a
    (1, n) @ (n, 1) product per entry, the rows and columns broadcast against each other by matmul
    (views, nothing is copied), which is that same BLAS dot — the value is NumPy's bit for bit.
    """
    sa, sb = shape_of(lower(a)), shape_of(lower(b))
    rows = np.reshape(a, sa[:-1] + (1,) * (len(sb) - 1) + (1, sa[-1]))
    cols = np.reshape(np.swapaxes(b, -1, -2), (1,) * (len(sa) - 1) + sb[:-2] + sb[-1:] + (sb[-2], 1))
    return matmul(rows, cols)[..., 0, 0]


@implements(np.tensordot)
def _np_tensordot(a, b, axes=2):
    """sum over the paired axes of a and b; free axes of a, then free axes of b (as NumPy)."""
    na, nb_ = ndim_of(lower(a)), ndim_of(lower(b))
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    axes_a = [int(x) % na for x in axes_a]
    axes_b = [int(x) % nb_ for x in axes_b]
    return _tensordot_as_numpy(a, b, axes_a, axes_b)


def _tensordot_as_numpy(a, b, axes_a, axes_b):
    """NumPy's own algorithm: move the summed axes together, fold to two matrices, one matrix product,
    unfold. Computed this way (not as an einsum) the value is NumPy's bit for bit, because both end in
    the same BLAS call."""
    sa, sb = shape_of(lower(a)), shape_of(lower(b))
    free_a = [k for k in range(len(sa)) if k not in axes_a]
    free_b = [k for k in range(len(sb)) if k not in axes_b]
    inner = int(np.prod([sa[k] for k in axes_a], dtype=int))
    at = np.reshape(np.transpose(a, free_a + axes_a), (-1, inner))
    bt = np.reshape(np.transpose(b, axes_b + free_b), (inner, -1))
    return np.reshape(matmul(at, bt), tuple(sa[k] for k in free_a) + tuple(sb[k] for k in free_b))


@implements(np.inner)
def _np_inner(a, b):
    """sum(a[..., :] * b[..., :]) over the last axes; a * b if either is a scalar."""
    if ndim_of(lower(a)) == 0 or ndim_of(lower(b)) == 0:
        return a * b
    return _np_tensordot(a, b, ([-1], [-1]))     # NumPy's inner is this product, bit for bit


@implements(np.outer)
def _np_outer(a, b, out=None):
    """outer(a, b)[i, j] = a.ravel()[i] * b.ravel()[j]."""
    _no_out(out, "outer")
    return np.einsum("i,j->ij", np.ravel(a), np.ravel(b))


@implements(np.vdot)
def _np_vdot(a, b):
    """sum(conj(a) * b) over the flattened arrays."""
    a = np.ravel(a)
    if np.iscomplexobj(lower(a)):
        a = np.conjugate(a)
    return matmul(a, np.ravel(b))              # a 1-D product: NumPy's vdot is the same BLAS dot


@implements(np.kron)
def _np_kron(a, b):
    """Kronecker product: kron(a, b)[i*p + k, ...] = a[i, ...] * b[k, ...] (as NumPy)."""
    sa, sb = shape_of(lower(a)), shape_of(lower(b))
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    la, lb = _LETTERS[:nd], _LETTERS[nd:2 * nd]
    prod = einsum(np.reshape(a, sa), np.reshape(b, sb),
                  subscripts=la + "," + lb + "->" + "".join(x + y for x, y in zip(la, lb)))
    return np.reshape(prod, tuple(x * y for x, y in zip(sa, sb)))


@implements(np.cross)
def _np_cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors, as NumPy) along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    da, db = shape_of(lower(a))[-1], shape_of(lower(b))[-1]
    if da not in (2, 3) or db not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    ca = [a[..., k] for k in range(da)] + [None] * (3 - da)
    cb = [b[..., k] for k in range(db)] + [None] * (3 - db)

    def term(i, j):  # a_i b_j - a_j b_i, with missing third components being 0
        left = None if ca[i] is None or cb[j] is None else ca[i] * cb[j]
        right = None if ca[j] is None or cb[i] is None else ca[j] * cb[i]
        if right is None:
            return left
        return -right if left is None else left - right

    z = term(0, 1)
    if da == 2 and db == 2:
        return z
    parts = [term(1, 2), term(2, 0), z]
    shape = np.broadcast_shapes(*(shape_of(lower(p)) for p in parts))
    return np.moveaxis(np.stack([np.broadcast_to(p, shape) for p in parts], axis=-1), -1, axisc)


# ---- NumPy 2's array-API names -----------------------------------------------------------------------


def _conj_if_complex(x):
    return np.conjugate(x) if np.iscomplexobj(lower(x)) else x


# NumPy's vecdot/matvec/vecmat loops compute each entry as a 1-D dot product; the matmuls below with a
# singleton row or column are the same BLAS calls, so the values are NumPy's bit for bit (an einsum
# sums in another order).


def _vecdot(x1, x2, axis=-1):
    """sum(conj(x1) * x2) over ``axis`` (broadcasting the other axes)."""
    rows = np.moveaxis(_conj_if_complex(x1), axis, -1)[..., None, :]
    return matmul(rows, np.moveaxis(x2, axis, -1)[..., :, None])[..., 0, 0]


def _matvec(x1, x2):
    """matvec(x1, x2)[..., i] = sum_j x1[..., i, j] x2[..., j]."""
    return matmul(x1, x2[..., None])[..., 0]


def _vecmat(x1, x2):
    """vecmat(x1, x2)[..., j] = sum_i conj(x1[..., i]) x2[..., i, j]."""
    return matmul(_conj_if_complex(x1)[..., None, :], x2)[..., 0, :]


implements(np.vecdot)(lambda x1, x2, /, *, axis=-1, **kwargs: _vecdot(x1, x2, axis))
implements(np.linalg.vecdot)(lambda x1, x2, /, *, axis=-1: _vecdot(x1, x2, axis))
implements(np.matvec)(lambda x1, x2, /, **kwargs: _matvec(x1, x2))
implements(np.vecmat)(lambda x1, x2, /, **kwargs: _vecmat(x1, x2))
implements(np.linalg.matmul)(lambda x1, x2, /: matmul(x1, x2))
implements(np.linalg.outer)(lambda x1, x2, /: _np_outer(x1, x2))
implements(np.linalg.tensordot)(lambda x1, x2, /, *, axes=2: _np_tensordot(x1, x2, axes))
implements(np.linalg.cross)(lambda x1, x2, /, *, axis=-1: _np_cross(x1, x2, axis=axis))


__all__ = ["matmul", "einsum", "canonical_einsum"]


def _matmul_sample(rng):
    shapes = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
              ((3,), (5, 3, 2)), ((5, 2, 3), (5, 3, 2)), ((1, 2, 3), (4, 3, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    return Sample((rng.uniform(-2, 2, size=sa), rng.uniform(-2, 2, size=sb)))


defdomain(matmul, _matmul_sample)


_EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]), ("ij->", [(2, 3)]), ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]), ("ii->", [(3, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ij,kl->ijkl", [(2, 2), (1, 3)]), ("ii,ij->j", [(3, 3), (3, 2)]), ("i,->i", [(3,), ()]),
    ("ij,jk,kl->il", [(2, 3), (3, 3), (3, 2)]), ("ij->ji", [(2, 3)]),
]


def _einsum_sample(rng):
    subscripts, shapes = _EINSUM_CASES[rng.integers(len(_EINSUM_CASES))]
    return Sample(tuple(rng.uniform(-2, 2, size=s) for s in shapes), {"subscripts": subscripts})


defdomain(einsum, _einsum_sample)
