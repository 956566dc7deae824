"""Chunks of Jacobian directions as tasks on an executor: a process or thread pool, or a Dask ``Client``.

A Jacobian is embarrassingly parallel over its directions: each chunk of forward directions (columns) or
reverse directions (rows) is an independent pass that re-evaluates f at the point. ``run_chunks`` sends
one task per chunk and returns the parts in order; the modes assemble them exactly as they assemble
in-process chunks, so the values are the same.

What travels, and how often:

- the *function part* (f with its closures, e.g. large weight matrices) is pickled with cloudpickle and
  reaches each worker once, not once per task — and not again on later calls while it is unchanged.
  It is addressed by a fingerprint of its contents (its pickle with every large array replaced by a
  hash of the array's bytes), so an array changed in place between two calls is a new function part:
  a stale copy on a worker can never be used. Dask: ``client.scatter(..., broadcast=True)``, the
  future kept while the fingerprint is recent; a task depends on it only until its worker has cached
  the unpickled part (then only the fingerprint travels), and tasks are placed round-robin over the
  workers (see ``_run_dask`` for why). Process pools: tasks carry the pickled function part,
  one per worker in flight, until every worker has reported (by process id) that it holds it in its
  small per-process cache; after that only the fingerprint travels, and the remaining tasks are
  submitted at once. A worker that lost it (restarted, or evicted it) answers "cache miss" and its
  task is sent again with the payload.
- the *point* (the inputs, small) and the chunk's bounds go with every task.
- thread pools share the caller's memory: nothing is pickled.

In pool and Dask workers a chunk runs with the tuned heap (``autodiff.heap.tuned``), as it runs in
the caller, as ``ad.jacobian`` and ``ad.hessian`` do; see ``_worker_heap`` for the variable a Dask
Nanny sets.

A function part that cannot be pickled raises ``TypeError`` naming the object that failed, before any
task is sent. A task that fails raises in the caller, with the worker's traceback attached (as
``concurrent.futures`` and Dask do). This module imports no mode: the modes hand it their chunk
functions, which live at module level so that workers can import them.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import weakref
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["run_chunks", "worker_count", "chunk_bounds", "check_executor", "RunStats", "last_run"]

# Per worker process: fingerprint -> unpickled function part (the most recent few Jacobians').
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4
# Per executor, in the caller: the fingerprints its workers were sent (for Dask: with the future that
# holds the scattered data).
_SENT: weakref.WeakKeyDictionary[Any, OrderedDict[str, Any]] = weakref.WeakKeyDictionary()
# Arrays at least this large are fingerprinted by a hash of their bytes instead of being pickled.
_LARGE = 1 << 14


class RunStats:
    """What the last :func:`run_chunks` call of this process sent: tasks, and how often and how large
    the function part went out. Read it as ``autodiff.executor.last_run``."""

    __slots__ = ("tasks", "payload_bytes", "payload_sends")

    def __init__(self, tasks: int = 0, payload_bytes: int = 0, payload_sends: int = 0) -> None:
        self.tasks, self.payload_bytes, self.payload_sends = tasks, payload_bytes, payload_sends

    def __repr__(self) -> str:
        return (f"RunStats(tasks={self.tasks}, payload_bytes={self.payload_bytes}, "
                f"payload_sends={self.payload_sends})")


last_run = RunStats()


class _CacheMiss(Exception):
    """Raised in a worker asked to run a chunk of a function part it has not received yet."""


def check_executor(executor: Any) -> None:
    """Raise TypeError unless ``executor`` can run tasks (has ``submit``, like concurrent.futures')."""
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"executor must have a submit() method (a concurrent.futures.Executor or a Dask "
            f"distributed.Client), got {type(executor).__name__}.")


def _is_dask(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter")


def worker_count(executor: Any) -> int:
    """How many tasks ``executor`` runs at once, where it can tell (else 1).

    Dask: the number of worker threads across the cluster; concurrent.futures pools: ``max_workers``.
    """
    if _is_dask(executor):
        threads = executor.nthreads()
        return max(1, sum(threads.values()) if isinstance(threads, dict) else int(threads))
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def chunk_bounds(n: int, chunk_size: int | None, executor: Any) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)``: chunks of ``chunk_size``, or one per worker."""
    if n == 0:
        return [(0, 0)]
    if chunk_size is None:
        workers = worker_count(executor)
        chunk_size = -(-n // workers)
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def run_chunks(executor: Any, task: Callable[[Any, Any, tuple[int, int]], Any], shared: Any, point: Any,
               chunks: Sequence[tuple[int, int]], progress: bool = False) -> list:
    """``[task(shared, point, chunk) for chunk in chunks]``, each call a task on ``executor``, in order.

    ``shared`` is the function part (sent once per worker while unchanged), ``point`` goes with every
    task.
    """
    check_executor(executor)
    bar = _Progress(len(chunks)) if progress else None
    stats = RunStats(len(chunks))
    globals()["last_run"] = stats
    try:
        if isinstance(executor, ThreadPoolExecutor):
            return _collect([executor.submit(task, shared, point, c) for c in chunks], bar)
        key = _fingerprint(shared)
        sent = _SENT.setdefault(executor, OrderedDict())
        if _is_dask(executor):
            return _run_dask(executor, task, key, shared, point, chunks, bar, sent, stats)
        return _run_pool(executor, task, key, shared, point, chunks, bar, sent, stats)
    finally:
        if bar is not None:
            bar.close()


def _collect(futures: list, bar: _Progress | None) -> list:
    results = []
    for future in futures:
        results.append(future.result())
        if bar is not None:
            bar.update()
    return results


def _remember(sent: OrderedDict, key: str, value: Any) -> None:
    sent[key] = value
    sent.move_to_end(key)
    while len(sent) > _CACHE_SIZE:
        sent.popitem(last=False)       # for Dask this drops the future: the scattered data is freed


# ---- Dask ---------------------------------------------------------------------------------------

# What a Dask task returns when its worker does not hold the function part it was asked to use.
_MISSING = "autodiff.executor: function part not on this worker"


def _run_dask(client: Any, task: Callable, key: str, shared: Any, point: Any, chunks: Sequence,
              bar: _Progress | None, sent: OrderedDict, stats: RunStats) -> list:
    """One task per chunk, placed round-robin over the workers' threads.

    Why not let every task depend on the scattered function part: the scheduler's Active Memory
    Manager (on by default) drops the broadcast's extra replicas within seconds once no task waits for
    them, and then places every dependent task on the one worker left holding them (moving 200 MiB
    looks dearer than queuing) — measured: all 4 chunks of the heavy Jacobian on one worker, as slow as
    in-process. So a task depends on the scattered part only until its worker has unpickled it into
    its cache (the worker's address comes back with the result); later tasks to that worker carry only
    the fingerprint, and a worker that lost it answers ``_MISSING`` and gets the chunk again with the
    dependency (the scheduler copies the part to it from wherever it still lives).
    """
    known: Any = sent.get(key)
    fresh = known is None or known[0].status != "finished"   # new, or its last replica was lost
    ref, holders = (_scatter(client, shared, stats), set()) if fresh else known
    _remember(sent, key, (ref, holders))
    slots = _worker_slots(client)

    def submit(chunk: tuple[int, int], worker: str | None) -> Any:
        nonlocal ref
        dep = None
        if worker not in holders:
            if ref.status != "finished":                  # lost while this call ran (a worker died)
                ref = _scatter(client, shared, stats)
                _remember(sent, key, (ref, holders))
            elif not fresh:
                stats.payload_sends += 1                  # a copy of the part travels to that worker
            dep = ref
        return client.submit(_run_in_dask_worker, task, key, dep, point, chunk, pure=False,
                             workers=None if worker is None else [worker], allow_other_workers=True)

    futures = [submit(c, slots[i % len(slots)] if slots else None) for i, c in enumerate(chunks)]
    try:
        return _collect_dask(futures, chunks, holders, submit, bar)
    except BaseException:
        client.cancel(futures)
        raise


def _scatter(client: Any, shared: Any, stats: RunStats) -> Any:
    """The pickled function part on every worker (a broadcast); its future."""
    blob = _pickle(shared)
    stats.payload_bytes = len(blob)
    stats.payload_sends += worker_count(client)
    return client.scatter(blob, broadcast=True, hash=False)


def _collect_dask(futures: list, chunks: Sequence, holders: set, submit: Callable,
                  bar: _Progress | None) -> list:
    """The tasks' results in order; a chunk whose worker lacked the function part is sent again."""
    results = []
    for i, chunk in enumerate(chunks):
        address, value = futures[i].result()
        while isinstance(value, str) and value == _MISSING:
            holders.discard(address)
            futures[i] = submit(chunk, address)
            address, value = futures[i].result()
        holders.add(address)
        results.append(value)
        if bar is not None:
            bar.update()
    return results


def _worker_slots(client: Any) -> list[str]:
    """The workers' addresses, each repeated once per thread (the round-robin placement's slots)."""
    threads = client.nthreads()
    if not isinstance(threads, dict):
        return []
    return [address for address in sorted(threads) for _ in range(max(1, int(threads[address])))]


def _run_in_dask_worker(task: Callable, key: str, blob: bytes | None, point: Any,
                        chunk: tuple[int, int]) -> tuple[str, Any]:
    """In a Dask worker: ``(worker address, task(...))`` on the cached function part ``key``, unpickled
    from ``blob`` (the scattered bytes) when this worker has not cached it yet; ``_MISSING`` in place
    of the result when it has neither."""
    from distributed import get_worker

    address = get_worker().address
    if blob is None and key not in _CACHE:
        return address, _MISSING
    shared = _load(key, blob)
    with _worker_heap():
        return address, task(shared, point, chunk)


def _worker_heap() -> Any:
    """``autodiff.heap.tuned()`` for a chunk running in a worker.

    A Dask Nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (Dask's default
    ``distributed.nanny.pre-spawn-environ``, so that freed memory goes back to the OS at once), and it
    also writes that variable into the environment of the process that runs the Nanny, so process
    pools started there later inherit it. ``heap.tuned`` takes any ``MALLOC_*_`` variable as the user's
    choice of heap and stays off; with this one set, glibc also stops raising its mmap threshold, so
    every block over 128 KiB is a fresh mmap and its pages are faulted in afresh — measured on the
    heavy Jacobian's chunk: 26,450 page faults and 1.4-2x the CPU time of the same chunk in-process.
    Dask's exact default value (and no other ``MALLOC_*_`` variable) is therefore not taken as the
    user's choice; any other value is respected.
    """
    from autodiff import heap

    if _only_dasks_trim_default():
        heap.disregard_environment()
    return heap.tuned()


_DASK_TRIM_DEFAULT = "65536"      # distributed.yaml: distributed.nanny.pre-spawn-environ


def _only_dasks_trim_default() -> bool:
    env = os.environ
    return (env.get("MALLOC_TRIM_THRESHOLD_") == _DASK_TRIM_DEFAULT
            and env.get("MALLOC_MMAP_THRESHOLD_") is None and env.get("MALLOC_TOP_PAD_") is None)


# ---- concurrent.futures process pools -------------------------------------------------------------

def _run_pool(executor: Any, task: Callable, key: str, shared: Any, point: Any, chunks: Sequence,
              bar: _Progress | None, sent: OrderedDict, stats: RunStats) -> list:
    """Keep one task per worker in flight while a task carries the pickled function part — until every
    worker is known to hold it (each task reports its process id); then submit the rest at once, each
    with only its key."""
    workers = worker_count(executor)
    holders: set[int] = set(sent.get(key, ()))
    blob: bytes | None = None
    results: list = [None] * len(chunks)
    pending: dict = {}
    queue = list(enumerate(chunks))

    def submit(i: int, chunk: tuple[int, int], with_blob: bool) -> None:
        nonlocal blob
        if with_blob and blob is None:
            blob = _pickle(shared)
            stats.payload_bytes = len(blob)
        stats.payload_sends += with_blob
        future = executor.submit(_run_cached, task, key, blob if with_blob else None, point, chunk)
        pending[future] = (i, chunk)

    while queue or pending:
        # Until every worker holds the function part, one task per worker (each carries the payload);
        # then the rest at once, so that no worker waits for the caller between two of its tasks.
        while queue and (len(pending) < workers or len(holders) >= workers):
            i, chunk = queue.pop(0)
            submit(i, chunk, len(holders) < workers)
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            i, chunk = pending.pop(future)
            try:
                pid, results[i] = future.result()
            except _CacheMiss:            # a worker that lost it (restarted, or evicted from its cache)
                holders.clear()
                queue.insert(0, (i, chunk))
                continue
            holders.add(pid)
            if bar is not None:
                bar.update()
    _remember(sent, key, holders)
    return results


def _run_cached(task: Callable, key: str, blob: bytes | None, point: Any,
                chunk: tuple[int, int]) -> tuple[int, Any]:
    """In a pool worker: ``(process id, task(...))`` on the cached function part ``key`` (or on
    ``blob``, then cache it)."""
    if blob is None and key not in _CACHE:
        raise _CacheMiss(key)
    shared = _load(key, blob)
    with _worker_heap():
        return os.getpid(), task(shared, point, chunk)


def _load(key: str, blob: bytes | None) -> Any:
    shared = _CACHE.get(key)
    if shared is None:
        import cloudpickle

        shared = cloudpickle.loads(blob)
        _CACHE[key] = shared
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return shared


# ---- pickling -----------------------------------------------------------------------------------

def _fingerprint(shared: Any) -> str:
    """A digest of everything ``shared`` pickles to, with large arrays stood for by a hash of their bytes
    (so fingerprinting 200 MB of weights costs one pass over them, not a pickle and a copy)."""
    import cloudpickle

    class Skeleton(cloudpickle.CloudPickler):
        def persistent_id(self, obj: Any) -> Any:
            if type(obj) is np.ndarray and obj.nbytes >= _LARGE:
                return ("ndarray", obj.dtype.str, obj.shape, _digest(np.ascontiguousarray(obj).data))
            return None

    buf = io.BytesIO()
    try:
        Skeleton(buf, protocol=5).dump(shared)
    except Exception:  # noqa: BLE001 - _pickle names what failed
        _pickle(shared)
        raise
    return _digest(buf.getbuffer())


def _digest(data: Any) -> str:
    try:
        import xxhash
    except ImportError:
        return hashlib.sha256(data).hexdigest()
    return xxhash.xxh3_128_hexdigest(data)


def _pickle(payload: Any) -> bytes:
    """``cloudpickle.dumps(payload)``, or TypeError naming the first part of it that cannot be sent."""
    try:
        import cloudpickle
    except ImportError as e:  # pragma: no cover - cloudpickle comes with the distributed extra
        raise ImportError("executor= needs cloudpickle: pip install 'autodiff[distributed]'") from e
    try:
        return cloudpickle.dumps(payload)
    except Exception as e:  # noqa: BLE001 - any pickling failure becomes one clear TypeError
        culprit = _find_unpicklable(payload, cloudpickle)
        raise TypeError(
            f"executor=: cannot send the function and its arguments to the workers, because {culprit} "
            f"cannot be pickled ({type(e).__name__}: {e}). Make it picklable, create it inside f, or "
            "compute this Jacobian without an executor.") from e


def _find_unpicklable(obj: Any, cloudpickle: Any, depth: int = 0) -> str:
    """A description of the innermost part of ``obj`` that cloudpickle refuses (closure cells, defaults,
    globals it names, containers' items)."""
    for label, part in _parts(obj):
        try:
            cloudpickle.dumps(part)
        except Exception:  # noqa: BLE001
            inner = _find_unpicklable(part, cloudpickle, depth + 1) if depth < 6 else None
            return inner if inner else f"{label} ({type(part).__name__} {_short(part)})"
    return "" if depth else f"the object {_short(obj)}"


def _parts(obj: Any) -> list[tuple[str, Any]]:
    code = getattr(obj, "__code__", None)
    if code is not None:                       # a Python function: its closure, defaults, globals
        cells = obj.__closure__ or ()
        parts = [(f"the variable {name!r} that {obj.__qualname__} closes over", c.cell_contents)
                 for name, c in zip(code.co_freevars, cells) if _cell_full(c)]
        parts += [(f"a default argument of {obj.__qualname__}", d) for d in obj.__defaults__ or ()]
        g = obj.__globals__
        parts += [(f"the global {name!r} used by {obj.__qualname__}", g[name])
                  for name in code.co_names if name in g and not _is_module(g[name])]
        return parts
    if isinstance(obj, dict):
        return [(f"the entry {k!r}", v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [(f"item {i}", v) for i, v in enumerate(obj)]
    func = getattr(obj, "func", None)          # functools.partial and the like
    return [("its function", func)] if func is not None else []


def _cell_full(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:          # a variable not assigned yet
        return False
    return True


def _is_module(x: Any) -> bool:
    return type(x).__name__ == "module"


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- progress -----------------------------------------------------------------------------------

class _Progress:
    """A progress bar over the chunks: tqdm when it is installed, else a line on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc="Jacobian chunks", unit="chunk")

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        else:
            print(f"\rJacobian chunks: {self.done}/{self.total}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done:
            print(file=sys.stderr, flush=True)
