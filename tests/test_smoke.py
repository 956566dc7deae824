"""First closed-form checks of both modes; the registry-driven suite lives in test_registry_*.py."""

import numpy as np

import autodiff as ad


def test_grad_of_sin_times_x_matches_closed_form():
    x = 1.3
    assert np.isclose(ad.grad(lambda x: np.sin(x) * x)(x), np.cos(x) * x + np.sin(x), rtol=1e-14)


def test_jacfwd_and_jacrev_agree_on_tanh_layer():
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = np.array([0.1, -0.2])
    expected = (1 - np.tanh(A @ x) ** 2)[:, None] * A
    np.testing.assert_allclose(ad.jacfwd(lambda x: np.tanh(A @ x))(x), expected, rtol=1e-13)
    np.testing.assert_allclose(ad.jacrev(lambda x: np.tanh(A @ x))(x), expected, rtol=1e-13)
