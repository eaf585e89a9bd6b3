"""Cross-fitted scorers: query folds and routing each query to the model that did not learn from it."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.crossfit import CrossFittedScorer, pair_folds, query_fold, query_folds
from tagrank.hybrid.features import FeatureBuilder
from tagrank.hybrid.pipelines import SearchPipeline
from tests.hybrid.test_features import LengthScorer, OverlapScorer
from tests.hybrid.test_pipelines import FAST, search_data

CORPUS = ["red shoe", "blue shoe small", "red hat", "green coat large", "black bag"]


def test_query_fold_is_a_salted_sha1_bucket():
    key = "red shoe"
    expected = int(hashlib.sha1(b"crossfit\tred shoe").hexdigest(), 16) % 3
    assert query_fold(key, 3) == expected


def test_query_folds_partition_the_distinct_keys_whatever_their_order():
    keys = [f"query {i}" for i in range(50)]
    folds = query_folds(keys + keys[:10], 3)
    assert sorted(sum(folds, [])) == sorted(keys)
    assert all(fold == sorted(fold) for fold in folds) and all(folds)
    assert query_folds(list(reversed(keys)), 3) == folds
    for bad in (1, 0, 2.0, True):
        with pytest.raises(TagrankInputError, match="n_folds"):
            query_folds(keys, bad)
    with pytest.raises(TagrankInputError, match="empty"):
        query_folds(["a", ""], 2)


@pytest.fixture()
def routed():
    default = OverlapScorer().fit(CORPUS)
    fold_a = OverlapScorer(bonus=10.0).fit(CORPUS)
    fold_b = OverlapScorer(bonus=20.0).fit(CORPUS)
    return CrossFittedScorer(default, [(fold_a, ["red shoe"]), (fold_b, ["blue hat", "green"])])


def test_each_pair_is_scored_by_the_owner_of_its_query(routed):
    left = ["blue hat", "red shoe", "black", "red shoe", "green"]
    right = ["blue shoe small", "red hat", "black bag", "red shoe", "green coat large"]
    # overlap by hand, plus the owner's bonus: fold b (20), fold a (10), default (0), fold a, fold b
    np.testing.assert_array_equal(routed.score_pairs(left, right), [21.0, 11.0, 1.0, 12.0, 21.0])
    cols = routed.features(left, right)
    assert routed.name == "ovl" and set(cols) == {"ovl", "ovl_norm"}
    np.testing.assert_array_equal(cols["ovl"], [21.0, 11.0, 1.0, 12.0, 21.0])
    np.testing.assert_allclose(cols["ovl_norm"], [10.5, 5.5, 1.0, 6.0, 21.0])
    # the feature builder names the columns after the default scorer, as it does for the default itself
    built = FeatureBuilder({"ovl": routed}, kind="text", language="en").fit().transform(left, right)
    plain = FeatureBuilder({"ovl": routed.default}, kind="text", language="en").fit().transform(left, right)
    assert list(built.columns) == list(plain.columns)
    np.testing.assert_array_equal(built["ovl"], [21.0, 11.0, 1.0, 12.0, 21.0])


def test_top_k_comes_from_the_owner(routed):
    default = OverlapScorer().fit(CORPUS, ids=list("abcde"))
    longest = LengthScorer().fit(CORPUS, ids=list("abcde"))
    crossed = CrossFittedScorer(default, [(longest, ["red"])])
    ids, scores = crossed.top_k(["red", "black bag", "red"], 2)
    exp_ids, exp_scores = longest.top_k(["red"], 2)
    np.testing.assert_array_equal(ids[0], exp_ids[0])
    np.testing.assert_array_equal(ids[2], exp_ids[0])
    np.testing.assert_array_equal(scores[[0, 2]], np.vstack([exp_scores, exp_scores]))
    d_ids, d_scores = default.top_k(["black bag"], 2)
    np.testing.assert_array_equal(ids[1], d_ids[0])
    np.testing.assert_array_equal(scores[1], d_scores[0])


def test_pair_folds_ignore_row_and_pair_order():
    left = [f"text {i}" for i in range(40)]
    right = [f"other {i % 7}" for i in range(40)]
    fold = pair_folds(left, right, 3)
    assert set(fold.tolist()) == {0, 1, 2}
    # a pair's reverse shares its fold (no fold model trains on the reverse of a pair it scores)
    np.testing.assert_array_equal(pair_folds(right, left, 3), fold)
    # row order does not matter, and the fold is the salted bucket of the sorted, tab-joined texts
    np.testing.assert_array_equal(pair_folds(left[::-1], right[::-1], 3), fold[::-1])
    assert fold[0] == query_fold("other 0\ttext 0", 3)
    with pytest.raises(TagrankInputError, match="n_folds"):
        pair_folds(left, right, 1)
    with pytest.raises(TagrankInputError, match="left"):
        pair_folds(left, right[:3], 2)


def test_routing_by_pair():
    default = OverlapScorer().fit(CORPUS)
    fold = OverlapScorer(bonus=10.0).fit(CORPUS)
    crossed = CrossFittedScorer(default, [(fold, [("red shoe", "red hat")])], by="pair")
    # only that exact (left, right) row belongs to the fold; the same query with another item does not
    np.testing.assert_array_equal(crossed.score_pairs(["red shoe", "red shoe"], ["red hat", "red shoe"]), [11.0, 2.0])
    with pytest.raises(TagrankInputError, match="by='query'"):
        crossed.top_k(["red"], 2)


def test_a_score_only_scorer_keeps_its_column_name_under_another_key():
    class ScoreOnly:
        name = "plain"

        def __init__(self, bonus: float = 0.0):
            self.bonus = bonus

        def score_pairs(self, left, right):
            return np.asarray([len(a) + self.bonus for a in left], dtype=float)

    left, right = ["ab", "abc"], ["x", "y"]
    crossed = CrossFittedScorer(ScoreOnly(), [(ScoreOnly(bonus=100.0), ["abc"])])
    np.testing.assert_array_equal(crossed.features(left, right), [2.0, 103.0])
    built = FeatureBuilder({"plain_v2": crossed}, kind="text", group_stats=False, text_stats=False).fit()
    plain = FeatureBuilder({"plain_v2": ScoreOnly()}, kind="text", group_stats=False, text_stats=False).fit()
    assert list(built.transform(left, right).columns) == list(plain.transform(left, right).columns)


def test_bad_folds_and_inputs():
    s = OverlapScorer().fit(CORPUS)
    with pytest.raises(TagrankInputError, match="folds 0 and 1"):
        CrossFittedScorer(s, [(s, ["red"]), (s, ["red", "blue"])])
    with pytest.raises(TagrankInputError, match="by must be"):
        CrossFittedScorer(s, [], by="item")
    with pytest.raises(TagrankInputError, match="default must be"):
        CrossFittedScorer(object(), [])
    with pytest.raises(TagrankInputError, match=r"folds\[0\] must be a \(fitted scorer, keys\) pair"):
        CrossFittedScorer(s, [s])
    with pytest.raises(TagrankInputError, match=r"folds\[0\] keys must be a collection"):
        CrossFittedScorer(s, [(s, "red")])
    with pytest.raises(TagrankInputError, match="a text"):
        CrossFittedScorer(s, [(s, [("red", "hat")])])
    with pytest.raises(TagrankInputError, match="tuple of texts"):
        CrossFittedScorer(s, [(s, ["red"])], by="pair")
    with pytest.raises(TagrankInputError, match="tuple of texts"):
        CrossFittedScorer(s, [(s, [["red", "hat"]])], by="pair")
    crossed = CrossFittedScorer(s, [(LengthScorer().fit(CORPUS), ["red"])])
    with pytest.raises(TagrankInputError, match="different feature"):
        crossed.features(["red", "blue"], ["red hat", "blue shoe small"])
    with pytest.raises(TagrankInputError, match="left"):
        crossed.score_pairs(["red", "blue"], ["red hat"])
    short = CrossFittedScorer(s, [(OverlapScorer().fit(CORPUS[:2]), ["red"])])
    with pytest.raises(TagrankInputError, match="different lengths"):
        short.top_k(["red", "blue"], 4)
    ids, scores = crossed.top_k([], 3)
    assert ids.shape == (0, 3) and scores.shape == (0, 3)


class RecordingOverlap(OverlapScorer):
    """Remembers the queries it was asked to score (to see which rows a pipeline computes with it)."""

    def __init__(self, bonus: float = 0.0):
        super().__init__(bonus)
        self.seen: set[str] = set()

    def score_pairs(self, left, right):
        self.seen.update(left)
        return super().score_pairs(left, right)

    def top_k(self, queries, k=10):
        self.seen.update(queries)
        return super().top_k(queries, k)


def test_search_pipeline_computes_training_rows_only_with_train_scorers():
    ids, texts, judged = search_data()
    keys = sorted(judged["query"].unique())
    valid_keys = set(keys[::4])
    train, valid = judged[~judged["query"].isin(valid_keys)], judged[judged["query"].isin(valid_keys)]
    serving = OverlapScorer().fit(texts, ids)
    folds = query_folds(list(train["query"]), 2)
    fold_models = [RecordingOverlap().fit(texts, ids) for _ in folds]
    crossed = CrossFittedScorer(serving, list(zip(fold_models, folds, strict=True)))

    def fit(train_scorers):
        pipe = SearchPipeline({"ovl": serving}, ranker_params=FAST, candidates_per_scorer=8, language="en")
        return pipe.fit_fitted(ids, texts, train, valid=valid, train_scorers=train_scorers)

    pipe = fit({"ovl": crossed})
    # each fold model scored its own fold's training queries and nothing else; serving keeps the default
    for model, fold in zip(fold_models, folds, strict=True):
        assert model.seen == set(fold)
    assert pipe.scorers_["ovl"] is serving
    # fold models equal to the default give exactly the rankers of a plain fit
    plain = fit(None)
    np.testing.assert_array_equal(pipe.rerank(["red shoe"] * 4, ids[:4]), plain.rerank(["red shoe"] * 4, ids[:4]))
    pd.testing.assert_frame_equal(pipe.search(["blue hat"], 5), plain.search(["blue hat"], 5))
    with pytest.raises(TagrankInputError, match="train_scorers names 'bm25'"):
        fit({"bm25": crossed})
    # without valid queries the training rows alone fix the feature list (the serving builder takes it)
    alone = SearchPipeline({"ovl": serving}, ranker_params=FAST, candidates_per_scorer=8, language="en",
                           valid_fraction=0.0).fit_fitted(ids, texts, train, train_scorers={"ovl": crossed})
    assert alone.builder_.feature_names_ == alone.feature_names_
    assert alone.search(["blue hat"], 3).shape[0] == 3
    # a train scorer that gives other columns than the scorer it replaces is named
    with pytest.raises(TagrankInputError, match="same feature columns"):
        fit({"ovl": LengthScorer().fit(texts, ids)})
