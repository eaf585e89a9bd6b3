"""Bayesian Personalised Ranking (Rendle et al. 2009) via ``implicit``: a pairwise-ranking MF baseline.

The model is ``implicit.bpr.BayesianPersonalizedRanking`` (implicit 0.7, CPU
build), fitted on the binary CSR **user x item** matrix (rows = users, the
orientation implicit 0.7 expects; the learnt factor shapes are checked). BPR
samples (user, positive, negative) triples and does SGD; with ``num_threads``
> 1 the updates race (Hogwild), so the default is one thread, which makes a fit
with a fixed ``random_state`` reproducible. implicit appends an item bias
column to the item factors (and a constant 1 to the user factors), so the dot
product below includes the bias. Scores run through :mod:`baselines.vectors`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.factors import FactorModelMixin
from tagrank.baselines.interactions import (
    InteractionPersistenceMixin,
    seen_matrix,
)
from tagrank.baselines.validation import TagrankInputError


class BPRScorer(FactorModelMixin, InteractionPersistenceMixin, InteractionScorer):
    """Implicit BPR recommender.

    Parameters
    ----------
    factors, learning_rate, regularization, iterations:
        passed to ``implicit.bpr.BayesianPersonalizedRanking``.
    verify_negative_samples:
        re-draw a sampled negative the user did interact with (implicit's option).
    random_state:
        seeds the factor initialisation and the triple sampling.
    num_threads:
        implicit's SGD threads; 1 (default) is reproducible, more threads race.
    device:
        where scoring runs (``baselines.vectors``): ``auto`` | ``cpu`` | ``cuda``.

    Fitted attributes: ``user_factors_`` (n_users x factors+1), ``item_factors_``
    (n_items x factors+1, last column the item bias), float32; ``seen_``.
    score_user_items = dot(user, item); similar_items = cosine of item factors.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        verify_negative_samples: bool = True,
        random_state: int = 0,
        num_threads: int = 1,
        device: str = "auto",
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.verify_negative_samples = verify_negative_samples
        self.random_state = random_state
        self.num_threads = num_threads
        self.device = device

    def _check_params(self) -> None:
        for field in ("factors", "iterations"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise TagrankInputError(f"{field} must be a positive integer, got {value!r}")
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int | np.integer) or self.num_threads < 0:
            raise TagrankInputError(f"num_threads must be an integer >= 0, got {self.num_threads!r}")
        for field in ("learning_rate", "regularization"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise TagrankInputError(f"{field} must be a non-negative number, got {value!r}")
        if self.learning_rate == 0:
            raise TagrankInputError("learning_rate must be > 0")

    def _fit(self, interactions: pd.DataFrame, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        self._check_params()
        import implicit.bpr
        from threadpoolctl import threadpool_limits

        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        seen = seen_matrix(user_rows, item_rows, n_users, n_items)
        with threadpool_limits(limits=1, user_api="blas"):
            model = implicit.bpr.BayesianPersonalizedRanking(
                factors=int(self.factors),
                learning_rate=float(self.learning_rate),
                regularization=float(self.regularization),
                iterations=int(self.iterations),
                verify_negative_samples=bool(self.verify_negative_samples),
                num_threads=int(self.num_threads),
                random_state=self.random_state,
                use_gpu=False,
            )
            model.fit(seen.astype(np.float32).tocsr(), show_progress=False)
        self._store_factors(model, n_users, n_items)
        self.seen_ = seen

