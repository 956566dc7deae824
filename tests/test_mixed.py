"""Mixed mode: the Jacobian split at a narrow waist is exact, is found only where every path passes
through the waist, and "auto" takes it on an hourglass."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.mixed import find_waist
from autodiff.pytree import tree_flatten
from reverse.vjp import Recording

RNG = np.random.default_rng(7)


def hourglass(widths, seed=0, dtype=np.float64):
    """tanh layers through the given widths, e.g. 300 -> 300 -> 300 -> 5 -> 300 -> 300 -> 300."""
    rng = np.random.default_rng(seed)
    Ws = [(rng.standard_normal((b, a)) / np.sqrt(a)).astype(dtype) for a, b in zip(widths[:-1], widths[1:])]

    def f(x):
        for W in Ws:
            x = np.tanh(W @ x)
        return x

    return f, rng.standard_normal(widths[0]).astype(dtype)


def _waist(f, *args):
    flat, tree = tree_flatten(args)
    rec = Recording(f, tree, list(flat), keep_nodes=True)
    n = sum(np.size(a) for a in flat)
    m = sum(np.size(v) for v in rec.values)
    return find_waist(rec, n, m)


@pytest.mark.parametrize("widths", [(40, 40, 3, 40, 40), (30, 50, 2, 60), (20, 4, 25)])
def test_mixed_is_exact_on_an_hourglass(widths):
    f, x = hourglass(widths)
    J = ad.jacobian(f, mode="mixed")(x)
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J, ad.jacrev(f)(x), rtol=1e-12, atol=1e-14)
    assert J.shape == (widths[-1], widths[0])


def test_mixed_keeps_float32():
    f, x = hourglass((40, 3, 40), dtype=np.float32)
    J = ad.jacobian(f, mode="mixed")(x)
    assert J.dtype == np.float32
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), rtol=1e-5, atol=1e-6)


def test_mixed_with_pytrees_tuple_argnums_and_a_constant_output():
    W = RNG.standard_normal((3, 30))
    B = RNG.standard_normal((40, 3))

    def f(a, b, scale):
        z = np.tanh(W @ (a[0] * b["u"].reshape(-1)) + a[1][:3])   # the waist: 3 entries
        return {"y": np.sin(B @ z) * scale, "zz": (B @ z).reshape(8, 5) ** 2, "const": np.ones(60)}

    a = (RNG.standard_normal(30), RNG.standard_normal(40))
    b = {"u": RNG.standard_normal((5, 6))}
    got = ad.jacobian(f, argnums=(0, 1), mode="mixed")(a, b, 2.0)
    want = ad.jacrev(f, argnums=(0, 1))(a, b, 2.0)
    for key in want:
        got_leaves, want_leaves = tree_flatten(got[key])[0], tree_flatten(want[key])[0]
        assert len(got_leaves) == len(want_leaves) == 3
        for g, w in zip(got_leaves, want_leaves):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)


def test_a_narrow_node_with_a_path_around_it_is_no_waist():
    W1, W2, B = RNG.standard_normal((3, 50)), RNG.standard_normal((50, 3)), RNG.standard_normal((50, 50))

    def bypassed(x):
        return W2 @ np.tanh(W1 @ x) + np.sin(B @ x)       # the 3-wide node is not on every path

    x = RNG.standard_normal(50)
    assert _waist(bypassed, x) is None
    with pytest.raises(ValueError, match="narrow waist"):
        ad.jacobian(bypassed, mode="mixed")(x)
    plan = ad.plan_jacobian(bypassed, x)
    assert "mixed" not in plan.predicted and plan.waist_size is None
    np.testing.assert_allclose(ad.jacobian(bypassed)(x), ad.jacfwd(bypassed)(x), rtol=1e-12)


def test_the_waist_is_the_narrowest_separating_node():
    f, x = hourglass((60, 60, 6, 60, 2, 60, 60))
    assert _waist(f, x).shape == (2,)
    f, x = hourglass((60, 60, 60))
    assert _waist(f, x) is None                    # nothing narrower than a quarter of min(n, m)


def test_auto_takes_mixed_on_the_hourglass_of_the_issue():
    f, x = hourglass((300, 300, 300, 5, 300, 300, 300))
    plan = ad.plan_jacobian(f, x)
    assert plan.mode == "mixed" and plan.waist_size == 5 and plan.rule_mode == "reverse"
    assert plan.predicted["mixed"] < min(plan.predicted["forward"], plan.predicted["reverse"])
    assert "waist of 5 entries" in plan.reason
    np.testing.assert_allclose(ad.jacobian(f)(x), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-14)
    # chunk_size="auto" takes the same mode
    np.testing.assert_allclose(ad.jacobian(f, chunk_size="auto")(x), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-14)


def test_complex_values_get_no_mixed_mode():
    W1 = RNG.standard_normal((2, 40)) + 1j * RNG.standard_normal((2, 40))
    W2 = RNG.standard_normal((40, 2))
    f = lambda x: np.real(W2 @ np.tanh(W1 @ x))  # noqa: E731   complex intermediate, real ends
    x = RNG.standard_normal(40)
    g = lambda z: W2 @ np.tanh(W1 @ z)  # noqa: E731          complex output
    assert _waist(g, x) is None
    with pytest.raises(ValueError, match="narrow waist"):
        ad.jacobian(g, mode="mixed")(x)
    # real ends, complex inside: the 2-entry complex node would be a wrong waist (its real seed sees only
    # half of it); no waist, and auto computes the right Jacobian
    assert _waist(f, x) is None
    assert "mixed" not in ad.plan_jacobian(f, x).predicted
    np.testing.assert_allclose(ad.jacobian(f)(x), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-13)


def test_mixed_nests_under_both_modes():
    f, x = hourglass((40, 40, 3, 40, 40))
    v = RNG.standard_normal(40)
    loss = lambda x: np.sum(ad.jacobian(f, mode="mixed")(x) ** 2)  # noqa: E731
    ref = lambda x: np.sum(ad.jacfwd(f)(x) ** 2)  # noqa: E731
    np.testing.assert_allclose(ad.grad(loss)(x), ad.grad(ref)(x), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ad.jvp(loss, (x,), (v,))[1], ad.jvp(ref, (x,), (v,))[1], rtol=1e-10)
