"""The trace skeleton (``autodiff.core.Trace.process``): a new transformation is its ``apply`` alone.

``CountingTrace`` below is a complete transformation written on the skeleton in a dozen lines: it counts
the primitive applications that reach it. The skeleton does the rest — splitting the arguments, computing
the value one level down (also when that level is another transformation), leaving zero-derivative
primitives' results plain — and these tests check exactly those parts, on functions whose primitive
counts are known.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import autodiff as ad
from autodiff.core import Trace, Tracer, trace_scope


class Counted(Tracer):
    """A value seen by a CountingTrace."""

    __slots__ = ("primal", "_trace")

    def __init__(self, trace: CountingTrace, primal) -> None:
        self._trace, self.primal = trace, primal


class CountingTrace(Trace):
    """Counts the primitive applications on its values, by primitive name."""

    __slots__ = ("counts",)
    tracer_type = Counted

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter = Counter()

    def apply(self, prim, args, traced, primals, ans, params):
        self.counts[prim.name] += 1
        return Counted(self, ans)


def count(f, *xs):
    """f's value at ``xs`` and how often each primitive was applied to values depending on them."""
    trace = CountingTrace()
    with trace_scope(trace):
        out = f(*[Counted(trace, x) for x in xs])
    return (out.primal if isinstance(out, Counted) else out), trace.counts


def f(x, y):
    # multiply, sin, add (x * y + sin x), exp, then divide by a constant; a sum over an axis
    return np.sum((x * y + np.sin(x)) / np.exp(y), axis=0)


X = np.array([[0.5, -1.0], [2.0, 0.25]])
Y = np.array([0.3, -0.7])


def test_counts_every_primitive_application_and_gives_the_plain_value():
    value, counts = count(f, X, Y)
    np.testing.assert_array_equal(value, f(X, Y))
    assert counts == Counter(multiply=1, sin=1, add=1, exp=1, divide=1, sum=1)


def test_operations_on_constants_alone_are_not_seen():
    value, counts = count(lambda x: x * np.cos(np.float64(2.0)) + 2.0 * 3.0, 1.5)
    assert value == 1.5 * np.cos(2.0) + 6.0
    assert counts == Counter(multiply=1, add=1)    # cos(2.0) and 2.0 * 3.0 never reach the trace


def test_zero_derivative_results_are_plain_values():
    value, counts = count(lambda x: np.floor(x) + (x > 1.0), np.array([0.5, 1.5]))
    # floor and the comparison are zero-derivative primitives: their results leave the trace
    np.testing.assert_array_equal(value, [0.0, 2.0])
    assert not isinstance(value, Tracer)
    assert counts == Counter()


def test_the_value_below_is_computed_by_the_transformation_below():
    """Counting inside jvp: each operation's value is a Dual, so the tangent is the one of f."""
    counts_seen = []

    def counted_f(x, y):
        value, counts = count(f, x, y)
        counts_seen.append(counts)
        return value

    tx, ty = np.ones_like(X), np.array([0.5, 2.0])
    got = ad.jvp(counted_f, (X, Y), (tx, ty))
    want = ad.jvp(f, (X, Y), (tx, ty))
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=0)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-15)
    assert counts_seen == [Counter(multiply=1, sin=1, add=1, exp=1, divide=1, sum=1)]


def test_gradients_through_a_counting_trace_are_unchanged():
    """A tape outside the counting trace records the operations it hands down."""
    def counted_f(x):
        return count(lambda x: np.sum(np.tanh(x) * x), x)[0]

    np.testing.assert_allclose(ad.grad(counted_f)(X), ad.grad(lambda x: np.sum(np.tanh(x) * x))(X),
                               rtol=1e-15)


def test_escaped_values_of_a_finished_count_are_constants():
    trace = CountingTrace()
    with trace_scope(trace):
        leaked = np.sin(Counted(trace, 0.5))
    assert ad.grad(lambda x: x * leaked)(2.0) == pytest.approx(np.sin(0.5))
    assert trace.counts == Counter(sin=1)


def test_renew_level_makes_a_reentered_accumulator_the_innermost():
    """An accumulator entered again inside one created later is the inner one: its tangent is the
    derivative along its own direction, the outer one's is the mixed second derivative."""
    x = ad.constant(1.5)
    first = ad.ForwardAccumulator(x, 1.0)
    with first:
        pass
    second = ad.ForwardAccumulator(x, 1.0)   # a later (higher) level than `first` had
    with second:
        with first:                          # re-entered: a fresh level, above `second`
            y = x * x * x
        inner = first.jvp(y)                 # 3 x², computed by `second` too
    assert float(inner.numpy()) == pytest.approx(3 * 1.5 ** 2)
    assert float(second.jvp(inner).numpy()) == pytest.approx(6 * 1.5)


def test_renew_level_reactivates_a_trace():
    trace = CountingTrace()
    with trace_scope(trace):
        pass
    assert not trace.active
    old = trace.level
    later = CountingTrace()
    trace.renew_level()
    assert trace.active and trace.level > later.level > old


# ---- the skeleton's short paths (one and two arguments) hand apply what the general split would --------

class IndexTrace(CountingTrace):
    """Records the ``traced`` indices and the primals' types ``apply`` is given."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def apply(self, prim, args, traced, primals, ans, params):
        self.seen.append((prim.name, tuple(traced), tuple(type(p).__name__ for p in primals)))
        return super().apply(prim, args, traced, primals, ans, params)


@pytest.mark.parametrize("call, want", [
    (lambda c, k: c * k, ("multiply", (0,))),              # this trace's value first
    (lambda c, k: k - c, ("subtract", (1,))),              # second
    (lambda c, k: c + c, ("add", (0, 1))),                 # both
    (lambda c, k: np.where(k > 0, c, k), ("where", (1,))),  # three arguments: the general split
])
def test_apply_gets_the_indices_of_this_traces_values(call, want):
    trace = IndexTrace()
    k = np.array([2.0, -1.0])
    with trace_scope(trace):
        out = call(Counted(trace, np.array([0.5, 3.0])), k)
    assert [s[:2] for s in trace.seen] == [want]
    np.testing.assert_array_equal(out.primal, call(np.array([0.5, 3.0]), k))


def test_two_arguments_one_from_the_transformation_below():
    """x * y with x a Dual of the jvp outside and y this trace's value: the product is computed by the jvp
    (its tangent is y's primal times x's tangent), and apply sees a Dual primal."""
    traces = []

    def g(x):
        trace = IndexTrace()          # made inside the jvp: the innermost transformation
        traces.append(trace)
        with trace_scope(trace):
            out = x * Counted(trace, np.array([3.0, -2.0]))
        return out.primal

    value, tangent = ad.jvp(g, (np.array([0.5, 4.0]),), (np.array([1.0, 10.0]),))
    np.testing.assert_array_equal(value, [1.5, -8.0])
    np.testing.assert_array_equal(tangent, [3.0, -20.0])
    assert traces[0].seen == [("multiply", (1,), ("Dual", "ndarray"))]
