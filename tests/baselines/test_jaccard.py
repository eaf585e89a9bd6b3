"""JaccardScorer: the shared suite, hand-worked word / char / tag sets, empty sets, unseen terms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.jaccard import JaccardScorer
from tagrank.baselines.validation import BlankTextError, TagrankInputError
from tests.baselines.scorer_suite import TextScorerSuite


class TestJaccardWordSuite(TextScorerSuite):
    def make_scorer(self):
        return JaccardScorer()


class TestJaccardCharSuite(TextScorerSuite):
    def make_scorer(self):
        return JaccardScorer(unit="char")


class TestJaccardTagSuite(TextScorerSuite):
    corpus = ["red|cotton|shirt", "blue|cotton|shirt", "red|leather|shoes", "black|leather|shoes",
              "red|cotton|shirt", "kitchen|sink", "power|drill|cordless"]
    queries = ["red|shirt", "leather", "cotton|shirt|blue", "garden|hose"]

    def make_scorer(self):
        return JaccardScorer(unit="tag")


def test_word_sets_by_hand():
    s = JaccardScorer().fit(["anything"])
    # {red, leather, shoe} vs {red, shoe}: |A & B| = 2, |A | B| = 3 -> 2/3
    # {red, red, shoe} is the set {red, shoe}; vs {shoe, hat}: 1 / 3
    # "Shoe!" vs "shoe": case and punctuation vanish -> 1
    got = s.score_pairs(["red leather shoe", "red red shoe", "Shoe!"], ["red shoe", "shoe hat", "shoe"])
    np.testing.assert_allclose(got, [2 / 3, 1 / 3, 1.0])


def test_char_ngrams_by_hand():
    s = JaccardScorer(unit="char", ngram_range=(2, 2)).fit(["anything"])
    # padded " ab " -> {" a", "ab", "b "}; " abc " -> {" a", "ab", "bc", "c "}
    # intersection {" a", "ab"} = 2; union {" a", "ab", "b ", "bc", "c "} = 5 -> 0.4
    assert s.score_pairs(["ab"], ["abc"])[0] == pytest.approx(0.4)
    assert s.terms("ab") == [" a", "ab", "b "]
    # (2, 3): "ab" -> {" a", "ab", "b ", " ab", "ab "}; "abc" -> {" a", "ab", "bc", "c ", " ab", "abc", "bc "}
    # intersection {" a", "ab", " ab"} = 3; union = 5 + 7 - 3 = 9 -> 1/3
    s23 = JaccardScorer(unit="char", ngram_range=(2, 3)).fit(["anything"])
    assert s23.score_pairs(["ab"], ["abc"])[0] == pytest.approx(1 / 3)


def test_tag_sets_by_hand_and_lists():
    s = JaccardScorer(unit="tag").fit(["red|cotton", ["blue", "Denim"], ("black",)], ids=["a", "b", "c"])
    # {a, b, c} vs {b, c, d}: 2 / 4; tags are stripped and lower-cased; lists are accepted
    got = s.score_pairs(["a|b|c", " A | b ", ["x"]], [["b", "c", "d"], "a|b|b", {"x", "y"}])
    np.testing.assert_allclose(got, [0.5, 1.0, 0.5])
    assert s.terms("Red| red |cotton||") == ["red", "cotton"]
    ids, scores = s.top_k([["denim", "blue"], "red"], k=2)
    assert list(ids[0]) == ["b", "a"] and list(scores[0]) == [1.0, 0.0]
    assert ids[1, 0] == "a" and scores[1, 0] == pytest.approx(0.5)
    with pytest.raises(TagrankInputError, match="containing"):
        s.score_pairs([["a|b"]], ["a"])
    with pytest.raises(TagrankInputError, match="not a string"):
        s.score_pairs([["a", None]], ["a"])
    with pytest.raises(TagrankInputError, match="empty"):
        s.score_pairs([[]], ["a"])


def test_empty_sets_score_zero():
    smile, wink = "\U0001F600", "\U0001F609"  # content, but the word analyzer finds no token: empty sets
    s = JaccardScorer().fit(["red shoe", smile])
    # both empty: 0 by convention; one empty: 0
    np.testing.assert_array_equal(s.score_pairs([wink, wink, "shoe"], [smile, "red", smile]), [0.0, 0.0, 0.0])
    ids, scores = s.top_k([wink], k=2)
    assert list(ids[0]) == [0, 1] and list(scores[0]) == [0.0, 0.0]
    tags = JaccardScorer(unit="tag").fit(["a|b"])
    with pytest.raises(BlankTextError, match=r"left\[0\] is blank"):  # a text of separators only is blank
        tags.score_pairs(["|"], ["a"])


def test_unseen_terms_count():
    s = JaccardScorer().fit(["red shoe", "blue hat"])
    # "red boot" vs "red boot": "boot" was never seen in fit but the pair is exact -> 1
    assert s.score_pairs(["red boot"], ["red boot"])[0] == 1.0
    # in top_k the unseen "boot" still counts in the query's set size: {red} / {red, boot, shoe}
    ids, scores = s.top_k(["red boot"], k=1)
    assert ids[0, 0] == 0 and scores[0, 0] == pytest.approx(1 / 3)
    assert s.score_pairs(["red boot"], ["red shoe"])[0] == pytest.approx(1 / 3)


def test_features_and_params():
    s = JaccardScorer(unit="char").fit(pd.Series(["red shoe", "blue hat"]))
    feats = s.features(["red shoes"], ["red shoe"])
    assert list(feats.columns) == ["jaccard_char"]
    with pytest.raises(TagrankInputError, match="unit"):
        JaccardScorer(unit="sentence").fit(["red"])
    with pytest.raises(TagrankInputError, match="ngram_range"):
        JaccardScorer(unit="char", ngram_range=(3, 1)).fit(["red"])


def test_chinese_char_jaccard():
    s = JaccardScorer(unit="char", ngram_range=(1, 2)).fit(["苹果手机壳", "华为手机", "运动鞋"])
    # " 手机 ": 1-grams {" ", 手, 机}, 2-grams {" 手", 手机, "机 "} -> 6 terms
    # " 华为手机 ": {" ", 华, 为, 手, 机} + {" 华", 华为, 为手, 手机, "机 "} -> 10; shared {" ", 手, 机, 手机, "机 "} = 5
    #   -> 5 / (6 + 10 - 5) = 5/11
    # " 苹果手机壳 ": {" ", 苹, 果, 手, 机, 壳} + {" 苹", 苹果, 果手, 手机, 机壳, "壳 "} -> 12; shared {" ", 手, 机, 手机} = 4
    #   -> 4 / (6 + 12 - 4) = 2/7
    # " 运动鞋 " shares only " " -> 1 / (6 + 8 - 1) = 1/13
    ids, scores = s.top_k(["手机"], k=3)
    assert list(ids[0]) == [1, 0, 2]
    np.testing.assert_allclose(scores[0], [5 / 11, 2 / 7, 1 / 13])
    assert JaccardScorer(unit="word").fit(["x"]).score_pairs(["苹果手机"], ["苹果 手机"])[0] == 1.0
