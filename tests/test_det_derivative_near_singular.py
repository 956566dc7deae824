"""det's derivative, the cofactor matrix, switches from det(A) A⁻ᵀ (LU) to the SVD near singularity.

Both formulas compute the same polynomial C(A) = adj(A)ᵀ; the switch is at the 1-norm condition number
1/sqrt(eps) (``_COND_SWITCH`` in autodiff/rules/linalg.py). Checked here: near-singular matrices (cond
1e10, 1e14) against cofactors from minors, the SVD formula, finite differences and JAX; matrices on both
sides of the switch; stacks that mix both paths; and the cases the old det == 0 test got wrong (det
underflows although the matrix is regular).
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules.linalg import _COND_SWITCH, _cofactor_from_lu, _cofactor_from_svd

RNG = np.random.default_rng(20261201)
SWITCH = _COND_SWITCH[np.dtype(np.float64)][0]


def _with_singular_values(s, seed):
    """U diag(s) Vᵀ with random orthogonal U, V (one small singular value: minors stay well conditioned)."""
    rng = np.random.default_rng(seed)
    n = len(s)
    u = np.linalg.qr(rng.normal(size=(n, n)))[0]
    v = np.linalg.qr(rng.normal(size=(n, n)))[0]
    return (u * np.asarray(s)) @ v.T


def _near_singular(n, cond, seed):
    return _with_singular_values(np.r_[np.ones(n - 1), 1 / cond], seed)


def _cofactors(a):
    """Signed minors, each from NumPy's det of an (n-1)x(n-1) matrix (well conditioned here)."""
    n = a.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


def _cond_1(a):
    return np.linalg.norm(a, 1) * np.linalg.norm(np.linalg.inv(a), 1)


def _assert_close_normwise(got, want, rtol):
    assert np.linalg.norm(got - want) <= rtol * np.linalg.norm(want), (got, want)


@pytest.mark.parametrize("cond", [1e10, 1e14])
@pytest.mark.parametrize("n", [3, 5])
def test_near_singular_det_gradient_is_the_cofactor_matrix_in_both_modes(n, cond):
    a = _near_singular(n, cond, seed=n)
    assert _cond_1(a) > SWITCH                       # the SVD path
    want = _cofactors(a)
    for mode in (ad.grad, ad.jacfwd):
        _assert_close_normwise(mode(np.linalg.det)(a), want, 1e-13)
    _assert_close_normwise(ad.grad(np.linalg.det)(a), _cofactor_from_svd(a), 1e-13)


@pytest.mark.parametrize("cond", [1e10, 1e14])
def test_near_singular_det_gradient_matches_finite_differences(cond):
    # det is affine in each single entry, so a central difference along one entry is exact up to rounding.
    a, h = _near_singular(4, cond, seed=1), 1e-3
    g = ad.grad(np.linalg.det)(a)
    fd = np.empty_like(a)
    for i, j in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i, j] = h
        fd[i, j] = (np.linalg.det(a + e) - np.linalg.det(a - e)) / (2 * h)
    _assert_close_normwise(g, fd, 1e-11)


def test_near_singular_det_gradient_matches_jax():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    for cond in (1e10, 1e14):
        a = _near_singular(4, cond, seed=2)
        _assert_close_normwise(ad.grad(np.linalg.det)(a), np.asarray(jax.grad(jnp.linalg.det)(a)), 1e-12)


@pytest.mark.parametrize("factor", [0.5, 0.99, 1.01, 2.0])
def test_both_sides_of_the_switch_give_the_cofactors(factor):
    # One small singular value scaled so that cond_1 lands just below or above the switch.
    base = _near_singular(4, 1e7, seed=3)       # cond_1 is proportional to 1/s_min at this size
    a = _near_singular(4, 1e7 * factor * SWITCH / _cond_1(base), seed=3)
    regular = _cofactor_from_lu(a)[1]
    assert bool(regular) == (factor < 1)
    want = _cofactors(a)
    _assert_close_normwise(ad.grad(np.linalg.det)(a), want, 1e-13)
    # and the formula not taken agrees with the one taken: the switch changes only rounding
    _assert_close_normwise(_cofactor_from_lu(a)[0], _cofactor_from_svd(a), 1e-12)


def test_the_lu_formula_stays_accurate_far_beyond_the_switch():
    # Why the switch is safe on the LU side: det and inv factor A by the same LU, so the small pivot cancels
    # (measured: a few eps up to cond 1e16), far better than the independent-error bound n cond eps.
    for cond in (1e8, 1e12, 1e16):
        a = _near_singular(5, cond, seed=4)
        _assert_close_normwise(_cofactor_from_lu(a)[0], _cofactors(a), 1e-13)


def test_regular_matrices_take_the_lu_formula():
    a = RNG.uniform(-1, 1, size=(6, 4, 4)) + 2.5 * np.eye(4)
    c, regular = _cofactor_from_lu(a)
    assert regular.shape == (6,) and np.all(regular)
    np.testing.assert_allclose(ad.grad(lambda m: np.sum(np.linalg.det(m)))(a), c, rtol=0, atol=0)


def test_a_stack_mixing_regular_near_singular_and_singular_matrices():
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    regular = RNG.uniform(-1, 1, size=(3, 3)) + 2.5 * np.eye(3)
    near = _near_singular(3, 1e12, seed=5)
    for stack in (np.stack([regular, near, regular]), np.stack([regular, near, singular])):
        g = ad.grad(lambda m: np.sum(np.linalg.det(m)))(stack)
        for a, got in zip(stack, g):
            _assert_close_normwise(got, _cofactors(a), 1e-13)
        # batch axes of tangents: one jacfwd pass per stack
        jac = ad.jacfwd(lambda m: np.linalg.det(m))(stack)
        for k, a in enumerate(stack):
            _assert_close_normwise(jac[k, k], _cofactors(a), 1e-13)


def test_det_underflowing_to_zero_is_not_taken_for_singular():
    # det = 1e-350 underflows to 0 although A is regular: the LU formula would give 0 * inv = 0, so the
    # SVD path is taken (its products of singular values do not underflow where C does not).
    a = np.diag([1e-200, 1e-150, 1.0])
    assert np.linalg.det(a) == 0.0
    assert not _cofactor_from_lu(a)[1]
    np.testing.assert_allclose(ad.grad(np.linalg.det)(a), np.diag([1e-150, 1e-200, 0.0]), rtol=1e-14)


def test_slogdet_gradient_where_det_underflows_is_the_inverse_transpose():
    # Regression: det(0.01 I) of size 200 is 0 in floating point, and the old rule took that for singular
    # and returned C / det = 0 / 0 = nan. log|det| is finite (-921), its gradient is 100 I.
    a = 0.01 * np.eye(200)
    assert np.linalg.det(a) == 0.0 and np.isfinite(np.linalg.slogdet(a)[1])
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.slogdet(m)[1])(a), 100 * np.eye(200), rtol=1e-14)


def test_second_derivative_of_det_where_det_underflows_is_not_refused():
    # Regression: the old det == 0 test raised "exactly singular" here. d²det / da11 da22 = a33 = 1.
    a = np.diag([1e-200, 1e-200, 1.0])
    h = ad.hessian(np.linalg.det)(a)
    assert h[0, 0, 1, 1] == pytest.approx(1.0, rel=1e-12)
    assert h[1, 1, 0, 0] == pytest.approx(1.0, rel=1e-12)


def test_float32_near_singular_takes_the_svd_path_and_stays_accurate():
    a64 = _near_singular(3, 1e5, seed=6)
    a = a64.astype(np.float32)
    assert not _cofactor_from_lu(a)[1]
    g = ad.grad(np.linalg.det)(a)
    assert g.dtype == np.float32
    _assert_close_normwise(g.astype(np.float64), _cofactors(a.astype(np.float64)), 1e-5)


def test_empty_matrices_keep_their_empty_gradient():
    # Regression: the condition number's max over no columns raised "zero-size array to reduction".
    for a in (np.zeros((0, 0)), np.zeros((2, 0, 0))):
        assert ad.grad(lambda m: np.sum(np.linalg.det(m)))(a).shape == a.shape


def test_near_singular_slogdet_gradient_is_the_inverse_transpose():
    # No switch for log|det|: A⁻ᵀ is the gradient, ill-conditioned only as the gradient itself is.
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    for cond in (1e10, 1e14):
        a = _near_singular(4, cond, seed=7)
        g = ad.grad(lambda m: np.linalg.slogdet(m)[1])(a)
        np.testing.assert_array_equal(g, np.linalg.inv(a).T)
        want = np.asarray(jax.grad(lambda m: jnp.linalg.slogdet(m)[1])(a))
        _assert_close_normwise(g, want, 100 * cond * np.finfo(float).eps)
