"""TF-IDF cosine similarity over scikit-learn's ``TfidfVectorizer`` with the tagrank tokenizer.

Each fitted block (``"word"`` n-grams and/or ``"char"`` char_wb n-grams, see
:mod:`baselines.text`) uses scikit-learn's defaults for the weighting:
``idf = ln((1 + N) / (1 + df)) + 1`` (smoothed), ``tf`` -> ``1 + ln(tf)`` when
``sublinear_tf`` (default), rows L2-normalised. Terms unseen in fit (or
pruned by ``min_df`` / ``max_df``) are ignored; a text without any known term
has a zero vector and a cosine of 0 with everything.

* ``analyzer="word"`` / ``"char"``: the score is the cosine of the block.
* ``analyzer="both"``: the score is the mean of the word and char cosines; the
  representation (``transform``) is the two L2-normalised blocks side by side,
  each scaled by ``1/sqrt(2)``, so dot products of it give exactly that mean.

``features()`` gives one column per block: ``tfidf_word`` and/or ``tfidf_char``, after the
score itself (``tfidf``) where there are two blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

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
from tagrank.baselines.validation import TagrankInputError, check_same_length, check_texts

TFIDF_ANALYZERS = ("word", "char", "both")


class TfidfScorer(TextScorer):
    """TF-IDF cosine; ``ngram_range`` is the word n-gram range, ``char_ngram_range`` the char one."""

    name = "tfidf"
    format_version = 1

    def __init__(
        self,
        analyzer: str = "word",
        ngram_range: tuple[int, int] = (1, 1),
        char_ngram_range: tuple[int, int] = (2, 4),
        sublinear_tf: bool = True,
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        lowercase: bool = True,
        language: str = "auto",
    ):
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.char_ngram_range = char_ngram_range
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self.max_df = max_df
        self.lowercase = lowercase
        self.language = language

    # ------------------------------------------------------------------ helpers
    def _blocks(self) -> tuple[str, ...]:
        if self.analyzer not in TFIDF_ANALYZERS:
            raise TagrankInputError(f"analyzer must be one of {TFIDF_ANALYZERS}, got {self.analyzer!r}")
        return ("word", "char") if self.analyzer == "both" else (self.analyzer,)

    def _vectorizer(self, kind: str, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        tokenizer = Tokenizer(lowercase=self.lowercase, language=self.language)
        ngrams = self.ngram_range if kind == "word" else self.char_ngram_range
        return TfidfVectorizer(
            analyzer=Analyzer(kind, ngrams, tokenizer),
            lowercase=False,  # the analyzer lower-cases
            token_pattern=None,
            vocabulary=vocabulary,
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=self.sublinear_tf,
            norm="l2",
            smooth_idf=True,
            dtype=np.float64,
        )

    def _block_matrices(self, texts: Sequence[str]) -> dict[str, sp.csr_matrix]:
        """Each block's L2-normalised rows for ``texts`` (each distinct text analysed once)."""
        distinct, inverse = unique_rows(texts)
        return {kind: self._vectorize(kind, distinct)[inverse] for kind in self.vectorizers_}

    def _vectorize(self, kind: str, texts: list[str]) -> sp.csr_matrix:
        """``vectorizers_[kind].transform(texts)``, computed directly from its analyzer, vocabulary and
        idf (scikit-learn's arithmetic: counts, 1 + ln(tf) when sublinear, x idf, L2 rows) without its
        per-call validation: a one-query request costs tens of microseconds."""
        vec = self.vectorizers_[kind]
        analyze, vocabulary = vec.build_analyzer(), vec.vocabulary_
        counts = build_matrix((analyze(t) for t in texts), vocabulary)
        x = sp.csr_matrix((counts.data.astype(np.float64), counts.indices, counts.indptr), shape=counts.shape)
        if self.sublinear_tf:
            np.log(x.data, out=x.data)
            x.data += 1.0
        x.data *= np.asarray(vec.idf_, dtype=np.float64)[x.indices]
        lengths = np.diff(x.indptr)
        row_of = np.repeat(np.arange(len(texts)), lengths)
        norms = np.sqrt(np.bincount(row_of, weights=x.data * x.data, minlength=len(texts)))
        x.data /= np.where(norms > 0, norms, 1.0)[row_of]
        return x

    def _combine(self, blocks: dict[str, sp.csr_matrix]) -> sp.csr_matrix:
        mats = [blocks[kind] for kind in self._blocks()]
        if len(mats) == 1:
            return sp.csr_matrix(mats[0])
        return sp.csr_matrix(sp.hstack(mats, format="csr") * (1.0 / np.sqrt(len(mats))))

    # ------------------------------------------------------------------ TextScorer
    def _fit(self, texts: list[str]) -> None:
        vectorizers = {}
        blocks = {}
        for kind in self._blocks():
            vec = self._vectorizer(kind)
            try:
                blocks[kind] = sp.csr_matrix(vec.fit_transform(texts))
            except ValueError as exc:  # empty vocabulary, or min_df / max_df pruned every term
                raise TagrankInputError(f"TfidfScorer({kind}) cannot be fitted on this corpus: {exc}") from None
            vectorizers[kind] = vec
        self.vectorizers_ = vectorizers
        self.doc_matrix_ = self._combine(blocks)
        self.doc_blocks_ = None  # derived from doc_matrix_ on first use, exactly as after load()

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF representation of ``texts`` (CSR, one row per text; see the module docstring)."""
        self._check_fitted("vectorizers_")
        checked = check_texts(texts, "texts")
        if not checked:
            return sp.csr_matrix((0, self.doc_matrix_.shape[1]))
        return self._combine(self._block_matrices(checked))

    def _doc_blocks(self) -> dict[str, sp.csr_matrix]:
        """Each block's rows of the fitted corpus (sliced out of ``doc_matrix_`` once, then kept: a
        fitted and a loaded scorer then score identically)."""
        if getattr(self, "doc_blocks_", None) is None:
            kinds = self._blocks()
            scale = np.sqrt(len(kinds)) if len(kinds) > 1 else 1.0
            blocks, start = {}, 0
            for kind in kinds:
                width = len(self.vectorizers_[kind].vocabulary_)
                blocks[kind] = sp.csr_matrix(self.doc_matrix_[:, start:start + width] * scale)
                start += width
            self.doc_blocks_ = blocks
        return self.doc_blocks_

    def _block_scores(self, left: list[str], right: list[str]) -> dict[str, np.ndarray]:
        rows = self.corpus_rows(right)
        if rows is not None:  # catalogue items: their fitted rows; each distinct query vectorised once
            distinct, inverse = unique_rows(left)
            return {kind: gathered_row_dot(self._vectorize(kind, distinct), inverse, m, rows)
                    for kind, m in self._doc_blocks().items()}
        lb = self._block_matrices(left)
        rb = self._block_matrices(right)
        return {kind: row_dot(lb[kind], rb[kind]) for kind in lb}

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        self._check_fitted("vectorizers_")
        per_block = self._block_scores(left, right)
        return np.mean(np.vstack(list(per_block.values())), axis=0)

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted("vectorizers_")
        return sparse_top_k(self._combine(self._block_matrices(queries)), self.doc_matrix_, k,
                            postings=cached_postings(self, self.doc_matrix_))

    def feature_columns(self, left: Sequence[str], right: Sequence[str]) -> dict[str, np.ndarray]:
        """One cosine column per block: ``tfidf_word`` and/or ``tfidf_char``; with ``analyzer="both"``
        the scorer's own score (their mean, :meth:`score_pairs`) comes first as ``tfidf``: a hybrid
        reads a scorer's first column as its own ranking (its guard serves it, group stats rank it)."""
        self._check_fitted("ids_")
        lt = check_texts(left, "left")
        rt = check_texts(right, "right")
        check_same_length(left=lt, right=rt)
        if not lt:
            blocks = {f"tfidf_{kind}": np.zeros(0) for kind in self._blocks()}
        else:
            blocks = {f"tfidf_{kind}": s for kind, s in self._block_scores(lt, rt).items()}
        if len(blocks) == 1:
            return blocks
        return {"tfidf": np.mean(np.vstack(list(blocks.values())), axis=0), **blocks}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save as a directory: ``config.json`` (params, format_version) + ``arrays.npz`` (no pickle)."""
        self._check_fitted("vectorizers_")
        arrays = csr_to_arrays("doc_matrix", self.doc_matrix_)
        for kind, vec in self.vectorizers_.items():
            arrays[f"{kind}_vocabulary"] = vocabulary_to_array(vec.vocabulary_)
            arrays[f"{kind}_idf"] = np.asarray(vec.idf_, dtype=np.float64)
        return save_state(path, self, self.format_version, arrays)

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> TfidfScorer:
        """Load a scorer written by :meth:`save` (the format version must match)."""
        scorer, arrays, _ = load_state(path, cls, cls.format_version)
        vectorizers = {}
        for kind in scorer._blocks():
            vec = scorer._vectorizer(kind, vocabulary_from_array(arrays[f"{kind}_vocabulary"]))
            vec.idf_ = arrays[f"{kind}_idf"]
            vectorizers[kind] = vec
        scorer.vectorizers_ = vectorizers
        scorer.doc_matrix_ = csr_from_arrays("doc_matrix", arrays)
        return scorer
