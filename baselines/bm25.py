"""Okapi BM25 on sparse matrices.

For a query q and a document d of the fitted corpus (N documents, average
length ``avgdl``; ``dl`` = number of analyzer tokens of d, ``tf`` = count of
term t in d, ``qtf`` = count of t in q)::

    score(q, d) = sum_t  qtf_t * idf_t * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

* ``idf="lucene"`` (default): ``idf_t = ln(1 + (N - df_t + 0.5) / (df_t + 0.5))``,
  Lucene's variant, never negative. (Lucene >= 8 also drops the constant
  ``(k1 + 1)`` factor, which changes no ranking; bm25s' ``method="lucene"``
  scores are ours divided by ``k1 + 1``.)
* ``idf="robertson"``: ``idf_t = ln((N - df_t + 0.5) / (df_t + 0.5))``, the
  classic Robertson/Sparck Jones idf, negative for terms in more than half of
  the corpus; it equals rank_bm25's ``BM25Okapi`` wherever that idf is positive
  (rank_bm25 floors negative idfs at ``epsilon * mean idf``; we do not).
* Query terms count once per occurrence (``qtf``), as in Lucene and rank_bm25:
  ``"red red shoe"`` weighs ``red`` twice.
* Terms unseen in fit contribute 0. ``score_pairs(query, text)`` scores a
  query against any text with the corpus statistics of fit (N, df, avgdl); its
  ``dl`` counts all the text's tokens, seen in fit or not. For a corpus text it
  equals the ``top_k`` score.

The document side is precomputed once as ``W[d, t]`` (the summand without
``qtf``), so retrieval is the sparse product ``Q_counts @ W.T`` in bounded
chunks (:func:`baselines.sparse_topk.sparse_top_k`).

Scores are not normalised. ``features()`` gives ``bm25`` and ``bm25_norm`` =
score / (the score of a document with infinite tf of every query term)
= score / ``sum_t qtf_t * idf_t * (k1 + 1)``, in [0, 1) for the lucene idf
(0 when no query term was seen in fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tagrank.baselines.saved import load_guard
from tagrank.baselines.base import TextScorer
from tagrank.baselines.sparse_topk import (
    build_matrix,
    csr_from_arrays,
    csr_to_arrays,
    gathered_row_dot,
    load_state,
    row_dot,
    save_state,
    cached_postings,
    sparse_top_k,
    unique_rows,
    vocabulary_from_array,
    vocabulary_to_array,
)
from tagrank.baselines.text import Analyzer, Tokenizer
from tagrank.baselines.validation import TagrankInputError, check_number, check_same_length, check_texts

IDF_VARIANTS = ("lucene", "robertson")


class BM25Scorer(TextScorer):
    """Okapi BM25 (see the module docstring for the exact formula and variants).

    ``analyzer`` is ``"word"`` (default) or ``"char"`` (char_wb n-grams over
    ``ngram_range``, default (1, 1) for words; pass e.g. (3, 3) for chars).
    """

    name = "bm25"
    format_version = 1

    def __init__(
        self,
        k1: float = 1.2,
        b: float = 0.75,
        analyzer: str = "word",
        idf: str = "lucene",
        ngram_range: tuple[int, int] = (1, 1),
        lowercase: bool = True,
        language: str = "auto",
    ):
        self.k1 = k1
        self.b = b
        self.analyzer = analyzer
        self.idf = idf
        self.ngram_range = ngram_range
        self.lowercase = lowercase
        self.language = language

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        if self.idf not in IDF_VARIANTS:
            raise TagrankInputError(f"idf must be one of {IDF_VARIANTS}, got {self.idf!r}")
        check_number(self.k1, "k1", minimum=0)
        check_number(self.b, "b", minimum=0, maximum=1)

    def _make_analyzer(self) -> Analyzer:
        return Analyzer(self.analyzer, self.ngram_range, Tokenizer(self.lowercase, self.language))

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """The analyzer's tokens of each text; plain words skip the n-gram wrapper (same tokens)."""
        analyzer = self.analyzer_
        if analyzer.kind == "word" and tuple(analyzer.ngram_range) == (1, 1):
            words = analyzer.tokenizer.words
            return [words(t) for t in texts]
        return [analyzer(t) for t in texts]

    def _counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """Counts over the fitted vocabulary (unseen terms dropped) and each text's full token count."""
        counts, lengths, inverse = self._distinct_counts(texts)
        return counts[inverse], lengths[inverse]

    def _distinct_counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """:meth:`_counts` of the distinct texts, and each input's distinct row."""
        distinct, inverse = unique_rows(texts)
        tokens = self._tokens(distinct)
        counts = build_matrix(tokens, self.vocabulary_)
        lengths = np.asarray([len(t) for t in tokens], dtype=np.float64)
        return counts, lengths, inverse

    def _doc_weights(self, tf: sp.csr_matrix, dl: np.ndarray) -> sp.csr_matrix:
        """W[d, t] = idf_t * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))."""
        w = tf.astype(np.float64, copy=True)
        row_norm = self.k1 * (1.0 - self.b + self.b * dl / self.avgdl_)
        denom = w.data + np.repeat(row_norm, np.diff(w.indptr))
        w.data = self.idf_[w.indices] * w.data * (self.k1 + 1.0) / denom
        return w

    # ------------------------------------------------------------------ TextScorer
    def _fit(self, texts: list[str]) -> None:
        self._check_params()
        self.analyzer_ = self._make_analyzer()
        vocabulary: dict[str, int] = {}
        distinct, inverse = unique_rows(texts)  # a catalogue repeats titles: analyse each once
        tokens = self._tokens(distinct)
        tf = build_matrix(tokens, vocabulary, grow=True)
        dl = np.fromiter((len(t) for t in tokens), dtype=np.float64, count=len(tokens))
        if len(distinct) < len(texts):
            tf, dl = tf[inverse], dl[inverse]
        n = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        if self.idf == "lucene":
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
        else:
            idf = np.log((n - df + 0.5) / (df + 0.5))
        self.vocabulary_ = vocabulary
        self.n_docs_ = n
        self.df_ = df
        self.idf_ = idf
        avgdl = float(dl.mean())
        self.avgdl_ = avgdl if avgdl > 0 else 1.0  # a corpus without any token scores 0 everywhere
        self.doc_weights_ = self._doc_weights(tf, dl)

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        self._check_fitted("doc_weights_")
        q, _, inverse = self._distinct_counts(left)
        return self._scores(q, inverse, right)

    def _scores(self, q: sp.csr_matrix, inverse: np.ndarray, right: list[str]) -> np.ndarray:
        """Scores of the distinct query counts ``q`` (expanded by ``inverse``) against ``right``."""
        rows = self.corpus_rows(right)
        if rows is not None:  # catalogue items: their fitted weights
            return gathered_row_dot(q, inverse, self.doc_weights_, rows)
        tf, dl = self._counts(right)
        return row_dot(q[inverse], self._doc_weights(tf, dl))

    def _best(self, q: sp.csr_matrix, inverse: np.ndarray) -> np.ndarray:
        """Each query's maximum possible score (see :meth:`max_scores`), from its distinct counts."""
        return np.asarray(q @ (self.idf_ * (self.k1 + 1.0)), dtype=np.float64).ravel()[inverse]

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted("doc_weights_")
        q, _ = self._counts(queries)
        return sparse_top_k(q, self.doc_weights_, k, postings=cached_postings(self, self.doc_weights_))

    def max_scores(self, queries: Sequence[str]) -> np.ndarray:
        """The supremum of each query's score over any document: sum_t qtf_t * idf_t * (k1 + 1)."""
        self._check_fitted("doc_weights_")
        texts = check_texts(queries, "queries")
        if not texts:
            return np.zeros(0, dtype=np.float64)
        q, _, inverse = self._distinct_counts(texts)
        return self._best(q, inverse)

    def feature_columns(self, left: Sequence[str], right: Sequence[str]) -> dict[str, np.ndarray]:
        """``bm25`` (raw score) and ``bm25_norm`` (score / the query's maximum possible score).

        Each distinct query is analysed once for both columns."""
        self._check_fitted("doc_weights_")
        lt, rt = check_texts(left, "left"), check_texts(right, "right")
        check_same_length(left=lt, right=rt)
        if not lt:
            return {"bm25": np.zeros(0), "bm25_norm": np.zeros(0)}
        q, _, inverse = self._distinct_counts(lt)
        scores, best = self._scores(q, inverse, rt), self._best(q, inverse)
        norm = np.divide(scores, best, out=np.zeros_like(scores), where=best > 0)
        return {"bm25": scores, "bm25_norm": norm}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save as a directory: ``config.json`` (params, format_version) + ``arrays.npz`` (no pickle)."""
        self._check_fitted("doc_weights_")
        arrays = {
            "vocabulary": vocabulary_to_array(self.vocabulary_),
            "df": self.df_,
            "idf": self.idf_,
            **csr_to_arrays("doc_weights", self.doc_weights_),
        }
        return save_state(path, self, self.format_version, arrays,
                          {"n_docs": self.n_docs_, "avgdl": self.avgdl_})

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> BM25Scorer:
        """Load a scorer written by :meth:`save` (the format version must match)."""
        scorer, arrays, extra = load_state(path, cls, cls.format_version)
        scorer._check_params()
        scorer.analyzer_ = scorer._make_analyzer()
        scorer.vocabulary_ = vocabulary_from_array(arrays["vocabulary"])
        scorer.df_ = arrays["df"]
        scorer.idf_ = arrays["idf"]
        scorer.n_docs_ = int(extra["n_docs"])
        scorer.avgdl_ = float(extra["avgdl"])
        scorer.doc_weights_ = csr_from_arrays("doc_weights", arrays)
        return scorer
