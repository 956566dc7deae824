"""Argument selection (``argnums``) and input checks, handled once for every functional operator."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff.core import Tracer, is_float_dtype

__all__ = ["normalize_argnums", "select_args", "check_float_leaf", "as_value"]


def normalize_argnums(argnums: int | tuple[int, ...], nargs: int) -> tuple[tuple[int, ...], bool]:
    """``argnums`` as a tuple of non-negative indices, and whether it was a single int."""
    if type(argnums) is int and 0 <= argnums < nargs:  # the common argnums=0, checked per call
        return (argnums,), True
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    if not nums:
        raise ValueError("argnums is empty: name at least one argument to differentiate.")
    out = []
    for a in nums:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}.")
        if not -nargs <= a < nargs:
            raise ValueError(
                f"argnums={argnums!r} is out of range: the function was called with {nargs} positional "
                f"argument(s), so argnums must be in [{-nargs}, {nargs - 1}]."
            )
        out.append(a % nargs)
    return tuple(out), single


def select_args(f: Callable, args: tuple, kwargs: dict, argnums: Any) -> tuple[Callable, tuple, bool]:
    """Split ``args`` into the differentiated ones and the rest.

    Returns ``(g, selected, single)`` where ``g(*selected)`` calls ``f`` with the other arguments fixed.
    """
    if type(argnums) is int and argnums == 0 and len(args) == 1 and not kwargs:
        return f, args, True    # f(x), the most common call: nothing to normalize or select
    nums, single = normalize_argnums(argnums, len(args))
    if not kwargs and len(nums) == len(args) and nums == tuple(range(len(args))):
        return f, args, single  # every argument is differentiated, in order: no wrapper needed

    def g(*chosen):
        full = list(args)
        for i, v in zip(nums, chosen):
            full[i] = v
        return f(*full, **kwargs)

    return g, tuple(args[i] for i in nums), single


def as_value(x: Any) -> Any:
    """A leaf as an array: tracers stay as they are (outer transformations), the rest via np.asarray."""
    if isinstance(x, Tracer):
        return x
    value = getattr(x, "_autodiff_value", None)
    if value is not None:  # Tensor/Variable of the TensorFlow-style API
        return value()
    return np.asarray(x)


def check_float_leaf(x: Any, what: str = "input") -> None:
    """Raise TypeError for an integer/boolean leaf that was asked to be differentiated."""
    dtype = x.dtype
    if not is_float_dtype(dtype):
        raise TypeError(
            f"cannot differentiate with respect to an {what} of dtype {dtype}: integer and boolean values "
            "have no derivative. Pass floats (e.g. 2.0 instead of 2, or x.astype(float)), or leave this "
            "argument out of argnums."
        )
