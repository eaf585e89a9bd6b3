"""BPRScorer: the shared interaction suite, block structure, parameter checks."""

from __future__ import annotations

import pandas as pd
import pytest

from tagrank.baselines.bpr import BPRScorer
from tagrank.baselines.validation import TagrankInputError
from tests.baselines.interaction_suite import InteractionScorerSuite


def small_bpr(**kw):
    params = dict(factors=8, iterations=20, learning_rate=0.05, random_state=0, device="cpu")
    params.update(kw)
    return BPRScorer(**params)


class TestBPRSuite(InteractionScorerSuite):
    deterministic_attrs = ("user_factors_", "item_factors_")

    def make_scorer(self):
        return small_bpr()


def block_frame() -> pd.DataFrame:
    """Two disjoint communities; user0 lacks A3, user6 lacks B2 (12 users vs 7 items)."""
    rows = []
    for u in range(6):
        rows += [(f"user{u}", f"A{i}") for i in range(4) if not (u == 0 and i == 3)]
    for u in range(6, 12):
        rows += [(f"user{u}", f"B{i}") for i in range(3) if not (u == 6 and i == 2)]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def test_block_structure_recommends_co_consumed_item():
    s = small_bpr(factors=4, iterations=300, learning_rate=0.05).fit(block_frame())
    ids, _ = s.recommend(["user0", "user6"], k=1)
    assert ids[0, 0] == "A3"
    assert ids[1, 0] == "B2"
    assert s.user_factors_.shape == (12, 5) and s.item_factors_.shape == (7, 5)  # + the bias column


@pytest.mark.parametrize("bad", [dict(factors=0), dict(iterations=1.5), dict(learning_rate=0.0),
                                 dict(regularization=-1.0), dict(num_threads=-1)])
def test_bad_params(bad):
    with pytest.raises(TagrankInputError):
        small_bpr(**bad).fit(block_frame())
