"""A heap that keeps freed memory for the next transformation (glibc only; elsewhere a no-op).

Why: a Jacobian pass allocates and frees many large temporaries (batched tangents and cotangents).
With glibc's defaults, freed memory at the top of the heap goes back to the OS once it exceeds
``M_TRIM_THRESHOLD`` (dynamic: twice the largest freed mmapped block, so a few MiB), and the next call
page-faults it in afresh: at medium sizes that costs more than the arithmetic (chain 512×512 by reverse
mode, best of 7: 4.9-5.6 ms with the defaults, 2.3-3.0 ms with a heap that keeps its memory).

:func:`tuned` sets, while the block runs, large blocks to come from the heap (``M_MMAP_THRESHOLD``
1 GiB); when the last concurrent user leaves, the threshold goes to 32 MiB, the ceiling glibc's own
dynamic rule reaches (any ``mallopt`` call switches that rule off for good). On first use it also sets
the trim threshold to :data:`RETAIN_BYTES` (256 MiB) and the top pad to 64 MiB (one ``sbrk`` per
64 MiB, not one per block), and leaves them: that is what makes the next call fast. Measured:
restoring the trim threshold to glibc's value after each call gives the page faults back (chain
512×512 reverse: 5.6-7.6 ms). So up to 256 MiB of freed memory stays with the process between
transformations, as a buffer pool would keep it; :func:`release` hands it back to the OS and restores
glibc's trim threshold and top pad. Two ``mallopt`` calls per transformation (~1 µs each).

What user code sees does not change: values, dtypes and ownership are untouched, only where malloc
takes memory from. Thread-safe: a counter under a lock, so overlapping transformations in several
threads tune once and restore once (when the last one ends). Re-entrant (nested transformations).
A no-op off glibc, and when the process was started with any of the three ``MALLOC_*_`` variables set
(the user chose the heap already).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
from typing import Any, Callable

__all__ = ["tuned", "tuned_call", "available", "active", "release", "TUNED_SETTINGS", "RETAIN_BYTES"]

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

RETAIN_BYTES = 256 * 2**20
"""Freed memory the process keeps at the top of its heap between transformations."""

TUNED_SETTINGS = {_M_MMAP_THRESHOLD: 2**30}
"""mallopt settings while a transformation runs (mallopt takes a C int)."""

# After: glibc's DEFAULT_MMAP_THRESHOLD_MAX (64-bit).
_AFTER = {_M_MMAP_THRESHOLD: 32 * 2**20}
# Once, on first use, and kept until release().
_ONCE = {_M_TRIM_THRESHOLD: RETAIN_BYTES, _M_TOP_PAD: 64 * 2**20}
# glibc's DEFAULT_TRIM_THRESHOLD and DEFAULT_TOP_PAD, which release() restores.
_GLIBC = {_M_TRIM_THRESHOLD: 128 * 1024, _M_TOP_PAD: 128 * 1024}
_ENV = {_M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_", _M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_",
        _M_TOP_PAD: "MALLOC_TOP_PAD_"}


def _load_libc() -> Any:
    """glibc (with ``mallopt`` and ``malloc_trim`` typed), or None on another libc or platform."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it (musl does not)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()
_lock = threading.Lock()
_users = 0
_once_done = False
_user_chose = any(os.environ.get(name) is not None for name in _ENV.values())


def available() -> bool:
    """True where :func:`tuned` changes the heap (glibc, no ``MALLOC_*_`` variables set)."""
    return _libc is not None and not _user_chose


def disregard_environment() -> None:
    """Let :func:`tuned` change the heap although ``MALLOC_*_`` variables are set.

    For a process whose variables a launcher set rather than the user (a Dask Nanny sets
    ``MALLOC_TRIM_THRESHOLD_`` in every worker it starts): the variables' own effect on glibc stays
    outside :func:`tuned` blocks, and inside them the tuned settings apply as they do elsewhere.
    """
    global _user_chose
    _user_chose = False


def active() -> bool:
    """True while some transformation holds the tuned heap."""
    return _users > 0


def _apply(settings: dict[int, int]) -> None:
    mallopt = _libc.mallopt
    for param, value in settings.items():
        mallopt(param, value if type(value) is int and value < 2**31 else min(int(value), 2**31 - 1))


class tuned:
    """Context manager: a heap that keeps freed memory while the block runs (see the module's text).

    The first of overlapping users (threads, nested transformations) tunes, the last one restores.
    """

    __slots__ = ("_on",)

    def __enter__(self) -> tuned:
        global _users, _once_done
        self._on = available()
        if self._on:
            with _lock:
                if _users == 0:
                    if not _once_done:
                        _apply(_ONCE)
                        _once_done = True
                    _apply(TUNED_SETTINGS)
                _users += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        global _users
        if self._on:
            with _lock:
                _users -= 1
                if _users == 0:
                    _apply(_AFTER)


def tuned_call(fn: Callable) -> Callable:
    """Decorator: ``fn`` runs inside :func:`tuned` (for the entry points of transformations)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with tuned():
            return fn(*args, **kwargs)
    return wrapper


def release() -> None:
    """Give the freed memory :func:`tuned` kept back to the OS; restore glibc's trim threshold and top pad.

    The next :func:`tuned` block sets them again. Does nothing while a transformation holds the tuned
    heap, or where :func:`available` is False.
    """
    global _once_done
    if not available():
        return
    with _lock:
        if _users == 0:
            _apply(_GLIBC)
            _once_done = False
            if _libc is not None:
                _libc.malloc_trim(0)
