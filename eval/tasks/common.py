"""Plumbing shared by the task protocols: timing, grid selection, rows and comparisons."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tagrank.eval.methods import MethodContext, MethodSpec
from tagrank.eval.results import MethodResult

N_RESAMPLES = 1000
CI_SEED = 0


@dataclass
class Timer:
    seconds: float = 0.0


@contextmanager
def timed(timer: Timer):
    """Add the wall time of the block to ``timer.seconds``."""
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds += time.perf_counter() - start


class FitOnce:
    """Fit each grid point once: when selection on valid and the test run share the same fit
    (unsupervised corpus fits), the chosen estimator is reused, and its fit time counted once."""

    def __init__(self, build: Callable[[dict[str, Any]], Any]):
        self.build = build
        self.memo: dict[str, tuple[Any, float]] = {}

    def __call__(self, params: dict[str, Any], timer: Timer | None = None) -> Any:
        key = repr(sorted(params.items()))
        if key not in self.memo:
            clock = Timer()
            with timed(clock):
                estimator = self.build(params)
            self.memo[key] = (estimator, clock.seconds)
        estimator, seconds = self.memo[key]
        if timer is not None:
            timer.seconds += seconds
        return estimator


def fit_text(estimator: Any, texts: list[str], ids: list[Any] | None, ctx: MethodContext) -> Any:
    """Fit a text scorer on ``texts``; scorers that learn from extra text (word2vec) also get
    the task's documented training corpus (``ctx.training_texts``)."""
    if ctx.training_texts is not None and "extra_texts" in inspect.signature(estimator.fit).parameters:
        return estimator.fit(texts, ids, extra_texts=ctx.training_texts())
    return estimator.fit(texts, ids)


def device_of(estimator: Any, ctx: MethodContext) -> str:
    """The device an estimator ran on: its resolved torch device when it has one, else cpu."""
    if estimator is None or "device" not in _params_of(estimator):
        return "cpu"
    from tagrank.baselines.vectors import resolve_device

    return resolve_device(getattr(estimator, "device", None) or ctx.device).type


def _params_of(estimator: Any) -> set[str]:
    try:
        return set(inspect.signature(type(estimator).__init__).parameters) - {"self"}
    except (TypeError, ValueError):
        return set()


def params_of(estimator: Any, chosen: dict[str, Any]) -> dict[str, Any]:
    """The parameters recorded in the results file: the estimator's own plus how they were chosen."""
    params: dict[str, Any] = {}
    if hasattr(estimator, "get_params"):
        try:
            params.update(estimator.get_params())
        except Exception:  # noqa: BLE001 - params are informative only
            pass
    params = _without_run_settings(params)
    if hasattr(estimator, "results_params"):
        params.update(estimator.results_params())
    params.update({f"selected.{k}": v for k, v in chosen.items()})
    return params


#: how a run was shown or where it ran, not what it computed (a results file must not depend on them)
RUN_SETTINGS = ("show_progress", "cache_dir", "device")


def _without_run_settings(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without :data:`RUN_SETTINGS`, in nested parameter dicts too."""
    return {k: (_without_run_settings(v) if isinstance(v, dict) else v)
            for k, v in params.items() if k not in RUN_SETTINGS}


def estimator_extras(estimator: Any) -> dict[str, Any]:
    """Per-method figures worth keeping beside the metrics (e.g. a fine-tuning curve for the report)."""
    curve = getattr(estimator, "training_curve", None)
    return {"curve": list(curve)} if curve else {}


@dataclass
class Scored:
    """One method's outcome on test: per-unit values of each metric and the aggregate numbers."""

    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    per_unit: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def select_params(
    spec: MethodSpec,
    ctx: MethodContext,
    evaluate: Callable[[dict[str, Any]], float],
) -> tuple[dict[str, Any], dict[str, float]]:
    """Pick the grid point with the best valid score (first wins ties); returns it and all scores."""
    grid = spec.grid_for(ctx.task)
    if len(grid) <= 1:
        return dict(grid[0]) if grid else {}, {}
    scores = {}
    best, best_score = dict(grid[0]), -np.inf
    for params in grid:
        score = float(evaluate(dict(params)))
        scores[_grid_key(params)] = score
        if np.isfinite(score) and score > best_score:
            best, best_score = dict(params), score
    return best, scores


def _grid_key(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items())) or "default"


def method_result(
    scored: Scored, fit_s: float, score_s: float, device: str, params: dict[str, Any]
) -> MethodResult:
    return MethodResult(
        metrics=scored.metrics,
        ci95=scored.ci95,
        fit_s=fit_s,
        score_s=score_s,
        device=device,
        params=params,
        extra=scored.extra,
        per_unit=dict(scored.per_unit),
    )


def hybrid_vs_best(
    scored: dict[str, Scored],
    primary: str,
    paired: Callable[[Scored, Scored], dict[str, Any]],
    exclude: tuple[str, ...] = ("random",),
) -> dict[str, Any] | None:
    """The spec's comparison of ``hybrid`` with the best single method on the primary metric.

    ``paired(hybrid, best)`` runs the paired test over the same test units.
    """
    if "hybrid" not in scored:
        return None
    singles = {n: s for n, s in scored.items()  # hybrid variants (hybrid_no_prior) are not single methods
               if not n.startswith("hybrid") and n not in exclude and primary in s.metrics}
    if not singles:
        return None
    best = max(singles, key=lambda n: singles[n].metrics[primary])
    result = paired(scored["hybrid"], singles[best])
    return {
        "metric": primary,
        "best_single": best,
        "delta": float(scored["hybrid"].metrics[primary] - singles[best].metrics[primary]),
        "p_value": float(result["p_value"]),
        "test": result["test"],
    }


#: (challenger, baseline): compared on the primary metric with the task's paired test when both ran
PAIRED_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("transformer_ft", "transformer"),
    ("hybrid_no_prior", "bm25"),  # search: the gain that needs no judgment log (no usage prior)
    ("hybrid", "hybrid_no_prior"),  # search: what the usage prior adds
)


def method_comparisons(
    scored: dict[str, Scored], primary: str, paired: Callable[[Scored, Scored], dict[str, Any]],
) -> dict[str, Any]:
    """The results ``comparisons`` entry: each pair of ``PAIRED_COMPARISONS`` that ran (e.g. whether
    fine-tuning beat the off-the-shelf encoder), with the same paired test as ``hybrid_vs_best``."""
    out: dict[str, Any] = {}
    for a, b in PAIRED_COMPARISONS:
        if a in scored and b in scored and primary in scored[a].metrics and primary in scored[b].metrics:
            res = paired(scored[a], scored[b])
            out[f"{a}_vs_{b}"] = {
                "metric": primary, "a": a, "b": b,
                "delta": float(scored[a].metrics[primary] - scored[b].metrics[primary]),
                "p_value": float(res["p_value"]), "test": res["test"],
            }
    return out


def ablation_table(
    full: Scored,
    variants: dict[str, Scored],
    primary: str,
    paired: Callable[[Scored, Scored], dict[str, Any]],
    metrics: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The results ``ablation`` entry: the full hybrid (``all``) and each drop-one variant ``-<group>``
    with ``metrics`` (primary first), the primary's change against ``all`` and its paired p-value."""
    keys = [primary, *(m for m in metrics if m != primary)]

    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    def entry(s: Scored) -> dict[str, Any]:
        return {"metrics": {k: finite(s.metrics[k]) for k in keys if k in s.metrics},
                "ci95": {k: [finite(v) for v in s.ci95[k]] for k in keys if k in s.ci95}}

    table: dict[str, Any] = {"all": entry(full)}
    for name, s in variants.items():
        row = entry(s)
        if np.isfinite(s.metrics[primary]):
            row["metrics"][f"delta {primary}"] = float(s.metrics[primary] - full.metrics[primary])
            row["metrics"]["p_value"] = float(paired(s, full)["p_value"])
        else:  # e.g. a learning-curve model that predicts one constant: the metric is undefined
            row["metrics"].update({f"delta {primary}": None, "p_value": None})
            row["note"] = f"{primary} undefined (constant predictions)"
        table[name] = row
    return table
