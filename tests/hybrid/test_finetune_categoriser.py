"""FineTunedCategoriser: consistent paths from a fine-tuned classifier over the known paths, and stacking."""

from __future__ import annotations

import numpy as np
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.finetune_categoriser import FineTunedCategoriser
from tagrank.hybrid.taxonomy import Categoriser, StackedCategoriser

PATHS = {
    ("Food", "Fruit"): ["ripe banana", "green apple", "fresh mango", "sweet cherry", "juicy orange"],
    ("Food", "Bread"): ["rye loaf", "white baguette", "seeded bagel", "sourdough bread", "brioche bun"],
    ("Tools", "Hand"): ["claw hammer", "steel wrench", "hand saw", "adjustable spanner", "screwdriver set"],
}
TEXTS = [t for texts in PATHS.values() for t in texts]
TRUTH = [list(p) for p, texts in PATHS.items() for _ in texts]
CLF = {"max_length": 16, "show_progress": False, "device": "cpu", "batch_size": 8, "warmup_ratio": 0.0,
       "epochs": 6, "learning_rate": 5e-5, "head_learning_rate": 5e-2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fitted():
    cat = FineTunedCategoriser(classifier_params=CLF, levels=["group", "kind"])
    return cat.fit(TEXTS, TRUTH, valid_texts=TEXTS, valid_paths=TRUTH)


def test_learns_whole_paths(fitted):
    assert sorted(fitted.paths_) == sorted(PATHS)
    pred = fitted.predict(TEXTS)
    assert pred[["group", "kind"]].to_numpy().tolist() == TRUTH
    post = fitted.path_posterior(["pear", "hammer"])
    assert post.shape == (2, 3) and np.allclose(post.sum(axis=1), 1.0)
    # per-level confidences come from the same posterior: the parent's is at least the child's
    assert (pred["group_confidence"] >= pred["kind_confidence"] - 1e-12).all()
    assert fitted.score(TEXTS, TRUTH)["kind.accuracy"] == 1.0
    assert fitted.representation_.transform(["pear"]).shape == (1, 384)
    assert fitted.results_params()["n_classes"] == 3


def test_abstains_below_the_threshold(fitted):
    fitted.abstain_threshold = 1.0  # no posterior reaches exactly 1: every text abstains at the first level
    try:
        pred = fitted.predict(["claw hammer"])
    finally:
        fitted.abstain_threshold = None
    assert pred["group"].tolist() == [None] and pred["kind"].tolist() == [None]


def test_bad_input():
    cat = FineTunedCategoriser(classifier_params=CLF, levels=["group", "kind"])
    with pytest.raises(TagrankInputError, match="given together"):
        cat.fit(TEXTS, TRUTH, valid_texts=TEXTS)
    with pytest.raises(TagrankInputError, match="single distinct path"):
        cat.fit(TEXTS[:2], [["Food", "Fruit"]] * 2)
    with pytest.raises(TagrankInputError, match="depth"):
        cat.fit(TEXTS[:2], [["Food", "Fruit", "Apple"], ["Food", "Fruit"]])
    with pytest.raises(TagrankInputError, match="classifier_params"):
        FineTunedCategoriser(classifier_params=[1]).fit(TEXTS, TRUTH)
    with pytest.raises(TagrankInputError, match="knn"):
        FineTunedCategoriser().neighbours(["x"], 2)


def test_stacker_learns_on_valid_when_a_base_is_supervised(fitted):
    tfidf = Categoriser(levels=["group", "kind"]).fit(TEXTS, TRUTH)
    bases = {"ft": fitted, "tfidf": tfidf}
    stack = StackedCategoriser(bases=bases, n_candidates=3, ranker_params={"n_estimators": 5, "min_child_samples": 1})
    stack.fit(TEXTS, TRUTH, valid_texts=TEXTS * 2, valid_paths=TRUTH * 2)
    assert stack.fit_on_ == "valid"
    assert stack.predict(TEXTS).shape[0] == len(TEXTS)
    with pytest.raises(TagrankInputError, match="cannot be refitted per fold"):
        StackedCategoriser(bases=bases, fit_on="train").fit(TEXTS, TRUTH)
    with pytest.raises(TagrankInputError, match="needs valid_texts"):
        StackedCategoriser(bases=bases).fit(TEXTS, TRUTH)
