"""Implicit-feedback matrix factorisation (ALS, Hu, Koren & Volinsky 2008) via ``implicit``.

The model is ``implicit.als.AlternatingLeastSquares`` (implicit 0.7), fitted on
the CSR **user x item** confidence matrix (rows = users, columns = items, the
orientation implicit 0.7 expects; the shapes of the learnt factors are checked
against the indexed users and items). Confidence:

* ``weighting="raw"``: the interaction count (or summed ``weight_col``) per pair,
* ``"bm25"``: ``implicit.nearest_neighbours.bm25_weight(K1, B)`` applied to the
  item x user matrix (items as documents, users as terms, as in implicit's
  own examples), then transposed,
* ``"tfidf"``: ``implicit.nearest_neighbours.tfidf_weight`` in the same orientation,

then multiplied by ``alpha`` inside implicit. Note: with ``bm25_B > 0`` the
length normalisation runs per *item* (implicit's orientation), which lowers the
confidence of popular items; on binary positives this costs accuracy (random
80/20 holdout, recall@10: MovieLens 0.092 with B=0.8 vs 0.167 with B=0; Online
Retail 0.143 vs 0.174), so tune ``bm25_B`` (or use ``"tfidf"`` / ``"raw"``). Weights <= 0 (implicit's idf
``log(N) - log1p(df)`` is <= 0 for a user who interacted with nearly every item)
are floored at ``MIN_CONFIDENCE``: implicit would read them as negative feedback. Fitting runs with the BLAS
thread pool limited to one thread (``threadpoolctl``, scoped to the fit; the
environment is not touched), as implicit recommends. The learnt factors are
copied to numpy; every score (user-item dot product, item-item cosine) runs
through :mod:`baselines.vectors` on ``device``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.factors import FactorModelMixin
from tagrank.baselines.interactions import (
    InteractionPersistenceMixin,
    interaction_weights,
    seen_matrix,
    user_item_matrix,
)
from tagrank.baselines.validation import TagrankInputError

WEIGHTINGS = ("bm25", "tfidf", "raw")
#: floor of a weighted confidence (see ``confidence_matrix``)
MIN_CONFIDENCE = 1e-6


def implicit_has_cuda() -> bool:
    """True when the installed ``implicit`` was built with CUDA and sees a GPU."""
    try:
        import implicit.gpu

        return bool(implicit.gpu.HAS_CUDA)
    except Exception:  # pragma: no cover - a broken GPU build
        return False


def confidence_matrix(
    user_items: sp.csr_matrix, weighting: str, bm25_K1: float = 100.0, bm25_B: float = 0.8
) -> sp.csr_matrix:
    """The float32 CSR user x item matrix ALS is fitted on, weighted as asked."""
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    if weighting == "raw":
        out = user_items
    elif weighting == "bm25":
        out = bm25_weight(user_items.T.tocsr(), K1=bm25_K1, B=bm25_B).T
    elif weighting == "tfidf":
        out = tfidf_weight(user_items.T.tocsr()).T
    else:
        raise TagrankInputError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    out = sp.csr_matrix(out, dtype=np.float32)
    out.sort_indices()
    # implicit's idf is log(N) - log1p(df): a user who interacted with nearly every item gets
    # idf <= 0, and implicit reads a stored value <= 0 as *negative* feedback. Floor such
    # weights at a tiny positive confidence so they stay (uninformative) positives.
    out.data = np.maximum(out.data, MIN_CONFIDENCE).astype(np.float32)
    if out.shape != user_items.shape:  # pragma: no cover - guards the transposes above
        raise RuntimeError(f"confidence matrix has shape {out.shape}, expected {user_items.shape}")
    return out


class ALSScorer(FactorModelMixin, InteractionPersistenceMixin, InteractionScorer):
    """Implicit ALS recommender.

    Parameters
    ----------
    factors, regularization, alpha, iterations:
        passed to ``implicit.als.AlternatingLeastSquares`` (``alpha`` scales the
        confidence matrix).
    weighting:
        ``"bm25"`` (default), ``"tfidf"`` or ``"raw"`` confidence (see the module doc).
    bm25_K1, bm25_B:
        the BM25 parameters of ``bm25_weight``.
    weight_col:
        ``None``: each interaction counts 1 (repeats are summed); else a column
        (finite, >= 0) summed per (user, item).
    random_state:
        seeds implicit's factor initialisation; with it fixed, fits are identical.
    num_threads:
        implicit's CPU solver threads (0 = all cores).
    device:
        where scoring runs (``baselines.vectors``): ``auto`` | ``cpu`` | ``cuda``.
    use_gpu:
        fit with implicit's CUDA solver; needs an ``implicit`` built with CUDA
        and a GPU, otherwise ``fit`` raises ``TagrankInputError``.

    Fitted attributes: ``user_factors_`` (n_users x factors), ``item_factors_``
    (n_items x factors), float32 numpy; ``seen_`` (the binary user x item matrix).
    score_user_items = dot(user, item); similar_items = cosine of item factors.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        weighting: str = "bm25",
        bm25_K1: float = 100.0,
        bm25_B: float = 0.8,
        weight_col: str | None = None,
        random_state: int = 0,
        num_threads: int = 0,
        device: str = "auto",
        use_gpu: bool = False,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.bm25_K1 = bm25_K1
        self.bm25_B = bm25_B
        self.weight_col = weight_col
        self.random_state = random_state
        self.num_threads = num_threads
        self.device = device
        self.use_gpu = use_gpu

    def _check_params(self) -> None:
        for field in ("factors", "iterations"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise TagrankInputError(f"{field} must be a positive integer, got {value!r}")
        for field in ("regularization", "alpha"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise TagrankInputError(f"{field} must be a non-negative number, got {value!r}")
        if self.alpha == 0:
            raise TagrankInputError("alpha must be > 0")
        if self.weighting not in WEIGHTINGS:
            raise TagrankInputError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.use_gpu and not implicit_has_cuda():
            raise TagrankInputError(
                "use_gpu=True but the installed implicit has no CUDA support (it needs implicit's "
                "CUDA build, rmm and a GPU); use use_gpu=False (scoring still uses device=...)"
            )

    def _fit(self, interactions: pd.DataFrame, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        self._check_params()
        import implicit.als
        from threadpoolctl import threadpool_limits

        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        weights = interaction_weights(interactions, self.weight_col)
        user_items = user_item_matrix(user_rows, item_rows, n_users, n_items, weights)
        conf = confidence_matrix(user_items, self.weighting, self.bm25_K1, self.bm25_B)
        if conf.shape != (n_users, n_items):  # orientation guard
            raise RuntimeError(f"user x item matrix has shape {conf.shape}, expected {(n_users, n_items)}")
        # implicit warns (and is much slower) when BLAS runs its own thread pool; limit it
        # for the fit only, without touching os.environ.
        with threadpool_limits(limits=1, user_api="blas"):
            model = implicit.als.AlternatingLeastSquares(
                factors=int(self.factors),
                regularization=float(self.regularization),
                alpha=float(self.alpha),
                iterations=int(self.iterations),
                random_state=self.random_state,
                use_gpu=bool(self.use_gpu),
                **({} if self.use_gpu else {"num_threads": int(self.num_threads)}),
            )
            model.fit(conf, show_progress=False)
        if self.use_gpu:
            model = model.to_cpu()
        self._store_factors(model, n_users, n_items)
        self.seen_ = seen_matrix(user_rows, item_rows, n_users, n_items)

