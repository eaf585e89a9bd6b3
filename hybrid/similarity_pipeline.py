"""SimilarityPipeline: fitted text scorers + :class:`FeatureBuilder` + a guarded :class:`HybridRegressor`.

The similarity hybrid as a public estimator: ``fit(pairs, valid=None)`` learns
a LightGBM regression of the pairs' scores from every scorer's pair score plus
text statistics; ``score_pairs(left, right)`` scores new pairs; ``save`` /
``load`` use a directory (config.json + LightGBM text models + the scorers'
own saves), never pickle; :meth:`refit_sources` refits the base scorers on a
new corpus and keeps the learned combination.

* **Regressor settings** are chosen from ``grid`` (tree and leaf sizes, with and
  without linear leaves) by the valid metric (Spearman, or ROC AUC for 0/1
  labels), each early-stopped on valid.
* **fit_on**: ``"train"`` learns from ``pairs`` (``train_scorers`` may replace a
  supervised scorer by a cross-fitted one for the training pairs' features);
  ``"valid"`` cross-fits ``n_folds`` regressors on the valid pairs and averages
  them (for a scorer trained on ``pairs``, whose scores on them are optimistic).
* **The guard** (:mod:`hybrid.guard`): the regressor is served only where
  held-out data does not find it worse than the best single source; otherwise
  that source's own score is served (``served_``, ``guard_``, saved, warned).
* **Shifted inputs**: ``score_pairs`` compares the request with the training
  pairs (text length, out-of-vocabulary rate, feature ranges); outside them it
  warns (:class:`hybrid.guard.DistributionShiftWarning`) and, with
  ``on_shift="fallback"`` (the default), serves the best source on held-out
  data, since the learned combination was never validated there.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.saved import load_guard
from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_columns,
    check_same_length,
    check_texts,
)
from tagrank.hybrid import guard as g
from tagrank.hybrid.features import FeatureBuilder
from tagrank.hybrid.persistence import read_config, save_dir
from tagrank.hybrid.regressor import HybridRegressor

#: The regressor settings chosen from by the valid metric: tree size and leaf size (the complexity
#: axis), with and without linear leaves (a linear model of the features in each leaf, which suits one
#: dominant continuous score). Each is early-stopped on valid; the first wins ties.
SIMILARITY_GRID: tuple[dict[str, Any], ...] = tuple(
    {"num_leaves": leaves, "min_child_samples": child, **({"extra_params": {"linear_tree": True}} if linear else {})}
    for linear in (False, True) for leaves in (15, 7) for child in (20, 50, 100)
)
FIT_ON = ("train", "valid")
ON_SHIFT = ("fallback", "warn", "ignore")
#: a request is shifted when its median text length (words) lies outside the training texts' central 98%
LENGTH_QUANTILES = (0.01, 0.99)
#: ... or its unknown-word rate exceeds the valid pairs' by this much
OOV_MARGIN = 0.25
#: ... or this share of its rows (beyond the valid pairs' share) has a feature outside the training range
RANGE_MARGIN = 0.25


def grid_key(point: dict[str, Any]) -> str:
    """``k=v,...`` of a grid point (sorted, ``extra_params`` flattened in); ``"default"`` when empty."""
    flat = {**{k: v for k, v in point.items() if k != "extra_params"}, **(point.get("extra_params") or {})}
    return ",".join(f"{k}={v}" for k, v in sorted(flat.items())) or "default"


def grid_settings(grid: Any, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key, setting) per distinct grid point with ``params`` merged over it (``extra_params`` merged
    key by key); the key names what the point varies, after the merge. No grid: ``params`` alone."""
    out: dict[str, dict[str, Any]] = {}
    for point in (list(grid) if grid else [{}]):
        extra = {**(point.get("extra_params") or {}), **(params.get("extra_params") or {})}
        setting = {**point, **params, **({"extra_params": extra} if extra else {})}
        varied = {k: setting[k] for k in point if k != "extra_params"}
        if point.get("extra_params"):
            varied["extra_params"] = {k: extra[k] for k in point["extra_params"]}
        out.setdefault(grid_key(varied), setting)
    return list(out.items())


def choose_setting(settings: list[tuple[str, dict[str, Any]]], fit: Any, score: Any
                   ) -> tuple[dict[str, Any], Any, dict[str, float | None]]:
    """(setting, its fitted models, {key: valid score}) of the best-scoring setting: the first wins ties,
    an undefined (NaN) score never wins unless all are, and a single setting is fitted without scoring."""
    if len(settings) == 1:
        return settings[0][1], fit(settings[0][1]), {}
    chosen, models, scores, best = settings[0][1], None, {}, -np.inf
    for key, setting in settings:
        fitted = fit(setting)
        value = float(score(fitted))
        scores[key] = round(value, 6) if np.isfinite(value) else None  # JSON: no NaN
        if models is None or (np.isfinite(value) and value > best):
            chosen, models = setting, fitted
            best = value if np.isfinite(value) else best
    return chosen, models, scores


def _pairs(frame: Any, field: str, labelled: bool = True) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TagrankInputError(f"{field} must be a DataFrame with columns left, right, score; got {type(frame).__name__}")
    check_columns(frame, ["left", "right", "score"] if labelled else ["left", "right"], field)
    check_texts(frame["left"].tolist(), f"{field}.left")
    check_texts(frame["right"].tolist(), f"{field}.right")
    out = frame[["left", "right", "score"]].copy() if labelled else frame[["left", "right"]].copy()
    if labelled:
        y = pd.to_numeric(out["score"], errors="coerce")
        bad = ~np.isfinite(y.to_numpy(np.float64, na_value=np.nan))
        if bad.any():
            i = int(np.argmax(bad))
            raise TagrankInputError(f"{field}.score[{frame.index[i]!r}] is not a finite number (got {frame['score'].iloc[i]!r})")
        out["score"] = y.astype(np.float64)
    return out.reset_index(drop=True)


class SimilarityPipeline(Params):
    """Text scorers -> pair features -> a guarded LightGBM regression of pair similarity.

    Parameters
    ----------
    scorers:
        ``{name: TextScorer}``, already fitted (see :meth:`refit_sources` to refit them on a corpus).
    regressor_params:
        :class:`HybridRegressor` parameters merged over every grid point.
    grid:
        Regressor settings chosen from by the valid metric (``None`` = ``regressor_params`` only).
    fit_on:
        ``"train"`` (learn from ``pairs``) or ``"valid"`` (cross-fit ``n_folds`` regressors on valid).
    binary:
        Labels are 0/1 (metric ROC AUC) or graded (Spearman); ``"auto"`` decides from the labels.
    valid_fraction:
        With ``valid=None``, this seeded share of ``pairs`` is held out as valid.
    guard:
        Serve the best source where held-out data finds the regressor worse (:mod:`hybrid.guard`).
    on_shift:
        ``"fallback"`` (warn and serve the best source), ``"warn"`` (warn only) or ``"ignore"``.
    ablation:
        Also fit one regressor without each feature group, and a learning curve (benchmark use).
    """

    def __init__(
        self,
        scorers: Mapping[str, Any],
        regressor_params: Mapping[str, Any] | None = None,
        grid: Any = SIMILARITY_GRID,
        fit_on: str = "train",
        n_folds: int = 5,
        binary: bool | str = "auto",
        text_stats: bool = True,
        language: str = "auto",
        valid_fraction: float = 0.2,
        guard: bool = True,
        on_shift: str = "fallback",
        ablation: bool = False,
        random_state: int = 0,
    ):
        self.scorers = scorers
        self.regressor_params = regressor_params
        self.grid = grid
        self.fit_on = fit_on
        self.n_folds = n_folds
        self.binary = binary
        self.text_stats = text_stats
        self.language = language
        self.valid_fraction = valid_fraction
        self.guard = guard
        self.on_shift = on_shift
        self.ablation = ablation
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _builder(self, scorers: Mapping[str, Any]) -> FeatureBuilder:
        return FeatureBuilder(dict(scorers), kind="text", group_stats=False, text_stats=self.text_stats,
                              language=self.language).fit()

    def _check_params(self) -> None:
        if not isinstance(self.scorers, Mapping) or not self.scorers:
            raise TagrankInputError("scorers must be a non-empty dict name -> fitted text scorer")
        if self.fit_on not in FIT_ON:
            raise TagrankInputError(f"fit_on must be one of {FIT_ON}, got {self.fit_on!r}")
        if self.on_shift not in ON_SHIFT:
            raise TagrankInputError(f"on_shift must be one of {ON_SHIFT}, got {self.on_shift!r}")
        if self.binary not in (True, False, "auto"):
            raise TagrankInputError(f"binary must be True, False or 'auto', got {self.binary!r}")
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise TagrankInputError(f"n_folds must be an integer >= 2, got {self.n_folds!r}")
        if not (isinstance(self.valid_fraction, int | float) and 0 < self.valid_fraction < 1):
            raise TagrankInputError(f"valid_fraction must be in (0, 1), got {self.valid_fraction!r}")

    def _frame(self, pairs: pd.DataFrame, builder: FeatureBuilder) -> pd.DataFrame:
        feats = builder.transform(pairs["left"].tolist(), pairs["right"].tolist())
        feats["__label"] = pairs["score"].to_numpy(np.float64)
        return feats

    def fit(self, pairs: pd.DataFrame, valid: pd.DataFrame | None = None,
            train_scorers: Mapping[str, Any] | None = None, *,
            left_col: str = "left", right_col: str = "right", score_col: str = "score") -> SimilarityPipeline:
        """Learn from ``pairs`` (columns left, right, score, or the names given); ``valid`` (same columns)
        early-stops, chooses the grid point and guards (default: a seeded ``valid_fraction`` of ``pairs``).
        ``train_scorers`` replaces some scorers for the training pairs' features only (e.g. cross-fitted ones)."""
        from tagrank.baselines.columns import with_columns
        from tagrank.hybrid.ablation import feature_groups, fit_ablations, fit_learning_curve

        names = {"left": left_col, "right": right_col, "score": score_col}
        pairs = with_columns(pairs, names, "pairs")
        if valid is not None:
            valid = with_columns(valid, names, "valid")

        self._check_params()
        train = _pairs(pairs, "pairs")
        if valid is None and self.fit_on == "valid":
            raise TagrankInputError("fit_on='valid' learns from valid: pass valid pairs")
        if valid is None:
            rng = np.random.default_rng(self.random_state + 3)
            held = rng.permutation(len(train))[: int(np.floor(len(train) * float(self.valid_fraction)))]
            mask = np.zeros(len(train), bool)
            mask[held] = True
            train, valid_p = train[~mask].reset_index(drop=True), train[mask].reset_index(drop=True)
        else:
            valid_p = _pairs(valid, "valid")
        self.scorers_ = dict(self.scorers)
        for name in dict(train_scorers or {}):
            if name not in self.scorers_:
                raise TagrankInputError(f"train_scorers names {name!r}, which is not one of the scorers {sorted(self.scorers_)}")
        labels = np.concatenate([train["score"].to_numpy(), valid_p["score"].to_numpy()])
        self.binary_ = bool(np.isin(labels, (0.0, 1.0)).all()) if self.binary == "auto" else bool(self.binary)
        metric = "auc" if self.binary_ else "spearman"
        self.builder_ = self._builder(self.scorers_)
        train_builder = self._builder({**self.scorers_, **dict(train_scorers or {})}) if train_scorers else self.builder_
        params = {"random_state": self.random_state, "metric": metric, **dict(self.regressor_params or {})}

        def primary(pred: np.ndarray, truth: np.ndarray) -> float:
            return g.correlation(metric, pred, truth)

        if self.fit_on == "train":
            if len(train) < 2:
                raise TagrankInputError("pairs has fewer than 2 training pairs: the hybrid cannot learn")
            tr = self._frame(train, train_builder)
            va = self._frame(valid_p, self.builder_) if len(valid_p) else None
            n_rows = len(tr)

            def fit_models(cols: list[str], rows: np.ndarray | None = None, point: dict[str, Any] | None = None
                           ) -> list[Any]:
                part = tr if rows is None else tr.iloc[rows]
                return [HybridRegressor(**(point or chosen)).fit(part, "__label", cols, valid=va)]

            def valid_score(models: list[Any]) -> float:
                return primary(models[0].predict(va), va["__label"].to_numpy())
        else:
            va = self._frame(valid_p, self.builder_)
            tr = None
            if len(va) < 2 * self.n_folds:
                raise TagrankInputError(f"fit_on='valid' needs at least {2 * self.n_folds} valid pairs, got {len(va)}")
            fold = g.fold_codes(len(va), self.n_folds, self.random_state)
            n_rows = len(va)

            def fit_models(cols: list[str], rows: np.ndarray | None = None, point: dict[str, Any] | None = None
                           ) -> list[Any]:
                # a learning-curve subset thins each fold's training rows; its held-out fold stays whole
                use = np.ones(len(va), bool) if rows is None else np.isin(np.arange(len(va)), rows)
                return [HybridRegressor(**(point or chosen)).fit(va[(fold != f) & use], "__label", cols,
                                                                  valid=va[fold == f])
                        for f in range(int(fold.max()) + 1)]

            def out_of_fold(models: list[Any]) -> np.ndarray:
                pred = np.empty(len(va))
                for f, model in enumerate(models):
                    pred[fold == f] = model._predict_model(va[fold == f])
                return pred

            def valid_score(models: list[Any]) -> float:  # out of fold: each regressor on the fold it held out
                return primary(out_of_fold(models), va["__label"].to_numpy())

        names = list((self.builder_ if self.fit_on == "valid" else train_builder).feature_names_)
        if not hasattr(self.builder_, "feature_names_"):
            self.builder_.feature_names_ = list(names)
        elif list(self.builder_.feature_names_) != names:
            raise TagrankInputError("train_scorers must give the same feature columns as the scorers they replace")
        settings = grid_settings(self.grid if va is not None else None, params)
        chosen, models, grid_scores = choose_setting(settings, lambda s: fit_models(names, point=s), valid_score)
        self.models_ = models
        self.params_ = chosen
        self.valid_grid_ = grid_scores
        self.feature_names_ = names
        self.sources_ = g.source_columns(names, list(self.scorers_))
        self.ablation_ = {}
        if self.ablation:
            self.ablation_ = fit_ablations(fit_models, names, feature_groups(names, list(self.scorers_)))
            self.ablation_.update(fit_learning_curve(lambda rows: fit_models(names, rows), n_rows,
                                                     random_state=self.random_state))
        self._guard(tr, va, metric, None if self.fit_on == "train" else (fold, out_of_fold))
        if self.fit_on == "train":
            self._fit_shift(train, valid_p, tr, va)
        else:  # learnt from valid: the training distribution is valid's (and no held-out baseline)
            self._fit_shift(valid_p, valid_p.iloc[:0], va, None)
        return self

    def _guard(self, tr: pd.DataFrame | None, va: pd.DataFrame | None, metric: str, oof: Any) -> None:
        """What is served (see :mod:`hybrid.guard`): for ``fit_on="train"`` the regressor's own guard; for
        ``"valid"`` the regressors' out-of-fold scores against each source on the same folds."""
        if not self.guard or not self.sources_:
            self.served_, self.guard_ = g.MODEL, {"served": g.MODEL, "scores": {}, "held_out": "guard off"}
            return
        if oof is None:
            info = g.guard_model(self.models_[0], tr, va, self.sources_, random_state=self.random_state, warn=False)
        else:
            fold, out_of_fold = oof
            y = va["__label"].to_numpy()
            small = len(va) < g.MIN_PAIRS
            scores = {} if small else {g.MODEL: g.fold_mean(metric, out_of_fold(self.models_), y, fold)}
            for s in self.sources_:
                scores[f"{g.SOURCE_PREFIX}{s}"] = g.fold_mean(metric, g.source_values(va[s].to_numpy()), y,
                                                               None if small else fold)
            served = (g.best_source(scores) or g.MODEL) if small else g.decide(scores)
            info = {"served": served, "scores": g.rounded(scores), "metric": metric,
                    "held_out": f"out of fold on valid ({int(fold.max()) + 1} folds, {len(va)} pairs)",
                    "constant_model": False, "small_data": bool(small),
                    "reason": None if served == g.MODEL else (
                        f"too little data ({len(va)} pairs; the minimum is {g.MIN_PAIRS})" if small
                        else "the best source beats it on held-out data"),
                    "source_fill": {s: g.missing_fill(va[s].to_numpy()) for s in self.sources_}}
        for model in self.models_:  # every regressor serves the same thing (an average of a column is itself)
            model.served_, model.guard_, model.guard_scores_ = info["served"], dict(info), dict(info["scores"])
        self.served_, self.guard_ = info["served"], info
        if self.served_ != g.MODEL:
            g.warn_fallback(type(self).__name__, self.served_, info.get("reason") or "", info["scores"],
                            info["held_out"], g.NoSplitWarning if info.get("constant_model") else g.SourceFallbackWarning)

    # ------------------------------------------------------------------ shift
    def _text_profile(self, texts: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
        from tagrank.baselines.text import Tokenizer

        tok = Tokenizer(language=self.language)
        words = [tok.words(t) for t in texts]
        return np.asarray([len(w) for w in words], np.float64), words

    def _fit_shift(self, train: pd.DataFrame, valid: pd.DataFrame, tr: pd.DataFrame, va: pd.DataFrame | None) -> None:
        """The training distribution that :meth:`shift_report` compares requests with, and the valid pairs'
        own unknown-word rate and out-of-range share (the in-distribution baseline)."""
        texts = train["left"].tolist() + train["right"].tolist()
        lengths, words = self._text_profile(texts)
        vocab = sorted({w for ws in words for w in ws})
        feats = tr[self.feature_names_].to_numpy(np.float64)
        lo = np.nanmin(np.where(np.isfinite(feats), feats, np.nan), axis=0) if len(feats) else np.zeros(len(self.feature_names_))
        hi = np.nanmax(np.where(np.isfinite(feats), feats, np.nan), axis=0) if len(feats) else np.zeros(len(self.feature_names_))
        self.shift_stats_ = {
            "length_range": [float(np.quantile(lengths, LENGTH_QUANTILES[0])), float(np.quantile(lengths, LENGTH_QUANTILES[1]))],
            "length_median": float(np.median(lengths)),
            "feature_min": [float(x) if np.isfinite(x) else None for x in lo],
            "feature_max": [float(x) if np.isfinite(x) else None for x in hi],
            "oov_baseline": 0.0, "range_baseline": 0.0,
        }
        self.vocab_ = vocab
        if va is not None and len(valid):
            base = self.shift_report(valid["left"].tolist(), valid["right"].tolist(), _features=va)
            self.shift_stats_["oov_baseline"] = base["oov_rate"]
            self.shift_stats_["range_baseline"] = base["out_of_range"]

    def shift_report(self, left: Sequence[str], right: Sequence[str], _features: pd.DataFrame | None = None
                     ) -> dict[str, Any]:
        """How far a request lies from the training pairs: median text length (words) against the training
        texts' 1st-99th percentile range, the share of unknown words, the share of rows with a feature
        outside its training range, and ``shifted`` (with the reasons)."""
        self._check_fitted()
        left, right = check_texts(left, "left"), check_texts(right, "right")  # read once: iterators work too
        check_same_length(left=left, right=right)
        texts = left + right
        lengths, words = self._text_profile(texts)
        vocab = getattr(self, "_vocab_set", None)
        if vocab is None or len(vocab) != len(self.vocab_):
            vocab = self._vocab_set = set(self.vocab_)
        n_words = sum(len(w) for w in words)
        oov = sum(1 for ws in words for w in ws if w not in vocab) / n_words if n_words else 0.0
        feats = (_features if _features is not None else self.builder_.transform(left, right))
        x = feats[self.feature_names_].to_numpy(np.float64)
        lo = np.asarray([-np.inf if v is None else v for v in self.shift_stats_["feature_min"]])
        hi = np.asarray([np.inf if v is None else v for v in self.shift_stats_["feature_max"]])
        outside = ((x < lo) | (x > hi)) & np.isfinite(x)
        out_rows = float(outside.any(axis=1).mean()) if len(x) else 0.0
        st = self.shift_stats_
        median = float(np.median(lengths)) if len(lengths) else st["length_median"]
        reasons = []
        if not st["length_range"][0] <= median <= st["length_range"][1]:
            reasons.append(f"median text length {median:g} words is outside the training texts' "
                           f"{st['length_range'][0]:g}-{st['length_range'][1]:g}")
        if oov > st["oov_baseline"] + OOV_MARGIN:
            reasons.append(f"{oov:.0%} of words are unknown to the training pairs (valid: {st['oov_baseline']:.0%})")
        if out_rows > st["range_baseline"] + RANGE_MARGIN:
            cols = [self.feature_names_[j] for j in np.flatnonzero(outside.mean(axis=0) > RANGE_MARGIN)][:5]
            reasons.append(f"{out_rows:.0%} of pairs have a feature outside its training range "
                           f"(valid: {st['range_baseline']:.0%}; e.g. {cols})")
        return {"median_words": median, "oov_rate": float(oov), "out_of_range": out_rows,
                "shifted": bool(reasons), "reasons": reasons}

    # ------------------------------------------------------------------ serve
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("SimilarityPipeline is not fitted: call fit() first")

    def shift_fallback(self) -> str | None:
        """The source served under a distribution shift: the best one on held-out data."""
        return g.best_source(self.guard_.get("scores", {})) if self.sources_ else None

    def score_pairs(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """The served similarity of each (left, right) pair (see ``served_``; ``on_shift``)."""
        return self.score_pairs_variants(left, right, [None])[None]

    def score_pairs_variants(self, left: Sequence[str], right: Sequence[str],
                             variants: Sequence[str | None] | None = None) -> dict[str | None, np.ndarray]:
        """:meth:`score_pairs` of the served model (key None) and of each ablation variant, features once."""
        self._check_fitted()
        left = check_texts(left, "left")
        right = check_texts(right, "right")
        if len(left) != len(right):
            raise TagrankInputError(f"left has {len(left)} texts but right has {len(right)}")
        names = [None, *self.ablation_] if variants is None else list(variants)
        unknown = [v for v in names if v is not None and v not in self.ablation_]
        if unknown:
            raise TagrankInputError(f"unknown ablation variant(s) {unknown}; known: {sorted(self.ablation_)}")
        if not left:
            return {v: np.zeros(0) for v in names}
        feats = self.builder_.transform(left, right)
        out = {v: np.mean([m.predict(feats) for m in (self.models_ if v is None else self.ablation_[v])], axis=0)
               for v in names}
        self.last_shift_ = None
        if self.on_shift != "ignore":
            report = self.shift_report(left, right, _features=feats)
            self.last_shift_ = report
            if report["shifted"]:
                fallback = self.shift_fallback() if self.on_shift == "fallback" else None
                action = f"serving {fallback} instead" if fallback else "serving the model anyway"
                warnings.warn(f"SimilarityPipeline: inputs lie outside the training distribution "
                              f"({'; '.join(report['reasons'])}); {action}", g.DistributionShiftWarning, stacklevel=3)
                if fallback and None in out:
                    name = fallback.split(":", 1)[1]
                    out[None] = g.source_values(feats[name].to_numpy(np.float64),
                                                self.guard_.get("source_fill", {}).get(name))
        return out

    def explain(self, left: Sequence[str], right: Sequence[str]) -> pd.DataFrame:
        """Per-feature contributions of the first regressor (see :meth:`HybridRegressor.explain`)."""
        self._check_fitted()
        return self.models_[0].explain(self.builder_.transform(check_texts(left, "left"), check_texts(right, "right")))

    # ------------------------------------------------------------------ refit
    def refit_sources(self, corpus: Sequence[str], scorers: Mapping[str, Any] | None = None) -> SimilarityPipeline:
        """Refit the base scorers on ``corpus`` (clones with the same parameters, or the given fitted
        ``scorers``) and keep the learned combination; the feature columns must stay the same."""
        from tagrank.hybrid.pipeline_common import clone

        self._check_fitted()
        if scorers is None:
            texts = check_texts(corpus, "corpus")
            scorers = {name: clone(est).fit(texts) for name, est in self.scorers_.items()}
        missing = [n for n in self.scorers_ if n not in scorers]
        if missing:
            raise TagrankInputError(f"scorers {missing} are needed by the fitted pipeline but were not given")
        builder = self._builder({n: scorers[n] for n in self.scorers_})
        builder.restore_names(self.feature_names_)
        self.scorers_ = {n: scorers[n] for n in self.scorers_}
        self.builder_ = builder
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Directory: config.json + model_<i>/ (LightGBM text) + scorers/<name>/ (the scorers' own saves)."""
        from tagrank.hybrid.pipeline_common import _jsonable_params, _save_scorers

        self._check_fitted()
        path = Path(path)
        for i, model in enumerate(self.models_):
            model.save(path / f"model_{i}")
        info = _save_scorers(path / "scorers", self.scorers_)
        params = {k: v for k, v in self.get_params().items() if k != "scorers"}
        config = {"params": _jsonable_params(params), "scorers": info, "n_models": len(self.models_),
                  "feature_names": list(self.feature_names_), "sources": list(self.sources_),
                  "served": self.served_, "guard": self.guard_, "binary": self.binary_,
                  "valid_grid": self.valid_grid_, "chosen": _jsonable_params(self.params_),
                  "shift_stats": self.shift_stats_}
        arrays = {"vocab": np.asarray(self.vocab_, dtype=str)}
        return save_dir(path, type(self).__name__, config, arrays=arrays)

    @classmethod
    @load_guard
    def load(cls, path: str | Path, scorers: Mapping[str, Any] | None = None) -> SimilarityPipeline:
        """Load a saved pipeline; scorers come from their own saves, or pass the fitted ones."""
        from tagrank.hybrid.persistence import load_arrays
        from tagrank.hybrid.pipeline_common import _load_scorers

        path = Path(path)
        config = read_config(path, cls.__name__)
        fitted = _load_scorers(path / "scorers", config["scorers"], scorers, "scorers")
        params = dict(config["params"])
        if isinstance(params.get("grid"), list):
            params["grid"] = tuple(params["grid"])
        obj = cls(fitted, **params)
        obj.scorers_ = fitted
        obj.models_ = [HybridRegressor.load(path / f"model_{i}") for i in range(int(config["n_models"]))]
        obj.feature_names_ = list(config["feature_names"])
        obj.sources_ = list(config["sources"])
        obj.served_ = config["served"]
        obj.guard_ = dict(config["guard"])
        obj.binary_ = bool(config["binary"])
        obj.valid_grid_ = dict(config.get("valid_grid", {}))
        obj.params_ = dict(config.get("chosen", {}))
        obj.shift_stats_ = dict(config["shift_stats"])
        obj.vocab_ = [str(w) for w in load_arrays(path)["vocab"].tolist()]
        obj.ablation_ = {}
        obj.builder_ = obj._builder(fitted)
        obj.builder_.restore_names(obj.feature_names_)
        return obj


__all__ = ["SIMILARITY_GRID", "SimilarityPipeline", "choose_setting", "grid_key", "grid_settings"]
