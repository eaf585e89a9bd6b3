"""What the matrix-factorisation scorers (ALS, BPR) share once fitted: user and item factor
matrices, scored by dot product (users) and cosine (items), saved as two arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from tagrank.baselines.interactions import exclusion_mask, self_mask
from tagrank.baselines.vectors import pair_scores, top_k


class FactorModelMixin:
    """Serving and persistence of ``user_factors_`` / ``item_factors_`` (fitted by the subclass)."""

    def _store_factors(self, model: Any, n_users: int, n_items: int) -> None:
        """Take an implicit model's factors as float32, checking their orientation (implicit 0.7
        takes user x item; a transposed matrix would swap them)."""
        user_factors = np.ascontiguousarray(np.asarray(model.user_factors, dtype=np.float32))
        item_factors = np.ascontiguousarray(np.asarray(model.item_factors, dtype=np.float32))
        if user_factors.shape[0] != n_users or item_factors.shape[0] != n_items:
            raise RuntimeError(
                f"implicit returned {user_factors.shape[0]} user and {item_factors.shape[0]} item "
                f"factors for {n_users} users and {n_items} items: the matrix orientation is wrong"
            )
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.user_factors_ = np.asarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(arrays["item_factors"], dtype=np.float32)

    def _score_user_items(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        if len(user_rows) == 0:
            return np.zeros(0)
        return pair_scores(
            self.user_factors_[user_rows], self.item_factors_[item_rows], metric="dot", device=self.device
        )

    def _recommend(self, user_rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        exclude = exclusion_mask(self.seen_, user_rows) if exclude_seen else None
        return top_k(
            self.user_factors_[user_rows], self.item_factors_, k, metric="dot", device=self.device, exclude=exclude
        )

    def _similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k(
            self.item_factors_[item_rows], self.item_factors_, k, metric="cosine", device=self.device,
            exclude=self_mask(item_rows, len(self.item_ids_)),
        )
