"""Products: matmul and dot, each with its rules.

A 1-D operand of matmul is promoted to a matrix (a row on the left, a column on the right) and the
promoted axis removed afterwards, so one formula covers every case; tangents of an operand with fewer
stacking axes than the output get singleton axes after the batch axes, so batches never align with
stacking axes.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import Sample, defdomain, defjvp, defvjp, implements, lower, primitive, register_op
from autodiff.shapes import unbroadcast


def _promote(x, is_left, nb=0):
    """Matrix form of a matmul operand (1-D left → row, 1-D right → column), batch axes untouched."""
    if np.ndim(x) - nb >= 2:
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
    return max(np.ndim(a), np.ndim(b), 2) - 2


def _pad_stack(t, nb, have, want):
    """Insert singleton stacking axes after the batch axes: ``have`` → ``want`` stacking axes."""
    if nb == 0 or have >= want:
        return t
    shape = np.shape(t)
    return np.reshape(t, shape[:nb] + (1,) * (want - have) + shape[nb:])


def _matmul_jvp_a(t, ans, a, b):
    nb = np.ndim(t) - np.ndim(a)
    t2 = _promote(t, True, nb)
    t2 = _pad_stack(t2, nb, max(np.ndim(a), 2) - 2, _stack_rank(a, b))
    return _demote(np.matmul(t2, _promote(b, False)), np.ndim(a) == 1, np.ndim(b) == 1)


def _matmul_jvp_b(t, ans, a, b):
    nb = np.ndim(t) - np.ndim(b)
    t2 = _promote(t, False, nb)
    t2 = _pad_stack(t2, nb, max(np.ndim(b), 2) - 2, _stack_rank(a, b))
    return _demote(np.matmul(_promote(a, True), t2), np.ndim(a) == 1, np.ndim(b) == 1)


def _promoted_cotangent(g, ans, a, b):
    nb = np.ndim(g) - np.ndim(ans)
    if np.ndim(b) == 1:
        g = np.expand_dims(g, -1)
    if np.ndim(a) == 1:
        g = np.expand_dims(g, -2)
    return g, nb


def _matmul_vjp_a(ans, a, b):
    def pullback(g):
        g2, nb = _promoted_cotangent(g, ans, a, b)
        a2 = _promote(a, True)
        ga = np.matmul(g2, np.swapaxes(_promote(b, False), -1, -2))
        ga = unbroadcast(ga, np.shape(a2), nb)
        return ga[..., 0, :] if np.ndim(a) == 1 else ga
    return pullback


def _matmul_vjp_b(ans, a, b):
    def pullback(g):
        g2, nb = _promoted_cotangent(g, ans, a, b)
        b2 = _promote(b, False)
        gb = np.matmul(np.swapaxes(_promote(a, True), -1, -2), g2)
        gb = unbroadcast(gb, np.shape(b2), nb)
        return gb[..., 0] if np.ndim(b) == 1 else gb
    return pullback


matmul = primitive(np.matmul, elementwise=False)
defjvp(matmul, _matmul_jvp_a, _matmul_jvp_b)
defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
register_op("matmul", matmul)


@implements(np.dot)
def _np_dot(a, b, out=None):
    if out is not None:
        raise TypeError("np.dot(..., out=...) writes in place and cannot be differentiated.")
    if np.ndim(lower(a)) == 0 or np.ndim(lower(b)) == 0:
        return a * b
    if np.ndim(lower(b)) <= 2:
        return matmul(a, b)
    # dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m]): move b's contracted axis last but one.
    return np.tensordot(a, b, axes=([-1], [-2]))


__all__ = ["matmul"]


def _matmul_sample(rng):
    shapes = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
              ((3,), (5, 3, 2)), ((5, 2, 3), (5, 3, 2)), ((1, 2, 3), (4, 3, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    return Sample((rng.uniform(-2, 2, size=sa), rng.uniform(-2, 2, size=sb)))


defdomain(matmul, _matmul_sample)
