"""The index-set trace: a third transformation through the same registry as forward and reverse mode.

An :class:`IndexTracer` carries a value and its *pattern*: for each of its elements, the set of input
elements it can depend on (a CSR boolean matrix, see ``autodiff.sparsity.patterns``). The trace
computes every primitive's value one level down, exactly as forward mode does (so Python control flow
follows the real values), and the output's pattern from the primitive's family rule
(``autodiff.sparsity.rules``). It nests with the other transformations like any trace: running reverse
mode inside it traces the gradient's computation, which is how Hessian patterns are found.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from autodiff.core import Primitive, Trace, Tracer, is_float_dtype, lower, shape_of
from autodiff.sparsity.rules import rule_for

__all__ = ["IndexSetTrace", "IndexTracer", "has_derivative"]


def has_derivative(prim: Primitive, i: int) -> bool:
    """False when argument ``i`` of ``prim`` has a declared zero derivative (an explicit None rule)."""
    for rules in (prim.jvps, prim.vjps):
        if rules is not None:
            return i >= len(rules) or rules[i] is not None  # a missing rule is not a zero
    return True


class IndexTracer(Tracer):
    """A traced value of the index-set trace: ``primal`` and its ``pattern`` (CSR, (size, n))."""

    __slots__ = ("primal", "pattern", "_trace")

    def __init__(self, trace: IndexSetTrace, primal: Any, pattern: sp.csr_array) -> None:
        self._trace = trace
        self.primal = primal
        self.pattern = pattern

    def __repr__(self) -> str:
        return f"IndexTracer(shape={shape_of(self.primal)}, nnz={self.pattern.nnz})"


class IndexSetTrace(Trace):
    """One sparsity detection: inputs have ``n`` elements in all; patterns have n columns."""

    __slots__ = ("n",)
    tracer_type = IndexTracer

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def apply(self, prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        """``ans`` with, for each of its elements, the input elements it can depend on (the union the
        primitive's family rule gives over the traced arguments with a derivative)."""
        pats = {i: args[i].pattern for i in traced if has_derivative(prim, i)}
        if not pats or not is_float_dtype(np.result_type(lower(ans))):
            return ans  # a constant: zero derivative, or integer/boolean data
        pattern = rule_for(prim)(ans, list(primals), pats, params)
        return IndexTracer(self, ans, pattern) if pattern.nnz else ans
