"""The similarity hybrid's model: LightGBM regression over named feature columns (:class:`HybridRegressor`).

It shares :class:`hybrid.ranker.HybridRanker`'s base (input rules, guard, explain, save / load);
only the objective and early stopping on a correlation differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.ranker import _booster_names, _lightgbm, _LightGBMModel


class HybridRegressor(_LightGBMModel):
    """LightGBM regression over named feature columns (the similarity task's hybrid).

    ``objective`` is any LightGBM regression objective (``regression`` = L2,
    ``huber``, ``regression_l1``). ``metric`` is what early stopping watches
    on ``valid``: ``None`` = the objective's loss, ``"spearman"`` / ``"pearson"``
    = the rank / linear correlation of predictions and labels (the similarity
    task's metrics), or any LightGBM metric name (``"auc"`` for 0/1 labels).
    Other parameters as in :class:`HybridRanker`.
    """

    _objective = "regression"

    def __init__(
        self,
        n_estimators: int = 1000,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        feature_fraction: float = 1.0,
        bagging_fraction: float = 1.0,
        bagging_freq: int = 0,
        lambda_l2: float = 0.0,
        objective: str = "regression",
        metric: str | None = None,
        early_stopping_rounds: int | None = 50,
        allow_missing: bool = True,
        random_state: int = 0,
        deterministic: bool = True,
        n_jobs: int = 1,
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
        self.objective = objective
        self.metric = metric
        self.early_stopping_rounds = early_stopping_rounds
        self.allow_missing = allow_missing
        self.random_state = random_state
        self.deterministic = deterministic
        self.n_jobs = n_jobs
        self.extra_params = extra_params

    def fit(
        self,
        frame: pd.DataFrame,
        label_col: str = "label",
        feature_cols: Sequence[str] | None = None,
        valid: pd.DataFrame | None = None,
        sources: Sequence[str] | None = None,
    ) -> HybridRegressor:
        """Learn ``label_col`` from the feature columns; early-stop on ``valid`` (same columns).

        ``sources``: the feature columns that are base scorers' own scores, guarded as in
        :meth:`HybridRanker.fit` (``served_``, ``guard_``)."""
        self._check_common_params()
        if not isinstance(frame, pd.DataFrame):
            raise TagrankInputError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) < 2:
            raise TagrankInputError(f"frame has {len(frame)} row(s): at least two are needed")
        cols = self._select_features(frame, feature_cols, {label_col})
        y = self._labels(frame, label_col, "frame")
        lgb = _lightgbm()
        names = _booster_names(cols)
        dtrain = lgb.Dataset(self._matrix(frame, cols), label=y, feature_name=names, params={"verbosity": -1})
        dvalid = None
        if valid is not None:
            if len(valid) == 0:
                raise TagrankInputError("valid is empty")
            yv = self._labels(valid, label_col, "valid")
            dvalid = lgb.Dataset(self._matrix(valid, cols, "valid"), label=yv, feature_name=names, reference=dtrain,
                                 params={"verbosity": -1})
        params = self._base_params()
        params.update({"objective": self.objective})
        feval = None
        if self.metric in ("spearman", "pearson"):
            params["metric"] = "None"
            feval = _correlation_metric(self.metric)
        elif self.metric is not None:
            params["metric"] = self.metric
        if self.extra_params:
            params.update(dict(self.extra_params))
        self.feature_names_ = cols
        self.label_col_ = label_col
        self._train(params, dtrain, dvalid, feval=feval)
        self._after_fit(frame, valid, sources)
        return self

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config["label_col"] = self.label_col_
        return config

    def _restore(self, config: dict[str, Any]) -> None:
        self.label_col_ = config["label_col"]


def _correlation_metric(kind: str) -> Any:
    """A LightGBM ``feval``: Spearman or Pearson correlation of predictions and labels (higher is better)."""
    from scipy.stats import pearsonr, spearmanr

    def metric(preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
        y = data.get_label()
        if np.ptp(preds) == 0 or np.ptp(y) == 0:
            return kind, 0.0, True
        value = spearmanr(preds, y)[0] if kind == "spearman" else pearsonr(preds, y)[0]
        return kind, float(value), True

    return metric


__all__ = ["HybridRegressor"]
