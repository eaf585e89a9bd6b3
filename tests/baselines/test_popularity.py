"""PopularityScorer: the shared suite plus counting and time decay by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.popularity import PopularityScorer
from tagrank.baselines.validation import TagrankInputError
from tests.baselines.interaction_suite import InteractionScorerSuite

DAY = 86400


class TestPopularitySuite(InteractionScorerSuite):
    deterministic_attrs = ("popularity_",)

    def make_scorer(self):
        return PopularityScorer()


class TestPopularityDecayedWeightedSuite(InteractionScorerSuite):
    deterministic_attrs = ("popularity_",)

    def make_scorer(self):
        return PopularityScorer(half_life_days=1.0, weight_col="rating")


@pytest.fixture
def toy():
    return pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 3, 3],
            "item_id": ["a", "a", "b", "b", "b", "c"],
            "timestamp": [0, 2 * DAY, 0, 2 * DAY, 2 * DAY, DAY],
            "w": [1.0, 2.0, 3.0, 0.5, 1.0, 4.0],
        }
    )


def test_distinct_users(toy):
    s = PopularityScorer().fit(toy)
    # a: user 1 twice -> 1; b: users 1, 2, 3 -> 3; c: 1
    np.testing.assert_array_equal(s.score_user_items([1, 1, 1], ["a", "b", "c"]), [1, 3, 1])
    ids, scores = s.recommend([2], k=3)
    assert list(ids[0]) == ["a", "c", None]  # tie a/c broken by first appearance
    np.testing.assert_array_equal(scores[0], [1, 1, -np.inf])
    ids, _ = s.similar_items(["b"], k=5)
    assert list(ids[0]) == ["a", "c"]


def test_weighted(toy):
    s = PopularityScorer(weight_col="w").fit(toy)
    np.testing.assert_allclose(s.score_user_items([1, 1, 1], ["a", "b", "c"]), [3.0, 4.5, 4.0])
    ids, _ = s.recommend([1], k=1, exclude_seen=False)
    assert ids[0, 0] == "b"


def test_time_decay_by_hand(toy):
    # latest timestamp = 2 days; half-life 1 day: age 0 -> 1, age 1 day -> 0.5, age 2 days -> 0.25
    s = PopularityScorer(half_life_days=1).fit(toy)
    # a: user 1, most recent (age 0) -> 1; b: user1 age 2 (0.25) + user2 + user3 -> 2.25; c: 0.5
    np.testing.assert_allclose(s.popularity_, [1.0, 2.25, 0.5])
    s = PopularityScorer(half_life_days=1, weight_col="w").fit(toy)
    np.testing.assert_allclose(s.popularity_, [0.25 + 2.0, 0.75 + 0.5 + 1.0, 2.0])


def test_datetime_timestamps(toy):
    frame = toy.assign(timestamp=pd.to_datetime(toy["timestamp"], unit="s", utc=True))
    a = PopularityScorer(half_life_days=1).fit(frame).popularity_
    np.testing.assert_allclose(a, [1.0, 2.25, 0.5])


def test_bad_params(toy):
    with pytest.raises(TagrankInputError, match="half_life_days"):
        PopularityScorer(half_life_days=0).fit(toy)
    with pytest.raises(TagrankInputError, match="timestamp"):
        PopularityScorer(half_life_days=1).fit(toy.drop(columns=["timestamp"]))
    with pytest.raises(TagrankInputError, match="weight_col"):
        PopularityScorer(weight_col="nope").fit(toy)
    with pytest.raises(TagrankInputError, match="negative"):
        PopularityScorer(weight_col="w").fit(toy.assign(w=-1.0))
    with pytest.raises(TagrankInputError, match="not finite"):
        PopularityScorer(weight_col="w").fit(toy.assign(w=np.nan))
