"""Issue 15: a heavy Jacobian spread over workers — a ProcessPoolExecutor(2) and a 2-worker Dask
LocalCluster against in-process, BLAS pinned to one thread everywhere.

The heavy Jacobian: 150 layers of tanh(W₂ tanh(W₁ x)), n = m = 300, chunk_size 75 (4 chunks of forward
directions). Also measured: the fixed cost of one task (a Jacobian of a tiny f split into one-direction
chunks) and the bytes sent per task, the inputs of the scaling model in docs/distributed.md.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import Section, Target, fmt_time, progress, table

import autodiff as ad
import autodiff.executor

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


def run(quick: bool = False) -> Section:
    import distributed

    progress("distributed Jacobian")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # the workers inherit it
    layers = 20 if quick else LAYERS
    repeat = 1 if quick else 3
    f, x = heavy(layers=layers)
    jac = ad.jacfwd(f, chunk_size=CHUNK)
    want = jac(x)
    inproc = best(lambda: jac(x), repeat)
    evaluation = best(lambda: f(x), repeat)
    rows, overhead = [["in-process", fmt_time(inproc), "1.00x"]], {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jp = ad.jacfwd(f, chunk_size=CHUNK, executor=pool)
        start = time.perf_counter()
        np.testing.assert_allclose(jp(x), want, rtol=1e-12, atol=1e-12)
        first_pool = time.perf_counter() - start
        payload = autodiff.executor.last_run.payload_bytes
        t_pool = best(lambda: jp(x), repeat)
        overhead["pool"] = _per_task_cost(pool, repeat)
    rows.append(["ProcessPoolExecutor(2)", fmt_time(t_pool), f"{inproc / t_pool:.2f}x"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        jd = ad.jacfwd(f, chunk_size=CHUNK, executor=client)
        start = time.perf_counter()
        np.testing.assert_allclose(jd(x), want, rtol=1e-12, atol=1e-12)
        first_dask = time.perf_counter() - start
        t_dask = best(lambda: jd(x), repeat)
        overhead["dask"] = _per_task_cost(client, repeat)
    rows.append(["Dask LocalCluster, 2 workers", fmt_time(t_dask), f"{inproc / t_dask:.2f}x"])
    cost_rows = [[name, fmt_time(sec), f"{nbytes} B"] for name, (sec, nbytes) in overhead.items()]
    body = (f"{layers} layers of tanh(W₂ tanh(W₁ x)), n = m = {N}, chunk_size {CHUNK} "
            f"({-(-N // CHUNK)} tasks); best of {repeat}; OPENBLAS_NUM_THREADS=1 in the caller and the "
            "workers.\n\n" + table(["where", "time", "speed-up"], rows)
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
    targets = [Target("in-process / ProcessPoolExecutor(2), inverted (<= 1/1.6)", t_pool / inproc, 1 / 1.6),
               Target("in-process / Dask 2 workers, inverted (<= 1)", t_dask / inproc, 1.0)]
    return Section("Scale-out: a heavy Jacobian on 2 workers", body, targets)


if __name__ == "__main__":
    sec = run(quick=False)
    print(sec.body)
    print(table(["target", "value", "limit", "verdict"], [t.row() for t in sec.targets]))
