"""Sparsity detection by the index-set trace (autodiff.sparsity): through the whole registry.

For every primitive the package registers, on its own test domain, the detected pattern must cover
every non-zero of the dense Jacobian (forward mode) at random points; for the elementwise, structural
and reduction families it must be exact (no entry that is zero at every point tried). Then whole
functions: stencils, constant sparse operators, control flow, nesting with reverse mode (Hessians).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.core import Primitive, defjvp, defvjp, primitive
from autodiff.sparsity import hessian_sparsity, jacobian_sparsity
from autodiff.sparsity.rules import family_of
from autodiff.testing import is_zero_derivative, package_primitives

NAMES = [p.name for p in package_primitives()]
EXACT_FAMILIES = {"elementwise", "structural", "scatter-add", "reduction", "trace", "scan"}
# Patterns are global over the values (a cached pattern must hold at every point of the same control
# flow), so primitives that select by value keep both branches: at one point one of them has a zero
# derivative. They must cover, not match.
VALUE_SELECTING = {"where", "maximum", "minimum", "fmax", "fmin", "clip", "max", "min", "fmod",
                   "absolute", "fabs", "copysign", "nan_to_num", "remainder"}


def _float_problem(prim: Primitive, seed: int):
    rng = np.random.default_rng(seed)
    sample = prim.domain(rng)
    args = list(sample.args)
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray | float) and
           np.issubdtype(np.asarray(a).dtype, np.inexact)]

    def fn(*xs):
        full = list(args)
        for i, x in zip(pos, xs):
            full[i] = x
        return prim(*full, **sample.params)

    return fn, [np.asarray(args[i]) for i in pos], rng


def _dense_nonzeros(fn, xs) -> np.ndarray:
    jac = ad.jacfwd(fn, argnums=tuple(range(len(xs))))(*xs)
    m = int(np.size(fn(*xs)))
    blocks = [np.asarray(b).reshape(m, x.size) for b, x in zip(jac, xs)]
    return np.hstack(blocks) != 0


def _perturbed(xs, rng):
    return [x + 1e-3 * rng.standard_normal(x.shape).astype(x.dtype) * (np.abs(x) + 1) for x in xs]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_pattern_covers_the_jacobian_of_every_primitive(name, seed):
    prim = ad.registry[name]
    if is_zero_derivative(prim) or prim.domain is None:
        return
    fn, xs, rng = _float_problem(prim, seed)
    if not xs or not np.issubdtype(np.asarray(fn(*xs)).dtype, np.inexact):
        return
    pattern = jacobian_sparsity(fn, *xs, argnums=tuple(range(len(xs)))).toarray()
    seen = np.zeros_like(pattern)
    for point in (xs, _perturbed(xs, rng)):
        nz = _dense_nonzeros(fn, point)
        assert nz.shape == pattern.shape
        missed = nz & ~pattern
        assert not missed.any(), f"{name}: detected pattern misses {np.argwhere(missed)[:5].tolist()}"
        seen |= nz
    if family_of(prim) in EXACT_FAMILIES and name not in VALUE_SELECTING and \
            not any(np.iscomplexobj(x) for x in xs):
        extra = pattern & ~seen
        assert not extra.any(), f"{name} ({family_of(prim)}): extra entries {np.argwhere(extra)[:5].tolist()}"


def test_zero_derivative_primitives_give_empty_patterns():
    x = np.linspace(-2, 2, 7)
    assert jacobian_sparsity(lambda x: np.floor(x) + np.sign(x) * 0, x).nnz == 0
    assert jacobian_sparsity(lambda x: ad.stop_gradient(x) * 2.0, x).nnz == 0
    assert jacobian_sparsity(lambda x: (x > 0).astype(float), x).nnz == 0


def test_an_unknown_primitive_gets_the_conservative_dense_rule():
    def shuffle_impl(x):
        return x[::-1] * 2.0
    p = primitive(shuffle_impl, name="sparsity_test_unknown")
    defjvp(p, lambda t, ans, x: t[..., ::-1] * 2.0)
    defvjp(p, lambda ans, x: lambda g: g[..., ::-1] * 2.0)
    x = np.arange(5.0)
    pat = jacobian_sparsity(lambda x: p(x[:3]), x).toarray()
    assert family_of(p) == "dense"
    assert pat[:, :3].all() and not pat[:, 3:].any()


def _bratu(u, lam=1.0):
    h = 1.0 / (u.size + 1)
    up = np.concatenate([np.zeros(1), u, np.zeros(1)])
    return (up[:-2] - 2 * up[1:-1] + up[2:]) / h**2 + lam * np.exp(u)


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_stencil_gives_the_tridiagonal_pattern():
    n = 50
    pat = jacobian_sparsity(_bratu, np.random.default_rng(0).random(n))
    want = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(n, n), dtype=bool).toarray() != 0
    assert isinstance(pat, sp.csr_array) and pat.dtype == bool and pat.shape == (n, n)
    assert (pat.toarray() == want).all()


def test_a_constant_sparse_stencil_stays_sparse_through_matmul_and_einsum():
    n = 40
    A = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n)).toarray()
    x = np.random.default_rng(1).random(n)
    want = A != 0
    assert (jacobian_sparsity(lambda x: A @ x, x).toarray() == want).all()
    assert (jacobian_sparsity(lambda x: np.einsum("ij,j->i", A, x), x).toarray() == want).all()
    assert (jacobian_sparsity(lambda x: x @ A.T, x).toarray() == want).all()
    X = x.reshape(8, 5)
    B = np.eye(8)[::-1]          # a permutation: each output row depends on one input row
    pat = jacobian_sparsity(lambda X: B @ X, X).toarray()
    assert pat.sum() == 40 and (pat.sum(axis=1) == 1).all()


def test_batched_matmul_broadcasts_patterns():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 2, 4)), rng.random((4, 5))
    fn = lambda a, b: a @ b  # noqa: E731
    pat = jacobian_sparsity(fn, a, b, argnums=(0, 1)).toarray()
    nz = _dense_nonzeros(fn, [a, b])
    assert (pat == nz).all()


def test_control_flow_follows_the_values():
    def f(x):
        return x[:2] * 2 if x[0] > 0 else x[1:] ** 2
    assert (jacobian_sparsity(f, np.array([1.0, 2.0, 3.0])).toarray() == np.eye(2, 3, dtype=bool)).all()
    assert (jacobian_sparsity(f, np.array([-1.0, 2.0, 3.0])).toarray() ==
            np.eye(2, 3, 1, dtype=bool)).all()


def test_several_arguments_and_pytree_outputs_concatenate():
    def f(x, c, y):
        return {"a": x * c, "b": np.sum(y)}
    x, y = np.ones(3), np.ones(2)
    pat = jacobian_sparsity(f, x, 2.0, y, argnums=(0, 2)).toarray()
    assert pat.shape == (4, 5)
    assert (pat[:3, :3] == np.eye(3, dtype=bool)).all() and pat[3, 3:].all() and not pat[3, :3].any()


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="integer"):
        jacobian_sparsity(lambda x: x * 2, np.arange(3))


def test_hessian_of_chained_rosenbrock_is_exactly_tridiagonal():
    n = 200
    H = hessian_sparsity(_rosenbrock, np.random.default_rng(3).random(n))
    assert H.shape == (n, n) and H.nnz == 3 * n - 2
    want = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(n, n), dtype=bool).toarray() != 0
    assert (H.toarray() == want).all()


def test_hessian_pattern_covers_dense_hessians():
    rng = np.random.default_rng(4)
    fns = [lambda x: np.sum(np.sin(x) * x[::-1]), lambda x: x[0] * x[1] + np.sum(x[2:] ** 3),
           lambda x: np.sum(x) ** 2, lambda x: np.sum(np.exp(x[:3])) + x[4], lambda x: np.prod(x[1:4])]
    for f in fns:
        x = rng.random(6) + 0.5
        H = hessian_sparsity(f, x).toarray()
        dense = ad.hessian(f)(x) != 0
        assert not (dense & ~H).any()
        assert (H == H.T).all()
    assert hessian_sparsity(lambda x: np.sum(3.0 * x), np.ones(4)).nnz == 0


def test_hessian_of_a_non_scalar_function_is_refused():
    with pytest.raises((ValueError, TypeError)):
        hessian_sparsity(lambda x: x * x, np.ones(3))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_index_programs_are_exact(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 12))
    idx = rng.integers(0, n, size=int(rng.integers(1, 8)))
    perm = rng.permutation(n)

    def f(x):
        y = x[perm] * x
        z = np.concatenate([y[idx], np.cumsum(x[:3]), x.reshape(1, n).sum(axis=0)])
        return np.roll(z, 2) + np.flip(z) * 0.5

    x = rng.random(n) + 0.5
    pat = jacobian_sparsity(f, x).toarray()
    seen = _dense_nonzeros(f, [x]) | _dense_nonzeros(f, [x + 0.1])
    assert (pat == seen).all()
