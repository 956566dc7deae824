"""Differentiable ``scipy.stats`` distributions: ``norm``, ``t``, ``chi2``, ``gamma``, ``beta``,
``multivariate_normal``, ``dirichlet`` and ``poisson``, with SciPy's method names and parameter names.

Each method is written with differentiable operations (the registered ``scipy.special`` ufuncs and NumPy),
so every parameter differentiates, in both modes and at any order, where the math allows:

- ``logpdf``/``pdf`` in x and in every parameter (``loc``, ``scale``, ``df``, ``a``, ``b``, ``mean``,
  ``cov``, ``alpha``, ``mu``);
- ``cdf``/``logcdf`` in x, ``loc`` and ``scale`` to any order; in the shape parameters (``df``, ``a``,
  ``b`` of ``t``, ``chi2``, ``gamma``, ``beta``, whose cdfs are incomplete gamma and beta functions) to
  first order: those derivatives are integrals computed by quadrature (``autodiff.rules.special``), and
  asking for a second derivative in a shape parameter raises NotImplementedError naming it (never a
  wrong number). ``poisson.cdf`` differentiates in ``mu``.

The values follow SciPy's formulas (the same special functions), so they agree with ``scipy.stats`` to
rounding. Outside the support, logpdf is -inf and pdf 0 (with derivative 0), as in SciPy.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from autodiff.core import lower
from autodiff.rules.linalg import solve_triangular

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _standardize(x, loc, scale):
    return (x - loc) / scale


def _where_inside(inside, value_at, z, safe, outside):
    """``value_at(z)`` where ``inside``, else ``outside``: the safe-where idiom (z replaced by ``safe``
    outside), so neither the value nor its derivative sees the formula outside its domain."""
    inside = np.asarray(inside)
    if np.all(inside):
        return value_at(z)
    return np.where(inside, value_at(np.where(inside, z, safe)), outside)


class _Continuous:
    """logpdf/pdf and cdf/logcdf from a standardized log density and cdf (z = (x - loc) / scale)."""

    name = ""

    def _logpdf(self, z, *shape):
        raise NotImplementedError

    def _cdf(self, z, *shape):
        raise NotImplementedError

    def _logp(self, x, shape, loc, scale):
        return self._logpdf(_standardize(x, loc, scale), *shape) - np.log(scale)

    def _cdf_at(self, x, shape, loc, scale):
        return self._cdf(_standardize(x, loc, scale), *shape)


class _Norm(_Continuous):
    """The normal distribution N(loc, scale²)."""

    name = "norm"

    def _logpdf(self, z):
        return -z * z / 2.0 - _LOG_SQRT_2PI

    def logpdf(self, x, loc=0, scale=1):
        """log φ((x - loc)/scale) - log scale."""
        return self._logp(x, (), loc, scale)

    def pdf(self, x, loc=0, scale=1):
        """φ((x - loc)/scale) / scale."""
        return np.exp(self.logpdf(x, loc, scale))

    def cdf(self, x, loc=0, scale=1):
        """Φ((x - loc)/scale) (``scipy.special.ndtr``)."""
        return sc.ndtr(_standardize(x, loc, scale))

    def logcdf(self, x, loc=0, scale=1):
        """log Φ((x - loc)/scale) (``scipy.special.log_ndtr``: finite far in the left tail)."""
        return sc.log_ndtr(_standardize(x, loc, scale))

    def sf(self, x, loc=0, scale=1):
        """1 - Φ((x - loc)/scale) = Φ(-(x - loc)/scale)."""
        return sc.ndtr(-_standardize(x, loc, scale))

    def logsf(self, x, loc=0, scale=1):
        """log Φ(-(x - loc)/scale)."""
        return sc.log_ndtr(-_standardize(x, loc, scale))

    def ppf(self, q, loc=0, scale=1):
        """loc + scale Φ⁻¹(q) (``scipy.special.ndtri``), the quantile function."""
        return loc + scale * sc.ndtri(q)


class _T(_Continuous):
    """Student's t distribution with ``df`` degrees of freedom."""

    name = "t"

    def _logpdf(self, z, df):
        lpx = sc.gammaln((df + 1) / 2) - sc.gammaln(df / 2)
        return lpx - (0.5 * np.log(df * math.pi) + (df + 1) / 2 * np.log1p(z * z / df))

    def logpdf(self, x, df, loc=0, scale=1):
        """log Γ((df+1)/2) - log Γ(df/2) - ½ log(df π) - (df+1)/2 log(1 + z²/df) - log scale."""
        return self._logp(x, (df,), loc, scale)

    def pdf(self, x, df, loc=0, scale=1):
        """The t density; derivative in x, df, loc, scale."""
        return np.exp(self.logpdf(x, df, loc, scale))

    def cdf(self, x, df, loc=0, scale=1):
        """``scipy.special.stdtr(df, z)``; differentiable in df to first order."""
        return sc.stdtr(df, _standardize(x, loc, scale))

    def logcdf(self, x, df, loc=0, scale=1):
        """log of :meth:`cdf`."""
        return np.log(self.cdf(x, df, loc, scale))


class _Chi2(_Continuous):
    """The chi-squared distribution with ``df`` degrees of freedom."""

    name = "chi2"

    def _logpdf(self, z, df):
        inside = lower(z) >= 0
        return _where_inside(inside, lambda s: sc.xlogy(df / 2 - 1, s) - s / 2 - sc.gammaln(df / 2)
                             - (math.log(2) * df) / 2, z, 1.0, -np.inf)

    def logpdf(self, x, df, loc=0, scale=1):
        """(df/2 - 1) log z - z/2 - log Γ(df/2) - (df/2) log 2 - log scale, -inf for z < 0."""
        return self._logp(x, (df,), loc, scale)

    def pdf(self, x, df, loc=0, scale=1):
        """The chi-squared density."""
        return np.exp(self.logpdf(x, df, loc, scale))

    def cdf(self, x, df, loc=0, scale=1):
        """P(df/2, z/2) (the regularized lower incomplete gamma function); 0 for z < 0. Differentiable in
        df to first order."""
        z = _standardize(x, loc, scale)
        return sc.gammainc(df / 2, np.maximum(z, 0.0) / 2)

    def logcdf(self, x, df, loc=0, scale=1):
        """log of :meth:`cdf`."""
        return np.log(self.cdf(x, df, loc, scale))


class _Gamma(_Continuous):
    """The gamma distribution with shape ``a`` (rate 1 / scale)."""

    name = "gamma"

    def _logpdf(self, z, a):
        inside = lower(z) >= 0
        return _where_inside(inside, lambda s: sc.xlogy(a - 1.0, s) - s - sc.gammaln(a), z, 1.0, -np.inf)

    def logpdf(self, x, a, loc=0, scale=1):
        """(a - 1) log z - z - log Γ(a) - log scale, -inf for z < 0."""
        return self._logp(x, (a,), loc, scale)

    def pdf(self, x, a, loc=0, scale=1):
        """The gamma density."""
        return np.exp(self.logpdf(x, a, loc, scale))

    def cdf(self, x, a, loc=0, scale=1):
        """P(a, z) (the regularized lower incomplete gamma function); differentiable in a to first order."""
        z = _standardize(x, loc, scale)
        return sc.gammainc(a, np.maximum(z, 0.0))

    def logcdf(self, x, a, loc=0, scale=1):
        """log of :meth:`cdf`."""
        return np.log(self.cdf(x, a, loc, scale))


class _Beta(_Continuous):
    """The beta distribution with shapes ``a``, ``b`` on [loc, loc + scale]."""

    name = "beta"

    def _logpdf(self, z, a, b):
        zv = lower(z)
        inside = (zv >= 0) & (zv <= 1)
        def logp(s):
            return sc.xlog1py(b - 1.0, -s) + sc.xlogy(a - 1.0, s) - sc.betaln(a, b)
        return _where_inside(inside, logp, z, 0.5, -np.inf)

    def logpdf(self, x, a, b, loc=0, scale=1):
        """(a - 1) log z + (b - 1) log(1 - z) - log B(a, b) - log scale, -inf outside [0, 1]."""
        return self._logp(x, (a, b), loc, scale)

    def pdf(self, x, a, b, loc=0, scale=1):
        """The beta density."""
        return np.exp(self.logpdf(x, a, b, loc, scale))

    def cdf(self, x, a, b, loc=0, scale=1):
        """I_z(a, b) (the regularized incomplete beta function); differentiable in a, b to first order."""
        z = np.clip(_standardize(x, loc, scale), 0.0, 1.0)
        return sc.betainc(a, b, z)

    def logcdf(self, x, a, b, loc=0, scale=1):
        """log of :meth:`cdf`."""
        return np.log(self.cdf(x, a, b, loc, scale))


class _Poisson:
    """The Poisson distribution with mean ``mu`` (k shifted by ``loc``)."""

    name = "poisson"

    def logpmf(self, k, mu, loc=0):
        """k log mu - log k! - mu for integer k >= 0, else -inf. Differentiable in mu (k is discrete)."""
        k = np.asarray(lower(k)) - lower(loc)
        inside = (k >= 0) & (k == np.floor(k))
        kk = np.where(inside, k, 0.0)
        return np.where(inside, sc.xlogy(kk, mu) - sc.gammaln(kk + 1) - mu, -np.inf)

    def pmf(self, k, mu, loc=0):
        """exp(:meth:`logpmf`)."""
        return np.exp(self.logpmf(k, mu, loc))

    def cdf(self, k, mu, loc=0):
        """Q(floor(k) + 1, mu) (the regularized upper incomplete gamma function), 0 for k < 0."""
        k = np.floor(np.asarray(lower(k)) - lower(loc))
        inside = k >= 0
        return np.where(inside, sc.gammaincc(np.where(inside, k, 0.0) + 1, mu), 0.0)


def _as_cov(cov, d):
    """cov as a (d, d) matrix: a scalar is a multiple of the identity, a vector the diagonal."""
    nd = np.ndim(lower(cov))
    if nd == 0:
        return cov * np.eye(d)
    if nd == 1:
        return np.eye(d) * cov
    return cov


class _MultivariateNormal:
    """The multivariate normal distribution N(mean, cov)."""

    name = "multivariate_normal"

    def logpdf(self, x, mean=None, cov=1, allow_singular=False):
        """-½ (x - mean)ᵀ cov⁻¹ (x - mean) - ½ log det(2π cov), over the last axis of x.

        Computed from the Cholesky factor L of cov (a positive definite matrix; a scalar or a vector
        stands for a multiple of the identity or the diagonal): z = L⁻¹(x - mean), log det = 2 Σ log Lᵢᵢ.
        The function reads the symmetric part (cov + covᵀ)/2 (the same as cov for the symmetric matrices
        SciPy expects), so its gradient in ``cov`` is symmetric. A singular cov raises.
        """
        if allow_singular:
            raise NotImplementedError("autodiff.scipy.stats.multivariate_normal: allow_singular=True is not "
                                      "supported (the derivative needs a positive definite cov).")
        mean_v = lower(mean)
        d = (np.shape(mean_v)[-1] if mean_v is not None and np.ndim(mean_v) else
             np.shape(lower(cov))[-1] if np.ndim(lower(cov)) else np.shape(lower(x))[-1])
        x_shape = np.shape(lower(x))
        if x_shape == () or x_shape[-1] != d:
            if d != 1:
                raise ValueError(f"multivariate_normal.logpdf: x must have a last axis of size {d}")
            x = np.reshape(x, x_shape + (1,))
        cov = _as_cov(cov, d)
        c = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, -1, -2)))
        dev = x if mean is None else x - mean
        flat = np.reshape(dev, (-1, d))
        z = solve_triangular(c, np.swapaxes(flat, 0, 1), lower=True)
        maha = np.sum(z * z, axis=0)
        log_det = 2.0 * np.sum(np.log(np.diagonal(c)))
        out = -0.5 * (d * math.log(2.0 * math.pi) + log_det + maha)
        out = np.reshape(out, np.shape(lower(dev))[:-1])
        return out

    def pdf(self, x, mean=None, cov=1, allow_singular=False):
        """exp(:meth:`logpdf`)."""
        return np.exp(self.logpdf(x, mean, cov, allow_singular))


class _Dirichlet:
    """The Dirichlet distribution with concentrations ``alpha`` (K,)."""

    name = "dirichlet"

    def logpdf(self, x, alpha):
        """Σ (αᵢ - 1) log xᵢ - (Σ log Γ(αᵢ) - log Γ(Σ αᵢ)) over the first axis of x (K or K - 1 entries,
        the last then 1 - Σ xᵢ, as SciPy), for x on the simplex."""
        k = np.shape(lower(alpha))[0]
        if np.ndim(lower(alpha)) != 1:
            raise ValueError("dirichlet: alpha must be a one-dimensional vector of concentrations")
        if np.shape(lower(x))[0] == k - 1:
            x = np.concatenate([x, 1.0 - np.sum(x, axis=0, keepdims=True)], axis=0)
        elif np.shape(lower(x))[0] != k:
            raise ValueError(f"dirichlet: x must have {k} or {k - 1} entries along its first axis")
        log_b = np.sum(sc.gammaln(alpha)) - sc.gammaln(np.sum(alpha))
        a = np.reshape(alpha, (k,) + (1,) * (np.ndim(lower(x)) - 1))
        return np.sum(sc.xlogy(a - 1.0, x), axis=0) - log_b

    def pdf(self, x, alpha):
        """exp(:meth:`logpdf`)."""
        return np.exp(self.logpdf(x, alpha))


norm = _Norm()
t = _T()
chi2 = _Chi2()
gamma = _Gamma()
beta = _Beta()
poisson = _Poisson()
multivariate_normal = _MultivariateNormal()
dirichlet = _Dirichlet()
