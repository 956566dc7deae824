"""SciPy functions that differentiate, for the ones SciPy does not route through NumPy's protocols.

``scipy.special``'s ufuncs (``erf``, ``expit``, ``gammaln``, ...) already differentiate when called on traced
values. Plain SciPy functions (``scipy.special.logsumexp``, ``scipy.linalg.expm``, ...) convert their
input to an ndarray, which a traced value refuses; call the versions here instead, with SciPy's
signatures: ``autodiff.scipy.special.logsumexp(x)``, ``autodiff.scipy.linalg.expm(A)``.
"""

import importlib

from autodiff.scipy import linalg, special

__all__ = ["linalg", "special", "integrate"]


def __getattr__(name: str):
    # integrate sits above the modes (odeint's sensitivities use jvp/vjp), so it loads on first use.
    if name == "integrate":
        return importlib.import_module("autodiff.scipy.integrate")
    raise AttributeError(f"module 'autodiff.scipy' has no attribute {name!r}")
