"""Tokenisation shared by every text scorer (TF-IDF, Jaccard, BM25, word2vec).

``Tokenizer.words`` splits a text into words:

* the text is (optionally) NFKC-normalised, which folds full-width forms
  (``ＡＢＣ１２３`` -> ``ABC123``) common in Chinese e-commerce text, and
  lower-cased;
* runs of CJK ideographs are segmented with jieba (``language`` ``"zh"`` or
  ``"auto"``; jieba and its dictionary load lazily on the first Chinese text,
  with jieba's logger silenced);
* everything else is split with a unicode word regex: letters/digits runs,
  decimal numbers such as ``2.5`` or ``1,000`` kept whole, underscores and
  punctuation are separators. With ``normalize=True`` a possessive ``'s`` is
  stripped (``men's`` -> ``men``) and inner apostrophes are dropped
  (``don't`` -> ``dont``).

So mixed text works: ``"苹果iPhone 15手机壳"`` -> ``苹果 / iphone / 15 / 手机 / 壳``.
With ``language="en"`` jieba is never used and a CJK run is one token.

``Tokenizer.char_ngrams`` reproduces scikit-learn's ``analyzer="char_wb"``:
n-grams inside each whitespace-separated chunk padded with one space on each
side (a chunk shorter than ``n`` yields its padded self once).

``Analyzer`` (built by :func:`make_analyzer`) is a callable ``text -> list of
features`` usable as scikit-learn's ``analyzer=``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from tagrank.baselines.validation import TagrankInputError

LANGUAGES = ("auto", "en", "zh")
ANALYZERS = ("word", "char")

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK_RUN = re.compile(f"([{_CJK}]+)")
_HAS_CJK = re.compile(f"[{_CJK}]")
# A decimal number (2.5, 1,000) or a run of letters/digits with inner apostrophes.
_WORD = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['\u2019][^\W_]+)*")
_POSSESSIVE = re.compile(r"['\u2019]s$")
_APOSTROPHE = re.compile(r"['\u2019]")
_WHITESPACE = re.compile(r"\s\s+")

_jieba_module: Any = None


def _jieba() -> Any:
    """Import jieba on first use, with its logger quiet (the dictionary loads on the first cut)."""
    global _jieba_module
    if _jieba_module is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        logging.getLogger("jieba").setLevel(logging.WARNING)
        _jieba_module = jieba
    return _jieba_module


def contains_cjk(text: str) -> bool:
    """True when ``text`` has at least one CJK ideograph."""
    return _HAS_CJK.search(text) is not None


def check_ngram_range(n_range: Any, field: str = "ngram_range", minimum: int = 1) -> tuple[int, int]:
    """``(min_n, max_n)`` as ints with ``minimum <= min_n <= max_n``, else a clear error."""
    try:
        lo, hi = (int(v) for v in n_range)
    except (TypeError, ValueError):
        raise TagrankInputError(f"{field} must be a pair (min_n, max_n), got {n_range!r}") from None
    if lo < minimum or hi < lo:
        raise TagrankInputError(f"{field} must satisfy {minimum} <= min_n <= max_n, got {n_range!r}")
    return lo, hi


class Tokenizer:
    """Word and character n-gram tokenisation for English, Chinese and mixed text.

    Parameters
    ----------
    lowercase:
        Lower-case before tokenising (jieba is unaffected by case).
    language:
        ``"auto"`` (segment CJK runs with jieba when present), ``"zh"`` (the same;
        kept for explicitness) or ``"en"`` (never call jieba).
    normalize:
        NFKC-normalise the text and, for words, strip possessive ``'s`` and drop
        inner apostrophes.
    """

    def __init__(self, lowercase: bool = True, language: str = "auto", normalize: bool = True):
        if language not in LANGUAGES:
            raise TagrankInputError(f"language must be one of {LANGUAGES}, got {language!r}")
        self.lowercase = lowercase
        self.language = language
        self.normalize = normalize

    def __repr__(self) -> str:
        return f"Tokenizer(lowercase={self.lowercase!r}, language={self.language!r}, normalize={self.normalize!r})"

    def prepare(self, text: str) -> str:
        """The text as tokenised: NFKC-normalised and lower-cased per the settings."""
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
        return text.lower() if self.lowercase else text

    def _latin_words(self, text: str) -> list[str]:
        tokens = _WORD.findall(text)
        if not self.normalize or ("'" not in text and "\u2019" not in text):
            return tokens
        out = []
        for tok in tokens:
            if "'" in tok or "\u2019" in tok:
                tok = _APOSTROPHE.sub("", _POSSESSIVE.sub("", tok))
            if tok:
                out.append(tok)
        return out

    def words(self, text: str) -> list[str]:
        """The words of ``text`` in order (repeats kept)."""
        text = self.prepare(text)
        if self.language == "en" or not contains_cjk(text):
            return self._latin_words(text)
        jieba = _jieba()
        out: list[str] = []
        for i, part in enumerate(_CJK_RUN.split(text)):
            if not part:
                continue
            if i % 2:  # odd parts of re.split with one group are the CJK runs
                out.extend(tok for tok in jieba.lcut(part, HMM=True) if tok.strip())
            else:
                out.extend(self._latin_words(part))
        return out

    def word_ngrams(self, text: str, n_range: tuple[int, int] = (1, 1)) -> list[str]:
        """Word n-grams (joined by one space) for n in ``n_range``, inclusive."""
        lo, hi = check_ngram_range(n_range, "ngram_range", 1)
        tokens = self.words(text)
        if (lo, hi) == (1, 1):
            return tokens
        out: list[str] = []
        for n in range(lo, hi + 1):
            out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return out

    def char_ngrams(self, text: str, n_range: tuple[int, int] = (2, 4)) -> list[str]:
        """Character n-grams within word boundaries, like scikit-learn's ``char_wb``."""
        lo, hi = check_ngram_range(n_range, "ngram_range", 1)
        text = _WHITESPACE.sub(" ", self.prepare(text))
        out: list[str] = []
        for chunk in text.split():
            w = f" {chunk} "
            size = len(w)
            for n in range(lo, hi + 1):
                if size <= n:  # a short chunk counts once, as its padded self
                    out.append(w)
                    break
                out.extend([w[i : i + n] for i in range(size - n + 1)])
        return out


class Analyzer:
    """A callable ``text -> list[str]`` of word n-grams or character n-grams.

    Usable directly as scikit-learn's ``analyzer=``; ``kind`` is ``"word"`` or
    ``"char"`` (char_wb-style n-grams), ``ngram_range`` the inclusive n range.
    """

    def __init__(self, kind: str = "word", ngram_range: tuple[int, int] = (1, 1), tokenizer: Tokenizer | None = None):
        if kind not in ANALYZERS:
            raise TagrankInputError(f"analyzer must be one of {ANALYZERS}, got {kind!r}")
        self.kind = kind
        self.ngram_range = check_ngram_range(ngram_range, "ngram_range", 1)
        self.tokenizer = tokenizer if tokenizer is not None else Tokenizer()

    def __call__(self, text: str) -> list[str]:
        if self.kind == "word":
            return self.tokenizer.word_ngrams(text, self.ngram_range)
        return self.tokenizer.char_ngrams(text, self.ngram_range)

    def __repr__(self) -> str:
        return f"Analyzer(kind={self.kind!r}, ngram_range={self.ngram_range!r}, tokenizer={self.tokenizer!r})"


def make_analyzer(
    kind: str = "word",
    ngram_range: tuple[int, int] | None = None,
    lowercase: bool = True,
    language: str = "auto",
    normalize: bool = True,
) -> Callable[[str], list[str]]:
    """Analyzer factory; ``ngram_range`` defaults to (1, 1) for words and (2, 4) for characters."""
    if ngram_range is None:
        ngram_range = (1, 1) if kind == "word" else (2, 4)
    return Analyzer(kind, ngram_range, Tokenizer(lowercase=lowercase, language=language, normalize=normalize))
