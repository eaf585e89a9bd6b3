"""Candidate generation: the union of several scorers' top-k, de-duplicated, with provenance.

For each query (a query text or a user id) every source contributes its top
``k``; the union keeps each candidate once, in order of first appearance
(sources in the given order, then rank), and records where it came from:

* ``src.<name>``: 1 if the source returned the candidate, else 0;
* ``srank.<name>``: its rank in that source (1 = top), ``missing_rank``
  (default 10,000: "not retrieved", far below any real rank) when absent;
* ``n_sources``: how many sources returned it.

Unfilled slots (id ``None`` / ``-1`` / NaN, or a non-finite score: a user who
has seen almost everything) are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError, check_k

#: rank given to a candidate that a source did not return
MISSING_RANK = 10_000


def _blank_mask(ids: np.ndarray, blank: Sequence[Any]) -> np.ndarray:
    """Unfilled slots of an object id array: None / NaN / NA, or a non-string id in ``blank``
    (a string never equals a non-string marker, so string ids are never blank)."""
    mask = np.asarray(pd.isna(ids), dtype=bool)
    present = np.flatnonzero(~mask)
    for value in blank:
        if not isinstance(value, str):  # compared on the present ids only: pd.NA has no truth value
            mask[present] |= np.asarray(ids[present] == value, dtype=bool)
    return mask


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """1-D object array of ``values`` (tuples stay single ids, unlike ``np.asarray``)."""
    return pd.Series(list(values), dtype=object).to_numpy()


def union_candidates(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    queries: Sequence[Any],
    query_col: str = "query",
    candidate_col: str = "item_id",
    missing_rank: int = MISSING_RANK,
    blank_ids: Sequence[Any] = (-1,),
) -> pd.DataFrame:
    """Union of per-source top lists ``{name: (ids [n, k], scores [n, k])}`` aligned with ``queries``.

    Returns one row per distinct (query, candidate): ``query_col``,
    ``candidate_col``, ``src.<name>``, ``srank.<name>`` and ``n_sources``;
    queries in the given order, candidates in first-appearance order.
    Duplicate queries are merged (each query appears once).
    """
    return pd.DataFrame(union_columns(results, queries, query_col, candidate_col, missing_rank, blank_ids))


def union_columns(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    queries: Sequence[Any],
    query_col: str = "query",
    candidate_col: str = "item_id",
    missing_rank: int = MISSING_RANK,
    blank_ids: Sequence[Any] = (-1,),
) -> dict[str, np.ndarray]:
    """:func:`union_candidates` as ``{column: array}`` (ids as object arrays), without a frame: a
    search request reads its candidates from these arrays."""
    queries = list(queries)
    if not results:
        raise TagrankInputError("at least one candidate source is needed")
    names = list(results)
    q_parts, c_parts, s_parts, r_parts = [], [], [], []
    for s, name in enumerate(names):
        ids, scores = results[name]
        ids = np.asarray(ids, dtype=object)
        scores = np.asarray(scores, dtype=np.float64)
        if ids.ndim != 2 or ids.shape != scores.shape:
            raise TagrankInputError(f"source {name!r}: ids {ids.shape} and scores {scores.shape} must be equal 2-D shapes")
        if ids.shape[0] != len(queries):
            raise TagrankInputError(f"source {name!r} has {ids.shape[0]} rows for {len(queries)} queries")
        n, k = ids.shape
        flat_ids = ids.ravel()
        ok = np.isfinite(scores.ravel()) & ~_blank_mask(flat_ids, blank_ids)
        q_parts.append(np.repeat(np.arange(n, dtype=np.int64), k)[ok])
        c_parts.append(flat_ids[ok])
        s_parts.append(np.full(int(ok.sum()), s, dtype=np.int64))
        r_parts.append(np.tile(np.arange(1, k + 1, dtype=np.float64), n)[ok])
    row_query = np.concatenate(q_parts)
    row_source = np.concatenate(s_parts)
    row_rank = np.concatenate(r_parts)
    query_values = _object_array(queries)
    qcodes, _ = pd.factorize(query_values, sort=False)
    _, first_of_code = np.unique(qcodes, return_index=True)  # a merged query is named by its first position
    q = qcodes[row_query].astype(np.int64)
    cc, cvalues = pd.factorize(np.concatenate(c_parts).astype(object, copy=False), sort=False)
    n_c = max(len(cvalues), 1)
    pair = q * n_c + cc.astype(np.int64)
    upair, inv = np.unique(pair, return_inverse=True)
    ranks = np.full((len(upair), len(names)), np.nan)
    np.fmin.at(ranks, (inv, row_source), row_rank)
    first = np.full(len(upair), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(len(pair), dtype=np.int64))
    uq = upair // n_c
    order = np.lexsort((first, uq))
    columns: dict[str, np.ndarray] = {
        query_col: query_values[first_of_code][uq[order]] if len(upair) else np.zeros(0, object),
        candidate_col: np.asarray(cvalues, dtype=object)[(upair % n_c)[order]] if len(upair) else np.zeros(0, object),
    }
    ranks = ranks[order]
    present = ~np.isnan(ranks)
    for s, name in enumerate(names):
        columns[f"src.{name}"] = present[:, s].astype(np.float64)
        columns[f"srank.{name}"] = np.where(present[:, s], ranks[:, s], float(missing_rank))
    columns["n_sources"] = present.sum(axis=1).astype(np.float64)
    return columns


class CandidateGenerator:
    """Top-k of several fitted scorers, merged by :func:`union_candidates`.

    ``sources`` maps a name to a fitted scorer: a TextScorer (queries are
    texts; ``top_k``) or an InteractionScorer (queries are user ids;
    ``recommend(users, k, exclude_seen)``). ``k`` is one int or ``{name: k}``.
    """

    def __init__(
        self,
        sources: Mapping[str, Any],
        k: int | Mapping[str, int] = 100,
        exclude_seen: bool = True,
        missing_rank: int = MISSING_RANK,
        query_col: str = "query",
        candidate_col: str = "item_id",
    ):
        self.sources = sources
        self.k = k
        self.exclude_seen = exclude_seen
        self.missing_rank = missing_rank
        self.query_col = query_col
        self.candidate_col = candidate_col

    def _k_of(self, name: str) -> int:
        if isinstance(self.k, Mapping):
            if name not in self.k:
                raise TagrankInputError(f"k has no entry for source {name!r}")
            return check_k(self.k[name], f"k[{name!r}]")
        return check_k(self.k)

    def retrieve(self, queries: Sequence[Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every source's raw (ids, scores) for ``queries``."""
        if not self.sources:
            raise TagrankInputError("CandidateGenerator needs at least one source")
        queries = list(queries)
        out = {}
        for name, est in self.sources.items():
            k = self._k_of(name)
            if hasattr(est, "recommend"):
                out[name] = est.recommend(queries, k, exclude_seen=self.exclude_seen)
            elif hasattr(est, "top_k"):
                out[name] = est.top_k(queries, k)
            else:
                raise TagrankInputError(f"source {name!r} ({type(est).__name__}) has neither recommend nor top_k")
        return out

    def generate(self, queries: Sequence[Any]) -> pd.DataFrame:
        """The de-duplicated union with provenance columns (see the module docstring)."""
        return pd.DataFrame(self.generate_columns(queries))

    def generate_columns(self, queries: Sequence[Any]) -> dict[str, np.ndarray]:
        """:meth:`generate` as ``{column: array}`` (:func:`union_columns`)."""
        queries = list(queries)
        return union_columns(self.retrieve(queries), queries, self.query_col, self.candidate_col, self.missing_rank)


__all__ = ["MISSING_RANK", "CandidateGenerator", "union_candidates", "union_columns"]
