"""One Jacobian engine (autodiff/batching.py): every Jacobian operator returns the same values in the
same layout (C-contiguous, writeable) whatever mode and chunk size computed it, and ``jacobian``
evaluates f no more often than its mode needs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import autodiff as ad
from autodiff import batching
from autodiff.pytree import tree_leaves

RNG = np.random.default_rng(11)
A = RNG.standard_normal((5, 6))
B = RNG.standard_normal((3, 4)) / 2


def pytree_f(x, y):
    """Two input leaves of rank 1 and 2 (pytree), three outputs of ranks 0, 1 and 2."""
    u = np.tanh(A @ x["a"] + np.sum(y, axis=1)[:1])
    return {"s": np.sum(np.sin(u)), "v": u * x["b"][0], "m": np.outer(u[:3], x["b"][:2]) + (B @ y)[:, 1:3]}


def pytree_point():
    return {"a": RNG.standard_normal(6), "b": RNG.standard_normal(3)}, RNG.standard_normal((4, 5))


def hourglass(widths=(40, 40, 3, 40, 40), seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]

    def f(x):
        for W in Ws:
            x = np.tanh(W @ x)
        return x

    return f, rng.standard_normal(widths[0])


def _leaves(tree):
    return tree_leaves(tree)


def _assert_layout(tree):
    leaves = _leaves(tree)
    assert leaves
    for leaf in leaves:
        leaf = leaf.numpy() if hasattr(leaf, "numpy") else leaf
        assert type(leaf) is np.ndarray
        assert leaf.flags.c_contiguous, (leaf.shape, leaf.strides)
        assert leaf.flags.writeable


def _assert_same(a, b, rtol=1e-12, atol=1e-13):
    la, lb = _leaves(a), _leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        assert np.shape(u) == np.shape(v)
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


# ---- one layout -------------------------------------------------------------------------------------

JACOBIANS = {
    "jacfwd": lambda f, **kw: ad.jacfwd(f, **kw),
    "jacrev": lambda f, **kw: ad.jacrev(f, **kw),
    "jacobian forward": lambda f, **kw: ad.jacobian(f, mode="forward", **kw),
    "jacobian reverse": lambda f, **kw: ad.jacobian(f, mode="reverse", **kw),
    "jacobian auto": lambda f, **kw: ad.jacobian(f, **kw),
}


@pytest.mark.parametrize("name", list(JACOBIANS))
@pytest.mark.parametrize("chunk", [None, 1, 4, 7])
def test_every_mode_returns_c_contiguous_writeable_blocks(name, chunk):
    x, y = pytree_point()
    J = JACOBIANS[name](pytree_f, argnums=(0, 1), chunk_size=chunk)(x, y)
    _assert_layout(J)
    assert J["m"][0]["a"].shape == (3, 2, 6) and J["m"][0]["b"].shape == (3, 2, 3)
    assert J["m"][1].shape == (3, 2, 4, 5) and J["s"][1].shape == (4, 5)


@pytest.mark.parametrize("n,m", [(8, 300), (300, 8), (150, 150)])
def test_vector_jacobians_are_c_contiguous_in_every_mode(n, m):
    # the sizes at which the identity seed is a (read-only) diagonal batch, in each direction
    W = RNG.standard_normal((m, n)) / np.sqrt(n)
    f = lambda x: np.tanh(W @ np.sin(x))  # noqa: E731
    x = RNG.standard_normal(n)
    reference = ad.jacrev(f)(x)
    for name, make in JACOBIANS.items():
        J = make(f)(x)
        _assert_layout(J)
        np.testing.assert_allclose(J, reference, rtol=1e-12, atol=1e-13, err_msg=name)
    # identity-like functions hand the seed straight back: still a fresh, writeable array
    for make in JACOBIANS.values():
        _assert_layout(make(lambda x: x * 1.0)(x))


def test_mixed_mode_is_c_contiguous():
    f, x = hourglass()
    J = ad.jacobian(f, mode="mixed")(x)
    _assert_layout(J)
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), rtol=1e-12, atol=1e-14)


def test_hessian_is_c_contiguous():
    f = lambda x, Y: np.sum(np.sin(x)) * np.sum(np.cos(Y @ x)) + np.sum(Y ** 3)  # noqa: E731
    x, Y = RNG.standard_normal(4), RNG.standard_normal((3, 4))
    for chunk in (None, 3):
        H = ad.hessian(f, argnums=(0, 1), chunk_size=chunk)(x, Y)
        _assert_layout(H)
        assert H[0][1].shape == (4, 3, 4) and H[1][1].shape == (3, 4, 3, 4)
        np.testing.assert_allclose(H[0][1], np.swapaxes(H[1][0].reshape(12, 4), 0, 1).reshape(4, 3, 4),
                                   rtol=1e-12)


def test_gradient_tape_jacobians_are_c_contiguous():
    x = ad.constant(RNG.standard_normal((4, 3)))
    w = ad.Variable(RNG.standard_normal((3, 2)))
    with ad.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = np.tanh(x @ w)                          # (4, 2): example b depends on x[b] only
    J = tape.jacobian(y, {"x": x, "w": w})
    _assert_layout(J)
    assert J["x"].shape == (4, 2, 4, 3) and J["w"].shape == (4, 2, 3, 2)
    BJ = tape.batch_jacobian(y, x)
    _assert_layout(BJ)
    assert BJ.shape == (4, 2, 3)
    for b in range(4):
        np.testing.assert_allclose(BJ.numpy()[b], J["x"].numpy()[b, :, b, :], rtol=1e-13)
    # a vector target of 100+ entries: the seed is a diagonal batch
    v = ad.constant(RNG.standard_normal(120))
    with ad.GradientTape() as tape:
        tape.watch(v)
        z = np.sin(v) * 2.0
    Jz = tape.jacobian(z, v)
    _assert_layout(Jz)
    np.testing.assert_allclose(Jz.numpy(), np.diag(2 * np.cos(v.numpy())), rtol=1e-14)


# ---- the same values in every mode and chunk size ----------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 11, 64])
def test_values_equal_across_modes_and_non_dividing_chunks(chunk):
    x, y = pytree_point()      # n = 9 + 20 = 29 input directions, m = 1 + 5 + 6 = 12 output directions
    reference = ad.jacfwd(pytree_f, argnums=(0, 1))(x, y)
    for make in JACOBIANS.values():
        _assert_same(make(pytree_f, argnums=(0, 1), chunk_size=chunk)(x, y), reference)
    _assert_same(ad.jacobian(pytree_f, argnums=(0, 1), chunk_size="auto", memory_budget=20_000)(x, y),
                 reference)


def test_chunks_straddling_input_leaves_land_in_the_right_block():
    # chunks of 4 over leaves of sizes 3, 1, 6: every chunk but one crosses a leaf boundary
    def f(a, b, c):
        return np.concatenate([a * b, np.sin(c).reshape(-1) * np.sum(a)])

    args = (RNG.standard_normal(3), np.float64(0.7), RNG.standard_normal((2, 3)))
    whole = ad.jacrev(f, argnums=(0, 1, 2))(*args)
    for chunk in (1, 4, 5):
        for jac in (ad.jacfwd, ad.jacrev):
            got = jac(f, argnums=(0, 1, 2), chunk_size=chunk)(*args)
            _assert_same(got, whole)
            _assert_layout(got)


def test_executor_chunks_equal_in_process_and_keep_the_layout():
    x, y = pytree_point()
    reference = ad.jacfwd(pytree_f, argnums=(0, 1))(x, y)
    with ThreadPoolExecutor(2) as pool:
        for chunk in (None, 3, 7):
            for make in JACOBIANS.values():
                got = make(pytree_f, argnums=(0, 1), chunk_size=chunk, executor=pool)(x, y)
                _assert_same(got, reference)
                _assert_layout(got)
            H = ad.hessian(lambda v: np.sum(np.sin(v["a"]) ** 3), chunk_size=chunk, executor=pool)(x)
            _assert_same(H, ad.hessian(lambda v: np.sum(np.sin(v["a"]) ** 3))(x))


def test_progress_bar_in_process(capsys):
    x, y = pytree_point()
    J = ad.jacfwd(pytree_f, argnums=(0, 1), chunk_size=10, progress=True)(x, y)
    assert "Jacobian chunks" in capsys.readouterr().err
    _assert_same(J, ad.jacfwd(pytree_f, argnums=(0, 1))(x, y))
    ad.jacrev(pytree_f, argnums=(0, 1), chunk_size=5, progress=True)(x, y)
    assert "Jacobian chunks" in capsys.readouterr().err


def test_nested_jacobians_still_differentiate():
    # the inner Jacobian's tangents are traced by the outer transformation: differentiable assembly
    f = lambda x: np.sin(x) * np.sum(x ** 2)  # noqa: E731
    x = RNG.standard_normal(5)
    reference = ad.jacfwd(ad.jacfwd(f))(x)
    for outer in (ad.jacfwd, ad.jacrev):
        for inner in (ad.jacfwd, ad.jacrev):
            for chunk in (None, 2):
                H = outer(inner(f, chunk_size=chunk), chunk_size=chunk)(x)
                np.testing.assert_allclose(H, reference, rtol=1e-12, atol=1e-13)
                _assert_layout(H)


# ---- how often jacobian evaluates f ------------------------------------------------------------------

def _counting(f):
    calls = []

    def counted(*args):
        calls.append(1)
        return f(*args)

    return counted, calls


def _reverse_problem():
    W = RNG.standard_normal((3, 400)) / 8
    return (lambda x: np.tanh(W @ np.sin(x))), RNG.standard_normal(400)    # n = 400 >> m = 3


def _forward_problem():
    W = RNG.standard_normal((60, 2))
    return (lambda x: np.tanh(W @ np.sin(x))), RNG.standard_normal(2)      # n = 2 << m = 60


@pytest.mark.parametrize("problem,mode,first", [(_reverse_problem, "reverse", 1),
                                                (_forward_problem, "forward", 2)])
@pytest.mark.parametrize("chunk", [None, "auto"])
def test_auto_evaluates_f_once_per_call_plus_only_what_the_mode_needs(problem, mode, first, chunk):
    # The plan records f once (it learns m and the graph there); reverse mode pulls from that very
    # recording, so the first call evaluates f once; forward mode needs its own pass: twice.
    f, x = problem()
    counted, calls = _counting(f)
    assert ad.plan_jacobian(f, x).mode == mode
    J = ad.jacobian(counted, chunk_size=chunk)
    got = J(x)
    assert len(calls) == first
    for k in range(3):
        np.testing.assert_allclose(J(x), got, rtol=0, atol=0)
        assert len(calls) == first + k + 1            # later calls: one pass, the plan is kept
    np.testing.assert_allclose(got, ad.jacfwd(f)(x), rtol=1e-12, atol=1e-14)


def test_auto_in_mixed_mode_evaluates_f_once():
    f, x = hourglass((300, 300, 300, 5, 300, 300, 300))
    assert ad.plan_jacobian(f, x).mode == "mixed"
    counted, calls = _counting(f)
    J = ad.jacobian(counted)
    np.testing.assert_allclose(J(x), ad.jacrev(f)(x), rtol=1e-12, atol=1e-14)
    assert len(calls) == 1


def test_auto_with_an_executor_does_not_evaluate_f_just_to_learn_m():
    f, x = _reverse_problem()
    counted, calls = _counting(f)
    with ThreadPoolExecutor(2) as pool:
        got = ad.jacobian(counted, chunk_size=1, executor=pool)(x)
    assert len(calls) == 1 + 3        # the plan's recording, then one task per output direction
    np.testing.assert_allclose(got, ad.jacrev(f)(x), rtol=1e-12, atol=1e-14)


def test_forced_modes_evaluate_f_once_per_call():
    f, x = _reverse_problem()
    for mode in ("forward", "reverse"):
        counted, calls = _counting(f)
        J = ad.jacobian(counted, mode=mode)
        J(x)
        J(x)
        assert len(calls) == 2, mode


def test_jacobian_inside_another_transformation_still_nests():
    # the plan looks through the outer tracer, so its recording is not reused: the mode records anew
    f, x = _reverse_problem()
    g = lambda x: np.sum(ad.jacobian(f)(x) ** 2)  # noqa: E731
    expected = ad.grad(lambda x: np.sum(ad.jacrev(f)(x) ** 2))(x)
    np.testing.assert_allclose(ad.grad(g)(x), expected, rtol=1e-12)


# ---- the engine's pieces ------------------------------------------------------------------------------

def test_prepare_checks_once_with_clear_errors():
    with pytest.raises(TypeError, match="integer"):
        batching.prepare(np.sin, (np.arange(3),), {}, 0)
    with pytest.raises(ValueError, match="out of range"):
        batching.prepare(np.sin, (np.ones(3),), {}, 2)
    inputs = batching.prepare(lambda a, b, c: a, (np.ones(2), 3, {"u": np.ones((2, 2))}), {}, (0, 2))
    assert inputs.n == 6 and inputs.sizes == [2, 4] and not inputs.single
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacfwd(np.sin, chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacrev(np.sin, chunk_size=2.5)


def test_local_bounds_cover_every_direction_once():
    for total in (0, 1, 7, 12):
        for chunk in (None, 1, 3, 5, 12, 100):
            bounds = batching.local_bounds(total, chunk)
            covered = [i for a, b in bounds for i in range(a, b)]
            assert covered == list(range(total))
            assert len(bounds) == (max(1, -(-total // chunk)) if chunk else 1)


def test_identity_seeds_are_the_basis_rows():
    from autodiff.diagonal import diagonal_of
    from autodiff.shapes import basis_rows

    leaves = [((3,), np.float64), ((), np.float32), ((2, 4), np.float64), ((120,), np.float64)]
    total = 3 + 1 + 8 + 120
    for bounds in [(0, total), (0, 1), (2, 5), (3, 4), (4, 12), (11, 131), (12, 132), (0, 0), (130, 132)]:
        got = batching.identity_seeds(leaves, bounds)
        want = basis_rows(leaves, *bounds)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
            assert (diagonal_of(g) is None) == (diagonal_of(w) is None)     # the diagonal batch is kept
    assert diagonal_of(batching.identity_seeds(leaves, (12, 132))[3]) is not None


def test_small_identity_seeds_are_kept_and_never_reach_the_caller():
    """A whole-vector identity seed up to structured.IDENTITY_KEPT_BYTES is built once and reused: the
    same read-only registered array on the next call, never the Jacobian handed out (a caller writing
    into that must not change the next call's seed); larger ones are built afresh."""
    from autodiff import structured

    leaves = [((300,), np.float64)]
    first = batching.identity_seeds(leaves, (0, 300))[0]
    assert batching.identity_seeds(leaves, (0, 300))[0] is first
    assert not first.flags.writeable and structured.diagonal_of(first) is not None
    x = np.linspace(0.0, 1.0, 300)
    for jac in (ad.jacrev, ad.jacfwd, lambda f: ad.jacobian(f, mode="reverse")):
        J = jac(lambda x: x)(x)
        assert J.flags.writeable and J is not first
        J[:] = 7.0                                  # the caller's to modify
        np.testing.assert_array_equal(jac(lambda x: x)(x), np.eye(300))
        np.testing.assert_allclose(jac(np.sin)(x), np.diag(np.cos(x)), rtol=1e-15)
    big = int(np.sqrt(structured.IDENTITY_KEPT_BYTES / 8)) + 1
    seeds = [batching.identity_seeds([((big,), np.float64)], (0, big))[0] for _ in range(2)]
    assert seeds[0] is not seeds[1] and structured.diagonal_of(seeds[1]) is not None
