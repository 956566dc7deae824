"""Differentiable ``scipy.signal.convolve``: N-dimensional convolution, modes "full", "same", "valid".

Values are ``scipy.signal.convolve``'s (the primitive calls it); the derivative in each input is a
correlation with the other (see ``autodiff.rules.scipy_signal``).
"""

from __future__ import annotations

import numpy as np

from autodiff.core import lower
from autodiff.rules.scipy_signal import MODES, convolve_p

__all__ = ["convolve"]


def convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve``: the N-dimensional convolution of in1 and in2 (same number of axes).

    ``mode`` "full" (size n1 + n2 - 1), "same" (the size of in1, centred) or "valid" (|n1 - n2| + 1, where
    one input is at least as large as the other along every axis). Differentiable in both inputs.
    ``method`` is accepted for compatibility; the values are those of SciPy's "auto" choice. Real input.
    """
    if mode not in MODES:
        raise ValueError(f"autodiff.scipy.signal.convolve: mode must be one of {MODES}, got {mode!r}")
    v1, v2 = lower(in1), lower(in2)
    if np.ndim(v1) != np.ndim(v2):
        raise ValueError("autodiff.scipy.signal.convolve: in1 and in2 should have the same dimensionality, "
                         f"got {np.ndim(v1)} and {np.ndim(v2)}")
    if np.iscomplexobj(v1) or np.iscomplexobj(v2):
        raise NotImplementedError("autodiff.scipy.signal.convolve: complex input is not supported.")
    s1, s2 = np.shape(v1), np.shape(v2)
    if mode == "valid" and not (all(a >= b for a, b in zip(s1, s2)) or all(b >= a for a, b in zip(s1, s2))):
        raise ValueError("autodiff.scipy.signal.convolve: for 'valid' mode, one must be at least as large as "
                         "the other in every dimension")
    if np.ndim(v1) == 0:
        return in1 * in2
    return convolve_p(in1, in2, mode=mode, ndim=np.ndim(v1))
