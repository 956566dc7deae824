"""Linear algebra: the decompositions ``eigh``/``eigvalsh``, ``eig``/``eigvals``, ``svd`` and ``qr``.

Each factor is a primitive making NumPy's own LAPACK call, so traced values are NumPy's bit for bit, and
its rules differentiate exactly that factor (see :mod:`autodiff.rules.linalg` for the conventions: signs,
gauges, degeneracy, complex input).
"""

from __future__ import annotations

import numpy as np

from autodiff.core import Sample, defdomain, defjvp, defvjp, implements, lower, primitive
from autodiff.rules._linalg_base import (
    _T,
    _align_columns,
    _column_flips,
    _eye,
    _lift,
    _matrix_sample,
    _nearest_order,
    _orthogonal,
    _quiet,
    _reject_complex,
    _sym_from_triangle,
    _sym_from_triangle_adjoint,
    solve,
    trisolve,
)
from autodiff.rules._util import const_like

# ---- eigh: eigenvalues and eigenvectors of a symmetric matrix (one triangle read) ---------------------


def _eigvalsh_impl(a, upper, vectors=False):
    # eigh and eigvalsh are different LAPACK calls: their eigenvalues may differ in the last bit, and a
    # traced value must equal NumPy's exactly, so ``vectors`` says which of the two this is.
    uplo = "U" if upper else "L"
    return np.linalg.eigh(a, UPLO=uplo)[0] if vectors else np.linalg.eigvalsh(a, UPLO=uplo)


def _eigvecs_impl(a, upper, like=None):
    return _align_columns(np.linalg.eigh(a, UPLO="U" if upper else "L")[1], like)


@_quiet
def _eig_gaps_inverse(w):
    """F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it (the eigenvector sensitivities); inf where two
    eigenvalues are exactly equal (the eigenvectors have no derivative there)."""
    n = np.shape(w)[-1]
    eye = _eye(n, w)
    d = w[..., None, :] - w[..., :, None]
    return 1.0 / (d + eye) - eye


def _eigvalsh_jvp(t, ans, a, upper, vectors=False):
    # dw_i = v_iᵀ dS v_i: independent of the sign of v_i.
    v = eigvecs(a, upper=upper)
    ds = _sym_from_triangle(t, upper)
    return np.sum(v * (ds @ v), axis=-2)


def _eigvalsh_vjp(ans, a, upper, vectors=False):
    v = eigvecs(a, upper=upper)
    return lambda g: _sym_from_triangle_adjoint((v * g[..., None, :]) @ _T(v), upper)


@_quiet
def _eigvecs_jvp(t, ans, a, upper, like=None):
    # dV = V (F ∘ (Vᵀ dS V)): vᵢᵀ dvᵢ = 0 keeps unit norm, and LAPACK's sign of each column is locally
    # constant, so this is the derivative of the very factor NumPy returned.
    f = _eig_gaps_inverse(eigvalsh(a, upper=upper, vectors=True))
    ds = _sym_from_triangle(t, upper)
    return ans @ (f * (_T(ans) @ ds @ ans))


def _eigvecs_vjp(ans, a, upper, like=None):
    w = eigvalsh(a, upper=upper, vectors=True)

    @_quiet
    def pullback(g):
        f = _eig_gaps_inverse(w)
        return _sym_from_triangle_adjoint(ans @ (f * (_T(ans) @ g)) @ _T(ans), upper)
    return pullback


def _symmetric_distinct(rng, shape):
    n = shape[-1]
    w = np.linspace(-2.0, 2.0, n) + rng.uniform(-0.2, 0.2, size=shape[:-1])
    q = _orthogonal(rng, shape)
    a = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    # Noise in the unread (upper) triangle: the derivative must ignore it.
    return a + np.triu(rng.uniform(-1, 1, size=shape), 1)


def _eigh_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3)], _symmetric_distinct),),
                  {"upper": bool(rng.integers(2))})


def _eigvalsh_sample(rng):
    sample = _eigh_sample(rng)
    if sample.params["upper"]:   # the noise goes to the unread triangle
        sample = Sample((np.swapaxes(sample.args[0], -1, -2),), sample.params)
    return Sample(sample.args, dict(sample.params, vectors=bool(rng.integers(2))))


eigvalsh = primitive(_eigvalsh_impl, name="eigvalsh")
defjvp(eigvalsh, _eigvalsh_jvp)
defvjp(eigvalsh, _eigvalsh_vjp)
defdomain(eigvalsh, _eigvalsh_sample)


def _eigvecs_sample(rng):
    sample = _eigvalsh_sample(rng)
    upper = sample.params["upper"]
    like = np.linalg.eigh(sample.args[0], UPLO="U" if upper else "L")[1]
    return Sample(sample.args, {"upper": upper, "like": like})


eigvecs = primitive(_eigvecs_impl, name="eigh_vectors")
defjvp(eigvecs, _eigvecs_jvp)
defvjp(eigvecs, _eigvecs_vjp)
defdomain(eigvecs, _eigvecs_sample)

_EighResult = type(np.linalg.eigh(np.eye(1)))


def _uplo_is_upper(UPLO):
    UPLO = UPLO.upper()   # as NumPy: 'l' and 'u' are accepted
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return UPLO == "U"


@implements(np.linalg.eigh)
def _np_eigh(a, UPLO="L"):
    """(w, V) exactly as NumPy returns them; the derivative is that of NumPy's (LAPACK's) eigenvectors."""
    upper = _uplo_is_upper(UPLO)
    _reject_complex("eigh", a)
    return _EighResult(eigvalsh(a, upper=upper, vectors=True), eigvecs(a, upper=upper))


@implements(np.linalg.eigvalsh)
def _np_eigvalsh(a, UPLO="L"):
    upper = _uplo_is_upper(UPLO)
    _reject_complex("eigvalsh", a)
    return eigvalsh(a, upper=upper)


# ---- eig, eigvals: a general square matrix, real or complex -----------------------------------------
#
# NumPy's eigenvectors (LAPACK geev) have unit 2-norm and a real largest-modulus component; for a real
# matrix whose eigenvalues are all real, NumPy returns real w and V. The rules differentiate exactly
# those factors: dV = V (F ∘ P) + V diag(c), P = V⁻¹ dA V, with the complex c_j fixed by the two real
# normalisation constraints (as JAX does).


def _eig_values_impl(a, vectors=False, like=None):
    # eig and eigvals are different LAPACK calls (values may differ in the last bit): say which one.
    # ``like`` (test domains only, see _align_columns) is (w, V) at the sample point: LAPACK's order of
    # the eigenvalues also changes between nearby inputs.
    w = np.linalg.eig(a)[0] if vectors else np.linalg.eigvals(a)
    return w if like is None else np.take_along_axis(w, _nearest_order(w, like[0]), axis=-1)


def _eig_vectors_impl(a, like=None):
    w, v = np.linalg.eig(a)
    if like is None:
        return v
    v = np.take_along_axis(v, _nearest_order(w, like[0])[..., None, :], axis=-1)
    return _align_columns(v, like[1])


def _real_like(z, like):
    """z as the dtype class of ``like``: the real part where the output (or input) is real."""
    return z if np.iscomplexobj(lower(like)) else np.real(z)


def _eig_order(a):
    """Index of the eig() eigenvalue matching each eigvals() eigenvalue (the two calls may order them
    differently); raise where the match is ambiguous (repeated eigenvalues)."""
    w_vals = np.linalg.eigvals(lower(a))
    w_eig = np.linalg.eig(lower(a))[0]
    order = np.argmin(np.abs(w_vals[..., :, None] - w_eig[..., None, :]), axis=-1)
    if np.any(np.sort(order, axis=-1) != np.arange(np.shape(order)[-1])):
        raise NotImplementedError("eigvals has no derivative at repeated eigenvalues.")
    return order


def _eig_basis(a, vectors, like=None):
    """The eigenvectors V whose columns belong to the eigenvalues of eig (vectors=True) or eigvals."""
    v = eig_vectors(a, like=like)
    if vectors or like is not None:   # ``like`` put both in its order
        return v
    return np.take_along_axis(v, _eig_order(a)[..., None, :], axis=-1)


def _eig_values_jvp(t, ans, a, vectors=False, like=None):
    # dw_i = (V⁻¹ dA V)_ii.
    v = _eig_basis(a, vectors, like)
    p = solve(v, _lift(t, a, np.ndim(v)) @ v)
    return _real_like(np.diagonal(p, axis1=-2, axis2=-1), ans)


def _eig_values_vjp(ans, a, vectors=False, like=None):
    v = _eig_basis(a, vectors, like)

    def pullback(g):   # Ā = V⁻ᵀ diag(ḡ) Vᵀ (the transpose, no conjugation: docs/complex.md)
        return _real_like(solve(_T(v), g[..., :, None] * _T(v)), a)
    return pullback


def _largest_component_mask(v):
    """One-hot (per column) of the largest-modulus entry, the one LAPACK makes real."""
    k = np.argmax(np.abs(lower(v)), axis=-2)
    n = np.shape(lower(v))[-2]
    return const_like(np.arange(n)[:, None] == k[..., None, :], v)


@_quiet
def _eig_vectors_jvp(t, ans, a, like=None):
    v = ans
    f = _eig_gaps_inverse(eig_values(a, vectors=True, like=like))
    p = solve(v, _lift(t, a, np.ndim(v)) @ v)
    u = v @ (f * p)
    if not np.iscomplexobj(lower(v)):       # real V: only the unit norm to keep
        return u - v * np.sum(v * u, axis=-2, keepdims=True)
    mask = _largest_component_mask(v)
    v_k = np.real(np.sum(v * mask, axis=-2, keepdims=True))
    norm_part = np.real(np.sum(np.conjugate(v) * u, axis=-2, keepdims=True))
    phase_part = np.imag(np.sum(u * mask, axis=-2, keepdims=True)) / v_k
    return u - v * (norm_part + const_like(1j, v) * phase_part)


def _eig_vectors_vjp(ans, a, like=None):
    v = ans
    w = eig_values(a, vectors=True, like=like)

    @_quiet
    def pullback(g):
        s = np.sum(g * v, axis=-2, keepdims=True)
        if np.iscomplexobj(lower(v)):
            mask = _largest_component_mask(v)
            v_k = np.real(np.sum(v * mask, axis=-2, keepdims=True))
            g0 = g - np.conjugate(v) * np.real(s) - const_like(1j, v) * mask * (np.imag(s) / v_k)
        else:
            g0 = g - v * s
        h = _eig_gaps_inverse(w) * (_T(v) @ g0)
        return _real_like(solve(_T(v), h @ _T(v)), a)
    return pullback


def _distinct_eigenvalues(rng, shape, kind):
    """X B X⁻¹ with well-separated eigenvalues: real ones, a complex-conjugate pair (real matrix), or a
    complex matrix."""
    n = shape[-1]
    x = rng.uniform(-1, 1, size=shape) + 2.0 * np.eye(n)
    b = np.broadcast_to(np.diag(np.linspace(-1.5, 1.5, n)), shape).copy()
    if kind == "pair" and n >= 2:
        b[..., 0, 1], b[..., 1, 0] = 0.8, -0.8     # eigenvalues -1.5 ± 0.8i
    if kind == "complex":
        x = x + 1j * rng.uniform(-1, 1, size=shape)
        b = b + 1j * np.diag(rng.uniform(-0.3, 0.3, size=n))
    return np.linalg.solve(np.swapaxes(x, -1, -2), np.swapaxes(x @ b, -1, -2)).swapaxes(-1, -2)


def _eig_sample(rng, params):
    kind = ["real", "pair", "complex"][rng.integers(3)]
    shape = [(3, 3), (2, 2), (2, 3, 3)][rng.integers(3)]
    a = _distinct_eigenvalues(rng, shape, kind)
    return Sample((a,), dict(params(rng), like=tuple(np.linalg.eig(a))))


eig_values = primitive(_eig_values_impl, name="eig_values")
defjvp(eig_values, _eig_values_jvp)
defvjp(eig_values, _eig_values_vjp)
defdomain(eig_values, lambda rng: _eig_sample(rng, lambda r: {"vectors": bool(r.integers(2))}))
eig_vectors = primitive(_eig_vectors_impl, name="eig_vectors")
defjvp(eig_vectors, _eig_vectors_jvp)
defvjp(eig_vectors, _eig_vectors_vjp)
defdomain(eig_vectors, lambda rng: _eig_sample(rng, lambda r: {}))

_EigResult = type(np.linalg.eig(np.eye(1)))


@implements(np.linalg.eig)
def _np_eig(a):
    """(w, V) exactly as NumPy returns them (real when a is real with real eigenvalues, else complex);
    derivatives of those factors, differentiable where the eigenvalues are distinct."""
    return _EigResult(eig_values(a, vectors=True), eig_vectors(a))


@implements(np.linalg.eigvals)
def _np_eigvals(a):
    """Eigenvalues exactly as NumPy's eigvals returns them; dw_i = (V⁻¹ dA V)_ii."""
    return eig_values(a, vectors=False)


# ---- svd: U (m, k), s (k,), Vh (k, n) with k = min(m, n) (full_matrices only for square matrices) ------
#
# Each factor is its own primitive calling np.linalg.svd with NumPy's arguments, so its value is the
# one NumPy returns bit for bit (gesdd with and without vectors may differ in the last bit of s).


def _svd_u_impl(a, full_matrices=False, like=None):
    # ``like``: U at the sample point, for the test domains only (see _align_columns).
    return _align_columns(np.linalg.svd(a, full_matrices=full_matrices)[0], like)


def _svd_s_impl(a, compute_uv=False, full_matrices=False):
    if compute_uv:
        return np.linalg.svd(a, full_matrices=full_matrices)[1]
    return np.linalg.svd(a, compute_uv=False)


def _svd_vh_impl(a, full_matrices=False, like=None):
    u, _, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return vh * np.swapaxes(_column_flips(u, like), -1, -2)   # the signs that align U, on Vh's rows


def _svd_factors(a, full_matrices, like=None):
    """The (U, s, Vh) of one np.linalg.svd call, as traced primitives (their signs agree)."""
    return (svd_u(a, full_matrices=full_matrices, like=like),
            svd_s(a, compute_uv=True, full_matrices=full_matrices),
            svd_vh(a, full_matrices=full_matrices, like=like))


def _svd_s_jvp(t, ans, a, compute_uv=False, full_matrices=False):
    # ds_i = u_iᵀ dA v_i: independent of the (paired) signs of u_i and v_i.
    u, _, vh = _svd_factors(a, full_matrices)
    return np.sum(u * (t @ _T(vh)), axis=-2)


def _svd_s_vjp(ans, a, compute_uv=False, full_matrices=False):
    u, _, vh = _svd_factors(a, full_matrices)
    return lambda g: (u * g[..., None, :]) @ vh


@_quiet
def _inverse_square_gaps(s):
    """F[i, j] = 1 / (s_j² - s_i²) off the diagonal, 0 on it; inf at equal singular values."""
    eye = _eye(np.shape(s)[-1], s)
    s_row, s_col = s[..., None, :], s[..., :, None]
    return 1.0 / ((s_row - s_col) * (s_row + s_col) + eye) - eye


@_quiet
def _svd_factor_tangents(t, a, full_matrices, like):
    """Tangents (dU, dV) of the SVD (distinct nonzero singular values), with V = Vhᵀ.

    uᵢᵀ duᵢ = vᵢᵀ dvᵢ = 0 (unit norm) and LAPACK's paired signs are locally constant, so these are the
    derivatives of the factors NumPy returned."""
    u, s, vh = _svd_factors(a, full_matrices, like)
    v = _T(vh)
    m, n = np.shape(lower(a))[-2:]
    k = min(m, n)
    dp = _T(u) @ t @ v                                          # Uᵀ dA V, (k, k)
    s_row = s[..., None, :]
    s_col = s[..., :, None]
    f = _inverse_square_gaps(s)
    du = u @ (f * (dp * s_row + s_col * _T(dp)))
    dv = v @ (f * (s_col * dp + _T(dp) * s_row))
    if m > k:  # the part of dA V outside span(U)
        dav = t @ v
        du = du + (dav - u @ (_T(u) @ dav)) / s_row
    if n > k:
        dahu = _T(t) @ u
        dv = dv + (dahu - v @ (_T(v) @ dahu)) / s_row
    return du, dv


def _svd_u_jvp(t, ans, a, full_matrices=False, like=None):
    return _svd_factor_tangents(t, a, full_matrices, like)[0]


def _svd_vh_jvp(t, ans, a, full_matrices=False, like=None):
    return _T(_svd_factor_tangents(t, a, full_matrices, like)[1])


def _distinct_singular(rng, shape):
    m, n = shape[-2:]
    k = min(m, n)
    s = np.linspace(3.0, 1.0, k) + rng.uniform(-0.2, 0.2, size=shape[:-2] + (k,))
    u = _orthogonal(rng, shape[:-2] + (m, k))
    v = _orthogonal(rng, shape[:-2] + (n, k))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def _svd_sample(rng, values=False):
    a = _matrix_sample(rng, [(3, 3), (4, 2), (2, 4), (2, 3, 2)], _distinct_singular)
    full = bool(rng.integers(2)) and a.shape[-1] == a.shape[-2]
    params = {"full_matrices": full}
    if values:
        params["compute_uv"] = full or bool(rng.integers(2))
    else:
        params["like"] = np.linalg.svd(a, full_matrices=full)[0]
    return Sample((a,), params)


svd_u = primitive(_svd_u_impl, name="svd_u")
svd_s = primitive(_svd_s_impl, name="svd_s")
svd_vh = primitive(_svd_vh_impl, name="svd_vh")
defjvp(svd_s, _svd_s_jvp)
defvjp(svd_s, _svd_s_vjp)
defdomain(svd_s, lambda rng: _svd_sample(rng, values=True))
defjvp(svd_u, _svd_u_jvp)
defjvp(svd_vh, _svd_vh_jvp)


def _svd_u_vjp(ans, a, full_matrices=False, like=None):
    # The transpose of dU = U (F∘(dP S + S dPᵀ)) + (I - U Uᵀ) dA V S⁻¹, with dP = Uᵀ dA V.
    u, s, vh = _svd_factors(a, full_matrices, like)
    s_row = s[..., None, :]
    tall = np.shape(lower(a))[-2] > np.shape(lower(a))[-1]

    @_quiet
    def pullback(g):
        x = _inverse_square_gaps(s) * (_T(u) @ g)
        out = u @ ((x + _T(x)) * s_row) @ vh
        if tall:
            out = out + ((g - u @ (_T(u) @ g)) / s_row) @ vh
        return out
    return pullback


def _svd_vh_vjp(ans, a, full_matrices=False, like=None):
    # The transpose of dV = V (F∘(S dP + dPᵀ S)) + (I - V Vᵀ) dAᵀ U S⁻¹, with Vh = Vᵀ.
    u, s, vh = _svd_factors(a, full_matrices, like)
    s_row, s_col = s[..., None, :], s[..., :, None]
    wide = np.shape(lower(a))[-1] > np.shape(lower(a))[-2]

    @_quiet
    def pullback(g):
        y = _inverse_square_gaps(s) * (vh @ _T(g))
        out = u @ (s_col * (y + _T(y))) @ vh
        if wide:
            out = out + (u / s_row) @ (g - (g @ _T(vh)) @ vh)
        return out
    return pullback


defvjp(svd_u, _svd_u_vjp)
defdomain(svd_u, _svd_sample)
defvjp(svd_vh, _svd_vh_vjp)
defdomain(svd_vh, _svd_sample)

_SVDResult = type(np.linalg.svd(np.eye(1)))


def _hermitian_svd(a, compute_uv):
    """NumPy's svd(a, hermitian=True), step for step: eigh (lower triangle), |w| sorted descending, and the
    signs of w moved into Vh. Composed of differentiable primitives, so the value is NumPy's exactly."""
    if not compute_uv:
        return np.sort(np.abs(eigvalsh(a, upper=False)))[..., ::-1]
    w, v = eigvalsh(a, upper=False, vectors=True), eigvecs(a, upper=False)
    order = np.argsort(np.abs(lower(w)))[..., ::-1]
    signs = np.take_along_axis(np.copysign(1.0, lower(w)), order, axis=-1)   # as NumPy: no 0
    s = np.take_along_axis(np.abs(w), order, axis=-1)
    u = np.take_along_axis(v, order[..., None, :], axis=-1)
    return _SVDResult(u, s, _T(u * const_like(signs, u)[..., None, :]))


@implements(np.linalg.svd)
def _np_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular values (compute_uv=False) or the factors (U, s, Vh) exactly as NumPy returns them, each a
    differentiable primitive; the derivatives are those of NumPy's (LAPACK's) factors."""
    _reject_complex("svd", a)
    if hermitian:
        return _hermitian_svd(a, compute_uv)
    if not compute_uv:
        return svd_s(a)
    m, n = np.shape(lower(a))[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            "the derivative of svd(full_matrices=True) of a non-square matrix is not defined (the extra "
            "columns are not unique); use np.linalg.svd(a, full_matrices=False).")
    full = bool(full_matrices)
    return _SVDResult(*_svd_factors(a, full))


@implements(np.linalg.svdvals)
def _np_svdvals(x, /):
    _reject_complex("svdvals", x)
    return svd_s(x)


# ---- qr (tall or square; mode "reduced", "r", or "complete" for square) --------------------------------


def _qr_q_impl(a, mode="reduced"):
    return np.linalg.qr(a, mode=mode)[0]


def _qr_r_impl(a, mode="reduced"):
    return np.linalg.qr(a, mode=mode) if mode == "r" else np.linalg.qr(a, mode=mode)[1]


def _qr_factors(a, mode):
    """(Q, R) of one np.linalg.qr call, as traced primitives (LAPACK's signs, as NumPy returns them)."""
    q_mode = "reduced" if mode == "r" else mode
    return qr_q(a, mode=q_mode), qr_r(a, mode=mode)


def _qr_tangents(t, a, mode):
    """(dQ, dR) of the QR of a tall full-rank matrix: with X = Qᵀ dA R⁻¹ and Ω its skew part from the
    strict lower triangle, dQ = Q (Ω - X) + dA R⁻¹ and dR = (X - Ω) R.

    Why any signs work: Qᵀ dQ is skew and dR R⁻¹ upper triangular whatever the signs of R's diagonal, and
    Householder QR's signs are locally constant, so this differentiates the factors NumPy returned."""
    q, r = _qr_factors(a, mode)
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


def _qr_q_vjp(ans, a, mode="reduced"):
    r = _qr_factors(a, mode)[1]
    return lambda g: _qr_cotangent(ans, r, -(_T(ans) @ g), g)


def _qr_r_vjp(ans, a, mode="reduced"):
    q = _qr_factors(a, mode)[0]
    return lambda g: _qr_cotangent(q, ans, g @ _T(ans), None)


def _qr_sample(rng, mode_choices):
    a = _matrix_sample(rng, [(3, 3), (4, 2), (2, 3, 2)], _well_conditioned_tall)
    modes = [m for m in mode_choices if m != "complete" or a.shape[-1] == a.shape[-2]]
    return Sample((a,), {"mode": modes[rng.integers(len(modes))]})


def _well_conditioned_tall(rng, shape):
    return _distinct_singular(rng, shape)


qr_q = primitive(_qr_q_impl, name="qr_q")
qr_r = primitive(_qr_r_impl, name="qr_r")
defjvp(qr_q, lambda t, ans, a, mode="reduced": _qr_tangents(t, a, mode)[0])
defjvp(qr_r, lambda t, ans, a, mode="reduced": _qr_tangents(t, a, mode)[1])
defvjp(qr_q, _qr_q_vjp)
defdomain(qr_q, lambda rng: _qr_sample(rng, ["reduced", "complete"]))
defvjp(qr_r, _qr_r_vjp)
defdomain(qr_r, lambda rng: _qr_sample(rng, ["reduced", "complete", "r"]))

_QRResult = type(np.linalg.qr(np.eye(1)))


@implements(np.linalg.qr)
def _np_qr(a, mode="reduced"):
    """(Q, R) (or R for mode 'r') exactly as NumPy returns them, with the derivatives of those factors."""
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    _reject_complex("qr", a)
    m, n = np.shape(lower(a))[-2:]
    if m < n or (mode == "complete" and m != n):
        raise NotImplementedError(
            "qr is differentiable here for tall or square matrices in mode 'reduced' or 'r' (the extra "
            "columns of a complete Q are not unique); transpose a wide matrix first.")
    if mode == "raw":
        raise NotImplementedError("qr(mode='raw') (Householder reflectors) is not differentiable; use "
                                  "'reduced' or 'r'.")
    if mode == "r":
        return qr_r(a, mode="r")
    return _QRResult(*_qr_factors(a, mode))
