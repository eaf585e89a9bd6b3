"""Why the ``search`` rerank hybrid ties ``transformer_ft``: a grid over its LightGBM parameters.

Rebuilds the rerank hybrid's training data as ``tagrank bench`` does with the
default ``fit_on="crossfit"``: the judged train pairs, with ``transformer_ft``
scored by the fold model that did not learn the query (the fine-tuned model
directories the bench wrote under ``<cache>/finetuned/``), valid and test pairs
scored by the full model. Then it fits the rerank ranker with each parameter set
of ``GRID`` (early-stopped on valid, as the pipeline does) and prints NDCG@10
on valid -- the selection metric -- and on test, next to ``transformer_ft``
alone. Nothing is written to the results files: this is evidence for the
issue's "find out why", not a benchmark table.

    python benchmarks/rerank_grid.py --data-dir ../shared/data \\
        --ft .tagrank_cache/finetuned/search-homedepot-mnrl-<full> \\
        --fold .tagrank_cache/finetuned/search-homedepot-mnrl-fold0-<id> \\
        --fold .tagrank_cache/finetuned/search-homedepot-mnrl-fold1-<id>
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

GRID: list[dict] = [
    {},  # the pipeline's defaults
    {"learning_rate": 0.02},
    {"learning_rate": 0.02, "num_leaves": 7, "min_child_samples": 100},
    {"learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 100},
    {"learning_rate": 0.02, "num_leaves": 15, "min_child_samples": 50, "feature_fraction": 0.7,
     "bagging_fraction": 0.8, "bagging_freq": 1},
    {"learning_rate": 0.02, "num_leaves": 7, "min_child_samples": 200, "feature_fraction": 0.5, "lambda_l2": 10.0},
    {"learning_rate": 0.02, "num_leaves": 31, "min_child_samples": 100, "feature_fraction": 0.5,
     "early_stopping_rounds": 100},
    {"grade_rule": 3.0},
]
SOURCES = ("jaccard", "tfidf", "bm25", "word2vec", "transformer")


def ndcg10(frame: pd.DataFrame, scores: np.ndarray) -> float:
    """Mean NDCG@10 (gain = relevance - 1) over the queries with two different labels and a positive gain."""
    from tagrank.eval.metrics import ndcg_at_k

    f = frame.assign(s=scores, g=frame["label"] - 1.0)
    values = []
    for _, group in f.groupby("query", sort=True):
        if group["g"].max() <= 0 or group["label"].nunique() < 2:
            continue
        order = group.sort_values("s", ascending=False, kind="stable")
        values.append(ndcg_at_k(order["item_id"].tolist(), dict(zip(group["item_id"], group["g"], strict=True)), 10))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--ft", required=True, help="the full transformer_ft model directory")
    parser.add_argument("--fold", action="append", required=True, help="fold model directories, in fold order")
    parser.add_argument("--cache-dir", default=".tagrank_cache")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tagrank.eval.datasets import load_dataset
    from tagrank.eval.finetune_methods import _scorer_class
    from tagrank.eval.methods import MethodContext, methods_for
    from tagrank.eval.splits import TEST, TRAIN, VALID
    from tagrank.eval.tasks.search import SearchData
    from tagrank.hybrid.crossfit import CrossFittedScorer, query_folds
    from tagrank.hybrid.pipelines import SearchPipeline, _informative
    from tagrank.hybrid.ranker import HybridRanker

    data = SearchData(load_dataset("homedepot", args.data_dir))
    ctx = MethodContext(task="search", dataset="homedepot", device="cpu", random_state=args.seed,
                        cache_dir=args.cache_dir, show_progress=False, data={"search": data})
    scorers = {}
    for spec in methods_for("search", list(SOURCES)):
        if spec.name in SOURCES:
            est = spec.build(ctx)
            scorers[spec.name] = est if hasattr(est, "ids_") else est.fit(data.item_texts, data.item_ids)

    def finetuned(path: str):
        return _scorer_class()(model=path, pooling="mean", normalize=True, max_length=64, device="cpu",
                               show_progress=False, cache_dir=args.cache_dir).fit(data.item_texts, data.item_ids)

    scorers["transformer_ft"] = finetuned(args.ft)

    def judged(split: str) -> pd.DataFrame:
        part = data.parts[split]
        return pd.DataFrame({"query": part["key"], "item_id": part["item_id"], "label": part["label"]})

    train, valid, test = judged(TRAIN), judged(VALID), judged(TEST)
    folds = query_folds(train["query"].tolist(), len(args.fold))
    crossed = CrossFittedScorer(scorers["transformer_ft"],
                                [(finetuned(path), keys) for path, keys in zip(args.fold, folds, strict=True)])
    # a small retrieve part: only the rerank rows are used below
    pipe = SearchPipeline(scorers, max_train_queries=30, max_valid_queries=10, language="en", random_state=args.seed)
    pipe.fit_fitted(data.item_ids, data.item_texts, train, valid=valid, train_scorers={"transformer_ft": crossed})
    rtrain = pipe._rerank_frame(pipe._judgments(train, "train"), exclude_self=True,
                                builder=pipe._builder({**scorers, "transformer_ft": crossed}).fit())
    rvalid = pipe._rerank_frame(pipe._judgments(valid, "valid"), exclude_self=False)
    rtest = pipe._rerank_frame(pipe._judgments(test, "test"), exclude_self=False)
    features = list(pipe.rerank_feature_names_)
    print(f"rows: train {len(rtrain)}, valid {len(rvalid)}, test {len(rtest)}")
    print(f"transformer_ft alone: valid {ndcg10(rvalid, rvalid['transformer_ft'].to_numpy()):.4f} "
          f"test {ndcg10(rtest, rtest['transformer_ft'].to_numpy()):.4f}")
    base = pipe._ranker().get_params()
    for overrides in GRID:
        model = HybridRanker(**{**base, **overrides}).fit(rtrain, "query", "item_id", "label", feature_cols=features,
                                                          valid=_informative(rvalid))
        print(f"{json.dumps(overrides)} trees {model.best_iteration_} valid {ndcg10(rvalid, model.predict(rvalid)):.4f} "
              f"test {ndcg10(rtest, model.predict(rtest)):.4f}", flush=True)


if __name__ == "__main__":
    main()
