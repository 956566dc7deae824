"""autodiff.scipy: SciPy's plain (non-ufunc) functions, reachable and differentiable on traced values."""

import numpy as np
import scipy.linalg
import scipy.special

import autodiff as ad


def test_special_functions_match_scipy_and_differentiate():
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(ad.scipy.special.logsumexp(x), scipy.special.logsumexp(x), rtol=1e-14)
    np.testing.assert_allclose(ad.grad(ad.scipy.special.logsumexp)(x), scipy.special.softmax(x), rtol=1e-13)
    ws = np.array([0.3, -0.2, 0.9])
    got = ad.grad(lambda x: ad.scipy.special.log_softmax(x) @ ws)(x)
    np.testing.assert_allclose(got, ws - scipy.special.softmax(x) * ws.sum(), rtol=1e-13)


def test_linalg_functions_match_scipy_and_differentiate():
    a = np.array([[2.0, 0.0], [1.0, 3.0]])
    b = np.array([1.0, 2.0])
    solve = ad.scipy.linalg.solve_triangular
    np.testing.assert_allclose(solve(a, b, lower=True), scipy.linalg.solve_triangular(a, b, lower=True))
    # d/db of L^{-1} b is L^{-1}
    np.testing.assert_allclose(ad.jacfwd(lambda b: solve(a, b, lower=True))(b), np.linalg.inv(a), rtol=1e-13)
    m = np.array([[0.0, 1.0], [-1.0, 0.0]]) * 0.3
    np.testing.assert_allclose(ad.scipy.linalg.expm(m), scipy.linalg.expm(m), rtol=1e-13)
    # d/ds expm(s M) at s = 1 is M expm(M)
    deriv = ad.jvp(lambda s: ad.scipy.linalg.expm(s * m), (1.0,), (1.0,))[1]
    np.testing.assert_allclose(deriv, m @ scipy.linalg.expm(m), rtol=1e-12, atol=1e-14)
