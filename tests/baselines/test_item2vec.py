"""Item2VecScorer: the shared suite, determinism, sequences, min_count, co-occurrence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.interactions import user_sequences
from tagrank.baselines.item2vec import Item2VecScorer, stable_hash
from tagrank.baselines.validation import TagrankInputError
from tests.baselines.interaction_suite import InteractionScorerSuite


def small_i2v(**kw):
    params = dict(vector_size=8, epochs=5, negative=3, random_state=0, device="cpu")
    params.update(kw)
    return Item2VecScorer(**params)


class TestItem2VecSuite(InteractionScorerSuite):
    deterministic_attrs = ("item_vectors_", "user_vectors_")

    def make_scorer(self):
        return small_i2v()


class TestItem2VecRecencySuite(InteractionScorerSuite):
    deterministic_attrs = ("item_vectors_", "user_vectors_")

    def make_scorer(self):
        return small_i2v(recency_half_life=2.0, window=None, sg=0)


def test_stable_hash_is_fixed():
    assert stable_hash("abc") == 891568578  # zlib.crc32, independent of PYTHONHASHSEED


def test_two_fits_identical_and_seed_matters():
    frame = block_frame()
    a = small_i2v().fit(frame)
    b = small_i2v().fit(frame)
    np.testing.assert_array_equal(a.item_vectors_, b.item_vectors_)
    c = small_i2v(random_state=1).fit(frame)
    assert not np.array_equal(a.item_vectors_, c.item_vectors_)


def test_sequences_ordered_by_time_then_item_id():
    frame = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "v", "u"],
            "item_id": [30, 10, 20, 10, 5],
            "timestamp": [5, 5, 1, 0, 9],
        }
    )
    users = pd.Index(pd.unique(frame["user_id"]))
    items = pd.Index(pd.unique(frame["item_id"]))
    seqs = user_sequences(
        frame, users.get_indexer(frame["user_id"]), items.get_indexer(frame["item_id"]), 2, items.to_numpy(object)
    )
    assert [items[r] for r in seqs[0]] == [20, 10, 30, 5]
    assert [items[r] for r in seqs[1]] == [10]
    # no timestamp: frame order
    seqs = user_sequences(
        frame.drop(columns="timestamp"), users.get_indexer(frame["user_id"]), items.get_indexer(frame["item_id"]),
        2, items.to_numpy(object),
    )
    assert [items[r] for r in seqs[0]] == [30, 10, 20, 5]


def block_frame(n_users: int = 40) -> pd.DataFrame:
    """Two item communities; every user consumes 4 items of one community in random order."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        community = ["a0", "a1", "a2", "a3", "a4"] if u % 2 == 0 else ["b0", "b1", "b2", "b3", "b4"]
        for t, item in enumerate(rng.permutation(community)[:4]):
            rows.append((u, str(item), t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_neighbours_come_from_the_same_community():
    s = small_i2v(vector_size=16, epochs=30, window=5, sample=0.0).fit(block_frame())
    sim, _ = s.similar_items(["a0", "b0"], k=3)
    assert all(x.startswith("a") for x in sim[0])
    assert all(x.startswith("b") for x in sim[1])
    # a user of community a who has not seen one a-item gets it first
    frame = block_frame()
    user = 0
    missing = {"a0", "a1", "a2", "a3", "a4"} - set(frame.loc[frame.user_id == user, "item_id"])
    ids, _ = s.recommend([user], k=1)
    assert ids[0, 0] in missing


def test_items_under_min_count_get_zero_vectors():
    frame = block_frame()
    frame = pd.concat([frame, pd.DataFrame({"user_id": [0], "item_id": ["rare"], "timestamp": [99]})])
    s = small_i2v(min_count=2).fit(frame)
    row = s.item_index_["rare"]
    assert not s.in_vocab_[row] and s.in_vocab_.sum() == len(s.item_ids_) - 1
    assert not s.item_vectors_[row].any()
    assert s.score_user_items([1, 2], ["rare", "rare"]).tolist() == [0.0, 0.0]
    _, scores = s.similar_items(["rare"], k=3)
    assert np.all(scores == 0)
    with pytest.raises(TagrankInputError, match="min_count"):
        small_i2v(min_count=10_000).fit(frame)


def test_user_vector_is_mean_of_unit_item_vectors():
    frame = block_frame()
    s = small_i2v().fit(frame)
    hist = frame.loc[frame.user_id == 3].sort_values(["timestamp", "item_id"])["item_id"]
    unit = s.item_vectors_ / np.linalg.norm(s.item_vectors_, axis=1, keepdims=True)
    expected = unit[[s.item_index_[i] for i in hist]].mean(axis=0)
    np.testing.assert_allclose(s.user_vectors_[s.user_index_[3]], expected, rtol=1e-5, atol=1e-6)
    # recency weights: newest weighs 1, the one before 0.5, ...
    r = small_i2v(recency_half_life=1.0).fit(frame)
    w = 0.5 ** np.arange(len(hist) - 1, -1, -1)
    expected = (w[:, None] * unit[[s.item_index_[i] for i in hist]]).sum(axis=0) / w.sum()
    np.testing.assert_allclose(r.user_vectors_[r.user_index_[3]], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "params", [dict(vector_size=0), dict(window=0), dict(sg=2), dict(recency_half_life=-1), dict(epochs=0)]
)
def test_bad_params(params):
    with pytest.raises(TagrankInputError):
        small_i2v(**params).fit(block_frame())
