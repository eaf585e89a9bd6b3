"""ALSScorer: the shared suite, matrix orientation, block structure, weighting, GPU guard."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tagrank.baselines.als import ALSScorer, confidence_matrix, implicit_has_cuda
from tagrank.baselines.validation import TagrankInputError
from tests.baselines.interaction_suite import InteractionScorerSuite, make_interactions


def small_als(**kw):
    params = dict(factors=8, iterations=5, regularization=0.05, random_state=0, num_threads=1, device="cpu")
    params.update(kw)
    return ALSScorer(**params)


class TestALSSuite(InteractionScorerSuite):
    deterministic_attrs = ("user_factors_", "item_factors_")

    def make_scorer(self):
        return small_als()


class TestALSRawWeightedSuite(InteractionScorerSuite):
    deterministic_attrs = ("user_factors_", "item_factors_")

    def make_scorer(self):
        return small_als(weighting="raw", weight_col="rating", alpha=2.0)


def block_frame() -> pd.DataFrame:
    """Two disjoint communities: users 0-5 like items A0..A3, users 6-11 like B0..B2.

    User 0 lacks A3, user 6 lacks B2; 12 users vs 7 items, so a transposed
    matrix cannot have the right shapes.
    """
    rows = []
    for u in range(6):
        rows += [(f"user{u}", f"A{i}") for i in range(4) if not (u == 0 and i == 3)]
    for u in range(6, 12):
        rows += [(f"user{u}", f"B{i}") for i in range(3) if not (u == 6 and i == 2)]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.mark.parametrize("weighting", ["bm25", "tfidf", "raw"])
def test_block_structure_recommends_co_consumed_item(weighting):
    frame = block_frame()
    s = small_als(factors=4, iterations=15, regularization=0.01, weighting=weighting).fit(frame)
    ids, _ = s.recommend(["user0", "user6"], k=1)
    assert ids[0, 0] == "A3"
    assert ids[1, 0] == "B2"
    sim, _ = s.similar_items(["A0", "B0"], k=2)
    assert set(sim[0]) <= {"A1", "A2", "A3"}
    assert set(sim[1]) <= {"B1", "B2"}


def test_orientation_factors_match_users_and_items():
    frame = block_frame()
    s = small_als().fit(frame)
    # 12 users, 7 items: factors must line up with the right side
    assert s.user_factors_.shape == (12, 8)
    assert s.item_factors_.shape == (7, 8)
    assert s.seen_.shape == (12, 7)
    ids, _ = s.recommend(list(s.user_ids_), k=7, exclude_seen=False)
    assert {x for x in ids.ravel()} == set(s.item_ids_)  # recommendations are items, not users


def test_orientation_guard_catches_a_transposed_matrix(monkeypatch):
    import tagrank.baselines.als as als_module

    real = als_module.confidence_matrix

    def transposed(*args, **kwargs):
        return sp.csr_matrix(real(*args, **kwargs).T)

    monkeypatch.setattr(als_module, "confidence_matrix", transposed)
    with pytest.raises(RuntimeError, match="shape"):
        small_als().fit(block_frame())


def test_confidence_matrix_orientation_and_weights():
    # 4 users x 6 items
    ui = sp.csr_matrix(
        np.array(
            [
                [1.0, 0, 2.0, 0, 0, 0],
                [0, 1.0, 0, 0, 0, 0],
                [1.0, 1.0, 0, 0, 0, 0],
                [0, 0, 1.0, 0, 0, 3.0],
            ]
        )
    )
    for weighting in ("bm25", "tfidf", "raw"):
        c = confidence_matrix(ui, weighting)
        assert c.shape == ui.shape and c.dtype == np.float32
        assert (c != 0).toarray().tolist() == (ui != 0).toarray().tolist()
        assert (c.data > 0).all()
    np.testing.assert_array_equal(confidence_matrix(ui, "raw").toarray(), ui.toarray())
    # tfidf on the item x user matrix: sqrt(x) * (log(n_items) - log1p(items of the user))
    tf = confidence_matrix(ui, "tfidf").toarray()
    assert tf[0, 2] == pytest.approx(np.sqrt(2.0) * (np.log(6) - np.log1p(2)), rel=1e-6)
    assert tf[1, 1] == pytest.approx(np.log(6) - np.log1p(1), rel=1e-6)
    # bm25 on the item x user matrix: length norm per item (its total), idf per user
    bm = confidence_matrix(ui, "bm25", bm25_K1=100, bm25_B=0.8).toarray()
    item_totals = np.asarray(ui.sum(axis=0)).ravel()
    avg = item_totals.mean()
    norm = 0.2 + 0.8 * item_totals[5] / avg
    expected = 3.0 * 101 / (100 * norm + 3.0) * (np.log(6) - np.log1p(2))
    assert bm[3, 5] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(TagrankInputError, match="weighting"):
        confidence_matrix(ui, "nope")


def test_non_positive_weights_are_floored():
    # user 0 interacted with 2 of 3 items: idf = log(3) - log1p(2) = 0
    ui = sp.csr_matrix(np.array([[1.0, 0, 1.0], [0, 1.0, 0]]))
    for weighting in ("bm25", "tfidf"):
        c = confidence_matrix(ui, weighting)
        assert c.nnz == 3 and (c.data > 0).all()


def test_duplicates_are_summed_in_raw_weighting():
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["x", "x", "y"]})
    from tagrank.baselines.interactions import user_item_matrix

    m = user_item_matrix(np.array([0, 0, 1]), np.array([0, 0, 1]), 2, 2)
    assert m.toarray().tolist() == [[2.0, 0.0], [0.0, 1.0]]
    small_als(weighting="raw").fit(frame)  # fits without error


def test_fit_does_not_warn_about_blas_or_touch_environment():
    import os

    before = dict(os.environ)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_als().fit(make_interactions())
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    "params",
    [dict(factors=0), dict(iterations=-1), dict(regularization=-0.1), dict(alpha=0.0), dict(weighting="bm26")],
)
def test_bad_params(params):
    with pytest.raises(TagrankInputError):
        small_als(**params).fit(make_interactions())


@pytest.mark.skipif(implicit_has_cuda(), reason="implicit has CUDA here")
def test_use_gpu_without_cuda_build_fails_clearly():
    with pytest.raises(TagrankInputError, match="CUDA"):
        small_als(use_gpu=True).fit(make_interactions())


@pytest.mark.cuda
@pytest.mark.skipif(not implicit_has_cuda(), reason="implicit was built without CUDA / no GPU")
def test_use_gpu_fits_and_scores():
    s = small_als(use_gpu=True, device="auto").fit(block_frame())
    assert isinstance(s.user_factors_, np.ndarray) and s.user_factors_.shape == (12, 8)
    ids, _ = s.recommend(["user0"], k=1)
    assert ids.shape == (1, 1)
