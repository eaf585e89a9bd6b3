"""Text -> a set of tags: one-vs-rest logistic regression with per-tag thresholds chosen on valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_nonempty,
    check_same_length,
    check_texts,
)
from tagrank.hybrid.representations import (
    _check_c,
    _fit_representation,
    _JointOvR,
    _quiet_fit,
    _Scaler,
    make_representation,
    represent,
)
from tagrank.hybrid.taxonomy_paths import _check_label

THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def _check_tag_sets(tag_sets: Any, field: str) -> list[frozenset[str]]:
    """Each row: an iterable of non-empty tag strings (an empty set is allowed)."""
    if tag_sets is None or isinstance(tag_sets, str):
        raise TagrankInputError(f"{field} must be a sequence of tag sets, got {tag_sets!r}")
    out = []
    for i, row in enumerate(tag_sets):
        if isinstance(row, str) or not hasattr(row, "__iter__"):
            raise TagrankInputError(f"{field}[{i}] must be a set/list of tags, got {row!r}")
        out.append(frozenset(_check_label(t, f"{field}[{i}] tag") for t in row))
    return out


def _best_threshold(proba: np.ndarray, truth: np.ndarray) -> float:
    """Threshold of the grid with the best F1 on (proba, truth); ties -> closest to 0.5."""
    pos = truth.sum()
    if pos == 0:
        return 0.5
    best, best_f1 = 0.5, -1.0
    for t in sorted(THRESHOLD_GRID, key=lambda v: (abs(v - 0.5), v)):
        pred = proba >= t
        tp = float(np.sum(pred & truth))
        f1 = 2 * tp / (pred.sum() + pos) if (pred.sum() + pos) else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best


class MultiLabelTagger(Params):
    """Text -> a set of tags: one-vs-rest logistic regression, per-tag thresholds.

    Parameters
    ----------
    representation:
        ``"tfidf"`` or a scorer with ``transform``.
    thresholds:
        ``"valid"`` (each tag's threshold maximises its F1 on the validation set
        given to ``fit``, over 0.05..0.95; a tag without a validation positive
        keeps 0.5) or a number in (0, 1) used for every tag.
    C, max_iter:
        L2 logistic regression per tag: on sparse input saga (C default 10, 15
        iterations), on standardised dense input one joint L-BFGS over all
        tags (C default 1, 200 iterations).

    Fitted attributes: ``tags_`` (sorted), ``thresholds_`` (tag -> threshold),
    ``representation_``.
    """

    def __init__(
        self,
        representation: Any = "tfidf",
        thresholds: str | float = "valid",
        C: float | None = None,
        max_iter: int | None = None,
        language: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.representation = representation
        self.thresholds = thresholds
        self.C = C
        self.max_iter = max_iter
        self.language = language
        self.random_state = random_state

    def fit(
        self,
        texts: Sequence[str],
        tag_sets: Sequence[Sequence[str]],
        valid_texts: Sequence[str] | None = None,
        valid_tag_sets: Sequence[Sequence[str]] | None = None,
    ) -> MultiLabelTagger:
        """Fit a classifier per tag on (texts, tag_sets); choose thresholds on the validation set.

        Validation tags never seen in training are ignored (no classifier predicts them).
        """
        thr = self.thresholds
        if isinstance(thr, str):
            if thr != "valid":
                raise TagrankInputError(f"thresholds must be 'valid' or a number in (0, 1), got {thr!r}")
            if valid_texts is None or valid_tag_sets is None:
                raise TagrankInputError("thresholds='valid' needs valid_texts and valid_tag_sets in fit()")
        elif isinstance(thr, bool) or not isinstance(thr, int | float) or not 0 < thr < 1:
            raise TagrankInputError(f"thresholds must be 'valid' or a number in (0, 1), got {thr!r}")
        texts = check_texts(texts, "texts")
        check_nonempty(texts, "texts")
        sets = _check_tag_sets(tag_sets, "tag_sets")
        check_same_length(texts=texts, tag_sets=sets)
        tags = sorted(set().union(*sets))
        if not tags:
            raise TagrankInputError("tag_sets hold no tag at all: nothing to learn")
        self.tags_ = tags
        self._tag_index = {t: i for i, t in enumerate(tags)}
        y = self._indicator(sets, strict=False)
        rep = _fit_representation(make_representation(self.representation, self.language), texts)
        x = represent(rep, texts)
        self.representation_ = rep
        self._scaler = _Scaler().fit(x)
        xs = self._scaler(x)
        from sklearn.linear_model import LogisticRegression

        sparse = sp.issparse(xs)
        C = _check_c(self.C if self.C is not None else (10.0 if sparse else 1.0))
        self.C_ = C
        self._models: list[Any] = []
        self._joint = None
        if not sparse:
            self._joint = _JointOvR(C, self.max_iter or 200).fit(xs, y)
        else:
            for j in range(len(tags)):
                col = y[:, j]
                if col.all():
                    self._models.append(1.0)
                    continue
                model = LogisticRegression(C=C, solver="saga", max_iter=self.max_iter or 15, tol=1e-3,
                                           random_state=self.random_state)
                self._models.append(_quiet_fit(model, xs, col.astype(int)))
        if isinstance(thr, str):
            v_texts = check_texts(valid_texts, "valid_texts")
            v_sets = _check_tag_sets(valid_tag_sets, "valid_tag_sets")
            check_same_length(valid_texts=v_texts, valid_tag_sets=v_sets)
            check_nonempty(v_texts, "valid_texts")
            proba = self.predict_proba(v_texts)
            truth = self._indicator(v_sets, strict=False)
            self.thresholds_ = {t: _best_threshold(proba[:, j], truth[:, j]) for j, t in enumerate(tags)}
        else:
            self.thresholds_ = dict.fromkeys(tags, float(thr))
        return self

    def _indicator(self, sets: list[frozenset[str]], strict: bool, field: str = "tag_sets") -> np.ndarray:
        y = np.zeros((len(sets), len(self.tags_)), dtype=bool)
        for i, row in enumerate(sets):
            for t in row:
                j = self._tag_index.get(t)
                if j is None:
                    if strict:
                        raise TagrankInputError(f"{field}[{i}] has tag {t!r}, never seen in fit")
                    continue
                y[i, j] = True
        return y

    def _check_fitted(self) -> None:
        if not hasattr(self, "tags_"):
            raise NotFittedError("MultiLabelTagger is not fitted: call fit() first")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each tag (columns ordered as ``tags_``)."""
        self._check_fitted()
        texts = check_texts(texts, "texts")
        if not texts:
            return np.zeros((0, len(self.tags_)))
        xs = self._scaler(represent(self.representation_, texts))
        if self._joint is not None:
            return self._joint.predict_proba(xs)
        out = np.empty((len(texts), len(self.tags_)))
        for j, model in enumerate(self._models):
            out[:, j] = model if isinstance(model, float) else model.predict_proba(xs)[:, 1]
        return out

    def predict_indicator(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 matrix [n, n_tags]: probability >= the tag's threshold."""
        proba = self.predict_proba(texts)
        thr = np.asarray([self.thresholds_[t] for t in self.tags_])
        return proba >= thr

    def predict(self, texts: Sequence[str]) -> list[set[str]]:
        """The predicted tag set of each text."""
        ind = self.predict_indicator(texts)
        tags = np.asarray(self.tags_, dtype=object)
        return [set(tags[row].tolist()) for row in ind]

    def score(self, texts: Sequence[str], tag_sets: Sequence[Sequence[str]]) -> dict[str, float]:
        """``micro_f1`` and ``macro_f1`` (macro over tags present in the truth or the predictions).

        A tag never seen in ``fit`` raises.
        """
        self._check_fitted()
        sets = _check_tag_sets(tag_sets, "tag_sets")
        truth = self._indicator(sets, strict=True)
        pred = self.predict_indicator(texts)
        check_same_length(texts=pred, tag_sets=truth)
        return multilabel_f1(pred, truth)


def multilabel_f1(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Micro and macro F1 of 0/1 matrices; macro over columns with a true or predicted member."""
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    tp = (pred & truth).sum(axis=0).astype(float)
    denom = pred.sum(axis=0) + truth.sum(axis=0)
    micro = 2 * tp.sum() / denom.sum() if denom.sum() else 0.0
    active = denom > 0
    macro = float(np.mean(2 * tp[active] / denom[active])) if active.any() else 0.0
    return {"micro_f1": float(micro), "macro_f1": macro}
