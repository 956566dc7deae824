"""numpy.linalg under tracing returns NumPy's own values, and derivatives of exactly those factors.

SPEC §2: no normalising of signs, orders or phases under tracing; the derivative of ``qr``/``eigh``/``svd``/
``eig`` is that of the factor NumPy returned. Checked here bitwise (values, both modes), against JAX (which
also differentiates LAPACK's factors) and against finite differences of NumPy's own function (with the
columns' signs/phases aligned where LAPACK flips them between nearby inputs).
"""

import warnings

import numpy as np
import pytest

import autodiff as ad

RNG = np.random.default_rng(20261201)

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - JAX is in the test extra
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX is not installed")


def _traced_values(f, a):
    """f(a) as computed under forward mode and under reverse mode."""
    forward = ad.jvp(f, (a,), (np.ones_like(a),))[0]
    reverse = ad.vjp(f, a)[0]
    return forward, reverse


def _assert_bitwise(f, a):
    want = f(a)
    for got in _traced_values(f, a):
        got, want_t = ad.pytree.tree_flatten(got)[0], ad.pytree.tree_flatten(want)[0]
        assert len(got) == len(want_t)
        for g, w in zip(got, want_t):
            assert np.asarray(g).dtype == np.asarray(w).dtype
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w), strict=True)


def _column_signs(v, like):
    """±1 per column: -1 where the column of v points against that of ``like``."""
    return np.where(np.real(np.sum(np.conjugate(v) * like, axis=-2, keepdims=True)) < 0, -1.0, 1.0)


def _aligned(v, like):
    """v with its columns' signs flipped to match ``like``: LAPACK's normalisations (unit norm, for eig a
    real largest component) fix each column up to that sign, which LAPACK picks arbitrarily."""
    return v * _column_signs(v, like)


def _fd(f, a, t, h=1e-6, align=False):
    """Central difference of NumPy's own f along t (columns aligned to f(a) if LAPACK may flip them)."""
    base = f(a)
    plus, minus = f(a + h * t), f(a - h * t)
    if align:
        plus, minus = _aligned(plus, base), _aligned(minus, base)
    return (plus - minus) / (2 * h)


SQUARE = [RNG.normal(size=(3, 3)) for _ in range(18)]
T4 = np.reshape(RNG.normal(size=(9, 9)) + 4 * np.eye(9), (3, 3, 3, 3))


# ---- traced values are NumPy's, bit for bit, in both modes -------------------------------------------


VALUE_CASES = {
    "qr": lambda a: tuple(np.linalg.qr(a)),
    "qr r": lambda a: np.linalg.qr(a, "r"),
    "qr complete": lambda a: tuple(np.linalg.qr(a, mode="complete")),
    "eigh": lambda a: tuple(np.linalg.eigh(a + a.T)),
    "eigh U": lambda a: tuple(np.linalg.eigh(a, "U")),
    "eigvalsh": lambda a: np.linalg.eigvalsh(a + a.T),
    "svd": lambda a: tuple(np.linalg.svd(a)),
    "svd reduced": lambda a: tuple(np.linalg.svd(a, False)),
    "svd values": lambda a: np.linalg.svd(a, compute_uv=False),
    "svd hermitian": lambda a: tuple(np.linalg.svd(a + a.T, hermitian=True)),
    "svd hermitian values": lambda a: np.linalg.svd(a + a.T, False, False, True),
    "svdvals": lambda a: np.linalg.svdvals(a),
    "eig": lambda a: tuple(np.linalg.eig(a)),
    "eigvals": lambda a: np.linalg.eigvals(a),
    "det": lambda a: np.linalg.det(a),
    "slogdet": lambda a: np.linalg.slogdet(a)[1],
    "norm": lambda a: np.linalg.norm(a),
    "norm fro": lambda a: np.linalg.norm(a, "fro"),
    "norm axis": lambda a: np.linalg.norm(a, None, 0, True),
    "norm nuc": lambda a: np.linalg.norm(a, "nuc"),
    "norm 2": lambda a: np.linalg.norm(a, 2),
    "norm vector 2": lambda a: np.linalg.norm(a[0], 2),
    "vector_norm": lambda a: np.linalg.vector_norm(a, axis=(0, 1), keepdims=True),
    "vector_norm 3": lambda a: np.linalg.vector_norm(a, ord=3),
    "cond": lambda a: np.linalg.cond(a),
    "cond -2": lambda a: np.linalg.cond(a, -2),
    "cond fro": lambda a: np.linalg.cond(a, "fro"),
    "cond inf": lambda a: np.linalg.cond(a, np.inf),
    "pinv": lambda a: np.linalg.pinv(a),
    "pinv hermitian": lambda a: np.linalg.pinv(a + a.T, hermitian=True),
    "matrix_power 3": lambda a: np.linalg.matrix_power(a, 3),
    "matrix_power 5": lambda a: np.linalg.matrix_power(a, 5),
    "lstsq": lambda a: tuple(np.linalg.lstsq(np.vstack([a, a[:1] + 1.0]), np.arange(4.0))[i]
                             for i in (0, 1, 3)),
    "multi_dot": lambda a: np.linalg.multi_dot([a, a.T, a, a @ a]),
    "solve": lambda a: np.linalg.solve(a, a[0]),
    "solve matrix": lambda a: np.linalg.solve(a, a.T),
    "inv": lambda a: np.linalg.inv(a),
    "tensorsolve": lambda a: np.linalg.tensorsolve(np.reshape(np.kron(a, a), (3, 3, 3, 3)), a),
    "tensorsolve axes": lambda a: np.linalg.tensorsolve(T4 * a[0, 0], a, (0, 2)),
    "tensorinv": lambda a: np.linalg.tensorinv(np.reshape(np.kron(a, a), (3, 3, 3, 3))),
    "diagonal": lambda a: np.linalg.diagonal(a, offset=1),
    "matrix_rank": lambda a: a * np.linalg.matrix_rank(a),
}


@pytest.mark.parametrize("case", VALUE_CASES)
def test_traced_values_are_numpys_bitwise(case):
    for a in SQUARE[:6]:
        _assert_bitwise(VALUE_CASES[case], a)


def test_multi_dot_uses_numpys_order_of_products():
    a, b, c, d = (RNG.normal(size=s) for s in [(8, 2), (2, 9), (9, 3), (3, 7)])
    for arrays in ([a, b, c], [a, b, c, d], [a[0], b, c, d], [a, b, c, d[:, 0]], [a[0], b, c[:, 0]]):
        _assert_bitwise(lambda x, arrays=arrays: np.linalg.multi_dot([arrays[0] * x] + arrays[1:]),
                        np.float64(1.0))


def test_multi_dot_derivatives_are_those_of_the_chain():
    a, b, c = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=4)
    jac = ad.jacrev(lambda m: np.linalg.multi_dot([a, m, c]))(b)
    np.testing.assert_allclose(jac, np.einsum("ij,k->ijk", a, c), rtol=1e-13)
    np.testing.assert_allclose(ad.jacfwd(lambda m: np.linalg.multi_dot([a, m, c]))(b), jac, rtol=1e-13)


# ---- qr: any signs of R's diagonal ---------------------------------------------------------------------


def test_most_random_matrices_have_a_negative_diagonal_in_lapacks_r():
    negative = sum(np.any(np.diag(np.linalg.qr(a)[1]) < 0) for a in SQUARE)
    assert negative >= 10   # so the tests below exercise the case that used to be wrong


@pytest.mark.parametrize("factor", [0, 1])
def test_qr_derivatives_match_finite_differences_of_numpys_qr(factor):
    for a in SQUARE:
        t = RNG.normal(size=a.shape)
        f = lambda m: np.linalg.qr(m)[factor]  # noqa: E731
        _, tangent = ad.jvp(f, (a,), (t,))
        np.testing.assert_allclose(tangent, _fd(f, a, t), atol=1e-7)


@needs_jax
@pytest.mark.parametrize("shape", [(3, 3), (5, 3)])
def test_qr_jvp_and_vjp_match_jax(shape):
    for _ in range(6):
        a, t = RNG.normal(size=shape), RNG.normal(size=shape)
        for k in (0, 1):
            _, tangent = ad.jvp(lambda m, k=k: np.linalg.qr(m)[k], (a,), (t,))
            _, want = jax.jvp(lambda m, k=k: jnp.linalg.qr(m)[k], (a,), (t,))
            np.testing.assert_allclose(tangent, want, atol=1e-12)
            g = RNG.normal(size=np.shape(want))
            np.testing.assert_allclose(ad.vjp(lambda m, k=k: np.linalg.qr(m)[k], a)[1](g)[0],
                                       jax.vjp(lambda m, k=k: jnp.linalg.qr(m)[k], a)[1](g)[0], atol=1e-12)


# ---- eigh, svd: LAPACK's vector signs -------------------------------------------------------------------


def test_eigh_and_svd_vector_derivatives_match_aligned_finite_differences():
    for a in SQUARE[:8]:
        t = RNG.normal(size=a.shape)
        s, ts = a + a.T, t + t.T
        cases = [(lambda m: np.linalg.eigh(m)[1], s, ts),
                 (lambda m: np.linalg.svd(m)[0], a, t),
                 (lambda m: np.linalg.svd(m)[2].T, a, t),
                 (lambda m: np.linalg.svd(m[:, :2], full_matrices=False)[0], a, t)]
        for f, x, dx in cases:
            _, tangent = ad.jvp(f, (x,), (dx,))
            np.testing.assert_allclose(tangent, _fd(f, x, dx, align=True), atol=1e-6)


@needs_jax
def test_eigh_and_svd_jvps_match_jax():
    for a in SQUARE[:6]:
        t = RNG.normal(size=a.shape)
        s, ts = a + a.T, t + t.T
        for k in (0, 1):
            got = ad.jvp(lambda m, k=k: np.linalg.eigh(m)[k], (s,), (ts,))[1]
            want = jax.jvp(lambda m, k=k: jnp.linalg.eigh(m)[k], (s,), (ts,))[1]
            np.testing.assert_allclose(got, want, atol=1e-11)
        for k in (0, 1, 2):
            got = ad.jvp(lambda m, k=k: np.linalg.svd(m)[k], (a,), (t,))[1]
            want = jax.jvp(lambda m, k=k: jnp.linalg.svd(m)[k], (a,), (t,))[1]
            np.testing.assert_allclose(got, want, atol=1e-11)


def test_hermitian_svd_and_pinv_read_the_lower_triangle_as_numpy_does():
    a = RNG.normal(size=(3, 3))
    a = a + a.T + np.triu(RNG.normal(size=(3, 3)), 1)    # noise in the unread upper triangle
    t = RNG.normal(size=(3, 3))                          # not symmetric
    for f in (lambda m: np.linalg.svd(m, hermitian=True)[1], lambda m: np.linalg.pinv(m, hermitian=True)):
        _, tangent = ad.jvp(f, (a,), (t,))
        np.testing.assert_allclose(tangent, _fd(f, a, t), atol=1e-7)
        g = RNG.normal(size=np.shape(tangent))
        np.testing.assert_allclose(np.sum(ad.vjp(f, a)[1](g)[0] * t), np.sum(g * tangent), rtol=1e-10)


def test_pinv_uses_numpys_default_cutoff():
    a = np.diag([1.0, 1.0, 8e-16])     # below NumPy's default rcond 1e-15, above max(m, n) * eps
    _assert_bitwise(np.linalg.pinv, a)


# ---- eig, eigvals: complex outputs, NumPy's unit-norm, real-largest-component vectors ---------------


def _eig_inputs():
    pair = np.array([[0.5, 2.0, 0.1], [-1.0, 0.3, 0.4], [0.2, 0.1, 2.5]])    # a complex-conjugate pair
    real = np.array([[2.0, 0.3, 0.1], [0.4, -1.0, 0.2], [0.1, 0.5, 0.5]])     # real, distinct
    cplx = RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3))
    return [(pair, RNG.normal(size=(3, 3))), (real, RNG.normal(size=(3, 3))),
            (cplx, RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3)))]


def test_eig_outputs_follow_numpys_dtypes():
    for a, _ in _eig_inputs():
        w, v = ad.jvp(lambda m: tuple(np.linalg.eig(m)), (a,), (np.ones_like(a),))[0]
        assert w.dtype == np.linalg.eig(a)[0].dtype and v.dtype == np.linalg.eig(a)[1].dtype


def test_eig_derivatives_match_phase_aligned_finite_differences():
    for a, t in _eig_inputs():
        order = np.argsort(np.linalg.eig(a)[0])   # eig's order is LAPACK's: compare sorted by value

        def values(m, a=a, order=order):
            w = np.linalg.eig(m)[0]
            return w[np.argmin(np.abs(w[None, :] - np.linalg.eig(a)[0][order, None]), axis=1)]

        w_tangent = ad.jvp(lambda m: np.linalg.eig(m)[0], (a,), (t,))[1]
        np.testing.assert_allclose(w_tangent[order], _fd(values, a, t), atol=1e-7)
        v_tangent = ad.jvp(lambda m: np.linalg.eig(m)[1], (a,), (t,))[1]
        np.testing.assert_allclose(v_tangent, _fd(lambda m: np.linalg.eig(m)[1], a, t, align=True), atol=1e-6)
        vals_tangent = ad.jvp(np.linalg.eigvals, (a,), (t,))[1]
        perm = np.argmin(np.abs(np.linalg.eigvals(a)[:, None] - np.linalg.eig(a)[0][None, :]), axis=1)
        np.testing.assert_allclose(vals_tangent, w_tangent[perm], atol=1e-12)


def test_eig_vector_tangents_keep_numpys_normalisation():
    for a, t in _eig_inputs():
        w, v = np.linalg.eig(a)
        dv = ad.jvp(lambda m: np.linalg.eig(m)[1], (a,), (t,))[1]
        np.testing.assert_allclose(np.real(np.sum(np.conjugate(v) * dv, axis=0)), 0, atol=1e-12)  # unit norm
        k = np.argmax(np.abs(v), axis=0)
        np.testing.assert_allclose(np.imag(dv[k, np.arange(3)]), 0, atol=1e-12)  # largest entry stays real


@needs_jax
def test_eig_jvp_matches_jax():
    for a, t in _eig_inputs():
        got_w, got_v = ad.jvp(lambda m: tuple(np.linalg.eig(m)), (a,), (t,))[1]
        eig = lambda m: jax.lax.linalg.eig(m, compute_left_eigenvectors=False,  # noqa: E731
                                           enable_eigvec_derivs=True)
        (jw, jv), (want_w, want_v) = jax.jvp(eig, (a + 0j,), (t + 0j,))
        w, v = np.linalg.eig(a)
        np.testing.assert_allclose(jw, w, atol=1e-12)   # the same order (both call LAPACK's geev)
        signs = _column_signs(np.asarray(jv), v)         # but JAX's geev may pick other signs
        np.testing.assert_allclose(got_w, want_w, atol=1e-11)
        np.testing.assert_allclose(got_v, np.asarray(want_v) * signs, atol=1e-11)


def test_grad_through_eig_of_a_real_matrix_is_real():
    a, _ = _eig_inputs()[0]
    g = ad.grad(lambda m: np.sum(np.abs(np.linalg.eigvals(m)) ** 2))(a)
    assert g.dtype == np.float64
    h = 1e-6
    f = lambda m: np.sum(np.abs(np.linalg.eigvals(m)) ** 2)  # noqa: E731
    basis = np.eye(9).reshape(3, 3, 3, 3)
    fd = np.array([[(f(a + h * e) - f(a - h * e)) / (2 * h) for e in row] for row in basis])
    np.testing.assert_allclose(g, fd, atol=1e-7)


# ---- cond -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, np.inf, -np.inf])
def test_cond_derivative_matches_finite_differences(p):
    a = SQUARE[0] + 2.5 * np.eye(3)
    t = RNG.normal(size=(3, 3))
    f = lambda m: np.linalg.cond(m, p)  # noqa: E731
    for mode in ("forward", "reverse"):
        if mode == "forward":
            tangent = ad.jvp(f, (a,), (t,))[1]
        else:
            tangent = np.sum(ad.grad(f)(a) * t)
        np.testing.assert_allclose(tangent, _fd(f, a, t), rtol=1e-6)


def test_cond_of_a_singular_matrix_with_an_inverse_based_norm_says_so():
    with pytest.raises(NotImplementedError, match="singular"):
        ad.grad(lambda m: np.linalg.cond(m, "fro"))(np.ones((2, 2)))


# ---- complex input: correct, or a clear NotImplementedError ---------------------------------------------


COMPLEX_REJECTED = {
    "svd": lambda z: np.linalg.svd(z)[1],
    "svd values": lambda z: np.linalg.svd(z, compute_uv=False),
    "eigh": lambda z: np.linalg.eigh(z)[0],
    "eigvalsh": np.linalg.eigvalsh,
    "norm nuc": lambda z: np.linalg.norm(z, "nuc"),
    "norm 2": lambda z: np.linalg.norm(z, 2),
    "qr": lambda z: np.linalg.qr(z)[1],
    "cholesky": np.linalg.cholesky,
    "pinv": np.linalg.pinv,
    "slogdet": lambda z: np.linalg.slogdet(z)[1],
    "cond": np.linalg.cond,
}


@pytest.mark.parametrize("name", COMPLEX_REJECTED)
def test_complex_input_to_a_real_only_rule_raises(name):
    z = SQUARE[1] + 3 * np.eye(3) + 1j * SQUARE[2]
    z = z @ np.conjugate(z.T) if name == "cholesky" else z
    with pytest.raises(NotImplementedError, match="complex"):
        ad.jvp(lambda m: np.real(COMPLEX_REJECTED[name](m)), (z,), (np.ones_like(z),))


@pytest.mark.parametrize("case", ["fro", "vector", "axis"])
def test_complex_two_norms_have_real_tangents_and_the_conjugate_gradient(case):
    z = SQUARE[3] + 1j * SQUARE[4]
    f = {"fro": np.linalg.norm, "vector": lambda m: np.linalg.norm(m[0]),
         "axis": lambda m: np.linalg.norm(m, axis=1)}[case]
    t = RNG.normal(size=z.shape) + 1j * RNG.normal(size=z.shape)
    tangent = ad.jvp(f, (z,), (t,))[1]
    assert not np.iscomplexobj(tangent)
    np.testing.assert_allclose(tangent, _fd(f, z, t), rtol=1e-7)
    if case == "fro":   # JAX's convention: grad of a real function of z is df/dx - i df/dy = conj(z) / |z|
        np.testing.assert_allclose(ad.grad(f)(z), np.conjugate(z) / np.linalg.norm(z), rtol=1e-13)


def test_complex_holomorphic_rules_match_finite_differences_and_transpose():
    z = SQUARE[5] + 2 * np.eye(3) + 1j * SQUARE[6]
    t = RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3))
    b = RNG.normal(size=3) + 1j * RNG.normal(size=3)
    import scipy.linalg

    from autodiff.rules.linalg import expm, solve_triangular

    cases = [(np.linalg.det, np.linalg.det), (np.linalg.inv, np.linalg.inv),
             (lambda m: np.linalg.solve(m, b), lambda m: np.linalg.solve(m, b)),
             (lambda m: solve_triangular(m, b, lower=True, trans="T"),
              lambda m: scipy.linalg.solve_triangular(m, b, lower=True, trans="T")),
             (lambda m: expm(m * 0.3), lambda m: scipy.linalg.expm(m * 0.3)),
             (lambda m: np.linalg.matrix_power(m, 5), lambda m: np.linalg.matrix_power(m, 5)),
             (lambda m: np.linalg.multi_dot([m, m.T, m, b]), lambda m: np.linalg.multi_dot([m, m.T, m, b]))]
    for f, f_np in cases:
        _, tangent = ad.jvp(f, (z,), (t,))
        np.testing.assert_allclose(tangent, _fd(f_np, z, t), rtol=1e-6, atol=1e-8)
        u = RNG.normal(size=np.shape(tangent)) + 1j * RNG.normal(size=np.shape(tangent))
        # the VJP is the transpose for Re(sum(a * b)) (docs/complex.md)
        np.testing.assert_allclose(np.real(np.sum(ad.vjp(f, z)[1](u)[0] * t)), np.real(np.sum(u * tangent)),
                                   rtol=1e-10)


# ---- det and slogdet of singular matrices ---------------------------------------------------------------


def _cofactors(a):
    n = a.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])   # rank 2, det exactly 0


def test_det_of_a_singular_matrix_has_the_cofactor_matrix_as_gradient():
    assert np.linalg.det(SINGULAR) == 0.0
    want = _cofactors(SINGULAR)            # [[4, 4, -4], [-2, -2, 2], [0, 0, 0]], as JAX gives
    np.testing.assert_allclose(ad.grad(np.linalg.det)(SINGULAR), want, atol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(np.linalg.det)(SINGULAR), want, atol=1e-14)
    t = RNG.normal(size=(3, 3))
    np.testing.assert_allclose(ad.jvp(np.linalg.det, (SINGULAR,), (t,))[1], np.sum(want * t), atol=1e-13)


def test_det_gradient_is_zero_below_rank_n_minus_1_and_exact_on_stacks():
    stack = np.stack([SINGULAR, np.zeros((3, 3)), np.ones((3, 3)), SQUARE[7]])
    g = ad.grad(lambda m: np.sum(np.linalg.det(m)))(stack)
    for a, got in zip(stack, g):
        np.testing.assert_allclose(got, _cofactors(a), atol=1e-13)


def test_second_derivative_of_det_at_a_singular_matrix_says_it_is_not_implemented():
    with pytest.raises(NotImplementedError, match="singular"):
        ad.hessian(np.linalg.det)(SINGULAR)


def test_slogdet_of_a_singular_matrix_has_a_non_finite_derivative_without_error_or_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sign, logabs = ad.jvp(lambda m: tuple(np.linalg.slogdet(m)), (SINGULAR,), (np.eye(3),))[0]
        g = ad.grad(lambda m: np.linalg.slogdet(m)[1])(SINGULAR)
        tangent = ad.jvp(lambda m: np.linalg.slogdet(m)[1], (SINGULAR,), (np.eye(3),))[1]
    assert sign == 0.0 and logabs == -np.inf
    # log|det| = -inf there: the gradient C / det is ±inf with the cofactor's sign where a cofactor is
    # nonzero, and non-finite where it is zero (inf or nan, as rounding gives; JAX: inf and nan too).
    cof = _cofactors(SINGULAR)
    assert np.all(np.isinf(g[cof != 0])) and np.all(np.sign(g[cof != 0]) == np.sign(cof[cof != 0]))
    assert not np.any(np.isfinite(g))
    assert not np.isfinite(tangent)


# ---- no NumPy RuntimeWarning from the rules ---------------------------------------------------------------


def test_eigh_at_exact_degeneracy_warns_nothing_and_eigenvalue_derivatives_are_exact():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in (ad.jacfwd, ad.jacrev):
            jac = mode(lambda m: np.linalg.eigh(m)[0])(np.eye(3))
            assert np.all(np.isfinite(jac))
        vec_jac = ad.jacfwd(lambda m: np.linalg.eigh(m)[1])(np.eye(3))
        ad.jacrev(lambda m: np.linalg.svd(m)[0])(np.eye(3))
    assert not np.all(np.isfinite(vec_jac))   # eigenvectors of a repeated eigenvalue: no derivative


def test_valid_input_warns_nothing():
    a = SQUARE[8] + 2.5 * np.eye(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (lambda m: np.linalg.eigh(m + m.T)[1], lambda m: np.linalg.svd(m)[2],
                  lambda m: np.linalg.eig(m)[1], np.linalg.det, lambda m: np.linalg.slogdet(m)[1],
                  np.linalg.cond, lambda m: np.linalg.qr(m)[0]):
            ad.jacfwd(f)(a)
            ad.jacrev(f)(a)


def test_tensorsolve_tensorinv_and_diagonal_differentiate_in_both_modes():
    from autodiff.testing import check_grads

    b = RNG.normal(size=(3, 3))
    check_grads(lambda t, v: np.linalg.tensorsolve(t, v, (0, 2)), (T4, b), order=1)
    check_grads(np.linalg.tensorinv, (T4,), order=1)
    check_grads(lambda m: np.linalg.diagonal(m, offset=-1), (b,), order=1)
