"""Per-user hold-out splits of interactions: random (stratified per user) and the inner-split resolver.

:func:`random_holdout` is the rule of the benchmark's ``random`` recommend
protocol (and of :class:`hybrid.pipelines.RecommendPipeline`'s
``inner_split="random"``): among each user's *distinct* items, a user with
>= ``min_positives`` of them has ``max(1, floor(fraction * n + 0.5))`` drawn
uniformly at random (seeded) held out; users with fewer keep everything.
Repeated rows of one (user, item) pair stay on one side, so no item is in both
parts of a user. The draw depends on the (user, item) pairs and the seed only,
not on the row order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.validation import TagrankInputError, check_columns

#: the named inner splits of the recommend pipeline
INNER_SPLITS = ("temporal", "random")


def random_holdout(
    interactions: pd.DataFrame, fraction: float = 0.25, min_positives: int = 5, random_state: int = 0
) -> np.ndarray:
    """Boolean mask over the rows: True = held out (see the module doc for the rule)."""
    check_columns(interactions, ["user_id", "item_id"], "interactions")
    if not 0 < fraction < 1:
        raise TagrankInputError(f"fraction must be in (0, 1), got {fraction!r}")
    if len(interactions) == 0:
        return np.zeros(0, dtype=bool)
    pairs = pd.DataFrame({
        "u": interactions["user_id"].astype(str).to_numpy(),
        "i": interactions["item_id"].astype(str).to_numpy(),
    })
    distinct = pairs.drop_duplicates().sort_values(["u", "i"], kind="mergesort").reset_index(drop=True)
    rng = np.random.default_rng(random_state)
    distinct["key"] = rng.random(len(distinct))
    n = distinct.groupby("u", sort=False)["i"].transform("size").to_numpy()
    rank = distinct.groupby("u", sort=False)["key"].rank(method="first").to_numpy() - 1
    n_held = np.maximum(1, np.floor(fraction * n + 0.5)).astype(int)
    distinct["held"] = (n >= min_positives) & (rank < n_held)
    held = pairs.merge(distinct[["u", "i", "held"]], on=["u", "i"], how="left", sort=False)["held"]
    return held.to_numpy(dtype=bool)


def random_user_split(
    interactions: pd.DataFrame, fraction: float = 0.25, min_positives: int = 5, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, held out) frames of :func:`random_holdout`, index reset."""
    held = random_holdout(interactions, fraction, min_positives, random_state)
    return interactions[~held].reset_index(drop=True), interactions[held].reset_index(drop=True)


def describe_split(split: Any) -> str:
    """How an ``inner_split`` value is recorded: its name, ``callable:<qualname>`` or ``mask``."""
    if isinstance(split, str):
        return split
    if callable(split):
        return f"callable:{getattr(split, '__qualname__', type(split).__name__)}"
    return "mask"


def inner_user_split(
    interactions: pd.DataFrame,
    split: str | Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]] | Any,
    fraction: float,
    min_positives: int,
    random_state: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(inner train, inner valid) of ``interactions`` by ``split``.

    ``"temporal"``: each user's last ``max(1, floor(fraction n))`` (by timestamp);
    ``"random"``: :func:`random_holdout` with ``fraction`` and ``random_state``;
    a callable ``f(interactions) -> (train, valid)``; or a boolean array-like
    aligned with the rows (True = valid).
    """
    if isinstance(split, str):
        if split == "temporal":
            from tagrank.hybrid.pipeline_common import temporal_user_split

            return temporal_user_split(interactions, fraction, min_positives)
        if split == "random":
            return random_user_split(interactions, fraction, min_positives, random_state)
        raise TagrankInputError(f"inner_split must be one of {INNER_SPLITS}, a callable or a boolean mask, got {split!r}")
    if callable(split):
        out = split(interactions.copy())  # the user's function may change its argument: never the caller's frame
        if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(f, pd.DataFrame) for f in out)):
            raise TagrankInputError("inner_split callable must return a (train, valid) pair of DataFrames")
        for name, frame in zip(("train", "valid"), out, strict=True):
            check_columns(frame, ["user_id", "item_id"], f"inner_split()[{name}]")
        return out
    mask = split_mask(split, interactions, "interactions")
    return interactions[~mask].reset_index(drop=True), interactions[mask].reset_index(drop=True)


def split_mask(split: Any, frame: pd.DataFrame, what: str) -> np.ndarray:
    """A user's held-out mask as a boolean array over ``frame``'s rows (True = held out).

    A pandas Series is read by its index labels, as pandas aligns it, never by position; an
    array-like by position."""
    if isinstance(split, pd.Series) and not split.index.equals(frame.index):
        if split.index.has_duplicates or not split.index.sort_values().equals(frame.index.sort_values()):
            raise TagrankInputError(
                f"inner_split as a pandas Series must carry the {what}' index labels, each once "
                f"(its index has {len(split)} labels, {int(split.index.isin(frame.index).sum())} of them "
                f"in {what}.index of {len(frame)}); pass a Series indexed like {what} or an array"
            )
        split = split.reindex(frame.index)
    mask = np.asarray(split)
    if mask.dtype != bool or mask.shape != (len(frame),):
        raise TagrankInputError(
            f"inner_split as a mask must be a boolean array of {len(frame)} entries (one per row of {what}), "
            f"got dtype {mask.dtype} and shape {mask.shape}"
        )
    return mask


__all__ = ["INNER_SPLITS", "describe_split", "inner_user_split", "random_holdout", "random_user_split", "split_mask"]
