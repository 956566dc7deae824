"""Differentiable ``scipy.special``: SciPy's signatures, usable on traced values in both modes.

The ufuncs are the registered primitives (calling ``scipy.special.gamma`` on a traced value reaches the
same rule, so either spelling works); ``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma`` and
``multigammaln`` are plain functions in SciPy and must be called from here. See
``autodiff.rules.special`` for the rules, and for the arguments without a derivative (orders of Bessel
functions, the shape parameters of the incomplete gamma and beta functions), which raise
NotImplementedError when asked for one.
"""

# The ufuncs themselves: they dispatch to their rules when called on traced values.
from scipy.special import (  # type: ignore[import-untyped]  # noqa: F401
    beta,
    betainc,
    betaln,
    digamma,
    entr,
    erf,
    erfc,
    erfcinv,
    erfcx,
    erfinv,
    expit,
    expm1,
    gamma,
    gammainc,
    gammaincc,
    gammaln,
    huber,
    i0,
    i0e,
    i1,
    i1e,
    iv,
    ive,
    j0,
    j1,
    jn,
    jv,
    k0,
    k0e,
    k1,
    k1e,
    kl_div,
    kv,
    kve,
    log1p,
    log_ndtr,
    loggamma,
    logit,
    ndtr,
    ndtri,
    psi,
    rel_entr,
    rgamma,
    stdtr,
    xlog1py,
    xlogy,
    y0,
    y1,
    yn,
    yv,
)

from autodiff.rules.special import (
    log_softmax,
    logsumexp,
    multigammaln,
    polygamma,
    softmax,
)

__all__ = ["beta", "betainc", "betaln", "digamma", "entr", "erf", "erfc", "erfcinv", "erfcx", "erfinv",
           "expit", "expm1", "gamma", "gammainc", "gammaincc", "gammaln", "huber", "i0", "i0e",
           "i1", "i1e", "iv", "ive", "j0", "j1", "jn", "jv", "k0", "k0e", "k1", "k1e", "kl_div",
           "kv", "kve", "log1p", "log_ndtr", "log_softmax", "loggamma", "logit", "logsumexp",
           "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "rel_entr", "rgamma", "softmax",
           "stdtr", "xlog1py", "xlogy", "y0", "y1", "yn", "yv"]
