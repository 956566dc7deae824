"""Every example of the seed document (shared/seed/tf-gradient-tape-tutorial.txt), translated.

``tf.`` becomes ``ad.``; NumPy replaces tf.random / tf.zeros / tf.reduce_* / tf.math; ``tf.nn.softplus``
is ``ad.nn.softplus``. Each test asserts the numbers the document prints (float64 instead of float32).
"""

import numpy as np
import pytest

import autodiff as ad


def test_gradient_of_square_of_variable_is_6():
    x = ad.Variable(3.0)
    with ad.GradientTape() as tape:
        y = x**2
    # dy = 2x * dx
    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0
    assert repr(dy_dx) == "Tensor(6.0, shape=(), dtype=float64)"


def _two_d_example(seed=0):
    rng = np.random.default_rng(seed)
    w = ad.Variable(rng.normal(size=(3, 2)), name="w")
    b = ad.Variable(np.zeros(2, dtype=np.float32), name="b")
    x = [[1.0, 2.0, 3.0]]
    with ad.GradientTape(persistent=True) as tape:
        y = x @ w + b
        loss = np.mean(y**2)
    return tape, w, b, np.array(x), loss


def test_two_d_example_list_and_dict_forms_agree_with_closed_form():
    tape, w, b, x, loss = _two_d_example()
    [dl_dw, dl_db] = tape.gradient(loss, [w, b])
    my_vars = {"w": w, "b": b}
    grad = tape.gradient(loss, my_vars)
    assert list(grad) == ["w", "b"]
    # loss = mean(y^2) over 2 entries, y = x w + b: dl/dy = y, dl/dw = x^T y, dl/db = y
    y = x @ w.numpy() + b.numpy()
    np.testing.assert_allclose(loss.numpy(), np.mean(y**2), rtol=1e-12)
    np.testing.assert_allclose(dl_dw.numpy(), x.T @ y, rtol=1e-12)
    np.testing.assert_allclose(dl_db.numpy(), y[0], rtol=1e-6)
    assert dl_db.dtype == np.float32 and dl_dw.dtype == np.float64   # each gradient in its source's dtype
    np.testing.assert_array_equal(grad["w"].numpy(), dl_dw.numpy())
    np.testing.assert_array_equal(grad["b"].numpy(), dl_db.numpy())


def test_dense_layer_gradients_have_the_variables_shapes_and_names():
    ad.layers.clear_session()   # default names count from `dense`, as in a fresh TensorFlow session
    layer = ad.layers.Dense(2, activation="relu")
    x = ad.constant([[1.0, 2.0, 3.0]])
    with ad.GradientTape() as tape:
        # Forward pass
        y = layer(x)
        loss = np.mean(y**2)
    # Calculate gradients with respect to every trainable variable
    grad = tape.gradient(loss, layer.trainable_variables)
    lines = [f"{var.name}, shape: {g.shape}" for var, g in zip(layer.trainable_variables, grad)]
    assert lines == ["dense/kernel, shape: (3, 2)", "dense/bias, shape: (2,)"]
    # and the values: relu'(z) = [z > 0]; dl/dz = y [z > 0]; dl/dkernel = x^T dl/dz
    k, xv = layer.kernel.numpy(), np.array([[1.0, 2.0, 3.0]])
    z = xv @ k
    dz = np.maximum(z, 0) * (z > 0)
    np.testing.assert_allclose(grad[0].numpy(), xv.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(grad[1].numpy(), dz[0], rtol=1e-12)


def test_only_trainable_variables_are_watched():
    # A trainable variable
    x0 = ad.Variable(3.0, name="x0")
    # Not trainable
    x1 = ad.Variable(3.0, name="x1", trainable=False)
    # Not a Variable: A variable + tensor returns a tensor.
    x2 = ad.Variable(2.0, name="x2") + 1.0
    # Not a variable
    x3 = ad.constant(3.0, name="x3")
    assert type(x2) is ad.Tensor
    with ad.GradientTape() as tape:
        y = (x0**2) + (x1**2) + (x2**2)
    grad = tape.gradient(y, [x0, x1, x2, x3])
    printed = [str(g) for g in grad]
    assert printed == ["Tensor(6.0, shape=(), dtype=float64)", "None", "None", "None"]
    assert [var.name for var in tape.watched_variables()] == ["x0"]


def test_watch_a_constant():
    x = ad.constant(3.0)
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = x**2
    # dy = 2x * dx
    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0


def test_watch_accessed_variables_false_connects_only_the_watched_one():
    x0 = ad.Variable(0.0)
    x1 = ad.Variable(10.0)
    with ad.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x1)
        y0 = np.sin(x0)
        y1 = ad.nn.softplus(x1)
        y = y0 + y1
        ys = np.sum(y)
    # dys/dx1 = exp(x1) / (1 + exp(x1)) = sigmoid(x1)
    grad = tape.gradient(ys, {"x0": x0, "x1": x1})
    assert grad["x0"] is None
    assert round(float(grad["x1"].numpy()), 7) == 0.9999546
    assert grad["x1"].numpy() == pytest.approx(1 / (1 + np.exp(-10.0)), rel=1e-15)
    assert [v for v in tape.watched_variables()] == [x1]


def test_gradient_with_respect_to_an_intermediate_result():
    x = ad.constant(3.0)
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    # dz_dy = 2 * y and y = x ** 2 = 9
    assert tape.gradient(z, y).numpy() == 18.0


def test_persistent_tape_gives_several_gradients():
    x = ad.constant([1, 3.0])
    with ad.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    np.testing.assert_array_equal(tape.gradient(z, x).numpy(), [4.0, 108.0])  # 4 * x**3
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 6.0])    # 2 * x
    assert str(tape.gradient(z, x).numpy()) == "[  4. 108.]"
