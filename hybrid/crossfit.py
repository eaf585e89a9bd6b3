"""Cross-fitted scores of a supervised scorer: each training query is scored by a model that never saw it.

A scorer fine-tuned on the train queries (``transformer_ft``) scores those
queries optimistically, so a ranker learning from its train-query scores
overweights it. The usual remedy is stacking's out-of-fold predictions: split
the training queries into folds (:func:`query_folds`), train one model per
fold on the other folds, and let :class:`CrossFittedScorer` route each query
to the model trained without it (any other query to the full model). Train
features then have the quality that test features from the full model have.
:meth:`hybrid.pipelines.SearchPipeline.fit_fitted` uses it for its training
rows only (``train_scorers``) and serves with the full model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from baselines.validation import TagrankInputError, check_same_length, check_texts


def query_fold(key: str, n_folds: int) -> int:
    """The fold of one query key: a salted SHA-1 bucket, so folds do not depend on row order and
    are independent of the task's train / valid / test buckets (which hash the bare key)."""
    return int(hashlib.sha1(f"crossfit\t{key}".encode()).hexdigest(), 16) % n_folds


def query_folds(keys: Sequence[str], n_folds: int) -> list[list[str]]:
    """The distinct ``keys`` split into ``n_folds`` folds by :func:`query_fold` (each fold sorted)."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise TagrankInputError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    folds: list[list[str]] = [[] for _ in range(int(n_folds))]
    for key in sorted(set(check_texts(keys, "keys"))):
        folds[query_fold(key, int(n_folds))].append(key)
    return folds


class CrossFittedScorer:
    """Routes each query to the fold model that did not learn from it; any other query to ``default``.

    Parameters
    ----------
    default:
        The scorer trained on every training query (what serving uses).
    folds:
        ``[(scorer, queries)]``: each scorer was trained without ``queries``
        and scores them. A query may belong to one fold only.

    It offers what the hybrid's feature builder and candidate generator call --
    ``score_pairs``, ``feature_columns`` and ``top_k`` -- with the default
    scorer's ``name``, so its features carry the same column names.
    """

    def __init__(self, default: Any, folds: Sequence[tuple[Any, Collection[str]]]):
        self.default = default
        self.folds = list(folds)
        owner: dict[str, int] = {}
        for i, (_, queries) in enumerate(self.folds):
            for query in queries:
                if owner.setdefault(query, i) != i:
                    raise TagrankInputError(f"query {query!r} is in folds {owner[query]} and {i}: folds must not overlap")
        self.owner_ = owner

    @property
    def name(self) -> str:
        return str(getattr(self.default, "name", "cross_fitted"))

    def _groups(self, queries: Sequence[str]) -> list[tuple[Any, np.ndarray]]:
        """``(scorer, row positions)`` for every scorer that owns some of ``queries`` (default owner: -1)."""
        owner = np.fromiter((self.owner_.get(q, -1) for q in queries), dtype=np.int64, count=len(queries))
        out = []
        for i in np.unique(owner):
            scorer = self.default if i < 0 else self.folds[int(i)][0]
            out.append((scorer, np.flatnonzero(owner == i)))
        return out

    def score_pairs(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Each pair scored by the model that owns its left text (the query)."""
        left, right = list(left), list(right)
        check_same_length(left=left, right=right)
        out = np.empty(len(left), dtype=np.float64)
        for scorer, rows in self._groups(left):
            out[rows] = scorer.score_pairs([left[i] for i in rows], [right[i] for i in rows])
        return out

    def feature_columns(self, left: Sequence[str], right: Sequence[str]) -> dict[str, np.ndarray]:
        """The owners' feature columns, stitched back into row order (every owner gives the same columns)."""
        from hybrid.features import _as_columns, _feature_call

        left, right = list(left), list(right)
        check_same_length(left=left, right=right)
        out: dict[str, np.ndarray] = {}
        for scorer, rows in self._groups(left):
            part = _as_columns(_feature_call(scorer)([left[i] for i in rows], [right[i] for i in rows]), self.name)
            if out and set(part) != set(out):
                raise TagrankInputError(f"fold scorers give different feature columns: {sorted(part)} vs {sorted(out)}")
            for col, values in part.items():
                out.setdefault(col, np.full(len(left), np.nan))[rows] = values
        return out

    def top_k(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Each query's top-k from the model that owns it (every model is fitted on the same corpus)."""
        queries = list(queries)
        parts = [(rows, scorer.top_k([queries[i] for i in rows], k)) for scorer, rows in self._groups(queries)]
        width = min((p[1][0].shape[1] for p in parts), default=0)
        ids = np.empty((len(queries), width), dtype=object)
        scores = np.empty((len(queries), width), dtype=np.float64)
        for rows, (part_ids, part_scores) in parts:
            ids[rows] = part_ids[:, :width]
            scores[rows] = part_scores[:, :width]
        return ids, scores
