"""The column-mapping boundary every pipeline's fit goes through."""

from __future__ import annotations

import pandas as pd
import pytest

from tagrank.baselines.columns import with_columns
from tagrank.baselines.validation import TagrankInputError


def test_a_repeated_column_name_is_a_clear_error():
    frame = pd.DataFrame([["a", "b", 1]], columns=["user_id", "item_id", "item_id"])
    with pytest.raises(TagrankInputError, match="'item_id' more than once"):
        with_columns(frame, {"user_id": "user_id", "item_id": "item_id"}, "interactions")


def test_mapping_renames_without_touching_the_input():
    frame = pd.DataFrame({"u": ["a"], "i": ["b"]})
    out = with_columns(frame, {"user_id": "u", "item_id": "i"}, "interactions")
    assert list(out.columns) == ["user_id", "item_id"] and list(frame.columns) == ["u", "i"]
    with pytest.raises(TagrankInputError, match="no column 'x'"):
        with_columns(frame, {"user_id": "x"}, "interactions")


def test_ids_are_never_read_character_by_character():
    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.baselines.popularity import PopularityScorer

    with pytest.raises(TagrankInputError, match="ids must be a sequence of ids, got a single string"):
        BM25Scorer().fit(["red cotton shirt", "blue denim jeans"], ids="ab")
    with pytest.raises(TagrankInputError, match=r"ids\[0\] is missing"):
        BM25Scorer().fit(["red cotton shirt", "blue denim jeans"], ids=[None, "x"])
    with pytest.raises(TagrankInputError, match=r"ids\[1\] = 'x' is repeated"):
        BM25Scorer().fit(["red cotton shirt", "blue denim jeans"], ids=["x", "x"])
    inter = pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["i1", "i1", "i2"]})
    pop = PopularityScorer().fit(inter)
    with pytest.raises(TagrankInputError, match="user_ids must be a sequence of ids, got a single string"):
        pop.recommend("ab", 1)
    assert pop.recommend(["a", "b"], 1)[0].shape == (2, 1)


def test_series_side_by_side_are_paired_by_label_or_refused():
    from tagrank.baselines.jaccard import JaccardScorer
    from tagrank.eval.metrics import accuracy, spearman

    left = pd.Series(["red shirt", "blue jeans", "green hat"], index=[0, 1, 2])
    right = pd.Series(["green hat", "blue jeans", "red shirt"], index=[2, 1, 0])  # same labels, other order
    scorer = JaccardScorer().fit(list(left))
    with pytest.raises(TagrankInputError, match="share labels in other places"):
        scorer.score_pairs(left, right)
    assert list(scorer.score_pairs(left, right.reindex(left.index))) == [1.0, 1.0, 1.0]
    with pytest.raises(TagrankInputError, match="share labels in other places"):
        spearman(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0, 3.0], index=[2, 1, 0]))
    with pytest.raises(TagrankInputError, match="share labels in other places"):
        accuracy(pd.Series(["a", "b"]), pd.Series(["a", "b"], index=[1, 0]))
    assert spearman(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0, 3.0])) == 1.0
    # Series from different frames (disjoint labels) pair by position
    assert list(JaccardScorer().fit(list(left)).score_pairs(left, pd.Series(list(left), index=[7, 8, 9]))) == [1.0] * 3
