"""Sparse-matrix plumbing shared by the TF-IDF, Jaccard and BM25 scorers.

* :func:`sparse_top_k`: exact top-k of ``queries @ docs.T`` for sparse CSR
  matrices, in query chunks of bounded memory, with a deterministic order
  (score descending, then doc index ascending; ties at the k-th score are
  resolved by the lower index too, so the result never depends on the chunking).
* :func:`build_matrix`: a CSR term matrix (counts or binary) from token lists
  and a vocabulary, optionally growing the vocabulary.
* :func:`row_dot`: the row-wise dot product of two aligned CSR matrices.
* :func:`save_state` / :func:`load_state`: a scorer saved as a directory with
  ``config.json`` (class, params, ``format_version``) and ``arrays.npz``
  (loaded with ``allow_pickle=False``; nothing is ever pickled).
"""

from __future__ import annotations

import json
from itertools import repeat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.validation import SavedModelError, TagrankInputError, check_k

#: the most scores one query chunk may hold as a dense block (float64: 32 MB)
MAX_BLOCK = 4_000_000

EntryTransform = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _exact_row(row: np.ndarray, kth: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one dense row given its k-th largest value: all above it, then the lowest-index ties."""
    above = np.flatnonzero(row > kth)
    tied = np.flatnonzero(row == kth)[: k - above.size]
    cols = np.concatenate([above, tied])
    return cols, row[cols]


def select_top_k(block: np.ndarray, k: int, candidate_cap: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each row of a dense block: (column indices, scores), score desc then column asc.

    ``torch.topk`` finds each row's k-th largest value (a value: which of tied
    entries it picked does not matter). Where exactly k entries reach that
    value its pick is the answer; where more do (ties straddle the cut), every
    entry reaching it is a candidate and one sort by (row, score desc, column)
    keeps the lowest-index ties. Rows with more than ``candidate_cap * k``
    candidates (flat rows, e.g. mostly zeros) are cut one by one.
    """
    import torch

    n, m = block.shape
    k = min(k, m)
    if n == 0 or k == 0:
        return np.empty((n, k), dtype=np.int64), np.empty((n, k), dtype=np.float64)
    block = np.ascontiguousarray(block, dtype=np.float64)
    if k == m:
        order = np.lexsort((np.broadcast_to(np.arange(m), (n, m)), -block), axis=1)
        return order.astype(np.int64), np.take_along_axis(block, order, 1)
    vals, idx = torch.topk(torch.from_numpy(block), k, dim=1, sorted=False)
    scores = vals.numpy().copy()
    cols = idx.numpy().astype(np.int64)
    kth = scores.min(axis=1)
    reach = np.count_nonzero(block >= kth[:, None], axis=1)
    tied_rows = np.flatnonzero(reach > k)
    flat = reach[tied_rows] > candidate_cap * k
    for i in tied_rows[flat]:
        cols[i], scores[i] = _exact_row(block[i], kth[i], k)
    tied_rows = tied_rows[~flat]
    if tied_rows.size:
        sub = block[tied_rows]
        rows, sub_cols = np.nonzero(sub >= kth[tied_rows, None])  # all candidates, row-major
        sub_scores = sub[rows, sub_cols]
        order = np.lexsort((sub_cols, -sub_scores, rows))
        counts = reach[tied_rows]
        take = order[((np.cumsum(counts) - counts)[:, None] + np.arange(k)[None, :]).ravel()]
        cols[tied_rows] = sub_cols[take].reshape(-1, k)
        scores[tied_rows] = sub_scores[take].reshape(-1, k)
    order = np.lexsort((cols, -scores), axis=1)
    return np.take_along_axis(cols, order, 1), np.take_along_axis(scores, order, 1)


def _row_top_k(cols: np.ndarray, vals: np.ndarray, excluded: np.ndarray, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one sparse row of length ``m`` (unstored entries are 0), excluded columns skipped.

    Ranking: positive entries, then zeros (stored or not) by column, then
    negative entries, then -1 / -inf for slots nothing can fill; ties by column.
    """
    if excluded.size:
        keep = ~np.isin(cols, excluded, assume_unique=True)
        cols, vals = cols[keep], vals[keep]
    pos = vals > 0
    npos = int(np.count_nonzero(pos))
    if npos < vals.size:
        pcols, pvals = cols[pos], vals[pos]
    else:
        pcols, pvals = cols, vals
    if npos > k:  # the common case: cut the positives at the k-th largest value
        kth = np.partition(pvals, npos - k)[npos - k]
        above = np.flatnonzero(pvals > kth)
        tied = np.flatnonzero(pvals == kth)
        if above.size + tied.size > k:
            tied = tied[np.argsort(pcols[tied], kind="stable")[: k - above.size]]
        sel = np.concatenate([above, tied])
        out_c, out_v = pcols[sel], pvals[sel]
    elif npos == k:
        out_c, out_v = pcols, pvals
    else:  # fewer than k positives: zeros by column, then negatives, then nothing
        need = k - npos
        forbidden = np.union1d(cols[vals != 0], excluded)
        cand = np.arange(min(m, need + forbidden.size), dtype=np.int64)
        zeros = cand[~np.isin(cand, forbidden, assume_unique=True)][:need]
        neg = vals < 0
        out_c = np.concatenate([pcols, zeros, cols[neg]])
        out_v = np.concatenate([pvals, np.zeros(zeros.size), vals[neg]])
    order = np.lexsort((out_c, -out_v))[:k]
    out_c, out_v = out_c[order].astype(np.int64), out_v[order].astype(np.float64)
    if out_c.size < k:
        fill = k - out_c.size
        out_c = np.concatenate([out_c, np.full(fill, -1, dtype=np.int64)])
        out_v = np.concatenate([out_v, np.full(fill, -np.inf)])
    return out_c, out_v


def _dense_scores(q: sp.csr_matrix, dt: sp.csr_matrix, out: np.ndarray, batch: int = 4) -> np.ndarray:
    """``out[:] = (q @ dt).toarray()`` by accumulating the query terms' rows of ``dt`` densely.

    For products that are nearly dense (char n-grams: most documents share some
    n-gram with most queries) this beats a sparse product, which must build
    the output's sparsity structure: a few queries at a time, their terms' rows
    of ``dt`` are selected and ``rows.T @ weights`` accumulates them (a CSC x
    dense product touching only the selected postings).
    """
    ptr, ind, val = q.indptr, q.indices, q.data
    for start in range(0, q.shape[0], batch):
        stop = min(q.shape[0], start + batch)
        a, b = ptr[start], ptr[stop]
        if a == b:
            out[start:stop] = 0.0
            continue
        terms, pos = np.unique(ind[a:b], return_inverse=True)
        weights = np.zeros((terms.size, stop - start))  # terms x queries
        weights[pos, np.repeat(np.arange(stop - start), np.diff(ptr[start : stop + 1]))] = val[a:b]
        out[start:stop] = (dt[terms].T @ weights).T
    return out


def doc_postings(docs: sp.spmatrix) -> sp.csr_matrix:
    """The posting lists of ``docs`` (terms x docs, float64 CSR): what :func:`sparse_top_k` scores against."""
    dt = sp.csr_matrix(docs, dtype=np.float64).T.tocsr()
    dt.sum_duplicates()
    return dt


def cached_postings(owner: object, docs: sp.spmatrix) -> sp.csr_matrix:
    """:func:`doc_postings` of ``docs``, kept on ``owner`` (a fitted scorer) while ``docs`` is the same object:
    transposing a catalogue is fixed per catalogue, and on Home Depot it cost 78 ms of every query (issue 18)."""
    cache = owner.__dict__.get("_postings_cache")
    if cache is None or cache[0] is not docs:
        cache = (docs, doc_postings(docs))
        owner.__dict__["_postings_cache"] = cache
    return cache[1]


def sparse_top_k(
    queries: sp.spmatrix,
    docs: sp.spmatrix,
    k: int,
    chunk_size: int | None = None,
    exclude: sp.spmatrix | None = None,
    transform: EntryTransform | None = None,
    max_block: int = MAX_BLOCK,
    dense_fraction: float = 0.5,
    postings: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k docs for every query by ``queries @ docs.T``: (indices [n, k'], scores [n, k']).

    ``k' = min(k, docs)``. Order: score descending, ties by the lower doc
    index, whatever the path or the chunking. Memory is bounded: at most
    ``chunk_size`` queries are scored at a time (default: as many as keep
    ``chunk x docs <= max_block`` scores).

    Two exact paths. A query whose terms' postings add up to more than
    ``dense_fraction x docs`` entries (it touches most documents: char n-grams)
    is scored into a dense ``chunk x docs`` block (:func:`_dense_scores`) and cut
    with :func:`select_top_k` (``torch.topk``). Any other query is scored by a
    sparse product and cut row by row on the stored entries (unstored pairs
    score 0), which is far cheaper for word-level BM25 / TF-IDF.

    ``transform(values, query_rows, doc_cols)`` may rewrite scores elementwise
    (arrays that broadcast together; ``query_rows`` are absolute query
    positions); it must map 0 to 0, since unstored pairs stay 0. Jaccard turns
    intersections into ratios with it. ``exclude`` (sparse, queries x docs)
    marks pairs never to return; slots that cannot be filled come back as
    index -1 with score -inf, as in ``baselines.vectors.top_k``. ``postings``: ``doc_postings(docs)``
    computed once per catalogue (:func:`cached_postings`); by default it is computed here.
    """
    q = sp.csr_matrix(queries, dtype=np.float64, copy=True)  # copies: the inputs are never modified
    dt = doc_postings(docs) if postings is None else postings
    if q.shape[1] != dt.shape[0]:
        raise TagrankInputError(f"queries have {q.shape[1]} columns but docs have {dt.shape[0]}")
    n, m = q.shape[0], dt.shape[1]
    if m == 0:
        raise TagrankInputError("docs is empty: at least one row is needed")
    k = min(check_k(k), m)
    if exclude is not None:
        exclude = sp.csr_matrix(exclude, dtype=bool, copy=True)
        if exclude.shape != (n, m):
            raise TagrankInputError(f"exclude has shape {exclude.shape}, expected (queries, docs) = {(n, m)}")
        exclude.sum_duplicates()
        exclude.eliminate_zeros()
    if chunk_size is None:
        chunk_size = max(1, int(max_block) // m)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise TagrankInputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    q.sum_duplicates()
    out_idx = np.empty((n, k), dtype=np.int64)
    out_scores = np.empty((n, k), dtype=np.float64)
    if n == 0:
        return out_idx, out_scores
    # postings touched per query decide its path
    postings = np.diff(dt.indptr).astype(np.float64)
    work = sp.csr_matrix((np.ones(q.nnz), q.indices, q.indptr), shape=q.shape) @ postings
    heavy = np.flatnonzero(work > dense_fraction * m)
    light = np.flatnonzero(work <= dense_fraction * m)

    if heavy.size:
        buffer = np.empty((min(chunk_size, heavy.size), m), dtype=np.float64)
        for start in range(0, heavy.size, chunk_size):
            rows = heavy[start : start + chunk_size]
            block = _dense_scores(q[rows], dt, buffer[: rows.size])
            if transform is not None:
                block = transform(block, rows[:, None], np.arange(m)[None, :])
            if exclude is not None:
                coo = exclude[rows].tocoo()
                block[coo.row, coo.col] = -np.inf
            idx, scores = select_top_k(block, k)
            idx[np.isneginf(scores)] = -1
            out_idx[rows], out_scores[rows] = idx, scores

    no_cols = np.empty(0, dtype=np.int64)
    for start in range(0, light.size, chunk_size):
        rows = light[start : start + chunk_size]
        prod = sp.csr_matrix(q[rows] @ dt)
        if transform is not None and prod.nnz:
            entry_rows = np.repeat(rows, np.diff(prod.indptr))
            prod.data = np.asarray(transform(prod.data, entry_rows, prod.indices), dtype=np.float64)
        ex = exclude[rows] if exclude is not None else None
        ptr, cols, vals = prod.indptr, prod.indices, prod.data
        for i, row in enumerate(rows):
            excluded = np.sort(ex.indices[ex.indptr[i] : ex.indptr[i + 1]]) if ex is not None else no_cols
            out_idx[row], out_scores[row] = _row_top_k(cols[ptr[i] : ptr[i + 1]], vals[ptr[i] : ptr[i + 1]], excluded, m, k)
    return out_idx, out_scores


def build_matrix(
    token_lists: Iterable[Sequence[str]],
    vocabulary: dict[str, int],
    grow: bool = False,
    binary: bool = False,
) -> sp.csr_matrix:
    """A CSR matrix (rows = texts, columns = vocabulary) of term counts, or 0/1 when ``binary``.

    Unknown terms are skipped, or added to ``vocabulary`` (in place, in first-seen
    order) when ``grow``. The matrix has ``len(vocabulary)`` columns after the
    build, sorted column indices and no duplicates. Vectorised: tokens hashed once
    (``pandas.factorize``), one dict lookup per distinct term, one sort of the
    (row, column) keys counts every entry.
    """
    token_lists = token_lists if isinstance(token_lists, list) else list(token_lists)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = [tok for tokens in token_lists for tok in tokens]
    # hash every token once (pandas' factorize, C), then look up each distinct term once
    codes, terms = pd.factorize(np.asarray(flat, dtype=object)) if flat else (np.zeros(0, np.int64), [])
    if grow:  # new terms in first-seen order
        fresh = [t for t in terms if t not in vocabulary]
        vocabulary.update(zip(fresh, range(len(vocabulary), len(vocabulary) + len(fresh)), strict=True))
    lookup = np.fromiter(map(vocabulary.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    cols = lookup[codes]
    n_rows, n_cols = len(token_lists), len(vocabulary)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    if not grow:
        known = cols >= 0
        rows, cols = rows[known], cols[known]
    keys, counts = np.unique(rows * max(n_cols, 1) + cols, return_counts=True)
    key_rows = keys // max(n_cols, 1)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(key_rows, minlength=n_rows), out=indptr[1:])
    data = np.ones(keys.size) if binary else counts.astype(np.float64)
    return sp.csr_matrix((data, keys - key_rows * max(n_cols, 1), indptr), shape=(n_rows, n_cols))


def unique_rows(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts (first-seen order) and, per input, the position of its distinct text."""
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
    return list(first), inverse


def row_dot(a: sp.spmatrix, b: sp.spmatrix) -> np.ndarray:
    """Row-wise dot product of two aligned sparse matrices of one shape, as float64."""
    return np.asarray(sp.csr_matrix(a).multiply(sp.csr_matrix(b)).sum(axis=1), dtype=np.float64).ravel()


def gathered_row_dot(distinct: sp.spmatrix, inverse: np.ndarray, matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``row_dot(distinct[inverse], matrix[rows])`` without building ``matrix[rows]``.

    With one distinct row (a request: one query against catalogue rows) the
    rows' stored entries are gathered straight from the CSR arrays and matched
    to the query's few terms: a handful of numpy calls instead of three sparse
    matrices per scorer per request.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not sp.isspmatrix_csr(matrix):
        matrix = sp.csr_matrix(matrix)
    if distinct.shape[0] != 1:
        return row_dot(sp.csr_matrix(distinct)[inverse], matrix[rows])
    q = sp.csr_matrix(distinct)
    if not q.has_canonical_format:  # sorted, without duplicate columns (a copy: the input is not changed)
        q = q.copy()
        q.sum_duplicates()
    q_cols, q_vals = q.indices, q.data
    out = np.zeros(len(rows), dtype=np.float64)
    if q_cols.size == 0 or rows.size == 0:
        return out
    start = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - start
    total = int(lengths.sum())
    if total == 0:
        return out
    # position of every stored entry of the chosen rows, row by row
    first = np.cumsum(lengths) - lengths
    entries = np.arange(total, dtype=np.int64) + np.repeat(start - first, lengths)
    cols = matrix.indices[entries]
    at = np.minimum(np.searchsorted(q_cols, cols), q_cols.size - 1)
    hit = q_cols[at] == cols
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)[hit]
    # (bincount of no entries is int64 even with weights: keep float64 for every outcome)
    return np.bincount(owner, weights=matrix.data[entries[hit]] * q_vals[at[hit]],
                       minlength=len(rows)).astype(np.float64, copy=False)


# --------------------------------------------------------------------------- persistence

def ids_to_array(ids: np.ndarray) -> np.ndarray:
    """Corpus ids as a picklable-free array: all ints -> int64, all str -> unicode; else a clear error."""
    values = list(ids)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=np.str_)
    raise TagrankInputError("save() needs corpus ids that are all int or all str; got mixed or other types")


def save_state(path: str | Path, scorer: Any, format_version: int, arrays: dict[str, np.ndarray],
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` and ``arrays.npz`` under the directory ``path`` (created if needed)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in scorer.get_params().items()}
    config = {
        "class": type(scorer).__name__,
        "format_version": format_version,
        "params": params,
        "extra": extra or {},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    arrays = dict(arrays, ids_=ids_to_array(scorer.ids_))
    text_rows = getattr(scorer, "text_rows_", None)
    if text_rows:  # the corpus-text index (see TextScorer.corpus_rows)
        arrays.update(texts_to_arrays("corpus_texts_", list(text_rows)))
        arrays["corpus_text_rows_"] = np.asarray(list(text_rows.values()), dtype=np.int64)
    np.savez(out / "arrays.npz", **arrays)
    return out


def load_state(path: str | Path, cls: type, format_version: int) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """Read a directory written by :func:`save_state`; check class and format version.

    Returns (unfitted scorer with the saved params, arrays, extra config).
    """
    from tagrank.baselines.saved import read_json, read_npz, saved_dir

    src = saved_dir(path, cls.__name__)
    config_file, arrays_file = src / "config.json", src / "arrays.npz"
    if not config_file.is_file() or not arrays_file.is_file():
        raise SavedModelError(f"{src} is not a saved {cls.__name__}: config.json and arrays.npz are needed")
    config = read_json(config_file, cls.__name__)
    if config.get("class") != cls.__name__:
        raise SavedModelError(f"{src} holds a {config.get('class')!r}, not a {cls.__name__}")
    if config.get("format_version") != format_version:
        raise SavedModelError(
            f"{src} has format_version {config.get('format_version')!r}; this version of "
            f"{cls.__name__} reads format_version {format_version} only (re-fit and save again)"
        )
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    scorer = cls(**params)
    arrays = read_npz(arrays_file, cls.__name__)
    ids = arrays.pop("ids_").tolist()
    scorer.ids_ = np.asarray(ids, dtype=object)
    scorer.id_index_ = {key: i for i, key in enumerate(ids)}
    texts = texts_from_arrays("corpus_texts_", arrays)
    if texts is not None:
        rows = arrays.pop("corpus_text_rows_").tolist()
        scorer.text_rows_ = dict(zip(texts, rows, strict=True))
    return scorer, arrays, config.get("extra", {})


def texts_to_arrays(name: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Texts as ``<name>_utf8`` (one byte buffer) and ``<name>_offsets`` (n + 1 int64): exact for any
    text (a trailing NUL too, which fixed-width numpy strings drop), and as small as the UTF-8 itself."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return {f"{name}_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), f"{name}_offsets": offsets}


def texts_from_arrays(name: str, arrays: dict[str, np.ndarray]) -> list[str] | None:
    """Texts written by :func:`texts_to_arrays` (removed from ``arrays``); an older file's fixed-width
    string array ``<name>`` is read too; None when neither is there."""
    if f"{name}_utf8" in arrays:
        buf = arrays.pop(f"{name}_utf8").tobytes()
        offsets = arrays.pop(f"{name}_offsets").tolist()
        return [buf[a:b].decode("utf-8", "surrogatepass") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    if name in arrays:
        return [str(t) for t in arrays.pop(name).tolist()]
    return None


def csr_to_arrays(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """The components of a CSR matrix as named arrays (``<prefix>_data`` ...)."""
    m = sp.csr_matrix(matrix)
    return {
        f"{prefix}_data": m.data,
        f"{prefix}_indices": m.indices,
        f"{prefix}_indptr": m.indptr,
        f"{prefix}_shape": np.asarray(m.shape, dtype=np.int64),
    }


def csr_from_arrays(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    """Rebuild a CSR matrix saved by :func:`csr_to_arrays`."""
    shape = tuple(int(v) for v in arrays[f"{prefix}_shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]), shape=shape
    )


def vocabulary_to_array(vocabulary: dict[str, int]) -> np.ndarray:
    """A vocabulary as a unicode array ordered by column index."""
    terms = [""] * len(vocabulary)
    for term, col in vocabulary.items():
        terms[col] = term
    return np.asarray(terms, dtype=np.str_)


def vocabulary_from_array(terms: np.ndarray) -> dict[str, int]:
    return {str(t): i for i, t in enumerate(terms.tolist())}
