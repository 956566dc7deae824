"""Structure-aware derivatives: sparsity detection, coloring, sparse Jacobians and Hessians (SPEC §9).

- ``jacobian_sparsity`` / ``hessian_sparsity``: patterns found by the index-set trace (``trace.py``,
  rules per family of primitives in ``rules.py``), a transformation of its own through the registry;
- ``coloring.py``: column, row, bidirectional and star colorings (vectorised);
- ``color_jacobian``, ``sparse_jacobian``, ``sparse_hessian``: compressed passes (one batched JVP or VJP
  over all colors) and decompression into CSR arrays.
"""

from autodiff.sparsity.detect import hessian_sparsity, jacobian_sparsity

__all__ = ["jacobian_sparsity", "hessian_sparsity"]
from autodiff.sparsity.sparse import (  # noqa: E402
    ColoredPattern,
    color_jacobian,
    pattern_summary,
    sparse_hessian,
    sparse_jacobian,
)

__all__ += ["ColoredPattern", "color_jacobian", "sparse_jacobian", "sparse_hessian", "pattern_summary"]
