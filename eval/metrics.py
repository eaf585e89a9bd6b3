"""Evaluation metrics: ranking (per query), correlation, classification and clustering.

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
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import (
    TagrankInputError,
    _preview,
    check_columns,
    check_k,
    check_nonempty,
    check_same_length,
    is_missing,
)

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

_GAINS = ("linear", "exponential")


# ----------------------------------------------------------------------------- validation


def _check_gain_kind(gain: Any) -> str:
    if gain not in _GAINS:
        raise TagrankInputError(f"gain must be one of {list(_GAINS)}, got {_preview(gain)}")
    return gain


def _check_optional_k(k: Any, field: str = "k") -> int | None:
    return None if k is None else check_k(k, field)


def _check_gain_value(value: Any, field: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        g = float(value)
    except (TypeError, ValueError):
        raise TagrankInputError(f"{field} must be a number, got {_preview(value)}") from None
    if math.isnan(g) or math.isinf(g):
        raise TagrankInputError(f"{field} must be finite, got {_preview(value)}")
    if g < 0:
        raise TagrankInputError(f"{field} must be >= 0, got {_preview(value)}")
    return g


def _check_relevance(relevance: Any, field: str = "relevance") -> tuple[list[Any], np.ndarray]:
    if not isinstance(relevance, Mapping):
        raise TagrankInputError(
            f"{field} must be a mapping item id -> gain, got {type(relevance).__name__}"
        )
    items = list(relevance.keys())
    gains = np.array(
        [_check_gain_value(relevance[it], f"{field}[{it!r}]") for it in items], dtype=float
    )
    return items, gains


def _check_relevant_set(relevant_set: Any, field: str = "relevant_set") -> list[Any]:
    if isinstance(relevant_set, Mapping):
        raise TagrankInputError(
            f"{field} must be a collection of relevant item ids, got a mapping "
            "(threshold the gains first, e.g. {i for i, g in qrels.items() if g >= t})"
        )
    if isinstance(relevant_set, str) or not isinstance(relevant_set, Iterable):
        raise TagrankInputError(
            f"{field} must be a collection of item ids, got {_preview(relevant_set)}"
        )
    return list(dict.fromkeys(relevant_set))


def _check_ranked(ranked: Any, k: int | None, field: str = "ranked") -> list[Any]:
    """Return the top ``k`` (all if None) of ``ranked`` as a list; reject duplicates."""
    if isinstance(ranked, str | bytes) or not isinstance(ranked, Iterable):
        raise TagrankInputError(
            f"{field} must be a sequence of item ids in ranked order, got {_preview(ranked)}"
        )
    out = list(ranked) if k is None else list(ranked)[:k]
    seen: set[Any] = set()
    for i, item in enumerate(out):
        if is_missing(item):
            raise TagrankInputError(f"{field}[{i}] is missing (got {_preview(item)})")
        if item in seen:
            raise TagrankInputError(
                f"{field}[{i}] = {_preview(item)} is a duplicate: each item may be ranked once"
            )
        seen.add(item)
    return out


def _check_table(
    unit: Any, rank: Any, values: Any, n_units: Any, values_field: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    if isinstance(n_units, bool) or not isinstance(n_units, int | np.integer) or n_units < 0:
        raise TagrankInputError(f"n_units must be a non-negative integer, got {_preview(n_units)}")
    n_units = int(n_units)
    unit_a = np.asarray(unit)
    rank_a = np.asarray(rank, dtype=float)
    values_a = np.asarray(values)
    for name, arr in (("unit", unit_a), ("rank", rank_a), (values_field, values_a)):
        if arr.ndim != 1:
            raise TagrankInputError(f"{name} must be 1-D, got shape {arr.shape}")
    check_same_length(unit=unit_a, rank=rank_a, **{values_field: values_a})
    if unit_a.size and unit_a.dtype.kind not in "iu":
        raise TagrankInputError(f"unit must hold integer codes, got dtype {unit_a.dtype}")
    unit_a = unit_a.astype(np.int64, copy=False)
    if unit_a.size and (unit_a.min() < 0 or unit_a.max() >= n_units):
        bad = int(np.flatnonzero((unit_a < 0) | (unit_a >= n_units))[0])
        raise TagrankInputError(
            f"unit[{bad}] = {int(unit_a[bad])} is outside 0..{n_units - 1} (n_units={n_units})"
        )
    bad_rank = np.isnan(rank_a) | (rank_a < 1) | (np.isfinite(rank_a) & (rank_a != np.floor(rank_a)))
    if bad_rank.any():
        i = int(np.flatnonzero(bad_rank)[0])
        raise TagrankInputError(
            f"rank[{i}] must be a 1-based integer position or inf (not retrieved), got {float(rank_a[i])!r}"
        )
    # one judged item per (unit, finite rank)
    fin = np.isfinite(rank_a)
    if fin.sum() > 1:
        u, r = unit_a[fin], rank_a[fin]
        order = np.lexsort((r, u))
        dup = (np.diff(u[order]) == 0) & (np.diff(r[order]) == 0)
        if dup.any():
            j = order[int(np.flatnonzero(dup)[0])]
            raise TagrankInputError(
                f"rank {r[j]:g} appears twice for unit {int(u[j])}: two judged items at one position"
            )
    return unit_a, rank_a, values_a, n_units


def _cut(rank: np.ndarray, k: int | None) -> np.ndarray:
    return np.isfinite(rank) if k is None else rank <= k


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _check_relevant_flags(relevant: np.ndarray) -> np.ndarray:
    if relevant.size and relevant.dtype.kind != "b":
        if relevant.dtype.kind in "iuf" and np.isin(relevant, (0, 1)).all():
            return relevant.astype(bool)
        raise TagrankInputError(
            f"relevant must be boolean (or 0/1) flags, got dtype {relevant.dtype}"
        )
    return relevant.astype(bool, copy=False)


# ----------------------------------------------------------------------------- ranking


def rank_by_scores(
    item_ids: Sequence[Any],
    scores: Sequence[float] | np.ndarray,
    k: int | None = None,
    return_indices: bool = False,
) -> list[Any] | np.ndarray:
    """Rank items by score, highest first; ties broken by item id ascending.

    The order is deterministic (independent of the input order) except for repeated
    equal ids with equal scores, which keep their input order (stable sort). ``scores``
    may hold +-inf (e.g. -inf to push masked items to the bottom) but not NaN. Item ids
    must be mutually comparable (all str or all int, say).

    Returns the top ``k`` (all when ``k`` is None) item ids as a list, or their positions
    in ``item_ids`` as an int64 array when ``return_indices`` is True.
    """
    if isinstance(item_ids, str):
        raise TagrankInputError("item_ids must be a sequence of ids, got a single string")
    ids = list(item_ids)
    try:
        s = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TagrankInputError(f"scores must be numeric: {exc}") from None
    if s.ndim != 1:
        raise TagrankInputError(f"scores must be 1-D, got shape {s.shape}")
    check_same_length(item_ids=ids, scores=s)
    nan = np.isnan(s)
    if nan.any():
        i = int(np.flatnonzero(nan)[0])
        raise TagrankInputError(f"scores[{i}] is NaN (item {_preview(ids[i])})")
    k = _check_optional_k(k)
    n = len(ids)
    neg = -s
    if k is not None and k < n:
        kth = np.partition(neg, k - 1)[k - 1]
        cand = np.flatnonzero(neg <= kth)  # every item scoring >= the k-th best score
    else:
        cand = np.arange(n)
    cand_ids = [ids[i] for i in cand]
    t0 = type(cand_ids[0]) if cand_ids else int
    homogeneous = t0 in (int, str, np.int64, np.int32, np.str_) and all(
        type(x) is t0 for x in cand_ids
    )
    if homogeneous:
        order = np.lexsort((np.asarray(cand_ids), neg[cand]))
    else:
        try:
            order = np.array(
                sorted(range(len(cand)), key=lambda j: (neg[cand[j]], cand_ids[j])), dtype=np.int64
            )
        except TypeError:
            raise TagrankInputError(
                "item_ids must be mutually comparable to break score ties "
                f"(got types {sorted({type(x).__name__ for x in cand_ids})})"
            ) from None
    top = cand[order]
    if k is not None:
        top = top[:k]
    if return_indices:
        return top.astype(np.int64, copy=False)
    return [ids[i] for i in top]


def judged_ranks(ranked: Sequence[Any], judged_items: Sequence[Any]) -> np.ndarray:
    """1-based positions of ``judged_items`` in ``ranked`` (``np.inf`` when absent)."""
    return _positions(_check_ranked(ranked, None), judged_items)


def _positions(ranked_list: list[Any], judged_items: Sequence[Any]) -> np.ndarray:
    pos = {item: i + 1 for i, item in enumerate(ranked_list)}
    return np.array([pos.get(item, np.inf) for item in judged_items], dtype=float)


def ndcg_per_unit(
    unit: np.ndarray,
    rank: np.ndarray,
    gains: np.ndarray,
    n_units: int,
    k: int | None = None,
    gain: str = "linear",
) -> np.ndarray:
    """NDCG@k of every unit from a judged table (see the module doc); 0.0 where IDCG = 0.

    ``gains`` are the graded judgements (>= 0) of every judged item of each unit, retrieved
    or not (``rank = inf``): the ideal ordering is built from all of them.
    """
    unit, rank, gains, n_units = _check_table(unit, rank, gains, n_units, "gains")
    k = _check_optional_k(k)
    _check_gain_kind(gain)
    g = gains.astype(float)
    bad = ~np.isfinite(g) | (g < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TagrankInputError(f"gains[{i}] must be finite and >= 0, got {float(g[i])!r}")
    if gain == "exponential":
        g = np.exp2(g) - 1.0
    cut = _cut(rank, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        dcg_terms = np.where(cut, g / np.log2(np.where(cut, rank, 1.0) + 1.0), 0.0)
    dcg = np.bincount(unit, weights=dcg_terms, minlength=n_units)
    # ideal ranks: position of each judged item when its unit's gains are sorted descending
    order = np.lexsort((-g, unit))
    u_sorted = unit[order]
    ideal = np.empty(len(unit), dtype=float)
    if len(unit):
        starts = np.r_[0, np.flatnonzero(np.diff(u_sorted)) + 1]
        counts = np.diff(np.r_[starts, len(u_sorted)])
        ideal[order] = np.arange(len(u_sorted)) - np.repeat(starts, counts) + 1
    icut = np.ones(len(unit), bool) if k is None else ideal <= k
    idcg_terms = np.where(icut, g / np.log2(ideal + 1.0), 0.0)
    idcg = np.bincount(unit, weights=idcg_terms, minlength=n_units)
    return np.clip(_safe_div(dcg, idcg), 0.0, 1.0)


def _binary_table(unit, rank, relevant, n_units, k):
    unit, rank, relevant, n_units = _check_table(unit, rank, relevant, n_units, "relevant")
    relevant = _check_relevant_flags(relevant)
    unit, rank = unit[relevant], rank[relevant]
    n_rel = np.bincount(unit, minlength=n_units).astype(float)
    return unit, rank, n_rel, n_units


def average_precision_per_unit(
    unit: np.ndarray, rank: np.ndarray, relevant: np.ndarray, n_units: int, k: int | None = None
) -> np.ndarray:
    """AP (or AP@k) per unit: sum of precision@rank over retrieved relevant items / R.

    R = the unit's number of relevant items (trec_eval convention, also for AP@k).
    """
    k = _check_optional_k(k)
    unit, rank, n_rel, n_units = _binary_table(unit, rank, relevant, n_units, k)
    hit = _cut(rank, k)
    unit, rank = unit[hit], rank[hit]
    order = np.lexsort((rank, unit))
    u_sorted, r_sorted = unit[order], rank[order]
    terms = np.zeros(0)
    if len(u_sorted):
        starts = np.r_[0, np.flatnonzero(np.diff(u_sorted)) + 1]
        counts = np.diff(np.r_[starts, len(u_sorted)])
        j = np.arange(len(u_sorted)) - np.repeat(starts, counts) + 1  # hits so far
        terms = j / r_sorted
    total = np.bincount(u_sorted, weights=terms, minlength=n_units)
    return _safe_div(total, n_rel)


def reciprocal_rank_per_unit(
    unit: np.ndarray, rank: np.ndarray, relevant: np.ndarray, n_units: int, k: int | None = None
) -> np.ndarray:
    """1 / rank of the first relevant item within the top k (0.0 if none)."""
    k = _check_optional_k(k)
    unit, rank, _, n_units = _binary_table(unit, rank, relevant, n_units, k)
    hit = _cut(rank, k)
    first = np.full(n_units, np.inf)
    np.minimum.at(first, unit[hit], rank[hit])
    return 1.0 / first


def _hits(unit, rank, relevant, n_units, k):
    unit, rank, n_rel, n_units = _binary_table(unit, rank, relevant, n_units, k)
    hits = np.bincount(unit[_cut(rank, k)], minlength=n_units).astype(float)
    return hits, n_rel


def recall_per_unit(
    unit: np.ndarray, rank: np.ndarray, relevant: np.ndarray, n_units: int, k: int | None = None
) -> np.ndarray:
    """Relevant items in the top k / R (0.0 where R = 0)."""
    k = _check_optional_k(k)
    hits, n_rel = _hits(unit, rank, relevant, n_units, k)
    return _safe_div(hits, n_rel)


def precision_per_unit(
    unit: np.ndarray, rank: np.ndarray, relevant: np.ndarray, n_units: int, k: int
) -> np.ndarray:
    """Relevant items in the top k / k (k, not the number ranked: trec_eval)."""
    k = check_k(k)
    hits, _ = _hits(unit, rank, relevant, n_units, k)
    return hits / k


def hit_rate_per_unit(
    unit: np.ndarray, rank: np.ndarray, relevant: np.ndarray, n_units: int, k: int | None = None
) -> np.ndarray:
    """1.0 if any relevant item is in the top k, else 0.0."""
    k = _check_optional_k(k)
    hits, _ = _hits(unit, rank, relevant, n_units, k)
    return (hits > 0).astype(float)


def _single_binary(ranked, relevant_set, k, fn):
    k = _check_optional_k(k)
    ranked_list = _check_ranked(ranked, k)
    rel = _check_relevant_set(relevant_set)
    rank = _positions(ranked_list, rel)
    z = np.zeros(len(rel), dtype=np.int64)
    return float(fn(z, rank, np.ones(len(rel), bool), 1, k)[0])


def ndcg_at_k(
    ranked: Sequence[Any], relevance: Mapping[Any, float], k: int, gain: str = "linear"
) -> float:
    """NDCG@k of one ranked list; ``relevance`` maps item id -> gain (>= 0, unjudged = 0).

    ``gain="linear"`` uses G(g) = g, ``"exponential"`` uses 2**g - 1. IDCG comes from the
    ideal ordering of all judged gains. Returns 0.0 when IDCG = 0 (callers exclude such
    queries).
    """
    k = check_k(k)
    _check_gain_kind(gain)
    ranked_list = _check_ranked(ranked, k)
    items, gains = _check_relevance(relevance)
    rank = _positions(ranked_list, items)
    z = np.zeros(len(items), dtype=np.int64)
    return float(ndcg_per_unit(z, rank, gains, 1, k, gain)[0])


def average_precision(
    ranked: Sequence[Any], relevant_set: Collection[Any], k: int | None = None
) -> float:
    """Average precision (MAP's per-query term), optionally cut at k.

    Sum of precision@r over the ranks r of the retrieved relevant items, divided by the
    total number of relevant items R (trec_eval / ranx convention, also with k).
    0.0 when R = 0.
    """
    return _single_binary(ranked, relevant_set, k, average_precision_per_unit)


def map_at_k(ranked: Sequence[Any], relevant_set: Collection[Any], k: int) -> float:
    """AP@k of one query (the per-query term of MAP@k); divides by R, not min(R, k)."""
    return average_precision(ranked, relevant_set, check_k(k))


def reciprocal_rank(
    ranked: Sequence[Any], relevant_set: Collection[Any], k: int | None = None
) -> float:
    """1 / rank of the first relevant item (within the top k); 0.0 if none."""
    return _single_binary(ranked, relevant_set, k, reciprocal_rank_per_unit)


def recall_at_k(ranked: Sequence[Any], relevant_set: Collection[Any], k: int) -> float:
    """Relevant items in the top k / number of relevant items; 0.0 when there are none."""
    return _single_binary(ranked, relevant_set, check_k(k), recall_per_unit)


def precision_at_k(ranked: Sequence[Any], relevant_set: Collection[Any], k: int) -> float:
    """Relevant items in the top k / k."""
    return _single_binary(ranked, relevant_set, check_k(k), precision_per_unit)


def hit_rate_at_k(ranked: Sequence[Any], relevant_set: Collection[Any], k: int) -> float:
    """hr@k: 1.0 if at least one relevant item is in the top k, else 0.0."""
    return _single_binary(ranked, relevant_set, check_k(k), hit_rate_per_unit)


def coverage_at_k(
    recommendations: Iterable[Sequence[Any]], catalog_size: int, k: int
) -> float:
    """Share of the catalogue that appears in at least one list's top k.

    ``recommendations`` is one ranked list per user / query. Returns
    |union of the top-k items| / ``catalog_size``.
    """
    k = check_k(k)
    if isinstance(catalog_size, bool) or not isinstance(catalog_size, int | np.integer) or catalog_size < 1:
        raise TagrankInputError(f"catalog_size must be a positive integer, got {_preview(catalog_size)}")
    if isinstance(recommendations, Mapping):
        recommendations = recommendations.values()
    seen: set[Any] = set()
    for u, ranked in enumerate(recommendations):
        seen.update(_check_ranked(ranked, k, field=f"recommendations[{u}]"))
    if len(seen) > catalog_size:
        raise TagrankInputError(
            f"catalog_size = {int(catalog_size)} is smaller than the {len(seen)} distinct items "
            "recommended: items outside the catalogue?"
        )
    return len(seen) / int(catalog_size)


# ----------------------------------------------------------------------------- run vs qrels

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
    p = _labels(pred, "pred", allow_2d)
    t = _labels(truth, "truth", allow_2d)
    if p.ndim != t.ndim:
        raise TagrankInputError(f"pred is {p.ndim}-D but truth is {t.ndim}-D")
    check_same_length(pred=p, truth=t)
    if p.ndim == 2 and p.shape != t.shape:
        raise TagrankInputError(f"pred has shape {p.shape} but truth has shape {t.shape}")
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
