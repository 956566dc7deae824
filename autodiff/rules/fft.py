"""Discrete Fourier transforms (np.fft.fft, ifft, rfft, irfft; hfft and ihfft built on them) and the
complex parts real, imag, conj.

Complex numbers follow JAX's convention (docs/complex.md): a JVP is the ordinary (R-linear) derivative
applied to a complex tangent, and a VJP is its *transpose* for the bilinear pairing
``<a, b> = Re(sum(a * b))`` — no conjugation. A real input always gets a real cotangent (the transpose
of embedding R in C is taking the real part). So ``grad`` of a real function of real inputs through
complex intermediates is the ordinary real gradient, and for a complex input z = x + iy it is
``∂f/∂x - i ∂f/∂y`` (the conjugate of the steepest-ascent direction, as in JAX).

The transforms are linear. The DFT matrix is symmetric, so the transpose of ``fft`` is ``fft`` itself
(with the zero-padding or truncation to ``n`` transposed, i.e. undone), and likewise for ``ifft``.
``rfft`` is fft restricted to real inputs and to the first n//2+1 outputs; ``irfft`` reads only the real
part of the zero-frequency (and Nyquist) terms, and counts every other term twice (it stands for a
conjugate pair), so its transpose weights the terms 1, 2, ..., 2, 1.
"""

from __future__ import annotations

import numpy as np

from autodiff.core import Primitive, Sample, defdomain, implements, lower
from autodiff.forms import deflinear
from autodiff.rules._util import const_like

# ---- complex parts ---------------------------------------------------------------------------------


def _real_impl(x):
    return np.real(x)


def _imag_impl(x):
    return np.imag(x)


def _as_complex(g, x):
    """g (real) as an array of x's complex dtype: the cotangent of a complex input is complex."""
    return g + const_like(0, x)


def _complex_sample(rng, shape):
    return rng.uniform(-2, 2, size=shape) + 1j * rng.uniform(-2, 2, size=shape)


def _part_sample(rng):
    shape = [(), (3,), (2, 3)][rng.integers(3)]
    return Sample((_complex_sample(rng, shape),))


# Linear over the reals: each JVP is the map applied to the tangent; the transposes are taken under the
# real pairing Re Σ a b (JAX's convention).
real = deflinear(_real_impl, transpose=lambda ans, x: lambda g: _as_complex(g, x),      # Re(g dz)
                 name="real", elementwise=False)
defdomain(real, _part_sample)
imag = deflinear(_imag_impl, transpose=lambda ans, x: lambda g: g * const_like(-1j, x),  # Re(-i g dz)
                 name="imag", elementwise=False)
defdomain(imag, _part_sample)
conjugate = deflinear(np.conjugate, transpose=lambda ans, x: np.conjugate)  # Re(conj(g) dz)
defdomain(conjugate, _part_sample)


@implements(np.real)
def _np_real(val):
    """Real part; the identity on real arrays."""
    return real(val) if np.iscomplexobj(lower(val)) else val


@implements(np.imag)
def _np_imag(val):
    """Imaginary part; a constant zero array for real arrays."""
    if np.iscomplexobj(lower(val)):
        return imag(val)
    return np.zeros(np.shape(lower(val)), dtype=np.result_type(lower(val)))


# ---- helpers ---------------------------------------------------------------------------------------


def _resize(g, length, axis):
    """g truncated or zero-padded to ``length`` along the (negative) ``axis``: the transpose of
    NumPy's own truncating/padding of an fft input to ``n`` points."""
    have = np.shape(g)[axis]
    if have == length:
        return g
    if have > length:
        index = (slice(None),) * (np.ndim(g) + axis) + (slice(0, length),)
        return g[index]
    widths = [(0, 0)] * np.ndim(g)
    widths[np.ndim(g) + axis] = (0, length - have)
    return np.pad(g, widths)


def _real_if(c, x):
    """The cotangent of a real input is the real part (the transpose of embedding R in C)."""
    return c if np.iscomplexobj(lower(x)) else np.real(c)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.fft.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned array.")


def _params(x, n, axis):
    """n (the transform length) and axis normalised to a negative number."""
    nd = np.ndim(lower(x))
    axis = int(axis) % nd - nd
    return (np.shape(lower(x))[axis] if n is None else int(n)), axis


# ---- fft and ifft: complex to complex, symmetric matrices ---------------------------------------------


def _fft_impl(x, n, axis, norm):
    return np.fft.fft(x, n=n, axis=axis, norm=norm)


def _ifft_impl(x, n, axis, norm):
    return np.fft.ifft(x, n=n, axis=axis, norm=norm)


_NORMS = [None, "ortho", "forward"]


def _fft_sampler(real_input):
    def sample(rng):
        shape = [(4,), (5,), (2, 4), (3, 2)][rng.integers(4)]
        axis = int(rng.integers(-len(shape), 0))
        length = shape[axis]
        n = [length, length + 2, max(1, length - 1)][rng.integers(3)]
        is_real = real_input or rng.integers(2)
        x = rng.uniform(-2, 2, size=shape) if is_real else _complex_sample(rng, shape)
        return Sample((x,), {"n": n, "axis": axis, "norm": _NORMS[rng.integers(3)]})
    return sample


# The DFT matrix is symmetric, so the transpose of fft (of ifft) is fft (ifft) again, on the cotangent
# resized back to the input's length.
fft: Primitive = deflinear(
    _fft_impl, name="fft", transpose=lambda ans, x, n, axis, norm: lambda g: _real_if(
        _resize(fft(g, n=n, axis=axis, norm=norm), np.shape(x)[axis], axis), x))
defdomain(fft, _fft_sampler(False))
ifft: Primitive = deflinear(
    _ifft_impl, name="ifft", transpose=lambda ans, x, n, axis, norm: lambda g: _real_if(
        _resize(ifft(g, n=n, axis=axis, norm=norm), np.shape(x)[axis], axis), x))
defdomain(ifft, _fft_sampler(False))


@implements(np.fft.fft)
def _np_fft(a, n=None, axis=-1, norm=None, out=None):
    """Discrete Fourier transform along ``axis`` (n points: truncated or zero-padded)."""
    _no_out(out, "fft")
    n, axis = _params(a, n, axis)
    return fft(a, n=n, axis=axis, norm=norm)


@implements(np.fft.ifft)
def _np_ifft(a, n=None, axis=-1, norm=None, out=None):
    """Inverse discrete Fourier transform along ``axis``."""
    _no_out(out, "ifft")
    n, axis = _params(a, n, axis)
    return ifft(a, n=n, axis=axis, norm=norm)


# ---- rfft: real to the first n//2 + 1 frequencies ------------------------------------------------------


def _rfft_impl(x, n, axis, norm):
    return np.fft.rfft(x, n=n, axis=axis, norm=norm)


def _rfft_vjp(ans, x, n, axis, norm):
    length = np.shape(x)[axis]

    def pullback(g):
        full = fft(_resize(g, n, axis), n=n, axis=axis, norm=norm)   # Fᵀ Eᵀ g, E = first n//2+1 rows
        return np.real(_resize(full, length, axis))

    return pullback


rfft = deflinear(_rfft_impl, transpose=_rfft_vjp, name="rfft")
defdomain(rfft, _fft_sampler(True))


@implements(np.fft.rfft)
def _np_rfft(a, n=None, axis=-1, norm=None, out=None):
    """Discrete Fourier transform of a real signal: the n//2 + 1 non-negative frequencies."""
    _no_out(out, "rfft")
    n, axis = _params(a, n, axis)
    return rfft(a, n=n, axis=axis, norm=norm)


# ---- irfft: the n//2 + 1 non-negative frequencies of a Hermitian spectrum to a real signal -----------


def _irfft_impl(x, n, axis, norm):
    return np.fft.irfft(x, n=n, axis=axis, norm=norm)


def _irfft_weights(n, axis, like):
    """1 for the zero frequency (and Nyquist, n even), 2 for the others (each stands for a pair)."""
    m = n // 2 + 1
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return const_like(np.reshape(w, (m,) + (1,) * (-axis - 1)), like)


def _irfft_vjp(ans, x, n, axis, norm):
    length = np.shape(x)[axis]

    def pullback(g):
        c = ifft(g, n=n, axis=axis, norm=norm)
        c = _resize(c, n // 2 + 1, axis)
        c = c * _irfft_weights(n, axis, c)
        return _real_if(_resize(c, length, axis), x)   # a real input gets a real cotangent

    return pullback


def _irfft_sample(rng):
    shape = [(3,), (4,), (2, 3)][rng.integers(3)]
    m = shape[-1]
    n = [2 * (m - 1), 2 * m - 1, 2 * m + 2, 2][rng.integers(4)]
    # A real input too: its cotangent must be real (it used to be the complex one).
    x = rng.uniform(-2, 2, size=shape) if rng.integers(3) == 0 else _complex_sample(rng, shape)
    return Sample((x,), {"n": n, "axis": -1, "norm": _NORMS[rng.integers(3)]})


irfft = deflinear(_irfft_impl, transpose=_irfft_vjp, name="irfft")
defdomain(irfft, _irfft_sample)


@implements(np.fft.irfft)
def _np_irfft(a, n=None, axis=-1, norm=None, out=None):
    """Inverse of rfft: n real points (default 2 (m - 1) for m input frequencies)."""
    _no_out(out, "irfft")
    nd = np.ndim(lower(a))
    axis = int(axis) % nd - nd
    n = 2 * (np.shape(lower(a))[axis] - 1) if n is None else int(n)
    return irfft(a, n=n, axis=axis, norm=norm)


# ---- hfft, ihfft: NumPy's own compositions of irfft and rfft ---------------------------------------

_SWAPPED_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _swap_direction(norm):
    if norm not in _SWAPPED_NORM:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    return _SWAPPED_NORM[norm]


@implements(np.fft.hfft)
def _np_hfft(a, n=None, axis=-1, norm=None, out=None):
    """FFT of a Hermitian-symmetric signal given by its first half: irfft(conj(a)) with the
    normalisation direction swapped, exactly as NumPy computes it."""
    _no_out(out, "hfft")
    nd = np.ndim(lower(a))
    axis = int(axis) % nd - nd
    n = 2 * (np.shape(lower(a))[axis] - 1) if n is None else int(n)
    conj = np.conjugate(a) if np.iscomplexobj(lower(a)) else a
    return irfft(conj, n=n, axis=axis, norm=_swap_direction(norm))


@implements(np.fft.ihfft)
def _np_ihfft(a, n=None, axis=-1, norm=None, out=None):
    """Inverse of hfft for a real signal: conj(rfft(a)) with the normalisation direction swapped."""
    _no_out(out, "ihfft")
    n, axis = _params(a, n, axis)
    return np.conjugate(rfft(a, n=n, axis=axis, norm=_swap_direction(norm)))


__all__ = ["real", "imag", "conjugate", "fft", "ifft", "rfft", "irfft"]
