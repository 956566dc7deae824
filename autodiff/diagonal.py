"""Diagonal seed batches: now part of :mod:`autodiff.structured`, which owns every structured
(co)tangent form. These names stay importable from here for the modules that use them."""

from autodiff.structured import MIN_SIZE, diagonal_matrix, diagonal_of
from autodiff.structured import through_elementwise as pull_diagonal

__all__ = ["diagonal_matrix", "diagonal_of", "pull_diagonal", "MIN_SIZE"]
