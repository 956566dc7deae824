"""SciPy functions that differentiate, for the ones SciPy does not route through NumPy's protocols.

``scipy.special``'s ufuncs (``erf``, ``expit``, ``gammaln``, ...) already differentiate when called on traced
values. Plain SciPy functions (``scipy.special.logsumexp``, ``scipy.linalg.expm``, ...) convert their
input to an ndarray, which a traced value refuses; call the versions here instead, with SciPy's
signatures: ``autodiff.scipy.special.logsumexp(x)``, ``autodiff.scipy.linalg.expm(A)``.
"""

from autodiff.scipy import linalg, special

__all__ = ["linalg", "special"]
