"""The guard: a hybrid serves its learned model only where held-out data says it is not worse than a source.

A *source* is one base scorer's own score column among the model's features
(``bm25``, ``transformer``). After a hybrid model is fitted, :func:`guard_model`
measures the model and every source on held-out units of the *training side*
(never test) and decides what the hybrid serves:

* ``"model"`` -- the learned model, unless the best source beats it;
* ``"source:<name>"`` -- that source's score column, as it is (ties and order are
  the source's own ranking), with a :class:`SourceFallbackWarning`.

**Which held-out units.** A cross-fitted ensemble (``HybridRanker(n_folds=K)``)
brings each unit's score from the fold model that did not see it; those are
used. Otherwise, with at least ``MIN_DIRECT_UNITS`` informative valid
units (queries with two different grades; pairs), the model and the sources
are compared on ``valid`` directly. With fewer (a small valid split cannot
tell two methods apart), the model's recipe -- its parameters with the number
of trees it early-stopped at -- is *cross-fitted* over train + valid:
``N_FOLDS`` folds by unit (query, or row for the regressor), each fold scored
by the model trained on the other folds, so every unit is held out once.
Sources learn nothing from these labels, so their scores on the same units are
fair.

**The rule, and why it does not flip on noise.** The comparison is *paired*:
the model and every source are measured on the same units, so only the noise
of their difference matters. The model is served unless the best source's mean
held-out score is strictly higher. Where the two are within noise of each other
either choice serves something within noise of the best source, so a flip costs
nothing that matters; where the model is truly worse by a margin the held-out
units can resolve, the source is served. Requiring *significance* before
falling back would keep a model that is worse whenever valid is too small to
prove it (the case this guard exists for), so the point estimate on as many
held-out units as the data has (cross-fitted when valid is small) is the
rule. Ties go to the model.

**Evidence, where held-out scores are optimistic for the model** (``alpha``). Where the
model is served on inputs that differ systematically from those it was measured on --
:class:`~tagrank.hybrid.pipelines.RecommendPipeline` refits its generators on all
interactions before serving, so every score feature shifts (more data, other scales)
while each source's *ranking* is its own on either side -- the held-out comparison
favours the model. There the model is served only when it beats the best source with a
one-sided paired t-test p < ``alpha`` over the held-out units (queries, users); otherwise the best
source is (recorded as ``p_value`` in ``guard_``).

**Small data and constant models.** Below ``MIN_QUERIES`` informative training
queries (or ``MIN_POSITIVES`` positive rows among them) for a ranker, or
``MIN_PAIRS`` training rows for a regressor, or when LightGBM learnt no split
at all (every score the same constant), no model is trusted: the best source
on all labelled units (train + valid) is served, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError

#: a ranker needs at least this many training queries with two different grades ...
MIN_QUERIES = 20
#: ... holding at least this many positive (grade > 0) rows between them
MIN_POSITIVES = 40
#: a regressor needs at least this many training rows
MIN_PAIRS = 50
#: informative valid units needed to judge on valid directly; fewer -> cross-fit over train + valid
MIN_DIRECT_UNITS = 200
#: folds of the cross-fitted guard
N_FOLDS = 5
MODEL = "model"
SOURCE_PREFIX = "source:"


class SourceFallbackWarning(UserWarning):
    """A hybrid serves one of its sources instead of its learned model (worse on held-out data, too
    little data, or a model without a single split)."""


class NoSplitWarning(SourceFallbackWarning):
    """LightGBM learnt no split: the model gives every row the same score."""


class DistributionShiftWarning(UserWarning):
    """Scoring inputs lie outside what the hybrid was trained on (text length, unknown words, feature ranges)."""


# --------------------------------------------------------------------------- metrics


def correlation(kind: str, pred: np.ndarray, y: np.ndarray) -> float:
    """Spearman / Pearson correlation or ROC AUC (``kind``) of ``pred`` against ``y``; NaN where undefined."""
    from scipy.stats import pearsonr, rankdata, spearmanr

    pred = np.asarray(pred, np.float64)
    y = np.asarray(y, np.float64)
    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(pred) == 0:
        return float("nan")
    if kind == "auc":
        pos = y > 0
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        ranks = rankdata(pred)
        return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    if kind == "pearson":
        return float(pearsonr(pred, y)[0])
    return float(spearmanr(pred, y)[0])


def ndcg_per_query(scores: np.ndarray, grades: np.ndarray, codes: np.ndarray, gains: Sequence[float],
                   k: int) -> np.ndarray:
    """NDCG@k of each query (``codes``) with two different grades, LightGBM's gains and discounts;
    ties in ``scores`` are broken by row order (as :meth:`HybridRanker.rank`)."""
    gain = np.asarray(gains, np.float64)[np.asarray(grades, np.int64)]
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, np.float64), codes))
    out = []
    codes_o = codes[order]
    starts = np.flatnonzero(np.r_[True, codes_o[1:] != codes_o[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends, strict=True):
        g = gain[order[s:e]]
        grades_q = np.asarray(grades)[order[s:e]]
        if grades_q.min() == grades_q.max():
            continue
        disc = 1.0 / np.log2(np.arange(2, min(k, e - s) + 2))
        dcg = float((g[:k] * disc).sum())
        ideal = float((np.sort(g)[::-1][:k] * disc).sum())
        out.append(dcg / ideal if ideal > 0 else 0.0)
    return np.asarray(out, np.float64)


def source_values(values: np.ndarray, fill: float | None = None) -> np.ndarray:
    """A source's score column with its missing values (unknown words, items) ranked last."""
    values = np.asarray(values, np.float64)
    if not np.isnan(values).any():
        return values
    if fill is None:
        fill = missing_fill(values)
    return np.where(np.isnan(values), fill, values)


def missing_fill(values: np.ndarray) -> float:
    """The score given to a source's missing values: one below its smallest known value."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.min() - 1.0) if len(finite) else 0.0


def decide(scores: dict[str, float], model_key: str = MODEL) -> str:
    """What to serve from held-out ``scores`` ({"model": x, "source:<name>": y, ...}): the model unless
    the best source is strictly higher (an undefined model score loses to any defined source)."""
    sources = {k: v for k, v in scores.items() if k != model_key and v is not None and np.isfinite(v)}
    if not sources:
        return model_key
    best = max(sources, key=lambda k: (sources[k], -list(sources).index(k)))
    model = scores.get(model_key)
    if model is None or not np.isfinite(model) or sources[best] > model:
        return best
    return model_key


def best_source(scores: dict[str, float]) -> str | None:
    """The source with the highest defined score (first wins ties), or None."""
    sources = {k: v for k, v in scores.items() if k.startswith(SOURCE_PREFIX) and v is not None and np.isfinite(v)}
    if not sources:
        return None
    return max(sources, key=lambda k: (sources[k], -list(sources).index(k)))


def rounded(scores: dict[str, float]) -> dict[str, float | None]:
    """JSON-safe scores (NaN -> None), 6 decimals."""
    return {k: (round(float(v), 6) if v is not None and np.isfinite(v) else None) for k, v in scores.items()}


def is_constant(booster: Any) -> bool:
    """Whether a LightGBM booster learnt no split (every prediction the same constant)."""
    import re

    text = booster.model_to_string(num_iteration=-1)
    if "is_linear=1" in text:
        return False
    return all(int(n) <= 1 for n in re.findall(r"^num_leaves=(\d+)$", text, flags=re.M))


def source_columns(feature_names: Sequence[str], scorer_names: Sequence[str]) -> list[str]:
    """Each scorer's own score column among ``feature_names``: the first feature derived from it, which
    a scorer's ``feature_columns`` gives as its own score (``bm25`` for BM25, ``tfidf_word`` for a word
    TF-IDF named ``tfidf``, ``tfidf`` -- the mean of its two cosines -- for one over words and characters),
    in scorer order."""
    from tagrank.hybrid.ablation import feature_groups

    groups = feature_groups(list(feature_names), list(scorer_names))
    return [groups[s][0] for s in scorer_names if s in groups]


def fold_codes(n_units: int, n_folds: int, random_state: int) -> np.ndarray:
    """A seeded, balanced fold of each unit."""
    return np.random.default_rng(random_state).permutation(n_units) % max(2, min(n_folds, n_units))


def warn_fallback(owner: str, served: str, reason: str, scores: dict[str, float], how: str,
                  category: type[Warning] = SourceFallbackWarning) -> None:
    """One clear warning: what the hybrid serves instead of its model, and why."""
    shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if v is not None and np.isfinite(v))
    warnings.warn(f"{owner} serves {served} instead of its learned model: {reason} "
                  f"(held-out scores, {how}: {shown or 'none defined'})", category, stacklevel=3)


# --------------------------------------------------------------------------- the model guard


def _refit_recipe(model: Any) -> Any:
    """An unfitted copy of ``model`` that trains exactly its recipe: its parameters, the number of trees
    it early-stopped at, no early stopping (a held-out fold must not choose its own stopping point)."""
    params = model.get_params()
    params.update({"n_estimators": max(1, int(getattr(model, "best_iteration_", 0) or params["n_estimators"])),
                   "early_stopping_rounds": None})
    return type(model)(**params)


def _check_sources(model: Any, sources: Sequence[str]) -> list[str]:
    sources = [str(s) for s in sources]
    missing = [s for s in sources if s not in model.feature_names_]
    if missing:
        raise TagrankInputError(f"sources {missing} are not feature columns of the model; "
                                f"features: {model.feature_names_}")
    if not sources:
        raise TagrankInputError("sources is empty: name at least one source score column")
    return sources


def guard_model(model: Any, frame: pd.DataFrame, valid: pd.DataFrame | None, sources: Sequence[str],
                random_state: int = 0, warn: bool = True, alpha: float | None = None) -> dict[str, Any]:
    """Measure a fitted :class:`HybridRanker` / :class:`HybridRegressor` and each source on held-out units
    (see the module docstring), set what it serves (``served_``, ``guard_scores_``, ``guard_``) and warn
    on a fallback. ``frame`` / ``valid``: the rows ``fit`` saw (same columns). ``alpha`` (rankers only):
    serve the model only where it beats the best source with a one-sided paired t-test p < ``alpha``
    over the held-out units (see "Evidence" in the module docstring). Returns ``guard_``."""
    sources = _check_sources(model, sources)
    ranker = hasattr(model, "query_col_")
    if alpha is not None and not ranker:
        raise TagrankInputError("alpha (serve the model only on significant evidence) needs a ranker: "
                                "a regressor's held-out units are pairs scored by one correlation")
    if alpha is not None and not (isinstance(alpha, int | float) and 0 < float(alpha) < 1):
        raise TagrankInputError(f"alpha must be None or in (0, 1), got {alpha!r}")
    p_value = None
    evaluate = _ranking_evaluator(model) if ranker else _regression_evaluator(model)
    pooled, unit, folds_of = _pooled(model, frame, valid, ranker, random_state)
    n_train_units, n_positives = evaluate.size(frame)
    constant = is_constant(model.booster_)
    small = (n_train_units < MIN_QUERIES or n_positives < MIN_POSITIVES) if ranker else len(frame) < MIN_PAIRS
    if constant or small:
        # no model to trust: the best source on every labelled unit (sources learnt nothing from them)
        how = "train + valid, sources only"
        scores = {f"{SOURCE_PREFIX}{s}": evaluate(pooled, source_values(pooled[s].to_numpy(np.float64)), None)
                  for s in sources}
        served = best_source(scores) or f"{SOURCE_PREFIX}{sources[0]}"
        if constant:
            reason = "LightGBM learnt no split (every score is the same constant)"
        elif ranker:
            reason = (f"too little training data ({n_train_units} queries with two different grades, "
                      f"{n_positives} positive rows; the minimum is {MIN_QUERIES} queries and {MIN_POSITIVES} positives)")
        else:
            reason = f"too little training data ({len(frame)} rows; the minimum is {MIN_PAIRS})"
        category = NoSplitWarning if constant else SourceFallbackWarning
    else:
        n_valid_units = evaluate.size(valid)[0] if valid is not None else 0
        oof = getattr(model, "_oof", None)
        if oof is not None and len(oof) == len(pooled):  # a cross-fitted ensemble brings its own held-out scores
            how = f"cross-fitted: the model's own {model.n_folds} query folds ({evaluate.size(pooled)[0]} units)"
            pred, held, folds = oof, pooled, None
        elif valid is not None and n_valid_units >= MIN_DIRECT_UNITS:
            how = f"valid ({n_valid_units} units)"
            pred = model._predict_model(valid)
            held, folds = valid, None
        else:
            k = N_FOLDS
            folds = folds_of(k)
            how = f"cross-fitted over train + valid ({k} folds, {int(unit.max()) + 1} units)"
            pred = np.empty(len(pooled))
            for f in range(int(folds.max()) + 1):
                rows = folds[unit] == f
                part = pooled[~rows]
                clone = _refit_recipe(model)
                try:
                    with warnings.catch_warnings():  # a fold's own no-split warning is not the model's
                        warnings.simplefilter("ignore", NoSplitWarning)
                        clone.fit(part, **evaluate.fit_kwargs)
                    pred[rows] = clone._predict_model(pooled[rows])
                except TagrankInputError:  # a fold with nothing to learn: the model scores it as a constant
                    pred[rows] = 0.0
            held = pooled
        fold_ids = None if folds is None else folds[unit]
        scores = {MODEL: evaluate(held, pred, fold_ids)}
        for s in sources:
            scores[f"{SOURCE_PREFIX}{s}"] = evaluate(held, source_values(held[s].to_numpy(np.float64)), fold_ids)
        served = decide(scores)
        reason = "the best source beats it on held-out data"
        category = SourceFallbackWarning
        best = best_source(scores)
        if alpha is not None and served == MODEL and best is not None:
            p_value = evaluate.paired_p(held, pred, source_values(held[best[len(SOURCE_PREFIX):]].to_numpy(np.float64)))
            if not p_value < float(alpha):
                served = best
                reason = (f"its held-out gain over {best} is not significant (one-sided paired t-test over "
                          f"held-out units, p = {p_value:.3g}, needs p < {alpha})")
    fill = {s: missing_fill(frame[s].to_numpy(np.float64)) for s in sources}
    model.served_ = served
    model.guard_scores_ = rounded(scores)
    model.guard_ = {"served": served, "scores": rounded(scores), "held_out": how, "metric": evaluate.name,
                    "constant_model": bool(constant), "small_data": bool(small),
                    **({} if alpha is None else {"alpha": float(alpha),
                                                 "p_value": None if p_value is None or not np.isfinite(p_value)
                                                 else round(float(p_value), 6)}),
                    "reason": None if served == MODEL else reason,
                    "source_fill": {s: float(v) for s, v in fill.items()}}
    if served != MODEL and warn:
        warn_fallback(type(model).__name__, served, reason, scores, how, category)
    return model.guard_


def _pooled(model: Any, frame: pd.DataFrame, valid: pd.DataFrame | None, ranker: bool, random_state: int
            ) -> tuple[pd.DataFrame, np.ndarray, Callable[[int], np.ndarray]]:
    """(train + valid rows, the unit code of each row, folds(k) -> fold of each unit). A ranker's unit is
    its query (train and valid queries kept apart even when they share a text); a regressor's is its row."""
    parts = [frame] + ([valid] if valid is not None and len(valid) else [])
    pooled = pd.concat(parts, axis=0, ignore_index=True)
    if ranker:
        qcol = model.query_col_
        tag = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
        keys = pd.Series([f"{t}\t{q}" for t, q in zip(tag, pooled[qcol].astype(str), strict=True)])
        unit, _ = pd.factorize(keys, sort=False)
        pooled[qcol] = keys.to_numpy()
    else:
        unit = np.arange(len(pooled))
    n_units = int(unit.max()) + 1 if len(unit) else 0
    return pooled, unit.astype(np.int64), lambda k: fold_codes(n_units, k, random_state)


class _Evaluator:
    name = ""
    fit_kwargs: dict[str, Any] = {}

    def size(self, frame: pd.DataFrame | None) -> tuple[int, int]:  # pragma: no cover - overridden
        raise NotImplementedError


class _ranking_evaluator(_Evaluator):
    """Mean NDCG@eval_at[0] over queries with two different grades (the ranker's own gains)."""

    def __init__(self, model: Any):
        self.model = model
        self.k = int(list(model.get_params()["eval_at"])[0])
        self.name = f"ndcg@{self.k}"
        self.fit_kwargs = {"query_col": model.query_col_, "candidate_col": model.candidate_col_,
                           "label_col": model.label_col_, "feature_cols": list(model.feature_names_)}

    def _grades(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        grades = self.model.grade_rule_.grades(frame[self.model.label_col_].to_numpy(np.float64))
        codes, _ = pd.factorize(frame[self.model.query_col_].astype(str), sort=False)
        return np.asarray(grades, np.int64), codes.astype(np.int64)

    def size(self, frame: pd.DataFrame | None) -> tuple[int, int]:
        if frame is None or len(frame) == 0:
            return 0, 0
        grades, codes = self._grades(frame)
        g = pd.DataFrame({"q": codes, "g": grades}).groupby("q")["g"]
        informative = (g.max() > g.min())
        positives = pd.Series(grades > 0).groupby(codes).sum()[informative.to_numpy()]
        return int(informative.sum()), int(positives.sum())

    def per_query(self, frame: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
        """NDCG of each informative query of ``frame`` (the same queries, in the same order, for any scores)."""
        grades, codes = self._grades(frame)
        gains = self.model.label_gain_
        grades = np.minimum(grades, len(gains) - 1)
        return ndcg_per_query(scores, grades, codes, gains, self.k)

    def __call__(self, frame: pd.DataFrame, scores: np.ndarray, folds: np.ndarray | None) -> float:
        values = self.per_query(frame, scores)
        return float(values.mean()) if len(values) else float("nan")

    def paired_p(self, frame: pd.DataFrame, model: np.ndarray, source: np.ndarray) -> float:
        """One-sided paired t-test p-value of "the model's per-query NDCG is higher than the source's";
        1.0 where the two never differ (no evidence either way)."""
        from scipy.stats import ttest_rel

        a, b = self.per_query(frame, model), self.per_query(frame, source)
        if len(a) < 2 or np.allclose(a, b, rtol=0.0, atol=1e-12):
            return 1.0
        return float(ttest_rel(a, b, alternative="greater").pvalue)


class _regression_evaluator(_Evaluator):
    """The regressor's metric (Spearman unless it watches Pearson or AUC); cross-fitted: the mean over folds."""

    def __init__(self, model: Any):
        self.model = model
        metric = model.get_params().get("metric")
        self.name = metric if metric in ("pearson", "auc") else "spearman"
        self.fit_kwargs = {"label_col": model.label_col_, "feature_cols": list(model.feature_names_)}

    def size(self, frame: pd.DataFrame | None) -> tuple[int, int]:
        n = 0 if frame is None else len(frame)
        return n, n

    def __call__(self, frame: pd.DataFrame, scores: np.ndarray, folds: np.ndarray | None) -> float:
        y = frame[self.model.label_col_].to_numpy(np.float64)
        return fold_mean(self.name, scores, y, folds)


def fold_mean(kind: str, scores: np.ndarray, y: np.ndarray, folds: np.ndarray | None) -> float:
    """``correlation(kind)`` over all rows, or its mean over the folds (each fold's model has its own scale)."""
    if folds is None:
        return correlation(kind, scores, y)
    values = [correlation(kind, scores[folds == f], y[folds == f]) for f in np.unique(folds)]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


__all__ = [
    "DistributionShiftWarning", "MIN_DIRECT_UNITS", "MIN_PAIRS", "MIN_POSITIVES", "MIN_QUERIES", "N_FOLDS",
    "NoSplitWarning", "SourceFallbackWarning", "correlation", "decide", "guard_model", "ndcg_per_query",
]
