"""TfidfScorer: the shared suite, a hand-worked cosine, sklearn agreement, blocks, Chinese, persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from tagrank.baselines.tfidf import TfidfScorer
from tagrank.baselines.validation import TagrankInputError
from tests.baselines.scorer_suite import TextScorerSuite


class TestTfidfWordSuite(TextScorerSuite):
    def make_scorer(self):
        return TfidfScorer()


class TestTfidfCharSuite(TextScorerSuite):
    def make_scorer(self):
        return TfidfScorer(analyzer="char", char_ngram_range=(2, 3))


class TestTfidfBothSuite(TextScorerSuite):
    def make_scorer(self):
        return TfidfScorer(analyzer="both", ngram_range=(1, 2))


def test_cosine_by_hand():
    s = TfidfScorer().fit(["red shoe", "blue shoe", "red hat"])
    # sklearn's smoothed idf, N = 3: idf(t) = ln((1 + N) / (1 + df)) + 1
    #   red, shoe (df 2): ln(4/3) + 1 = 1.2876821;  blue, hat (df 1): ln(4/2) + 1 = 1.6931472
    # d1 "red shoe"  = (red 1.2877, shoe 1.2877) / |.| = (0.7071, 0.7071)
    # d2 "blue shoe" = (blue 1.6931, shoe 1.2877) / sqrt(1.6931^2 + 1.2877^2) = 2.1271748
    #                = (blue 0.7959605, shoe 0.6053485)
    # cos(d1, d2) = 0.7071068 * 0.6053485 = 0.4280460
    # cos(d1, d3) = the same 0.4280460 by symmetry (d3 "red hat" mirrors d2: red df 2, hat df 1)
    # cos(d2, d3) = 0 (no shared term); cos(d1, d1) = 1
    idf2, idf1 = math.log(4 / 3) + 1, math.log(2) + 1
    expected = (1 / math.sqrt(2)) * idf2 / math.hypot(idf1, idf2)
    assert expected == pytest.approx(0.4280460350631185)
    got = s.score_pairs(["red shoe", "red shoe", "blue shoe", "red shoe"], ["blue shoe", "red hat", "red hat", "shoe red"])
    np.testing.assert_allclose(got, [expected, expected, 0.0, 1.0], atol=1e-12)
    # sublinear tf: query "shoe shoe blue" has tf(shoe) = 2 -> 1 + ln 2
    q = np.array([(1 + math.log(2)) * idf2, idf1])  # (shoe, blue)
    d2 = np.array([idf2, idf1]) / math.hypot(idf1, idf2)
    assert s.score_pairs(["shoe shoe blue"], ["blue shoe"])[0] == pytest.approx(q @ d2 / np.linalg.norm(q))
    assert s.score_pairs(["shoe shoe blue"], ["blue shoe"])[0] == pytest.approx(0.9663152516263989)
    # unseen terms are ignored: no known term -> zero vector -> cosine 0
    assert s.score_pairs(["garden hose"], ["red shoe"])[0] == 0.0
    assert s.score_pairs(["shoe garden"], ["shoe"])[0] == pytest.approx(1.0)


def test_matches_sklearn_defaults():
    corpus = ["Red leather shoes", "blue suede shoes", "red cotton shirt", "a blue shirt and red shoes"]
    ours = TfidfScorer(sublinear_tf=True).fit(corpus)
    ref = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b").fit(corpus)
    a = ours.transform(corpus).toarray()
    b = ref.transform(corpus).toarray()
    # same vocabulary (sorted), same weights
    assert sorted(ours.vectorizers_["word"].vocabulary_) == sorted(ref.vocabulary_)
    np.testing.assert_allclose(a, b, atol=1e-12)
    c_ours = TfidfScorer(analyzer="char", char_ngram_range=(2, 4), sublinear_tf=False).fit(corpus)
    c_ref = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(corpus)
    np.testing.assert_allclose(c_ours.transform(corpus).toarray(), c_ref.transform(corpus).toarray(), atol=1e-12)


def test_both_is_mean_of_blocks():
    corpus = ["red leather shoes", "blue suede shoes", "red cotton shirt"]
    both = TfidfScorer(analyzer="both").fit(corpus)
    word = TfidfScorer(analyzer="word").fit(corpus)
    char = TfidfScorer(analyzer="char").fit(corpus)
    left, right = ["red shoes", "suede"], ["red leather shoes", "red cotton shirt"]
    feats = both.features(left, right)
    assert list(feats.columns) == ["tfidf", "tfidf_word", "tfidf_char"]
    np.testing.assert_array_equal(feats["tfidf"], both.score_pairs(left, right))  # its own score comes first
    np.testing.assert_allclose(feats["tfidf_word"], word.score_pairs(left, right))
    np.testing.assert_allclose(feats["tfidf_char"], char.score_pairs(left, right))
    np.testing.assert_allclose(both.score_pairs(left, right), (feats["tfidf_word"] + feats["tfidf_char"]) / 2)
    assert list(word.features(left, right).columns) == ["tfidf_word"]
    # the representation's dot products are exactly that mean
    x = both.transform(left)
    y = both.transform(right)
    assert sp.isspmatrix_csr(x)
    np.testing.assert_allclose(np.asarray(x.multiply(y).sum(axis=1)).ravel(), both.score_pairs(left, right))
    np.testing.assert_allclose(np.asarray(both.transform(corpus).multiply(both.transform(corpus)).sum(axis=1)).ravel(), 1.0)


def test_transform_shape_and_rows_normalised():
    s = TfidfScorer().fit(["red shoe", "blue shoe", "red hat"])
    x = s.transform(["red shoe", "nothing known", "hat"])
    assert x.shape == (3, 4) and x.dtype == np.float64
    np.testing.assert_allclose(sp.linalg.norm(x, axis=1), [1.0, 0.0, 1.0])
    assert s.transform([]).shape == (0, 4)
    with pytest.raises(TagrankInputError, match=r"texts\[0\]"):
        s.transform([""])


def test_min_df_and_errors():
    s = TfidfScorer(min_df=2).fit(["red shoe", "blue shoe", "red hat"])
    assert sorted(s.vectorizers_["word"].vocabulary_) == ["red", "shoe"]
    with pytest.raises(TagrankInputError, match="cannot be fitted"):
        TfidfScorer(min_df=5).fit(["red shoe", "blue shoe"])
    with pytest.raises(TagrankInputError, match="cannot be fitted"):
        TfidfScorer().fit(["\U0001F600", "\u263a"])  # content, but no word token
    with pytest.raises(TagrankInputError, match="is blank"):
        TfidfScorer().fit(["!!!", "..."])
    with pytest.raises(TagrankInputError, match="analyzer"):
        TfidfScorer(analyzer="chars").fit(["red shoe"])


def test_chinese_tfidf():
    corpus = ["苹果手机壳", "华为手机", "耐克运动鞋", "苹果笔记本电脑"]
    s = TfidfScorer().fit(corpus, ids=["case", "huawei", "shoes", "laptop"])
    ids, scores = s.top_k(["运动鞋", "苹果手机"], k=2)
    assert ids[0, 0] == "shoes"
    assert ids[1, 0] == "case" and scores[1, 0] > scores[1, 1] > 0
    pair = s.score_pairs(["苹果手机", "苹果手机"], ["苹果手机壳", "耐克运动鞋"])
    assert pair[0] > 0.5 and pair[1] == 0.0
    char = TfidfScorer(analyzer="char", char_ngram_range=(1, 2)).fit(corpus)
    assert char.score_pairs(["手机"], ["华为手机"])[0] > char.score_pairs(["手机"], ["耐克运动鞋"])[0]


def test_save_format_version_checked(tmp_path):
    s = TfidfScorer(analyzer="both").fit(["red shoe", "blue shoe", "red hat"], ids=[10, 20, 30])
    path = s.save(tmp_path / "tfidf")
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 1 and config["params"]["analyzer"] == "both"
    loaded = TfidfScorer.load(path)
    assert list(loaded.top_k(["red"], k=3)[0][0]) == [10, 30, 20]
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="format_version 99"):
        TfidfScorer.load(path)
    with pytest.raises(TagrankInputError, match="missing: no such directory"):
        TfidfScorer.load(tmp_path / "missing")


def test_a_failed_refit_keeps_the_corpus_index_of_the_fitted_matrices():
    from tagrank.baselines.tfidf import TfidfScorer
    from tagrank.baselines.validation import TagrankInputError

    scorer = TfidfScorer(analyzer="word").fit(["red shirt", "blue hat"])
    with pytest.raises(TagrankInputError):
        scorer.fit(["\U0001F600", "\u263a"])  # content but no word: no vocabulary, the refit fails
    # the emoji was never fitted: it must be analysed, not looked up as a corpus row
    assert scorer.score_pairs(["red shirt"], ["\U0001F600"])[0] == 0.0
    assert scorer.score_pairs(["red shirt"], ["red shirt"])[0] == pytest.approx(1.0)


@pytest.mark.parametrize("analyzer", ["word", "char", "both"])
@pytest.mark.parametrize("sublinear_tf", [True, False])
def test_vectorize_equals_scikit_learn_transform(analyzer, sublinear_tf):
    corpus = ["red running shoes", "running shoes running fast", "blue hat", "garden hose 50 ft", "shoes shoes"]
    scorer = TfidfScorer(analyzer=analyzer, sublinear_tf=sublinear_tf).fit(corpus)
    texts = ["running shoes for running", "unknownword", "hat", "red red red hat", "zzz qqq"]
    for kind, vec in scorer.vectorizers_.items():
        ours = scorer._vectorize(kind, texts)
        ref = vec.transform(texts)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours.toarray(), ref.toarray(), rtol=0, atol=1e-12)


def test_saved_corpus_index_keeps_texts_exactly(tmp_path):
    corpus = ["red shoe\x00", "blue hat", "red shoe"]  # a trailing NUL: fixed-width strings would merge two
    scorer = TfidfScorer().fit(corpus)
    loaded = TfidfScorer.load(scorer.save(tmp_path / "tfidf"))
    assert loaded.text_rows_ == scorer.text_rows_ and len(loaded.text_rows_) == 3
    np.testing.assert_array_equal(loaded.corpus_rows(corpus), [0, 1, 2])
