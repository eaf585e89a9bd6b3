"""Evaluation metrics: ranking (per query), correlation, classification and clustering.

The ranking metrics live in :mod:`eval.ranking_metrics` (per query and per unit) and
:mod:`eval.run_metrics` (a run against qrels); this module holds correlation,
classification and clustering and re-exports every name, so ``eval.metrics`` stays the
one place to import from.

Ranking metrics
---------------
Every ranking metric is computed per query ("unit") and averaged by the caller, so the
per-unit values can feed :func:`eval.stats.bootstrap_ci` and :func:`eval.stats.paired_test`.

Each metric exists in two forms:

* a per-query function (``ndcg_at_k``, ``average_precision``, ...) that takes ``ranked``,
  a sequence of item ids in ranked order (already cut to ``k`` or not), plus the query's
  judgements;
* a vectorised per-unit helper (``ndcg_per_unit``, ``average_precision_per_unit``, ...) over
  a flat *judged table*: three parallel arrays with one row per (query, judged item) --
  ``unit`` (query code in ``0..n_units-1``), ``rank`` (1-based position of the item in that
  query's ranking, ``np.inf`` when it was not retrieved) and ``gains`` (graded judgement)
  or ``relevant`` (bool). Only judged items matter to every metric here, so this table is
  all a metric needs, however long the rankings are (a 43,500-item catalogue costs
  nothing extra). The per-query functions are thin wrappers over these helpers, so both
  forms share one implementation.

:func:`per_query_ranking_metrics` evaluates a whole run against qrels and returns one row
per query and one column per metric name (``"ndcg@10"``, ``"map"``, ``"mrr"``, ...).

Conventions (the same as trec_eval and ranx, which the tests cross-check):

* Gains are graded floats >= 0; an item absent from ``relevance`` has gain 0.
* NDCG: ``DCG@k = sum_{i<=k} G(g_i) / log2(i + 1)`` with ``G(g) = g`` (``gain="linear"``,
  Jarvelin & Kekalainen; ranx ``ndcg``) or ``G(g) = 2**g - 1`` (``gain="exponential"``,
  Burges et al.; ranx ``ndcg_burges``). IDCG@k is the DCG@k of the ideal ordering of ALL
  the query's judged gains (not only those retrieved). A query with IDCG = 0 (no positive
  gain) gets 0.0; callers should exclude such queries and report how many they dropped.
* Binary metrics (AP, RR, recall, precision, hit rate) take a set of relevant items; in
  :func:`per_query_ranking_metrics` an item is relevant when its gain >= the
  ``relevance_threshold``.
* AP divides by R, the total number of relevant items of the query -- also for AP@k
  (``map@k``), which is the trec_eval / ranx convention (some recommender libraries
  divide by ``min(R, k)`` instead; we do not).
* precision@k divides by k even when fewer than k items were ranked (trec_eval).
* A query with no relevant item gets 0.0 for AP, RR, recall, precision and hit rate.
* ``k=None`` (or a metric name without ``@k``) means the whole ranking.

Ties: a ranking is made from scores only by :func:`rank_by_scores`, which sorts by score
descending and breaks ties by item id ascending (and keeps the input order for equal ids),
so results never depend on dict or row order. The ranking metrics take already-ranked
lists, so ties never reach them.

Correlation, classification and clustering
------------------------------------------
Thin wrappers over scipy / scikit-learn that validate first: mismatched lengths, missing
values (None / NaN) and non-finite scores raise :class:`TagrankInputError` naming the
field. Correlations of a constant input are undefined: they raise by default
(``on_constant="raise"``) or return NaN with ``on_constant="nan"``.
"""


from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.validation import (
    TagrankInputError,
    _preview,
    check_aligned,
    check_nonempty,
    check_same_length,
    is_missing,
)
from tagrank.eval.ranking_metrics import (
    average_precision,
    average_precision_per_unit,
    coverage_at_k,
    hit_rate_at_k,
    hit_rate_per_unit,
    judged_ranks,
    map_at_k,
    ndcg_at_k,
    ndcg_per_unit,
    precision_at_k,
    precision_per_unit,
    rank_by_scores,
    recall_at_k,
    recall_per_unit,
    reciprocal_rank,
    reciprocal_rank_per_unit,
)
from tagrank.eval.run_metrics import RANKING_METRICS, parse_metric, per_query_ranking_metrics

__all__ = [
    "RANKING_METRICS",
    "rank_by_scores",
    "judged_ranks",
    "ndcg_at_k",
    "average_precision",
    "map_at_k",
    "reciprocal_rank",
    "recall_at_k",
    "precision_at_k",
    "hit_rate_at_k",
    "coverage_at_k",
    "ndcg_per_unit",
    "average_precision_per_unit",
    "reciprocal_rank_per_unit",
    "recall_per_unit",
    "precision_per_unit",
    "hit_rate_per_unit",
    "parse_metric",
    "per_query_ranking_metrics",
    "spearman",
    "pearson",
    "roc_auc",
    "accuracy",
    "macro_f1",
    "micro_f1",
    "ari",
    "nmi",
]


# ----------------------------------------------------------------------------- correlation


def _numeric_1d(values: Any, field: str) -> np.ndarray:
    if isinstance(values, str):
        raise TagrankInputError(f"{field} must be a sequence of numbers, got a string")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TagrankInputError(f"{field} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise TagrankInputError(f"{field} must be 1-D, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TagrankInputError(f"{field}[{i}] is not finite (got {float(arr[i])!r})")
    return arr


def _correlation_inputs(pred: Any, truth: Any, on_constant: str) -> tuple[np.ndarray, np.ndarray] | None:
    if on_constant not in ("raise", "nan"):
        raise TagrankInputError(f"on_constant must be 'raise' or 'nan', got {_preview(on_constant)}")
    check_aligned(pred=pred, truth=truth)
    p = _numeric_1d(pred, "pred")
    t = _numeric_1d(truth, "truth")
    check_same_length(pred=p, truth=t)
    if len(p) < 2:
        raise TagrankInputError(f"a correlation needs at least 2 pairs, got {len(p)}")
    for name, arr in (("pred", p), ("truth", t)):
        if np.all(arr == arr[0]):
            if on_constant == "nan":
                return None
            raise TagrankInputError(
                f"{name} is constant (every value = {arr[0]!r}): the correlation is undefined "
                "(pass on_constant='nan' to get NaN instead)"
            )
    return p, t


def spearman(pred: Sequence[float], truth: Sequence[float], on_constant: str = "raise") -> float:
    """Spearman rank correlation (ties get average ranks) of ``pred`` vs ``truth``.

    A constant input raises :class:`TagrankInputError` (``on_constant="raise"``, default) or
    returns NaN (``on_constant="nan"``).
    """
    from scipy.stats import spearmanr

    pt = _correlation_inputs(pred, truth, on_constant)
    if pt is None:
        return math.nan
    return float(spearmanr(pt[0], pt[1]).statistic)


def pearson(pred: Sequence[float], truth: Sequence[float], on_constant: str = "raise") -> float:
    """Pearson correlation of ``pred`` vs ``truth``; constant input as in :func:`spearman`."""
    from scipy.stats import pearsonr

    pt = _correlation_inputs(pred, truth, on_constant)
    if pt is None:
        return math.nan
    return float(pearsonr(pt[0], pt[1]).statistic)


# ----------------------------------------------------------------------------- classification


def roc_auc(scores: Sequence[float], labels: Sequence[Any]) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (0/1 or bool).

    Both classes must be present (else :class:`TagrankInputError`).
    """
    from sklearn.metrics import roc_auc_score

    s = _numeric_1d(scores, "scores")
    lab = _numeric_1d(labels, "labels")
    check_same_length(scores=s, labels=lab)
    bad = ~np.isin(lab, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TagrankInputError(f"labels[{i}] must be 0 or 1, got {float(lab[i]):g}")
    if len(np.unique(lab)) < 2:
        raise TagrankInputError(
            f"labels hold a single class ({lab[0]:g}): ROC AUC needs both 0 and 1"
        )
    return float(roc_auc_score(lab.astype(int), s))


def _labels(values: Any, field: str, allow_2d: bool = False) -> np.ndarray:
    if isinstance(values, str):
        raise TagrankInputError(f"{field} must be a sequence of labels, got a string")
    if isinstance(values, pd.Series | pd.DataFrame):
        values = values.to_numpy()
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim == 2 and allow_2d:
        if arr.dtype.kind == "b":
            return arr.astype(int)
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise TagrankInputError(f"{field} as a 2-D array must be a 0/1 indicator matrix")
        return arr.astype(int)
    if arr.ndim != 1:
        raise TagrankInputError(
            f"{field} must be 1-D{' or a 2-D indicator matrix' if allow_2d else ''}, got shape {arr.shape}"
        )
    check_nonempty(arr, field)
    if arr.dtype.kind in "fO":
        for i, v in enumerate(arr.tolist()):
            if is_missing(v):
                raise TagrankInputError(f"{field}[{i}] is missing (got {_preview(v)})")
    return arr


def _pair(pred: Any, truth: Any, allow_2d: bool = False) -> tuple[np.ndarray, np.ndarray]:
    check_aligned(pred=pred, truth=truth)
    p = _labels(pred, "pred", allow_2d)
    t = _labels(truth, "truth", allow_2d)
    if p.ndim != t.ndim:
        raise TagrankInputError(f"pred is {p.ndim}-D but truth is {t.ndim}-D")
    check_same_length(pred=p, truth=t)
    if p.ndim == 2 and p.shape != t.shape:
        raise TagrankInputError(f"pred has shape {p.shape} but truth has shape {t.shape}")
    if p.ndim == 1:
        kinds = {isinstance(v, str) for arr in (p, t) for v in (arr.tolist() if arr.dtype == object else arr[:1].tolist())}
        if len(kinds) > 1:  # 1 and "1" would be compared by type, silently; sklearn refuses the mix anyway
            raise TagrankInputError(
                f"pred and truth mix string and number labels (pred {_preview(p[:3].tolist())}, truth "
                f"{_preview(t[:3].tolist())}): give every label as the same type"
            )
    return p, t


def accuracy(pred: Sequence[Any], truth: Sequence[Any]) -> float:
    """Share of exact matches (subset accuracy for 2-D indicator matrices)."""
    from sklearn.metrics import accuracy_score

    p, t = _pair(pred, truth, allow_2d=True)
    return float(accuracy_score(t, p))


def macro_f1(
    pred: Sequence[Any], truth: Sequence[Any], labels: Sequence[Any] | None = None
) -> float:
    """Unweighted mean of per-class F1 (per-column for 2-D indicator matrices).

    Classes = ``labels`` if given, else every class in ``pred`` or ``truth``; a class with
    no true and no predicted member has F1 0 (``zero_division=0``).
    """
    from sklearn.metrics import f1_score

    p, t = _pair(pred, truth, allow_2d=True)
    return float(f1_score(t, p, average="macro", labels=labels, zero_division=0))


def micro_f1(
    pred: Sequence[Any], truth: Sequence[Any], labels: Sequence[Any] | None = None
) -> float:
    """F1 of the pooled counts over all classes (equals accuracy for 1-D single-label input)."""
    from sklearn.metrics import f1_score

    p, t = _pair(pred, truth, allow_2d=True)
    return float(f1_score(t, p, average="micro", labels=labels, zero_division=0))


def ari(pred: Sequence[Any], truth: Sequence[Any]) -> float:
    """Adjusted Rand index of a clustering ``pred`` against classes ``truth``."""
    from sklearn.metrics import adjusted_rand_score

    p, t = _pair(pred, truth)
    return float(adjusted_rand_score(t, p))


def nmi(pred: Sequence[Any], truth: Sequence[Any]) -> float:
    """Normalised mutual information (arithmetic-mean normalisation, sklearn's default)."""
    from sklearn.metrics import normalized_mutual_info_score

    p, t = _pair(pred, truth)
    return float(normalized_mutual_info_score(t, p))
