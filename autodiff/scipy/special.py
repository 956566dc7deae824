"""Differentiable ``scipy.special``: SciPy's signatures, usable on traced values in both modes.

The ufuncs are the registered primitives (calling ``scipy.special.gamma`` on a traced value reaches the
same rule, so either spelling works); ``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma`` and
``multigammaln`` are plain functions in SciPy and must be called from here. See
``autodiff.rules.special`` for the rules, and for the arguments without a derivative (orders of Bessel
functions, the shape parameters of the incomplete gamma and beta functions), which raise
NotImplementedError when asked for one.
"""

# The ufuncs themselves: they dispatch to their rules when called on traced values.
from scipy.special import (  # noqa: F401
    beta,
    betainc,
    betaln,
    dawsn,
    digamma,
    entr,
    erf,
    erfc,
    erfcinv,
    erfcx,
    erfi,
    erfinv,
    exp1,
    expi,
    expit,
    expm1,
    expn,
    gamma,
    gammainc,
    gammaincc,
    gammaln,
    gammasgn,
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
    jve,
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
    poch,
    psi,
    rel_entr,
    rgamma,
    spence,
    stdtr,
    xlog1py,
    xlogy,
    y0,
    y1,
    yn,
    yv,
    yve,
)

from autodiff.rules.special import (
    log_softmax,
    logsumexp,
    multigammaln,
    polygamma,
    softmax,
)

__all__ = ["beta", "betainc", "betaln", "dawsn", "digamma", "entr", "erf", "erfc", "erfcinv", "erfcx",
           "erfi", "erfinv", "exp1", "expi", "expit", "expm1", "expn", "gamma", "gammainc",
           "gammaincc", "gammaln", "gammasgn", "huber", "i0", "i0e", "i1", "i1e", "iv", "ive",
           "j0", "j1", "jn", "jv", "jve", "k0", "k0e", "k1", "k1e", "kl_div", "kv", "kve",
           "log1p", "log_ndtr", "log_softmax", "loggamma", "logit", "logsumexp", "multigammaln",
           "ndtr", "ndtri", "poch", "polygamma", "psi", "rel_entr", "rgamma", "softmax", "spence",
           "stdtr", "xlog1py", "xlogy", "y0", "y1", "yn", "yv", "yve"]
