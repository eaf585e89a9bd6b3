"""Task ``taxonomy``: level layout, fast macro-F1, and a small end-to-end run on a synthetic Dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import metrics
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, methods_for
from tagrank.eval.results import validate_results
from tagrank.eval.tasks import taxonomy

WORDS = {
    ("Apparel", "Topwear", "Tshirts"): "cotton tshirt crew",
    ("Apparel", "Topwear", "Shirts"): "formal shirt collar",
    ("Apparel", "Bottomwear", "Jeans"): "denim jeans slim",
    ("Footwear", "Shoes", "Sneakers"): "running sneakers lace",
    ("Footwear", "Shoes", "Boots"): "leather boots ankle",
    ("Accessories", "Watches", "Watches"): "analog watch dial",
}


def toy_dataset(name: str = "toy", n: int = 180, **extra) -> Dataset:
    rng = np.random.default_rng(0)
    paths = list(WORDS)
    rows = []
    for i in range(n):
        path = paths[i % len(paths)]
        colour = ["Red", "Blue", "Black"][rng.integers(3)]
        words = rng.choice(WORDS[path].split(), size=2, replace=False)
        gender = "Men" if path[0] == "Apparel" else ["Women", ""][rng.integers(2)]
        rows.append({"item_id": str(1000 + i), "text": f"brand{rng.integers(9)} {colour} {' '.join(words)}",
                     "masterCategory": path[0], "subCategory": path[1], "articleType": path[2],
                     "gender": gender, "baseColour": colour})
    labels = pd.DataFrame(rows)
    return Dataset(name=name, source="synthetic", licence="test", language="en", labels=labels,
                   label_columns=("masterCategory", "subCategory", "articleType", "gender", "baseColour"), **extra)


def test_label_layout_rule():
    ds = toy_dataset()
    assert taxonomy.label_layout(ds) == (["masterCategory", "subCategory", "articleType"], ["gender", "baseColour"])
    fashion_like = toy_dataset("fashion")
    assert taxonomy.label_layout(fashion_like)[0] == ["masterCategory", "subCategory", "articleType"]
    with pytest.raises(TagrankInputError, match="no labels"):
        taxonomy.label_layout(Dataset(name="x", source="", licence="", language="en"))


def test_tag_sets_skip_empty_values():
    frame = pd.DataFrame({"gender": ["Men", ""], "baseColour": ["Red", "Blue"]})
    assert taxonomy.tag_sets(frame, ["gender", "baseColour"]) == [
        {"gender=Men", "baseColour=Red"}, {"baseColour=Blue"}]


def test_macro_f1_codes_matches_sklearn():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 6, size=300)
    pred = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 8, size=300))
    assert taxonomy.macro_f1_codes(pred, truth, 9) == pytest.approx(metrics.macro_f1(pred, truth))


class _Counting:
    def __init__(self, sparse: bool):
        self.sparse, self.seen = sparse, []

    def transform(self, texts):
        import scipy.sparse as sp

        self.seen.extend(texts)
        x = np.asarray([[len(t), t.count("a")] for t in texts], dtype=float)
        return sp.csr_matrix(x) if self.sparse else x


@pytest.mark.parametrize("sparse", [False, True])
def test_memo_representation_transforms_each_text_once(sparse):
    inner = _Counting(sparse)
    memo = taxonomy.MemoRepresentation(inner)
    first = memo.transform(["a", "bb", "aaa"])
    again = memo.transform(["aaa", "a", "cccc", "bb"])
    assert inner.seen == ["a", "bb", "aaa", "cccc"]
    dense = again.toarray() if sparse else again
    np.testing.assert_allclose(dense, [[3, 3], [1, 1], [4, 0], [2, 0]])
    assert (first.toarray() if sparse else first).shape == (3, 2)
    assert memo.sparse is sparse  # other attributes come from the wrapped object


def test_end_to_end_small():
    pytest.importorskip("tagrank.baselines.jaccard")
    pytest.importorskip("tagrank.baselines.tfidf")
    ds = toy_dataset()
    names = ["jaccard", "tfidf", "hybrid"]
    specs = [s for s in methods_for("taxonomy", names) if s.name in names]
    # two grid points each keep the test small (and exercise selection with the kept fit)
    specs = [s if len(s.grid) <= 2 else type(s)(s.name, s.kind, s.factory, s.tasks, s.grid[:2]) for s in specs]
    [doc] = taxonomy.run(ds, specs, MethodContext(task="taxonomy", dataset="toy", show_progress=False))
    validate_results(doc)
    assert doc["primary_metric"] == "articleType.macro_f1"
    assert doc["split"]["train"] + doc["split"]["valid"] + doc["split"]["test"] == 180
    assert set(doc["methods"]) == {s.name for s in specs}
    tf = doc["methods"]["tfidf"]
    for level in ("masterCategory", "subCategory", "articleType"):
        for m in ("accuracy", "macro_f1"):
            key = f"{level}.{m}"
            assert 0 <= tf["metrics"][key] <= 1
            low, high = tf["ci95"][key]
            assert low <= tf["metrics"][key] + 1e-9 and tf["metrics"][key] <= high + 1e-9
    assert tf["metrics"]["articleType.accuracy"] > 0.8
    for key in ("tags_micro_f1", "tags_macro_f1", "cluster.ari", "cluster.nmi"):
        assert key in tf["metrics"]
    assert "tags_micro_f1" in tf["ci95"]
    jac = doc["methods"]["jaccard"]
    assert jac["params"]["selected.n_neighbors"] in taxonomy.KNN_GRID
    assert set(jac["valid_knn"]) == {str(k) for k in taxonomy.KNN_GRID}
    assert len(jac["valid_grid"]) == 2
    assert "tags_micro_f1" not in jac["metrics"]  # no representation
    if "hybrid" in doc["methods"]:
        assert doc["hybrid_vs_best"]["metric"] == "articleType.macro_f1"
        assert 0 <= doc["hybrid_vs_best"]["p_value"] <= 1


def test_transformer_ft_runs_through_the_protocol_and_feeds_the_hybrid():
    ds = toy_dataset()
    tiny = ({"epochs": 1, "max_length": 16, "batch_size": 16, "head_learning_rate": 5e-2, "warmup_ratio": 0.0},)
    specs = []
    for s in methods_for("taxonomy", ["tfidf", "transformer_ft", "hybrid"]):
        grid = tiny if s.name == "transformer_ft" else s.grid[:1]
        specs.append(type(s)(s.name, s.kind, s.factory, s.tasks, grid))
    [doc] = taxonomy.run(ds, specs, MethodContext(task="taxonomy", dataset="toy", show_progress=False, device="cpu"))
    validate_results(doc)
    ft = doc["methods"]["transformer_ft"]
    assert ft["device"] == "cpu" and ft["params"]["n_classes"] == len(WORDS)
    # the fine-tuned encoder is the representation of the tagger and the clusterer
    for key in ("articleType.macro_f1", "tags_micro_f1", "cluster.ari"):
        assert key in ft["metrics"]
    assert ft["curve"][0]["step"] == 0
    assert doc["methods"]["hybrid"]["params"]["fit_on"] == "valid"
