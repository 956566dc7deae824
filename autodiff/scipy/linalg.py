"""Differentiable ``scipy.linalg``: ``solve_triangular`` and ``expm`` with SciPy's signatures.

SciPy's own functions convert their arguments to ndarrays and so cannot see traced values; these can.
See ``autodiff.rules.linalg`` for the rules.
"""

from autodiff.rules.linalg import expm, solve_triangular

__all__ = ["expm", "solve_triangular"]
