"""tagrank.hybrid.taxonomy: consistent paths, abstention, thresholds on valid, clustering, tag ranking, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.hybrid.taxonomy import (
    BALANCE_GRID,
    Categoriser,
    MultiLabelTagger,
    StackedCategoriser,
    TagClusterer,
    TagRecommender,
    _best_threshold,
    holdout_last_events,
)

TREE = {
    ("Apparel", "Topwear", "Tshirts"): "cotton tshirt crew neck",
    ("Apparel", "Topwear", "Shirts"): "formal shirt collar button",
    ("Apparel", "Bottomwear", "Jeans"): "denim jeans slim fit",
    ("Footwear", "Shoes", "Sneakers"): "running sneakers sole lace",
    ("Footwear", "Shoes", "Boots"): "leather boots ankle winter",
    ("Footwear", "Sandals", "Flip Flops"): "rubber flip flops beach",
}
BRANDS = ["acme", "zenith", "orbit", "nova", "pine", "delta"]
COLOURS = ["red", "blue", "black", "white"]


def toy(n_per_path: int = 8, seed: int = 0) -> tuple[list[str], list[list[str]], list[set[str]]]:
    rng = np.random.default_rng(seed)
    texts, paths, tags = [], [], []
    for path, words in TREE.items():
        vocab = words.split()
        for _ in range(n_per_path):
            colour = str(rng.choice(COLOURS))
            picked = rng.choice(vocab, size=2, replace=False)
            texts.append(f"{rng.choice(BRANDS)} {colour} {' '.join(picked)}")
            paths.append(list(path))
            tags.append({f"colour={colour}", f"gender={'men' if path[0] == 'Apparel' else 'women'}"})
    return texts, paths, tags


@pytest.fixture(scope="module")
def data():
    return toy(8, 0), toy(3, 1), toy(3, 2)


@pytest.fixture(scope="module")
def fitted_logreg(data):
    (texts, paths, _), _, _ = data
    return Categoriser(levels=["master", "sub", "article"]).fit(texts, paths)


# ----------------------------------------------------------------------------- Categoriser


@pytest.mark.parametrize("classifier", ["logreg", "knn"])
def test_predictions_are_known_paths(data, classifier):
    (texts, paths, _), _, (test_texts, test_paths, _) = data
    cat = Categoriser(classifier=classifier, n_neighbors=5).fit(texts, paths)
    pred = cat.predict(test_texts + ["completely unrelated words", "red"])
    known = {tuple(p) for p in paths}
    for row in pred[cat.levels_].itertuples(index=False):
        assert tuple(row) in known  # a child is never outside its parent
    scores = cat.score(test_texts, test_paths)
    assert scores["level3.accuracy"] >= 0.8
    assert set(scores) == {f"level{i}.{m}" for i in (1, 2, 3) for m in ("accuracy", "macro_f1")}


def test_decode_picks_best_joint_path_not_per_level_argmax(fitted_logreg):
    cat = fitted_logreg
    paths = cat.paths_
    post = np.zeros((1, len(paths)))
    # the Apparel subtree holds more mass in total (0.5), but the single best path is a Footwear one
    apparel = [i for i, p in enumerate(paths) if p[0] == "Apparel"]
    boots = paths.index(("Footwear", "Shoes", "Boots"))
    for i in apparel:
        post[0, i] = 0.5 / len(apparel)
    post[0, boots] = 0.3
    rest = [i for i in range(len(paths)) if i not in apparel and i != boots]
    post[0, rest] = 0.2 / len(rest)
    out = cat.decode(post)
    assert out.loc[0, ["master", "sub", "article"]].tolist() == ["Footwear", "Shoes", "Boots"]
    # confidence = mass of the paths sharing the predicted prefix: non-increasing with depth
    assert out.loc[0, "master_confidence"] == pytest.approx(0.5)
    assert out.loc[0, "article_confidence"] == pytest.approx(0.3)


def test_abstention_cuts_at_the_parent(fitted_logreg):
    cat = fitted_logreg
    post = np.zeros((2, len(cat.paths_)))
    shoes = [i for i, p in enumerate(cat.paths_) if p[:2] == ("Footwear", "Shoes")]
    post[0, shoes] = 0.5  # sure of Footwear > Shoes, 50/50 between Sneakers and Boots
    post[1, :] = 1 / len(cat.paths_)  # no idea at all
    cat.abstain_threshold = 0.9
    try:
        out = cat.decode(post)
    finally:
        cat.abstain_threshold = None
    assert out.loc[0, "master"] == "Footwear" and out.loc[0, "sub"] == "Shoes"
    assert out.loc[0, "article"] is None
    assert out.loc[1, ["master", "sub", "article"]].tolist() == [None, None, None]
    conf = out[["master_confidence", "sub_confidence", "article_confidence"]].to_numpy()
    assert np.all(np.diff(conf, axis=1) <= 1e-12)


def test_abstention_end_to_end(data):
    (texts, paths, _), _, _ = data
    cat = Categoriser(abstain_threshold=0.999, C=0.01).fit(texts, paths)
    pred = cat.predict(["blue"])  # weak model, uninformative text: abstains somewhere
    assert pred.loc[0, "level3"] is None
    labels = pred.loc[0, ["level1", "level2", "level3"]].tolist()
    # once None, always None below
    first_none = labels.index(None)
    assert all(v is None for v in labels[first_none:])


def test_ragged_paths_and_frame_input():
    texts = ["apple fruit", "pear fruit", "oak tree leaves", "pine tree needles", "rose flower", "tulip flower"] * 3
    paths = [["Food", "Fruit"], ["Food", "Fruit"], ["Plant", "Tree", "Oak"], ["Plant", "Tree", "Pine"],
             ["Plant", "Flower"], ["Plant", "Flower"]] * 3
    cat = Categoriser().fit(texts, paths)
    assert cat.levels_ == ["level1", "level2", "level3"]
    pred = cat.predict(["apple fruit", "oak tree leaves"])
    assert pred.loc[0, ["level1", "level2", "level3"]].tolist() == ["Food", "Fruit", None]
    assert pred.loc[1, ["level1", "level2", "level3"]].tolist() == ["Plant", "Tree", "Oak"]
    frame = pd.DataFrame({"text": texts[:6], "a": [p[0] for p in paths[:6]], "b": [p[1] for p in paths[:6]]})
    cat2 = Categoriser().fit(frame, ["a", "b"])
    assert cat2.levels_ == ["a", "b"]
    assert cat2.predict(["rose flower"]).loc[0, "b"] == "Flower"


def test_level_scores_are_marginals(fitted_logreg):
    scores = fitted_logreg.level_scores(["red cotton tshirt"])
    assert len(scores) == 3
    for lv, s in enumerate(scores):
        assert s.shape == (1, len(fitted_logreg.classes_[lv]))
        assert s.sum() == pytest.approx(1.0)


def test_categoriser_bad_input(data, fitted_logreg):
    (texts, paths, _), _, _ = data
    with pytest.raises(TagrankInputError, match="empty path"):
        Categoriser().fit(texts[:2], [["A"], []])
    with pytest.raises(TagrankInputError, match="empty path"):
        Categoriser().fit(texts[:2], [["A"], [None, None]])
    with pytest.raises(TagrankInputError, match="depth 4 but the taxonomy has 3"):
        Categoriser(levels=["a", "b", "c"]).fit(texts[:2], [["A", "B", "C"], ["A", "B", "C", "D"]])
    with pytest.raises(TagrankInputError, match=r"texts\[1\] is empty"):
        Categoriser().fit(["ok", "  "], [["A"], ["B"]])
    with pytest.raises(TagrankInputError, match="sequence of labels"):
        Categoriser().fit(["ok", "fine"], ["A", "B"])
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        Categoriser().fit(["ok", "fine"], [["A"]])
    with pytest.raises(TagrankInputError, match="classifier"):
        Categoriser(classifier="svm").fit(texts, paths)
    with pytest.raises(TagrankInputError, match="abstain_threshold"):
        Categoriser(abstain_threshold=1.5).fit(texts, paths)
    with pytest.raises(TagrankInputError, match=r"texts\[0\] is empty"):
        fitted_logreg.predict([""])
    with pytest.raises(TagrankInputError, match="never seen"):
        fitted_logreg.score(["red tshirt"], [["Apparel", "Topwear", "Hats"]])
    assert fitted_logreg.score(["red tshirt"], [["Apparel", "Topwear", "Hats"]], on_unseen="count")[
        "article.accuracy"] == 0.0
    with pytest.raises(TagrankInputError, match="depth 4 but the taxonomy has 3"):
        fitted_logreg.score(["red tshirt"], [["Apparel", "Topwear", "Tshirts", "Crew"]])
    with pytest.raises(NotFittedError):
        Categoriser().predict(["x"])


def test_chinese_end_to_end():
    texts = ["纯棉短袖T恤男", "男士纯棉T恤衫", "真皮运动鞋跑步", "跑步鞋透气运动", "不锈钢保温杯", "保温杯大容量"] * 2
    paths = [["服装", "上衣"], ["服装", "上衣"], ["鞋靴", "运动鞋"], ["鞋靴", "运动鞋"], ["家居", "杯子"],
             ["家居", "杯子"]] * 2
    cat = Categoriser(language="zh").fit(texts, paths)
    pred = cat.predict(["夏季纯棉T恤", "轻便跑步鞋"])
    assert pred["level1"].tolist() == ["服装", "鞋靴"]
    tagger = MultiLabelTagger(thresholds=0.3, language="zh").fit(texts, [{"夏季"} if i % 2 else {"男"} for i in range(12)])
    assert isinstance(tagger.predict(["纯棉T恤"])[0], set)
    clusters = TagClusterer(k=3, language="zh").fit(texts)
    assert clusters.score([p[0] for p in paths])["ari"] > 0.5


# ----------------------------------------------------------------------------- StackedCategoriser


def test_stacked_categoriser(data):
    (texts, paths, _), (v_texts, v_paths, _), (t_texts, t_paths, _) = data
    from tagrank.baselines.jaccard import JaccardScorer

    bases = {"lr": Categoriser().fit(texts, paths), "knn": Categoriser(classifier="knn", n_neighbors=3).fit(texts, paths),
             "jac": Categoriser(JaccardScorer(unit="word"), classifier="knn", n_neighbors=3).fit(texts, paths)}
    known = {tuple(p) for p in paths}
    params = {"min_child_samples": 2, "n_estimators": 30}
    held_out = StackedCategoriser(bases, n_candidates=3, n_folds=None, ranker_params=params)
    out_of_fold = StackedCategoriser(bases, n_candidates=3, n_folds=3, ranker_params=params)
    for stack in (held_out.fit(v_texts * 3, v_paths * 3), out_of_fold.fit(texts, paths, v_texts, v_paths)):
        pred = stack.predict(t_texts)
        rows = list(pred[["level1", "level2", "level3"]].itertuples(index=False))
        assert all(tuple(r) in known for r in rows)
        assert np.mean([list(r) == p for r, p in zip(rows, t_paths, strict=True)]) >= 0.8
    # the out-of-fold refits never touch the bases
    assert bases["knn"].n_train_ == len(texts)
    assert bases["knn"].representation_.ids_.tolist() == list(range(len(texts)))
    assert bases["jac"].representation_.ids_.tolist() == list(range(len(texts)))
    with pytest.raises(TagrankInputError, match="fitted Categoriser"):
        StackedCategoriser({"x": Categoriser()}).fit(v_texts, v_paths)
    with pytest.raises(TagrankInputError, match="n_folds"):
        StackedCategoriser(bases, n_folds=1).fit(texts, paths)
    # balance="valid": every alpha of the grid was scored on the held-out texts, the best kept
    scores = out_of_fold.balance_scores_
    assert set(scores) == {str(a) for a in BALANCE_GRID}
    assert scores[str(out_of_fold.balance_)] == max(scores.values())


def test_stacked_balance_is_a_logit_adjustment(data):
    (texts, paths, _), (v_texts, v_paths, _), (t_texts, _, _) = data
    bases = {"lr": Categoriser().fit(texts, paths)}
    params = {"min_child_samples": 2, "n_estimators": 30}
    plain = StackedCategoriser(bases, n_candidates=3, n_folds=None, ranker_params=params, balance=None)
    plain.fit(v_texts * 3, v_paths * 3)
    assert plain.balance_ == 0.0
    frame = plain._full_frame(t_texts)
    score = plain.ranker_.predict(frame)
    # a huge alpha makes the prior dominate: each text gets its rarest candidate path
    huge = StackedCategoriser(bases, n_candidates=3, n_folds=None, ranker_params=params, balance=1e6)
    huge.fit(v_texts * 3, v_paths * 3)
    pred = huge.predict(t_texts)
    prior = huge.log_prior_
    for i in range(len(t_texts)):
        cands = frame.loc[frame["row"] == i, "path"].to_numpy()
        rarest = cands[np.lexsort((-score[frame["row"].to_numpy() == i], prior[cands]))[0]]
        assert pred.loc[i, "level3"] == huge.paths_[rarest][2]
    counts = np.bincount(bases["lr"]._train_rows, minlength=len(bases["lr"].paths_))
    assert np.allclose(np.sort(np.exp(prior) - 1), np.sort(counts))
    with pytest.raises(TagrankInputError, match="balance"):
        StackedCategoriser(bases, n_folds=None, balance="yes").fit(v_texts, v_paths)


# ----------------------------------------------------------------------------- MultiLabelTagger


def test_best_threshold_by_hand():
    proba = np.array([0.1, 0.2, 0.3, 0.9])
    truth = np.array([False, True, True, True])
    # 0.15 and 0.2 both give F1 = 1; the tie goes to the one closest to 0.5
    assert _best_threshold(proba, truth) == pytest.approx(0.2)
    assert _best_threshold(proba, np.zeros(4, dtype=bool)) == 0.5


def test_thresholds_chosen_on_valid(data):
    (texts, _, tags), (v_texts, _, v_tags), (t_texts, _, t_tags) = data
    tagger = MultiLabelTagger(thresholds="valid").fit(texts, tags, v_texts, v_tags)
    assert set(tagger.thresholds_) == set(tagger.tags_)
    # each threshold is the best F1 of its tag on valid
    proba = tagger.predict_proba(v_texts)
    for j, tag in enumerate(tagger.tags_):
        truth = np.array([tag in s for s in v_tags])
        assert tagger.thresholds_[tag] == _best_threshold(proba[:, j], truth)
    fixed = MultiLabelTagger(thresholds=0.5).fit(texts, tags)
    assert set(fixed.thresholds_.values()) == {0.5}
    scores = tagger.score(t_texts, t_tags)
    assert 0.5 <= scores["micro_f1"] <= 1 and 0 <= scores["macro_f1"] <= 1
    assert all(isinstance(s, set) for s in tagger.predict(t_texts))


def test_tagger_bad_input(data):
    (texts, _, tags), _, _ = data
    with pytest.raises(TagrankInputError, match="needs valid_texts"):
        MultiLabelTagger().fit(texts, tags)
    with pytest.raises(TagrankInputError, match="thresholds"):
        MultiLabelTagger(thresholds=2.0).fit(texts, tags)
    with pytest.raises(TagrankInputError, match="set/list of tags"):
        MultiLabelTagger(thresholds=0.5).fit(texts[:2], ["red", "blue"])
    tagger = MultiLabelTagger(thresholds=0.5).fit(texts, tags)
    with pytest.raises(TagrankInputError, match="never seen in fit"):
        tagger.score(texts[:1], [{"colour=purple"}])
    with pytest.raises(TagrankInputError, match="is empty"):
        tagger.predict([" "])


# ----------------------------------------------------------------------------- TagClusterer


def test_clustering_separable_toy_set():
    groups = {
        "fruit": ["fresh apple banana", "fresh banana cherry", "fresh cherry apple", "fresh apple banana cherry"],
        "tools": ["steel hammer nail", "steel nail screw", "steel screw hammer", "steel hammer nail screw"],
        "music": ["live guitar drum", "live drum piano", "live piano guitar", "live guitar drum piano"],
    }
    texts = [t for ts in groups.values() for t in ts]
    ref = [g for g, ts in groups.items() for _ in ts]
    fixed = TagClusterer(k=3).fit(texts)
    assert fixed.score(ref) == {"ari": pytest.approx(1.0), "nmi": pytest.approx(1.0)}
    searched = TagClusterer(k=None, k_range=(2, 5)).fit(texts)
    assert searched.k_ == 3 and set(searched.silhouette_) == {2, 3, 4, 5}
    fam = searched.families_
    assert fam["size"].sum() == len(texts)
    for row in fam.itertuples():
        members = [texts[i] for i in np.flatnonzero(searched.labels_ == row.cluster)]
        assert row.name in members and set(row.central_members) <= set(members)
    assert searched.predict(["fresh banana apple"])[0] == searched.labels_[0]
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        fixed.score(ref[:-1])
    with pytest.raises(TagrankInputError, match="missing"):
        fixed.score([None] + ref[1:])
    with pytest.raises(TagrankInputError, match="larger than"):
        TagClusterer(k=50).fit(texts)
    with pytest.raises(NotFittedError):
        TagClusterer().score(ref)


# ----------------------------------------------------------------------------- TagRecommender


def tag_events(n_users: int = 12, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users re-use their own favourite tags and items carry item-specific tags."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(10)],
                          "text": [f"{g} movie number {i}" for i, g in enumerate(["comedy", "horror"] * 5)]})
    item_tags = {f"m{i}": [f"plot{i}", "comedy" if i % 2 == 0 else "horror"] for i in range(10)}
    rows, t = [], 0
    for u in range(n_users):
        fav = f"fav{u % 3}"
        for _ in range(8):
            item = f"m{rng.integers(10)}"
            for tag in (fav, str(rng.choice(item_tags[item]))):
                rows.append((f"u{u}", item, tag, t))
                t += 1
    ev = pd.DataFrame(rows, columns=["user_id", "item_id", "tag", "timestamp"]).drop_duplicates(
        ["user_id", "item_id", "tag"])
    return ev.reset_index(drop=True), items


def test_holdout_last_events_rule():
    ev = pd.DataFrame({"user_id": ["a"] * 6 + ["b"] * 4, "item_id": ["1", "2", "1", "3", "3", "4", "1", "2", "3", "4"],
                       "tag": ["x", "y", "z", "b", "a", "q", "x", "x", "x", "x"],
                       "timestamp": [1, 2, 3, 9, 9, 5, 1, 2, 3, 4]})
    held = holdout_last_events(ev)
    # a: 6 events -> last floor(1.2) = 1 by (time, item, tag): (9, "3", "b") after (9, "3", "a"); b: < 5 events
    assert held.tolist() == [False, False, False, True, False, False, False, False, False, False]


def test_tag_recommender_ranks_and_explains():
    ev, items = tag_events()
    # guard=False: the learned ranker itself (on this little data the guard serves a signal; see below)
    rec = TagRecommender(text_scorers="tfidf", n_candidates=10, guard=False,
                         ranker_params={"min_child_samples": 2, "n_estimators": 40}).fit(ev, items)
    assert rec.served_ == "model" and rec.guard_ == {}
    assert rec.feature_names_ == ["popularity", "user_history", "item_cooccurrence", "tfidf"]
    tags, scores = rec.recommend(["u0", "u1"], ["m0", "m3"], k=3)
    assert tags.shape == (2, 3)
    assert np.all(np.diff(scores, axis=1) <= 0)
    out = rec.suggest(["u0"], ["m0"], k=3)
    assert list(out.columns) == ["user_id", "item_id", "rank", "tag", "score", "explanation", "contributions"]
    assert out["rank"].tolist() == [1, 2, 3]
    assert set(out.loc[0, "contributions"]) == set(rec.feature_names_)
    assert isinstance(out.loc[0, "explanation"], str) and out.loc[0, "explanation"]
    # the user's favourite tag is among the top suggestions, explained by their history
    top = out.set_index("tag")
    assert "fav0" in top.index
    assert "user_history" in top.loc["fav0", "explanation"]
    excl = rec.recommend(["u0"], ["m0"], k=3, exclude=[{"fav0"}])[0][0]
    assert "fav0" not in excl.tolist()
    # cold user and item still get suggestions (popular / text-similar tags)
    assert rec.recommend(["new"], ["new-item"], k=2)[0][0][0] is not None


def test_tag_recommender_guard_serves_the_best_signal_on_too_little_data():
    from tagrank.hybrid.guard import SourceFallbackWarning

    ev, items = tag_events()
    with pytest.warns(SourceFallbackWarning, match="too little training data"):
        rec = TagRecommender(text_scorers="tfidf", n_candidates=10,
                             ranker_params={"min_child_samples": 2, "n_estimators": 40}).fit(ev, items)
    best = max((k for k in rec.guard_["scores"]), key=lambda k: rec.guard_["scores"][k])
    assert rec.served_ == best and rec.results_params()["served"] == best
    # what is served is that signal's own score of each candidate
    ranked = rec._ranked(["u0", "u1"], ["m0", "m3"], None)
    signal = best.split(":", 1)[1]
    np.testing.assert_array_equal(ranked["score"], ranked[signal].fillna(rec.guard_["source_fill"][signal]))


def test_tag_recommender_ablation_ranks_the_same_candidates_without_each_signal():
    ev, items = tag_events()
    params = {"min_child_samples": 2, "n_estimators": 40}
    plain = TagRecommender(text_scorers="tfidf", n_candidates=10, ranker_params=params).fit(ev, items)
    assert plain.ablation_variants == []
    rec = TagRecommender(text_scorers="tfidf", n_candidates=10, ranker_params=params, ablation=True).fit(ev, items)
    assert rec.ablation_variants == [f"-{f}" for f in rec.feature_names_]
    users, items_ = ["u0", "u1", "new"], ["m0", "m3", "new-item"]
    out = rec.recommend_ablation(users, items_, k=3, exclude=[{"fav0"}, set(), set()])
    assert set(out) == {None, *rec.ablation_variants}
    # the model itself: exactly recommend(), and the ablation does not change it
    for a, b in zip(out[None], rec.recommend(users, items_, k=3, exclude=[{"fav0"}, set(), set()]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(rec.recommend(users, items_, k=3)[1], plain.recommend(users, items_, k=3)[1])
    for variant in rec.ablation_variants:
        assert rec.ablation_[variant].feature_names_ == [f for f in rec.feature_names_ if f"-{f}" != variant]
        assert "fav0" not in out[variant][0][0].tolist()


def test_tag_recommender_bad_input():
    ev, items = tag_events()
    with pytest.raises(TagrankInputError, match="missing column"):
        TagRecommender().fit(ev.drop(columns="tag"))
    with pytest.raises(TagrankInputError, match=">= 5 events"):
        TagRecommender().fit(ev.head(3))
    with pytest.raises(NotFittedError):
        TagRecommender().recommend(["u0"], ["m0"])
    with pytest.raises(TagrankInputError, match="items.text"):
        TagRecommender().fit(ev, items.assign(text=[""] * len(items)))


def test_joint_one_vs_rest_matches_sklearn_per_tag():
    from sklearn.linear_model import LogisticRegression

    from tagrank.hybrid.taxonomy import _JointOvR

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = np.column_stack([x[:, 0] + rng.normal(size=120) > 0, x[:, 1] - x[:, 2] > 0.3])
    joint = _JointOvR(C=1.0, max_iter=500).fit(x, y)
    for j in range(y.shape[1]):
        ref = LogisticRegression(C=1.0, max_iter=1000, tol=1e-10).fit(x, y[:, j])
        np.testing.assert_allclose(joint.coef_[:, j], ref.coef_[0], atol=1e-3)
        np.testing.assert_allclose(joint.predict_proba(x)[:, j], ref.predict_proba(x)[:, 1], atol=1e-3)


class _Dense:
    """A dense representation (bag of a few words) to exercise the dense code paths."""

    vocab = ("cotton", "tshirt", "formal", "shirt", "denim", "jeans", "sneakers", "boots", "flip", "red", "blue")

    def fit(self, texts):
        self.fitted_ = True
        return self

    def transform(self, texts):
        return np.asarray([[float(w in t.split()) for w in self.vocab] for t in texts])


def test_dense_representation_paths(data):
    (texts, paths, tags), (v_texts, _, v_tags), (t_texts, t_paths, t_tags) = data
    cat = Categoriser(representation=_Dense()).fit(texts, paths)
    assert cat.score(t_texts, t_paths)["level1.accuracy"] >= 0.8
    knn = Categoriser(representation=_Dense(), classifier="knn", n_neighbors=5).fit(texts, paths)
    assert set(map(tuple, knn.predict(t_texts)[["level1", "level2", "level3"]].to_numpy().tolist())) <= {
        tuple(p) for p in paths}
    tagger = MultiLabelTagger(representation=_Dense()).fit(texts, tags, v_texts, v_tags)
    assert tagger.score(t_texts, t_tags)["micro_f1"] > 0.4


def test_tag_recommender_takes_the_users_column_names():
    from tagrank.eval.datasets import load_dataset
    from tagrank.hybrid.taxonomy import TagRecommender

    sample = load_dataset("sample")
    events = sample.tag_events.iloc[:400]
    theirs = events.rename(columns={"user_id": "uid", "item_id": "sku", "tag": "label", "timestamp": "ts"})
    items = sample.items.rename(columns={"item_id": "sku"})
    a = TagRecommender().fit(events, sample.items)
    b = TagRecommender().fit(theirs, items, user_col="uid", item_col="sku", tag_col="label", time_col="ts")
    u, i = [events["user_id"].iloc[0]], [events["item_id"].iloc[0]]
    pd.testing.assert_frame_equal(a.suggest(u, i, k=3), b.suggest(u, i, k=3))
