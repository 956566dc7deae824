"""checkpoint(f): the same values and derivatives as f for any f (closures over traced values of any
enclosing transformation, keyword arguments, nesting), while a tape keeps only f's inputs (SPEC §4)."""

import numpy as np
import pytest

import autodiff as ad
from autodiff.pytree import tree_flatten
from reverse.tape import memory_report
from reverse.vjp import Recording

X = np.arange(1.0, 4.0) / 3


def test_closure_over_a_traced_value_gets_its_derivative():
    with_ck = ad.grad(lambda a, x: np.sum(ad.checkpoint(lambda x: np.sin(a * x) * a)(x)), argnums=(0, 1))
    plain = ad.grad(lambda a, x: np.sum(np.sin(a * x) * a), argnums=(0, 1))
    got, want = with_ck(0.7, X), plain(0.7, X)
    np.testing.assert_allclose(got[0], 2.504518530505403, rtol=1e-13)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_operations_on_the_closure_alone_are_differentiated_too():
    def f(a, x):
        return np.sum(ad.checkpoint(lambda x: np.exp(np.cos(a)) * x ** 2)(x))

    def g(a, x):
        return np.sum(np.exp(np.cos(a)) * x ** 2)

    for make in (ad.jacrev, ad.jacfwd, ad.hessian):
        got, want = make(f, argnums=(0, 1))(0.4, X), make(g, argnums=(0, 1))(0.4, X)
        for a, b in zip(tree_flatten(got)[0], tree_flatten(want)[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_keyword_arguments_are_passed_and_differentiated():
    def block(x, *, scale, shift=0.0):
        return np.tanh(x * scale) + shift

    ck = ad.checkpoint(block)
    np.testing.assert_allclose(ck(X, scale=2.0, shift=1.0), block(X, scale=2.0, shift=1.0))
    f = lambda x, s: np.sum(ck(x, scale=s, shift=x))           # noqa: E731  traced keyword values
    g = lambda x, s: np.sum(block(x, scale=s, shift=x))        # noqa: E731
    got, want = ad.grad(f, argnums=(0, 1))(X, 1.5), ad.grad(g, argnums=(0, 1))(X, 1.5)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_nested_checkpoints_and_several_outputs():
    inner = ad.checkpoint(lambda y, a: np.sin(y) * a)

    def block(x, a):
        u = inner(x, a)
        return u * x, {"s": np.sum(u)}

    ck = ad.checkpoint(block)

    def f(x, a):
        y, d = ck(x, a)
        return np.sum(y ** 2) + d["s"]

    def g(x, a):
        u = np.sin(x) * a
        return np.sum((u * x) ** 2) + np.sum(u)

    for make in (ad.grad, ad.hessian):
        got, want = make(f, argnums=(0, 1))(X, 0.3), make(g, argnums=(0, 1))(X, 0.3)
        for a, b in zip(tree_flatten(got)[0], tree_flatten(want)[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [ad.jacfwd, ad.jacrev, ad.hessian])
def test_checkpoint_over_a_closure_under_every_transformation(make):
    def f(p, x):
        return np.sum(ad.checkpoint(lambda y: np.sin(p * y) * np.exp(p))(x) ** 2)

    def g(p, x):
        return np.sum((np.sin(p * x) * np.exp(p)) ** 2)

    got, want = make(f, argnums=(0, 1))(0.9, X), make(g, argnums=(0, 1))(0.9, X)
    for a, b in zip(tree_flatten(got)[0], tree_flatten(want)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_closure_over_an_outer_jvp_and_an_outer_grad():
    # the closed-over value belongs to a transformation below the tape (forward over reverse) ...
    def inner_grad(b):
        return ad.grad(lambda x: np.sum(ad.checkpoint(lambda y: np.sin(b * y) * b)(x)))(X)

    def inner_grad_plain(b):
        return ad.grad(lambda x: np.sum(np.sin(b * x) * b))(X)

    got, want = ad.jvp(inner_grad, (0.6,), (1.0,)), ad.jvp(inner_grad_plain, (0.6,), (1.0,))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
    # ... and to an outer tape (reverse over reverse)
    outer = ad.grad(lambda b: np.sum(inner_grad(b) ** 2))(0.6)
    outer_plain = ad.grad(lambda b: np.sum(inner_grad_plain(b) ** 2))(0.6)
    np.testing.assert_allclose(outer, outer_plain, rtol=1e-12)


def test_checkpoint_in_a_jvp_closing_over_a_dual():
    def f(b):
        return ad.jvp(lambda x: ad.checkpoint(lambda y: np.sin(b * y))(x), (X,), (np.ones(3),))[1]

    def g(b):
        return ad.jvp(lambda x: np.sin(b * x), (X,), (np.ones(3),))[1]

    np.testing.assert_allclose(ad.jacrev(f)(0.8), ad.jacrev(g)(0.8), rtol=1e-13)
    np.testing.assert_allclose(ad.jacfwd(f)(0.8), ad.jacfwd(g)(0.8), rtol=1e-13)


def _rk4(step_fn, y, n):
    for _ in range(n):
        y = step_fn(y)
    return y


def _step(y, p, h=0.05):
    def rhs(z):
        return np.stack([z[1], -p[0] * np.sin(z[0]) - p[1] * z[1]])
    k1 = rhs(y)
    k2 = rhs(y + 0.5 * h * k1)
    k3 = rhs(y + 0.5 * h * k2)
    k4 = rhs(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def test_rk4_loop_jacobian_equals_the_unchecked_one():
    y0, p0 = np.array([1.0, 0.0]), np.array([2.0, 0.3])

    def solve(y, p, ck):
        step = (lambda z: _step(z, p))  # noqa: E731
        return _rk4(ad.checkpoint(step) if ck else step, y, 40)

    for make in (ad.jacrev, ad.jacfwd):
        got = make(lambda y, p: solve(y, p, True), argnums=(0, 1))(y0, p0)
        want = make(lambda y, p: solve(y, p, False), argnums=(0, 1))(y0, p0)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def _saved_bytes(fun, *args):
    rec = Recording(fun, tree_flatten(args)[1], list(args), keep_nodes=True)
    return memory_report(rec.tape.nodes, exclude=[id(a) for a in args])


def test_a_deep_checkpointed_loop_keeps_less_for_the_backward_pass():
    y0, p0 = np.full(2, 0.5), np.array([2.0, 0.3])
    y0 = np.tile(y0[:, None], (1, 500))      # 500 trajectories: arrays large enough to count

    def loss(ck):
        def f(y, p):
            step = (lambda z: _step(z, p))  # noqa: E731
            return np.sum(_rk4(ad.checkpoint(step) if ck else step, y, 30))
        return f

    plain, ck = _saved_bytes(loss(False), y0, p0), _saved_bytes(loss(True), y0, p0)
    assert ck["by_primitive"]["checkpoint"]["count"] == 30
    # each checkpoint node keeps its input state (8 kB); the unchecked step keeps every stage
    assert ck["saved_bytes"] < plain["saved_bytes"] / 5
    assert ck["saved_bytes"] <= 31 * y0.nbytes
    np.testing.assert_allclose(ad.grad(loss(True), argnums=(0, 1))(y0, p0)[1],
                               ad.grad(loss(False), argnums=(0, 1))(y0, p0)[1], rtol=1e-12)


def test_checkpoint_inside_a_gradient_tape_closing_over_a_variable():
    v = ad.Variable(0.7)
    x = ad.constant(X)
    with ad.GradientTape() as tape:
        y = ad.checkpoint(lambda z: np.sin(v * z) * v)(x)
        loss = np.sum(y)
    got = tape.gradient(loss, v)
    np.testing.assert_allclose(got.numpy() if hasattr(got, "numpy") else got, 2.504518530505403,
                               rtol=1e-13)


def test_checkpoint_outside_any_transformation_and_with_constants_only():
    ck = ad.checkpoint(lambda x, n=2: np.sin(x) ** n)
    np.testing.assert_allclose(ck(X, n=3), np.sin(X) ** 3)
    # f uses nothing traced: a constant under the tape, zero derivative
    assert ad.grad(lambda a: a + np.sum(ad.checkpoint(lambda: np.cos(X))()))(1.0) == 1.0
