"""Ranking metrics per query and per unit (NDCG, AP, RR, recall, precision, hit rate, coverage).

Every ranking metric is computed per query ("unit") and averaged by the caller, so the
per-unit values can feed :func:`eval.stats.bootstrap_ci` and :func:`eval.stats.paired_test`.
The conventions (gains, AP's denominator, ties) are documented in :mod:`eval.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import (
    TagrankInputError,
    _preview,
    check_k,
    check_same_length,
    is_missing,
)

_GAINS = ("linear", "exponential")


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
    if isinstance(relevant_set, pd.Series | pd.DataFrame) or (
        isinstance(relevant_set, np.ndarray) and relevant_set.dtype == bool
    ):
        # a Series of flags or gains keyed by item reads as its values ({0, 1}), not as item ids
        raise TagrankInputError(
            f"{field} must be a collection of relevant item ids, got a {type(relevant_set).__name__} "
            f"(of flags? pass its relevant ids, e.g. set(s.index[s > 0]), or the id column)"
        )
    return list(dict.fromkeys(relevant_set))


def _check_ranked(ranked: Any, k: int | None, field: str = "ranked") -> list[Any]:
    """Return the top ``k`` (all if None) of ``ranked`` as a list; reject duplicates."""
    if isinstance(ranked, str | bytes) or not isinstance(ranked, Iterable):
        raise TagrankInputError(
            f"{field} must be a sequence of item ids in ranked order, got {_preview(ranked)}"
        )
    if isinstance(ranked, Mapping | pd.Series | pd.DataFrame | set | frozenset) or (
        isinstance(ranked, np.ndarray) and ranked.ndim != 1
    ):
        # {item: score} is not a ranking (its order is not the scores'); a set has no order at all
        raise TagrankInputError(
            f"{field} must be a sequence of item ids in ranked order, got a {type(ranked).__name__}"
            + (f" of shape {ranked.shape}" if isinstance(ranked, np.ndarray) else "")
            + "; rank scores first with rank_by_scores(item_ids, scores)"
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
