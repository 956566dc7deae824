"""Differentiable ``scipy.linalg``: the primitives behind ``autodiff.scipy.linalg``.

Each primitive's implementation calls SciPy's function on the arguments as given, so traced values equal
SciPy's for the same inputs. Matrices are 2-D (as SciPy's factorizations take them); tangents and
cotangents may carry leading batch axes, which the implementations fold into extra right-hand-side
columns (or loop over). Real input only: the rules are written for real matrices, and the public
functions raise NotImplementedError for complex ones.

Where SciPy reads only part of a matrix (one triangle for ``assume_a="pos"``, the factor's triangle of
``cho_factor``'s result), the derivative with respect to the unread entries is zero; the public functions
pass the matrix actually used (``_effective_matrix``), so the rules can treat it as a full matrix.

Derivatives:

- ``solve``, ``inv``, ``det``: dx = op(A)⁻¹(db - op(dA) x); d A⁻¹ = -A⁻¹ dA A⁻¹; d det = det tr(A⁻¹ dA)
  (the last two are the rules of ``np.linalg.inv``/``det``).
- ``cho_factor`` (c with the factor in one triangle and A's entries in the other, as SciPy returns it):
  the factor's triangle differentiates as ``np.linalg.cholesky`` does, the other triangle is a copy.
- ``cho_solve``: A = F Fᵀ from the factor's triangle; dx = -A⁻¹ dA x + A⁻¹ db.
- ``lu_factor``: P A = L U gives, with X = L⁻¹ P dA U⁻¹, dL = L tril₋₁(X) and dU = triu(X) U.
- ``lu_solve``: A = Pᵀ L U from the packed factors; dx = -A⁻¹ dA x + A⁻¹ db (or with Aᵀ).
- ``solve_sylvester`` (A X + X B = Q): A dX + dX B = dQ - dA X - X dB, a Sylvester equation again; its
  adjoint is the Sylvester equation of Aᵀ and Bᵀ.
- ``sqrtm``: X X = A gives X dX + dX X = dA, a Sylvester equation.
- ``solve_banded``: dx = -A⁻¹ dA x + A⁻¹ db with A and dA in band storage.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from autodiff.core import Sample, defdomain, defjvp, defvjp, lower, primitive
from autodiff.rules import linalg as _np_linalg
from autodiff.rules._util import const_like
from autodiff.rules.linalg import (
    _cholesky_jvp,
    _cholesky_vjp,
    _lift,
    _sym_from_triangle,
    _sym_from_triangle_adjoint,
    trisolve,
)
from autodiff.shapes import unbroadcast

# ---- helpers -----------------------------------------------------------------------------------------


def _T(x):
    return np.swapaxes(x, -1, -2)


def _tri(x, k=0, upper=False):
    """tril(x, k) (triu(x, k) when ``upper``) of the last two axes, by a mask (differentiable)."""
    n, m = np.shape(x)[-2:]
    mask = np.tri(n, m, k=k - 1, dtype=bool) if upper else np.tri(n, m, k=k, dtype=bool)
    if upper:
        mask = ~mask
    return x * const_like(mask, x)


def _strict(x, upper=False):
    """The strict lower (or upper) triangle of x."""
    return _tri(x, -1) if not upper else _tri(x, 1, upper=True)


def _fold_columns(solve, b):
    """``solve(b2)`` for a left-linear ``solve`` of (n, k) matrices, applied to ``b`` of shape
    (..., n, k): the leading axes are moved into extra columns and back."""
    b = np.asarray(b)
    if b.ndim <= 2:
        return solve(b)
    lead, (n, k) = b.shape[:-2], b.shape[-2:]
    cols = np.moveaxis(b, -2, 0).reshape(n, -1)
    x = np.asarray(solve(cols))
    return np.moveaxis(x.reshape((n,) + lead + (k,)), 0, -2)


def _loop_leading(fn, arrays, core_ndims):
    """fn on each element of the broadcast leading axes of ``arrays`` (each with ``core_ndims`` data
    axes): a loop, for SciPy functions without batch support."""
    arrays = [np.asarray(a) for a in arrays]
    lead = np.broadcast_shapes(*(a.shape[:a.ndim - c] for a, c in zip(arrays, core_ndims)))
    if not lead:
        return fn(*arrays)
    full = [np.broadcast_to(a, lead + a.shape[a.ndim - c:]) for a, c in zip(arrays, core_ndims)]
    outs = [fn(*(a[idx] for a in full)) for idx in np.ndindex(*lead)]
    return np.stack(outs).reshape(lead + np.shape(outs[0]))


def _nb(g, ans):
    """Number of batch axes of a cotangent ``g`` of ``ans``."""
    return np.ndim(g) - np.ndim(ans)


# ---- solve (scipy.linalg.solve) and inv, det --------------------------------------------------------

_SYMMETRIC = {"sym", "symmetric", "her", "hermitian", "pos", "positive definite"}
_TRIANGULAR = {"lower triangular": False, "upper triangular": True}
_GENERAL = {None, "gen", "general"}
ASSUME_A = _SYMMETRIC | set(_TRIANGULAR) | _GENERAL
"""The ``assume_a`` values whose derivative is implemented (SciPy's banded kinds are not)."""


def _read(t, assume_a, lower):
    """The matrix SciPy uses when given ``t`` with ``assume_a``: the symmetric matrix of one triangle,
    a triangle, or all of t. It is linear, so it maps tangents too."""
    if assume_a in _SYMMETRIC:
        return _sym_from_triangle(t, upper=not lower)
    if assume_a in _TRIANGULAR:
        return _tri(t, upper=_TRIANGULAR[assume_a])
    return t


def _read_adjoint(g, assume_a, lower):
    """The adjoint of :func:`_read`: zero on the entries SciPy does not read."""
    if assume_a in _SYMMETRIC:
        return _sym_from_triangle_adjoint(g, upper=not lower)
    if assume_a in _TRIANGULAR:
        return _tri(g, upper=_TRIANGULAR[assume_a])
    return g


def _in_dtype_of(c, x):
    """Cotangent ``c`` in x's float dtype (SciPy's det gives float64 even for float32 input)."""
    dtype = np.result_type(lower(x))
    return c.astype(dtype) if np.result_type(lower(c)) != dtype else c


def _solve_impl(a, b, assume_a, lower, transposed):
    return _fold_columns(lambda c: scipy.linalg.solve(a, c, lower=lower, assume_a=assume_a,
                                                      transposed=transposed), b)


def _op(m, transposed):
    return _T(m) if transposed else m


def _solve_jvp_a(t, ans, a, b, assume_a, lower, transposed):
    t = _read(_lift(t, a, np.ndim(ans)), assume_a, lower)
    return -solve(a, _op(t, transposed) @ ans, assume_a=assume_a, lower=lower, transposed=transposed)


def _solve_jvp_b(t, ans, a, b, assume_a, lower, transposed):
    return solve(a, t, assume_a=assume_a, lower=lower, transposed=transposed)


def _solve_vjp_a(ans, a, b, assume_a, lower, transposed):
    def pullback(g):
        gb = solve(a, g, assume_a=assume_a, lower=lower, transposed=not transposed)
        ga = ans @ _T(gb) if transposed else gb @ _T(ans)
        return unbroadcast(_read_adjoint(-ga, assume_a, lower), np.shape(a), _nb(g, ans))
    return pullback


def _solve_vjp_b(ans, a, b, assume_a, lower, transposed):
    return lambda g: solve(a, g, assume_a=assume_a, lower=lower, transposed=not transposed)


def _general(rng, n):
    return rng.uniform(-1, 1, size=(n, n)) + 2.5 * np.eye(n)


def _spd(rng, n):
    m = rng.uniform(-1, 1, size=(n, n))
    return m @ m.T + n * np.eye(n)


def _rhs(rng, n):
    return rng.uniform(-2, 2, size=(n, int(rng.integers(1, 3))))


def _solve_sample(rng):
    # The unread entries (of the other triangle) are noise: the derivative must ignore them.
    n = int(rng.integers(1, 4))
    kind = [None, "gen", "pos", "sym", "lower triangular", "upper triangular"][rng.integers(6)]
    a, lower = (_spd(rng, n) if kind == "pos" else _general(rng, n)), bool(rng.integers(2))
    if kind == "pos":
        a = a + np.tri(n, k=-1) * rng.uniform(-1, 1, size=(n, n)) * (1 if not lower else 0)
    return Sample((a, _rhs(rng, n)), {"assume_a": kind, "lower": lower, "transposed": bool(rng.integers(2))})


solve = primitive(_solve_impl, name="scipy_solve")
defjvp(solve, _solve_jvp_a, _solve_jvp_b)
defvjp(solve, _solve_vjp_a, _solve_vjp_b)
defdomain(solve, _solve_sample)


def _inv_impl(a, assume_a, lower):
    return scipy.linalg.inv(a, assume_a=assume_a, lower=lower)


def _inv_jvp(t, ans, a, assume_a, lower):
    return -(ans @ _read(t, assume_a, lower) @ ans)


def _inv_vjp(ans, a, assume_a, lower):
    return lambda g: _read_adjoint(-(_T(ans) @ g @ _T(ans)), assume_a, lower)


def _inv_sample(rng):
    n = int(rng.integers(1, 4))
    kind = [None, "gen", "pos", "sym"][rng.integers(4)]
    a = _spd(rng, n) if kind == "pos" else _general(rng, n)
    return Sample((a,), {"assume_a": kind, "lower": bool(rng.integers(2))})


inv = primitive(_inv_impl, name="scipy_inv")
defjvp(inv, _inv_jvp)
defvjp(inv, _inv_vjp)
defdomain(inv, _inv_sample)


def _det_impl(a):
    return scipy.linalg.det(a)


# The rules of np.linalg.det (the same function), so that both agree wherever one is refined.
_NP_DET_JVP = _np_linalg.det.jvps[0]  # type: ignore[index]
_NP_DET_VJP = _np_linalg.det.vjps[0]  # type: ignore[index]


def _det_vjp(ans, a):
    pullback = _NP_DET_VJP(ans, a)
    return lambda g: _in_dtype_of(pullback(g), a)


def _det_jvp(t, ans, a):
    # scipy.linalg.det answers in float64 even for float32 input: the tangent follows the answer
    return _in_dtype_of(_NP_DET_JVP(t, ans, a), ans)


det = primitive(_det_impl, name="scipy_det")
defjvp(det, _det_jvp)
defvjp(det, _det_vjp)
defdomain(det, lambda rng: Sample((_general(rng, int(rng.integers(1, 4))),)))

# ---- Cholesky: cho_factor, cho_solve ----------------------------------------------------------------


def _cho_factor_impl(a, lower):
    return scipy.linalg.cho_factor(a, lower=lower)[0]


def _cho_factor_jvp(t, ans, a, lower):
    if lower:
        return _cholesky_jvp(t, _tri(ans), a) + _strict(t, upper=True)
    # Upper: U = Lᵀ with L the lower factor of Aᵀ (whose lower triangle is A's upper one).
    return _T(_cholesky_jvp(_T(t), _T(_tri(ans, upper=True)), a)) + _strict(t)


def _cho_factor_vjp(ans, a, lower):
    if lower:
        factor = _cholesky_vjp(_tri(ans), a)
        return lambda g: factor(_tri(g)) + _strict(g, upper=True)
    factor = _cholesky_vjp(_T(_tri(ans, upper=True)), a)
    return lambda g: _T(factor(_T(_tri(g, upper=True)))) + _strict(g)


def _cho_factor_sample(rng):
    n = int(rng.integers(1, 4))
    return Sample((_spd(rng, n),), {"lower": bool(rng.integers(2))})


cho_factor = primitive(_cho_factor_impl, name="cho_factor")
defjvp(cho_factor, _cho_factor_jvp)
defvjp(cho_factor, _cho_factor_vjp)
defdomain(cho_factor, _cho_factor_sample)


def _cho_solve_impl(c, b, lower):
    return _fold_columns(lambda cols: scipy.linalg.cho_solve((c, lower), cols), b)


def _factor(c, lower):
    """F with A = F Fᵀ: the lower factor, or the transpose of the upper one."""
    return _tri(c) if lower else _T(_tri(c, upper=True))


def _cho_solve_jvp_c(t, ans, c, b, lower):
    f, df = _factor(c, lower), _factor(_lift(t, c, np.ndim(ans)), lower)
    da_x = df @ (_T(f) @ ans) + f @ (_T(df) @ ans)
    return -cho_solve(c, da_x, lower=lower)


def _cho_solve_vjp_c(ans, c, b, lower):
    def pullback(g):
        gb = cho_solve(c, g, lower=lower)
        ga = -(gb @ _T(ans))
        gf = (ga + _T(ga)) @ _factor(c, lower)
        gc = _tri(gf) if lower else _tri(_T(gf), upper=True)
        return unbroadcast(gc, np.shape(c), _nb(g, ans))
    return pullback


def _cho_solve_sample(rng):
    n = int(rng.integers(1, 4))
    lower = bool(rng.integers(2))
    c = scipy.linalg.cho_factor(_spd(rng, n), lower=lower)[0]
    return Sample((c, _rhs(rng, n)), {"lower": lower})


cho_solve = primitive(_cho_solve_impl, name="cho_solve")
defjvp(cho_solve, _cho_solve_jvp_c, lambda t, ans, c, b, lower: cho_solve(c, t, lower=lower))
defvjp(cho_solve, _cho_solve_vjp_c, lambda ans, c, b, lower: lambda g: cho_solve(c, g, lower=lower))
defdomain(cho_solve, _cho_solve_sample)

# ---- LU: lu_factor, lu_solve ---------------------------------------------------------------------------


def permutation_of(piv):
    """The row order ``perm`` with A[perm] = L U, from LAPACK's pivots (row i swapped with piv[i])."""
    perm = np.arange(len(piv))
    for i, p in enumerate(np.asarray(piv)):
        perm[i], perm[p] = perm[p], perm[i]
    return perm


def _lu_parts(lu):
    n = np.shape(lu)[-1]
    return _strict(lu) + const_like(np.eye(n), lu), _tri(lu, upper=True)


def _lu_factor_impl(a, piv):
    return scipy.linalg.lu_factor(a)[0]


def _lu_factor_jvp(t, ans, a, piv):
    low, up = _lu_parts(ans)
    pa = t[..., np.asarray(permutation_of(piv)), :]
    y = trisolve(ans, pa, lower=True, trans=0, unit_diagonal=True)                       # L⁻¹ P dA
    x = _T(trisolve(ans, _T(y), lower=False, trans=1, unit_diagonal=False))           # ... U⁻¹
    return low @ _strict(x) + _tri(x, upper=True) @ up


def _lu_factor_vjp(ans, a, piv):
    low, up = _lu_parts(ans)
    inverse = np.argsort(permutation_of(piv))

    def pullback(g):
        y = _strict(_T(low) @ _strict(g)) + _tri(_tri(g, upper=True) @ _T(up), upper=True)
        w = trisolve(ans, y, lower=True, trans=1, unit_diagonal=True)                  # L⁻ᵀ Y
        z = _T(trisolve(ans, _T(w), lower=False, trans=0, unit_diagonal=False))      # ... U⁻ᵀ
        return z[..., inverse, :]
    return pullback


def _lu_factor_sample(rng):
    # Rows of a diagonally dominant matrix, shuffled: the pivots are far from ties (a perturbation of
    # the finite differences cannot change them), and they do permute.
    n = int(rng.integers(1, 5))
    a = _general(rng, n)[rng.permutation(n)]
    return Sample((a,), {"piv": tuple(int(p) for p in scipy.linalg.lu_factor(a)[1])})


lu_factor = primitive(_lu_factor_impl, name="lu_factor")
defjvp(lu_factor, _lu_factor_jvp)
defvjp(lu_factor, _lu_factor_vjp)
defdomain(lu_factor, _lu_factor_sample)


def _lu_solve_impl(lu, b, piv, trans):
    piv = np.asarray(piv, dtype=np.int32)
    return _fold_columns(lambda cols: scipy.linalg.lu_solve((lu, piv), cols, trans=trans), b)


def _lu_solve_jvp_lu(t, ans, lu, b, piv, trans):
    low, up = _lu_parts(lu)
    t = _lift(t, lu, np.ndim(ans))
    dlow, dup = _strict(t), _tri(t, upper=True)
    perm = permutation_of(piv)
    if trans:       # Aᵀ x = b with A = Pᵀ L U: dAᵀ x = (dL U + L dU)ᵀ x[perm]
        xp = ans[..., perm, :]
        dax = _T(up) @ (_T(dlow) @ xp) + _T(dup) @ (_T(low) @ xp)
    else:           # dA x = ((dL U + L dU) x)[perm⁻¹]
        dax = (dlow @ (up @ ans) + low @ (dup @ ans))[..., np.argsort(perm), :]
    return -lu_solve(lu, dax, piv=piv, trans=trans)


def _lu_solve_vjp_lu(ans, lu, b, piv, trans):
    low, up = _lu_parts(lu)
    perm = permutation_of(piv)

    def pullback(g):
        gb = lu_solve(lu, g, piv=piv, trans=1 - trans)
        ga = -(ans @ _T(gb)) if trans else -(gb @ _T(ans))       # the cotangent of A = Pᵀ L U
        c = ga[..., perm, :]
        glu = _strict(c @ _T(up)) + _tri(_T(low) @ c, upper=True)
        return unbroadcast(glu, np.shape(lu), _nb(g, ans))
    return pullback


def _lu_solve_sample(rng):
    n = int(rng.integers(1, 4))
    lu, piv = scipy.linalg.lu_factor(_general(rng, n)[rng.permutation(n)])
    return Sample((lu, _rhs(rng, n)), {"piv": tuple(int(p) for p in piv), "trans": int(rng.integers(2))})


lu_solve = primitive(_lu_solve_impl, name="lu_solve")
defjvp(lu_solve, _lu_solve_jvp_lu, lambda t, ans, lu, b, piv, trans: lu_solve(lu, t, piv=piv, trans=trans))
defvjp(lu_solve, _lu_solve_vjp_lu,
       lambda ans, lu, b, piv, trans: lambda g: lu_solve(lu, g, piv=piv, trans=1 - trans))
defdomain(lu_solve, _lu_solve_sample)

# ---- Sylvester equations and the matrix square root ----------------------------------------------------


def _sylvester_impl(a, b, q):
    return _loop_leading(scipy.linalg.solve_sylvester, (a, b, q), (2, 2, 2))


def _sylvester_vjp_q(ans, a, b, q):
    return lambda g: unbroadcast(solve_sylvester(_T(a), _T(b), g), np.shape(q), _nb(g, ans))


def _sylvester_vjp_a(ans, a, b, q):
    def pullback(g):
        gq = solve_sylvester(_T(a), _T(b), g)
        return unbroadcast(-(gq @ _T(ans)), np.shape(a), _nb(g, ans))
    return pullback


def _sylvester_vjp_b(ans, a, b, q):
    def pullback(g):
        gq = solve_sylvester(_T(a), _T(b), g)
        return unbroadcast(-(_T(ans) @ gq), np.shape(b), _nb(g, ans))
    return pullback


def _sylvester_sample(rng):
    n, m = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return Sample((_general(rng, n), _general(rng, m), rng.uniform(-2, 2, size=(n, m))))


solve_sylvester = primitive(_sylvester_impl, name="solve_sylvester")
defjvp(solve_sylvester,
       lambda t, ans, a, b, q: solve_sylvester(a, b, -(_lift(t, a, np.ndim(ans)) @ ans)),
       lambda t, ans, a, b, q: solve_sylvester(a, b, -(ans @ _lift(t, b, np.ndim(ans)))),
       lambda t, ans, a, b, q: solve_sylvester(a, b, t))
defvjp(solve_sylvester, _sylvester_vjp_a, _sylvester_vjp_b, _sylvester_vjp_q)
defdomain(solve_sylvester, _sylvester_sample)


def _sqrtm_impl(a):
    return scipy.linalg.sqrtm(a)


def _sqrtm_sample(rng):
    n = int(rng.integers(1, 4))      # eigenvalues well inside the right half-plane, not symmetric
    return Sample((_spd(rng, n) + rng.uniform(-0.3, 0.3, size=(n, n)),))


sqrtm = primitive(_sqrtm_impl, name="sqrtm")
defjvp(sqrtm, lambda t, ans, a: solve_sylvester(ans, ans, t))
defvjp(sqrtm, lambda ans, a: lambda g: solve_sylvester(_T(ans), _T(ans), g))
defdomain(sqrtm, _sqrtm_sample)

# ---- banded solves (scipy.linalg.solve_banded) ----------------------------------------------------------


def _shift(v, d, axis):
    """out[i] = v[i - d] along ``axis`` (zero where i - d is out of range): moves entries d places on."""
    n = np.shape(v)[axis]
    d = max(-n, min(n, d))
    widths = [(0, 0)] * np.ndim(v)
    widths[axis] = (d, 0) if d >= 0 else (0, -d)
    padded = np.pad(v, widths)
    index = [slice(None)] * np.ndim(v)
    index[axis] = slice(0, n) if d >= 0 else slice(-d, n - d)
    return padded[tuple(index)]


def band_matvec(ab, x, lu):
    """A @ x for A in LAPACK band storage ``ab`` (A[i, j] = ab[u + i - j, j]), x of shape (..., n, k)."""
    nlow, u = lu
    out = None
    for r in range(nlow + u + 1):
        term = _shift(ab[..., r, :, None] * x, r - u, axis=-2)
        out = term if out is None else out + term
    return out


def band_transpose(ab, lu):
    """Aᵀ in band storage with the band widths swapped (Aᵀ has u lower and nlow upper diagonals)."""
    nlow, u = lu
    rows = [_shift(ab[..., r, :], r - u, axis=-1) for r in range(nlow + u + 1)]
    return np.stack(rows[::-1], axis=-2)


def _banded_impl(ab, b, lu, trans):
    ab = np.asarray(ab)
    if trans:
        ab, lu = band_transpose(ab, lu), lu[::-1]
    return _fold_columns(lambda cols: scipy.linalg.solve_banded(lu, ab, cols), b)


def _band_outer(gb, x, lu):
    """The band-storage cotangent of A from -gb xᵀ: out[r, j] = -Σ_k gb[j + r - u, k] x[j, k]."""
    nlow, u = lu
    rows = [-np.sum(_shift(gb, u - r, axis=-2) * x, axis=-1) for r in range(nlow + u + 1)]
    return np.stack(rows, axis=-2)


def _banded_jvp_ab(t, ans, ab, b, lu, trans):
    t = _lift(t, ab, np.ndim(ans))
    dax = band_matvec(band_transpose(t, lu), ans, lu[::-1]) if trans else band_matvec(t, ans, lu)
    return -banded(ab, dax, lu=lu, trans=trans)


def _banded_vjp_ab(ans, ab, b, lu, trans):
    def pullback(g):
        gb = banded(ab, g, lu=lu, trans=not trans)
        if trans:   # the cotangent of Aᵀ is -gb xᵀ; transpose it back into A's band storage
            out = band_transpose(_band_outer(gb, ans, lu[::-1]), lu[::-1])
        else:
            out = _band_outer(gb, ans, lu)
        return unbroadcast(out, np.shape(ab), _nb(g, ans))
    return pullback


def _banded_sample(rng):
    n, nlow, u = int(rng.integers(2, 5)), int(rng.integers(0, 2)), int(rng.integers(0, 3))
    ab = rng.uniform(-1, 1, size=(nlow + u + 1, n))
    ab[u] += 3.0                                            # the diagonal: diagonally dominant
    return Sample((ab, _rhs(rng, n)), {"lu": (nlow, u), "trans": bool(rng.integers(2))})


banded = primitive(_banded_impl, name="solve_banded")
defjvp(banded, _banded_jvp_ab, lambda t, ans, ab, b, lu, trans: banded(ab, t, lu=lu, trans=trans))
defvjp(banded, _banded_vjp_ab, lambda ans, ab, b, lu, trans: lambda g: banded(ab, g, lu=lu, trans=not trans))
defdomain(banded, _banded_sample)

__all__ = ["solve", "inv", "det", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "solve_sylvester",
           "sqrtm", "banded", "permutation_of", "band_matvec", "band_transpose"]
