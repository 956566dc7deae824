"""One call of every NumPy adapter (``@implements``), shared by tests/test_adapter_signatures.py and
tests/test_traced_values_equal_numpy.py.

Each case calls a NumPy function the way a user would: every argument NumPy lets you pass by position is
passed by position, with a value other than its default where that changes the result (``np.concatenate
((a, b), 1)``, ``np.sum(x, 1, None, None, True)``). A case is ``(function, call, inputs)``: ``call(*inputs)``
makes the call, on plain arrays or on traced ones, and the inputs are the arrays that get traced.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import pytest


class Case(NamedTuple):
    fn: Callable
    call: Callable
    inputs: tuple
    note: str = ""

    @property
    def name(self) -> str:
        module = {"numpy.linalg": "np.linalg", "numpy.fft": "np.fft"}.get(self.fn.__module__, "np")
        return f"{module}.{self.fn.__name__}" + (f"[{self.note}]" if self.note else "")


_rng = np.random.default_rng(20261201)
A = _rng.uniform(-2.0, 2.0, (2, 3))
B = _rng.uniform(-2.0, 2.0, (2, 3))
C = _rng.uniform(-2.0, 2.0, (2, 4))
V = _rng.uniform(-2.0, 2.0, 3)
W = _rng.uniform(-2.0, 2.0, 3)
T = _rng.uniform(-2.0, 2.0, (2, 3, 4))
S = _rng.uniform(-1.0, 1.0, (3, 3)) + 3.0 * np.eye(3)           # well conditioned
SPD = S @ S.T + np.eye(3)
Q3 = _rng.uniform(-2.0, 2.0, (4, 3))
WITH_NAN = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, -1.0]])
M43 = _rng.normal(size=(4, 3))            # LAPACK gives these factors signs that tracing used to change
SYM = M43.T @ M43 - 2.0 * np.eye(3)
_P = np.eye(3) + 0.3 * _rng.uniform(-1.0, 1.0, (3, 3))
EIG = _P @ np.diag([1.0, 3.0, 6.0]) @ np.linalg.inv(_P)          # real eigenvalues well apart
ROT = np.array([[0.5, -2.0, 0.1], [2.0, 0.5, 0.3], [0.0, 0.2, 3.0]])  # eigenvalues 0.5 ± 2i and ~3
T6 = (_rng.uniform(-1.0, 1.0, (6, 6)) + 4.0 * np.eye(6)).reshape(6, 2, 3)  # square as a (6, 6) matrix
DISTINCT = (_rng.permutation(24) * 0.37 - 4.0 + _rng.uniform(-0.05, 0.05, 24)).reshape(2, 3, 4)
XP = np.array([-1.5, -0.7, 0.2, 0.9, 1.8])                       # knots of interp
XQ = np.array([[-1.9, -1.1, 0.5], [1.3, 2.2, -0.3]])             # away from the knots, two outside

CASES: list[Case] = [
    # ---- shape.py ----------------------------------------------------------------------------------
    Case(np.reshape, lambda a: np.reshape(a, (3, 2), "C"), (A,)),
    Case(np.reshape, lambda a: np.reshape(a, shape=-1), (A,), "shape="),
    Case(np.ravel, lambda a: np.ravel(a, "C"), (A,)),
    Case(np.expand_dims, lambda a: np.expand_dims(a, (0, 2)), (A,)),
    Case(np.squeeze, lambda a: np.squeeze(a, 0), (A[None],)),
    Case(np.broadcast_to, lambda a: np.broadcast_to(a, (4, 3), False), (V,)),
    Case(np.transpose, lambda a: np.transpose(a, (1, 2, 0)), (T,)),
    Case(np.swapaxes, lambda a: np.swapaxes(a, 0, 2), (T,)),
    Case(np.moveaxis, lambda a: np.moveaxis(a, 0, -1), (T,)),
    Case(np.concatenate, lambda a, b: np.concatenate((a, b), 1), (A, C)),
    Case(np.concatenate, lambda a, b: np.concatenate((a, b), None, None), (A, C), "axis=None"),
    Case(np.concatenate, lambda a, b: np.concatenate([a, b], axis=0, dtype=np.float32), (A, B), "dtype"),
    Case(np.stack, lambda a, b: np.stack((a, b), 2, None), (A, B)),
    Case(np.stack, lambda a, b: np.stack((a, b), -1, dtype=np.float32), (A, B), "dtype"),
    Case(np.hstack, lambda a, b: np.hstack((a, b), dtype=np.float32), (A, C)),
    Case(np.vstack, lambda a, b: np.vstack((a, b)), (V, A)),
    Case(np.column_stack, lambda a, b: np.column_stack((a, b)), (V, W)),
    Case(np.atleast_1d, lambda a, b: np.atleast_1d(a, b), (np.float64(2.5), V)),
    Case(np.atleast_2d, lambda a, b: np.atleast_2d(a, b), (V, A)),
    Case(np.split, lambda a: np.split(a, [1], 1), (A,)),
    Case(np.array_split, lambda a: np.array_split(a, 2, 1), (A,)),
    Case(np.hsplit, lambda a: np.hsplit(a, 3), (A,)),
    Case(np.vsplit, lambda a: np.vsplit(a, 2), (A,)),
    Case(np.unstack, lambda a: np.unstack(a, axis=1), (A,)),
    Case(np.matrix_transpose, lambda a: np.matrix_transpose(a), (T,)),
    Case(np.linalg.matrix_transpose, lambda a: np.linalg.matrix_transpose(a), (T,)),
    Case(np.permute_dims, lambda a: np.permute_dims(a, (2, 0, 1)), (T,)),
    Case(np.concat, lambda a, b: np.concat((a, b), 1), (A, C)),
    Case(np.tile, lambda a: np.tile(a, (2, 1, 2)), (A,)),
    Case(np.repeat, lambda a: np.repeat(a, 2, 1), (A,)),
    Case(np.repeat, lambda a: np.repeat(a, [1, 0, 2], 1), (A,), "array repeats"),
    Case(np.flip, lambda a: np.flip(a, 1), (A,)),
    Case(np.fliplr, lambda a: np.fliplr(a), (A,)),
    Case(np.flipud, lambda a: np.flipud(a), (A,)),
    Case(np.roll, lambda a: np.roll(a, 2, 1), (A,)),
    Case(np.roll, lambda a: np.roll(a, (1, -1), (0, 1)), (A,), "tuples"),
    Case(np.take, lambda a: np.take(a, [2, 0, 7], 1, None, "wrap"), (A,)),
    Case(np.take_along_axis, lambda a: np.take_along_axis(a, np.argsort(A, 1), 1), (A,)),
    Case(np.sort, lambda a: np.sort(a, 0, "stable", None), (A,)),
    Case(np.diagonal, lambda a: np.diagonal(a, 1, 2, 1), (T,)),
    Case(np.diag, lambda a: np.diag(a, -1), (V,)),
    Case(np.diag, lambda a: np.diag(a, 1), (S,), "2-D"),
    Case(np.tril, lambda a: np.tril(a, -1), (S,)),
    Case(np.triu, lambda a: np.triu(a, 1), (S,)),
    Case(np.pad, lambda a: np.pad(a, ((1, 0), (2, 1)), "constant", constant_values=1.5), (A,)),
    Case(np.pad, lambda a: np.pad(a, 1, "reflect"), (A,), "reflect"),
    # ---- elementwise.py ----------------------------------------------------------------------------
    Case(np.where, lambda a, b: np.where(A > 0, a, b), (A, B)),
    Case(np.clip, lambda a: np.clip(a, -0.5, 0.7), (A,)),
    Case(np.clip, lambda a: np.clip(a, min=-0.5), (A,), "min="),
    Case(np.nan_to_num, lambda a: np.nan_to_num(a, True, 7.0, 1.0, -1.0), (WITH_NAN,)),
    # ---- reductions.py -----------------------------------------------------------------------------
    Case(np.sum, lambda a: np.sum(a, 1, None, None, True, 2.5), (A,)),
    Case(np.sum, lambda a: np.sum(a, 0, np.float32), (A,), "dtype"),
    Case(np.mean, lambda a: np.mean(a, 1, None, None, True), (A,)),
    Case(np.prod, lambda a: np.prod(a, 1, None, None, True, 2.0), (A,)),
    Case(np.max, lambda a: np.max(a, 1, None, True, 1.0), (A,)),
    Case(np.amax, lambda a: np.amax(a, 0), (A,)),
    Case(np.min, lambda a: np.min(a, 1, None, True, -1.0), (A,)),
    Case(np.amin, lambda a: np.amin(a, 0), (A,)),
    Case(np.ptp, lambda a: np.ptp(a, 1, None, True), (A,)),
    Case(np.var, lambda a: np.var(a, 1, None, None, 1, True), (A,)),
    Case(np.var, lambda a: np.var(a, 1, mean=np.mean(A, 1, keepdims=True) + 0.25), (A,), "mean="),
    Case(np.std, lambda a: np.std(a, 0, None, None, 1, True), (A,)),
    Case(np.std, lambda a: np.std(a, 1, correction=1), (A,), "correction="),
    Case(np.cumsum, lambda a: np.cumsum(a, 1), (A,)),
    Case(np.cumprod, lambda a: np.cumprod(a, 0), (A,)),
    Case(np.cumulative_sum, lambda a: np.cumulative_sum(a, axis=1, include_initial=True), (A,)),
    Case(np.cumulative_prod, lambda a: np.cumulative_prod(a, axis=0, include_initial=True), (A,)),
    Case(np.trace, lambda a: np.trace(a, 1, 2, 1), (T,)),
    Case(np.linalg.trace, lambda a: np.linalg.trace(a, offset=-1), (T,)),
    Case(np.average, lambda a, w: np.average(a, 1, w, True), (A, np.abs(B) + 0.5)),
    Case(np.nansum, lambda a: np.nansum(a, 1, None, None, True), (WITH_NAN,)),
    Case(np.nanmean, lambda a: np.nanmean(a, 0, None, None, True), (WITH_NAN,)),
    Case(np.nanprod, lambda a: np.nanprod(a, 1, None, None, True), (WITH_NAN,)),
    Case(np.nanmax, lambda a: np.nanmax(a, 1, None, True, 4.0), (WITH_NAN,)),
    Case(np.nanmin, lambda a: np.nanmin(a, 0, None, True, 0.0), (WITH_NAN,)),
    # ---- products.py -------------------------------------------------------------------------------
    Case(np.einsum, lambda a, b: np.einsum("ij,kj->ik", a, b), (A, B)),
    Case(np.einsum, lambda a, b: np.einsum(a, [0, 1], b, [2, 1], [0, 2]), (A, B), "sublists"),
    Case(np.dot, lambda a, b: np.dot(a, b), (A, V)),
    Case(np.dot, lambda a, b: np.dot(a, b), (T.transpose(0, 2, 1), T), "N-D"),
    Case(np.tensordot, lambda a, b: np.tensordot(a, b, ([1], [1])), (A, B)),
    Case(np.inner, lambda a, b: np.inner(a, b), (A, B)),
    Case(np.outer, lambda a, b: np.outer(a, b), (V, A)),
    Case(np.vdot, lambda a, b: np.vdot(a, b), (A, B)),
    Case(np.kron, lambda a, b: np.kron(a, b), (A, V)),
    Case(np.cross, lambda a, b: np.cross(a, b, 0, 0, 0), (A.T, B.T)),
    Case(np.cross, lambda a, b: np.cross(a, b, axis=0), (A.T, B.T), "axis="),
    Case(np.linalg.multi_dot, lambda a, b, c: np.linalg.multi_dot([a, b, c]), (V, S, Q3.T)),
    Case(np.vecdot, lambda a, b: np.vecdot(a, b), (A, B)),
    Case(np.linalg.vecdot, lambda a, b: np.linalg.vecdot(a, b, axis=0), (A, B)),
    Case(np.matvec, lambda a, b: np.matvec(a, b), (A, V)),
    Case(np.vecmat, lambda a, b: np.vecmat(a, b), (V, S)),
    Case(np.linalg.matmul, lambda a, b: np.linalg.matmul(a, b), (A, S)),
    Case(np.linalg.outer, lambda a, b: np.linalg.outer(a, b), (V, W)),
    Case(np.linalg.tensordot, lambda a, b: np.linalg.tensordot(a, b, axes=1), (A, S)),
    Case(np.linalg.cross, lambda a, b: np.linalg.cross(a, b, axis=-1), (A, B)),
    # ---- linalg.py (owned by the fix-linalg helper) -------------------------------------------------
    Case(np.linalg.solve, lambda a, b: np.linalg.solve(a, b), (S, A.T)),
    Case(np.linalg.inv, lambda a: np.linalg.inv(a), (S,)),
    Case(np.linalg.det, lambda a: np.linalg.det(a), (S,)),
    Case(np.linalg.slogdet, lambda a: np.linalg.slogdet(a), (S,)),
    Case(np.linalg.cholesky, lambda a: np.linalg.cholesky(a, upper=True), (SPD,)),
    Case(np.linalg.eigh, lambda a: np.linalg.eigh(a, "U"), (SYM,)),
    Case(np.linalg.eigvalsh, lambda a: np.linalg.eigvalsh(a, "U"), (SPD,)),
    Case(np.linalg.svd, lambda a: np.linalg.svd(a, False, True, False), (M43,)),
    Case(np.linalg.svd, lambda a: np.linalg.svd(a, False, False), (Q3,), "values"),
    Case(np.linalg.svdvals, lambda a: np.linalg.svdvals(a), (Q3,)),
    Case(np.linalg.qr, lambda a: np.linalg.qr(a, "reduced"), (M43,)),
    Case(np.linalg.qr, lambda a: np.linalg.qr(a, "r"), (Q3,), "r"),
    Case(np.linalg.pinv, lambda a: np.linalg.pinv(a, 1e-10, False), (Q3,)),
    Case(np.linalg.lstsq, lambda a, b: np.linalg.lstsq(a, b, None), (Q3, Q3[:, :2])),
    Case(np.linalg.matrix_power, lambda a: np.linalg.matrix_power(a, 3), (S,)),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, 1, 1, True), (A,)),
    Case(np.linalg.norm, lambda a: np.linalg.norm(a, "fro", (0, 1)), (A,), "fro"),
    Case(np.linalg.vector_norm, lambda a: np.linalg.vector_norm(a, axis=1, keepdims=True, ord=3), (A,)),
    Case(np.linalg.matrix_norm, lambda a: np.linalg.matrix_norm(a, keepdims=True, ord=1), (T,)),
    Case(np.linalg.cond, lambda a: np.linalg.cond(a), (S,)),
    Case(np.linalg.cond, lambda a: np.linalg.cond(a, "fro"), (S,), "fro"),
    Case(np.linalg.diagonal, lambda a: np.linalg.diagonal(a, offset=1), (T,)),
    Case(np.linalg.eig, lambda a: np.linalg.eig(a), (EIG,)),
    Case(np.linalg.eig, lambda a: np.linalg.eig(a), (ROT,), "complex"),
    Case(np.linalg.eigvals, lambda a: np.linalg.eigvals(a), (EIG,)),
    Case(np.linalg.eigvals, lambda a: np.linalg.eigvals(a), (ROT,), "complex"),
    Case(np.linalg.matrix_rank, lambda a: np.linalg.matrix_rank(a, None, False), (Q3,)),
    Case(np.linalg.tensorinv, lambda a: np.linalg.tensorinv(a, 1), (T6,)),
    Case(np.linalg.tensorsolve, lambda a, b: np.linalg.tensorsolve(a, b), (T6.reshape(2, 3, 6), A)),
    Case(np.linalg.tensorsolve, lambda a, b: np.linalg.tensorsolve(a, b, (0,)), (T6, A), "axes"),
    # ---- fft.py (owned by another helper) ------------------------------------------------------------
    Case(np.real, lambda a: np.real(a), (A + 1j * B,)),
    Case(np.imag, lambda a: np.imag(a), (A + 1j * B,)),
    Case(np.fft.fft, lambda a: np.fft.fft(a, 4, 0, "ortho"), (A,)),
    Case(np.fft.ifft, lambda a: np.fft.ifft(a, 5, 1, "forward"), (A,)),
    Case(np.fft.rfft, lambda a: np.fft.rfft(a, 4, 1, "ortho"), (A,)),
    Case(np.fft.irfft, lambda a: np.fft.irfft(a, 4, 1, "backward"), (A + 1j * B,)),
    Case(np.fft.hfft, lambda a: np.fft.hfft(a, 6, 1, "ortho"), (A + 1j * B,)),
    Case(np.fft.ihfft, lambda a: np.fft.ihfft(a, 4, 1, "forward"), (A,)),
    Case(np.fft.fft2, lambda a: np.fft.fft2(a, (3, 5), (0, 2), "ortho"), (T,)),
    Case(np.fft.ifft2, lambda a: np.fft.ifft2(a, None, (1, 0), "forward"), (A + 1j * B,)),
    Case(np.fft.fftn, lambda a: np.fft.fftn(a, (2, 4), (1, 2), "backward"), (T,)),
    Case(np.fft.fftn, lambda a: np.fft.fftn(a), (T,), "all axes"),
    Case(np.fft.ifftn, lambda a: np.fft.ifftn(a, (3, 2), (0, 1), "ortho"), (A + 1j * B,)),
    Case(np.fft.rfft2, lambda a: np.fft.rfft2(a, (3, 6), (0, 1), "ortho"), (A,)),
    Case(np.fft.rfftn, lambda a: np.fft.rfftn(a, (2, 3, 5), (0, 1, 2), "forward"), (T,)),
    Case(np.fft.irfft2, lambda a: np.fft.irfft2(a, (2, 4), (0, 1), "ortho"), (A + 1j * B,)),
    Case(np.fft.irfftn, lambda a: np.fft.irfftn(a, None, (0, 1), "backward"), (A + 1j * B,)),
    Case(np.fft.fftshift, lambda a: np.fft.fftshift(a, (0, 2)), (T,)),
    Case(np.fft.fftshift, lambda a: np.fft.fftshift(a, 1), (A,), "int axis"),
    Case(np.fft.ifftshift, lambda a: np.fft.ifftshift(a), (T,)),
    # ---- arrays.py -------------------------------------------------------------------------------------
    Case(np.partition, lambda a: np.partition(a, 1, 1), (DISTINCT[0, :2, :3],)),
    Case(np.partition, lambda a: np.partition(a, (0, 5), None), (DISTINCT,), "axis=None"),
    Case(np.atleast_3d, lambda a, b, c: np.atleast_3d(a, b, c), (np.float64(2.5), V, A)),
    Case(np.rollaxis, lambda a: np.rollaxis(a, 2, 0), (T,)),
    Case(np.rollaxis, lambda a: np.rollaxis(a, 0, 3), (T,), "to the end"),
    Case(np.dsplit, lambda a: np.dsplit(a, [1, 3]), (T,)),
    Case(np.rot90, lambda a: np.rot90(a, 1, (0, 2)), (T,)),
    Case(np.rot90, lambda a: np.rot90(a, 2, (1, 0)), (A,), "k=2"),
    Case(np.rot90, lambda a: np.rot90(a, -1), (A,), "k=-1"),
    Case(np.append, lambda a, b: np.append(a, b, 1), (A, C)),
    Case(np.append, lambda a, b: np.append(a, b), (A, V), "axis=None"),
    Case(np.meshgrid, lambda a, b, c: np.meshgrid(a, b, c), (V, W[:2], np.arange(4.0))),
    Case(np.meshgrid, lambda a, b: np.meshgrid(a, b, sparse=True, indexing="ij"), (V, W[:2]), "sparse ij"),
    Case(np.select, lambda a, b, c: np.select([A > 0.5, B > 0], [a, b], c), (A, B, C[:, :3])),
    Case(np.select, lambda a, b: np.select([A > 0.5, B > 0], [a, b], 0.5), (A, B), "constant default"),
    # ---- numeric.py ------------------------------------------------------------------------------------
    Case(np.copy, lambda a: np.copy(a, "C", False), (A,)),
    Case(np.angle, lambda a: np.angle(a, True), (A + 1j * B,)),
    Case(np.angle, lambda a: np.angle(a), (A,), "real"),
    Case(np.diff, lambda a: np.diff(a, 2, 1), (T,)),
    Case(np.diff, lambda a, b: np.diff(a, 1, 0, 0.5, b), (A, B[:1]), "prepend append"),
    Case(np.ediff1d, lambda a, b: np.ediff1d(a, b, -1.0), (A, V)),
    Case(np.gradient, lambda a: np.gradient(a, 0.5), (A,)),
    Case(np.gradient, lambda a, x, y: np.gradient(a, x, y, axis=(1, 2), edge_order=2),
         (T, np.array([0.0, 0.4, 1.1]), np.array([-1.0, -0.2, 0.3, 1.5])), "coordinates"),
    Case(np.trapezoid, lambda a, x: np.trapezoid(a, x, 1.0, 1), (A, np.array([0.0, 0.4, 1.1]))),
    Case(np.trapezoid, lambda a: np.trapezoid(a, None, 0.5, 0), (T,), "dx"),
    Case(np.trapezoid, lambda a, x: np.trapezoid(a, x, 1.0, 0), (A, B), "N-D x"),
    Case(np.polyval, lambda p, x: np.polyval(p, x), (V, A)),
    Case(np.linspace, lambda a, b: np.linspace(a, b, 5, False, True, None, 1), (V, W)),
    Case(np.linspace, lambda a, b: np.linspace(a, b, 7), (np.float64(-0.3), np.float64(1.7)), "scalars"),
    Case(np.interp, lambda x, xp, fp: np.interp(x, xp, fp, -1.0, 2.0), (XQ, XP, np.cos(XP))),
    Case(np.interp, lambda x, xp, fp, left: np.interp(x, xp, fp, left), (XQ, XP, np.cos(XP), np.float64(0.3)),
         "traced left"),
    Case(np.interp, lambda x, xp, fp: np.interp(x, xp, fp, None, None, 4.0), (XQ, XP, np.cos(XP)), "period"),
    Case(np.convolve, lambda a, v: np.convolve(a, v, "same"), (C[0], V)),
    Case(np.convolve, lambda a, v: np.convolve(a, v), (V, C[1]), "full"),
    Case(np.correlate, lambda a, v: np.correlate(a, v, "full"), (C[0], V)),
    Case(np.correlate, lambda a, v: np.correlate(a, v, "same"), (V, C[1]), "same, longer v"),
    # ---- statistics.py ---------------------------------------------------------------------------------
    Case(np.median, lambda a: np.median(a, 1, None, False, True), (DISTINCT[0],)),
    Case(np.median, lambda a: np.median(a, (0, 2)), (DISTINCT,), "even count"),
    Case(np.quantile, lambda a: np.quantile(a, 0.3, 1, None, False, "linear", True), (DISTINCT[0],)),
    Case(np.quantile, lambda a, q: np.quantile(a, q, 1, None, False, "median_unbiased"),
         (DISTINCT[0], np.array([0.3, 0.65])), "traced q"),
    Case(np.quantile, lambda a: np.quantile(a, [0.1, 0.8], 0, None, False, "nearest"), (DISTINCT[0],),
         "discrete method"),
    Case(np.percentile, lambda a: np.percentile(a, [20.0, 70.0], 2, None, False, "hazen", True), (DISTINCT,)),
    Case(np.percentile, lambda a, q: np.percentile(a, q, 0), (DISTINCT[0], np.float64(35.0)), "traced q"),
    Case(np.cov, lambda a, b: np.cov(a, b, True, False, 1), (A, B)),
    Case(np.cov, lambda a: np.cov(a, None, False, True, None, [1, 2, 1, 3], [0.5, 1.0, 2.0, 1.5]), (Q3,),
         "weights"),
    Case(np.corrcoef, lambda a, b: np.corrcoef(a, b, False), (Q3, Q3[:, ::-1] ** 2)),
    Case(np.nanvar, lambda a: np.nanvar(a, 1, None, None, 1, True), (WITH_NAN,)),
    Case(np.nanvar, lambda a: np.nanvar(a, 0), (A,), "no NaN"),
    Case(np.nanstd, lambda a: np.nanstd(a, 1, None, None, 1, True), (WITH_NAN,)),
    Case(np.nanstd, lambda a: np.nanstd(a, 0, None, None, 0), (A,), "no NaN"),
    Case(np.nancumsum, lambda a: np.nancumsum(a, 1, None), (WITH_NAN,)),
    Case(np.nancumsum, lambda a: np.nancumsum(a, 0, np.float32), (A,), "dtype"),
    # ---- core.py's handlers of functions that need no derivative ------------------------------------
    Case(np.all, lambda a: np.all(a > 0, 1, None, True), (A,)),
    Case(np.any, lambda a: np.any(a > 0, 0, None, True), (A,)),
    Case(np.argmax, lambda a: np.argmax(a, 1, None, keepdims=True), (A,)),
    Case(np.argmin, lambda a: np.argmin(a, 0), (A,)),
    Case(np.argsort, lambda a: np.argsort(a, 0, "stable"), (A,)),
    Case(np.count_nonzero, lambda a: np.count_nonzero(a > 0, 1, keepdims=True), (A,)),
    Case(np.nonzero, lambda a: np.nonzero(a > 0), (A,)),
    Case(np.isclose, lambda a, b: np.isclose(a, b, 0.5, 0.5, False), (A, B)),
    Case(np.allclose, lambda a, b: np.allclose(a, b, 10.0, 10.0, False), (A, B)),
    Case(np.array_equal, lambda a, b: np.array_equal(a, b, False), (A, B)),
    Case(np.zeros_like, lambda a: np.zeros_like(a, np.float32, "C", True, (3,)), (A,)),
    Case(np.ones_like, lambda a: np.ones_like(a, np.float32, "C", True, (3,)), (A,)),
    Case(np.full_like, lambda a: np.full_like(a, 2.5, np.float32, "C", True, (3,)), (A,)),
    Case(np.empty_like, lambda a: np.empty_like(a, None, "C", True, (0,)), (A,)),
    Case(np.shape, lambda a: np.shape(a), (A,)),
    Case(np.ndim, lambda a: np.ndim(a), (A,)),
    Case(np.size, lambda a: np.size(a, 1), (A,)),
    Case(np.result_type, lambda a: np.result_type(a, np.float32), (A,)),
    Case(np.iscomplexobj, lambda a: np.iscomplexobj(a), (A,)),
    Case(np.isrealobj, lambda a: np.isrealobj(a), (A,)),
    Case(np.shares_memory, lambda a, b: np.shares_memory(a, b), (A, B)),
    Case(np.may_share_memory, lambda a, b: np.may_share_memory(a, b), (A, B)),
]


# Adapters whose traced value differs from NumPy's today, with the owner of the fix.
# (none today: qr/eigh/svd return NumPy's own factors since issue 10)
KNOWN_VALUE_BUGS: dict = {}
# Adapters whose traced value is NumPy's only to rounding (not bitwise) today, with the reason.
# (none today: lstsq and matrix_power follow NumPy's own computation since issue 10)
KNOWN_ROUNDING: dict = {}


def xfail_if_known(case: Case) -> Any:
    """The case, marked xfail (not strict: the fix lands on another branch) if its value is known wrong."""
    reason = KNOWN_VALUE_BUGS.get(case.fn)
    if reason is None or case.note in ("values", "r"):
        return case
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=False))


def xfail_if_rounded(case: Case) -> Any:
    """Like :func:`xfail_if_known`, for the bitwise test: also the adapters known to be 1 ulp off."""
    reason = KNOWN_ROUNDING.get(case.fn)
    if reason is None:
        return xfail_if_known(case)
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=False))


def case_id(case: Case) -> str:
    return case.name


def flat_outputs(out: Any) -> list:
    """A result as a flat list: tuples, lists and NumPy's result namedtuples (eigh, svd, qr) unpacked."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in flat_outputs(item)]
    return [out]


def _random_cases():
    """More shapes for the products whose summation order matters (NumPy's BLAS calls, not einsum)."""
    rng = np.random.default_rng(7)
    out = []
    for n in range(4):
        m, k, p = (int(d) for d in rng.integers(1, 9, 3))
        a3, b3 = rng.normal(size=(2, m, k)), rng.normal(size=(3, k, p))
        x1, x2, s = rng.normal(size=(4, m, k)), rng.normal(size=(m, k)), rng.normal(size=(2, m, k))
        out += [Case(np.dot, lambda a, b: np.dot(a, b), (a3, b3), f"N-D {n}"),
                Case(np.tensordot, lambda a, b: np.tensordot(a, b, ([2], [1])), (a3, b3), f"3-D {n}"),
                Case(np.inner, lambda a, b: np.inner(a, b), (a3, s), f"3-D {n}"),
                Case(np.vecdot, lambda a, b: np.vecdot(a, b), (x1, x2), f"broadcast {n}"),
                Case(np.matvec, lambda a, b: np.matvec(a, b), (s, s[:, 0]), f"stack {n}"),
                Case(np.vecmat, lambda a, b: np.vecmat(a, b), (s[..., 0], s), f"stack {n}")]
    return out


CASES += _random_cases()
