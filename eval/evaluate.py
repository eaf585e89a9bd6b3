"""Evaluate a user's own run from pandas frames: per-unit metrics and their means.

The benchmark's protocols call the metric functions directly; these helpers are
the same metrics behind column names a user chooses (``query_col=``, ...).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError, _preview, check_columns, check_nonempty, label_at
from tagrank.eval.metrics import per_query_ranking_metrics


def _qrels(frame: pd.DataFrame, unit_col: str, item_col: str, gain_col: str | None) -> dict:
    out: dict = {}
    gains = frame[gain_col].to_numpy(float) if gain_col else [1.0] * len(frame)
    for unit, item, gain in zip(frame[unit_col], frame[item_col], gains, strict=True):
        out.setdefault(unit, {})[item] = float(gain)
    return out


def _plain(value: Any) -> Any:
    """``np.int64(3)`` -> ``3``, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _check_ids(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    """No id is None / NaN; fails naming the frame, column and row label."""
    for col in cols:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            i = int(missing.argmax())
            raise TagrankInputError(
                f"{what}[{col!r}] at row {label_at(frame.index, i)!r} is missing (got {frame[col].iat[i]!r}); "
                f"every row needs an id"
            )


def _id_kind(ids: pd.Series) -> str | None:
    """``"numbers"`` or ``"strings"`` when every id is of that kind (the two never compare equal), else None."""
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "numbers"
    return "strings" if kind == "string" else None


def _check_same_kind(left: pd.Series, right: pd.Series, left_name: str, right_name: str) -> None:
    """Numeric ids on one side and string ids on the other can never match: an error naming both."""
    kinds = (_id_kind(left), _id_kind(right))
    if set(kinds) == {"numbers", "strings"}:
        raise TagrankInputError(
            f"{left_name} holds {kinds[0]} ({left.dtype}) but {right_name} holds {kinds[1]} ({right.dtype}): "
            f"no id can match (1 != '1'); convert one of them, e.g. with .astype(str)"
        )


def _check_pair_frames(run: pd.DataFrame, truth: pd.DataFrame, keys: list[str], run_col: str,
                       truth_col: str | None, names: tuple[str, str]) -> None:
    """The checks a run and its ground truth share: columns, a non-empty truth, no missing id, and id
    columns whose kinds can match."""
    check_columns(run, [*keys, run_col], names[0])
    check_columns(truth, keys if truth_col is None else [*keys, truth_col], names[1])
    check_nonempty(truth, names[1])
    _check_ids(run, keys, names[0])
    _check_ids(truth, keys, names[1])
    for col in dict.fromkeys(keys):
        _check_same_kind(run[col], truth[col], f"{names[0]}[{col!r}]", f"{names[1]}[{col!r}]")


def _check_unique_pairs(frame: pd.DataFrame, cols: list[str], what: str, need: str) -> None:
    """No (unit, item) pair twice; fails naming the pair and its rows."""
    repeated = frame.duplicated(cols, keep=False).to_numpy()
    if repeated.any():
        first = int(repeated.argmax())
        pair = tuple(_plain(frame[c].iat[first]) for c in cols)
        same = np.logical_and.reduce([(frame[c] == v).to_numpy() for c, v in zip(cols, pair, strict=True)])
        rows = [label_at(frame.index, i) for i in np.flatnonzero(same & repeated)]
        raise TagrankInputError(f"{what} repeats ({', '.join(cols)}) = {pair!r} at rows {rows}: {need}")


def _finite_numbers(frame: pd.DataFrame, col: str, what: str, rule: str, unit_col: str) -> pd.Series:
    """A column as float; a missing, non-numeric or infinite value fails naming the row and its unit."""
    values = pd.to_numeric(frame[col], errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        i = int(bad.argmax())
        raise TagrankInputError(
            f"{what}[{col!r}] at row {label_at(frame.index, i)!r} ({unit_col} {_plain(frame[unit_col].iat[i])!r}) "
            f"is {_preview(_plain(frame[col].iat[i]))}; {rule}"
        )
    return values


def _warn_if_nothing_judged(frame: pd.DataFrame, qrels: dict, unit: str, names: tuple[str, str]) -> None:
    """Warn when no (unit, item) of the run is judged: every metric is then 0, usually from ids that differ."""
    if any(item in qrels.get(qid, ()) for qid, item in zip(frame["qid"], frame["item"], strict=True)):
        return
    run_units = sum(qid in qrels for qid in frame["qid"].unique())
    plural = "queries" if unit == "query" else f"{unit}s"
    warnings.warn(
        f"no ({unit}, item) of {names[0]} is judged in {names[1]}: all {len(qrels)} judged {plural} have no judged "
        f"item in {names[0]} ({run_units} of them appear in {names[0]} at all), so every metric is 0; "
        f"check that both use the same ids",
        UserWarning, stacklevel=3,
    )


def evaluate_ranking(
    run: pd.DataFrame,
    judgments: pd.DataFrame,
    metrics: str | Sequence[str] = ("ndcg@10", "map@10", "mrr@10", "recall@10"),
    relevance_threshold: float = 1.0,
    query_col: str = "query",
    item_col: str = "item_id",
    score_col: str = "score",
    label_col: str = "label",
) -> pd.DataFrame:
    """Per-query metrics of a scored ``run`` against graded ``judgments`` (gain = label).

    A judged query missing from ``run`` scores 0 (it retrieved nothing); a warning says so
    when no (query, item) of ``run`` is judged at all. Each (query, item) may appear once in
    each frame. ``metrics`` is a name or a list of names. Returns a frame indexed by query
    with one column per metric; ``.mean()`` gives the averages.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    _check_pair_frames(run, judgments, [query_col, item_col], score_col, label_col, ("run", "judgments"))
    scores = _finite_numbers(run, score_col, "run", "scores must be finite numbers", query_col)
    labels = _finite_numbers(judgments, label_col, "judgments", "gains must be finite numbers >= 0", query_col)
    if (labels < 0).any():
        i = int((labels < 0).to_numpy().argmax())
        raise TagrankInputError(
            f"judgments[{label_col!r}] at row {label_at(judgments.index, i)!r} is {_plain(judgments[label_col].iat[i])!r}; "
            f"gains must be finite numbers >= 0"
        )
    pair = list(dict.fromkeys([query_col, item_col]))
    _check_unique_pairs(judgments, pair, "judgments", "give one label per (query, item)")
    _check_unique_pairs(run, pair, "run", "give one score per (query, item)")
    frame = pd.DataFrame({"qid": run[query_col], "item": run[item_col], "score": scores.to_numpy()})
    qrels = _qrels(judgments.assign(**{label_col: labels}), query_col, item_col, label_col)
    _warn_if_nothing_judged(frame, qrels, "query", ("run", "judgments"))
    return per_query_ranking_metrics(frame, qrels, metrics, relevance_threshold, on_missing_query="zero")


def evaluate_recommendations(
    recommendations: pd.DataFrame,
    held_out: pd.DataFrame,
    metrics: str | Sequence[str] = ("ndcg@10", "precision@10", "recall@10", "map@10"),
    user_col: str = "user_id",
    item_col: str = "item_id",
    rank_col: str = "rank",
) -> pd.DataFrame:
    """Per-user metrics of ranked ``recommendations`` against the ``held_out`` interactions.

    ``recommendations`` holds one row per (user, item) with its ``rank`` (1 = best, one item
    per rank of a user); every held-out item counts as relevant with gain 1. A warning says
    when no recommended (user, item) is held out. Returns a frame indexed by user.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    _check_pair_frames(recommendations, held_out, [user_col, item_col], rank_col, None, ("recommendations", "held_out"))
    ranks = _finite_numbers(recommendations, rank_col, "recommendations", "ranks must be finite numbers", user_col)
    pair = list(dict.fromkeys([user_col, item_col]))
    _check_unique_pairs(recommendations, pair, "recommendations", "give one rank per (user, item)")
    by_rank = pd.DataFrame({"user": recommendations[user_col], "rank": ranks})
    tied = by_rank.duplicated(["user", "rank"], keep=False).to_numpy()
    if tied.any():
        i = int(tied.argmax())
        user, rank = _plain(by_rank["user"].iat[i]), _plain(by_rank["rank"].iat[i])
        rows = [label_at(by_rank.index, r) for r in np.flatnonzero(
            tied & (by_rank["user"] == user).to_numpy() & (by_rank["rank"] == rank).to_numpy())]
        raise TagrankInputError(
            f"recommendations give user {user!r} rank {rank:g} twice (rows {rows}): each of a user's items needs its own rank"
        )
    frame = pd.DataFrame({"qid": recommendations[user_col], "item": recommendations[item_col], "score": -ranks.to_numpy()})
    qrels = _qrels(held_out.drop_duplicates([user_col, item_col]), user_col, item_col, None)
    _warn_if_nothing_judged(frame, qrels, "user", ("recommendations", "held_out"))
    return per_query_ranking_metrics(frame, qrels, metrics, 1.0, on_missing_query="zero")
