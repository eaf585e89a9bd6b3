"""Sparse helpers: the one-query row products equal the expanded ones."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


@pytest.mark.parametrize("n_distinct", [1, 3])
@pytest.mark.parametrize("unsorted", [False, True])
def test_gathered_row_dot_equals_row_dot_of_the_gathered_rows(n_distinct, unsorted):
    from tagrank.baselines.sparse_topk import gathered_row_dot, row_dot

    rng = np.random.default_rng(0)
    distinct = sp.random(n_distinct, 30, density=0.3, random_state=1, format="csr")
    if unsorted:  # a query row whose column indices are not sorted
        distinct = sp.csr_matrix((distinct.data[::-1], distinct.indices[::-1], [0, distinct.nnz]), shape=(1, 30)) \
            if n_distinct == 1 else distinct
    inverse = rng.integers(0, n_distinct, 12)
    dense = sp.random(40, 30, density=0.3, random_state=2).toarray()
    dense[5] = 0  # an empty row
    matrix = sp.csr_matrix(dense)
    rows = rng.integers(0, 40, 12)
    rows[3] = 5
    expected = row_dot(sp.csr_matrix(distinct)[inverse], matrix[rows])
    np.testing.assert_allclose(gathered_row_dot(distinct, inverse, matrix, rows), expected, rtol=0, atol=1e-12)
    assert gathered_row_dot(distinct, inverse, matrix, rows)[3] == 0.0


def test_gathered_row_dot_edge_cases():
    from tagrank.baselines.sparse_topk import gathered_row_dot

    matrix = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 0, 0], [3, 4, 0]]))
    query = sp.csr_matrix(np.array([[0.5, 0, 1.0]]))
    # by hand: row 0 = 0.5 + 2, row 1 = 0, row 2 = 1.5; rows repeat and come in any order
    np.testing.assert_array_equal(gathered_row_dot(query, np.zeros(4, int), matrix, [2, 0, 1, 2]), [1.5, 2.5, 0, 1.5])
    empty = sp.csr_matrix((1, 3))
    np.testing.assert_array_equal(gathered_row_dot(empty, np.zeros(2, int), matrix, [0, 2]), [0, 0])
    # a query sharing no column with the rows (and rows without entries): float zeros, not integers
    for rows in ([0], [1]):
        out = gathered_row_dot(sp.csr_matrix(np.array([[0, 1.0, 0]])), np.zeros(1, int), matrix, rows)
        assert out.dtype == np.float64 and out.tolist() == [0.0]
    assert gathered_row_dot(query, np.zeros(0, int), matrix, []).shape == (0,)


def test_texts_round_trip_exactly_and_older_files_still_read():
    from tagrank.baselines.sparse_topk import texts_from_arrays, texts_to_arrays

    texts = ["plain", "trailing nul\x00", "日本語 ünïcode", "x" * 300, "tab\tand\nnewline"]
    arrays = texts_to_arrays("t", texts)
    assert set(arrays) == {"t_utf8", "t_offsets"} and arrays["t_utf8"].dtype == np.uint8
    assert texts_from_arrays("t", dict(arrays)) == texts
    assert texts_from_arrays("t", texts_to_arrays("t", [])) == []
    old = {"t": np.asarray(["a", "bc"], dtype=np.str_)}  # the fixed-width layout of earlier saves
    assert texts_from_arrays("t", old) == ["a", "bc"] and old == {}
    assert texts_from_arrays("t", {}) is None


def test_precomputed_postings_give_the_same_answer_and_follow_a_refit():
    import numpy as np
    import scipy.sparse as sp

    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.baselines.sparse_topk import cached_postings, doc_postings, sparse_top_k

    docs = sp.random(60, 40, density=0.1, random_state=1, format="csr")
    queries = sp.random(7, 40, density=0.2, random_state=2, format="csr")
    plain = sparse_top_k(queries, docs, 5)
    given = sparse_top_k(queries, docs, 5, postings=doc_postings(docs))
    np.testing.assert_array_equal(plain[0], given[0])
    np.testing.assert_array_equal(plain[1], given[1])

    class Owner:
        pass

    owner = Owner()
    first = cached_postings(owner, docs)
    assert cached_postings(owner, docs) is first  # computed once per catalogue
    other = sp.random(30, 40, density=0.1, random_state=3, format="csr")
    assert cached_postings(owner, other).shape == (40, 30)  # a new catalogue object: recomputed

    # a scorer refitted on another catalogue ranks that catalogue, not the cached one
    texts_a = [f"red shoe {i}" for i in range(5)] + ["blue hat"]
    texts_b = ["blue hat", "green hat", "red hat"]
    bm25 = BM25Scorer().fit(texts_a, list(range(len(texts_a))))
    bm25.top_k(["hat"], k=1)
    bm25.fit(texts_b, ["x", "y", "z"])
    ids, _ = bm25.top_k(["green"], k=1)
    assert list(np.asarray(ids).ravel()) == ["y"]
