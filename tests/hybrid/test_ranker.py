"""HybridRanker / HybridRegressor and the label grade rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import LabelError, NotFittedError, TagrankInputError
from tagrank.hybrid.labels import GradeRule, grade_labels
from tagrank.hybrid.ranker import MAX_GROUP_SIZE, HybridRanker, ranked_rows
from tagrank.hybrid.regressor import HybridRegressor

FAST = {"n_estimators": 40, "learning_rate": 0.2, "num_leaves": 7, "min_child_samples": 5, "early_stopping_rounds": 10}


def make_frame(n_queries: int = 60, per_query: int = 8, seed: int = 0, offset: int = 0) -> pd.DataFrame:
    """Graded labels 1..3 (in thirds) that are a known function of ``signal``; ``noise`` is irrelevant."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(offset, offset + n_queries):
        signal = rng.normal(size=per_query)
        noise = rng.normal(size=per_query)
        label = np.clip(np.round((signal + 1.5) * 1.5) / 3 + 1, 1, 3)
        for c in range(per_query):
            rows.append((f"q{q:03d}", f"item{c}", signal[c], noise[c], float(label[c])))
    return pd.DataFrame(rows, columns=["query", "item_id", "signal", "noise", "label"])


def ndcg_at(frame: pd.DataFrame, scores: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k with linear gain label - 1 (the benchmark's)."""
    out = []
    f = frame.assign(score=scores)
    for _, g in f.groupby("query"):
        gains = (g.sort_values("score", ascending=False)["label"].to_numpy() - 1)[:k]
        ideal = np.sort(g["label"].to_numpy() - 1)[::-1][:k]
        disc = 1 / np.log2(np.arange(2, len(gains) + 2))
        idcg = (ideal * disc[: len(ideal)]).sum()
        if idcg > 0:
            out.append((gains * disc[: len(gains)]).sum() / idcg)
    return float(np.mean(out))


@pytest.fixture(scope="module")
def data():
    return make_frame(seed=0), make_frame(n_queries=20, seed=1, offset=100), make_frame(n_queries=20, seed=2, offset=200)


@pytest.fixture(scope="module")
def fitted(data):
    train, valid, _ = data
    return HybridRanker(**FAST).fit(train, valid=valid)


# --------------------------------------------------------------------------- labels


def test_grade_rule_by_hand():
    rule = GradeRule(per_unit=3).fitted([1.0, 3.0])
    assert rule.min_label == 1.0 and rule.max_grade == 6
    # 2.33 -> (2.33 - 1) * 3 = 3.99 -> 4; 1.25 -> 0.75 -> 1; 2.5 -> 4.5 -> 5 (half up, not to even)
    assert rule.grades([2.33, 1.25, 2.5, 1.0, 3.0]).tolist() == [4, 1, 5, 0, 6]
    assert rule.label_gain() == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    fine = GradeRule().fitted([1.0, 3.0])  # default: 12 grades per unit, thirds and quarters exact
    assert fine.grades([2.33, 2.67, 1.25, 2.75]).tolist() == [16, 20, 3, 21]
    assert fine.label_gain()[16] == pytest.approx(2.33 - 1, abs=0.01)
    # below the training minimum / above the top grade: an error naming the row, never a silent clip
    with pytest.raises(LabelError, match=r"labels\[0\] = 0.5 is outside the grading scale 1..3"):
        rule.grades([0.5, 2.0])
    with pytest.raises(LabelError, match=r"labels\[1\] = 9 is outside"):
        rule.grades([2.0, 9.0])
    assert grade_labels([0, 1, 1, 0], per_unit=1).tolist() == [0, 1, 1, 0]
    assert GradeRule.coerce("binary").fitted([0, 1]).label_gain() == [0.0, 1.0]


def test_grade_rule_bad_input():
    with pytest.raises(TagrankInputError, match="per_unit"):
        GradeRule(per_unit=0)
    with pytest.raises(TagrankInputError, match="not fitted"):
        GradeRule().grades([1.0])
    with pytest.raises(TagrankInputError, match="not finite"):
        GradeRule().fitted([1.0, float("nan")])
    with pytest.raises(TagrankInputError, match="grades"):
        GradeRule(per_unit=1000).fitted([0.0, 1.0])
    with pytest.raises(TagrankInputError, match="grade_rule"):
        GradeRule.coerce("quantile")


def test_ranker_uses_grade_rule(fitted):
    assert fitted.grade_rule_.min_label == 1.0
    assert fitted.grade_rule_.max_grade == 24
    assert fitted.label_gain_ == pytest.approx([g / 12 for g in range(25)])


# --------------------------------------------------------------------------- quality


def test_ranks_better_than_a_random_feature(data, fitted):
    _, _, test = data
    model = ndcg_at(test, fitted.predict(test))
    noise = ndcg_at(test, test["noise"].to_numpy())
    assert model > 0.95 > noise
    imp = fitted.feature_importance("gain")
    assert isinstance(imp, pd.Series) and imp.index[0] == "signal"
    assert list(fitted.feature_importance("split").index) != [] and set(imp.index) == {"signal", "noise"}
    assert 1 <= fitted.best_iteration_ <= FAST["n_estimators"]
    assert "ndcg@10" in fitted.best_score_


def test_unsorted_rows_give_the_same_model(data, fitted):
    train, valid, test = data
    shuffled = HybridRanker(**FAST).fit(train.sample(frac=1, random_state=3), valid=valid.sample(frac=1, random_state=4))
    assert shuffled.booster_.model_to_string() == fitted.booster_.model_to_string()
    assert np.array_equal(shuffled.predict(test), fitted.predict(test))


def test_determinism(data, fitted):
    train, valid, test = data
    again = HybridRanker(**FAST).fit(train, valid=valid)
    assert np.array_equal(again.predict(test), fitted.predict(test))


def test_rank_orders_each_query(data, fitted):
    _, _, test = data
    ranked = fitted.rank(test, k=3)
    assert list(ranked.columns) == ["query", "item_id", "score", "rank"]
    assert ranked.groupby("query").size().eq(3).all()
    assert ranked["query"].iloc[0] == test["query"].iloc[0]  # queries keep first-appearance order
    for _, g in ranked.groupby("query"):
        assert g["rank"].tolist() == [1, 2, 3]
        assert (np.diff(g["score"].to_numpy()) <= 0).all()
    full = fitted.rank(test)
    assert len(full) == len(test)


def test_ranked_rows_by_hand():
    # queries in first-appearance order, score descending, ties by row order, rank from 1, top k
    queries = np.array(["b", "a", "b", "a", "b", "c"], dtype=object)
    items = np.array([1, 2, 3, 4, 5, 6])
    scores = np.array([0.5, 0.1, 0.9, 0.7, 0.5, 0.0])
    out = ranked_rows(queries, items, scores, None, "q", "c")
    assert out.to_dict("list") == {"q": ["b", "b", "b", "a", "a", "c"], "c": [3, 1, 5, 4, 2, 6],
                                   "score": [0.9, 0.5, 0.5, 0.7, 0.1, 0.0], "rank": [1, 2, 3, 1, 2, 1]}
    top = ranked_rows(queries, items, scores, 2, "q", "c")
    assert top["c"].tolist() == [3, 1, 4, 2, 6] and top["rank"].tolist() == [1, 2, 1, 2, 1]
    empty = ranked_rows(np.zeros(0, object), np.zeros(0), np.zeros(0), 3, "q", "c")
    assert list(empty.columns) == ["q", "c", "score", "rank"] and len(empty) == 0


def test_explain_contributions_sum_to_score(data, fitted):
    _, _, test = data
    contrib = fitted.explain(test)
    assert list(contrib.columns) == ["signal", "noise", "bias"]
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), fitted.predict(test), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path, data, fitted):
    _, _, test = data
    path = fitted.save(tmp_path / "ranker")
    files = sorted(p.name for p in path.iterdir())
    assert files == ["config.json", "model.txt"]
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 1 and config["feature_names"] == ["signal", "noise"]
    loaded = HybridRanker.load(path)
    assert np.array_equal(loaded.predict(test), fitted.predict(test))
    pd.testing.assert_frame_equal(loaded.rank(test), fitted.rank(test))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.grade_rule_ == fitted.grade_rule_
    # columns are matched by name, not position
    assert np.array_equal(loaded.predict(test[["noise", "signal"]]), fitted.predict(test))


def test_load_rejects_bad_directories(tmp_path, fitted):
    path = fitted.save(tmp_path / "r")
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="format_version"):
        HybridRanker.load(path)
    config["format_version"] = 1
    config["booster_feature_names"] = ["a", "b"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="features"):
        HybridRanker.load(path)
    with pytest.raises(TagrankInputError, match="nothing: no such directory"):
        HybridRanker.load(tmp_path / "nothing")
    reg_dir = HybridRegressor(n_estimators=5).fit(pd.DataFrame({"x": np.arange(30.0), "label": np.arange(30.0)}))
    with pytest.raises(TagrankInputError, match="HybridRegressor"):
        HybridRanker.load(reg_dir.save(tmp_path / "reg"))


def test_a_cut_or_changed_model_txt_is_a_saved_model_error(tmp_path, data, fitted):
    """A model.txt cut short used to load with fewer trees (silently other scores) or crash
    the interpreter inside LightGBM (cut in its parameters section); now it is named."""
    import subprocess
    import sys

    from tagrank.baselines.validation import SavedModelError

    path = fitted.save(tmp_path / "r")
    text = (path / "model.txt").read_text()
    cut_in_trees = text[: text.index("end of trees") - 1]
    cut_in_params = text[: text.index("end of parameters") - 40]
    (path / "model.txt").write_text(cut_in_trees)
    with pytest.raises(SavedModelError, match=r"model.txt of the saved model at .* does not match the model_sha256"):
        HybridRanker.load(path)
    config = json.loads((path / "config.json").read_text())
    del config["model_sha256"]  # a save from before the checksum: LightGBM's end markers are checked
    (path / "config.json").write_text(json.dumps(config))
    for cut in (cut_in_trees, cut_in_params):
        (path / "model.txt").write_text(cut)
        code = ("import sys\nfrom tagrank.hybrid.ranker import HybridRanker\n"
                "from tagrank.baselines.validation import SavedModelError\n"
                f"try:\n    HybridRanker.load({str(path)!r})\nexcept SavedModelError as e:\n    print(e)\n")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "model.txt of the saved model at" in run.stdout and "is truncated" in run.stdout
    (path / "model.txt").write_text(text)
    _, _, test = data
    assert np.array_equal(HybridRanker.load(path).predict(test), fitted.predict(test))


# --------------------------------------------------------------------------- bad input


def test_missing_feature_at_predict_time(data, fitted):
    _, _, test = data
    with pytest.raises(TagrankInputError, match=r"missing feature column\(s\) \['noise'\]"):
        fitted.predict(test.drop(columns="noise"))


def test_predict_accepts_a_mapping_of_columns(data, fitted):
    _, _, test = data
    columns = {c: test[c].to_numpy() for c in fitted.feature_names_}
    np.testing.assert_array_equal(fitted.predict(columns), fitted.predict(test))
    with pytest.raises(TagrankInputError, match=r"missing feature column\(s\) \['noise'\]"):
        fitted.predict({c: v for c, v in columns.items() if c != "noise"})
    with pytest.raises(TagrankInputError, match=r"frame.noise must be a 1-D array of \d+ values"):
        fitted.predict({**columns, "noise": columns["noise"][:3]})
    with pytest.raises(TagrankInputError, match="frame.noise must be numeric"):
        fitted.predict({**columns, "noise": np.asarray(["a"] * len(test))})
    bad = columns["noise"].astype(float).copy()
    bad[4] = np.inf
    with pytest.raises(TagrankInputError, match=r"frame.noise\[4\] is infinite"):
        fitted.predict({**columns, "noise": bad})
    with pytest.raises(TagrankInputError, match="a DataFrame or a mapping"):
        fitted.predict([1.0, 2.0])


def test_matrix_rows_are_the_selected_rows(data, fitted):
    _, _, test = data
    rows = np.asarray([5, 0, 3, 3])
    full = fitted._matrix(test, fitted.feature_names_)
    np.testing.assert_array_equal(fitted._matrix(test, fitted.feature_names_, rows=rows), full[rows])


def test_not_fitted():
    with pytest.raises(NotFittedError):
        HybridRanker().predict(pd.DataFrame({"x": [1.0]}))


def test_single_candidate_and_equal_label_queries_are_dropped(data):
    train, _, _ = data
    extra = pd.DataFrame({
        "query": ["lonely", "flat", "flat"], "item_id": ["a", "a", "b"],
        "signal": [0.0, 1.0, 2.0], "noise": [0.0, 0.0, 0.0], "label": [3.0, 2.0, 2.0],
    })
    model = HybridRanker(**{**FAST, "n_estimators": 5}).fit(pd.concat([train, extra]))
    assert model.dropped_queries_ == {"single_candidate": 1, "equal_labels": 1}
    assert model.n_queries_ == train["query"].nunique()


def test_all_labels_equal_fails():
    frame = make_frame(n_queries=5).assign(label=2.0)
    with pytest.raises(TagrankInputError, match="nothing to rank"):
        HybridRanker(**FAST).fit(frame)


def test_bad_labels_and_features(data):
    train, valid, _ = data
    bad = train.copy()
    bad.loc[3, "label"] = np.nan
    with pytest.raises(TagrankInputError, match=r"frame.label\[3\]"):
        HybridRanker(**FAST).fit(bad)
    inf = train.copy()
    inf.loc[5, "signal"] = np.inf
    with pytest.raises(TagrankInputError, match="infinite"):
        HybridRanker(**FAST).fit(inf)
    text = train.assign(signal=train["signal"].astype(str))
    with pytest.raises(TagrankInputError, match="must be numeric"):
        HybridRanker(**FAST).fit(text, feature_cols=["signal", "noise"])
    with pytest.raises(TagrankInputError, match="missing column"):
        HybridRanker(**FAST).fit(train, feature_cols=["signal", "nope"])
    with pytest.raises(TagrankInputError, match="DataFrame"):
        HybridRanker(**FAST).fit(train.to_numpy())
    with pytest.raises(TagrankInputError, match="n_estimators"):
        HybridRanker(n_estimators=0).fit(train)


def test_nan_features_are_missing_values_by_default(data):
    train, valid, test = data
    holes = train.copy()
    holes.loc[holes.index[::7], "signal"] = np.nan
    model = HybridRanker(**FAST).fit(holes, valid=valid)
    assert np.isfinite(model.predict(test.assign(signal=np.nan))).all()
    with pytest.raises(TagrankInputError, match="NaN and allow_missing=False"):
        HybridRanker(**FAST, allow_missing=False).fit(holes)


def test_contiguity_assertion_and_duplicates(data):
    train, _, _ = data
    interleaved = train.sort_values(["item_id", "query"])
    with pytest.raises(TagrankInputError, match="not contiguous"):
        HybridRanker(**FAST).fit(interleaved, contiguous=True)
    model = HybridRanker(**{**FAST, "n_estimators": 5}).fit(train, contiguous=True)
    assert model.n_queries_ == train["query"].nunique()
    dup = pd.concat([train, train.iloc[[0]]])
    with pytest.raises(TagrankInputError, match="more than once"):
        HybridRanker(**FAST).fit(dup)
    missing_id = train.copy()
    missing_id.loc[2, "query"] = None
    with pytest.raises(TagrankInputError, match="missing"):
        HybridRanker(**FAST).fit(missing_id)


def test_oversized_query_fails_clearly():
    n = MAX_GROUP_SIZE + 1
    frame = pd.DataFrame({"query": "big", "item_id": np.arange(n), "x": np.arange(n, dtype=float),
                          "label": (np.arange(n) % 2).astype(float)})
    with pytest.raises(TagrankInputError, match="at most 10000"):
        HybridRanker(**FAST).fit(frame)


def test_valid_without_information_fails(data):
    train, valid, _ = data
    with pytest.raises(TagrankInputError, match="early stopping"):
        HybridRanker(**FAST).fit(train, valid=valid.assign(label=1.0))


def test_feature_names_with_special_characters(data):
    train, _, test = data
    renamed = {"signal": "bm25:score [raw]", "noise": "noise,col"}
    model = HybridRanker(**FAST).fit(train.rename(columns=renamed))
    assert model.feature_names_ == ["bm25:score [raw]", "noise,col"]
    assert np.isfinite(model.predict(test.rename(columns=renamed))).all()


# --------------------------------------------------------------------------- regressor


def test_regressor_learns_saves_and_explains(tmp_path):
    rng = np.random.default_rng(0)

    def frame(n):
        x = rng.uniform(0, 5, size=n)
        return pd.DataFrame({"x": x, "z": rng.normal(size=n), "label": 2 * x + rng.normal(scale=0.1, size=n)})

    train, valid, test = frame(300), frame(100), frame(100)
    reg = HybridRegressor(n_estimators=200, learning_rate=0.1, early_stopping_rounds=10).fit(train, valid=valid)
    pred = reg.predict(test)
    assert np.corrcoef(pred, test["label"])[0, 1] > 0.98
    assert reg.feature_importance().index[0] == "x"
    np.testing.assert_allclose(reg.explain(test).sum(axis=1).to_numpy(), pred, atol=1e-9)
    loaded = HybridRegressor.load(reg.save(tmp_path / "reg"))
    assert np.array_equal(loaded.predict(test), pred)
    with pytest.raises(TagrankInputError, match="missing feature"):
        loaded.predict(test[["x"]])
    with pytest.raises(TagrankInputError, match="at least two"):
        HybridRegressor().fit(train.iloc[:1])


def test_regressor_with_linear_leaves_saves_and_refuses_explain_clearly(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 5, size=300)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=300), "label": 2 * x + rng.normal(scale=0.1, size=300)})
    reg = HybridRegressor(n_estimators=30, extra_params={"linear_tree": True}, early_stopping_rounds=None).fit(frame)
    loaded = HybridRegressor.load(reg.save(tmp_path / "linear"))
    assert np.array_equal(loaded.predict(frame), reg.predict(frame))
    assert loaded.get_params()["extra_params"] == {"linear_tree": True}
    with pytest.raises(TagrankInputError, match="linear trees"):
        loaded.explain(frame.head(2))
    # a setting LightGBM itself rejects is a clear error, not LightGBM's exception
    with pytest.raises(TagrankInputError, match="LightGBM could not train.*linear_tree"):
        HybridRegressor(n_estimators=5, objective="regression_l1", extra_params={"linear_tree": True}).fit(frame)


def test_regressor_early_stops_on_a_correlation():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=400)
    frame = pd.DataFrame({"x": x, "label": np.sin(3 * x) + rng.normal(scale=0.05, size=400)})
    reg = HybridRegressor(n_estimators=50, metric="spearman", early_stopping_rounds=10)
    reg.fit(frame.iloc[:300], valid=frame.iloc[300:])
    assert set(reg.best_score_) == {"spearman"} and reg.best_score_["spearman"] > 0.9
    auc = HybridRegressor(n_estimators=20, metric="auc").fit(
        frame.iloc[:300].assign(label=(x[:300] > 0.5).astype(float)),
        valid=frame.iloc[300:].assign(label=(x[300:] > 0.5).astype(float)))
    assert auc.best_score_["auc"] > 0.95


def test_predict_refuses_feature_series_reordered_against_each_other():
    import numpy as np
    import pandas as pd
    from tagrank.baselines.validation import TagrankInputError
    from tagrank.hybrid.ranker import HybridRanker

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"query": np.repeat(np.arange(30), 8), "item_id": np.tile(np.arange(8), 30),
                          "f1": rng.normal(size=240), "f2": rng.normal(size=240)})
    frame["label"] = (frame["f1"] + frame["f2"] > 0.5).astype(float)
    r = HybridRanker(n_estimators=10, min_child_samples=2, early_stopping_rounds=None).fit(frame)
    with pytest.raises(TagrankInputError, match="share labels in other places"):
        r.predict({"f1": frame["f1"], "f2": frame["f2"][::-1]})
    np.testing.assert_array_equal(r.predict({"f1": frame["f1"], "f2": frame["f2"]}), r.predict(frame))
