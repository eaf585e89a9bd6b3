"""StackedCategoriser as a public product: an internal validation split, the guard, save / load."""

from __future__ import annotations

import numpy as np
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.taxonomy import Categoriser, StackedCategoriser
from tests.hybrid.test_taxonomy import toy


def test_stacked_categoriser_holds_out_its_own_valid_and_round_trips(tmp_path):
    texts, paths, _ = toy(12, seed=0)
    t_texts, _, _ = toy(3, seed=2)
    bases = {"lr": Categoriser().fit(texts, paths), "knn": Categoriser(classifier="knn", n_neighbors=3).fit(texts, paths)}
    stack = StackedCategoriser(bases, n_candidates=3, n_folds=3,
                               ranker_params={"min_child_samples": 2, "n_estimators": 30})
    stack.fit(texts, paths)  # no valid texts: 20% of the training texts are held out internally
    # the held-out texts chose the balance and fed the guard
    assert stack.balance_scores_ and stack.ranker_.guard_["served"] == stack.results_params()["served"]
    assert set(stack.ranker_.guard_["scores"]) >= {"source:lr.posterior", "source:knn.posterior"}
    pred = stack.predict(t_texts)
    stack.save(tmp_path / "stack")
    again = StackedCategoriser.load(tmp_path / "stack", bases)
    assert again.predict(t_texts).equals(pred)
    with pytest.raises(TagrankInputError, match="not given"):
        StackedCategoriser.load(tmp_path / "stack", {"lr": bases["lr"]})
    other = {"lr": Categoriser().fit(texts[:20], paths[:20]), "knn": bases["knn"]}
    if {tuple(p) for p in paths[:20]} != {tuple(p) for p in paths}:
        with pytest.raises(TagrankInputError, match="other paths"):
            StackedCategoriser.load(tmp_path / "stack", other)


def test_stacked_categoriser_load_names_a_missing_or_bad_file(tmp_path):
    """A lost arrays.npz or a config key edited away was a raw KeyError; a log_prior of another
    length an IndexError at predict time."""
    import json

    from tagrank.baselines.validation import SavedModelError

    texts, paths, _ = toy(12, seed=0)
    bases = {"lr": Categoriser().fit(texts, paths)}
    stack = StackedCategoriser(bases, n_candidates=3, n_folds=None,
                               ranker_params={"min_child_samples": 2, "n_estimators": 10}).fit(texts, paths)
    path = stack.save(tmp_path / "stack")
    np.savez(path / "arrays.npz", log_prior=np.zeros(1))
    with pytest.raises(SavedModelError, match=r"arrays.npz must hold log_prior with one value per path .* got \(1,\)"):
        StackedCategoriser.load(path, bases)
    (path / "arrays.npz").unlink()
    with pytest.raises(SavedModelError, match=r"arrays.npz must hold log_prior .* got None"):
        StackedCategoriser.load(path, bases)
    path = stack.save(tmp_path / "stack2")
    config = json.loads((path / "config.json").read_text())
    del config["balance"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedModelError, match=r"saved StackedCategoriser .* damaged or was edited by hand: KeyError: 'balance'"):
        StackedCategoriser.load(path, bases)


def test_stacked_categoriser_below_the_minimum_serves_a_base():
    from tagrank.hybrid.guard import SourceFallbackWarning

    texts, paths, _ = toy(2, seed=1)  # a handful of texts: too few for a ranker
    bases = {"lr": Categoriser().fit(texts, paths)}
    with pytest.warns(SourceFallbackWarning):
        stack = StackedCategoriser(bases, n_candidates=3, n_folds=None,
                                   ranker_params={"min_child_samples": 2, "n_estimators": 10}).fit(texts, paths)
    assert stack.ranker_.served_ == "source:lr.posterior"
    assert np.isfinite(stack.score_scale_)


def test_stacked_categoriser_balance_must_be_finite_and_unknown_paths_warn():
    texts, paths, _ = toy(12, seed=0)
    bases = {"lr": Categoriser().fit(texts, paths)}
    params = {"min_child_samples": 2, "n_estimators": 20}
    for bad in (float("nan"), float("inf"), -1.0, "x"):
        with pytest.raises(TagrankInputError, match="balance must be"):
            StackedCategoriser(bases, n_candidates=3, balance=bad, ranker_params=params).fit(texts, paths)
    # training paths no base knows (a fold clone learns them): a warning, not a KeyError from a fold
    renamed = [tuple(p) for p in paths]
    renamed[:4] = [(p[0], "brand-new", *p[2:]) for p in renamed[:4]]
    with pytest.warns(UserWarning, match="4 of .* paths are unknown to every base"):
        stack = StackedCategoriser(bases, n_candidates=3, ranker_params=params).fit(texts, renamed)
    assert all(("brand-new" not in p) for p in stack.paths_)
    assert len(stack.predict(texts[:3])) == 3
