"""Scale-out on Dask: 1 worker x 1 thread vs 2 workers x 1 thread vs one process with 2 threads.

Writes ``benchmarks/results/perf/scaleout.json`` (spec: "Performance benchmarks").
Three jobs, each run the three ways in alternating rounds (so load from other
processes on a shared machine hits all alike; figures are medians over rounds,
ratios medians of per-round ratios):

* ``encode``: Home Depot product titles (the first ``--encode-n`` distinct ones)
  through the default encoder in float32 (the goal is fp32; "auto" would be bfloat16
  on an AMX CPU), :func:`hybrid.dask_encode.encode_dask` on the cluster vs
  ``TransformerEncoder.encode`` in the process;
* ``topk``: exact top-10 of ``--topk-q`` queries among ``--topk-n`` unit vectors
  (384-d, seeded), :func:`hybrid.dask_topk.dask_top_k` over shards already placed
  on the workers vs :func:`baselines.vectors.top_k`;
* ``ranker``: LambdaRank on Home Depot pairwise features (BM25, TF-IDF, Jaccard
  and text statistics from :class:`hybrid.features.FeatureBuilder` for every judged
  (query, product) pair; 80% of the queries train, 20% test),
  :func:`hybrid.dask_ranker.fit_ranker_dask` on a frame already on the workers, partitioned by
  query (``--ranker-candidates K`` adds each query's BM25 top-K unjudged products, gain 0) vs
  ``HybridRanker.fit``; the same number of trees, no early stopping.

Equality checks are recorded in the file: encode max abs difference (cluster vs
process), top-k ids / scores equal to the single-machine ``top_k`` run with the
workers' BLAS thread count (and vs 2 threads), ranker ndcg@10 on the test queries
(cluster vs process). ``sizing`` turns the measured per-worker throughput into
workers needed for a nightly run within one hour and memory per worker.

    .venv/bin/python benchmarks/perf_scaleout.py            # full sizes
    .venv/bin/python benchmarks/perf_scaleout.py --quick    # small sizes, to try it out
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf_common import REPO, command, machine, median, round_floats, versions, write_perf  # noqa: E402

GOALS = {
    "encode_2_workers_vs_1": 1.7,
    "topk_2_workers_vs_1": 1.7,
    "ranker_2_workers_vs_1": 1.4,
    # 2 workers x 1 thread at most 1.25x slower than one process with 2 threads: ratio >= 1 / 1.25
    "encode_2x1_vs_1_process_2_threads": 0.8,
    "topk_2x1_vs_1_process_2_threads": 0.8,
    "ranker_2x1_vs_1_process_2_threads": 0.8,
}
WAYS = ("1 worker x 1 thread", "2 workers x 1 thread", "1 process x 2 threads")


def _homedepot(data_dir: Path):
    import pandas as pd

    path = data_dir / "homedepot" / "train.csv"
    return pd.read_csv(path, encoding="latin-1")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_peaks(client: Any) -> float:
    return max(client.run(_peak_rss_mb).values())


class _Threads:
    """The process's torch / BLAS threads set to ``n`` inside the block."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> _Threads:
        import torch
        from threadpoolctl import threadpool_limits

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)
        self.limits = threadpool_limits(self.n)
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        self.limits.unregister() if hasattr(self.limits, "unregister") else self.limits.restore_original_limits()
        torch.set_num_threads(self.before)


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# --------------------------------------------------------------------------- jobs


def encode_job(clients: dict[str, Any], texts: list[str], rounds: int) -> dict[str, Any]:
    import numpy as np
    from tagrank.hybrid.dask_encode import encode_dask
    from tagrank.hybrid.encoder import TransformerEncoder

    enc = TransformerEncoder(device="cpu", dtype="float32", show_progress=False, batch_size=64)  # the goal is fp32
    parts = 32  # small partitions: the scheduler balances them over the workers
    for c in clients.values():  # each worker loads the model once, outside the timings
        c.compute(encode_dask(enc, texts[:64], client=c, npartitions=4)).result()
    with _Threads(2):
        enc.encode(texts[:64])
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    outputs: dict[str, Any] = {}
    for _ in range(rounds):
        for way in WAYS:
            if way in clients:
                t, out = _timed(lambda c=clients[way]: c.compute(encode_dask(enc, texts, client=c,
                                                                         npartitions=parts)).result())
            else:
                with _Threads(2):
                    t, out = _timed(lambda: enc.encode(texts))
            times[way].append(t)
            outputs[way] = out
    diff = max(float(np.abs(outputs[w] - outputs[WAYS[2]]).max()) for w in WAYS[:2])
    return {"times": times, "n": len(texts), "equality": {"encode_max_abs_diff_vs_single_process": diff,
                                                            "encode_equal_within_1e-5": diff <= 1e-5},
            "worker_peak_rss_mb": {w: _worker_peaks(clients[w]) for w in WAYS[:2]}}


def topk_job(clients: dict[str, Any], n: int, q: int, d: int, rounds: int) -> dict[str, Any]:
    import numpy as np
    from tagrank.baselines.vectors import top_k
    from tagrank.hybrid.dask_topk import dask_top_k, shard_items

    rng = np.random.default_rng(0)
    items = rng.standard_normal((n, d)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = rng.standard_normal((q, d)).astype(np.float32)
    placed = {}
    place_s = {}
    for way, c in clients.items():  # the shards live on the workers before the timed queries
        from distributed import wait

        t0 = time.perf_counter()
        placed[way] = shard_items(items, c)
        wait(placed[way].futures)
        place_s[way] = time.perf_counter() - t0
        dask_top_k(queries[:8], placed[way], k=10, client=c)  # warm-up
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    outputs: dict[str, Any] = {}
    for _ in range(rounds):
        for way in WAYS:
            if way in clients:
                t, out = _timed(lambda w=way: dask_top_k(queries, placed[w], k=10, client=clients[w]))
            else:
                with _Threads(2):
                    t, out = _timed(lambda: top_k(queries, items, k=10))
            times[way].append(t)
            outputs[way] = out
    with _Threads(1):
        ref1 = top_k(queries, items, k=10)
    dist = outputs[WAYS[1]]
    two = outputs[WAYS[2]]
    eq = {
        "topk_ids_equal_single_machine_same_threads": bool((dist[0] == ref1[0]).all()),
        "topk_scores_equal_single_machine_same_threads": bool((dist[1] == ref1[1]).all()),
        "topk_ids_equal_single_machine_2_threads": bool((dist[0] == two[0]).all()),
        "topk_ids_agreement_single_machine_2_threads": float((dist[0] == two[0]).mean()),
        "topk_max_score_diff_single_machine_2_threads": float(np.abs(dist[1] - two[1]).max()),
        "topk_1_worker_equal_2_workers": bool((outputs[WAYS[0]][0] == dist[0]).all()
                                              and (outputs[WAYS[0]][1] == dist[1]).all()),
    }
    return {"times": times, "n": n, "q": q, "d": d, "equality": eq, "shard_placement_s": place_s,
            "worker_peak_rss_mb": {w: _worker_peaks(clients[w]) for w in WAYS[:2]}}


def ranker_frames(data_dir: Path, max_queries: int | None, candidates: int = 0) -> tuple[Any, Any]:
    """Home Depot pairwise features of every judged (query, product) pair; 80/20 split by query.

    ``candidates`` > 0 adds each query's BM25 top-``candidates`` products that were not judged for it,
    with the lowest label (gain 0), as the retrieve setting trains: a training set of realistic size."""
    import numpy as np
    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.baselines.jaccard import JaccardScorer
    from tagrank.baselines.tfidf import TfidfScorer
    from tagrank.hybrid.features import FeatureBuilder

    hd = _homedepot(data_dir)
    queries = sorted(hd["search_term"].astype(str).unique())
    rng = np.random.default_rng(0)
    rng.shuffle(queries)
    if max_queries:
        queries = queries[:max_queries]
    hd = hd[hd["search_term"].astype(str).isin(set(queries))]
    products = hd.drop_duplicates("product_uid")
    titles, ids = products["product_title"].astype(str).tolist(), products["product_uid"].tolist()
    scorers = {"bm25": BM25Scorer().fit(titles, ids), "tfidf": TfidfScorer().fit(titles, ids),
               "jaccard": JaccardScorer().fit(titles, ids)}
    pairs = hd[["search_term", "product_uid", "product_title", "relevance"]].astype({"search_term": str})
    if candidates:
        import pandas as pd

        title_of = dict(zip(ids, titles, strict=True))
        top_ids, _ = scorers["bm25"].top_k(queries, k=candidates)
        extra = pd.DataFrame({"search_term": np.repeat(queries, top_ids.shape[1]), "product_uid": top_ids.ravel()})
        extra = extra[pd.notna(extra["product_uid"])].astype({"product_uid": pairs["product_uid"].dtype})
        extra = extra.merge(pairs[["search_term", "product_uid"]], how="left", indicator=True)
        extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
        extra = extra.assign(product_title=extra["product_uid"].map(title_of), relevance=1.0)
        pairs = pd.concat([pairs, extra], ignore_index=True)
    feats = FeatureBuilder(scorers, kind="text").fit().transform(pairs["search_term"].tolist(),
                                                                   pairs["product_title"].astype(str).tolist())
    frame = feats.assign(query=pairs["search_term"].to_numpy(), item_id=pairs["product_uid"].to_numpy(),
                         label=pairs["relevance"].astype(float).to_numpy())
    frame = frame.groupby(["query", "item_id"], as_index=False).first()  # one row per judged pair
    test_q = set(queries[: len(queries) // 5])
    return frame[~frame["query"].isin(test_q)].reset_index(drop=True), frame[frame["query"].isin(test_q)].reset_index(drop=True)


def _ndcg10(frame: Any, scores: Any) -> float:
    import numpy as np

    out = []
    for _, g in frame.assign(s=scores).groupby("query", sort=False):
        gains = g.sort_values("s", ascending=False, kind="mergesort")["label"].to_numpy()[:10] - 1.0
        ideal = np.sort(g["label"].to_numpy() - 1.0)[::-1][:10]
        disc = 1.0 / np.log2(np.arange(2, 12))
        best = float(ideal @ disc[: len(ideal)])
        if best > 0:
            out.append(float(gains @ disc[: len(gains)]) / best)
    return float(np.mean(out))


def ranker_job(clients: dict[str, Any], train: Any, test: Any, rounds: int, trees: int) -> dict[str, Any]:
    import dask.dataframe as dd
    from tagrank.hybrid.dask_ranker import fit_ranker_dask
    from tagrank.hybrid.ranker import HybridRanker

    params = {"n_estimators": trees, "early_stopping_rounds": None, "learning_rate": 0.05, "num_leaves": 31}
    import numpy as np

    # 8 partitions of whole queries, as a candidate-generation step partitioned by query writes them
    # (fit_ranker_dask finds them whole and skips its shuffle)
    keys = np.array_split(np.sort(train["query"].unique()), 8)
    parts = [train[train["query"].isin(set(k))] for k in keys]
    frames = {}
    for way, c in clients.items():  # the training frame is on the workers before the timed fits
        frames[way] = c.persist(dd.concat([dd.from_pandas(p, npartitions=1) for p in parts]))
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    models: dict[str, Any] = {}
    for _ in range(rounds):
        for way in WAYS:
            if way in clients:
                t, m = _timed(lambda w=way: fit_ranker_dask(HybridRanker(**params), frames[w], client=clients[w]))
            else:
                with _Threads(2):
                    t, m = _timed(lambda: HybridRanker(**params, n_jobs=2).fit(train))
            times[way].append(t)
            models[way] = m
    ndcg = {w: _ndcg10(test, models[w].predict(test)) for w in WAYS}
    with _Threads(1):
        one = HybridRanker(**params).fit(train)
    ndcg["1 process x 1 thread"] = _ndcg10(test, one.predict(test))
    diff = abs(ndcg[WAYS[1]] - ndcg["1 process x 1 thread"])
    return {"times": times, "train_rows": len(train), "test_rows": len(test),
            "train_queries": int(train["query"].nunique()), "test_queries": int(test["query"].nunique()),
            "trees": trees, "ndcg@10": ndcg,
            "equality": {"ranker_ndcg10_abs_diff_2_workers_vs_single_machine": diff,
                         "ranker_ndcg10_within_0.005": diff <= 0.005}}


# --------------------------------------------------------------------------- sizing


def sizing(encode: dict[str, Any], topk: dict[str, Any]) -> list[dict[str, Any]]:
    """Workers for a nightly run within one hour, from the measured per-worker throughput (1 worker x 1 thread,
    2 workers x 1 thread / 2 as a cross-check: the smaller of the two)."""
    enc_rate = min(encode["n"] / median(encode["times"][WAYS[0]]),
                   encode["n"] / median(encode["times"][WAYS[1]]) / 2)  # texts / s / worker
    pairs = topk["n"] * topk["q"]
    tk_rate = min(pairs / median(topk["times"][WAYS[0]]), pairs / median(topk["times"][WAYS[1]]) / 2)  # pairs/s/worker
    d = topk["d"]
    base_mb = topk["worker_peak_rss_mb"][WAYS[0]] - topk["n"] * d * 4 / 2**20  # a worker without its shards
    enc_mb = encode["worker_peak_rss_mb"][WAYS[0]]
    rows = []
    for products in (10_000_000, 100_000_000):
        w = math.ceil(products / (enc_rate * 3600))
        rows.append({"job": f"encode {products:,} product titles", "workers_1h": w,
                     "memory_per_worker_mb": round(enc_mb), "per_worker_rate": f"{enc_rate:.0f} texts/s"})
    for products in (10_000_000, 100_000_000):
        users = 10_000_000
        w = math.ceil(users * products / (tk_rate * 3600))
        shard_mb = products * d * 4 / 2**20 / w
        rows.append({"job": f"top-10 of {users:,} users among {products:,} products (d={d})", "workers_1h": w,
                     "memory_per_worker_mb": round(base_mb + shard_mb + 1024 * d * 4 / 2**20),
                     "per_worker_rate": f"{tk_rate:.3g} pairs/s"})
    return rows


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encode-rounds", type=int, default=None,
                        help="rounds of the encode job (default --rounds; it is the longest job)")
    parser.add_argument("--encode-n", type=int, default=20_000)
    parser.add_argument("--topk-n", type=int, default=200_000)
    parser.add_argument("--topk-q", type=int, default=1_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--ranker-candidates", type=int, default=0,
                        help="add each query's BM25 top-K unjudged products (gain 0) to the ranker's rows")
    parser.add_argument("--max-queries", type=int, default=None, help="Home Depot queries for the ranker (default all)")
    parser.add_argument("--jobs", default="topk,ranker,encode")
    parser.add_argument("--quick", action="store_true", help="small sizes (a trial run; not for the results file)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results/perf)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the other jobs' measurements of an existing results file (rerun some jobs only)")
    args = parser.parse_args(argv)
    if args.quick:
        args.encode_n, args.topk_n, args.topk_q, args.trees, args.max_queries, args.rounds = 600, 20_000, 100, 20, 800, 1
    jobs = args.jobs.split(",")
    data_dir = Path(args.data_dir)

    from tagrank.eval.distributed import connect, disconnect

    clients = {WAYS[0]: connect("local:1", activate=False), WAYS[1]: connect("local:2", activate=False)}
    results: dict[str, Any] = previous_results(args.out, jobs) if args.keep else {}
    try:
        for job in jobs:  # the file is rewritten after each job: a cut-short run keeps what it measured
            if job == "topk":
                results["topk"] = topk_job(clients, args.topk_n, args.topk_q, 384, args.rounds)
            elif job == "encode":
                hd = _homedepot(data_dir)
                texts = list(dict.fromkeys(hd["product_title"].astype(str)))[: args.encode_n]
                results["encode"] = encode_job(clients, texts, args.encode_rounds or args.rounds)
            elif job == "ranker":
                train, test = ranker_frames(data_dir, args.max_queries, args.ranker_candidates)
                results["ranker"] = ranker_job(clients, train, test, args.rounds, args.trees)
            else:
                raise SystemExit(f"unknown job {job!r}")
            results[job]["rounds"] = len(next(iter(results[job]["times"].values())))
            # each job says which command measured it and when: with --keep, one file holds several runs
            results[job]["measured_by"] = {"command": command(), "at": datetime.now(UTC).isoformat(timespec="seconds"),
                                           "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}
            print(job, {w: round(median(v), 3) for w, v in results[job]["times"].items()}, flush=True)
            doc = build_doc(results, args)
            if args.quick and args.out is None:
                print(round_floats(doc))
            else:
                print(f"wrote {write_perf('scaleout', round_floats(doc), args.out)}", flush=True)
    finally:
        for c in clients.values():
            disconnect(c)
    return 0


def previous_results(out: str | None, rerun: list[str]) -> dict[str, Any]:
    """The jobs of an existing results file that this run does not redo (``--keep``)."""
    import json

    from _perf_common import RESULTS_DIR

    path = (Path(out) if out else RESULTS_DIR) / "scaleout.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    kept = {}
    for job, times in doc.get("times_per_round_s", {}).items():
        if job in rerun:
            continue
        eq = {k: v for k, v in doc.get("equality", {}).items() if k.startswith(f"{job}_")}
        kept[job] = {"times": times, "equality": eq, **doc.get("details", {}).get(job, {})}
    return kept


def build_doc(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The results file's content from the jobs measured so far."""
    figures: dict[str, dict[str, Any]] = {w: {} for w in WAYS}
    ratios: dict[str, float] = {}
    equality: dict[str, Any] = {}
    for job, res in results.items():
        for w in WAYS:
            figures[w][f"{job}_s"] = median(res["times"][w])
        one, two, proc = (res["times"][w] for w in WAYS)
        ratios[f"{job}_2_workers_vs_1"] = median([a / b for a, b in zip(one, two, strict=True)])
        ratios[f"{job}_2x1_vs_1_process_2_threads"] = median([p / b for p, b in zip(proc, two, strict=True)])
        equality.update(res["equality"])
    if "encode" in results:
        for w in WAYS:
            figures[w]["encode_texts_per_s"] = results["encode"]["n"] / figures[w]["encode_s"]
    doc = {
        "device": "cpu",
        "n": {"encode_texts": results.get("encode", {}).get("n"),
              "topk_items": results.get("topk", {}).get("n"), "topk_queries": results.get("topk", {}).get("q"),
              "ranker_train_rows": results.get("ranker", {}).get("train_rows")},
        "figures": figures,
        "ratios": ratios,
        "goals": {k: v for k, v in GOALS.items() if k in ratios},
        "equality": equality,
        "details": {job: {k: v for k, v in res.items() if k not in ("times", "equality")} for job, res in results.items()},
        "times_per_round_s": {job: res["times"] for job, res in results.items()},
        "machine": machine("cpu", threads=2),
        "versions": versions("dask", "distributed", "lightgbm"),
        "notes": NOTES,
    }
    if "encode" in results and "topk" in results:
        doc["sizing"] = sizing(results["encode"], results["topk"])
    return doc


NOTES = [
    "All three ways run on the same machine, in alternating rounds; the clusters are "
    "LocalCluster(processes=True, threads_per_worker=1). Cluster start-up, model loading on the "
    "workers and placing the top-k shards / the ranker's training frame on the workers are outside "
    "the timings (a nightly job pays them once).",
    "x > 1 means the first-named way is faster: `<job>_2_workers_vs_1` = time(1 worker) / time(2 workers); "
    "`<job>_2x1_vs_1_process_2_threads` = time(one process, 2 threads) / time(2 workers x 1 thread) "
    "(goal >= 0.8: at most 1.25x slower).",
    "top-k exactness: ids and scores are bit-equal to the single-machine top_k run with the workers' "
    "BLAS thread count (1); a 2-thread BLAS rounds some float32 scores differently.",
    "ranker: LightGBM data-parallel over the workers (tree_learner=data), fixed number of trees, no "
    "early stopping; ndcg@10 on held-out Home Depot queries (gain = relevance - 1).",
    "sizing: workers = work / (measured per-worker rate x 3600 s), linear scaling assumed; the rate is the one measured here, so on a loaded shared machine (see machine.loadavg_1_5_15: a worker got only a fraction of a core) it understates a dedicated core and the worker counts are upper bounds. Memory per worker: encode = measured worker peak RSS; top-k = worker without shards + its shard (products x d x 4 B / workers) + one 1,024-query block.",
]


if __name__ == "__main__":
    sys.exit(main())
