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


def test_submodules_are_exposed():
    import importlib.util
    import subprocess
    import sys

    for name in ("special", "linalg", "stats", "signal"):
        assert getattr(ad.scipy, name).__name__ == f"autodiff.scipy.{name}"
        assert name in ad.scipy.__all__
    assert "integrate" in ad.scipy.__all__ and "integrate" in dir(ad.scipy)
    # integrate resolves on attribute access: the module if it exists, else an AttributeError (so
    # hasattr works) — and importing autodiff.scipy never needs it.
    if importlib.util.find_spec("autodiff.scipy.integrate") is None:
        assert not hasattr(ad.scipy, "integrate")
    else:
        assert ad.scipy.integrate.__name__ == "autodiff.scipy.integrate"
    code = ("import autodiff.scipy as s; "
            "print(sorted(m for m in ('linalg', 'signal', 'special', 'stats') if hasattr(s, m)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['linalg', 'signal', 'special', 'stats']"


def test_special_namespace_has_the_ufuncs_and_the_plain_functions():
    s = ad.scipy.special
    assert s.gamma is scipy.special.gamma and s.jv is scipy.special.jv   # the ufuncs themselves
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(ad.grad(lambda x: s.gammaln(x).sum())(x), scipy.special.digamma(x), rtol=1e-14)
    np.testing.assert_allclose(s.multigammaln(3.0, 2), scipy.special.multigammaln(3.0, 2), rtol=1e-15)
