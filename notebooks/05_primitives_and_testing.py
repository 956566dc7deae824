# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # New primitives, and how a wrong derivative gets caught
#
# Everything the toolkit differentiates is a **primitive**: a NumPy implementation plus a JVP rule (forward
# mode) and a VJP rule (reverse mode), registered once and shared by both modes. This notebook adds one,
# checks it three ways — `ad.testing.check_grads`, a Hypothesis property test against finite differences,
# and the same per-primitive checks the registry's coverage table runs — and then plants a plausible bug
# in a rule to watch each check catch it.
#
# A silently wrong derivative is the worst bug a differentiation library can have: training still runs,
# only worse. So every rule is checked against something independent of it.

# %%
import math
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from IPython.display import Markdown, display
from scipy.differentiate import derivative

import autodiff as ad
import autodiff.testing  # noqa: F401  (load it first: it records the package's own primitives)

# The test suite sets AUTODIFF_NOTEBOOK_SMALL=1 to run every notebook quickly with small sizes.
SMALL = os.environ.get("AUTODIFF_NOTEBOOK_SMALL", "0") not in ("", "0")
EXAMPLES = 25 if SMALL else 200  # Hypothesis examples per property

# %% [markdown]
# ## A new primitive: log cosh
#
# log(cosh x) is a smooth version of |x| (the "log-cosh loss"). Written naively it overflows: cosh(800) is
# inf in float64. A stable form is |x| + log1p(e^(−2|x|)) − log 2. Its derivative is simply tanh x — much
# simpler than what the chain rule would build from the stable form, and exact everywhere.
#
# `ad.primitive` registers the function; `ad.defjvp` and `ad.defvjp` give one rule per positional argument:
#
# - JVP rule `rule(t, ans, x) -> output tangent` (t may carry extra leading axes: a batch of directions);
# - VJP rule `rule(ans, x) -> (lambda g: input cotangent)`.
#
# The rules are written with NumPy functions, which the toolkit differentiates too, so second derivatives
# work without further rules.

# %%
def logcosh(x):
    """log(cosh(x)), computed without overflow."""
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax)) - math.log(2.0)  # a Python float keeps float32 float32


logcosh = ad.primitive(logcosh, elementwise=True)
ad.defjvp(logcosh, lambda t, ans, x: t * np.tanh(x))
ad.defvjp(logcosh, lambda ans, x: lambda g: g * np.tanh(x))
print(logcosh, "| has JVP:", logcosh.has_jvp, "| has VJP:", logcosh.has_vjp)

# %%
x = np.array([-800.0, -2.0, 0.0, 0.5, 3.0, 800.0])
with np.errstate(over="ignore"):
    print("naive log(cosh x):     ", np.log(np.cosh(x)))
print("logcosh(x):            ", logcosh(x))
print("grad (reverse):        ", ad.grad(lambda x: np.sum(logcosh(x)))(x))
print("jvp (forward), t = 1:  ", ad.jvp(logcosh, (x,), (np.ones_like(x),))[1])
print("tanh(x):               ", np.tanh(x))
print("second derivative:     ", np.diag(ad.hessian(lambda x: np.sum(logcosh(x)))(x)))
print("1 − tanh²(x):          ", 1 - np.tanh(x) ** 2)

# %%
xs = np.linspace(-4, 4, 400)
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(xs, logcosh(xs), label="logcosh(x)")
ax.plot(xs, ad.grad(lambda x: np.sum(logcosh(x)))(xs), label="its gradient (reverse mode)")
ax.plot(xs, np.diag(ad.hessian(lambda x: np.sum(logcosh(x)))(xs)), label="second derivative (fwd-over-rev)")
ax.plot(xs, np.abs(xs), ":", c="gray", label="|x|")
ax.set(xlabel="x", title="A new primitive and the derivatives the toolkit gets from its rules")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## `check_grads`
#
# `ad.testing.check_grads(f, args, order=2)` compares forward mode against finite differences (SciPy's
# `scipy.differentiate`), reverse mode against forward mode by the identity ⟨u, J v⟩ = ⟨Jᵀ u, v⟩ (which
# holds to rounding error, so a wrong transpose cannot hide behind a finite-difference tolerance), and
# repeats both one order up through every nesting of the modes. It returns nothing when all agree and raises
# `AssertionError` otherwise.

# %%
ad.testing.check_grads(logcosh, (np.array([-2.0, -0.3, 0.4, 1.5, 6.0]),), order=2)
ad.testing.check_grads(lambda x, y: np.sum(logcosh(x @ y)), (np.eye(3) + 0.1, np.linspace(-1, 1, 3)))
print("check_grads: forward, reverse, and second order agree with finite differences")

# %% [markdown]
# ## A property test with Hypothesis
#
# One point proves little. Hypothesis draws many inputs (and shrinks any failure to a simple one). The
# property: at every x, the gradient equals a high-order central finite difference of the function.

# %%
def fd_derivative(f, x):
    """d/dx f at x by an adaptive central difference (scipy.differentiate.derivative)."""
    return derivative(f, x, initial_step=1e-2).df


def gradient_matches_finite_differences(f):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(st.floats(min_value=-30, max_value=30, allow_nan=False))
    def prop(x):
        got = ad.grad(f)(x)
        want = fd_derivative(f, x)
        assert np.isclose(got, want, rtol=1e-8, atol=1e-10), (
            f"at x = {x}: grad {got:.10g}, finite diff {want:.10g}")
    return prop


gradient_matches_finite_differences(logcosh)()
print(f"Hypothesis: the gradient of logcosh matched finite differences on {EXAMPLES} drawn inputs")

# %% [markdown]
# ## A wrong rule, caught
#
# Now the kind of slip that happens when writing rules by hand: the VJP rule uses the **output** where the
# derivative needs the **input** — `tanh(ans)` instead of `tanh(x)`. The JVP rule is right, so forward mode
# is right; the mistake is only in reverse mode, and at x = 0 both give 0, so a spot check there passes.

# %%
def logcosh_buggy(x):
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax)) - math.log(2.0)


logcosh_buggy = ad.primitive(logcosh_buggy, elementwise=True)
ad.defjvp(logcosh_buggy, lambda t, ans, x: t * np.tanh(x))
ad.defvjp(logcosh_buggy, lambda ans, x: lambda g: g * np.tanh(ans))  # BUG: ans instead of x

print("spot check at 0:", ad.grad(logcosh_buggy)(0.0), "(right: 0.0)")
print("at 1.5:          ", ad.grad(logcosh_buggy)(1.5), f"(right: {np.tanh(1.5)})")

# %% [markdown]
# `check_grads` catches it and says where and by how much:

# %%
try:
    ad.testing.check_grads(logcosh_buggy, (np.array([-2.0, -0.3, 0.4, 1.5]),))
except AssertionError as err:
    print("check_grads raised AssertionError:\n")
    print(err)
else:
    raise RuntimeError("the wrong rule was not caught")

# %% [markdown]
# So does the Hypothesis property, which also shrinks the failure to a simple input:

# %%
try:
    gradient_matches_finite_differences(logcosh_buggy)()
except AssertionError as err:
    print("Hypothesis found a counterexample:")
    print(err)
    for note in getattr(err, "__notes__", []):
        print(note)
else:
    raise RuntimeError("the wrong rule was not caught")

# %% [markdown]
# ## The per-primitive checks, and the registry's coverage table
#
# Every primitive of the package declares a **test domain** — a function that draws valid inputs — and the
# test suite runs five checks on each: the JVP against finite differences, the VJP against the JVP
# (dot-product identity), second order, batched tangents against a loop, and float32. Giving our
# primitives a domain (`ad.core.defdomain`) lets the same checks run on them:

# %%
def logcosh_domain(rng):
    return ad.core.Sample((rng.uniform(-3, 3, size=(2, 3)),))


for prim in (logcosh, logcosh_buggy):
    ad.core.defdomain(prim, logcosh_domain)
    cells = []
    for prop in ad.testing.PROPERTIES:
        try:
            cells.append(f"{prop}: {ad.testing.check_property(prim, prop, seed=0)}")
        except AssertionError:
            cells.append(f"{prop}: FAIL")
    print(f"{prim.name:14}", " | ".join(cells))

# %% [markdown]
# The buggy primitive fails exactly the check that compares reverse mode with forward mode (and the ones
# built on reverse mode), while its JVP passes — which also says where to look.
#
# For the package's own primitives, `python -m autodiff.coverage` prints the whole table (the docs keep a
# copy in `docs/coverage.md`, and a test fails when it is stale). Run it here:

# %%
out = subprocess.run([sys.executable, "-m", "autodiff.coverage"], capture_output=True, text=True, check=True)
lines = out.stdout.splitlines()
start = next(i for i, line in enumerate(lines) if line.startswith("| primitive"))
print(lines[start - 2])  # the summary line
display(Markdown("\n".join(lines[start:])))
