"""Issue 15: a heavy Jacobian spread over workers — a ProcessPoolExecutor(2) and a 2-worker Dask
LocalCluster against in-process, BLAS pinned to one thread everywhere.

The heavy Jacobian: 150 layers of tanh(W₂ tanh(W₁ x)), n = m = 300, chunk_size 75 (4 chunks of forward
directions). Also measured: the fixed cost of one task (a Jacobian of a tiny f split into one-direction
chunks) and the bytes sent per task, the inputs of the scaling model in docs/distributed.md.

What decides whether 2 workers beat one process, printed next to the speed-ups (load-independent where
possible, since this machine is shared):

- placement: a diagnostic run of the same 4 chunks (the executor's own placement, after Dask's Active
  Memory Manager has run) reports for each task the worker that ran it and its start/stop times;
- the A/B of a chunk: the same chunk's thread CPU time and page faults inside the workers against
  in-process, in the same run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_distributed.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import Section, Target, fmt_time, progress, table

import autodiff as ad
import autodiff.executor
from autodiff.batching import prepare
from forward.jvp import _forward_chunk  # the task jacfwd sends: timed here chunk by chunk

N, LAYERS, CHUNK = 300, 150, 75


def heavy(n: int = N, layers: int = LAYERS, seed: int = 0):
    rng = np.random.default_rng(seed)
    Ws = [(rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, n)) / np.sqrt(n))
          for _ in range(layers)]

    def f(x):
        for W1, W2 in Ws:
            x = np.tanh(W2 @ np.tanh(W1 @ x))
        return x
    return f, rng.standard_normal(n)


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def paired(local, remote, rounds: int) -> tuple[list[float], list[float]]:
    """``rounds`` rounds of one in-process call then one call on the executor: the times of each.

    Paired, because this machine's speed drifts by up to 1.5x over tens of seconds (other tenants of
    its host): the ratio within a round compares runs seconds apart, a best-of per side does not.
    """
    mine, theirs = [], []
    for _ in range(rounds):
        for fn, times in ((local, mine), (remote, theirs)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return mine, theirs


def speedup_row(name: str, mine: list[float], theirs: list[float]) -> tuple[list[str], float]:
    """A table row (median times, median and range of the per-round speed-ups) and the median speed-up."""
    ratios = [a / b for a, b in zip(mine, theirs)]
    median = statistics.median(ratios)
    return [name, fmt_time(statistics.median(mine)), fmt_time(statistics.median(theirs)),
            f"{median:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"], median


def timed_chunk(shared, point, bounds) -> dict:
    """``_forward_chunk`` (the task ``jacfwd`` sends) with where and how it ran: the worker, wall-clock
    start and stop, the thread's CPU time and the process's minor page faults during the chunk."""
    try:
        from distributed import get_worker
        where = get_worker().address
    except (ImportError, ValueError):
        where = f"pid {os.getpid()}"
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start, cpu = time.time(), time.thread_time()
    _forward_chunk(shared, point, bounds)
    cpu, stop = time.thread_time() - cpu, time.time()
    return {"worker": where, "start": start, "stop": stop, "cpu": cpu,
            "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}


def diagnose(executor, f, x, repeat: int) -> tuple[list[dict], list[dict]]:
    """The heavy Jacobian's chunks, timed one by one: ``(in the workers, in-process)``, best CPU time of
    ``repeat`` runs each, alternating. The worker runs go through ``run_chunks`` as ``jacfwd``'s do (same
    placement, same function part once per worker); their start/stop are relative to the submission."""
    inputs = prepare(f, (x,), {}, 0)
    shared, point = (inputs.fun, inputs.in_tree), inputs.flat
    chunks = autodiff.executor.chunk_bounds(inputs.n, CHUNK, executor)
    autodiff.executor.run_chunks(executor, timed_chunk, shared, point, chunks)     # ship, warm up
    _settle(executor)
    remote, local = None, None
    for _ in range(repeat):
        submitted = time.time()
        runs = autodiff.executor.run_chunks(executor, timed_chunk, shared, point, chunks)
        runs[0]["returned"] = time.time() - submitted
        for r in runs:
            r["start"], r["stop"] = r["start"] - submitted, r["stop"] - submitted
        mine = [timed_chunk(shared, point, c) for c in chunks]
        if remote is None or sum(r["cpu"] for r in runs) < sum(r["cpu"] for r in remote):
            remote = runs
        if local is None or sum(r["cpu"] for r in mine) < sum(r["cpu"] for r in local):
            local = mine
    return remote, local


def _settle(executor) -> None:
    """Let Dask's Active Memory Manager do what it does every 2 s (drop the broadcast's extra replicas),
    so that the timings are those of a cluster that has been running a while."""
    amm = getattr(executor, "amm", None)
    if amm is not None:
        amm.run_once()
        time.sleep(0.5)


def timeline(remote: list[dict], local: list[dict]) -> str:
    """The diagnostic run as a table: chunk, worker, start/stop, CPU and page faults in the worker and
    in-process; and the tasks each worker ran."""
    names = {w: f"worker {i}" for i, w in enumerate(sorted({r["worker"] for r in remote}))}
    rows = [[str(i), names[r["worker"]], f"{r['start'] * 1e3:.0f}-{r['stop'] * 1e3:.0f} ms",
             fmt_time(r["cpu"]), str(r["faults"]), fmt_time(mine["cpu"]), str(mine["faults"])]
            for i, (r, mine) in enumerate(zip(remote, local))]
    counts = ", ".join(f"{name}: {sum(r['worker'] == w for r in remote)} tasks" for w, name in names.items())
    ratio = sum(r["cpu"] for r in remote) / sum(m["cpu"] for m in local)
    busiest = max(sum(r["cpu"] for r in remote if r["worker"] == w) for w in names)
    return (table(["chunk", "ran on", "start-stop", "CPU in worker", "page faults", "CPU in-process",
                   "page faults"], rows)
            + f"\n\n{counts}; all results in the caller at {remote[0]['returned'] * 1e3:.0f} ms. CPU time "
              f"in the workers / in-process: {ratio:.2f}. If each worker had a core of its own: in-process "
              f"CPU time / the busiest worker's CPU time = {sum(m['cpu'] for m in local) / busiest:.2f}x "
              "(an upper bound on the speed-up, before the per-call costs).")


def _per_task_cost(executor, repeat: int) -> tuple[float, float]:
    """Seconds and payload bytes per task for a tiny f (one direction per task, 20 tasks)."""
    W = np.random.default_rng(1).standard_normal((20, 20))
    f = lambda x: np.tanh(W @ x)  # noqa: E731
    x = np.ones(20)
    seconds = best(lambda: ad.jacfwd(f, chunk_size=1, executor=executor)(x), repeat)
    local = best(lambda: ad.jacfwd(f, chunk_size=1)(x), repeat)
    return (seconds - local) / 20, 8 * x.size     # the point travels with every task


LINK = 1.25e9      # bytes/s: an assumed 10 Gbit/s link between the caller and the workers


def predicted_time(n: int, m: int, w: int, d: float, e: float, o: float, chunks: int,
                   bandwidth: float = LINK) -> float:
    """The model of docs/distributed.md, later calls: n·d/w + e + o·ceil(chunks/w) + 8·n·m/B."""
    return n * d / w + e + o * -(-chunks // w) + 8 * n * m / bandwidth


def predictions(d: float, e: float, o: float, payload: int) -> list[list[str]]:
    """Predicted speed-ups at 8, 32 and 128 workers: the heavy Jacobian (n = m = 300, one chunk per
    worker) and n = 10⁴ directions of the same f (m = 300, chunks of 75)."""
    rows = []
    for label, n, m, chunk in (("heavy, n = m = 300", N, N, None), ("n = 10⁴, m = 300", 10_000, N, 75)):
        cells = [label]
        for w in (8, 32, 128):
            chunks = w if chunk is None else -(-n // chunk)
            t = predicted_time(n, m, w, d, e, o, chunks)
            first = t + w * payload / LINK
            cells.append(f"{n * d / t:.1f}x (first call {n * d / first:.1f}x)")
        rows.append(cells)
    return rows


def run(quick: bool = False, repeat: int | None = None) -> Section:
    import distributed

    progress("distributed Jacobian")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # the workers inherit it
    layers = 20 if quick else LAYERS
    repeat = repeat or (1 if quick else 3)
    rounds = 1 if quick else 2 * repeat + 1
    load_before = os.getloadavg()[0]
    f, x = heavy(layers=layers)
    jac = ad.jacfwd(f, chunk_size=CHUNK)
    want = jac(x)
    evaluation = best(lambda: f(x), repeat)
    rows, speedups, overhead = [], {}, {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jp = ad.jacfwd(f, chunk_size=CHUNK, executor=pool)
        start = time.perf_counter()
        np.testing.assert_allclose(jp(x), want, rtol=1e-12, atol=1e-12)
        first_pool = time.perf_counter() - start
        payload = autodiff.executor.last_run.payload_bytes
        row, speedups["pool"] = speedup_row("ProcessPoolExecutor(2)",
                                            *paired(lambda: jac(x), lambda: jp(x), rounds))
        rows.append(row)
        overhead["pool"] = _per_task_cost(pool, repeat)
        diag_pool = diagnose(pool, f, x, repeat)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        jd = ad.jacfwd(f, chunk_size=CHUNK, executor=client)
        start = time.perf_counter()
        np.testing.assert_allclose(jd(x), want, rtol=1e-12, atol=1e-12)
        first_dask = time.perf_counter() - start
        _settle(client)
        row, speedups["dask"] = speedup_row("Dask LocalCluster, 2 workers",
                                            *paired(lambda: jac(x), lambda: jd(x), rounds))
        rows.append(row)
        overhead["dask"] = _per_task_cost(client, repeat)
        diag_dask = diagnose(client, f, x, repeat)
    inproc = best(lambda: jac(x), repeat)
    cost_rows = [[name, fmt_time(sec), f"{nbytes} B"] for name, (sec, nbytes) in overhead.items()]
    body = (f"{layers} layers of tanh(W₂ tanh(W₁ x)), n = m = {N}, chunk_size {CHUNK} "
            f"({-(-N // CHUNK)} tasks); OPENBLAS_NUM_THREADS=1 in the caller and the workers; load "
            f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. {rounds} rounds of one "
            "in-process call then one on the executor (the machine's speed drifts between runs seconds "
            "apart, so each speed-up is taken within a round): median times, and the median (range) of "
            "the rounds' speed-ups.\n\n"
            + table(["executor", "in-process", "on the executor", "speed-up"], rows)
            + "\n\nWhere the 4 chunks ran (a diagnostic run through the executor's own placement, after "
              "Dask's Active Memory Manager ran; start-stop from the submission; best of "
              f"{repeat}), against the same chunks in-process in the same run:\n\nDask LocalCluster, "
              "2 workers:\n\n" + timeline(*diag_dask)
            + "\n\nProcessPoolExecutor(2):\n\n" + timeline(*diag_pool)
            + f"\n\nThe first call ships the function part ({payload / 2**20:.0f} MiB of weights) to each "
              f"worker: {fmt_time(first_pool)} with the pool, {fmt_time(first_dask)} with Dask; later calls "
              "send only the point.\n\nFixed cost of one task (tiny f, one direction per task, minus the "
              "in-process time) and the bytes each task carries:\n\n"
            + table(["executor", "per task", "sent per task"], cost_rows))
    d = inproc / N
    body += ("\n\nThe model's inputs measured here: d = {:.2f} ms per direction, e = {:.1f} ms per "
             "evaluation of f, o = {:.2f} ms per Dask task, P = {:.0f} MiB; a 10 Gbit/s link assumed. "
             "Predicted speed-ups (later calls; the first call also ships P to every worker):\n\n").format(
        d * 1e3, evaluation * 1e3, overhead["dask"][0] * 1e3, payload / 2**20)
    body += table(["Jacobian", "8 workers", "32 workers", "128 workers"],
                  predictions(d, evaluation, overhead["dask"][0], payload))
    targets = [Target("in-process / ProcessPoolExecutor(2), inverted (<= 1/1.6)", 1 / speedups["pool"],
                      1 / 1.6),
               Target("in-process / Dask 2 workers, inverted (<= 1)", 1 / speedups["dask"], 1.0)]
    return Section("Scale-out: a heavy Jacobian on 2 workers", body, targets)


# The workers of a Dask cluster cannot import this file: send timed_chunk by value.
try:
    import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
except ImportError:  # pragma: no cover - the distributed extra brings it
    pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 layers, one run each: a smoke test")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per best-of timing (default 3); the speed-ups take 2 * repeat + 1 rounds")
    args = parser.parse_args()
    sec = run(quick=args.quick, repeat=args.repeat)
    print(sec.body)
    print(table(["target", "value", "limit", "verdict"], [t.row() for t in sec.targets]))
