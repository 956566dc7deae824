"""The transformations pause Python's cyclic garbage collector while they run (core.gc_paused).

That is safe only because the machinery never makes reference cycles: everything it allocates is freed
by reference counting. These tests check that assumption on every kind of transformation, and that the
collector's state is always restored.
"""

import gc

import numpy as np
import pytest

import autodiff as ad

W = np.random.default_rng(3).standard_normal((4, 120)) / 10


def _workload():
    x = np.linspace(-1.0, 1.0, 120)          # >= diagonal.MIN_SIZE: the diagonal seed registry is used
    f = lambda x: np.sum(np.tanh(W @ np.sin(x)) ** 2)  # noqa: E731
    ad.grad(f)(x)
    ad.value_and_grad(lambda x: (f(x), {"aux": x[:3]}), has_aux=True)(x)
    ad.vjp(lambda x: np.cumsum(x)[::2], x)[1](np.ones(60))
    ad.jvp(f, (x,), (x,))
    ad.jacfwd(lambda x: np.exp(x) * x)(x)
    ad.jacrev(lambda x: np.tanh(W @ x))(x)
    ad.jacobian(lambda x: W.T @ np.tanh(W @ x))(x)
    ad.hessian(lambda x: np.sum(np.log1p(np.exp(W @ x))))(x)
    ad.hvp(f, (x,), (x,))
    ad.grad(ad.grad(lambda s: s ** 3))(1.5)
    ad.grad(lambda x: np.sum(ad.checkpoint(np.sin)(x)))(x)
    v = ad.Variable(x)
    with ad.GradientTape() as tape:
        y = np.sum(v * v)
    tape.gradient(y, v)
    # Not here: ForwardAccumulator. It runs the user's block unpaused, and it and its Duals refer to
    # each other (a Dual knows its trace; the accumulator keeps the Duals to answer jvp() later).


def test_the_machinery_makes_no_reference_cycles():
    _workload()                                # warm-up: caches, lazily imported modules
    gc.collect()
    gc.disable()
    try:
        _workload()
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0, f"{found} objects in reference cycles: pausing the collector would delay freeing them"


def test_collector_state_is_restored():
    x = np.ones(3)
    assert gc.isenabled()
    ad.grad(lambda x: np.sum(x * x))(x)
    ad.jacfwd(np.sin)(x)
    assert gc.isenabled()

    def fails(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ad.grad(fails)(x)
    with pytest.raises(RuntimeError):
        ad.jvp(fails, (x,), (x,))
    assert gc.isenabled()

    def inner_sees_it_paused(x):
        assert not gc.isenabled()
        return np.sum(ad.grad(lambda y: np.sum(y ** 2))(x) * x)

    ad.grad(inner_sees_it_paused)(x)
    assert gc.isenabled()

    v = ad.Variable(x)
    with ad.GradientTape() as tape:
        assert gc.isenabled()            # the user's block runs with the collector as it was
        y = np.sum(v * v)
    tape.gradient(y, v)
    assert gc.isenabled()


def test_a_collector_the_user_disabled_stays_disabled():
    gc.disable()
    try:
        ad.grad(lambda x: np.sum(x * x))(np.ones(3))
        ad.jvp(np.sin, (np.ones(3),), (np.ones(3),))
        assert not gc.isenabled()
    finally:
        gc.enable()
