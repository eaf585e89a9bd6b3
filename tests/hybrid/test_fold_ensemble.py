"""The cross-fitted ranker ensemble (HybridRanker(n_folds=K), hybrid.fold_ensemble)."""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.fold_ensemble import average_boosters
from tagrank.hybrid.guard import SourceFallbackWarning, fold_codes
from tagrank.hybrid.ranker import HybridRanker

SMALL = {"n_estimators": 20, "num_leaves": 4, "min_child_samples": 5, "learning_rate": 0.2}


def ranking_frame(n_queries: int = 40, per: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    q = np.repeat([f"q{i:03d}" for i in range(n_queries)], per)
    x = rng.normal(size=(len(q), 3))
    label = ((x[:, 0] + 0.7 * rng.normal(size=len(q))) > 0.8).astype(float)
    label[::per] = 1.0  # every query has a positive ...
    label[1::per] = 0.0  # ... and a negative: all informative
    return pd.DataFrame({"query": q, "item_id": np.tile(np.arange(per), n_queries), "label": label,
                         "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})


def test_average_boosters_scores_and_contributions_are_the_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + rng.normal(size=300) > 0.5).astype(int)
    boosters = [lgb.train({"objective": "lambdarank", "verbosity": -1, "num_leaves": 4, "seed": s,
                           "bagging_fraction": 0.7, "bagging_freq": 1}, lgb.Dataset(x, y, group=[20] * 15), 6)
                for s in range(3)]
    merged = average_boosters(boosters, 4)
    assert merged.num_trees() == 3 * 4
    mean = np.mean([b.predict(x, num_iteration=4) for b in boosters], axis=0)
    np.testing.assert_allclose(merged.predict(x), mean, rtol=0, atol=1e-12)
    contrib = np.mean([b.predict(x, num_iteration=4, pred_contrib=True) for b in boosters], axis=0)
    np.testing.assert_allclose(merged.predict(x, pred_contrib=True), contrib, rtol=0, atol=1e-12)


def test_held_out_scores_never_see_their_own_labels():
    """A fold's held-out scores come from the model trained on the other folds: changing that fold's
    labels (no early stopping, so the round count is fixed) leaves them unchanged, and changes the others'."""
    frame = ranking_frame()
    params = {**SMALL, "n_folds": 4, "early_stopping_rounds": None}
    a = HybridRanker(**params).fit(frame)
    queries = np.array(sorted(frame["query"].unique()))
    fold = dict(zip(queries, fold_codes(len(queries), 4, 0), strict=True))  # rows are sorted by query
    in_zero = frame["query"].map(fold).to_numpy() == 0
    flipped = frame.copy()
    ranks = flipped.index.to_numpy() % 12
    swap = in_zero & (ranks >= 2)  # keep each query's planted positive and negative
    flipped.loc[swap, "label"] = 1.0 - flipped.loc[swap, "label"]
    b = HybridRanker(**params).fit(flipped)
    np.testing.assert_array_equal(a._oof[in_zero], b._oof[in_zero])
    assert not np.array_equal(a._oof[~in_zero], b._oof[~in_zero])


def test_ensemble_is_seeded_saved_and_loaded(tmp_path):
    frame = ranking_frame()
    a = HybridRanker(**SMALL, n_folds=3).fit(frame)
    b = HybridRanker(**SMALL, n_folds=3).fit(frame)
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    assert a.booster_.num_trees() == 3 * a.best_iteration_
    assert len(a.evals_result_["cv"]["ndcg@10"]) >= a.best_iteration_
    loaded = HybridRanker.load(a.save(tmp_path / "m"))
    assert loaded.n_folds == 3
    np.testing.assert_array_equal(loaded.predict(frame), a.predict(frame))
    ranked = loaded.rank(frame, k=3)
    assert ranked.groupby("query").size().max() == 3


def test_valid_queries_join_the_folds_and_the_guard_uses_their_held_out_scores():
    frame, valid = ranking_frame(30), ranking_frame(10, seed=5)
    valid["query"] = valid["query"].str.replace("q", "v")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceFallbackWarning)
        r = HybridRanker(**SMALL, n_folds=5).fit(frame, valid=valid, sources=["a", "b"])
    assert r.n_queries_ == 40
    assert r.guard_["held_out"].startswith("cross-fitted: the model's own 5 query folds (40 units)")
    assert len(r._oof) == len(frame) + len(valid)
    # a query key shared by train and valid stays two queries
    clash = ranking_frame(10, seed=5)
    shared = HybridRanker(**SMALL, n_folds=5).fit(frame, valid=clash)
    assert shared.n_queries_ == 40


@pytest.mark.parametrize("value", [1, 0, True, 2.5, "5"])
def test_bad_n_folds_is_refused_naming_it(value):
    with pytest.raises(TagrankInputError, match="n_folds"):
        HybridRanker(**SMALL, n_folds=value).fit(ranking_frame(10))


def test_one_informative_query_is_too_few_for_folds():
    frame = ranking_frame(3)
    frame.loc[frame["query"] != "q000", "label"] = 0.0
    with pytest.raises(TagrankInputError, match="n_folds=5 needs at least two queries"):
        HybridRanker(**SMALL, n_folds=5).fit(frame)
