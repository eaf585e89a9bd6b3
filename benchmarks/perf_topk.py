"""Performance benchmark ``topk``: k nearest neighbours of every item among N unit vectors.

Implementations (each in a fresh subprocess, see ``_perf_common``):

* ``library``: ``baselines.vectors.top_k(X, X, k, exclude=identity)`` (exact,
  chunked, bounded memory);
* ``sklearn``: the textbook recipe ``S = cosine_similarity(X)`` (float32 in,
  float32 out) then ``np.argsort(-S, axis=1)[:, 1:k+1]``. It holds the N x N
  matrix, its negation and the N x N int64 argsort at once (~16 N^2 bytes), so
  it runs at the largest N that fits the machine (``--sklearn-n``, default:
  automatic from MemAvailable) -- the library and faiss are measured at that
  N too, for the ``*_vs_sklearn`` ratios;
* ``faiss``: ``IndexFlatIP`` (exact inner product), ``search(X, k + 1)`` with
  the item itself dropped.

Agreement: the mean share of each row's k neighbours that two implementations
both return (order and exact ties aside), and the share of equal entries
position by position.

    python benchmarks/perf_topk.py                 # N=50,000, d=384, k=10, CPU
    python benchmarks/perf_topk.py --device cuda   # library on the GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _perf_common as pc  # noqa: E402  (also puts the repository root on sys.path)

SCRIPT = Path(__file__).resolve()


def make_vectors(n: int, d: int, seed: int):
    """Seeded random unit vectors, float32, built without a float64 temporary."""
    import numpy as np

    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def drop_self(idx, k: int):
    """From [n, k+1] neighbour lists, remove each row's own index (else the last column)."""
    import numpy as np

    n = idx.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    rows = np.arange(n)
    for r in rows:
        row = idx[r]
        keep = row[row != r]
        out[r] = keep[:k]
    return out


def run(args: dict[str, Any]) -> dict[str, Any]:
    """Worker: one implementation at one N; saves the neighbours to args['out']."""
    import numpy as np
    import torch

    impl, n, d, k, device = args["impl"], args["n"], args["d"], args["k"], args["device"]
    x = make_vectors(n, d, args["seed"])
    threads = torch.get_num_threads()
    if impl == "library":
        import scipy.sparse as sp

        from tagrank.baselines.vectors import top_k

        top_k(x[:256], x, k=k, device=device)  # warm-up: kernels, thread pool
        exclude = sp.identity(n, format="csr", dtype=np.float32)
        with pc.Measure(device) as m:
            idx, _ = top_k(x, x, k=k, device=device, exclude=exclude)
    elif impl == "sklearn":
        from sklearn.metrics.pairwise import cosine_similarity

        cosine_similarity(x[:256])  # warm-up
        with pc.Measure("cpu") as m:
            s = cosine_similarity(x)
            idx = np.argsort(-s, axis=1)[:, 1 : k + 1]
            del s
    elif impl == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        warm = faiss.IndexFlatIP(d)
        warm.add(x[:256])
        warm.search(x[:256], k + 1)
        with pc.Measure("cpu") as m:
            index = faiss.IndexFlatIP(d)
            index.add(x)
            _, raw = index.search(x, k + 1)
            del index
        idx = drop_self(raw, k)
    else:
        raise ValueError(impl)
    np.save(args["out"], np.asarray(idx, dtype=np.int64))
    return {"seconds": m.seconds, "peak_mb": m.peak_mb, "threads": threads}


def agreement(a, b) -> dict[str, float]:
    import numpy as np

    k = a.shape[1]
    overlap = np.mean([len(set(x.tolist()) & set(y.tolist())) / k for x, y in zip(a, b, strict=True)])
    return {"set_overlap": float(overlap), "equal_entries": float((a == b).mean())}


def auto_sklearn_n(n: int) -> int:
    """Largest N (a multiple of 5,000, <= n) whose ~16 N^2 bytes fit in 60% of MemAvailable."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        return min(n, 20_000)
    fit = int((0.6 * avail / 16) ** 0.5)
    return max(5_000, min(n, fit // 5_000 * 5_000))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="device of the library's top_k (cpu | cuda)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating library/faiss rounds at N")
    ap.add_argument("--sklearn-n", default="auto", help="N for the sklearn recipe: auto | an int | 0 (skip)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch (and faiss) threads in every worker; 0 = torch's default")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/perf")
    a = ap.parse_args(argv)
    import numpy as np

    try:
        import faiss  # noqa: F401

        have_faiss = True
    except ImportError:
        have_faiss = False
    load_start = [round(x, 2) for x in os.getloadavg()]
    sk_n = auto_sklearn_n(a.n) if a.sklearn_n == "auto" else int(a.sklearn_n)
    base = {"d": a.d, "k": a.k, "seed": a.seed, "device": a.device, "threads": a.threads}
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def go(impl: str, n: int, tag: str) -> dict[str, Any]:
            out = str(Path(tmp) / f"{tag}.npy")
            res = pc.run_worker(SCRIPT, {**base, "impl": impl, "n": n, "out": out})
            res["idx_path"] = out
            runs.setdefault(tag, []).append(res)
            print(f"{tag:>16}: {res['seconds']:8.2f} s  peak {res['peak_mb']:9.1f} MB", flush=True)
            return res

        for _ in range(a.repeats):
            go("library", a.n, "library")
            if have_faiss:
                go("faiss", a.n, "faiss")
        if sk_n:
            go("library", sk_n, "library@sklearn_n")
            if have_faiss:
                go("faiss", sk_n, "faiss@sklearn_n")
            go("sklearn", sk_n, "sklearn")  # once: it is the slow, memory-hungry one

        def idx(tag: str):
            return np.load(runs[tag][-1]["idx_path"])

        def fig(tag: str, n: int) -> dict[str, Any]:
            secs = [r["seconds"] for r in runs[tag]]
            return {
                "n": n,
                "seconds": pc.median(secs),
                "seconds_runs": secs,
                "peak_mb": pc.median([r["peak_mb"] for r in runs[tag]]),
                "threads": runs[tag][-1]["threads"],
            }

        figures = {"library": fig("library", a.n)}
        ratios: dict[str, float] = {}
        agree: dict[str, Any] = {}
        if have_faiss:
            figures["faiss"] = fig("faiss", a.n)
            ratios["seconds_vs_faiss"] = pc.paired_ratio(
                [r["seconds"] for r in runs["library"]], [r["seconds"] for r in runs["faiss"]], higher_is_better=False
            )
            agree["library_vs_faiss"] = agreement(idx("library"), idx("faiss"))
        if sk_n:
            figures["library@sklearn_n"] = fig("library@sklearn_n", sk_n)
            figures["sklearn"] = fig("sklearn", sk_n)
            lib, sk = runs["library@sklearn_n"][-1], runs["sklearn"][-1]
            ratios["seconds_vs_sklearn"] = sk["seconds"] / lib["seconds"]
            ratios["memory_vs_sklearn"] = sk["peak_mb"] / max(lib["peak_mb"], 1e-9)
            agree["library_vs_sklearn"] = agreement(idx("library@sklearn_n"), idx("sklearn"))
            if have_faiss:
                figures["faiss@sklearn_n"] = fig("faiss@sklearn_n", sk_n)
                agree["library_vs_faiss@sklearn_n"] = agreement(idx("library@sklearn_n"), idx("faiss@sklearn_n"))
    for f in figures.values():
        f["neighbours_per_s"] = f["n"] / f["seconds"]
    notes = [
        f"k = {a.k} neighbours of every item (itself excluded) among N random unit vectors "
        f"(d = {a.d}, seed {a.seed}); each implementation in a fresh subprocess; peak_mb = growth of "
        "the peak resident set (ru_maxrss, reset before the call) over the resident set before it.",
        f"library and faiss: {a.repeats} alternating rounds at N = {a.n}; figures are medians, "
        "seconds_vs_faiss the median of the per-round ratios.",
    ]
    if sk_n:
        notes.append(
            f"The textbook sklearn recipe (cosine_similarity + argsort) holds ~16 N^2 bytes "
            f"(~{16 * a.n**2 / 2**30:.0f} GiB at N = {a.n}); it was run once at N = {sk_n}, the largest "
            "multiple of 5,000 fitting 60% of the available memory, and the *_vs_sklearn ratios "
            f"compare it with the library at that same N."
        )
    notes.append(
        f"Workers ran with {a.threads or 'the default number of'} torch/faiss thread(s) (--threads); "
        f"load average at start {load_start} on {os.cpu_count()} cores (a machine shared with other jobs)."
    )
    doc = {
        "device": a.device,
        "n": a.n,
        "d": a.d,
        "k": a.k,
        "sklearn_n": sk_n,
        "figures": pc.round_floats(figures),
        "ratios": pc.round_floats(ratios),
        "goals": {"seconds_vs_sklearn": 3.0, "memory_vs_sklearn": 10.0, "seconds_vs_faiss": 1 / 1.5},
        "agreement": pc.round_floats(agree),
        "machine": {**pc.machine(a.device, a.threads), "loadavg_at_start": load_start},
        "versions": pc.versions("faiss-cpu", "scikit-learn", "scipy"),
        "notes": notes,
    }
    path = pc.write_perf("topk", doc, a.out_dir)
    print(f"wrote {path}")
    for name, value in ratios.items():
        print(f"{name}: {value:.3g}")
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        pc.worker_main(run)
    else:
        sys.exit(main())
