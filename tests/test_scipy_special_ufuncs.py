"""scipy.special's ufuncs called as they are on traced values: values, derivatives, and the arguments
without a derivative (orders, shape parameters), which must raise rather than give zero.

The registry property tests (tests/test_registry_properties.py) check every rule on its test domain,
where orders and shape parameters are small integers; here they are non-integer too.
"""

import numpy as np
import pytest
import scipy.special as sc

import autodiff as ad
from autodiff.testing import check_grads

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.scipy.special as jsc  # noqa: E402

X = np.array([0.35, 0.9, 1.7, 2.6])

# (ufunc, leading constant arguments, x values): one-variable functions at points of their domains.
UNARY = [
    (sc.gamma, (), np.array([-1.4, 0.35, 1.7, 3.2])),
    (sc.rgamma, (), np.array([-1.4, 0.35, 1.7, 3.2])),
    (sc.loggamma, (), X),
    (sc.j0, (), X * 2), (sc.j1, (), X * 2), (sc.y0, (), X * 2), (sc.y1, (), X * 2),
    (sc.i0, (), X - 1), (sc.i1, (), X - 1),
    (sc.erfcinv, (), np.array([0.1, 0.7, 1.2, 1.9])),
    (sc.erfcx, (), X - 1), (sc.ndtr, (), X - 1), (sc.log_ndtr, (), np.array([-8.0, -2.0, 0.4, 3.0])),
    (sc.ndtri, (), np.array([0.05, 0.3, 0.6, 0.97])), (sc.entr, (), X),
    (sc.expm1, (), X - 1), (sc.log1p, (), X - 0.3),
    (sc.expi, (), X - 1.2), (sc.exp1, (), X), (sc.expn, (0,), X), (sc.expn, (3,), X), (sc.erfi, (), X - 1),
    (sc.dawsn, (), X - 1), (sc.spence, (), X + 0.2),
    (sc.jve, (1.3,), X * 2), (sc.yve, (0.6,), X * 2),
    # parameters that are constants: non-integer orders and shapes
    (sc.jv, (1.3,), X * 2), (sc.jn, (2,), X * 2), (sc.yv, (0.6,), X * 2), (sc.yn, (1,), X * 2),
    (sc.iv, (1.5,), X), (sc.ive, (0.7,), X), (sc.kv, (1.2,), X), (sc.kve, (1.2,), X),
    (sc.k0, (), X), (sc.k1, (), X), (sc.k0e, (), X), (sc.k1e, (), X),
    (sc.gammainc, (1.7,), X), (sc.gammaincc, (2.4,), X),
    (sc.betainc, (1.6, 2.3), X / 3), (sc.stdtr, (3.5,), X - 1),
]

BINARY = [
    (sc.beta, np.array([0.6, 1.4, 2.2, 3.0]), X + 0.1),
    (sc.betaln, np.array([0.6, 1.4, 2.2, 3.0]), X + 0.1),
    (sc.rel_entr, X, X[::-1]), (sc.kl_div, X, X[::-1]), (sc.poch, X + 0.2, X - 1.5),
    (sc.huber, np.array([0.5, 1.0, 1.5, 2.0]), np.array([-1.2, 0.4, 2.5, -0.7])),
]


def _id(case):
    return case[0].__name__


@pytest.mark.parametrize("case", UNARY, ids=_id)
def test_traced_values_equal_scipy_and_derivatives_check(case):
    fn, params, x = case
    out, t = ad.jvp(lambda x: fn(*params, x), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(out, fn(*params, x))
    assert np.all(np.isfinite(t))
    check_grads(lambda x: fn(*params, x), (x,), order=2)


@pytest.mark.parametrize("case", BINARY, ids=_id)
def test_two_argument_functions_differentiate_in_both(case):
    fn, a, b = case
    np.testing.assert_array_equal(ad.jvp(fn, (a, b), (a, b))[0], fn(a, b))
    check_grads(fn, (a, b), order=2)


def test_known_derivatives():
    x = X
    np.testing.assert_allclose(ad.jacfwd(lambda x: sc.gamma(x))(x), np.diag(sc.gamma(x) * sc.digamma(x)),
                               rtol=1e-13)
    # d/dx J_v(x) = (J_{v-1} - J_{v+1}) / 2, and J_0' = -J_1
    np.testing.assert_allclose(ad.grad(lambda x: sc.j0(x).sum())(x), -sc.j1(x), rtol=1e-13)
    np.testing.assert_allclose(ad.grad(lambda x: sc.jv(2.5, x).sum())(x), sc.jvp(2.5, x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x: sc.kv(1.2, x).sum())(x), sc.kvp(1.2, x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x: sc.kve(1.2, x).sum())(x),
                               np.exp(x) * (sc.kv(1.2, x) + sc.kvp(1.2, x)), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x: sc.k1e(x).sum())(x), np.exp(x) * (sc.k1(x) + sc.kvp(1, x)),
                               rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x: sc.yv(0.6, x).sum())(x), sc.yvp(0.6, x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x: sc.iv(1.5, x).sum())(x), sc.ivp(1.5, x), rtol=1e-12)
    # second derivative of J_v satisfies Bessel's equation x² y'' + x y' + (x² - v²) y = 0
    v = 1.3
    d1 = ad.grad(lambda x: sc.jv(v, x).sum())
    d2 = ad.jacfwd(d1)(x).diagonal()
    resid = x ** 2 * d2 + x * d1(x) + (x ** 2 - v ** 2) * sc.jv(v, x)
    np.testing.assert_allclose(resid, 0.0, atol=1e-12)
    # the incomplete gamma function's x-derivative is the gamma density
    np.testing.assert_allclose(ad.grad(lambda x: sc.gammainc(2.5, x).sum())(x),
                               x ** 1.5 * np.exp(-x) / sc.gamma(2.5), rtol=1e-13)


@pytest.mark.parametrize("fn, index, name", [
    (lambda v, x: sc.jv(v, x), 0, "v"), (lambda v, x: sc.iv(v, x), 0, "v"),
    (lambda v, x: sc.kv(v, x), 0, "v"), (lambda v, x: sc.ive(v, x), 0, "v"),
    (lambda v, x: sc.yv(v, x), 0, "v"), (lambda v, x: sc.kve(v, x), 0, "v"),
])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_parameters_without_a_derivative_raise_naming_the_argument(fn, index, name, mode):
    args = (1.5, 0.8)
    diff = ad.jacfwd if mode == "forward" else ad.jacrev
    with pytest.raises(NotImplementedError, match=f"argument '{name}'"):
        diff(fn, argnums=index)(*args)
    # the variable alone is fine
    assert np.isfinite(diff(fn, argnums=1)(*args))


def test_yn_integer_order_is_not_differentiable_but_x_is():
    with pytest.raises(TypeError):      # integers are not differentiable (SPEC §2)
        ad.grad(lambda n: sc.yn(n, 1.5))(2)
    np.testing.assert_allclose(ad.grad(lambda x: sc.yn(2, x))(1.5), sc.yvp(2, 1.5), rtol=1e-12)


def test_complex_input_raises_at_the_call_in_both_modes():
    z = np.array([0.5 + 0.2j, 1.0 - 0.3j])
    for fn in (sc.gamma, sc.loggamma, sc.ndtr, sc.erfcx):
        with pytest.raises(NotImplementedError, match="real input"):
            ad.jvp(fn, (z,), (np.ones_like(z),))
        with pytest.raises(NotImplementedError, match="real input"):
            ad.vjp(fn, z)           # raised while recording, not later in the backward pass


def test_float32_stays_float32_with_integer_orders():
    x = np.array([0.5, 1.5], dtype=np.float32)
    g = ad.grad(lambda x: sc.jv(2, x).sum())(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, sc.jvp(2, x.astype(float)), rtol=1e-5)


def test_gammasgn_is_piecewise_constant():
    x = np.array([-1.5, -0.5, 0.7])
    out, t = ad.jvp(sc.gammasgn, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(out, sc.gammasgn(x))
    np.testing.assert_array_equal(t, 0.0)


def test_huber_derivative_on_both_pieces():
    delta, r = np.array([1.0, 1.0]), np.array([0.4, -2.5])
    gd, gr = ad.grad(lambda d, r: sc.huber(d, r).sum(), argnums=(0, 1))(delta, r)
    np.testing.assert_allclose(gr, [0.4, -1.0])
    np.testing.assert_allclose(gd, [0.0, 1.5])


def test_log_ndtr_derivative_is_finite_far_in_the_tail():
    g = ad.grad(lambda x: sc.log_ndtr(x))(-30.0)
    np.testing.assert_allclose(g, 30.0338, rtol=1e-4)   # φ/Φ ≈ -x - 1/x for large -x


# ---- the incomplete gamma function in its shape parameter (first order, by quadrature) ---------------

A_X = [(0.3, 0.1), (1.7, 0.9), (2.5, 4.0), (4.2, 4.2), (10.0, 30.0), (0.5, 20.0), (50.0, 55.0), (3.0, 1e-3)]


def test_gammainc_derivative_in_a_matches_mpmath_in_both_tails():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    for a, x in A_X:
        want = float(mpmath.diff(lambda s, x=x: mpmath.gammainc(s, 0, x, regularized=True), a))
        np.testing.assert_allclose(ad.grad(lambda a, x=x: sc.gammainc(a, x))(a), want, rtol=1e-12)
        np.testing.assert_allclose(ad.jvp(lambda a, x=x: sc.gammaincc(a, x), (a,), (1.0,))[1], -want,
                                   rtol=1e-12)


def test_gammainc_derivative_in_a_checks_and_its_mixed_second_derivative_too():
    a, x = np.array([0.7, 1.5, 3.2]), np.array([0.4, 2.0, 5.0])
    check_grads(lambda a, x: sc.gammainc(a, x), (a, x), order=1)
    check_grads(lambda a, x: sc.gammaincc(a, x), (a, x), order=1)
    # d/dx of d/da: the x-derivative of the quadrature is exact, so the mixed partials agree
    check_grads(lambda x: ad.grad(lambda a: sc.gammainc(a, x).sum())(a), (x,), order=1)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_second_derivatives_in_shape_parameters_raise(mode):
    outer = ad.jacfwd if mode == "forward" else ad.jacrev
    with pytest.raises(NotImplementedError, match="argument 'a' .only the first derivative"):
        outer(ad.grad(lambda a: sc.gammainc(a, 1.5)))(2.0)
    with pytest.raises(NotImplementedError, match="argument 'b' .only the first derivative"):
        outer(ad.grad(lambda b: sc.betainc(1.2, b, 0.3)))(2.0)
    with pytest.raises(NotImplementedError, match="only the first derivative"):
        outer(ad.grad(lambda df: sc.stdtr(df, 0.3)))(2.0)


def test_betainc_and_stdtr_derivatives_in_the_shapes_match_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 3.0, 0.1), (2.0, 3.0, 0.7), (10.0, 2.0, 0.95), (1.5, 40.0, 0.02),
                    (30.0, 30.0, 0.5), (5.0, 0.7, 0.999)]:
        ga, gb = ad.grad(lambda a, b, x=x: sc.betainc(a, b, x), argnums=(0, 1))(a, b)
        want_a = float(mpmath.diff(lambda s, b=b, x=x: mpmath.betainc(s, b, 0, x, regularized=True), a))
        want_b = float(mpmath.diff(lambda s, a=a, x=x: mpmath.betainc(a, s, 0, x, regularized=True), b))
        np.testing.assert_allclose([ga, gb], [want_a, want_b], rtol=1e-12)

    def t_cdf(d, t):
        w = d / (d + t * t)
        half = mpmath.betainc(d / 2, 0.5, 0, w, regularized=True) / 2
        return 1 - half if t > 0 else half

    for df, t in [(3.5, 0.7), (1.2, -2.0), (8.0, 0.1), (2.0, 5.0)]:
        want = float(mpmath.diff(lambda d, t=t: t_cdf(d, t), df))
        np.testing.assert_allclose(ad.grad(lambda d, t=t: sc.stdtr(d, t))(df), want, rtol=1e-12)


def test_betainc_and_stdtr_first_derivatives_check():
    a, b, x = np.array([0.7, 1.5, 3.2]), np.array([2.0, 0.6, 1.3]), np.array([0.2, 0.5, 0.9])
    check_grads(lambda a, b, x: sc.betainc(a, b, x), (a, b, x), order=1)
    check_grads(lambda d, t: sc.stdtr(d, t), (np.array([1.5, 3.0, 7.0]), np.array([-1.0, 0.4, 2.0])), order=1)
    check_grads(lambda x: ad.grad(lambda a: sc.betainc(a, b, x).sum())(a), (x,), order=1)


# ---- multigammaln -----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 4])
def test_multigammaln_values_and_derivatives(d):
    a = np.array([2.3, 3.1, 5.0])
    np.testing.assert_allclose(ad.scipy.special.multigammaln(a, d), sc.multigammaln(a, d), rtol=1e-14)
    want = sum(sc.digamma(a - 0.5 * j) for j in range(d))
    np.testing.assert_allclose(ad.grad(lambda a: ad.scipy.special.multigammaln(a, d).sum())(a), want,
                               rtol=1e-13)
    check_grads(lambda a: ad.scipy.special.multigammaln(a, d), (a,), order=2)
    with pytest.raises(ValueError, match="condition a"):
        ad.scipy.special.multigammaln(np.array([1.0]), 4)
    with pytest.raises(ValueError, match="positive integer"):
        ad.scipy.special.multigammaln(3.0, 1.5)


# ---- against JAX ----------------------------------------------------------------------------------

JAX_UNARY = [
    (sc.gamma, jsc.gamma, (), np.array([0.35, 1.7, 3.2])),
    (sc.loggamma, jsc.loggamma, (), X),
    (sc.i0, jsc.i0, (), X - 1), (sc.i1, jsc.i1, (), X - 1),
    (sc.erfcx, jsc.erfcx, (), X - 1), (sc.ndtr, jsc.ndtr, (), X - 1),
    (sc.log_ndtr, jsc.log_ndtr, (), np.array([-8.0, -2.0, 0.4, 3.0])),
    (sc.ndtri, jsc.ndtri, (), np.array([0.05, 0.3, 0.6, 0.97])), (sc.entr, jsc.entr, (), X),
    (sc.gammainc, jsc.gammainc, (1.7,), X), (sc.gammaincc, jsc.gammaincc, (2.4,), X),
    (sc.betainc, jsc.betainc, (1.6, 2.3), X / 3),
]


@pytest.mark.parametrize("case", JAX_UNARY, ids=_id)
def test_gradients_match_jax(case):
    fn, jfn, params, x = case
    ours = ad.grad(lambda x: fn(*params, x).sum())(x)
    theirs = np.asarray(jax.grad(lambda x: jfn(*params, x).sum())(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_gammainc_gradient_in_a_matches_jax():
    a, x = np.array([0.7, 1.5, 3.2]), np.array([0.4, 2.0, 5.0])
    for fn, jfn in ((sc.gammainc, jsc.gammainc), (sc.gammaincc, jsc.gammaincc)):
        ours = ad.grad(lambda a, fn=fn: fn(a, x).sum())(a)
        theirs = jax.grad(lambda a, jfn=jfn: jfn(a, x).sum())(a)
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-10)


def test_two_argument_gradients_match_jax():
    a, b = np.array([0.6, 1.4, 2.2]), np.array([1.1, 0.5, 2.9])
    for fn, jfn in ((sc.beta, jsc.beta), (sc.betaln, jsc.betaln), (sc.rel_entr, jsc.rel_entr),
                    (sc.kl_div, jsc.kl_div)):
        ours = ad.grad(lambda a, b, fn=fn: fn(a, b).sum(), argnums=(0, 1))(a, b)
        theirs = jax.grad(lambda a, b, jfn=jfn: jfn(a, b).sum(), argnums=(0, 1))(a, b)
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o, np.asarray(t), rtol=1e-9)
    ours = ad.grad(lambda a: ad.scipy.special.multigammaln(a, 3).sum())(a + 2)
    theirs = jax.grad(lambda a: jsc.multigammaln(a, 3).sum())(a + 2)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-10)
