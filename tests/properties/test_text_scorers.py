"""Property: every text scorer either answers well-formed results or raises TagrankInputError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagrank.baselines.bm25 import BM25Scorer
from tagrank.baselines.jaccard import JaccardScorer
from tagrank.baselines.random_scorer import RandomScorer
from tagrank.baselines.tfidf import TfidfScorer
from tagrank.baselines.validation import BlankTextError, has_content
from tagrank.baselines.word2vec import Word2VecScorer
from tests.properties.strategies import (
    call,
    check_ranking,
    good_text,
    huge_text,
    ids,
    k_value,
    maybe_text,
    mostly,
    same,
    snapshot,
    text,
)

SCORERS = {
    "bm25": BM25Scorer,
    "bm25_char": lambda: BM25Scorer(analyzer="char", ngram_range=(2, 3)),
    "tfidf": lambda: TfidfScorer(analyzer="both"),
    "jaccard": JaccardScorer,
    "jaccard_tag": lambda: JaccardScorer(unit="tag"),
    "word2vec": lambda: Word2VecScorer(vector_size=8, epochs=1, min_count=1, workers=1, random_state=0),
    "random": lambda: RandomScorer(random_state=0),
}
RANKERS = [name for name in SCORERS if name != "random"]  # RandomScorer only scores pairs
FITTED = {name: make().fit(["red shoe", "blue hat", "\u7ea2\u8272\u624b\u673a\u58f3", "men's wool hat 2.5"],
                           ids=["s", 7, "\u58f3", 2.5]) for name, make in SCORERS.items()}


@pytest.mark.parametrize("name", RANKERS)
@given(corpus=mostly(good_text, maybe_text, 8), queries=mostly(good_text, maybe_text, 4), k=k_value,
       use_ids=st.booleans(), id_values=st.one_of(st.lists(ids, min_size=8, max_size=8, unique=True),
                                                  st.lists(ids, min_size=8, max_size=8)))
def test_fit_and_top_k(name, corpus, queries, k, use_ids, id_values):
    corpus_before, queries_before = snapshot(corpus), snapshot(queries)
    given_ids = id_values[: len(corpus)] if use_ids else None
    ok, scorer = call(SCORERS[name]().fit, corpus, given_ids)
    assert same(corpus, corpus_before)
    if not ok:
        return
    catalogue = set(scorer.ids_.tolist())
    ok, out = call(scorer.top_k, queries, k)
    assert same(queries, queries_before)
    if ok:
        check_ranking(*out, n_rows=len(queries), catalogue=catalogue, max_k=len(corpus))
        assert all(isinstance(q, str) and has_content(q) for q in queries)  # blank queries never get an answer


@pytest.mark.parametrize("name", list(SCORERS))
@given(n=st.integers(0, 5), texts=mostly(good_text, maybe_text, 10), extra=st.booleans())
def test_score_pairs(name, n, texts, extra):
    left, right = texts[:n], texts[n : 2 * n + int(extra)]  # aligned, or one longer
    scorer = FITTED[name]
    before = snapshot((left, right))
    ok, scores = call(scorer.score_pairs, left, right)
    assert same((left, right), before)
    if ok:
        assert scores.shape == (len(left),) and scores.dtype == np.float64 and np.isfinite(scores).all()
        if not hasattr(scorer, "feature_columns"):
            return
        ok2, cols = call(scorer.feature_columns, left, right)
        assert ok2 and all(np.asarray(c).shape == (len(left),) and np.isfinite(c).all() for c in cols.values())
    else:
        assert len(left) != len(right) or not all(isinstance(t, str) and has_content(t) for t in left + right)


@pytest.mark.parametrize("name", ["bm25", "tfidf", "jaccard"])
@settings(max_examples=5, deadline=None)
@given(big=huge_text, query=text)
def test_huge_texts(name, big, query):
    scorer = SCORERS[name]().fit([big, "red shoe"])
    ok, out = call(scorer.top_k, [query, big], 2)
    if ok:
        check_ranking(*out, n_rows=2, catalogue={0, 1}, max_k=2)


@pytest.mark.parametrize("name", RANKERS)
@pytest.mark.parametrize("query", ["!!! ??? ...", "\u200b\u200b", "\x00\x01\x7f", " \u0301 "])
def test_blank_queries_are_one_error_everywhere(name, query):
    with pytest.raises(BlankTextError):
        FITTED[name].top_k([query], 2)
    with pytest.raises(BlankTextError):
        FITTED[name].score_pairs(["red"], [query])
    with pytest.raises(BlankTextError):
        SCORERS[name]().fit(["red shoe", query])
