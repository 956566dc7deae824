"""All differentiation rules, loaded eagerly in one place so the registry is complete after import.

One module per family; in each, every primitive is followed by its rules and its test domain.
"""

# NumPy's everyday functions: composites and a few primitives (numeric, statistics, arrays, fft_nd) and
# the ufunc methods outer/reduce/accumulate/reduceat (ufunc_methods).
import autodiff.rules.arrays  # noqa: F401
import autodiff.rules.fft_nd  # noqa: F401
import autodiff.rules.numeric  # noqa: F401
import autodiff.rules.statistics  # noqa: F401
import autodiff.rules.ufunc_methods  # noqa: F401
from autodiff.core import defjvp, defvjp, primitive
from autodiff.pytree import tree_map
from autodiff.rules import (  # noqa: F401  (scipy_linalg reuses linalg's rules, so it comes after)
    elementwise,
    fft,
    linalg,
    products,
    reductions,
    scipy_linalg,
    scipy_signal,
    shape,
    special,
)
from autodiff.rules.shape import index_add_public as index_add
from autodiff.rules.shape import index_update_public as index_update
from autodiff.rules.ufunc_methods import register_all as _register_ufunc_methods


def _identity(x):
    return x


_stop = primitive(_identity, name="stop_gradient")
defjvp(_stop, None)
defvjp(_stop, None)


def stop_gradient(x):
    """The value of ``x`` (an array or a pytree of arrays) with derivative zero, in both modes."""
    return tree_map(_stop, x)

__all__ = ["stop_gradient", "index_add", "index_update"]

# after every rule module: ufunc methods for all binary ufuncs registered by then
_register_ufunc_methods()
