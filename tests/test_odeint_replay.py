"""odeint's sensitivity systems replay func's recorded operations (autodiff/scipy/_replay.py).

The replay must give exactly what tracing func at each point gives, and must never be used for a func
whose Python code looks at values (a branch on ``y[0] > 0``): such a func is traced at every point.
"""

import math

import numpy as np
import pytest
from test_odeint import rk4

import autodiff as ad
from autodiff.scipy import integrate as I
from autodiff.scipy._replay import Program, Stale, record
from autodiff.scipy.integrate import odeint

TIGHT = {"rtol": 1e-11, "atol": 1e-11}
RNG = np.random.default_rng(7)
W = RNG.standard_normal((3, 3))


def coupled(y, t, W, c):
    return np.tanh(W @ y) - c * y + np.sin(t)


def stacked(y, t, k, c):
    return np.stack([y[1], -k[0] * np.sin(y[0]) - c * y[1] + k[1] * np.cos(t) * y[0], y[2] * np.exp(-t)])


def masked(y, t, W, c):
    """Value-dependent, but only through primitives (comparisons, where): replayable."""
    return np.where(y > 0.1, -c * y, W @ y * y) + (t > 0.5) * y


def shaped(y, t, W, c):
    """Reads shapes and makes constants from them (np.shape, ones_like): replayable."""
    return np.ones_like(y) * np.shape(y)[0] * c - np.dot(W, y) / len(y)


def branching(y, t, W, c):
    """A Python branch on a value: must not be replayed."""
    if y[0] > 0:
        return -c * y
    return W @ y - 2.0 * c * y


def timed(y, t, W, c):
    """A Python branch on the time: must not be replayed (the time is recorded like the state)."""
    return -c * y if t < 0.4 else W @ y


REPLAYABLE = [(coupled, (W, 0.5)), (stacked, (np.array([1.2, 0.3]), 0.4)), (masked, (W, 0.5)),
              (shaped, (W, 0.5))]
NOT_REPLAYABLE = [(branching, (W, 0.5)), (timed, (W, 0.5))]


def _system(func, args):
    return I._System(func, (3,), args, False)


def _point(system):
    return RNG.uniform(-1.0, 1.0, 3), float(RNG.uniform(0.0, 1.0)), RNG.uniform(0.5, 1.5, system.n_params)


def _both(rhs, system, z, t, q):
    """The right-hand side replayed, and traced (the recording switched off)."""
    replayed = rhs(z, t, q)
    assert system._program is not None and system._program is not False
    saved, system._program = system._program, None
    try:
        return replayed, rhs(z, t, q)
    finally:
        system._program = saved


@pytest.mark.parametrize("func,args", REPLAYABLE, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("k", [1, 3])
def test_adjoint_replay_equals_tracing(func, args, k):
    system = _system(func, args)
    for _ in range(4):
        y, t, p = _point(system)
        z = np.concatenate([y, RNG.standard_normal(3 * k), RNG.standard_normal(k * system.n_params)])
        replayed, traced = _both(I._Adjoint(system, 3, k), system, z, t, p)
        np.testing.assert_allclose(replayed, traced, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("func,args", REPLAYABLE, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("k,with_dp", [(1, True), (1, False), (2, True), (2, False)])
def test_forward_sensitivity_replay_equals_tracing(func, args, k, with_dp):
    system = _system(func, args)
    P = system.n_params
    for _ in range(4):
        y, t, p = _point(system)
        z = np.concatenate([y, RNG.standard_normal(3 * k)])
        q = np.concatenate([p, RNG.standard_normal(k * P)]) if with_dp else p
        replayed, traced = _both(I._ForwardSensitivity(system, 3, k, with_dp), system, z, t, q)
        np.testing.assert_allclose(replayed, traced, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("func,args", NOT_REPLAYABLE, ids=lambda v: getattr(v, "__name__", ""))
def test_value_dependent_python_is_not_replayed(func, args):
    system = _system(func, args)
    y, t, p = _point(system)
    assert system.program(y, t, p) is None


def _rk4_loss(func, y0, ts, args, steps=400):
    """The loss of the tests below through the taped fixed-step RK4 of test_odeint (one interval)."""
    return np.sum(rk4(func, y0, ts, args, steps_per_interval=steps)[-1] ** 2)


def _rhs_flip(y, t, c):
    """Switches branch as y[0] crosses 0.5 (it does along the trajectory below), continuously but with
    another slope: replaying the first point's branch everywhere would give another, wrong derivative."""
    if y[0] > 0.5:
        return np.stack([-c[0] * y[0], c[1] * y[0]])
    return np.stack([-c[0] * (2.0 * y[0] - 0.5), c[1] * y[1]])


def test_branching_func_gets_its_own_derivative_in_both_modes():
    y0, ts, c = np.array([1.0, 0.2]), np.array([0.0, 1.5]), np.array([1.0, 0.7])

    def loss(c):
        return np.sum(odeint(_rhs_flip, y0, ts, args=(c,), **TIGHT)[-1] ** 2)

    path = odeint(_rhs_flip, y0, np.linspace(0.0, 1.5, 50), args=(c,))[:, 0]
    assert path.max() > 0.5 > path.min()              # the branch does switch along the solution
    # the taped fine RK4 steps over the switch, so it agrees only to its own step error there
    want = ad.grad(lambda c: _rk4_loss(_rhs_flip, y0, ts, (c,)))(c)
    np.testing.assert_allclose(ad.grad(loss)(c), want, rtol=2e-3)
    np.testing.assert_allclose(ad.jacfwd(loss)(c), want, rtol=2e-3)
    np.testing.assert_allclose(ad.grad(loss)(c), ad.jacfwd(loss)(c), rtol=1e-6)


@pytest.mark.parametrize("func,args", REPLAYABLE + NOT_REPLAYABLE, ids=lambda v: getattr(v, "__name__", ""))
def test_gradients_agree_with_forward_mode_and_finite_differences(func, args):
    y0, ts = np.array([0.4, -0.3, 0.8]), np.array([0.0, 0.3, 0.9])
    static = args[1:]

    def loss(a):
        return np.sum(odeint(func, y0, ts, args=(a,) + static, **TIGHT)[1:] ** 2)

    a = args[0]
    rev, fwd = ad.grad(loss)(a), ad.jacfwd(loss)(a)
    np.testing.assert_allclose(rev, fwd, rtol=1e-6, atol=1e-9)
    h = 1e-6
    e = np.zeros_like(a)
    e.flat[0] = h
    fd = (loss(a + e) - loss(a - e)) / (2 * h)
    np.testing.assert_allclose(rev.flat[0], fd, rtol=1e-4, atol=1e-7)


def test_a_replay_checks_the_recorded_shapes():
    program = record(lambda x, s: np.sin(x) * s, [np.ones(3), np.asarray(0.5)], [True, False])
    assert program is not None
    np.testing.assert_allclose(program.value([np.ones(3), np.asarray(2.0)]), np.sin(1.0) * 2.0)
    with pytest.raises(Stale):
        program.value([np.ones(4), np.asarray(2.0)])
    with pytest.raises(Stale):                                  # the compiled replays check too
        program.vjp([np.ones(4), np.asarray(2.0)], np.ones(4))
    with pytest.raises(Stale):
        program.jvp([np.ones(4), np.asarray(2.0)], [np.ones(4), None], 0)


def test_a_func_that_reads_a_value_is_not_recorded():
    def reads(x, s):
        return x * math.exp(float(s))            # float() of the time: a value leaves the recording

    def swallows(x, s):
        try:
            return x * (1.0 if x[0] > 0 else 2.0)   # the branch must abort even inside try/except
        except Exception:
            return x
    for func in (reads, swallows):
        assert record(func, [np.ones(2), np.asarray(0.1)], [True, False]) is None


def test_second_order_through_a_replayed_func():
    y0, ts = np.array([0.4, -0.3, 0.8]), np.array([0.0, 0.7])

    def loss(W):
        return np.sum(odeint(coupled, y0, ts, args=(W, 0.5), **TIGHT)[-1] ** 2)

    v = RNG.standard_normal(W.shape)
    hvp_rev = ad.jvp(ad.grad(loss), (W,), (v,))[1]
    h = 1e-5
    fd = (ad.grad(loss)(W + h * v) - ad.grad(loss)(W - h * v)) / (2 * h)
    np.testing.assert_allclose(hvp_rev, fd, rtol=1e-5, atol=1e-8)


def _shortcut_cases():
    from autodiff.scipy._replay_rules import JVP_SHORTCUTS, VJP_SHORTCUTS
    for kind, table in (("vjp", VJP_SHORTCUTS), ("jvp", JVP_SHORTCUTS)):
        for (prim, argnum), (rule, fast) in table.items():
            yield pytest.param(kind, prim, argnum, rule, fast, id=f"{kind}-{prim.name}-{argnum}")


def _shortcut_args(prim):
    if prim.name == "matmul":
        return [[RNG.standard_normal((3, 4)), RNG.standard_normal(4)]]
    if prim.name in ("subtract", "multiply"):
        x, y = RNG.standard_normal(4), RNG.standard_normal(4)
        return [[x, y], [x, 0.5], [0.5, y], [x, np.float64(-1.5)]]
    return [[RNG.uniform(-2.0, 2.0, 4)]]


@pytest.mark.parametrize("kind,prim,argnum,rule,fast", list(_shortcut_cases()))
def test_rule_shortcuts_equal_the_registry_rules(kind, prim, argnum, rule, fast):
    for args in _shortcut_args(prim):
        if np.ndim(args[argnum]) == 0:
            continue                      # a scalar constant: no derivative flows to it here
        ans = prim.impl(*args)
        x = args[argnum]
        for batch in ((), (2,)):
            if kind == "vjp":
                g = RNG.standard_normal(batch + np.shape(ans))
                got, want = fast(g, ans, *args), rule(ans, *args)(g)
            else:
                t = RNG.standard_normal(batch + np.shape(x))
                got, want = fast(t, ans, *args), rule(t, ans, *args)
            if got is None:               # the shortcut declined: the registry rule is used
                assert kind == "jvp" and batch and argnum == 0 and prim.name == "matmul"
                continue
            assert np.shape(got) == np.shape(want)
            np.testing.assert_array_equal(got, want)


def test_a_rule_registered_anew_is_not_shortcut():
    from autodiff.core import registry
    from autodiff.scipy._replay_rules import shortcut
    tanh = registry["tanh"]
    assert shortcut(tanh, 0, tanh.vjps[0], jvp=False) is not None
    assert shortcut(tanh, 0, lambda ans, x: (lambda g: g), jvp=False) is None


@pytest.mark.parametrize("forward", [False, True])
def test_a_stale_replay_falls_back_to_tracing(forward, monkeypatch):
    system = _system(coupled, (W, 0.5))
    y, t, p = _point(system)
    if forward:
        rhs, z, q = I._ForwardSensitivity(system, 3, 1, False), np.concatenate([y, np.ones(3)]), p
    else:
        rhs, z, q = I._Adjoint(system, 3, 1), np.concatenate([y, np.ones(3), np.zeros(system.n_params)]), p
    want = rhs(z, t, q)

    def stale(*args, **kwargs):
        raise Stale
    monkeypatch.setattr(Program, "jvp" if forward else "vjp", stale)   # as if a shape had changed
    got = rhs(z, t, q)
    assert system._program is None           # traced from now on
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_a_value_given_to_a_metadata_function_is_not_replaced():
    # np.full_like's fill value is a value: a recording that answered it from shape and dtype alone
    # would replay the wrong constant (it did: zeros), so such a func is traced at every point
    def filled(y, s):
        return np.full_like(y, y[0]) - y

    point = [np.array([2.0, 3.0]), np.asarray(0.1)]
    assert record(filled, point, [True, False]) is None
    shaped_only = record(lambda y, s: np.zeros_like(y, dtype=float) + np.ones_like(y) * np.size(y) - y,
                         point, [True, False])
    np.testing.assert_array_equal(shaped_only.value([np.array([5.0, 3.0]), np.asarray(0.1)]), [-3.0, -1.0])


def test_programs_of_one_skeleton_share_their_code_but_not_their_constants():
    """Two closures of one func over different constants write out the same source: it is compiled
    once, and each replay still computes with its own constants (what tracing gives)."""
    def closing_over(C):
        def f(y, t, W, c):
            return np.tanh(W @ y) * C - c * y
        return f

    constants = (np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 4.0]))
    systems = [_system(closing_over(C), (W, 0.5)) for C in constants]
    for system in systems:
        y, t, p = _point(system)
        z = np.concatenate([y, RNG.standard_normal(3), RNG.standard_normal(system.n_params)])
        replayed, traced = _both(I._Adjoint(system, 3, 1), system, z, t, p)
        np.testing.assert_allclose(replayed, traced, rtol=1e-13, atol=1e-15)
    first, second = (s._program._vjp for s in systems)
    assert first.__code__ is second.__code__ and first.__globals__ is not second.__globals__


def test_a_func_with_a_column_output_is_solved_through_the_flat_system():
    """The primal solve hands SciPy func itself only when func returns a flat vector of y0's length."""
    t = np.linspace(0.0, 1.0, 3)
    y0 = np.array([0.3, -0.2, 0.5])

    def column(y, t, W):
        return (np.tanh(W @ y) - 0.5 * y)[:, None]

    def flat(y, t, W):
        return np.tanh(W @ y) - 0.5 * y

    got = ad.grad(lambda W: np.sum(odeint(column, y0, t, (W,), **TIGHT) ** 2))(W)
    want = ad.grad(lambda W: np.sum(odeint(flat, y0, t, (W,), **TIGHT) ** 2))(W)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_times_cotangent_is_computed_only_when_asked_for(monkeypatch):
    """f at the output times (for t's cotangent) is evaluated only when t is differentiated."""
    calls = []
    original = I._rhs_at_outputs
    monkeypatch.setattr(I, "_rhs_at_outputs", lambda *a: calls.append(1) or original(*a))
    t = np.linspace(0.0, 1.0, 4)
    y0 = np.array([0.3, -0.2, 0.5])

    def loss(W, t):
        return np.sum(odeint(coupled, y0, t, (W, 0.5), **TIGHT) ** 2)

    ad.grad(loss)(W, t)
    assert calls == []
    got = ad.grad(loss, argnums=1)(W, t)
    assert calls
    eps = 1e-6
    fd = [(loss(W, t + eps * e) - loss(W, t - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-7)
