"""TransformerClassifier: a trivially separable toy set, save/load round trip, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.hybrid.finetune_classifier import TransformerClassifier

FRUIT = ["ripe banana", "green apple", "fresh mango", "sweet cherry", "juicy orange", "red strawberry"]
TOOLS = ["claw hammer", "power drill", "steel wrench", "screwdriver set", "hand saw", "adjustable spanner"]
TEXTS = FRUIT + TOOLS
LABELS = ["fruit"] * len(FRUIT) + ["tool"] * len(TOOLS)
TINY = {"max_length": 16, "show_progress": False, "device": "cpu", "batch_size": 12, "warmup_ratio": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fitted():
    clf = TransformerClassifier(epochs=4, learning_rate=5e-5, head_learning_rate=5e-2, **TINY)
    return clf.fit(TEXTS, LABELS, valid_texts=TEXTS, valid_labels=LABELS)


def test_learns_a_separable_toy_set(fitted):
    assert fitted.classes_.tolist() == ["fruit", "tool"]
    assert fitted.predict(TEXTS).tolist() == LABELS
    proba = fitted.predict_proba(["pear", "hammer"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 0] > 0.5 > proba[1, 0]
    assert fitted.best_metric_ == 1.0
    assert [h["step"] for h in fitted.history_][0] == 0 and len(fitted.history_) >= 2
    assert fitted.summary()["n_classes"] == 2
    assert fitted.transform(["pear"]).shape == (1, 384)


def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "clf")
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 1 and config["classes"] == ["fruit", "tool"]
    assert (path / "head.safetensors").is_file() and (path / "encoder" / "model.safetensors").is_file()
    assert not list(path.rglob("*.bin")) and not list(path.rglob("*.pkl"))
    loaded = TransformerClassifier.load(path)
    texts = ["pear", "hammer", "a basket of fresh fruit"]
    np.testing.assert_allclose(loaded.predict_proba(texts), fitted.predict_proba(texts), atol=1e-6)
    assert loaded.predict(texts).tolist() == fitted.predict(texts).tolist()
    assert loaded.get_params() == fitted.get_params()


def test_not_fitted_and_bad_saved_dir(tmp_path):
    with pytest.raises(NotFittedError):
        TransformerClassifier(**TINY).predict(["x"])
    (tmp_path / "config.json").write_text('{"format_version": 99, "class": "TransformerClassifier"}')
    with pytest.raises(TagrankInputError, match="format_version"):
        TransformerClassifier.load(tmp_path)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], []), "empty"),
        ((TEXTS, LABELS[:-1]), "mismatched lengths"),
        ((TEXTS, LABELS[:-1] + [None]), "missing"),
        ((TEXTS, LABELS[:-1] + [float("nan")]), "missing"),
        ((TEXTS, LABELS[:-1] + [3]), "mixes label types"),
        ((TEXTS, ["fruit"] * len(TEXTS)), "at least 2 classes"),
        ((TEXTS[:-1] + [""], LABELS), "empty"),
        ((TEXTS, LABELS, TEXTS[:2]), "together"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(TagrankInputError, match=match):
        TransformerClassifier(**TINY).fit(*args)
