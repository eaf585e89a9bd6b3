"""Shared behaviour suite for TextScorers (TF-IDF, Jaccard, BM25, word2vec, transformers).

Usage: subclass ``TextScorerSuite`` in a ``Test*`` class and provide
``make_scorer()``, returning a fresh, small, fast, unfitted scorer (fixed
``random_state`` / ``device="cpu"`` where it has them)::

    class TestBM25(TextScorerSuite):
        def make_scorer(self):
            return BM25Scorer()

What it checks, for any ``baselines.base.TextScorer``:

* ``fit`` returns self; ``__init__`` only stores parameters (``get_params``
  rebuilds an equal scorer); ``name`` is set;
* ``score_pairs`` gives a float64 1-D array, finite, one score per pair;
  ``features`` gives a frame of float columns named ``<name>...``;
* determinism: two fits give identical ``score_pairs`` and ``top_k``;
* ``top_k`` agrees with brute force (every query scored against every corpus
  row with ``score_pairs``, ranked by score descending then corpus position);
* inputs (lists, pandas Series) are never mutated;
* clear ``TagrankInputError`` for an empty corpus, empty / blank / NaN / None
  text, mismatched lengths, duplicate ids and bad k; k larger than the corpus
  returns the whole corpus; ``NotFittedError`` before fit;
* ``save(path)`` / ``type(scorer).load(path)`` round trip gives identical
  scores (skipped when the scorer has no ``save``).

Class attributes to override: ``corpus`` / ``queries`` (texts the scorer can
handle, with word overlap and two identical corpus texts so ties occur),
``atol`` (tolerance between ``top_k`` and ``score_pairs`` scores: 1e-9 suits
float64 sparse scorers, ~1e-5 float32 embeddings) and ``tie_decimals`` (brute
force scores are rounded to this many decimals before ranking, so a float
rounding difference between the two paths cannot flip the order of a tie).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.base import TextScorer
from tagrank.baselines.validation import NotFittedError, TagrankInputError

CORPUS = [
    "Red cotton shirt for men",
    "Blue cotton shirt for women",
    "Red leather shoes for men",
    "Black leather shoes for women",
    "Blue denim jeans for men",
    "Black denim jeans, slim fit",
    "Red cotton shirt for men",  # a duplicate text: its scores tie with row 0
    "Stainless steel kitchen sink",
    "Cordless power drill 18V",
]

QUERIES = [
    "red shirt",
    "leather shoes for women",
    "denim",
    "kitchen sink",
    "cotton",
    "garden hose",  # shares nothing (or little) with the corpus
]


def brute_force_top_k(scorer: TextScorer, corpus: list[str], query: str, k: int, decimals: int):
    """Rank every corpus row for ``query`` with score_pairs: score desc, then position asc."""
    scores = scorer.score_pairs([query] * len(corpus), corpus)
    order = np.lexsort((np.arange(len(corpus)), -np.round(scores, decimals)))[:k]
    return order, scores[order]


class TextScorerSuite:
    """Mixin: the contract every TextScorer must meet (see the module docstring)."""

    corpus: list[str] = CORPUS
    queries: list[str] = QUERIES
    atol: float = 1e-9
    tie_decimals: int = 9

    def make_scorer(self) -> TextScorer:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def ids(self) -> list[str]:
        return [f"doc{i}" for i in range(len(self.corpus))]

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls) -> TextScorer:
        suite = cls()
        return suite.make_scorer().fit(list(suite.corpus), ids=suite.ids())

    # ------------------------------------------------------------------ basics

    def test_fit_returns_self(self):
        scorer = self.make_scorer()
        assert scorer.fit(list(self.corpus)) is scorer
        assert list(scorer.ids_) == list(range(len(self.corpus)))
        assert isinstance(scorer.name, str) and scorer.name != "scorer"

    def test_init_only_stores_params(self):
        scorer = self.make_scorer()
        assert not any(k.endswith("_") and not k.startswith("_") for k in vars(scorer))
        params = scorer.get_params()
        assert params and type(scorer)(**params).get_params() == params
        assert type(scorer).__name__ in repr(scorer)

    def test_score_pairs_shape_and_dtype(self, fitted):
        left = self.queries[:4]
        right = self.corpus[:4]
        s = fitted.score_pairs(left, right)
        assert isinstance(s, np.ndarray) and s.shape == (4,) and s.dtype == np.float64
        assert np.isfinite(s).all()
        empty = fitted.score_pairs([], [])
        assert empty.shape == (0,) and empty.dtype == np.float64
        # a text scored against itself is at least as similar as against an unrelated one
        same = fitted.score_pairs([self.corpus[0]], [self.corpus[0]])[0]
        assert same >= fitted.score_pairs([self.corpus[0]], [self.corpus[-1]])[0] - self.atol

    def test_corpus_texts_score_like_unseen_texts(self, fitted):
        """Pairs whose right side is all corpus texts may reuse the fitted representation: same scores."""
        import copy

        left = (self.queries * 2)[: len(self.corpus)]
        fast = fitted.score_pairs(left, self.corpus)
        assert fitted.corpus_rows(self.corpus) is not None
        plain = copy.copy(fitted)
        plain.text_rows_ = {}  # forget the corpus index: every text is analysed from scratch
        assert plain.corpus_rows(self.corpus) is None
        np.testing.assert_allclose(fast, plain.score_pairs(left, self.corpus), rtol=0, atol=self.atol)
        # a serving request: one query against every corpus text (the one-query fast paths)
        for query in self.queries:
            one = fitted.score_pairs([query] * len(self.corpus), self.corpus)
            np.testing.assert_allclose(one, plain.score_pairs([query] * len(self.corpus), self.corpus),
                                       rtol=0, atol=self.atol)
            np.testing.assert_allclose(one, [fitted.score_pairs([query], [c])[0] for c in self.corpus],
                                       rtol=0, atol=self.atol)
        # a request whose query shares no term with any candidate: float scores, and the features build
        stranger = "qxqxqx zvzvzv"
        assert fitted.score_pairs([stranger] * len(self.corpus), self.corpus).dtype == np.float64
        feats = fitted.features([stranger] * 3, self.corpus[:3])
        assert all(feats[c].dtype == np.float64 and np.isfinite(feats[c]).all() for c in feats.columns)

    def test_features(self, fitted):
        feats = fitted.features(self.queries[:3], self.corpus[:3])
        assert isinstance(feats, pd.DataFrame) and len(feats) == 3 and feats.shape[1] >= 1
        for col in feats.columns:
            assert str(col).startswith(fitted.name)
            assert feats[col].dtype == np.float64 and np.isfinite(feats[col]).all()

    def test_determinism(self):
        a = self.make_scorer().fit(list(self.corpus))
        b = self.make_scorer().fit(list(self.corpus))
        left = [q for q in self.queries for _ in self.corpus]
        right = list(self.corpus) * len(self.queries)
        np.testing.assert_array_equal(a.score_pairs(left, right), b.score_pairs(left, right))
        ia, sa = a.top_k(self.queries, k=4)
        ib, sb = b.top_k(self.queries, k=4)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(sa, sb)

    # ------------------------------------------------------------------ correctness

    @pytest.mark.parametrize("k", [1, 3, 100])
    def test_top_k_matches_brute_force(self, fitted, k):
        ids, scores = fitted.top_k(self.queries, k=k)
        kk = min(k, len(self.corpus))
        assert ids.shape == (len(self.queries), kk) and scores.shape == ids.shape
        assert scores.dtype == np.float64
        all_ids = np.asarray(self.ids(), dtype=object)
        for row, query in enumerate(self.queries):
            order, bf_scores = brute_force_top_k(fitted, list(self.corpus), query, kk, self.tie_decimals)
            np.testing.assert_allclose(scores[row], bf_scores, rtol=0, atol=self.atol)
            assert list(ids[row]) == list(all_ids[order]), f"query {query!r}"
            assert np.all(np.diff(scores[row]) <= self.atol)

    def test_top_k_of_a_corpus_text_finds_itself(self, fitted):
        ids, scores = fitted.top_k([self.corpus[0]], k=2)
        # rows 0 and 6 hold the same text: they tie and come in corpus order
        if self.corpus[0] in self.corpus[1:]:
            dup = self.corpus.index(self.corpus[0], 1)
            assert set(ids[0]) == {"doc0", f"doc{dup}"}
            assert scores[0, 0] == pytest.approx(scores[0, 1], abs=self.atol)
            if scores[0, 0] == scores[0, 1]:  # an exact tie goes by corpus position
                assert list(ids[0]) == ["doc0", f"doc{dup}"]
        else:
            assert ids[0, 0] == "doc0"

    def test_k_larger_than_corpus(self, fitted):
        ids, scores = fitted.top_k(self.queries[:2], k=10 * len(self.corpus))
        assert ids.shape == (2, len(self.corpus))
        for row in ids:
            assert sorted(row) == sorted(self.ids())
        assert np.isfinite(scores).all()

    def test_empty_query_list(self, fitted):
        ids, scores = fitted.top_k([], k=3)
        assert ids.shape == (0, 3) and scores.shape == (0, 3)

    def test_does_not_mutate_input(self):
        corpus = list(self.corpus)
        series = pd.Series(self.corpus, index=np.arange(10, 10 + len(self.corpus)))
        queries = pd.Series(self.queries)
        corpus_copy, series_copy, queries_copy = list(corpus), series.copy(), queries.copy()
        a = self.make_scorer().fit(corpus)
        b = self.make_scorer().fit(series, ids=pd.Series(self.ids()))
        for scorer in (a, b):
            scorer.top_k(queries, k=3)
            scorer.score_pairs(queries, series.iloc[: len(queries)])
            scorer.features(list(queries), corpus[: len(queries)])
        assert corpus == corpus_copy
        pd.testing.assert_series_equal(series, series_copy)
        pd.testing.assert_series_equal(queries, queries_copy)
        # a Series with a shifted index is read by position, like a list
        np.testing.assert_array_equal(
            a.score_pairs(list(queries), corpus[: len(queries)]),
            b.score_pairs(queries, series.iloc[: len(queries)]),
        )

    # ------------------------------------------------------------------ errors

    def test_empty_corpus(self):
        with pytest.raises(TagrankInputError, match="empty"):
            self.make_scorer().fit([])

    @pytest.mark.parametrize("bad", ["", "   ", None, float("nan"), np.nan, pd.NA])
    def test_bad_text(self, fitted, bad):
        with pytest.raises(TagrankInputError, match=r"corpus\[1\]"):
            self.make_scorer().fit([self.corpus[0], bad, self.corpus[2]])
        with pytest.raises(TagrankInputError, match=r"right\[0\]"):
            fitted.score_pairs([self.queries[0]], [bad])
        with pytest.raises(TagrankInputError, match=r"queries\[1\]"):
            fitted.top_k([self.queries[0], bad])

    def test_single_string_rejected(self, fitted):
        with pytest.raises(TagrankInputError, match="single string"):
            fitted.top_k(self.queries[0])

    def test_mismatched_lengths(self, fitted):
        with pytest.raises(TagrankInputError, match="mismatched lengths"):
            fitted.score_pairs(self.queries[:2], self.corpus[:3])
        with pytest.raises(TagrankInputError, match="mismatched lengths"):
            fitted.features(self.queries[:2], self.corpus[:3])
        with pytest.raises(TagrankInputError, match="mismatched lengths"):
            self.make_scorer().fit(list(self.corpus), ids=self.ids()[:-1])

    def test_duplicate_ids(self):
        with pytest.raises(TagrankInputError, match="is repeated"):
            self.make_scorer().fit(list(self.corpus[:2]), ids=["a", "a"])

    @pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
    def test_bad_k(self, fitted, bad):
        with pytest.raises(TagrankInputError, match="k must be"):
            fitted.top_k(self.queries[:1], k=bad)

    def test_not_fitted(self):
        scorer = self.make_scorer()
        with pytest.raises(NotFittedError):
            scorer.score_pairs(self.queries[:1], self.corpus[:1])
        with pytest.raises(NotFittedError):
            scorer.top_k(self.queries[:1])
        with pytest.raises(NotFittedError):
            scorer.features(self.queries[:1], self.corpus[:1])

    # ------------------------------------------------------------------ persistence

    def test_save_load_round_trip(self, fitted, tmp_path):
        if not hasattr(fitted, "save"):
            pytest.skip(f"{type(fitted).__name__} has no save()")
        with pytest.raises(NotFittedError):
            self.make_scorer().save(tmp_path / "unfitted")
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        assert type(loaded) is type(fitted)
        assert loaded.get_params() == fitted.get_params()
        left = [q for q in self.queries for _ in self.corpus]
        right = list(self.corpus) * len(self.queries)
        np.testing.assert_array_equal(loaded.score_pairs(left, right), fitted.score_pairs(left, right))
        i1, s1 = fitted.top_k(self.queries, k=5)
        i2, s2 = loaded.top_k(self.queries, k=5)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)
        pd.testing.assert_frame_equal(
            loaded.features(self.queries[:3], self.corpus[:3]), fitted.features(self.queries[:3], self.corpus[:3])
        )
