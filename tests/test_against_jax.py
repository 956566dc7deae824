"""Gradients and Hessians of composite NumPy code against JAX, an independent implementation.

Finite differences check every primitive; this checks the NumPy adapters and conventions built on top
of them (norm orders, decompositions, padding modes, FFTs, masks, ties) against ``jax.grad`` and
``jax.hessian`` to near machine precision. JAX is in the ``test`` extra (`pip install -e ".[test]"`), so CI
runs this file; it is skipped only where JAX is not installed.
"""

import numpy as np
import pytest

import autodiff as ad

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

rng = np.random.default_rng(7)
A = rng.standard_normal((4, 4))
S = A @ A.T + 4 * np.eye(4)

CASES = {
    "var": lambda m: lambda x: m.var(x, axis=1, ddof=1).sum(),
    "std": lambda m: lambda x: m.std(x),
    "ptp": lambda m: lambda x: m.ptp(x, axis=0).sum(),
    "cumprod": lambda m: lambda x: m.cumprod(x, axis=1).sum(),
    "prod": lambda m: lambda x: m.prod(x, axis=0).sum(),
    "average": lambda m: lambda x: m.average(x, axis=1, weights=m.arange(1.0, 5.0)).sum(),
    "norm_fro": lambda m: lambda x: m.linalg.norm(x),
    "norm_nuc": lambda m: lambda x: m.linalg.norm(x, "nuc"),
    "norm_2": lambda m: lambda x: m.linalg.norm(x, 2),
    "norm_1": lambda m: lambda x: m.linalg.norm(x, 1),
    "norm_inf": lambda m: lambda x: m.linalg.norm(x, np.inf),
    "norm_vec3": lambda m: lambda x: m.linalg.norm(x[0], 3),
    "norm_axis": lambda m: lambda x: m.linalg.norm(x, axis=1).sum(),
    "det": lambda m: lambda x: m.linalg.det(x[:, :3] + 2 * m.eye(3)),
    "slogdet": lambda m: lambda x: m.linalg.slogdet(x[:, :3] + 2 * m.eye(3))[1],
    "inv": lambda m: lambda x: m.linalg.inv(x[:, :3] + 2 * m.eye(3)).sum(),
    "solve": lambda m: lambda x: m.linalg.solve(S, x.T).sum(),
    "pinv": lambda m: lambda x: m.linalg.pinv(x).sum(),
    "eigh": lambda m: lambda x: (m.linalg.eigh(S + x.T @ x)[0] ** 2).sum(),
    "eigh_vec": lambda m: lambda x: m.abs(m.linalg.eigh(S + x.T @ x)[1][:, -1]).sum(),
    "svdvals": lambda m: lambda x: m.linalg.svd(x, compute_uv=False).sum(),
    "cholesky": lambda m: lambda x: m.linalg.cholesky(S + x.T @ x).sum(),
    "qr_r": lambda m: lambda x: m.abs(m.linalg.qr(x.T)[1]).sum(),
    "matrix_power": lambda m: lambda x: m.linalg.matrix_power(x[:, :3], 3).sum(),
    "lstsq": lambda m: lambda x: m.linalg.lstsq(x.T, m.arange(4.0), rcond=None)[0].sum(),
    "einsum": lambda m: lambda x: m.einsum("ij,kj->ik", x, x).sum(),
    "kron": lambda m: lambda x: m.kron(x[0], x[1]).sum(),
    "cross": lambda m: lambda x: m.cross(x[0, :3], x[1, :3]).sum(),
    "tensordot": lambda m: lambda x: m.tensordot(x, x, axes=([1], [1])).sum(),
    "pad": lambda m: lambda x: (m.pad(x, 2, mode="reflect") ** 2).sum(),
    "pad_edge": lambda m: lambda x: (m.pad(x, ((1, 0), (2, 1)), mode="edge") ** 2).sum(),
    "roll": lambda m: lambda x: (m.roll(x, 2, axis=1) * m.arange(4.0)).sum(),
    "tile": lambda m: lambda x: (m.tile(x, (2, 1)) ** 2).sum(),
    "repeat": lambda m: lambda x: (m.repeat(x, 2, axis=0) * m.arange(4.0)).sum(),
    "sort": lambda m: lambda x: (m.sort(x, axis=1) * m.arange(4.0)).sum(),
    "take_along": lambda m: lambda x: m.take_along_axis(x, m.argsort(x, axis=1), axis=1)[:, 0].sum(),
    "triu": lambda m: lambda x: (m.triu(x) ** 2).sum(),
    "diagonal": lambda m: lambda x: m.diagonal(x).sum() * x.sum(),
    "trace": lambda m: lambda x: m.trace(x[:, :3] @ x[:, :3]),
    "split": lambda m: lambda x: (m.split(x, 2, axis=1)[1] ** 2).sum(),
    "logaddexp": lambda m: lambda x: m.logaddexp(x, 2 * x).sum(),
    "arctan2": lambda m: lambda x: m.arctan2(x, x[::-1]).sum(),
    "hypot": lambda m: lambda x: m.hypot(x, 1.0).sum(),
    "sinc": lambda m: lambda x: m.sinc(x).sum(),
    "fft": lambda m: lambda x: m.abs(m.fft.fft(x, axis=1)).sum(),
    "rfft": lambda m: lambda x: (m.abs(m.fft.rfft(x)) ** 2).sum(),
    "irfft": lambda m: lambda x: (m.fft.irfft(m.fft.rfft(x) * 1j) ** 2).sum(),
    "cbrt": lambda m: lambda x: m.cbrt(x).sum(),
    "fancy": lambda m: lambda x: (x[[0, 2, 0], :][:, [1, 1, 3]] ** 2).sum(),
    "bool_mask": lambda m: lambda x: (x[x > 0.8] ** 2).sum(),
    "maximum_ties": lambda m: lambda x: m.maximum(x, 0.8).sum(),
    "where_safe": lambda m: lambda x: m.where(x > 1.0, m.log(m.where(x > 1.0, x, 1.0)), 0.0).sum(),
    "nanmean": lambda m: lambda x: m.nanmean(x, axis=0).sum(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_and_hessian_match_jax(name):
    x = np.random.default_rng(11).uniform(0.2, 1.5, (3, 4))
    f_ours, f_jax = CASES[name](np), CASES[name](jnp)
    np.testing.assert_allclose(ad.grad(f_ours)(x), jax.grad(f_jax)(jnp.asarray(x)), rtol=1e-7, atol=1e-9)
    hessian = jax.hessian(f_jax)(jnp.asarray(x))
    np.testing.assert_allclose(ad.hessian(f_ours)(x), hessian, rtol=1e-6, atol=1e-8)


def test_scipy_functions_match_jax():
    import jax.scipy.linalg
    import jax.scipy.special

    x = np.random.default_rng(12).uniform(0.2, 1.5, (3, 4))
    ours = ad.grad(lambda x: ad.scipy.linalg.expm(x[:, :3] * 0.3).sum())(x)
    theirs = jax.grad(lambda x: jax.scipy.linalg.expm(x[:, :3] * 0.3).sum())(jnp.asarray(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    ours = ad.hessian(lambda x: ad.scipy.special.logsumexp(x, axis=1).sum())(x)
    theirs = jax.hessian(lambda x: jax.scipy.special.logsumexp(x, axis=1).sum())(jnp.asarray(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
