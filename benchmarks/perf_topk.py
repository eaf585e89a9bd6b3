"""Performance benchmark ``topk``: the k nearest of N unit vectors for Q queries (Q << N, the serving shape).

In one process, interleaved (each round runs every implementation once, the
order rotating), ``--repeats`` rounds after a warm-up, at each thread count of
``--threads`` (torch, BLAS and faiss pools all set to it):

* ``library``: ``baselines.vectors.top_k(queries, items, k)`` (exact, cosine;
  the item matrix walked block by block, each block's scores cut to k at once
  and merged into running per-query top-k lists; bounded memory);
* ``sklearn``: the textbook recipe ``cosine_similarity(queries, items)`` then
  ``np.argsort(-S, axis=1)[:, :k]`` (holds the Q x N scores and their argsort);
* ``faiss``: ``IndexFlatIP.search(queries, k)`` on an index built before the
  timing (the items are unit vectors, so inner product = cosine).

Peak memory: growth of the process's peak resident set (VmHWM, reset before
each call) over the resident set before it, one call each outside the timed
rounds. Agreement: the share of neighbour ids equal position by position with
the exact float64 brute force (ties by the lower id, the library's rule).
Peak memory is taken in a fresh process per implementation (in a long-lived
one, freed heap pages serve later calls and hide their growth).

    python benchmarks/perf_topk.py --q 1000 --n 200000 --threads 1,2,all
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _perf_common as pc  # noqa: E402  (also puts the repository root on sys.path)


def make_vectors(n: int, d: int, seed: int):
    """Seeded random unit vectors, float32, built without a float64 temporary."""
    import numpy as np

    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def brute_force(q, x, k: int, rows: int = 50):
    """Exact ids in float64: score descending, ties by the lower id (chunks of ``rows`` queries)."""
    import numpy as np

    out = np.empty((q.shape[0], k), dtype=np.int64)
    x64 = x.astype(np.float64)
    for a in range(0, q.shape[0], rows):
        s = q[a : a + rows].astype(np.float64) @ x64.T
        cand = np.argpartition(-s, k + 8, axis=1)[:, : k + 8]  # a margin for ties at the cut
        for i, (row, c) in enumerate(zip(s, cand, strict=True)):
            order = np.lexsort((c, -row[c]))[:k]
            out[a + i] = c[order]
    return out


def setup(args: dict[str, Any]) -> dict[str, Any]:
    """Data and the implementations' calls (a faiss index built outside them)."""
    import numpy as np
    from sklearn.metrics.pairwise import cosine_similarity

    from tagrank.baselines.vectors import top_k

    x = make_vectors(args["n"], args["d"], args["seed"])
    q = make_vectors(args["q"], args["d"], args["seed"] + 1)
    k = args["k"]

    def sklearn_recipe():
        s = cosine_similarity(q, x)
        return np.argsort(-s, axis=1)[:, :k]

    calls: dict[str, Any] = {"library": lambda: top_k(q, x, k=k, device="cpu")[0], "sklearn": sklearn_recipe}
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        index = faiss.IndexFlatIP(args["d"])
        index.add(x)
        calls["faiss"] = lambda: index.search(q, k)[1]
    return {"x": x, "q": q, "calls": calls}


def memory_worker(args: dict[str, Any]) -> dict[str, Any]:
    """Worker (a fresh process, so that no freed heap of another call hides growth): one call's peak MB."""
    calls = setup(args)["calls"]
    _, mb = pc.peak_memory_mb(calls[args["impl"]])
    return {"peak_mb": mb}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--q", type=int, default=1000, help="queries")
    ap.add_argument("--n", type=int, default=200_000, help="items")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds after the warm-up")
    ap.add_argument("--threads", default="1,2,all", help="thread counts, e.g. 1,2,all")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/perf")
    a = ap.parse_args(argv)
    import numpy as np

    args = {"n": a.n, "q": a.q, "d": a.d, "k": a.k, "seed": a.seed}
    data = setup(args)
    x, q, calls, k = data["x"], data["q"], data["calls"], a.k
    threads = pc.thread_counts(a.threads)
    figures: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    ratios_of_min: dict[str, float] = {}
    memory: dict[str, float] = {}
    agreement: dict[str, float] = {}
    exact = brute_force(q, x, k)
    for t in threads:
        pc.set_threads(t)
        times = pc.interleaved(calls, a.repeats, warmup=1)
        for name, secs in times.items():
            figures[f"{name}@{t}t"] = {**pc.timing(secs, per=a.q), "threads": t}
            print(f"{name:>8} @{t}t: median {pc.median(secs):.3f} s, min {min(secs):.3f} s", flush=True)
        med, best = pc.peer_ratios(times, "library", ["sklearn", "faiss"], suffix=f"@{t}t")
        ratios.update(med)
        ratios_of_min.update(best)
    for name, call in calls.items():  # one call each, for agreement; memory in a fresh process
        agreement[f"{name}_equal_ids_vs_brute_force"] = float((np.asarray(call()) == exact).mean())
        memory[name] = mb = pc.run_worker(Path(__file__).resolve(), {**args, "impl": name, "threads": threads[-1]})["peak_mb"]
        for f in figures:
            if f.startswith(f"{name}@"):
                figures[f]["peak_mb"] = mb
    ratios["memory_vs_sklearn"] = memory["sklearn"] / max(memory["library"], 1e-9)
    if "faiss" in memory:
        ratios["memory_vs_faiss"] = memory["faiss"] / max(memory["library"], 1e-9)
    goal_t = 2 if 2 in threads else threads[0]
    doc = {
        "device": "cpu",
        "n": a.n,
        "q": a.q,
        "d": a.d,
        "k": a.k,
        "figures": pc.round_floats(figures),
        "ratios": pc.round_floats(ratios),
        "ratios_of_min": pc.round_floats(ratios_of_min),
        "goals": {f"seconds_vs_sklearn@{goal_t}t": 3.0, f"seconds_vs_faiss@{goal_t}t": 1.0, "memory_vs_sklearn": 10.0},
        "agreement": pc.round_floats(agreement, 6),
        "machine": pc.cpu_machine(threads),
        "versions": pc.versions("faiss-cpu", "scikit-learn", "scipy", "threadpoolctl"),
        "notes": [
            f"Q = {a.q} queries against N = {a.n} random unit vectors (d = {a.d}, seeds {a.seed}/{a.seed + 1}), "
            f"k = {k}; all implementations in one process, {a.repeats} interleaved rounds after one warm-up "
            "round at each thread count; figures are the median and min seconds, ratios the median of "
            "per-round ratios (ratios_of_min: min over min), > 1 when the library is faster.",
            "faiss's index is built (the items copied in) before the timing, so its figure is the search "
            "alone; the library normalises queries and items inside its call. peak_mb: growth of the peak "
            "resident set (VmHWM reset before the call) over the resident set before it, one call in a "
            "fresh process per implementation (data made, faiss index built, before the reset).",
            "equal_ids_vs_brute_force: share of neighbour ids equal position by position with an exact "
            "float64 brute force (score descending, ties by the lower id).",
        ],
    }
    return pc.write_and_show("topk", doc, a.out_dir)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        pc.worker_main(memory_worker)
    else:
        sys.exit(main())
