"""The tensor scoring engine: pair_scores and exact chunked top_k against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tagrank.baselines import vectors
from tagrank.baselines.validation import TagrankInputError
from tagrank.baselines.vectors import l2_normalize, pair_scores, resolve_device, top_k

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def brute_top_k(q, m, k, metric="cosine", exclude=None):
    """Reference: float64 scores, full lexsort by (score desc, index asc)."""
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    s = q @ m.T
    if exclude is not None:
        s[sp.csr_matrix(exclude).toarray().astype(bool)] = -np.inf
    cols = np.arange(s.shape[1])
    idx = np.stack([np.lexsort((cols, -row))[:k] for row in s])
    scores = np.take_along_axis(s, idx, 1)
    idx[~np.isfinite(scores)] = -1
    return idx, scores


def assert_same_top_k(idx, scores, ref_idx, ref_scores, atol=1e-5):
    """Equal up to float32 rounding: scores within atol; an index may differ only
    where two scores are closer than atol (a near-tie that rounding can swap)."""
    assert idx.shape == ref_idx.shape
    np.testing.assert_allclose(scores, ref_scores, atol=atol)
    same = idx == ref_idx
    assert same.mean() > 0.99
    for r, c in zip(*np.nonzero(~same), strict=True):
        alt = np.nonzero(ref_idx[r] == idx[r, c])[0]
        assert len(alt) == 1 and abs(ref_scores[r, alt[0]] - ref_scores[r, c]) < atol


def random_unit(n, d, seed):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tied_data(seed=0):
    """Items with exact duplicates (ties), a query equal to a duplicated item."""
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((3000, 8)).astype(np.float32)
    items[100:160] = items[7]  # 61 identical rows: ties across the k boundary
    items[2000:2003] = items[11]
    queries = rng.standard_normal((40, 8)).astype(np.float32)
    queries[0] = items[7]
    queries[1] = items[11]
    queries[2] = 0.0  # all-zero query: every cosine is 0, a tie everywhere
    return queries, items


# ---------------------------------------------------------------------- top_k


@pytest.mark.parametrize(
    "n_q, n_m, d, k, query_chunk, item_chunk",
    [
        (37, 4000, 16, 10, 1024, 65536),  # block-max prefilter path, one chunk
        (37, 4000, 16, 10, 8, 1000),  # several query and item chunks
        (25, 500, 6, 7, 4, 128),  # small blocks: direct topk path
        (10, 40, 5, 40, 3, 7),  # k = all items, blocks narrower than k
        (64, 5003, 3, 12, 16, 2048),  # ragged item chunk, d=3 -> many near-ties
    ],
)
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_top_k_matches_brute_force(n_q, n_m, d, k, query_chunk, item_chunk, metric):
    rng = np.random.default_rng(n_m + k)
    q = rng.standard_normal((n_q, d)).astype(np.float32)
    m = rng.standard_normal((n_m, d)).astype(np.float32)
    idx, scores = top_k(q, m, k=k, metric=metric, device="cpu", query_chunk=query_chunk, item_chunk=item_chunk)
    ref_idx, ref_scores = brute_top_k(q, m, k, metric)
    assert idx.shape == scores.shape == (n_q, min(k, n_m))
    assert idx.dtype == np.int64 and scores.dtype == np.float64
    assert_same_top_k(idx, scores, ref_idx, ref_scores)


@pytest.mark.parametrize("query_chunk, item_chunk", [(1024, 65536), (7, 500), (40, 96)])
def test_top_k_ties_go_to_the_lower_index(query_chunk, item_chunk):
    queries, items = tied_data()
    k = 10
    idx, scores = top_k(queries, items, k=k, device="cpu", query_chunk=query_chunk, item_chunk=item_chunk)
    # The query equal to item 7 ties with items 7 and 100..159 at cosine 1: lowest indices win.
    assert idx[0].tolist() == [7, *range(100, 109)]
    np.testing.assert_allclose(scores[0], 1.0, atol=1e-6)
    assert idx[1, :4].tolist() == [11, 2000, 2001, 2002]
    # All-zero query: every score is 0, so the first k items in order.
    assert idx[2].tolist() == list(range(k))
    assert np.all(scores[2] == 0.0)
    # Every row is ordered by score desc, then index asc.
    for row_i, row_s in zip(idx, scores, strict=True):
        keys = list(zip(-row_s, row_i, strict=True))
        assert keys == sorted(keys)


def test_top_k_tie_rows_match_brute_force_exactly():
    queries, items = tied_data(seed=3)
    q = l2_normalize(torch.from_numpy(queries)).numpy()
    m = l2_normalize(torch.from_numpy(items)).numpy()
    idx, _ = top_k(q, m, k=15, metric="dot", device="cpu", query_chunk=16, item_chunk=1000)
    ref_idx, _ = brute_top_k(q, m, 15, metric="dot")
    np.testing.assert_array_equal(idx[:3], ref_idx[:3])


def test_top_k_exclude():
    q = random_unit(30, 12, 1)
    m = random_unit(2048, 12, 2)
    excl = sp.random(30, 2048, density=0.05, random_state=0, format="csr")
    excl.data[:] = 1
    # also exclude each query's current best item, so the exclusion must bite
    best, _ = top_k(q, m, k=1, device="cpu")
    excl = excl + sp.csr_matrix((np.ones(30), (np.arange(30), best[:, 0])), shape=(30, 2048))
    idx, scores = top_k(q, m, k=9, device="cpu", exclude=excl, query_chunk=7, item_chunk=600)
    ref_idx, ref_scores = brute_top_k(q, m, 9, exclude=excl)
    assert_same_top_k(idx, scores, ref_idx, ref_scores)
    dense = excl.toarray() > 0
    assert not any(dense[r, c] for r in range(30) for c in idx[r])


def test_top_k_exclude_leaves_unfillable_slots_as_minus_one():
    q = random_unit(2, 4, 0)
    m = random_unit(5, 4, 1)
    excl = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]]))
    idx, scores = top_k(q, m, k=4, device="cpu", exclude=excl)
    assert sorted(idx[0, :2].tolist()) == [3, 4]
    assert idx[0, 2:].tolist() == [-1, -1] and np.all(np.isneginf(scores[0, 2:]))
    assert (idx[1] >= 0).all() and np.isfinite(scores[1]).all()


def test_top_k_self_join_excluding_self():
    x = random_unit(3000, 16, 5)
    idx, scores = top_k(x, x, k=5, device="cpu", exclude=sp.identity(3000, format="csr"))
    ref_idx, ref_scores = brute_top_k(x, x, 6)
    assert (ref_idx[:, 0] == np.arange(3000)).all()
    assert_same_top_k(idx, scores, ref_idx[:, 1:], ref_scores[:, 1:])


def test_top_k_k_larger_than_items_and_inputs_untouched():
    q = random_unit(3, 4, 0)
    m = random_unit(6, 4, 1)
    q0, m0 = q.copy(), m.copy()
    idx, scores = top_k(q, m, k=50, device="cpu")
    assert idx.shape == (3, 6)
    assert sorted(idx[0].tolist()) == list(range(6))
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(m, m0)


def test_top_k_accepts_tensors_and_float64():
    q = random_unit(5, 8, 0).astype(np.float64)
    m = random_unit(300, 8, 1)
    a = top_k(q, m, k=3, device="cpu")
    b = top_k(torch.from_numpy(q), torch.from_numpy(m), k=3, device="cpu")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_top_k_rejects_bad_input():
    q = random_unit(3, 4, 0)
    m = random_unit(6, 4, 1)
    with pytest.raises(TagrankInputError, match="dimension"):
        top_k(q, random_unit(6, 5, 1), device="cpu")
    with pytest.raises(TagrankInputError, match="k must"):
        top_k(q, m, k=0, device="cpu")
    with pytest.raises(TagrankInputError, match="metric"):
        top_k(q, m, metric="l2", device="cpu")
    bad = m.copy()
    bad[2, 1] = np.nan
    with pytest.raises(TagrankInputError, match="row 2"):
        top_k(q, bad, device="cpu")
    with pytest.raises(TagrankInputError, match="exclude has shape"):
        top_k(q, m, device="cpu", exclude=sp.csr_matrix((2, 6)))
    with pytest.raises(TagrankInputError, match="2-D"):
        top_k(q[0], m, device="cpu")


def test_chunk_top_k_prefilter_equals_full_topk():
    """The block-max prefilter (m a multiple of _GROUP, m >= 4k groups) against a stable sort."""
    rng = np.random.default_rng(0)
    s = torch.from_numpy(rng.standard_normal((50, vectors._GROUP * 200)).astype(np.float32))
    s[3, :] = 0.5  # a row that is one big tie
    s[4, ::7] = 2.0  # a tie spread over many groups
    vals, idx = vectors._chunk_top_k(s, 10)
    ref_vals, ref_idx = torch.sort(s, dim=1, descending=True, stable=True)
    torch.testing.assert_close(vals, ref_vals[:, :10])
    torch.testing.assert_close(idx, ref_idx[:, :10])


# ---------------------------------------------------------------------- pair_scores


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_pair_scores_match_numpy(metric):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((101, 7))
    b = rng.standard_normal((101, 7))
    a[5] = 0.0  # a zero row: cosine 0, not NaN
    got = pair_scores(a, b, metric=metric, device="cpu", chunk_size=16)
    if metric == "cosine":
        na = np.maximum(np.linalg.norm(a, axis=1), 1e-12)
        nb = np.linalg.norm(b, axis=1)
        want = (a * b).sum(1) / (na * nb)
    else:
        want = (a * b).sum(1)
    assert got.dtype == np.float64 and got.shape == (101,)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[5] == 0.0


def test_pair_scores_rejects_bad_input():
    a = np.ones((3, 2))
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        pair_scores(a, np.ones((4, 2)), device="cpu")
    with pytest.raises(TagrankInputError, match="dimension"):
        pair_scores(a, np.ones((3, 3)), device="cpu")
    with pytest.raises(TagrankInputError, match="metric"):
        pair_scores(a, a, metric="l1", device="cpu")


# ---------------------------------------------------------------------- devices


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TagrankInputError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(TagrankInputError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.cuda
@needs_cuda
def test_top_k_cpu_equals_cuda():
    q = random_unit(300, 64, 0)
    m = random_unit(20000, 64, 1)
    ci, cs = top_k(q, m, k=10, device="cpu")
    gi, gs = top_k(q, m, k=10, device="cuda")
    np.testing.assert_allclose(gs, cs, atol=1e-5)
    assert (gi == ci).mean() > 0.999  # only sub-1e-5 near-ties may swap


@pytest.mark.cuda
@needs_cuda
def test_top_k_ties_on_cuda():
    queries, items = tied_data()
    gi, _ = top_k(queries, items, k=10, device="cuda", item_chunk=1000)
    ci, _ = top_k(queries, items, k=10, device="cpu", item_chunk=1000)
    np.testing.assert_array_equal(gi[:3], ci[:3])


@pytest.mark.cuda
@needs_cuda
def test_pair_scores_cpu_equals_cuda():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((500, 32)), rng.standard_normal((500, 32))
    np.testing.assert_allclose(pair_scores(a, b, device="cuda"), pair_scores(a, b, device="cpu"), atol=1e-5)


def test_top_k_memory_is_bounded_by_the_chunks(monkeypatch):
    """Every score block is at most query_chunk x item_chunk (padded to the prefilter's group), and
    the item blocks are views of one reused buffer: no queries x items matrix, no copy of all items."""
    shapes, buffers = [], set()
    real = vectors._scores_into

    def spy(qb, block, out):
        shapes.append(tuple(out.shape))
        buffers.add(block.untyped_storage().data_ptr())
        real(qb, block, out)

    monkeypatch.setattr(vectors, "_scores_into", spy)
    q, m = random_unit(50, 8, 4), random_unit(3000, 8, 5)
    idx, _ = top_k(q, m, k=5, device="cpu", query_chunk=16, item_chunk=700)
    assert max(r for r, _ in shapes) <= 16 and max(c for _, c in shapes) <= 700 + vectors._GROUP
    assert len(shapes) == 4 * 5 and len(buffers) == 1  # 4 query chunks x 5 item blocks, one block buffer
    np.testing.assert_array_equal(idx, brute_top_k(q, m, 5)[0])


def test_top_k_refuses_non_numeric_matrices_by_name():
    items = np.array([["a", "b"], ["c", "d"]], dtype=object)
    with pytest.raises(TagrankInputError, match="items must be a numeric matrix, got dtype object"):
        top_k(np.ones((1, 2), dtype=np.float32), items, k=1)


@pytest.mark.parametrize("item_chunk", [65536, 1024, 1000])
def test_top_k_dot_reads_float32_blocks_in_place_with_the_same_result(item_chunk):
    """float32 items under metric='dot' are read without a copy where a block needs no padding;
    the result is bit-identical to the copying path (float64 items take it) and to brute force."""
    rng = np.random.default_rng(5)
    q = rng.standard_normal((9, 16)).astype(np.float32)
    m = rng.standard_normal((4096, 16)).astype(np.float32)
    before = m.copy()
    idx, scores = top_k(q, m, k=10, metric="dot", device="cpu", item_chunk=item_chunk)
    idx64, scores64 = top_k(q, m.astype(np.float64), k=10, metric="dot", device="cpu", item_chunk=item_chunk)
    assert np.array_equal(idx, idx64) and np.array_equal(scores, scores64)
    np.testing.assert_array_equal(m, before)  # read in place, never written
    assert_same_top_k(idx, scores, *brute_top_k(q, m, 10, "dot"))


def test_top_k_check_items_false_skips_only_the_item_scan():
    m = np.ones((50, 4), dtype=np.float32)
    m[3, 1] = np.nan
    q = np.ones((2, 4), dtype=np.float32)
    with pytest.raises(TagrankInputError, match="items row 3"):
        top_k(q, m, k=2, device="cpu")
    top_k(q, m, k=2, device="cpu", check_items=False)  # the caller vouches for the items
    q[1, 0] = np.inf
    with pytest.raises(TagrankInputError, match="queries row 1"):
        top_k(q, m, k=2, device="cpu", check_items=False)
