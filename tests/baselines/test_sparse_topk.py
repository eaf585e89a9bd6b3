"""Sparse helpers: the one-query row products equal the expanded ones."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


@pytest.mark.parametrize("n_distinct", [1, 3])
def test_expanded_row_dot_equals_row_dot_of_the_expanded_rows(n_distinct):
    from baselines.sparse_topk import expanded_row_dot, row_dot

    rng = np.random.default_rng(0)
    distinct = sp.random(n_distinct, 30, density=0.3, random_state=1, format="csr")
    inverse = rng.integers(0, n_distinct, 12)
    b = sp.random(12, 30, density=0.3, random_state=2, format="csr")
    np.testing.assert_allclose(expanded_row_dot(distinct, inverse, b), row_dot(distinct[inverse], b),
                               rtol=0, atol=1e-12)


def test_texts_round_trip_exactly_and_older_files_still_read():
    from baselines.sparse_topk import texts_from_arrays, texts_to_arrays

    texts = ["plain", "trailing nul\x00", "日本語 ünïcode", "x" * 300, "tab\tand\nnewline"]
    arrays = texts_to_arrays("t", texts)
    assert set(arrays) == {"t_utf8", "t_offsets"} and arrays["t_utf8"].dtype == np.uint8
    assert texts_from_arrays("t", dict(arrays)) == texts
    assert texts_from_arrays("t", texts_to_arrays("t", [])) == []
    old = {"t": np.asarray(["a", "bc"], dtype=np.str_)}  # the fixed-width layout of earlier saves
    assert texts_from_arrays("t", old) == ["a", "bc"] and old == {}
    assert texts_from_arrays("t", {}) is None
