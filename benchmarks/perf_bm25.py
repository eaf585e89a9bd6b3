"""Performance benchmark ``bm25``: index build and top-10 retrieval over the Home Depot catalogue.

In one process, interleaved (each round runs every implementation once, the
order rotating), ``--repeats`` rounds after a warm-up, at each thread count of
``--threads``:

* build -- ``library``: ``BM25Scorer(k1, b, idf="lucene").fit(titles)`` (its
  own tokenisation included); ``rank_bm25``: the same tokenisation
  (``baselines.text.Tokenizer.words``, what the library's word analyzer
  produces) then ``BM25Okapi(tokens, k1, b)``; ``bm25s``: the same tokens then
  ``BM25(method="lucene", k1, b).index(tokens)``;
* query -- ``library``: ``scorer.top_k(queries, 10)`` (query tokenisation
  included); ``bm25s``: ``retrieve(query_tokens, k=10, n_threads=threads)`` on
  the same tokens, tokenised before the timing (so bm25s is not charged for
  it); ``rank_bm25``: ``get_top_n`` on ``--rank-bm25-queries`` of them (it
  scores every document in Python), reported per query.

Same parameters: k1 = 1.2, b = 0.75 and the Lucene idf ln(1 + (N - df + 0.5) /
(df + 0.5)) -- bm25s's ``method="lucene"`` is that formula without the
constant (k1 + 1) factor, which changes no ranking (``score_ratio`` checks it).
rank_bm25's BM25Okapi uses the Robertson idf with a floor, so its rankings are
not compared. Agreement with bm25s: ``top10_overlap`` (share of bm25s's top 10
the library returns too) and ``top10_overlap_tie_aware`` (a document bm25s
returns that the library does not counts as agreeing when its library score
equals the library's 10th score: a tie broken differently -- the library gives
it to the lower catalogue position).

    python benchmarks/perf_bm25.py --data-dir ../shared/data --threads 1,2,all
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _perf_common as pc  # noqa: E402  (also puts the repository root on sys.path)

K1, B, K = 1.2, 0.75, 10


def load(data_dir: str | None, n_queries: int, seed: int) -> tuple[list[str], list, list[str]]:
    """Catalogue titles, their ids, and a seeded sample of distinct judged queries."""
    import numpy as np

    from tagrank.eval.datasets import load_dataset

    ds = load_dataset("homedepot", data_dir)
    titles = ds.items["text"].astype(str).tolist()
    ids = ds.items["item_id"].tolist()
    queries = sorted(set(ds.judgments["query"].astype(str)))
    if n_queries and n_queries < len(queries):
        pick = np.random.default_rng(seed).choice(len(queries), size=n_queries, replace=False)
        queries = [queries[i] for i in sorted(pick)]
    return titles, ids, queries


def overlap(lib_idx, lib_scores, peer_idx, scorer, queries, titles) -> dict[str, float]:
    """Share of the peer's top k the library returns too, plain and counting ties at the library's k-th score."""
    import numpy as np

    plain, tie_aware = [], []
    for i, query in enumerate(queries):
        mine, theirs = set(lib_idx[i].tolist()), [int(d) for d in peer_idx[i]]
        plain.append(len(mine & set(theirs)) / K)
        missing = [d for d in theirs if d not in mine]
        if missing:
            their_scores = scorer.score_pairs([query] * len(missing), [titles[d] for d in missing])
            tied = np.isclose(their_scores, lib_scores[i, -1], rtol=1e-9, atol=1e-12)
            tie_aware.append((K - len(missing) + int(tied.sum())) / K)
        else:
            tie_aware.append(1.0)
    return {"top10_overlap": float(np.mean(plain)), "top10_overlap_tie_aware": float(np.mean(tie_aware))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="the shared data folder")
    ap.add_argument("--queries", type=int, default=2000, help="distinct judged queries (seeded sample); 0 = all")
    ap.add_argument("--rank-bm25-queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2,all")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/perf")
    a = ap.parse_args(argv)
    import bm25s
    import numpy as np
    import rank_bm25

    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.baselines.text import Tokenizer

    titles, ids, queries = load(a.data_dir, a.queries, a.seed)
    words = Tokenizer().words  # what BM25Scorer's default word analyzer produces
    query_tokens = [words(q) for q in queries]
    state: dict[str, Any] = {}

    def build_library():
        state["library"] = BM25Scorer(k1=K1, b=B, idf="lucene").fit(titles, ids)

    def build_rank_bm25():
        state["rank_bm25"] = rank_bm25.BM25Okapi([words(t) for t in titles], k1=K1, b=B)

    def build_bm25s():
        index = bm25s.BM25(method="lucene", k1=K1, b=B)
        index.index([words(t) for t in titles], show_progress=False)
        state["bm25s"] = index

    builds = {"library": build_library, "rank_bm25": build_rank_bm25, "bm25s": build_bm25s}
    threads = pc.thread_counts(a.threads)
    figures: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    ratios_of_min: dict[str, float] = {}
    out: dict[str, Any] = {}
    small = query_tokens[: a.rank_bm25_queries]
    for t in threads:
        pc.set_threads(t)
        times = pc.interleaved(builds, a.repeats, warmup=1)
        for name, secs in times.items():
            figures[f"build_{name}@{t}t"] = {**pc.timing(secs, per=len(titles)), "threads": t}
        med, best = pc.peer_ratios(times, "library", ["rank_bm25", "bm25s"], suffix=f"@{t}t")
        ratios.update({f"build_{k}": v for k, v in med.items()})
        ratios_of_min.update({f"build_{k}": v for k, v in best.items()})

        def query_library():
            out["library"] = state["library"].top_k(queries, K)

        def query_bm25s(n=t):
            out["bm25s"] = state["bm25s"].retrieve(query_tokens, k=K, show_progress=False, n_threads=n)

        def query_rank_bm25():
            index = state["rank_bm25"]
            for tokens in small:
                index.get_top_n(tokens, titles, n=K)

        times = pc.interleaved({"library": query_library, "bm25s": query_bm25s}, a.repeats, warmup=1)
        for name, secs in times.items():
            figures[f"query_{name}@{t}t"] = {**pc.timing(secs, per=len(queries)), "threads": t}
        med, best = pc.peer_ratios(times, "library", ["bm25s"], suffix=f"@{t}t")
        ratios.update({f"query_{k}": v for k, v in med.items()})
        ratios_of_min.update({f"query_{k}": v for k, v in best.items()})
        rb = pc.interleaved({"rank_bm25": query_rank_bm25}, max(1, a.repeats // 2), warmup=0)["rank_bm25"]
        per_query = [s / len(small) for s in rb]
        figures[f"query_rank_bm25@{t}t"] = {**pc.timing(per_query), "per_s_median": 1 / pc.median(per_query),
                                           "queries_timed": len(small), "threads": t}
        lib_per_query = pc.median(times["library"]) / len(queries)
        ratios[f"query_seconds_vs_rank_bm25@{t}t"] = pc.median(per_query) / lib_per_query
        print(f"@{t}t: " + ", ".join(f"{k} {v:.3g}" for k, v in ratios.items() if k.endswith(f"@{t}t")), flush=True)

    lib_ids, lib_scores = out["library"]
    position = state["library"].id_index_  # the library returns catalogue ids: back to row positions
    lib_idx = np.asarray([[position[i] for i in row] for row in lib_ids], dtype=np.int64)
    bm_idx, bm_scores = out["bm25s"]
    agreement = overlap(lib_idx, lib_scores, bm_idx, state["library"], queries, titles)
    both = lib_idx[:, 0] == bm_idx[:, 0]
    positive = both & (lib_scores[:, 0] > 0)
    agreement["score_ratio_library_over_bm25s_top1"] = float(
        np.median(lib_scores[positive, 0] / bm_scores[positive, 0])) if positive.any() else None
    agreement["expected_score_ratio_k1_plus_1"] = K1 + 1
    goal_t = 2 if 2 in threads else threads[0]
    doc = {
        "device": "cpu",
        "n": len(titles),
        "queries": len(queries),
        "k": K,
        "params": {"k1": K1, "b": B, "idf": "lucene (bm25s method='lucene')"},
        "backends": {"bm25s": "numpy (numba not installed)" if "numba" not in sys.modules else "numba"},
        "figures": pc.round_floats(figures),
        "ratios": pc.round_floats(ratios),
        "ratios_of_min": pc.round_floats(ratios_of_min),
        "goals": {f"build_seconds_vs_rank_bm25@{goal_t}t": 1.0, f"query_seconds_vs_bm25s@{goal_t}t": 1.0,
                  "top10_overlap_tie_aware": 0.99},
        "agreement": pc.round_floats(agreement, 6),
        "machine": pc.cpu_machine(threads),
        "versions": pc.versions("bm25s", "rank-bm25", "scipy"),
        "notes": [
            f"Home Depot catalogue ({len(titles)} product titles) and {len(queries)} distinct judged queries "
            f"(seeded sample, seed {a.seed}); k1 = {K1}, b = {B}, Lucene idf; every implementation on the same "
            "tokens (the library's tokenizer); in one process, interleaved rounds after one warm-up round at each "
            "thread count; figures median and min seconds, ratios the median of per-round ratios (> 1: the "
            "library is faster).",
            "build: the library's time includes tokenising the titles; so do the peers' (same tokenizer). "
            "query: the library's time includes tokenising the queries, bm25s gets them tokenised. "
            f"rank_bm25 queries are timed on the first {len(small)} queries and compared per query.",
        ],
    }
    return pc.write_and_show("bm25", doc, a.out_dir)


if __name__ == "__main__":
    sys.exit(main())
