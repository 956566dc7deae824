"""sparse_jacobian, sparse_hessian and color_jacobian against dense derivatives, and SciPy's solvers
fed directly with them (solve_ivp, least_squares, minimize, jac_sparsity)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares, minimize

import autodiff as ad


def bratu(u, lam=1.0):
    h = 1.0 / (u.size + 1)
    up = np.concatenate([np.zeros(1), u, np.zeros(1)])
    return (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 + lam * np.exp(u)


def arrowhead(x):
    return np.concatenate([np.sum(x ** 2).reshape(1), x[1:] * x[0] + np.sin(x[1:])])


def block_sums(x):
    return np.sum(x.reshape(-1, 10) ** 2, axis=1)


def grid_laplacian(x):
    k = int(round(np.sqrt(x.size)))
    u = np.pad(x.reshape(k, k), 1)
    return (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]).ravel() + x ** 3


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


FUNCTIONS = [bratu, arrowhead, block_sums, grid_laplacian, lambda x: np.cumsum(x) * x,
             lambda x: x[::-1] * np.roll(x, 3) + np.tanh(x[:, None] * x[None, :5]).sum(axis=1),
             lambda x: np.array([1.0, 2.0]) @ x.reshape(2, -1), lambda x: np.exp(x).sum() * x]


def _dense(f, x):
    return np.asarray(ad.jacfwd(f)(x)).reshape(-1, x.size)


@pytest.mark.parametrize("f", FUNCTIONS)
@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "bidirectional"])
def test_sparse_jacobian_equals_the_dense_jacobian(f, mode):
    x = np.random.default_rng(0).random(100) + 0.1
    J = ad.sparse_jacobian(f, mode=mode)(x)
    assert isinstance(J, sp.csr_array) and J.shape == _dense(f, x).shape
    np.testing.assert_allclose(J.toarray(), _dense(f, x), rtol=1e-12, atol=1e-12)


def test_chunks_give_the_same_values():
    x = np.random.default_rng(1).random(60)
    want = _dense(arrowhead, x)
    for mode in ("forward", "reverse", "bidirectional"):
        for chunk in (1, 2, 5):
            J = ad.sparse_jacobian(arrowhead, mode=mode, chunk_size=chunk)(x)
            np.testing.assert_allclose(J.toarray(), want, rtol=1e-12)


def test_pattern_and_coloring_are_cached_per_shape_and_values_refreshed():
    sj = ad.sparse_jacobian(bratu)
    x = np.random.default_rng(2).random(50)
    J1 = sj(x)
    J2 = sj(2 * x)
    assert len(sj.cache) == 1
    np.testing.assert_allclose(J2.toarray(), _dense(bratu, 2 * x), rtol=1e-12)
    assert not np.allclose(J1.toarray(), J2.toarray())     # the first result was not overwritten
    sj(np.ones(20))
    assert len(sj.cache) == 2
    J1.data[:] = 0.0
    J1.eliminate_zeros()                                   # editing one result leaves the next intact
    assert sj(2 * x).nnz == J2.nnz and J1.nnz == 0


def test_several_arguments_float32_and_pytrees():
    def f(x, c, y):
        return {"a": x * y[0] * c, "b": np.sin(y) * x[:2]}
    x, y = np.arange(1.0, 4.0), np.array([0.5, 1.5])
    J = ad.sparse_jacobian(f, argnums=(0, 2))(x, 3.0, y)
    jx, jy = ad.jacfwd(f, argnums=(0, 2))(x, 3.0, y)["a"], ad.jacfwd(f, argnums=(0, 2))(x, 3.0, y)["b"]
    want = np.vstack([np.hstack([jx[0], jx[1]]), np.hstack([jy[0], jy[1]])])
    np.testing.assert_allclose(J.toarray(), want)
    J32 = ad.sparse_jacobian(bratu)(np.ones(10, dtype=np.float32))
    assert J32.dtype == np.float32


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="mode"):
        ad.sparse_jacobian(bratu, mode="sideways")
    with pytest.raises(ValueError, match="chunk_size"):
        ad.sparse_jacobian(bratu, chunk_size=0)
    with pytest.raises(TypeError, match="submit"):
        ad.sparse_jacobian(bratu, executor=object())
    with pytest.raises(TypeError, match="integer"):
        ad.sparse_jacobian(bratu)(np.arange(5))
    with pytest.raises(ValueError, match="mode"):
        ad.color_jacobian(bratu, np.ones(4), mode="both")


def test_color_jacobian_chooses_and_explains():
    cp = ad.color_jacobian(bratu, np.ones(1000))
    assert (cp.mode, cp.n_colors, cp.n_colors_forward, cp.n_colors_reverse) == ("forward", 3, 3, 3)
    assert cp.pattern.nnz == 3 * 1000 - 2
    text = repr(cp)
    assert "3 JVPs instead of 1000 JVPs or 1000 VJPs" in text and text.count("\n") >= 5
    blocks = ad.color_jacobian(block_sums, np.ones(1000))
    assert (blocks.mode, blocks.n_colors, blocks.n_colors_forward) == ("reverse", 1, 10)
    assert "1 VJP instead of 1000 JVPs or 100 VJPs" in repr(blocks)
    arrow = ad.color_jacobian(arrowhead, np.ones(30))
    assert arrow.mode == "bidirectional" and arrow.n_colors <= 4
    assert arrow.n_colors_forward == 30 and arrow.n_colors_reverse == 30
    assert ad.color_jacobian(arrowhead, np.ones(30), mode="forward").n_colors == 30


def test_pattern_summary_for_the_planner():
    from autodiff.sparsity import pattern_summary
    s = pattern_summary(block_sums, np.ones(100))
    assert s["nnz"] == 100 and s["n_outputs"] == 10 and s["n_inputs"] == 100
    assert s["n_colors_forward"] == 10 and s["n_colors_reverse"] == 1 and s["mode"] == "reverse"
    assert s["sparse_pays"]


HESSIAN_FUNCTIONS = [rosenbrock, lambda x: np.sum(x[0] * x[1:] ** 2) + np.sum(np.cos(x)),
                     lambda x: np.sum((x[1:] - x[:-1]) ** 4) + np.sum(np.exp(x[::3])),
                     lambda x: np.log(np.sum(x ** 2)) + x[2] * x[7]]


@pytest.mark.parametrize("f", HESSIAN_FUNCTIONS)
def test_sparse_hessian_equals_the_dense_hessian(f):
    x = np.random.default_rng(3).random(40) + 0.2
    H = ad.sparse_hessian(f)(x)
    dense = ad.hessian(f)(x)
    assert isinstance(H, sp.csr_array) and H.shape == (40, 40)
    np.testing.assert_allclose(H.toarray(), dense, rtol=1e-10, atol=1e-10)
    assert abs(H - H.T).max() <= 1e-10 * max(1.0, abs(H).max())


def test_sparse_hessian_of_rosenbrock_is_tridiagonal_and_cached():
    n = 1000
    sh = ad.sparse_hessian(rosenbrock)
    x = np.random.default_rng(4).random(n)
    H = sh(x)
    assert H.nnz == 3 * n - 2
    H2 = sh(x + 1)
    np.testing.assert_allclose(H2[[0, 1, 2]].toarray(), ad.hessian(rosenbrock)(x + 1)[[0, 1, 2]], rtol=1e-12)
    assert len(sh.cache) == 1
    assert ad.sparse_hessian(lambda x: np.sum(2.0 * x))(x).nnz == 0


# ---- SciPy, directly ---------------------------------------------------------------------------------

def _reaction_diffusion(t, y):
    n = y.size
    h = 1.0 / (n + 1)
    up = np.concatenate([np.ones(1), y, np.zeros(1)])
    return 0.05 * (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 - 10.0 * y ** 3


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_solve_ivp_with_a_sparse_jacobian(method):
    n = 200
    y0 = np.zeros(n)
    jac = ad.sparse_jacobian(_reaction_diffusion, argnums=1)
    ours = solve_ivp(_reaction_diffusion, (0.0, 1.0), y0, method=method, jac=jac, rtol=1e-8, atol=1e-10)
    pattern = ad.jacobian_sparsity(_reaction_diffusion, 0.0, y0, argnums=1)
    fd = solve_ivp(_reaction_diffusion, (0.0, 1.0), y0, method=method, jac_sparsity=pattern,
                   rtol=1e-8, atol=1e-10)
    assert ours.success and fd.success and ours.njev >= 1
    np.testing.assert_allclose(ours.y[:, -1], fd.y[:, -1], rtol=1e-5, atol=1e-7)
    assert pattern.nnz == 3 * n - 2 and ours.y[0, -1] > 0.0


def test_least_squares_with_a_sparse_jacobian_and_with_jac_sparsity():
    n = 300
    rng = np.random.default_rng(5)
    target = rng.random(n)

    def residual(x):
        chain = x[1:] - x[:-1] ** 2 - (target[1:] - target[:-1] ** 2)
        return np.concatenate([chain, 10.0 * (x[:1] - target[:1])])

    x0 = np.full(n, 0.5)
    jac = ad.sparse_jacobian(residual)
    ours = least_squares(residual, x0, jac=jac, method="trf", tr_solver="lsmr", xtol=1e-12, ftol=1e-12)
    assert ours.success and np.abs(ours.x - target).max() < 1e-6
    assert ours.njev < n   # each call is a handful of passes, not n
    fd = least_squares(residual, x0, jac_sparsity=ad.jacobian_sparsity(residual, x0), method="trf",
                       tr_solver="lsmr", xtol=1e-12, ftol=1e-12)
    assert fd.success and np.abs(fd.x - target).max() < 1e-5


def test_minimize_trust_constr_with_a_sparse_hessian():
    n = 50
    x0 = np.full(n, -0.5)
    res = minimize(rosenbrock, x0, method="trust-constr", jac=ad.grad(rosenbrock),
                   hess=ad.sparse_hessian(rosenbrock),
                   options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 2000})
    assert res.success or res.status in (1, 2)
    np.testing.assert_allclose(res.x, np.ones(n), atol=1e-5)


def test_sparse_hessian_over_several_arguments_and_a_scalar_output_jacobian():
    def f(x, y):
        return np.sum(x ** 2 * y[0]) + np.sum(np.sin(y)) * x[0]
    x, y = np.random.default_rng(6).random(4), np.random.default_rng(7).random(3)
    H = ad.sparse_hessian(f, argnums=(0, 1))(x, y).toarray()
    d = ad.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(H, np.block([[d[0][0], d[0][1]], [d[1][0], d[1][1]]]), rtol=1e-12, atol=1e-14)
    J = ad.sparse_jacobian(lambda x: np.sum(x ** 2))(x)
    assert J.shape == (1, 4)
    np.testing.assert_allclose(J.toarray()[0], 2 * x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["auto", "forward", "reverse", "bidirectional"]))
def test_random_sparse_maps_in_every_mode(seed, mode):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    a = rng.standard_normal((m, n)) * (rng.random((m, n)) < rng.uniform(0.05, 0.4))
    if rng.random() < 0.4:
        a[rng.integers(0, m)] = rng.standard_normal(n)        # a dense row
        a[:, rng.integers(0, n)] = rng.standard_normal(m)     # a dense column

    def f(x):
        return np.tanh(a @ np.sin(x)) * 2.0

    x = rng.standard_normal(n)
    J = ad.sparse_jacobian(f, mode=mode)(x)
    np.testing.assert_allclose(J.toarray(), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-12)
