"""A whole run against qrels: metric names (``"ndcg@10"``, ``"map"``, ...) parsed, one row per query.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import (
    TagrankInputError,
    _preview,
    check_columns,
    check_nonempty,
)
from tagrank.eval.ranking_metrics import (
    _check_ranked,
    _check_relevance,
    _positions,
    average_precision_per_unit,
    hit_rate_per_unit,
    ndcg_per_unit,
    precision_per_unit,
    recall_per_unit,
    reciprocal_rank_per_unit,
)

RANKING_METRICS = {
    "ndcg": "graded: linear gain",
    "ndcg_exp": "graded: exponential gain 2**g - 1",
    "map": "binary: average precision (divides by R)",
    "mrr": "binary: reciprocal rank",
    "recall": "binary: needs @k",
    "precision": "binary: needs @k",
    "hr": "binary: hit rate, needs @k",
}
_ALIASES = {"hit_rate": "hr", "ap": "map", "rr": "mrr", "ndcg_burges": "ndcg_exp"}
_NEEDS_K = {"recall", "precision", "hr"}
_METRIC_RE = re.compile(r"^([a-z_]+)(?:@(\d+))?$")


def parse_metric(name: str) -> tuple[str, int | None]:
    """Split ``"ndcg@10"`` into ``("ndcg", 10)``; ``"map"`` into ``("map", None)``."""
    if not isinstance(name, str):
        raise TagrankInputError(f"metric name must be a string, got {_preview(name)}")
    m = _METRIC_RE.match(name.strip().lower())
    if not m:
        raise TagrankInputError(
            f"metric {name!r} is not of the form 'name' or 'name@k' (e.g. 'ndcg@10')"
        )
    base = _ALIASES.get(m.group(1), m.group(1))
    if base not in RANKING_METRICS:
        raise TagrankInputError(
            f"unknown ranking metric {name!r}; known: {sorted(RANKING_METRICS)} "
            f"(aliases {sorted(_ALIASES)})"
        )
    k = None if m.group(2) is None else int(m.group(2))
    if k is not None and k < 1:
        raise TagrankInputError(f"metric {name!r}: k must be a positive integer, got {k}")
    if k is None and base in _NEEDS_K:
        raise TagrankInputError(f"metric {name!r} needs a cutoff, e.g. '{base}@10'")
    return base, k


def _ranks_from_scores(
    score_map: Mapping[Any, float], judged: list[Any], qid: Any
) -> np.ndarray:
    """Positions of ``judged`` items under :func:`rank_by_scores` without sorting everything."""
    n = len(score_map)
    out = np.full(len(judged), np.inf)
    if n == 0:
        return out
    scores = np.fromiter(score_map.values(), dtype=float, count=n)
    if np.isnan(scores).any():
        bad = list(score_map)[int(np.flatnonzero(np.isnan(scores))[0])]
        raise TagrankInputError(f"run[{qid!r}][{bad!r}] score is NaN")
    sorted_scores = np.sort(scores)
    keys: list[Any] | None = None
    for j, item in enumerate(judged):
        s = score_map.get(item)
        if s is None:
            continue
        s = float(s)
        lo = np.searchsorted(sorted_scores, s, side="left")
        hi = np.searchsorted(sorted_scores, s, side="right")
        ahead = n - hi  # strictly higher scores
        if hi - lo > 1:  # ties: items with the same score and a smaller id come first
            if keys is None:
                keys = list(score_map)
            tied = np.flatnonzero(scores == s)
            try:
                ahead += sum(1 for t in tied if keys[t] < item)
            except TypeError:
                raise TagrankInputError(
                    f"run[{qid!r}]: item ids must be mutually comparable to break score ties"
                ) from None
        out[j] = ahead + 1
    return out


def _run_to_dict(run: Any) -> Mapping[Any, Any]:
    if isinstance(run, pd.DataFrame):
        check_columns(run, ["qid", "item", "score"], "run")
        out: dict[Any, dict[Any, float]] = {}
        for qid, group in run.groupby("qid", sort=False):
            items = group["item"].tolist()
            d = dict(zip(items, group["score"].to_numpy(dtype=float), strict=True))
            if len(d) != len(items):
                dup = pd.Series(items)[pd.Series(items).duplicated()].iloc[0]
                raise TagrankInputError(f"run has item {dup!r} twice for qid {qid!r}")
            out[qid] = d
        return out
    if not isinstance(run, Mapping):
        raise TagrankInputError(
            f"run must be a dict qid -> {{item: score}} / ranked list, or a DataFrame, got {type(run).__name__}"
        )
    return run


def per_query_ranking_metrics(
    run: Mapping[Any, Mapping[Any, float] | Sequence[Any]] | pd.DataFrame,
    qrels: Mapping[Any, Mapping[Any, float]],
    metrics: Sequence[str],
    relevance_threshold: float,
    on_missing_query: str = "error",
) -> pd.DataFrame:
    """Per-query ranking metrics of ``run`` against ``qrels``.

    Args:
        run: ``{qid: {item: score}}`` (ranked with :func:`rank_by_scores`: score descending,
            ties by item id), ``{qid: [item, ...]}`` (already ranked, best first), or a
            DataFrame with columns ``qid``, ``item``, ``score``. Items absent from a
            query's run count as not retrieved.
        qrels: ``{qid: {item: gain}}``, gains >= 0; unjudged items have gain 0.
        metrics: names such as ``"ndcg@10"``, ``"ndcg_exp@10"``, ``"map"``, ``"map@10"``,
            ``"mrr"``, ``"recall@100"``, ``"precision@5"``, ``"hr@10"``; a name without
            ``@k`` uses the whole ranking.
        relevance_threshold: binary metrics count an item as relevant when its gain in
            ``qrels`` is >= this value (must be > 0, since unjudged items have gain 0);
            ``ndcg`` uses the graded gain itself. E.g. Home Depot with gain = relevance - 1
            and "relevant = relevance >= 2.5" -> ``relevance_threshold=1.5``.
        on_missing_query: a qrels query absent from ``run`` raises (``"error"``) or gets an
            empty ranking, i.e. 0 for every metric (``"zero"``).

    Returns a DataFrame indexed by query id (``qrels`` order, index name ``"qid"``) with one
    float column per metric, named as given. Run queries absent from ``qrels`` are ignored.
    Queries without a relevant item score 0.0 everywhere: exclude them before averaging.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    check_nonempty(metrics, "metrics")
    parsed = [parse_metric(m) for m in metrics]
    if len(set(metrics)) != len(metrics):
        dup = next(m for m in metrics if metrics.count(m) > 1)
        raise TagrankInputError(f"metrics lists {dup!r} twice")
    try:
        thr = float(relevance_threshold)
    except (TypeError, ValueError):
        thr = math.nan
    if math.isnan(thr) or thr <= 0:
        raise TagrankInputError(
            "relevance_threshold must be a number > 0 (unjudged items have gain 0), "
            f"got {_preview(relevance_threshold)}"
        )
    if on_missing_query not in ("error", "zero"):
        raise TagrankInputError(
            f"on_missing_query must be 'error' or 'zero', got {_preview(on_missing_query)}"
        )
    if not isinstance(qrels, Mapping):
        raise TagrankInputError(f"qrels must be a dict qid -> {{item: gain}}, got {type(qrels).__name__}")
    check_nonempty(list(qrels), "qrels")
    run_d = _run_to_dict(run)

    qids = list(qrels)
    units, ranks, gains = [], [], []
    for u, qid in enumerate(qids):
        items, g = _check_relevance(qrels[qid], field=f"qrels[{qid!r}]")
        if qid in run_d:
            entry = run_d[qid]
            if isinstance(entry, pd.Series):
                entry = entry.to_dict()
            if isinstance(entry, Mapping):
                r = _ranks_from_scores(entry, items, qid)
            else:
                r = _positions(_check_ranked(entry, None, field=f"run[{qid!r}]"), items)
        elif on_missing_query == "zero":
            r = np.full(len(items), np.inf)
        else:
            raise TagrankInputError(
                f"qrels query {qid!r} is missing from run (pass on_missing_query='zero' to score it 0)"
            )
        units.append(np.full(len(items), u, dtype=np.int64))
        ranks.append(r)
        gains.append(g)
    unit = np.concatenate(units) if units else np.zeros(0, np.int64)
    rank = np.concatenate(ranks) if ranks else np.zeros(0)
    gain_a = np.concatenate(gains) if gains else np.zeros(0)
    relevant = gain_a >= thr
    n = len(qids)

    cols: dict[str, np.ndarray] = {}
    for name, (base, k) in zip(metrics, parsed, strict=True):
        if base == "ndcg":
            cols[name] = ndcg_per_unit(unit, rank, gain_a, n, k, "linear")
        elif base == "ndcg_exp":
            cols[name] = ndcg_per_unit(unit, rank, gain_a, n, k, "exponential")
        elif base == "map":
            cols[name] = average_precision_per_unit(unit, rank, relevant, n, k)
        elif base == "mrr":
            cols[name] = reciprocal_rank_per_unit(unit, rank, relevant, n, k)
        elif base == "recall":
            cols[name] = recall_per_unit(unit, rank, relevant, n, k)
        elif base == "precision":
            cols[name] = precision_per_unit(unit, rank, relevant, n, k)
        else:  # hr
            cols[name] = hit_rate_per_unit(unit, rank, relevant, n, k)
    return pd.DataFrame(cols, index=pd.Index(qids, name="qid"), columns=metrics, dtype=float)
