"""Text representations and the classifier pieces the tag systems share.

A *representation* is ``"tfidf"`` (the library's TF-IDF; Chinese is segmented
with jieba) or any scorer with ``transform(texts) -> matrix`` (sparse or
dense). A fitted scorer is used as it is; an unfitted one is fitted on the
training texts. Also: row-normalised cosine top-k in chunks, the quiet
logistic regression, a standard scaler and the joint one-vs-rest L-BFGS model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagrank.baselines.validation import (
    TagrankInputError,
)

_CHUNK = 1024


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
