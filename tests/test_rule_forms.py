"""The one-statement rule forms (defprim, deflinear, nondifferentiable(domain=)) and the rules derived
from the other mode (SPEC section 6: either mode works for a primitive that has only the other rule)."""

import subprocess
import sys

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import nondifferentiable
from autodiff.forms import over
from autodiff.rules._domains import unary
from autodiff.testing import check_grads


def _names(prefix):
    n = 0
    while True:
        n += 1
        yield f"{prefix}_{n}"


_NAME = _names("test_rule_forms")


def test_defprim_gives_both_modes_and_the_domain_in_one_statement():
    domain = unary(0.5, 2.0)
    cube = ad.defprim(lambda x: x ** 3, deriv=lambda ans, x: 3.0 * x * x, domain=domain, name=next(_NAME))
    assert cube.has_jvp and cube.has_vjp and cube.elementwise and cube.domain is domain
    x = np.array([0.5, 1.0, 2.0])
    assert np.allclose(ad.jvp(cube, (x,), (np.ones(3),))[1], 3 * x ** 2)
    assert np.allclose(ad.grad(lambda v: np.sum(cube(v)))(x), 3 * x ** 2)
    check_grads(lambda v: cube(v), (x,))
    check_grads(lambda v: cube(v) * np.ones((2, 1)), (x,))     # broadcasting, batched Jacobians


def test_defprim_partials_per_argument_with_none_for_zero():
    scaled = ad.defprim(lambda x, k: x * np.floor(k), name=next(_NAME),
                        deriv=(lambda ans, x, k: np.floor(k), None))
    x, k = np.array([1.0, 2.0]), np.array([2.5, 3.5])
    assert np.allclose(ad.grad(lambda v: np.sum(scaled(v, k)))(x), [2.0, 3.0])
    assert np.allclose(ad.grad(lambda kk: np.sum(scaled(x, kk)))(k), 0.0)
    check_grads(lambda v: scaled(v, k), (x,))


def test_over_divides_by_the_denominator_in_both_modes():
    # d log x = dx / x: the quotient, rounded as the textbook rule, in forward and reverse mode.
    prim = ad.defprim(lambda x: np.log(x), deriv=over(lambda ans, x: x), name=next(_NAME))
    x = np.array([0.3, 1.7, 2.9])
    t = np.array([0.1, -0.7, 1.3])
    assert np.array_equal(ad.jvp(prim, (x,), (t,))[1], t / x)
    assert np.array_equal(ad.vjp(prim, x)[1](t)[0], t / x)
    check_grads(prim, (x,))


def test_defprim_computes_the_partial_only_when_the_backward_pass_asks():
    calls = []

    def deriv(ans, x):
        calls.append(1)
        return np.cos(x)

    prim = ad.defprim(lambda x: np.sin(x), deriv=deriv, name=next(_NAME))
    x = np.linspace(0.1, 1.0, 4)
    _, pullback = ad.vjp(prim, x)
    assert calls == []                     # recording did not compute the derivative
    g = pullback(np.ones(4))[0]
    assert calls == [1] and np.allclose(g, np.cos(x))


def test_defprim_vjp_override_replaces_one_argument_only():
    def vjp_x(ans, x, y):
        return lambda g: g * y                 # the same g * d, hand-written

    prod2 = ad.defprim(lambda x, y: x * y, name=next(_NAME), vjp={0: vjp_x},
                       deriv=(lambda ans, x, y: y, lambda ans, x, y: x))
    assert prod2.vjps[0] is vjp_x and prod2.vjps[1] is not None
    x, y = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    check_grads(prod2, (x, y))


def test_deflinear_jvp_is_the_map_on_the_tangent_with_batch_axes():
    weights = np.array([1.0, 2.0, 3.0])
    weighted_sum = ad.deflinear(lambda x: np.sum(x * weights, axis=-1), name=next(_NAME),
                                transpose=lambda ans, x: lambda g: g[..., None] * weights)
    x = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])
    assert weighted_sum.jvps[0] is not None
    assert np.allclose(ad.jacfwd(weighted_sum)(x), ad.jacrev(weighted_sum)(x))
    check_grads(weighted_sum, (x,))


def test_deflinear_batched_applies_the_map_to_a_batched_tangent():
    flip = ad.deflinear(lambda x, axis: np.flip(x, axis), name=next(_NAME),
                        transpose=lambda ans, x, axis: lambda g: np.flip(g, axis + np.ndim(g) - np.ndim(x)),
                        batched=lambda t, nb, axis: np.flip(t, axis + nb))

    def f(x):
        return flip(x, axis=0) * np.arange(1.0, 4.0)

    check_grads(f, (np.array([1.0, 2.0, 4.0]),))


def test_deflinear_jointly_linear_in_several_arguments():
    def stack2(a, b):
        return np.stack([a, b], axis=-2)    # batch axes of the tangents stay in front

    joint = ad.deflinear(stack2, name=next(_NAME), transpose=(lambda ans, a, b: lambda g: g[..., 0, :],
                                                              lambda ans, a, b: lambda g: g[..., 1, :]))
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, tangent = ad.jvp(lambda u: joint(u, b), (a,), (np.array([1.0, -1.0]),))
    assert np.array_equal(tangent, [[1.0, -1.0], [0.0, 0.0]])
    check_grads(lambda u, v: joint(u, v) * 2.0, (a, b))


def test_nondifferentiable_takes_its_domain_beside_it():
    sampler = unary()
    prim = nondifferentiable(lambda x: np.floor(x), name=next(_NAME), domain=sampler)
    assert prim.nondiff and prim.domain is sampler


def test_only_a_jvp_rule_works_in_reverse_mode():
    prim = ad.primitive(lambda x: np.sin(x) * 2.0, name=next(_NAME))
    ad.defjvp(prim, lambda t, ans, x: 2.0 * np.cos(x) * t)
    x = np.array([0.1, 0.7, 1.3])
    assert np.allclose(ad.grad(lambda v: np.sum(prim(v)))(x), 2.0 * np.cos(x))
    assert np.allclose(ad.jacrev(prim)(x), np.diag(2.0 * np.cos(x)))      # batched cotangents


def test_only_a_vjp_rule_works_in_forward_mode():
    prim = ad.primitive(lambda x: np.sin(x) * 2.0, name=next(_NAME))
    ad.defvjp(prim, lambda ans, x: lambda g: 2.0 * np.cos(x) * g)
    x = np.array([0.1, 0.7, 1.3])
    assert np.allclose(ad.jvp(prim, (x,), (np.ones(3),))[1], 2.0 * np.cos(x))
    assert np.allclose(ad.jacfwd(prim)(x), np.diag(2.0 * np.cos(x)))      # batched tangents


_FRESH = """
import sys
import numpy as np
{imports}
prim = core.primitive(lambda x: 3.0 * x, name="triple")
core.{define}
assert "reverse" not in sys.modules, "loading the package must not load reverse mode"
print({call})
"""


@pytest.mark.parametrize("imports, define, call", [
    ("import autodiff\nfrom autodiff import core",
     "defvjp(prim, lambda ans, x: lambda g: 3.0 * g)",
     "autodiff.jvp(prim, (np.ones(2),), (np.array([1.0, 2.0]),))[1].tolist()"),
    ("import forward\nfrom autodiff import core",
     "defvjp(prim, lambda ans, x: lambda g: 3.0 * g)",
     "forward.jvp(prim, (np.ones(2),), (np.array([1.0, 2.0]),))[1].tolist()"),
    ("import autodiff\nfrom autodiff import core",
     "defjvp(prim, lambda t, ans, x: 3.0 * t)",
     "autodiff.grad(lambda x: prim(x).sum())(np.array([1.0, 2.0])).tolist()"),
])
def test_derived_rules_in_a_fresh_interpreter(imports, define, call):
    code = _FRESH.format(imports=imports, define=define, call=call)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = "[3.0, 6.0]" if "jvp(" in call else "[3.0, 3.0]"
    assert out.stdout.strip() == expected


def test_the_core_imports_no_mode():
    code = ("import sys, autodiff, autodiff.core, autodiff.forms; "
            "print(sorted(m for m in ('forward', 'reverse') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
