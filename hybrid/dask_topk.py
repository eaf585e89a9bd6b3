"""Exact distributed top-k: item vectors sharded over Dask workers, queries broadcast in blocks.

:func:`shard_items` splits the item matrix (numpy or a row-chunked Dask array, e.g.
the output of :func:`hybrid.dask_encode.encode_dask`) into contiguous row shards and
keeps each on one worker (one shard per worker thread, balanced by rows; a shard lost
with its worker is rebuilt from its task on another). :func:`dask_top_k` sends each
block of ``query_chunk`` queries to every shard; a shard answers with its local top-k from
:func:`baselines.vectors.top_k` (its indices shifted by the shard's first row), and a
binary tree of merges combines the shards' lists into the global top-k.

Exactness: every score is the one the single-machine ``top_k`` computes for the same
(query, item) pair, and each merge orders by score descending, then item index
ascending -- the tie rule of :mod:`baselines.vectors` -- so ids and scores equal the
single-machine result. Memory: a worker holds its shards, one query block and
``query_chunk x k`` lists, never the whole catalogue.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from tagrank.baselines.validation import TagrankInputError, check_k, check_nonempty
from tagrank.hybrid.dask_placement import balanced_placement


@dataclass
class ShardedItems:
    """Item shards living on the workers: futures, their first rows and sizes, and the dimension.

    ``checked``: the shards were scanned for NaN / inf when placed (:func:`shard_items` does), so
    a query does not scan them again; shards placed any other way are scanned by every query."""

    futures: list[Any]
    offsets: list[int]
    sizes: list[int]
    dim: int
    client: Any
    checked: bool = False

    @property
    def n_items(self) -> int:
        return int(sum(self.sizes))


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise TagrankInputError("no Dask client: pass client= or connect first (tagrank.eval.distributed.connect)") from None


def _as_float32(block: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(block, dtype=np.float32))


def _check_matrix(x: np.ndarray, field: str, offset: int = 0) -> np.ndarray:
    """What ``top_k`` accepts (a numeric 2-D matrix without NaN / inf), checked by its own helpers;
    an error names the row from ``offset`` (the block's first row in the caller's whole matrix)."""
    from tagrank.baselines.vectors import _as_matrix, _check_finite

    _check_finite(_as_matrix(x, field, check=False), field, offset=offset)
    return x


def _checked_float32(block: Any, offset: int) -> np.ndarray:
    """Runs on a worker: a block of a Dask items matrix checked (rows named from ``offset``), as float32."""
    return _as_float32(_check_matrix(np.asarray(block), "items", offset))


def _check_size(value: int | None, field: str) -> int | None:
    """None (the default) or a positive integer: 0 or less is an error, never clamped."""
    return None if value is None else check_k(value, field)


def default_item_chunk() -> int:
    """The item block size of :func:`baselines.vectors.top_k` (shards are made of whole blocks)."""
    import inspect

    from tagrank.baselines.vectors import top_k

    return int(inspect.signature(top_k).parameters["item_chunk"].default)


def shard_items(items: Any, client: Any = None, n_shards: int | None = None,
                item_chunk: int | None = None) -> ShardedItems:
    """Place the rows of ``items`` on the workers in contiguous shards, balanced by rows.

    A numpy matrix is cut into ``n_shards`` shards (default: one per worker thread) made of
    whole ``item_chunk``-row blocks (default: ``top_k``'s own block size),
    so that every shard scores exactly the blocks the single-machine ``top_k`` scores --
    same matrix products, same float32 rounding. A Dask array keeps its row chunks
    (exact as well when they are multiples of the block size)."""
    import dask.array as da

    n_shards, item_chunk = _check_size(n_shards, "n_shards"), _check_size(item_chunk, "item_chunk")
    client = _client(client)
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise TagrankInputError("the Dask cluster has no workers")
    if isinstance(items, ShardedItems):
        return items
    if isinstance(items, da.Array):
        if items.ndim != 2:
            raise TagrankInputError(f"items must be a 2-D matrix, got shape {items.shape}")
        if items.dtype.kind not in "fiub":
            raise TagrankInputError(f"items must be a numeric matrix, got dtype {items.dtype}")
        if items.numblocks[1] != 1:
            items = items.rechunk({1: -1})
        blocks = list(items.to_delayed().ravel())
        futures = client.compute([b for b in blocks])
        sizes = [int(s) for s in client.gather(client.map(_rows, futures, pure=False))]
        if sum(sizes) == 0:
            check_nonempty([], "items")
        starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64).tolist()
        futures = client.map(_checked_float32, futures, starts)
        dim = int(items.shape[1])
    else:
        arr = _check_matrix(np.asarray(items), "items")
        check_nonempty(arr, "items")
        n = arr.shape[0]
        nthreads = max(1, sum(client.nthreads().values()))
        chunk = int(item_chunk or default_item_chunk())
        bounds = block_bounds(n, chunk, n_shards or nthreads)
        sizes = [int(bounds[i + 1] - bounds[i]) for i in range(len(bounds) - 1)]
        placement = balanced_placement(sizes, [None] * len(sizes), workers)
        futures = []
        with warnings.catch_warnings():
            # the shard is the task's argument on purpose: the scheduler keeps it, so a shard lost with its
            # worker is rebuilt elsewhere; Dask's advice against large task arguments does not apply
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            for i, w in enumerate(placement):
                part = arr[bounds[i]:bounds[i + 1]]
                futures.append(client.submit(_as_float32, part, pure=False, workers=[w], allow_other_workers=True))
        dim = int(arr.shape[1])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64).tolist() if sizes else []
    return ShardedItems(futures, [int(o) for o in offsets], sizes, dim, client, checked=True)


def block_bounds(n: int, chunk: int, n_shards: int) -> list[int]:
    """Row bounds of ``min(n_shards, blocks)`` contiguous shards of whole ``chunk``-row blocks, the
    blocks dealt out evenly (shard sizes differ by at most one block; the short last block counts
    as a whole one, so it joins a shard with one block fewer where the split is uneven)."""
    n_blocks = max(1, -(-n // chunk))
    parts = max(1, min(n_shards, n_blocks))
    # the shards that get one block more come last, where the short last block is
    first = [i * (n_blocks // parts) + max(0, i - (parts - n_blocks % parts)) for i in range(parts)]
    return [min(n, b * chunk) for b in first] + [n]


def _rows(block: Any) -> int:
    return int(np.shape(block)[0])


def _local_top_k(queries: np.ndarray, shard: np.ndarray, offset: int, k: int, metric: str, device: str,
                 exclude: Any, item_chunk: int, check_items: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Runs on a worker: the shard's top-k of each query, indices in the global numbering, padded to k.
    ``check_items=False`` for a shard checked when it was placed (the scan is a full pass over the shard)."""
    from tagrank.baselines.vectors import top_k
    from tagrank.hybrid.worker_memory import reuse_freed_memory

    with reuse_freed_memory():  # score blocks reuse the heap instead of a fresh mmap each
        idx, scores = top_k(queries, shard, k=k, metric=metric, device=device, exclude=exclude,
                            query_chunk=max(1, len(queries)), item_chunk=item_chunk, check_items=check_items)
    idx = np.where(idx >= 0, idx + offset, -1)
    if idx.shape[1] < k:  # a shard smaller than k
        pad = k - idx.shape[1]
        idx = np.hstack([idx, np.full((len(idx), pad), -1, dtype=np.int64)])
        scores = np.hstack([scores, np.full((len(scores), pad), -np.inf)])
    return idx, scores


def merge_top_k(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Exact merge of two top-k lists: score descending, then index ascending; empty slots (-1) last."""
    idx = np.hstack([a[0], b[0]])
    scores = np.hstack([a[1], b[1]])
    key_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key_idx, -scores), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _tree_merge(client: Any, parts: list[Any], k: int) -> Any:
    while len(parts) > 1:
        nxt = [client.submit(merge_top_k, parts[i], parts[i + 1], k, pure=False) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


def dask_top_k(
    queries: Any,
    items: Any,
    k: int = 10,
    metric: str = "cosine",
    device: str = "auto",
    exclude: sp.spmatrix | None = None,
    query_chunk: int = 1024,
    item_chunk: int | None = None,
    client: Any = None,
    n_shards: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of every query over the sharded items: (indices [n, k'], scores [n, k']), k' = min(k, items).

    Same contract as :func:`baselines.vectors.top_k` (``exclude``: queries x items, non-zero
    = never return the pair; unfilled slots are -1 / -inf); ``items`` may be a
    :class:`ShardedItems` already placed by :func:`shard_items` (reuse it across calls).
    ``query_chunk`` queries travel to every shard together."""
    client = _client(client)
    if metric not in ("cosine", "dot"):
        raise TagrankInputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    n_shards, item_chunk = _check_size(n_shards, "n_shards"), _check_size(item_chunk, "item_chunk")
    q = _check_matrix(np.asarray(queries), "queries")
    sharded = shard_items(items, client, n_shards, item_chunk)
    if q.shape[1] != sharded.dim:
        raise TagrankInputError(f"queries have dimension {q.shape[1]} but items have {sharded.dim}")
    n_items = sharded.n_items
    if n_items == 0:
        check_nonempty([], "items")  # a ShardedItems of no rows
    k = min(check_k(k), n_items)
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != (q.shape[0], n_items):
            raise TagrankInputError(
                f"exclude has shape {exclude.shape}, expected (queries, items) = {(q.shape[0], n_items)}")
    block = max(1, int(query_chunk))
    chunk = int(item_chunk or default_item_chunk())
    out_idx = np.empty((q.shape[0], k), dtype=np.int64)
    out_scores = np.empty((q.shape[0], k), dtype=np.float64)
    pending = []
    for qs in range(0, q.shape[0], block):
        qb = client.submit(_as_float32, q[qs:qs + block], pure=False)  # rebuilt from its task if lost
        parts = []
        for fut, off, size in zip(sharded.futures, sharded.offsets, sharded.sizes, strict=True):
            ex = exclude[qs:qs + block, off:off + size] if exclude is not None else None
            parts.append(client.submit(_local_top_k, qb, fut, off, k, metric, device, ex, chunk,
                                       not sharded.checked, pure=False))
        pending.append((qs, _tree_merge(client, parts, k)))
    for qs, fut in pending:
        idx, scores = fut.result()
        out_idx[qs:qs + len(idx)] = idx
        out_scores[qs:qs + len(idx)] = scores
    out_idx[~np.isfinite(out_scores)] = -1
    return out_idx, out_scores


__all__ = ["ShardedItems", "dask_top_k", "default_item_chunk", "merge_top_k", "shard_items"]
