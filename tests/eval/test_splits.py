"""Fixed hash splits and the per-user temporal split of the spec."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.splits import bucket, hash_split, split_of_bucket, temporal_user_split


def test_bucket_matches_spec_formula_computed_independently():
    # The spec: int(sha1(key).hexdigest(), 16) % 100; here via the raw digest bytes.
    for key in ["angle bracket", "love\tsex", "小心谨慎\t谨慎小心", ""]:
        expected = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest(), "big") % 100
        assert bucket(key) == expected


def test_split_boundaries():
    assert [split_of_bucket(b) for b in (0, 69, 70, 79, 80, 99)] == [
        "train", "train", "valid", "valid", "test", "test",
    ]


def test_hash_split_is_independent_of_row_order_and_roughly_70_10_20():
    keys = [f"query {i}" for i in range(5000)]
    forward = dict(zip(keys, hash_split(keys), strict=True))
    shuffled = list(np.random.default_rng(0).permutation(keys))
    backward = dict(zip(shuffled, hash_split(shuffled), strict=True))
    assert forward == backward
    share = pd.Series(list(forward.values())).value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.03 and abs(share["valid"] - 0.1) < 0.02 and abs(share["test"] - 0.2) < 0.03


def test_bucket_rejects_non_string():
    with pytest.raises(TagrankInputError, match="str"):
        bucket(3)


def test_temporal_split_by_hand():
    # user a: 6 positives -> last floor(0.2*6)=1 by (time, item) is test: time 6 -> "f".
    # user b: 10 positives -> last 2 are test: items at times 9, 10 ("j", "k").
    # user c: 4 positives (< 5) -> all train.
    # user d: 5 positives with a time tie at the end: (5,"y") and (5,"z") -> (5,"z") is last -> test.
    rows = [("a", t, it) for t, it in zip(range(1, 7), "abcdef", strict=True)]
    rows += [("b", t, it) for t, it in zip(range(1, 11), "bcdefghijk", strict=True)]
    rows += [("c", t, it) for t, it in zip(range(1, 5), "abcd", strict=True)]
    rows += [("d", 1, "v"), ("d", 2, "w"), ("d", 3, "x"), ("d", 5, "z"), ("d", 5, "y")]
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id"])
    shuffled = frame.sample(frac=1.0, random_state=3)
    original = shuffled.copy()
    split = temporal_user_split(shuffled)
    pd.testing.assert_frame_equal(shuffled, original)  # input not mutated
    test = shuffled[split == "test"]
    got = sorted(zip(test["user_id"], test["item_id"], strict=True))
    assert got == [("a", "f"), ("b", "j"), ("b", "k"), ("d", "z")]


def test_temporal_split_rejects_missing_columns():
    with pytest.raises(TagrankInputError, match="timestamp"):
        temporal_user_split(pd.DataFrame({"user_id": [1], "item_id": [2]}))
