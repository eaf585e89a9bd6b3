"""RecommendPipeline's inner_split parameter and its guard against its own generators."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.guard import SourceFallbackWarning
from tagrank.hybrid.pipelines import RecommendPipeline, temporal_user_split
from tests.hybrid.test_features import TableScorer
from tests.hybrid.test_pipelines import FAST, GroupScorer, synthetic_interactions


def pipeline(**kw) -> RecommendPipeline:
    gens = {"pop": TableScorer(by_index=False), "group": GroupScorer()}
    return RecommendPipeline(gens, ranker_params=FAST, candidates_per_generator=10, **kw)


@pytest.fixture(scope="module")
def interactions():
    return synthetic_interactions()


def test_default_inner_split_is_random_and_recorded(interactions):
    assert RecommendPipeline({"g": GroupScorer()}).inner_split == "random"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceFallbackWarning)
        a = pipeline(random_state=3).fit(interactions)
        b = pipeline(random_state=3).fit(interactions)
    assert a.inner_split_ == "random"
    # seeded: the same inner split, ranker and lists
    assert a.training_summary_ == b.training_summary_
    assert a.recommend(["u0", "u4"], k=5)[0].tolist() == b.recommend(["u0", "u4"], k=5)[0].tolist()


def test_temporal_callable_and_mask_splits(interactions):
    calls = []

    def last_two(frame):
        calls.append(len(frame))
        return temporal_user_split(frame, 0.25, 5)

    mask = np.zeros(len(interactions), dtype=bool)
    mask[::4] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceFallbackWarning)
        t = pipeline(inner_split="temporal").fit(interactions)
        c = pipeline(inner_split=last_two).fit(interactions)
        m = pipeline(inner_split=mask).fit(interactions)
    assert t.inner_split_ == "temporal"
    assert c.inner_split_.startswith("callable:") and calls == [len(interactions)]
    assert m.inner_split_ == "mask"
    # the ranker learns from the held-out part: the mask's rows
    assert m.training_summary_["future_positives"] <= int(mask.sum())
    with pytest.raises(TagrankInputError, match="inner_split"):
        pipeline(inner_split="weekly").fit(interactions)


def test_saved_config_records_split_and_served(tmp_path, interactions):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceFallbackWarning)
        rec = pipeline(inner_split="temporal").fit(interactions)
    path = rec.save(tmp_path / "rec")
    config = json.loads((path / "config.json").read_text())
    assert config["inner_split"] == "temporal" and config["params"]["inner_split"] == "temporal"
    assert config["served"] == rec.served_
    loaded = RecommendPipeline.load(path, generators=rec.generators_)
    assert loaded.inner_split_ == "temporal" and loaded.served_ == rec.served_
    assert loaded.recommend(["u1"], k=4)[0].tolist() == rec.recommend(["u1"], k=4)[0].tolist()


def test_guard_serves_the_clearly_best_generator_with_a_warning(interactions):
    # 36 users: too few for a ranker (hybrid.guard.MIN_QUERIES / MIN_POSITIVES); "group" (each user's
    # own group) is far better than "pop" on the held-out users, so it is served
    with pytest.warns(SourceFallbackWarning, match="source:group"):
        rec = pipeline().fit(interactions)
    assert rec.served_ == "source:group"
    assert rec.guard_["scores"]["source:group"] > rec.guard_["scores"]["source:pop"]
    users = ["u0", "u1", "u2", "u7"]
    served, _ = rec.recommend(users, k=5)
    own, _ = rec.generators_["group"].recommend(users, 5, exclude_seen=True)
    assert served.tolist() == own.tolist()


def test_guard_off_serves_the_model(interactions):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SourceFallbackWarning)
        rec = pipeline(guard=False).fit(interactions)
    assert rec.served_ == "model" and rec.guard_ == {}


def test_recommend_guard_asks_for_evidence_by_default(interactions):
    assert RecommendPipeline({"g": GroupScorer()}).guard_alpha == 0.05
    assert pipeline()._ranker().guard_alpha == 0.05
    assert pipeline(guard_alpha=None)._ranker().guard_alpha is None
    gens = {"g": GroupScorer()}
    assert RecommendPipeline(gens, ranker_params={**FAST, "guard_alpha": 0.01})._ranker().guard_alpha == 0.01


def test_a_mask_holding_out_everything_says_so(interactions):
    with pytest.raises(TagrankInputError, match="held out every interaction"):
        pipeline(inner_split=np.ones(len(interactions), dtype=bool)).fit(interactions)


@pytest.mark.parametrize("param, value", [
    ("batch_users", 0), ("batch_users", -5), ("max_train_users", -1), ("max_train_users", 2.5),
    ("min_positives", 0), ("min_positives", 2.5), ("ranker_valid_fraction", "0.2"), ("valid_fraction", float("nan")),
    ("guard", "no"), ("mmr_lambda", True), ("random_state", None),
])
def test_bad_parameters_fail_at_fit_naming_them(interactions, param, value):
    with pytest.raises(TagrankInputError, match=param):
        pipeline(**{param: value}).fit(interactions)


def test_a_bare_string_of_user_ids_is_refused(interactions):
    pipe = pipeline().fit(interactions)
    user = interactions["user_id"].iloc[0]
    with pytest.raises(TagrankInputError, match="user_ids must be a sequence of ids, got a single string"):
        pipe.recommend(str(user), k=3)


def test_the_ranker_is_a_cross_fitted_ensemble_unless_told_otherwise(interactions):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceFallbackWarning)
        folds = pipeline(guard_alpha=None).fit(interactions)
        single = RecommendPipeline({"pop": TableScorer(by_index=False), "group": GroupScorer()},
                                   ranker_params={**FAST, "n_folds": None}, candidates_per_generator=10,
                                   guard_alpha=None).fit(interactions)
    assert folds.ranker_.n_folds == 5
    assert folds.guard_["held_out"].startswith("cross-fitted: the model's own 5 query folds")
    assert folds.training_summary_["valid_users"] == 0  # every user trains, each is held out once
    assert single.ranker_.n_folds is None and single.training_summary_["valid_users"] > 0


def test_cross_fitting_is_the_default_only_where_the_hold_out_would_be_small():
    from tagrank.hybrid.guard import MIN_DIRECT_UNITS

    pipe = pipeline()
    enough = int(MIN_DIRECT_UNITS / pipe.ranker_valid_fraction)  # 20% of them is exactly the guard's bar
    assert pipe._ranker(enough - 1).n_folds == 5
    assert pipe._ranker(enough).n_folds is None
    gens = {"group": GroupScorer()}
    assert RecommendPipeline(gens, ranker_params={"n_folds": 3})._ranker(enough).n_folds == 3
    assert RecommendPipeline(gens, ranker_params={"n_folds": None})._ranker(10).n_folds is None
