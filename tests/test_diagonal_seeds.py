"""Diagonal seed batches (autodiff/diagonal.py): a Jacobian's identity seed kept structured through
elementwise operations and turned into a row scaling by matrix products must give exactly the Jacobian
of the dense path. Reference: one jvp / vjp per basis direction, whose seeds are plain arrays."""

import gc
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad
from autodiff import diagonal, shapes
from autodiff.diagonal import diagonal_matrix, diagonal_of, pull_diagonal

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _small_inputs_use_diagonal_seeds(monkeypatch):
    """The fast paths start at diagonal.MIN_SIZE inputs; here every size takes them."""
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
    f, x = FUNCTIONS[name], np.array(x)
    reference = _looped_jacobian(f, x, "forward")
    np.testing.assert_allclose(_looped_jacobian(f, x, "reverse"), reference, rtol=1e-12, atol=1e-12)
    for jac in (ad.jacfwd(f), ad.jacrev(f), ad.jacfwd(f, chunk_size=4), ad.jacrev(f, chunk_size=5)):
        got = jac(x)
        np.testing.assert_allclose(np.reshape(got, reference.shape), reference, rtol=1e-12, atol=1e-12)
        assert got.flags.writeable, "a Jacobian handed to the user must be a writeable array"


def test_second_order_through_diagonal_seeds():
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


def test_the_structured_path_is_taken(monkeypatch):
    """Not just correct: the identity seed does reach the fast paths (otherwise they are dead code)."""
    calls = []
    tape = sys.modules["reverse.tape"]
    real = tape.pull_diagonal
    monkeypatch.setattr(tape, "pull_diagonal", lambda *a: calls.append(1) or real(*a))
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
    assert key not in diagonal._KNOWN              # entries die with their arrays


def test_pull_diagonal_falls_back_to_the_dense_batch():
    g = diagonal_matrix(np.array([1.0, 2.0]))
    assert diagonal_of(pull_diagonal(lambda c: 3.0 * c, g, 2)) is not None
    dense = pull_diagonal(lambda c: 3.0 * c, g, 5)          # wrong size: the ordinary way
    assert diagonal_of(dense) is None
    np.testing.assert_array_equal(dense, 3.0 * np.diag([1.0, 2.0]))
    plain = np.diag([1.0, 2.0])
    assert diagonal_of(pull_diagonal(lambda c: c * 2.0, plain, 2)) is None


def test_default_threshold(monkeypatch):
    monkeypatch.undo()
    small = shapes.basis_rows([((diagonal.MIN_SIZE - 1,), np.float64)], 0, diagonal.MIN_SIZE - 1)[0]
    large = shapes.basis_rows([((diagonal.MIN_SIZE,), np.float64)], 0, diagonal.MIN_SIZE)[0]
    assert diagonal_of(small) is None and small.flags.writeable
    np.testing.assert_array_equal(diagonal_of(large), np.ones(diagonal.MIN_SIZE))
    np.testing.assert_array_equal(large, np.eye(diagonal.MIN_SIZE))
    W = RNG.standard_normal((7, diagonal.MIN_SIZE + 3))
    x = RNG.standard_normal(diagonal.MIN_SIZE + 3)
    f = lambda x: W.T @ np.tanh(W @ np.sin(x))  # noqa: E731
    expected = _looped_jacobian(f, x, "forward")
    np.testing.assert_allclose(ad.jacrev(f)(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=1e-12, atol=1e-12)


def test_forward_mode_keeps_the_batch_diagonal_through_binary_operations(monkeypatch):
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
