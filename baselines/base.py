"""The two scorer interfaces every method implements.

``TextScorer``: fitted on a corpus of texts (optionally with ids), scores aligned
(left, right) text pairs and retrieves the top-k corpus rows for queries.
``InteractionScorer``: fitted on (user, item) interactions, scores user-item and
item-item pairs and recommends. Both expose their scores as named features for
the hybrid ranker. Scorers return numbers; they never decide on metrics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_aligned,
    check_columns,
    check_k,
    check_known_ids,
    check_nonempty,
    check_same_length,
    check_texts,
    check_unique_ids,
    id_list,
    label_at,
)


def ids_at(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Look up ids by row position; -1 (an empty slot, e.g. everything else excluded) becomes None."""
    rows = np.asarray(rows, dtype=np.int64)
    out = ids[np.clip(rows, 0, None)] if len(ids) else np.empty(rows.shape, dtype=object)
    out = out.astype(object)
    out[rows < 0] = None
    return out


class Scorer(Params):  # noqa: B024 - plumbing only; the two interfaces below are the ABCs
    """Common plumbing: parameters (:class:`baselines.params.Params`), fitted check, feature naming."""

    #: short name used for feature columns and results rows
    name: str = "scorer"

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

class TextScorer(Scorer, ABC):
    """A similarity over texts, fitted on a corpus.

    Subclasses implement ``_fit``, ``_score_pairs`` and ``_top_k``; the public
    methods validate input (no empty / NaN text, matching lengths, k >= 1) and
    never mutate it.
    """

    def fit(self, corpus: Sequence[str], ids: Sequence[Any] | None = None) -> TextScorer:
        """Learn corpus statistics (vocabulary, idf, embeddings); ``ids`` name the rows for ``top_k``."""
        texts = check_texts(corpus, "corpus")
        check_nonempty(texts, "corpus")
        if ids is None:
            ids = list(range(len(texts)))
        ids = check_unique_ids(id_list(ids, "ids"), "ids")  # no bare string, None or repeat
        check_same_length(corpus=texts, ids=ids)
        self.ids_ = np.asarray(ids, dtype=object)
        self.id_index_ = {key: i for i, key in enumerate(ids)}
        text_rows: dict[str, int] = {}
        for i, t in enumerate(texts):
            text_rows.setdefault(t, i)
        self._fit(texts)
        self.text_rows_ = text_rows  # only once the fit succeeded: it must match the fitted matrices
        return self

    def corpus_rows(self, texts: Sequence[str]) -> np.ndarray | None:
        """The fitted-corpus row of each text, or None unless every text is a corpus text.

        Scoring a query against catalogue items (a reranking request) can then reuse
        the items' fitted representation instead of analysing their texts again.
        """
        index = getattr(self, "text_rows_", None)
        if not index:
            return None
        rows = np.fromiter((index.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
        return None if (rows < 0).any() else rows

    def score_pairs(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Similarity of each aligned pair (left[i], right[i]) as a float64 array."""
        self._check_fitted("ids_")
        check_aligned(left=left, right=right)
        lt = check_texts(left, "left")
        rt = check_texts(right, "right")
        check_same_length(left=lt, right=rt)
        if not lt:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._score_pairs(lt, rt), dtype=np.float64)

    def top_k(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k corpus rows per query: (ids [n, k'], scores [n, k']), k' = min(k, corpus size).

        Rows are ordered by score descending, ties broken by corpus position.
        """
        self._check_fitted("ids_")
        qt = check_texts(queries, "queries")
        k = min(check_k(k), len(self.ids_))
        if not qt:
            return np.empty((0, k), dtype=object), np.empty((0, k))
        rows, scores = self._top_k(qt, k)
        return ids_at(self.ids_, rows), np.asarray(scores, dtype=np.float64)

    def feature_columns(self, left: Sequence[str], right: Sequence[str]) -> dict[str, np.ndarray]:
        """Named feature columns for the hybrid ranker, as arrays (default: the pair score).

        The hybrid's feature builder reads these; a serving request then builds
        one frame, not one per scorer."""
        return {self.name: self.score_pairs(left, right)}

    def features(self, left: Sequence[str], right: Sequence[str]) -> pd.DataFrame:
        """:meth:`feature_columns` as a frame."""
        return pd.DataFrame(self.feature_columns(left, right))

    features.wraps_feature_columns = True  # type: ignore[attr-defined]  # a subclass overriding features wins

    @abstractmethod
    def _fit(self, texts: list[str]) -> None: ...

    @abstractmethod
    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray: ...

    @abstractmethod
    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (corpus row positions [n, k], scores [n, k])."""


INTERACTION_COLUMNS = ("user_id", "item_id")


class InteractionScorer(Scorer, ABC):
    """A recommender fitted on (user_id, item_id[, timestamp, weight]) interactions."""

    def fit(self, interactions: pd.DataFrame) -> InteractionScorer:
        """Index users and items and learn the model; the frame is not modified."""
        check_columns(interactions, INTERACTION_COLUMNS, "interactions")
        check_nonempty(interactions, "interactions")
        for col in INTERACTION_COLUMNS:
            missing = interactions[col].isna().to_numpy()
            if missing.any():
                row = label_at(interactions.index, int(np.argmax(missing)))
                raise TagrankInputError(f"interactions.{col}[{row!r}] is missing (got {interactions[col][row]!r})")
        users = pd.Index(pd.unique(interactions["user_id"]))
        items = pd.Index(pd.unique(interactions["item_id"]))
        self.user_ids_ = users.to_numpy(dtype=object)
        self.item_ids_ = items.to_numpy(dtype=object)
        self.user_index_ = {u: i for i, u in enumerate(self.user_ids_)}
        self.item_index_ = {it: i for i, it in enumerate(self.item_ids_)}
        user_rows = users.get_indexer(interactions["user_id"])
        item_rows = items.get_indexer(interactions["item_id"])
        self._fit(interactions, user_rows.astype(np.int64), item_rows.astype(np.int64))
        return self

    def _user_rows(self, user_ids: Sequence[Any], field: str = "user_ids") -> np.ndarray:
        self._check_fitted("user_ids_")
        return check_known_ids(user_ids, self.user_index_, field)

    def _item_rows(self, item_ids: Sequence[Any], field: str = "item_ids") -> np.ndarray:
        self._check_fitted("item_ids_")
        return check_known_ids(item_ids, self.item_index_, field)

    def score_user_items(self, user_ids: Sequence[Any], item_ids: Sequence[Any]) -> np.ndarray:
        """Score of each aligned (user, item) pair."""
        check_same_length(user_ids=user_ids, item_ids=item_ids)
        return np.asarray(
            self._score_user_items(self._user_rows(user_ids), self._item_rows(item_ids)), dtype=np.float64
        )

    def recommend(
        self, user_ids: Sequence[Any], k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per user: (item ids [n, k'], scores [n, k']), k' = min(k, items); seen items excluded by default.

        A slot that cannot be filled (the user has seen almost everything) holds None with score -inf.
        """
        rows = self._user_rows(user_ids)
        k = min(check_k(k), len(self.item_ids_))
        if len(rows) == 0:
            return np.empty((0, k), dtype=object), np.empty((0, k))
        item_rows, scores = self._recommend(rows, k, exclude_seen)
        return ids_at(self.item_ids_, item_rows), np.asarray(scores, dtype=np.float64)

    def similar_items(self, item_ids: Sequence[Any], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k most similar other items per item: (item ids [n, k'], scores [n, k'])."""
        rows = self._item_rows(item_ids)
        k = min(check_k(k), max(len(self.item_ids_) - 1, 1))
        if len(rows) == 0:
            return np.empty((0, k), dtype=object), np.empty((0, k))
        item_rows, scores = self._similar_items(rows, k)
        return ids_at(self.item_ids_, item_rows), np.asarray(scores, dtype=np.float64)

    def features(self, user_ids: Sequence[Any], item_ids: Sequence[Any]) -> pd.DataFrame:
        """Named feature columns for the hybrid ranker (default: the user-item score)."""
        return pd.DataFrame({self.name: self.score_user_items(user_ids, item_ids)})

    @abstractmethod
    def _fit(self, interactions: pd.DataFrame, user_rows: np.ndarray, item_rows: np.ndarray) -> None: ...

    @abstractmethod
    def _score_user_items(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _recommend(self, user_rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return (item row positions [n, k], scores [n, k])."""

    @abstractmethod
    def _similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (item row positions [n, k], scores [n, k]), the query item itself excluded."""
