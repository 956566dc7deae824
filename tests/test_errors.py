"""Every bad input gets a clear error: the right type, and a message that says what to do."""

import numpy as np
import pytest

import autodiff as ad

X = np.array([1.0, 2.0, 3.0])


# ---- grad of a non-scalar output ----------------------------------------------------------------------

def test_grad_of_a_non_scalar_output_suggests_jacobian():
    with pytest.raises(TypeError, match=r"scalar.*jacobian|jacobian.*scalar") as info:
        ad.grad(lambda x: x * 2.0)(X)
    assert "(3,)" in str(info.value)
    with pytest.raises(TypeError, match="jacobian"):
        ad.value_and_grad(lambda x: (x[0], x[1]))(X)


# ---- tangents and cotangents of the wrong shape or structure -------------------------------------------

def test_a_tangent_of_the_wrong_shape_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(3,\)") as info:
        ad.jvp(np.sin, (X,), (np.ones(2),))
    assert "(2,)" in str(info.value)


def test_tangents_of_the_wrong_structure():
    with pytest.raises(ValueError, match="structure"):
        ad.jvp(lambda x, y: x * y, (X, X), (np.ones(3),))
    with pytest.raises(ValueError, match="structure"):
        ad.jvp(lambda p: p["a"], ({"a": X},), ({"b": X},))
    with pytest.raises(TypeError, match="tuple"):
        ad.jvp(np.sin, X, X)


def test_a_cotangent_of_the_wrong_shape_names_the_expected_shape():
    _, pullback = ad.vjp(lambda x: x[:2] * 2.0, X)
    with pytest.raises(ValueError, match=r"\(2,\)") as info:
        pullback(np.ones(3))
    assert "(3,)" in str(info.value)


def test_a_cotangent_of_the_wrong_structure():
    _, pullback = ad.vjp(lambda x: (x, x * 2.0), X)
    with pytest.raises(ValueError, match="structure"):
        pullback(np.ones(3))
    with pytest.raises(ValueError, match="structure"):
        pullback([np.ones(3), np.ones(3), np.ones(3)])


# ---- argnums ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [ad.grad, ad.value_and_grad, ad.jacfwd, ad.jacrev])
def test_argnums_out_of_range(make):
    with pytest.raises(ValueError, match=r"argnums.*out of range") as info:
        make(lambda x, y: np.sum(x * y), argnums=2)(X, X)
    assert "2 positional" in str(info.value)
    with pytest.raises(ValueError, match="out of range"):
        make(lambda x, y: np.sum(x * y), argnums=(0, 5))(X, X)


# ---- integer inputs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: ad.grad(lambda x: x * 2.0)(3),
    lambda: ad.grad(lambda x: np.sum(x * 2.0))(np.arange(3)),
    lambda: ad.jacfwd(lambda x: x * 2.0)(np.arange(3)),
    lambda: ad.jacrev(lambda x: x * 2.0)(np.arange(3)),
    lambda: ad.jvp(lambda x: x * 2.0, (np.arange(3),), (np.ones(3),)),
    lambda: ad.vjp(lambda x: x * 2.0, np.array([True, False])),
    lambda: ad.grad(lambda x, n: x * n, argnums=1)(2.0, 3),
], ids=["grad-int", "grad-int-array", "jacfwd", "jacrev", "jvp", "vjp-bool", "argnums-int"])
def test_differentiating_an_integer_input_is_a_type_error(call):
    with pytest.raises(TypeError, match="int|bool") as info:
        call()
    assert "float" in str(info.value)


def test_integer_arguments_that_are_not_differentiated_are_fine():
    assert ad.grad(lambda x, n: x ** n)(2.0, 3) == 12.0


# ---- an unregistered NumPy function --------------------------------------------------------------------

def test_an_unregistered_numpy_function_names_itself_and_how_to_register():
    with pytest.raises(NotImplementedError) as info:
        ad.grad(lambda x: np.sum(np.gcd(x, x)))(X)          # a ufunc without rules
    message = str(info.value)
    assert "gcd" in message and "primitive" in message and "defjvp" in message
    with pytest.raises(NotImplementedError) as info:
        ad.grad(lambda x: np.sum(np.unwrap(x)))(X)          # an array function without rules
    assert "unwrap" in str(info.value) and "defvjp" in str(info.value)


# ---- implicit conversion ------------------------------------------------------------------------------

@pytest.mark.parametrize("convert", [
    np.asarray, float, lambda t: np.array([t, t]), lambda t: np.array(t), int, lambda t: t.item(),
], ids=["asarray", "float", "array-of-tracers", "array", "int", "item"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_implicit_conversion_of_a_traced_value_is_a_type_error(convert, mode):
    def f(x):
        return convert(x[0]) * 1.0

    with pytest.raises(TypeError, match="stop_gradient|derivative"):
        if mode == "forward":
            ad.jvp(f, (X,), (np.ones(3),))
        else:
            ad.grad(f)(X)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_plain_arrays_dot_method_on_a_traced_value_points_to_the_numpy_function(mode):
    W = np.arange(6.0).reshape(2, 3)
    weights = [W]

    def f(x):
        return np.sum(W.dot(x))

    def g(x):
        kernel = weights[0]
        return np.sum(kernel.dot(x * x))   # the message names the array as the code does

    def h(x):
        return np.sum(weights[0].dot(x * x))   # an expression: shown as W

    for fn, shown in ((f, "W"), (g, "kernel"), (h, "W")):
        with pytest.raises(TypeError, match=rf"{shown}\.dot\(\.\.\.\) on a plain NumPy array") as info:
            if mode == "forward":
                ad.jvp(fn, (X,), (np.ones(3),))
            else:
                ad.grad(fn)(X)
        assert f"np.dot({shown}, x) or {shown} @ x" in str(info.value)
    # the suggested form differentiates
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(np.dot(W, x)))(X), W.sum(axis=0))


def test_other_conversions_keep_the_general_message():
    with pytest.raises(TypeError, match="Converting to a NumPy array") as info:
        ad.grad(lambda x: np.sum(np.asarray(x)))(X)
    assert "on a plain NumPy array" not in str(info.value)
    # a method of the traced value itself (an ndarray method's name, but not a plain array's call)
    for convert in (lambda x: x.item(), lambda x: x[0].item(), lambda x: x.tolist()):
        with pytest.raises(TypeError, match="of a traced value") as info:
            ad.grad(lambda x, convert=convert: convert(x) * np.sum(x))(X)
        assert "on a plain NumPy array" not in str(info.value)


def test_truth_value_of_a_traced_array_says_to_compare_instead():
    with pytest.raises(TypeError, match="np.where"):
        ad.grad(lambda x: x if x else -x)(1.0)
    # Comparisons give plain booleans, so Python control flow works.
    assert ad.grad(lambda x: x ** 2 if x > 0 else -x)(3.0) == 6.0


# ---- assignment into a traced value --------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_assignment_into_a_traced_value_points_to_index_update(mode):
    def f(x):
        x[0] = 5.0
        return np.sum(x)

    with pytest.raises(TypeError, match="index_update"):
        if mode == "forward":
            ad.jvp(f, (X,), (np.ones(3),))
        else:
            ad.grad(f)(X)


def test_index_update_is_the_differentiable_assignment():
    g = ad.grad(lambda x: np.sum(ad.index_update(x, 0, 5.0 * x[1]) ** 2))(X)
    # f = 25 x1^2 + x1^2 + x2^2 -> (0, 52 x1, 2 x2)
    np.testing.assert_allclose(g, [0.0, 104.0, 6.0])
