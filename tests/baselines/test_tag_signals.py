"""Tag signals: hand-computed scores, ranking ties, exclusion, cold start and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.tag_signals import (
    ItemCooccurrenceScorer,
    TagPopularityScorer,
    UserHistoryScorer,
)
from tagrank.baselines.validation import NotFittedError, TagrankInputError

DAY = 86400


@pytest.fixture
def events() -> pd.DataFrame:
    # u1: a, a, b   u2: a, c   u3: b, c
    return pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3"],
        "item_id": ["i1", "i2", "i1", "i1", "i2", "i3", "i3"],
        "tag": ["a", "a", "b", "a", "c", "b", "c"],
        "timestamp": [0, DAY, 2 * DAY, 0, 0, 0, 2 * DAY],
    })


def test_popularity_counts_distinct_users(events):
    s = TagPopularityScorer().fit(events)
    assert list(s.tags_) == ["a", "b", "c"]
    # a: u1, u2 ; b: u1, u3 ; c: u2, u3  (u1's two "a" count once)
    np.testing.assert_allclose(s.score(["anyone"], ["anything"])[0], [2, 2, 2])


def test_user_history_by_hand(events):
    s = UserHistoryScorer().fit(events)
    np.testing.assert_allclose(s.score(["u1", "u2"], ["x", "x"]), [[2 / 3, 1 / 3, 0], [1 / 2, 0, 1 / 2]])
    raw = UserHistoryScorer(normalize=False).fit(events)
    np.testing.assert_allclose(raw.score(["u1"], ["i9"])[0], [2, 1, 0])
    # unknown user: cold start, zeros (not an error)
    np.testing.assert_allclose(s.score(["nobody"], ["i1"])[0], [0, 0, 0])


def test_user_history_decay_by_hand(events):
    s = UserHistoryScorer(normalize=False, half_life_days=1.0).fit(events)
    # newest event at 2 days: u1's a at 0 d (0.25) and 1 d (0.5); b at 2 d (1.0)
    np.testing.assert_allclose(s.score(["u1"], ["i1"])[0], [0.75, 1.0, 0.0])


def test_item_cooccurrence_by_hand(events):
    s = ItemCooccurrenceScorer(self_weight=1.0, cooccurrence_weight=0.0).fit(events)
    # i1: a by u1 and u2, b by u1 -> shares 2/3, 1/3
    np.testing.assert_allclose(s.score(["u9"], ["i1"])[0], [2 / 3, 1 / 3, 0])
    co = ItemCooccurrenceScorer(self_weight=0.0, cooccurrence_weight=1.0).fit(events)
    # item tag sets: i1 {a, b}, i2 {a, c}, i3 {b, c}
    # P(b|a) = 1/2 (i1 of i1, i2), P(c|a) = 1/2, P(a|b) = 1/2, P(c|b) = 1/2
    # i1: mean over s in {a, b}: a -> (0 + 1/2) / 2 = 1/4, b -> 1/4, c -> (1/2 + 1/2) / 2 = 1/2
    np.testing.assert_allclose(co.score(["u9"], ["i1"])[0], [0.25, 0.25, 0.5])
    both = ItemCooccurrenceScorer(self_weight=2.0, cooccurrence_weight=1.0).fit(events)
    np.testing.assert_allclose(both.score(["u9"], ["i1"])[0], [2 * 2 / 3 + 0.25, 2 / 3 + 0.25, 0.5])
    np.testing.assert_allclose(both.score(["u9"], ["unknown"])[0], [0, 0, 0])


def test_recommend_ties_by_popularity_and_exclude():
    ev = pd.DataFrame({
        "user_id": ["u1", "u2", "u3", "u2", "u1", "u1"],
        "item_id": ["i1", "i1", "i1", "i2", "i3", "i2"],
        "tag": ["rare", "pop", "pop", "mid", "mid", "pop"],
    })
    s = UserHistoryScorer().fit(ev)
    tags, scores = s.recommend(["u3", "zzz"], ["i1", "i1"], k=3)
    # u3 used only "pop"; then ties at 0 by popularity (pop: 3 users, mid: 2, rare: 1)
    assert tags[0].tolist() == ["pop", "mid", "rare"]
    # a cold user gets the popular tags
    assert tags[1].tolist() == ["pop", "mid", "rare"]
    assert scores[1].tolist() == [0, 0, 0]
    tags, scores = s.recommend(["u3"], ["i1"], k=3, exclude=[{"pop", "not-a-tag"}])
    assert tags[0].tolist() == ["mid", "rare", None]
    assert scores[0, 2] == -np.inf


def test_score_tags_aligned_and_unknown_tag(events):
    s = UserHistoryScorer(normalize=False).fit(events)
    out = s.score_tags(["u1", "u1", "u2", "u1"], ["i1", "i1", "i2", "i1"], ["a", "b", "c", "never"])
    np.testing.assert_allclose(out, [2, 1, 1, 0])
    assert list(s.features(["u1"], ["i1"], ["a"]).columns) == ["user_history"]


def test_fit_does_not_mutate_and_strips_tags(events):
    ev = events.assign(tag=[" a", "a ", "b", "a", "c", "b", "c"])
    before = ev.copy()
    s = UserHistoryScorer().fit(ev)
    pd.testing.assert_frame_equal(ev, before)
    assert list(s.tags_) == ["a", "b", "c"]


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}), "missing column"),
    (pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "tag": ["  "]}), r"tag\[0\] is empty or blank"),
    (pd.DataFrame({"user_id": [None], "item_id": ["i"], "tag": ["a"]}), r"user_id\[0\] is missing"),
    (pd.DataFrame({"user_id": [], "item_id": [], "tag": []}), "empty"),
])
def test_bad_events(bad, match):
    with pytest.raises(TagrankInputError, match=match):
        UserHistoryScorer().fit(bad)


def test_bad_params_and_not_fitted(events):
    with pytest.raises(TagrankInputError, match="half_life_days"):
        UserHistoryScorer(half_life_days=-1).fit(events)
    with pytest.raises(TagrankInputError, match="timestamp"):
        UserHistoryScorer(half_life_days=1.0).fit(events.drop(columns="timestamp"))
    with pytest.raises(TagrankInputError, match="self_weight"):
        ItemCooccurrenceScorer(self_weight=-1).fit(events)
    with pytest.raises(NotFittedError):
        UserHistoryScorer().score(["u1"], ["i1"])
    s = UserHistoryScorer().fit(events)
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        s.score(["u1"], ["i1", "i2"])
    with pytest.raises(TagrankInputError, match="positive integer"):
        s.recommend(["u1"], ["i1"], k=0)
