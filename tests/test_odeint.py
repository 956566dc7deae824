"""autodiff.scipy.integrate.odeint: SciPy's values, and derivatives in both modes by sensitivity equations.

The registry's property tests check the primitive itself (finite differences, dot-product identity,
batched against looped, second order, float32). These tests check the user-facing function: SciPy's
calling convention, every argument differentiable, agreement with finite differences and with the
derivative through a taped fixed-step RK4 of many steps, memory that does not grow with the solver's
steps, and clear errors.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.integrate

import autodiff as ad
from autodiff.scipy.integrate import odeint
from autodiff.testing import check_grads

TIGHT = {"rtol": 1e-11, "atol": 1e-11}


def decay(y, t, k, c):
    """A nonlinear, time-dependent system with an array parameter and a scalar one."""
    return -k * y + c * np.sin(t) * np.tanh(y[::-1])


def rk4(f, y0, t, args, steps_per_interval=200):
    """A fixed-step RK4 written in plain NumPy: differentiable through the tape, step by step."""
    ys = [y0]
    y = y0
    for t0, t1 in zip(t[:-1], t[1:]):
        h = (t1 - t0) / steps_per_interval
        s = t0
        for _ in range(steps_per_interval):
            k1 = f(y, s, *args)
            k2 = f(y + h / 2 * k1, s + h / 2, *args)
            k3 = f(y + h / 2 * k2, s + h / 2, *args)
            k4 = f(y + h * k3, s + h, *args)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            s = s + h
        ys.append(y)
    return np.stack(ys)


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    return rng.uniform(0.5, 1.5, 3), np.linspace(0.0, 1.0, 4), rng.uniform(0.5, 1.0, 3), 0.7


def test_values_are_scipys_exactly(problem):
    y0, t, k, c = problem
    want = scipy.integrate.odeint(decay, y0, t, args=(k, c))
    got_fwd = ad.jvp(lambda k: odeint(decay, y0, t, args=(k, c)), (k,), (np.ones(3),))[0]
    got_rev = ad.vjp(lambda k: odeint(decay, y0, t, args=(k, c)), k)[0]
    assert np.array_equal(got_fwd, want) and np.array_equal(got_rev, want)
    assert np.array_equal(odeint(decay, y0, t, args=(k, c)), want)   # plain inputs: SciPy itself


def test_matrix_state_and_tfirst():
    y0 = np.array([[1.0, 0.5], [0.2, -0.3]])
    t = np.linspace(0.0, 0.5, 3)
    A = np.array([[0.0, 1.0], [-1.0, -0.1]])

    def f(s, Y, A):
        return A @ Y

    got = ad.jvp(lambda A: odeint(f, y0, t, args=(A,), tfirst=True), (A,), (np.eye(2),))
    want = scipy.integrate.odeint(lambda y, s, A: (A @ y.reshape(2, 2)).ravel(), y0.ravel(), t, args=(A,),
                                  tfirst=False).reshape(3, 2, 2)
    np.testing.assert_allclose(got[0], want, rtol=1e-7)
    assert got[0].shape == got[1].shape == (3, 2, 2)


def test_every_argument_against_finite_differences(problem):
    y0, t, k, c = problem
    check_grads(lambda y0, t, k, c: odeint(decay, y0, t, args=(k, c), **TIGHT), (y0, t, k, c), order=1,
                rtol=1e-5, atol=1e-7)


def test_second_order_against_finite_differences(problem):
    y0, t, k, c = problem
    check_grads(lambda k, c: np.sum(odeint(decay, y0, t[:3], args=(k, c), **TIGHT) ** 2), (k, c), order=2,
                rtol=1e-4, atol=1e-6)


def test_forward_and_reverse_jacobians_agree(problem):
    y0, t, k, c = problem

    def traj(y0, k):
        return odeint(decay, y0, t, args=(k, c), **TIGHT)

    for argnum in (0, 1):
        fwd = ad.jacfwd(traj, argnums=argnum)(y0, k)
        rev = ad.jacrev(traj, argnums=argnum)(y0, k)
        np.testing.assert_allclose(fwd, rev, rtol=1e-7, atol=1e-9)
        assert fwd.shape == (4, 3, 3)


def test_derivatives_match_a_taped_fine_rk4(problem):
    y0, t, k, c = problem

    def loss(ode, k, c, y0):
        return np.sum(ode(k, c, y0)[1:] ** 2 * np.arange(1, 4)[:, None])

    def by_odeint(k, c, y0):
        return odeint(decay, y0, t, args=(k, c), **TIGHT)

    def by_rk4(k, c, y0):
        return rk4(decay, y0, t, (k, c))

    got = ad.grad(lambda k, c, y0: loss(by_odeint, k, c, y0), argnums=(0, 1, 2))(k, c, y0)
    want = ad.grad(lambda k, c, y0: loss(by_rk4, k, c, y0), argnums=(0, 1, 2))(k, c, y0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7)
    jf = ad.jacfwd(lambda k: by_odeint(k, c, y0))(k)
    np.testing.assert_allclose(jf, ad.jacfwd(lambda k: by_rk4(k, c, y0))(k), rtol=1e-7, atol=1e-10)


def test_gradient_tape_and_variables(problem):
    y0, t, k, c = problem
    kv = ad.Variable(k)
    with ad.GradientTape() as tape:
        loss = np.sum(odeint(decay, y0, t, args=(kv, c)) ** 2)
    g = tape.gradient(loss, kv)
    want = ad.grad(lambda k: np.sum(odeint(decay, y0, t, args=(k, c)) ** 2))(k)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-6)


def _peak_gradient_bytes(t_end: float) -> int:
    W = np.array([[0.0, 1.0], [-1.0, -0.05]])

    def f(y, s, W):
        return np.tanh(W @ y)

    grad = ad.grad(lambda W: np.sum(odeint(f, np.array([1.0, 0.0]), np.array([0.0, t_end]), args=(W,))[-1]))
    grad(W)
    tracemalloc.start()
    try:
        grad(W)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_solver_steps():
    steps = [scipy.integrate.odeint(lambda y, s: np.tanh(np.array([[0.0, 1.0], [-1.0, -0.05]]) @ y),
                                    [1.0, 0.0], [0.0, t_end], full_output=True)[1]["nst"][-1]
             for t_end in (2.0, 40.0)]
    assert steps[1] > 8 * steps[0]
    # flat: 14.6 KB at both lengths (it read 19 KB and 55 KB while matmul's pullbacks used expand_dims,
    # whose list reshape tracemalloc counts as never freed: autodiff/rules/products.py, _unit_axis)
    small, large = _peak_gradient_bytes(2.0), _peak_gradient_bytes(40.0)
    assert large < 1.05 * small + 1_000, (small, large)


def test_closed_over_traced_value_is_refused(problem):
    y0, t, k, c = problem
    with pytest.raises(TypeError, match="args="):
        ad.grad(lambda k: np.sum(odeint(lambda y, s: -k * y, y0, t)))(k)


def test_options_and_unsupported_arguments(problem):
    y0, t, k, c = problem
    with pytest.raises(TypeError, match="unexpected keyword argument 'rtoll'"):
        odeint(decay, y0, t, args=(k, c), rtoll=1e-3)
    with pytest.raises(NotImplementedError, match="Dfun"):
        ad.grad(lambda k: np.sum(odeint(decay, y0, t, args=(k, c), Dfun=lambda y, t, k, c: None)))(k)
    loose = ad.jvp(lambda k: odeint(decay, y0, t, args=(k, c), rtol=1e-3, atol=1e-3), (k,), (k,))[0]
    assert np.array_equal(loose, scipy.integrate.odeint(decay, y0, t, args=(k, c), rtol=1e-3, atol=1e-3))


def test_non_numeric_args_pass_through(problem):
    y0, t, k, c = problem

    def f(y, s, k, how):
        return -k * y if how == "linear" else -k * y ** 3

    g = ad.grad(lambda k: np.sum(odeint(f, y0, t, args=(k, "linear"), **TIGHT)[-1]))(k)
    np.testing.assert_allclose(g, -y0 * np.exp(-k) * 1.0, rtol=1e-7)   # y = y0 exp(-k t) at t = 1
