"""Every nesting of the two modes, to third order, on closed forms; perturbation confusion."""

import numpy as np
import pytest

import autodiff as ad


def f(x):
    return np.sin(x) * np.exp(x)


# d^k/dx^k of sin(x) e^x = 2^(k/2) e^x sin(x + k pi/4).
def d(k, x):
    return 2.0 ** (k / 2) * np.exp(x) * np.sin(x + k * np.pi / 4)


def fwd(g):
    """Forward-mode derivative of a scalar function (a JVP with tangent 1)."""
    return lambda x: ad.jvp(g, (x,), (np.ones_like(x),))[1]


def rev(g):
    """Reverse-mode derivative of a scalar function (a VJP with cotangent 1)."""
    def dg(x):
        out, pullback = ad.vjp(g, x)
        return pullback(np.ones_like(out))[0]
    return dg


@pytest.mark.parametrize("outer", [fwd, rev], ids=["fwd", "rev"])
@pytest.mark.parametrize("middle", [fwd, rev], ids=["fwd", "rev"])
@pytest.mark.parametrize("inner", [fwd, rev], ids=["fwd", "rev"])
def test_third_derivative_in_every_nesting(outer, middle, inner):
    x = np.array(0.7)
    np.testing.assert_allclose(inner(f)(x), d(1, x), rtol=1e-13)
    np.testing.assert_allclose(middle(inner(f))(x), d(2, x), rtol=1e-13)
    np.testing.assert_allclose(outer(middle(inner(f)))(x), d(3, x), rtol=1e-13)


def test_third_derivative_through_grad_and_on_vectors():
    x = np.array([0.1, 0.5, -0.4])
    third = ad.grad(lambda x: np.sum(ad.grad(lambda y: np.sum(ad.grad(lambda z: np.sum(f(z)))(y)))(x)))
    np.testing.assert_allclose(third(x), d(3, x), rtol=1e-13)


def test_mixed_partials():
    # g(x, y) = x^2 y^3: d2g/dxdy = 6 x y^2, d3g/dx dy^2 = 12 x y.
    def g(x, y):
        return x ** 2 * y ** 3

    x, y = 1.5, -0.8
    dxdy_rev = ad.grad(ad.grad(g, argnums=0), argnums=1)(x, y)
    dxdy_fwd = ad.jvp(lambda y: ad.grad(g, argnums=0)(x, y), (y,), (1.0,))[1]
    np.testing.assert_allclose(dxdy_rev, 6 * x * y ** 2, rtol=1e-13)
    np.testing.assert_allclose(dxdy_fwd, 6 * x * y ** 2, rtol=1e-13)
    dxdydy = ad.jacfwd(lambda y: ad.jacrev(lambda y: ad.grad(g, argnums=0)(x, y))(y))(y)
    np.testing.assert_allclose(dxdydy, 12 * x * y, rtol=1e-13)


def test_perturbation_confusion():
    # Siskind & Pearlmutter: d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1, not 2.
    def inner(x):
        return ad.jvp(lambda y: x + y, (1.0,), (1.0,))[1]

    assert ad.jvp(lambda x: x * inner(x), (1.0,), (1.0,))[1] == 1.0


def test_perturbation_confusion_in_reverse_and_mixed_modes():
    def inner_rev(x):
        return ad.grad(lambda y: x * y)(2.0)          # = x, the outer variable closed over

    assert ad.grad(lambda x: x * inner_rev(x))(3.0) == pytest.approx(6.0, rel=1e-15)   # d/dx x^2
    assert ad.jvp(lambda x: x * inner_rev(x), (3.0,), (1.0,))[1] == pytest.approx(6.0, rel=1e-15)

    def inner_fwd(x):
        return ad.jvp(lambda y: x * y, (2.0,), (1.0,))[1]

    assert ad.grad(lambda x: x * inner_fwd(x))(3.0) == pytest.approx(6.0, rel=1e-15)


def test_hessian_by_nested_jacobians():
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]])

    def h(x):
        return 0.5 * x @ A @ x + np.sum(np.sin(x))

    x = np.array([0.2, -0.7, 1.1])
    want = A - np.diag(np.sin(x))
    for outer in (ad.jacfwd, ad.jacrev):
        for inner in (ad.jacfwd, ad.jacrev):
            np.testing.assert_allclose(outer(inner(h))(x), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ad.hessian(h)(x), want, rtol=1e-13, atol=1e-15)


def test_third_order_tensor_by_nested_jacobians():
    x = np.array([0.3, -0.5])

    def k(x):
        return x[0] ** 2 * x[1] + np.exp(x[1])

    t = ad.jacfwd(ad.jacrev(ad.jacfwd(k)))(x)
    want = np.zeros((2, 2, 2))
    want[0, 0, 1] = want[0, 1, 0] = want[1, 0, 0] = 2.0
    want[1, 1, 1] = np.exp(x[1])
    np.testing.assert_allclose(t, want, rtol=1e-13, atol=1e-15)
