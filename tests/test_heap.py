"""autodiff.heap: the tuned heap is applied around transformations, once for overlapping users, restored
after, never changes a value, and stays out of the way where it cannot or should not act."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
from autodiff import heap

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def applied(monkeypatch):
    """Record the settings handed to mallopt instead of applying them."""
    calls = []
    monkeypatch.setattr(heap, "_apply", lambda settings: calls.append(dict(settings)))
    monkeypatch.setattr(heap, "available", lambda: True)
    return calls


def test_nested_use_tunes_once_and_restores_once(applied):
    heap.release()                 # start from glibc's settings (another test may have tuned already)
    applied.clear()
    with heap.tuned():
        assert heap.active()
        with heap.tuned():
            assert heap.active()
        # first use: the kept settings (trim threshold, top pad), then the one for the block
        assert applied == [heap._ONCE, heap.TUNED_SETTINGS]
    assert not heap.active()
    assert applied == [heap._ONCE, heap.TUNED_SETTINGS, heap._AFTER]
    with heap.tuned():
        pass
    assert applied[3:] == [heap.TUNED_SETTINGS, heap._AFTER]     # the kept settings are not set again
    assert heap._ONCE[heap._M_TRIM_THRESHOLD] == heap.RETAIN_BYTES
    heap.release()
    assert applied[-1] == heap._GLIBC


def test_overlapping_threads_tune_once_and_restore_after_the_last(applied):
    inside = threading.Barrier(8)
    errors = []

    def work():
        try:
            with heap.tuned():
                inside.wait(timeout=10)      # all eight are inside before any leaves
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with heap.tuned():             # the settings kept from first use are out of the way
        pass
    applied.clear()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert applied == [heap.TUNED_SETTINGS, heap._AFTER]
    assert not heap.active()


def test_an_exception_inside_still_restores(applied):
    with pytest.raises(ZeroDivisionError):
        with heap.tuned():
            raise ZeroDivisionError
    assert not heap.active() and applied[-1] == heap._AFTER


def _watching_the_heap():
    """f(x) = sin(x) x, which notes whether the tuned heap is held each time it runs; the notes; a point."""
    seen: list[bool] = []

    def f(x):
        seen.append(heap.active())
        return np.sin(x) * x

    return f, seen, np.linspace(0.1, 1.0, 5)


def test_transformations_hold_the_tuned_heap_while_they_run(applied):
    f, seen, x = _watching_the_heap()
    for J in (ad.jacobian(f), ad.jacobian(f, mode="forward"), ad.jacobian(f, mode="reverse"),
              ad.jacfwd(f), ad.jacrev(f)):
        seen.clear()
        J(x)
        assert seen and all(seen), J
    seen.clear()
    ad.hessian(lambda x: np.sum(f(x)))(x)
    assert seen and all(seen)
    assert not heap.active()


def test_one_direction_transformations_leave_the_heap_as_it_is(applied):
    # grad, vjp, jvp and hvp push one direction: their temporaries are the size of f's own, and the two
    # mallopt calls would be a visible share of a small one.
    f, seen, x = _watching_the_heap()
    applied.clear()
    ad.grad(lambda x: np.sum(f(x)))(x)
    ad.vjp(f, x)[1](x)
    ad.jvp(f, (x,), (x,))
    ad.hvp(lambda x: np.sum(f(x)), (x,), (x,))
    assert len(seen) == 4 and not any(seen)
    assert applied == []


def test_values_are_the_same_with_and_without_the_tuned_heap(monkeypatch):
    A = np.random.default_rng(0).standard_normal((300, 200))
    f = lambda x: np.tanh(A @ np.sin(x))  # noqa: E731
    x = np.random.default_rng(1).standard_normal(200)
    tuned = ad.jacobian(f, mode="reverse")(x)
    monkeypatch.setattr(heap, "available", lambda: False)
    plain = ad.jacobian(f, mode="reverse")(x)
    np.testing.assert_array_equal(tuned, plain)


def test_release_is_safe_to_call_and_does_nothing_while_active(applied):
    heap.release()            # outside: gives memory back (real malloc_trim where glibc is there)
    with heap.tuned():
        heap.release()        # inside: does nothing, the transformation still holds the heap
        assert heap.active()


def test_a_user_chosen_heap_is_left_alone():
    code = "from autodiff import heap; print(heap.available())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(PYTHONPATH=str(ROOT), MALLOC_TRIM_THRESHOLD_="1000000")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    env.pop("MALLOC_TRIM_THRESHOLD_")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    expected = "True" if sys.platform.startswith("linux") and heap._libc is not None else "False"
    assert out.stdout.strip() == expected, out.stderr


def test_the_heap_module_is_reachable_from_the_package_in_a_fresh_interpreter():
    code = "import autodiff as ad\nwith ad.heap.tuned():\n    pass\nprint(ad.heap.active())"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
