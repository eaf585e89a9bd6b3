"""Tag systems: hierarchical categorisation, multi-label tagging, tag clustering, tag recommendation.

What a service imports to organise a catalogue's tags:

* :class:`Categoriser` -- text -> a path in a category taxonomy (e.g.
  ``Apparel > Topwear > Tshirts``), consistent by construction: it scores
  every *known* path (those seen in ``fit``) and returns the best one, so a
  predicted child always belongs to the predicted parent. Each level gets a
  confidence (the posterior mass of the paths sharing the predicted prefix,
  non-increasing with depth); with ``abstain_threshold`` the path is cut at the
  last level whose confidence reaches it (deeper levels are ``None``).
* :class:`MultiLabelTagger` -- text -> a set of tags (one-vs-rest logistic
  regression), per-tag thresholds chosen on a validation set.
* :class:`TagClusterer` -- k-means over any representation; each family is
  named by its most central members; ``score`` gives ARI / NMI.
* :class:`TagRecommender` -- (user, item) -> ranked tags from the user's
  history, the item's co-occurring tags, popularity and text similarity,
  combined by :class:`hybrid.ranker.HybridRanker` (LambdaRank), with a
  per-suggestion explanation (the signals that carried it).

A *representation* is ``"tfidf"`` (the library's TF-IDF; Chinese is segmented
with jieba) or any scorer with ``transform(texts) -> matrix`` (sparse or
dense). A fitted scorer is used as it is; an unfitted one is fitted on the
training texts. For ``classifier="knn"`` a scorer with only ``top_k`` (e.g.
:class:`baselines.jaccard.JaccardScorer`) also works: it is fitted on the
training texts and its ``top_k`` gives the neighbours.

Bad input -- an empty text or path, a path deeper than the taxonomy, labels or
tags never seen in ``fit`` at scoring time -- raises
:class:`baselines.validation.TagrankInputError` naming the row.
"""

from __future__ import annotations

import math
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
    is_missing,
)

__all__ = [
    "Categoriser",
    "StackedCategoriser",
    "MultiLabelTagger",
    "TagClusterer",
    "TagRecommender",
    "level_metrics",
    "make_representation",
    "represent",
]

CLASSIFIERS = ("logreg", "knn")
#: ``alpha`` values tried by ``StackedCategoriser(balance="valid")``
BALANCE_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_END = "\x00<end>"  # internal label of "the path stops above this level"
_CHUNK = 1024


# ----------------------------------------------------------------------------- representations


def make_representation(representation: Any, language: str = "auto") -> Any:
    """``"tfidf"`` -> a new word (1-2)-gram TF-IDF scorer (jieba for Chinese); a scorer object is returned as it is."""
    if isinstance(representation, str):
        if representation != "tfidf":
            raise TagrankInputError(
                f"representation must be 'tfidf' or a scorer with transform()/top_k(), got {representation!r}"
            )
        from tagrank.baselines.tfidf import TfidfScorer

        return TfidfScorer(analyzer="word", ngram_range=(1, 2), language=language)
    if not (hasattr(representation, "transform") or hasattr(representation, "top_k")):
        raise TagrankInputError(
            f"representation must be 'tfidf' or a scorer with transform() or top_k(), got {type(representation).__name__}"
        )
    return representation


def is_fitted(estimator: Any) -> bool:
    """scikit-learn's rule: a fitted estimator has a public attribute ending in ``_``."""
    return any(k.endswith("_") and not k.startswith("_") for k in vars(estimator))


def _fit_representation(rep: Any, texts: list[str]) -> Any:
    if not is_fitted(rep):
        rep.fit(texts)
    return rep


def represent(rep: Any, texts: Sequence[str]) -> np.ndarray | sp.csr_matrix:
    """``rep.transform(texts)`` as a CSR matrix (sparse) or a 2-D float array (dense)."""
    if not hasattr(rep, "transform"):
        raise TagrankInputError(f"{type(rep).__name__} has no transform(): it cannot be used as a representation here")
    x = rep.transform(list(texts))
    if sp.issparse(x):
        return sp.csr_matrix(x, dtype=np.float64)
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise TagrankInputError(f"{type(rep).__name__}.transform returned shape {x.shape}, expected 2-D")
    return x


def _l2_rows(x: np.ndarray | sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    from sklearn.preprocessing import normalize

    return normalize(x, norm="l2", axis=1, copy=True)


def _cosine_top_k(q: Any, m: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of ``m`` by cosine for each row of ``q`` (sparse or dense); ties by row index."""
    qn, mn = _l2_rows(q), _l2_rows(m)
    k = min(k, mn.shape[0])
    idx = np.empty((qn.shape[0], k), dtype=np.int64)
    val = np.empty((qn.shape[0], k))
    mt = mn.T.tocsr() if sp.issparse(mn) else mn.T
    for s in range(0, qn.shape[0], _CHUNK):
        block = qn[s : s + _CHUNK] @ mt
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else np.tile(
            np.arange(block.shape[1]), (block.shape[0], 1))
        sc = np.take_along_axis(block, part, 1)
        order = np.lexsort((part, -sc), axis=-1)
        idx[s : s + len(block)] = np.take_along_axis(part, order, 1)
        val[s : s + len(block)] = np.take_along_axis(sc, order, 1)
    return idx, val


def _linear_classifier(sparse: bool, C: float | None, max_iter: int | None, random_state: int) -> Any:
    """Multinomial logistic regression: saga on sparse TF-IDF (C 30, 20 iterations by default),
    lbfgs on standardised dense vectors (C 1, 50 iterations) -- measured on fashion (tfidf and
    word2vec): more iterations or another C change articleType macro-F1 by < 0.01 and cost 2-4x
    the time."""
    from sklearn.linear_model import LogisticRegression

    if sparse:
        return LogisticRegression(C=C or 30.0, solver="saga", max_iter=max_iter or 20, tol=1e-3,
                                  random_state=random_state)
    return LogisticRegression(C=C or 1.0, solver="lbfgs", max_iter=max_iter or 50, random_state=random_state)


def _quiet_fit(model: Any, x: Any, y: Any) -> Any:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


class _Scaler:
    """Standardise dense features (fitted on train); sparse TF-IDF passes through."""

    def fit(self, x: Any) -> _Scaler:
        self.sparse = sp.issparse(x)
        if not self.sparse:
            self.mean = x.mean(axis=0)
            std = x.std(axis=0)
            self.scale = np.where(std > 1e-12, std, 1.0)
        return self

    def __call__(self, x: Any) -> Any:
        return x if self.sparse else (x - self.mean) / self.scale


def _check_c(C: Any) -> float:
    if isinstance(C, bool) or not isinstance(C, int | float) or not math.isfinite(C) or C <= 0:
        raise TagrankInputError(f"C must be a positive number, got {C!r}")
    return float(C)


class _JointOvR:
    """One-vs-rest L2 logistic regression of every tag at once (dense input): the objective is
    sklearn's per tag, ``C * sum(log loss) + ||w||^2 / 2`` (intercept not penalised), summed over
    the tags and minimised jointly with L-BFGS -- one matrix product per step instead of one
    solver per tag."""

    def __init__(self, C: float, max_iter: int) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, x: np.ndarray, y: np.ndarray) -> _JointOvR:
        from scipy.optimize import minimize
        from scipy.special import expit

        n, d = x.shape
        t = y.shape[1]
        yf = y.astype(np.float64)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[: d * t].reshape(d, t), theta[d * t:]
            z = x @ w + b
            # log(1 + e^z) - y z, stably
            value = self.C * float(np.sum(np.logaddexp(0.0, z) - yf * z)) + 0.5 * float(np.sum(w * w))
            g = self.C * (expit(z) - yf)
            grad = np.concatenate([(x.T @ g + w).ravel(), g.sum(axis=0)])
            return value / n, grad / n

        res = minimize(loss, np.zeros(d * t + t), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter})
        self.coef_ = res.x[: d * t].reshape(d, t)
        self.intercept_ = res.x[d * t:]
        self.n_iter_ = int(res.nit)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        return expit(x @ self.coef_ + self.intercept_)


# ----------------------------------------------------------------------------- paths


def _check_label(value: Any, field: str) -> str:
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        raise TagrankInputError(f"{field} is empty (got {value!r})")
    if not isinstance(value, str):
        raise TagrankInputError(f"{field} must be a string label, got {type(value).__name__} {value!r}")
    return value


def _check_path(path: Any, i: int, depth: int | None, field: str = "paths") -> tuple[str, ...]:
    """One path: a non-empty sequence of labels (trailing None / '' end a shorter path)."""
    if isinstance(path, str) or not isinstance(path, Sequence | np.ndarray | pd.Series):
        raise TagrankInputError(
            f"{field}[{i}] must be a sequence of labels such as ['Apparel', 'Topwear'], got {path!r}"
        )
    labels = list(path)
    while labels and (is_missing(labels[-1]) or (isinstance(labels[-1], str) and not labels[-1].strip())):
        labels.pop()
    if not labels:
        raise TagrankInputError(f"{field}[{i}] is an empty path (got {path!r})")
    if depth is not None and len(labels) > depth:
        raise TagrankInputError(
            f"{field}[{i}] has depth {len(labels)} but the taxonomy has {depth} level(s): {labels!r}"
        )
    return tuple(_check_label(v, f"{field}[{i}][{j}]") for j, v in enumerate(labels))


def _paths_from(paths: Any, levels: Sequence[str] | None) -> tuple[list[tuple[str, ...]], list[str] | None]:
    """Paths from a sequence of sequences or a frame of level columns (returns their names)."""
    if isinstance(paths, pd.DataFrame):
        cols = list(levels) if levels is not None else list(paths.columns)
        missing = [c for c in cols if c not in paths.columns]
        if missing:
            raise TagrankInputError(f"paths is missing level column(s) {missing}; it has {list(paths.columns)}")
        rows = paths[cols].astype(object).to_numpy().tolist()
        return [_check_path(r, i, len(cols)) for i, r in enumerate(rows)], cols
    if paths is None or isinstance(paths, str):
        raise TagrankInputError("paths must be a sequence of label sequences or a DataFrame of level columns")
    depth = len(levels) if levels is not None else None
    return [_check_path(p, i, depth) for i, p in enumerate(paths)], (list(levels) if levels is not None else None)


def _split_frame(texts: Any, paths: Any, text_col: str) -> tuple[Any, Any, list[str] | None]:
    """``fit(frame, ["level1", ...])`` -> (texts, level frame, level names)."""
    if isinstance(texts, pd.DataFrame):
        if text_col not in texts.columns:
            raise TagrankInputError(f"the frame has no text column {text_col!r}; it has {list(texts.columns)}")
        if paths is None or isinstance(paths, str):
            raise TagrankInputError("fit(frame, levels): pass the level column names as a list")
        cols = list(paths)
        return texts[text_col].tolist(), texts, cols
    return texts, paths, None


# ----------------------------------------------------------------------------- categoriser


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


# ----------------------------------------------------------------------------- multi-label tags

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


# ----------------------------------------------------------------------------- clustering


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


# ----------------------------------------------------------------------------- tag recommendation


def holdout_last_events(
    events: pd.DataFrame, fraction: float = 0.2, min_events: int = 5
) -> np.ndarray:
    """Boolean mask of the held-out events: per user with >= ``min_events`` events ordered by
    (timestamp, item id, tag), the last ``max(1, floor(fraction * n))`` (the benchmark's rule)."""
    frame = pd.DataFrame({
        "u": events["user_id"].astype(str).to_numpy(),
        "t": events["timestamp"].to_numpy() if "timestamp" in events.columns else np.zeros(len(events)),
        "i": events["item_id"].astype(str).to_numpy(),
        "g": events["tag"].astype(str).to_numpy(),
        "pos": np.arange(len(events)),
    }).sort_values(["u", "t", "i", "g", "pos"], kind="mergesort")
    n = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    n_out = np.maximum(1, np.floor(fraction * n)).astype(int)
    out = np.zeros(len(events), dtype=bool)
    out[frame["pos"].to_numpy()] = (n >= min_events) & (from_end < n_out)
    return out


def _clone(estimator: Any) -> Any:
    return type(estimator)(**estimator.get_params())


def _unit_keys(users: Sequence[Any], items: Sequence[Any]) -> list[str]:
    return [f"{u}\t{i}" for u, i in zip(users, items, strict=True)]


class TagRecommender(Params):
    """Rank tags for (user, item): candidate signals combined by LambdaRank, with explanations.

    Signals (features and candidate generators): ``popularity``, ``user_history``,
    ``item_cooccurrence`` (:mod:`baselines.tag_signals`) and, when ``items`` are
    given to ``fit``, the text similarity of each tag to the item's text for every
    scorer of ``text_scorers`` (``"tfidf"``, or ``{name: scorer}``; a fitted
    scorer is used as it is, an unfitted one is fitted on the tag vocabulary).

    Training follows the benchmark's protocol inside the given events: per user
    with >= 5 events, the last 20% (by time, item, tag) are the ranker's labels,
    with the signals fitted on the earlier events only (no leakage); the
    candidates of each held-out (user, item) are the union of every signal's top
    ``n_candidates`` tags of that earlier vocabulary; a candidate is relevant when
    the user gave the item that tag. Held-out units are split 80/20 by a hash of
    the unit for early stopping. The signals are then refitted on all events for
    serving.

    ``suggest`` returns each suggestion with ``explanation``: the ``n_explain``
    features with the largest positive contributions
    (:meth:`hybrid.ranker.HybridRanker.explain`, SHAP values).
    """

    def __init__(
        self,
        text_scorers: Any = None,
        n_candidates: int = 50,
        holdout_fraction: float = 0.2,
        min_events: int = 5,
        n_explain: int = 2,
        ranker_params: dict[str, Any] | None = None,
        user_history: Any = None,
        item_cooccurrence: Any = None,
        random_state: int = 0,
        ablation: bool = False,
    ) -> None:
        self.text_scorers = text_scorers
        self.n_candidates = n_candidates
        self.holdout_fraction = holdout_fraction
        self.min_events = min_events
        self.n_explain = n_explain
        self.ranker_params = ranker_params
        self.user_history = user_history
        self.item_cooccurrence = item_cooccurrence
        self.random_state = random_state
        self.ablation = ablation

    def results_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(getattr(self, "feature_names_", []))}
        if hasattr(self, "fit_on_"):
            out["fit_on"] = self.fit_on_
        if hasattr(self, "balance_"):
            out["balance"] = self.balance_
            out["valid_macro_f1_by_balance"] = dict(self.balance_scores_)
        if hasattr(self, "ranker_"):
            out["ranker.best_iteration"] = self.ranker_.best_iteration_
        out["text_scorers"] = sorted(getattr(self, "text_scorers_", {}))
        return out

    # ------------------------------------------------------------------ signals
    def _signal_prototypes(self) -> list[Any]:
        from tagrank.baselines.tag_signals import (
            ItemCooccurrenceScorer,
            TagPopularityScorer,
            UserHistoryScorer,
        )

        return [
            TagPopularityScorer(),
            _clone(self.user_history) if self.user_history is not None else UserHistoryScorer(),
            _clone(self.item_cooccurrence) if self.item_cooccurrence is not None else ItemCooccurrenceScorer(),
        ]

    def _fit_signals(self, events: pd.DataFrame) -> list[Any]:
        return [s.fit(events) for s in self._signal_prototypes()]

    def _text_scorers(self, vocabulary: list[str]) -> dict[str, Any]:
        spec = self.text_scorers
        if spec is None:
            return {}
        if isinstance(spec, str):
            spec = {spec: make_representation(spec)}
        elif not isinstance(spec, dict):
            raise TagrankInputError(f"text_scorers must be None, 'tfidf' or a dict name -> scorer, got {spec!r}")
        out = {}
        for name, scorer in spec.items():
            scorer = make_representation(scorer)
            if not hasattr(scorer, "score_pairs"):
                raise TagrankInputError(f"text scorer {name!r} has no score_pairs()")
            if not is_fitted(scorer):
                scorer.fit(vocabulary, ids=vocabulary)
            out[str(name)] = scorer
        return out

    # ------------------------------------------------------------------ candidates and features
    def _candidates(
        self, signals: list[Any], texts: dict[str, Any], users: list[Any], items: list[Any],
        vocabulary: set[str] | None, exclude: list[set[str]] | None,
    ) -> pd.DataFrame:
        """One row per (unit, candidate tag) with every feature column."""
        n_cand = check_k(self.n_candidates, "n_candidates")
        mats = [s.score(users, items) for s in signals]
        vocab = signals[0].tags_
        index = signals[0].tag_index_
        picked: list[set[int]] = [set() for _ in users]
        for s in signals:
            tags, _ = s.recommend(users, items, n_cand, exclude=exclude)
            for r, row in enumerate(tags):
                picked[r].update(index[t] for t in row if t is not None)
        item_text = [self.item_text_.get(i) for i in items]
        for scorer in texts.values():
            rows = [r for r, t in enumerate(item_text) if t is not None]
            if not rows:
                continue
            ids, _ = scorer.top_k([item_text[r] for r in rows], min(len(scorer.ids_), n_cand * 3))
            for r, row in zip(rows, ids, strict=True):
                kept = [index[t] for t in row if t is not None and t in index and (vocabulary is None or t in vocabulary)]
                picked[r].update(kept[:n_cand])
        unit_rows, tag_rows = [], []
        for r, cand in enumerate(picked):
            if exclude is not None and exclude[r]:
                cand = cand - {index[t] for t in exclude[r] if t in index}
            cand_sorted = sorted(cand)
            unit_rows.extend([r] * len(cand_sorted))
            tag_rows.extend(cand_sorted)
        unit_rows_a = np.asarray(unit_rows, dtype=np.int64)
        tag_rows_a = np.asarray(tag_rows, dtype=np.int64)
        keys = _unit_keys(users, items)
        frame = pd.DataFrame({
            "unit": np.asarray(keys, dtype=object)[unit_rows_a] if len(unit_rows_a) else np.zeros(0, dtype=object),
            "tag": vocab[tag_rows_a] if len(tag_rows_a) else np.zeros(0, dtype=object),
            "row": unit_rows_a,
        })
        for s, mat in zip(signals, mats, strict=True):
            frame[s.name] = mat[unit_rows_a, tag_rows_a] if len(unit_rows_a) else np.zeros(0)
        for name, scorer in texts.items():
            col = np.full(len(frame), np.nan)
            has = np.asarray([item_text[r] is not None for r in unit_rows_a], dtype=bool)
            if has.any():
                col[has] = scorer.score_pairs(
                    frame["tag"].to_numpy()[has].tolist(), [item_text[r] for r in unit_rows_a[has]]
                )
            frame[name] = col
        return frame

    # ------------------------------------------------------------------ fit
    def fit(self, events: pd.DataFrame, items: pd.DataFrame | None = None) -> TagRecommender:
        """Learn the ranker on held-out events (see the class docstring), then refit the signals on all events."""
        from tagrank.baselines.tag_signals import check_events
        from tagrank.hybrid.ranker import HybridRanker

        ev = check_events(events).reset_index(drop=True)
        check_k(self.n_explain, "n_explain")
        if not 0 < float(self.holdout_fraction) < 1:
            raise TagrankInputError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}")
        self.item_text_: dict[Any, str] = {}
        if items is not None:
            from tagrank.baselines.validation import check_columns

            check_columns(items, ["item_id", "text"], "items")
            texts = check_texts(items["text"].tolist(), "items.text")
            self.item_text_ = dict(zip(items["item_id"].tolist(), texts, strict=True))
        held = holdout_last_events(ev, float(self.holdout_fraction), int(self.min_events))
        early, late = ev[~held], ev[held]
        if len(late) == 0 or len(early) == 0:
            raise TagrankInputError(
                f"no user has >= {self.min_events} events: the ranker has no held-out events to learn from"
            )
        full_vocab = sorted(set(ev["tag"]))
        self.text_scorers_ = self._text_scorers(full_vocab) if self.item_text_ else {}
        signals = self._fit_signals(early)
        early_vocab = set(signals[0].tags_)
        units = late.groupby(["user_id", "item_id"], sort=True)["tag"].agg(set)
        users = [u for u, _ in units.index]
        items_ = [i for _, i in units.index]
        seen = early.groupby(["user_id", "item_id"])["tag"].agg(set)
        exclude = [seen.get((u, i), set()) for u, i in units.index]
        frame = self._candidates(signals, self.text_scorers_, users, items_, early_vocab, exclude)
        relevant = units.to_numpy()
        frame["label"] = [float(t in relevant[r]) for r, t in zip(frame["row"], frame["tag"], strict=True)]
        features = [s.name for s in signals] + list(self.text_scorers_)
        self.feature_names_ = features
        import hashlib

        in_valid = np.asarray(
            [int(hashlib.sha1(k.encode("utf-8")).hexdigest(), 16) % 100 >= 80 for k in frame["unit"]], dtype=bool
        )
        params = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 10,
                  "early_stopping_rounds": 30, "grade_rule": "binary", "random_state": self.random_state}
        params.update(self.ranker_params or {})
        ranker = HybridRanker(**params)
        train_part, valid_part = frame[~in_valid], frame[in_valid]

        def learnable(part: pd.DataFrame) -> bool:
            g = part.groupby("unit")["label"].agg(["min", "max", "size"])
            return bool(((g["max"] > g["min"]) & (g["size"] > 1)).any())

        if not learnable(train_part):
            train_part, valid_part = frame, frame.iloc[0:0]
        if not learnable(train_part):
            raise TagrankInputError(
                "no held-out (user, item) has a relevant candidate tag: the ranker has nothing to learn"
            )
        valid_used = valid_part if learnable(valid_part) else None
        ranker.fit(train_part, query_col="unit", candidate_col="tag", label_col="label", feature_cols=features,
                   valid=valid_used)
        self.ranker_ = ranker
        self.ablation_: dict[str, Any] = {}
        if self.ablation:  # the ranker without each signal's feature: same rows, candidates, parameters, seed
            from tagrank.hybrid.ablation import fit_ablations

            self.ablation_ = fit_ablations(
                lambda cols: HybridRanker(**params).fit(train_part, query_col="unit", candidate_col="tag",
                                                        label_col="label", feature_cols=cols, valid=valid_used),
                features, {f: [f] for f in features})
        self.n_training_units_ = len(units)
        self.signals_ = self._fit_signals(ev)
        self.tags_ = self.signals_[0].tags_
        return self

    # ------------------------------------------------------------------ serve
    def _check_fitted(self) -> None:
        if not hasattr(self, "ranker_"):
            raise NotFittedError("TagRecommender is not fitted: call fit() first")

    @property
    def ablation_variants(self) -> list[str]:
        """The fitted drop-one variants (``"-<signal>"``); empty unless fitted with ``ablation=True``."""
        return list(getattr(self, "ablation_", {}))

    def _ranked(self, user_ids: Sequence[Any], item_ids: Sequence[Any],
                exclude: Sequence[set[str] | None] | None, ranker: Any = None,
                frame: pd.DataFrame | None = None) -> pd.DataFrame:
        frame = self._candidate_frame(user_ids, item_ids, exclude) if frame is None else frame.copy()
        frame["score"] = (ranker if ranker is not None else self.ranker_).predict(frame) if len(frame) else np.zeros(0)
        order = np.lexsort((frame["tag"].to_numpy(dtype=str), -frame["score"].to_numpy(), frame["row"].to_numpy()))
        frame = frame.iloc[order].reset_index(drop=True)
        frame["rank"] = frame.groupby("row", sort=False).cumcount().to_numpy() + 1
        return frame

    def _candidate_frame(self, user_ids: Sequence[Any], item_ids: Sequence[Any],
                         exclude: Sequence[set[str] | None] | None) -> pd.DataFrame:
        self._check_fitted()
        users, items = list(user_ids), list(item_ids)
        check_same_length(user_ids=users, item_ids=items)
        excl = [set(e or ()) for e in exclude] if exclude is not None else None
        if excl is not None:
            check_same_length(user_ids=users, exclude=excl)
        return self._candidates(self.signals_, self.text_scorers_, users, items, None, excl)

    def recommend_ablation(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 10,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
        """:meth:`recommend` of the model (key None) and of each ablation variant, candidates computed once."""
        k = check_k(k)
        frame = self._candidate_frame(user_ids, item_ids, exclude)
        rankers = {None: self.ranker_, **getattr(self, "ablation_", {})}
        return {v: self._top(self._ranked(user_ids, item_ids, exclude, r, frame), len(list(user_ids)), k)
                for v, r in rankers.items()}

    def recommend(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 10,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k tags per (user, item): (tags [n, k], scores [n, k]); short rows padded with None / -inf."""
        k = check_k(k)
        return self._top(self._ranked(user_ids, item_ids, exclude), len(list(user_ids)), k)

    @staticmethod
    def _top(frame: pd.DataFrame, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(tags [n, k], scores [n, k]) of a ranked candidate frame; short rows padded with None / -inf."""
        tags = np.full((n, k), None, dtype=object)
        scores = np.full((n, k), -np.inf)
        top = frame[frame["rank"] <= k]
        r, c = top["row"].to_numpy(), top["rank"].to_numpy() - 1
        tags[r, c] = top["tag"].to_numpy()
        scores[r, c] = top["score"].to_numpy()
        return tags, scores

    def suggest(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 5,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> pd.DataFrame:
        """Top-k suggestions with explanations: columns user_id, item_id, rank, tag, score,
        explanation (e.g. ``"item_cooccurrence +1.21, user_history +0.40"``), contributions (dict)."""
        k = check_k(k)
        users, items = list(user_ids), list(item_ids)
        frame = self._ranked(users, items, exclude)
        top = frame[frame["rank"] <= k].reset_index(drop=True)
        contrib = self.ranker_.explain(top) if len(top) else pd.DataFrame(columns=[*self.feature_names_, "bias"])
        feats = contrib[self.feature_names_].to_numpy() if len(top) else np.zeros((0, len(self.feature_names_)))
        explanations, contributions = [], []
        for row in feats:
            order = np.argsort(-row, kind="stable")
            parts = [(self.feature_names_[j], float(row[j])) for j in order[: max(1, self.n_explain)] if row[j] > 0]
            explanations.append(", ".join(f"{name} {value:+.2f}" for name, value in parts) or "prior (no signal above average)")
            contributions.append({name: float(v) for name, v in zip(self.feature_names_, row, strict=True)})
        rows = top["row"].to_numpy()
        return pd.DataFrame({
            "user_id": [users[r] for r in rows], "item_id": [items[r] for r in rows],
            "rank": top["rank"].to_numpy(), "tag": top["tag"].to_numpy(), "score": top["score"].to_numpy(),
            "explanation": explanations, "contributions": contributions,
        })


# ----------------------------------------------------------------------------- stacked categoriser


class StackedCategoriser:
    """The taxonomy ``hybrid``: LightGBM LambdaRank over candidate paths from fitted categorisers.

    ``bases`` are fitted :class:`Categoriser` objects (same levels), all fitted on
    the texts given to ``fit``. For each text the candidates are the union of
    every base's top ``n_candidates`` known paths; a candidate's features are, per
    base, its path posterior, the posterior mass of its prefix at each level and
    its rank under that base. The ranker learns which candidate is the true path
    (binary grades).

    Out-of-fold: with ``n_folds >= 2`` the training features come from clones of
    each base (same parameters and the same fitted representation, which never
    saw labels) fitted on the other folds of ``fit``'s texts (folds by a hash of
    the row position), so no base scores a text it was trained on; the ranker
    early-stops on ``valid_texts`` scored by the full bases. With
    ``n_folds=None`` the texts given to ``fit`` must be held out from the bases
    (e.g. the valid split) and 20% of them (by hash) early-stop the ranker.
    ``fit_on="valid"`` does exactly that with ``fit``'s ``valid_texts`` /
    ``valid_paths`` (the training texts are not used); it is what ``"auto"``
    (the default) picks when a base is ``supervised`` (e.g. a
    :class:`hybrid.finetune_categoriser.FineTunedCategoriser`, whose
    representation saw the training labels and cannot be refitted per fold),
    and ``"train"`` otherwise.
    ``predict`` returns the frame of :meth:`Categoriser.predict`, with
    confidences from a softmax over the candidates' ranker scores.

    ``balance`` corrects the ranker's pull towards frequent paths (it learns
    to be right on as many texts as possible, while macro-F1 weighs every
    class alike): a candidate's score becomes ``score - alpha * scale * log prior``,
    where ``prior`` is the path's training frequency (add-one smoothed) and
    ``scale`` the standard deviation of the ranker's scores on the held-out
    candidates (LambdaRank scores have no fixed scale) -- the logit adjustment
    of Menon et al. (2021). ``"valid"`` picks ``alpha`` from
    ``BALANCE_GRID`` by the last level's macro-F1 on the held-out texts that
    early-stop the ranker; a number fixes it; ``None`` turns it off.
    """

    def __init__(
        self,
        bases: dict[str, Categoriser] | None = None,
        n_candidates: int = 5,
        n_folds: int | None = 3,
        ranker_params: dict[str, Any] | None = None,
        fit_on: str = "auto",
        balance: str | float | None = "valid",
        random_state: int = 0,
    ) -> None:
        self.bases = bases
        self.n_candidates = n_candidates
        self.n_folds = n_folds
        self.fit_on = fit_on
        self.balance = balance
        self.ranker_params = ranker_params
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {"n_candidates": self.n_candidates, "n_folds": self.n_folds, "ranker_params": self.ranker_params,
                "fit_on": self.fit_on, "balance": self.balance, "random_state": self.random_state,
                "bases": sorted(self.bases or {})}

    def results_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(getattr(self, "feature_names_", []))}
        if hasattr(self, "fit_on_"):
            out["fit_on"] = self.fit_on_
        if hasattr(self, "balance_"):
            out["balance"] = self.balance_
            out["valid_macro_f1_by_balance"] = dict(self.balance_scores_)
        if hasattr(self, "ranker_"):
            out["ranker.best_iteration"] = int(self.ranker_.best_iteration_)
        return out

    def _setup(self) -> None:
        bases = self.bases or {}
        if not bases:
            raise TagrankInputError("StackedCategoriser needs at least one fitted Categoriser in bases")
        levels = None
        for name, base in bases.items():
            if not isinstance(base, Categoriser) or not hasattr(base, "paths_"):
                raise TagrankInputError(f"base {name!r} is not a fitted Categoriser")
            if levels is None:
                levels = base.levels_
            elif base.levels_ != levels:
                raise TagrankInputError(f"base {name!r} has levels {base.levels_}, expected {levels}")
        self.levels_ = list(levels)
        paths: list[tuple] = []
        seen: set[tuple] = set()
        for base in bases.values():
            for p in base.paths_:
                if p not in seen:
                    seen.add(p)
                    paths.append(p)
        self.paths_ = paths
        self._path_row = {p: i for i, p in enumerate(paths)}
        self._prefix = [pd.factorize(pd.Series([p[: lv + 1] for p in paths]))[0].astype(np.int64)
                        for lv in range(len(self.levels_))]
        self.feature_names_ = [
            f"{n}.{f}" for n in bases for f in ("posterior", *(f"prefix{lv + 1}" for lv in range(len(self.levels_))), "rank")
        ]

    def _posterior(self, base: Categoriser, texts: list[str]) -> np.ndarray:
        """A base's posterior over the union of known paths."""
        post = np.zeros((len(texts), len(self.paths_)))
        cols = np.asarray([self._path_row[p] for p in base.paths_], dtype=np.int64)
        post[:, cols] = base.path_posterior(texts)
        return post

    def _frame(self, posts: dict[str, np.ndarray]) -> pd.DataFrame:
        n_cand = check_k(self.n_candidates, "n_candidates")
        n, n_paths = next(iter(posts.values())).shape
        masses, ranks = {}, {}
        chosen = np.zeros((n, n_paths), dtype=bool)
        for name, post in posts.items():
            masses[name] = [_group_sum(post, g)[:, g] for g in self._prefix]
            order = np.lexsort((np.tile(np.arange(n_paths), (n, 1)), -post), axis=-1)
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.tile(np.arange(n_paths), (n, 1)), axis=1)
            ranks[name] = rank + 1
            np.put_along_axis(chosen, order[:, :n_cand], True, axis=1)
        r, c = np.nonzero(chosen)
        frame = pd.DataFrame({"row": r, "path": c})
        for name, post in posts.items():
            frame[f"{name}.posterior"] = post[r, c]
            for lv, m in enumerate(masses[name]):
                frame[f"{name}.prefix{lv + 1}"] = m[r, c]
            frame[f"{name}.rank"] = ranks[name][r, c].astype(np.float64)
        return frame

    def _full_frame(self, texts: list[str]) -> pd.DataFrame:
        return self._frame({n: self._posterior(b, texts) for n, b in (self.bases or {}).items()})

    def _oof_frame(self, texts: list[str], paths: list[tuple[str, ...]], n_folds: int) -> pd.DataFrame:
        import hashlib

        fold = np.asarray([int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % n_folds for i in range(len(texts))])
        posts = {n: np.zeros((len(texts), len(self.paths_))) for n in (self.bases or {})}
        for f in range(n_folds):
            fit_rows, out_rows = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            if len(out_rows) == 0 or len(fit_rows) == 0:
                continue
            for name, base in (self.bases or {}).items():
                params = base.get_params()
                rep = base.representation_
                # the fitted representation is shared (it never saw labels); a top_k-only
                # scorer is an index of the training texts and gets its own copy per fold
                params["representation"] = rep if hasattr(rep, "transform") else _clone(rep)
                params["levels"] = self.levels_
                clone = Categoriser(**params).fit([texts[i] for i in fit_rows], [paths[i] for i in fit_rows])
                posts[name][out_rows] = self._posterior(clone, [texts[i] for i in out_rows])
        return self._frame(posts)

    def _labels(self, frame: pd.DataFrame, paths: list[tuple[str, ...]]) -> pd.DataFrame:
        depth = len(self.levels_)
        truth = np.asarray([self._path_row.get(tuple(p) + (None,) * (depth - len(p)), -1) for p in paths])
        frame["label"] = (frame["path"].to_numpy() == truth[frame["row"].to_numpy()]).astype(float)
        return frame

    def fit(
        self, texts: Sequence[str], paths: Any, valid_texts: Sequence[str] | None = None, valid_paths: Any = None,
    ) -> StackedCategoriser:
        """Learn the ranker (see the class docstring for what ``texts`` must be under each ``n_folds``)."""
        import hashlib

        from tagrank.hybrid.ranker import HybridRanker

        self._setup()
        if self.fit_on not in ("auto", "train", "valid"):
            raise TagrankInputError(f"fit_on must be 'auto', 'train' or 'valid', got {self.fit_on!r}")
        if self.balance not in (None, "valid") and (
            isinstance(self.balance, bool) or not isinstance(self.balance, int | float) or self.balance < 0
        ):
            raise TagrankInputError(f"balance must be 'valid', None or a number >= 0, got {self.balance!r}")
        supervised = any(getattr(b, "supervised", False) for b in (self.bases or {}).values())
        self.fit_on_ = self.fit_on if self.fit_on != "auto" else ("valid" if supervised else "train")
        n_folds = self.n_folds
        if self.fit_on_ == "valid":
            if valid_texts is None or valid_paths is None:
                raise TagrankInputError("fit_on='valid' needs valid_texts and valid_paths")
            texts, paths, valid_texts, valid_paths, n_folds = valid_texts, valid_paths, None, None, None
        texts = check_texts(texts, "texts")
        check_nonempty(texts, "texts")
        path_list, _ = _paths_from(paths, self.levels_)
        check_same_length(texts=texts, paths=path_list)
        if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2):
            raise TagrankInputError(f"n_folds must be None or an integer >= 2, got {n_folds!r}")
        if n_folds is not None and supervised:
            raise TagrankInputError(
                "a supervised base (e.g. FineTunedCategoriser) cannot be refitted per fold: use fit_on='valid'"
            )
        if n_folds is not None:
            train_part = self._labels(self._oof_frame(texts, path_list, n_folds), path_list)
            valid_part = train_part.iloc[0:0]
            if valid_texts is not None:
                v_texts = check_texts(valid_texts, "valid_texts")
                v_paths, _ = _paths_from(valid_paths, self.levels_)
                check_same_length(valid_texts=v_texts, valid_paths=v_paths)
                valid_part = self._labels(self._full_frame(v_texts), v_paths)
        else:
            frame = self._labels(self._full_frame(texts), path_list)
            in_valid = np.asarray([int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % 100 >= 80
                                   for i in range(len(texts))])[frame["row"].to_numpy()]
            train_part, valid_part = frame[~in_valid], frame[in_valid]
        params = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                  "early_stopping_rounds": 30, "grade_rule": "binary", "eval_at": (1,),
                  "random_state": self.random_state}
        params.update(self.ranker_params or {})

        def learnable(part: pd.DataFrame) -> bool:
            if len(part) == 0:
                return False
            g = part.groupby("row")["label"].agg(["min", "max"])
            return bool((g["max"] > g["min"]).any())

        if not learnable(train_part):
            raise TagrankInputError("no text has its true path among several candidates: nothing to learn")
        self.ranker_ = HybridRanker(**params).fit(
            train_part, query_col="row", candidate_col="path", label_col="label", feature_cols=self.feature_names_,
            valid=valid_part if learnable(valid_part) else None,
        )
        self.log_prior_ = self._log_prior()
        # the adjustment is in units of the ranker's score spread (held-out candidates, else training ones)
        spread = self.ranker_.predict(valid_part if len(valid_part) else train_part)
        self.score_scale_ = float(np.std(spread)) if len(spread) and np.std(spread) > 0 else 1.0
        held_paths = v_paths if n_folds is not None and valid_texts is not None else path_list
        self.balance_, self.balance_scores_ = self._choose_balance(valid_part, held_paths)
        return self

    def _log_prior(self) -> np.ndarray:
        """log of each known path's training frequency (add-one smoothed), from the first base that knows it."""
        counts = np.zeros(len(self.paths_))
        for base in (self.bases or {}).values():
            rows = getattr(base, "_train_rows", None)
            if rows is not None:
                per_path = np.bincount(rows, minlength=len(base.paths_))
                counts[[self._path_row[p] for p in base.paths_]] = per_path
                break
        return np.log(counts + 1.0)

    def _choose_balance(self, held: pd.DataFrame, paths: list[tuple[str, ...]]) -> tuple[float, dict[str, float]]:
        """``alpha`` of the logit adjustment (see the class docstring) and the held-out macro-F1 of each tried."""
        if self.balance is None:
            return 0.0, {}
        if self.balance != "valid":
            return float(self.balance), {}
        if len(held) == 0:
            return 0.0, {}
        from sklearn.metrics import f1_score

        rows = np.unique(held["row"].to_numpy())
        # the last level's label (None where a path stops above it), the same sentinel on both sides
        truth = np.asarray([str(paths[r][-1]) if len(paths[r]) == len(self.levels_) else "None" for r in rows])
        score = self.ranker_.predict(held)
        r, c = held["row"].to_numpy(), held["path"].to_numpy()
        pos = np.searchsorted(rows, r)
        last = np.asarray([str(p[-1]) for p in self.paths_])
        scores: dict[str, float] = {}
        for alpha in BALANCE_GRID:
            logits = np.full((len(rows), len(self.paths_)), -np.inf)
            logits[pos, c] = score - alpha * self.score_scale_ * self.log_prior_[c]
            pred = last[np.argmax(logits, axis=1)]
            scores[str(alpha)] = float(f1_score(truth, pred, average="macro", zero_division=0))
        best = max(BALANCE_GRID, key=lambda a: (scores[str(a)], -a))
        return float(best), scores

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """Best candidate path per text and per-level confidences (softmax over the candidates)."""
        if not hasattr(self, "ranker_"):
            raise NotFittedError("StackedCategoriser is not fitted: call fit() first")
        texts = check_texts(texts, "texts")
        frame = self._full_frame(texts)
        score = self.ranker_.predict(frame) if len(frame) else np.zeros(0)
        r, c = frame["row"].to_numpy(), frame["path"].to_numpy()
        logits = np.full((len(texts), len(self.paths_)), -np.inf)
        logits[r, c] = score - self.balance_ * self.score_scale_ * self.log_prior_[c]
        best = np.argmax(logits, axis=1)
        post = np.exp(logits - logits.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        out: dict[str, Any] = {}
        n = len(texts)
        for lv, name in enumerate(self.levels_):
            out[name] = pd.Series([self.paths_[b][lv] for b in best], dtype=object)
        for lv, name in enumerate(self.levels_):
            g = self._prefix[lv]
            out[f"{name}_confidence"] = _group_sum(post, g)[np.arange(n), g[best]]
        return pd.DataFrame(out)
