"""Tag-recommendation signals: rank a tag vocabulary for a (user, item) pair.

Each signal is fitted on tag events, a frame with columns ``user_id``,
``item_id``, ``tag`` (optionally ``timestamp``, Unix seconds), and scores every
tag of the training vocabulary (``tags_``, sorted) for aligned (user, item)
pairs:

* :class:`TagPopularityScorer` -- number of distinct users who used the tag
  (the same for every pair);
* :class:`UserHistoryScorer` -- how often *this user* used the tag,
  optionally time-decayed, as a share of the user's tagging;
* :class:`ItemCooccurrenceScorer` -- the tags *this item* received (share of
  its tag assignments, counted once per user) plus the tags that co-occur
  with them on other items: ``self_weight * A[i, t] / sum_t A[i, t] +
  cooccurrence_weight * mean_{s on i} P(t | s)`` with ``P(t | s)`` = share of
  the items tagged ``s`` that are also tagged ``t``.

Unknown users or items are a normal cold start, not an error: their
personal / item part scores 0. Ranking ties (including all-zero rows) are
broken by tag popularity, then by the tag string, so a cold pair gets the
popular tags. Tags outside the vocabulary score 0 in :meth:`TagSignal.score_tags`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.base import Scorer
from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.validation import (
    BlankTextError,
    TagrankInputError,
    check_columns,
    check_k,
    check_nonempty,
    check_same_length,
    has_content,
    label_at,
)

EVENT_COLUMNS = ("user_id", "item_id", "tag")
SECONDS_PER_DAY = 86400.0
_CHUNK_ROWS = 2048


def check_events(events: pd.DataFrame, field: str = "events") -> pd.DataFrame:
    """Validate a tag-event frame; returns a copy with ``tag`` as stripped str (never mutates)."""
    if not isinstance(events, pd.DataFrame):
        raise TagrankInputError(f"{field} must be a DataFrame with columns {list(EVENT_COLUMNS)}, got {type(events).__name__}")
    check_columns(events, EVENT_COLUMNS, field)
    check_nonempty(events, field)
    for col in EVENT_COLUMNS:
        missing = events[col].isna().to_numpy()
        if missing.any():
            raise TagrankInputError(f"{field}.{col}[{label_at(events.index, int(np.argmax(missing)))!r}] is missing")
    tags = events["tag"].astype(str).str.strip()
    blank = ~tags.map(has_content).to_numpy(dtype=bool)
    if blank.any():
        i = int(np.argmax(blank))
        raise BlankTextError(f"{field}.tag[{label_at(events.index, i)!r}] is empty or blank (got {events['tag'].iat[i]!r})")
    out = events.copy()
    out["tag"] = tags.to_numpy()
    return out


class TagSignal(Scorer):
    """Base of the tag signals: vocabulary, tie order, ranking; subclasses fill ``_fit`` and ``_score_rows``."""

    name = "tag_signal"

    def fit(self, events: pd.DataFrame, items: pd.DataFrame | None = None) -> TagSignal:
        """Learn from tag events; ``items`` is accepted (and ignored) for one interface with TagRecommender."""
        ev = check_events(events)
        self._check_params()
        tags = np.asarray(sorted(set(ev["tag"])), dtype=object)
        self.tags_ = tags
        self.tag_index_ = {t: i for i, t in enumerate(tags)}
        tag_rows = np.fromiter((self.tag_index_[t] for t in ev["tag"]), dtype=np.int64, count=len(ev))
        # tie order: distinct users per tag, descending, then tag string
        pairs = pd.DataFrame({"u": ev["user_id"].to_numpy(), "t": tag_rows}).drop_duplicates()
        self.tag_popularity_ = np.bincount(pairs["t"].to_numpy(), minlength=len(tags)).astype(np.float64)
        self.tie_order_ = np.lexsort((np.arange(len(tags)), -self.tag_popularity_))
        self._fit(ev, tag_rows)
        return self

    def _check_params(self) -> None:
        """Validate constructor parameters (override)."""

    def _fit(self, events: pd.DataFrame, tag_rows: np.ndarray) -> None:
        raise NotImplementedError

    def _score_rows(self, user_ids: list[Any], item_ids: list[Any]) -> np.ndarray:
        """Dense [n, n_tags] scores for aligned (user, item) pairs."""
        raise NotImplementedError

    def score(self, user_ids: Sequence[Any], item_ids: Sequence[Any]) -> np.ndarray:
        """Score of every vocabulary tag (columns ordered as ``tags_``) for each aligned (user, item)."""
        self._check_fitted("tags_")
        users, items = list(user_ids), list(item_ids)
        check_same_length(user_ids=users, item_ids=items)
        if not users:
            return np.zeros((0, len(self.tags_)))
        return np.asarray(self._score_rows(users, items), dtype=np.float64)

    def score_tags(self, user_ids: Sequence[Any], item_ids: Sequence[Any], tags: Sequence[str]) -> np.ndarray:
        """Score of each aligned (user, item, tag) triple; a tag outside the vocabulary scores 0."""
        self._check_fitted("tags_")
        users, items, tags = list(user_ids), list(item_ids), list(tags)
        check_same_length(user_ids=users, item_ids=items, tags=tags)
        out = np.zeros(len(tags), dtype=np.float64)
        if not tags:
            return out
        cols = np.asarray([self.tag_index_.get(t, -1) for t in tags], dtype=np.int64)
        # score each distinct (user, item) once
        keys = pd.MultiIndex.from_arrays([pd.Index(users, dtype=object), pd.Index(items, dtype=object)])
        codes, uniques = pd.factorize(keys)
        for start in range(0, len(uniques), _CHUNK_ROWS):
            chunk = uniques[start : start + _CHUNK_ROWS]
            mat = self.score([u for u, _ in chunk], [i for _, i in chunk])
            rows = np.flatnonzero((codes >= start) & (codes < start + len(chunk)) & (cols >= 0))
            out[rows] = mat[codes[rows] - start, cols[rows]]
        return out

    def recommend(
        self,
        user_ids: Sequence[Any],
        item_ids: Sequence[Any],
        k: int = 10,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k tags per (user, item): (tags [n, k'], scores [n, k']), k' = min(k, vocabulary).

        Ties are broken by tag popularity, then tag string. ``exclude`` (one set per
        row, or None) removes tags from that row's ranking; rows left short are
        padded with None / -inf.
        """
        self._check_fitted("tags_")
        k = min(check_k(k), len(self.tags_))
        users, items = list(user_ids), list(item_ids)
        check_same_length(user_ids=users, item_ids=items)
        if exclude is not None:
            exclude = list(exclude)
            check_same_length(user_ids=users, exclude=exclude)
        n = len(users)
        out_tags = np.full((n, k), None, dtype=object)
        out_scores = np.full((n, k), -np.inf)
        order = self.tie_order_
        for start in range(0, n, _CHUNK_ROWS):
            stop = min(n, start + _CHUNK_ROWS)
            mat = self.score(users[start:stop], items[start:stop])[:, order]
            if exclude is not None:
                for r in range(stop - start):
                    ex = exclude[start + r]
                    if ex:
                        cols = [self.tag_index_[t] for t in ex if t in self.tag_index_]
                        if cols:
                            # positions of those tags in the tie order
                            mat[r, np.isin(order, cols)] = -np.inf
            take = np.argsort(-mat, axis=1, kind="stable")[:, :k]
            scores = np.take_along_axis(mat, take, axis=1)
            tags = self.tags_[order[take]]
            tags[~np.isfinite(scores)] = None
            out_tags[start:stop] = tags
            out_scores[start:stop] = scores
        return out_tags, out_scores

    def features(self, user_ids: Sequence[Any], item_ids: Sequence[Any], tags: Sequence[str]) -> pd.DataFrame:
        """Named feature column for the hybrid ranker: this signal's score of each triple."""
        return pd.DataFrame({self.name: self.score_tags(user_ids, item_ids, tags)})


class TagPopularityScorer(TagSignal):
    """Global tag popularity: distinct users per tag, the same ranking for every (user, item)."""

    name = "popularity"

    def __init__(self) -> None:
        pass

    def _fit(self, events: pd.DataFrame, tag_rows: np.ndarray) -> None:
        self.scores_ = self.tag_popularity_.copy()

    def _score_rows(self, user_ids: list[Any], item_ids: list[Any]) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(user_ids), len(self.scores_))).copy()


def _decay_weights(events: pd.DataFrame, half_life_days: float | None) -> np.ndarray:
    if half_life_days is None:
        return np.ones(len(events), dtype=np.float64)
    if "timestamp" not in events.columns:
        raise TagrankInputError("half_life_days needs a 'timestamp' column in events")
    t = to_seconds(events["timestamp"], "events.timestamp")
    return np.power(0.5, (t.max() - t) / (float(half_life_days) * SECONDS_PER_DAY))


def _check_half_life(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise TagrankInputError(f"half_life_days must be None or a positive number, got {value!r}")


def _check_weight(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
        raise TagrankInputError(f"{field} must be a non-negative number, got {value!r}")


class UserHistoryScorer(TagSignal):
    """The user's own tagging: score(u, t) = (decayed) count of u's events with tag t.

    Parameters
    ----------
    normalize:
        divide by the user's total (a share in [0, 1]); the ranking is the same,
        the feature is comparable across users.
    half_life_days:
        ``None`` or a positive number: an event ``d`` days older than the newest
        training event counts ``0.5 ** (d / half_life_days)`` (needs ``timestamp``).
    """

    name = "user_history"

    def __init__(self, normalize: bool = True, half_life_days: float | None = None) -> None:
        self.normalize = normalize
        self.half_life_days = half_life_days

    def _check_params(self) -> None:
        _check_half_life(self.half_life_days)

    def _fit(self, events: pd.DataFrame, tag_rows: np.ndarray) -> None:
        users = pd.Index(pd.unique(events["user_id"]))
        self.user_index_ = {u: i for i, u in enumerate(users)}
        w = _decay_weights(events, self.half_life_days)
        mat = sp.csr_matrix(
            (w, (users.get_indexer(events["user_id"]), tag_rows)), shape=(len(users), len(self.tags_))
        )
        mat.sum_duplicates()
        if self.normalize:
            totals = np.asarray(mat.sum(axis=1)).ravel()
            mat = sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ mat
        self.user_tags_ = mat.tocsr()

    def _score_rows(self, user_ids: list[Any], item_ids: list[Any]) -> np.ndarray:
        rows = np.asarray([self.user_index_.get(u, -1) for u in user_ids], dtype=np.int64)
        out = np.zeros((len(rows), len(self.tags_)))
        known = rows >= 0
        if known.any():
            out[known] = self.user_tags_[rows[known]].toarray()
        return out


class ItemCooccurrenceScorer(TagSignal):
    """The item's tags and their co-occurring tags (see the module docstring for the formula).

    Parameters
    ----------
    self_weight:
        weight of the item's own tags (share of its tag assignments, one per user and tag).
    cooccurrence_weight:
        weight of the mean conditional co-occurrence ``P(t | s)`` over the item's tags ``s``.
    """

    name = "item_cooccurrence"

    def __init__(self, self_weight: float = 1.0, cooccurrence_weight: float = 1.0) -> None:
        self.self_weight = self_weight
        self.cooccurrence_weight = cooccurrence_weight

    def _check_params(self) -> None:
        _check_weight(self.self_weight, "self_weight")
        _check_weight(self.cooccurrence_weight, "cooccurrence_weight")

    def _fit(self, events: pd.DataFrame, tag_rows: np.ndarray) -> None:
        items = pd.Index(pd.unique(events["item_id"]))
        self.item_index_ = {it: i for i, it in enumerate(items)}
        n_items, n_tags = len(items), len(self.tags_)
        frame = pd.DataFrame({
            "i": items.get_indexer(events["item_id"]), "t": tag_rows, "u": events["user_id"].to_numpy(),
        }).drop_duplicates()
        counts = sp.csr_matrix(
            (np.ones(len(frame)), (frame["i"].to_numpy(), frame["t"].to_numpy())), shape=(n_items, n_tags)
        )
        counts.sum_duplicates()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self.item_tags_ = (sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ counts).tocsr()
        binary = counts.copy()
        binary.data[:] = 1.0
        self.item_binary_ = binary.tocsr()
        co = (binary.T @ binary).tocsr()
        co.setdiag(0.0)
        co.eliminate_zeros()
        n_items_of_tag = np.asarray(binary.sum(axis=0)).ravel()
        # row s: P(t | s) = |items with s and t| / |items with s|
        self.conditional_ = (sp.diags(1.0 / np.where(n_items_of_tag > 0, n_items_of_tag, 1.0)) @ co).tocsr()

    def _score_rows(self, user_ids: list[Any], item_ids: list[Any]) -> np.ndarray:
        rows = np.asarray([self.item_index_.get(i, -1) for i in item_ids], dtype=np.int64)
        out = np.zeros((len(rows), len(self.tags_)))
        known = rows >= 0
        if not known.any():
            return out
        r = rows[known]
        part = self.self_weight * self.item_tags_[r].toarray()
        if self.cooccurrence_weight:
            b = self.item_binary_[r]
            n_tags_of_item = np.asarray(b.sum(axis=1)).ravel()
            mean_b = sp.diags(1.0 / np.where(n_tags_of_item > 0, n_tags_of_item, 1.0)) @ b
            part += self.cooccurrence_weight * (mean_b @ self.conditional_).toarray()
        out[known] = part
        return out
