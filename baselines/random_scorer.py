"""The ``random`` floor: seeded random scores, a fresh shuffle on every call.

Used by the search ``rerank`` setting, where a random order already scores high
NDCG; the protocol averages ``n_repeats`` calls (the spec's 10 seeded shuffles).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tagrank.baselines.validation import check_same_length, check_texts


class RandomScorer:
    """Scores pairs uniformly at random; call ``i`` uses seed ``random_state + i``."""

    name = "random"

    def __init__(self, n_repeats: int = 10, random_state: int = 0):
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_params(self) -> dict[str, int]:
        return {"n_repeats": self.n_repeats, "random_state": self.random_state}

    def fit(self, *args, **kwargs) -> RandomScorer:
        self.calls_ = 0
        return self

    def score_pairs(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        check_same_length(left=check_texts(left, "left"), right=check_texts(right, "right"))
        if not hasattr(self, "calls_"):
            self.calls_ = 0
        rng = np.random.default_rng(self.random_state + self.calls_)
        self.calls_ += 1
        return rng.random(len(left))
