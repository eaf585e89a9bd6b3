"""Why 2 workers x 1 thread do not halve top-k on a given machine: compute in parallel or not?

Two measurements, printed (no results file: a diagnosis for the notes beside ``perf/scaleout.json``):

* ``gemm``: GFLOP/s of one single-threaded process multiplying cache-sized 1024 x 1024 float32
  matrices, then of two such processes at once. Two independent cores give twice the total.
* ``topk``: ``dask_top_k`` (Q x N unit vectors, shards already on the workers) on 1 and on 2
  single-threaded workers, with the summed task time per kind from Dask's task stream. If the
  summed ``_local_top_k`` compute time grows with two workers, the workers slow each other down
  (shared memory bandwidth / cache), which Dask cannot remove; transfer and merge times show
  Dask's own share.

    .venv/bin/python benchmarks/scaleout_diagnose.py [--q 1000] [--n 200000]
"""

from __future__ import annotations

import argparse
import os
import time
from multiprocessing import Process, Queue


def _gemm_rate(q: Queue, seconds: float) -> None:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import numpy as np
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ a
            n += 1
        q.put(n * 2 * 1024**3 / (time.perf_counter() - t0) / 1e9)


def gemm(seconds: float = 8.0) -> None:
    for procs in (1, 2, 1, 2):
        q: Queue = Queue()
        ps = [Process(target=_gemm_rate, args=(q, seconds)) for _ in range(procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        rates = [q.get() for _ in ps]
        print(f"gemm: {procs} process(es) x 1 thread: GFLOP/s each {[round(r, 1) for r in rates]}, "
              f"total {sum(rates):.1f}", flush=True)


def topk(n_queries: int, n_items: int) -> None:
    import numpy as np
    from distributed import get_task_stream, wait
    from tagrank.eval.distributed import connect, disconnect
    from tagrank.hybrid.dask_topk import dask_top_k, shard_items

    rng = np.random.default_rng(0)
    items = rng.standard_normal((n_items, 384)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = rng.standard_normal((n_queries, 384)).astype(np.float32)
    for workers in (1, 2):
        client = connect(f"local:{workers}", activate=False)
        try:
            sharded = shard_items(items, client)
            wait(sharded.futures)
            dask_top_k(queries[:8], sharded, k=10, client=client)  # warm-up
            for _ in range(2):
                with get_task_stream(client=client) as stream:
                    t0 = time.perf_counter()
                    dask_top_k(queries, sharded, k=10, client=client)
                    wall = time.perf_counter() - t0
                summed: dict[str, float] = {}
                for rec in stream.data:
                    name = rec["key"][0] if isinstance(rec["key"], tuple) else str(rec["key"]).split("-")[0]
                    for s in rec["startstops"]:
                        key = f"{name} {s['action']}"
                        summed[key] = summed.get(key, 0.0) + s["stop"] - s["start"]
                print(f"topk: {workers} worker(s), {len(sharded.futures)} shards: wall {wall:.2f} s, summed task "
                      f"time {({k: round(v, 2) for k, v in summed.items() if v >= 0.01})}", flush=True)
        finally:
            disconnect(client)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--q", type=int, default=1000)
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    gemm()
    topk(args.q, args.n)


if __name__ == "__main__":
    main()
