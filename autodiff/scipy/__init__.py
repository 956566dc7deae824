"""SciPy functions that differentiate, for the ones SciPy does not route through NumPy's protocols.

``scipy.special``'s ufuncs (``erf``, ``gamma``, ``jv``, ``ndtr``, ...) already differentiate when called on
traced values. Plain SciPy functions (``scipy.special.logsumexp``, ``scipy.linalg.expm``,
``scipy.stats.norm.logpdf``, ...) convert their input to an ndarray, which a traced value refuses; call
the versions here instead, with SciPy's names and signatures: ``autodiff.scipy.special.logsumexp(x)``,
``autodiff.scipy.linalg.cho_solve(...)``, ``autodiff.scipy.stats.norm.logpdf(x, loc, scale)``,
``autodiff.scipy.signal.convolve(a, b)``, ``autodiff.scipy.integrate.odeint(...)``.
"""

import importlib

from autodiff.scipy import linalg, signal, special, stats

__all__ = ["integrate", "linalg", "signal", "special", "stats"]


def __getattr__(name: str):
    # integrate sits above the modes (odeint's sensitivities use jvp/vjp), so it loads on first access.
    if name == "integrate":
        try:
            return importlib.import_module("autodiff.scipy.integrate")
        except ModuleNotFoundError as e:
            if e.name != "autodiff.scipy.integrate":
                raise
            raise AttributeError("autodiff.scipy.integrate is not available in this build") from None
    raise AttributeError(f"module 'autodiff.scipy' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | set(globals()))
