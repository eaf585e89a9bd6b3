"""Per-user random hold-out (the random recommend protocol's rule) and the inner-split resolver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.pipelines import temporal_user_split
from tagrank.hybrid.user_splits import describe_split, inner_user_split, random_holdout, random_user_split


def tiny() -> pd.DataFrame:
    """a: 8 distinct items (+ one repeat of a/3), b: 5, c: 4 (too few to hold anything out)."""
    rows = [("a", i, 100 + i) for i in range(8)] + [("b", i, 200 + i) for i in range(5)]
    rows += [("c", i, 300 + i) for i in range(4)] + [("a", 3, 999)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def reference_holdout(frame: pd.DataFrame, fraction: float, min_positives: int, seed: int) -> set:
    """The rule written out plainly: one uniform key per distinct (user, item) in (user, item-as-text)
    order, each user's smallest keys held out, max(1, floor(fraction n + 0.5)) of them."""
    pairs = sorted({(str(u), str(i)) for u, i in zip(frame["user_id"], frame["item_id"], strict=True)})
    keys = np.random.default_rng(seed).random(len(pairs))
    held = set()
    for user in sorted({u for u, _ in pairs}):
        mine = [(keys[j], p) for j, p in enumerate(pairs) if p[0] == user]
        if len(mine) >= min_positives:
            n_held = max(1, int(np.floor(fraction * len(mine) + 0.5)))
            held |= {p for _, p in sorted(mine)[:n_held]}
    return held


def test_random_holdout_per_user_counts_by_hand():
    frame = tiny()
    mask = random_holdout(frame, 0.25, 5, random_state=0)
    held = frame[mask]
    # a: 8 items -> floor(2 + 0.5) = 2 held; b: 5 -> floor(1.25 + 0.5) = 1; c: 4 < 5 -> none
    assert held.groupby("user_id")["item_id"].nunique().to_dict() == {"a": 2, "b": 1}
    # a repeated (user, item) stays on one side: no item is in both parts of a user
    kept = frame[~mask]
    both = set(zip(kept["user_id"], kept["item_id"], strict=True)) & set(zip(held["user_id"], held["item_id"], strict=True))
    assert not both


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_random_holdout_matches_reference(seed):
    frame = tiny()
    mask = random_holdout(frame, 0.25, 5, random_state=seed)
    got = {(str(u), str(i)) for u, i in zip(frame["user_id"][mask], frame["item_id"][mask], strict=True)}
    assert got == reference_holdout(frame, 0.25, 5, seed)


def test_random_holdout_seeded_and_row_order_free():
    frame = tiny()
    a = random_holdout(frame, 0.25, 5, random_state=3)
    assert np.array_equal(a, random_holdout(frame, 0.25, 5, random_state=3))
    shuffled = frame.sample(frac=1.0, random_state=11)
    b = random_holdout(shuffled, 0.25, 5, random_state=3)
    assert set(shuffled.index[b]) == set(frame.index[a])
    seeds = {tuple(random_holdout(frame, 0.25, 5, random_state=s)) for s in range(6)}
    assert len(seeds) > 1  # the seed matters


def test_random_user_split_is_a_partition_and_leaves_input():
    frame = tiny()
    before = frame.copy()
    kept, held = random_user_split(frame, 0.25, 5, 0)
    assert len(kept) + len(held) == len(frame)
    pd.testing.assert_frame_equal(frame, before)
    with pytest.raises(TagrankInputError, match="fraction"):
        random_holdout(frame, 1.5)


def test_inner_user_split_kinds():
    frame = tiny()
    t = inner_user_split(frame, "temporal", 0.25, 5, 0)
    ref = temporal_user_split(frame, 0.25, 5)
    pd.testing.assert_frame_equal(t[1], ref[1])
    r = inner_user_split(frame, "random", 0.25, 5, 0)
    pd.testing.assert_frame_equal(r[1], random_user_split(frame, 0.25, 5, 0)[1])

    def by_item(interactions):
        odd = interactions["item_id"] % 2 == 1
        return interactions[~odd], interactions[odd]

    c = inner_user_split(frame, by_item, 0.25, 5, 0)
    assert set(c[1]["item_id"]) == {1, 3, 5, 7}
    mask = (frame["user_id"] == "b").to_numpy()
    m = inner_user_split(frame, mask, 0.25, 5, 0)
    assert set(m[1]["user_id"]) == {"b"} and len(m[0]) == len(frame) - 5
    assert describe_split("random") == "random"
    assert describe_split(by_item).startswith("callable:") and describe_split(mask) == "mask"
    with pytest.raises(TagrankInputError, match="inner_split"):
        inner_user_split(frame, "weekly", 0.25, 5, 0)
    with pytest.raises(TagrankInputError, match="boolean"):
        inner_user_split(frame, np.ones(3, dtype=bool), 0.25, 5, 0)
    with pytest.raises(TagrankInputError, match="pair of DataFrames"):
        inner_user_split(frame, lambda f: f, 0.25, 5, 0)


def test_a_mask_series_is_read_by_its_labels_not_its_positions():
    frame = tiny().sample(frac=1.0, random_state=0)  # shuffled index labels, as after a user's own filtering
    by_time = frame.sort_values("timestamp")  # a Series built on a reordered copy: same labels, other order
    mask = by_time.groupby("user_id").cumcount(ascending=False) < 1  # each user's last interaction
    train, valid = inner_user_split(frame, mask, 0.2, 1, 0)
    want = frame[mask.reindex(frame.index).to_numpy()]
    assert sorted(valid["timestamp"]) == sorted(want["timestamp"]) == [204, 303, 999]
    assert len(train) + len(valid) == len(frame)
    # labels that are not the interactions' own: an error, never a positional read
    with pytest.raises(TagrankInputError, match="index labels"):
        inner_user_split(frame, pd.Series(mask.to_numpy(), index=np.arange(len(frame)) + 100), 0.2, 1, 0)
    with pytest.raises(TagrankInputError, match="index labels"):
        inner_user_split(frame, pd.concat([mask, mask.iloc[:1]]), 0.2, 1, 0)


def test_a_split_function_that_changes_its_argument_leaves_the_callers_frame_alone():
    frame = tiny()
    before = frame.copy()

    def rude(f):
        f["user_id"] = "x"  # a user's function that writes into what it is given
        return f.iloc[:10], f.iloc[10:]

    inner_user_split(frame, rude, 0.2, 1, 0)
    pd.testing.assert_frame_equal(frame, before)
