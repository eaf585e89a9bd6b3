"""item2vec (Barkan & Koenigstein 2016): word2vec over each user's item sequence.

Each user's history is one "sentence": their item rows ordered by
(timestamp, item id) (frame order when there is no ``timestamp`` column),
repeats kept. gensim's ``Word2Vec`` (skip-gram with negative sampling by
default) learns one vector per item.

* ``window`` should cover a basket: items bought together share a timestamp and
  their order inside the basket is arbitrary (item id), so a window shorter
  than a basket misses co-purchases. The default 50 covers 90% of the Online
  Retail invoices (median 15 products, p90 51) and approximates item2vec's "whole set as context" (on
  MovieLens, window 50 roughly tripled recall@10 over window 10);
  ``window=None`` uses the longest user sequence (costly for long histories).
* Items seen fewer than ``min_count`` times get a **zero vector**: every score
  involving them is 0 and they are recommended only when nothing scores higher.
  Rare items keep near-random vectors that cosine scoring does not discount, so
  ``min_count`` around 5 ranks much better than 1 on MovieLens (at the price of
  never recommending items under it).
* User vector = mean of the user's L2-normalised history item vectors
  (recency-weighted with ``recency_half_life``: the j-th most recent event,
  j = 0 for the latest, weighs ``0.5 ** (j / recency_half_life)``).
* score(user, item) = cosine(user vector, item vector); ``similar_items`` =
  cosine neighbours of the item vector. All scoring goes through
  :mod:`baselines.vectors` on ``device``.

Determinism: gensim is reproducible only single-threaded with a fixed seed and a
hash that does not depend on ``PYTHONHASHSEED``; training uses ``workers``
threads (default 1), ``seed=random_state`` and a stable CRC32 ``hashfxn``, so two
fits with the same ``random_state`` give identical vectors when ``workers=1``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.interactions import (
    InteractionPersistenceMixin,
    exclusion_mask,
    seen_matrix,
    self_mask,
    user_sequences,
)
from tagrank.baselines.validation import TagrankInputError
from tagrank.baselines.vectors import l2_normalize, pair_scores, top_k


def stable_hash(text: str) -> int:
    """A hash independent of ``PYTHONHASHSEED`` (gensim seeds each initial vector with it)."""
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(sentences: list[list[str]], random_state: int, workers: int, **params: Any) -> Any:
    """gensim Word2Vec with negative sampling, made deterministic: a fixed seed, a
    ``PYTHONHASHSEED``-independent hash, and (for exact repeats) ``workers=1``."""
    from gensim.models import Word2Vec

    return Word2Vec(
        sentences=sentences, hs=0, seed=int(random_state), workers=int(workers), hashfxn=stable_hash, **params
    )


def check_positive_int(value: Any, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise TagrankInputError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (zero rows stay zero), via the shared engine."""
    import torch

    return l2_normalize(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


class Item2VecScorer(InteractionPersistenceMixin, InteractionScorer):
    """item2vec recommender over time-ordered user histories (see the module doc).

    Parameters
    ----------
    vector_size, window, min_count, sg, negative, epochs, ns_exponent, sample:
        gensim ``Word2Vec`` parameters (``window=None``: the longest sequence).
    recency_half_life:
        ``None`` (plain mean) or a positive number of events for the user vector.
    random_state:
        gensim's ``seed``.
    workers:
        gensim threads; keep 1 for reproducible vectors.
    device:
        where scoring runs: ``auto`` | ``cpu`` | ``cuda``.

    Fitted attributes: ``item_vectors_`` (n_items x vector_size, float32, zero
    rows for items under ``min_count``), ``user_vectors_`` (n_users x
    vector_size), ``in_vocab_`` (bool per item), ``seen_``.
    """

    name = "item2vec"

    def __init__(
        self,
        vector_size: int = 64,
        window: int | None = 50,
        min_count: int = 1,
        sg: int = 1,
        negative: int = 10,
        epochs: int = 20,
        ns_exponent: float = 0.75,
        sample: float = 1e-3,
        recency_half_life: float | None = None,
        random_state: int = 0,
        workers: int = 1,
        device: str = "auto",
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.sg = sg
        self.negative = negative
        self.epochs = epochs
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.recency_half_life = recency_half_life
        self.random_state = random_state
        self.workers = workers
        self.device = device

    def _check_params(self) -> None:
        check_positive_int(self.vector_size, "vector_size")
        if self.window is not None:
            check_positive_int(self.window, "window")
        check_positive_int(self.min_count, "min_count")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.workers, "workers")
        check_positive_int(self.negative, "negative", minimum=0)
        if self.sg not in (0, 1):
            raise TagrankInputError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {self.sg!r}")
        for field in ("sample", "ns_exponent"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise TagrankInputError(f"{field} must be a finite number, got {value!r}")
        if self.sample < 0:
            raise TagrankInputError(f"sample must be >= 0, got {self.sample!r}")
        hl = self.recency_half_life
        if hl is not None and (isinstance(hl, bool) or not isinstance(hl, int | float) or not hl > 0):
            raise TagrankInputError(f"recency_half_life must be None or a positive number, got {hl!r}")
        if not isinstance(self.random_state, int | np.integer) or isinstance(self.random_state, bool):
            raise TagrankInputError(f"random_state must be an integer, got {self.random_state!r}")

    def _fit(self, interactions: pd.DataFrame, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        self._check_params()

        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        sequences = user_sequences(interactions, user_rows, item_rows, n_users, self.item_ids_)
        sentences = [[str(int(r)) for r in seq] for seq in sequences]
        counts = np.bincount(item_rows, minlength=n_items)
        if counts.max() < self.min_count:
            raise TagrankInputError(
                f"no item has min_count={self.min_count} interactions (the most frequent has "
                f"{int(counts.max())}): lower min_count"
            )
        window = self.window if self.window is not None else max(2, max(len(s) for s in sentences))
        model = train_word2vec(
            sentences,
            random_state=self.random_state,
            workers=self.workers,
            vector_size=int(self.vector_size),
            window=int(window),
            min_count=int(self.min_count),
            sg=int(self.sg),
            negative=int(self.negative),
            ns_exponent=float(self.ns_exponent),
            sample=float(self.sample),
            epochs=int(self.epochs),
        )
        vectors = np.zeros((n_items, int(self.vector_size)), dtype=np.float32)
        in_vocab = np.zeros(n_items, dtype=bool)
        for token, pos in model.wv.key_to_index.items():
            row = int(token)
            vectors[row] = model.wv.vectors[pos]
            in_vocab[row] = True
        self.item_vectors_ = vectors
        self.in_vocab_ = in_vocab
        self.user_vectors_ = self._user_vectors(sequences, vectors)
        self.seen_ = seen_matrix(user_rows, item_rows, n_users, n_items)

    def _user_vectors(self, sequences: list[np.ndarray], item_vectors: np.ndarray) -> np.ndarray:
        unit = normalize_rows(item_vectors)
        out = np.zeros((len(sequences), item_vectors.shape[1]), dtype=np.float32)
        for u, seq in enumerate(sequences):
            if len(seq) == 0:
                continue
            if self.recency_half_life is None:
                w = np.ones(len(seq))
            else:
                age = np.arange(len(seq) - 1, -1, -1, dtype=np.float64)
                w = np.power(0.5, age / float(self.recency_half_life))
            out[u] = (w[:, None] * unit[seq]).sum(axis=0) / w.sum()
        return out

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "item_vectors": self.item_vectors_,
            "user_vectors": self.user_vectors_,
            "in_vocab": self.in_vocab_,
        }

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.item_vectors_ = np.asarray(arrays["item_vectors"], dtype=np.float32)
        self.user_vectors_ = np.asarray(arrays["user_vectors"], dtype=np.float32)
        self.in_vocab_ = np.asarray(arrays["in_vocab"], dtype=bool)

    def _score_user_items(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        if len(user_rows) == 0:
            return np.zeros(0)
        return pair_scores(
            self.user_vectors_[user_rows], self.item_vectors_[item_rows], metric="cosine", device=self.device
        )

    def _recommend(self, user_rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        exclude = exclusion_mask(self.seen_, user_rows) if exclude_seen else None
        return top_k(
            self.user_vectors_[user_rows], self.item_vectors_, k, metric="cosine", device=self.device, exclude=exclude
        )

    def _similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k(
            self.item_vectors_[item_rows],
            self.item_vectors_,
            k,
            metric="cosine",
            device=self.device,
            exclude=self_mask(item_rows, len(self.item_ids_)),
        )
