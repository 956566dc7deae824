"""The Jacobian helper: jacfwd, jacrev and jacobian (each mode) against closed forms and each other,
one batched pass per Jacobian (per chunk), the plan's choice and memory figures, hessian and hvp."""

import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autodiff as ad

RNG = np.random.default_rng(1234)


def _layer(n, m):
    """f(x) = tanh(A x) and its Jacobian diag(1 - tanh²(A x)) A."""
    A = RNG.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        return np.tanh(A @ x)

    def jac(x):
        return (1 - np.tanh(A @ x) ** 2)[:, None] * A

    return f, jac


def _all_ways(f, argnums=0, chunk_size=None):
    return {
        "jacfwd": ad.jacfwd(f, argnums, chunk_size=chunk_size),
        "jacrev": ad.jacrev(f, argnums, chunk_size=chunk_size),
        "auto": ad.jacobian(f, argnums, chunk_size=chunk_size),
        "forward": ad.jacobian(f, argnums, mode="forward", chunk_size=chunk_size),
        "reverse": ad.jacobian(f, argnums, mode="reverse", chunk_size=chunk_size),
    }


@pytest.mark.parametrize("n,m", [(1, 1), (3, 7), (7, 3), (5, 5)])
@pytest.mark.parametrize("chunk_size", [None, 1, 2, 4])
def test_every_way_matches_closed_form_of_tanh_layer(n, m, chunk_size):
    f, jac = _layer(n, m)
    x = RNG.standard_normal(n)
    for name, J in _all_ways(f, chunk_size=chunk_size).items():
        np.testing.assert_allclose(J(x), jac(x), rtol=1e-12, atol=1e-14, err_msg=name)


def test_matrix_input_and_output_have_shape_out_plus_in():
    # f(X) = X² elementwise times a row scale: dF[i,j]/dX[k,l] = 2 X[i,j] s[j] δik δjl.
    s = np.array([1.0, -2.0, 0.5])
    X = RNG.standard_normal((2, 3))
    expected = np.einsum("ij,ik,jl->ijkl", 2 * X * s, np.eye(2), np.eye(3))
    for name, J in _all_ways(lambda X: X ** 2 * s, chunk_size=5).items():
        got = J(X)
        assert got.shape == (2, 3, 2, 3), name
        np.testing.assert_allclose(got, expected, rtol=1e-13, err_msg=name)


def test_scalar_input_and_scalar_output():
    for name, J in _all_ways(lambda x: np.sin(x) * x).items():
        got = J(0.7)
        assert np.shape(got) == (), name
        assert np.isclose(got, np.cos(0.7) * 0.7 + np.sin(0.7), rtol=1e-14), name
    # R^n -> R: the gradient; R -> R^m: the derivative curve.
    x = RNG.standard_normal(4)
    for name, J in _all_ways(lambda x: np.sum(x ** 3)).items():
        np.testing.assert_allclose(J(x), 3 * x ** 2, rtol=1e-13, err_msg=name)
    t = np.arange(5.0)
    for name, J in _all_ways(lambda a: np.exp(a * t)).items():
        np.testing.assert_allclose(J(0.3), t * np.exp(0.3 * t), rtol=1e-13, err_msg=name)


def test_pytrees_of_inputs_and_outputs():
    # f({"a": a, "b": (b,)}) = {"sum": a·b, "prod": [a * b, b ** 2]} with a, b in R^3.
    def f(d):
        a, b = d["a"], d["b"][0]
        return {"sum": np.sum(a * b), "prod": [a * b, b ** 2]}

    a, b = RNG.standard_normal(3), RNG.standard_normal(3)
    x = {"a": a, "b": (b,)}
    for chunk in (None, 2, 4):
        for name, J in _all_ways(f, chunk_size=chunk).items():
            got = J(x)
            np.testing.assert_allclose(got["sum"]["a"], b, rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(got["sum"]["b"][0], a, rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(got["prod"][0]["a"], np.diag(b), err_msg=name)
            np.testing.assert_allclose(got["prod"][0]["b"][0], np.diag(a), err_msg=name)
            np.testing.assert_allclose(got["prod"][1]["a"], np.zeros((3, 3)), err_msg=name)
            np.testing.assert_allclose(got["prod"][1]["b"][0], np.diag(2 * b), err_msg=name)


def test_tuple_argnums_gives_one_block_per_argument():
    A = RNG.standard_normal((4, 3))
    x, y = RNG.standard_normal(3), RNG.standard_normal(4)

    def f(x, y):
        return (A @ x) * y     # d/dx = diag(y) A, d/dy = diag(A x)

    for name, J in _all_ways(f, argnums=(0, 1), chunk_size=3).items():
        jx, jy = J(x, y)
        np.testing.assert_allclose(jx, y[:, None] * A, rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(jy, np.diag(A @ x), rtol=1e-13, err_msg=name)
    # argnums=1 alone: the other argument is a constant.
    np.testing.assert_allclose(ad.jacobian(f, 1)(x, y), np.diag(A @ x), rtol=1e-13)


@given(n=st.integers(1, 9), m=st.integers(1, 9), k=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_modes_agree_for_any_sizes_and_chunks(n, m, k, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((m, n)), rng.standard_normal(m)

    def f(x):
        return np.sin(A @ x) * B + np.exp(-x[0] ** 2)

    x = rng.standard_normal(n)
    ref = ad.jacfwd(f)(x)
    for name, J in _all_ways(f, chunk_size=k).items():
        np.testing.assert_allclose(J(x), ref, rtol=1e-12, atol=1e-14, err_msg=name)


def test_float32_stays_float32():
    A = RNG.standard_normal((3, 2)).astype(np.float32)
    x = np.array([0.1, 0.2], dtype=np.float32)
    for name, J in _all_ways(lambda x: np.tanh(A @ x)).items():
        assert J(x).dtype == np.float32, name


# ---- one batched pass per Jacobian (per chunk) ---------------------------------------------------

@pytest.mark.parametrize("n,m,chunk", [(6, 40, None), (40, 6, None), (6, 40, 4), (40, 6, 4), (5, 5, 2)])
def test_counters_prove_one_pass_per_chunk(n, m, chunk):
    f, _ = _layer(n, m)
    x = RNG.standard_normal(n)
    passes = lambda total: 1 if chunk is None else -(-total // chunk)  # noqa: E731
    with ad.counting() as c:
        ad.jacfwd(f, chunk_size=chunk)(x)
    assert (c.forward_passes, c.jvp_directions, c.recorded_passes, c.backward_passes) == \
        (passes(n), n, 0, 0)
    with ad.counting() as c:
        ad.jacrev(f, chunk_size=chunk)(x)
    assert (c.forward_passes, c.recorded_passes, c.backward_passes, c.vjp_directions) == \
        (0, 1, passes(m), m)
    # auto: the planned mode's passes; the plan (one recorded evaluation) is made on the first call only.
    J = ad.jacobian(f, chunk_size=chunk)
    J(x)
    with ad.counting() as c:
        J(x)
    if ad.plan_jacobian(f, x).mode == "forward":
        assert (c.forward_passes, c.jvp_directions, c.recorded_passes) == (passes(n), n, 0)
    else:
        assert (c.forward_passes, c.recorded_passes, c.backward_passes, c.vjp_directions) == \
            (0, 1, passes(m), m)


def test_auto_learns_output_size_once_per_input_shape():
    calls = []
    A = RNG.standard_normal((30, 4))

    def f(x):
        calls.append(np.shape(x))
        return np.tanh(A @ x[:4]) * np.sum(x)

    J = ad.jacobian(f)
    for _ in range(3):
        J(np.ones(4))
    assert len(calls) == 1 + 3          # one probe, then one forward pass per call (n=4 < m=30)
    J(np.ones(50))                       # new shape: a new probe; now n=50 > m=30, reverse mode
    assert len(calls) == 4 + 2
    np.testing.assert_allclose(J(np.ones(50)), ad.jacfwd(f)(np.ones(50)), rtol=1e-13)


def test_hessian_is_one_batched_forward_pass_over_one_gradient():
    f = lambda x: np.sum(np.sin(x) * x)  # noqa: E731
    x = RNG.standard_normal(12)
    with ad.counting() as c:
        ad.hessian(f)(x)
    assert (c.forward_passes, c.jvp_directions) == (1, 12)
    assert c.recorded_passes == 1
    with ad.counting() as c:
        ad.hessian(f, chunk_size=5)(x)
    assert (c.forward_passes, c.jvp_directions) == (3, 12)


# ---- the plan --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,m,rule", [(3, 50, "forward"), (50, 3, "reverse"), (10, 10, "reverse"),
                                      (1, 2, "forward"), (2, 1, "reverse")])
def test_plan_keeps_the_rule_and_predicts_each_mode(n, m, rule):
    f, _ = _layer(n, m)
    plan = ad.plan_jacobian(f, RNG.standard_normal(n))
    assert (plan.n_inputs, plan.n_outputs, plan.rule_mode) == (n, m, rule)
    assert plan.passes == {"forward": n, "reverse": m}
    assert set(plan.predicted) == {"forward", "reverse"}       # no waist in one layer: no mixed mode
    assert plan.mode == min(plan.predicted, key=plan.predicted.get)
    for mode, seconds in plan.predicted.items():
        assert seconds == pytest.approx(plan.predicted_fixed[mode]
                                        + plan.passes[mode] * plan.predicted_per_direction[mode])
        assert 0 < seconds < 1
    assert f"n = {n}" in plan.reason and f"m = {m}" in plan.reason and f"rule takes {rule}" in plan.reason
    assert "forward" in str(plan) and "reverse" in str(plan) and plan.mode in repr(plan)
    assert "<table>" in plan._repr_html_()


def test_plan_counts_pytree_sizes_and_argnums():
    def f(x, y):
        return [x["a"] * y, np.sum(x["b"])]

    x = {"a": np.ones((2, 3)), "b": np.ones(4)}
    plan = ad.plan_jacobian(f, x, 2.0)
    assert (plan.n_inputs, plan.n_outputs) == (10, 7)
    plan = ad.plan_jacobian(f, x, 2.0, argnums=1)
    assert (plan.n_inputs, plan.n_outputs, plan.rule_mode) == (1, 7, "forward")


def _extra_peak(fn):
    """Peak bytes allocated by fn() beyond what was allocated when it started (tracemalloc)."""
    fn()  # warm caches (imports, dispatch tables) outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del out
    return peak


def _chain(n, m, depth=8):
    A = RNG.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        y = A @ x
        for _ in range(depth):
            y = np.sin(y) * 0.9 + y * 0.1
        return y

    return f


@pytest.mark.parametrize("make", [_layer, _chain], ids=["tanh_layer", "chain"])
@pytest.mark.parametrize("n,m", [(20, 1500), (1500, 20), (400, 400)])
@pytest.mark.parametrize("chunk", [None, 64])
def test_plan_memory_within_factor_two_of_tracemalloc(make, n, m, chunk):
    f = make(n, m)
    f = f[0] if isinstance(f, tuple) else f
    x = RNG.standard_normal(n)
    plan = ad.plan_jacobian(f, x)
    for mode in ("forward", "reverse"):
        J = ad.jacobian(f, mode=mode, chunk_size=chunk)
        measured = _extra_peak(lambda: J(x))  # noqa: B023
        estimate = plan.memory_for(mode, chunk)
        assert measured / 2 <= estimate <= 2 * measured, (mode, estimate, measured)
    if chunk is None:
        assert plan.memory_for(plan.mode) == plan.memory[plan.mode]


def test_auto_chunk_keeps_a_pass_under_the_budget():
    f, jac = _layer(300, 4)
    x = RNG.standard_normal(300)
    plan = ad.plan_jacobian(f, x, memory_budget=200_000)
    assert plan.rule_mode == "reverse" and plan.chunk_sizes["reverse"] == 4
    k = plan.chunk_sizes["forward"]
    assert 1 <= k < 300
    assert plan.memory_for("forward", k) <= 200_000 < plan.memory_for("forward", k + 1)
    J = ad.jacobian(f, mode="forward", chunk_size="auto", memory_budget=200_000)
    with ad.counting() as c:
        got = J(x)
    assert c.forward_passes == -(-300 // k)
    np.testing.assert_allclose(got, jac(x), rtol=1e-12)
    # The default budget (256 MiB) fits this small Jacobian in one pass.
    with ad.counting() as c:
        ad.jacobian(f, chunk_size="auto")(x)
    assert c.backward_passes + c.forward_passes == 1


def test_bad_mode_and_chunk_size_are_rejected():
    with pytest.raises(ValueError, match="mode"):
        ad.jacobian(np.sin, mode="sideways")
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacobian(np.sin, chunk_size=0)


# ---- second order --------------------------------------------------------------------------------

def _softplus_problem():
    # f(x) = Σ log(1 + exp(A x)) + ½‖x‖²: ∇f = Aᵀσ(Ax) + x, ∇²f = Aᵀ diag(σ(1-σ)) A + I.
    A = RNG.standard_normal((30, 8)) / 3

    def f(x):
        return np.sum(np.log(1 + np.exp(A @ x))) + 0.5 * np.sum(x ** 2)

    def hess(x):
        s = 1 / (1 + np.exp(-(A @ x)))
        return A.T @ ((s * (1 - s))[:, None] * A) + np.eye(8)

    return f, hess


def test_hessian_matches_closed_form():
    f, hess = _softplus_problem()
    x = RNG.standard_normal(8)
    for chunk in (None, 3):
        np.testing.assert_allclose(ad.hessian(f, chunk_size=chunk)(x), hess(x), rtol=1e-12, atol=1e-14)


def test_hessian_of_matrix_input_and_tuple_argnums():
    X = RNG.standard_normal((2, 3))
    H = ad.hessian(lambda X: np.sum(X ** 3))(X)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), np.diag(6 * X.ravel()), rtol=1e-13)
    # f(x, y) = x² y: H = [[2y, 2x], [2x, 0]].
    (hxx, hxy), (hyx, hyy) = ad.hessian(lambda x, y: x * x * y, argnums=(0, 1))(1.5, -2.0)
    np.testing.assert_allclose([hxx, hxy, hyx, hyy], [-4.0, 3.0, 3.0, 0.0], rtol=1e-14)


def test_hvp_matches_hessian_times_vector_without_forming_it():
    f, hess = _softplus_problem()
    x, v = RNG.standard_normal(8), RNG.standard_normal(8)
    with ad.counting() as c:
        hv = ad.hvp(f, (x,), (v,))
    np.testing.assert_allclose(hv, hess(x) @ v, rtol=1e-12)
    assert hv.shape == x.shape
    assert (c.forward_passes, c.jvp_directions, c.recorded_passes, c.backward_passes) == (1, 1, 1, 1)
    # A matrix argument: H v has the argument's shape.
    X, V = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    np.testing.assert_allclose(ad.hvp(lambda X: np.sum(X ** 3), (X,), (V,)), 6 * X * V, rtol=1e-13)


def test_jacobian_nests_in_every_mode():
    # f(x) = x0 Σ sin(x): H = x0 (-diag sin x) + e0 cos(x)ᵀ + cos(x) e0ᵀ.
    x = np.array([0.3, -0.2, 0.5])
    f = lambda x: np.sum(np.sin(x)) * x[0]  # noqa: E731
    e0 = np.eye(3)[0]
    expected = -x[0] * np.diag(np.sin(x)) + np.outer(e0, np.cos(x)) + np.outer(np.cos(x), e0)
    for outer in ("auto", "forward", "reverse"):
        for inner in ("auto", "forward", "reverse"):
            H = ad.jacobian(ad.jacobian(f, mode=inner, chunk_size="auto"), mode=outer)(x)
            np.testing.assert_allclose(H, expected, rtol=1e-13, err_msg=f"{outer} over {inner}")
    # A Jacobian inside a gradient: d/dx Σ (∂(x ⊙ sin y)/∂y at y=x)² = d/dx Σ (x cos x)².
    g = lambda x: np.sum(ad.jacobian(lambda y: np.sin(y) * x)(x) ** 2)  # noqa: E731
    np.testing.assert_allclose(ad.grad(g)(x), 2 * x * np.cos(x) * (np.cos(x) - x * np.sin(x)), rtol=1e-13)
