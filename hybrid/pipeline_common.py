"""Helpers the pipelines share: cloning and fitting scorers, the temporal split, top-k lists
from scored frames, and saving / loading the scorers a pipeline holds."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.validation import (
    TagrankInputError,
    check_columns,
)


#: modules ``load`` may import a saved scorer class from
_LOADABLE_MODULES = ("baselines.", "hybrid.", "tagrank.baselines.", "tagrank.hybrid.")


# --------------------------------------------------------------------------- helpers


def clone(est: Any) -> Any:
    """An unfitted copy with the same constructor parameters (nested estimators cloned too).

    Parameters are read from the attributes named like ``__init__``'s
    arguments (the scikit-learn convention every tagrank estimator follows).
    """
    if isinstance(est, list | tuple):
        return type(est)(clone(e) for e in est)
    if not hasattr(est, "fit") or isinstance(est, type):
        return est
    sig = inspect.signature(type(est).__init__)
    kwargs = {}
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not hasattr(est, name):
            if p.default is p.empty:
                raise TagrankInputError(f"cannot clone {type(est).__name__}: it does not store parameter {name!r}")
            continue
        value = getattr(est, name)
        kwargs[name] = clone(value) if hasattr(value, "fit") and not isinstance(value, type) else value
    return type(est)(**kwargs)


def fit_recommender(est: Any, interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> Any:
    """``est.fit(interactions, items)`` when ``fit`` takes items (content recommenders), else ``fit(interactions)``."""
    params = inspect.signature(est.fit).parameters
    if "items" in params:
        return est.fit(interactions, items=items)
    return est.fit(interactions)


def temporal_user_split(
    interactions: pd.DataFrame, fraction: float = 0.2, min_positives: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier, later): per user with >= ``min_positives`` rows, the last ``max(1, floor(fraction n))``.

    Rows are ordered by (timestamp, item id as text) when there is a
    ``timestamp`` column, else by position; the benchmark's split rule.
    """
    check_columns(interactions, ["user_id", "item_id"], "interactions")
    if not 0 < fraction < 1:
        raise TagrankInputError(f"fraction must be in (0, 1), got {fraction!r}")
    n_rows = len(interactions)
    frame = pd.DataFrame({
        "u": interactions["user_id"].to_numpy(),
        "t": (to_seconds(interactions["timestamp"], "interactions.timestamp") if "timestamp" in interactions.columns
              else np.arange(n_rows)),
        "i": interactions["item_id"].astype(str).to_numpy(),
        "pos": np.arange(n_rows),
    }).sort_values(["u", "t", "i", "pos"], kind="mergesort")
    n = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    late = (n >= min_positives) & (from_end < np.maximum(1, np.floor(fraction * n)).astype(int))
    is_late = np.zeros(n_rows, dtype=bool)
    is_late[frame["pos"].to_numpy()] = late
    return interactions[~is_late].reset_index(drop=True), interactions[is_late].reset_index(drop=True)


def _known_to_all(users: list, generators: Mapping[str, Any]) -> list:
    out = users
    for est in generators.values():
        index = getattr(est, "user_index_", None)
        if index is not None:
            out = [u for u in out if u in index]
    return out


def _provenance_cols(frame: pd.DataFrame | Mapping[str, Any]) -> list[str]:
    """The candidate-provenance columns (``src.*``, ``srank.*``, ``n_sources``) of a frame or column mapping."""
    return [c for c in frame if c.startswith(("src.", "srank.")) or c == "n_sources"]


def top_lists(
    frame: pd.DataFrame, queries: list, query_col: str, candidate_col: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids [n, k], scores [n, k]) from a scored frame; order score desc, then row order; None / -inf pad."""
    n = len(queries)
    ids = np.full((n, k), None, dtype=object)
    scores = np.full((n, k), -np.inf)
    if len(frame) == 0 or n == 0:
        return ids, scores
    codes, uniques = pd.factorize(pd.Series(queries, dtype=object), sort=False)
    lookup = {q: c for c, q in enumerate(uniques)}
    fq = frame[query_col].map(lookup)
    keep = fq.notna().to_numpy()
    fq = fq.to_numpy()[keep].astype(np.int64)
    s = frame["score"].to_numpy(np.float64)[keep]
    cands = frame[candidate_col].to_numpy(dtype=object)[keep]
    order = np.lexsort((np.arange(len(s)), -s, fq))
    fq, s, cands = fq[order], s[order], cands[order]
    starts = np.flatnonzero(np.r_[True, fq[1:] != fq[:-1]])
    rank = np.arange(len(fq)) - np.repeat(starts, np.diff(np.r_[starts, len(fq)]))
    top = rank < k
    block_ids = np.full((len(uniques), k), None, dtype=object)
    block_scores = np.full((len(uniques), k), -np.inf)
    block_ids[fq[top], rank[top]] = cands[top]
    block_scores[fq[top], rank[top]] = s[top]
    return block_ids[codes], block_scores[codes]


def _class_path(est: Any) -> str:
    return f"{type(est).__module__}:{type(est).__qualname__}"


def _load_class(path: str) -> Any:
    module, _, name = path.partition(":")
    if not module.startswith(_LOADABLE_MODULES):
        raise TagrankInputError(f"refusing to import {path!r}: saved scorers must come from tagrank's own modules")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _save_scorers(path: Path, scorers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Save every scorer that can be saved under ``path/<name>``; returns their (ordered) descriptions."""
    info = []
    for name, est in scorers.items():
        saved = hasattr(est, "save") and hasattr(type(est), "load")
        if saved:
            est.save(path / name)
        info.append({"name": name, "class": _class_path(est), "saved": bool(saved)})
    return info


def _load_scorers(
    path: Path, info: list[dict[str, Any]], given: Mapping[str, Any] | None, what: str
) -> dict[str, Any]:
    names = [meta["name"] for meta in info]
    if given is not None:
        missing = [n for n in names if n not in given]
        if missing:
            raise TagrankInputError(f"{what} {missing} are needed by the saved pipeline but were not given")
        return {n: given[n] for n in names}
    out = {}
    for meta in info:
        name = meta["name"]
        if not meta["saved"]:
            raise TagrankInputError(
                f"{what[:-1]} {name!r} ({meta['class']}) has no save(); pass the fitted objects as {what}="
            )
        out[name] = _load_class(meta["class"]).load(path / name)
    return out


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    from tagrank.hybrid.persistence import jsonable

    out = {}
    for key, value in params.items():
        try:
            out[key] = jsonable(value)
        except TagrankInputError:
            out[key] = repr(value)
    return out


# --------------------------------------------------------------------------- the rankers' recipe


#: where a pipeline ranker's early-stopping hold-out has fewer than the guard's MIN_DIRECT_UNITS units (its
#: own bar for judging on a hold-out directly), the ranker is a cross-fitted ensemble over this many folds of
#: its queries or users (HybridRanker's ``n_folds``): every unit trains, and each one is held out once
RANKER_FOLDS = 5


def ranker_folds(n_held_out: int) -> int | None:
    """``n_folds`` of a pipeline's ranker whose early-stopping hold-out has ``n_held_out`` informative units:
    ``RANKER_FOLDS`` below ``MIN_DIRECT_UNITS`` (too few to pick the number of trees, and they cost their
    training rows), else None (one ranker early-stopped on the hold-out)."""
    from tagrank.hybrid.guard import MIN_DIRECT_UNITS

    return RANKER_FOLDS if int(n_held_out) < MIN_DIRECT_UNITS else None
