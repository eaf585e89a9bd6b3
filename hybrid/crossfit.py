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


def _check_n_folds(n_folds: Any) -> int:
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise TagrankInputError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    return int(n_folds)


def query_folds(keys: Sequence[str], n_folds: int) -> list[list[str]]:
    """The distinct ``keys`` split into ``n_folds`` folds by :func:`query_fold` (each fold sorted)."""
    n_folds = _check_n_folds(n_folds)
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for key in sorted(set(check_texts(keys, "keys"))):
        folds[query_fold(key, n_folds)].append(key)
    return folds


def pair_folds(left: Sequence[str], right: Sequence[str], n_folds: int) -> np.ndarray:
    """The fold of each (left, right) pair: :func:`query_fold` of ``left + "\t" + right`` (a pair and its
    duplicates share a fold, whatever the row order)."""
    n_folds = _check_n_folds(n_folds)
    left, right = check_texts(left, "left"), check_texts(right, "right")
    check_same_length(left=left, right=right)
    return np.asarray([query_fold(f"{a}\t{b}", n_folds) for a, b in zip(left, right, strict=True)], dtype=np.int64)


class CrossFittedScorer:
    """Routes each query to the fold model that did not learn from it; any other query to ``default``.

    Parameters
    ----------
    default:
        The scorer trained on every training query (what serving uses).
    folds:
        ``[(scorer, keys)]``: each scorer was trained without ``keys`` and
        scores them. A key may belong to one fold only.
    by:
        ``"query"``: a key is a left text (a search query: every pair of it);
        ``"pair"``: a key is a ``(left, right)`` tuple (a similarity pair).

    It offers what the hybrid's feature builder and candidate generator call --
    ``score_pairs``, ``feature_columns`` and ``top_k`` -- with the default
    scorer's ``name``, so its features carry the same column names.
    """

    def __init__(self, default: Any, folds: Sequence[tuple[Any, Collection[Any]]], by: str = "query"):
        if by not in ("query", "pair"):
            raise TagrankInputError(f"by must be 'query' or 'pair', got {by!r}")
        self.default = default
        self.folds = list(folds)
        self.by = by
        owner: dict[Any, int] = {}
        for i, (_, keys) in enumerate(self.folds):
            for key in keys:
                if owner.setdefault(key, i) != i:
                    raise TagrankInputError(f"{by} {key!r} is in folds {owner[key]} and {i}: folds must not overlap")
        self.owner_ = owner

    @property
    def name(self) -> str:
        return str(getattr(self.default, "name", "cross_fitted"))

    def _groups(self, left: Sequence[str], right: Sequence[str] | None = None) -> list[tuple[Any, np.ndarray]]:
        """``(scorer, row positions)`` for every scorer that owns some rows (default owner: -1)."""
        keys = left if self.by == "query" else zip(left, right or (), strict=True)
        owner = np.fromiter((self.owner_.get(k, -1) for k in keys), dtype=np.int64, count=len(left))
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
        for scorer, rows in self._groups(left, right):
            out[rows] = scorer.score_pairs([left[i] for i in rows], [right[i] for i in rows])
        return out

    def feature_columns(self, left: Sequence[str], right: Sequence[str]) -> dict[str, np.ndarray]:
        """The owners' feature columns, stitched back into row order (every owner gives the same columns)."""
        from hybrid.features import _as_columns, _feature_call

        left, right = list(left), list(right)
        check_same_length(left=left, right=right)
        out: dict[str, np.ndarray] = {}
        for scorer, rows in self._groups(left, right):
            part = _as_columns(_feature_call(scorer)([left[i] for i in rows], [right[i] for i in rows]), self.name)
            if out and set(part) != set(out):
                raise TagrankInputError(f"fold scorers give different feature columns: {sorted(part)} vs {sorted(out)}")
            for col, values in part.items():
                out.setdefault(col, np.full(len(left), np.nan))[rows] = values
        return out

    def top_k(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Each query's top-k from the model that owns it (every model is fitted on the same corpus)."""
        if self.by != "query":
            raise TagrankInputError("top_k needs a scorer routed by query (by='query'), not by pair")
        queries = list(queries)
        parts = [(rows, scorer.top_k([queries[i] for i in rows], k)) for scorer, rows in self._groups(queries)]
        width = min((p[1][0].shape[1] for p in parts), default=0)
        ids = np.empty((len(queries), width), dtype=object)
        scores = np.empty((len(queries), width), dtype=np.float64)
        for rows, (part_ids, part_scores) in parts:
            ids[rows] = part_ids[:, :width]
            scores[rows] = part_scores[:, :width]
        return ids, scores
