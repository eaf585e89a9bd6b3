"""word2vec text similarity with SIF sentence vectors (Arora, Liang & Ma 2017).

``fit(corpus)`` tokenises the corpus with :class:`baselines.text.Tokenizer`
(jieba for Chinese), trains gensim ``Word2Vec`` on it and embeds every corpus
text; ``top_k`` retrieves over those corpus texts (the TextScorer contract).
``fit(corpus, extra_texts=...)`` also trains on texts that are not retrieved
(e.g. gensim's Lee corpus, or the other side of a pair file): word vectors,
word frequencies and the principal component are learnt on corpus + extra.

Sentence vector (SIF):

1. ``p(w)`` = count of ``w`` / number of tokens in the training texts;
2. ``v_s = (1 / n_known) * sum_{w in s, w known} a / (a + p(w)) * v_w``, where
   the sum and ``n_known`` run over the tokens of ``s`` in the vocabulary
   (repeats counted), ``a = sif_a``;
3. with ``remove_pc``: ``v_s -= (u . v_s) u``, ``u`` the first right singular
   vector of the (uncentred) matrix of the training texts' sentence vectors,
   as in the reference implementation. For single-word "sentences" (word
   similarity lists) ``remove_pc=False`` keeps plain word cosines.

A word is *known* when it occurs at least ``min_count`` times in the training
texts. A text with no known word gets a zero vector: every pair it is in scores
0 (``oov_pairs`` flags them); an OOV query of ``top_k`` scores every corpus
row 0, so it gets the first corpus rows (ties go to the lower position). ``oov_rate_`` is the share of corpus texts with
no known word, ``token_oov_rate_`` the share of corpus tokens not known.

Determinism: ``workers=1`` (default), ``seed=random_state`` and a CRC32
``hashfxn`` make two fits give identical vectors. All scoring goes through
:mod:`baselines.vectors` (cosine) on ``device``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagrank.baselines.saved import load_guard
from tagrank.baselines.base import TextScorer
from tagrank.baselines.interactions import decode_ids, encode_ids, load_model_dir, save_model_dir
from tagrank.baselines.item2vec import check_positive_int, train_word2vec
from tagrank.baselines.text import Tokenizer
from tagrank.baselines.validation import TagrankInputError, check_same_length, check_texts
from tagrank.baselines.vectors import pair_scores, top_k


class Word2VecScorer(TextScorer):
    """word2vec + SIF sentence similarity.

    Parameters
    ----------
    vector_size, window, min_count, epochs, sg, negative, sample:
        gensim ``Word2Vec`` parameters (defaults suit small corpora: skip-gram,
        20 epochs, words seen fewer than 2 times are dropped).
    sif_a:
        SIF smoothing ``a`` (weights ``a / (a + p(w))``); > 0.
    remove_pc:
        remove the first principal component (fitted on the training texts).
    language, lowercase:
        passed to :class:`baselines.text.Tokenizer`.
    random_state:
        gensim's ``seed``.
    workers:
        gensim threads; keep 1 for reproducible vectors.
    device:
        where scoring runs: ``auto`` | ``cpu`` | ``cuda``.

    Fitted attributes: ``vocab_`` (str array), ``word_vectors_`` (float32,
    vocab x vector_size), ``word_weights_`` (SIF weight per vocab word),
    ``pc_`` (unit vector, or ``None`` without ``remove_pc``),
    ``corpus_vectors_``, ``oov_rate_``, ``token_oov_rate_``, ``ids_``.
    """

    name = "word2vec"

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 2,
        epochs: int = 20,
        sg: int = 1,
        negative: int = 5,
        sample: float = 1e-3,
        sif_a: float = 1e-3,
        remove_pc: bool = True,
        language: str = "auto",
        lowercase: bool = True,
        random_state: int = 0,
        workers: int = 1,
        device: str = "auto",
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.sg = sg
        self.negative = negative
        self.sample = sample
        self.sif_a = sif_a
        self.remove_pc = remove_pc
        self.language = language
        self.lowercase = lowercase
        self.random_state = random_state
        self.workers = workers
        self.device = device

    # ------------------------------------------------------------------ fit

    def fit(
        self, corpus: Sequence[str], ids: Sequence[Any] | None = None, extra_texts: Sequence[str] | None = None
    ) -> Word2VecScorer:
        """Train on ``corpus`` (+ ``extra_texts``, not retrieved) and embed the corpus."""
        extra = check_texts(extra_texts, "extra_texts") if extra_texts is not None else []
        self._pending_extra = extra
        try:
            super().fit(corpus, ids)
        finally:
            del self._pending_extra
        return self

    def _check_params(self) -> None:
        for field in ("vector_size", "window", "min_count", "epochs", "workers"):
            check_positive_int(getattr(self, field), field)
        check_positive_int(self.negative, "negative", minimum=0)
        if self.sg not in (0, 1):
            raise TagrankInputError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {self.sg!r}")
        a = self.sif_a
        if isinstance(a, bool) or not isinstance(a, int | float) or not np.isfinite(a) or a <= 0:
            raise TagrankInputError(f"sif_a must be a positive number, got {a!r}")
        if not isinstance(self.random_state, int | np.integer) or isinstance(self.random_state, bool):
            raise TagrankInputError(f"random_state must be an integer, got {self.random_state!r}")

    def _tokenizer(self) -> Tokenizer:
        return Tokenizer(lowercase=bool(self.lowercase), language=self.language)

    def _fit(self, texts: list[str]) -> None:
        self._check_params()

        tokenizer = self._tokenizer()
        extra = getattr(self, "_pending_extra", [])
        corpus_tokens = [tokenizer.words(t) for t in texts]
        train_tokens = corpus_tokens + [tokenizer.words(t) for t in extra]
        counts = Counter(tok for sent in train_tokens for tok in sent)
        total = sum(counts.values())
        if not counts or max(counts.values()) < self.min_count:
            raise TagrankInputError(
                f"no word occurs min_count={self.min_count} times in the training texts "
                f"({total} tokens): lower min_count or pass more text (extra_texts=)"
            )
        model = train_word2vec(
            [s for s in train_tokens if s],
            random_state=self.random_state,
            workers=self.workers,
            vector_size=int(self.vector_size),
            window=int(self.window),
            min_count=int(self.min_count),
            sg=int(self.sg),
            negative=int(self.negative),
            sample=float(self.sample),
            epochs=int(self.epochs),
        )
        vocab = list(model.wv.index_to_key)
        self.vocab_ = np.asarray(vocab, dtype=str)
        self.word_index_ = {w: i for i, w in enumerate(vocab)}
        self.word_vectors_ = np.array(model.wv.vectors, dtype=np.float32)
        p = np.asarray([counts[w] for w in vocab], dtype=np.float64) / total
        self.word_weights_ = float(self.sif_a) / (float(self.sif_a) + p)
        self.pc_ = None
        if self.remove_pc:
            raw = self._raw_vectors(train_tokens)
            self.pc_ = first_principal_component(raw[np.any(raw != 0, axis=1)])
        self.corpus_vectors_ = self._embed(corpus_tokens)
        known = [self._known(toks) for toks in corpus_tokens]
        self.corpus_oov_ = np.asarray([len(k) == 0 for k in known], dtype=bool)
        self.oov_rate_ = float(self.corpus_oov_.mean())
        n_tokens = sum(len(t) for t in corpus_tokens)
        self.token_oov_rate_ = 1.0 - sum(len(k) for k in known) / n_tokens if n_tokens else 1.0

    # ------------------------------------------------------------------ embedding

    def _known(self, tokens: list[str]) -> list[int]:
        index = self.word_index_
        return [index[t] for t in tokens if t in index]

    def _raw_vectors(self, token_lists: list[list[str]]) -> np.ndarray:
        """SIF weighted averages (float64), before principal-component removal."""
        out = np.zeros((len(token_lists), self.word_vectors_.shape[1]), dtype=np.float64)
        for i, tokens in enumerate(token_lists):
            rows = self._known(tokens)
            if rows:
                w = self.word_weights_[rows]
                out[i] = (w[:, None] * self.word_vectors_[rows]).sum(axis=0) / len(rows)
        return out

    def _embed(self, token_lists: list[list[str]]) -> np.ndarray:
        v = self._raw_vectors(token_lists)
        if self.pc_ is not None:
            v = v - np.outer(v @ self.pc_, self.pc_)
        return v.astype(np.float32)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """SIF sentence vectors (n x vector_size, float32); OOV texts are zero rows."""
        self._check_fitted("ids_")
        tt = check_texts(texts, "texts")
        tokenizer = self._tokenizer()
        return self._embed([tokenizer.words(t) for t in tt])

    def oov_mask(self, texts: Sequence[str]) -> np.ndarray:
        """True for each text with no known word (its vector is zero)."""
        self._check_fitted("ids_")
        tt = check_texts(texts, "texts")
        tokenizer = self._tokenizer()
        return np.asarray([not self._known(tokenizer.words(t)) for t in tt], dtype=bool)

    def oov_pairs(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """True for each aligned pair where either side has no known word (such pairs score 0)."""
        lt = check_texts(left, "left")
        rt = check_texts(right, "right")
        check_same_length(left=lt, right=rt)
        return self.oov_mask(lt) | self.oov_mask(rt)

    # ------------------------------------------------------------------ scoring

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        return pair_scores(self.transform(left), self.transform(right), metric="cosine", device=self.device)

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k(self.transform(queries), self.corpus_vectors_, k, metric="cosine", device=self.device)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Save to the directory ``path``: vocab, vectors, weights, pc, corpus vectors, ids (no pickle)."""
        self._check_fitted("ids_")
        ids, kind = encode_ids(self.ids_, "ids")
        arrays = {
            "ids": ids,
            "vocab": self.vocab_,
            "word_vectors": self.word_vectors_,
            "word_weights": self.word_weights_,
            "corpus_vectors": self.corpus_vectors_,
            "corpus_oov": self.corpus_oov_,
            "pc": self.pc_ if self.pc_ is not None else np.zeros(0, dtype=np.float64),
        }
        extra = {
            "class": type(self).__name__,
            "id_kind": kind,
            "oov_rate": self.oov_rate_,
            "token_oov_rate": self.token_oov_rate_,
            "has_pc": self.pc_ is not None,
        }
        return save_model_dir(path, self.name, self.get_params(), arrays, extra)

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> Word2VecScorer:
        """Load a model written by ``save``; it scores and retrieves (it is not re-trained)."""
        config, arrays = load_model_dir(path, cls.name)
        obj = cls(**config["params"])
        obj.ids_ = decode_ids(arrays["ids"], config["id_kind"])
        obj.id_index_ = {key: i for i, key in enumerate(obj.ids_)}
        obj.vocab_ = np.asarray(arrays["vocab"], dtype=str)
        obj.word_index_ = {str(w): i for i, w in enumerate(obj.vocab_.tolist())}
        obj.word_vectors_ = np.asarray(arrays["word_vectors"], dtype=np.float32)
        obj.word_weights_ = np.asarray(arrays["word_weights"], dtype=np.float64)
        obj.corpus_vectors_ = np.asarray(arrays["corpus_vectors"], dtype=np.float32)
        obj.corpus_oov_ = np.asarray(arrays["corpus_oov"], dtype=bool)
        obj.pc_ = np.asarray(arrays["pc"], dtype=np.float64) if config["has_pc"] else None
        obj.oov_rate_ = float(config["oov_rate"])
        obj.token_oov_rate_ = float(config["token_oov_rate"])
        return obj


def first_principal_component(x: np.ndarray) -> np.ndarray | None:
    """First right singular vector of ``x`` (uncentred, as in SIF), sign fixed; None for no rows."""
    if x.shape[0] == 0:
        return None
    gram = x.T @ x
    _, vecs = np.linalg.eigh(gram)
    u = vecs[:, -1]
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return u / np.linalg.norm(u)
