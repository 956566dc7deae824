"""autodiff.scipy.signal.convolve: scipy.signal.convolve's values, derivatives in both inputs (every
mode, 1-D to 3-D), and agreement with jax.scipy.signal.convolve."""

import numpy as np
import pytest
import scipy.signal

import autodiff as ad
from autodiff.testing import check_grads

conv = ad.scipy.signal.convolve
RNG = np.random.default_rng(11)

SHAPES = [((7,), (3,)), ((3,), (6,)), ((5, 4), (2, 3)), ((2, 3), (4, 5)), ((3, 4, 2), (2, 2, 2)),
          ((40,), (9,))]       # the last one large enough that SciPy may choose the FFT method


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("s1, s2", SHAPES)
def test_values_equal_scipy_and_derivatives_check(mode, s1, s2):
    a, b = RNG.normal(size=s1), RNG.normal(size=s2)
    if mode == "valid" and not (all(x >= y for x, y in zip(s1, s2)) or all(y >= x for x, y in zip(s1, s2))):
        with pytest.raises(ValueError, match="valid"):
            conv(a, b, mode)
        return
    want = scipy.signal.convolve(a, b, mode=mode)
    np.testing.assert_array_equal(conv(a, b, mode), want)
    np.testing.assert_array_equal(ad.jvp(lambda a: conv(a, b, mode), (a,), (a,))[0], want)
    check_grads(lambda a, b: conv(a, b, mode), (a, b), order=2)


def test_the_derivative_is_the_other_input():
    a, b = RNG.normal(size=6), RNG.normal(size=3)
    # d conv(a, b)[n] / d a[k] = b[n - k]: the Jacobian is a Toeplitz matrix of b
    jac = ad.jacrev(lambda a: conv(a, b))(a)
    want = np.array([[b[n - k] if 0 <= n - k < 3 else 0.0 for k in range(6)] for n in range(8)])
    np.testing.assert_array_equal(jac, want)


def test_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.signal as jsig

    a, b = RNG.normal(size=(5, 4)), RNG.normal(size=(3, 2))
    for mode in ("full", "same", "valid"):
        w = RNG.normal(size=np.shape(scipy.signal.convolve(a, b, mode=mode)))
        ours = ad.grad(lambda a, b, m=mode, w=w: np.sum(conv(a, b, m) * w), argnums=(0, 1))(a, b)
        theirs = jax.grad(lambda a, b, m=mode, w=w: jnp.sum(jsig.convolve(a, b, m) * w), argnums=(0, 1))(a, b)
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o, np.asarray(t), rtol=1e-10, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        conv(np.ones(3), np.ones(2), "wrap")
    with pytest.raises(ValueError, match="dimensionality"):
        conv(np.ones(3), np.ones((2, 2)))
    with pytest.raises(NotImplementedError, match="complex"):
        conv(np.ones(3) * 1j, np.ones(2))
