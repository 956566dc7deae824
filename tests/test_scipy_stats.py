"""autodiff.scipy.stats: values equal scipy.stats' at random parameters, derivatives in every parameter
against finite differences (check_grads) and against jax.scipy.stats, and NotImplementedError (naming
the parameter) where a cdf's derivative in a shape parameter is not available."""

import numpy as np
import pytest
import scipy.stats as ss

import autodiff as ad
from autodiff.testing import check_grads

S = ad.scipy.stats
RNG = np.random.default_rng(3)
X = RNG.uniform(0.2, 2.5, size=5)


def _params(name):
    """Random parameters of each distribution (positional, then loc and scale), and x in its support."""
    u = RNG.uniform
    loc, scale = u(-0.5, 0.1), u(0.6, 1.8)
    return {
        "norm": ((), loc, scale, u(-2, 2, size=5)),
        "t": ((u(1.5, 6.0),), loc, scale, u(-3, 3, size=5)),
        "chi2": ((u(1.5, 5.0),), loc, scale, loc + scale * u(0.2, 4.0, size=5)),
        "gamma": ((u(0.8, 4.0),), loc, scale, loc + scale * u(0.2, 4.0, size=5)),
        "beta": ((u(0.8, 4.0), u(0.8, 4.0)), loc, scale, loc + scale * u(0.05, 0.95, size=5)),
    }[name]


CONTINUOUS = ["norm", "t", "chi2", "gamma", "beta"]
METHODS = ["logpdf", "pdf", "cdf", "logcdf"]


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("method", METHODS)
def test_values_equal_scipy_at_random_parameters(name, method):
    for _ in range(3):
        shape, loc, scale, x = _params(name)
        ours = getattr(getattr(S, name), method)(x, *shape, loc=loc, scale=scale)
        want = getattr(getattr(ss, name), method)(x, *shape, loc=loc, scale=scale)
        np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("method", ["logpdf", "pdf"])
def test_density_derivatives_in_every_parameter(name, method):
    shape, loc, scale, x = _params(name)
    fn = getattr(getattr(S, name), method)
    check_grads(lambda x, shape, loc, scale: fn(x, *shape, loc=loc, scale=scale), (x, shape, loc, scale),
                order=2)


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("method", ["cdf", "logcdf"])
def test_cdf_derivatives_in_x_loc_and_scale(name, method):
    shape, loc, scale, x = _params(name)
    fn = getattr(getattr(S, name), method)
    check_grads(lambda x, loc, scale: fn(x, *shape, loc=loc, scale=scale), (x, loc, scale), order=2)


@pytest.mark.parametrize("name", ["t", "chi2", "gamma", "beta"])
def test_cdfs_differentiate_in_the_shape_parameters_to_first_order(name):
    shape, loc, scale, x = _params(name)
    dist = getattr(S, name)
    for method in ("cdf", "logcdf"):
        check_grads(lambda shape, x, loc, scale, m=method: getattr(dist, m)(x, *shape, loc=loc, scale=scale),
                    (shape, x, loc, scale), order=1)


@pytest.mark.parametrize("name, param, index", [("t", "betainc.*'a'", 0), ("chi2", "gammainc.*'a'", 0),
                                                ("gamma", "gammainc.*'a'", 0), ("beta", "betainc.*'a'", 0),
                                                ("beta", "betainc.*'b'", 1)])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_second_derivative_in_a_shape_parameter_raises_naming_it(name, param, index, mode):
    # The message names the special function's argument: chi2's df is gammainc's a (df/2), t's df reaches
    # betainc's a through the first derivative of stdtr.
    shape, loc, scale, x = _params(name)
    shape = list(shape)

    def f(p):
        args = shape[:index] + [p] + shape[index + 1:]
        return getattr(S, name).cdf(x, *args, loc=loc, scale=scale).sum()

    outer = ad.jacfwd if mode == "forward" else ad.jacrev
    with pytest.raises(NotImplementedError, match=f"{param}.*only the first derivative"):
        outer(ad.grad(f))(shape[index])


@pytest.mark.parametrize("name", CONTINUOUS)
def test_cdf_derivative_in_x_is_the_density(name):
    shape, loc, scale, x = _params(name)
    dist = getattr(S, name)
    got = ad.jacfwd(lambda x: dist.cdf(x, *shape, loc=loc, scale=scale))(x).diagonal()
    np.testing.assert_allclose(got, dist.pdf(x, *shape, loc=loc, scale=scale), rtol=1e-10)


def test_norm_sf_logsf_ppf():
    shape, loc, scale, x = _params("norm")
    for method in ("sf", "logsf"):
        want = getattr(ss.norm, method)(x, loc, scale)
        np.testing.assert_allclose(getattr(S.norm, method)(x, loc, scale), want, rtol=1e-12)
        check_grads(lambda x, loc, scale, m=method: getattr(S.norm, m)(x, loc, scale), (x, loc, scale))
    q = np.array([0.05, 0.4, 0.9])
    np.testing.assert_allclose(S.norm.ppf(q, loc, scale), ss.norm.ppf(q, loc, scale), rtol=1e-12)
    check_grads(lambda q, loc, scale: S.norm.ppf(q, loc, scale), (q, loc, scale))


def test_outside_the_support():
    assert S.gamma.logpdf(-1.0, 2.0) == -np.inf and S.gamma.pdf(-1.0, 2.0) == 0.0
    assert S.beta.logpdf(1.5, 2.0, 3.0) == -np.inf
    assert S.chi2.cdf(-1.0, 3.0) == 0.0
    assert ad.grad(lambda a: S.gamma.logpdf(-1.0, a))(2.0) == 0.0


# ---- poisson -------------------------------------------------------------------------------------


def test_poisson_values_and_derivatives():
    k = np.array([0, 1, 2, 5, 9])
    for mu in RNG.uniform(0.5, 6.0, size=3):
        for method in ("logpmf", "pmf", "cdf"):
            np.testing.assert_allclose(getattr(S.poisson, method)(k, mu), getattr(ss.poisson, method)(k, mu),
                                       rtol=1e-12)
            check_grads(lambda mu, method=method: getattr(S.poisson, method)(k, mu), (mu,), order=2)
    np.testing.assert_array_equal(S.poisson.logpmf(np.array([-1, 1.5]), 2.0), [-np.inf, -np.inf])
    np.testing.assert_allclose(S.poisson.cdf(np.array([-1, 2.5]), 2.0), ss.poisson.cdf([-1, 2.5], 2.0))
    # d/dmu log pmf = k/mu - 1
    np.testing.assert_allclose(ad.grad(lambda mu: S.poisson.logpmf(k, mu).sum())(2.0), np.sum(k / 2.0 - 1))


# ---- multivariate normal, dirichlet --------------------------------------------------------------


def _spd(d):
    m = RNG.uniform(-1, 1, size=(d, d))
    return m @ m.T + d * np.eye(d)


def test_multivariate_normal_values_and_derivatives():
    d = 3
    mean, cov = RNG.uniform(-1, 1, size=d), _spd(d)
    x = RNG.normal(size=(4, d))
    for xs in (x, x[0]):
        np.testing.assert_allclose(S.multivariate_normal.logpdf(xs, mean, cov),
                                   ss.multivariate_normal.logpdf(xs, mean, cov), rtol=1e-12)
        np.testing.assert_allclose(S.multivariate_normal.pdf(xs, mean, cov),
                                   ss.multivariate_normal.pdf(xs, mean, cov), rtol=1e-12)
    np.testing.assert_allclose(S.multivariate_normal.logpdf(x, mean, 2.0),
                               ss.multivariate_normal.logpdf(x, mean, 2.0), rtol=1e-12)
    np.testing.assert_allclose(S.multivariate_normal.logpdf(x, mean, np.diag(cov)),
                               ss.multivariate_normal.logpdf(x, mean, np.diag(cov)), rtol=1e-12)
    np.testing.assert_allclose(S.multivariate_normal.logpdf(x), ss.multivariate_normal.logpdf(x, np.zeros(d)),
                               rtol=1e-12)
    check_grads(lambda x, mean, cov: S.multivariate_normal.logpdf(x, mean, cov), (x, mean, cov), order=2)
    # d/dmean = cov⁻¹ (x - mean), summed over the samples
    g = ad.grad(lambda m: S.multivariate_normal.logpdf(x, m, cov).sum())(mean)
    np.testing.assert_allclose(g, np.linalg.solve(cov, (x - mean).sum(0)), rtol=1e-12)


def test_dirichlet_values_and_derivatives():
    alpha = RNG.uniform(0.5, 3.0, size=4)
    x = RNG.dirichlet(np.ones(4), size=3).T            # (K, N), as SciPy takes it
    for xs in (x, x[:, 0], x[:-1]):
        np.testing.assert_allclose(S.dirichlet.logpdf(xs, alpha), ss.dirichlet.logpdf(xs, alpha), rtol=1e-12)
    np.testing.assert_allclose(S.dirichlet.pdf(x[:, 0], alpha), ss.dirichlet.pdf(x[:, 0], alpha), rtol=1e-12)
    check_grads(lambda x, alpha: S.dirichlet.logpdf(x, alpha), (x, alpha), order=2)


# ---- against JAX ------------------------------------------------------------------------------------


def test_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.stats as js

    def both(ours, theirs, args):
        n = len(args)
        got = ad.grad(lambda *a: ours(*a).sum(), argnums=tuple(range(n)))(*args)
        want = jax.grad(lambda *a: theirs(*a).sum(), argnums=tuple(range(n)))(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-9, atol=1e-12)

    for name in CONTINUOUS:
        shape, loc, scale, x = _params(name)
        ns = len(shape)
        for method in ("logpdf", "cdf"):    # (pdf and logcdf are their exp and log: JAX is slow to trace)
            if method == "cdf" and name in ("t", "chi2"):   # JAX has no t.cdf; chi2's is gamma's
                continue
            ours, theirs = getattr(getattr(S, name), method), getattr(getattr(js, name), method)
            if method == "logpdf":
                both(lambda x, *p, ours=ours, ns=ns: ours(x, *p[:ns], loc=p[ns], scale=p[ns + 1]),
                     lambda x, *p, theirs=theirs, ns=ns: theirs(x, *p[:ns], loc=p[ns], scale=p[ns + 1]),
                     (x, *shape, loc, scale))
            else:
                both(lambda x, loc, scale, f=ours, shape=shape: f(x, *shape, loc=loc, scale=scale),
                     lambda x, loc, scale, f=theirs, shape=shape: f(x, *shape, loc=loc, scale=scale),
                     (x, loc, scale))
    k = np.array([0.0, 1.0, 3.0])
    both(lambda mu: S.poisson.logpmf(k, mu), lambda mu: js.poisson.logpmf(k, mu), (2.5,))
    d = 3
    mean, cov, x = RNG.uniform(-1, 1, size=d), _spd(d), RNG.normal(size=(4, d))
    sym = lambda g: 0.5 * (np.asarray(g) + np.asarray(g).T)      # noqa: E731
    got = ad.grad(lambda m, c: S.multivariate_normal.logpdf(x, m, c).sum(), argnums=(0, 1))(mean, cov)
    want = jax.grad(lambda m, c: js.multivariate_normal.logpdf(x, m, c).sum(), argnums=(0, 1))(mean, cov)
    np.testing.assert_allclose(got[0], np.asarray(want[0]), rtol=1e-9)
    np.testing.assert_allclose(sym(got[1]), sym(want[1]), rtol=1e-9)       # both read cov as symmetric
    alpha = RNG.uniform(0.5, 3.0, size=4)
    xd = RNG.dirichlet(np.ones(4))
    both(lambda a: S.dirichlet.logpdf(xd, a), lambda a: js.dirichlet.logpdf(xd, a), (alpha,))
