"""GradientTape beyond the seed document, in the spirit of TensorFlow's guide on gradients."""

import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import active_traces


def test_control_flow_records_only_the_branch_taken():
    x = ad.constant(1.0)
    v0 = ad.Variable(2.0)
    v1 = ad.Variable(2.0)
    with ad.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if x > 0.0:
            result = v0
        else:
            result = v1**2
    dv0, dv1 = tape.gradient(result, [v0, v1])
    assert dv0.numpy() == 1.0
    assert dv1 is None
    assert tape.gradient(result, x) is None    # the condition itself is not differentiable


def test_loop_accumulates_like_the_closed_form():
    x = ad.Variable(0.7)
    with ad.GradientTape() as tape:
        y = ad.constant(1.0)
        for _ in range(4):
            y = y * x + 1.0           # y = x^4 + x^3 + x^2 + x + 1
    expected = 4 * 0.7**3 + 3 * 0.7**2 + 2 * 0.7 + 1
    assert tape.gradient(y, x).numpy() == pytest.approx(expected, rel=1e-14)


def test_stop_recording_hides_operations_from_the_tape():
    x = ad.Variable(2.0)
    with ad.GradientTape(persistent=True) as tape:
        a = x * 3.0
        with tape.stop_recording():
            b = x * 5.0
        c = a + b + x * x
    assert tape.gradient(c, x).numpy() == pytest.approx(3.0 + 4.0)   # b contributes nothing
    assert tape.gradient(b, x) is None
    assert tape.gradient(a, x).numpy() == 3.0


def test_reset_forgets_what_was_recorded_before():
    x = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        loss = x**3
        tape.reset()
        loss = loss + x**2          # only x**2 is differentiated
    assert tape.gradient(loss, x).numpy() == 4.0


def test_reset_outside_the_context_then_reuse():
    x = ad.Variable(2.0)
    tape = ad.GradientTape()
    with tape:
        y = x**3
    tape.reset()
    assert tape.memory_report()["nodes"] == 0
    with tape:
        y = x**2
    assert tape.gradient(y, x).numpy() == 4.0


def test_non_scalar_target_is_summed():
    x = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        y = x * np.array([3.0, 4.0])
    assert tape.gradient(y, x).numpy() == 7.0


def test_list_of_targets_is_summed():
    x = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        y0 = x**2
        y1 = 1 / x
    assert tape.gradient({"a": y0, "b": y1}, x).numpy() == pytest.approx(4.0 - 0.25)
    with ad.GradientTape() as tape:
        y0 = x**2
        y1 = 1 / x
    assert tape.gradient([y0, y1], x).numpy() == pytest.approx(4.0 - 0.25)


def test_output_gradients_weight_the_target():
    x = ad.constant([1.0, 2.0, 3.0])
    w = np.array([0.5, -1.0, 2.0])
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = np.sin(x)
    g = tape.gradient(y, x, output_gradients=ad.constant(w))
    np.testing.assert_allclose(g.numpy(), w * np.cos(x.numpy()), rtol=1e-14)


def test_sources_as_tuple_and_nested_dict_keep_their_structure():
    a, b, c = ad.Variable(1.0), ad.Variable(2.0), ad.Variable(3.0)
    with ad.GradientTape(persistent=True) as tape:
        y = a * b * c
    ga, gb = tape.gradient(y, (a, b))
    assert (ga.numpy(), gb.numpy()) == (6.0, 3.0)
    g = tape.gradient(y, {"outer": [a, {"c": c}], "b": b})
    assert g["outer"][0].numpy() == 6.0 and g["outer"][1]["c"].numpy() == 2.0 and g["b"].numpy() == 3.0


def test_unconnected_gradients_none_or_zero():
    x = ad.Variable([1.0, 2.0])
    unused = ad.Variable([[1.0, 2.0, 3.0]])
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(x**2)
    assert tape.gradient(y, unused) is None
    z = tape.gradient(y, unused, unconnected_gradients="zero")
    assert z.shape == (1, 3) and z.dtype == np.float64 and not np.any(z.numpy())
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, x, unconnected_gradients="zeros!")


def test_numpy_breaks_the_path():
    x = ad.Variable(2.0)
    with ad.GradientTape(persistent=True) as tape:
        y = ad.constant(x.numpy()) ** 2
        z = ad.constant((x * x).numpy()) * x
    assert tape.gradient(y, x) is None
    assert tape.gradient(z, x).numpy() == 4.0      # only the factor outside .numpy() counts


def test_stop_gradient_gives_none_as_in_tensorflow():
    x = ad.Variable(2.0)
    with ad.GradientTape(persistent=True) as tape:
        y = ad.stop_gradient(x) * 3.0
        z = ad.stop_gradient(x) * x
    assert tape.gradient(y, x) is None
    assert tape.gradient(z, x).numpy() == 2.0


def test_second_and_third_derivatives_from_nested_tapes():
    x = ad.Variable(0.8)
    with ad.GradientTape() as t3:
        with ad.GradientTape() as t2:
            with ad.GradientTape() as t1:
                y = np.sin(x) * x**2
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    s, c, v = np.sin(0.8), np.cos(0.8), 0.8
    assert d1.numpy() == pytest.approx(c * v**2 + 2 * v * s, rel=1e-14)
    assert d2.numpy() == pytest.approx(-s * v**2 + 4 * v * c + 2 * s, rel=1e-14)
    assert d3.numpy() == pytest.approx(-c * v**2 - 6 * v * s + 6 * c, rel=1e-14)


def test_nested_tapes_with_watched_constant():
    x = ad.constant(5.0)
    with ad.GradientTape() as outer:
        outer.watch(x)
        with ad.GradientTape() as inner:
            inner.watch(x)
            y = x**3
        dy = inner.gradient(y, x)
    assert dy.numpy() == 75.0
    assert outer.gradient(dy, x).numpy() == 30.0


def test_jacobian_shapes_and_values_match_jacfwd():
    A = np.arange(12.0).reshape(3, 4) / 10
    x = ad.Variable(np.linspace(-1, 1, 4))
    W = ad.Variable(np.ones((2, 3)))
    with ad.GradientTape(persistent=True) as tape:
        y = np.tanh(A @ x)             # (3,)
        z = W @ np.reshape(y, (3, 1))  # (2, 1)
    j = tape.jacobian(y, x)
    assert j.shape == (3, 4)
    np.testing.assert_allclose(j.numpy(), ad.jacfwd(lambda x: np.tanh(A @ x))(x.numpy()), rtol=1e-13)
    jz = tape.jacobian(z, {"x": x, "W": W})
    assert jz["x"].shape == (2, 1, 4) and jz["W"].shape == (2, 1, 2, 3)
    expect_w = ad.jacfwd(lambda w: w @ np.tanh(A @ x.numpy()).reshape(3, 1))(W.numpy())
    np.testing.assert_allclose(jz["W"].numpy(), expect_w, rtol=1e-13)


def test_jacobian_is_one_backward_pass():
    x = ad.Variable(np.arange(1.0, 6.0))
    with ad.GradientTape() as tape:
        y = x[:, None] * x[None, :]
    with ad.counting() as c:
        j = tape.jacobian(y, x)
    assert c.backward_passes == 1 and c.vjp_directions == 25
    xv = x.numpy()
    expected = np.einsum("ik,j->ijk", np.eye(5), xv) + np.einsum("jk,i->ijk", np.eye(5), xv)
    np.testing.assert_allclose(j.numpy(), expected, rtol=1e-14)


def test_jacobian_takes_one_tensor_target():
    x = ad.Variable([1.0, 2.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x * 2.0
    with pytest.raises(TypeError, match="one Tensor"):
        tape.jacobian([y, y], x)
    with pytest.raises(ValueError, match="batch"):
        tape.batch_jacobian(y[None, :], ad.constant(np.ones((3, 2))))


def test_read_value_is_a_recorded_read():
    v = ad.Variable(3.0)
    with ad.GradientTape() as tape:
        r = v.read_value()
        y = r * r
    assert type(r) is ad.Tensor and tape.gradient(y, v).numpy() == 6.0


def test_jacobian_unconnected():
    x, u = ad.Variable([1.0, 2.0]), ad.Variable([3.0, 4.0, 5.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x * 2.0
    assert tape.jacobian(y, u) is None
    assert tape.jacobian(y, u, unconnected_gradients="zero").shape == (2, 3)


def test_batch_jacobian_shape_values_and_one_pass():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3, 4))
    x = ad.constant(rng.normal(size=(5, 3)))
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = np.tanh(x @ W)             # (5, 4)
    with ad.counting() as c:
        j = tape.batch_jacobian(y, x)
    assert j.shape == (5, 4, 3)
    assert c.backward_passes == 1 and c.vjp_directions == 4
    for b in range(5):
        expected = ad.jacfwd(lambda xb: np.tanh(xb @ W))(x.numpy()[b])
        np.testing.assert_allclose(j.numpy()[b], expected, rtol=1e-13)


def test_batch_jacobian_of_higher_rank_target():
    x = ad.constant(np.arange(1.0, 7.0).reshape(3, 2))
    with ad.GradientTape() as tape:
        tape.watch(x)
        y = x[:, :, None] * x[:, None, :]      # (3, 2, 2)
    j = tape.batch_jacobian(y, x)
    assert j.shape == (3, 2, 2, 2)
    full = ad.jacfwd(lambda x: x[:, :, None] * x[:, None, :])(x.numpy())   # (3,2,2,3,2)
    for b in range(3):
        np.testing.assert_allclose(j.numpy()[b], full[b, :, :, b, :], rtol=1e-14)


def test_integer_sources_warn_and_give_none():
    xi = ad.constant([1, 2])
    xf = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        with pytest.warns(UserWarning, match="floating"):
            tape.watch(xi)
        y = np.sum(xi * xf)
    with pytest.warns(UserWarning, match="floating"):
        gi, gf = tape.gradient(y, [xi, xf])
    assert gi is None and gf.numpy() == 3.0


def test_integer_variables_are_not_watched_automatically():
    v = ad.Variable([[2, 2]])
    assert v.dtype.kind == "i"
    with ad.GradientTape() as tape:
        y = v * 2
    assert tape.watched_variables() == ()
    assert y.dtype.kind == "i"


def test_non_persistent_tape_raises_on_second_call():
    x = ad.Variable(3.0)
    with ad.GradientTape() as tape:
        y = x * x
    assert tape.gradient(y, x).numpy() == 6.0
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent"):
        tape.jacobian(y, x)
    with tape:                      # entering it again starts a fresh recording
        y = x**3
    assert tape.gradient(y, x).numpy() == 27.0


def test_persistent_tape_can_be_entered_again_to_record_more():
    x = ad.Variable(3.0)
    tape = ad.GradientTape(persistent=True)
    with tape:
        y = x * x
    with tape:
        z = y * x
    assert tape.gradient(z, x).numpy() == 27.0
    assert tape.gradient(y, x).numpy() == 6.0


def test_tape_state_is_restored_when_the_body_raises():
    x = ad.Variable(1.0)
    depth = len(active_traces())
    with pytest.raises(ZeroDivisionError):
        with ad.GradientTape():
            _ = x * 2
            raise ZeroDivisionError
    assert len(active_traces()) == depth
    y = x * 2          # no tape is recording any more: a plain Tensor
    assert not isinstance(y._value, ad.core.Tracer)


def test_assign_inside_the_tape_rereads_the_new_value():
    v = ad.Variable(2.0)
    with ad.GradientTape() as tape:
        a = v * v              # 2 v at v = 2 -> 4
        v.assign(3.0)
        b = v * 10.0           # 10
        total = a + b
    assert tape.gradient(total, v).numpy() == 14.0
    assert v.numpy() == 3.0


def test_float32_stays_float32():
    x = ad.Variable(np.array([1.0, 2.0], dtype=np.float32))
    with ad.GradientTape() as tape:
        y = np.sum(ad.nn.softplus(x) * x)
    g = tape.gradient(y, x)
    assert y.dtype == np.float32 and g.dtype == np.float32


def test_memory_report_lists_the_recorded_operations():
    x = ad.Variable(np.ones(100))
    with ad.GradientTape(persistent=True) as tape:
        np.sum(np.sin(x) * x)
    report = tape.memory_report()
    assert report["nodes"] == 3
    assert set(report["by_primitive"]) == {"sin", "multiply", "sum"}
    assert report["saved_bytes"] >= 800            # at least one float64 vector of 100 is kept


def test_module_gradient_step_decreases_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    y_true = x @ np.array([[1.0], [-2.0], [0.5]])
    layer = ad.layers.Dense(1, seed=0)
    losses = []
    for _ in range(50):
        with ad.GradientTape() as tape:
            loss = np.mean((layer(x) - y_true) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        for v, g in zip(layer.trainable_variables, grads):
            v.assign_sub(0.1 * g)
        losses.append(float(loss))
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(layer.kernel.numpy().ravel(), [1.0, -2.0, 0.5], atol=0.05)


def test_no_warning_for_an_ordinary_gradient():
    x = ad.Variable(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ad.GradientTape() as tape:
            y = np.exp(x)
        assert tape.gradient(y, x).numpy() == pytest.approx(np.e)


def test_tape_inside_functional_grad_and_jacfwd():
    def first_derivative(x):
        xt = ad.constant(x)          # a traced x stays traced inside the Tensor
        with ad.GradientTape() as tape:
            tape.watch(xt)
            y = np.sin(xt) * xt
        return tape.gradient(y, xt)

    second = -np.sin(0.7) * 0.7 + 2 * np.cos(0.7)
    assert ad.grad(first_derivative)(0.7) == pytest.approx(second, rel=1e-14)
    x = np.array([0.7, 0.1])
    expected = np.diag(-np.sin(x) * x + 2 * np.cos(x))
    np.testing.assert_allclose(ad.jacfwd(first_derivative)(x), expected, rtol=1e-14)
    np.testing.assert_allclose(ad.jacrev(first_derivative)(x), expected, rtol=1e-14)
