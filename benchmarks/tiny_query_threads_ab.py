"""Does the measured thread choice for tiny queries (``hybrid/cpu_headroom.py``) pay, against one thread?

Printed (no results file: the evidence behind the thread choice, beside ``perf/rank_latency.json``).
The ``rank_latency`` pipeline is fitted, then blocks of requests alternate, at 2 torch threads,
between the chooser (``chooser``) and the old rule, every tiny query on one thread (``one``):
``--mode rerank`` times ``pipe.rerank`` of 100 candidates, ``--mode search`` ``pipe.search(k=10)``
(whose catalogue-wide NumPy products leave OpenBLAS threads spinning). ``--busy`` runs a
busy-looping process beside it for the whole run, ``--duty S`` one busy S seconds in every 2 S.
Each block prints p50 / p90 / p99 / max ms and how many tiny passes ran on how many threads.

    .venv/bin/python benchmarks/tiny_query_threads_ab.py --data-dir ../shared/data [--mode search] [--busy]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _perf_common import speed_probe  # noqa: E402
from perf_rank_latency import _fit_pipeline, _requests  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="real data (Home Depot); default: the embedded sample")
    parser.add_argument("--mode", choices=("rerank", "search"), default="rerank")
    parser.add_argument("--requests", type=int, default=500, help="per block, after 10 warm-up requests")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of blocks, order alternating")
    parser.add_argument("--busy", action="store_true", help="a busy-looping process beside the run")
    parser.add_argument("--duty", type=float, default=None, help="a process busy S seconds in every 2 S")
    parser.add_argument("--cache-dir", default=".tagrank_cache")
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    import tagrank.hybrid.cpu_headroom as headroom
    from tagrank.eval.datasets import load_dataset
    from tagrank.eval.tasks.search import SearchData

    data = SearchData(load_dataset("homedepot" if args.data_dir else "sample", args.data_dir))
    pipe, _, _ = _fit_pipeline(data, args.cache_dir, 3000, 0)
    requests = _requests(data, args.requests + 10, 100, 0)
    chooser = headroom._HEADROOM.threads_for

    def block(policy: str) -> np.ndarray:
        headroom._HEADROOM.threads_for = chooser if policy == "chooser" else (lambda wanted: 1)
        ms = []
        for query, items in requests:
            start = time.perf_counter()
            if args.mode == "search":
                pipe.search([query], k=10)
            else:
                pipe.rerank([query] * len(items), items)
            ms.append((time.perf_counter() - start) * 1000.0)
        return np.asarray(ms[10:])

    load = None
    if args.busy:
        load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    elif args.duty:
        loop = (f"import time\nwhile True:\n    t = time.perf_counter()\n"
                f"    while time.perf_counter() - t < {args.duty}: pass\n    time.sleep({args.duty})")
        load = subprocess.Popen([sys.executable, "-c", loop])
    torch.set_num_threads(2)
    print("speed probe", speed_probe(), flush=True)
    try:
        with threadpool_limits(limits=2):
            for rnd in range(args.rounds):
                for policy in ("one", "chooser") if rnd % 2 == 0 else ("chooser", "one"):
                    before = headroom.tiny_passes()
                    ms = block(policy)
                    passes = {t: n - before.get(t, 0) for t, n in headroom.tiny_passes().items()
                              if n > before.get(t, 0)}
                    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
                    print(f"{args.mode} round {rnd} {policy:7s} p50 {p50:.2f} p90 {p90:.2f} p99 {p99:.2f} "
                          f"max {ms.max():.2f} ms; tiny passes by threads {passes}", flush=True)
    finally:
        headroom._HEADROOM.threads_for = chooser
        if load is not None:
            load.kill()


if __name__ == "__main__":
    main()
