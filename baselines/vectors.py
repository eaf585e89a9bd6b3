"""The tensor scoring engine: aligned-pair similarity and exact chunked top-k.

Every dense method (word2vec, item2vec, ALS factors, transformer embeddings)
scores through these functions, on ``device`` = auto | cpu | cuda. Memory is
bounded by the chunk sizes: top-k holds at most ``query_chunk x item_chunk``
scores and one ``item_chunk x d`` item block at a time plus the running
``queries x k`` results, never N x N nor a copy of the items.

Order of results: score descending, ties broken by the lower item index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from tagrank.baselines.validation import TagrankInputError, check_k, check_same_length

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


def _as_matrix(x: np.ndarray | torch.Tensor, field: str, check: bool = True) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) and np.asarray(x).dtype.kind not in "fiub":
        raise TagrankInputError(f"{field} must be a numeric matrix, got dtype {np.asarray(x).dtype}")
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.ndim != 2:
        raise TagrankInputError(f"{field} must be a 2-D matrix, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    if check and not bool(torch.isfinite(t).all()):
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


#: columns per group in the block-max prefilter of ``top_k`` (see ``_chunk_top_k``)
_GROUP = 32


def _order_rows(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Order each row by score descending, then index ascending (two stable sorts)."""
    by_idx = torch.sort(idx, dim=1, stable=True).indices
    vals, idx = torch.gather(vals, 1, by_idx), torch.gather(idx, 1, by_idx)
    by_val = torch.sort(vals, dim=1, descending=True, stable=True).indices
    return torch.gather(vals, 1, by_val), torch.gather(idx, 1, by_val)


def _chunk_top_k(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k (k <= columns) of each row of the score block ``s`` [q, m], ordered
    by score descending, then column ascending.

    Block-max prefilter when ``m`` is a multiple of ``_GROUP`` and large: the
    columns form ``g = m / _GROUP`` strided groups (column ``c`` belongs to group
    ``c % g``); the k groups with the largest maxima hold the k largest scores, so
    ``torch.topk`` runs over ``k * _GROUP`` candidates instead of ``m`` (a
    vectorised max over the block replaces most of the selection work). A row
    whose k-th score is reached by more scores than the k kept -- a tie, inside
    the candidates or in a group left out -- is redone on its full row, so ties
    always go to the lower column and the result is exact.
    """
    q, m = s.shape
    g = m // _GROUP
    if m % _GROUP == 0 and g >= 4 * k:
        gmax = s.view(q, _GROUP, g).amax(dim=1)  # [q, g]
        gmax_top, top_g = torch.topk(gmax, k + 1, dim=1)  # the (k+1)-th: best group left out
        cols = (top_g[:, :k].unsqueeze(2) + g * torch.arange(_GROUP, device=s.device)).reshape(q, k * _GROUP)
        cand = torch.gather(s, 1, cols)
        vals, pos = torch.topk(cand, k + 1, dim=1)
        kth = vals[:, k - 1]
        # tie: the next candidate, or a group left out, reaches the k-th score
        tie = (vals[:, k] >= kth) | (gmax_top[:, k] >= kth)
        vals, idx = vals[:, :k], torch.gather(cols, 1, pos[:, :k])
    elif k < m:
        vals, idx = torch.topk(s, k + 1, dim=1)
        kth = vals[:, k - 1]
        tie = vals[:, k] >= kth
        vals, idx = vals[:, :k], idx[:, :k]
    else:
        vals, idx = torch.topk(s, k, dim=1)
        kth = vals[:, k - 1]
        tie = torch.zeros_like(kth, dtype=torch.bool)
    tie &= torch.isfinite(kth)  # -inf slots (excluded items) come back as -1 anyway
    if bool(tie.any()):
        # Exact redo of the tied rows: a stable full-row sort (in slices of 64 rows
        # to bound memory), which puts equal scores in column order.
        rows = torch.nonzero(tie)[:, 0]
        vals, idx = vals.clone(), idx.clone()
        for a in range(0, rows.numel(), 64):
            r = rows[a : a + 64]
            sv, si = torch.sort(s[r], dim=1, descending=True, stable=True)
            vals[r], idx[r] = sv[:, :k], si[:, :k]
    return _order_rows(vals, idx)


def _check_finite(t: torch.Tensor, field: str, rows: int = 16384, offset: int = 0) -> None:
    """NaN / inf check in row slices (a full-size boolean mask would be N x d bytes); an error names
    the row as ``offset +`` its row in ``t`` (``offset``: ``t``'s first row in the caller's whole matrix).

    On CPU each slice is first summed in float64 by numpy (one vectorised pass, no
    thread pool: a NaN or inf anywhere makes the sum non-finite); only a slice
    whose sum is not finite is searched for the offending row.
    """
    cpu = t.device.type == "cpu" and not t.requires_grad and t.dtype in (torch.float16, torch.float32, torch.float64)
    for a in range(0, t.shape[0], rows):
        part = t[a : a + rows]
        if cpu and np.isfinite(np.sum(part.numpy(), dtype=np.float64)):
            continue
        if not bool(torch.isfinite(part).all()):
            row = offset + a + int(torch.nonzero(~torch.isfinite(part))[0, 0])
            raise TagrankInputError(f"{field} row {row} contains NaN or inf")


#: the NaN / inf row check, for callers that check a matrix once and reuse it (a fitted catalogue)
check_finite = _check_finite


def _scores_into(qb: torch.Tensor, block: torch.Tensor, out: torch.Tensor) -> None:
    """``out = qb @ block.T``; on CPU through numpy's BLAS (OpenBLAS: ~1.6x torch's MKL sgemm
    on AVX2 AMD cores, same float32 arithmetic), elsewhere ``torch.mm``."""
    if out.device.type == "cpu":
        np.matmul(qb.detach().numpy(), block.numpy().T, out=out.numpy())
    else:
        torch.mm(qb, block.T, out=out)


def _merge(best: tuple[torch.Tensor, torch.Tensor] | None, cs: torch.Tensor, ci: torch.Tensor,
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running top-k: earlier blocks hold lower indices, so a stable sort keeps them first on ties."""
    if best is None:
        return cs, ci
    merged_s = torch.cat([best[0], cs], dim=1)
    merged_i = torch.cat([best[1], ci], dim=1)
    order = torch.sort(merged_s, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.gather(merged_s, 1, order), torch.gather(merged_i, 1, order)


def top_k(
    queries: np.ndarray | torch.Tensor,
    items: np.ndarray | torch.Tensor,
    k: int = 10,
    metric: Metric = "cosine",
    device: Device = "auto",
    exclude: sp.spmatrix | None = None,
    query_chunk: int = 1024,
    item_chunk: int = 16384,
    check_items: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k items for every query: (item indices [n, k'], scores [n, k']), k' = min(k, items).

    ``exclude`` (sparse, queries x items) marks pairs that must not be returned
    (e.g. a user's seen items, or the item itself) by a non-zero stored value (an
    explicitly stored 0 excludes nothing); excluded slots that cannot
    be filled come back as index -1 with score -inf.

    The item matrix is walked once, block by block (``item_chunk`` rows, copied
    and normalised one block at a time); each block is scored against every
    query chunk and cut to its top k at once (:func:`_chunk_top_k`), then merged
    into each query's running top k. Memory: one ``item_chunk x d`` block, one
    ``query_chunk x item_chunk`` float32 score buffer (both allocated once and
    reused), and the ``queries x k`` running results -- never a copy of the
    items nor a queries x items matrix. With ``metric="dot"`` and float32 items
    already on the device, a block that needs no padding is read in place.

    ``check_items=False`` skips the NaN / inf scan of ``items``: for a caller that
    checked a fixed catalogue once (a fitted scorer serving one query at a time,
    where the scan of every item would cost more than scoring them).
    """
    q = _as_matrix(queries, "queries", check=False)
    m = _as_matrix(items, "items", check=False)
    _check_finite(q, "queries")
    if check_items:
        _check_finite(m, "items")
    if q.shape[1] != m.shape[1]:
        raise TagrankInputError(f"queries have dimension {q.shape[1]} but items have {m.shape[1]}")
    if metric not in ("cosine", "dot"):
        raise TagrankInputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    k = min(check_k(k), m.shape[0])
    n_items, n_q = m.shape[0], q.shape[0]
    exclude_csc = None
    if exclude is not None:
        # the stored values decide, not the sparsity pattern: an explicit 0 (or False) excludes nothing
        exclude = sp.csr_matrix(exclude, copy=True)
        if exclude.shape != (n_q, n_items):
            raise TagrankInputError(
                f"exclude has shape {exclude.shape}, expected (queries, items) = {(n_q, n_items)}"
            )
        exclude.sum_duplicates()
        exclude.data = (exclude.data != 0).astype(np.float32)
        exclude.eliminate_zeros()
        exclude_csc = exclude.tocsc()
    query_chunk, item_chunk = max(1, int(query_chunk)), max(1, int(item_chunk))
    dev = resolve_device(device)
    neg_inf = float("-inf")
    out_idx = np.empty((n_q, k), dtype=np.int64)
    out_scores = np.empty((n_q, k), dtype=np.float64)
    if n_q == 0:
        return out_idx, out_scores
    # Each block is padded with zero rows to a multiple of _GROUP columns (their
    # scores are overwritten with -inf) so that the block-max prefilter applies.
    def padded(rows: int) -> int:
        return rows + ((-rows) % _GROUP if rows >= _GROUP * 4 * k else 0)

    width = max(padded(min(item_chunk, n_items - s)) for s in range(0, n_items, item_chunk))
    block_buf: torch.Tensor | None = None  # allocated when a block is first copied
    score_buf = torch.empty(min(query_chunk, n_q) * width, dtype=torch.float32, device=dev)
    best: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(range(0, n_q, query_chunk))
    for start in range(0, n_items, item_chunk):
        raw = m[start : start + item_chunk]
        rows = raw.shape[0]
        if metric == "dot" and padded(rows) == rows and raw.dtype == torch.float32 and raw.device == dev \
                and raw.is_contiguous() and not raw.requires_grad:
            block = raw  # read in place: nothing to normalise or pad
        else:
            if block_buf is None:
                block_buf = torch.empty(width * m.shape[1], dtype=torch.float32, device=dev)
            block = block_buf[: padded(rows) * m.shape[1]].view(padded(rows), m.shape[1])
            block[:rows] = raw  # one copy of the block, on the device, in float32
            block[rows:] = 0.0
        if metric == "cosine":
            norms = torch.linalg.vector_norm(block[:rows], dim=1, keepdim=True).clamp_min_(1e-12)
            block[:rows] /= norms
        ex_block = exclude_csc[:, start : start + rows].tocsr() if exclude_csc is not None else None
        for c, qs in enumerate(range(0, n_q, query_chunk)):
            qb = q[qs : qs + query_chunk].to(dev, torch.float32)
            if metric == "cosine":
                qb = l2_normalize(qb)
            nq = qb.shape[0]
            s = score_buf[: nq * block.shape[0]].view(nq, block.shape[0])
            _scores_into(qb.contiguous(), block, s)
            if block.shape[0] > rows:
                s[:, rows:] = neg_inf
            if ex_block is not None:
                sub = ex_block[qs : qs + nq].tocoo()
                if sub.nnz:
                    r = torch.from_numpy(sub.row.astype(np.int64)).to(dev)
                    cc = torch.from_numpy(sub.col.astype(np.int64)).to(dev)
                    s[r, cc] = neg_inf
            cs, ci = _chunk_top_k(s, min(k, block.shape[0]))
            best[c] = _merge(best[c], cs, ci + start, k)
    for c, qs in enumerate(range(0, n_q, query_chunk)):
        best_s, best_i = best[c]
        sc = best_s.double().cpu().numpy()
        ix = best_i.cpu().numpy().copy()
        ix[~np.isfinite(sc)] = -1
        out_idx[qs : qs + sc.shape[0]] = ix
        out_scores[qs : qs + sc.shape[0]] = sc
    return out_idx, out_scores
