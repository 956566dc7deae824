"""Linear algebra: numpy.linalg, and differentiable versions of scipy.linalg.solve_triangular and expm.

Every primitive works on stacks of matrices (``(..., m, n)``), and its tangents and cotangents carry batch
axes in front of the stack axes. Rules are written with matmul, solve and friends (primitives), so second
derivatives work. Conventions worth knowing:

- Functions that NumPy documents as reading one triangle only (``cholesky``, ``eigh``, ``eigvalsh``,
  ``solve_triangular``) are differentiated as exactly that: a perturbation of the unread triangle has no
  effect, so the derivative there is zero; the read triangle stands for a symmetric (or triangular) matrix.
- Eigenvectors and left singular vectors have the sign that makes the sum of their entries
  nonnegative, and ``qr`` gives R a nonnegative diagonal: LAPACK's own
  signs are arbitrary and may flip between nearby inputs, which would make the factors discontinuous.
  The results are still valid decompositions; they may differ from NumPy's by these signs.
- Multi-output functions (``eigh``, ``svd``, ``qr``, ``slogdet``) return NumPy's result tuples of
  single-output primitives (we have no multi-output primitives).
- ``eigh`` and ``svd`` are differentiable only where the eigenvalues (singular values) are distinct: the
  derivative of the eigenvectors has 1/(w_j - w_i) factors. Near-degenerate values give huge (and at
  exact degeneracy infinite) derivatives; eigenvalue derivatives stay finite. This is a property of the
  function, not of the rule (JAX and PyTorch behave the same).
- ``svd`` with ``full_matrices=True`` of a non-square matrix and ``qr`` of a wide matrix have no
  well-defined derivative for the extra columns; ask for the reduced factors instead.

SciPy's functions do not dispatch on traced values, so :func:`solve_triangular` and :func:`expm` here take
SciPy's signatures and are the ones to call in differentiated code (``autodiff.rules.linalg``).
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
    """Random orthonormal columns, each with an entry sum of at least 0.3 in size (so the sign convention
    of eigenvectors and singular vectors, nonnegative sums, is far from flipping)."""
    while True:
        q, r = np.linalg.qr(rng.normal(size=shape))
        q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
        if np.all(np.abs(np.sum(q, axis=-2)) > 0.3):
            return q


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


solve = primitive(_solve_impl, name="solve")
defjvp(solve, _solve_jvp_a, _solve_jvp_b)
defvjp(solve, _solve_vjp_a, _solve_vjp_b)


@implements(np.linalg.solve)
def _np_solve(a, b):
    """x with a @ x = b. As NumPy 2: b is a vector only when b.ndim == 1, else a stack of matrices."""
    if np.ndim(lower(b)) == 1:
        return solve(a, np.reshape(b, np.shape(lower(b)) + (1,)))[..., 0]
    return solve(a, b)


# ---- inv, det, slogdet ---------------------------------------------------------------------------------


def _inv_impl(a):
    return np.linalg.inv(a)


inv = primitive(_inv_impl, name="inv")
defjvp(inv, lambda t, ans, a: -(ans @ t @ ans))
defvjp(inv, lambda ans, a: lambda g: -(_T(ans) @ g @ _T(ans)))
implements(np.linalg.inv)(lambda a: inv(a))


def _det_impl(a):
    return np.linalg.det(a)


det = primitive(_det_impl, name="det")
# d det(A) = det(A) tr(A⁻¹ dA) = det(A) <A⁻ᵀ, dA>.
defjvp(det, lambda t, ans, a: ans * np.sum(_T(inv(a)) * t, axis=(-2, -1)))
defvjp(det, lambda ans, a: lambda g: (g * ans)[..., None, None] * _T(inv(a)))
implements(np.linalg.det)(lambda a: det(a))


def _logabsdet_impl(a):
    return np.linalg.slogdet(a)[1]


logabsdet = primitive(_logabsdet_impl, name="logabsdet")
defjvp(logabsdet, lambda t, ans, a: np.sum(_T(inv(a)) * t, axis=(-2, -1)))
defvjp(logabsdet, lambda ans, a: lambda g: g[..., None, None] * _T(inv(a)))

_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


@implements(np.linalg.slogdet)
def _np_slogdet(a):
    """(sign, log|det a|): the sign is piecewise constant (derivative zero), log|det| differentiable."""
    return _SlogdetResult(np.linalg.slogdet(lower(a))[0], logabsdet(a))


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


trisolve = primitive(_trisolve_impl, name="solve_triangular")
defjvp(trisolve, _trisolve_jvp_a, _trisolve_jvp_b)
defvjp(trisolve, _trisolve_vjp_a, _trisolve_vjp_b)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_a=False,
                     overwrite_b=False, check_finite=True):
    """Differentiable ``scipy.linalg.solve_triangular``: x with op(A) x = b, A triangular.

    Only the ``lower`` (or upper) triangle of ``a`` is read (not its diagonal if ``unit_diagonal``), so the
    derivative with respect to the other entries is zero. ``trans`` 0/'N' solves A x = b, 1/'T' (and
    2/'C' for real A) solves Aᵀ x = b. ``b`` of shape (n,) is a vector, otherwise (..., n, k) matrices.
    """
    trans = {"N": 0, "T": 1, "C": 1, 0: 0, 1: 1, 2: 1}[trans]
    params = {"lower": bool(lower), "trans": trans, "unit_diagonal": bool(unit_diagonal)}
    if np.ndim(lower_(b)) == 1:
        return trisolve(a, np.reshape(b, np.shape(lower_(b)) + (1,)), **params)[..., 0]
    return trisolve(a, b, **params)


# ---- cholesky ------------------------------------------------------------------------------------------


def _cholesky_impl(a):
    return np.linalg.cholesky(a)


def _phi(p):
    """Lower triangle of p with its diagonal halved: dL = L Φ(L⁻¹ dS L⁻ᵀ)."""
    n = np.shape(p)[-1]
    return p * const_like(np.tri(n, k=-1) + 0.5 * np.eye(n), p)


def _cholesky_jvp(t, ans, a):
    ds = _sym_from_triangle(t)
    x = trisolve(ans, ds, lower=True, trans=0, unit_diagonal=False)           # L⁻¹ dS
    p = _T(trisolve(ans, _T(x), lower=True, trans=0, unit_diagonal=False))    # L⁻¹ dS L⁻ᵀ
    return ans @ _phi(p)


def _cholesky_vjp(ans, a):
    def pullback(g):
        y = _phi(_T(ans) @ g)
        z = trisolve(ans, y, lower=True, trans=1, unit_diagonal=False)          # L⁻ᵀ Y
        m = _T(trisolve(ans, _T(z), lower=True, trans=1, unit_diagonal=False))  # L⁻ᵀ Y L⁻¹
        return _sym_from_triangle_adjoint(m)
    return pullback


cholesky = primitive(_cholesky_impl, name="cholesky")
defjvp(cholesky, _cholesky_jvp)
defvjp(cholesky, _cholesky_vjp)


@implements(np.linalg.cholesky)
def _np_cholesky(a, /, *, upper=False):
    if upper:
        return _T(cholesky(_T(a)))
    return cholesky(a)


# ---- eigh: eigenvalues and eigenvectors of a symmetric matrix (one triangle read) ---------------------


def _eigvalsh_impl(a, upper):
    return np.linalg.eigvalsh(a, UPLO="U" if upper else "L")


def _eigvecs_impl(a, upper):
    v = np.linalg.eigh(a, UPLO="U" if upper else "L")[1]
    return v * _column_signs(v)


def _column_signs(u):
    """±1 per column making each column's sum nonnegative.

    Why: LAPACK picks the sign of each eigenvector / singular vector arbitrarily and may flip it between
    nearby inputs, which would make the factors discontinuous. With this convention they are continuous
    (hence differentiable) wherever the values are distinct and no column sums to zero.
    """
    return np.where(np.sum(u, axis=-2, keepdims=True) < 0, -1.0, 1.0).astype(u.dtype)


def _eig_gaps_inverse(w):
    """F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it (the eigenvector sensitivities)."""
    n = np.shape(w)[-1]
    eye = _eye(n, w)
    d = w[..., None, :] - w[..., :, None]
    return (1.0 - eye) / (d + eye)


def _eigvalsh_jvp(t, ans, a, upper):
    v = eigvecs(a, upper=upper)
    ds = _sym_from_triangle(t, upper)
    return np.sum(v * (ds @ v), axis=-2)


def _eigvalsh_vjp(ans, a, upper):
    v = eigvecs(a, upper=upper)
    return lambda g: _sym_from_triangle_adjoint((v * g[..., None, :]) @ _T(v), upper)


def _eigvecs_jvp(t, ans, a, upper):
    f = _eig_gaps_inverse(eigvalsh(a, upper=upper))
    ds = _sym_from_triangle(t, upper)
    return ans @ (f * (_T(ans) @ ds @ ans))


def _eigvecs_vjp(ans, a, upper):
    f = _eig_gaps_inverse(eigvalsh(a, upper=upper))
    return lambda g: _sym_from_triangle_adjoint(ans @ (f * (_T(ans) @ g)) @ _T(ans), upper)


eigvalsh = primitive(_eigvalsh_impl, name="eigvalsh")
defjvp(eigvalsh, _eigvalsh_jvp)
defvjp(eigvalsh, _eigvalsh_vjp)
eigvecs = primitive(_eigvecs_impl, name="eigh_vectors")
defjvp(eigvecs, _eigvecs_jvp)
defvjp(eigvecs, _eigvecs_vjp)

_EighResult = type(np.linalg.eigh(np.eye(1)))


@implements(np.linalg.eigh)
def _np_eigh(a, UPLO="L"):
    upper = UPLO.upper() == "U"
    return _EighResult(eigvalsh(a, upper=upper), eigvecs(a, upper=upper))


@implements(np.linalg.eigvalsh)
def _np_eigvalsh(a, UPLO="L"):
    return eigvalsh(a, upper=UPLO.upper() == "U")


# ---- svd: thin factors U (m, k), s (k,), Vh (k, n) with k = min(m, n) ---------------------------------


def _svd_u_impl(a):
    u = np.linalg.svd(a, full_matrices=False)[0]
    return u * _column_signs(u)


def _svd_s_impl(a):
    return np.linalg.svd(a, compute_uv=False)


def _svd_vh_impl(a):
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return vh * np.swapaxes(_column_signs(u), -1, -2)


def _svd_s_jvp(t, ans, a):
    u, vh = svd_u(a), svd_vh(a)
    return np.sum(u * (t @ _T(vh)), axis=-2)


def _svd_s_vjp(ans, a):
    u, vh = svd_u(a), svd_vh(a)
    return lambda g: (u * g[..., None, :]) @ vh


def _svd_factor_tangents(t, a):
    """Tangents (dU, dV) of the thin SVD (distinct nonzero singular values), with V = Vhᵀ."""
    u, s, v = svd_u(a), svd_s(a), _T(svd_vh(a))
    m, n = np.shape(lower(a))[-2:]
    k = min(m, n)
    eye = _eye(k, s)
    dp = _T(u) @ t @ v                                          # Uᵀ dA V, (k, k)
    s_row = s[..., None, :]
    s_col = s[..., :, None]
    f = (1.0 - eye) / ((s_row - s_col) * (s_row + s_col) + eye)  # 1 / (s_j² - s_i²)
    du = u @ (f * (dp * s_row + s_col * _T(dp)))
    dv = v @ (f * (s_col * dp + _T(dp) * s_row))
    if m > k:  # the part of dA V outside span(U)
        dav = t @ v
        du = du + (dav - u @ (_T(u) @ dav)) / s_row
    if n > k:
        dahu = _T(t) @ u
        dv = dv + (dahu - v @ (_T(v) @ dahu)) / s_row
    return du, dv


svd_u = primitive(_svd_u_impl, name="svd_u")
svd_s = primitive(_svd_s_impl, name="svd_s")
svd_vh = primitive(_svd_vh_impl, name="svd_vh")
defjvp(svd_s, _svd_s_jvp)
defvjp(svd_s, _svd_s_vjp)
defjvp(svd_u, lambda t, ans, a: _svd_factor_tangents(t, a)[0])
defjvp(svd_vh, lambda t, ans, a: _T(_svd_factor_tangents(t, a)[1]))


def _svd_parts(a):
    u, s, vh = svd_u(a), svd_s(a), svd_vh(a)
    k = min(np.shape(lower(a))[-2:])
    eye = _eye(k, s)
    s_row, s_col = s[..., None, :], s[..., :, None]
    f = (1.0 - eye) / ((s_row - s_col) * (s_row + s_col) + eye)
    return u, s_row, s_col, vh, f


def _svd_u_vjp(ans, a):
    # The transpose of dU = U (F∘(dP S + S dPᵀ)) + (I - U Uᵀ) dA V S⁻¹, with dP = Uᵀ dA V.
    u, s_row, _, vh, f = _svd_parts(a)
    tall = np.shape(lower(a))[-2] > np.shape(lower(a))[-1]

    def pullback(g):
        x = f * (_T(u) @ g)
        out = u @ ((x + _T(x)) * s_row) @ vh
        if tall:
            out = out + ((g - u @ (_T(u) @ g)) / s_row) @ vh
        return out
    return pullback


def _svd_vh_vjp(ans, a):
    # The transpose of dV = V (F∘(S dP + dPᵀ S)) + (I - V Vᵀ) dAᵀ U S⁻¹, with Vh = Vᵀ.
    u, s_row, s_col, vh, f = _svd_parts(a)
    wide = np.shape(lower(a))[-1] > np.shape(lower(a))[-2]

    def pullback(g):
        y = f * (vh @ _T(g))
        out = u @ (s_col * (y + _T(y))) @ vh
        if wide:
            out = out + (u / s_row) @ (g - (g @ _T(vh)) @ vh)
        return out
    return pullback


defvjp(svd_u, _svd_u_vjp)
defvjp(svd_vh, _svd_vh_vjp)

_SVDResult = type(np.linalg.svd(np.eye(1)))


@implements(np.linalg.svd)
def _np_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular values (compute_uv=False) or the factors (U, s, Vh), each a differentiable primitive."""
    if not compute_uv:
        return svd_s(a)
    m, n = np.shape(lower(a))[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            "the derivative of svd(full_matrices=True) of a non-square matrix is not defined (the extra "
            "columns are not unique); use np.linalg.svd(a, full_matrices=False).")
    return _SVDResult(svd_u(a), svd_s(a), svd_vh(a))


@implements(np.linalg.svdvals)
def _np_svdvals(x, /):
    return svd_s(x)


# ---- qr (reduced, tall or square) --------------------------------------------------------------------


def _qr_signs(r):
    """±1 per row of R making its diagonal nonnegative: the unique QR of a full-rank matrix, continuous in
    A (Householder QR flips signs between nearby inputs)."""
    d = np.diagonal(r, axis1=-2, axis2=-1)
    return np.where(d < 0, -1.0, 1.0).astype(r.dtype)


def _qr_q_impl(a):
    q, r = np.linalg.qr(a)
    return q * _qr_signs(r)[..., None, :]


def _qr_r_impl(a):
    r = np.linalg.qr(a)[1]
    return r * _qr_signs(r)[..., :, None]


def _qr_tangents(t, a):
    """(dQ, dR) of the reduced QR of a tall full-rank matrix: with X = Qᵀ dA R⁻¹ and Ω its skew part
    from the strict lower triangle, dQ = Q (Ω - X) + dA R⁻¹ and dR = (X - Ω) R."""
    q, r = qr_q(a), qr_r(a)
    da_rinv = _T(trisolve(r, _T(t), lower=False, trans=1, unit_diagonal=False))  # dA R⁻¹
    x = _T(q) @ da_rinv
    low = x * const_like(np.tri(np.shape(lower(r))[-1], k=-1), x)
    omega = low - _T(low)
    return q @ (omega - x) + da_rinv, (x - omega) @ r


def _qr_cotangent(q, r, m, extra):
    """Ā = (Q N + extra) R⁻ᵀ, N = M - tril(M - Mᵀ, -1): the transpose of the QR tangent map, where
    M = R̄ Rᵀ - Qᵀ Q̄ and extra = Q̄ (the dA R⁻¹ term of dQ)."""
    low = const_like(np.tri(np.shape(lower(r))[-1], k=-1), m)
    n = m - (m - _T(m)) * low
    y = q @ n if extra is None else q @ n + extra
    return _T(trisolve(r, _T(y), lower=False, trans=0, unit_diagonal=False))


def _qr_q_vjp(ans, a):
    r = qr_r(a)
    return lambda g: _qr_cotangent(ans, r, -(_T(ans) @ g), g)


def _qr_r_vjp(ans, a):
    q = qr_q(a)
    return lambda g: _qr_cotangent(q, ans, g @ _T(ans), None)


qr_q = primitive(_qr_q_impl, name="qr_q")
qr_r = primitive(_qr_r_impl, name="qr_r")
defjvp(qr_q, lambda t, ans, a: _qr_tangents(t, a)[0])
defjvp(qr_r, lambda t, ans, a: _qr_tangents(t, a)[1])
defvjp(qr_q, _qr_q_vjp)
defvjp(qr_r, _qr_r_vjp)

_QRResult = type(np.linalg.qr(np.eye(1)))


@implements(np.linalg.qr)
def _np_qr(a, mode="reduced"):
    m, n = np.shape(lower(a))[-2:]
    if m < n or (mode == "complete" and m != n):
        raise NotImplementedError(
            "qr is differentiable here for tall or square matrices in mode 'reduced' or 'r' (the extra "
            "columns of a complete Q are not unique); transpose a wide matrix first.")
    if mode == "r":
        return qr_r(a)
    if mode not in ("reduced", "complete"):
        raise NotImplementedError(f"qr(mode={mode!r}) is not differentiable; use 'reduced' or 'r'.")
    return _QRResult(qr_q(a), qr_r(a))


# ---- pinv ----------------------------------------------------------------------------------------------


def _pinv_impl(a, rtol, hermitian):
    return np.linalg.pinv(a, rtol=rtol, hermitian=hermitian)


def _pinv_jvp(t, ans, a, rtol, hermitian):
    # Golub & Pereyra: d A⁺ = -A⁺ dA A⁺ + A⁺ A⁺ᵀ dAᵀ (I - A A⁺) + (I - A⁺ A) dAᵀ A⁺ᵀ A⁺ (constant rank).
    p = ans
    m, n = np.shape(lower(a))[-2:]
    left = _eye(m, p) - a @ p
    right = _eye(n, p) - p @ a
    return -(p @ t @ p) + p @ _T(p) @ _T(t) @ left + right @ _T(t) @ _T(p) @ p


def _pinv_vjp(ans, a, rtol, hermitian):
    p = ans
    m, n = np.shape(lower(a))[-2:]
    left = _eye(m, p) - a @ p
    right = _eye(n, p) - p @ a
    return lambda g: -(_T(p) @ g @ _T(p)) + left @ _T(g) @ p @ _T(p) + _T(p) @ p @ _T(g) @ right


pinv = primitive(_pinv_impl, name="pinv")
defjvp(pinv, _pinv_jvp)
defvjp(pinv, _pinv_vjp)


@implements(np.linalg.pinv)
def _np_pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """Moore-Penrose pseudo-inverse; differentiable where the rank is locally constant."""
    if rcond is not None:
        rtol = rcond
    return pinv(a, rtol=rtol, hermitian=bool(hermitian))


@implements(np.linalg.lstsq)
def _np_lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as NumPy; x = A⁺ b, differentiable where A has full column rank."""
    a_val, b_val = lower(a), lower(b)
    rank = np.linalg.lstsq(a_val, b_val, rcond=rcond)[2]
    m, n = np.shape(a_val)
    x = pinv(a, rtol=rcond, hermitian=False) @ b
    if rank == n and m > n:
        r = b - a @ x
        residuals = np.sum(r * r, axis=0)
        if np.ndim(b_val) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = np.empty((0,), dtype=np.result_type(a_val, b_val))
    return x, residuals, rank, svd_s(a)


@implements(np.linalg.matrix_power)
def _np_matrix_power(a, n):
    """a @ a @ ... (n times) by repeated squaring; inv(a) first for negative n; identity for n = 0."""
    n = int(n)
    shape = np.shape(lower(a))
    if n == 0:
        return np.broadcast_to(_eye(shape[-1], a), shape)
    if n < 0:
        a, n = inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else result @ a
        n >>= 1
        if n:
            a = a @ a
    return result


# ---- norms ---------------------------------------------------------------------------------------------


def _norm2_impl(x, axis, keepdims):
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _safe_ratio(x, ans, axis, keepdims):
    """x / ‖x‖ with 0 where ‖x‖ = 0: the minimum-norm subgradient at 0 (so the derivative stays finite)."""
    full = ans if keepdims else np.expand_dims(ans, axis)
    zero = const_like(lower(full) == 0, full)
    return x / (full + zero)


def _norm2_jvp(t, ans, x, axis, keepdims):
    return np.sum(t * _safe_ratio(x, ans, axis, keepdims), axis=axis, keepdims=keepdims)


def _norm2_vjp(ans, x, axis, keepdims):
    ratio = _safe_ratio(x, ans, axis, keepdims)

    def pullback(g):
        return (g if keepdims else np.expand_dims(g, axis)) * ratio
    return pullback


norm2 = primitive(_norm2_impl, name="norm2")
defjvp(norm2, _norm2_jvp)
defvjp(norm2, _norm2_vjp)


def _neg_axes(axis, nd):
    return tuple(sorted(int(a) % nd - nd for a in axis))


def _two_norm(x, axis, keepdims):
    if np.iscomplexobj(lower(x)):  # sqrt(sum |x|^2), |x|^2 = Re(x conj(x))
        return np.sqrt(np.sum(np.real(x * np.conjugate(x)), axis=axis, keepdims=keepdims))
    return norm2(x, axis=axis, keepdims=keepdims)


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _two_norm(x, axis, keepdims)
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # a count of nonzero entries: piecewise constant, derivative zero
        return np.sum(lower(x) != 0, axis=axis, keepdims=keepdims).astype(np.result_type(lower(x)))
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axis, keepdims):
    nd = np.ndim(lower(x))
    row, col = (int(a) % nd for a in axis)
    if ord in (None, "fro"):
        out = _two_norm(x, _neg_axes((row, col), nd), True)
    elif ord in ("nuc", 2, -2):
        s = svd_s(np.moveaxis(x, (row, col), (-2, -1)))
        red = {"nuc": np.sum, 2: np.max, -2: np.min}[ord](s, axis=-1)
        out = np.expand_dims(red, (min(row, col), max(row, col)))
    elif ord in (1, -1, np.inf, -np.inf):
        inner, outer = (row, col) if ord in (1, -1) else (col, row)
        sums = np.sum(np.abs(x), axis=inner, keepdims=True)
        out = (np.max if ord > 0 else np.min)(sums, axis=outer, keepdims=True)
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    return out if keepdims else np.squeeze(out, axis=(row, col))


@implements(np.linalg.norm)
def _np_norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf, -inf, 0, p) and matrix norms ('fro', 'nuc', 2, -2, 1, -1, inf,
    -inf). At x = 0 the 2-norm and Frobenius norm have the subgradient 0."""
    nd = np.ndim(lower(x))
    if axis is None:
        if ord is None:
            return _two_norm(x, tuple(range(-nd, 0)), keepdims)
        axis = tuple(range(nd))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, _neg_axes(axis, nd), keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(np.linalg.vector_norm)
def _np_vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    nd = np.ndim(lower(x))
    axes = tuple(range(nd)) if axis is None else ((axis,) if isinstance(axis, (int, np.integer)) else axis)
    return _vector_norm(x, ord, _neg_axes(axes, nd), keepdims)


@implements(np.linalg.matrix_norm)
def _np_matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return _matrix_norm(x, ord, (-2, -1), keepdims)


# ---- expm (scipy.linalg.expm) ------------------------------------------------------------------------


def _expm_impl(a):
    return scipy.linalg.expm(a)


def _frechet(a, e):
    """L(A, E), the derivative of expm at A in direction E: the top-right block of expm([[A, E], [0, A]]).

    ``e`` may carry batch axes in front; A is broadcast to them.
    """
    a = np.broadcast_to(a, np.shape(e))
    top = np.concatenate([a, e], axis=-1)
    bottom = np.concatenate([np.zeros(np.shape(lower(e)), dtype=np.result_type(lower(e))), a], axis=-1)
    n = np.shape(lower(e))[-1]
    return expm_(np.concatenate([top, bottom], axis=-2))[..., :n, n:]


expm_ = primitive(_expm_impl, name="expm")
defjvp(expm_, lambda t, ans, a: _frechet(a, t))
# The adjoint of L(A, ·) for the trace inner product is L(Aᵀ, ·).
defvjp(expm_, lambda ans, a: lambda g: _frechet(_T(a), g))


def expm(A):
    """Differentiable ``scipy.linalg.expm``: the matrix exponential of A (or of a stack of matrices).

    Its derivative is the Fréchet derivative L(A, E), computed exactly as a block of a 2n×2n exponential.
    """
    return expm_(A)


__all__ = ["solve", "inv", "det", "logabsdet", "trisolve", "solve_triangular", "cholesky", "eigvalsh",
           "eigvecs", "svd_u", "svd_s", "svd_vh", "qr_q", "qr_r", "pinv", "norm2", "expm"]


# ---- test domains --------------------------------------------------------------------------------------


def _solve_sample(rng):
    shapes = [((3, 3), (3, 2)), ((3, 3), (3, 1)), ((2, 3, 3), (3, 2)), ((3, 3), (2, 3, 1)),
              ((2, 2, 2), (2, 2, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    return Sample((_well_conditioned(rng, sa), rng.uniform(-2, 2, size=sb)))


def _square_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3), (1, 1)], _well_conditioned),))


def _spd_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3)], _spd),))


def _symmetric_distinct(rng, shape):
    n = shape[-1]
    w = np.linspace(-2.0, 2.0, n) + rng.uniform(-0.2, 0.2, size=shape[:-1])
    q = _orthogonal(rng, shape)
    a = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    # Noise in the unread (upper) triangle: the derivative must ignore it.
    return a + np.triu(rng.uniform(-1, 1, size=shape), 1)


def _eigh_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3)], _symmetric_distinct),),
                  {"upper": False})


def _distinct_singular(rng, shape):
    m, n = shape[-2:]
    k = min(m, n)
    s = np.linspace(3.0, 1.0, k) + rng.uniform(-0.2, 0.2, size=shape[:-2] + (k,))
    u = _orthogonal(rng, shape[:-2] + (m, k))
    v = _orthogonal(rng, shape[:-2] + (n, k))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def _svd_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (4, 2), (2, 4), (2, 3, 2)], _distinct_singular),))


def _qr_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (4, 2), (2, 3, 2)], _well_conditioned_tall),))


def _well_conditioned_tall(rng, shape):
    return _distinct_singular(rng, shape)


def _pinv_sample(rng):
    a = _matrix_sample(rng, [(3, 2), (2, 3), (3, 3), (2, 3, 2)], _distinct_singular)
    return Sample((a,), {"rtol": None, "hermitian": False})


def _trisolve_sample(rng):
    shapes = [((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    a = rng.uniform(-1, 1, size=sa) + 2.5 * np.eye(sa[-1])
    params = {"lower": bool(rng.integers(2)), "trans": int(rng.integers(2)),
              "unit_diagonal": bool(rng.integers(2))}
    return Sample((a, rng.uniform(-2, 2, size=sb)), params)


def _norm2_sample(rng):
    choices = [((3,), (-1,), False), ((2, 3), (-1,), True), ((2, 3), (-2, -1), False),
               ((2, 3, 2), (-3,), False)]
    shape, axis, keepdims = choices[rng.integers(len(choices))]
    return Sample((rng.uniform(-2, 2, size=shape),), {"axis": axis, "keepdims": keepdims})


def _expm_sample(rng):
    return Sample((_matrix_sample(rng, [(2, 2), (3, 3), (2, 2, 2)],
                                  lambda r, s: r.uniform(-1, 1, size=s)),))


defdomain(solve, _solve_sample)
defdomain(inv, _square_sample)
defdomain(det, _square_sample)
defdomain(logabsdet, _square_sample)
defdomain(trisolve, _trisolve_sample)
defdomain(cholesky, _spd_sample)
defdomain(eigvalsh, _eigh_sample)
defdomain(eigvecs, _eigh_sample)
defdomain(svd_u, _svd_sample)
defdomain(svd_s, _svd_sample)
defdomain(svd_vh, _svd_sample)
defdomain(qr_q, _qr_sample)
defdomain(qr_r, _qr_sample)
defdomain(pinv, _pinv_sample)
defdomain(norm2, _norm2_sample)
defdomain(expm_, _expm_sample)
