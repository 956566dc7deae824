"""SPEC §4: a persistent tape's ``gradient`` called inside the tape's own block is recorded by it, so the
gradient can be differentiated again by the same tape (as in TensorFlow)."""

import numpy as np
import pytest

import autodiff as ad


def test_the_issue_example_gradient_used_inside_the_block():
    x = ad.Variable([1.0, 3.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x * x / 2
        g = tape.gradient(y, x)                 # = x, recorded as a function of x
        z = g * x                               # = x², so dz/dx = 2x
    np.testing.assert_allclose(g.numpy(), [1.0, 3.0])
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [2.0, 6.0])


def test_second_and_third_derivatives_from_one_tape():
    x = ad.Variable([1.0, 3.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x ** 3
        g = tape.gradient(y, x)                 # 3x²
        h = tape.gradient(g, x)                 # 6x
    np.testing.assert_allclose(g.numpy(), [3.0, 27.0])
    np.testing.assert_allclose(h.numpy(), [6.0, 18.0])
    np.testing.assert_allclose(tape.gradient(h, x).numpy(), [6.0, 6.0])
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [3.0, 27.0])   # still persistent


def test_recorded_gradient_matches_the_functional_hessian_with_broadcasting():
    rng = np.random.default_rng(0)
    x0, b0 = rng.standard_normal(4), 0.7
    A = rng.standard_normal((3, 4))
    x, b = ad.Variable(x0), ad.Variable(b0)
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(np.tanh(A @ (x * b)) ** 2) + np.exp(b) * np.sum(np.sin(x))   # b is broadcast
        gx, gb = tape.gradient(y, [x, b])
    f = lambda x, b: np.sum(np.tanh(A @ (x * b)) ** 2) + np.exp(b) * np.sum(np.sin(x))  # noqa: E731
    H = ad.hessian(f, argnums=(0, 1))(x0, b0)
    # d(sum gx)/dx = H_xx summed over rows; d gb/dx = H_bx; d(sum gx)/db = sum of H_xb
    np.testing.assert_allclose(tape.gradient(gx, x).numpy(), H[0][0].sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(gb, x).numpy(), H[1][0], rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(gx, b).numpy(), H[0][1].sum(), rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(gb, b).numpy(), H[1][1], rtol=1e-10)


def test_recorded_jacobian_inside_the_block():
    x = ad.Variable([0.5, -1.0, 2.0])
    with ad.GradientTape(persistent=True) as tape:
        y = np.sin(x) * x
        J = tape.jacobian(y, x)                 # diag(cos(x) x + sin(x))
        t = np.trace(J)
    x0 = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(J.numpy(), np.diag(np.cos(x0) * x0 + np.sin(x0)), rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(t, x).numpy(), 2 * np.cos(x0) - x0 * np.sin(x0), rtol=1e-12)


def test_a_gradient_inside_stop_recording_or_after_the_block_is_a_constant():
    x = ad.Variable([1.0, 3.0])
    with ad.GradientTape(persistent=True) as tape:
        y = x ** 2
        with tape.stop_recording():
            g = tape.gradient(y, x)
        z = np.sum(g * x)                       # g is a constant here: dz/dx = g
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [2.0, 6.0])
    g_after = tape.gradient(y, x)
    assert tape.gradient(g_after, x) is None    # computed after the block: not recorded


def test_the_tape_is_used_again_for_more_recording_after_an_inner_gradient():
    x = ad.Variable(2.0)
    with ad.GradientTape(persistent=True) as tape:
        y = x ** 4
        g = tape.gradient(y, x)                 # 4x³ = 32
    with tape:
        w = g * g                               # 16x⁶: dw/dx = 96 x⁵ = 3072
    assert tape.gradient(w, x).numpy() == pytest.approx(3072.0)


def test_checkpoint_of_tensors_inside_the_block():
    # checkpoint on Tensors runs f as it is (the tape API records every operation), so the recorded
    # gradient is exact here too
    x = ad.Variable([1.0, 2.0])
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(ad.checkpoint(np.sin)(x))
        g = tape.gradient(y, x)
    np.testing.assert_allclose(tape.gradient(g, x).numpy(), -np.sin([1.0, 2.0]), rtol=1e-12)


def test_operations_of_an_earlier_block_cannot_be_recorded_and_it_says_so():
    x = ad.Variable([1.0, 2.0])
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(x ** 3)
    with tape:                                  # entered again: y's operations are from the first block
        with pytest.raises(NotImplementedError, match="earlier block"):
            tape.gradient(y, x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [3.0, 12.0])   # after the block: fine


_A = np.array([[3.5, 0.2, -0.4], [0.1, 2.8, 0.3], [-0.2, 0.6, 3.1]])
PROGRAMS = {
    "index": lambda x: np.sum(x[1:] * x[:-1]) + x[0] ** 3,
    "matmul": lambda x: np.sum(np.tanh(_A @ x) ** 2),
    "max": lambda x: np.max(x * x) + np.sum(np.exp(x)),
    "divide": lambda x: np.sum(x / (1 + x * x)),
    "where": lambda x: np.sum(np.where(x > 0, x ** 3, np.sin(x))),
    "concatenate": lambda x: np.sum(np.concatenate([x, x ** 2]) ** 2),
    "solve": lambda x: np.sum(np.linalg.solve(_A + np.diag(x), x)),
    "det": lambda x: np.linalg.det(_A * x[:, None]),
    "outer": lambda x: np.sum(np.outer(x, x) ** 2),
    "std and mean": lambda x: np.std(x) * np.mean(x ** 2),
    "logsumexp": lambda x: ad.nn.logsumexp(x * 2.0),
    "reshape and transpose": lambda x: np.sum((x.reshape(3, 1) * x.reshape(1, 3)).T @ x),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_hessian_from_one_persistent_tape_matches_the_functional_hessian(name):
    f = PROGRAMS[name]
    x0 = np.array([0.3, -0.7, 1.2])
    x = ad.Variable(x0)
    with ad.GradientTape(persistent=True) as tape:
        g = tape.gradient(f(x), x)
        rows = [g[i] for i in range(3)]         # inside the block, so recorded too
    H = np.stack([tape.gradient(r, x).numpy() for r in rows])
    np.testing.assert_allclose(g.numpy(), ad.grad(f)(x0), rtol=1e-10)
    np.testing.assert_allclose(H, ad.hessian(f)(x0), rtol=1e-8, atol=1e-12)
