"""BM25Scorer: the shared suite, a hand-worked corpus, rank_bm25 / bm25s cross-checks, variants."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from tagrank.baselines.bm25 import BM25Scorer
from tagrank.baselines.text import Tokenizer
from tagrank.baselines.validation import BlankTextError, NotFittedError, TagrankInputError
from tests.baselines.scorer_suite import TextScorerSuite


class TestBM25Suite(TextScorerSuite):
    def make_scorer(self):
        return BM25Scorer()


class TestBM25RobertsonCharSuite(TextScorerSuite):
    def make_scorer(self):
        return BM25Scorer(k1=1.5, b=0.5, analyzer="char", ngram_range=(3, 3), idf="robertson")


def test_bm25_by_hand():
    s = BM25Scorer(k1=1.2, b=0.75).fit(["a b", "a c c", "d"])
    # N = 3, dl = (2, 3, 1), avgdl = 2; df: a 2, b 1, c 1, d 1
    # lucene idf: a = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6 = 0.4700036
    #             c = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(8/3) = 0.9808293
    # length norm K = k1 * (1 - b + b * dl / avgdl): d1 1.2 * (0.25 + 0.75) = 1.2; d2 1.2 * (0.25 + 1.125) = 1.65
    # query "a c":
    #   d1: a tf 1 -> 0.4700036 * 1 * 2.2 / (1 + 1.2) = 0.4700036                  -> 0.4700036
    #   d2: a tf 1 -> 0.4700036 * 2.2 / 2.65 = 0.3901917; c tf 2 -> 0.9808293 * 4.4 / 3.65 = 1.1823696
    #                                                                            -> 1.5725612
    #   d3: nothing shared                                                         -> 0
    a, c = math.log(1.6), math.log(8 / 3)
    d1 = a * 2.2 / 2.2
    d2 = a * 2.2 / 2.65 + c * 2 * 2.2 / (2 + 1.65)
    assert d2 == pytest.approx(1.5725612026838962)
    got = s.score_pairs(["a c"] * 3, ["a b", "a c c", "d"])
    np.testing.assert_allclose(got, [d1, d2, 0.0], atol=1e-12)
    ids, scores = s.top_k(["a c"], k=3)
    assert list(ids[0]) == [1, 0, 2]
    np.testing.assert_allclose(scores[0], [d2, d1, 0.0], atol=1e-12)
    # query terms count per occurrence: "a a" doubles the a part
    assert s.score_pairs(["a a"], ["a b"])[0] == pytest.approx(2 * d1)
    # an unseen query term contributes 0; a text outside the corpus uses the fitted statistics:
    # "c x" has dl 2 -> K = 1.2 -> c tf 1: 0.9808293 * 2.2 / 2.2
    assert s.score_pairs(["c zzz"], ["c x"])[0] == pytest.approx(c)
    # bm25_norm = score / sum_t qtf * idf * (k1 + 1): for "a c" the maximum is (a + c) * 2.2
    feats = s.features(["a c", "zzz"], ["a c c", "a b"])
    assert list(feats.columns) == ["bm25", "bm25_norm"]
    np.testing.assert_allclose(feats["bm25_norm"], [d2 / ((a + c) * 2.2), 0.0])
    np.testing.assert_allclose(s.max_scores(["a c"]), [(a + c) * 2.2])


def test_robertson_idf_can_be_negative():
    s = BM25Scorer(idf="robertson").fit(["a b", "a c", "a d"])
    # df(a) = 3 = N: ln((3 - 3 + 0.5) / 3.5) = ln(1/7) < 0; lucene keeps it positive: ln(1 + 1/7)
    assert s.idf_[s.vocabulary_["a"]] == pytest.approx(math.log(1 / 7))
    lucene = BM25Scorer().fit(["a b", "a c", "a d"])
    assert lucene.idf_[lucene.vocabulary_["a"]] == pytest.approx(math.log(8 / 7))
    # negative scores rank below the zero scores of documents without the term
    s2 = BM25Scorer(idf="robertson").fit(["a b", "a c", "a d", "e"])
    ids, scores = s2.top_k(["a"], k=4)
    assert ids[0, 0] == 3 and scores[0, 0] == 0.0 and (scores[0, 1:] < 0).all()


CROSS_CORPUS = [
    "red cotton shirt",
    "blue denim jeans",
    "red leather shoes",
    "black leather belt",
    "blue cotton socks",
    "green wool hat hat",
]
CROSS_QUERIES = ["red shirt", "leather leather shoes", "cotton blue", "hat", "green hat wool socks", "unknown words"]


def test_cross_check_rank_bm25_okapi():
    rank_bm25 = pytest.importorskip("rank_bm25")
    tok = Tokenizer()
    tokens = [tok.words(t) for t in CROSS_CORPUS]
    # every df <= 2 < N/2 = 3, so every Robertson idf is positive and rank_bm25's epsilon floor never applies
    ref = rank_bm25.BM25Okapi(tokens, k1=1.2, b=0.75)
    assert min(ref.idf.values()) > 0
    ours = BM25Scorer(k1=1.2, b=0.75, idf="robertson").fit(CROSS_CORPUS)
    for query in CROSS_QUERIES:
        expected = ref.get_scores(tok.words(query))
        got = ours.score_pairs([query] * len(CROSS_CORPUS), CROSS_CORPUS)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=query)
        _, top = ours.top_k([query], k=len(CROSS_CORPUS))
        np.testing.assert_allclose(top[0], np.sort(expected)[::-1], rtol=1e-12, atol=1e-12)


def test_cross_check_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s")
    corpus = CROSS_CORPUS + ["shirt for men", "shoes for men", "belt for men", "hat for kids"]
    tok = Tokenizer()
    ref = bm25s.BM25(method="lucene", k1=1.2, b=0.75, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.index([tok.words(t) for t in corpus], show_progress=False)
    ours = BM25Scorer(k1=1.2, b=0.75).fit(corpus)
    for query in ["for men", "red red shirt", "leather belt for kids", "hat"]:
        # bm25s' lucene drops the constant (k1 + 1) factor
        expected = ref.get_scores(tok.words(query)) * (1.2 + 1)
        got = ours.score_pairs([query] * len(corpus), corpus)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=query)


def test_params_checked():
    for bad in (dict(idf="atire"), dict(k1=-1.0), dict(b=1.5), dict(analyzer="sentence")):
        with pytest.raises(TagrankInputError):
            BM25Scorer(**bad).fit(["a b"])


def test_degenerate_corpus_without_tokens():
    # emoji are content (not blank) but the word analyzer finds no token in them: every score is 0
    s = BM25Scorer().fit(["\U0001F600", "\u263a"])
    np.testing.assert_array_equal(s.score_pairs(["a", "\U0001F600"], ["\U0001F600", "\U0001F600"]), [0.0, 0.0])
    ids, scores = s.top_k(["a"], k=2)
    assert list(ids[0]) == [0, 1] and list(scores[0]) == [0.0, 0.0]
    with pytest.raises(BlankTextError, match=r"corpus\[0\] is blank"):  # punctuation only: no token at all
        BM25Scorer().fit(["!!!", "..."])


def test_chinese_bm25():
    s = BM25Scorer().fit(["苹果手机壳", "华为手机", "耐克运动鞋"], ids=["case", "huawei", "shoes"])
    ids, scores = s.top_k(["华为手机"], k=3)
    assert ids[0, 0] == "huawei" and scores[0, 2] == 0.0


def test_max_scores_not_fitted():
    with pytest.raises(NotFittedError):
        BM25Scorer().max_scores(["a"])


def test_top_k_equals_bm25s_lucene_on_the_same_tokens():
    """bm25s's method='lucene' is the library's formula divided by (k1 + 1): same documents, same
    order (ties aside: bm25s breaks them its own way), scores in the ratio k1 + 1."""
    bm25s = pytest.importorskip("bm25s")
    from tagrank.baselines.text import Tokenizer

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    docs = [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(300)]
    queries = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(40)]
    tok = Tokenizer().words
    index = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    index.index([tok(d) for d in docs], show_progress=False)
    their_idx, their_scores = index.retrieve([tok(q) for q in queries], k=10, show_progress=False)
    scorer = BM25Scorer(k1=1.2, b=0.75, idf="lucene").fit(docs, list(range(len(docs))))
    mine_idx, mine_scores = scorer.top_k(queries, 10)
    mine_idx = mine_idx.astype(np.int64)
    np.testing.assert_allclose(np.sort(mine_scores, axis=1), np.sort(their_scores * 2.2, axis=1), rtol=1e-5)
    for q in range(len(queries)):
        kth = mine_scores[q, -1]
        for d in set(their_idx[q].tolist()) - set(mine_idx[q].tolist()):  # only ties at the cut differ
            assert scorer.score_pairs([queries[q]], [docs[d]])[0] == pytest.approx(kth, rel=1e-9)
