"""TagRecommender's inner_split: temporal (the tagrec protocol, default) or random (whole units, seeded)."""

from __future__ import annotations

import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.tag_recommender import TagRecommender
from tagrank.hybrid.user_splits import random_holdout
from tests.hybrid.test_taxonomy import tag_events

PARAMS = {"min_child_samples": 2, "n_estimators": 40}


def test_default_is_temporal_and_random_is_recorded_and_seeded():
    ev, items = tag_events()
    assert TagRecommender().inner_split == "temporal"
    t = TagRecommender(n_candidates=10, ranker_params=PARAMS).fit(ev, items)
    assert t.inner_split_ == "temporal" and t.results_params()["inner_split"] == "temporal"
    a = TagRecommender(n_candidates=10, ranker_params=PARAMS, inner_split="random", random_state=1).fit(ev, items)
    b = TagRecommender(n_candidates=10, ranker_params=PARAMS, inner_split="random", random_state=1).fit(ev, items)
    assert a.inner_split_ == "random"
    assert a.recommend(["u0", "u4"], ["m1", "m2"], k=3)[0].tolist() == b.recommend(["u0", "u4"], ["m1", "m2"], k=3)[0].tolist()
    # a held-out (user, item) unit keeps all its tags on one side
    held = random_holdout(ev, 0.2, 5, 1)
    side = ev.assign(held=held).groupby(["user_id", "item_id"])["held"].nunique()
    assert (side == 1).all()
    with pytest.raises(TagrankInputError, match="inner_split"):
        TagRecommender(inner_split="weekly").fit(ev, items)
