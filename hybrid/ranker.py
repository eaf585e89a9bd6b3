"""The hybrid ranker: LightGBM LambdaRank (:class:`HybridRanker`) and the LightGBM base it shares with
:class:`hybrid.regressor.HybridRegressor`.

Both are scikit-learn-style estimators over a pandas frame of named feature
columns (as built by :class:`hybrid.features.FeatureBuilder`): ``__init__`` only
stores parameters; ``fit`` learns; ``predict`` scores rows; ``explain`` gives
per-feature contributions (LightGBM ``pred_contrib``; each row sums to the raw
score); ``feature_importance`` is a pandas Series; ``save`` / ``load`` use a
directory of ``config.json`` + LightGBM's text model (see
:mod:`hybrid.persistence`), never pickle.

Training is single-threaded and deterministic by default (``n_jobs=1``,
``deterministic=True``, ``force_row_wise``): one seed gives bit-identical
models.

Input rules (all failures are :class:`TagrankInputError` naming the column):

* labels must be finite (no NaN);
* features must be numeric; ``inf`` is rejected; ``NaN`` is LightGBM's
  *missing value* when ``allow_missing=True`` (the default: a scorer that
  cannot score a pair, e.g. an unknown item, leaves NaN) and an error
  otherwise;
* a feature the model was trained on that is missing at predict time is an
  error; extra columns are ignored and columns are matched by name, not
  position;
* (ranker) rows need not arrive grouped: they are sorted by (query,
  candidate) before training, so any row order gives the same model. With
  ``contiguous=True`` the caller asserts the rows of each query are already
  contiguous; the given order is kept and a violation is an error;
* (ranker) a (query, candidate) pair may appear once; a query may have at
  most 10,000 rows (LightGBM's limit);
* ids are grouping keys only: ``predict`` / ``rank`` accept queries and
  candidates never seen in ``fit`` (the model scores features, not ids);
  unknown users or items fail where ids matter, in the scorers and pipelines;
* (ranker) queries with a single candidate or with all-equal grades teach
  LambdaRank nothing; they are dropped from training and from the early
  stopping set (counted in ``dropped_queries_``). If no query is left,
  ``fit`` fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.params import Params
from tagrank.baselines.saved import load_guard
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_aligned,
    check_columns,
    check_k,
    label_at,
)
from tagrank.hybrid.labels import GradeRule
from tagrank.hybrid.persistence import load_booster, read_config, save_dir

#: LightGBM refuses larger query groups
MAX_GROUP_SIZE = 10_000
#: float64 cells converted per chunk when building the feature matrix (bounds its working memory)
_MATRIX_CELLS = 4_000_000
_LGB_FORBIDDEN = re.compile(r"[\"',:\[\]{}\s]")

#: at most this many rows predict on one LightGBM thread (see HybridRanker._predict_model)
SMALL_PREDICT_ROWS = 2048


def _check_present(cols: list[str], available: Any, field: str) -> None:
    """Every feature the model was trained on must be among ``available`` (frame columns or mapping keys)."""
    missing = [c for c in cols if c not in available]
    if missing:
        raise TagrankInputError(
            f"{field} is missing feature column(s) {missing} that the model was trained on; expected {cols}"
        )


def _lightgbm():
    import lightgbm as lgb

    return lgb


def _factorize(values: Any) -> np.ndarray:
    """Codes in sorted order of the values (by ``str`` when they cannot be compared)."""
    arr = pd.Series(values).to_numpy(dtype=object)
    try:
        codes, _ = pd.factorize(arr, sort=True)
    except TypeError:
        codes, _ = pd.factorize(np.asarray([f"{type(v).__name__}:{v}" for v in arr], dtype=object), sort=True)
    if (codes < 0).any():
        raise TagrankInputError(f"id column has a missing value at row {int(np.argmax(codes < 0))}")
    return codes.astype(np.int64)


def ranked_rows(queries: np.ndarray, candidates: np.ndarray, scores: np.ndarray, k: int | None,
                query_col: str, candidate_col: str) -> pd.DataFrame:
    """Rows ordered per query (first-appearance order), score descending, ties by row order, with
    ``rank`` from 1; the top ``k`` per query when ``k``. Array work and one frame: a search request
    ranks its candidates with it."""
    codes, _ = pd.factorize(queries, sort=False)
    order = np.lexsort((np.arange(len(scores)), -scores, codes))
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else order
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)])) + 1
    if k is not None:
        keep = rank <= k
        order, rank = order[keep], rank[keep]
    return pd.DataFrame({query_col: queries[order], candidate_col: candidates[order], "score": scores[order],
                         "rank": rank.astype(np.int64)})


def _booster_names(names: Sequence[str]) -> list[str]:
    """Feature names LightGBM accepts (no JSON special characters or spaces), kept unique."""
    out, used = [], set()
    for i, name in enumerate(names):
        safe = _LGB_FORBIDDEN.sub("_", str(name)) or f"f{i}"
        if safe in used:
            safe = f"{safe}__{i}"
        used.add(safe)
        out.append(safe)
    return out


class _LightGBMModel(Params):
    """Shared plumbing: params, feature matrix checks, predict/explain/importance, save/load."""

    _objective = ""

    # ------------------------------------------------------------------ params
    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    def _check_common_params(self) -> None:
        for name in ("n_estimators", "num_leaves", "min_child_samples", "n_jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise TagrankInputError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate <= 1):
            raise TagrankInputError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        esr = self.early_stopping_rounds
        if esr is not None and (isinstance(esr, bool) or not isinstance(esr, int | np.integer) or esr < 1):
            raise TagrankInputError(f"early_stopping_rounds must be None or a positive integer, got {esr!r}")

    def _base_params(self) -> dict[str, Any]:
        params = {
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_child_samples),
            "feature_fraction": float(self.feature_fraction),
            "bagging_fraction": float(self.bagging_fraction),
            "bagging_freq": int(self.bagging_freq),
            "lambda_l2": float(self.lambda_l2),
            "seed": int(self.random_state),
            "deterministic": bool(self.deterministic),
            "force_row_wise": True,
            "num_threads": int(self.n_jobs),
            "verbosity": -1,
            "feature_pre_filter": False,
        }
        return params

    # ------------------------------------------------------------------ features
    def _select_features(self, frame: pd.DataFrame, feature_cols: Sequence[str] | None, reserved: set[str]) -> list[str]:
        if feature_cols is None:
            cols = [
                c for c in frame.columns
                if c not in reserved and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
            ]
            if not cols:
                raise TagrankInputError(f"frame has no numeric feature column besides {sorted(reserved)}")
        else:
            cols = list(feature_cols)
            if not cols:
                raise TagrankInputError("feature_cols is empty")
            if len(set(cols)) != len(cols):
                raise TagrankInputError(f"feature_cols has duplicates: {cols}")
            check_columns(frame, cols, "frame")
            clash = set(cols) & reserved
            if clash:
                raise TagrankInputError(f"feature_cols {sorted(clash)} are the query / candidate / label columns")
        return [str(c) for c in cols]

    def _matrix(
        self, frame: pd.DataFrame | Mapping[str, Any], cols: list[str], field: str = "frame",
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """The feature matrix (float32, the precision LightGBM bins in) of ``rows`` (default: all).

        ``frame`` is a DataFrame, or a mapping of feature name -> 1-D array (a serving request's
        columns, :meth:`hybrid.features.FeatureBuilder.transform_columns`)."""
        if not isinstance(frame, pd.DataFrame):
            return self._matrix_from_columns(frame, cols, field, rows)
        _check_present(cols, frame.columns, field)
        dtypes = frame.dtypes
        for col in cols:
            dtype = dtypes[col]
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise TagrankInputError(f"{field}.{col} must be numeric, got dtype {dtype}")
        n = len(frame) if rows is None else len(rows)
        out = np.empty((n, len(cols)), dtype=np.float32)
        step = max(1, _MATRIX_CELLS // max(len(cols), 1))  # bounded float64 working copy, chunk by chunk
        for start in range(0, n, step):
            part = frame.iloc[start:start + step] if rows is None else frame.iloc[rows[start:start + step]]
            values = part[cols].to_numpy(dtype=np.float64, na_value=np.nan)
            self._check_cells(values, cols, field, rows, start)
            out[start:start + step] = values
        return out

    def _matrix_from_columns(self, columns: Mapping[str, Any], cols: list[str], field: str,
                             rows: np.ndarray | None) -> np.ndarray:
        if not isinstance(columns, Mapping):
            raise TagrankInputError(f"{field} must be a DataFrame or a mapping of feature columns, "
                                    f"got {type(columns).__name__}")
        _check_present(cols, columns, field)
        check_aligned(**{f"{field}[{c!r}]": columns[c] for c in cols})
        arrays = [np.asarray(columns[c]) for c in cols]
        n = len(arrays[0]) if arrays else 0
        for col, a in zip(cols, arrays, strict=True):
            if a.ndim != 1 or len(a) != n:
                raise TagrankInputError(f"{field}.{col} must be a 1-D array of {n} values, got shape {a.shape}")
            if a.dtype.kind not in "biuf":
                raise TagrankInputError(f"{field}.{col} must be numeric, got dtype {a.dtype}")
        values = np.column_stack(arrays).astype(np.float64) if arrays else np.zeros((0, 0))
        if rows is not None:
            values = values[rows]
        self._check_cells(values, cols, field, rows, 0)
        return values.astype(np.float32)

    def _check_cells(self, values: np.ndarray, cols: list[str], field: str, rows: np.ndarray | None,
                     start: int) -> None:
        """Infinite cells are errors, and NaN ones unless ``allow_missing``."""
        bad = np.isinf(values) if self.allow_missing else ~np.isfinite(values)
        if bad.any():
            self._raise_bad_cell(values, bad, cols, field, rows, start)

    @staticmethod
    def _raise_bad_cell(values: np.ndarray, bad: np.ndarray, cols: list[str], field: str,
                        rows: np.ndarray | None, start: int) -> None:
        """Name the first bad cell (lowest column, then row) of a chunk: infinite, or NaN when not allowed."""
        where = np.argwhere(bad)
        i, j = (int(x) for x in where[np.lexsort((where[:, 0], where[:, 1]))][0])
        row = start + i if rows is None else int(rows[start + i])
        if np.isinf(values[i, j]):
            raise TagrankInputError(f"{field}.{cols[j]}[{row}] is infinite; features must be finite or NaN")
        raise TagrankInputError(f"{field}.{cols[j]}[{row}] is NaN and allow_missing=False")

    def _labels(self, frame: pd.DataFrame, label_col: str, field: str) -> np.ndarray:
        check_columns(frame, [label_col], field)
        series = frame[label_col]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise TagrankInputError(f"{field}.{label_col} must be numeric, got dtype {series.dtype}")
        y = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(y)
        if bad.any():
            row = label_at(frame.index, int(np.argmax(bad)))
            raise TagrankInputError(f"{field}.{label_col}[{row!r}] is not a finite label (got {y[bad][0]!r})")
        return y

    # ------------------------------------------------------------------ training helpers
    def _train(self, params: dict[str, Any], dtrain: Any, dvalid: Any | None, feval: Any = None) -> None:
        lgb = _lightgbm()
        callbacks = []
        evals: dict[str, Any] = {}
        valid_sets = None
        if dvalid is not None:
            valid_sets, callbacks = [dvalid], [lgb.record_evaluation(evals)]
            if self.early_stopping_rounds is not None:
                callbacks.append(lgb.early_stopping(int(self.early_stopping_rounds), first_metric_only=True, verbose=False))
        try:
            booster = lgb.train(
                params, dtrain, num_boost_round=int(self.n_estimators), valid_sets=valid_sets,
                valid_names=["valid"] if valid_sets else None, callbacks=callbacks, feval=feval,
            )
        except lgb.basic.LightGBMError as exc:  # e.g. an extra_params setting LightGBM rejects
            shown = {k: v for k, v in params.items() if k not in ("verbosity", "seed", "num_threads", "deterministic")}
            raise TagrankInputError(f"LightGBM could not train with parameters {shown} "
                                    f"(extra_params={self.extra_params!r}): {exc}") from exc
        best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else booster.current_iteration()
        # the in-memory model is exactly the saved one: the text model cut at the best iteration
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.best_iteration_ = int(best)
        self.evals_result_ = {name: {m: list(v) for m, v in curves.items()} for name, curves in evals.items()}
        self.best_score_ = {}
        for curves in self.evals_result_.values():
            for metric, values in curves.items():
                if len(values) >= best:
                    self.best_score_[metric] = float(values[best - 1])

    # ------------------------------------------------------------------ scoring
    def predict(self, frame: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Raw scores (float64) of the rows of ``frame`` (features matched by name; a DataFrame, or
        a mapping of feature name -> array): the model's, or the source column the guard serves
        (``served_``, see :mod:`hybrid.guard`)."""
        self._check_fitted()
        source = self._served_source()
        if source is None:
            return self._predict_model(frame)
        self._matrix(frame, self.feature_names_)  # the same input checks as the model's
        from tagrank.hybrid.guard import source_values

        fill = self.guard_.get("source_fill", {}).get(source)
        return source_values(np.asarray(frame[source], dtype=np.float64), fill)  # full precision: its own ties

    def _predict_model(self, frame: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """The learned model's raw scores, whatever the guard serves."""
        x = self._matrix(frame, self.feature_names_)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        # a request-sized input (a query's candidates) predicts on one thread: OpenMP start-up and
        # barriers cost more than its trees, most of all on a busy machine (issue 18)
        threads = {"num_threads": 1} if len(x) <= SMALL_PREDICT_ROWS else {}
        return np.asarray(self.booster_.predict(x, num_iteration=-1, **threads), dtype=np.float64)

    def _served_source(self) -> str | None:
        """The source column served instead of the model (``served_ = "source:<name>"``), or None."""
        served = getattr(self, "served_", "model")
        return served.split(":", 1)[1] if served.startswith("source:") else None

    def _after_fit(self, frame: pd.DataFrame, valid: pd.DataFrame | None, sources: Sequence[str] | None) -> None:
        """Set what is served: the guard's choice with ``sources``; without, the model (a warning when it
        learnt no split, since every score is then the same constant)."""
        from tagrank.hybrid.guard import NoSplitWarning, guard_model, is_constant

        self.served_, self.guard_scores_, self.guard_ = "model", {}, {}
        if sources is not None:
            guard_model(self, frame, valid, sources, int(self.random_state), alpha=getattr(self, "guard_alpha", None))
        elif is_constant(self.booster_):
            import warnings

            warnings.warn(f"{type(self).__name__} learnt no split: every score is the same constant; "
                          "the model ranks nothing (too little or uninformative data). Pass sources= to fall "
                          "back to the best source column", NoSplitWarning, stacklevel=3)

    def _has_linear_trees(self) -> bool:
        """Whether the booster has linear leaves (read from its model text once per booster)."""
        cached = getattr(self, "_linear_trees", None)
        if cached is None or cached[0] is not self.booster_:
            cached = (self.booster_, "is_linear=1" in self.booster_.model_to_string(num_iteration=-1))
            self._linear_trees = cached
        return cached[1]

    def explain(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions (SHAP values via ``pred_contrib``) plus ``bias``; rows sum to ``predict``."""
        self._check_fitted()
        source = self._served_source()
        if source is not None:  # the served score is the source's own: all of it is that column's
            scores = self.predict(frame)
            index = frame.index if isinstance(frame, pd.DataFrame) else pd.RangeIndex(len(scores))
            out = pd.DataFrame(0.0, index=index, columns=[*self.feature_names_, "bias"])
            out[source] = scores
            return out
        from tagrank.hybrid.guard import is_constant

        if is_constant(self.booster_):
            raise TagrankInputError(
                f"{type(self).__name__} learnt no split: every score is the same constant, so no feature "
                "contributes anything (explain would be all zeros); fit with sources= to serve the best source"
            )
        if self._has_linear_trees():
            raise TagrankInputError(
                f"explain needs LightGBM's pred_contrib, which LightGBM does not implement for linear trees "
                f"(extra_params={self.extra_params!r}); feature_importance works, or fit without linear_tree"
            )
        x = self._matrix(frame, self.feature_names_)
        columns = [*self.feature_names_, "bias"]
        if len(x) == 0:
            return pd.DataFrame(np.zeros((0, len(columns))), columns=columns)
        contrib = np.asarray(self.booster_.predict(x, num_iteration=-1, pred_contrib=True), dtype=np.float64)
        return pd.DataFrame(contrib, columns=columns, index=frame.index)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        """Importance per feature (``gain`` or ``split``), largest first."""
        self._check_fitted()
        if kind not in ("gain", "split"):
            raise TagrankInputError(f"kind must be 'gain' or 'split', got {kind!r}")
        values = self.booster_.feature_importance(importance_type=kind, iteration=-1).astype(np.float64)
        s = pd.Series(values, index=pd.Index(self.feature_names_, name="feature"), name=kind)
        return s.sort_values(ascending=False, kind="mergesort")

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        params = self.get_params()
        params = {k: (v.to_dict() if isinstance(v, GradeRule) else v) for k, v in params.items()}
        return {
            "class": type(self).__name__,
            "params": params,
            "feature_names": list(self.feature_names_),
            "booster_feature_names": _booster_names(self.feature_names_),
            "best_iteration": int(self.best_iteration_),
            "best_score": dict(self.best_score_),
            "guard": dict(getattr(self, "guard_", {}) or {}),
        }

    def save(self, path: str | Path) -> Path:
        """Save to the directory ``path``: ``config.json`` + ``model.txt`` (LightGBM text), no pickle."""
        self._check_fitted()
        return save_dir(path, type(self).__name__, self._config(), booster=self.booster_)

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> Any:
        """Load a model written by ``save``; the format version and the feature list are checked."""
        config = read_config(path, cls.__name__)
        params = dict(config["params"])
        for key in ("eval_at",):
            if key in params and isinstance(params[key], list):
                params[key] = tuple(params[key])
        obj = cls(**params)
        booster = load_booster(path, config.get("model_sha256"))
        names = list(config["feature_names"])
        if booster.feature_name() != list(config["booster_feature_names"]) or booster.num_feature() != len(names):
            raise TagrankInputError(
                f"{path}: model.txt has features {booster.feature_name()} but config.json lists {names}"
            )
        obj.booster_ = booster
        obj.feature_names_ = names
        obj.best_iteration_ = int(config["best_iteration"])
        obj.best_score_ = dict(config.get("best_score", {}))
        obj.evals_result_ = {}
        obj.guard_ = dict(config.get("guard", {}) or {})
        obj.served_ = obj.guard_.get("served", "model")
        obj.guard_scores_ = dict(obj.guard_.get("scores", {}))
        obj._restore(config)
        return obj

    def _restore(self, config: dict[str, Any]) -> None:  # pragma: no cover - overridden
        pass


class HybridRanker(_LightGBMModel):
    """LightGBM LambdaRank over named feature columns, grouped by query.

    Parameters (stored as given; see the module docstring for the input rules)
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, feature_fraction,
    bagging_fraction, bagging_freq, lambda_l2:
        LightGBM's boosting parameters.
    label_gain:
        Gain of each integer grade; ``None`` = the grade rule's linear gain.
    grade_rule:
        How labels become integer grades (:class:`hybrid.labels.GradeRule`, a
        dict of its fields, a number = grades per label unit, or ``"binary"``).
    early_stopping_rounds:
        Stop when NDCG@``eval_at[0]`` on ``valid`` has not improved for this many
        rounds (only with ``valid``); the best iteration is kept.
    eval_at:
        NDCG cut-offs evaluated on ``valid``; the first one drives early stopping.
    lambdarank_truncation_level:
        LightGBM's pair truncation (``None`` = LightGBM's default).
    allow_missing:
        NaN features are LightGBM missing values (True) or an error (False).
    random_state, deterministic, n_jobs:
        Seed; LightGBM's deterministic mode; threads.
    guard_alpha:
        With ``fit(sources=...)``: serve the model only where its held-out gain over the best
        source has a one-sided paired t-test p < ``guard_alpha`` (``None``: any gain; :mod:`hybrid.guard`).
    n_folds:
        ``None``: one model, early-stopped on ``valid``. An integer K >= 2: a cross-fitted
        ensemble (:mod:`hybrid.fold_ensemble`) -- K models on K query folds of ``frame`` and
        ``valid`` together, all stopped at the round where their mean held-out NDCG peaks,
        served as their average (one LightGBM model); each query's held-out score comes from
        the fold model that did not see it (the guard's evidence). For small data (hundreds
        of queries), where one 20% hold-out cannot pick the number of trees.
    extra_params:
        Extra LightGBM parameters (override the above).
    """

    _objective = "lambdarank"

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        feature_fraction: float = 1.0,
        bagging_fraction: float = 1.0,
        bagging_freq: int = 0,
        lambda_l2: float = 0.0,
        label_gain: Sequence[float] | None = None,
        grade_rule: Any = 12.0,
        early_stopping_rounds: int | None = 50,
        eval_at: Sequence[int] = (10,),
        lambdarank_truncation_level: int | None = None,
        allow_missing: bool = True,
        random_state: int = 0,
        deterministic: bool = True,
        n_jobs: int = 1,
        guard_alpha: float | None = None,
        n_folds: int | None = None,
        extra_params: dict[str, Any] | None = None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.bagging_freq = bagging_freq
        self.lambda_l2 = lambda_l2
        self.label_gain = label_gain
        self.grade_rule = grade_rule
        self.early_stopping_rounds = early_stopping_rounds
        self.eval_at = eval_at
        self.lambdarank_truncation_level = lambdarank_truncation_level
        self.allow_missing = allow_missing
        self.random_state = random_state
        self.deterministic = deterministic
        self.n_jobs = n_jobs
        self.guard_alpha = guard_alpha
        self.n_folds = n_folds
        self.extra_params = extra_params

    # ------------------------------------------------------------------ grouping
    def _grouped(
        self, frame: pd.DataFrame, query_col: str, candidate_col: str, contiguous: bool, field: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row order, query code of each ordered row) with each query's rows contiguous."""
        check_columns(frame, [query_col, candidate_col], field)
        if frame[query_col].isna().any():
            raise TagrankInputError(f"{field}.{query_col}[{int(np.argmax(frame[query_col].isna().to_numpy()))}] is missing")
        if frame[candidate_col].isna().any():
            raise TagrankInputError(
                f"{field}.{candidate_col}[{int(np.argmax(frame[candidate_col].isna().to_numpy()))}] is missing"
            )
        q = _factorize(frame[query_col])
        c = _factorize(frame[candidate_col])
        if contiguous:
            order = np.arange(len(frame))
            starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
            if len(starts) != len(np.unique(q)):
                seen: set[int] = set()
                for s in starts:
                    if q[s] in seen:
                        value = frame[query_col].iloc[s]
                        raise TagrankInputError(
                            f"{field}: rows of query {value!r} are not contiguous (it reappears at row {int(s)}) "
                            "but contiguous=True was asserted"
                        )
                    seen.add(int(q[s]))
        else:
            order = np.lexsort((c, q))
        qo = q[order]
        pair_codes = q * (int(c.max()) + 1) + c if len(c) else q
        if len(np.unique(pair_codes)) != len(pair_codes):
            pairs = pd.DataFrame({"q": frame[query_col].to_numpy(), "c": frame[candidate_col].to_numpy()})
            first = pairs[pairs.duplicated(keep="first")].iloc[0]
            raise TagrankInputError(
                f"{field}: (query, candidate) = ({first['q']!r}, {first['c']!r}) appears more than once"
            )
        return order, qo

    def _group_data(
        self, frame: pd.DataFrame, query_col: str, candidate_col: str, label_col: str, contiguous: bool, field: str,
        rule: GradeRule,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
        """Ordered rows to keep, their grades, group sizes, and the counts of dropped queries."""
        y = self._labels(frame, label_col, field)
        order, qo = self._grouped(frame, query_col, candidate_col, contiguous, field)
        grades = rule.grades(y[order], f"{field}.{label_col}", frame.index[order])
        starts = np.flatnonzero(np.r_[True, qo[1:] != qo[:-1]])
        sizes = np.diff(np.r_[starts, len(qo)])
        gmax = np.maximum.reduceat(grades, starts) if len(starts) else np.zeros(0, np.int32)
        gmin = np.minimum.reduceat(grades, starts) if len(starts) else np.zeros(0, np.int32)
        single = sizes < 2
        equal = (~single) & (gmax == gmin)
        keep_group = ~(single | equal)
        big = sizes > MAX_GROUP_SIZE
        if (big & keep_group).any():
            g = int(np.argmax(big & keep_group))
            value = frame[query_col].iloc[order[starts[g]]]
            raise TagrankInputError(
                f"{field}: query {value!r} has {int(sizes[g])} rows; LightGBM allows at most {MAX_GROUP_SIZE} per query"
            )
        keep_rows = np.repeat(keep_group, sizes)
        dropped = {"single_candidate": int(single.sum()), "equal_labels": int(equal.sum())}
        return order[keep_rows], grades[keep_rows], sizes[keep_group], dropped

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        frame: pd.DataFrame,
        query_col: str = "query",
        candidate_col: str = "item_id",
        label_col: str = "label",
        feature_cols: Sequence[str] | None = None,
        valid: pd.DataFrame | None = None,
        contiguous: bool = False,
        sources: Sequence[str] | None = None,
    ) -> HybridRanker:
        """Learn LambdaRank on ``frame`` (one row per (query, candidate)); early-stop on ``valid``.

        ``feature_cols`` defaults to every numeric column other than the
        query, candidate and label columns. ``valid`` has the same columns.
        ``sources``: the feature columns that are base scorers' own scores; the
        guard (:mod:`hybrid.guard`) then serves the best of them instead of the
        model where held-out data finds the model worse, the data too small, or
        the model without a split (``served_``, ``guard_``; a warning says so).
        """
        self._check_common_params()
        n_folds = self.n_folds
        if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer)
                                    or n_folds < 2):
            raise TagrankInputError(f"n_folds must be None or an integer >= 2, got {n_folds!r}")
        if not isinstance(frame, pd.DataFrame):
            raise TagrankInputError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise TagrankInputError("frame is empty: at least one query with two candidates is needed")
        eval_at = [check_k(k, "eval_at") for k in self.eval_at]
        if not eval_at:
            raise TagrankInputError("eval_at needs at least one cut-off")
        cols = self._select_features(frame, feature_cols, {query_col, candidate_col, label_col})
        parts = [(self._labels(frame, label_col, "frame"), f"frame.{label_col}", frame.index)]
        if valid is not None and label_col in valid.columns:  # the inferred grading scale covers valid too
            parts.append((self._labels(valid, label_col, "valid"), f"valid.{label_col}", valid.index))
        rule = GradeRule.coerce(self.grade_rule).fitted_on(parts)
        self._oof = None
        if n_folds is not None:
            return self._fit_folds(frame, valid, query_col, candidate_col, label_col, cols, contiguous, rule,
                                   eval_at, sources)
        rows, grades, sizes, dropped = self._group_data(frame, query_col, candidate_col, label_col, contiguous, "frame", rule)
        if len(sizes) == 0:
            raise TagrankInputError(
                f"no query in frame has two candidates with different labels ({dropped['single_candidate']} "
                f"with one candidate, {dropped['equal_labels']} with all labels equal): nothing to rank"
            )
        gain = self._gain(rule)
        lgb = _lightgbm()
        names = _booster_names(cols)
        x = self._matrix(frame, cols, rows=rows)
        dtrain = lgb.Dataset(x, label=grades, group=sizes, feature_name=names, free_raw_data=True,
                             params={"verbosity": -1})
        dvalid = None
        self.valid_dropped_queries_ = {}
        if valid is not None:
            vrows, vgrades, vsizes, vdropped = self._group_data(
                valid, query_col, candidate_col, label_col, contiguous, "valid", rule
            )
            self.valid_dropped_queries_ = vdropped
            if len(vsizes) == 0:
                raise TagrankInputError(
                    "no query in valid has two candidates with different labels: it cannot drive early stopping"
                )
            xv = self._matrix(valid, cols, "valid", rows=vrows)
            dvalid = lgb.Dataset(xv, label=vgrades, group=vsizes, feature_name=names, reference=dtrain,
                                 params={"verbosity": -1})
        params = self._ranking_params(eval_at, gain)
        self._set_fitted(cols, rule, gain, query_col, candidate_col, label_col, dropped, len(sizes))
        self._train(params, dtrain, dvalid)
        self._after_fit(frame, valid, sources)
        return self

    def _gain(self, rule: GradeRule) -> list[float]:
        gain = list(self.label_gain) if self.label_gain is not None else rule.label_gain()
        if len(gain) <= int(rule.max_grade or 0):
            raise TagrankInputError(f"label_gain has {len(gain)} values but grades go up to {rule.max_grade}")
        return gain

    def _ranking_params(self, eval_at: list[int], gain: list[float]) -> dict[str, Any]:
        params = self._base_params()
        params.update({"objective": "lambdarank", "metric": "ndcg", "eval_at": eval_at, "label_gain": gain})
        if self.lambdarank_truncation_level is not None:
            params["lambdarank_truncation_level"] = int(self.lambdarank_truncation_level)
        if self.extra_params:
            params.update(dict(self.extra_params))
        return params

    def _set_fitted(self, cols: list[str], rule: GradeRule, gain: list[float], query_col: str, candidate_col: str,
                    label_col: str, dropped: dict[str, int], n_queries: int) -> None:
        self.feature_names_ = cols
        self.grade_rule_ = rule
        self.label_gain_ = [float(g) for g in gain]
        self.query_col_, self.candidate_col_, self.label_col_ = query_col, candidate_col, label_col
        self.dropped_queries_ = dropped
        self.n_queries_ = int(n_queries)

    def _fit_folds(self, frame: pd.DataFrame, valid: pd.DataFrame | None, query_col: str, candidate_col: str,
                   label_col: str, cols: list[str], contiguous: bool, rule: GradeRule, eval_at: list[int],
                   sources: Sequence[str] | None) -> HybridRanker:
        """``fit`` with ``n_folds``: the cross-fitted ensemble over the queries of ``frame`` and ``valid``."""
        from tagrank.hybrid.fold_ensemble import fit_folds

        parts = [frame] + ([valid] if valid is not None and len(valid) else [])
        pooled = pd.concat([p[[query_col, candidate_col, label_col, *cols]] for p in parts], ignore_index=True)
        if len(parts) > 1:  # train and valid queries stay apart even where they share a key
            codes, offset = [], 0
            for part in parts:
                self._grouped(part, query_col, candidate_col, contiguous, "valid" if codes else "frame")
                c = _factorize(part[query_col])
                codes.append(c + offset)
                offset += int(c.max()) + 1 if len(c) else 0
            pooled[query_col] = np.concatenate(codes)
        rows, grades, sizes, dropped = self._group_data(pooled, query_col, candidate_col, label_col, contiguous,
                                                        "frame", rule)
        if len(sizes) < 2:
            raise TagrankInputError(
                f"n_folds={self.n_folds} needs at least two queries with two candidates of different labels; "
                f"frame and valid have {len(sizes)} ({dropped['single_candidate']} with one candidate, "
                f"{dropped['equal_labels']} with all labels equal)"
            )
        gain = self._gain(rule)
        names = _booster_names(cols)
        x = self._matrix(pooled, cols, rows=rows)
        esr = None if self.early_stopping_rounds is None else int(self.early_stopping_rounds)
        try:
            fitted = fit_folds(self._ranking_params(eval_at, gain), x, grades, sizes, names, int(self.n_folds),
                               int(self.n_estimators), esr, int(self.random_state))
        except _lightgbm().basic.LightGBMError as exc:
            raise TagrankInputError(f"LightGBM could not train the fold models (extra_params={self.extra_params!r}): "
                                    f"{exc}") from exc
        self._set_fitted(cols, rule, gain, query_col, candidate_col, label_col, dropped, len(sizes))
        self.valid_dropped_queries_ = {}
        self.booster_ = fitted["booster"]
        self.best_iteration_ = int(fitted["best_iteration"])
        curve = [float(v) for v in fitted["curve"]]
        self.evals_result_ = {"cv": {fitted["metric"]: curve}}
        self.best_score_ = {fitted["metric"]: curve[self.best_iteration_ - 1]} if curve else {}
        oof = self._predict_model(pooled)  # rows of dropped queries: the ensemble's own score
        oof[rows] = fitted["oof"]
        self._oof = oof  # aligned with frame + valid, the rows the guard pools
        self._after_fit(frame, valid, sources)
        return self

    # ------------------------------------------------------------------ rank
    def rank(
        self,
        frame: pd.DataFrame,
        k: int | None = None,
        query_col: str | None = None,
        candidate_col: str | None = None,
    ) -> pd.DataFrame:
        """Candidates ordered per query: columns (query, candidate, ``score``, ``rank`` from 1).

        Queries keep their first-appearance order; within a query, score
        descending, ties by row order. ``k`` keeps the top k per query.
        """
        self._check_fitted()
        qcol = query_col or self.query_col_
        ccol = candidate_col or self.candidate_col_
        check_columns(frame, [qcol, ccol], "frame")
        if k is not None:
            k = check_k(k)
        return ranked_rows(frame[qcol].to_numpy(), frame[ccol].to_numpy(), self.predict(frame),
                           k, qcol, ccol)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config.update({
            "grade_rule": self.grade_rule_.to_dict(),
            "label_gain": list(self.label_gain_),
            "query_col": self.query_col_, "candidate_col": self.candidate_col_, "label_col": self.label_col_,
            "dropped_queries": dict(self.dropped_queries_), "n_queries": int(self.n_queries_),
        })
        return config

    def _restore(self, config: dict[str, Any]) -> None:
        self.grade_rule_ = GradeRule(**config["grade_rule"])
        self.label_gain_ = [float(g) for g in config["label_gain"]]
        self.query_col_ = config["query_col"]
        self.candidate_col_ = config["candidate_col"]
        self.label_col_ = config["label_col"]
        self.dropped_queries_ = dict(config["dropped_queries"])
        self.valid_dropped_queries_ = {}
        self.n_queries_ = int(config["n_queries"])


__all__ = ["HybridRanker", "MAX_GROUP_SIZE", "ranked_rows"]
