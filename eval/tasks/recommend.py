"""Task ``recommend``: top-N item recommendation, two protocols (settings).

Positives: (user, item) pairs (the first time the user interacted positively;
``movielens``/``sample``: rating >= 4). Items in a user's train history are
never recommended. Each protocol writes its own results file:

* ``temporal`` (``<dataset>.json``): users with >= 5 positives have their last
  ``max(1, floor(0.2 n))`` positives (by time, item id) in test;
* ``random`` (``<dataset>-random.json``): per-user stratified random 75/25 --
  users with >= 5 positives have ``max(1, floor(0.25 n + 0.5))`` positives
  drawn at random (seeded with ``random_state``) in test
  (:func:`eval.splits.random_user_split`), the Microsoft Recommenders protocol.

Methods are tuned (grid points chosen on valid, never test) by the same rule
applied inside train (``inner_valid``; the random protocol draws it with
``random_state + 1``), then refitted on all train positives; the hybrid learns
its ranker on that same inner split, so its inner split always matches the
outer protocol. A dataset with its own ``split`` column runs that split only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import metrics
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodNotApplicable, MethodSpec
from tagrank.eval.results import build_results
from tagrank.eval.splits import TEST, TRAIN, random_user_split, temporal_user_split
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
RANK_METRICS = ("recall@10", "ndcg@10", "precision@10", "hr@10", "map@10")
#: metrics also compared hybrid vs best single with the same paired test (``hybrid_vs_best_by_metric``)
SECONDARY = ("ndcg@10", "precision@10")
PROTOCOLS = ("temporal", "random")
RANDOM_TEST_FRACTION = 0.25
MIN_POSITIVES = 5
RULES = {
    "temporal": "per-user temporal: last max(1, floor(0.2 n)) positives of users with >= 5",
    "random": "per-user stratified random 75/25: max(1, floor(0.25 n + 0.5)) positives of users with >= 5 "
              "drawn with random_state (inner valid: the same rule on train with random_state + 1)",
    "given": "the dataset's own split column",
}
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


def split_positives(
    pos: pd.DataFrame, protocol: str = "temporal", random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): a user's split file where given (its ``split`` column), else the protocol's split."""
    if "split" in pos.columns:
        split = pos["split"].to_numpy()
        return (pos[split == TRAIN].drop(columns="split").reset_index(drop=True),
                pos[split == TEST].drop(columns="split").reset_index(drop=True))
    if protocol == "temporal":
        split = temporal_user_split(pos)
    elif protocol == "random":
        split = random_user_split(pos, RANDOM_TEST_FRACTION, MIN_POSITIVES, random_state)
    else:
        raise TagrankInputError(f"unknown recommend protocol {protocol!r}; known: {PROTOCOLS}")
    return pos[split == TRAIN].reset_index(drop=True), pos[split == TEST].reset_index(drop=True)


def protocol_splits(
    pos: pd.DataFrame, protocol: str, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, test, inner_train, inner_valid) of one protocol; the inner split applies the same rule to train."""
    train, test = split_positives(pos, protocol, random_state)
    inner = "temporal" if protocol == "given" else protocol
    inner_train, inner_valid = split_positives(train, inner, random_state + 1)
    return train, test, inner_train, inner_valid


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


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext,
        protocols: tuple[str, ...] = PROTOCOLS) -> list[dict[str, Any]]:
    """Run every method on one recommend dataset; one results document per protocol
    (a dataset with its own ``split`` column: that split only)."""
    pos = positives_of(dataset)
    if "split" in pos.columns:
        return [run_protocol(dataset, specs, base_ctx, pos, "given")]
    return [run_protocol(dataset, specs, base_ctx, pos, p) for p in protocols]


def run_protocol(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext, pos: pd.DataFrame,
                 protocol: str) -> dict[str, Any]:
    """Every method under one protocol (``temporal``, ``random`` or ``given``); one results document."""
    train, test, inner_train, inner_valid = protocol_splits(pos, protocol, base_ctx.random_state)
    items = dataset.items
    truth = _truth(test)
    users = sorted(truth)
    counts = train.groupby("item_id").size()
    cold = set(pos["item_id"]) - set(counts[counts >= COLD_THRESHOLD].index)
    catalog_size = int(train["item_id"].nunique())
    ctx = base_ctx.for_dataset(
        "recommend", dataset,
        data={"items": items, "train": train, "inner_train": inner_train, "inner_valid": inner_valid,
              "protocol": "temporal" if protocol == "given" else protocol},
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
    for spec in tqdm(specs, desc=f"recommend/{dataset.name}/{protocol}", disable=not base_ctx.show_progress):

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
        "rule": RULES[protocol], "protocol": protocol,
    }
    comparison = hybrid_vs_best(scored, PRIMARY, paired_t)
    extra: dict[str, Any] = {"catalog_size": catalog_size, "cold_items": len(cold)}
    by_metric = {m: hybrid_vs_best(scored, m, paired_t_on(m)) for m in SECONDARY}
    if any(by_metric.values()):
        extra["hybrid_vs_best_by_metric"] = by_metric
    if "hybrid" in rows and "served" in rows["hybrid"].params:
        extra["hybrid_served"] = rows["hybrid"].params["served"]
    if skipped:
        extra["skipped_methods"] = skipped
    if ablation:
        extra["ablation"] = ablation
    setting = "random" if protocol == "random" else None
    return build_results("recommend", dataset.name, setting, PRIMARY, split, rows, comparison, extra)
