"""Content-based recommendation: any text representation turned into a recommender.

Item vectors come from a text scorer's ``transform`` (TF-IDF rows, word2vec or
transformer embeddings), L2-normalised; a user's profile is the mean of their
history's item vectors, and items are ranked by cosine to it. Unlike
collaborative methods, every catalogue item with a text can be recommended,
including items nobody interacted with yet (cold items).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.base import INTERACTION_COLUMNS, InteractionScorer
from tagrank.baselines.validation import (
    TagrankInputError,
    check_columns,
    check_known_ids,
    check_nonempty,
    check_texts,
)
from tagrank.baselines.vectors import pair_scores, top_k


def _row_normalize(x: np.ndarray | sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(x):
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x)
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class ContentRecommender(InteractionScorer):
    """Recommend by cosine between the mean of a user's item vectors and every item's vector."""

    def __init__(self, text_scorer: Any, device: str = "auto"):
        self.text_scorer = text_scorer
        self.device = device

    @property
    def name(self) -> str:  # type: ignore[override]
        return getattr(self.text_scorer, "name", "content")

    def get_params(self) -> dict[str, Any]:
        inner = self.text_scorer.get_params() if hasattr(self.text_scorer, "get_params") else {}
        return {**inner, "representation": type(self.text_scorer).__name__}

    def fit(self, interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> ContentRecommender:
        """Fit the text representation on the item texts, then build user profiles from ``interactions``."""
        if items is None:
            raise TagrankInputError("items is required: a frame with item_id and text for every catalogue item")
        check_columns(items, ("item_id", "text"), "items")
        check_columns(interactions, INTERACTION_COLUMNS, "interactions")
        check_nonempty(interactions, "interactions")
        texts = check_texts(items["text"].tolist(), "items.text")
        ids = items["item_id"].tolist()
        if len(set(ids)) != len(ids):
            raise TagrankInputError("items.item_id contains duplicates")
        self.item_ids_ = np.asarray(ids, dtype=object)
        self.item_index_ = {it: i for i, it in enumerate(ids)}
        users = pd.Index(pd.unique(interactions["user_id"]))
        self.user_ids_ = users.to_numpy(dtype=object)
        self.user_index_ = {u: i for i, u in enumerate(self.user_ids_)}
        item_rows = check_known_ids(interactions["item_id"], self.item_index_, "interactions.item_id")
        user_rows = users.get_indexer(interactions["user_id"])
        self.text_scorer.fit(texts, ids)
        self.item_vectors_ = _row_normalize(self.text_scorer.transform(texts))
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        seen = sp.csr_matrix((np.ones(len(item_rows)), (user_rows, item_rows)), shape=(n_users, n_items))
        seen.sum_duplicates()
        seen.data[:] = 1.0
        self.seen_ = seen
        counts = np.asarray(seen.sum(axis=1)).ravel()
        mean_op = sp.diags(1.0 / np.maximum(counts, 1)) @ seen
        profiles = mean_op @ self.item_vectors_
        self.user_vectors_ = sp.csr_matrix(profiles) if sp.issparse(profiles) else np.asarray(profiles, np.float32)
        return self

    def _fit(self, interactions, user_rows, item_rows) -> None:  # pragma: no cover - fit is overridden
        raise NotImplementedError

    def _dense(self, rows: np.ndarray, which: str) -> np.ndarray:
        m = self.user_vectors_ if which == "user" else self.item_vectors_
        block = m[rows]
        return block.toarray().astype(np.float32) if sp.issparse(block) else block

    def _score_user_items(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        if sp.issparse(self.item_vectors_):
            u = self.user_vectors_[user_rows]
            v = self.item_vectors_[item_rows]
            dots = np.asarray(u.multiply(v).sum(axis=1)).ravel()
            un = np.sqrt(np.asarray(u.multiply(u).sum(axis=1)).ravel())
            return dots / np.maximum(un, 1e-12)
        return pair_scores(self.user_vectors_[user_rows], self.item_vectors_[item_rows], "cosine", self.device)

    def _top(self, queries, exclude: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        if sp.issparse(self.item_vectors_):
            from tagrank.baselines.sparse_topk import cached_postings, sparse_top_k

            q = _row_normalize(sp.csr_matrix(queries))
            return sparse_top_k(q, self.item_vectors_, k, exclude=exclude,
                                postings=cached_postings(self, self.item_vectors_))
        return top_k(queries, self.item_vectors_, k, metric="cosine", device=self.device, exclude=exclude)

    def _recommend(self, user_rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        queries = self.user_vectors_[user_rows]
        exclude = self.seen_[user_rows] if exclude_seen else None
        return self._top(queries, exclude, k)

    def _similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n_items = len(self.item_ids_)
        self_mask = sp.csr_matrix(
            (np.ones(len(item_rows)), (np.arange(len(item_rows)), item_rows)), shape=(len(item_rows), n_items)
        )
        return self._top(self.item_vectors_[item_rows], self_mask, k)
