"""Task ``tagrec``: the split rule by hand, units, registration and a small end-to-end run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import REGISTRY, MethodContext, methods_for
from tagrank.eval.results import validate_results
from tagrank.eval.tasks import tagrec


def toy_dataset(n_users: int = 30, seed: int = 0) -> Dataset:
    """Users re-use a favourite tag; items carry their own tags (so every signal has something to find)."""
    rng = np.random.default_rng(seed)
    genres = ["comedy", "horror", "drama"]
    items = pd.DataFrame({"item_id": [str(i) for i in range(15)],
                          "text": [f"Movie {i} ({2000 + i}) {genres[i % 3].title()}" for i in range(15)]})
    rows, t = [], 0
    for u in range(n_users):
        fav = f"fav{u % 4}"
        for _ in range(6):
            item = int(rng.integers(15))
            for tag in {fav, genres[item % 3], f"plot{item}"}:
                if rng.random() < 0.7:
                    rows.append((str(u), str(item), tag, t))
            t += 1
    ev = pd.DataFrame(rows, columns=["user_id", "item_id", "tag", "timestamp"])
    ev = ev.drop_duplicates(["user_id", "item_id", "tag"]).reset_index(drop=True)
    return Dataset(name="toy", source="synthetic", licence="test", language="en", items=items, tag_events=ev)


def test_split_rule_by_hand():
    ev = pd.DataFrame({
        "user_id": ["a"] * 5 + ["b"] * 10 + ["c"] * 4,
        "item_id": ["2", "1", "1", "3", "3"] + [str(i) for i in range(10)] + ["1"] * 4,
        "tag": ["x", "y", "z", "b", "a"] + ["t"] * 10 + ["q", "r", "s", "t"],
        "timestamp": [1, 2, 2, 9, 9] + list(range(10)) + [1, 2, 3, 4],
    })
    train, test = tagrec.split_events(ev)
    # a: 5 events -> 1 test: the last by (time, item id, tag) = (9, "3", "b")
    # b: 10 events -> 2 test; c: 4 events -> all train
    assert sorted(map(tuple, test[["user_id", "item_id", "tag"]].to_numpy().tolist())) == [
        ("a", "3", "b"), ("b", "8", "t"), ("b", "9", "t")]
    assert len(train) == len(ev) - 3
    units = tagrec.Units(test, train)
    assert units.keys == ["a\t3", "b\t8", "b\t9"]
    assert units.relevant[0] == {"b"}
    assert units.exclude[0] == {"a"}  # a gave item 3 the tag "a" in train


def test_registration():
    names = [s.name for s in methods_for("tagrec")]
    assert "user_history" in names and "item_cooccurrence" in names
    assert "tagrec" in REGISTRY["hybrid"].tasks and "taxonomy" in REGISTRY["hybrid"].tasks
    assert REGISTRY["user_history"].kind == "task"


def test_evaluate_by_hand():
    test = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["1", "1"], "tag": ["a", "b"], "timestamp": [0, 0]})
    units = tagrec.Units(test, test.iloc[0:0])
    s = tagrec.evaluate([["a", "x", "b"]], units)
    assert s.metrics["recall@10"] == pytest.approx(1.0)
    assert s.metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))


def test_end_to_end_small():
    pytest.importorskip("tagrank.baselines.tfidf")
    ds = toy_dataset()
    names = ["popularity", "user_history", "item_cooccurrence", "tfidf", "hybrid"]
    specs = [s for s in methods_for("tagrec", names)]
    specs = [s if len(s.grid) <= 1 else type(s)(s.name, s.kind, s.factory, s.tasks, s.grid[:2]) for s in specs]
    [doc] = tagrec.run(ds, specs, MethodContext(task="tagrec", dataset="toy", show_progress=False))
    validate_results(doc)
    assert doc["primary_metric"] == "recall@10"
    assert doc["split"]["test"] > 10
    for name in ("user_history", "item_cooccurrence"):
        m = doc["methods"][name]
        assert set(m["metrics"]) == {"recall@10", "ndcg@10"}
        low, high = m["ci95"]["recall@10"]
        assert low <= m["metrics"]["recall@10"] <= high
    if "popularity" in doc["methods"]:
        assert doc["methods"]["popularity"]["metrics"]["recall@10"] >= 0
    # the favourite tag makes the user's history informative
    assert doc["methods"]["user_history"]["metrics"]["recall@10"] > 0.3
    if "hybrid" in doc["methods"]:
        h = doc["hybrid_vs_best"]
        assert h["metric"] == "recall@10" and 0 <= h["p_value"] <= 1
        assert doc["methods"]["hybrid"]["metrics"]["recall@10"] >= 0.3
