"""Jaccard similarity ``|A & B| / |A | B|`` of token sets, character n-gram sets or tag sets.

Units (``unit=``):

* ``"word"``: the set of words (:meth:`baselines.text.Tokenizer.words`);
* ``"char"``: the set of char_wb n-grams for n in ``ngram_range`` (default 2..3);
* ``"tag"``: a text is a list of tags joined by ``"|"`` (``"red|cotton|summer"``),
  each tag stripped (and lower-cased with ``lowercase=True``), empty tags
  dropped. Lists, tuples and sets of tag strings are accepted wherever texts
  are (``fit``, ``score_pairs``, ``top_k``, ``features``); a tag inside such a
  list must not contain ``"|"``.

Sets are stored as sparse binary matrices: the intersection of aligned pairs
is the row sum of ``A.multiply(B)``, of a query with every corpus row the
sparse product ``A @ B.T``; ``union = |A| + |B| - intersection``.

* A pair where both sets are empty (e.g. ``"!!!"`` with ``unit="word"``, or
  ``"|"`` with tags) scores 0; one empty set gives 0 too.
* Pairs are exact for any text: ``score_pairs`` builds its vocabulary from the
  two sides themselves, so terms unseen in fit count. In ``top_k`` a query's
  unseen terms cannot be shared with any corpus row but still count in its
  set size, so the scores equal ``score_pairs`` against the corpus texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from tagrank.baselines.text import Tokenizer, check_ngram_range
from tagrank.baselines.validation import TagrankInputError, is_missing

UNITS = ("word", "char", "tag")
TAG_SEPARATOR = "|"


def _jaccard(inter: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """``inter / (size_a + size_b - inter)``; the sizes broadcast to the shape of ``inter``.

    An empty union (both sets empty) gives 0.
    """
    union = np.add(size_a, size_b, dtype=np.float64)
    union -= inter
    np.maximum(union, 1.0, out=union)  # sizes are integers: a union of 0 has inter 0, and 0 / 1 = 0
    np.divide(inter, union, out=union)
    return union


class JaccardScorer(TextScorer):
    """Jaccard similarity of word / char n-gram / tag sets (see the module docstring)."""

    name = "jaccard"
    format_version = 1

    def __init__(
        self,
        unit: str = "word",
        ngram_range: tuple[int, int] = (2, 3),
        lowercase: bool = True,
        language: str = "auto",
    ):
        self.unit = unit
        self.ngram_range = ngram_range
        self.lowercase = lowercase
        self.language = language

    # ------------------------------------------------------------------ sets
    def _check_params(self) -> None:
        if self.unit not in UNITS:
            raise TagrankInputError(f"unit must be one of {UNITS}, got {self.unit!r}")
        check_ngram_range(self.ngram_range)

    def _term_lists(self, texts: Sequence[str]) -> list[list[str]]:
        """The distinct terms of each text (the sets the scores compare), in first-seen order."""
        if self.unit == "tag":
            out = []
            for text in texts:
                tags = (t.strip() for t in text.split(TAG_SEPARATOR))
                out.append(list(dict.fromkeys(t.lower() if self.lowercase else t for t in tags if t)))
            return out
        tok = Tokenizer(lowercase=self.lowercase, language=self.language)
        if self.unit == "char":
            n_range = check_ngram_range(self.ngram_range)
            return [list(dict.fromkeys(tok.char_ngrams(t, n_range))) for t in texts]
        return [list(dict.fromkeys(tok.words(t))) for t in texts]

    def terms(self, text: str) -> list[str]:
        """The distinct terms of one text (the set the scores compare), in first-seen order."""
        self._check_params()
        return self._term_lists(self._as_texts([text], "text"))[0]

    def _as_texts(self, values: Any, field: str) -> Any:
        """For ``unit="tag"``, lists/tuples/sets of tags become ``"|"``-joined strings (a new list)."""
        if self.unit != "tag" or isinstance(values, str):
            return values
        out = []
        for i, value in enumerate(values):
            if isinstance(value, list | tuple | set | frozenset | np.ndarray):
                tags = []
                for tag in value:
                    if is_missing(tag) or not isinstance(tag, str):
                        raise TagrankInputError(f"{field}[{i}] has a tag that is not a string: {tag!r}")
                    if TAG_SEPARATOR in tag:
                        raise TagrankInputError(f"{field}[{i}] has a tag containing {TAG_SEPARATOR!r}: {tag!r}")
                    tags.append(tag)
                value = TAG_SEPARATOR.join(sorted(tags))
            out.append(value)
        return out

    def _sets(self, texts: Sequence[str], vocabulary: dict[str, int], grow: bool) -> tuple[sp.csr_matrix, np.ndarray]:
        """Binary set matrix over ``vocabulary`` and each text's full set size (unknown terms included)."""
        distinct, inverse = unique_rows(texts)
        term_lists = self._term_lists(distinct)
        matrix = build_matrix(term_lists, vocabulary, grow=grow, binary=True)
        sizes = np.asarray([len(t) for t in term_lists], dtype=np.float64)
        return matrix[inverse], sizes[inverse]

    # ------------------------------------------------------------------ public API with tag lists
    def fit(self, corpus: Sequence[Any], ids: Sequence[Any] | None = None) -> JaccardScorer:
        super().fit(self._as_texts(corpus, "corpus"), ids)
        return self

    def score_pairs(self, left: Sequence[Any], right: Sequence[Any]) -> np.ndarray:
        return super().score_pairs(self._as_texts(left, "left"), self._as_texts(right, "right"))

    def top_k(self, queries: Sequence[Any], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return super().top_k(self._as_texts(queries, "queries"), k)

    def feature_columns(self, left: Sequence[Any], right: Sequence[Any]) -> dict[str, np.ndarray]:
        """One column, ``jaccard_<unit>`` (``jaccard_word``, ``jaccard_char`` or ``jaccard_tag``)."""
        return {f"jaccard_{self.unit}": self.score_pairs(left, right)}

    # ------------------------------------------------------------------ TextScorer
    def _fit(self, texts: list[str]) -> None:
        self._check_params()
        vocabulary: dict[str, int] = {}
        matrix, sizes = self._sets(texts, vocabulary, grow=True)
        self.vocabulary_ = vocabulary
        self.doc_sets_ = matrix
        self.doc_sizes_ = sizes

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        self._check_fitted("doc_sets_")
        rows = self.corpus_rows(right)
        if rows is not None:  # catalogue items: their fitted sets (a left term outside the vocabulary matches none)
            distinct, inverse = unique_rows(left)
            a, size_a = self._sets(distinct, self.vocabulary_, grow=False)
            inter = gathered_row_dot(a, inverse, self.doc_sets_, rows)
            return _jaccard(inter, size_a[inverse], self.doc_sizes_[rows])
        vocabulary: dict[str, int] = {}
        a, size_a = self._sets(left, vocabulary, grow=True)
        b, size_b = self._sets(right, vocabulary, grow=True)
        a.resize(a.shape[0], len(vocabulary))  # right may have added columns
        return _jaccard(row_dot(a, b), size_a, size_b)

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted("doc_sets_")
        q, q_sizes = self._sets(queries, self.vocabulary_, grow=False)
        d_sizes = self.doc_sizes_

        def ratio(inter: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            return _jaccard(inter, q_sizes[rows], d_sizes[cols])

        return sparse_top_k(q, self.doc_sets_, k, transform=ratio, postings=cached_postings(self, self.doc_sets_))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save as a directory: ``config.json`` (params, format_version) + ``arrays.npz`` (no pickle)."""
        self._check_fitted("doc_sets_")
        arrays = {"vocabulary": vocabulary_to_array(self.vocabulary_), **csr_to_arrays("doc_sets", self.doc_sets_)}
        return save_state(path, self, self.format_version, arrays)

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> JaccardScorer:
        """Load a scorer written by :meth:`save` (the format version must match)."""
        scorer, arrays, _ = load_state(path, cls, cls.format_version)
        scorer._check_params()
        scorer.vocabulary_ = vocabulary_from_array(arrays["vocabulary"])
        scorer.doc_sets_ = csr_from_arrays("doc_sets", arrays)
        scorer.doc_sizes_ = np.diff(scorer.doc_sets_.indptr).astype(np.float64)
        return scorer
