"""executor=: Jacobians and Hessians as tasks on a process pool, a thread pool and a Dask LocalCluster.

Every executor here is started by the tests themselves (fixtures that start and stop them): a
ProcessPoolExecutor(2) and a LocalCluster(n_workers=2, threads_per_worker=1, processes=True).
"""

import multiprocessing
import os
import sys
import threading
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import cloudpickle
import numpy as np
import pytest

import autodiff as ad
import autodiff.executor

distributed = pytest.importorskip("distributed")

# The workers of the Dask cluster are fresh interpreters that cannot import this test module: send the
# functions defined here by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

RNG = np.random.default_rng(0)
W1 = RNG.standard_normal((6, 10))
W2 = RNG.standard_normal((10, 6))


def layers(x):
    return np.tanh(W2 @ np.tanh(W1 @ x))


def two_args(x, y):
    return {"a": np.sin(x) * y[0], "b": np.tanh(W1 @ x) + y[1] ** 2}


@pytest.fixture(scope="module")
def process_pool():
    # spawn, not fork: the Dask client's threads are running in this process.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def thread_pool():
    with ThreadPoolExecutor(2) as pool:
        yield pool


EXECUTORS = ["process_pool", "dask_client", "thread_pool"]


def assert_same_tree(got, want):
    got_leaves, got_tree = ad.tree_flatten(got)
    want_leaves, want_tree = ad.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("which", EXECUTORS)
@pytest.mark.parametrize("operator", ["jacfwd", "jacrev", "jacobian", "hessian"])
def test_same_values_as_in_process(request, which, operator):
    executor = request.getfixturevalue(which)
    x = RNG.standard_normal(10)
    if operator == "hessian":
        f = lambda x: np.sum(layers(x) ** 2)  # noqa: E731
    else:
        f = layers
    make = getattr(ad, operator)
    for chunk_size in (None, 3, 7):          # 3 and 7 do not divide n = 10
        got = make(f, chunk_size=chunk_size, executor=executor)(x)
        assert_same_tree(got, make(f, chunk_size=chunk_size)(x))


@pytest.mark.parametrize("which", EXECUTORS)
@pytest.mark.parametrize("operator", ["jacfwd", "jacrev"])
def test_argnums_and_pytrees(request, which, operator):
    executor = request.getfixturevalue(which)
    x, y = RNG.standard_normal(10), (RNG.standard_normal(10), RNG.standard_normal(6))
    make = getattr(ad, operator)
    for argnums in (0, 1, (0, 1)):
        got = make(two_args, argnums=argnums, chunk_size=4, executor=executor)(x, y)
        assert_same_tree(got, make(two_args, argnums=argnums)(x, y))


def test_one_chunk_per_worker_when_chunk_size_is_none(process_pool, dask_client):
    x = RNG.standard_normal(10)
    for executor in (process_pool, dask_client):
        ad.jacfwd(layers, executor=executor)(x)
        assert autodiff.executor.last_run.tasks == 2


@pytest.mark.parametrize("which", ["process_pool", "dask_client"])
def test_a_large_closed_over_array_travels_to_each_worker_and_stays(request, which):
    executor = request.getfixturevalue(which)
    big = RNG.standard_normal((400, 10))      # 32 kB of closure

    def f(x):
        return np.tanh(big @ x)

    x = RNG.standard_normal(10)
    ad.jacfwd(layers, executor=executor)(x)                          # both workers started
    jac = ad.jacrev(f, chunk_size=40, executor=executor)            # 10 tasks
    np.testing.assert_allclose(jac(x), ad.jacrev(f)(x), rtol=1e-13)
    stats = autodiff.executor.last_run
    assert stats.tasks == 10 and stats.payload_bytes > big.nbytes
    # Dask: one broadcast. A pool: tasks carry it until every worker has reported holding it (two tasks
    # when both workers take one each; more when the OS starves one of them for a while).
    if which == "dask_client":
        assert stats.payload_sends == 2
    else:
        assert 2 <= stats.payload_sends <= stats.tasks
    # Once every worker holds it, later calls at other points send nothing large.
    for _ in range(5):
        np.testing.assert_allclose(jac(2 * x), ad.jacrev(f)(2 * x), rtol=1e-13)
        if autodiff.executor.last_run.payload_sends == 0:
            break
    assert autodiff.executor.last_run.payload_sends == 0
    # ... until it changes: an array updated in place is a new function part, never a stale copy.
    big *= 2.0
    np.testing.assert_allclose(jac(x), ad.jacrev(f)(x), rtol=1e-13)
    assert autodiff.executor.last_run.payload_sends >= 1


def test_an_unpicklable_function_is_named_before_any_task_runs(process_pool):
    lock = threading.Lock()

    def f(x):
        with lock:
            return np.sin(x)

    with pytest.raises(TypeError, match="'lock' that .*f closes over"):
        ad.jacfwd(f, executor=process_pool)(np.ones(3))


def boom(x):
    raise ValueError("boom in the worker")


@pytest.mark.parametrize("which", ["process_pool", "dask_client"])
def test_a_failing_task_raises_with_the_workers_traceback(request, which):
    executor = request.getfixturevalue(which)
    with pytest.raises(ValueError, match="boom in the worker") as info:
        ad.jacfwd(boom, executor=executor)(np.ones(3))
    text = "".join(traceback.format_exception(info.value))
    assert "boom" in text and "_forward_chunk" in text      # frames from the worker's side


def test_progress_bar(process_pool, capsys):
    ad.jacfwd(layers, chunk_size=2, executor=process_pool, progress=True)(np.ones(10))
    assert "Jacobian chunks" in capsys.readouterr().err


def test_bad_executor_and_nested_use_are_refused(process_pool):
    with pytest.raises(TypeError, match="submit"):
        ad.jacfwd(layers, executor=object())
    with pytest.raises(NotImplementedError, match="outermost"):
        ad.grad(lambda x: np.sum(ad.jacfwd(layers, executor=process_pool)(x)))(np.ones(10))


def dies_once(x, marker):
    """Kills the worker that runs it first (the marker file says whether that happened already)."""
    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("died")
        os._exit(1)
    return np.tanh(W1 @ x)


def test_a_killed_worker_is_retried_by_dask(tmp_path):
    marker = str(tmp_path / "died")
    x = RNG.standard_normal(10)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        got = ad.jacfwd(lambda x: dies_once(x, marker), chunk_size=5, executor=client)(x)
    assert os.path.exists(marker)                     # a worker did die
    np.testing.assert_allclose(got, ad.jacfwd(lambda x: np.tanh(W1 @ x))(x), rtol=1e-13)


def dies_once_when_armed(x, armed, died):
    """Kills the first worker that runs it once the ``armed`` file exists (``died`` records it)."""
    if os.path.exists(armed) and not os.path.exists(died):
        with open(died, "w") as fh:
            fh.write("died")
        os._exit(1)
    return np.tanh(W1 @ x)


def test_a_worker_killed_on_a_later_call_is_retried_by_dask(dask_client, tmp_path):
    """Later calls' tasks carry only the fingerprint: the task of a worker that dies runs again on the
    other one, and the next call also uses the restarted worker (which has no cached copy)."""
    armed, died = str(tmp_path / "armed"), str(tmp_path / "died")
    x = RNG.standard_normal(10)
    want = ad.jacfwd(lambda x: np.tanh(W1 @ x))(x)
    dask_client.wait_for_workers(2, timeout=60)
    jac = ad.jacfwd(lambda x: dies_once_when_armed(x, armed, died), chunk_size=2, executor=dask_client)
    np.testing.assert_allclose(jac(x), want, rtol=1e-13)
    dask_client.amm.run_once()
    open(armed, "w").close()
    np.testing.assert_allclose(jac(x), want, rtol=1e-13)
    assert os.path.exists(died)                       # a worker did die
    dask_client.wait_for_workers(2, timeout=60)       # the Nanny restarts it (a new address)
    np.testing.assert_allclose(jac(x), want, rtol=1e-13)


def bratu(u):
    """A tridiagonal residual: 3 colors."""
    inner = u[:-2] - 2 * u[1:-1] + u[2:] + 0.5 * np.exp(u[1:-1])
    return np.concatenate([u[:1], inner, u[-1:]])


@pytest.mark.parametrize("which", EXECUTORS)
@pytest.mark.parametrize("mode", ["forward", "reverse", "bidirectional"])
def test_sparse_jacobian_on_an_executor(request, which, mode):
    executor = request.getfixturevalue(which)
    u = RNG.uniform(0.0, 1.0, 40)
    got = ad.sparse_jacobian(bratu, mode=mode, executor=executor)(u)
    want = ad.sparse_jacobian(bratu, mode=mode)(u)
    assert (got != want).nnz == 0 and got.nnz == want.nnz
    np.testing.assert_allclose(got.toarray(), ad.jacfwd(bratu)(u), rtol=1e-14)


def test_dask_spreads_later_calls_over_both_workers(dask_client):
    """Regression: the scheduler's Active Memory Manager drops the broadcast's extra replicas of the
    function part once no task waits for them; tasks that depended on it then all ran on the one
    worker left holding it (the heavy Jacobian as slow as in-process)."""
    big = RNG.standard_normal((400, 10))

    def f(x):
        return np.tanh(big @ x)

    x = RNG.standard_normal(10)
    jac = ad.jacfwd(f, chunk_size=1, executor=dask_client)          # 10 tasks
    jac(x)
    dask_client.amm.run_once()                                       # what it does every 2 s
    with distributed.get_task_stream(dask_client) as stream:
        np.testing.assert_allclose(jac(2 * x), ad.jacfwd(f)(2 * x), rtol=1e-13)
    workers = [t["worker"] for t in stream.data]
    assert len(workers) == 10 and len(set(workers)) == 2, workers


def test_dask_worker_that_lost_the_function_part_gets_it_again(dask_client):
    big = RNG.standard_normal((400, 10))

    def f(x):
        return np.sin(big @ x)

    x = RNG.standard_normal(10)
    jac = ad.jacrev(f, chunk_size=50, executor=dask_client)
    jac(x)
    dask_client.run(lambda: autodiff.executor._CACHE.clear())        # as after a worker restart
    np.testing.assert_allclose(jac(x), ad.jacrev(f)(x), rtol=1e-13)
    assert autodiff.executor.last_run.payload_sends >= 1             # a copy went to the workers again
    jac(x)
    assert autodiff.executor.last_run.payload_sends == 0


def needs_the_tuned_heap(x):
    from autodiff import heap

    if not heap.active():
        raise RuntimeError("the chunk ran without the tuned heap")
    return np.tanh(W1 @ x)


def _heap_can_be_tuned():
    from autodiff import heap

    dasks = os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"      # the Nanny's, see executor.py
    return sys.platform.startswith("linux") and (heap.available() or dasks)


@pytest.mark.parametrize("which", ["process_pool", "dask_client"])
def test_chunks_in_workers_run_with_the_tuned_heap(request, which):
    """Regression: Dask's Nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which switched the
    tuned heap off (and glibc's mmap threshold with it: every block over 128 KiB page-faulted in afresh,
    1.4-2x the chunk's CPU time); pool workers ran their chunks on glibc's default heap."""
    if not _heap_can_be_tuned():
        pytest.skip("the heap cannot be tuned here (not glibc, or MALLOC_* set by the user)")
    executor = request.getfixturevalue(which)
    x = RNG.standard_normal(10)
    got = ad.jacfwd(needs_the_tuned_heap, chunk_size=5, executor=executor)(x)
    np.testing.assert_allclose(got, ad.jacfwd(lambda x: np.tanh(W1 @ x))(x), rtol=1e-13)


def test_dask_after_the_workers_restarted(dask_client):
    """The scattered function part and the workers' caches are gone after a restart: the next call
    scatters it again (the future kept from the first call is cancelled)."""
    x = RNG.standard_normal(10)
    jac = ad.jacfwd(layers, chunk_size=3, executor=dask_client)
    jac(x)
    dask_client.restart()
    np.testing.assert_allclose(jac(x), ad.jacfwd(layers)(x), rtol=1e-13)
    assert autodiff.executor.last_run.payload_sends == 2
