"""autodiff.scipy.linalg: SciPy's values exactly, derivatives against finite differences (check_grads,
second order, both modes) and against jax.scipy.linalg where JAX has the function."""

import numpy as np
import pytest
import scipy.linalg as sl

import autodiff as ad
from autodiff.testing import check_grads

L = ad.scipy.linalg
RNG = np.random.default_rng(7)
N = 4
A = RNG.uniform(-1, 1, size=(N, N)) + 2.0 * np.eye(N)
A_PIVOTED = A[[2, 0, 3, 1]]                       # partial pivoting permutes rows of this one
M = RNG.uniform(-1, 1, size=(N, N))
SPD = M @ M.T + N * np.eye(N)
B = RNG.uniform(-1, 1, size=(N, 2))
BV = B[:, 0]


def _same(ours, theirs):
    for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else
                    (theirs,)):
        np.testing.assert_array_equal(np.asarray(o), np.asarray(t))


# ---- values are SciPy's, traced or not -------------------------------------------------------------


@pytest.mark.parametrize("name, args, kwargs", [
    ("solve", (A, B), {}), ("solve", (A, BV), {"transposed": True}),
    ("solve", (SPD, B), {"assume_a": "pos"}), ("solve", (SPD, B), {"assume_a": "sym", "lower": True}),
    ("solve", (np.tril(A), B), {"assume_a": "lower triangular"}),
    ("inv", (A,), {}), ("inv", (SPD,), {"assume_a": "pos"}), ("det", (A,), {}),
    ("sqrtm", (SPD,), {}), ("solve_sylvester", (A, SPD, M), {}),
])
def test_values_equal_scipy_traced_and_plain(name, args, kwargs):
    want = getattr(sl, name)(*args, **kwargs)
    _same(getattr(L, name)(*args, **kwargs), want)
    traced = ad.jvp(lambda a: getattr(L, name)(a, *args[1:], **kwargs), (args[0],), (np.ones_like(args[0]),))
    _same(traced[0], want)


@pytest.mark.parametrize("lower", [False, True])
def test_cho_factor_and_cho_solve_values(lower):
    c, low = L.cho_factor(SPD, lower=lower)
    c2, low2 = sl.cho_factor(SPD, lower=lower)
    _same(c, c2)
    assert low is low2 is lower
    # the other triangle holds SPD's entries, as SciPy leaves them
    other = np.triu(c, 1) if lower else np.tril(c, -1)
    _same(other, np.triu(SPD, 1) if lower else np.tril(SPD, -1))
    _same(L.cho_solve((c, low), B), sl.cho_solve((c2, low2), B))
    _same(L.cho_solve((c, low), BV), sl.cho_solve((c2, low2), BV))


def test_lu_factor_and_lu_solve_values():
    lu, piv = L.lu_factor(A_PIVOTED)
    lu2, piv2 = sl.lu_factor(A_PIVOTED)
    _same((lu, piv), (lu2, piv2))
    assert type(piv) is np.ndarray and piv.dtype == piv2.dtype and not np.all(piv == np.arange(N))
    for trans in (0, 1, 2):
        _same(L.lu_solve((lu, piv), B, trans=trans), sl.lu_solve((lu2, piv2), B, trans=trans))
    _same(L.lu_solve((lu, piv), BV), sl.lu_solve((lu2, piv2), BV))


def test_solve_banded_values():
    ab = RNG.uniform(-1, 1, size=(4, N))
    ab[2] += 4.0                       # (l, u) = (1, 2): row u = 2 is the diagonal
    _same(L.solve_banded((1, 2), ab, B), sl.solve_banded((1, 2), ab, B))
    _same(L.solve_banded((1, 2), ab, BV), sl.solve_banded((1, 2), ab, BV))


# ---- derivatives ------------------------------------------------------------------------------------


def _banded_dense(ab, nlow, nup):
    n = ab.shape[1]
    return sum(np.diag(ab[nup - k, max(k, 0):n + min(k, 0)], k) for k in range(-nlow, nup + 1))


CHECKS = [
    ("solve", lambda a, b: L.solve(a, b), (A, B)),
    ("solve transposed", lambda a, b: L.solve(a, b, transposed=True), (A, BV)),
    ("solve pos", lambda a, b: L.solve(a, b, assume_a="pos"), (SPD, B)),
    ("inv", L.inv, (A,)), ("det", L.det, (A,)),
    ("cho_factor", lambda a: L.cho_factor(a)[0], (SPD,)),
    ("cho_factor lower", lambda a: L.cho_factor(a, lower=True)[0], (SPD,)),
    ("cho_solve", lambda a, b: L.cho_solve(L.cho_factor(a), b), (SPD, B)),
    ("cho_solve lower", lambda a, b: L.cho_solve(L.cho_factor(a, lower=True), b), (SPD, BV)),
    ("lu_factor", lambda a: L.lu_factor(a)[0], (A_PIVOTED,)),
    ("lu_solve", lambda a, b: L.lu_solve(L.lu_factor(a), b), (A_PIVOTED, B)),
    ("lu_solve trans", lambda a, b: L.lu_solve(L.lu_factor(a), b, trans=1), (A_PIVOTED, BV)),
    ("sqrtm", L.sqrtm, (SPD + 0.3 * M,)),
    ("solve_sylvester", L.solve_sylvester, (A, SPD[:3, :3], M[:, :3])),
    ("solve_banded", lambda ab, b: L.solve_banded((1, 2), ab, b),
     (np.vstack([RNG.uniform(-1, 1, (2, N)), 4 + RNG.uniform(-1, 1, (1, N)), RNG.uniform(-1, 1, (1, N))]),
      B)),
]


@pytest.mark.parametrize("name, fn, args", CHECKS, ids=[c[0] for c in CHECKS])
def test_derivatives_check_to_second_order(name, fn, args):
    check_grads(fn, args, order=2)


def test_lu_solve_equals_solve_and_so_do_its_derivatives():
    f = lambda a, b: L.lu_solve(L.lu_factor(a), b)             # noqa: E731
    g = lambda a, b: np.linalg.solve(a, b)                     # noqa: E731
    expected = ad.jacrev(g, argnums=(0, 1))(A_PIVOTED, B)
    for ours, want in zip(ad.jacrev(f, argnums=(0, 1))(A_PIVOTED, B), expected):
        np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-12)


def test_solve_sylvester_agrees_with_the_kronecker_form():
    # vec(A X + X B) = (I ⊗ A + Bᵀ ⊗ I) vec(X), column-major vec (JAX cannot differentiate its own:
    # no rule for schur)
    def dense(a, b, q):
        n, m = q.shape
        k = np.kron(np.eye(m), a) + np.kron(b.T, np.eye(n))
        return np.reshape(np.linalg.solve(k, np.reshape(q.T, (-1,))), (m, n)).T

    args = (A, SPD[:3, :3], M[:, :3])
    np.testing.assert_allclose(L.solve_sylvester(*args), dense(*args), rtol=1e-11)
    for ours, want in zip(ad.jacrev(L.solve_sylvester, argnums=(0, 1, 2))(*args),
                          ad.jacrev(dense, argnums=(0, 1, 2))(*args)):
        np.testing.assert_allclose(ours, want, rtol=1e-9, atol=1e-12)


def test_sqrtm_derivative_solves_the_sylvester_equation():
    a, da = SPD + 0.3 * M, M.T
    x, dx = ad.jvp(L.sqrtm, (a,), (da,))
    np.testing.assert_allclose(x @ dx + dx @ x, da, atol=1e-12)


def test_solve_banded_agrees_with_the_dense_solve():
    ab = np.vstack([RNG.uniform(-1, 1, (1, N)), 4 + RNG.uniform(-1, 1, (1, N)), RNG.uniform(-1, 1, (2, N))])
    ab[0, :1] = 0.0            # corners outside the matrix (never read by LAPACK)
    ab[2, -1:] = 0.0
    ab[3, -2:] = 0.0
    banded = lambda ab, b: L.solve_banded((2, 1), ab, b)        # noqa: E731
    dense = lambda ab, b: np.linalg.solve(_banded_dense(ab, 2, 1), b)   # noqa: E731
    np.testing.assert_allclose(banded(ab, B), dense(ab, B), rtol=1e-12)
    for ours, want in zip(ad.jacfwd(banded, argnums=(0, 1))(ab, B), ad.jacfwd(dense, argnums=(0, 1))(ab, B)):
        np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-12)


def test_unread_triangles_get_zero_derivative():
    g = ad.grad(lambda a: L.solve(a, BV, assume_a="pos").sum())(SPD)
    assert np.all(np.tril(g, -1) == 0)                      # upper triangle read by default
    g = ad.grad(lambda a: L.cho_solve(L.cho_factor(a, lower=True), BV).sum())(SPD)
    assert np.all(np.triu(g, 1) == 0)


# ---- errors --------------------------------------------------------------------------------------


def test_complex_input_raises_not_implemented():
    z = A + 0.1j * M
    for fn in (lambda: L.solve(z, B), lambda: L.inv(z), lambda: L.det(z), lambda: L.cho_factor(z),
               lambda: L.lu_factor(z), lambda: L.sqrtm(z), lambda: L.solve_sylvester(z, A, M)):
        with pytest.raises(NotImplementedError, match="complex"):
            fn()


def test_unsupported_options_and_shapes_raise():
    with pytest.raises(NotImplementedError, match="banded"):
        L.solve(A, B, assume_a="banded")
    with pytest.raises(NotImplementedError, match="square"):
        L.lu_factor(A[:, :3])
    with pytest.raises(ValueError, match="square"):
        L.inv(A[:, :3])
    with pytest.raises(ValueError, match="shape"):
        L.solve(A, B[:3])
    with pytest.raises(NotImplementedError, match="complex square root"):
        L.sqrtm(-SPD)


# ---- against JAX ----------------------------------------------------------------------------------


def test_lu_factor_pivots_equal_jax():
    pytest.importorskip("jax")
    import jax.scipy.linalg as jl
    np.testing.assert_array_equal(L.lu_factor(A_PIVOTED)[1], np.asarray(jl.lu_factor(A_PIVOTED)[1]))


def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.linalg as jl

    w = RNG.uniform(-1, 1, size=B.shape)
    pairs = [
        (lambda a: np.sum(L.solve(a, B) * w), lambda a: jnp.sum(jl.solve(a, B) * w), A),
        (lambda a: np.sum(L.inv(a) * M), lambda a: jnp.sum(jl.inv(a) * M), A),
        (L.det, jl.det, A),
        (lambda a: np.sum(L.lu_solve(L.lu_factor(a), B) * w),
         lambda a: jnp.sum(jl.lu_solve(jl.lu_factor(a), B) * w), A_PIVOTED),
        (lambda a: np.sum(L.lu_factor(a)[0] * M), lambda a: jnp.sum(jl.lu_factor(a)[0] * M), A_PIVOTED),
    ]
    for ours, theirs, x in pairs:
        np.testing.assert_allclose(ad.grad(ours)(x), np.asarray(jax.grad(theirs)(x)), rtol=1e-8, atol=1e-11)
    # Cholesky: we read one triangle, JAX splits the derivative between both; along symmetric directions
    # (the only ones that keep the matrix symmetric) they agree, so compare the symmetric parts.
    sym = lambda g: 0.5 * (np.asarray(g) + np.asarray(g).T)     # noqa: E731
    pairs = [
        (lambda a: np.sum(np.triu(L.cho_factor(a)[0]) * M),
         lambda a: jnp.sum(jnp.triu(jl.cho_factor(a)[0]) * M)),
        (lambda a: np.sum(L.cho_solve(L.cho_factor(a), B) * w),
         lambda a: jnp.sum(jl.cho_solve(jl.cho_factor(a), B) * w)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(sym(ad.grad(ours)(SPD)), sym(jax.grad(theirs)(SPD)), rtol=1e-8, atol=1e-11)
