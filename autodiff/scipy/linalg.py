"""Differentiable ``scipy.linalg``, with SciPy's names, signatures and return conventions.

SciPy's own functions convert their arguments to ndarrays and so cannot see traced values; these can, in
both modes and at any order, and return exactly SciPy's values for the same inputs (each primitive calls
SciPy's function). Matrices are 2-D and real: a complex argument raises NotImplementedError (the rules
are written for real matrices). The ``overwrite_*`` and ``check_finite`` arguments are accepted for
compatibility and have no effect on traced values (nothing is overwritten).

See ``autodiff.rules.scipy_linalg`` (and ``autodiff.rules.linalg`` for ``solve_triangular``, ``expm``) for
the derivatives.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from autodiff.core import lower as _value
from autodiff.rules import scipy_linalg as _r
from autodiff.rules.linalg import expm, solve_triangular

__all__ = ["cho_factor", "cho_solve", "det", "expm", "inv", "lu_factor", "lu_solve", "solve",
           "solve_banded", "solve_sylvester", "solve_triangular", "sqrtm"]


def _real_matrix(name, *arrays, square=True):
    """Check that each array is a real 2-D (square) matrix; raise a clear error otherwise."""
    for a in arrays:
        v = _value(a)
        if np.iscomplexobj(v):
            raise NotImplementedError(
                f"autodiff.scipy.linalg.{name}: complex input is not supported (the derivative rules are "
                "written for real matrices); use scipy.linalg directly on plain arrays.")
        if np.ndim(v) != 2 or (square and np.shape(v)[0] != np.shape(v)[1]):
            raise ValueError(f"autodiff.scipy.linalg.{name}: expected a 2-D{' square' if square else ''} "
                             f"matrix, got shape {np.shape(v)}")


def _check_rhs(name, a, b):
    """b must be real with a.shape[0] rows; returns (b as a matrix, whether it was a vector)."""
    v = _value(b)
    if np.iscomplexobj(v):
        raise NotImplementedError(f"autodiff.scipy.linalg.{name}: complex right-hand sides are not "
                                  "supported.")
    n = np.shape(_value(a))[-1]
    if np.ndim(v) not in (1, 2) or np.shape(v)[0] != n:
        raise ValueError(f"autodiff.scipy.linalg.{name}: b must have shape ({n},) or ({n}, k), got "
                         f"{np.shape(v)}")
    vector = np.ndim(v) == 1
    return (np.reshape(b, (n, 1)) if vector else b), vector


def _rhs_result(x, vector):
    return x[:, 0] if vector else x


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """``scipy.linalg.solve``: x with A x = b (Aᵀ x = b if ``transposed``).

    Derivative dx = A⁻¹(db - dA x). With ``assume_a`` "sym"/"pos" (or "her", spelled out or not) only the
    ``lower`` (else upper) triangle of A is read, and A stands for the symmetric matrix it makes; with
    "lower triangular"/"upper triangular" only that triangle: the derivative in the unread entries is 0.
    The banded kinds ("diagonal", "tridiagonal", "banded") are not supported (use solve_banded).
    """
    if assume_a not in _r.ASSUME_A:
        raise NotImplementedError(
            f"autodiff.scipy.linalg.solve(assume_a={assume_a!r}) is not supported; use one of "
            f"{sorted(k for k in _r.ASSUME_A if k)} or None, or solve_banded for a banded matrix.")
    _real_matrix("solve", a)
    b2, vector = _check_rhs("solve", a, b)
    x = _r.solve(a, b2, assume_a=assume_a, lower=bool(lower), transposed=bool(transposed))
    return _rhs_result(x, vector)


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """``scipy.linalg.inv``: A⁻¹, derivative -A⁻¹ dA A⁻¹. ``assume_a`` "sym"/"pos" read one triangle
    (the derivative in the other is 0), as in :func:`solve`."""
    if assume_a not in _r.ASSUME_A or assume_a in ("lower triangular", "upper triangular"):
        raise NotImplementedError(f"autodiff.scipy.linalg.inv(assume_a={assume_a!r}) is not supported; "
                                  "use None, 'gen', 'sym' or 'pos'.")
    _real_matrix("inv", a)
    return _r.inv(a, assume_a=assume_a, lower=bool(lower))


def det(a, overwrite_a=False, check_finite=True):
    """``scipy.linalg.det``: det A, derivative det(A) tr(A⁻¹ dA) (the rule of ``np.linalg.det``).
    As SciPy, the result is float64 even for float32 input."""
    _real_matrix("det", a)
    return _r.det(a)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cho_factor``: ``(c, lower)`` with the Cholesky factor in one triangle of c.

    Exactly SciPy's c: the factor (L with A = L Lᵀ if ``lower``, else U with A = Uᵀ U) in that triangle,
    and in the other strict triangle the entries of ``a`` unchanged (what LAPACK leaves there; SciPy
    documents them as arbitrary). Only the ``lower`` (else upper) triangle of ``a`` is read for the
    factor, so the factor's derivative in the other entries is zero; the copied entries have derivative
    one. Pass the result to :func:`cho_solve`, which reads only the factor's triangle.
    """
    _real_matrix("cho_factor", a)
    return _r.cho_factor(a, lower=bool(lower)), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``scipy.linalg.cho_solve``: x with A x = b, A = F Fᵀ given by ``cho_factor``'s ``(c, lower)``.

    Only the factor's triangle of c is read (derivative zero elsewhere); dx = A⁻¹(db - dA x).
    """
    c, low = c_and_lower
    _real_matrix("cho_solve", c)
    b2, vector = _check_rhs("cho_solve", c, b)
    return _rhs_result(_r.cho_solve(c, b2, lower=bool(low)), vector)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``scipy.linalg.lu_factor``: ``(lu, piv)`` with P A = L U packed in lu (unit lower L below the
    diagonal, U on and above it) and LAPACK's pivots ``piv`` (row i was swapped with row piv[i]).

    ``piv`` is a plain integer array (as SciPy's): pivoting is piecewise constant. lu differentiates by
    dL = L tril₋₁(X), dU = triu(X) U with X = L⁻¹ P dA U⁻¹ (square A; the pivots held fixed).
    """
    shape = np.shape(_value(a))
    if np.ndim(_value(a)) == 2 and shape[0] != shape[1]:
        raise NotImplementedError(f"autodiff.scipy.linalg.lu_factor: only square matrices are supported (the "
                                  f"derivative of a rectangular LU is not implemented), got shape {shape}")
    _real_matrix("lu_factor", a)
    piv = scipy.linalg.lu_factor(np.asarray(_value(a)))[1]
    return _r.lu_factor(a, piv=tuple(int(p) for p in piv)), piv


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """``scipy.linalg.lu_solve``: x with A x = b (``trans`` 1 or 2: Aᵀ x = b), A given by ``lu_factor``.

    Derivative in b: A⁻¹ db; in lu: -A⁻¹ dA x with dA = Pᵀ(dL U + L dU) from the packed factors.
    """
    lu, piv = lu_and_piv
    trans = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}.get(trans)
    if trans is None:
        raise ValueError("autodiff.scipy.linalg.lu_solve: trans must be 0, 1 or 2")
    _real_matrix("lu_solve", lu)
    b2, vector = _check_rhs("lu_solve", lu, b)
    x = _r.lu_solve(lu, b2, piv=tuple(int(p) for p in np.asarray(piv)), trans=trans)
    return _rhs_result(x, vector)


def solve_sylvester(a, b, q):
    """``scipy.linalg.solve_sylvester``: X with A X + X B = Q.

    dX solves A dX + dX B = dQ - dA X - X dB; the VJP solves the adjoint equation Aᵀ Y + Y Bᵀ = Ḡ and
    gives Q̄ = Y, Ā = -Y Xᵀ, B̄ = -Xᵀ Y.
    """
    _real_matrix("solve_sylvester", a, b)
    _real_matrix("solve_sylvester", q, square=False)
    want = (np.shape(_value(a))[0], np.shape(_value(b))[0])
    if np.shape(_value(q)) != want:
        raise ValueError(f"autodiff.scipy.linalg.solve_sylvester: q must have shape {want} (rows of a, "
                         f"columns of b), got {np.shape(_value(q))}")
    return _r.solve_sylvester(a, b, q)


def sqrtm(A, disp=True, blocksize=64):
    """``scipy.linalg.sqrtm``: the principal square root X of A (X X = A).

    dX solves the Sylvester equation X dX + dX X = dA. Real A whose square root is real only: a matrix
    with eigenvalues on the closed negative real axis has a complex (or no) principal square root, which
    raises NotImplementedError. ``disp`` and ``blocksize`` are accepted and ignored.
    """
    _real_matrix("sqrtm", A)
    out = _r.sqrtm(A)
    if np.iscomplexobj(_value(out)):
        raise NotImplementedError("autodiff.scipy.linalg.sqrtm: this matrix has a complex square root "
                                  "(eigenvalues on the negative real axis); only real results are "
                                  "differentiable here.")
    return out


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """``scipy.linalg.solve_banded``: x with A x = b, A in LAPACK band storage ab[u + i - j, j] = A[i, j].

    Derivative dx = A⁻¹(db - dA x), with dA in the same band storage (entries of ab outside the band
    matrix, the corners LAPACK never reads, get derivative zero).
    """
    nlow, nup = (int(w) for w in l_and_u)
    v = _value(ab)
    if np.iscomplexobj(v) or np.iscomplexobj(_value(b)):
        raise NotImplementedError("autodiff.scipy.linalg.solve_banded: complex input is not supported.")
    if np.ndim(v) != 2 or np.shape(v)[0] != nlow + nup + 1:
        raise ValueError(f"autodiff.scipy.linalg.solve_banded: ab must have shape ({nlow + nup + 1}, n) for "
                         f"(l, u) = ({nlow}, {nup}), got {np.shape(v)}")
    b2, vector = _check_rhs("solve_banded", ab, b)
    return _rhs_result(_r.banded(ab, b2, lu=(nlow, nup), trans=False), vector)
