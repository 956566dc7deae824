"""Hard-coded closed-form derivatives, checked without the checkers (they guard the checkers)."""

import numpy as np

import autodiff as ad

X = np.array([0.4, -1.3, 2.2])
A = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0]])


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def both_modes(f, x):
    """The Jacobian of f at x from forward mode and from reverse mode (they must agree)."""
    fwd, rev = ad.jacfwd(f)(x), ad.jacrev(f)(x)
    close(fwd, rev)
    return fwd


def test_elementwise_functions():
    cases = [
        (np.sin, np.cos(X)),
        (np.cos, -np.sin(X)),
        (np.exp, np.exp(X)),
        (np.tanh, 1.0 / np.cosh(X) ** 2),
        (np.square, 2.0 * X),
        (lambda x: x ** 3, 3.0 * X ** 2),
        (np.abs, np.sign(X)),
        (lambda x: 1.0 / x, -1.0 / X ** 2),
    ]
    for f, d in cases:
        close(both_modes(f, X), np.diag(d))
    xp = np.abs(X)
    close(both_modes(np.log, xp), np.diag(1.0 / xp))
    close(both_modes(np.sqrt, xp), np.diag(0.5 / np.sqrt(xp)))


def test_power_with_respect_to_the_exponent():
    close(ad.grad(lambda y: 2.0 ** y)(1.5), 2.0 ** 1.5 * np.log(2.0))
    close(ad.grad(lambda x, y: x ** y, argnums=(0, 1))(3.0, 2.0), (6.0, 9.0 * np.log(3.0)))


def test_products_and_quadratic_forms():
    close(both_modes(lambda x: A @ x, X), A)
    close(both_modes(lambda M: M @ X, A), np.einsum("ij,k->ijk", np.eye(2), X))
    S = A.T @ A
    close(ad.grad(lambda x: x @ S @ x)(X), 2.0 * S @ X)
    close(ad.grad(lambda x: np.sum(x * x) / 2.0)(X), X)


def test_reductions():
    close(ad.grad(np.sum)(A), np.ones_like(A))
    close(ad.grad(np.mean)(A), np.full_like(A, 1.0 / 6.0))
    close(ad.grad(np.max)(np.array([1.0, 3.0, 2.0])), [0.0, 1.0, 0.0])
    close(ad.grad(np.max)(np.array([3.0, 1.0, 3.0])), [0.5, 0.0, 0.5])        # ties split evenly
    close(both_modes(lambda m: np.sum(m, axis=0), A), np.einsum("jk,i->jik", np.eye(3), np.ones(2)))


def test_kinks_follow_the_spec():
    assert ad.grad(np.abs)(0.0) == 0.0
    close(ad.grad(lambda x: np.maximum(x, 1.0))(1.0), 0.5)
    close(ad.grad(lambda x: np.minimum(x, 1.0))(1.0), 0.5)


def test_shape_and_indexing():
    close(both_modes(lambda x: x[::-1], X), np.eye(3)[::-1])
    close(both_modes(lambda x: x[[0, 0, 2]], X), np.eye(3)[[0, 0, 2]])
    close(ad.grad(lambda x: np.sum(x[[0, 0, 2]]))(X), [2.0, 0.0, 1.0])
    close(both_modes(lambda x: np.reshape(x, (3, 1)).T, X), np.eye(3).reshape(1, 3, 3))
    close(both_modes(lambda x: np.concatenate([x, 2.0 * x]), X), np.vstack([np.eye(3), 2.0 * np.eye(3)]))


def test_a_composite_function():
    # f(x) = sum(tanh(A x)^2): grad = 2 Aᵀ (tanh(Ax) (1 - tanh(Ax)^2)).
    th = np.tanh(A @ X)
    close(ad.grad(lambda x: np.sum(np.tanh(A @ x) ** 2))(X), 2.0 * A.T @ (th * (1 - th ** 2)))
    # Logistic loss: grad = sigmoid(w·x) - 1 times x.
    w = np.array([0.2, -0.1, 0.3])
    close(ad.grad(lambda w: np.log(1.0 + np.exp(-w @ X)))(w), (1.0 / (1.0 + np.exp(-w @ X)) - 1.0) * X)


def test_where_and_clip():
    close(ad.grad(lambda x: np.sum(np.where(x > 0, x ** 2, -x)))(X), np.where(X > 0, 2 * X, -1.0))
    close(ad.grad(lambda x: np.sum(np.clip(x, -1.0, 1.0)))(X), [1.0, 0.0, 0.0])


def test_second_derivatives():
    close(ad.grad(ad.grad(np.sin))(0.7), -np.sin(0.7))
    close(ad.jacfwd(ad.grad(lambda x: np.sum(x ** 3)))(X), np.diag(6.0 * X))
    close(ad.jacrev(ad.jacfwd(lambda x: x[0] * x[1] ** 2))(np.array([2.0, 3.0])), [[0.0, 6.0], [6.0, 4.0]])
