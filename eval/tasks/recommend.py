"""Task ``recommend``: top-N item recommendation with a per-user temporal split.

Positives: (user, item) pairs (the first time the user interacted positively;
``movielens``/``sample``: rating >= 4). Users with >= 5 positives have their last
``max(1, floor(0.2 n))`` positives (by time, item id) in test. Methods are tuned
by the same rule applied inside train (the last 20% of each user's train
positives = valid), then refitted on all train positives. Items in a user's
train history are never recommended.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.eval import metrics
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodNotApplicable, MethodSpec
from tagrank.eval.results import build_results
from tagrank.eval.splits import TEST, TRAIN, temporal_user_split
from tagrank.eval.tasks.common import (
    Scored,
    Timer,
    ablation_table,
    device_of,
    estimator_extras,
    hybrid_vs_best,
    method_result,
    params_of,
    select_params,
    timed,
)
from tagrank.eval.tasks.search import paired_t_on, summarize

K = 10
PRIMARY = "recall@10"
#: the paired t-test over the same units of the primary metric (per-unit recall@10)
paired_t = paired_t_on(PRIMARY)
RANK_METRICS = ("recall@10", "ndcg@10", "hr@10", "map@10")
COLD_THRESHOLD = 5
#: rating threshold for datasets whose interaction weight is a rating
POSITIVE_RATING = {"movielens": 4.0, "sample": 4.0}


def positives_of(dataset: Dataset) -> pd.DataFrame:
    """One row per (user, item): the first positive interaction."""
    inter = dataset.interactions
    threshold = POSITIVE_RATING.get(dataset.name)
    if threshold is not None:
        inter = inter[inter["weight"] >= threshold]
    inter = inter.sort_values(["user_id", "timestamp", "item_id"], kind="mergesort")
    pos = inter.drop_duplicates(["user_id", "item_id"], keep="first")
    keep = ["user_id", "item_id", "timestamp", "weight", *(["split"] if "split" in pos.columns else [])]
    return pos[keep].reset_index(drop=True)


def split_positives(pos: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): a user's split file where given (its ``split`` column), else the temporal split."""
    if "split" in pos.columns:
        split = pos["split"].to_numpy()
        return (pos[split == TRAIN].drop(columns="split").reset_index(drop=True),
                pos[split == TEST].drop(columns="split").reset_index(drop=True))
    split = temporal_user_split(pos)
    return pos[split == TRAIN].reset_index(drop=True), pos[split == TEST].reset_index(drop=True)


def evaluate_lists(
    users: list[Any], lists: np.ndarray, truth: dict[Any, set], cold: set, catalog_size: int
) -> Scored:
    """recall/ndcg/hr/map@10 per user, coverage@10 and recall@10 on cold test items."""
    run = {str(u): {str(i): float(K - r) for r, i in enumerate(row) if i is not None} for u, row in zip(users, lists, strict=True)}
    qrels = {str(u): {str(i): 1.0 for i in truth[u]} for u in users}
    per_user = metrics.per_query_ranking_metrics(run, qrels, list(RANK_METRICS), relevance_threshold=1.0)
    s = summarize(per_user)
    cov = metrics.coverage_at_k([list(row) for row in lists], catalog_size, K)
    s.metrics["coverage@10"] = float(cov)
    cold_recall = []
    for u, row in zip(users, lists, strict=True):
        cold_items = truth[u] & cold
        if cold_items:
            cold_recall.append(len(cold_items & set(row[:K])) / len(cold_items))
    if cold_recall:
        from tagrank.eval import stats

        v = np.asarray(cold_recall)
        s.metrics["recall@10_cold"] = float(v.mean())
        s.ci95["recall@10_cold"] = list(stats.bootstrap_ci(v, random_state=0))
        s.extra["cold_users"] = len(v)
    return s


def _truth(test: pd.DataFrame) -> dict[Any, set]:
    return {u: set(g) for u, g in test.groupby("user_id", sort=True)["item_id"]}


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext) -> list[dict[str, Any]]:
    """Run every method on one recommend dataset; returns one results document."""
    pos = positives_of(dataset)
    train, test = split_positives(pos)
    inner_train, inner_valid = split_positives(train)
    items = dataset.items
    truth = _truth(test)
    users = sorted(truth)
    counts = train.groupby("item_id").size()
    cold = set(pos["item_id"]) - set(counts[counts >= COLD_THRESHOLD].index)
    catalog_size = int(train["item_id"].nunique())
    ctx = MethodContext(
        task="recommend", dataset=dataset.name, language=dataset.language, device=base_ctx.device,
        random_state=base_ctx.random_state, cache_dir=base_ctx.cache_dir,
        training_texts=base_ctx.training_texts, show_progress=base_ctx.show_progress,
        data={"items": items, "train": train, "inner_train": inner_train, "inner_valid": inner_valid},
    )

    def fit(spec: MethodSpec, params: dict[str, Any], interactions: pd.DataFrame, timer: Timer | None = None):
        with timed(timer or Timer()):
            est = spec.build(ctx, **params)
            if spec.kind == "text":
                from tagrank.baselines.content import ContentRecommender

                est = ContentRecommender(est, device=ctx.device).fit(interactions, items)
            elif spec.kind == "interaction":
                est.fit(interactions)
        return est

    rows, scored, skipped = {}, {}, {}
    ablation: dict[str, Any] = {}
    for spec in tqdm(specs, desc=f"recommend/{dataset.name}", disable=not base_ctx.show_progress):

        def valid_score(params: dict[str, Any], spec: MethodSpec = spec) -> float:
            est = fit(spec, params, inner_train)
            v_truth = _truth(inner_valid)
            v_users = sorted(v_truth)
            lists, _ = est.recommend(v_users, K, exclude_seen=True)
            per = [len(set(row) & v_truth[u]) / len(v_truth[u]) for u, row in zip(v_users, lists, strict=True)]
            return float(np.mean(per))

        fit_t, score_t = Timer(), Timer()
        try:
            chosen, grid_scores = select_params(spec, ctx, valid_score)
            est = fit(spec, chosen, train, fit_t)
        except MethodNotApplicable as exc:
            skipped[spec.name] = str(exc)
            continue
        ctx.fitted[spec.name] = est
        with timed(score_t):
            lists, _ = est.recommend(users, K, exclude_seen=True)
        s = evaluate_lists(users, lists, truth, cold, catalog_size)
        if getattr(est, "ablation_variants", None):  # scoring the variants recomputes the features
            variants = est.recommend_ablation(users, K, exclude_seen=True)
            if len(variants) > 1:
                runs = {v: evaluate_lists(users, ls, truth, cold, catalog_size) for v, (ls, _) in variants.items()}
                ablation = ablation_table(runs.pop(None), runs, PRIMARY, paired_t, ("ndcg@10", "coverage@10"))
        if grid_scores:
            s.extra["valid_grid"] = grid_scores
        s.extra.update(estimator_extras(est))
        scored[spec.name] = s
        rows[spec.name] = method_result(s, fit_t.seconds, score_t.seconds, device_of(est, ctx), params_of(est, chosen))

    split = {
        "unit": "user", "train": int(train["user_id"].nunique()), "valid": int(inner_valid["user_id"].nunique()),
        "test": len(users), "excluded": int(pos["user_id"].nunique() - len(users)),
        "positives_train": len(train), "positives_test": len(test),
        "rule": "per-user temporal: last max(1, floor(0.2 n)) positives of users with >= 5",
    }
    comparison = hybrid_vs_best(scored, PRIMARY, paired_t)
    extra: dict[str, Any] = {"catalog_size": catalog_size, "cold_items": len(cold)}
    if skipped:
        extra["skipped_methods"] = skipped
    if ablation:
        extra["ablation"] = ablation
    return [build_results("recommend", dataset.name, None, PRIMARY, split, rows, comparison, extra)]
