"""Task ``search``: product search ranking, settings ``rerank`` and ``retrieve``.

Query key = query text lower-cased and stripped; queries split by the hash of
the key. NDCG gain = relevance - 1 (0..2); binary relevance = relevance >= 2.5.
``rerank`` ranks each test query's judged products (queries whose products all
share one label are excluded and counted). ``retrieve`` ranks the whole
catalogue for each test query with a relevant product; unjudged products have
gain 0; methods return their top 100, evaluated in the order returned (as the
recommend and tagrec lists are; a scored pair in ``rerank`` breaks ties by item id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.eval import metrics, stats
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodNotApplicable, MethodSpec
from tagrank.eval.results import build_results
from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.splits import TEST, TRAIN, VALID, hash_split
from tagrank.eval.tasks.common import (
    CI_SEED,
    N_RESAMPLES,
    FitOnce,
    Scored,
    Timer,
    ablation_table,
    device_of,
    estimator_extras,
    fit_text,
    hybrid_vs_best,
    method_comparisons,
    method_result,
    params_of,
    select_params,
    timed,
)

RELEVANT_LABEL = 2.5
GAIN_OFFSET = 1.0
RERANK_METRICS = ("ndcg@10", "ndcg@5", "map", "mrr")
RETRIEVE_METRICS = ("ndcg@10", "ndcg@5", "map", "mrr", "recall@100")
RETRIEVE_DEPTH = 100
PRIMARY = "ndcg@10"


def prepare(dataset: Dataset) -> pd.DataFrame:
    """Judgments with the query key, its split and the NDCG gain."""
    j = dataset.judgments.copy()
    j["key"] = j["query"].str.lower().str.strip()
    if "split" in j.columns:  # a user's split file: one split per query
        n_splits = j.groupby("key")["split"].nunique()
        if (n_splits > 1).any():
            raise TagrankInputError(f"query {n_splits[n_splits > 1].index[0]!r} is assigned to more than one split")
    else:
        keys = j["key"].unique().tolist()
        split_of = dict(zip(keys, hash_split(keys), strict=True))
        j["split"] = j["key"].map(split_of)
    j["gain"] = j["label"].astype(float) - GAIN_OFFSET
    return j


def qrels_of(j: pd.DataFrame) -> dict[str, dict[str, float]]:
    """query key -> {item id: gain} (duplicate judgments of one pair are averaged)."""
    g = j.groupby(["key", "item_id"], sort=True)["gain"].mean()
    out: dict[str, dict[str, float]] = {}
    for (key, item), gain in g.items():
        out.setdefault(key, {})[item] = float(gain)
    return out


def rerank_queries(j: pd.DataFrame) -> tuple[list[str], int]:
    """Keys of queries with at least two distinct labels, and how many were left out."""
    n_labels = j.groupby("key")["label"].nunique()
    keep = sorted(n_labels[n_labels > 1].index)
    return keep, int((n_labels <= 1).sum())


def retrieve_queries(j: pd.DataFrame) -> tuple[list[str], int]:
    """Keys of queries with a product of relevance >= 2.5, and how many had none."""
    best = j.groupby("key")["label"].max()
    keep = sorted(best[best >= RELEVANT_LABEL].index)
    return keep, int((best < RELEVANT_LABEL).sum())


def evaluate_run(
    run: dict[str, dict[str, float]] | dict[str, list[Any]], qrels: dict[str, dict[str, float]],
    names: tuple[str, ...]
) -> Scored:
    """Per-query metrics of a run of scores (ties broken by item id) or of ranked lists (as given), their
    means and bootstrap intervals."""
    evaluated = {key: qrels[key] for key in sorted(run)}
    per_q = metrics.per_query_ranking_metrics(
        run, evaluated, list(names), relevance_threshold=RELEVANT_LABEL - GAIN_OFFSET
    )
    return summarize(per_q)


def summarize(per_q: pd.DataFrame) -> Scored:
    values, cis, per_unit = {}, {}, {}
    for name in per_q.columns:
        v = per_q[name].to_numpy(float)
        values[name] = float(v.mean())
        cis[name] = list(stats.bootstrap_ci(v, n_resamples=N_RESAMPLES, random_state=CI_SEED))
        per_unit[name] = v
    return Scored(metrics=values, ci95=cis, per_unit=per_unit)


def paired_t_on(metric: str) -> Callable[[Scored, Scored], dict[str, Any]]:
    """The paired t-test over the same units of one per-unit ``metric`` (each task passes its primary)."""

    def run(a: Scored, b: Scored) -> dict[str, Any]:
        return stats.paired_test(a.per_unit[metric], b.per_unit[metric], test="t")

    return run


#: search's paired test: per-query NDCG@10
paired_t = paired_t_on(PRIMARY)


def average_scored(runs: list[Scored]) -> Scored:
    """Mean over repeated runs of a stochastic method (per query), e.g. ``random``'s 10 shuffles."""
    frame = pd.DataFrame({k: np.mean([r.per_unit[k] for r in runs], axis=0) for k in runs[0].per_unit})
    return summarize(frame)


class SearchData:
    """Everything the protocol and the methods need, computed once per dataset."""

    def __init__(self, dataset: Dataset):
        self.judgments = prepare(dataset)
        items = dataset.items
        self.item_ids = items["item_id"].tolist()
        self.item_texts = items["text"].tolist()
        self.text_of = dict(zip(self.item_ids, self.item_texts, strict=True))
        self.qrels = qrels_of(self.judgments)
        self.parts = {s: self.judgments[self.judgments["split"] == s] for s in (TRAIN, VALID, TEST)}

    def pairs(self, split: str, keys: list[str]) -> pd.DataFrame:
        """The judged (query key, item) pairs of ``keys`` with the item texts."""
        part = self.parts[split]
        part = part[part["key"].isin(set(keys))].drop_duplicates(["key", "item_id"])
        part = part.sort_values(["key", "item_id"], kind="mergesort")
        return part.assign(text=part["item_id"].map(self.text_of))


def rerank_run(est: Any, pairs: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Score every judged pair and group per query."""
    return pairs_run(pairs, est.score_pairs(pairs["key"].tolist(), pairs["text"].tolist()))


def pairs_run(pairs: pd.DataFrame, scores: Any) -> dict[str, dict[str, float]]:
    """The run of judged ``pairs`` with their ``scores``, grouped per query."""
    run: dict[str, dict[str, float]] = {}
    for key, item, score in zip(pairs["key"], pairs["item_id"], scores, strict=True):
        run.setdefault(key, {})[item] = float(score)
    return run


def retrieve_run(est: Any, keys: list[str], depth: int = RETRIEVE_DEPTH) -> dict[str, dict[str, float]]:
    """Top ``depth`` catalogue items per query."""
    return top_k_run(keys, *est.top_k(keys, depth))


def top_k_run(keys: list[str], ids: Any, scores: Any) -> dict[str, list[Any]]:
    """The run of top-k lists (ids, scores per query; None / -1 = an empty slot), each list evaluated in the
    order the method returned it, as recommend and tagrec lists are: a ranker's own order among equal scores
    (e.g. a served source's ties, broken by the candidates' order) is part of what it serves."""
    run: dict[str, list[Any]] = {}
    for key, row_ids, row_scores in zip(keys, ids, scores, strict=True):
        kept = [(i, s) for i, s in zip(row_ids, row_scores, strict=True) if i is not None and i != -1]
        bad = [i for i, s in kept if np.isnan(float(s))]
        if bad:
            raise TagrankInputError(f"top_k of query {key!r}: item {bad[0]!r} has a NaN score")
        run[key] = [i for i, _ in kept]
    return run


def search_ablation(est: Any, data: SearchData, pairs: pd.DataFrame, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Drop-one feature-group ablation of the hybrid in both settings, on the same test queries."""
    out: dict[str, dict[str, Any]] = {}
    scores = est.score_pairs_ablation(pairs["key"].tolist(), pairs["text"].tolist())
    if len(scores) > 1:
        runs = {v: evaluate_run(pairs_run(pairs, sc), data.qrels, (PRIMARY,)) for v, sc in scores.items()}
        out["rerank"] = ablation_table(runs.pop(None), runs, PRIMARY, paired_t)
    lists = est.top_k_ablation(keys, RETRIEVE_DEPTH)
    if len(lists) > 1:
        runs = {v: evaluate_run(top_k_run(keys, *lst), data.qrels, (PRIMARY, "recall@100")) for v, lst in lists.items()}
        out["retrieve"] = ablation_table(runs.pop(None), runs, PRIMARY, paired_t, ("recall@100",))
    return out


def _with_train_queries(base: Any, data: SearchData) -> Any:
    """The word2vec corpus of the search task: the language corpus (without this dataset) plus the train
    queries' texts; the catalogue comes as the scorers' own corpus. No valid or test query is in it."""
    if base is None:
        return None
    train_queries = data.parts[TRAIN]["query"].drop_duplicates().tolist()
    return lambda: list(dict.fromkeys([*base(), *train_queries]))


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext) -> list[dict[str, Any]]:
    """Run every method on the search task (both settings); returns two results documents."""
    data = SearchData(dataset)
    test_rr, excluded_rr = rerank_queries(data.parts[TEST])
    valid_rr, _ = rerank_queries(data.parts[VALID])
    test_rt, excluded_rt = retrieve_queries(data.parts[TEST])
    rr_test_pairs = data.pairs(TEST, test_rr)
    rr_valid_pairs = data.pairs(VALID, valid_rr)
    ctx = base_ctx.for_dataset(
        "search", dataset, training_texts=_with_train_queries(base_ctx.training_texts, data),
        data={"search": data, "train": data.parts[TRAIN], "valid": data.parts[VALID]},
    )
    rows: dict[str, dict[str, Any]] = {"rerank": {}, "retrieve": {}}
    scored: dict[str, dict[str, Scored]] = {"rerank": {}, "retrieve": {}}
    skipped: dict[str, str] = {}
    ablation: dict[str, dict[str, Any]] = {}
    for spec in tqdm(specs, desc=f"search/{dataset.name}", disable=not base_ctx.show_progress):

        def build_and_fit(params: dict[str, Any], spec: MethodSpec = spec) -> Any:
            est = spec.build(ctx, **params)
            if spec.kind == "text":
                fit_text(est, data.item_texts, data.item_ids, ctx)
            return est

        fit = FitOnce(build_and_fit)

        def valid_score(params: dict[str, Any], fit=fit) -> float:
            s = evaluate_run(rerank_run(fit(params), rr_valid_pairs), data.qrels, (PRIMARY,))
            return s.metrics[PRIMARY]

        fit_t = Timer()
        try:
            chosen, grid_scores = select_params(spec, ctx, valid_score)
            est = fit(chosen, fit_t)
        except MethodNotApplicable as exc:
            skipped[spec.name] = str(exc)
            continue
        ctx.fitted[spec.name] = est
        params = params_of(est, chosen)
        device = device_of(est, ctx)

        score_t = Timer()
        repeats = int(getattr(est, "n_repeats", 1))
        with timed(score_t):
            runs = [evaluate_run(rerank_run(est, rr_test_pairs), data.qrels, RERANK_METRICS) for _ in range(repeats)]
        s = runs[0] if repeats == 1 else average_scored(runs)
        if grid_scores:
            s.extra["valid_grid"] = grid_scores
        s.extra.update(estimator_extras(est))
        scored["rerank"][spec.name] = s
        rows["rerank"][spec.name] = method_result(s, fit_t.seconds, score_t.seconds / repeats, device, params)

        if hasattr(est, "top_k"):
            score_t = Timer()
            with timed(score_t):
                s = evaluate_run(retrieve_run(est, test_rt), data.qrels, RETRIEVE_METRICS)
            scored["retrieve"][spec.name] = s
            rows["retrieve"][spec.name] = method_result(s, fit_t.seconds, score_t.seconds, device, params)
        if getattr(est, "ablation_variants", None):  # scoring the variants recomputes the features
            ablation = search_ablation(est, data, rr_test_pairs, test_rt)

    n_queries = {s: data.parts[s]["key"].nunique() for s in (TRAIN, VALID, TEST)}
    docs = []
    for setting, excluded, n_test in (("rerank", excluded_rr, len(test_rr)), ("retrieve", excluded_rt, len(test_rt))):
        split = {"unit": "query", "train": n_queries[TRAIN], "valid": n_queries[VALID], "test": n_test,
                 "excluded": excluded, "key": "query.lower().strip()"}
        extra: dict[str, Any] = {"catalog_size": len(data.item_ids)}
        if skipped:
            extra["skipped_methods"] = skipped
        if setting == "retrieve":
            extra["retrieve_depth"] = RETRIEVE_DEPTH
        if setting in ablation:
            extra["ablation"] = ablation[setting]
        comparisons = method_comparisons(scored[setting], PRIMARY, paired_t)
        if comparisons:
            extra["comparisons"] = comparisons
        comparison = hybrid_vs_best(scored[setting], PRIMARY, paired_t)
        docs.append(build_results("search", dataset.name, setting, PRIMARY, split, rows[setting], comparison, extra))
    return docs
