"""Chunks of Jacobian directions as tasks on an executor: a process or thread pool, or a Dask ``Client``.

A Jacobian is embarrassingly parallel over its directions: each chunk of forward directions (columns) or
reverse directions (rows) is an independent pass that re-evaluates f at the point. ``run_chunks`` sends
one task per chunk and returns the parts in order; the modes assemble them exactly as they assemble
in-process chunks, so the values are the same.

What travels: the *payload* (f, its closures and the point) is pickled once with cloudpickle, and each
task carries only its chunk's bounds. It reaches each worker once, not once per task:

- Dask: ``client.scatter(payload, broadcast=True)`` puts it on every worker; tasks refer to it.
- ``concurrent.futures`` process pools: the first task per worker carries the pickled payload and the
  worker that runs it keeps it (a small per-process cache keyed by the payload's hash); later tasks
  carry the key only. A pool cannot be told which worker runs a task, so a worker that took none of the
  first tasks answers "cache miss" and is sent the payload with that task (typically once per worker,
  at worst once per task).
- Thread pools share the caller's memory: the payload is passed as it is, nothing is pickled.

A payload that cannot be pickled raises ``TypeError`` naming the object that failed, before any task is
sent. A task that fails raises in the caller, with the worker's traceback attached (as
``concurrent.futures`` and Dask do). This module imports no mode: the modes hand it their chunk
functions, which live at module level so that workers can import them.
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

__all__ = ["run_chunks", "worker_count", "chunk_bounds", "check_executor", "RunStats", "last_run"]

# Per worker process: payload key -> unpickled payload (the few most recent Jacobians' functions).
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 8


class RunStats:
    """What the last :func:`run_chunks` call of this process sent: tasks, and how often and how large
    the payload (f, its closures, the point) went out. Read it as ``autodiff.executor.last_run``."""

    __slots__ = ("tasks", "payload_bytes", "payload_sends")

    def __init__(self, tasks: int = 0, payload_bytes: int = 0, payload_sends: int = 0) -> None:
        self.tasks, self.payload_bytes, self.payload_sends = tasks, payload_bytes, payload_sends

    def __repr__(self) -> str:
        return (f"RunStats(tasks={self.tasks}, payload_bytes={self.payload_bytes}, "
                f"payload_sends={self.payload_sends})")


last_run = RunStats()


class _CacheMiss(Exception):
    """Raised in a worker asked to run a chunk of a payload it has not received yet."""


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


def run_chunks(executor: Any, task: Callable[[Any, tuple[int, int]], Any], payload: Any,
               chunks: Sequence[tuple[int, int]], progress: bool = False) -> list:
    """``[task(payload, chunk) for chunk in chunks]``, each call a task on ``executor``, in order."""
    check_executor(executor)
    bar = _Progress(len(chunks)) if progress else None
    stats = RunStats(len(chunks))
    globals()["last_run"] = stats
    try:
        if isinstance(executor, ThreadPoolExecutor):
            futures = [executor.submit(task, payload, c) for c in chunks]
            return _collect(futures, bar)
        blob = _pickle(payload)
        stats.payload_bytes = len(blob)
        if _is_dask(executor):
            stats.payload_sends = worker_count(executor)      # one broadcast scatter
            return _run_dask(executor, task, blob, chunks, bar)
        return _run_pool(executor, task, blob, chunks, bar, stats)
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


# ---- Dask ---------------------------------------------------------------------------------------

def _run_dask(client: Any, task: Callable, blob: bytes, chunks: Sequence, bar: _Progress | None) -> list:
    # A fresh key per call (hash=False): two calls with the same payload must not share data that the
    # first call releases when it ends.
    ref = client.scatter(blob, broadcast=True, hash=False)
    key = _key(blob)
    futures = [client.submit(_run_blob, task, key, ref, c, pure=False) for c in chunks]
    try:
        return _collect(futures, bar)
    except BaseException:
        client.cancel(futures)
        raise


def _run_blob(task: Callable, key: str, blob: bytes, chunk: tuple[int, int]) -> Any:
    """In a Dask worker: the payload comes scattered (bytes held by the worker); unpickle it once."""
    return task(_load(key, blob), chunk)


# ---- concurrent.futures process pools -------------------------------------------------------------

def _run_pool(executor: Any, task: Callable, blob: bytes, chunks: Sequence, bar: _Progress | None,
              stats: RunStats) -> list:
    key = _key(blob)
    first = min(worker_count(executor), len(chunks))
    futures = [executor.submit(_run_cached, task, key, blob if i < first else None, c)
               for i, c in enumerate(chunks)]
    stats.payload_sends = first
    results = []
    for future, chunk in zip(futures, chunks):
        try:
            results.append(future.result())
        except _CacheMiss:
            stats.payload_sends += 1
            results.append(executor.submit(_run_cached, task, key, blob, chunk).result())
        if bar is not None:
            bar.update()
    return results


def _run_cached(task: Callable, key: str, blob: bytes | None, chunk: tuple[int, int]) -> Any:
    """In a pool worker: run ``task`` on the cached payload ``key`` (or on ``blob``, then cache it)."""
    if blob is None and key not in _CACHE:
        raise _CacheMiss(key)
    return task(_load(key, blob), chunk)


def _load(key: str, blob: bytes | None) -> Any:
    payload = _CACHE.get(key)
    if payload is None:
        import cloudpickle

        payload = cloudpickle.loads(blob)
        _CACHE[key] = payload
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return payload


# ---- pickling -----------------------------------------------------------------------------------

def _key(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


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
        cell.cell_contents
    except ValueError:
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
