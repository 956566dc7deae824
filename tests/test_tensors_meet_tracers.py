"""A Tensor meeting a traced value: unboxed where it enters, never by bind, and differentiated right.

Boxes enter through ``Primitive.__call__`` (unboxed there), the tracers' operators and NumPy protocols
(NotImplemented, so the Tensor's own, unboxing implementation runs) and the Tensor's protocols. ``bind``
only looks for tracers; these tests spy on it to check that no box ever reaches it (and so no rule or
NumPy implementation sees one), and check the values and derivatives that come back.
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import core

X0 = np.array([0.3, -1.2, 0.8])
C = np.array([1.5, 0.5, -2.0])


@pytest.fixture
def no_box_reaches_bind(monkeypatch):
    """Replace core.bind_tuple (which bind, every operator, protocol and Primitive.__call__ call) by a
    spy that fails on a box among the arguments; count its calls."""
    real_bind = core.bind_tuple
    calls = []

    def spy(prim, args, params):
        boxes = [a for a in args if isinstance(a, core.Boxed)]
        assert not boxes, f"a box reached bind({prim.name}, ...): {boxes!r}"
        calls.append(prim.name)
        return real_bind(prim, args, params)

    monkeypatch.setattr(core, "bind_tuple", spy)
    return calls


# (expression of a traced x and a constant Tensor c, its derivative in x as a function of x)
MIXED = {
    "x * c": (lambda x, c: x * c, lambda x: C),
    "c * x": (lambda x, c: c * x, lambda x: C),
    "x + c": (lambda x, c: x + c, lambda x: np.ones(3)),
    "c - x": (lambda x, c: c - x, lambda x: -np.ones(3)),
    "x / c": (lambda x, c: x / c, lambda x: 1 / C),
    "x ** c": (lambda x, c: np.abs(x) ** c, lambda x: C * np.abs(x) ** (C - 1) * np.sign(x)),
    "x @ diag(c)": (lambda x, c: x @ np.diag(c), lambda x: C),
    "np.multiply(x, c)": (lambda x, c: np.multiply(x, c), lambda x: C),
    "np.add(c, x)": (lambda x, c: np.add(c, x), lambda x: np.ones(3)),
    "np.where(c > 0, x, c)": (lambda x, c: np.where(c > 0, x, c), lambda x: (C > 0).astype(float)),
    "np.stack([x, c])[0]": (lambda x, c: np.stack([x, c])[0], lambda x: np.ones(3)),
    "stop_gradient(c) * x": (lambda x, c: ad.stop_gradient(c) * x, lambda x: C),
    "index_update(c, 0, x[0])": (lambda x, c: ad.index_update(c, 0, x[0]),
                                 lambda x: np.array([1.0, 0.0, 0.0])),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_a_tensor_with_a_functional_tracer_is_unboxed_before_bind(name, no_box_reaches_bind):
    f, derivative = MIXED[name]

    def scalar(x):
        out = f(x, ad.constant(C))
        assert isinstance(out, ad.Tensor), f"{name} gave {type(out).__name__}, not a Tensor"
        return np.sum(out._autodiff_value())

    np.testing.assert_allclose(ad.grad(scalar)(X0), derivative(X0), rtol=1e-12)
    _, tangent = ad.jvp(scalar, (X0,), (np.ones(3),))
    np.testing.assert_allclose(tangent, np.sum(derivative(X0)), rtol=1e-12)
    assert no_box_reaches_bind, "the spy saw no primitive application"


@pytest.mark.parametrize("name", list(MIXED))
def test_a_watched_variable_with_a_tape_is_unboxed_before_bind(name, no_box_reaches_bind):
    f, derivative = MIXED[name]
    x = ad.Variable(X0)
    with ad.GradientTape() as tape:
        y = f(x, ad.constant(C))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), derivative(X0), rtol=1e-12)
    with ad.ForwardAccumulator(x, np.ones(3)) as acc:
        y = np.sum(f(x, ad.constant(C)))
    np.testing.assert_allclose(acc.jvp(y).numpy(), np.sum(derivative(X0)), rtol=1e-12)


def test_variables_used_inside_grad_and_jvp_are_read_through_their_tape(no_box_reaches_bind):
    # A Variable closed over by a functional transformation, inside a tape that watches it: the tracer
    # of grad meets the Tensor of the Variable (the tracer is the left operand, so its operator runs first).
    v = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        inner = ad.grad(lambda x: x * v * x)(3.0)       # d/dx (v x²) = 2 v x
        tangent = ad.jvp(lambda x: np.sin(x) * v, (0.5,), (1.0,))[1]
    # (the functional API returns the tape's tracer, as it does on main: values read with core.lower)
    assert core.lower(inner) == pytest.approx(12.0)
    assert core.lower(tangent) == pytest.approx(np.cos(0.5) * 2.0)
    assert tape.gradient(inner, v).numpy() == pytest.approx(6.0)      # d/dv (2 v x) at x = 3


def test_a_tracer_operator_meeting_a_box_gives_way_to_the_box():
    seen = []

    def f(x):
        c = ad.constant(2.0)
        for result in (x * c, x.__mul__(c), x.__rmul__(c), x // c, x % c, x < c, x == c):
            seen.append(result)
        assert x.__mul__(c) is NotImplemented and x.__rmul__(c) is NotImplemented
        return x * 3.0

    ad.grad(f)(5.0)
    products = seen[:1]
    assert all(isinstance(r, ad.Tensor) for r in products)
    assert seen[1] is NotImplemented and seen[2] is NotImplemented
    floor, mod, less, equal = seen[3:]
    assert isinstance(floor, ad.Tensor) and floor.numpy() == 2.0
    assert isinstance(mod, ad.Tensor) and mod.numpy() == 1.0
    assert less.numpy() == np.False_ and equal.numpy() == np.False_


def test_a_primitive_called_on_a_box_boxes_its_result(no_box_reaches_bind):
    v = ad.Variable([1.0, 2.0])
    out = ad.stop_gradient(v)
    assert type(out) is ad.Tensor and out.numpy().tolist() == [1.0, 2.0]
    with ad.GradientTape() as tape:
        y = ad.index_add(v, 0, v[1]) * v
    assert type(y) is ad.Tensor
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [2 * 1.0 + 2.0, 1.0 + 2 * 2.0])
