"""Popularity baseline: recommend the most popular items the user has not seen.

Popularity of an item = the number of distinct users who interacted with it
(or, with ``weight_col``, the sum of that column over its interactions),
optionally exponentially time-decayed: an interaction ``d`` days older than the
latest timestamp in the training frame counts ``0.5 ** (d / half_life_days)``.
Without ``weight_col`` a user counts once per item, with the weight of their
most recent interaction with it.

The score of (user, item) is the item's popularity whatever the user; ties are
broken by the lower item index (first appearance in the training frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.interactions import (
    InteractionPersistenceMixin,
    interaction_weights,
    seen_matrix,
    timestamps_seconds,
)
from tagrank.baselines.validation import TagrankInputError

SECONDS_PER_DAY = 86400.0


class PopularityScorer(InteractionPersistenceMixin, InteractionScorer):
    """Most-popular-unseen recommender.

    Parameters
    ----------
    half_life_days:
        ``None`` (no decay) or a positive number of days; needs a ``timestamp``
        column (Unix seconds or datetime64).
    weight_col:
        ``None`` counts distinct users per item; a column name sums that column
        (finite, >= 0) over the item's interactions instead.

    ``similar_items`` is not item-specific: it returns the most popular other
    items (a popularity fallback for the item-to-item task), so every query
    item gets the same list minus itself.
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = None, weight_col: str | None = None) -> None:
        self.half_life_days = half_life_days
        self.weight_col = weight_col

    def _check_params(self) -> None:
        hl = self.half_life_days
        if hl is not None and (isinstance(hl, bool) or not isinstance(hl, int | float) or not np.isfinite(hl) or hl <= 0):
            raise TagrankInputError(f"half_life_days must be None or a positive number, got {hl!r}")
        if self.weight_col is not None and not isinstance(self.weight_col, str):
            raise TagrankInputError(f"weight_col must be None or a column name, got {self.weight_col!r}")

    def _fit(self, interactions: pd.DataFrame, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        self._check_params()
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        weights = interaction_weights(interactions, self.weight_col)
        if self.half_life_days is not None:
            hl = self.half_life_days
            t = timestamps_seconds(interactions)
            decay = np.power(0.5, (t.max() - t) / (float(hl) * SECONDS_PER_DAY))
        else:
            decay = np.ones(len(user_rows), dtype=np.float64)
        if self.weight_col is None:
            # one count per distinct (user, item): the weight of the most recent interaction
            pair = user_rows * np.int64(n_items) + item_rows
            best = pd.Series(decay).groupby(pair).max()
            items = (best.index.to_numpy() % n_items).astype(np.int64)
            popularity = np.bincount(items, weights=best.to_numpy(), minlength=n_items)
        else:
            popularity = np.bincount(item_rows, weights=weights * decay, minlength=n_items)
        self._set_state({"popularity": popularity.astype(np.float64)})
        self.seen_ = seen_matrix(user_rows, item_rows, n_users, n_items)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.popularity_ = np.asarray(arrays["popularity"], dtype=np.float64)
        idx = np.arange(len(self.popularity_))
        #: item rows by popularity descending, ties by lower index
        self.order_ = np.lexsort((idx, -self.popularity_))

    def _score_user_items(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self.popularity_[item_rows]

    def _ranked(self, k: int, skip: np.ndarray) -> np.ndarray:
        take = self.order_[: k + len(skip)]
        if len(skip):
            take = take[~np.isin(take, skip)]
        return take[:k]

    def _fill(self, n: int, k: int, picks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float64)
        for i, take in enumerate(picks):
            idx[i, : len(take)] = take
            scores[i, : len(take)] = self.popularity_[take]
        return idx, scores

    def _recommend(self, user_rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        seen = self.seen_
        empty = np.zeros(0, dtype=np.int64)
        picks = [
            self._ranked(k, seen.indices[seen.indptr[u] : seen.indptr[u + 1]] if exclude_seen else empty)
            for u in user_rows
        ]
        return self._fill(len(user_rows), k, picks)

    def _similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        picks = [self._ranked(k, np.asarray([r], dtype=np.int64)) for r in item_rows]
        return self._fill(len(item_rows), k, picks)
