"""Shared text plumbing: the tokenizer (English, Chinese, mixed), analyzers, sparse top-k, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from tagrank.baselines.sparse_topk import (
    build_matrix,
    ids_to_array,
    row_dot,
    select_top_k,
    sparse_top_k,
    unique_rows,
    vocabulary_from_array,
    vocabulary_to_array,
)
from tagrank.baselines.text import Analyzer, Tokenizer, contains_cjk, make_analyzer
from tagrank.baselines.validation import TagrankInputError

# ---------------------------------------------------------------------- tokenizer


def test_english_words():
    tok = Tokenizer()
    assert tok.words("Men's 2.5 in. x 1/2 in. Don't-Stop SHOES_x") == [
        "men", "2.5", "in", "x", "1", "2", "in", "dont", "stop", "shoes", "x",
    ]
    assert tok.words("Café naïve") == ["café", "naïve"]
    assert tok.words("!!! ...") == []


def test_tokenizer_options():
    assert Tokenizer(lowercase=False).words("Red Shoe") == ["Red", "Shoe"]
    assert Tokenizer(normalize=False).words("men's shoe") == ["men's", "shoe"]
    # NFKC folds full-width letters and digits
    assert Tokenizer().words("ＡＢＣ１２３") == ["abc123"]
    assert Tokenizer(normalize=False).words("ＡＢＣ") == ["ａｂｃ"]
    with pytest.raises(TagrankInputError, match="language"):
        Tokenizer(language="fr")


def test_chinese_words_with_jieba():
    tok = Tokenizer()
    assert contains_cjk("我爱北京") and not contains_cjk("plain ascii")
    assert tok.words("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    # mixed text: CJK runs go to jieba, the rest to the word regex (lower-cased)
    mixed = tok.words("苹果iPhone 15手机壳，全新！")
    assert mixed[:3] == ["苹果", "iphone", "15"]
    assert "手机" in mixed and "，" not in mixed and "！" not in mixed
    # language="en" never calls jieba: a CJK run is one token
    assert Tokenizer(language="en").words("苹果iPhone手机") == ["苹果iphone手机"]


def test_char_ngrams_match_sklearn_char_wb():
    text = "Red  cotton-shirt, XL a"
    for n_range in [(2, 4), (1, 3), (3, 5), (2, 2)]:
        ours = Tokenizer().char_ngrams(text, n_range)
        ref = CountVectorizer(analyzer="char_wb", ngram_range=n_range).build_analyzer()(text)
        assert ours == ref, n_range
    # a short chunk yields its padded self once
    assert Tokenizer().char_ngrams("a", (3, 4)) == [" a "]
    assert Tokenizer().char_ngrams("北京", (2, 2)) == [" 北", "北京", "京 "]


def test_word_ngrams_and_analyzer():
    tok = Tokenizer()
    assert tok.word_ngrams("red cotton shirt", (1, 2)) == ["red", "cotton", "shirt", "red cotton", "cotton shirt"]
    assert tok.word_ngrams("red", (2, 3)) == []
    word = make_analyzer("word")
    char = make_analyzer("char")
    assert word("Red Shoe") == ["red", "shoe"]
    assert char("ab") == [" a", "ab", "b ", " ab", "ab ", " ab "]
    assert isinstance(word, Analyzer) and "word" in repr(word)
    # usable as scikit-learn's analyzer=
    cv = CountVectorizer(analyzer=word).fit(["Red shoe", "blue SHOE"])
    assert sorted(cv.vocabulary_) == ["blue", "red", "shoe"]
    with pytest.raises(TagrankInputError, match="analyzer"):
        Analyzer("sentence")
    with pytest.raises(TagrankInputError, match="ngram_range"):
        Analyzer("char", (3, 2))
    with pytest.raises(TagrankInputError, match="ngram_range"):
        Analyzer("char", (0, 2))


# ---------------------------------------------------------------------- sparse helpers


def test_build_matrix_and_unique_rows():
    vocab: dict[str, int] = {}
    m = build_matrix([["a", "b", "a"], [], ["c"]], vocab, grow=True)
    assert vocab == {"a": 0, "b": 1, "c": 2}
    np.testing.assert_array_equal(m.toarray(), [[2, 1, 0], [0, 0, 0], [0, 0, 1]])
    b = build_matrix([["a", "z", "a"]], vocab, binary=True)  # unknown "z" skipped, vocab unchanged
    np.testing.assert_array_equal(b.toarray(), [[1, 0, 0]])
    assert len(vocab) == 3
    distinct, inverse = unique_rows(["x", "y", "x", "z"])
    assert distinct == ["x", "y", "z"] and inverse.tolist() == [0, 1, 0, 2]
    np.testing.assert_allclose(row_dot(m, m), [5, 0, 1])


def test_persistence_helpers():
    vocab = {"b ": 1, " a": 0, "中文": 2}
    assert vocabulary_from_array(vocabulary_to_array(vocab)) == vocab
    assert ids_to_array(np.asarray([3, 1], dtype=object)).dtype == np.int64
    assert ids_to_array(np.asarray(["a", "b"], dtype=object)).dtype.kind == "U"
    with pytest.raises(TagrankInputError, match="all int or all str"):
        ids_to_array(np.asarray([1, "a"], dtype=object))


def brute_top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None):
    """Reference ranking: score desc, index asc; excluded pairs last as -1 / -inf."""
    n, m = scores.shape
    idx = np.empty((n, k), dtype=np.int64)
    out = np.empty((n, k))
    for i in range(n):
        s = scores[i].astype(float).copy()
        if exclude is not None:
            s[exclude[i]] = -np.inf
        order = np.lexsort((np.arange(m), -s))[:k]
        idx[i], out[i] = order, s[order]
        idx[i][np.isneginf(out[i])] = -1
    return idx, out


def test_sparse_top_k_ties_and_zero_fill():
    # doc 1 and doc 3 tie; query 1 matches one doc only, the rest is zeros filled by index
    docs = sp.csr_matrix(np.array([[0, 1.0, 0], [2.0, 0, 0], [0, 0, 1.0], [2.0, 0, 0]]))
    queries = sp.csr_matrix(np.array([[1.0, 0, 0], [0, 0, 3.0], [0, 0, 0]]))
    idx, scores = sparse_top_k(queries, docs, k=3)
    np.testing.assert_array_equal(idx, [[1, 3, 0], [2, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(scores, [[2, 2, 0], [3, 0, 0], [0, 0, 0]])
    # the dense path (every query "heavy") gives the same answer
    idx2, scores2 = sparse_top_k(queries, docs, k=3, dense_fraction=-1.0)
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_array_equal(scores2, scores)


def test_sparse_top_k_exclude_and_negative_scores():
    docs = sp.csr_matrix(np.array([[1.0, 0], [-1.0, 0], [0, 2.0], [0, 0]]))
    queries = sp.csr_matrix(np.array([[1.0, 0], [1.0, 1.0]]))
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 1], [1, 1, 1, 1]], dtype=bool))
    for frac in (0.5, -1.0):
        idx, scores = sparse_top_k(queries, docs, k=4, exclude=exclude, dense_fraction=frac)
        # query 0: doc 2 scores 0, doc 1 -1; docs 0 and 3 excluded; query 1: everything excluded
        np.testing.assert_array_equal(idx, [[2, 1, -1, -1], [-1, -1, -1, -1]])
        np.testing.assert_array_equal(scores[0], [0.0, -1.0, -np.inf, -np.inf])
        assert np.isneginf(scores[1]).all()


def test_sparse_top_k_errors():
    docs = sp.csr_matrix(np.eye(3))
    with pytest.raises(TagrankInputError, match="columns"):
        sparse_top_k(sp.csr_matrix(np.ones((1, 2))), docs, k=1)
    with pytest.raises(TagrankInputError, match="k must be"):
        sparse_top_k(docs, docs, k=0)
    with pytest.raises(TagrankInputError, match="exclude has shape"):
        sparse_top_k(docs, docs, k=1, exclude=sp.csr_matrix((2, 3)))
    with pytest.raises(TagrankInputError, match="chunk_size"):
        sparse_top_k(docs, docs, k=1, chunk_size=0)
    idx, scores = sparse_top_k(sp.csr_matrix((0, 3)), docs, k=2)
    assert idx.shape == (0, 2) and scores.shape == (0, 2)


def test_select_top_k_dense_block():
    block = np.array([[0.5, 0.9, 0.9, 0.1], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    for cap in (64, 1):  # cap=1 sends the flat all-zero row through the row-by-row path
        idx, scores = select_top_k(block, 2, candidate_cap=cap)
        np.testing.assert_array_equal(idx, [[1, 2], [0, 1], [3, 2]])
        np.testing.assert_array_equal(scores, [[0.9, 0.9], [0.0, 0.0], [4.0, 3.0]])
    idx, scores = select_top_k(block, 4)  # k == m: a full sort
    np.testing.assert_array_equal(idx[0], [1, 2, 0, 3])


@pytest.mark.parametrize("cap", [64, 2])
def test_select_top_k_sampled_bound_is_exact(cap):
    # m = 2000, k = 10: the bound comes from every 16th column; many exact ties
    rng = np.random.default_rng(7)
    block = rng.integers(0, 40, size=(30, 2000)).astype(float)
    block[3] = 0.0  # a flat row
    block[4, 1500:] = 50.0  # the top is all tied, late in the row
    idx, scores = select_top_k(block, 10, candidate_cap=cap)
    ref_idx, ref_scores = brute_top_k(block, 10)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 7),
    m=st.integers(1, 12),
    k=st.integers(1, 15),
    chunk=st.integers(1, 5),
    frac=st.sampled_from([0.5, -1.0, 10.0]),
    with_exclude=st.booleans(),
)
def test_sparse_top_k_matches_brute_force(seed, n, m, k, chunk, frac, with_exclude):
    rng = np.random.default_rng(seed)
    # small integer values (including negatives) make exact ties frequent
    q = sp.random(n, 6, density=0.4, random_state=rng, data_rvs=lambda s: rng.integers(1, 3, s)).tocsr()
    d = sp.random(m, 6, density=0.4, random_state=rng, data_rvs=lambda s: rng.integers(-1, 3, s)).tocsr()
    ex = rng.random((n, m)) < 0.3 if with_exclude else None
    idx, scores = sparse_top_k(q, d, k, chunk_size=chunk, dense_fraction=frac,
                               exclude=sp.csr_matrix(ex) if ex is not None else None)
    ref_idx, ref_scores = brute_top_k((q @ d.T).toarray(), min(k, m), ex)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores)


def test_sparse_top_k_does_not_modify_inputs():
    # non-canonical CSR (unsorted, duplicated column entries) must come back untouched
    q = sp.csr_matrix((np.array([1.0, 2.0, 1.0]), np.array([2, 0, 2]), np.array([0, 3])), shape=(1, 3))
    d = sp.csr_matrix(np.array([[1.0, 0, 1.0], [0, 1.0, 0]]))
    ex = sp.csr_matrix((np.array([True, True]), np.array([1, 1]), np.array([0, 2])), shape=(1, 2))
    before = [a.copy() for a in (q.data, q.indices, d.data, d.indices, ex.data, ex.indices)]
    idx, scores = sparse_top_k(q, d, k=2, exclude=ex)
    np.testing.assert_array_equal(idx, [[0, -1]])
    np.testing.assert_array_equal(scores, [[4.0, -np.inf]])  # q = (col 0: 2, col 2: 1 + 1) -> 2 * 1 + 2 * 1
    for a, b in zip(before, (q.data, q.indices, d.data, d.indices, ex.data, ex.indices), strict=True):
        np.testing.assert_array_equal(a, b)
