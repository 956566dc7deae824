"""Custom rules are checked where it is cheap (SPEC §6): a cotangent or tangent shaped unlike its
argument/output raises ValueError naming the primitive and the argument; a missing rule (fewer rules
than arguments) raises NotImplementedError when that derivative is needed; only None means zero."""

import numpy as np
import pytest

import autodiff as ad

X = np.array([0.5, -1.0, 2.0])


def _scaled_sum(name, vjp=None, jvp=None):
    """f(x, w) = sum(x * w, axis=-1) for x of shape (k, n) and w of shape (n,) (w broadcast)."""
    prim = ad.primitive(lambda x, w: np.sum(x * w, axis=-1), name=name)
    if vjp is not None:
        ad.defvjp(prim, *vjp)
    if jvp is not None:
        ad.defjvp(prim, *jvp)
    return prim


A = np.arange(6.0).reshape(2, 3) / 5


def test_a_vjp_that_forgets_to_unbroadcast_raises_value_error():
    prim = _scaled_sum(
        "custom_scaled_sum_no_unbroadcast",
        vjp=(lambda ans, x, w: lambda g: g[..., None] * w,
             lambda ans, x, w: lambda g: g[..., None] * x))          # forgets to sum over x's rows
    with pytest.raises(ValueError, match=r"custom_scaled_sum_no_unbroadcast.*argument 1.*\(3,\)"):
        ad.grad(lambda w: np.sum(prim(A, w)))(X)
    # the argument it gets right still works
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(prim(x, X)))(A), np.broadcast_to(X, A.shape))


def test_a_correct_vjp_passes_and_batched_cotangents_are_allowed_in_front():
    prim = _scaled_sum(
        "custom_scaled_sum_good",
        vjp=(lambda ans, x, w: lambda g: g[..., None] * w,
             lambda ans, x, w: lambda g: np.sum(g[..., None] * x, axis=-2)))
    np.testing.assert_allclose(ad.jacrev(lambda w: prim(A, w))(X), A, rtol=1e-14)


def test_a_jvp_whose_tangent_is_shaped_unlike_the_output_raises_value_error():
    prim = ad.primitive(lambda x: np.sum(x, axis=-1), name="custom_sum_keepdims_jvp")
    ad.defjvp(prim, lambda t, ans, x: np.sum(t, axis=-1, keepdims=True))
    with pytest.raises(ValueError, match="custom_sum_keepdims_jvp.*argument 0"):
        ad.jvp(prim, (A,), (np.ones_like(A),))
    two = ad.primitive(lambda x, y: np.sum(x * y, axis=-1), name="custom_two_arg_bad_jvp")
    ad.defjvp(two, lambda t, ans, x, y: np.sum(t * y, axis=-1), lambda t, ans, x, y: t * x)
    with pytest.raises(ValueError, match="custom_two_arg_bad_jvp.*argument 1"):
        ad.jvp(lambda y: two(A, y), (X,), (X,))


def test_fewer_vjp_rules_than_arguments_raises_not_implemented_for_the_missing_one():
    prim = ad.primitive(lambda x, y: x * y + y, name="custom_mul_one_vjp")
    ad.defvjp(prim, lambda ans, x, y: lambda g: g * y)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(prim(x, X)))(X), X)      # argument 0: fine
    with pytest.raises(NotImplementedError, match="custom_mul_one_vjp.*argument 1"):
        ad.grad(lambda y: np.sum(prim(X, y)))(X)
    with pytest.raises(NotImplementedError, match="custom_mul_one_vjp.*argument 1"):
        ad.jvp(lambda y: prim(X, y), (X,), (X,))          # forward mode from the VJP rules


def test_fewer_jvp_rules_than_arguments_raises_not_implemented_in_both_modes():
    prim = ad.primitive(lambda x, y: x * y + y, name="custom_mul_one_jvp")
    ad.defjvp(prim, lambda t, ans, x, y: t * y)
    with pytest.raises(NotImplementedError, match="custom_mul_one_jvp.*argument 1"):
        ad.jvp(lambda y: prim(X, y), (X,), (X,))
    with pytest.raises(NotImplementedError, match="custom_mul_one_jvp.*argument 1"):
        ad.grad(lambda y: np.sum(prim(X, y)))(X)


def test_an_explicit_none_still_means_zero():
    prim = ad.primitive(lambda x, y: x * np.floor(y), name="custom_mul_floor")
    ad.defvjp(prim, lambda ans, x, y: lambda g: g * np.floor(y), None)
    ad.defjvp(prim, lambda t, ans, x, y: t * np.floor(y), None)
    assert np.all(ad.grad(lambda y: np.sum(prim(X, y)))(X) == 0)
    assert np.all(ad.jvp(lambda y: prim(X, y), (X,), (X,))[1] == 0)


# ---- check_grads compares batched directions with one at a time (SPEC §7) ------------------------------

from autodiff.testing import check_grads  # noqa: E402

M = np.arange(12.0).reshape(4, 3) / 7
V = np.array([0.1, 0.2, 0.3])


def test_check_grads_names_a_primitive_whose_jvp_ignores_batch_axes():
    prim = ad.primitive(lambda x: M @ x, name="custom_matvec_batch_unaware_jvp")
    ad.defjvp(prim, lambda t, ans, x: M @ t)           # right for one direction, breaks a batch
    ad.defvjp(prim, lambda ans, x: lambda g: g @ M)
    with pytest.raises(AssertionError, match="custom_matvec_batch_unaware_jvp.*batch"):
        check_grads(lambda x: np.sin(prim(x)), (V,))


def test_check_grads_names_a_primitive_whose_vjp_mixes_the_directions():
    def vjp(ans, x):
        # right for one cotangent; with a batch, np.sum adds up the directions too (no error raised)
        return lambda g: g * x[0] + np.eye(x.shape[0])[0] * np.sum(g * x)

    prim = ad.primitive(lambda x: x * x[0], name="custom_scale_by_first_bad_vjp")
    ad.defvjp(prim, vjp)
    ad.defjvp(prim, lambda t, ans, x: t * x[0] + x * t[..., :1])
    with pytest.raises(AssertionError, match="custom_scale_by_first_bad_vjp.*VJP.*batch"):
        check_grads(lambda x: prim(x) ** 2, (V,), modes=("reverse",))


def test_check_grads_passes_batch_aware_rules():
    prim = ad.primitive(lambda x: M @ x, name="custom_matvec_batch_aware")
    ad.defjvp(prim, lambda t, ans, x: t @ M.T)
    ad.defvjp(prim, lambda ans, x: lambda g: g @ M)
    check_grads(lambda x: np.sin(prim(x)), (V,))
    np.testing.assert_allclose(ad.hessian(lambda x: np.sum(np.sin(prim(x))))(V),
                               M.T @ np.diag(-np.sin(M @ V)) @ M, rtol=1e-12)


def test_a_jvp_that_drops_the_batch_axis_is_caught_in_jacfwd():
    prim = ad.primitive(lambda x: np.cumsum(x), name="custom_cumsum_drops_batch")
    # sums a batch of tangents away: the result has exactly the output's shape, but no batch axis
    ad.defjvp(prim, lambda t, ans, x: np.cumsum(np.sum(t, axis=tuple(range(np.ndim(t) - 1)))))
    with pytest.raises(ValueError, match="custom_cumsum_drops_batch.*argument 0"):
        ad.jacfwd(prim)(np.ones(3))
