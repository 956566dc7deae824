"""The backward pass's special cases agree with the general path.

Covered: cotangents that are one scalar broadcast (stride 0; the cotangent of ``sum``) through
multiply, divide, negate and ``x ** 2``; a power's pullback not keeping its output alive; and the dense
form of slice cotangents (zeroing only outside a slice, summing two slices in one pass).
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.pytree import tree_flatten
from autodiff.rules import elementwise as ew
from autodiff.shapes import IndexedCotangent, _zeros_outside
from reverse.tape import memory_report
from reverse.vjp import Recording

RNG = np.random.default_rng(7)


def _splat_of(value, shape, dtype=np.float64):
    return np.broadcast_to(np.asarray(value, dtype=dtype), shape)


@pytest.mark.parametrize("fun", [
    lambda x: np.sum(3.0 * x),
    lambda x: np.sum(x * 3.0),
    lambda x: np.sum(x / 4.0),
    lambda x: np.sum(-x),
    lambda x: np.sum(2.5 - x),
    lambda x: np.sum(x ** 2),
    lambda x: np.sum(x ** 2.0),
    lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
    lambda x: np.sum(np.tanh(3.0 * x)) + np.sum(x * x),
    lambda x: np.mean(-(x ** 2) / 3.0),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_broadcast_scalar_cotangents_match_forward_mode(fun, dtype):
    x = RNG.uniform(-2, 2, 50).astype(dtype)
    g = ad.grad(fun)(x)
    assert g.dtype == dtype and g.shape == x.shape
    ref = ad.jacfwd(fun)(x)
    np.testing.assert_allclose(g, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_broadcast_scalar_cotangents_pass_check_grads():
    x = RNG.uniform(0.5, 2, (4, 5))
    ad.testing.check_grads(lambda v: np.sum(3.0 * v ** 2) - np.sum(v / 2.0), (x,))


def test_scaling_a_broadcast_scalar_gives_a_broadcast_scalar_with_the_dense_value():
    g = _splat_of(1.5, (3, 4))
    for pullback, dense in [(ew._multiply_vjp_x(None, None, 100.0), g.copy() * 100.0),
                            (ew._multiply_vjp_y(None, np.float32(2.0), None), np.float32(2.0) * g.copy()),
                            (ew._divide_vjp_x(None, None, np.asarray(4.0)), g.copy() / 4.0),
                            (ew._negate, -g.copy())]:
        out = pullback(g)
        assert out.shape == dense.shape and out.dtype == dense.dtype
        assert not any(out.strides) and not out.flags.writeable   # never written into in place
        np.testing.assert_array_equal(out, dense)


def test_float32_broadcast_scalar_times_float64_constant_promotes_like_numpy():
    g = _splat_of(1.5, (3,), np.float32)
    assert ew._multiply_vjp_x(None, None, np.float64(2.0))(g).dtype == (g.copy() * np.float64(2.0)).dtype
    assert ew._multiply_vjp_x(None, None, 2.0)(g).dtype == np.float32


def test_dense_factors_and_dense_cotangents_take_the_general_path():
    g = _splat_of(2.0, (3,))
    y = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ew._multiply_vjp_x(None, None, y)(g), [2.0, 4.0, 6.0])
    dense = np.array([1.0, 2.0, 3.0])
    out = ew._multiply_vjp_x(None, None, 5.0)(dense)
    np.testing.assert_array_equal(out, [5.0, 10.0, 15.0])
    assert out.strides == (8,)


def test_square_of_a_broadcast_scalar_matches_the_general_formula():
    x = RNG.normal(size=(6, 3))
    g = _splat_of(-0.75, x.shape)
    pullback = ew._power_vjp_x(None, x, 2)
    np.testing.assert_array_equal(pullback(g), g.copy() * (2.0 * x))
    np.testing.assert_array_equal(pullback(g.copy()), g.copy() * (2.0 * x))
    # a batch of cotangents (jacrev) has a different shape than x: the general path
    gb = _splat_of(-0.75, (2,) + x.shape)
    np.testing.assert_array_equal(pullback(gb), gb.copy() * (2.0 * x))


def test_power_pullback_to_the_base_does_not_keep_the_output():
    x = RNG.uniform(1, 2, 1000)
    flat, tree = tree_flatten((x,))
    rec = Recording(lambda v: np.sum((v ** 2) ** 3), tree, flat, keep_nodes=True)
    report = memory_report(rec.tape.nodes, exclude=[id(x)])
    # only v ** 2 (the base of the second power) is kept; neither power's output
    assert report["saved_bytes"] == x.nbytes
    np.testing.assert_allclose(rec.pull([np.float64(1.0)])[0], 6 * x ** 5, rtol=1e-12)


def test_power_with_traced_exponent_still_uses_its_output():
    x, y = RNG.uniform(0.5, 2, 5), RNG.uniform(-1, 2, 5)
    gx, gy = ad.grad(lambda a, b: np.sum(a ** b), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y * x ** (y - 1), rtol=1e-12)
    np.testing.assert_allclose(gy, x ** y * np.log(x), rtol=1e-12)


def _dense(c):
    out = np.zeros(c.shape, dtype=c.dtype)
    out[c.index] = c.values
    return out


def _indexed(shape, index, dtype=np.float64):
    values = RNG.normal(size=np.zeros(shape)[index].shape).astype(dtype)
    return IndexedCotangent(shape, np.dtype(dtype), index, values)


BIG = (10_000,)      # above the size where zeros are written only outside the slice


@pytest.mark.parametrize("shape,index", [
    (BIG, (slice(1, None),)), (BIG, (slice(None, -1),)), (BIG, (slice(3, 17),)), (BIG, (slice(5, 2),)),
    (BIG, (slice(-20, 50_000),)), (BIG, (slice(None, None, 2),)), (BIG, (7,)),
    ((100, 100), (slice(1, -1), slice(2, None))), ((100, 100), (slice(None), slice(0, 99))),
    ((3, 100, 100), (slice(None), slice(4, 9))), ((4, 5), (slice(1, 3),)),
])
def test_materialize_zeroes_exactly_outside_the_index(shape, index):
    c = _indexed(shape, index)
    np.testing.assert_array_equal(c.materialize(), _dense(c))


def test_zeros_outside_leaves_only_the_index_unset():
    out = _zeros_outside((200, 100), np.float64, (slice(3, 150), slice(10, 20)))
    mask = np.ones((200, 100), dtype=bool)
    mask[3:150, 10:20] = False
    assert not np.any(out[mask])


@pytest.mark.parametrize("shape,i1,i2", [
    (BIG, (slice(1, None),), (slice(None, -1),)),           # the stencil: overlap
    (BIG, (slice(None, -1),), (slice(1, None),)),
    (BIG, (slice(0, 100),), (slice(500, 900),)),             # disjoint: a gap of zeros
    (BIG, (slice(0, 100),), (slice(100, 900),)),             # touching
    (BIG, (slice(10, 9000),), (slice(100, 200),)),           # nested
    (BIG, (slice(1, -1),), (slice(1, -1),)),                 # identical
    (BIG, (slice(4, 4),), (slice(1, 9),)),                   # empty
    ((50, 300), (slice(1, None), slice(None)), (slice(None, -1), slice(None))),
    ((50, 300), (slice(None), slice(2, None)), (slice(None), slice(None, -2))),
    ((5, 50, 300), (slice(None), slice(0, 10)), (slice(None), slice(5, 12))),
])
def test_two_slices_sum_in_one_pass_like_the_general_path(shape, i1, i2):
    a, b = _indexed(shape, i1), _indexed(shape, i2)
    both = a.plus(b)
    assert both is not None and both.dtype == a.dtype
    np.testing.assert_array_equal(both, _dense(a) + _dense(b))


@pytest.mark.parametrize("i1,i2,dt2", [
    ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1)), np.float64),  # two axes differ
    ((slice(None, None, 2),), (slice(1, None),), np.float64),                            # a step
    ((3,), (slice(1, None),), np.float64),                                               # an integer
    ((slice(1, None),), (slice(None, -1),), np.float32),                                 # dtypes differ
])
def test_unhandled_pairs_fall_back(i1, i2, dt2):
    a, b = _indexed((200, 70), i1), _indexed((200, 70), i2, dt2)
    assert a.plus(b) is None
    assert _indexed((4, 5), (slice(1, None),)).plus(_indexed((4, 5), (slice(None, -1),))) is None  # small


def test_values_of_a_narrower_dtype_are_summed_in_the_gradient_dtype():
    a, b = _indexed(BIG, (slice(1, None),)), _indexed(BIG, (slice(None, -1),))
    a.values = a.values.astype(np.float32)   # a float32 cotangent of a float64 input
    assert a.plus(b) is None
    x = RNG.normal(size=BIG)
    g = ad.grad(lambda v: np.sum(v[1:].astype(np.float32) ** 2) + np.sum(v[:-1] ** 2))(x)
    ref = np.zeros_like(x)
    ref[1:] += (2 * x[1:].astype(np.float32)).astype(np.float64)
    ref[:-1] += 2 * x[:-1]
    np.testing.assert_allclose(g, ref, rtol=1e-6)


@pytest.mark.parametrize("n", [10, 20_000])
def test_stencil_gradient_is_the_same_on_both_paths(n):
    x = RNG.normal(size=n)
    g = ad.grad(lambda v: np.sum(v[1:] * 2.0 - v[:-1] ** 2) + np.sum(v[1:-1]))(x)
    ref = np.zeros_like(x)
    ref[1:] += 2.0
    ref[:-1] -= 2 * x[:-1]
    ref[1:-1] += 1.0
    np.testing.assert_allclose(g, ref, rtol=1e-14, atol=1e-14)


def test_three_slice_cotangents_reach_one_gradient():
    x = RNG.normal(size=20_000)
    g = ad.grad(lambda v: np.sum(v[1:] * v[:-1]) + np.sum(v[2:] ** 2) + np.sum(3.0 * v[:-3]))(x)
    ref = np.zeros_like(x)
    ref[1:] += x[:-1]
    ref[:-1] += x[1:]
    ref[2:] += 2 * x[2:]
    ref[:-3] += 3.0
    np.testing.assert_allclose(g, ref, rtol=1e-13, atol=1e-13)


def test_slice_cotangents_of_a_broadcast_scalar_are_not_written_into():
    x = RNG.normal(size=20_000)
    g = ad.grad(lambda v: np.sum(v[1:]) + np.sum(v[:-1]) + np.sum(2.0 * v[1:-1]))(x)
    ref = np.full_like(x, 4.0)
    ref[0] = ref[-1] = 1.0
    np.testing.assert_array_equal(g, ref)


def test_second_derivatives_through_the_fast_paths():
    # in a Hessian the outer cotangents are traced and the constants meet tracers: general paths
    x = RNG.uniform(0.5, 2, 6)
    h = ad.hessian(lambda v: np.sum(3.0 * v ** 2) - np.sum(v / 2.0) + np.sum(-(v[1:] * v[:-1])))(x)
    ref = 6.0 * np.eye(6) - np.eye(6, k=1) - np.eye(6, k=-1)
    np.testing.assert_allclose(h, ref, rtol=1e-12, atol=1e-12)
