"""Evaluate a user's own run from pandas frames: per-unit metrics and their means.

The benchmark's protocols call the metric functions directly; these helpers are
the same metrics behind column names a user chooses (``query_col=``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tagrank.baselines.validation import TagrankInputError, check_columns
from tagrank.eval.metrics import per_query_ranking_metrics


def _qrels(frame: pd.DataFrame, unit_col: str, item_col: str, gain_col: str | None) -> dict:
    out: dict = {}
    gains = frame[gain_col].to_numpy(float) if gain_col else [1.0] * len(frame)
    for unit, item, gain in zip(frame[unit_col], frame[item_col], gains, strict=True):
        out.setdefault(unit, {})[item] = float(gain)
    return out


def evaluate_ranking(
    run: pd.DataFrame,
    judgments: pd.DataFrame,
    metrics: Sequence[str] = ("ndcg@10", "map@10", "mrr@10", "recall@10"),
    relevance_threshold: float = 1.0,
    query_col: str = "query",
    item_col: str = "item_id",
    score_col: str = "score",
    label_col: str = "label",
) -> pd.DataFrame:
    """Per-query metrics of a scored ``run`` against graded ``judgments`` (gain = label).

    A judged query missing from ``run`` scores 0 (it retrieved nothing). Returns a frame
    indexed by query with one column per metric; ``.mean()`` gives the averages.
    """
    check_columns(run, [query_col, item_col, score_col], "run")
    check_columns(judgments, [query_col, item_col, label_col], "judgments")
    labels = pd.to_numeric(judgments[label_col], errors="coerce")
    if labels.isna().any() or (labels < 0).any():
        row = judgments.index[(labels.isna() | (labels < 0)).to_numpy()][0]
        raise TagrankInputError(
            f"judgments[{label_col!r}] at row {row!r} is {judgments.loc[row, label_col]!r}; gains must be numbers >= 0"
        )
    frame = pd.DataFrame({"qid": run[query_col], "item": run[item_col], "score": run[score_col]})
    qrels = _qrels(judgments.assign(**{label_col: labels}), query_col, item_col, label_col)
    return per_query_ranking_metrics(frame, qrels, list(metrics), relevance_threshold, on_missing_query="zero")


def evaluate_recommendations(
    recommendations: pd.DataFrame,
    held_out: pd.DataFrame,
    metrics: Sequence[str] = ("ndcg@10", "precision@10", "recall@10", "map@10"),
    user_col: str = "user_id",
    item_col: str = "item_id",
    rank_col: str = "rank",
) -> pd.DataFrame:
    """Per-user metrics of ranked ``recommendations`` against the ``held_out`` interactions.

    ``recommendations`` holds one row per (user, item) with its ``rank`` (1 = best); every
    held-out item counts as relevant with gain 1. Returns a frame indexed by user.
    """
    check_columns(recommendations, [user_col, item_col, rank_col], "recommendations")
    check_columns(held_out, [user_col, item_col], "held_out")
    ranks = pd.to_numeric(recommendations[rank_col], errors="coerce")
    if ranks.isna().any():
        raise TagrankInputError(f"recommendations[{rank_col!r}] must be numeric ranks")
    frame = pd.DataFrame(
        {"qid": recommendations[user_col], "item": recommendations[item_col], "score": -ranks.to_numpy(float)}
    )
    qrels = _qrels(held_out.drop_duplicates([user_col, item_col]), user_col, item_col, None)
    return per_query_ranking_metrics(frame, qrels, list(metrics), 1.0, on_missing_query="zero")
