"""Text -> a consistent path in a category taxonomy, with per-level confidences.

:class:`Categoriser` scores every *known* path (those seen in ``fit``) and
returns the best one, so a predicted child always belongs to the predicted
parent. Each level gets a confidence (the posterior mass of the paths sharing
the predicted prefix, non-increasing with depth); with ``abstain_threshold``
the path is cut at the last level whose confidence reaches it (deeper levels
are ``None``). For ``classifier="knn"`` a scorer with only ``top_k`` (e.g.
:class:`baselines.jaccard.JaccardScorer`) also works as the representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_k,
    check_nonempty,
    check_same_length,
    check_texts,
)
from tagrank.hybrid.representations import (
    _check_c,
    _cosine_top_k,
    _fit_representation,
    _linear_classifier,
    _quiet_fit,
    _Scaler,
    make_representation,
    represent,
)
from tagrank.hybrid.taxonomy_paths import _END, _paths_from, _split_frame

CLASSIFIERS = ("logreg", "knn")


class Categoriser(Params):
    """Hierarchical categoriser: text -> a consistent taxonomy path with per-level confidences.

    Parameters
    ----------
    representation:
        ``"tfidf"`` or a scorer with ``transform`` (or only ``top_k`` for ``knn``).
    classifier:
        ``"logreg"``: one multinomial logistic regression per level over the
        representation; a path scores ``sum_l log p_l(label_l)`` and the posterior
        is the softmax of that over the known paths. ``"knn"``: the
        ``n_neighbors`` most similar training texts vote for their paths, weighted
        by similarity.
    abstain_threshold:
        ``None`` (always a full path) or a number in (0, 1]: the path is cut above
        the first level whose confidence is below it (that level and deeper are None).
    C, max_iter:
        logistic regression's inverse regularisation and iteration cap; ``None``
        = saga with C 30 and 20 iterations on sparse input, lbfgs with C 1 and
        50 iterations on standardised dense input.
    levels:
        names of the levels (default ``level1``, ``level2``, ...); when given,
        a path deeper than ``len(levels)`` is an error.

    Fitted attributes: ``levels_``, ``paths_`` (known paths, most frequent first,
    padded with None), ``classes_`` (labels per level), ``representation_``.
    """

    def __init__(
        self,
        representation: Any = "tfidf",
        classifier: str = "logreg",
        abstain_threshold: float | None = None,
        C: float | None = None,
        max_iter: int | None = None,
        n_neighbors: int = 10,
        levels: Sequence[str] | None = None,
        language: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.representation = representation
        self.classifier = classifier
        self.abstain_threshold = abstain_threshold
        self.C = C
        self.max_iter = max_iter
        self.n_neighbors = n_neighbors
        self.levels = levels
        self.language = language
        self.random_state = random_state

    def results_params(self) -> dict[str, Any]:
        """What a results file records: the representation's name and parameters instead of the object."""
        rep = getattr(self, "representation_", self.representation)
        if isinstance(rep, str):
            return {"representation": rep}
        out: dict[str, Any] = {"representation": str(getattr(rep, "name", type(rep).__name__))}
        if hasattr(rep, "get_params"):
            out["representation.params"] = {k: v for k, v in rep.get_params().items()
                                             if k not in ("show_progress", "cache_dir", "device")}
        return out

    def _check_params(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise TagrankInputError(f"classifier must be one of {list(CLASSIFIERS)}, got {self.classifier!r}")
        _check_threshold(self.abstain_threshold)
        if self.C is not None:
            _check_c(self.C)
        check_k(self.n_neighbors, "n_neighbors")

    # -------------------------------------------------------------- fit

    def fit(self, texts: Any, paths: Any = None, text_col: str = "text") -> Categoriser:
        """Fit on texts and their paths.

        ``fit(texts, paths)``: ``paths[i]`` is a sequence of labels, root first, of
        any depth up to the taxonomy's (``["Apparel", "Topwear", "Tshirts"]``), or a
        frame of level columns. ``fit(frame, ["masterCategory", ...])``: the frame's
        ``text_col`` and the named level columns.
        """
        self._check_params()
        texts, y_rows, depth = self._fit_paths(texts, paths, text_col)
        rep = make_representation(self.representation, self.language)
        if self.classifier == "knn" and not hasattr(rep, "transform"):
            rep.fit(texts, ids=list(range(len(texts))))
            self._knn_mode = "top_k"
        else:
            rep = _fit_representation(rep, texts)
            x = represent(rep, texts)
            self._knn_mode = "vectors"
            if self.classifier == "knn":
                self._train_x = x
            else:
                self._scaler = _Scaler().fit(x)
                xs = self._scaler(x)
                self._models = []
                for lv in range(depth):
                    y = self._path_codes[y_rows, lv]
                    if len(np.unique(y)) == 1:
                        self._models.append(int(y[0]))
                        continue
                    model = _linear_classifier(sp.issparse(xs), self.C, self.max_iter, self.random_state)
                    self._models.append(_quiet_fit(model, xs, y))
        self.representation_ = rep
        self._train_rows = y_rows
        self.n_train_ = len(texts)
        return self

    def _fit_paths(self, texts: Any, paths: Any, text_col: str) -> tuple[list[str], np.ndarray, int]:
        """Validate texts and paths, learn the known paths and levels; returns (texts, path row of each, depth)."""
        texts, paths, frame_levels = _split_frame(texts, paths, text_col)
        texts = check_texts(texts, "texts")
        check_nonempty(texts, "texts")
        if frame_levels is not None:
            path_list, names = _paths_from(paths, frame_levels)
        else:
            path_list, names = _paths_from(paths, self.levels)
        check_same_length(texts=texts, paths=path_list)
        depth = len(names) if names is not None else max(len(p) for p in path_list)
        self.levels_ = list(names) if names is not None else [f"level{i + 1}" for i in range(depth)]
        if len(set(self.levels_)) != len(self.levels_):
            raise TagrankInputError(f"level names must be distinct, got {self.levels_}")
        padded = [p + (_END,) * (depth - len(p)) for p in path_list]

        # known paths, most frequent first (argmax ties go to the frequent path), then lexicographic
        counts = pd.Series(padded).value_counts()
        known = sorted(counts.index, key=lambda p: (-counts[p], p))
        self.paths_ = [tuple(None if v == _END else v for v in p) for p in known]
        self._path_row = {p: i for i, p in enumerate(known)}
        self.classes_ = [sorted({p[level] for p in known}) for level in range(depth)]
        self._class_index = [{c: i for i, c in enumerate(cl)} for cl in self.classes_]
        self._path_codes = np.asarray(
            [[self._class_index[lv][p[lv]] for lv in range(depth)] for p in known], dtype=np.int64
        ).reshape(len(known), depth)
        # prefix groups per level: paths sharing labels 0..l
        self._prefix = []
        for lv in range(depth):
            codes, _ = pd.factorize(pd.Series([p[: lv + 1] for p in known]))
            self._prefix.append(codes.astype(np.int64))
        y_rows = np.asarray([self._path_row[p] for p in padded], dtype=np.int64)
        return texts, y_rows, depth

    # -------------------------------------------------------------- predict

    def _check_fitted(self) -> None:
        if not hasattr(self, "paths_"):
            raise NotFittedError("Categoriser is not fitted: call fit() first")

    def path_posterior(self, texts: Sequence[str]) -> np.ndarray:
        """Posterior over the known paths ``paths_`` for each text: [n, n_paths], rows sum to 1."""
        self._check_fitted()
        texts = check_texts(texts, "texts")
        n, n_paths = len(texts), len(self.paths_)
        if n == 0:
            return np.zeros((0, n_paths))
        if self.classifier == "knn":
            return self._knn_posterior(texts)
        xs = self._scaler(represent(self.representation_, texts))
        log_post = np.zeros((n, n_paths))
        for lv, model in enumerate(self._models):
            if isinstance(model, int):
                continue
            logp = np.full((n, len(self.classes_[lv])), -np.inf)
            logp[:, model.classes_] = model.predict_log_proba(xs)
            log_post += logp[:, self._path_codes[:, lv]]
        log_post -= log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post)
        return post / post.sum(axis=1, keepdims=True)

    def _knn_posterior(self, texts: list[str]) -> np.ndarray:
        return self.posterior_from_neighbours(*self.neighbours(texts, self.n_neighbors))

    def neighbours(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(knn only) The k most similar training rows of each text: (row positions [n, k'], similarities)."""
        self._check_fitted()
        if self.classifier != "knn":
            raise TagrankInputError("neighbours() needs classifier='knn'")
        texts = check_texts(texts, "texts")
        k = min(check_k(k), self.n_train_)
        if self._knn_mode == "top_k":
            ids, sims = self.representation_.top_k(texts, k)
            rows = np.asarray([[-1 if v is None else v for v in row] for row in ids.tolist()], dtype=np.int64)
            rows = rows.reshape(len(texts), -1)
        else:
            rows, sims = _cosine_top_k(represent(self.representation_, texts), self._train_x, k)
        return rows, np.asarray(sims, dtype=np.float64).reshape(rows.shape)

    def posterior_from_neighbours(self, rows: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """Path posterior from neighbours: each votes for its path with its similarity (equal votes
        when all similarities are 0); use the first columns of :meth:`neighbours` for a smaller k."""
        rows = np.asarray(rows, dtype=np.int64)
        sims = np.clip(np.nan_to_num(np.asarray(sims, dtype=np.float64), neginf=0.0), 0.0, None)
        valid = rows >= 0
        sims = np.where(valid, sims, 0.0)
        zero = sims.sum(axis=1) <= 0
        sims[zero] = valid[zero].astype(np.float64)
        n, n_paths = rows.shape[0], len(self.paths_)
        post = np.zeros((n, n_paths))
        path_of = self._train_rows[np.where(valid, rows, 0)]
        np.add.at(post, (np.repeat(np.arange(n), rows.shape[1]), path_of.ravel()), sims.ravel())
        total = post.sum(axis=1, keepdims=True)
        # no neighbour at all: the training prior (paths_ is ordered by frequency)
        empty = total.ravel() <= 0
        if empty.any():
            prior = np.bincount(self._train_rows, minlength=n_paths).astype(np.float64)
            post[empty] = prior
            total[empty] = prior.sum()
        return post / total

    def decode(self, posterior: np.ndarray) -> pd.DataFrame:
        """Best path and per-level confidences from a path posterior (see :meth:`predict`)."""
        self._check_fitted()
        posterior = np.asarray(posterior, dtype=np.float64)
        best = np.argmax(posterior, axis=1)
        n = len(best)
        out: dict[str, Any] = {}
        conf = np.zeros((n, len(self.levels_)))
        for lv in range(len(self.levels_)):
            groups = self._prefix[lv]
            mass = _group_sum(posterior, groups)
            conf[:, lv] = mass[np.arange(n), groups[best]]
        thr = self.abstain_threshold
        keep = np.ones((n, len(self.levels_)), dtype=bool) if thr is None else np.cumprod(conf >= thr, axis=1).astype(bool)
        for lv, name in enumerate(self.levels_):
            labels = np.asarray([self.paths_[b][lv] for b in best], dtype=object)
            labels[~keep[:, lv]] = None
            out[name] = pd.Series(labels, dtype=object)  # keep None (not NaN) where it abstains
        for lv, name in enumerate(self.levels_):
            out[f"{name}_confidence"] = conf[:, lv]
        return pd.DataFrame(out)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: the label per level (a path of ``paths_``, cut where it abstains) and
        ``<level>_confidence`` = posterior mass of the known paths sharing the predicted prefix."""
        return self.decode(self.path_posterior(texts))

    def level_scores(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per level, the marginal probability of each class (columns ordered as ``classes_[level]``)."""
        post = self.path_posterior(texts)
        return [_group_sum(post, self._path_codes[:, lv], len(self.classes_[lv])) for lv in range(len(self.levels_))]

    def score(self, texts: Sequence[str], paths: Any, on_unseen: str = "raise") -> dict[str, float]:
        """``<level>.accuracy`` and ``<level>.macro_f1`` of the predictions (abstentions count as errors).

        A label never seen in ``fit`` raises (``on_unseen="raise"``) or counts as an error (``"count"``).
        """
        self._check_fitted()
        if on_unseen not in ("raise", "count"):
            raise TagrankInputError(f"on_unseen must be 'raise' or 'count', got {on_unseen!r}")
        texts = check_texts(texts, "texts")
        path_list, _ = _paths_from(paths, None)
        for i, p in enumerate(path_list):
            if len(p) > len(self.levels_):
                raise TagrankInputError(
                    f"paths[{i}] has depth {len(p)} but the taxonomy has {len(self.levels_)} level(s): {list(p)!r}"
                )
        check_same_length(texts=texts, paths=path_list)
        if on_unseen == "raise":
            for i, p in enumerate(path_list):
                for lv, label in enumerate(p):
                    if label not in self._class_index[lv]:
                        raise TagrankInputError(
                            f"paths[{i}][{lv}] = {label!r} was never seen at level {self.levels_[lv]!r} in fit"
                        )
        pred = self.predict(texts)
        return level_metrics(pred, path_list, self.levels_)


def level_metrics(pred: pd.DataFrame, paths: Sequence[Sequence[str]], levels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 per level of predicted labels (None = abstained) against true paths.

    Macro-F1 averages over the classes present in the truth at that level; a
    path that stops above a level has the class None there.
    """
    from sklearn.metrics import f1_score

    out: dict[str, float] = {}
    for lv, name in enumerate(levels):
        truth = np.asarray(["\x00" if lv >= len(p) else p[lv] for p in paths], dtype=object)
        guess = np.asarray(["\x01" if v is None else v for v in pred[name]], dtype=object)
        guess[(truth == "\x00") & (guess == "\x01")] = "\x00"
        out[f"{name}.accuracy"] = float(np.mean(truth == guess))
        out[f"{name}.macro_f1"] = float(
            f1_score(truth, guess, labels=sorted(set(truth.tolist())), average="macro", zero_division=0)
        )
    return out


def _group_sum(values: np.ndarray, groups: np.ndarray, n_groups: int | None = None) -> np.ndarray:
    """Sum the columns of ``values`` [n, m] by ``groups`` [m] -> [n, n_groups]."""
    n_groups = int(groups.max()) + 1 if n_groups is None else n_groups
    onehot = sp.csr_matrix((np.ones(len(groups)), (np.arange(len(groups)), groups)), shape=(len(groups), n_groups))
    return np.asarray((onehot.T @ values.T).T)


def _check_threshold(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value <= 1):
        raise TagrankInputError(f"abstain_threshold must be None or a number in (0, 1], got {value!r}")
