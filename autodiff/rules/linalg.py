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
- ``det`` has the cofactor matrix as derivative, also at singular matrices (computed from the SVD).
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


def _products_of_the_others(s):
    """c_i = prod_{j != i} s_j along the last axis, without dividing (exact when some s_j are 0)."""
    ones = np.ones(np.shape(s)[:-1] + (1,), dtype=s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before * after


def _cofactor_impl(a):
    """The cofactor matrix C = adj(A)ᵀ (the derivative of det), computed from the SVD without inverting:
    A = U S Vh gives C = det(U) det(Vh) conj(U) adj(S) conj(Vh), adj(S) = diag(prod_{j≠i} s_j), so it is
    exact for singular A too (of rank n-1; zero for lower rank)."""
    u, s, vh = np.linalg.svd(a)
    phase = np.linalg.det(u) * np.linalg.det(vh)
    c = _products_of_the_others(s).astype(u.dtype)
    return phase[..., None, None] * ((np.conjugate(u) * c[..., None, :]) @ np.conjugate(vh))


def _require_nonsingular(a, what):
    if np.any(np.linalg.det(lower(a)) == 0):
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

det = primitive(_det_impl, name="det")
# d det(A) = <C, dA> with C the cofactor matrix (det(A) A⁻ᵀ where A is invertible; finite everywhere).
defjvp(det, lambda t, ans, a: np.sum(cofactor(a) * t, axis=(-2, -1)))
defvjp(det, lambda ans, a: lambda g: g[..., None, None] * cofactor(a))
implements(np.linalg.det)(lambda a: det(a))


def _logabsdet_impl(a):
    return np.linalg.slogdet(a)[1]


@_quiet
def _logabsdet_gradient(a):
    """d log|det A| / dA = A⁻ᵀ; at a singular matrix (log|det| = -inf) C / det, i.e. ±inf where a cofactor
    is nonzero and nan where it is zero: non-finite, as JAX gives, never a LinAlgError."""
    if np.any(np.linalg.det(lower(a)) == 0):
        return cofactor(a) / det(a)[..., None, None]
    return _T(inv(a))


logabsdet = primitive(_logabsdet_impl, name="logabsdet")


@_quiet
def _logabsdet_jvp(t, ans, a):
    return np.sum(_logabsdet_gradient(a) * t, axis=(-2, -1))


def _logabsdet_vjp(ans, a):
    grad = _logabsdet_gradient(a)
    return _quiet(lambda g: g[..., None, None] * grad)


defjvp(logabsdet, _logabsdet_jvp)
defvjp(logabsdet, _logabsdet_vjp)

_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


@implements(np.linalg.slogdet)
def _np_slogdet(a):
    """(sign, log|det a|): the sign is piecewise constant (derivative zero), log|det| differentiable."""
    _reject_complex("slogdet", a)
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
    if trans in ("C", 2) and np.iscomplexobj(lower_(a)):
        raise NotImplementedError("solve_triangular(trans='C') of a complex matrix is not differentiable "
                                  "here; pass np.conjugate(a) with trans='T'.")
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
    _reject_complex("cholesky", a)
    if upper:
        return _T(cholesky(_T(a)))
    return cholesky(a)


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


eigvalsh = primitive(_eigvalsh_impl, name="eigvalsh")
defjvp(eigvalsh, _eigvalsh_jvp)
defvjp(eigvalsh, _eigvalsh_vjp)
eigvecs = primitive(_eigvecs_impl, name="eigh_vectors")
defjvp(eigvecs, _eigvecs_jvp)
defvjp(eigvecs, _eigvecs_vjp)

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


eig_values = primitive(_eig_values_impl, name="eig_values")
defjvp(eig_values, _eig_values_jvp)
defvjp(eig_values, _eig_values_vjp)
eig_vectors = primitive(_eig_vectors_impl, name="eig_vectors")
defjvp(eig_vectors, _eig_vectors_jvp)
defvjp(eig_vectors, _eig_vectors_vjp)

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


svd_u = primitive(_svd_u_impl, name="svd_u")
svd_s = primitive(_svd_s_impl, name="svd_s")
svd_vh = primitive(_svd_vh_impl, name="svd_vh")
defjvp(svd_s, _svd_s_jvp)
defvjp(svd_s, _svd_s_vjp)
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
defvjp(svd_vh, _svd_vh_vjp)

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


qr_q = primitive(_qr_q_impl, name="qr_q")
qr_r = primitive(_qr_r_impl, name="qr_r")
defjvp(qr_q, lambda t, ans, a, mode="reduced": _qr_tangents(t, a, mode)[0])
defjvp(qr_r, lambda t, ans, a, mode="reduced": _qr_tangents(t, a, mode)[1])
defvjp(qr_q, _qr_q_vjp)
defvjp(qr_r, _qr_r_vjp)

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
                  {"upper": bool(rng.integers(2))})


def _eigvalsh_sample(rng):
    sample = _eigh_sample(rng)
    if sample.params["upper"]:   # the noise goes to the unread triangle
        sample = Sample((np.swapaxes(sample.args[0], -1, -2),), sample.params)
    return Sample(sample.args, dict(sample.params, vectors=bool(rng.integers(2))))


def _eigvecs_sample(rng):
    sample = _eigvalsh_sample(rng)
    upper = sample.params["upper"]
    like = np.linalg.eigh(sample.args[0], UPLO="U" if upper else "L")[1]
    return Sample(sample.args, {"upper": upper, "like": like})


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


def _qr_sample(rng, mode_choices):
    a = _matrix_sample(rng, [(3, 3), (4, 2), (2, 3, 2)], _well_conditioned_tall)
    modes = [m for m in mode_choices if m != "complete" or a.shape[-1] == a.shape[-2]]
    return Sample((a,), {"mode": modes[rng.integers(len(modes))]})


def _well_conditioned_tall(rng, shape):
    return _distinct_singular(rng, shape)


def _pinv_sample(rng):
    a = _matrix_sample(rng, [(3, 2), (2, 3), (3, 3), (2, 3, 2)], _distinct_singular)
    return Sample((a,), {"rtol": None, "hermitian": False})


def _lstsq_sample(rng, tall=False):
    shapes = [((4, 2), (4, 1)), ((3, 3), (3, 2)), ((5, 3), (5, 2))] + ([] if tall else [((2, 3), (2, 2))])
    sa, sb = shapes[rng.integers(len(shapes))]
    if tall and sa[0] == sa[1]:
        sa, sb = (4, 2), (4, 1)
    return Sample((_distinct_singular(rng, sa), rng.uniform(-2, 2, size=sb)), {"rcond": None})


def _trisolve_sample(rng):
    shapes = [((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 2))]
    sa, sb = shapes[rng.integers(len(shapes))]
    a = rng.uniform(-1, 1, size=sa) + 2.5 * np.eye(sa[-1])
    params = {"lower": bool(rng.integers(2)), "trans": int(rng.integers(2)),
              "unit_diagonal": bool(rng.integers(2))}
    return Sample((a, rng.uniform(-2, 2, size=sb)), params)


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


defdomain(solve, _solve_sample)
defdomain(inv, _square_sample)
defdomain(det, _square_sample)
defdomain(cofactor, _square_sample)
defdomain(logabsdet, _square_sample)
defdomain(trisolve, _trisolve_sample)
defdomain(cholesky, _spd_sample)
defdomain(eigvalsh, _eigvalsh_sample)
defdomain(eigvecs, _eigvecs_sample)
defdomain(eig_values, lambda rng: _eig_sample(rng, lambda r: {"vectors": bool(r.integers(2))}))
defdomain(eig_vectors, lambda rng: _eig_sample(rng, lambda r: {}))
defdomain(svd_u, _svd_sample)
defdomain(svd_s, lambda rng: _svd_sample(rng, values=True))
defdomain(svd_vh, _svd_sample)
defdomain(qr_q, lambda rng: _qr_sample(rng, ["reduced", "complete"]))
defdomain(qr_r, lambda rng: _qr_sample(rng, ["reduced", "complete", "r"]))
defdomain(pinv, _pinv_sample)
defdomain(lstsq_x, _lstsq_sample)
defdomain(lstsq_residuals, lambda rng: _lstsq_sample(rng, tall=True))
defdomain(lstsq_s, lambda rng: Sample(_lstsq_sample(rng).args[:1], {"rcond": None}))
defdomain(norm2, _norm2_sample)
defdomain(expm_, _expm_sample)
