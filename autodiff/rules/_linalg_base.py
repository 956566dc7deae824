"""Linear algebra, the base layer: shared helpers, ``solve``, ``inv`` and ``solve_triangular``.

The decompositions (:mod:`autodiff.rules.linalg_factors`) and the rest of numpy.linalg
(:mod:`autodiff.rules.linalg`, which re-exports everything) build on these. Conventions are described in
:mod:`autodiff.rules.linalg`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from autodiff.core import Sample, defdomain, defjvp, defvjp, implements, lower, primitive
from autodiff.rules._util import const_like
from autodiff.shapes import unbroadcast

lower_ = lower  # solve_triangular's keyword argument `lower` shadows the function inside it

# ---- helpers -----------------------------------------------------------------------------------------


def _T(x):
    """Transpose of the last two axes (stack and batch axes untouched)."""
    return np.swapaxes(x, -1, -2)


def _lift(t, x, nd):
    """Tangent ``t`` of ``x`` with singleton stack axes after its batch axes, so it has ``nd`` data axes.

    Why: an operand with fewer stack axes than the output broadcasts; its batch axes must not line up
    with the output's stack axes.
    """
    have = np.ndim(x)
    if have >= nd:
        return t
    nb = np.ndim(t) - have
    shape = np.shape(t)
    return np.reshape(t, shape[:nb] + (1,) * (nd - have) + shape[nb:])


def _masks(n, like, upper=False):
    """(triangle, strict triangle) masks in the dtype of ``like``."""
    tri = np.tri(n, dtype=bool)
    strict = np.tri(n, k=-1, dtype=bool)
    if upper:
        tri, strict = tri.T, strict.T
    return const_like(tri, like), const_like(strict, like)


def _sym_from_triangle(t, upper=False):
    """The symmetric matrix a function reads from one triangle of ``t``: tril(t) + tril(t, -1)ᵀ."""
    tri, strict = _masks(np.shape(t)[-1], t, upper)
    return t * tri + _T(t * strict)


def _sym_from_triangle_adjoint(m, upper=False):
    """Adjoint of :func:`_sym_from_triangle`: tril(m) + tril(mᵀ, -1) (zero on the unread triangle)."""
    tri, strict = _masks(np.shape(m)[-1], m, upper)
    return m * tri + _T(m) * strict


def _eye(n, like):
    return const_like(np.eye(n), like)


def _reject_complex(name, *arrays):
    """Raise NotImplementedError for complex input to a rule written for real matrices.

    Why: those rules use transposes where a complex matrix needs conjugate transposes (or their output is
    real, so a complex tangent would be wrong); an error is better than a wrong number (SPEC §2).
    """
    if any(np.iscomplexobj(lower(a)) for a in arrays):
        raise NotImplementedError(
            f"np.linalg.{name} of a complex matrix is not differentiable here (its rule is written for real "
            "matrices); pass the real and imaginary parts as a real block matrix [[X, -Y], [Y, X]] instead.")


# Reciprocals of eigenvalue gaps are inf at exact degeneracy, and inf * 0 is nan: that is the documented
# result there (as JAX), so NumPy's RuntimeWarnings about it must not reach the user.
_quiet = np.errstate(divide="ignore", invalid="ignore")


def _align_columns(v, like):
    """v with each column multiplied by ±1 to point like the same column of ``like`` (None: v itself).

    Why: LAPACK flips the signs of eigenvectors and singular vectors between nearby inputs (often), so
    finite differences of its raw output are meaningless. The test domains pass the factor at the sample
    point as ``like``; a ±1 keeps NumPy's normalisation, so the derivative is the same. NumPy's adapters
    never pass it: traced values are NumPy's own.
    """
    return v * _column_flips(v, like)


def _column_flips(v, like):
    """±1 per column (shape (..., 1, k)): -1 where the column of v points against that of ``like``."""
    if like is None:
        return np.ones(np.shape(v)[:-2] + (1, np.shape(v)[-1]), dtype=v.dtype)
    overlap = np.real(np.sum(np.conjugate(like) * v, axis=-2, keepdims=True))
    return np.where(overlap < 0, -1, 1).astype(v.dtype)


def _nearest_order(w, reference):
    """Indices putting eigenvalues ``w`` in the order of ``reference`` (nearest match each)."""
    return np.argmin(np.abs(np.asarray(reference)[..., :, None] - w[..., None, :]), axis=-1)


def _matrix_sample(rng, shapes, make):
    shape = shapes[rng.integers(len(shapes))]
    return make(rng, shape)


def _well_conditioned(rng, shape):
    n = shape[-1]
    return rng.uniform(-1, 1, size=shape) + 2.5 * np.eye(n)


def _spd(rng, shape):
    m = rng.uniform(-1, 1, size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _orthogonal(rng, shape):
    """Random orthonormal columns (Q of a Gaussian matrix)."""
    return np.linalg.qr(rng.normal(size=shape))[0]


# ---- solve: b is always a (stack of) matrix here; the adapter promotes a vector -------------------------


def _solve_impl(a, b):
    return np.linalg.solve(a, b)


def _solve_jvp_a(t, ans, a, b):
    t = _lift(t, a, np.ndim(ans))
    return -solve(a, t @ ans)


def _solve_jvp_b(t, ans, a, b):
    return solve(a, _lift(t, b, np.ndim(ans)))


def _solve_vjp_a(ans, a, b):
    def pullback(g):
        nb = np.ndim(g) - np.ndim(ans)
        return unbroadcast(-solve(_T(a), g) @ _T(ans), np.shape(a), nb)
    return pullback


def _solve_vjp_b(ans, a, b):
    def pullback(g):
        nb = np.ndim(g) - np.ndim(ans)
        return unbroadcast(solve(_T(a), g), np.shape(b), nb)
    return pullback


def _solve_sample(rng):
    shapes = [((3, 3), (3, 2)), ((3, 3), (3, 1)), ((2, 3, 3), (3, 2)), ((3, 3), (2, 3, 1)),
              ((2, 2, 2), (2, 2, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    return Sample((_well_conditioned(rng, sa), rng.uniform(-2, 2, size=sb)))


solve = primitive(_solve_impl, name="solve")
defjvp(solve, _solve_jvp_a, _solve_jvp_b)
defvjp(solve, _solve_vjp_a, _solve_vjp_b)
defdomain(solve, _solve_sample)


@implements(np.linalg.solve)
def _np_solve(a, b):
    """x with a @ x = b. As NumPy 2: b is a vector only when b.ndim == 1, else a stack of matrices."""
    if np.ndim(lower(b)) == 1:
        return solve(a, np.reshape(b, np.shape(lower(b)) + (1,)))[..., 0]
    return solve(a, b)


# ---- inv ------------------------------------------------------------------------------------------------


def _inv_impl(a):
    return np.linalg.inv(a)


def _square_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3), (1, 1)], _well_conditioned),))


inv = primitive(_inv_impl, name="inv")
defjvp(inv, lambda t, ans, a: -(ans @ t @ ans))
defvjp(inv, lambda ans, a: lambda g: -(_T(ans) @ g @ _T(ans)))
defdomain(inv, _square_sample)
implements(np.linalg.inv)(lambda a: inv(a))


# ---- triangular solves (scipy.linalg.solve_triangular) -----------------------------------------------


def _trisolve_impl(a, b, lower, trans, unit_diagonal):
    return scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _read_triangle(t, lower, unit_diagonal):
    """The part of ``t`` a triangular solve reads (the strict triangle when the diagonal is unit)."""
    tri, strict = _masks(np.shape(t)[-1], t, upper=not lower)
    return t * (strict if unit_diagonal else tri)


def _op(m, trans):
    return _T(m) if trans else m


def _trisolve_jvp_a(t, ans, a, b, lower, trans, unit_diagonal):
    # op(A) x = b  =>  op(dA) x + op(A) dx = 0.
    t = _lift(t, a, np.ndim(ans))
    dop = _op(_read_triangle(t, lower, unit_diagonal), trans)
    return -trisolve(a, dop @ ans, lower=lower, trans=trans, unit_diagonal=unit_diagonal)


def _trisolve_jvp_b(t, ans, a, b, lower, trans, unit_diagonal):
    return trisolve(a, _lift(t, b, np.ndim(ans)), lower=lower, trans=trans, unit_diagonal=unit_diagonal)


def _trisolve_vjp_a(ans, a, b, lower, trans, unit_diagonal):
    def pullback(g):
        nb = np.ndim(g) - np.ndim(ans)
        gb = trisolve(a, g, lower=lower, trans=1 - trans, unit_diagonal=unit_diagonal)
        outer = ans @ _T(gb) if trans else gb @ _T(ans)
        return unbroadcast(-_read_triangle(outer, lower, unit_diagonal), np.shape(a), nb)
    return pullback


def _trisolve_vjp_b(ans, a, b, lower, trans, unit_diagonal):
    def pullback(g):
        nb = np.ndim(g) - np.ndim(ans)
        gb = trisolve(a, g, lower=lower, trans=1 - trans, unit_diagonal=unit_diagonal)
        return unbroadcast(gb, np.shape(b), nb)
    return pullback


def _trisolve_sample(rng):
    shapes = [((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    a = rng.uniform(-1, 1, size=sa) + 2.5 * np.eye(sa[-1])
    params = {"lower": bool(rng.integers(2)), "trans": int(rng.integers(2)),
              "unit_diagonal": bool(rng.integers(2))}
    return Sample((a, rng.uniform(-2, 2, size=sb)), params)


trisolve = primitive(_trisolve_impl, name="solve_triangular")
defjvp(trisolve, _trisolve_jvp_a, _trisolve_jvp_b)
defvjp(trisolve, _trisolve_vjp_a, _trisolve_vjp_b)
defdomain(trisolve, _trisolve_sample)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_a=False,
                     overwrite_b=False, check_finite=True):
    """Differentiable ``scipy.linalg.solve_triangular``: x with op(A) x = b, A triangular.

    Only the ``lower`` (or upper) triangle of ``a`` is read (not its diagonal if ``unit_diagonal``), so the
    derivative with respect to the other entries is zero. ``trans`` 0/'N' solves A x = b, 1/'T' (and
    2/'C' for real A) solves Aᵀ x = b. ``b`` of shape (n,) is a vector, otherwise (..., n, k) matrices.
    """
    if trans in ("C", 2) and np.iscomplexobj(lower_(a)):
        raise NotImplementedError("solve_triangular(trans='C') of a complex matrix is not differentiable "
                                  "here; pass np.conjugate(a) with trans='T'.")
    trans = {"N": 0, "T": 1, "C": 1, 0: 0, 1: 1, 2: 1}[trans]
    params = {"lower": bool(lower), "trans": trans, "unit_diagonal": bool(unit_diagonal)}
    if np.ndim(lower_(b)) == 1:
        return trisolve(a, np.reshape(b, np.shape(lower_(b)) + (1,)), **params)[..., 0]
    return trisolve(a, b, **params)
