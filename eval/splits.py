"""The fixed splits of the benchmark spec: hash buckets, the per-user temporal split and the per-user random split.

Hash splits depend only on the key, never on row order or a seed:
``bucket(key) = int(sha1(key).hexdigest(), 16) % 100``; train < 70, valid 70..79, test >= 80.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.validation import TagrankInputError, check_columns

TRAIN, VALID, TEST = "train", "valid", "test"


def bucket(key: str) -> int:
    """The spec's bucket of one key, 0..99."""
    if not isinstance(key, str):
        raise TagrankInputError(f"split key must be a str, got {type(key).__name__} {key!r}")
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 100


def split_of_bucket(b: int) -> str:
    """train: bucket < 70, valid: 70..79, test: >= 80."""
    return TRAIN if b < 70 else VALID if b < 80 else TEST


def hash_split(keys: Iterable[str]) -> np.ndarray:
    """The split name of every key (array of 'train' / 'valid' / 'test')."""
    cache: dict[str, str] = {}
    out = []
    for key in keys:
        name = cache.get(key)
        if name is None:
            name = cache[key] = split_of_bucket(bucket(key))
        out.append(name)
    return np.asarray(out, dtype=object)


def temporal_user_split(
    positives: pd.DataFrame,
    test_fraction: float = 0.2,
    min_positives: int = 5,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
) -> pd.Series:
    """Per-user temporal split of the spec's recommend/tagrec tasks.

    For each user with >= ``min_positives`` rows, rows are ordered by (time, item id)
    and the last ``max(1, floor(test_fraction * n))`` are 'test'; everything else is
    'train'. Returns a Series of split names aligned with ``positives.index``.
    """
    check_columns(positives, [user_col, item_col, time_col], "positives")
    if not 0 < test_fraction < 1:
        raise TagrankInputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    frame = pd.DataFrame(
        {
            "u": positives[user_col].to_numpy(),
            "t": to_seconds(positives[time_col], f"positives.{time_col}"),
            "i": positives[item_col].astype(str).to_numpy(),
            "pos": np.arange(len(positives)),
        }
    )
    frame = frame.sort_values(["u", "t", "i", "pos"], kind="mergesort")
    n = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    rank_from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    n_test = np.maximum(1, np.floor(test_fraction * n)).astype(int)
    is_test = (n >= min_positives) & (rank_from_end < n_test)
    out = np.empty(len(positives), dtype=object)
    out[frame["pos"].to_numpy()] = np.where(is_test, TEST, TRAIN)
    return pd.Series(out, index=positives.index, name="split")


def random_user_split(
    positives: pd.DataFrame,
    test_fraction: float = 0.25,
    min_positives: int = 5,
    random_state: int = 0,
    user_col: str = "user_id",
    item_col: str = "item_id",
) -> pd.Series:
    """Per-user stratified random split of the recommend task's ``random`` protocol.

    Each user with >= ``min_positives`` distinct items has ``max(1, floor(test_fraction n + 0.5))``
    of them, drawn uniformly with ``random_state``, in 'test' (75/25 by default); the rest,
    and every row of smaller users, is 'train' (rule: :func:`hybrid.user_splits.random_holdout`).
    Returns a Series of split names aligned with ``positives.index``.
    """
    from tagrank.hybrid.user_splits import random_holdout

    check_columns(positives, [user_col, item_col], "positives")
    frame = pd.DataFrame({"user_id": positives[user_col].to_numpy(), "item_id": positives[item_col].to_numpy()})
    held = random_holdout(frame, test_fraction, min_positives, random_state)
    return pd.Series(np.where(held, TEST, TRAIN).astype(object), index=positives.index, name="split")
