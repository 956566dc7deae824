"""ForwardAccumulator: JVPs of Tensors computed inside it, and its nesting with tapes (HVPs both ways)."""

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import active_traces


def f(x):
    return np.sum(np.sin(x) * x**2)


def hessian_of_f(x):
    return np.diag(-np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x))


X = np.array([0.3, -1.2, 2.0])
V = np.array([1.0, 0.5, -2.0])


def test_jvp_matches_closed_form():
    x = ad.Variable(X)
    with ad.ForwardAccumulator(x, ad.constant(V)) as acc:
        y = np.sin(x) * x
    expected = (np.cos(X) * X + np.sin(X)) * V
    np.testing.assert_allclose(acc.jvp(y).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(y.numpy(), np.sin(X) * X, rtol=1e-15)


def test_jvp_of_nests_and_of_the_primal_itself():
    a, b = ad.constant(2.0), ad.Variable(3.0)
    with ad.ForwardAccumulator({"a": a, "b": b}, {"a": 1.0, "b": 10.0}) as acc:
        y = a * b
        z = a + 1.0
    out = acc.jvp({"y": y, "z": [z, a]})
    assert out["y"].numpy() == 3.0 * 1.0 + 2.0 * 10.0
    assert out["z"][0].numpy() == 1.0 and out["z"][1].numpy() == 1.0


def test_unconnected_none_or_zero():
    x = ad.Variable([1.0, 2.0])
    other = ad.constant([[5.0, 6.0, 7.0]])
    with ad.ForwardAccumulator(x, [1.0, 1.0]) as acc:
        y = other * 2.0
    assert acc.jvp(y) is None
    z = acc.jvp(y, unconnected_gradients="zero")
    assert z.shape == (1, 3) and not np.any(z.numpy())


def test_accumulator_inside_tape_gives_hvp():
    x = ad.Variable(X)
    with ad.GradientTape() as tape:
        with ad.ForwardAccumulator(x, V) as acc:
            y = f(x)
        jv = acc.jvp(y)                       # grad f . v, recorded on the tape
    hv = tape.gradient(jv, x)
    np.testing.assert_allclose(hv.numpy(), hessian_of_f(X) @ V, rtol=1e-13)


def test_tape_inside_accumulator_gives_hvp():
    x = ad.Variable(X)
    with ad.ForwardAccumulator(x, V) as acc:
        with ad.GradientTape() as tape:
            y = f(x)
        g = tape.gradient(y, x)               # its tangent is H v
    np.testing.assert_allclose(acc.jvp(g).numpy(), hessian_of_f(X) @ V, rtol=1e-13)
    np.testing.assert_allclose(g.numpy(), np.cos(X) * X**2 + 2 * X * np.sin(X), rtol=1e-14)


def test_both_hvps_agree_with_the_functional_hvp():
    x = ad.constant(X)
    with ad.GradientTape() as tape:
        tape.watch(x)
        with ad.ForwardAccumulator(x, V) as acc:
            y = f(x)
        jv = acc.jvp(y)
    expected = ad.hvp(f, (X,), (V,))
    np.testing.assert_allclose(tape.gradient(jv, x).numpy(), expected, rtol=1e-13)


def test_nested_accumulators_give_second_directional_derivative():
    x = ad.Variable(X)
    u = np.array([0.0, 1.0, 1.0])
    with ad.ForwardAccumulator(x, V) as outer:
        with ad.ForwardAccumulator(x, u) as inner:
            y = f(x)
        du = inner.jvp(y)
    assert outer.jvp(du).numpy() == pytest.approx(u @ hessian_of_f(X) @ V, rel=1e-13)
    assert du.numpy() == pytest.approx((np.cos(X) * X**2 + 2 * X * np.sin(X)) @ u, rel=1e-14)


def test_perturbations_are_not_confused():
    # d/dx [x * d/dy (x + y)] = 1: the inner derivative must not see the outer perturbation of x.
    x, y = ad.constant(1.0), ad.constant(1.0)
    with ad.ForwardAccumulator(x, 1.0) as outer:
        with ad.ForwardAccumulator(y, 1.0) as inner:
            s = x + y
        out = x * inner.jvp(s)
    assert outer.jvp(out).numpy() == 1.0


def test_state_is_restored_when_the_body_raises():
    depth = len(active_traces())
    x = ad.Variable(1.0)
    with pytest.raises(KeyError):
        with ad.ForwardAccumulator(x, 1.0):
            raise KeyError("boom")
    assert len(active_traces()) == depth
    assert not isinstance((x * 2.0)._value, ad.core.Tracer)


def test_float32_tangents_stay_float32():
    x = ad.Variable(np.array([1.0, 2.0], dtype=np.float32))
    with ad.ForwardAccumulator(x, np.ones(2)) as acc:
        y = ad.nn.sigmoid(x)
    t = acc.jvp(y)
    assert t.dtype == np.float32
    s = 1 / (1 + np.exp(-np.array([1.0, 2.0])))
    np.testing.assert_allclose(t.numpy(), s * (1 - s), rtol=1e-6)


def test_bad_arguments():
    x = ad.Variable([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        ad.ForwardAccumulator(x, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="Tensors"):
        ad.ForwardAccumulator(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="dtype"):
        ad.ForwardAccumulator(ad.constant([1, 2]), [1, 1])
    with pytest.raises(ValueError, match="structure"):
        ad.ForwardAccumulator([x], {"a": [1.0, 2.0]})


def test_forward_package_exports_it():
    import forward
    assert forward.ForwardAccumulator is ad.ForwardAccumulator
