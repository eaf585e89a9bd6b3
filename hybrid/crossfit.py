"""Cross-fitted scores of a supervised scorer: each training query is scored by a model that never saw it.

A scorer fine-tuned on the train split (``transformer_ft``) scores its own
training data optimistically, so a ranker learning from those scores
overweights it. The usual remedy is stacking's out-of-fold predictions: split
the training queries (:func:`query_folds`) or pairs (:func:`pair_folds`) into
folds, train one model per fold on the other folds, and let
:class:`CrossFittedScorer` route each query or pair to the model trained
without it (anything else to the full model). Train features then have the
quality that test features from the full model have.
:meth:`hybrid.pipelines.SearchPipeline.fit_fitted` (``train_scorers``) and
the similarity hybrid use it for their training rows only and serve with the
full model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError, check_same_length, check_texts


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
    """The fold of each (left, right) pair: :func:`query_fold` of its two texts, sorted and tab-joined.

    A pair, its duplicates and its reverse (b, a) share a fold whatever the row
    order, so no fold model trains on the reverse of a pair it scores. (Pairs of
    different folds may still share one text: folds split pairs, not texts.)
    """
    n_folds = _check_n_folds(n_folds)
    left, right = check_texts(left, "left"), check_texts(right, "right")
    check_same_length(left=left, right=right)
    return np.asarray([query_fold("\t".join(sorted((a, b))), n_folds) for a, b in zip(left, right, strict=True)],
                      dtype=np.int64)


def _is_key(key: Any, by: str) -> bool:
    if by == "query":
        return isinstance(key, str)
    return isinstance(key, tuple) and len(key) == 2 and all(isinstance(t, str) for t in key)


class CrossFittedScorer:
    """Routes each query (or pair) to the fold model that did not learn from it; any other to ``default``.

    A routing wrapper around models that are already fitted, not an estimator:
    it has no ``fit``, and checks its folds when built.

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
        if not hasattr(default, "score_pairs"):
            raise TagrankInputError(f"default must be a fitted scorer with score_pairs, got {type(default).__name__}")
        self.default = default
        self.folds = list(folds)
        self.by = by
        owner: dict[Any, int] = {}
        for i, fold in enumerate(self.folds):
            if not (isinstance(fold, tuple | list) and len(fold) == 2 and hasattr(fold[0], "score_pairs")):
                raise TagrankInputError(f"folds[{i}] must be a (fitted scorer, keys) pair, got {fold!r:.80}")
            if isinstance(fold[1], str) or not isinstance(fold[1], Collection):
                raise TagrankInputError(f"folds[{i}] keys must be a collection of keys, got {fold[1]!r:.80}")
            for key in fold[1]:
                if not _is_key(key, by):
                    kind = "a text" if by == "query" else "a (left, right) tuple of texts"
                    raise TagrankInputError(f"folds[{i}] has the key {key!r:.80}; with by={by!r} a key is {kind}")
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
        """Each pair scored by the model that owns it (its left text with ``by="query"``, the pair itself
        with ``by="pair"``)."""
        left, right = list(left), list(right)
        check_same_length(left=left, right=right)
        out = np.empty(len(left), dtype=np.float64)
        for scorer, rows in self._groups(left, right):
            out[rows] = scorer.score_pairs([left[i] for i in rows], [right[i] for i in rows])
        return out

    def features(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray | dict[str, np.ndarray]:
        """What the owners' feature call gives (see :func:`hybrid.features._feature_call`: columns, or one
        score array for a scorer with ``score_pairs`` only), stitched back into row order; the feature
        builder then names the columns exactly as it names the default scorer's."""
        from tagrank.hybrid.features import _feature_call

        left, right = list(left), list(right)
        check_same_length(left=left, right=right)
        columns: dict[str, np.ndarray] | None = None
        scores: np.ndarray | None = None
        for scorer, rows in self._groups(left, right):
            part = _feature_call(scorer)([left[i] for i in rows], [right[i] for i in rows])
            if isinstance(part, pd.DataFrame | Mapping):
                if scores is not None:
                    raise TagrankInputError("fold scorers give different feature outputs (columns vs one score)")
                part = {str(c): np.asarray(part[c], dtype=np.float64) for c in part}
                if columns is not None and set(part) != set(columns):
                    raise TagrankInputError(
                        f"fold scorers give different feature columns: {sorted(part)} vs {sorted(columns)}")
                columns = columns or {c: np.full(len(left), np.nan) for c in part}
                for col, values in part.items():
                    columns[col][rows] = values
            else:
                if columns is not None:
                    raise TagrankInputError("fold scorers give different feature outputs (columns vs one score)")
                scores = np.full(len(left), np.nan) if scores is None else scores
                scores[rows] = np.asarray(part, dtype=np.float64)
        if columns is None:
            return scores if scores is not None else np.zeros(0)
        return columns

    def top_k(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Each query's top-k from the model that owns it (every model is fitted on the same corpus)."""
        if self.by != "query":
            raise TagrankInputError("top_k needs a scorer routed by query (by='query'), not by pair")
        queries = list(queries)
        if not queries:
            return self.default.top_k(queries, k)
        parts = [(rows, scorer.top_k([queries[i] for i in rows], k)) for scorer, rows in self._groups(queries)]
        widths = {p[1][0].shape[1] for p in parts}
        if len(widths) > 1:
            raise TagrankInputError(f"fold models return top-k lists of different lengths {sorted(widths)}: "
                                    "every fold model must be fitted on the default's corpus")
        width = widths.pop()
        ids = np.empty((len(queries), width), dtype=object)
        scores = np.empty((len(queries), width), dtype=np.float64)
        for rows, (part_ids, part_scores) in parts:
            ids[rows] = part_ids
            scores[rows] = part_scores
        return ids, scores
