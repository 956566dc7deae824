"""``jacobian_sparsity`` and ``hessian_sparsity``: patterns found by the index-set trace."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from autodiff.argnums import as_value, check_float_leaf, select_args
from autodiff.core import shape_of, trace_scope
from autodiff.pytree import tree_flatten, tree_unflatten
from autodiff.sparsity import patterns as P
from autodiff.sparsity.trace import IndexSetTrace, IndexTracer

__all__ = ["jacobian_sparsity", "hessian_sparsity", "trace_patterns"]


def _inputs(f: Callable, args: tuple, argnums: Any) -> tuple[Callable, list, Any]:
    g, dyn, _ = select_args(f, args, {}, argnums)
    flat, in_tree = tree_flatten(dyn)
    flat = [as_value(x) for x in flat]
    for x in flat:
        check_float_leaf(x, "input")
    return g, flat, in_tree


def trace_patterns(fun: Callable, flat: list, in_tree: Any) -> tuple[list, list]:
    """Run ``fun`` on index tracers for the leaves ``flat``; the flat outputs' values and patterns."""
    n = sum(int(np.size(x)) for x in flat)
    trace = IndexSetTrace(n)
    with trace_scope(trace):
        leaves, offset = [], 0
        for x in flat:
            k = int(np.size(x))
            leaves.append(IndexTracer(trace, x, P.identity(k, n, offset)))
            offset += k
        out = fun(*tree_unflatten(in_tree, leaves))
    values, pats = [], []
    for o in tree_flatten(out)[0]:
        if type(o) is IndexTracer and o._trace is trace:
            values.append(o.primal)
            pats.append(o.pattern)
        else:
            values.append(o)
            pats.append(P.empty(int(np.size(o)), n))
    return values, pats


def _stack(pats: list, n: int) -> sp.csr_array:
    if not pats:
        return P.empty(0, n)
    out = pats[0] if len(pats) == 1 else sp.csr_array(sp.vstack(pats, format="csr"), dtype=bool)
    return out


def jacobian_sparsity(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0) -> sp.csr_array:
    """The structural non-zeros of the Jacobian of ``f`` at ``args``, as a boolean CSR array (m, n).

    Row i is the i-th element of the flattened output (leaves concatenated), column j the j-th element
    of the flattened inputs named by ``argnums`` (leaves concatenated, in order). Entry (i, j) is True
    when output i can depend on input j for inputs that take the same control-flow path — found by the
    index-set trace (one pass of f, no derivative evaluated), so a True entry may still be zero at a
    particular point, but a False one is zero wherever f takes that path.

    Selections by value inside primitives (``where``, ``maximum``, ``clip``) keep both branches, and a
    constant's zeros are ignored by elementwise rules, so those never make the pattern local. Two things
    do, as Python control flow does: indices computed from the values (``x[np.argsort(x)]``, ``np.sort``)
    and a matrix computed from the values used in a product (whose zeros the product rule trusts, which
    keeps a constant stencil sparse). Such a pattern holds for inputs with the same order or mask.
    """
    g, flat, in_tree = _inputs(f, args, argnums)
    n = sum(int(np.size(x)) for x in flat)
    return _stack(trace_patterns(g, flat, in_tree)[1], n)


def hessian_sparsity(f: Callable, *args: Any, argnums: int | tuple[int, ...] = 0) -> sp.csr_array:
    """The structural non-zeros of the Hessian ∇²f of a scalar ``f`` at ``args``: boolean CSR (n, n).

    Found by running the index-set trace over reverse mode's computation of the gradient: row i is the
    set of inputs that ∂f/∂x_i depends on. The result is symmetrised (H is symmetric).
    """
    from reverse import grad  # L2: the sparsity package drives the modes

    g, flat, in_tree = _inputs(f, args, argnums)
    n = sum(int(np.size(x)) for x in flat)
    nums = tuple(range(len(tree_unflatten(in_tree, flat))))

    def gradient(*xs):
        return grad(g, argnums=nums)(*xs)

    pattern = _stack(trace_patterns(gradient, flat, in_tree)[1], n)
    if pattern.shape != (n, n):
        raise ValueError(f"hessian_sparsity: the gradient has {pattern.shape[0]} elements for {n} inputs; "
                         "f must return a scalar.")
    return sp.csr_array(pattern + pattern.T, dtype=bool)


def shape_signature(args: tuple) -> tuple:
    """The shapes and dtypes of the leaves of ``args``: the key that patterns are cached under."""
    flat, tree = tree_flatten(args)
    return (tree, tuple((shape_of(as_value(x)), str(as_value(x).dtype)) for x in flat))
