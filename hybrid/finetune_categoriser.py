"""FineTunedCategoriser: the hierarchical categoriser on a fine-tuned transformer classifier.

The classes of a :class:`hybrid.finetune_classifier.TransformerClassifier` are
the *known paths* of the taxonomy (each full path seen in ``fit``), so the
encoder and its head are fine-tuned end to end on the whole path at once, and
the path posterior comes straight from the softmax. Everything a
:class:`hybrid.categoriser.Categoriser` does on top of a path posterior is
inherited unchanged: consistent paths (a child always inside its parent),
per-level confidences, abstention, ``level_scores``, ``score``.

``representation_`` is the fitted classifier: its ``transform`` gives the
fine-tuned encoder's embeddings, which the tagger and the clusterer can use
like any other representation. ``supervised = True`` tells a stacker that
this base saw the training labels (its scores of training texts are
optimistic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tagrank.baselines.validation import TagrankInputError, check_same_length, check_texts
from tagrank.hybrid.categoriser import Categoriser, _check_threshold
from tagrank.hybrid.taxonomy_paths import _END, _paths_from


class FineTunedCategoriser(Categoriser):
    """Text -> taxonomy path with a fine-tuned transformer over the known paths.

    Parameters
    ----------
    classifier_params:
        Parameters of the :class:`TransformerClassifier` (model, learning rate,
        epochs, batch size, LoRA, device, ...); ``random_state`` is this one's.
    abstain_threshold, levels:
        As in :class:`hybrid.categoriser.Categoriser`.
    """

    supervised = True

    def __init__(
        self,
        classifier_params: Mapping[str, Any] | None = None,
        abstain_threshold: float | None = None,
        levels: Sequence[str] | None = None,
        random_state: int = 0,
    ) -> None:
        self.classifier_params = classifier_params
        self.abstain_threshold = abstain_threshold
        self.levels = levels
        self.random_state = random_state

    # the parent's knn / logreg settings do not apply; keep its attribute reads harmless
    classifier = "finetune"
    language = "auto"

    def results_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"representation": "transformer (fine-tuned on the known paths)"}
        if hasattr(self, "representation_"):
            out.update(self.representation_.summary())
        return out

    def _check_params(self) -> None:
        _check_threshold(self.abstain_threshold)
        if self.classifier_params is not None and not isinstance(self.classifier_params, Mapping):
            raise TagrankInputError(f"classifier_params must be a dict or None, got {type(self.classifier_params).__name__}")

    def _rows_of(self, paths: Any) -> np.ndarray:
        """Path row of each path (``-1``: a path never seen in ``fit``, which the model cannot predict)."""
        path_list, _ = _paths_from(paths, self.levels_)
        depth = len(self.levels_)
        return np.asarray([self._path_row.get(tuple(p) + (_END,) * (depth - len(p)), -1) for p in path_list],
                          dtype=np.int64)

    def fit(
        self,
        texts: Any,
        paths: Any = None,
        valid_texts: Sequence[str] | None = None,
        valid_paths: Any = None,
        text_col: str = "text",
    ) -> FineTunedCategoriser:
        """Fine-tune on texts and their paths; early-stop on (``valid_texts``, ``valid_paths``) when given."""
        from tagrank.hybrid.finetune_classifier import TransformerClassifier

        self._check_params()
        texts, y_rows, _ = self._fit_paths(texts, paths, text_col)
        if len(self.paths_) < 2:
            raise TagrankInputError(f"paths has a single distinct path {list(self.paths_[0])}: nothing to classify")
        v_texts = v_rows = None
        if valid_texts is not None or valid_paths is not None:
            if valid_texts is None or valid_paths is None:
                raise TagrankInputError("valid_texts and valid_paths must be given together")
            v_texts = check_texts(valid_texts, "valid_texts")
            v_rows = self._rows_of(valid_paths)
            check_same_length(valid_texts=v_texts, valid_paths=v_rows)
        params = {**dict(self.classifier_params or {}), "random_state": self.random_state}
        clf = TransformerClassifier(**params)
        clf.fit(texts, y_rows.tolist(), v_texts, None if v_rows is None else v_rows.tolist())
        self.representation_ = clf
        self._train_rows = y_rows
        self.n_train_ = len(texts)
        return self

    def path_posterior(self, texts: Sequence[str]) -> np.ndarray:
        """Posterior over the known paths ``paths_``: the classifier's softmax, [n, n_paths]."""
        self._check_fitted()
        texts = check_texts(texts, "texts")
        post = np.zeros((len(texts), len(self.paths_)))
        if texts:
            clf = self.representation_
            post[:, np.asarray(clf.classes_, dtype=np.int64)] = clf.predict_proba(texts)
        return post

    def neighbours(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        raise TagrankInputError("neighbours() needs a Categoriser with classifier='knn'")


__all__ = ["FineTunedCategoriser"]
