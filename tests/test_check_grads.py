"""check_grads and the per-primitive checks: they pass on correct derivatives and FAIL on wrong ones.

Wrong rules are registered on throwaway primitives with unique names (not part of the package, so the
registry-driven tests and the coverage table ignore them).
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import Sample
from autodiff.testing import (
    check_batched,
    check_float32,
    check_grads,
    check_jvp,
    check_second_order,
    check_vjp,
)


def _sin_primitive(name, jvp=None, vjp=None):
    """A throwaway primitive computing sin, with the given (possibly wrong) rules."""
    def impl(x):
        return np.sin(x)
    impl.__name__ = name
    prim = ad.primitive(impl, name=name)
    if jvp is not None:
        ad.defjvp(prim, jvp)
    if vjp is not None:
        ad.defvjp(prim, vjp)
    return prim


def _good_jvp(t, ans, x):
    return t * np.cos(x)


def _good_vjp(ans, x):
    return lambda g: g * np.cos(x)


X = np.array([0.3, -1.1, 2.0])


# ---- check_grads passes on correct functions --------------------------------------------------------

def test_check_grads_passes_on_correct_functions():
    check_grads(lambda x: np.sin(x) * np.exp(x), (X,), order=3)
    check_grads(lambda x, y: np.tanh(x @ y), (np.ones((2, 3)) * 0.3, X))
    check_grads(lambda x: (x[0] ** 2, {"s": np.sum(np.log(x ** 2 + 1.0))}), (X,))   # pytree output
    check_grads(lambda p: p["a"] * np.cos(p["b"]), ({"a": X, "b": X[::-1].copy()},))  # pytree input
    check_grads(lambda x: np.sqrt(x), (np.array([0.5, 2.0]),), modes=("forward",))
    check_grads(lambda x: np.sqrt(x), (np.array([0.5, 2.0]),), modes=("reverse",), order=1)
    check_grads(np.sin, X)                                                        # a bare array argument


def test_check_grads_holds_integer_arguments_fixed_and_accepts_float32():
    check_grads(lambda x, n: x ** n, (X, 3))
    check_grads(lambda x: np.sin(x) * x, (X.astype(np.float32),))


def test_check_grads_on_complex_inputs_follows_jax_convention():
    z = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    check_grads(lambda z: z * z + 3.0 * z, (z,))
    check_grads(lambda z: np.exp(z) / (z + 2.0), (z,), order=1)


def test_check_grads_fails_on_a_cotangent_of_the_wrong_dtype():
    prim = _sin_primitive("throwaway_float64_cotangent", jvp=_good_jvp,
                          vjp=lambda ans, x: lambda g: (g * np.cos(x)).astype(np.float64))
    with pytest.raises(AssertionError, match=r"argument 0: reverse mode.*dtype float64.*float32"):
        check_grads(prim, (X.astype(np.float32),), order=1)


def test_check_grads_fails_on_a_tangent_of_the_wrong_dtype():
    prim = _sin_primitive("throwaway_float64_tangent", vjp=_good_vjp,
                          jvp=lambda t, ans, x: (t * np.cos(x)).astype(np.float64))
    with pytest.raises(AssertionError, match=r"output 0: forward mode.*dtype float64.*float32"):
        check_grads(prim, (X.astype(np.float32),), order=1)


def test_check_grads_rejects_bad_options():
    with pytest.raises(ValueError, match="modes"):
        check_grads(np.sin, (X,), modes=("sideways",))
    with pytest.raises(ValueError, match="order"):
        check_grads(np.sin, (X,), order=0)
    with pytest.raises(ValueError, match="no float argument"):
        check_grads(lambda n: n * 2.0, (3,))


# ---- check_grads fails on wrong rules, saying where ----------------------------------------------------

def test_check_grads_fails_on_a_wrong_jvp_rule():
    prim = _sin_primitive("throwaway_wrong_jvp", jvp=lambda t, ans, x: t * np.sin(x), vjp=_good_vjp)
    with pytest.raises(AssertionError, match=r"forward mode, order 1") as info:
        check_grads(prim, (X,), order=1)
    message = str(info.value)
    assert "argument 0" in message and "max abs error" in message and "expected" in message
    check_grads(prim, (X,), order=1, modes=("reverse",))      # the VJP alone is right


def test_check_grads_fails_on_a_wrong_vjp_rule():
    prim = _sin_primitive("throwaway_wrong_vjp", jvp=_good_jvp, vjp=lambda ans, x: lambda g: -g * np.cos(x))
    with pytest.raises(AssertionError, match=r"reverse mode, order 1"):
        check_grads(prim, (X,), order=1)
    with pytest.raises(AssertionError, match=r"reverse mode"):
        check_grads(prim, (X,), modes=("reverse",))
    check_grads(prim, (X,), modes=("forward",))


def test_check_grads_fails_on_a_rule_that_cannot_be_differentiated_again():
    # cos(x) behind stop_gradient: first derivatives are right, second derivatives are zero (wrong).
    prim = _sin_primitive("throwaway_wrong_second",
                          jvp=lambda t, ans, x: t * ad.stop_gradient(np.cos(x)),
                          vjp=lambda ans, x: lambda g: g * ad.stop_gradient(np.cos(x)))
    check_grads(prim, (X,), order=1)
    with pytest.raises(AssertionError, match=r"order 2"):
        check_grads(prim, (X,), order=2)


def test_check_grads_names_the_argument_with_the_wrong_derivative():
    def impl(x, y):
        return x * y
    prim = ad.primitive(impl, name="throwaway_wrong_second_argument")
    ad.defjvp(prim, lambda t, ans, x, y: t * y, lambda t, ans, x, y: 2.0 * t * x)
    ad.defvjp(prim, lambda ans, x, y: lambda g: g * y, lambda ans, x, y: lambda g: x * g)
    with pytest.raises(AssertionError, match="argument 1") as info:
        check_grads(prim, (X, X + 1.0), order=1)
    assert "argument 0:" not in str(info.value)


def test_check_grads_sees_a_tiny_transpose_error_through_the_dot_product_identity():
    # 1e-8 relative is below the finite-difference tolerance, but modes must agree to rounding error.
    prim = _sin_primitive("throwaway_slightly_wrong_vjp", jvp=_good_jvp,
                          vjp=lambda ans, x: lambda g: g * np.cos(x) * (1.0 + 1e-8))
    with pytest.raises(AssertionError, match="forward against reverse"):
        check_grads(prim, (X,), order=1)
    with pytest.raises(AssertionError, match="dot-product identity"):
        check_vjp(prim, Sample((X,)), np.random.default_rng(0))


# ---- the per-primitive checks behind the property tests -------------------------------------------------

def test_primitive_checks_pass_on_a_correct_primitive():
    prim = _sin_primitive("throwaway_correct_sin", jvp=_good_jvp, vjp=_good_vjp)
    for check in (check_jvp, check_vjp, check_batched, check_second_order, check_float32):
        for shape in [(), (3,), (2, 3)]:
            check(prim, Sample((np.full(shape, 0.7),)), np.random.default_rng(1))


def test_check_jvp_fails_on_a_wrong_jvp():
    prim = _sin_primitive("throwaway_wrong_jvp_check", jvp=lambda t, ans, x: t * ans, vjp=_good_vjp)
    with pytest.raises(AssertionError, match="finite differences"):
        check_jvp(prim, Sample((X,)), np.random.default_rng(0))


def test_check_batched_fails_on_a_rule_that_mixes_up_batch_and_data_axes():
    def impl(x):
        return np.cumsum(x, axis=0)
    prim = ad.primitive(impl, name="throwaway_batch_trap")
    # Correct without batch axes, but cumsum(axis=0) runs over the batch axis once there is one.
    ad.defjvp(prim, lambda t, ans, x: np.cumsum(t, axis=0))
    sample = Sample((np.arange(1.0, 4.0),))
    check_jvp(prim, sample, np.random.default_rng(0))
    with pytest.raises(AssertionError, match="batched JVP"):
        check_batched(prim, sample, np.random.default_rng(0))


def test_check_batched_fails_on_a_tangent_of_the_wrong_shape():
    def impl(x):
        return np.sum(x, axis=-1)
    prim = ad.primitive(impl, name="throwaway_wrong_shape")
    # Keeps the reduced axis: broadcastable, so NumPy would not complain, but the shape is wrong; the
    # transformation itself refuses it (SPEC §6), naming the primitive.
    ad.defjvp(prim, lambda t, ans, x: np.sum(t, axis=-1, keepdims=True))
    with pytest.raises(ValueError, match="throwaway_wrong_shape.*shape"):
        check_jvp(prim, Sample((np.ones((2, 3)),)), np.random.default_rng(0))


def test_check_float32_fails_on_a_rule_that_promotes_to_float64():
    prim = _sin_primitive("throwaway_promotes", jvp=lambda t, ans, x: t * np.cos(x).astype(np.float64),
                          vjp=lambda ans, x: lambda g: g * np.cos(x).astype(np.float64))
    with pytest.raises(AssertionError, match="dtype"):
        check_float32(prim, Sample((X,)), np.random.default_rng(0))


# ---- user primitives with one rule work in both modes; with none, a clear error -------------------------

def test_a_primitive_with_only_a_jvp_rule_works_in_reverse_mode():
    prim = _sin_primitive("throwaway_jvp_only", jvp=_good_jvp)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(prim(x) ** 2))(X), 2 * np.sin(X) * np.cos(X),
                               rtol=1e-13)
    check_grads(prim, (X,), order=2)
    check_vjp(prim, Sample((X,)), np.random.default_rng(0))


def test_a_primitive_with_only_a_vjp_rule_works_in_forward_mode():
    prim = _sin_primitive("throwaway_vjp_only", vjp=_good_vjp)
    out, tangent = ad.jvp(prim, (X,), (np.ones(3),))
    np.testing.assert_allclose(tangent, np.cos(X), rtol=1e-13)
    np.testing.assert_allclose(ad.jacfwd(prim)(X), np.diag(np.cos(X)), rtol=1e-13)
    check_grads(prim, (X,), order=2)


def test_a_primitive_with_no_rule_raises_naming_it():
    prim = _sin_primitive("throwaway_no_rules_at_all")
    with pytest.raises(NotImplementedError, match="throwaway_no_rules_at_all"):
        ad.jvp(prim, (X,), (np.ones(3),))
    with pytest.raises(NotImplementedError, match="throwaway_no_rules_at_all"):
        ad.grad(lambda x: np.sum(prim(x)))(X)
