"""Evidence for RecommendPipeline's default ``inner_split``: both recommend protocols x both inner splits.

For each outer protocol (temporal, random) and each inner split (temporal,
random) this runs the recommend protocol on one dataset with every recommend
method, the hybrid learning its ranker on the given inner split of train
(``eval.hybrid_methods._recommend(inner_split=...)``), and records the hybrid
as served (after its guard), its raw learned ranker, and the best single
method, on ndcg@10 / recall@10 / precision@10 with the paired t-test p-values.
The cells where the inner split matches the protocol are what ``tagrank bench``
runs; ``--cells mismatched`` runs only the other two (their numbers for the
matched cells are read from the committed results files).

    .venv/bin/python benchmarks/recommend_inner_split.py --data-dir /work/shared/data \\
        --dataset movielens --out benchmarks/evidence/recommend_inner_split_movielens.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

from tagrank.eval.datasets import load_dataset
from tagrank.eval.hybrid_methods import _recommend
from tagrank.eval.methods import MethodContext, MethodSpec, methods_for
from tagrank.eval.tasks import recommend

METRICS = ("ndcg@10", "recall@10", "precision@10")


def _hybrid_spec(inner_split: str) -> MethodSpec:
    """The benchmark hybrid with a fixed inner split; its raw ranker scored as the variant ``raw model``."""

    def factory(ctx: MethodContext, **params: Any):
        est = _recommend(ctx, ablation=False, inner_split=inner_split, **params)
        raw = copy.copy(est.pipeline.ranker_)
        raw.served_ = "model"  # the learned ranker, whatever the guard serves
        est.pipeline.ablation_ = {"raw model": raw}
        return est

    return MethodSpec("hybrid", "task", {"recommend": factory}, ("recommend",))


def _summary(doc: dict[str, Any], inner: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    methods = doc["methods"]
    singles = {n: m for n, m in methods.items() if n not in ("hybrid", "random")}
    hyb = methods["hybrid"]
    out = {
        "protocol": doc["split"].get("protocol", "temporal"), "inner_split": inner,
        "hybrid": {m: hyb["metrics"].get(m) for m in METRICS},
        "served": hyb["params"].get("served"),
        "guard_scores": hyb["params"].get("guard", {}).get("scores"),
        "best_single": {m: max(singles, key=lambda n: singles[n]["metrics"].get(m, -1.0)) for m in METRICS},
        "best_single_value": {m: max(s["metrics"].get(m, -1.0) for s in singles.values()) for m in METRICS},
        "hybrid_vs_best": doc.get("hybrid_vs_best"),
        "hybrid_vs_best_by_metric": doc.get("hybrid_vs_best_by_metric"),
    }
    if raw is not None:
        out["raw_model"] = raw
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--dataset", default="movielens")
    ap.add_argument("--cells", choices=("all", "mismatched"), default="mismatched")
    ap.add_argument("--results", default="benchmarks/results", help="committed results (matched cells)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    dataset = load_dataset(args.dataset, Path(args.data_dir))
    pos = recommend.positives_of(dataset)
    specs = [s for s in methods_for("recommend") if s.name != "hybrid"]
    rows = []
    cells = [(p, i) for p in recommend.PROTOCOLS for i in ("temporal", "random")]
    for protocol, inner in cells:
        if args.cells == "mismatched" and inner == protocol:
            continue
        start = time.perf_counter()
        ctx = MethodContext(task="recommend", dataset=dataset.name, language=dataset.language, device="cpu",
                            cache_dir=Path(".tagrank_cache"), show_progress=False)
        doc = recommend.run_protocol(dataset, [*specs, _hybrid_spec(inner)], ctx, pos, protocol)
        raw = doc.get("ablation", {}).get("raw model")
        rows.append({**_summary(doc, inner, raw), "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps(rows[-1], default=str)[:600], flush=True)
    if args.cells == "mismatched":  # the matched cells: what tagrank bench wrote (same code, same seeds)
        for protocol in recommend.PROTOCOLS:
            name = args.dataset if protocol == "temporal" else f"{args.dataset}-{protocol}"
            doc = json.loads((Path(args.results) / "recommend" / f"{name}.json").read_text())
            rows.append({**_summary(doc, protocol, None), "source": f"{args.results}/recommend/{name}.json"})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "cells": rows}, indent=1, default=str), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
