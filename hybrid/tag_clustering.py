"""Tag families: k-means over any representation, each family named by its most central members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_k,
    check_nonempty,
    check_same_length,
    check_texts,
    is_missing,
)
from tagrank.hybrid.representations import (
    _fit_representation,
    _l2_rows,
    make_representation,
    represent,
)


class TagClusterer(Params):
    """k-means over a representation; names each family by its most central members.

    Parameters
    ----------
    k:
        number of clusters, or ``None``: the k of ``k_range`` with the best
        silhouette (cosine, on at most ``silhouette_sample`` texts).
    representation:
        ``"tfidf"`` or a scorer with ``transform``; rows are L2-normalised
        (k-means on unit vectors ~ cosine).
    n_names:
        how many of the most central members are kept per family.

    Fitted attributes: ``labels_`` (cluster per text), ``k_``, ``silhouette_``
    ({k: score} when k was searched), ``families_`` (frame: cluster, size, name =
    the most central member, central_members), ``representation_``.
    """

    def __init__(
        self,
        k: int | None = None,
        representation: Any = "tfidf",
        k_range: tuple[int, int] = (2, 10),
        n_init: int = 3,
        max_iter: int = 100,
        n_names: int = 3,
        silhouette_sample: int = 2000,
        language: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.k = k
        self.representation = representation
        self.k_range = k_range
        self.n_init = n_init
        self.max_iter = max_iter
        self.n_names = n_names
        self.silhouette_sample = silhouette_sample
        self.language = language
        self.random_state = random_state

    def _kmeans(self, x: Any, k: int) -> Any:
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, random_state=self.random_state).fit(x)

    def fit(self, texts: Sequence[str], ids: Sequence[Any] | None = None) -> TagClusterer:
        """Cluster the texts (``ids`` name them in ``families_``; default: row positions)."""
        texts = check_texts(texts, "texts")
        check_nonempty(texts, "texts")
        ids = list(range(len(texts))) if ids is None else list(ids)
        check_same_length(texts=texts, ids=ids)
        n = len(texts)
        rep = _fit_representation(make_representation(self.representation, self.language), texts)
        x = _l2_rows(represent(rep, texts))
        self.representation_ = rep
        self.silhouette_: dict[int, float] = {}
        if self.k is None:
            lo, hi = (int(v) for v in self.k_range)
            hi = min(hi, n - 1)
            if lo < 2 or hi < lo:
                raise TagrankInputError(
                    f"k=None searches k in k_range={self.k_range} (2 <= lo <= hi < n_texts={n}); pass k explicitly"
                )
            from sklearn.metrics import silhouette_score

            best_k, best_model, best_s = lo, None, -np.inf
            for k in range(lo, hi + 1):
                model = self._kmeans(x, k)
                if len(np.unique(model.labels_)) < 2:
                    continue
                s = float(silhouette_score(x, model.labels_, metric="cosine",
                                           sample_size=min(n, self.silhouette_sample), random_state=self.random_state))
                self.silhouette_[k] = s
                if s > best_s:
                    best_k, best_model, best_s = k, model, s
            model = best_model if best_model is not None else self._kmeans(x, lo)
            self.k_ = best_k
        else:
            k = check_k(self.k, "k")
            if k > n:
                raise TagrankInputError(f"k={k} is larger than the number of texts ({n})")
            model = self._kmeans(x, k)
            self.k_ = k
        self.model_ = model
        self.labels_ = model.labels_.astype(np.int64)
        self.families_ = self._families(x, texts, ids)
        return self

    def _families(self, x: Any, texts: list[str], ids: list[Any]) -> pd.DataFrame:
        centers = self.model_.cluster_centers_
        sims = np.asarray(x @ centers.T)
        rows = []
        for c in range(len(centers)):
            members = np.flatnonzero(self.labels_ == c)
            if len(members) == 0:
                rows.append({"cluster": c, "size": 0, "name": None, "central_members": [], "central_ids": []})
                continue
            order = members[np.lexsort((members, -sims[members, c]))][: max(1, self.n_names)]
            rows.append({
                "cluster": c, "size": len(members), "name": texts[order[0]],
                "central_members": [texts[i] for i in order], "central_ids": [ids[i] for i in order],
            })
        return pd.DataFrame(rows)

    def fit_predict(self, texts: Sequence[str], ids: Sequence[Any] | None = None) -> np.ndarray:
        return self.fit(texts, ids).labels_

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Nearest family of new texts."""
        if not hasattr(self, "model_"):
            raise NotFittedError("TagClusterer is not fitted: call fit() first")
        texts = check_texts(texts, "texts")
        if not texts:  # nothing to place (sklearn refuses a 0-row matrix)
            return np.zeros(0, dtype=np.int64)
        return self.model_.predict(_l2_rows(represent(self.representation_, texts))).astype(np.int64)

    def score(self, reference_labels: Sequence[Any]) -> dict[str, float]:
        """ARI and NMI of the fitted clusters against reference classes (one per fitted text)."""
        if not hasattr(self, "labels_"):
            raise NotFittedError("TagClusterer is not fitted: call fit() first")
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        if isinstance(reference_labels, str):
            raise TagrankInputError("reference_labels must be a sequence of labels, got a string")
        ref = list(reference_labels)
        check_same_length(reference_labels=ref, fitted_texts=self.labels_)
        for i, v in enumerate(ref):
            if is_missing(v):
                raise TagrankInputError(f"reference_labels[{i}] is missing (got {v!r})")
        ref_codes, _ = pd.factorize(pd.Series(ref, dtype=object))
        return {
            "ari": float(adjusted_rand_score(ref_codes, self.labels_)),
            "nmi": float(normalized_mutual_info_score(ref_codes, self.labels_)),
        }
