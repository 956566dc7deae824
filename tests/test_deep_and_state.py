"""Deep graphs, the level stack after errors, and traced values that escape their transformation."""

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import active_traces

N = 100_000


def chain(x):
    for _ in range(N):
        x = x * 1.000001
    return x


def test_a_100000_operation_chain_in_reverse_mode():
    assert ad.grad(chain)(1.0) == pytest.approx(1.000001 ** N, rel=1e-12)


def test_a_100000_operation_chain_in_forward_mode():
    assert ad.jvp(chain, (1.0,), (1.0,))[1] == pytest.approx(1.000001 ** N, rel=1e-12)


class Boom(Exception):
    pass


def explode(x):
    y = np.sin(x) * 2.0
    raise Boom(str(y.shape))


@pytest.mark.parametrize("transform", [
    lambda f: ad.grad(f)(1.0),
    lambda f: ad.value_and_grad(f)(1.0),
    lambda f: ad.jvp(f, (1.0,), (1.0,)),
    lambda f: ad.vjp(f, 1.0),
    lambda f: ad.jacfwd(f)(np.ones(2)),
    lambda f: ad.jacrev(f)(np.ones(2)),
    lambda f: ad.grad(lambda x: ad.jvp(f, (x,), (1.0,))[1])(1.0),
    lambda f: ad.jvp(lambda x: ad.grad(f)(x), (1.0,), (1.0,)),
], ids=["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "grad-of-jvp", "jvp-of-grad"])
def test_the_level_stack_is_restored_when_the_function_raises(transform):
    before = active_traces()
    with pytest.raises(Boom):
        transform(explode)
    assert active_traces() == before == ()
    # And the next differentiation is unaffected.
    assert ad.grad(np.sin)(0.0) == 1.0


def test_an_escaped_reverse_tracer_is_the_constant_it_holds():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    ad.grad(f)(3.0)
    (t,) = leaked
    assert ad.grad(lambda y: t * y)(2.0) == 3.0           # t is the constant 3, not a variable
    assert ad.jvp(lambda y: t * y * y, (2.0,), (1.0,))[1] == 12.0
    assert np.sin(t) * 1.0 == pytest.approx(np.sin(3.0))  # plain NumPy value outside any transform


def test_an_escaped_forward_tracer_is_the_constant_it_holds():
    leaked = []

    def f(x):
        leaked.append(x)
        return np.exp(x)

    ad.jvp(f, (0.5,), (1.0,))
    (t,) = leaked
    assert ad.grad(lambda y: np.sum(t + y ** 2))(1.5) == 3.0
    assert ad.jvp(lambda y: t * y, (4.0,), (1.0,))[1] == pytest.approx(0.5)


def test_an_inner_tracer_escaping_into_an_outer_transformation():
    leaked = []

    def outer(x):
        def inner(y):
            leaked.append(y)
            return x * y
        ad.grad(inner)(2.0)
        return leaked[-1] * x          # the inner tracer is the constant 2.0 here: d/dx = 2

    assert ad.grad(outer)(5.0) == 2.0
    assert ad.jvp(outer, (5.0,), (1.0,))[1] == 2.0


def test_the_sweep_visits_a_diamond_in_reverse_creation_order():
    # a feeds b, the sum and a product with b; the sweep must finish every consumer of a node before
    # pulling that node back, in whatever order its consumers were made.
    def f(x):
        a = np.sin(x)
        b = a * x
        d = np.exp(b)
        return np.sum(a + d + a * b)

    x = np.linspace(0.2, 1.0, 4)
    expected = ad.jacobian(f, mode="forward")(x)
    np.testing.assert_allclose(ad.grad(f)(x), expected, rtol=1e-12)


def test_a_cotangent_reaching_a_node_made_later_is_an_error_not_a_wrong_gradient():
    from reverse.tape import Node, backward

    child = Node((), (lambda g: g,), (3,))
    late_parent = Node((), (), (3,))          # made after the node that names it as its parent
    child.parents = (late_parent,)
    consumer = Node((child, late_parent), (lambda g: g, lambda g: g), (3,))
    with pytest.raises(RuntimeError, match="made before it"):
        backward([(consumer, np.ones(3))], [late_parent])
