"""Multi-dimensional FFTs and the spectrum shifts of numpy.fft: fft2, ifft2, fftn, ifftn, rfft2, irfft2,
rfftn, irfftn, fftshift, ifftshift.

NumPy computes an n-dimensional transform as 1-D transforms along its axes, last axis first; these
adapters do the same with the 1-D primitives of ``autodiff.rules.fft``, so the values are NumPy's and the
derivatives are those of the 1-D rules (each linear). The shifts are ``np.roll`` by half the length.
"""

from __future__ import annotations

import warnings

import numpy as np

from autodiff.core import implements, lower, shape_of


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.fft.{name}(..., out=...) writes in place and cannot be differentiated; "
                        "use the returned value.")


def _shape_and_axes(a, s, axes, invreal=False):
    """NumPy's transform lengths and axes (its ``_cook_nd_args``, with the same warnings and errors)."""
    shape = shape_of(lower(a))
    shapeless = s is None
    if s is None:
        s = list(shape) if axes is None else [shape[ax] for ax in axes]
    s = list(s)
    if axes is None:
        if not shapeless:
            warnings.warn("`axes` should not be `None` if `s` is not `None` (Deprecated in NumPy 2.0); "
                          "pass axes explicitly.", DeprecationWarning, stacklevel=3)
        axes = list(range(-len(s), 0))
    axes = list(axes)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if invreal and shapeless:
        s[-1] = (shape[axes[-1]] - 1) * 2
    if None in s:
        warnings.warn("Passing an array containing `None` values to `s` is deprecated in NumPy 2.0.",
                      DeprecationWarning, stacklevel=3)
    s = [shape[ax] if n == -1 else n for n, ax in zip(s, axes)]
    return s, axes


def _complex_nd(transform, a, s, axes, norm):
    s, axes = _shape_and_axes(a, s, axes)
    for n, ax in reversed(list(zip(s, axes))):
        a = transform(a, n=n, axis=ax, norm=norm)
    return a


@implements(np.fft.fftn)
def _np_fftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.fftn``: 1-D FFTs along ``axes`` (last first), as NumPy computes it."""
    _no_out(out, "fftn")
    return _complex_nd(np.fft.fft, a, s, axes, norm)


@implements(np.fft.ifftn)
def _np_ifftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.ifftn``: 1-D inverse FFTs along ``axes`` (last first)."""
    _no_out(out, "ifftn")
    return _complex_nd(np.fft.ifft, a, s, axes, norm)


@implements(np.fft.fft2)
def _np_fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.fft2``: fftn over the last two axes."""
    return _np_fftn(a, s, axes, norm, out)


@implements(np.fft.ifft2)
def _np_ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.ifft2``: ifftn over the last two axes."""
    return _np_ifftn(a, s, axes, norm, out)


@implements(np.fft.rfftn)
def _np_rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn``: rfft along the last axis, then complex FFTs along the others."""
    _no_out(out, "rfftn")
    s, axes = _shape_and_axes(a, s, axes)
    a = np.fft.rfft(a, s[-1], axes[-1], norm)
    for ii in range(len(axes) - 2, -1, -1):
        a = np.fft.fft(a, s[ii], axes[ii], norm)
    return a


@implements(np.fft.irfftn)
def _np_irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn``: inverse complex FFTs along all but the last axis, then irfft along it."""
    _no_out(out, "irfftn")
    s, axes = _shape_and_axes(a, s, axes, invreal=True)
    for ii in range(len(axes) - 1):
        a = np.fft.ifft(a, s[ii], axes[ii], norm)
    return np.fft.irfft(a, s[-1], axes[-1], norm)


@implements(np.fft.rfft2)
def _np_rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2``: rfftn over the last two axes."""
    return _np_rfftn(a, s, axes, norm, out)


@implements(np.fft.irfft2)
def _np_irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2``: irfftn over the last two axes."""
    return _np_irfftn(a, s, axes, norm, out)


def _shifts(x, axes, sign):
    shape = shape_of(lower(x))
    if axes is None:
        return tuple(range(len(shape))), [sign * (d // 2) for d in shape]
    if isinstance(axes, (int, np.integer)):
        return axes, sign * (shape[axes] // 2)
    return axes, [sign * (shape[ax] // 2) for ax in axes]


@implements(np.fft.fftshift)
def _np_fftshift(x, axes=None):
    """``np.fft.fftshift``: the zero frequency moved to the centre (a roll by n // 2)."""
    axes, shift = _shifts(x, axes, 1)
    return np.roll(x, shift, axes)


@implements(np.fft.ifftshift)
def _np_ifftshift(x, axes=None):
    """``np.fft.ifftshift``: the inverse of fftshift (a roll by -(n // 2))."""
    axes, shift = _shifts(x, axes, -1)
    return np.roll(x, shift, axes)
