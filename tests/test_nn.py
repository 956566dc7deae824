"""autodiff.nn: values, stability at |x| = 1000, exact zeros, derivatives in both modes, second order."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import autodiff as ad
from autodiff import nn

X = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
EXTREME = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_values_match_references():
    np.testing.assert_allclose(nn.relu(X), np.maximum(X, 0), rtol=0)
    np.testing.assert_allclose(nn.sigmoid(X), sigmoid_ref(X), rtol=1e-15)
    np.testing.assert_allclose(nn.softplus(X), np.log1p(np.exp(X)), rtol=1e-15)
    np.testing.assert_allclose(nn.logsumexp(X), np.log(np.sum(np.exp(X))), rtol=1e-15)
    np.testing.assert_allclose(nn.softmax(X), np.exp(X) / np.sum(np.exp(X)), rtol=1e-15)
    np.testing.assert_allclose(nn.log_softmax(X), X - np.log(np.sum(np.exp(X))), rtol=1e-14)


def test_no_overflow_and_exact_zeros_at_1000():
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no overflow / invalid-value warnings either
        np.testing.assert_array_equal(nn.relu(EXTREME), [0, 0, 0, 1, 1000])
        s = nn.sigmoid(EXTREME)
        assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
        sp = nn.softplus(EXTREME)
        assert sp[0] == 0.0 and sp[-1] == 1000.0
        assert nn.logsumexp(EXTREME) == 1000.0
        assert nn.logsumexp(-EXTREME) == 1000.0
        sm = nn.softmax(EXTREME)
        np.testing.assert_array_equal(sm, [0, 0, 0, 0, 1])
        ls = nn.log_softmax(EXTREME)
        assert np.all(np.isfinite(ls)) and ls[-1] == 0.0 and ls[0] == -2000.0
        for f in (nn.relu, nn.sigmoid, nn.softplus):
            d = ad.jacfwd(f)(EXTREME).diagonal()
            assert np.all(np.isfinite(d))
        np.testing.assert_array_equal(ad.grad(nn.logsumexp)(EXTREME), [0, 0, 0, 0, 1])
        assert np.all(np.isfinite(ad.jacrev(nn.log_softmax)(EXTREME)))


def test_relu_derivative_is_zero_at_the_kink():
    assert ad.grad(nn.relu)(0.0) == 0.0
    assert ad.grad(nn.relu)(1e-300) == 1.0
    assert ad.jacfwd(nn.relu)(np.array(0.0)) == 0.0
    x = ad.Variable(0.0)
    with ad.GradientTape() as tape:
        y = nn.relu(x)
    assert tape.gradient(y, x).numpy() == 0.0


FIRST = {
    "relu": (nn.relu, lambda x: (x > 0).astype(float)),
    "sigmoid": (nn.sigmoid, lambda x: sigmoid_ref(x) * sigmoid_ref(-x)),
    "softplus": (nn.softplus, sigmoid_ref),
}
SECOND = {
    "relu": lambda x: 0 * x,
    "sigmoid": lambda x: sigmoid_ref(x) * (1 - sigmoid_ref(x)) * (1 - 2 * sigmoid_ref(x)),
    "softplus": lambda x: sigmoid_ref(x) * sigmoid_ref(-x),
}


@pytest.mark.parametrize("name", sorted(FIRST))
def test_elementwise_derivatives_both_modes_and_second_order(name):
    f, df = FIRST[name]
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(np.diag(jac(f)(X)), df(X), rtol=1e-13, atol=1e-300)
    g = lambda x: np.sum(f(x))   # noqa: E731
    for hess in (ad.jacfwd(ad.grad(g)), ad.jacrev(ad.grad(g)), ad.jacfwd(ad.jacfwd(g))):
        np.testing.assert_allclose(np.diag(hess(X)), SECOND[name](X), rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_and_logsumexp_hessian():
    s = softmax_ref(X)
    expected = np.diag(s) - np.outer(s, s)
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jac(nn.softmax)(X), expected, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(jac(nn.log_softmax)(X), np.eye(5) - s, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(ad.grad(nn.logsumexp)(X), s, rtol=1e-14)
    np.testing.assert_allclose(ad.hessian(nn.logsumexp)(X), expected, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(ad.jacrev(ad.grad(nn.logsumexp))(X), expected, rtol=1e-12, atol=1e-16)


def test_axes_and_keepdims():
    x = np.arange(24.0).reshape(2, 3, 4) / 7
    ref = np.log(np.exp(x).sum(axis=1))
    np.testing.assert_allclose(nn.logsumexp(x, axis=1), ref, rtol=1e-14)
    assert nn.logsumexp(x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert nn.logsumexp(x, axis=(0, 2)).shape == (3,)
    assert np.shape(nn.logsumexp(x)) == ()
    assert nn.logsumexp(x, keepdims=True).shape == (1, 1, 1)
    np.testing.assert_allclose(nn.softmax(x, axis=0), softmax_ref(x, axis=0), rtol=1e-14)
    np.testing.assert_allclose(nn.log_softmax(x, axis=1), np.log(softmax_ref(x, axis=1)), rtol=1e-13)
    # derivative with respect to a reduced axis: softmax over that axis
    g = ad.grad(lambda x: np.sum(nn.logsumexp(x, axis=1)))(x)
    np.testing.assert_allclose(g, softmax_ref(x, axis=1), rtol=1e-13)


def test_minus_infinity_entries():
    x = np.array([-np.inf, 0.0, 0.0])
    np.testing.assert_allclose(nn.softmax(x), [0.0, 0.5, 0.5])
    assert nn.logsumexp(x) == pytest.approx(np.log(2.0))


def test_on_tensors_variables_and_float32():
    v = ad.Variable(np.array([-1.0, 2.0], dtype=np.float32))
    for f in (nn.relu, nn.sigmoid, nn.softplus, nn.softmax, nn.log_softmax, nn.logsumexp):
        out = f(v)
        assert isinstance(out, ad.Tensor) and out.dtype == np.float32, f.__name__
        np.testing.assert_allclose(out.numpy(), f(v.numpy()), rtol=1e-6)
        assert f(v.numpy()).dtype == np.float32
        with ad.GradientTape() as tape:
            y = np.sum(f(v) * np.array([1.0, 3.0], dtype=np.float32))
        g = tape.gradient(y, v)
        assert g.dtype == np.float32
        expected = ad.grad(lambda x, f=f: np.sum(f(x) * np.array([1.0, 3.0])))(v.numpy().astype(float))
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_accepts_lists():
    np.testing.assert_allclose(nn.softmax([0.0, 0.0]), [0.5, 0.5])


@given(arrays(np.float64, st.integers(1, 6), elements=st.floats(-50, 50)))
def test_softmax_is_a_distribution_and_log_softmax_its_log(x):
    s = nn.softmax(x)
    assert np.all(s >= 0) and s.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(nn.log_softmax(x), np.log(s), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nn.logsumexp(x), np.max(x) + np.log(np.sum(np.exp(x - np.max(x)))),
                               rtol=1e-13)
