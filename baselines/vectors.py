"""The tensor scoring engine: aligned-pair similarity and exact chunked top-k.

Every dense method (word2vec, item2vec, ALS factors, transformer embeddings)
scores through these functions, on ``device`` = auto | cpu | cuda. Memory is
bounded by the chunk sizes: top-k holds at most ``query_chunk x item_chunk``
scores at a time plus a running ``query_chunk x k`` buffer, never N x N.

Order of results: score descending, ties broken by the lower item index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from baselines.validation import TagrankInputError, check_k, check_same_length

Device = str | torch.device
Metric = Literal["cosine", "dot"]


def resolve_device(device: Device = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one fails clearly."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TagrankInputError(f"device={device!r} was asked for but no CUDA GPU is available")
    if not (device == "cpu" or device.startswith("cuda")):
        raise TagrankInputError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}")
    return torch.device(device)


def _as_matrix(x: np.ndarray | torch.Tensor, field: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.ndim != 2:
        raise TagrankInputError(f"{field} must be a 2-D matrix, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    if not bool(torch.isfinite(t).all()):
        row = int(torch.nonzero(~torch.isfinite(t))[0, 0])
        raise TagrankInputError(f"{field} row {row} contains NaN or inf")
    return t


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalisation; an all-zero row stays zero (its cosine is 0, not NaN)."""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x / norms.clamp_min(eps)


def pair_scores(
    left: np.ndarray | torch.Tensor,
    right: np.ndarray | torch.Tensor,
    metric: Metric = "cosine",
    device: Device = "auto",
    chunk_size: int = 65536,
) -> np.ndarray:
    """Cosine or dot product of each aligned row pair (left[i], right[i]) as float64."""
    a = _as_matrix(left, "left")
    b = _as_matrix(right, "right")
    check_same_length(left=a, right=b)
    if a.shape[1] != b.shape[1]:
        raise TagrankInputError(f"left has dimension {a.shape[1]} but right has {b.shape[1]}")
    dev = resolve_device(device)
    out = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], chunk_size):
        x = a[start : start + chunk_size].to(dev, torch.float32)
        y = b[start : start + chunk_size].to(dev, torch.float32)
        if metric == "cosine":
            x, y = l2_normalize(x), l2_normalize(y)
        elif metric != "dot":
            raise TagrankInputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
        out[start : start + chunk_size] = (x * y).sum(dim=1).double().cpu().numpy()
    return out


def _sort_rows(scores: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order each row by score descending, then index ascending (deterministic ties)."""
    order = np.lexsort((idx, -scores), axis=-1) if scores.size else np.zeros_like(idx)
    return np.take_along_axis(idx, order, 1), np.take_along_axis(scores, order, 1)


def top_k(
    queries: np.ndarray | torch.Tensor,
    items: np.ndarray | torch.Tensor,
    k: int = 10,
    metric: Metric = "cosine",
    device: Device = "auto",
    exclude: sp.spmatrix | None = None,
    query_chunk: int = 1024,
    item_chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k items for every query: (item indices [n, k'], scores [n, k']), k' = min(k, items).

    ``exclude`` (sparse, queries x items) marks pairs that must not be returned
    (e.g. a user's seen items, or the item itself); excluded slots that cannot
    be filled come back as index -1 with score -inf.
    """
    q = _as_matrix(queries, "queries")
    m = _as_matrix(items, "items")
    if q.shape[1] != m.shape[1]:
        raise TagrankInputError(f"queries have dimension {q.shape[1]} but items have {m.shape[1]}")
    if metric not in ("cosine", "dot"):
        raise TagrankInputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    k = min(check_k(k), m.shape[0])
    n_items = m.shape[0]
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != (q.shape[0], n_items):
            raise TagrankInputError(
                f"exclude has shape {exclude.shape}, expected (queries, items) = {(q.shape[0], n_items)}"
            )
    dev = resolve_device(device)
    # Items stay on the device across query chunks when they fit in one chunk.
    item_blocks = []
    for start in range(0, n_items, item_chunk):
        block = m[start : start + item_chunk].to(dev, torch.float32)
        item_blocks.append((start, l2_normalize(block) if metric == "cosine" else block))

    out_idx = np.empty((q.shape[0], k), dtype=np.int64)
    out_scores = np.empty((q.shape[0], k), dtype=np.float64)
    neg_inf = float("-inf")
    for qs in range(0, q.shape[0], query_chunk):
        qb = q[qs : qs + query_chunk].to(dev, torch.float32)
        if metric == "cosine":
            qb = l2_normalize(qb)
        best_s = torch.full((qb.shape[0], k), neg_inf, device=dev)
        best_i = torch.full((qb.shape[0], k), -1, dtype=torch.int64, device=dev)
        ex_rows = exclude[qs : qs + qb.shape[0]] if exclude is not None else None
        for start, block in item_blocks:
            s = qb @ block.T
            if ex_rows is not None:
                sub = ex_rows[:, start : start + block.shape[0]].tocoo()
                if sub.nnz:
                    r = torch.from_numpy(sub.row.astype(np.int64)).to(dev)
                    c = torch.from_numpy(sub.col.astype(np.int64)).to(dev)
                    s[r, c] = neg_inf
            kk = min(k, s.shape[1])
            cs, ci = torch.topk(s, kk, dim=1)
            ci = ci + start
            merged_s = torch.cat([best_s, cs], dim=1)
            merged_i = torch.cat([best_i, ci], dim=1)
            top_s, pos = torch.topk(merged_s, k, dim=1)
            best_s, best_i = top_s, torch.gather(merged_i, 1, pos)
        sc = best_s.double().cpu().numpy()
        ix = best_i.cpu().numpy()
        ix[~np.isfinite(sc)] = -1
        ix_sorted, sc_sorted = _sort_rows(sc, np.where(ix < 0, n_items, ix))
        ix_sorted[ix_sorted == n_items] = -1
        out_idx[qs : qs + qb.shape[0]] = ix_sorted
        out_scores[qs : qs + qb.shape[0]] = sc_sorted
    return out_idx, out_scores
