"""Clear errors in the TensorFlow-style API, as TensorFlow gives them: wrongly shaped ``output_gradients``
and ``Variable.assign*`` values name the shapes; values a Variable cannot hold exactly (None, complex into
real, 1.5 into an integer) raise TypeError instead of being changed silently."""

import numpy as np
import pytest

import autodiff as ad


def test_wrongly_shaped_output_gradients_name_both_shapes():
    x = ad.Variable([1.0, 2.0, 3.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x * x
    with pytest.raises(ValueError, match=r"output_gradients\[0\] has shape \(2,\) but its target has "
                                         r"shape \(3,\)"):
        tape.gradient(y, x, output_gradients=np.ones(2))
    with pytest.raises(ValueError, match=r"output_gradients\[1\] has shape \(3, 3\)"):
        tape.gradient([y, y], x, output_gradients=[np.ones(3), np.ones((3, 3))])
    # weights that broadcast to the target's shape still work: a scalar weights every entry alike
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=2.0).numpy(), [4.0, 8.0, 12.0])
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=np.array([1.0, 0.0, 2.0])).numpy(),
                               [2.0, 0.0, 12.0])


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_with_a_wrong_shape_is_a_shape_mismatch(method):
    v = ad.Variable([1.0, 2.0, 3.0], name="w")
    for value in (np.ones(2), np.ones((2, 3)), np.ones((1, 3)), 1.0):
        with pytest.raises(ValueError, match=r"'w'.*shape mismatch.*\(3,\).*" + str(np.shape(value))[1:-1]):
            getattr(v, method)(value)
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0, 3.0])   # unchanged


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_none_is_a_type_error(method):
    v = ad.Variable(2.0)
    with pytest.raises(TypeError, match="None"):
        getattr(v, method)(None)
    assert v.numpy() == 2.0


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_a_complex_value_into_a_real_variable_is_a_type_error(method):
    v = ad.Variable([1.0, 2.0])
    with pytest.raises(TypeError, match="imaginary part"):
        getattr(v, method)(np.array([1.0 + 2.0j, 3.0]))
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_a_fraction_into_an_integer_variable_is_a_type_error(method):
    v = ad.Variable(3)
    with pytest.raises(TypeError, match="int"):
        getattr(v, method)(1.5)
    assert v.numpy() == 3 and v.dtype.kind == "i"


def test_values_a_variable_holds_exactly_are_fine():
    f = ad.Variable([1.0, 2.0])
    f.assign([3, 4])                               # integers into a float Variable
    np.testing.assert_array_equal(f.numpy(), [3.0, 4.0])
    f.assign_add(np.array([1, 1], dtype=np.int8))
    np.testing.assert_array_equal(f.numpy(), [4.0, 5.0])
    s = ad.Variable(1.0, dtype=np.float32)
    s.assign(np.float64(2.5))                      # float64 into float32, as TensorFlow converts
    assert s.numpy() == 2.5 and s.dtype == np.float32
    i = ad.Variable([1, 2])
    i.assign_add([3, 4])
    i.assign(ad.constant([7, 8]))
    np.testing.assert_array_equal(i.numpy(), [7, 8])
    c = ad.Variable(np.array([1j, 2.0]))
    c.assign([1.0, 2.0])                           # real into complex
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])


def test_an_integer_too_large_for_the_variable_dtype_is_refused():
    v = ad.Variable(np.array([1, 2], dtype=np.int8))
    with pytest.raises(TypeError, match="int8"):
        v.assign([300, 1])
    v.assign([100, -100])
    np.testing.assert_array_equal(v.numpy(), [100, -100])


def test_a_string_is_refused():
    v = ad.Variable(1.0)
    with pytest.raises(TypeError, match="dtype"):
        v.assign("3.0")
