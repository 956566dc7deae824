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
# # Reverse mode keeps the intermediates: measuring the memory
#
# The seed document: forward mode computes the value and the derivative in one sweep, while reverse mode
# first runs the function forward and then propagates backwards, "so reverse mode needs more memory,
# because it has to keep the intermediate values of the forward pass for the backward pass".
#
# Here we measure that claim as the function gets deeper, two ways:
#
# - what the tape holds for its backward pass, as reported by the toolkit (`plan_jacobian` records one
#   evaluation and reports the tape's nodes and saved bytes from the tape's memory report);
# - the peak of Python's own allocation tracker, `tracemalloc`, while the derivative is computed
#   (NumPy reports its array buffers to it).
#
# Then we trade memory for time with `ad.checkpoint`, which stores only a segment's inputs and recomputes
# its intermediates during the backward pass.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # steadier timings on a shared machine

import resource
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff import heap

# The test suite sets AUTODIFF_NOTEBOOK_SMALL=1 to run every notebook quickly with small sizes.
SMALL = os.environ.get("AUTODIFF_NOTEBOOK_SMALL", "0") not in ("", "0")
N = 10_000 if SMALL else 100_000  # the width of every layer
MiB = 2**20


def peak_bytes(fn):
    """Peak bytes allocated (tracemalloc) while fn() runs, above what was allocated before it started."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def page_faults(fn, repeat=3):
    """Minor page faults per call of fn() (the kernel mapping fresh memory in), after a warm-up call."""
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeat):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat


def tuned(fn):
    """fn run with the heap that keeps freed memory (autodiff.heap.tuned, what ad.jacobian uses)."""
    def run():
        with heap.tuned():
            return fn()
    return run


def layer(x):
    """One layer of the deep function: x ↦ tanh(1.5 x), elementwise on N numbers."""
    return np.tanh(1.5 * x)


def layer_evaluations(fn):
    """How many layers fn() evaluates, recomputations included: the calls of tanh's NumPy
    implementation. (A checkpoint replays the segment's recorded operations in the backward pass; it does
    not call the Python function again, so counting calls of `layer` would miss the recomputation.)"""
    tanh = ad.registry["tanh"]
    impl, count = tanh.impl, [0]

    def counted(*args, **kwargs):
        count[0] += 1
        return impl(*args, **kwargs)

    tanh.impl = counted
    try:
        fn()
    finally:
        tanh.impl = impl
    return count[0]


def deep(depth):
    """A scalar loss of `depth` layers: x ↦ Σ (layer^depth(x))²."""
    def loss(x):
        for _ in range(depth):
            x = layer(x)
        return np.sum(x * x)
    return loss


x = np.random.default_rng(0).standard_normal(N)
v = np.ones(N)
print(f"one layer's output: {N:,} float64 numbers = {x.nbytes / MiB:.2f} MiB")

# %% [markdown]
# ## Memory against depth
#
# For each depth we compute
#
# - reverse mode: the gradient `ad.grad(loss)(x)` — one recorded pass and one backward pass;
# - forward mode: a directional derivative `ad.jvp(loss, (x,), (v,))` — one pass carrying one tangent.
#
# Both cost a small multiple of one evaluation of the loss. (A full gradient in forward mode would need N
# directions; we compare one pass of each, which is what the memory claim is about.)

# %%
depths = [1, 4, 16] if SMALL else [1, 2, 4, 8, 16, 32, 64]
rows = []
for depth in depths:
    loss = deep(depth)
    plan = ad.plan_jacobian(loss, x)  # records one evaluation and reads the tape's memory report
    rev = peak_bytes(lambda loss=loss: ad.grad(loss)(x))
    fwd = peak_bytes(lambda loss=loss: ad.jvp(loss, (x,), (v,)))
    rows.append((depth, plan.tape_nodes, plan.tape_bytes, rev, fwd))

print(f"{'depth':>5}{'tape nodes':>12}{'tape (MiB)':>12}{'reverse peak':>14}{'forward peak':>14}")
for depth, nodes, tape, rev, fwd in rows:
    print(f"{depth:5}{nodes:12}{tape / MiB:12.2f}{rev / MiB:14.2f}{fwd / MiB:14.2f}")

slope_tape = np.polyfit(depths, [r[2] for r in rows], 1)[0]
slope_rev = np.polyfit(depths, [r[3] for r in rows], 1)[0]
slope_fwd = np.polyfit(depths, [r[4] for r in rows], 1)[0]
print(f"\nper extra layer: the tape grows by {slope_tape / MiB:.2f} MiB, the reverse-mode peak by "
      f"{slope_rev / MiB:.2f} MiB, the forward-mode peak by {slope_fwd / MiB:.3f} MiB "
      f"(one layer's output is {x.nbytes / MiB:.2f} MiB)")

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(depths, [r[3] / MiB for r in rows], "o-", label="reverse mode: peak (tracemalloc)")
ax.plot(depths, [r[2] / MiB for r in rows], "s--", label="reverse mode: tape's saved bytes (memory report)")
ax.plot(depths, [r[4] / MiB for r in rows], "^-", label="forward mode: peak (tracemalloc)")
ax.set(xlabel="depth (layers)", ylabel="MiB", title=f"Memory of one derivative pass, width {N:,}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The tape keeps each layer's output (the `tanh` rule needs tanh(u) for its derivative 1 − tanh²(u)), so
# reverse mode's memory grows by one layer's output per layer — and tracemalloc sees the same growth. In
# forward mode each layer's value and tangent are dropped as soon as the next layer has used them: the peak
# stays flat at a few arrays, whatever the depth.
#
# A `GradientTape` reports the same through `memory_report()`, broken down by primitive. For the deepest
# function:

# %%
xt = ad.constant(x)
with ad.GradientTape() as tape:
    tape.watch(xt)
    y = deep(depths[-1])(xt)
report = tape.memory_report()
print(f"depth {depths[-1]}: {report['nodes']} recorded operations, {report['saved_bytes'] / MiB:.2f} MiB "
      f"kept for the backward pass = {report['saved_bytes'] / x.nbytes:.1f} layer outputs")
for name, entry in report["by_primitive"].items():
    print(f"  {name:10} {entry['count']:4} operations, {entry['bytes'] / MiB:8.2f} MiB")

# %% [markdown]
# ## Checkpointing: memory for recomputation
#
# `ad.checkpoint(segment)` runs `segment` without recording its intermediates on the tape (it notes the
# operations instead); the tape gets one node that keeps only the segment's input, and the backward pass
# recomputes the segment's intermediates, by replaying those operations, when it reaches it.
# Cutting a chain of L layers into s checkpointed segments of L/s layers, the tape keeps s inputs and the
# backward pass holds one segment's L/s intermediates at a time: memory about s + L/s layers, smallest
# near s = √L, for one extra forward evaluation.

# %%
L = 16 if SMALL else 64
baseline = deep(L)
g_ref = ad.grad(baseline)(x)


def segment(k):
    def run(x):
        for _ in range(k):
            x = layer(x)
        return x
    return run


def checkpointed(s):
    """The same loss as deep(L), as s checkpointed segments of L // s layers."""
    part = ad.checkpoint(segment(L // s))

    def loss(x):
        for _ in range(s):
            x = part(x)
        return np.sum(x * x)
    return loss


segments = [s for s in (1, 2, 4, 8, 16, 32, 64) if s <= L]
def best_times(fns, repeat=3 if SMALL else 7):
    """Best seconds per call of each of fns, timed round-robin (one call of each per round).

    A burst of load on a shared machine then hits one round of every configuration, not every round of
    one of them. Each round starts elsewhere in the list.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for r in range(repeat):
        shift = r * len(fns) // repeat
        for i in list(range(shift, len(fns))) + list(range(shift)):
            start = time.perf_counter()
            fns[i]()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


losses = [baseline] + [checkpointed(s) for s in segments]
for loss in losses[1:]:
    assert np.allclose(ad.grad(loss)(x), g_ref)  # same derivative
grads = [lambda loss=loss: ad.grad(loss)(x) for loss in losses]
# `heap.release()` first hands back what an earlier tuned transformation kept and restores glibc's
# settings, so the "default heap" figures are what a process that never tuned its heap sees.
heap.release()
t_default = best_times(grads)
faults = [page_faults(g) for g in grads]
t_tuned = best_times([tuned(g) for g in grads])
faults_tuned = [page_faults(tuned(g)) for g in grads]
table = [dict(peak=peak_bytes(g), t_default=td, t_tuned=tt, faults=fa, faults_tuned=ft,
              evals=layer_evaluations(g), tape=ad.plan_jacobian(loss, x).tape_bytes)
         for g, loss, td, tt, fa, ft in zip(grads, losses, t_default, t_tuned, faults, faults_tuned)]
base, results = table[0], list(zip(segments, table[1:]))

print(f"L = {L} layers; without checkpoint: peak {base['peak'] / MiB:.1f} MiB, "
      f"{base['t_default'] * 1e3:.1f} ms (tuned heap {base['t_tuned'] * 1e3:.1f} ms), "
      f"{base['faults']:.0f} page faults per gradient ({base['faults_tuned']:.0f} with the tuned heap), "
      f"{base['evals']} layer evaluations")
print(f"{'segments':>8}{'peak (MiB)':>12}{'tape (MiB)':>12}{'layer evals':>13}{'page faults':>13}"
      f"{'(tuned heap)':>14}{'time, default heap':>20}{'time, tuned heap':>18}"
      "   (times relative to no checkpoint)")
for s, r in results:
    print(f"{s:8}{r['peak'] / MiB:12.1f}{r['tape'] / MiB:12.1f}{r['evals']:13}{r['faults']:13.0f}"
          f"{r['faults_tuned']:14.0f}{r['t_default'] / base['t_default']:20.2f}"
          f"{r['t_tuned'] / base['t_tuned']:18.2f}")
best = min(results, key=lambda r: r[1]["peak"])
print(f"\nsmallest peak with {best[0]} segments (√L = {np.sqrt(L):.0f}): {best[1]['peak'] / MiB:.1f} MiB "
      f"instead of {base['peak'] / MiB:.1f} MiB, at ×{best[1]['t_default'] / base['t_default']:.2f} the time "
      f"with glibc's default heap and ×{best[1]['t_tuned'] / base['t_tuned']:.2f} with the tuned heap; "
      f"page faults per gradient {best[1]['faults']:.0f} instead of {base['faults']:.0f}")
tuned_ratios = [r["t_tuned"] / base["t_tuned"] for _, r in results]
print(f"with the tuned heap, checkpointed gradients take {min(tuned_ratios):.2f}x to "
      f"{max(tuned_ratios):.2f}x the time of the unsplit one: "
      + ("the recomputation's price shows everywhere." if min(tuned_ratios) > 1 else
         "below 1 somewhere, so something other than fresh memory makes the unsplit tape slower there "
         "(see below)."))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ss = [s for s, _ in results]
ax1.plot(ss, [r["peak"] / MiB for _, r in results], "o-", label="checkpointed: peak (tracemalloc)")
ax1.plot(ss, [r["tape"] / MiB for _, r in results], "s--", label="checkpointed: tape's saved bytes")
ax1.axhline(base["peak"] / MiB, c="gray", ls=":", label="no checkpoint: peak")
ax1.axvline(np.sqrt(L), c="k", lw=0.6)
ax1.set(xscale="log", xlabel="number of segments s", ylabel="MiB", title=f"Memory, L = {L} layers")
ax1.set_xticks(ss, [str(s) for s in ss])
ax1.legend(fontsize=8)
ax2.plot(ss, [r["t_default"] / base["t_default"] for _, r in results], "o-", c="tab:red",
         label="time, glibc's default heap")
ax2.plot(ss, [r["t_tuned"] / base["t_tuned"] for _, r in results], "o-", c="tab:green",
         label="time, tuned heap (no fresh memory)")
ax2.plot(ss, [r["evals"] / base["evals"] for _, r in results], "s--", c="tab:purple",
         label="layer evaluations")
ax2.plot(ss, [r["faults"] / max(base["faults"], 1) for _, r in results], "^:", c="tab:gray",
         label="page faults (default heap)")
ax2.axhline(1, c="gray", ls=":", label="no checkpoint")
ax2.set(xscale="log", xlabel="number of segments s", ylabel="relative to no checkpoint",
        title="The price: recomputation")
ax2.set_xticks(ss, [str(s) for s in ss])
ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
plt.show()

# %% [markdown]
# Few long segments keep little on the tape but rebuild a long stretch of intermediates in the backward
# pass; many short segments keep many segment inputs. In between, near s = √L, the peak memory is a
# fraction of the unsplit tape's. The price is recomputation: every layer is evaluated twice (the counts
# above), one extra evaluation of the function whatever s is.
#
# Why the time can still come out *lower* with checkpoints: with glibc's default heap, memory freed at
# the end of a gradient goes back to the operating system, and the next gradient's fresh intermediates
# are page-faulted in again — the page-fault column counts it. The unsplit tape needs the most fresh
# memory per call, so it pays the most; a checkpointed gradient reuses a few segments' worth of memory
# and faults far less. With the tuned heap (`autodiff.heap.tuned`, which `ad.jacobian` and `ad.hessian`
# use; freed memory stays with the process) there are no page faults at all (the "(tuned heap)"
# column), and the time ratio shows what is left: the extra evaluation, against the cache. The unsplit
# tape's 49 MiB of intermediates do not fit in this machine's caches, so its backward pass reads them
# back from main memory; a checkpointed segment is recomputed just before its backward pass and is
# still in cache when it is used. The printed line above says which of the two wins at these sizes.
