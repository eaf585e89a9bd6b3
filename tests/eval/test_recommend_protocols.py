"""The recommend task's two protocols: temporal and per-user stratified random 75/25."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tagrank.eval.splits import TEST, TRAIN, random_user_split
from tagrank.eval.tasks.recommend import PROTOCOLS, RANK_METRICS, protocol_splits


def positives() -> pd.DataFrame:
    """u1: 8 positives, u2: 12, u3: 4 (kept whole in train), one row per (user, item)."""
    rows = [("u1", f"m{i}", 10 + i) for i in range(8)] + [("u2", f"m{i}", 50 + i) for i in range(12)]
    rows += [("u3", f"m{i}", 90 + i) for i in range(4)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_random_split_is_per_user_75_25_by_hand():
    pos = positives()
    split = random_user_split(pos, random_state=0)
    assert list(split.index) == list(pos.index) and set(split) <= {TRAIN, TEST}
    n_test = pos[split == TEST].groupby("user_id").size().to_dict()
    # u1: floor(0.25 * 8 + 0.5) = 2; u2: floor(3 + 0.5) = 3; u3: 4 < 5 positives -> none
    assert n_test == {"u1": 2, "u2": 3}
    assert (split[pos["user_id"] == "u3"] == TRAIN).all()
    # seeded: the same draw again, another seed draws other items
    assert split.equals(random_user_split(pos, random_state=0))
    assert any(not random_user_split(pos, random_state=s).equals(split) for s in range(1, 5))


def test_random_protocol_keeps_every_user_item_on_one_side():
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"m{i}", int(t)) for u in range(30)
            for t, i in enumerate(rng.choice(60, size=int(rng.integers(3, 25)), replace=False))]
    pos = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    train, test, inner_train, inner_valid = protocol_splits(pos, "random", random_state=0)
    pairs = lambda f: set(zip(f["user_id"], f["item_id"], strict=True))  # noqa: E731
    assert not pairs(train) & pairs(test)
    assert pairs(train) | pairs(test) == pairs(pos)
    assert not pairs(inner_train) & pairs(inner_valid)
    assert pairs(inner_train) | pairs(inner_valid) == pairs(train)
    # every user with >= 5 positives has about a quarter in test, not by time
    sizes = pos.groupby("user_id").size()
    got = test.groupby("user_id").size()
    for user, n in sizes.items():
        expected = max(1, int(np.floor(0.25 * n + 0.5))) if n >= 5 else 0
        assert got.get(user, 0) == expected


def test_protocols_and_metrics():
    assert PROTOCOLS == ("temporal", "random")
    assert {"ndcg@10", "precision@10", "recall@10", "map@10"} <= set(RANK_METRICS)
    train, test, _, _ = protocol_splits(positives(), "temporal")
    assert sorted(test[test["user_id"] == "u1"]["item_id"]) == ["m7"]  # the last floor(0.2 * 8) = 1 by time
