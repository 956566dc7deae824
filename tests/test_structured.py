"""Structured (co)tangents (autodiff/structured.py): every shortcut gives exactly what the dense
computation gives.

Covered: the kinds and ``densify``; ``combine`` (the sum of two cotangents) for every pair of kinds
against the dense sum, writing only into buffers it owns; the gate that hands an indexed slice only to
rules that declare it; diagonal seed batches (kept through elementwise maps, row scalings, sums),
compared with one-direction-at-a-time ``jvp``/``vjp``; broadcast scalars through multiply, divide, negate
and ``x ** 2``; scratch arrays; slice cotangents (zeroing only outside a slice, two slices in one pass).
"""

import gc
import itertools
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff import shapes, structured
from autodiff.pytree import tree_flatten
from autodiff.rules import elementwise as ew
from autodiff.structured import (
    DENSE,
    DIAGONAL,
    INDEXED,
    SPLAT,
    ZERO,
    IndexedCotangent,
    _zeros_outside,
    accepts_structured,
    combine,
    densify,
    densify_for,
    diagonal_matrix,
    diagonal_of,
    diagonal_times,
    handed_out,
    is_scratch,
    kind_of,
    splat_times,
    through_elementwise,
    through_elementwise_sum,
)
from reverse.tape import memory_report
from reverse.vjp import Recording

RNG = np.random.default_rng(7)


# ---- the kinds, densify, combine ---------------------------------------------------------------------

K = 100                      # (K, K): large enough for the one-pass sum of two slices


def _operand(kind, dtype=np.float64):
    """A fresh cotangent of shape (K, K) of the given kind."""
    if kind == "dense":
        return RNG.normal(size=(K, K)).astype(dtype)
    if kind == "diagonal":
        return diagonal_matrix(RNG.normal(size=K).astype(dtype))
    if kind == "splat":
        return np.broadcast_to(np.asarray(RNG.normal(), dtype=dtype), (K, K))
    if kind == "indexed":
        index = (slice(1, None),) if RNG.random() < 0.5 else (slice(None), slice(None, -1))
        values = RNG.normal(size=np.zeros((K, K))[index].shape).astype(dtype)
        return IndexedCotangent((K, K), np.dtype(dtype), index, values)
    raise AssertionError(kind)


KINDS = ["dense", "diagonal", "splat", "indexed"]


def test_kind_of_and_densify():
    assert kind_of(None) == ZERO and densify(None) is None
    for name, kind in zip(KINDS, (DENSE, DIAGONAL, SPLAT, INDEXED)):
        c = _operand(name)
        assert kind_of(c) == kind
        dense = densify(c)
        assert type(dense) is np.ndarray and dense.shape == (K, K)
        if kind != INDEXED:
            assert dense is c       # the other forms are dense arrays already
    assert kind_of(2.5) == DENSE and kind_of(np.diag(np.ones(3))) == DENSE
    c = _operand("indexed")
    expected = np.zeros((K, K))
    expected[c.index] = c.values
    np.testing.assert_array_equal(densify(c), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_handed_out_values_are_dense_and_writeable(kind):
    c = _operand(kind)
    out = handed_out(c)
    assert type(out) is np.ndarray and out.flags.writeable
    np.testing.assert_array_equal(out, densify(c))


@pytest.mark.parametrize("ka,kb,owned_a", [
    (ka, kb, own) for ka, kb in itertools.product(KINDS, KINDS) for own in (False, True)
    if not (own and ka != "dense")])
@pytest.mark.parametrize("dtype_b", [np.float64, np.float32])
def test_combine_equals_the_dense_sum(ka, kb, owned_a, dtype_b):
    a, b = _operand(ka), _operand(kb, dtype_b)
    owned = {id(a): a} if owned_a else {}
    dense_a, dense_b = np.array(densify(a)), np.array(densify(b))
    b_before = np.array(densify(b))
    total = combine(a, b, owned)
    expected = dense_a + dense_b                                 # NumPy's promotion of the dtypes
    assert densify(total).dtype == expected.dtype
    np.testing.assert_array_equal(densify(total), expected)
    np.testing.assert_array_equal(densify(b), b_before)          # the new contribution is never written
    if not owned_a:
        np.testing.assert_array_equal(densify(a), dense_a)       # nor an array the caller does not own
    if type(total) is np.ndarray and total.flags.writeable:
        assert owned.get(id(total)) is total                     # a fresh sum is owned by the caller
    if ka == kb == "diagonal":
        np.testing.assert_array_equal(diagonal_of(total), np.diagonal(expected))


def test_slices_of_two_dtypes_sum_in_the_promoted_dtype_in_either_order():
    # regression: the sum of a float64 and a float32 slice cotangent was float32 when the float32 one
    # arrived first (it was materialised and the other added into it)
    x = np.linspace(0.1, 1.0, 20_000).astype(np.float32)
    w = np.linspace(1.0, 2.0, 19_999) + 1e-9
    ref = np.zeros(20_000)
    ref[1:] += w
    ref[:-1] += w.astype(np.float32)              # astype's VJP casts back to float32
    for f in (lambda v: np.sum(v[1:] * w) + np.sum(v[:-1].astype(np.float64) * w),
              lambda v: np.sum(v[:-1].astype(np.float64) * w) + np.sum(v[1:] * w)):
        g = ad.grad(f)(x)
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, ref)


def test_combine_adds_in_place_only_into_owned_buffers():
    a, b = _operand("dense"), _operand("dense")
    assert combine(a, b, {id(a): a}) is a
    a2 = _operand("dense")
    assert combine(a2, b, {}) is not a2
    c = _operand("indexed")
    assert combine(a, c, {id(a): a}) is a
    assert combine(None, b) is b and combine(a, None) is a
    assert combine(1.5, 2.0) == 3.5


def test_only_rules_that_declare_it_see_an_indexed_slice():
    seen = []

    def record(g):
        seen.append(type(g))
        return densify(g) * 2.0

    plain = ad.primitive(lambda x: x * 2.0, name="test_structured_plain_double")
    ad.defjvp(plain, lambda t, ans, x: 2.0 * t)
    ad.defvjp(plain, lambda ans, x: record)
    declared = ad.primitive(lambda x: x * 2.0, name="test_structured_declared_double")
    ad.defjvp(declared, lambda t, ans, x: 2.0 * t)
    ad.defvjp(declared, lambda ans, x: accepts_structured(INDEXED)(lambda g: record(g)))
    x = RNG.normal(size=20)
    expected = np.zeros(20)
    expected[1:] = 2.0 * np.cos(x[1:])          # f(v) = sum(sin(2v)[1:]) at v = x / 2
    for prim, kind in ((plain, np.ndarray), (declared, IndexedCotangent)):
        seen.clear()
        g = ad.grad(lambda v, p=prim: np.sum(np.sin(p(v)[1:])))(x / 2.0)
        assert seen == [kind]
        np.testing.assert_allclose(g, expected, rtol=1e-14)


def test_densify_for_keeps_the_form_only_when_every_rule_declares_it():
    c = _operand("indexed")
    yes = accepts_structured(INDEXED)(lambda g: g)
    no = accepts_structured(SPLAT)(lambda g: g)
    assert densify_for(c, (yes,)) is c
    assert type(densify_for(c, (yes, no))) is np.ndarray
    assert type(densify_for(c, (lambda g: g,))) is np.ndarray
    d = _operand("dense")
    assert densify_for(d, (no,)) is d


# ---- diagonal seed batches -----------------------------------------------------------------------------

def test_through_elementwise_sum_equals_the_dense_sum_of_terms():
    u, v, y = RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=5)
    terms = [(lambda t: t * y, diagonal_matrix(u)), (lambda t: -t, diagonal_matrix(v))]
    out = through_elementwise_sum(terms, 5)
    np.testing.assert_array_equal(out, np.diag(u) * y + -np.diag(v))
    np.testing.assert_array_equal(diagonal_of(out), u * y - v)
    assert through_elementwise_sum([(lambda t: t, np.diag(u))], 5) is None          # not registered
    assert through_elementwise_sum([(lambda t: t, diagonal_matrix(u))], 4) is None  # another size
    assert through_elementwise_sum([(lambda t: t.sum(), diagonal_matrix(u))], 5) is None


def test_diagonal_times_is_the_dense_product():
    v = RNG.normal(size=6)
    for m in (RNG.normal(size=(6, 3)), RNG.normal(size=6)):
        np.testing.assert_array_equal(diagonal_times(diagonal_matrix(v), m), np.diag(v) @ m)
    assert diagonal_times(np.diag(v), np.ones((6, 3))) is None
    assert diagonal_times(diagonal_matrix(v), np.ones((5, 3))) is None


# ---- broadcast scalars and scratch arrays --------------------------------------------------------------

def test_splat_times_equals_the_dense_formula():
    x = RNG.normal(size=(6, 3))
    g = np.broadcast_to(np.asarray(-0.75), x.shape)
    np.testing.assert_array_equal(splat_times(g, x, 2.0), g.copy() * (2.0 * x))
    assert splat_times(g.copy(), x, 2.0) is None                 # a dense g: the general formula
    assert splat_times(np.broadcast_to(np.asarray(1.0), (2, 6, 3)), x, 2.0) is None


def test_is_scratch_accepts_only_fresh_writeable_arrays_of_the_product_shape():
    g = np.ones((4, 3))
    assert is_scratch(np.ones((4, 3)), g)
    assert not is_scratch(np.ones((4, 3))[:], g)                  # a view
    assert not is_scratch(np.ones(3), g)                          # broadcast in the product
    assert not is_scratch(np.ones((4, 3), dtype=np.float32), g)   # another dtype
    ro = np.ones((4, 3))
    ro.flags.writeable = False
    assert not is_scratch(ro, g)
    assert not is_scratch(np.ones((4, 3)), 2.0)


@pytest.fixture
def small_seeds(monkeypatch):
    """The diagonal paths start at structured.MIN_SIZE inputs; with this fixture every size takes them."""
    monkeypatch.setattr(shapes, "MIN_SIZE", 1)


W_IN = RNG.standard_normal((4, 6))
W_OUT = RNG.standard_normal((6, 4))

# name -> f: R^n -> R^m with n = 6; the structured path meets every branch of the fast paths at least once
FUNCTIONS = {
    "two_layer": lambda x: np.tanh(W_OUT @ np.tanh(W_IN @ x)),
    "elementwise_chain": lambda x: np.exp(np.sin(x)) * 0.5 + x ** 2,
    "same_node_twice": lambda x: x * x - np.cos(x) / (2.0 + x * x),
    "vector_on_the_left": lambda x: np.tanh(x) @ W_OUT,
    "broadcast_scalar_factor": lambda x: np.sin(x) * x[0],
    "broadcast_to_matrix": lambda x: np.tanh(x + W_OUT[:, :1]).ravel(),
    "where_and_clip": lambda x: np.where(x > 0, x, 0.1 * x) + np.clip(x, -0.5, 0.5),
    "not_elementwise_after": lambda x: np.cumsum(np.tanh(x)),
    "slice_then_matmul": lambda x: W_IN[:, :3] @ np.exp(x[::2]),
    "identity": lambda x: x,
    "chain_of_sums": lambda x: W_IN @ _chain(np.tanh(x)),
    "reduction": lambda x: np.sum(np.tanh(x)) * x,
    "dot_with_constant": lambda x: np.dot(W_IN, np.sinh(x)),
}


def _chain(y, depth=3):
    for _ in range(depth):
        y = np.sin(y) + 0.5 * y          # two contributions to y's cotangent: summed as diagonals
    return y


def _looped_jacobian(f, x, mode):
    """The Jacobian from one plain jvp/vjp per basis direction (no diagonal batch involved)."""
    basis = np.eye(x.size)
    if mode == "forward":
        cols = [np.ravel(ad.jvp(f, (x,), (basis[j].copy(),))[1]) for j in range(x.size)]
        return np.stack(cols, axis=-1)
    y, pullback = ad.vjp(f, x)
    rows = [pullback(np.eye(np.size(y))[i].reshape(np.shape(y)))[0] for i in range(np.size(y))]
    return np.stack(rows, axis=0)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@given(x=st.lists(st.floats(-2.0, 2.0), min_size=6, max_size=6))
def test_batched_jacobians_match_looped_directions(name, x):
    with pytest.MonkeyPatch.context() as patch:   # a fixture would not be reset between examples
        patch.setattr(shapes, "MIN_SIZE", 1)
        _check_batched_jacobians(name, x)


def _check_batched_jacobians(name, x):
    f, x = FUNCTIONS[name], np.array(x)
    reference = _looped_jacobian(f, x, "forward")
    np.testing.assert_allclose(_looped_jacobian(f, x, "reverse"), reference, rtol=1e-12, atol=1e-12)
    for jac in (ad.jacfwd(f), ad.jacrev(f), ad.jacfwd(f, chunk_size=4), ad.jacrev(f, chunk_size=5)):
        got = jac(x)
        np.testing.assert_allclose(np.reshape(got, reference.shape), reference, rtol=1e-12, atol=1e-12)
        assert got.flags.writeable, "a Jacobian handed to the user must be a writeable array"


def test_second_order_through_diagonal_seeds(small_seeds):
    A = RNG.standard_normal((5, 6))
    x = RNG.standard_normal(6)

    def f(x):
        return np.sum(np.log1p(np.exp(A @ x))) + 0.5 * np.sum(x * x)

    s = 1.0 / (1.0 + np.exp(-(A @ x)))
    expected = A.T @ ((s * (1 - s))[:, None] * A) + np.eye(6)
    np.testing.assert_allclose(ad.hessian(f)(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ad.jacfwd(ad.jacrev(ad.grad(f)))(x).shape, (6, 6, 6))
    nested = ad.jacrev(ad.jacfwd(lambda x: np.tanh(A @ x)))(x)       # d/dx of the Jacobian
    t = np.tanh(A @ x)
    closed = -2 * (t * (1 - t * t))[:, None, None] * A[:, :, None] * A[:, None, :]
    np.testing.assert_allclose(nested, closed, rtol=1e-12, atol=1e-12)


def test_the_structured_path_is_taken(monkeypatch, small_seeds):
    """Not just correct: the identity seed does reach the fast paths (otherwise they are dead code)."""
    calls = []
    tape = sys.modules["reverse.tape"]
    real = tape.through_elementwise
    monkeypatch.setattr(tape, "through_elementwise", lambda *a: calls.append(1) or real(*a))
    x = RNG.standard_normal(6)
    J = ad.jacrev(FUNCTIONS["two_layer"])(x)
    assert len(calls) == 1       # the output tanh; the product with W_OUT then scales rows
    np.testing.assert_allclose(J, _looped_jacobian(FUNCTIONS["two_layer"], x, "forward"), rtol=1e-12)
    calls.clear()
    J = ad.jacrev(lambda x: np.tanh(_chain(x)))(x)
    # every elementwise node sees a diagonal batch: tanh, then per layer add (2 parents), sin, multiply;
    # the two cotangents reaching each y are summed as diagonals
    assert len(calls) == 1 + 3 * 4
    assert np.count_nonzero(J - np.diag(np.diag(J))) == 0


def test_registry_recognises_only_its_own_arrays():
    v = np.array([1.0, 2.0, 3.0])
    d = diagonal_matrix(v)
    np.testing.assert_array_equal(d, np.diag(v))
    assert not d.flags.writeable
    v[0] = 10.0                                   # the registry keeps its own copy of the diagonal
    np.testing.assert_array_equal(diagonal_of(d), [1.0, 2.0, 3.0])
    assert diagonal_of(d.copy()) is None
    assert diagonal_of(d[:]) is None              # a view is another object: treated as dense
    assert diagonal_of(np.diag(v)) is None
    with pytest.raises(ValueError):
        d[0, 1] = 1.0
    key = id(d)
    del d
    gc.collect()
    assert key not in structured._KNOWN              # entries die with their arrays


def test_through_elementwise_falls_back_to_the_dense_batch():
    g = diagonal_matrix(np.array([1.0, 2.0]))
    assert diagonal_of(through_elementwise(lambda c: 3.0 * c, g, 2)) is not None
    dense = through_elementwise(lambda c: 3.0 * c, g, 5)          # wrong size: the ordinary way
    assert diagonal_of(dense) is None
    np.testing.assert_array_equal(dense, 3.0 * np.diag([1.0, 2.0]))
    plain = np.diag([1.0, 2.0])
    assert diagonal_of(through_elementwise(lambda c: c * 2.0, plain, 2)) is None


def test_default_threshold():
    small = shapes.basis_rows([((structured.MIN_SIZE - 1,), np.float64)], 0, structured.MIN_SIZE - 1)[0]
    large = shapes.basis_rows([((structured.MIN_SIZE,), np.float64)], 0, structured.MIN_SIZE)[0]
    assert diagonal_of(small) is None and small.flags.writeable
    np.testing.assert_array_equal(diagonal_of(large), np.ones(structured.MIN_SIZE))
    np.testing.assert_array_equal(large, np.eye(structured.MIN_SIZE))
    W = RNG.standard_normal((7, structured.MIN_SIZE + 3))
    x = RNG.standard_normal(structured.MIN_SIZE + 3)
    f = lambda x: W.T @ np.tanh(W @ np.sin(x))  # noqa: E731
    expected = _looped_jacobian(f, x, "forward")
    np.testing.assert_allclose(ad.jacrev(f)(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=1e-12, atol=1e-12)


def test_forward_mode_keeps_the_batch_diagonal_through_binary_operations(monkeypatch, small_seeds):
    calls = []
    dual = sys.modules["forward.dual"]
    real = dual._diagonal_jvp
    monkeypatch.setattr(dual, "_diagonal_jvp", lambda *a: calls.append(a[0].name) or real(*a))
    x = RNG.standard_normal(6)
    f = FUNCTIONS["same_node_twice"]
    J = ad.jacfwd(f)(x)
    np.testing.assert_allclose(J, _looped_jacobian(f, x, "reverse"), rtol=1e-12, atol=1e-12)
    assert {"multiply", "subtract", "divide", "add"} <= set(calls)
    assert np.count_nonzero(J - np.diag(np.diag(J))) == 0


# ---- broadcast scalars, power, slice cotangents in gradients ------------------------------------------

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


def _dense(c):  # the reference: written here by hand, not by the module under test
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
