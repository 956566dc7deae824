"""Differentiable ``scipy.special``: SciPy's signatures, usable on traced values in both modes.

The ufuncs are the registered primitives (calling ``scipy.special.erf`` on a traced value reaches the
same rule); ``logsumexp``, ``softmax``, ``log_softmax`` and ``polygamma`` are plain functions in SciPy and
must be called from here. See ``autodiff.rules.special`` for the rules.
"""

from autodiff.rules.special import (
    digamma,
    erf,
    erfc,
    erfinv,
    expit,
    gammaln,
    i0e,
    i1e,
    log_softmax,
    logit,
    logsumexp,
    polygamma,
    softmax,
    xlog1py,
    xlogy,
)

__all__ = ["digamma", "erf", "erfc", "erfinv", "expit", "gammaln", "i0e", "i1e", "log_softmax", "logit",
           "logsumexp", "polygamma", "softmax", "xlog1py", "xlogy"]
