"""The transformations and Python's cyclic garbage collector (core.gc_paused, docs/architecture.md #19).

While a transformation runs, the collector's older generations are collected less often, nothing more:
young collections go on, so cycles the user's function makes are collected during the call, and full
collections still come. The machinery itself makes no reference
cycles (GradientTape and ForwardAccumulator included), the collector's state is always restored, and
several threads differentiating at once never change what another thread set.
"""

import gc
import threading
import weakref

import numpy as np
import pytest

import autodiff as ad

W = np.random.default_rng(3).standard_normal((4, 120)) / 10


def _workload():
    x = np.linspace(-1.0, 1.0, 120)          # >= diagonal.MIN_SIZE: the diagonal seed registry is used
    f = lambda x: np.sum(np.tanh(W @ np.sin(x)) ** 2)  # noqa: E731
    ad.grad(f)(x)
    ad.value_and_grad(lambda x: (f(x), {"aux": x[:3]}), has_aux=True)(x)
    ad.vjp(lambda x: np.cumsum(x)[::2], x)[1](np.ones(60))
    ad.jvp(f, (x,), (x,))
    ad.jacfwd(lambda x: np.exp(x) * x)(x)
    ad.jacrev(lambda x: np.tanh(W @ x))(x)
    ad.jacobian(lambda x: W.T @ np.tanh(W @ x))(x)
    ad.hessian(lambda x: np.sum(np.log1p(np.exp(W @ x))))(x)
    ad.hvp(f, (x,), (x,))
    ad.grad(ad.grad(lambda s: s ** 3))(1.5)
    ad.grad(lambda x: np.sum(ad.checkpoint(np.sin)(x)))(x)
    v = ad.Variable(x)
    with ad.GradientTape() as tape:
        y = np.sum(v * v)
    tape.gradient(y, v)
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(v * v)
    tape.gradient(y, v)
    tape.jacobian(v * 2.0, v)
    with ad.ForwardAccumulator(v, np.ones_like(x)) as acc:
        y = np.sum(v * v)
    acc.jvp(y)


def _unreachable_after(use) -> int:
    """Objects that only the cyclic collector could free after ``use()`` (run with the collector off)."""
    use()                                      # warm-up: caches, lazily imported modules
    gc.collect()
    gc.disable()
    try:
        use()
        return gc.collect()
    finally:
        gc.enable()


def test_the_machinery_makes_no_reference_cycles():
    # Up to three measurements: cycles the machinery makes appear in every run of the workload, while
    # another thread's garbage (a Dask cluster an earlier test module closed still winds down its
    # threads) lands in one window at most; so the machinery is clean iff some run finds none.
    found = []
    for _ in range(3):
        found.append(_unreachable_after(_workload))
        if found[-1] == 0:
            break
    assert found[-1] == 0, f"{found} objects in reference cycles: the machinery must free all it makes"


def _tape_uses():
    v = ad.Variable(np.linspace(0.0, 1.0, 5))
    c = ad.constant(np.arange(5.0))
    with ad.GradientTape() as tape:            # non-persistent, used once
        y = np.sum(v * v)
    tape.gradient(y, v)
    with ad.GradientTape() as tape:            # non-persistent, never used
        y = np.sum(np.sin(v))
    with ad.GradientTape(persistent=True) as tape:   # persistent, used twice, a watched constant
        tape.watch(c)
        h = v * c
        y = np.sum(h ** 2)
    tape.gradient(y, [v, c])
    tape.gradient(y, h)
    tape.memory_report()
    with ad.GradientTape(persistent=True) as tape:   # a gradient recorded inside its own block
        g = tape.gradient(np.sum(v ** 3), v)
        h = np.sum(g * v)
    tape.gradient(h, v)
    tape = ad.GradientTape(persistent=True)          # watched before its block is entered
    tape.watch(c)
    with tape:
        y = np.sum(c * v)
    tape.gradient(y, c)
    with ad.GradientTape(persistent=True) as tape:   # persistent, never used, then reset
        y = np.sum(v ** 3)
    tape.reset()
    with ad.GradientTape() as outer:           # nested tapes: a second derivative
        with ad.GradientTape() as inner:
            y = np.sum(v ** 3)
        g = inner.gradient(y, v)
    outer.gradient(g, v)


def test_gradient_tapes_leave_no_unreachable_objects():
    found = _unreachable_after(_tape_uses)
    assert found == 0, f"GradientTape left {found} objects in reference cycles"


def _accumulator_uses():
    v = ad.Variable(np.linspace(0.0, 1.0, 5))
    with ad.ForwardAccumulator(v, np.ones(5)) as acc:
        y = np.sum(v * v)
    acc.jvp(y)
    acc.jvp(v)
    with ad.ForwardAccumulator(v, np.ones(5)):  # never asked
        np.sin(v)
    with ad.GradientTape() as tape:             # an accumulator inside a tape: a Hessian-vector product
        with ad.ForwardAccumulator(v, np.ones(5)) as acc:
            y = np.sum(v ** 3)
        t = acc.jvp(y)
    tape.gradient(t, v)
    with ad.ForwardAccumulator(v, np.ones(5)) as acc:   # a tape inside an accumulator
        with ad.GradientTape() as tape:
            y = np.sum(v ** 3)
        g = tape.gradient(y, v)
    acc.jvp(g)


def test_forward_accumulators_leave_no_unreachable_objects():
    found = _unreachable_after(_accumulator_uses)
    assert found == 0, f"ForwardAccumulator left {found} objects in reference cycles"


# ---- cycles the user's function makes are collected while the transformation runs ----------------

class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _collected_automatically(make_garbage_cycle) -> bool:
    """Make one cycle, drop it, then allocate young containers until the collector frees it by itself.

    A generation-0 collection runs every gc.get_threshold()[0] net allocations of containers, so with
    the collector running the cycle is freed within a few thousand allocations; bounded at 200 times that.
    """
    ref = make_garbage_cycle()
    keep = []
    for _ in range(200 * max(gc.get_threshold()[0], 1)):
        keep.append([])                         # a container that stays alive: counts towards gen 0
        if ref() is None:
            return True
    return False


def _garbage_cycle():
    return weakref.ref(_Cycle())


@pytest.mark.skipif(gc.get_threshold()[0] == 0, reason="automatic collection is off in this interpreter")
@pytest.mark.parametrize("transform", ["grad", "jvp", "jacfwd", "jacrev", "hessian", "grad of grad"])
def test_cycles_made_by_the_users_function_are_collected_during_the_call(transform):
    seen = []

    def f(x):
        seen.append(_collected_automatically(_garbage_cycle))
        return np.sum(np.sin(x) * x)

    x = np.linspace(0.0, 1.0, 4)
    if transform == "grad":
        ad.grad(f)(x)
    elif transform == "jvp":
        ad.jvp(f, (x,), (x,))
    elif transform == "jacfwd":
        ad.jacfwd(f)(x)
    elif transform == "jacrev":
        ad.jacrev(f)(x)
    elif transform == "hessian":
        ad.hessian(f)(x)
    else:
        ad.grad(lambda x: np.sum(ad.grad(f)(x)))(x)
    assert seen and all(seen), f"a cycle made inside {transform}'s function waited for the call to end"


@pytest.mark.skipif(gc.get_threshold()[0] == 0, reason="automatic collection is off in this interpreter")
def test_many_cycles_inside_grad_do_not_pile_up():
    # The reported fault: 10^6 small cycles made inside grad were all kept until grad returned.
    freed = [0]

    def count(_ref):
        freed[0] += 1

    n = 50_000

    def f(x):
        refs = []
        for _ in range(n):
            refs.append(weakref.ref(_Cycle(), count))
        alive_at_the_end = n - freed[0]
        assert alive_at_the_end < n // 10, f"{alive_at_the_end} of {n} garbage cycles were still alive"
        return x * x

    assert ad.grad(f)(3.0) == 6.0


@pytest.mark.skipif(gc.get_threshold()[0] == 0, reason="automatic collection is off in this interpreter")
def test_full_collections_still_come_inside_a_long_transformation():
    # A cycle that reached the oldest generation is freed only by a full collection; inside a
    # transformation those are rarer, never deferred to its end (some thread may always be in one).
    seen = []
    before = gc.get_threshold()
    # CPython runs a full collection only once the objects promoted since the last one exceed a quarter
    # of those that survived it: allocate enough, whatever this process holds.
    budget = len(gc.get_objects()) // 2 + 100_000

    def f(x):
        obj = _Cycle()
        ref = weakref.ref(obj)
        gc.collect(1)                           # collects generations 0-1: obj moves to the oldest
        del obj
        keep = []
        for _ in range(budget):
            keep.append([])
            if ref() is None:
                break
        seen.append(ref() is None)
        return x * x

    gc.set_threshold(50, 2, 2)                  # small thresholds keep the test short
    try:
        ad.grad(f)(1.0)
    finally:
        gc.set_threshold(*before)
    assert seen == [True], "a full collection never ran while grad's function did"


# ---- the collector's state --------------------------------------------------------------------------

def test_collector_state_is_restored():
    x = np.ones(3)
    before = gc.get_threshold()
    assert gc.isenabled()
    ad.grad(lambda x: np.sum(x * x))(x)
    ad.jacfwd(np.sin)(x)
    assert gc.isenabled() and gc.get_threshold() == before

    def fails(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ad.grad(fails)(x)
    with pytest.raises(RuntimeError):
        ad.jvp(fails, (x,), (x,))
    assert gc.isenabled() and gc.get_threshold() == before

    def runs_with_the_collector_on(x):
        assert gc.isenabled()                   # the user's code runs with the collector as it was
        return np.sum(ad.grad(lambda y: np.sum(y ** 2))(x) * x)

    ad.grad(runs_with_the_collector_on)(x)
    assert gc.isenabled() and gc.get_threshold() == before

    v = ad.Variable(x)
    with ad.GradientTape() as tape:
        assert gc.isenabled()
        y = np.sum(v * v)
    tape.gradient(y, v)
    assert gc.isenabled() and gc.get_threshold() == before


def test_a_collector_the_user_disabled_stays_disabled():
    gc.disable()
    try:
        ad.grad(lambda x: np.sum(x * x))(np.ones(3))
        ad.jvp(np.sin, (np.ones(3),), (np.ones(3),))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_disabling_the_collector_inside_the_function_is_kept():
    def f(x):
        gc.disable()
        return np.sum(x * x)

    try:
        ad.grad(f)(np.ones(3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_thresholds_the_user_sets_during_a_call_are_kept():
    before = gc.get_threshold()

    def f(x):
        gc.set_threshold(500, 20, 30)
        return np.sum(x * x)

    try:
        ad.grad(f)(np.ones(3))
        assert gc.get_threshold() == (500, 20, 30)
    finally:
        gc.set_threshold(*before)


def _run_blocked_grad(entered: threading.Event, release: threading.Event, errors: list) -> threading.Thread:
    """A thread whose grad waits, inside the user's function, until ``release`` is set."""
    def f(x):
        entered.set()
        assert release.wait(10), "the test did not release the thread"
        return x * x

    def work():
        try:
            assert ad.grad(f)(3.0) == 6.0
        except BaseException as e:   # reported by the main thread
            errors.append(e)

    thread = threading.Thread(target=work)
    thread.start()
    assert entered.wait(10), "the thread did not start its gradient"
    return thread


def test_another_threads_grad_does_not_re_enable_a_collector_disabled_meanwhile():
    errors: list = []
    entered, release = threading.Event(), threading.Event()
    thread = _run_blocked_grad(entered, release, errors)
    try:
        gc.disable()                             # while the other thread is inside grad
        release.set()
        thread.join(10)
        assert not thread.is_alive() and not errors, errors
        assert not gc.isenabled(), "another thread's grad re-enabled the collector"
    finally:
        release.set()
        gc.enable()


def test_overlapping_gradients_in_two_threads_restore_the_collector():
    before = gc.get_threshold()
    errors: list = []
    first = (threading.Event(), threading.Event())
    second = (threading.Event(), threading.Event())
    a = _run_blocked_grad(*first, errors)
    b = _run_blocked_grad(*second, errors)
    try:
        first[1].set()                           # the first to enter leaves first
        a.join(10)
        assert gc.isenabled()
        second[1].set()
        b.join(10)
        assert not errors, errors
        assert gc.isenabled() and gc.get_threshold() == before
    finally:
        first[1].set()
        second[1].set()


def test_a_scope_exited_after_an_outer_one_removed_it_returns_no_pause_twice():
    # An inner scope left open is removed by its outer scope's exit, which returns the thread's pause;
    # the inner scope's late exit must not return it again (the process-wide count would go wrong,
    # and later transformations would run without the pause).
    from autodiff.core import trace_scope
    from reverse.tape import Tape

    before = gc.get_threshold()
    outer, inner = trace_scope(Tape()), trace_scope(Tape())
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    inner.__exit__(None, None, None)
    assert ad.core.active_traces() == () and gc.get_threshold() == before
    seen = []

    def f(x):
        seen.append(gc.get_threshold())
        return x * x

    assert ad.grad(f)(3.0) == 6.0
    if before[1]:
        assert seen[0][1:] == (before[1] * 10, before[2] * 10)
    assert gc.get_threshold() == before
