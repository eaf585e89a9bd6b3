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


def test_a_boolean_mask_is_a_split_and_bad_masks_are_clear_errors():
    import numpy as np

    ev, items = tag_events()
    mask = random_holdout(ev, 0.2, 5, 3)
    by_mask = TagRecommender(n_candidates=10, ranker_params=PARAMS, inner_split=mask).fit(ev, items)
    by_rule = TagRecommender(n_candidates=10, ranker_params=PARAMS, inner_split="random", random_state=3).fit(ev, items)
    assert by_mask.inner_split_ == "mask"
    assert by_mask.recommend(["u0", "u4"], ["m1", "m2"], k=3)[0].tolist() == \
        by_rule.recommend(["u0", "u4"], ["m1", "m2"], k=3)[0].tolist()
    with pytest.raises(TagrankInputError, match="boolean array"):
        TagRecommender(inner_split=np.ones(3, dtype=bool)).fit(ev, items)
    with pytest.raises(TagrankInputError, match="held out every event"):
        TagRecommender(inner_split=np.ones(len(ev), dtype=bool)).fit(ev, items)  # nothing left to fit signals on
    with pytest.raises(TagrankInputError, match="holds out no event"):
        TagRecommender(inner_split=np.zeros(len(ev), dtype=bool)).fit(ev, items)


def test_recommend_reads_iterators_once_and_a_string_exclude_is_one_tag():
    ev, items = tag_events()
    t = TagRecommender(n_candidates=10, ranker_params=PARAMS).fit(ev, items)
    want = t.recommend(["u0"], ["m1"], k=3)[0]
    got = t.recommend(iter(["u0"]), (m for m in ["m1"]), k=3)[0]
    assert got.tolist() == want.tolist()
    assert t.recommend_ablation(iter(["u0"]), iter(["m1"]), k=3)[None][0].tolist() == want.tolist()
    top = want[0][0]
    as_string = t.recommend(["u0"], ["m1"], k=3, exclude=[top])[0][0].tolist()
    as_set = t.recommend(["u0"], ["m1"], k=3, exclude=[{top}])[0][0].tolist()
    assert as_string == as_set and top not in as_string
    with pytest.raises(TagrankInputError, match="one set of tags per"):
        t.recommend(["u0"], ["m1"], k=3, exclude=top)


def test_items_with_a_repeated_or_missing_id_are_refused():
    import pandas as pd

    ev, items = tag_events()
    repeated = pd.concat([items, items.iloc[[0]].assign(text="garden hose reel")], ignore_index=True)
    with pytest.raises(TagrankInputError, match=r"items.item_id\[\d+\] = .* is repeated"):
        TagRecommender(n_candidates=10, ranker_params=PARAMS).fit(ev, repeated)
    missing = items.copy()
    missing.loc[0, "item_id"] = None
    with pytest.raises(TagrankInputError, match=r"items.item_id\[0\] is missing"):
        TagRecommender(n_candidates=10, ranker_params=PARAMS).fit(ev, missing)


@pytest.mark.parametrize("param, value", [
    ("holdout_fraction", "abc"), ("holdout_fraction", None), ("min_events", 2.7), ("min_events", "5"),
    ("n_candidates", 0), ("guard", "no"), ("random_state", None),
])
def test_bad_parameters_fail_at_fit_naming_them(param, value):
    ev, items = tag_events()
    with pytest.raises(TagrankInputError, match=param):
        TagRecommender(**{param: value}).fit(ev, items)


def test_a_bare_string_of_ids_is_refused():
    ev, items = tag_events()
    t = TagRecommender(n_candidates=10, ranker_params=PARAMS).fit(ev, items)
    with pytest.raises(TagrankInputError, match="user_ids must be a sequence of ids, got a single string"):
        t.recommend("u0", ["m1"], k=3)
    with pytest.raises(TagrankInputError, match="item_ids must be a sequence of ids"):
        t.suggest(["u0"], "m1", k=3)
