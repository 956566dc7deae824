"""Linear algebra: numpy.linalg, and differentiable versions of scipy.linalg.solve_triangular and expm.

Every primitive works on stacks of matrices (``(..., m, n)``), and its tangents and cotangents carry batch
axes in front of the stack axes. Rules are written with matmul, solve and friends (primitives), so second
derivatives work. Conventions worth knowing:

- Functions that NumPy documents as reading one triangle only (``cholesky``, ``eigh``, ``eigvalsh``,
  ``solve_triangular``) are differentiated as exactly that: a perturbation of the unread triangle has no
  effect, so the derivative there is zero; the read triangle stands for a symmetric (or triangular) matrix.
- Factors are LAPACK's, exactly as NumPy returns them (``qr``, ``eigh``, ``svd``, ``eig``): no signs,
  orders or phases are normalised under tracing, and the derivative is that of the factor NumPy
  returned, continued smoothly through the point with NumPy's normalisation (unit norm; for ``eig`` a
  real largest entry). LAPACK may flip a column's sign (``eig``: also the order) between nearby
  inputs, so NumPy's factor is only piecewise continuous; the test domains pass ``like=`` (the factor at
  the sample point) to line the columns up, which NumPy's adapters never do.
- Complex input is supported where the rule is correct for it (``solve``, ``inv``, ``det``,
  ``solve_triangular`` without conjugation, ``expm``, ``eig``, ``eigvals``, 2-norms); the others
  (``cholesky``, ``eigh``, ``svd``, ``qr``, ``pinv``, ``lstsq``, ``slogdet``, ``cond``, matrix 2-norms and
  the nuclear norm) raise ``NotImplementedError`` for complex input rather than give a wrong tangent.
- ``det`` has the cofactor matrix as derivative, also at singular matrices: det(A) A⁻ᵀ where A is
  comfortably non-singular (1-norm condition <= 1/sqrt(eps)), from the SVD where it is singular or close.
- Multi-output functions (``eigh``, ``eig``, ``svd``, ``qr``, ``slogdet``, ``lstsq``) return NumPy's
  result tuples of single-output primitives (we have no multi-output primitives).
- Compositions (``multi_dot``, ``matrix_power``, ``cond``, ``norm``, ``tensorsolve``) follow NumPy's own
  steps, so their traced values equal NumPy's bit for bit.
- ``eigh``, ``eig`` and ``svd`` are differentiable only where the eigenvalues (singular values) are
  distinct: the derivative of the eigenvectors has 1/(w_j - w_i) factors. Near-degenerate values give
  huge derivatives; at exact degeneracy the eigenvector derivative is non-finite (inf/nan, as JAX gives),
  without a NumPy RuntimeWarning. Eigenvalue derivatives stay finite. This is a property of the
  function, not of the rule (JAX and PyTorch behave the same).
- ``svd`` with ``full_matrices=True`` of a non-square matrix and ``qr`` of a wide matrix have no
  well-defined derivative for the extra columns; ask for the reduced factors instead.

SciPy's functions do not dispatch on traced values, so :func:`solve_triangular` and :func:`expm` here take
SciPy's signatures and are the ones to call in differentiated code (``autodiff.rules.linalg``).
"""

from __future__ import annotations

import operator

import numpy as np
import scipy.linalg

from autodiff.core import Sample, defdomain, defjvp, defvjp, implements, lower, primitive
from autodiff.rules._linalg_base import (  # noqa: F401  (re-exported: autodiff.rules.linalg is the API)
    _T,
    _eye,
    _lift,
    _matrix_sample,
    _np_solve,
    _orthogonal,
    _quiet,
    _reject_complex,
    _spd,
    _square_sample,
    _sym_from_triangle,
    _sym_from_triangle_adjoint,
    _well_conditioned,
    inv,
    solve,
    solve_triangular,
    trisolve,
)
from autodiff.rules._util import const_like
from autodiff.rules.linalg_factors import (  # noqa: F401  (re-exported)
    _distinct_singular,
    _svd_s_jvp,
    _svd_s_vjp,
    eig_values,
    eig_vectors,
    eigvalsh,
    eigvecs,
    qr_q,
    qr_r,
    svd_s,
    svd_u,
    svd_vh,
)

# ---- det, slogdet -------------------------------------------------------------------------------------


def _det_impl(a):
    return np.linalg.det(a)


def _products_of_the_others(s):
    """c_i = prod_{j != i} s_j along the last axis, without dividing (exact when some s_j are 0)."""
    ones = np.ones(np.shape(s)[:-1] + (1,), dtype=s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before * after


def _cofactor_from_svd(a):
    """The cofactor matrix C = adj(A)ᵀ from the SVD, without inverting: A = U S Vh gives
    C = det(U) det(Vh) conj(U) adj(S) conj(Vh), adj(S) = diag(prod_{j≠i} s_j), so it is exact for
    singular A too (of rank n-1; zero for lower rank)."""
    u, s, vh = np.linalg.svd(a)
    phase = np.linalg.det(u) * np.linalg.det(vh)
    c = _products_of_the_others(s).astype(u.dtype)
    return phase[..., None, None] * ((np.conjugate(u) * c[..., None, :]) @ np.conjugate(vh))


def _lu_formula_is_safe(a, inverse, d):
    """True (per matrix of the stack) where det(A) A⁻ᵀ, from NumPy's det ``d`` and ``inverse``, is to be
    trusted as the cofactor matrix: A is comfortably non-singular (see _COND_SWITCH) and det neither
    under- nor overflows. Raw arrays; O(n²) on top of the inverse."""
    switch, tiny = _COND_SWITCH[np.dtype(inverse.dtype)]
    with np.errstate(over="ignore", invalid="ignore"):
        cond_1 = (np.max(np.sum(np.abs(a), axis=-2), axis=-1, initial=0)      # initial: 0x0 matrices
                  * np.max(np.sum(np.abs(inverse), axis=-2), axis=-1, initial=0))
        return (cond_1 <= switch) & (np.abs(d) >= tiny) & np.isfinite(d)   # nan: False


def _cofactor_from_lu(a):
    """(C, regular): C = det(A) A⁻ᵀ from NumPy's LU (``det`` and ``inv``, both LAPACK getrf) and where it
    is to be trusted (:func:`_lu_formula_is_safe`). C is None when some matrix of the stack has an exactly
    zero pivot (``inv`` refuses it)."""
    try:
        inverse = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return None, np.zeros(np.shape(a)[:-2], dtype=bool)
    d = np.linalg.det(a)
    return d[..., None, None] * _T(inverse), _lu_formula_is_safe(a, inverse, d)


# Where det(A) A⁻ᵀ gives way to the SVD: the 1-norm condition number κ₁ = ‖A‖₁ ‖A⁻¹‖₁ (exact for the
# computed inverse, O(n²) more work) above 1/sqrt(eps) (6.7e7 in float64, 2.9e3 in float32). Why this is
# safe: both formulas compute the same polynomial C(A), so switching changes only rounding. Below the
# threshold, even if the errors of det and of the inverse were independent, their first-order bound
# (~n κ eps each) stays at n sqrt(eps) or better; in fact both come from the same LU (NumPy's det and
# inv each run getrf on A: the same pivots), so the small last pivot cancels between det and A⁻¹ and the
# measured error is a few eps up to κ = 1e16 (tests/test_det_derivative_near_singular.py). Above it the
# LU's last pivot is mostly rounding, and the SVD path does not rely on that cancellation; it also handles an
# exactly zero pivot and a det that under- or overflows while C does not. Near-singular matrices are
# rare in hot loops, so the SVD's cost there does not matter.
_COND_SWITCH = {np.dtype(t): (1 / np.sqrt(np.finfo(t).eps), np.finfo(t).tiny)
                for t in (np.float32, np.float64, np.complex64, np.complex128)}


def _cofactor_impl(a):
    """The cofactor matrix C = adj(A)ᵀ (the derivative of det): det(A) A⁻ᵀ from the LU where A is
    comfortably non-singular, from the SVD (exact at rank n-1) where it is singular or close."""
    c, regular = _cofactor_from_lu(a)
    if np.all(regular):
        return c
    if c is None or np.ndim(regular) == 0:
        return _cofactor_from_svd(a)
    c[~regular] = _cofactor_from_svd(np.asarray(a)[~regular])   # c is a fresh array
    return c


def _require_nonsingular(a, what):
    # slogdet's sign, not det == 0: det underflows to 0 for non-singular matrices (0.01 I of size 200).
    if np.any(np.linalg.slogdet(lower(a))[0] == 0):
        raise NotImplementedError(
            f"{what} of det at an exactly singular matrix is not implemented (the first derivative, the "
            "cofactor matrix, is); perturb the matrix or differentiate det once.")


def _cofactor_jvp(t, ans, a):
    # C = det(A) A⁻ᵀ: dC = tr(A⁻¹ dA) C - C dAᵀ A⁻ᵀ, valid where A is invertible.
    _require_nonsingular(a, "the second derivative")
    inv_t = _T(inv(a))
    trace = np.sum(inv_t * t, axis=(-2, -1))
    return trace[..., None, None] * ans - ans @ _T(t) @ inv_t


def _cofactor_vjp(ans, a):
    # The transpose of the map above: Ā = <G, A⁻ᵀ> C - A⁻ᵀ Gᵀ C.
    _require_nonsingular(a, "the second derivative")
    inv_t = _T(inv(a))
    return lambda g: np.sum(g * inv_t, axis=(-2, -1))[..., None, None] * ans - inv_t @ _T(g) @ ans


cofactor = primitive(_cofactor_impl, name="cofactor")
defjvp(cofactor, _cofactor_jvp)
defvjp(cofactor, _cofactor_vjp)


def _det_gradient(ans, a):
    """d det(A) / dA = C, the cofactor matrix: det(A) A⁻ᵀ from det's own value ``ans`` and ``inv`` (both
    differentiable, so higher orders follow) where A is comfortably non-singular (_COND_SWITCH), else the
    ``cofactor`` primitive (SVD near singularity; finite everywhere)."""
    raw = lower(a)
    try:
        raw_inverse = np.linalg.inv(raw)
    except np.linalg.LinAlgError:       # an exactly zero pivot somewhere in the stack
        return cofactor(a)
    if not np.all(_lu_formula_is_safe(raw, raw_inverse, lower(ans))):
        return cofactor(a)
    # Decided on plain values first, so a traced inv (whose tangent forward mode computes at once) is
    # made only where it is used; at first order the plain inverse is the value inv(a) would give.
    inverse = raw_inverse if raw is a else inv(a)
    return ans[..., None, None] * _T(inverse)


det = primitive(_det_impl, name="det")
# d det(A) = <C, dA>.
defjvp(det, lambda t, ans, a: np.sum(_det_gradient(ans, a) * t, axis=(-2, -1)))
defvjp(det, lambda ans, a: lambda g: g[..., None, None] * _det_gradient(ans, a))
implements(np.linalg.det)(lambda a: det(a))


def _logabsdet_impl(a):
    return np.linalg.slogdet(a)[1]


@_quiet
def _logabsdet_gradient(ans, a):
    """d log|det A| / dA = A⁻ᵀ; at a singular matrix (log|det| = -inf) C / det, i.e. ±inf where a cofactor
    is nonzero and nan where it is zero: non-finite, as JAX gives, never a LinAlgError.

    Singular means slogdet's own ``ans`` is -inf (an exactly zero LU pivot, the case where ``inv``
    refuses), not det == 0: det underflows to 0 for non-singular matrices (0.01 I of size 200), whose
    gradient A⁻ᵀ is finite. A⁻ᵀ needs no switch near singularity: it is the gradient's own conditioning.
    """
    if np.any(lower(ans) == -np.inf):
        return cofactor(a) / det(a)[..., None, None]
    return _T(inv(a))


logabsdet = primitive(_logabsdet_impl, name="logabsdet")


@_quiet
def _logabsdet_jvp(t, ans, a):
    return np.sum(_logabsdet_gradient(ans, a) * t, axis=(-2, -1))


def _logabsdet_vjp(ans, a):
    grad = _logabsdet_gradient(ans, a)
    return _quiet(lambda g: g[..., None, None] * grad)


defjvp(logabsdet, _logabsdet_jvp)
defvjp(logabsdet, _logabsdet_vjp)

_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


@implements(np.linalg.slogdet)
def _np_slogdet(a):
    """(sign, log|det a|): the sign is piecewise constant (derivative zero), log|det| differentiable."""
    _reject_complex("slogdet", a)
    return _SlogdetResult(np.linalg.slogdet(lower(a))[0], logabsdet(a))


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
    _reject_complex("cholesky", a)
    if upper:
        return _T(cholesky(_T(a)))
    return cholesky(a)


# ---- pinv ----------------------------------------------------------------------------------------------


def _pinv_impl(a, rtol, hermitian):
    # ``rtol`` is the cutoff NumPy resolves from its rcond/rtol arguments (see _np_pinv).
    return np.linalg.pinv(a, rcond=rtol, hermitian=hermitian)


def _pinv_operand(a, hermitian):
    """The matrix pinv reads: with hermitian=True NumPy's eigh-based path reads the lower triangle only."""
    return _sym_from_triangle(a) if hermitian else a


def _pinv_jvp(t, ans, a, rtol, hermitian):
    # Golub & Pereyra: d A⁺ = -A⁺ dA A⁺ + A⁺ A⁺ᵀ dAᵀ (I - A A⁺) + (I - A⁺ A) dAᵀ A⁺ᵀ A⁺ (constant rank).
    p = ans
    a, t = _pinv_operand(a, hermitian), _pinv_operand(t, hermitian)
    m, n = np.shape(lower(a))[-2:]
    left = _eye(m, p) - a @ p
    right = _eye(n, p) - p @ a
    return -(p @ t @ p) + p @ _T(p) @ _T(t) @ left + right @ _T(t) @ _T(p) @ p


def _pinv_vjp(ans, a, rtol, hermitian):
    p = ans
    a = _pinv_operand(a, hermitian)
    m, n = np.shape(lower(a))[-2:]
    left = _eye(m, p) - a @ p
    right = _eye(n, p) - p @ a

    def pullback(g):
        out = -(_T(p) @ g @ _T(p)) + left @ _T(g) @ p @ _T(p) + _T(p) @ p @ _T(g) @ right
        return _sym_from_triangle_adjoint(out) if hermitian else out
    return pullback


pinv = primitive(_pinv_impl, name="pinv")
defjvp(pinv, _pinv_jvp)
defvjp(pinv, _pinv_vjp)


_NO_VALUE = object()


@implements(np.linalg.pinv)
def _np_pinv(a, rcond=None, hermitian=False, *, rtol=_NO_VALUE):
    """Moore-Penrose pseudo-inverse; differentiable where the rank is locally constant. The cutoff is
    resolved as NumPy does (rcond default 1e-15; rtol=None means max(m, n) * eps)."""
    _reject_complex("pinv", a)
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(np.shape(lower(a))[-2:]) * np.finfo(np.result_type(lower(a))).eps
        else:
            rcond = rtol
    elif rtol is not _NO_VALUE:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    return pinv(a, rtol=rcond, hermitian=bool(hermitian))


# lstsq: each of NumPy's outputs (from one LAPACK gelsd call) is its own primitive, so its value is
# NumPy's exactly; b is a matrix (m, k) here, the adapter promotes a vector as NumPy does.


def _lstsq_x_impl(a, b, rcond):
    return np.linalg.lstsq(a, b, rcond=rcond)[0]


def _lstsq_x_jvp_a(t, ans, a, b, rcond):
    # x = A⁺ b: dx = dA⁺ b, with dA⁺ from Golub & Pereyra (constant rank).
    p = pinv(a, rtol=None, hermitian=False)
    return _pinv_jvp(t, p, a, None, False) @ b


def _lstsq_x_vjp_a(ans, a, b, rcond):
    p = pinv(a, rtol=None, hermitian=False)
    pull = _pinv_vjp(p, a, None, False)
    return lambda g: pull(g @ _T(b))


lstsq_x = primitive(_lstsq_x_impl, name="lstsq_x")
defjvp(lstsq_x, _lstsq_x_jvp_a, lambda t, ans, a, b, rcond: pinv(a, rtol=None, hermitian=False) @ t)
defvjp(lstsq_x, _lstsq_x_vjp_a,
       lambda ans, a, b, rcond: lambda g: _T(pinv(a, rtol=None, hermitian=False)) @ g)


def _lstsq_residuals_impl(a, b, rcond):
    return np.linalg.lstsq(a, b, rcond=rcond)[1]


def _lstsq_residual(a, b, rcond):
    return b - a @ lstsq_x(a, b, rcond=rcond)


def _lstsq_residuals_jvp_a(t, ans, a, b, rcond):
    return -2 * np.sum(_lstsq_residual(a, b, rcond) * (t @ lstsq_x(a, b, rcond=rcond)), axis=-2)


def _lstsq_residuals_vjp_a(ans, a, b, rcond):
    r, x = _lstsq_residual(a, b, rcond), lstsq_x(a, b, rcond=rcond)
    return lambda g: -2 * (r * g[..., None, :]) @ _T(x)


# Residuals ‖b - A x‖² per column (full column rank, m > n): as Aᵀ r = 0, d‖r‖² = 2 rᵀ (db - dA x).
lstsq_residuals = primitive(_lstsq_residuals_impl, name="lstsq_residuals")
defjvp(lstsq_residuals, _lstsq_residuals_jvp_a,
       lambda t, ans, a, b, rcond: 2 * np.sum(_lstsq_residual(a, b, rcond) * t, axis=-2))
defvjp(lstsq_residuals, _lstsq_residuals_vjp_a,
       lambda ans, a, b, rcond: lambda g: 2 * _lstsq_residual(a, b, rcond) * g[..., None, :])


def _lstsq_s_impl(a, rcond):
    return np.linalg.lstsq(a, np.zeros(np.shape(a)[-2:-1] + (1,), dtype=a.dtype), rcond=rcond)[3]


lstsq_s = primitive(_lstsq_s_impl, name="lstsq_s")
defjvp(lstsq_s, lambda t, ans, a, rcond: _svd_s_jvp(t, ans, a))
defvjp(lstsq_s, lambda ans, a, rcond: _svd_s_vjp(ans, a))


@implements(np.linalg.lstsq)
def _np_lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) exactly as NumPy returns them; x = A⁺ b differentiable where the rank of A
    is locally constant, the residuals where A has full column rank (they exist only then)."""
    _reject_complex("lstsq", a, b)
    a_val, b_val = lower(a), lower(b)
    x_np, res_np, rank, _ = np.linalg.lstsq(a_val, b_val, rcond=rcond)
    vector = np.ndim(b_val) == 1
    b2 = np.reshape(b, np.shape(b_val) + (1,)) if vector else b
    x = lstsq_x(a, b2, rcond=rcond)
    x = x[..., 0] if vector else x
    residuals = lstsq_residuals(a, b2, rcond=rcond) if np.size(res_np) else res_np
    return x, residuals, rank, lstsq_s(a, rcond=rcond)


@implements(np.linalg.matrix_power)
def _np_matrix_power(a, n):
    """a @ a @ ... (n times) in NumPy's order of products (so the value is NumPy's exactly): direct for
    n <= 3, else by binary decomposition; inv(a) first for negative n; the identity for n = 0."""
    n = operator.index(n)
    shape = np.shape(lower(a))
    if n == 0:
        return np.broadcast_to(_eye(shape[-1], a), shape)
    if n < 0:
        a, n = inv(a), -n
    if n <= 3:
        result = a
        for _ in range(n - 1):
            result = result @ a
        return result
    power = result = None
    while n > 0:
        power = a if power is None else power @ power
        n, bit = divmod(n, 2)
        if bit:
            result = power if result is None else result @ power
    return result


# ---- tensorsolve, tensorinv, diagonal, matrix_rank: NumPy's compositions ----------------------------------


@implements(np.linalg.tensorsolve)
def _np_tensorsolve(a, b, axes=None):
    """x with tensordot(a, x, x.ndim) = b: NumPy's reshape of a to a square matrix, then solve."""
    nd = np.ndim(lower(a))
    if axes is not None:
        order = list(range(nd))
        for k in axes:
            order.remove(k)
            order.insert(nd, k)
        a = np.transpose(a, order)
    shape = np.shape(lower(a))[-(nd - np.ndim(lower(b))):]
    size = int(np.prod(shape))
    if np.size(lower(a)) != size ** 2:
        raise np.linalg.LinAlgError(
            "Input arrays must satisfy the requirement prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    return np.reshape(_np_solve(np.reshape(a, (size, size)), np.ravel(b)), shape)


@implements(np.linalg.tensorinv)
def _np_tensorinv(a, ind=2):
    """The inverse of a for tensordot over its first ``ind`` axes: NumPy's reshape, then inv."""
    shape = np.shape(lower(a))
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    size = int(np.prod(shape[ind:]))
    return np.reshape(inv(np.reshape(a, (size, -1))), shape[ind:] + shape[:ind])


@implements(np.linalg.diagonal)
def _np_linalg_diagonal(x, /, *, offset=0):
    return np.diagonal(x, offset=offset, axis1=-2, axis2=-1)


@implements(np.linalg.matrix_rank)
def _np_matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """An integer: piecewise constant, so a constant (no derivative)."""
    return np.linalg.matrix_rank(lower(A), tol=tol, hermitian=hermitian, rtol=rtol)


# ---- norms ---------------------------------------------------------------------------------------------


def _norm2_impl(x, axis, keepdims, flat=False):
    # NumPy's own two ways, so the value is NumPy's bit for bit: a dot product of the flattened array
    # for the whole-array norm, a sum of squares along the axes otherwise.
    if flat:
        v = np.ravel(x, order="K")
        if np.iscomplexobj(v):
            sq = v.real.dot(v.real) + v.imag.dot(v.imag)
        else:
            sq = v.dot(v)
        out = np.sqrt(sq)
        return np.reshape(out, (1,) * np.ndim(x)) if keepdims else out
    return np.sqrt(np.add.reduce((np.conjugate(x) * x).real, axis=axis, keepdims=keepdims))


def _safe_ratio(x, ans, axis, keepdims):
    """conj(x) / ‖x‖ with 0 where ‖x‖ = 0: the minimum-norm subgradient at 0 (so the derivative stays
    finite). For complex x, d‖x‖ = Re(sum(conj(x) dx)) / ‖x‖."""
    full = ans if keepdims else np.expand_dims(ans, axis)
    zero = const_like(lower(full) == 0, full)
    if np.iscomplexobj(lower(x)):
        x = np.conjugate(x)
    return x / (full + zero)


def _norm2_jvp(t, ans, x, axis, keepdims, flat=False):
    out = np.sum(t * _safe_ratio(x, ans, axis, keepdims), axis=axis, keepdims=keepdims)
    return np.real(out) if np.iscomplexobj(lower(x)) else out


def _norm2_vjp(ans, x, axis, keepdims, flat=False):
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
    return norm2(x, axis=axis, keepdims=keepdims)


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _two_norm(x, axis, keepdims)
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # a count of nonzero entries: piecewise constant, derivative zero
        return (lower(x) != 0).astype(np.real(lower(x)).dtype).sum(axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axis, keepdims):
    nd = np.ndim(lower(x))
    row, col = (int(a) % nd for a in axis)
    if row == col:
        raise ValueError("Duplicate axes given.")
    if ord in (None, "fro", "f"):
        out = _two_norm(x, _neg_axes((row, col), nd), True)
    elif ord in ("nuc", 2, -2):
        _reject_complex(f"norm(ord={ord!r})", x)
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
        if ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1):
            return norm2(x, axis=tuple(range(-nd, 0)), keepdims=keepdims, flat=True)   # as NumPy
        axis = tuple(range(nd))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, _neg_axes(axis, nd), keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(np.linalg.vector_norm)
def _np_vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """NumPy's vector_norm, step for step: the reduced axes are moved to the front and flattened first,
    so the sum runs in NumPy's order and the value is NumPy's exactly."""
    shape = np.shape(lower(x))
    nd = len(shape)
    if axis is None:
        flat, reduced = np.ravel(x), tuple(range(nd))
    else:
        reduced = tuple(sorted(int(a) % nd for a in ((axis,) if np.ndim(axis) == 0 else axis)))
        axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
        rest = tuple(i for i in range(nd) if i not in reduced)
        moved = np.transpose(x, tuple(int(a) % nd for a in axes) + rest)
        flat = np.reshape(moved, (int(np.prod([shape[i] for i in reduced])),) + tuple(shape[i] for i in rest))
    out = _vector_norm(flat, ord, (-np.ndim(lower(flat)),), False)
    if keepdims:
        out = np.reshape(out, tuple(1 if i in reduced else shape[i] for i in range(nd)))
    return out


@implements(np.linalg.matrix_norm)
def _np_matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return _matrix_norm(x, ord, (-2, -1), keepdims)


# ---- cond, multi_dot: NumPy's compositions, step for step ---------------------------------------------


@implements(np.linalg.cond)
def _np_cond(x, p=None):
    """Condition number: s_max / s_min for p None or 2 (s_min / s_max for -2); ‖x‖_p ‖x⁻¹‖_p for p in
    'fro', 'nuc', ±1, ±inf. Differentiable where the singular values involved are simple (p = ±2) or x
    is invertible; a singular matrix (cond = inf) raises instead."""
    if p is None or p in (2, -2):
        _reject_complex("cond", x)
        s = svd_s(x)
        with np.errstate(all="ignore"):
            return s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    if p not in ("fro", "nuc", 1, -1, np.inf, -np.inf):
        raise ValueError(f"Invalid norm order '{p}' for matrices")
    try:
        inverse = inv(x)
    except np.linalg.LinAlgError:
        raise NotImplementedError(
            f"np.linalg.cond(x, p={p!r}) of a singular matrix is inf and has no derivative.") from None
    return _np_norm(x, p, (-2, -1)) * _np_norm(inverse, p, (-2, -1))


def _chain_order(shapes):
    """NumPy's matrix-chain order: split[i][j] = the k at which the product of arrays i..j splits, by
    the classic dynamic program on the cost p_i p_{k+1} p_{j+1}, first minimum kept (as NumPy)."""
    n = len(shapes)
    dims = [s[0] for s in shapes] + [shapes[-1][1]]
    cost = [[0.0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = np.inf
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def _chain_product(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return _chain_product(arrays, split, i, k) @ _chain_product(arrays, split, k + 1, j)


def _three_product(a, b, c):
    """(AB)C or A(BC), whichever NumPy's cost model picks (ties go to A(BC), as in NumPy)."""
    (a0, a1), (c0, c1) = np.shape(lower(a)), np.shape(lower(c))
    if a0 * c0 * (a1 + c1) < a1 * c1 * (a0 + c0):
        return (a @ b) @ c
    return a @ (b @ c)


@implements(np.linalg.multi_dot)
def _np_multi_dot(arrays, *, out=None):
    """A chain of matrix products in NumPy's cheapest order (so the value is NumPy's exactly); a 1-D
    first (last) array is a row (column) vector, as in NumPy."""
    if out is not None:
        raise TypeError("np.linalg.multi_dot(..., out=...) writes in place and cannot be differentiated.")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    if len(arrays) == 2:
        return np.dot(arrays[0], arrays[1])
    first, last = np.ndim(lower(arrays[0])), np.ndim(lower(arrays[-1]))
    if first == 1:
        arrays[0] = np.reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = np.reshape(arrays[-1], (-1, 1))
    if any(np.ndim(lower(a)) != 2 for a in arrays):
        raise np.linalg.LinAlgError("multi_dot: every array but a 1-D first or last one must be 2-D.")
    if len(arrays) == 3:
        result = _three_product(*arrays)
    else:
        split = _chain_order([np.shape(lower(a)) for a in arrays])
        result = _chain_product(arrays, split, 0, len(arrays) - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    if first == 1 or last == 1:
        return np.ravel(result)
    return result


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


__all__ = ["solve", "inv", "det", "cofactor", "logabsdet", "trisolve", "solve_triangular", "cholesky",
           "eigvalsh", "eigvecs", "eig_values", "eig_vectors", "svd_u", "svd_s", "svd_vh", "qr_q", "qr_r",
           "pinv", "lstsq_x", "lstsq_residuals", "lstsq_s", "norm2", "expm"]


# ---- test domains --------------------------------------------------------------------------------------


def _spd_sample(rng):
    return Sample((_matrix_sample(rng, [(3, 3), (2, 2), (2, 3, 3)], _spd),))


def _pinv_sample(rng):
    a = _matrix_sample(rng, [(3, 2), (2, 3), (3, 3), (2, 3, 2)], _distinct_singular)
    return Sample((a,), {"rtol": None, "hermitian": False})


def _lstsq_sample(rng, tall=False):
    shapes = [((4, 2), (4, 1)), ((3, 3), (3, 2)), ((5, 3), (5, 2))] + ([] if tall else [((2, 3), (2, 2))])
    sa, sb = shapes[rng.integers(len(shapes))]
    if tall and sa[0] == sa[1]:
        sa, sb = (4, 2), (4, 1)
    return Sample((_distinct_singular(rng, sa), rng.uniform(-2, 2, size=sb)), {"rcond": None})


def _norm2_sample(rng):
    choices = [((3,), (-1,), False), ((2, 3), (-1,), True), ((2, 3), (-2, -1), False),
               ((2, 3, 2), (-3,), False), ((2, 3), (-2, -1), True)]
    shape, axis, keepdims = choices[rng.integers(len(choices))]
    x = rng.uniform(-2, 2, size=shape)
    if rng.integers(3) == 0:
        x = x + 1j * rng.uniform(-2, 2, size=shape)
    flat = len(axis) == len(shape) and bool(rng.integers(2))
    return Sample((x,), {"axis": axis, "keepdims": keepdims, "flat": flat})


def _expm_sample(rng):
    return Sample((_matrix_sample(rng, [(2, 2), (3, 3), (2, 2, 2)],
                                  lambda r, s: r.uniform(-1, 1, size=s)),))


defdomain(det, _square_sample)
defdomain(cofactor, _square_sample)
defdomain(logabsdet, _square_sample)
defdomain(cholesky, _spd_sample)
defdomain(pinv, _pinv_sample)
defdomain(lstsq_x, _lstsq_sample)
defdomain(lstsq_residuals, lambda rng: _lstsq_sample(rng, tall=True))
defdomain(lstsq_s, lambda rng: Sample(_lstsq_sample(rng).args[:1], {"rcond": None}))
defdomain(norm2, _norm2_sample)
defdomain(expm_, _expm_sample)
