"""The primitive behind ``autodiff.scipy.signal.convolve``: N-dimensional convolution (modes full/same/valid).

The primitive's implementation is ``scipy.signal.convolve`` itself (same values, same choice between the
direct and the FFT method). Convolution is bilinear, so its JVP is two convolutions and its VJP a
correlation: with y = in1 * in2 in mode "full", in1̄ = ḡ ⋆ in2 = conv(ḡ, flip(in2), "valid") and
in2̄ = conv(ḡ, flip(in1), "valid"); modes "same" and "valid" are centred slices of the full result, so
their cotangent is first padded back to the full size with zeros.

Leading axes beyond the convolved ones (``ndim`` trailing axes) broadcast like a stack: that is how
batches of tangents and cotangents pass through (each slice is one ``scipy.signal.convolve`` call).
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from autodiff.core import Sample, defdomain, defjvp, defvjp, primitive
from autodiff.rules._domains import uniform
from autodiff.rules.linalg import _lift
from autodiff.shapes import unbroadcast

__all__ = ["convolve_p", "MODES"]

MODES = ("full", "same", "valid")


def _each(fn, a, b, ndim):
    """fn(a_i, b_i) over the broadcast leading axes of a and b (their last ``ndim`` axes convolved)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == ndim and b.ndim == ndim:
        return fn(a, b)
    lead = np.broadcast_shapes(a.shape[:a.ndim - ndim], b.shape[:b.ndim - ndim])
    a = np.broadcast_to(a, lead + a.shape[a.ndim - ndim:])
    b = np.broadcast_to(b, lead + b.shape[b.ndim - ndim:])
    outs = [fn(a[i], b[i]) for i in np.ndindex(*lead)]
    return np.stack(outs).reshape(lead + outs[0].shape)


def _convolve_impl(in1, in2, mode, ndim):
    return _each(lambda x, y: scipy.signal.convolve(x, y, mode=mode), in1, in2, ndim)


def _out_window(n1, n2, mode):
    """(start, size) of the ``mode`` output inside the full output along one axis (SciPy's centring)."""
    full = n1 + n2 - 1
    size = {"full": full, "same": n1, "valid": abs(n1 - n2) + 1}[mode]
    return (full - size) // 2, size


def _flip(x, ndim):
    return x[(Ellipsis,) + (slice(None, None, -1),) * ndim]


def _to_full(g, s1, s2, mode, ndim):
    """The cotangent ``g`` of the ``mode`` output, zero-padded to the full output's size."""
    if mode == "full":
        return g
    widths = [(0, 0)] * (np.ndim(g) - ndim)
    for n1, n2 in zip(s1, s2):
        start, size = _out_window(n1, n2, mode)
        widths.append((start, n1 + n2 - 1 - start - size))
    return np.pad(g, widths)


def _vjp(argnum):
    def rule(ans, in1, in2, mode, ndim):
        mine, other = (in1, in2) if argnum == 0 else (in2, in1)
        s1, s2 = np.shape(in1)[-ndim:], np.shape(in2)[-ndim:]

        def pullback(g):
            nb = np.ndim(g) - np.ndim(ans)
            full = _to_full(g, s1, s2, mode, ndim)
            out = convolve_p(full, _flip(other, ndim), mode="valid", ndim=ndim)
            return unbroadcast(out, np.shape(mine), nb)
        return pullback
    return rule


def _jvp_in1(t, ans, in1, in2, mode, ndim):
    return convolve_p(_lift(t, in1, np.ndim(ans)), in2, mode=mode, ndim=ndim)


def _jvp_in2(t, ans, in1, in2, mode, ndim):
    return convolve_p(in1, _lift(t, in2, np.ndim(ans)), mode=mode, ndim=ndim)


# Named apart from NumPy's 1-D np.convolve.
convolve_p = primitive(_convolve_impl, name="signal_convolve")
defjvp(convolve_p, _jvp_in1, _jvp_in2)
defvjp(convolve_p, _vjp(0), _vjp(1))


def _convolve_sample(rng):
    ndim = int(rng.integers(1, 3))
    s1 = tuple(int(d) for d in rng.integers(2, 5, size=ndim))
    s2 = tuple(int(d) for d in rng.integers(1, 4, size=ndim))
    mode = MODES[rng.integers(3)]
    if mode == "valid":
        s2 = tuple(min(a, b) for a, b in zip(s1, s2))
        if rng.integers(2):
            s1, s2 = s2, s1
    return Sample((uniform(rng, s1, -2, 2), uniform(rng, s2, -2, 2)), {"mode": mode, "ndim": ndim})


defdomain(convolve_p, _convolve_sample)
