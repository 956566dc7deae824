"""The functional API: argnums (int and tuple), has_aux, pytrees in and out, chunk_size, checkpoint,
stop_gradient — each against closed forms."""

import numpy as np
import pytest

import autodiff as ad

X = np.array([0.5, -1.0, 2.0])
Y = np.array([1.5, 0.25, -0.5])


def f2(x, y):
    return np.sum(np.sin(x) * y ** 2)


# ---- argnums ------------------------------------------------------------------------------------------

def test_argnums_int_and_tuple():
    np.testing.assert_allclose(ad.grad(f2)(X, Y), np.cos(X) * Y ** 2)
    np.testing.assert_allclose(ad.grad(f2, argnums=1)(X, Y), 2 * np.sin(X) * Y)
    np.testing.assert_allclose(ad.grad(f2, argnums=-1)(X, Y), 2 * np.sin(X) * Y)
    gx, gy = ad.grad(f2, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, np.cos(X) * Y ** 2)
    np.testing.assert_allclose(gy, 2 * np.sin(X) * Y)
    (gy_only,) = ad.grad(f2, argnums=(1,))(X, Y)
    np.testing.assert_allclose(gy_only, gy)
    jx, jy = ad.jacfwd(lambda x, y: x * y, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(jx, np.diag(Y))
    np.testing.assert_allclose(jy, np.diag(X))
    jy2 = ad.jacrev(lambda x, y: x * y, argnums=1)(X, Y)
    np.testing.assert_allclose(jy2, np.diag(X))


def test_value_and_grad_with_argnums():
    value, (gx, gy) = ad.value_and_grad(f2, argnums=(0, 1))(X, Y)
    assert value == pytest.approx(f2(X, Y))
    np.testing.assert_allclose(gy, 2 * np.sin(X) * Y)


# ---- has_aux ------------------------------------------------------------------------------------------

def test_has_aux_returns_the_aux_as_plain_values():
    def loss(w):
        pred = w * X
        return np.sum(pred ** 2), {"pred": pred, "n": 3}

    g, aux = ad.grad(loss, has_aux=True)(2.0)
    assert g == pytest.approx(2 * 2.0 * np.sum(X ** 2))
    assert isinstance(aux["pred"], np.ndarray) and aux["n"] == 3
    np.testing.assert_allclose(aux["pred"], 2.0 * X)
    (value, aux2), g2 = ad.value_and_grad(loss, has_aux=True)(2.0)
    assert value == pytest.approx(4.0 * np.sum(X ** 2)) and g2 == g
    np.testing.assert_allclose(aux2["pred"], 2.0 * X)


def test_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match="pair"):
        ad.grad(lambda x: x ** 2, has_aux=True)(1.0)


# ---- pytrees ------------------------------------------------------------------------------------------

def test_pytree_inputs_give_gradients_of_the_same_structure():
    params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": [np.array([0.5, -0.5]), 2.0]}

    def loss(p):
        return np.sum((p["w"] @ X[:2] + p["b"][0]) ** 2) * p["b"][1]

    g = ad.grad(loss)(params)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and len(g["b"]) == 2
    r = params["w"] @ X[:2] + params["b"][0]
    np.testing.assert_allclose(g["w"], 2 * params["b"][1] * np.outer(r, X[:2]))
    np.testing.assert_allclose(g["b"][0], 2 * params["b"][1] * r)
    assert g["b"][1] == pytest.approx(np.sum(r ** 2))


def test_pytree_outputs_and_jacobians_nest_as_the_pytrees_do():
    def f(p):
        return {"s": p[0] * p[1], "t": (np.sum(p[0]), p[1] ** 2)}

    p = (X, Y)
    for jac in (ad.jacfwd, ad.jacrev):
        J = jac(f)(p)
        np.testing.assert_allclose(J["s"][0], np.diag(Y))
        np.testing.assert_allclose(J["s"][1], np.diag(X))
        np.testing.assert_allclose(J["t"][0][0], np.ones(3))
        np.testing.assert_allclose(J["t"][0][1], np.zeros(3))
        np.testing.assert_allclose(J["t"][1][1], np.diag(2 * Y))
    out, tangent = ad.jvp(f, (p,), ((np.ones(3), np.zeros(3)),))
    np.testing.assert_allclose(tangent["s"], Y)
    assert tangent["t"][0] == pytest.approx(3.0)
    out, pullback = ad.vjp(f, p)
    (cot,) = pullback({"s": np.ones(3), "t": (1.0, np.zeros(3))})
    np.testing.assert_allclose(cot[0], Y + 1.0)
    np.testing.assert_allclose(cot[1], X)


def test_jacobian_shapes_are_out_shape_plus_in_shape():
    W = np.arange(6.0).reshape(2, 3)
    M = np.ones((4, 5))
    for jac in (ad.jacfwd, ad.jacrev):
        assert jac(lambda m: W @ m[:3, :2])(M).shape == (2, 2, 4, 5)
        assert jac(lambda m: np.sum(m))(M).shape == (4, 5)
        assert jac(lambda s: s * W)(2.0).shape == (2, 3)


# ---- chunk_size ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_chunk_size_gives_the_same_jacobian_in_fewer_directions_per_pass(chunk):
    A = np.arange(15.0).reshape(5, 3) / 7.0

    def f(x):
        return np.tanh(A @ x)

    want = (1 - np.tanh(A @ X) ** 2)[:, None] * A
    with ad.counting() as c:
        np.testing.assert_allclose(ad.jacfwd(f, chunk_size=chunk)(X), want, rtol=1e-13)
    assert c.forward_passes == -(-3 // chunk)
    with ad.counting() as c:
        np.testing.assert_allclose(ad.jacrev(f, chunk_size=chunk)(X), want, rtol=1e-13)
    assert c.backward_passes == -(-5 // chunk)


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacfwd(np.sin, chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacrev(np.sin, chunk_size=-1)


# ---- checkpoint ---------------------------------------------------------------------------------------

def test_checkpoint_has_the_same_values_and_derivatives():
    def block(x):
        return np.sin(x) * np.exp(x)

    ck = ad.checkpoint(block)
    np.testing.assert_allclose(ck(X), block(X))
    for make in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(make(ck)(X), make(block)(X), rtol=1e-13)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(ck(ck(x))))(X),
                               ad.grad(lambda x: np.sum(block(block(x))))(X), rtol=1e-13)
    # Second order through a checkpoint.
    np.testing.assert_allclose(ad.hessian(lambda x: np.sum(ck(x)))(X),
                               np.diag(2 * np.exp(X) * np.cos(X)), rtol=1e-12)


def test_checkpoint_recomputes_instead_of_storing():
    calls = []

    def counted_sin(x):
        calls.append(1)
        return np.sin(x)

    p = ad.primitive(counted_sin, name="counted_sin_for_checkpoint_test")
    ad.defjvp(p, lambda t, ans, x: t * np.cos(x))

    def block(x):
        return p(x) ** 2

    ad.grad(lambda x: np.sum(ad.checkpoint(block)(x)))(X)
    # f's operations run once forward, once again (recomputed) during the backward pass
    assert len(calls) == 2


# ---- stop_gradient ------------------------------------------------------------------------------------

def test_stop_gradient_is_zero_derivative_in_both_modes():
    def f(x):
        return x * ad.stop_gradient(x)

    assert ad.grad(f)(3.0) == 3.0
    assert ad.jvp(f, (3.0,), (1.0,))[1] == 3.0
    np.testing.assert_allclose(ad.jacfwd(f)(X), np.diag(X))
    np.testing.assert_allclose(ad.jacrev(f)(X), np.diag(X))
    # Applied to a pytree, and reached only through it: zeros in the functional API.
    assert ad.grad(lambda x: np.sum(ad.stop_gradient({"a": x})["a"]))(1.0) == 0.0
    assert ad.stop_gradient(2.5) == 2.5


@pytest.mark.parametrize("f", [np.sum, lambda x: np.sum(3.0 * x), np.mean, lambda x: np.sum(x[1:] / 2.0),
                               lambda x: -np.sum(x)])
def test_derivatives_handed_out_are_writeable(f):
    """Internally a cotangent may be a read-only broadcast view; what users get they can modify in place."""
    x = np.arange(1.0, 5.0)
    expected = ad.jacfwd(f)(x)
    outs = [ad.grad(f)(x), ad.value_and_grad(f)(x)[1], ad.vjp(f, x)[1](np.float64(1.0))[0], ad.jacrev(f)(x)]
    tape_x = ad.Variable(x)
    with ad.GradientTape() as tape:
        y = f(tape_x)
    outs.append(np.asarray(tape.gradient(y, tape_x)))
    for g in outs:
        np.testing.assert_allclose(g, expected)
        assert g.flags.writeable
        g *= 2.0
