"""Tracers and Tensors share one table of operators, ndarray methods and properties (autodiff.operators).

Both classes have every member of the table, with its docstring; on a Tensor each gives a Tensor with
NumPy's value, and under a GradientTape the same derivative as the functional API gives on a tracer.
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import operators
from autodiff.core import Tracer
from autodiff.tensor import Tensor

A = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6]])

# method call on an array-like value a, as a function (the same expression for ndarray, tracer, Tensor)
CALLS = {
    "sum": lambda a: a.sum(0, None, None, True),
    "mean": lambda a: a.mean(axis=1),
    "prod": lambda a: a.prod(1),
    "max": lambda a: a.max(0),
    "min": lambda a: a.min(axis=1, keepdims=True),
    "var": lambda a: a.var(0, None, None, 1),
    "std": lambda a: a.std(axis=1),
    "cumsum": lambda a: a.cumsum(1),
    "cumprod": lambda a: a.cumprod(axis=0),
    "reshape": lambda a: a.reshape(3, 2) * np.arange(6.0).reshape((3, 2)),
    "transpose": lambda a: a.transpose((1, 0)) * np.arange(6.0).reshape(3, 2),
    "swapaxes": lambda a: a.swapaxes(0, 1)[0],
    "ravel": lambda a: a.ravel() * np.arange(6.0),
    "flatten": lambda a: a.flatten()[1:4],
    "squeeze": lambda a: a[:1].squeeze(0),
    "dot": lambda a: a.dot(np.array([1.0, 2.0, 3.0])),
    "clip": lambda a: a.clip(-1.0, 1.0),
    "conj": lambda a: a.conj() * a,
    "trace": lambda a: a.trace(),
    "diagonal": lambda a: a.diagonal(1),
    "repeat": lambda a: a.repeat(2, axis=1),
    "take": lambda a: a.take([2, 0], axis=1),
    "round": lambda a: a.round(1) * a,
    "T": lambda a: a.T * np.arange(6.0).reshape(3, 2),
    "mT": lambda a: a.mT[1],
    "real": lambda a: a.real * a,
    "imag": lambda a: a.imag + a,
    "operators": lambda a: ((2.0 - a) * (a + 1.0) / (a ** 2 + 1.0) @ np.ones(3) - abs(-a[:, 0])
                            + (+a[:, 1]) // 0.25 % 2.0),
}


def test_both_classes_have_every_member_of_the_table_with_its_docstring():
    names = [row.name for row in operators.OPERATORS] + list(operators.METHODS) + list(operators.PROPERTIES)
    assert len(names) == len(set(names)) == 67
    for cls in (Tracer, Tensor):
        for row in operators.OPERATORS:
            method = getattr(cls, row.name)
            assert method.__doc__ == row.doc and method.__name__ == row.name, (cls, row.name)
        for name in operators.METHODS:
            assert getattr(cls, name).__doc__, (cls, name)
        for name in operators.PROPERTIES:
            assert isinstance(vars(cls)[name], property) and vars(cls)[name].__doc__, (cls, name)


@pytest.mark.parametrize("name", list(CALLS))
def test_a_tensor_method_gives_a_tensor_with_numpys_value(name):
    call = CALLS[name]
    out = call(ad.constant(A))
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.numpy(), call(A))


@pytest.mark.parametrize("name", list(CALLS))
def test_a_tensor_method_under_a_tape_has_the_tracers_derivative(name):
    call = CALLS[name]
    v = ad.Variable(A)
    with ad.GradientTape() as tape:
        y = np.sum(call(v))
    expected = ad.grad(lambda a: np.sum(call(a)))(A)
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), expected, rtol=1e-13)


def test_index_methods_and_properties_of_a_tensor():
    t = ad.constant(A)
    assert (t.ndim, t.size, t.itemsize, t.nbytes) == (A.ndim, A.size, A.itemsize, A.nbytes)
    for name in ("argmax", "argmin", "argsort"):
        out = getattr(t, name)(axis=1)
        assert isinstance(out, Tensor)
        np.testing.assert_array_equal(out.numpy(), getattr(A, name)(axis=1))
    rows, cols = t.nonzero()
    np.testing.assert_array_equal(rows.numpy(), A.nonzero()[0])
    assert bool(t.any()) and (t > 0).all(axis=0).numpy().tolist() == [True, False, False]
    assert [r.numpy().tolist() for r in reversed(t)] == A[::-1].tolist()
    assert round(ad.constant(2.567), 1).numpy() == pytest.approx(2.6)
    assert (t < 0.5).numpy().tolist() == (A < 0.5).tolist()
    assert (0.5 <= t).numpy().tolist() == (A >= 0.5).tolist()


def test_out_is_refused_on_tensors_and_tracers_naming_the_method():
    with pytest.raises(TypeError, match=r"x\.sum\(\.\.\., out=\.\.\.\).*when x is a Tensor"):
        ad.constant(A).sum(0, None, np.zeros(3))
    with pytest.raises(TypeError, match=r"x\.cumsum\(\.\.\., out=\.\.\.\).*when x is traced"):
        ad.grad(lambda a: np.sum(a.cumsum(0, None, np.zeros_like(A))))(A)
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d Tensor"):
        len(ad.constant(1.0))
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d traced value"):
        ad.grad(lambda x: len(x) * x)(1.0)
