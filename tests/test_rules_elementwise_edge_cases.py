"""Numerical edge cases of the elementwise, reduction and scipy.special rules, in both modes.

The registry-driven suite samples every primitive away from kinks, poles and ties; this file checks
what happens *at* them (the conventions of SPEC section 2), the safe ``where`` idiom, overflow in
log-space functions, products with zeros, dtype preservation, and the NumPy adapters that are
compositions of primitives (so the registry does not see them).
"""

import math
import warnings

import numpy as np
import pytest
import scipy.special as sc

import autodiff as ad
from autodiff.rules.special import log_softmax, logsumexp, polygamma, softmax
from autodiff.testing import check_grads


def both_grads(f, x):
    """The gradient of scalar f at x by reverse mode and by forward mode (jacfwd)."""
    return ad.grad(f)(x), ad.jacfwd(f)(x)


def fd_jacobian(f, x, h=1e-6):
    """Central differences, entry by entry (x small)."""
    x = np.asarray(x, dtype=float)
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        jac[(...,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


# ---- kinks: abs, sign-like functions, sqrt at 0 -----------------------------------------------------


@pytest.mark.parametrize("fn", [np.abs, np.fabs, lambda x: np.copysign(x, -2.0)],
                         ids=["abs", "fabs", "copysign"])
def test_abs_like_functions_have_derivative_zero_at_zero(fn):
    for g in both_grads(fn, 0.0):
        assert g == 0.0
    assert ad.hessian(fn)(0.0) == 0.0
    # away from the kink: ±1 (copysign by the sign of its second argument)
    assert ad.grad(fn)(0.5) == pytest.approx(np.sign(fn(1.0)))


def test_abs_at_zero_inside_a_vector_jacobian():
    x = np.array([-1.5, 0.0, 2.0])
    expected = np.diag([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(ad.jacfwd(np.abs)(x), expected)
    np.testing.assert_array_equal(ad.jacrev(np.abs)(x), expected)


def test_abs_of_complex_values_follows_the_real_pairing_convention():
    z = np.array([3 + 4j, 0j, -1 + 0.5j])
    # |z| is not holomorphic: its gradient is conj(z)/|z| (JAX's convention), 0 at z = 0
    g = ad.grad(lambda z: np.sum(np.abs(z)))(z)
    np.testing.assert_allclose(g, [0.6 - 0.8j, 0.0, (-1 - 0.5j) / abs(-1 + 0.5j)], rtol=1e-15)
    t = np.array([1j, 1.0, 1.0 + 1j])
    _, dout = ad.jvp(np.abs, (z,), (t,))
    assert np.isrealobj(dout)
    np.testing.assert_allclose(dout, np.real(np.conjugate(np.sign(z)) * t), rtol=1e-15)
    x = np.random.default_rng(3).normal(size=8)
    power = lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2)  # noqa: E731  (Parseval: 8 |x|^2)
    np.testing.assert_allclose(ad.grad(power)(x), 16 * x, rtol=1e-12)
    check_grads(lambda z: np.abs(z), (np.array([3 + 4j, -1 + 0.5j]),))


def test_var_std_and_power_of_complex_values():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))
    check_grads(lambda z: np.var(z, axis=1), (z,))                 # Σ |z - mean|² / N: real, not holomorphic
    check_grads(lambda z: np.std(z, axis=0, ddof=1), (z,))
    check_grads(lambda z: np.power(z, 2.5), (z,))                  # holomorphic: the complex derivative
    check_grads(lambda y: np.power(z[0], y), (np.array([0.5, 1.5, 2.0]),))   # d/dy = z^y log z


@pytest.mark.parametrize("fn", [np.sign, np.floor, np.ceil, np.trunc, np.rint, np.round, np.around, np.fix])
def test_zero_derivative_functions_are_declared_not_missing(fn):
    x = np.array([-1.3, 0.0, 0.4, 2.5])
    for jac in (ad.jacfwd(lambda x: fn(x) * x)(x), ad.jacrev(lambda x: fn(x) * x)(x)):
        np.testing.assert_array_equal(jac, np.diag(fn(x)))     # d(fn(x) x) = fn(x): fn is constant


def test_index_valued_functions_work_on_traced_values():
    def f(x):
        i = np.argmax(x)
        j = np.argmin(x)
        order = np.argsort(x)
        nz = np.nonzero(x > 0)[0]
        ok = np.isfinite(x) & ~np.isnan(x)
        return x[i] - x[j] + np.sum(x[order][-2:]) + np.sum(x[nz]) + np.sum(np.where(ok, x, 0.0))

    x = np.array([0.3, -1.0, 2.0, 0.5])
    g = ad.grad(f)(x)
    np.testing.assert_allclose(g, [1 + 1, -1 + 1, 1 + 1 + 1 + 1, 1 + 1 + 1])
    np.testing.assert_allclose(ad.jacfwd(f)(x), g)


def test_sqrt_at_zero_has_an_infinite_derivative_in_both_modes():
    with np.errstate(divide="ignore"):
        grads = both_grads(np.sqrt, 0.0)
    for g in grads:
        assert g == np.inf
    assert ad.grad(np.sqrt)(4.0) == 0.25


def test_sqrt_at_zero_with_the_safe_where_idiom_is_finite():
    def f(x):
        positive = x > 0
        return np.sum(np.where(positive, np.sqrt(np.where(positive, x, 1.0)), 0.0))

    x = np.array([0.0, 4.0])
    for g in both_grads(f, x):
        np.testing.assert_array_equal(g, [0.0, 0.25])
    np.testing.assert_array_equal(ad.hessian(f)(x), [[0.0, 0.0], [0.0, -1.0 / 32.0]])


# ---- where with a branch that is infinite where it is not selected ---------------------------------


def naive_log_or_zero(x):
    return np.sum(np.where(x > 0, np.log(x), 0.0))


def safe_log_or_zero(x):
    positive = x > 0
    return np.sum(np.where(positive, np.log(np.where(positive, x, 1.0)), 0.0))


def test_where_naive_branch_infinite_where_unselected_gives_nan():
    # Why the idiom exists: log'(0) = inf and the unselected branch's zero cotangent makes 0 * inf.
    x = np.array([0.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(ad.grad(naive_log_or_zero)(x)[0])


def test_where_safe_idiom_gives_no_nan_in_any_mode_or_order():
    x = np.array([0.0, -1.0, 2.0])
    expected = np.array([0.0, 0.0, 0.5])
    for g in both_grads(safe_log_or_zero, x):
        np.testing.assert_array_equal(g, expected)
    hess = ad.hessian(safe_log_or_zero)(x)
    np.testing.assert_array_equal(hess, np.diag([0.0, 0.0, -0.25]))
    np.testing.assert_array_equal(ad.jacrev(ad.grad(safe_log_or_zero))(x), hess)


def test_where_derivative_goes_only_to_the_selected_branch_with_broadcasting():
    c = np.array([[True, False, True]])
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([[4.0], [5.0]])
    gx, gy = ad.grad(lambda x, y: np.sum(np.where(c, x, y) ** 2), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, [2 * 2 * 1.0, 0.0, 2 * 2 * 3.0])
    np.testing.assert_allclose(gy, [[2 * 4.0], [2 * 5.0]])


# ---- maximum, max and friends with ties -------------------------------------------------------------


def test_max_with_ties_splits_the_derivative_evenly():
    x = np.array([1.0, 3.0, 3.0, -2.0])
    for g in both_grads(np.max, x):
        np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])
    x3 = np.array([3.0, 3.0, 3.0])
    np.testing.assert_allclose(ad.grad(np.max)(x3), [1 / 3] * 3)
    np.testing.assert_allclose(ad.grad(lambda x: np.maximum.reduce(x))(x3), [1 / 3] * 3)


def test_max_and_min_with_ties_along_an_axis():
    x = np.array([[1.0, 1.0, 0.0], [2.0, 5.0, 5.0]])
    want_max = np.array([[[0.5, 0.5, 0.0], [0, 0, 0]], [[0, 0, 0], [0.0, 0.5, 0.5]]])
    np.testing.assert_array_equal(ad.jacfwd(lambda x: np.max(x, axis=1))(x), want_max)
    np.testing.assert_array_equal(ad.jacrev(lambda x: np.amax(x, axis=-1))(x), want_max)
    y = np.array([[1.0, 1.0], [1.0, 4.0]])
    np.testing.assert_array_equal(ad.grad(np.min)(y), [[1 / 3, 1 / 3], [1 / 3, 0.0]])
    np.testing.assert_array_equal(ad.grad(lambda x: np.ptp(x))(y), [[-1 / 3, -1 / 3], [-1 / 3, 1.0]])


@pytest.mark.parametrize("fn", [np.maximum, np.minimum, np.fmax, np.fmin])
def test_maximum_minimum_split_at_ties(fn):
    gx, gy = ad.grad(lambda x, y: fn(x, y), argnums=(0, 1))(1.5, 1.5)
    assert (gx, gy) == (0.5, 0.5)
    assert ad.grad(lambda x: fn(x, x))(2.0) == 1.0


def test_fmax_ignores_nan_and_gives_the_other_argument_the_derivative():
    x = np.array([np.nan, 1.0])
    y = np.array([2.0, np.nan])
    gx, gy = ad.grad(lambda x, y: np.sum(np.fmax(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.0, 1.0])
    np.testing.assert_array_equal(gy, [1.0, 0.0])


def test_clip_derivative_is_one_inside_and_at_the_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(np.clip(x, -1.0, 1.0)))(x), [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(np.clip(x, None, 1.0)))(x), [1, 1, 1, 1, 0])
    glo = ad.grad(lambda lo: np.sum(np.clip(x, lo, 1.0)))(-1.5)
    assert glo == 1.0     # only x = -2 is clipped up to lo


# ---- log-space functions at |x| = 1000 --------------------------------------------------------------


def test_logsumexp_at_plus_and_minus_1000_is_finite_with_softmax_derivative():
    x = np.array([1000.0, -1000.0, 999.0])
    assert logsumexp(x) == pytest.approx(1000.0 + math.log1p(math.exp(-1.0)), rel=1e-15)
    w = np.array([1.0, 0.0, math.exp(-1.0)]) / (1.0 + math.exp(-1.0))
    for g in both_grads(logsumexp, x):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    hess = ad.hessian(logsumexp)(x)
    assert np.all(np.isfinite(hess))
    np.testing.assert_allclose(hess, np.diag(w) - np.outer(w, w), rtol=1e-13, atol=1e-300)
    xm = -np.full(3, 1000.0)
    assert logsumexp(xm) == pytest.approx(-1000.0 + math.log(3.0))
    np.testing.assert_allclose(ad.grad(logsumexp)(xm), [1 / 3] * 3)


def test_logsumexp_matches_scipy_with_axis_weights_and_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3)) * 500
    b = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(logsumexp(x, axis=1), sc.logsumexp(x, axis=1))
    np.testing.assert_allclose(logsumexp(x, axis=(0, 1), keepdims=True),
                               sc.logsumexp(x, axis=(0, 1), keepdims=True))
    got = logsumexp(x, axis=-1, b=b, return_sign=True)
    for part, want in zip(got, sc.logsumexp(x, axis=-1, b=b, return_sign=True)):
        np.testing.assert_allclose(part, want)
    y = rng.normal(size=(2, 3))
    check_grads(lambda x, b: logsumexp(x, axis=1, b=b), (y, np.abs(b) + 0.5))
    check_grads(lambda x: logsumexp(x, axis=1, b=b, return_sign=True)[0], (y,))


def test_softmax_and_log_softmax_at_1000_are_finite_in_both_modes():
    x = np.array([1000.0, -1000.0, 0.0])
    np.testing.assert_allclose(softmax(x), sc.softmax(x))
    np.testing.assert_allclose(log_softmax(x), sc.log_softmax(x))
    assert np.isfinite(log_softmax(x)).all()
    for f in (softmax, log_softmax):
        for jac in (ad.jacfwd(f)(x), ad.jacrev(f)(x)):
                assert np.all(np.isfinite(jac))
    np.testing.assert_allclose(ad.jacrev(log_softmax)(x), np.eye(3) - np.array([1.0, 0.0, 0.0]), atol=1e-300)
    assert np.all(np.isfinite(ad.hessian(lambda x: log_softmax(x)[1])(x)))


def test_logaddexp_and_expit_at_1000():
    for g in both_grads(lambda x: np.logaddexp(x, -x), 1000.0):
        assert g == 1.0
    assert ad.grad(sc.expit)(-1000.0) == 0.0
    assert ad.grad(sc.expit)(1000.0) == 0.0


# ---- products with zeros: no division by x ---------------------------------------------------------


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [1.5, -2.0, 4.0]])
def test_prod_gradient_is_the_product_of_the_others_even_at_zeros(x):
    x = np.array(x)
    others = np.array([np.prod(np.delete(x, i)) for i in range(3)])
    for g in both_grads(np.prod, x):
        np.testing.assert_array_equal(g, others)
    hess = ad.hessian(np.prod)(x)
    want = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(hess, want)


def test_prod_over_axes_with_zeros_matches_finite_differences():
    x = np.array([[[2.0, 0.0], [1.5, -1.0]], [[0.5, 3.0], [0.0, 0.0]]])
    for kwargs in ({"axis": (0, 2)}, {"axis": -1, "keepdims": True}, {}):
        f = lambda x, kwargs=kwargs: np.prod(x, **kwargs)  # noqa: E731
        want = fd_jacobian(f, x)
        np.testing.assert_allclose(ad.jacfwd(f)(x), want, atol=1e-8)
        np.testing.assert_allclose(ad.jacrev(f)(x), want, atol=1e-8)


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, -1.0], [0.0, 1.5, 0.0, 2.0], [1.5, -2.0, 4.0, 0.5]])
def test_cumprod_with_zeros_matches_finite_differences_to_second_order(x):
    x = np.array(x)
    want = fd_jacobian(np.cumprod, x)
    np.testing.assert_allclose(ad.jacfwd(np.cumprod)(x), want, atol=1e-8)
    np.testing.assert_allclose(ad.jacrev(np.cumprod)(x), want, atol=1e-8)
    f = lambda x: np.sum(np.cumprod(x) * np.arange(1.0, 5.0))  # noqa: E731
    np.testing.assert_allclose(ad.hessian(f)(x), fd_jacobian(ad.grad(f), x), atol=1e-7)


# ---- points where a formula would divide by zero ----------------------------------------------------


def test_sinc_at_zero_first_and_second_derivative():
    assert ad.grad(np.sinc)(0.0) == 0.0
    assert ad.hessian(np.sinc)(0.0) == pytest.approx(-math.pi ** 2 / 3, rel=1e-14)
    # near 0 the closed form (cos(πx) - sinc(x)) / x cancels; the series gives -π² x / 3 accurately
    assert ad.grad(np.sinc)(1e-8) == pytest.approx(-math.pi ** 2 / 3 * 1e-8, rel=1e-12)
    # continuous across the switch to the series at |x| = 0.1
    for x in (0.0999999, 0.1000001):
        assert ad.grad(np.sinc)(x) == pytest.approx((math.cos(math.pi * x) - np.sinc(x)) / x, rel=1e-9)


def test_xlogy_and_xlog1py_at_zero():
    assert ad.grad(lambda y: sc.xlogy(0.0, y))(0.0) == 0.0
    assert ad.grad(lambda x: sc.xlogy(x, 2.0))(0.0) == pytest.approx(math.log(2.0))
    assert ad.grad(lambda y: sc.xlog1py(0.0, y))(-1.0) == 0.0
    # off-diagonal Jacobian entries stay 0 (not 0 * log 0 = NaN)
    jac = ad.jacfwd(lambda x: sc.xlogy(x, np.array([0.0, 1.0])))(np.array([0.0, 2.0]))
    np.testing.assert_array_equal(jac, [[-np.inf, 0.0], [0.0, 0.0]])


def test_bessel_i0e_i1e_at_zero():
    assert ad.grad(sc.i0e)(0.0) == 0.0
    assert ad.grad(sc.i1e)(0.0) == 0.5
    check_grads(sc.i1e, (np.array([-1.5, 0.3, 2.0]),))


def test_nan_to_num_derivative_is_zero_at_replaced_entries():
    x = np.array([np.nan, 1.5, np.inf, -np.inf])
    for g in both_grads(lambda x: np.sum(np.nan_to_num(x, posinf=5.0, neginf=-5.0) * 2.0), x):
        np.testing.assert_array_equal(g, [0.0, 2.0, 0.0, 0.0])


# ---- float32 stays float32 --------------------------------------------------------------------------


FLOAT32_CASES = {
    "sqrt": np.sqrt, "cbrt": np.cbrt, "exp2": np.exp2, "log1p": np.log1p, "arcsinh": np.arcsinh,
    "sinc": np.sinc, "hypot": lambda x: np.hypot(x, 2.0), "arctan2": lambda x: np.arctan2(x, 0.7),
    "logaddexp": lambda x: np.logaddexp(x, 0.5), "deg2rad": np.deg2rad,
    "erf": sc.erf, "erfinv": lambda x: sc.erfinv(x / 4.0), "gammaln": sc.gammaln, "digamma": sc.digamma,
    "polygamma": lambda x: polygamma(1, x), "i0e": sc.i0e, "xlogy": lambda x: sc.xlogy(x, x),
    "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax,
    "prod": np.prod, "prod_zero": lambda x: np.prod(x * np.array([1.0, 0.0, 1.0], dtype=np.float32)),
    "cumprod": np.cumprod, "cumsum": np.cumsum, "var": lambda x: np.var(x, ddof=1), "std": np.std,
    "mean": np.mean, "max": np.max, "trace": lambda x: np.trace(np.outer(x, x)),
    "where": lambda x: np.where(x > 1.0, x, 2.0 * x), "clip": lambda x: np.clip(x, 0.8, 1.2),
    "nansum": np.nansum, "average": lambda x: np.average(x, weights=np.array([1, 2, 3], dtype=np.float32)),
}


def test_float_power_computes_in_float64_but_float32_cotangents_stay_float32():
    x = np.array([0.5, 1.1], dtype=np.float32)
    out, pullback = ad.vjp(lambda x: np.float_power(x, 2.0), x)
    assert out.dtype == np.float64                       # NumPy's float_power always promotes
    (g,) = pullback(np.ones(2))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_inputs_give_float32_derivatives(name):
    f = FLOAT32_CASES[name]
    x = np.array([0.5, 1.1, 1.7], dtype=np.float32)
    assert np.asarray(f(x)).dtype == np.float32
    fwd, rev = ad.jacfwd(f)(x), ad.jacrev(f)(x)
    assert fwd.dtype == np.float32 and rev.dtype == np.float32
    np.testing.assert_allclose(fwd, rev, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fwd, ad.jacfwd(f)(x.astype(np.float64)), rtol=2e-3, atol=1e-5)


# ---- NumPy adapters built from several primitives (not seen by the registry suite) ------------------

RNG = np.random.default_rng(7)
X = RNG.uniform(-2.0, 2.0, size=(3, 4))
W = RNG.uniform(0.5, 2.0, size=(4,))
MASK = np.array([[True, False, True, True], [False, True, True, True], [True, True, False, True]])

ADAPTERS = {
    "mean_axis_tuple": lambda x: np.mean(x, axis=(-2, -1), keepdims=True),
    "mean_where": lambda x: np.mean(x, axis=1, where=MASK),
    "sum_where_initial": lambda x: np.sum(x, axis=0, where=MASK, initial=1.5),
    "ptp": lambda x: np.ptp(x + np.arange(4.0), axis=1),
    "average_weights_1d": lambda x: np.average(x, axis=1, weights=W),
    "average_returned": lambda x: np.average(x, axis=0, weights=np.abs(x) + 1.0, returned=True)[0],
    "average_plain": lambda x: np.average(x, axis=-1),
    "var_ddof": lambda x: np.var(x, axis=0, ddof=1),
    "std_correction": lambda x: np.std(x, axis=(0, 1), correction=1),
    "method_var": lambda x: x.var(axis=1, keepdims=True),
    "add_reduce": lambda x: np.add.reduce(x),
    "multiply_reduce": lambda x: np.multiply.reduce(x, axis=1),
    "maximum_reduce": lambda x: np.maximum.reduce(x + np.arange(4.0), axis=None),
    "add_accumulate": lambda x: np.add.accumulate(x, axis=1),
    "multiply_accumulate": lambda x: np.multiply.accumulate(x),
    "cumsum_flat": lambda x: np.cumsum(x),
    "cumulative_sum_initial": lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
    "cumulative_prod_initial": lambda x: np.cumulative_prod(x, axis=0, include_initial=True),
    "trace_offset": lambda x: np.trace(x, offset=1),
    "trace_axes": lambda x: np.trace(x, axis1=1, axis2=0),
    "trace_method": lambda x: x.trace(offset=-1),
    "linalg_trace": lambda x: np.linalg.trace(x[None] * np.array([[[1.0]], [[2.0]]]), offset=1),
    "max_initial": lambda x: np.max(x, axis=0, initial=0.5),
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_numpy_adapters_values_and_jacobians(name):
    f = ADAPTERS[name]
    out, _ = ad.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(out, f(X), rtol=1e-14)
    want = fd_jacobian(f, X)
    np.testing.assert_allclose(ad.jacfwd(f)(X), want, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(X), want, atol=1e-7)


def test_average_is_differentiable_in_its_weights():
    check_grads(lambda w: np.average(X, axis=1, weights=w), (W,))


NAN_X = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [-2.0, 0.5, np.nan]])


@pytest.mark.parametrize("fn", [np.nansum, np.nanmean, np.nanprod, np.nanmax, np.nanmin])
def test_nan_functions_ignore_nan_entries(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = fn(NAN_X, axis=1)
        out, _ = ad.jvp(lambda x: fn(x, axis=1), (NAN_X,), (np.ones_like(NAN_X),))
        jf = ad.jacfwd(lambda x: fn(x, axis=1))(NAN_X)
        jr = ad.jacrev(lambda x: fn(x, axis=1))(NAN_X)
    np.testing.assert_allclose(out, want)
    np.testing.assert_array_equal(jf, jr)
    assert not np.isnan(jf).any()
    nan = np.isnan(NAN_X)
    np.testing.assert_array_equal(jf[:, nan], 0.0)                # no derivative through a NaN entry

    def on_finite_entries(v):
        x = NAN_X.copy()
        x[~nan] = v
        return fn(x, axis=1)[[0, 2]]                               # row 1 is all NaN

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_jac = fd_jacobian(on_finite_entries, NAN_X[~nan])
    np.testing.assert_allclose(jf[[0, 2]][:, ~nan], want_jac, atol=1e-8)


def test_out_argument_is_refused():
    with pytest.raises(TypeError, match="out="):
        ad.grad(lambda x: np.sum(x, out=np.zeros(())))(np.ones(2))


# ---- removable singularities: where the limit exists the derivative is finite (SPEC section 2) -------


def _all_orders(f, x):
    """f's first derivative by grad, jvp, jacfwd, jacrev and its second by hessian, reverse-over-reverse
    and forward-over-forward (f scalar-valued)."""
    g = lambda x: np.sum(f(x))  # noqa: E731
    tangent = np.ones_like(np.asarray(x, dtype=float))
    return {"grad": ad.grad(g)(x), "jvp": ad.jvp(g, (x,), (tangent,))[1], "jacfwd": ad.jacfwd(g)(x),
            "jacrev": ad.jacrev(g)(x), "hessian": ad.hessian(g)(x),
            "rev-over-rev": ad.jacrev(ad.grad(g))(x), "fwd-over-fwd": ad.jacfwd(ad.jacfwd(g))(x)}


@pytest.mark.parametrize("f, x, want", [
    (lambda x: x ** 0.0, 0.0, 0.0),
    (lambda x: x ** 0, 0.0, 0.0),
    (lambda x: np.power(x, np.zeros(2)), np.zeros(2), [0.0, 0.0]),
    (lambda x: x ** np.array([0.0, 2.0, 0.0]), np.array([0.0, 0.0, 3.0]), [0.0, 0.0, 0.0]),
    (np.std, np.array([1.5]), [0.0]),
    (lambda x: np.std(x, axis=0), np.ones((1, 3)), np.zeros((1, 3))),
    (lambda x: np.std(x, ddof=1), np.array([1.5, 1.5]), [0.0, 0.0]),
    (np.var, np.array([1.5]), [0.0]),
    (lambda x: np.hypot(x, 0.0 * x), 0.0, 0.0),
    (lambda x: np.hypot(x, np.zeros(3)), np.array([0.0, 2.0, -1.0]), [0.0, 1.0, -1.0]),
    (lambda x: np.hypot(0.0, x), 0.0, 0.0),
    (np.linalg.norm, np.zeros(3), [0.0, 0.0, 0.0]),
], ids=["x**0.0", "x**int0", "power(x,zeros)", "x**[0,2,0]", "std-one", "std-axis-len1", "std-ddof1-tie",
        "var-one", "hypot(0,0)", "hypot(x,0)-vector", "hypot(0,y)", "norm-origin"])
def test_removable_singularities_have_finite_derivatives_in_every_mode_and_order(f, x, want):
    results = _all_orders(f, x)
    for name, value in results.items():
        if name in ("hessian", "rev-over-rev", "fwd-over-fwd") and f is np.linalg.norm:
            continue   # norm's second derivative at the origin belongs to rules/linalg.py
        assert np.all(np.isfinite(value)), (name, value)
    # the first derivatives are the limits (hypot and norm at the origin: the kink convention, 0)
    for name in ("grad", "jacfwd", "jacrev"):
        np.testing.assert_array_equal(np.reshape(results[name], np.shape(x)), want)


def test_power_second_derivatives_stay_exact_next_to_the_masked_point():
    # the mask changes only x = 0 with y = 0: at x = 2, y = 0 the mixed partial d²(x^y)/dx dy = 1/x
    f = lambda x, y: np.sum(np.power(x, y))  # noqa: E731
    x, y = np.array([2.0, 0.0, 3.0]), np.array([0.0, 0.0, 2.0])
    mixed_fwd = ad.jacfwd(ad.grad(f, 0), 1)(x, y)
    mixed_rev = ad.jacrev(ad.grad(f, 1), 0)(x, y)
    want = np.diag([0.5, 0.0, 3.0 * (1 + 2 * np.log(3.0))])   # x^(y-1) (1 + y log x)
    np.testing.assert_allclose(mixed_fwd, want, rtol=1e-12)
    np.testing.assert_allclose(mixed_rev, want, rtol=1e-12)
    # d²(x^0)/dx² = 0 everywhere, d²(x^2)/dx² = 2
    np.testing.assert_allclose(ad.hessian(lambda x: np.sum(x ** np.array([0.0, 0.0, 2.0])))(x),
                               np.diag([0.0, 0.0, 2.0]), atol=1e-12)


def test_power_of_zero_derivative_in_the_exponent_is_zero_where_defined():
    # 0 ** y = 0 for y > 0, constant in y: derivative 0 in every mode, at first and second order
    for y in (2.0, 0.5, np.array([2.0, 0.5, 3.0])):
        for name, value in _all_orders(lambda y: np.power(0.0, y), y).items():
            assert np.all(np.asarray(value) == 0.0), (name, value)


def test_std_of_distinct_values_is_unchanged_by_the_zero_guard():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    g = ad.grad(lambda x: np.sum(np.std(x, axis=1)))(x)
    row = x[0] - x[0].mean()
    np.testing.assert_allclose(g[0], row / (3 * np.std(x[0])), rtol=1e-12)
    np.testing.assert_array_equal(g[1], 0.0)              # the tied row: the kink convention
    check_grads(lambda x: np.std(x, axis=1), (x[:1],), order=2)


# ---- casts to integer and boolean dtypes are constants -------------------------------------------------


def _with_casts(x):
    return np.sum(x * x.astype(int)) + np.sum(x.astype(bool) * x) + np.sum(x.astype(np.int32))


@pytest.mark.parametrize("mode", ["grad", "jvp", "jacfwd", "jacrev", "hessian"])
def test_astype_to_integer_or_bool_is_a_constant_in_every_mode(mode):
    x = np.array([1.5, 2.5, 0.0])
    want = x.astype(int) + x.astype(bool)          # d/dx of x * int(x) + bool(x) * x
    if mode == "jvp":
        out, tangent = ad.jvp(_with_casts, (x,), (np.ones(3),))
        assert out == _with_casts(x)
        assert tangent == pytest.approx(np.sum(want))
    elif mode == "hessian":
        np.testing.assert_array_equal(ad.hessian(_with_casts)(x), np.zeros((3, 3)))
    else:
        np.testing.assert_array_equal(getattr(ad, mode)(_with_casts)(x), want)


def test_astype_to_integer_is_a_constant_on_a_gradient_tape():
    v = ad.Variable([1.5, 2.5])
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(v * v.astype(int))
        z = v.astype(int)
    np.testing.assert_array_equal(tape.gradient(y, v), [1.0, 2.0])
    assert np.asarray(z.numpy()).dtype.kind == "i"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # an integer target: TensorFlow's None (maybe with a warning)
        assert tape.gradient(z, v) is None


def test_astype_to_float_stays_differentiable_and_casts_derivatives():
    x = np.array([1.5, 2.5])
    g = ad.grad(lambda x: np.sum(x.astype(np.float32) ** 2))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)


# ---- index_update with a repeated location: NumPy keeps the last write -------------------------------


@pytest.mark.parametrize("index, v_shape", [
    (np.array([0, 2, 0]), (3, 2)),                              # row 0 written twice
    (np.array([0, 2, 0]), (2,)),                                # ... by one broadcast row
    ((np.array([0, 2, 0]), np.array([1, 1, 1])), (3,)),         # the entry (0, 1) written twice
])
def test_index_update_with_repeated_locations_differentiates_the_surviving_write(index, v_shape):
    x = np.random.default_rng(3).uniform(-1, 1, (3, 2))
    v = np.random.default_rng(4).uniform(-1, 1, v_shape)
    f = lambda x, v: ad.index_update(x, index, v) ** 2  # noqa: E731
    check_grads(f, (x, v), order=2)
    if v_shape == (3, 2):     # the overwritten v[0] has no effect: its derivative is exactly 0
        g = ad.grad(lambda v: np.sum(f(x, v)))(v)
        np.testing.assert_array_equal(g[0], 0.0)
        np.testing.assert_array_equal(g[1:], 2 * v[1:])
