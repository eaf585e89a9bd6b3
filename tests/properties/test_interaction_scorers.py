"""Property: the interaction scorers and tag signals answer well-formed results or raise TagrankInputError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagrank.baselines.als import ALSScorer
from tagrank.baselines.item2vec import Item2VecScorer
from tagrank.baselines.popularity import PopularityScorer
from tagrank.baselines.tag_signals import ItemCooccurrenceScorer, TagPopularityScorer, UserHistoryScorer
from tests.properties.strategies import (
    call,
    check_ranking,
    ids,
    interactions,
    k_value,
    maybe_id,
    mostly,
    same,
    snapshot,
    text,
)

SCORERS = {
    "popularity": PopularityScorer,
    "popularity_decay": lambda: PopularityScorer(half_life_days=1.0, weight_col="weight"),
    "als": lambda: ALSScorer(factors=4, iterations=2, num_threads=1, device="cpu"),
    "item2vec": lambda: Item2VecScorer(vector_size=4, epochs=1, window=3, device="cpu"),
}

_WARM = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": [1, 2, 1], "timestamp": [1, 2, 3], "weight": [1.0] * 3})
for _make in SCORERS.values():  # imports and first-call set-up happen here, not inside a timed example
    _make().fit(_WARM).recommend(["a"], 2)


@pytest.mark.parametrize("name", list(SCORERS))
@given(frame=st.one_of(interactions(min_rows=1, clean=True), interactions()), users=mostly(ids, maybe_id, 4),
       items=mostly(ids, maybe_id, 4), k=k_value, exclude_seen=st.booleans())
def test_fit_recommend_score(name, frame, users, items, k, exclude_seen):
    before = snapshot(frame)
    ok, scorer = call(SCORERS[name]().fit, frame)
    assert same(frame, before)
    if not ok:
        return
    catalogue = set(scorer.item_ids_.tolist())
    ok, out = call(scorer.recommend, users, k, exclude_seen)
    if ok:
        check_ranking(*out, n_rows=len(users), catalogue=catalogue, max_k=len(catalogue))
        assert set(users) <= set(scorer.user_ids_.tolist())
    ok, out = call(scorer.similar_items, items, k)
    if ok:
        check_ranking(*out, n_rows=len(items), catalogue=catalogue, max_k=max(len(catalogue) - 1, 1))
    pair_users = (users * 2)[: len(items)]
    ok, scores = call(scorer.score_user_items, pair_users, items)
    if ok:
        assert scores.shape == (len(items),) and np.isfinite(scores).all()


@st.composite
def tag_events(draw):
    frame = draw(st.one_of(interactions(min_rows=1, max_rows=25, clean=True), interactions(max_rows=25)))
    tags = draw(mostly(st.sampled_from(["red", "Red ", "sci-fi", "\u559c\u5267", "\U0001F600"]), st.one_of(text, st.none()),
                       len(frame)))
    tags = (tags + ["red"] * len(frame))[: len(frame)]
    frame["tag"] = pd.Series(tags, index=frame.index, dtype=object)  # object: pandas' str dtype refuses surrogates
    return frame


SIGNALS = {
    "tag_popularity": TagPopularityScorer,
    "user_history": lambda: UserHistoryScorer(half_life_days=2.0),
    "cooccurrence": ItemCooccurrenceScorer,
}


@pytest.mark.parametrize("name", list(SIGNALS))
@given(events=tag_events(), users=mostly(ids, maybe_id, 3), items=mostly(ids, maybe_id, 3), k=k_value)
def test_tag_signals(name, events, users, items, k):
    before = snapshot(events)
    ok, signal = call(SIGNALS[name]().fit, events)
    assert same(events, before)
    if not ok:
        return
    items = (items * 3)[: len(users)]
    ok, out = call(signal.recommend, users, items, k)
    if ok:
        check_ranking(*out, n_rows=len(users), catalogue=set(signal.tags_), max_k=len(signal.tags_))
    ok, scores = call(signal.score, users, items)
    if ok:
        assert np.asarray(scores).shape[0] == len(users) and np.isfinite(scores).all()


def test_unsorted_duplicated_rows_give_the_sorted_answer():
    """Row order and repeats of the same log do not change what a time-aware scorer learns."""
    log = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c", "a"], "item_id": [1, 2, 1, 3, 2, 3],
                        "timestamp": [5, 1, 4, 2, 3, 6]})
    shuffled = log.sample(frac=1.0, random_state=3)
    a = PopularityScorer(half_life_days=1.0).fit(log)
    b = PopularityScorer(half_life_days=1.0).fit(shuffled)
    np.testing.assert_allclose(a.score_user_items(["a"] * 3, [1, 2, 3]), b.score_user_items(["a"] * 3, [1, 2, 3]))
