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
