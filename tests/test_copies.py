"""Copies of traced values stay traced (same derivative); pickling one raises TypeError (SPEC §2)."""

import copy
import pickle

import numpy as np
import pytest

import autodiff as ad

X = np.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_a_copy_has_the_same_derivative_in_every_mode(copier):
    def f(x):
        return np.sum(np.sin(copier(x * 2.0)) * copier(x))

    def g(x):
        return np.sum(np.sin(x * 2.0) * x)

    np.testing.assert_allclose(ad.grad(f)(X), ad.grad(g)(X), rtol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(f)(X), ad.jacfwd(g)(X), rtol=1e-14)
    np.testing.assert_allclose(ad.hessian(f)(X), ad.hessian(g)(X), rtol=1e-13)
    out, tangent = ad.jvp(lambda x: copier(np.sin(x)), (X,), (np.ones(3),))
    assert type(out) is np.ndarray and type(tangent) is np.ndarray     # no Dual leaks out
    np.testing.assert_allclose(tangent, np.cos(X), rtol=1e-14)


def test_deepcopy_of_a_structure_holding_traced_values():
    def f(x):
        state = {"a": [x, x ** 2], "k": 3}
        other = copy.deepcopy(state)
        return np.sum(other["a"][0] * other["a"][1]) * other["k"]

    np.testing.assert_allclose(ad.grad(f)(X), 9 * X ** 2, rtol=1e-14)


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_a_copy_inside_a_gradient_tape_is_differentiated(copier):
    x = ad.constant(X)
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = copier(x * x)
        loss = np.sum(y)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), 2 * X, rtol=1e-14)


def test_pickling_a_traced_value_raises_type_error_saying_why():
    def f(x):
        pickle.dumps(x)
        return np.sum(x)

    for transform in (ad.grad, ad.jacfwd):
        with pytest.raises(TypeError, match="cannot be pickled"):
            transform(f)(X)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ad.Dual(1.0, 2.0))


def test_plain_values_still_pickle():
    assert pickle.loads(pickle.dumps(ad.grad(lambda x: np.sum(x ** 2))(X))).tolist() == (2 * X).tolist()


def test_tensor_boxes_copy_traced_and_refuse_pickling():
    x = ad.constant(X)
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(y)
        loss = np.sum(copy.deepcopy(y) * copy.copy(y))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), 8 * X, rtol=1e-14)
    v = ad.Variable(1.0)
    with ad.ForwardAccumulator(v, 1.0) as acc:
        w = copy.deepcopy(v * 3.0)
    np.testing.assert_allclose(np.asarray(acc.jvp(w)), 3.0)


def test_copies_of_watched_variables_and_tensors_keep_the_derivative():
    """A copy of a watched Variable inside a tape is its value now (a connected Tensor); a copy of a
    Tensor is the Tensor; outside every tape a Variable's copy is an independent Variable."""
    v = ad.Variable([1.0, 2.0])
    with ad.GradientTape() as tape:
        y = np.sum(np.sin(copy.copy(v)) * 1.5) + np.sum(copy.deepcopy(v) ** 2)
    want = 1.5 * np.cos([1.0, 2.0]) + 2 * np.array([1.0, 2.0])
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), want)
    c = ad.constant(3.0)
    with ad.GradientTape() as tape:
        tape.watch(c)
        z = copy.copy(c) ** 2
    assert float(tape.gradient(z, c)) == 6.0
    w = copy.deepcopy(v)
    w.assign([5.0, 5.0])
    assert isinstance(w, ad.Variable) and list(v.numpy()) == [1.0, 2.0]
