"""TransformerScorer: a ``TextScorer`` over transformer sentence embeddings.

Three benchmark methods are one class with different parameters:

=====================  ==========================================================
``transformer``        ``pooling="mean", normalize=True`` (the default)
``transformer_cls``    ``pooling="cls", normalize=False``: the raw [CLS] vector,
                       the naive recipe (unrelated texts still score high)
``transformer_whiten`` ``whiten=True`` (whitening fitted on the ``fit`` corpus)
=====================  ==========================================================

Scores are cosines computed by the tensor engine (``baselines.vectors``).

``query_dtype`` (e.g. ``"bfloat16"``) encodes the texts scored against the
fitted corpus -- queries, in :meth:`score_pairs` and :meth:`top_k` -- in another
precision than the corpus (``dtype``): a service keeps float32 catalogue vectors
computed offline and halves the per-request encoding on CPUs with bfloat16
matrix units. ``transform`` (the representation for classifiers) keeps ``dtype``.
Likewise ``set_params(backend="onnx")`` on a fitted (or loaded) scorer encodes
those query texts through ONNX Runtime (:mod:`hybrid.onnx_backend`, the lowest
CPU latency per request) and keeps the corpus vectors as fitted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagrank.baselines.saved import load_guard
from tagrank.baselines.base import TextScorer
from tagrank.baselines.interactions import decode_ids, encode_ids, load_model_dir, save_model_dir
from tagrank.baselines.sparse_topk import texts_from_arrays, texts_to_arrays
from tagrank.baselines.validation import TagrankInputError, check_texts
from tagrank.baselines.vectors import check_finite, l2_normalize, pair_scores, resolve_device
from tagrank.hybrid import dask_session
from tagrank.hybrid.encoder import TransformerEncoder

#: unrelated e-commerce tags, the fixed list behind the report's [CLS]-spread figures
UNRELATED_TAGS = (
    "running shoes",
    "garden hose",
    "coffee maker",
    "wireless earbuds",
    "baby stroller",
    "ceiling fan",
    "yoga mat",
    "cast iron skillet",
    "dog leash",
    "winter jacket",
    "printer ink",
    "lipstick",
    "power drill",
    "board game",
    "bath towel",
    "car seat cover",
)


class TransformerScorer(TextScorer):
    """Cosine similarity of transformer embeddings (see the module docstring for variants)."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        pooling: str = "mean",
        normalize: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        whiten: bool = False,
        whiten_dim: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        show_progress: bool = False,
        backend: str = "auto",
        query_dtype: str | torch.dtype | None = None,
        *,
        model_name_or_path: str | os.PathLike | None = None,
    ) -> None:
        self.model = model
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.whiten = whiten
        self.whiten_dim = whiten_dim
        self.cache_dir = cache_dir
        self.show_progress = show_progress
        self.backend = backend
        self.query_dtype = query_dtype
        self.model_name_or_path = model_name_or_path  # deprecated alias of model

    @property
    def name(self) -> str:  # type: ignore[override]
        """Method name of this variant: ``transformer``, ``transformer_cls`` or ``transformer_whiten``."""
        if self.whiten:
            return "transformer_whiten"
        if self.pooling == "cls":
            return "transformer_cls"
        return "transformer"

    def _make_encoder(self) -> TransformerEncoder:
        params = self.get_params()
        params.pop("query_dtype")
        return TransformerEncoder(**params)

    def _query_encoder(self) -> TransformerEncoder:
        """``encoder_``, or a copy of it in ``query_dtype`` and / or with the ``backend`` set since ``fit``
        (same model, pooling and whitening)."""
        overrides: dict[str, Any] = {}
        if self.query_dtype is not None and self.query_dtype != self.encoder_.dtype:
            overrides["dtype"] = self.query_dtype
        if self.backend != self.encoder_.backend:
            overrides["backend"] = self.backend
        if not overrides:
            return self.encoder_
        params = {**self.encoder_.get_params(), **overrides}
        whitening = getattr(self.encoder_, "whitening_", None)
        cached = getattr(self, "_query_encoder_cache", None)
        if cached is None or cached[0] is not self.encoder_ or cached[1] != params or cached[3] is not whitening:
            enc = TransformerEncoder(**params)
            enc.whitening_ = whitening
            cached = self._query_encoder_cache = (self.encoder_, params, enc, whitening)
        return cached[2]

    def _fit(self, texts: list[str]) -> None:
        self.encoder_ = self._make_encoder()
        self.embeddings_ = dask_session.fit_transform(self.encoder_, texts)  # on a Dask cluster if connected

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder_.encode(texts)

    def _embed_known(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``: corpus texts from ``embeddings_``, only the others encoded.

        A reranking request (one query, a hundred catalogue items) then encodes one
        text, not a hundred and one.
        """
        rows = getattr(self, "text_rows_", {})
        known = np.fromiter((rows.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
        fresh = np.flatnonzero(known < 0)
        if len(fresh) == len(texts):
            return self._encode_queries(texts)
        out = np.empty((len(texts), self.embeddings_.shape[1]), dtype=np.float32)
        out[known >= 0] = self.embeddings_[known[known >= 0]]
        if len(fresh):
            out[fresh] = self._encode_queries([texts[i] for i in fresh])
        return out

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query-side encoding; inside :meth:`request_scope` the same batch is encoded once."""
        encoder = self._query_encoder()
        memo = getattr(self, "_request_memo", None)
        if memo is None:
            return encoder.encode(texts)
        key = (id(encoder), tuple(texts))  # the exact batch: a batch's padding can move last bits
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = encoder.encode(texts)
        return hit.copy()

    @contextmanager
    def request_scope(self) -> Iterator[TransformerScorer]:
        """Within the block, a batch of query texts encoded twice -- retrieval (``top_k``),
        then the ranker's features (``score_pairs``) of one search -- runs the model once.
        Nothing outlives the block, so every new request is really encoded."""
        outer = getattr(self, "_request_memo", None)
        if outer is None:
            self._request_memo: dict | None = {}
        try:
            yield self
        finally:
            if outer is None:
                self._request_memo = None

    def _unit_items(self, device: torch.device) -> torch.Tensor:
        """The corpus embeddings L2-normalised once, float32 on ``device`` (NaN / inf checked once):
        a served query's exact cosine top-k is then a dot product over them, with the same
        arithmetic as normalising each block per call. Kept while ``embeddings_`` is the same
        array (N x d float32 more memory: the price of not re-reading and re-normalising the
        whole catalogue per request)."""
        cached = getattr(self, "_unit_items_cache", None)
        if cached is not None and cached[0] is self.embeddings_ and cached[1] == device:
            return cached[2]
        items = torch.from_numpy(np.ascontiguousarray(self.embeddings_)).to(device, torch.float32)
        check_finite(items, "items")
        unit = items / torch.linalg.vector_norm(items, dim=1, keepdim=True).clamp_min_(1e-12)  # a new tensor
        self._unit_items_cache = (self.embeddings_, device, unit)
        return unit

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        rows = self.corpus_rows(right)
        if rows is not None and all(t == left[0] for t in left):
            # a request (one query, catalogue candidates): one encoding, one matrix-vector product
            q = self._embed_known(left[:1])[0].astype(np.float32)
            docs = self.embeddings_[rows]
            norms = np.maximum(np.linalg.norm(docs, axis=1), 1e-12) * max(float(np.linalg.norm(q)), 1e-12)
            return ((docs @ q) / norms).astype(np.float64)
        # Pairs repeat texts a lot: embed each distinct text once.
        position: dict[str, int] = {}
        li = np.fromiter((position.setdefault(t, len(position)) for t in left), dtype=np.int64, count=len(left))
        ri = np.fromiter((position.setdefault(t, len(position)) for t in right), dtype=np.int64, count=len(right))
        emb = self._embed_known(list(position))
        return pair_scores(emb[li], emb[ri], metric="cosine", device=self._scoring_device())

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        encoded = self._encode_queries(queries)
        device = self._scoring_device()
        if dask_session.active_client() is not None:  # sharded over the cluster
            return dask_session.top_k(encoded, self.embeddings_, k=k, metric="cosine", device=device)
        from tagrank.baselines.vectors import top_k

        unit_queries = l2_normalize(torch.from_numpy(np.ascontiguousarray(encoded)).to(device, torch.float32))
        return top_k(unit_queries, self._unit_items(device), k=k, metric="dot", device=device, check_items=False)

    def _scoring_device(self) -> torch.device:
        return resolve_device(self.device)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` (float32 [n, dim]): the representation for classifiers."""
        self._check_fitted("encoder_")
        return self._encode(check_texts(texts, "texts"))

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Save to the directory ``path``: params, ids and corpus embeddings (``arrays.npz``)
        and the encoder (``encoder/``: model identity and whitening). No pickle."""
        self._check_fitted("encoder_")
        ids, kind = encode_ids(self.ids_, "ids")
        params = {k: (str(v) if isinstance(v, os.PathLike | torch.device | torch.dtype) else v) for k, v in self.get_params().items()}
        text_rows = getattr(self, "text_rows_", {})
        texts = list(text_rows)
        rows = np.asarray([text_rows[t] for t in texts], dtype=np.int64)
        arrays = {"ids": ids, "embeddings": self.embeddings_, **texts_to_arrays("texts", texts), "text_rows": rows}
        root = save_model_dir(path, self.name, params, arrays, {"id_kind": kind})
        self.encoder_.save(root / "encoder")
        return root

    @classmethod
    @load_guard
    def load(cls, path: str | os.PathLike, check_model: bool = True) -> TransformerScorer:
        """Load a scorer written by ``save``; a different model (fingerprint) fails unless
        ``check_model=False``."""
        from tagrank.baselines.saved import read_json

        name = read_json(Path(path) / "config.json", cls.__name__).get("name")
        config, arrays = load_model_dir(path, name)
        obj = cls(**config["params"])
        if obj.name != name:
            raise TagrankInputError(f"{path} holds a {name!r} model, not a TransformerScorer")
        obj.ids_ = decode_ids(arrays["ids"], config["id_kind"])
        obj.id_index_ = {key: i for i, key in enumerate(obj.ids_)}
        obj.embeddings_ = np.asarray(arrays["embeddings"], dtype=np.float32)
        texts = texts_from_arrays("texts", arrays)
        if texts is not None:
            obj.text_rows_ = {t: int(r) for t, r in zip(texts, arrays["text_rows"].tolist(), strict=True)}
        obj.encoder_ = TransformerEncoder.load(Path(path) / "encoder", check_model=check_model)
        return obj

    def cosine_spread(self, texts: Sequence[str]) -> dict[str, float]:
        """Pairwise-cosine statistics among ``texts`` under this scorer's representation."""
        self._check_fitted("encoder_")
        return _spread(self._encode(check_texts(texts, "texts")))


def _spread(emb: np.ndarray) -> dict[str, float]:
    if emb.shape[0] < 2:
        raise TagrankInputError("cosine spread needs at least 2 texts")
    x = emb.astype(np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = (x @ x.T)[np.triu_indices(x.shape[0], k=1)]
    return {
        "mean": float(sims.mean()),
        "std": float(sims.std()),
        "min": float(sims.min()),
        "max": float(sims.max()),
        "n_pairs": int(sims.size),
    }


def cosine_spread(
    texts: Sequence[str] = UNRELATED_TAGS,
    pooling: str = "cls",
    normalize: bool = False,
    model_name_or_path: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    **encoder_params: Any,
) -> dict[str, float]:
    """``{mean, std, min, max, n_pairs}`` of the pairwise cosines among ``texts`` (all pairs i < j)."""
    values = check_texts(texts, "texts")
    enc = TransformerEncoder(
        model_name_or_path, pooling=pooling, normalize=normalize, device=device, show_progress=False, **encoder_params
    )
    return _spread(enc.encode(values))


def cls_cosine_spread(
    texts: Sequence[str] = UNRELATED_TAGS,
    model_name_or_path: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
) -> dict[str, float]:
    """Pairwise-cosine spread of the raw [CLS] vectors (the naive ``transformer_cls`` recipe).

    With all-MiniLM-L6-v2 on ``UNRELATED_TAGS`` (CPU, float32) it measured mean 0.56,
    std 0.05, min 0.45, max 0.76, while the mean-pooled normalised vectors
    (``cosine_spread(texts, pooling="mean", normalize=True)``) gave mean 0.16,
    std 0.08, min -0.05, max 0.41: the [CLS] cosines sit high and narrow, so they
    separate related from unrelated texts poorly.
    """
    return cosine_spread(texts, pooling="cls", normalize=False, model_name_or_path=model_name_or_path, device=device)
