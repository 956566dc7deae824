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
# # The gradient tape: the seed tutorial, runnable
#
# This notebook walks through the tutorial this project started from ("TensorFlow (3): automatic
# differentiation", after the TensorFlow guide *Introduction to gradients and automatic differentiation*),
# every example in order, with `tf.` replaced by `ad.` and NumPy in place of `tf.random`, `tf.zeros`,
# `tf.reduce_*` and `tf.math`. Values are float64 where TensorFlow's were float32.
#
# ## Automatic differentiation in one paragraph
#
# There are four ways to get derivatives into a program: work them out by hand and code them, numerical
# (finite-difference) differentiation, symbolic differentiation, and **automatic differentiation**, which
# breaks a computation into elementary operations whose derivatives are known and combines them by the
# chain rule. It comes in two forms:
#
# - **forward mode** computes derivatives during the forward evaluation, alongside the values;
# - **reverse mode** first evaluates the function, keeping the intermediate values, then propagates
#   derivatives backwards from the output. It needs more memory, because the intermediates must be kept for
#   the backward pass (measured in `03_memory.ipynb`).
#
# Forward mode suits functions with more outputs than inputs, reverse mode functions with far fewer outputs
# than inputs; seen as matrix products, the two differ only in where the multiplications start
# (measured in `02_forward_vs_reverse.ipynb`).
#
# ## Gradient tapes
#
# To differentiate in reverse mode, the toolkit must remember which operations ran, in which order, during
# the forward pass; the backward pass walks that list in reverse. `ad.GradientTape` records the operations
# run inside its context on watched inputs (usually `ad.Variable`s).

# %%
import numpy as np

import autodiff as ad

# %%
x = ad.Variable(3.0)

with ad.GradientTape() as tape:
    y = x**2

# %% [markdown]
# Once some operations are recorded, `GradientTape.gradient(target, sources)` computes the gradient of a
# target (often a loss) with respect to some sources (often the model's variables):

# %%
# dy = 2x * dx
dy_dx = tape.gradient(y, x)
dy_dx.numpy()

# %% [markdown]
# The same works on tensors of any shape:

# %%
w = ad.Variable(np.random.default_rng(0).normal(size=(3, 2)), name="w")
b = ad.Variable(np.zeros(2, dtype=np.float32), name="b")
x = [[1.0, 2.0, 3.0]]

with ad.GradientTape(persistent=True) as tape:
    y = x @ w + b
    loss = np.mean(y**2)

# %% [markdown]
# The sources can be given as a list, or as a dictionary — the result has the same structure:

# %%
[dl_dw, dl_db] = tape.gradient(loss, [w, b])
print(dl_dw)
print(dl_db)

# %%
my_vars = {
    "w": w,
    "b": b,
}

grad = tape.gradient(loss, my_vars)
grad["b"]

# %% [markdown]
# ## Gradients with respect to a model
#
# Variables are usually collected in an `ad.Module` or one of its subclasses (here a dense layer). Every
# module gathers its variables in `Module.trainable_variables`, so the gradients with respect to all of a
# model's trainable variables take a few lines:

# %%
layer = ad.layers.Dense(2, activation="relu")
x = ad.constant([[1.0, 2.0, 3.0]])

with ad.GradientTape() as tape:
    # Forward pass
    y = layer(x)
    loss = np.mean(y**2)

# Calculate gradients with respect to every trainable variable
grad = tape.gradient(loss, layer.trainable_variables)

# %%
for var, g in zip(layer.trainable_variables, grad):
    print(f"{var.name}, shape: {g.shape}")

# %% [markdown]
# ## Controlling what the tape watches
#
# By default the tape records every operation that reads a trainable `ad.Variable`, because
#
# - the tape must know which operations to record in the forward pass to compute the backward pass;
# - the tape holds references to intermediate outputs, so unnecessary operations should not be recorded;
# - the most common use is the gradient of a loss with respect to all of a model's trainable variables.
#
# Here only `x0` is watched: `x1` is not trainable, `x2` is a plain tensor (a Variable plus a tensor gives a
# tensor), and `x3` is a constant.

# %%
# A trainable variable
x0 = ad.Variable(3.0, name="x0")
# Not trainable
x1 = ad.Variable(3.0, name="x1", trainable=False)
# Not a Variable: A variable + tensor returns a tensor.
x2 = ad.Variable(2.0, name="x2") + 1.0
# Not a variable
x3 = ad.constant(3.0, name="x3")

with ad.GradientTape() as tape:
    y = (x0**2) + (x1**2) + (x2**2)

grad = tape.gradient(y, [x0, x1, x2, x3])

for g in grad:
    print(g)

# %% [markdown]
# `GradientTape.watched_variables` lists the variables the tape is watching:

# %%
[var.name for var in tape.watched_variables()]

# %% [markdown]
# To record gradients with respect to a tensor that is not a variable, call `GradientTape.watch(x)`:

# %%
x = ad.constant(3.0)
with ad.GradientTape() as tape:
    tape.watch(x)
    y = x**2

# dy = 2x * dx
dy_dx = tape.gradient(y, x)
print(dy_dx.numpy())

# %% [markdown]
# Conversely, to stop the default of watching every variable read, create the tape with
# `watch_accessed_variables=False`. This computation uses two variables, but only one is connected to the
# gradient:

# %%
x0 = ad.Variable(0.0)
x1 = ad.Variable(10.0)

with ad.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(x1)
    y0 = np.sin(x0)
    y1 = ad.nn.softplus(x1)
    y = y0 + y1
    ys = np.sum(y)

# %%
# dys/dx1 = exp(x1) / (1 + exp(x1)) = sigmoid(x1)
grad = tape.gradient(ys, {"x0": x0, "x1": x1})

print("dy/dx0:", grad["x0"])
print("dy/dx1:", grad["x1"].numpy())

# %% [markdown]
# ## Intermediate results
#
# The gradient of an output can also be taken with respect to an intermediate value computed inside the
# tape's context:

# %%
x = ad.constant(3.0)

with ad.GradientTape() as tape:
    tape.watch(x)
    y = x * x
    z = y * y

# Use the tape to compute the gradient of z with respect to the
# intermediate value y.
# dz_dy = 2 * y and y = x ** 2 = 9
print(tape.gradient(z, y).numpy())

# %% [markdown]
# By default, a tape releases the resources it holds as soon as `GradientTape.gradient` is called. To compute
# several gradients over the same computation, create a tape with `persistent=True`: it allows several
# calls to `gradient`, and its resources are released when the tape object is garbage-collected.

# %%
x = ad.constant([1, 3.0])
with ad.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y = x * x
    z = y * y

print(tape.gradient(z, x).numpy())  # [4.0, 108.0] (4 * x**3 at x = 1 and x = 3)
print(tape.gradient(y, x).numpy())  # [2.0, 6.0] (2 * x)

# %% [markdown]
# A second call on a tape that is not persistent is an error:

# %%
with ad.GradientTape() as tape:
    tape.watch(x)
    y = x * x
tape.gradient(y, x)
try:
    tape.gradient(y, x)
except RuntimeError as err:
    print("RuntimeError:", err)

# %% [markdown]
# ## What the tape keeps
#
# The tape holds what the backward pass will need — the "intermediate variables" that make reverse mode
# cost memory. `memory_report()` says what that is:

# %%
x = ad.constant(np.linspace(0.0, 1.0, 1000))
with ad.GradientTape() as tape:
    tape.watch(x)
    y = np.sum(np.tanh(np.sin(x) * 2.0))
tape.memory_report()

# %% [markdown]
# ## The same derivatives, functionally
#
# The tape is one of two front ends. The functional API differentiates plain NumPy functions, in either
# mode; the first example again:

# %%
def f(x):
    return x**2


print("reverse mode, ad.grad:", ad.grad(f)(3.0))
print("forward mode, ad.jvp: ", ad.jvp(f, (3.0,), (1.0,))[1])
xf = ad.constant(3.0)
with ad.ForwardAccumulator(xf, ad.constant(1.0)) as acc:
    y = xf**2
print("forward mode, ad.ForwardAccumulator:", acc.jvp(y).numpy())
