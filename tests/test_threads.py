"""Tapes and accumulators are per thread; a non-persistent tape frees what it recorded."""

import gc
import threading
import tracemalloc

import numpy as np

import autodiff as ad


def _work(k, results, errors, barrier):
    try:
        barrier.wait()
        x = ad.Variable(np.array([1.0, 2.0]) * (k + 1))
        for i in range(200):
            c = float(i % 7) + k
            with ad.GradientTape() as tape:
                y = np.sum(np.sin(x) * x * c)
            g = tape.gradient(y, x).numpy()
            xv = x.numpy()
            if not np.allclose(g, c * (np.cos(xv) * xv + np.sin(xv)), rtol=1e-13, atol=0):
                errors.append((k, i, g))
            if i % 50 == 0:   # nesting and accumulators per thread too
                with ad.ForwardAccumulator(x, np.ones(2)) as acc:
                    with ad.GradientTape() as t2:
                        z = np.sum(x**3)
                    h = t2.gradient(z, x)
                if not np.allclose(acc.jvp(h).numpy(), 6 * xv, rtol=1e-14):
                    errors.append((k, i, "hvp"))
        results[k] = True
    except Exception as e:  # pragma: no cover - reported below
        errors.append((k, repr(e)))


def test_eight_threads_record_their_own_tapes():
    n = 8
    results, errors = [False] * n, []
    barrier = threading.Barrier(n)
    threads = [threading.Thread(target=_work, args=(k, results, errors, barrier)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert all(results)
    assert ad.core.active_traces() == ()


def test_non_persistent_tape_releases_after_gradient():
    x = ad.Variable(np.ones(1000))
    with ad.GradientTape() as tape:
        y = np.sum(np.exp(x) * np.sin(x))
    before = tape.memory_report()
    assert before["nodes"] == 4 and before["saved_bytes"] >= 3 * 8000
    tape.gradient(y, x)
    assert tape.memory_report() == {"nodes": 0, "saved_bytes": 0, "by_primitive": {}}


def test_persistent_tape_keeps_its_recording():
    x = ad.Variable(np.ones(10))
    with ad.GradientTape(persistent=True) as tape:
        y = np.sum(np.exp(x))
    tape.gradient(y, x)
    assert tape.memory_report()["nodes"] == 2


def _one_use(x):
    with ad.GradientTape() as tape:
        y = x * x + x
    return tape.gradient(y, x)


def test_ten_thousand_tape_uses_do_not_grow_memory():
    # Scalar work per use keeps this fast under tracemalloc; a leak of even one tape, node or Tensor
    # per use (hundreds of bytes each) would show as megabytes.
    x = ad.Variable(2.0)
    for _ in range(200):   # warm caches (dispatch tables, interned objects)
        _one_use(x)
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            g = _one_use(x)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert g.numpy() == 5.0
    assert end - start < 32 * 1024, f"memory grew by {end - start} bytes over 10,000 tape uses"
