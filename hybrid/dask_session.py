"""The session's Dask client, and the encode / top-k entry points that use it when set.

``tagrank bench --scheduler`` (:func:`eval.distributed.connect`) sets the client;
:class:`hybrid.transformer_scorer.TransformerScorer` then embeds its corpus and
runs its exact top-k through :func:`fit_transform` / :func:`top_k`, which go to
the cluster (:mod:`hybrid.dask_encode`, :mod:`hybrid.dask_topk`) for jobs of at
least ``MIN_DISTRIBUTED_ROWS`` texts or items and to the single-machine code
otherwise. Without a client nothing here imports Dask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: below this many texts / items a job stays on the driver (shipping costs more than it saves)
MIN_DISTRIBUTED_ROWS = 2048

_CLIENT: Any = None


def set_client(client: Any) -> None:
    """Make ``client`` the session's Dask client (``None``: back to one machine)."""
    global _CLIENT
    _CLIENT = client


def active_client() -> Any:
    """The session's client, or None."""
    return _CLIENT


def fit_transform(encoder: Any, texts: list[str]) -> np.ndarray:
    """``encoder.fit_transform(texts)``, the encoding spread over the session's cluster when one is set.

    The workers encode without the driver's embedding cache (each worker has its own
    model and device); whitening, when asked for, is fitted on the driver from the
    gathered raw vectors, exactly as ``fit_transform`` does."""
    client = active_client()
    if client is None or len(texts) < MIN_DISTRIBUTED_ROWS:
        return encoder.fit_transform(texts)
    from tagrank.baselines.validation import check_nonempty, check_texts
    from tagrank.hybrid.dask_encode import encode_dask
    from tagrank.hybrid.encoder import fit_whitening

    values = check_texts(texts, "corpus")
    check_nonempty(values, "corpus")
    raw = client.compute(encode_dask(encoder, values, raw=True, client=client)).result()
    encoder.whitening_ = fit_whitening(raw, encoder.whiten_dim) if encoder.whiten else None
    return encoder._apply_whitening(raw)


def top_k(queries: np.ndarray, items: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`baselines.vectors.top_k`, sharded over the session's cluster when one is set."""
    client = active_client()
    if client is None or len(items) < MIN_DISTRIBUTED_ROWS or kwargs.get("exclude") is not None:
        from tagrank.baselines.vectors import top_k as local_top_k

        return local_top_k(queries, items, **kwargs)
    from tagrank.hybrid.dask_topk import dask_top_k

    return dask_top_k(queries, items, client=client, **kwargs)


__all__ = ["MIN_DISTRIBUTED_ROWS", "active_client", "fit_transform", "set_client", "top_k"]
