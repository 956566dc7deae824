"""Edge cases of the shape, product, linear-algebra and FFT rules, against closed forms.

The registry-driven suite checks every primitive on its sampled domain; this file pins down the places a
sampled domain avoids: norm at 0, near-degenerate eigenvalues, the vector/matrix right-hand side of solve
under batched Jacobians, repeated indices, the cheap path of slicing, and the complex convention.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules import linalg, shape

RNG = np.random.default_rng(20261127)


def _matrix(n=3, rng=RNG):
    return rng.uniform(-1, 1, (n, n)) + 2.5 * np.eye(n)


# ---- norm at 0: a finite subgradient, 0 ------------------------------------------------------------


@pytest.mark.parametrize("mode", [ad.jacfwd, ad.jacrev])
def test_norm_at_zero_has_the_zero_subgradient(mode):
    for x, kwargs in [(np.zeros(3), {}), (np.zeros((2, 3)), {}), (np.zeros((2, 3)), {"ord": "fro"}),
                      (np.zeros(4), {"ord": 2})]:
        jac = mode(lambda v, kw=kwargs: np.linalg.norm(v, **kw))(x)
        np.testing.assert_array_equal(jac, np.zeros_like(x))


def test_norm_of_a_zero_row_among_others_is_zero_there_and_exact_elsewhere():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    jac = ad.jacrev(lambda v: np.linalg.norm(v, axis=1))(x)
    expected = np.zeros((2, 2, 2))
    expected[1, 1] = [0.6, 0.8]
    np.testing.assert_allclose(jac, expected, rtol=1e-15)
    np.testing.assert_allclose(ad.jacfwd(lambda v: np.linalg.norm(v, axis=1))(x), expected, rtol=1e-15)


def test_grad_of_norm_away_from_zero_is_the_unit_vector():
    x = np.array([3.0, -4.0, 12.0])
    np.testing.assert_allclose(ad.grad(np.linalg.norm)(x), x / 13.0, rtol=1e-15)


# ---- eigh near degenerate eigenvalues: documented limitation ---------------------------------------


def _with_gap(gap):
    q = linalg._orthogonal(np.random.default_rng(3), (3, 3))
    return (q * np.array([1.0, 1.0 + gap, 3.0])) @ q.T


def test_eigh_limitation_is_documented():
    doc = linalg.__doc__
    assert "Near-degenerate" in doc and "1/(w_j - w_i)" in doc


def test_eigenvector_derivatives_grow_like_one_over_the_gap():
    sizes = []
    for gap in (1e-2, 1e-4):
        jac = ad.jacfwd(lambda a: np.linalg.eigh(a)[1])(_with_gap(gap))
        sizes.append(np.max(np.abs(jac)))
    # Two orders of magnitude smaller gap -> about two orders of magnitude larger derivative.
    assert 30 < sizes[1] / sizes[0] < 300


def test_eigenvalue_derivatives_stay_finite_at_near_and_exact_degeneracy():
    for a in (_with_gap(1e-10), np.eye(3)):
        jac = ad.jacrev(lambda m: np.linalg.eigh(m)[0])(a)
        assert np.all(np.isfinite(jac))
        # sum of eigenvalues = trace of the (lower-triangle) symmetric matrix: gradient I, at any gap.
        np.testing.assert_allclose(jac.sum(axis=0), np.eye(3), atol=1e-6)


def test_eigh_reads_only_the_lower_triangle():
    a = _with_gap(0.5)
    jac = ad.jacrev(lambda m: np.linalg.eigh(m)[0])(a)
    assert np.all(jac[:, np.triu_indices(3, 1)[0], np.triu_indices(3, 1)[1]] == 0)


# ---- solve: vector and matrix right-hand sides under jacfwd and jacrev ------------------------------


@pytest.mark.parametrize("mode", [ad.jacfwd, ad.jacrev])
def test_solve_vector_rhs_jacobians(mode):
    a, b = _matrix(), RNG.normal(size=3)
    inv, x = np.linalg.inv(a), np.linalg.solve(a, b)
    np.testing.assert_allclose(mode(lambda v: np.linalg.solve(a, v))(b), inv, rtol=1e-12)
    # d x_i / d a_pq = -inv[i, p] x[q]
    np.testing.assert_allclose(mode(lambda m: np.linalg.solve(m, b))(a), -np.einsum("ip,q->ipq", inv, x),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", [ad.jacfwd, ad.jacrev])
def test_solve_matrix_rhs_jacobians(mode):
    a, b = _matrix(), RNG.normal(size=(3, 3))   # k == n: a batch axis could pass for a stack axis
    inv, x = np.linalg.inv(a), np.linalg.solve(a, b)
    eye = np.eye(3)
    np.testing.assert_allclose(mode(lambda v: np.linalg.solve(a, v))(b), np.einsum("ip,jq->ijpq", inv, eye),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mode(lambda m: np.linalg.solve(m, b))(a), -np.einsum("ip,qj->ijpq", inv, x),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", [ad.jacfwd, ad.jacrev])
def test_solve_stack_of_matrices_with_one_vector(mode):
    a = np.stack([_matrix(), _matrix(), _matrix()])   # stack size == n == batch size of the Jacobian
    b = RNG.normal(size=3)
    jac = mode(lambda v: np.linalg.solve(a, v))(b)
    np.testing.assert_allclose(jac, np.linalg.inv(a), rtol=1e-12)


def test_solve_triangular_vector_rhs_matches_inverse():
    a = np.tril(_matrix())
    b = RNG.normal(size=3)
    for mode in (ad.jacfwd, ad.jacrev):
        jac = mode(lambda v: linalg.solve_triangular(a, v, lower=True))(b)
        np.testing.assert_allclose(jac, np.linalg.inv(a), rtol=1e-12, atol=1e-15)


# ---- indexing: repeated indices accumulate; slicing stays cheap ------------------------------------


def test_repeated_indices_accumulate_in_the_vjp():
    x = np.arange(4.0)
    np.testing.assert_array_equal(ad.grad(lambda v: np.sum(v[[0, 0, 2, 0]]))(x), [3.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(ad.grad(lambda v: np.sum(v[np.array([[1, 1], [3, 1]])] * 2))(x),
                                  [0.0, 6.0, 0.0, 2.0])


def test_index_add_with_repeated_indices_accumulates_values_and_gradients():
    x, v = np.zeros(3), np.array([1.0, 2.0, 4.0])
    out = ad.index_add(x, [1, 1, 2], v)
    np.testing.assert_array_equal(out, [0.0, 3.0, 4.0])
    g = ad.grad(lambda w: np.sum(ad.index_add(x, [1, 1, 2], w) * np.array([1.0, 10.0, 100.0])))(v)
    np.testing.assert_array_equal(g, [10.0, 10.0, 100.0])


def test_slicing_vjp_does_not_scatter_add(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a basic (slice) index went through index_add / np.add.at")

    monkeypatch.setattr(shape.index_add, "impl", refuse)
    x = np.random.default_rng(0).normal(size=50)
    g = ad.grad(lambda v: np.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2))(x)
    expected = np.zeros_like(x)
    d = x[1:] - x[:-1] ** 2
    expected[1:] += 200.0 * d
    expected[:-1] += -400.0 * d * x[:-1] - 2.0 * (1.0 - x[:-1])
    np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_advanced_indices_separated_by_a_slice_under_batched_jacobians():
    x = RNG.normal(size=(3, 3, 3))   # every axis the size of the batch: placement traps would not raise
    f = lambda v: v[[0, 2], :, [1, 1]] ** 2  # noqa: E731  (NumPy puts the advanced axis first)
    expected = np.zeros((2, 3) + x.shape)
    for i, (p, q) in enumerate([(0, 1), (2, 1)]):
        for j in range(3):
            expected[i, j, p, j, q] = 2 * x[p, j, q]
    np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=1e-15)
    np.testing.assert_allclose(ad.jacrev(f)(x), expected, rtol=1e-15)


# ---- the complex convention (docs/complex.md) -------------------------------------------------------


def test_grad_through_complex_intermediates_is_real_parseval():
    x = RNG.normal(size=8)
    f = lambda v: np.sum(np.real(np.fft.fft(v) * np.conjugate(np.fft.fft(v))))  # noqa: E731  = 8 |v|^2
    g = ad.grad(f)(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 16.0 * x, rtol=1e-12)


def test_real_input_times_complex_constant_gets_a_real_cotangent():
    x = RNG.normal(size=3)
    g = ad.grad(lambda v: np.sum(np.imag(v * (2.0 + 3.0j))))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.full(3, 3.0), rtol=1e-15)


def test_grad_with_respect_to_a_complex_input_is_the_conjugate_gradient():
    z = np.array([3.0 + 4.0j, -1.0 + 0.5j])
    g = ad.grad(lambda w: np.sum(np.real(w * np.conjugate(w))))(z)   # |z|^2: df = 2 Re(conj(z) dz)
    np.testing.assert_allclose(g, 2.0 * np.conjugate(z), rtol=1e-15)


def test_vjp_of_fft_is_its_transpose_not_its_adjoint():
    z = RNG.normal(size=4) + 1j * RNG.normal(size=4)
    u = RNG.normal(size=4) + 1j * RNG.normal(size=4)
    _, pull = ad.vjp(np.fft.fft, z)
    dft = np.fft.fft(np.eye(4))
    np.testing.assert_allclose(pull(u)[0], dft.T @ u, rtol=1e-12)


def test_jvp_of_a_complex_function_is_its_complex_derivative():
    z, t = np.array([1.0 + 2.0j]), np.array([0.5 - 1.0j])
    _, tangent = ad.jvp(lambda w: np.fft.ifft(w * w), (z,), (t,))
    np.testing.assert_allclose(tangent, 2 * z * t, rtol=1e-15)


def test_irfft_vjp_weights_each_conjugate_pair_twice():
    n = 6
    a = RNG.normal(size=4) + 1j * RNG.normal(size=4)
    _, pull = ad.vjp(lambda w: np.fft.irfft(w, n=n), a)
    g = RNG.normal(size=n)
    # irfft as a real-linear map: its transpose under Re(sum(a * b)), column by column.
    basis = [np.eye(4)[k] * s for k in range(4) for s in (1.0, 1.0j)]
    expected = [np.dot(g, np.fft.irfft(e, n=n)) for e in basis]
    got = pull(g)[0]
    np.testing.assert_allclose([np.real(got[k] * s) for k in range(4) for s in (1.0, 1.0j)], expected,
                               atol=1e-14)


# ---- FFTs of real inputs: real cotangents, Hermitian bins weighted right -----------------------------


def _real_linear_map_matrix(f, n_in):
    """The real matrix of a real-to-something linear map: columns f(e_k), complex outputs split into
    real and imaginary parts."""
    cols = [np.atleast_1d(f(e)) for e in np.eye(n_in)]
    return np.stack([np.concatenate([np.real(c), np.imag(c)]) if np.iscomplexobj(c) else c for c in cols], -1)


@pytest.mark.parametrize("n", [None, 7, 8, 3])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_irfft_of_a_real_input_has_a_real_gradient_and_the_exact_jacobian(n, norm):
    x = RNG.normal(size=5)
    f = lambda v: np.fft.irfft(v, n=n, norm=norm)  # noqa: E731
    g = ad.grad(lambda v: np.sum(f(v) * np.arange(1.0, 1.0 + f(x).size)))(x)
    assert g.dtype == np.float64
    want = _real_linear_map_matrix(f, 5)
    np.testing.assert_allclose(ad.jacrev(f)(x), want, atol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(f)(x), want, atol=1e-14)
    np.testing.assert_allclose(g, np.arange(1.0, 1.0 + f(x).size) @ want, atol=1e-13)


FFTS = {"fft": np.fft.fft, "ifft": np.fft.ifft, "rfft": np.fft.rfft, "irfft": np.fft.irfft,
        "hfft": np.fft.hfft, "ihfft": np.fft.ihfft}


@pytest.mark.parametrize("name", FFTS)
@pytest.mark.parametrize("n", [None, 6, 9])
def test_every_fft_of_a_real_input_pulls_back_a_real_cotangent_equal_to_the_transpose(name, n):
    x = RNG.normal(size=5)
    f = lambda v: FFTS[name](v, n=n)  # noqa: E731
    y, pull = ad.vjp(f, x)
    np.testing.assert_array_equal(y, f(x))
    u = RNG.normal(size=y.shape) + (1j * RNG.normal(size=y.shape) if np.iscomplexobj(y) else 0)
    c = pull(u)[0]
    assert c.dtype == np.float64
    # <u, J e_k> = Re(sum(u * f(e_k))) for the bilinear pairing of docs/complex.md.
    want = [np.real(np.sum(u * f(e))) for e in np.eye(5)]
    np.testing.assert_allclose(c, want, atol=1e-13)


@pytest.mark.parametrize("name", ["hfft", "ihfft", "irfft", "rfft"])
def test_ffts_of_real_and_complex_inputs_match_jax_vjp(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    inputs = [RNG.normal(size=6)]
    if name in ("hfft", "irfft"):
        inputs.append(RNG.normal(size=6) + 1j * RNG.normal(size=6))
    for x in inputs:
        for n in (None, 7, 10):
            y, pull = ad.vjp(lambda v, n=n: getattr(np.fft, name)(v, n=n), x)
            yj, pull_j = jax.vjp(lambda v, n=n: getattr(jnp.fft, name)(v, n=n), x)
            np.testing.assert_allclose(y, yj, atol=1e-12)
            u = RNG.normal(size=y.shape) + (1j * RNG.normal(size=y.shape) if np.iscomplexobj(y) else 0)
            np.testing.assert_allclose(pull(u)[0], pull_j(u)[0], atol=1e-12)


# ---- adapters take NumPy's signatures, positional and keyword ---------------------------------------


def _positional_and_keyword_calls():
    a = _matrix()
    x = RNG.normal(size=(2, 5))
    return [
        (lambda m: np.fft.rfft(m, 6, 0, "ortho"), lambda m: np.fft.rfft(m, n=6, axis=0, norm="ortho"), x),
        (lambda m: np.fft.irfft(m, 7, -1, "forward"),
         lambda m: np.fft.irfft(m, n=7, axis=-1, norm="forward"), x),
        (lambda m: np.fft.hfft(m, 6, 1, None), lambda m: np.fft.hfft(m, n=6, axis=1, norm=None), x),
        (lambda m: np.fft.ihfft(m, 4, 0, "backward"),
         lambda m: np.fft.ihfft(m, n=4, axis=0, norm="backward"), x),
        (lambda m: np.fft.fft(m, 3, 0), lambda m: np.fft.fft(m, n=3, axis=0), x),
        (lambda m: np.linalg.norm(m, 1, 1, True),
         lambda m: np.linalg.norm(m, ord=1, axis=1, keepdims=True), x),
        (lambda m: np.linalg.qr(m, "r"), lambda m: np.linalg.qr(m, mode="r"), a),
        (lambda m: np.linalg.svd(m, True, False, False),
         lambda m: np.linalg.svd(m, full_matrices=True, compute_uv=False, hermitian=False), a),
        (lambda m: np.linalg.eigh(m, "U")[1], lambda m: np.linalg.eigh(m, UPLO="U")[1], a),
        (lambda m: np.linalg.eigvalsh(m, "u"), lambda m: np.linalg.eigvalsh(m, UPLO="U"), a),
        (lambda m: np.linalg.pinv(m, 1e-10, False),
         lambda m: np.linalg.pinv(m, rcond=1e-10, hermitian=False), a),
        (lambda m: np.linalg.pinv(m, rtol=1e-3), lambda m: np.linalg.pinv(m, None, False, rtol=1e-3), a),
        (lambda m: np.linalg.cond(m, "nuc"), lambda m: np.linalg.cond(m, p="nuc"), a),
        (lambda m: np.linalg.matrix_power(m, 4), lambda m: np.linalg.matrix_power(m, n=4), a),
        (lambda m: np.linalg.lstsq(m, m[0], None)[0], lambda m: np.linalg.lstsq(m, m[0], rcond=None)[0], a),
        (lambda m: np.linalg.tensorinv(np.reshape(m[:2, :2], (2, 2)), 1),
         lambda m: np.linalg.tensorinv(np.reshape(m[:2, :2], (2, 2)), ind=1), a),
    ]


@pytest.mark.parametrize("case", range(len(_positional_and_keyword_calls())))
def test_adapters_accept_numpys_positional_and_keyword_arguments(case):
    positional, keyword, x = _positional_and_keyword_calls()[case]
    want = positional(x)
    np.testing.assert_array_equal(keyword(x), want)
    for f in (positional, keyword):
        value, _ = ad.jvp(f, (x,), (np.ones_like(x),))
        np.testing.assert_array_equal(value, want, strict=True)


def test_fft_out_argument_is_refused_under_tracing():
    with pytest.raises(TypeError, match="out="):
        ad.grad(lambda v: np.sum(np.fft.rfft(v, out=np.empty(3, complex)).real))(np.ones(4))
