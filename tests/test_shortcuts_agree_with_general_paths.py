"""The shortcuts the hot paths take (flat pytrees, argnums covering every argument, the sum's plain
cotangent, the lean hvp), each against the general path it replaces."""

from collections import namedtuple

import numpy as np
import pytest

import autodiff as ad
from autodiff.argnums import select_args
from autodiff.pytree import tree_flatten, tree_unflatten
from autodiff.rules._util import keepdims_shape
from autodiff.rules.reductions import _broadcast_plain

RNG = np.random.default_rng(7)


# ---- pytrees ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tree", [
    np.ones(3), 2.0, (np.ones(2), 3.0), (), (np.ones(1),), (np.ones(2), (1.0, 2.0)), (None, 1.0),
    [1.0, 2.0], {"a": 1.0}, namedtuple("P", "a b")(1.0, 2.0), ((),),
])
def test_fast_flatten_agrees_with_the_recursive_one(tree):
    leaves, treedef = tree_flatten(tree)
    slow: list = []
    from autodiff.pytree import _flatten_into
    assert treedef == _flatten_into(tree, slow)
    assert len(leaves) == len(slow) and all(a is b for a, b in zip(leaves, slow))
    back = tree_unflatten(treedef, leaves)
    assert type(back) is type(tree) or isinstance(tree, np.ndarray) or np.isscalar(tree)
    assert tree_flatten(back)[1] == treedef


def test_fast_unflatten_checks_the_number_of_leaves():
    _, treedef = tree_flatten((1.0, 2.0))
    assert tree_unflatten(treedef, [3.0, 4.0]) == (3.0, 4.0)
    assert tree_unflatten(treedef, iter([3.0, 4.0])) == (3.0, 4.0)
    with pytest.raises(ValueError):
        tree_unflatten(treedef, [1.0, 2.0, 3.0])
    with pytest.raises(StopIteration):
        tree_unflatten(treedef, [1.0])


# ---- argnums ---------------------------------------------------------------------------------------

def test_select_args_without_wrapper_only_when_every_argument_is_taken_in_order():
    f = lambda x, y=1.0: x * y  # noqa: E731
    g, dyn, single = select_args(f, (2.0,), {}, 0)
    assert g is f and dyn == (2.0,) and single
    g, dyn, _ = select_args(f, (2.0, 3.0), {}, (0, 1))
    assert g is f and dyn == (2.0, 3.0)
    g, dyn, _ = select_args(f, (2.0, 3.0), {}, (1, 0))   # reordered: must wrap
    assert g is not f and g(*dyn) == 6.0 and dyn == (3.0, 2.0)
    g, dyn, _ = select_args(f, (2.0,), {"y": 5.0}, 0)    # keyword arguments: must wrap
    assert g is not f and g(*dyn) == 10.0
    with pytest.raises(ValueError):
        select_args(f, (2.0,), {}, 1)
    g, dyn, single = select_args(f, (2.0,), {}, -1)
    assert dyn == (2.0,) and single


# ---- the sum's cotangent ---------------------------------------------------------------------------

@pytest.mark.parametrize("g_shape, x_shape, axes, keepdims", [
    ((), (3, 4), (-2, -1), False), ((5,), (3, 4), (-2, -1), False), ((5, 4), (3, 4), (-2,), False),
    ((5, 1, 4), (3, 4), (-2,), True), ((2, 3), (2, 3, 4), (-1,), False), ((0,), (3,), (-1,), False),
    ((), (), (), False), ((1, 1), (3, 4), (-2, -1), True),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_plain_sum_cotangent_is_the_broadcast_view(g_shape, x_shape, axes, keepdims, dtype):
    g = np.asarray(RNG.standard_normal(g_shape)).astype(dtype)
    got = _broadcast_plain(g, x_shape, axes, keepdims)
    nb = g.ndim - (len(x_shape) - (0 if keepdims else len(axes)))
    expanded = np.reshape(g, g_shape[:nb] + keepdims_shape(x_shape, axes))
    want = np.broadcast_to(expanded, g_shape[:nb] + x_shape)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert not got.flags.writeable
    # A view of g's buffer (memory_report counts its base), never a copy.
    assert got.size == 0 or np.shares_memory(got, g)


def test_plain_sum_cotangent_of_a_non_contiguous_array_takes_broadcast_to():
    g = RNG.standard_normal((4, 6))[:, ::2]
    got = _broadcast_plain(g, (3, 5), (-1,), False)
    np.testing.assert_array_equal(got, np.broadcast_to(g[:, :, None], (4, 3, 5)))


def test_gradients_through_sums_with_plain_and_traced_cotangents():
    x = RNG.standard_normal((3, 4))
    f = lambda x: np.sum(np.sum(x ** 2, axis=0) * np.arange(4.0))  # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(x), 2 * x * np.arange(4.0), rtol=1e-14)
    np.testing.assert_allclose(ad.jacrev(lambda x: np.sum(x ** 2, axis=1))(x),
                               ad.jacfwd(lambda x: np.sum(x ** 2, axis=1))(x), rtol=1e-14)
    H = ad.hessian(lambda x: np.sum(x ** 3))(x)
    np.testing.assert_allclose(H.reshape(12, 12), np.diag(6 * x.ravel()), rtol=1e-14)


# ---- hvp -------------------------------------------------------------------------------------------

def test_hvp_is_jvp_of_grad_with_every_argument():
    # The tangent of the second argument enters through the mixed derivative: d/dy ∂f/∂x · w.
    f = lambda x, y: np.sum(np.sin(x) * y ** 2)  # noqa: E731
    x, y, v, w = (RNG.standard_normal(3) for _ in range(4))
    want = ad.jvp(ad.grad(f), (x, y), (v, w))[1]
    np.testing.assert_allclose(ad.hvp(f, (x, y), (v, w)), want, rtol=1e-14)
    np.testing.assert_allclose(want, -np.sin(x) * y ** 2 * v + 2 * np.cos(x) * y * w, rtol=1e-13)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.log(1 + np.exp(x))) + 0.5 * np.sum(x ** 2),
    lambda x: np.sum(x),                        # a constant gradient: zero tangent
    lambda x: np.sum(np.tanh(x[:2] @ x.reshape(2, 2))),
], ids=["softplus", "linear", "matrix"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hvp_on_one_array_agrees_with_jvp_of_grad(f, dtype):
    # hvp(f, (x,), (v,)) on one real array takes its own path (no argument structures); the general one
    # is jvp of grad
    x, v = (RNG.standard_normal(4).astype(dtype) for _ in range(2))
    got, want = ad.hvp(f, (x,), (v,)), ad.jvp(ad.grad(f), (x,), (v,))[1]
    assert got.dtype == want.dtype == dtype and got.shape == want.shape == (4,)
    np.testing.assert_array_equal(got, want)


def test_hvp_on_one_array_keeps_the_general_paths_errors():
    x = np.ones(3)
    for call in (lambda: ad.hvp(lambda x: x * 2, (x,), (x,)),
                 lambda: ad.jvp(ad.grad(lambda x: x * 2), (x,), (x,))):
        with pytest.raises(TypeError, match="scalar"):
            call()
    with pytest.raises(ValueError, match="shape"):
        ad.hvp(np.sum, (x,), (np.ones(2),))     # a mis-shaped tangent goes to the general path's check


def test_square_pullback_on_a_traced_base_is_exact():
    # In an HVP the base of x ** 2 is a Dual: the pullback scales the cotangent, not the base (one
    # traced operation); a broadcast scalar cotangent (the sum's) and a dense one (times w) both apply.
    x, v, w = (RNG.standard_normal(5) for _ in range(3))
    np.testing.assert_array_equal(ad.hvp(lambda x: 0.5 * np.sum(x ** 2), (x,), (v,)), v)
    np.testing.assert_array_equal(ad.hvp(lambda x: np.sum(w * x ** 2), (x,), (v,)), 2 * w * v)
    H = ad.hessian(lambda x: np.sum(w * x ** 2))(x)   # batched tangents: the cotangent broadcasts
    np.testing.assert_array_equal(H, np.diag(2 * w))


# ---- a transformation hands its primal call to the one below (core.apply_below) ---------------------

def test_primal_call_on_values_of_several_outer_transformations_goes_through_bind():
    # In the innermost jvp, einsum's primals are Duals of two different outer jvps (mixed: bind decides).
    x0, y0, z0, ones = np.array([0.7, 0.2]), np.array([-1.3, 0.5]), np.array([0.4, 2.0]), np.ones(2)
    f = lambda x, y, z: np.einsum("i,i,i->", np.sin(x), y * y, z)  # noqa: E731
    d3 = ad.jvp(lambda x: ad.jvp(lambda y: ad.jvp(lambda z: f(x, y, z), (z0,), (ones,))[1],
                                 (y0,), (ones,))[1], (x0,), (ones,))[1]
    assert d3 == pytest.approx(np.sum(np.cos(x0) * 2 * y0), rel=1e-14)
    g3 = ad.grad(lambda x: ad.jvp(lambda y: ad.jvp(lambda z: f(x, y, z), (z0,), (ones,))[1],
                                  (y0,), (ones,))[1])(x0)
    np.testing.assert_allclose(g3, np.cos(x0) * 2 * y0, rtol=1e-14)


def test_primal_call_on_a_value_of_an_ended_transformation_treats_it_as_a_constant():
    box = []
    ad.jvp(lambda x: box.append(x * 2.0) or x, (np.array([0.3, 0.5]),), (np.ones(2),))
    leaked = box[0]
    assert not leaked._trace.active
    f = lambda x: np.sum(np.sin(x) * x)  # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(leaked), ad.grad(f)(np.array([0.6, 1.0])), rtol=1e-15)
    np.testing.assert_allclose(ad.hvp(f, (leaked,), (np.ones(2),)),
                               ad.hvp(f, (np.array([0.6, 1.0]),), (np.ones(2),)), rtol=1e-15)


def test_sum_cotangent_from_a_numpy_scalar():
    # 0.5 * np.sum(...) hands the sum's pullback a NumPy scalar (0-d array times a float).
    from autodiff.rules.reductions import sum_
    pullback = sum_.vjps[0](None, np.ones((2, 3)), (-2, -1), False)
    got = pullback(np.float64(0.5))
    assert type(got) is np.ndarray and got.shape == (2, 3) and not got.flags.writeable
    np.testing.assert_array_equal(got, np.full((2, 3), 0.5))
    x = RNG.standard_normal(4)
    np.testing.assert_allclose(ad.grad(lambda x: 0.5 * np.sum(x ** 2))(x), x, rtol=1e-15)
    np.testing.assert_allclose(ad.hvp(lambda x: 0.5 * np.sum(x ** 2), (x,), (2 * x,)), 2 * x, rtol=1e-15)


def test_plain_sum_cotangent_of_a_read_only_array():
    g = np.ones((2, 3))
    g.flags.writeable = False
    got = _broadcast_plain(g, (3, 4), (-1,), False)
    np.testing.assert_array_equal(got, np.ones((2, 3, 4)))
    scalar = np.array(2.0)
    scalar.flags.writeable = False
    np.testing.assert_array_equal(_broadcast_plain(scalar, (3,), (-1,), False), [2.0, 2.0, 2.0])
