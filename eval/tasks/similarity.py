"""Task ``similarity``: tag / phrase semantic similarity against human scores.

Unit = pair. Datasets with official splits keep them; the others split by the
hash of ``left + "\\t" + right``. Methods are fitted on the pair texts (no
labels) or, for supervised ones, on train; chosen on valid; reported on test.
Word lists also report ``spearman_all`` over every pair for unsupervised methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import metrics, stats
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodNotApplicable, MethodSpec
from tagrank.eval.results import build_results
from tagrank.eval.splits import TEST, TRAIN, VALID, hash_split
from tagrank.eval.tasks.common import (
    CI_SEED,
    N_RESAMPLES,
    FitOnce,
    Scored,
    Timer,
    ablation_table,
    device_of,
    estimator_extras,
    fit_text,
    hybrid_vs_best,
    method_comparisons,
    method_result,
    params_of,
    select_params,
    timed,
)

WORD_LISTS = {"wordsim353", "simlex999", "cos960", "gensim_wordsim353", "gensim_simlex999"}
BINARY = {"lcqmc"}


def split_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Keep official splits; otherwise split by the hash of ``left\\tright``."""
    out = pairs.copy()
    if "split" not in out.columns or out["split"].isna().all():
        out["split"] = hash_split((out["left"] + "\t" + out["right"]).tolist())
    return out


def primary_metric(dataset: str) -> str:
    return "roc_auc" if dataset in BINARY else "spearman"


def score_metrics(pred: np.ndarray, truth: np.ndarray, binary: bool, prefix: str = "",
                  undefined_ok: bool = False) -> Scored:
    """Spearman / Pearson (and ROC AUC for binary labels) with bootstrap intervals over pairs.

    A statistic undefined on the whole test set (constant predictions) is an error naming it, or,
    with ``undefined_ok`` (ablation variants: a learning-curve model too small to split), NaN with
    a NaN interval."""
    fns = {
        "spearman": lambda p, t: metrics.spearman(p, t, on_constant="nan"),
        "pearson": lambda p, t: metrics.pearson(p, t, on_constant="nan"),
    }
    if binary:
        fns["roc_auc"] = metrics.roc_auc
    values, cis = {}, {}
    n = len(pred)
    for name, fn in fns.items():
        values[prefix + name] = float(fn(pred, truth))
        if not np.isfinite(values[prefix + name]):  # constant predictions: undefined, no interval
            if not undefined_ok:
                raise TagrankInputError(f"{name} is undefined for these predictions (constant: {pred[:1]!r})")
            cis[prefix + name] = [float("nan"), float("nan")]
            continue
        low, high = stats.bootstrap_ci_statistic(
            lambda idx, fn=fn: _undefined_as_nan(fn, pred[idx], truth[idx]), n,
            n_resamples=N_RESAMPLES, random_state=CI_SEED,
        )
        cis[prefix + name] = [low, high]
    return Scored(metrics=values, ci95=cis, per_unit={"pred": pred, "truth": truth})


def _undefined_as_nan(fn, pred: np.ndarray, truth: np.ndarray) -> float:
    """A statistic of one bootstrap resample; NaN where it is undefined (constant values, one class)."""
    if np.ptp(pred) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(fn(pred, truth))


def paired_correlation_test(primary: str):
    """Paired bootstrap over the same test pairs of the difference in the primary statistic."""
    fn = {"spearman": metrics.spearman, "pearson": metrics.pearson, "roc_auc": metrics.roc_auc}[primary]
    # (NaN cases are excluded by _undefined_as_nan before fn is called)

    def run(a: Scored, b: Scored) -> dict[str, Any]:
        truth = a.per_unit["truth"]
        return stats.paired_test(
            a.per_unit["pred"], b.per_unit["pred"], test="bootstrap",
            statistic=lambda values, idx: _undefined_as_nan(fn, values, truth[idx]),
            n_resamples=N_RESAMPLES, random_state=CI_SEED,
        )

    return run


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext) -> list[dict[str, Any]]:
    """Run every method on one similarity dataset; returns the results documents."""
    pairs = split_pairs(dataset.pairs)
    parts = {name: pairs[pairs["split"] == name] for name in (TRAIN, VALID, TEST)}
    # the unsupervised corpus (TF-IDF / BM25 vocabularies, whitening, word2vec) is the train pairs' texts:
    # no valid or test pair reaches a fitted statistic
    corpus = sorted(set(parts[TRAIN]["left"]) | set(parts[TRAIN]["right"]))
    binary = dataset.name in BINARY
    word_list = dataset.name in WORD_LISTS
    primary = primary_metric(dataset.name)
    ctx = base_ctx.for_dataset(
        "similarity", dataset,
        data={"train": parts[TRAIN], "valid": parts[VALID], "corpus": corpus, "binary": binary},
    )
    results, scored, skipped = {}, {}, {}
    ablation: dict[str, Any] = {}
    for spec in tqdm(specs, desc=f"similarity/{dataset.name}", disable=not base_ctx.show_progress):
        fit_t, score_t = Timer(), Timer()

        def build_and_fit(params: dict[str, Any], spec: MethodSpec = spec) -> Any:
            est = spec.build(ctx, **params)
            if spec.kind == "text":
                fit_text(est, corpus, None, ctx)
            return est

        fit = FitOnce(build_and_fit)

        def valid_score(params: dict[str, Any], fit=fit) -> float:
            est = fit(params)
            pred = est.score_pairs(parts[VALID]["left"].tolist(), parts[VALID]["right"].tolist())
            if binary:
                return metrics.roc_auc(pred, parts[VALID]["score"].to_numpy())
            return metrics.spearman(pred, parts[VALID]["score"].to_numpy(), on_constant="nan")

        try:
            chosen, grid_scores = select_params(spec, ctx, valid_score)
            est = fit(chosen, fit_t)
        except MethodNotApplicable as exc:
            skipped[spec.name] = str(exc)
            continue
        test = parts[TEST]
        with timed(score_t):
            pred = est.score_pairs(test["left"].tolist(), test["right"].tolist())
        s = score_metrics(pred, test["score"].to_numpy(float), binary)
        if word_list and spec.kind == "text":
            pred_all = est.score_pairs(pairs["left"].tolist(), pairs["right"].tolist())
            s_all = score_metrics(pred_all, pairs["score"].to_numpy(float), binary, prefix="")
            s.metrics["spearman_all"] = s_all.metrics["spearman"]
            s.ci95["spearman_all"] = s_all.ci95["spearman"]
        if getattr(est, "ablation_variants", None):  # scoring the variants recomputes the features
            variants = est.score_pairs_ablation(test["left"].tolist(), test["right"].tolist())
            if len(variants) > 1:
                runs = {v: score_metrics(p, test["score"].to_numpy(float), binary, undefined_ok=v is not None)
                        for v, p in variants.items()}
                ablation = ablation_table(runs.pop(None), runs, primary, paired_correlation_test(primary))
        if hasattr(est, "cosine_spread"):
            from tagrank.hybrid.transformer_scorer import UNRELATED_TAGS

            s.extra["cosine_spread_unrelated_tags"] = est.cosine_spread(list(UNRELATED_TAGS))
        if hasattr(est, "oov_pairs"):
            s.extra["oov_rate"] = float(np.mean(est.oov_pairs(test["left"].tolist(), test["right"].tolist())))
        if grid_scores:
            s.extra["valid_grid"] = grid_scores
        s.extra.update(estimator_extras(est))
        ctx.fitted[spec.name] = est
        scored[spec.name] = s
        params = params_of(est, chosen)
        results[spec.name] = method_result(s, fit_t.seconds, score_t.seconds, device_of(est, ctx), params)

    comparison = hybrid_vs_best(scored, primary, paired_correlation_test(primary))
    split = {
        "unit": "pair", "train": len(parts[TRAIN]), "valid": len(parts[VALID]), "test": len(parts[TEST]),
        "excluded": 0, "key": "official split" if dataset.pairs.get("split") is not None
        and dataset.pairs["split"].notna().any() else "sha1(left + '\\t' + right)",
    }
    extra: dict[str, Any] = {"skipped_methods": skipped} if skipped else {}
    if ablation:
        extra["ablation"] = ablation
    comparisons = method_comparisons(scored, primary, paired_correlation_test(primary))
    if comparisons:
        extra["comparisons"] = comparisons
    doc = build_results("similarity", dataset.name, None, primary, split, results, comparison, extra or None)
    return [doc]
