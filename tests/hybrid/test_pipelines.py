"""RecommendPipeline / SearchPipeline end to end on tiny synthetic data, and the eval factories."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.validation import NotFittedError, SavedModelError, TagrankInputError
from tagrank.hybrid.pipelines import RecommendPipeline, SearchPipeline, clone, temporal_user_split
from tests.hybrid.test_features import LengthScorer, OverlapScorer, TableScorer

FAST = {"n_estimators": 20, "learning_rate": 0.2, "num_leaves": 7, "min_child_samples": 5, "early_stopping_rounds": 5}
N_GROUPS = 3


class GroupScorer(InteractionScorer):
    """Share of the user's history in the item's group (item ``i<j>`` is in group j % 3)."""

    name = "group"

    def __init__(self, smoothing: float = 0.0):
        self.smoothing = smoothing

    def _fit(self, interactions, user_rows, item_rows) -> None:
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        group = np.asarray([int(str(i)[1:]) % N_GROUPS for i in self.item_ids_])
        hist = np.zeros((n_u, N_GROUPS))
        np.add.at(hist, (user_rows, group[item_rows]), 1.0)
        share = (hist + self.smoothing) / (hist.sum(1, keepdims=True) + N_GROUPS * self.smoothing)
        self.matrix_ = share[:, group] + 1e-3 * np.arange(n_i)[None, :]
        self.seen_ = np.zeros((n_u, n_i), bool)
        self.seen_[user_rows, item_rows] = True

    def _score_user_items(self, user_rows, item_rows):
        return self.matrix_[user_rows, item_rows]

    def _recommend(self, user_rows, k, exclude_seen):
        return TableScorer._recommend(self, user_rows, k, exclude_seen)

    def _similar_items(self, item_rows, k):
        group = np.asarray([int(str(i)[1:]) % N_GROUPS for i in self.item_ids_])
        s = (group[item_rows][:, None] == group[None, :]).astype(float) - 1e-3 * np.arange(len(group))[None, :]
        s[np.arange(len(item_rows)), item_rows] = -np.inf
        order = np.argsort(-s, axis=1, kind="mergesort")[:, :k]
        return order, np.take_along_axis(s, order, 1)


def synthetic_interactions(n_users: int = 36, n_items: int = 36, per_user: int = 8, seed: int = 0) -> pd.DataFrame:
    """Each user mostly takes items of their own group (u % 3), in time order."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for u in range(n_users):
        own = [j for j in range(n_items) if j % N_GROUPS == u % N_GROUPS]
        other = [j for j in range(n_items) if j % N_GROUPS != u % N_GROUPS]
        picks = list(rng.choice(own, size=per_user - 2, replace=False)) + list(rng.choice(other, 2, replace=False))
        rng.shuffle(picks)
        for j in picks:
            t += 1
            rows.append((f"u{u}", f"i{j}", t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


@pytest.fixture(scope="module")
def interactions():
    return synthetic_interactions()


@pytest.fixture(scope="module")
def rec(interactions):
    gens = {"pop": TableScorer(by_index=False), "group": GroupScorer()}
    return RecommendPipeline(gens, ranker_params=FAST, candidates_per_generator=10).fit(interactions)


# --------------------------------------------------------------------------- helpers


def test_temporal_split_by_hand():
    frame = pd.DataFrame({
        "user_id": ["a"] * 10 + ["b"] * 5 + ["c"] * 4,
        "item_id": list(range(10)) + list(range(5)) + list(range(4)),
        "timestamp": list(range(10, 0, -1)) + [1, 1, 1, 2, 3] + [1, 2, 3, 4],
    })
    early, late = temporal_user_split(frame)
    # a: 10 rows, the last 2 by time are items 1 and 0; b: 5 rows -> the last is item 4; c: < 5 rows -> none
    assert sorted(zip(late["user_id"], late["item_id"], strict=True)) == [("a", 0), ("a", 1), ("b", 4)]
    assert len(early) + len(late) == len(frame)


def test_clone_copies_parameters_not_state(interactions):
    fitted = GroupScorer(smoothing=0.5).fit(interactions)
    copy = clone(fitted)
    assert copy is not fitted and copy.smoothing == 0.5 and not hasattr(copy, "matrix_")

    class Holder:
        def __init__(self, inner, device="cpu"):
            self.inner = inner
            self.device = device

        def fit(self, *a):
            return self

    nested = clone(Holder(fitted, device="cuda"))
    assert nested.device == "cuda" and nested.inner is not fitted and not hasattr(nested.inner, "matrix_")


# --------------------------------------------------------------------------- recommend


def test_recommend_end_to_end(rec, interactions):
    users = ["u0", "u1", "u5", "u0"]
    ids, scores = rec.recommend(users, k=4)
    assert ids.shape == (4, 4) and scores.shape == (4, 4)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert ids[0].tolist() == ids[3].tolist()  # a repeated user gets the same list
    seen = interactions.groupby("user_id")["item_id"].agg(set)
    in_group = []
    for u, row in zip(users, ids, strict=True):
        assert not set(row) & seen[u]
        assert len(set(row)) == 4
        in_group += [int(i[1:]) % N_GROUPS == int(u[1:]) % N_GROUPS for i in row]
    assert np.mean(in_group) > 0.5  # chance: 1/3
    assert rec.training_summary_["users"] > 0 and rec.training_summary_["positives_in_candidates"] > 0
    with_seen, _ = rec.recommend(["u0"], k=30, exclude_seen=False)
    assert set(with_seen[0]) - {None} & seen["u0"]
    with pytest.raises(TagrankInputError, match="not a known id"):
        rec.recommend(["nobody"], k=3)
    with pytest.raises(TagrankInputError, match="positive integer"):
        rec.recommend(["u0"], k=0)


def test_recommend_pads_short_lists(rec):
    ids, scores = rec.recommend(["u2"], k=25)  # 2 generators x top 10: at most 20 candidates
    assert ids[0, -1] is None and scores[0, -1] == -np.inf
    assert 10 <= sum(i is not None for i in ids[0]) <= 20


def test_mmr_reranking(rec):
    plain, _ = rec.recommend(["u0", "u1"], k=5)
    try:
        rec.mmr_lambda = 1.0  # pure relevance: the same lists
        same, _ = rec.recommend(["u0", "u1"], k=5)
        rec.mmr_lambda = 0.3
        diverse, dscores = rec.recommend(["u0", "u1"], k=5)
    finally:
        rec.mmr_lambda = None
    assert same.tolist() == plain.tolist()
    for row in diverse:
        assert len(set(row)) == 5
    assert (np.diff(dscores, axis=1) < 0).all()


def test_similar_items(rec):
    ids, scores = rec.similar_items(["i0", "i3"], k=3)
    assert ids.shape == (2, 3)
    assert "i0" not in ids[0] and "i3" not in ids[1]
    with pytest.raises(TagrankInputError, match="not known"):
        rec.similar_items(["zzz"], k=3)


def test_recommend_save_load(tmp_path, rec):
    path = rec.save(tmp_path / "rec")
    with pytest.raises(TagrankInputError, match="has no save"):
        RecommendPipeline.load(path)
    loaded = RecommendPipeline.load(path, generators=rec.generators_)
    a, sa = rec.recommend(["u0", "u7"], k=5)
    b, sb = loaded.recommend(["u0", "u7"], k=5)
    assert a.tolist() == b.tolist() and np.array_equal(sa, sb)
    with pytest.raises(TagrankInputError, match="were not given"):
        RecommendPipeline.load(path, generators={"pop": rec.generators_["pop"]})


def test_recommend_bad_input(interactions):
    with pytest.raises(NotFittedError):
        RecommendPipeline({"g": GroupScorer()}).recommend(["u0"])
    with pytest.raises(TagrankInputError, match="no user has"):
        RecommendPipeline({"g": GroupScorer()}).fit(interactions.groupby("user_id").head(3))
    with pytest.raises(TagrankInputError, match="non-empty"):
        RecommendPipeline({}).fit(interactions)
    with pytest.raises(TagrankInputError, match="mmr_lambda"):
        RecommendPipeline({"g": GroupScorer()}, mmr_lambda=2).fit(interactions)


# --------------------------------------------------------------------------- search

COLOURS = ["red", "blue", "green", "black"]
THINGS = ["shoe", "hat", "coat", "bag", "sock"]


def search_data():
    ids, texts = [], []
    for c in COLOURS:
        for t in THINGS:
            for size in ("small", "large"):
                ids.append(len(ids) + 100)
                texts.append(f"{c} {t} {size}")
    rows = []
    for c in COLOURS:
        for t in THINGS:
            q = f"{c} {t}"
            for item, text in zip(ids, texts, strict=True):
                words = set(text.split())
                if c in words and t in words:
                    rows.append((q, item, 3.0 if "large" in words else 2.33))
                elif t in words and COLOURS.index(c) % 2 == 0:
                    rows.append((q, item, 1.0))
    return ids, texts, pd.DataFrame(rows, columns=["query", "item_id", "label"])


@pytest.fixture(scope="module")
def search():
    ids, texts, judged = search_data()
    pipe = SearchPipeline({"ovl": OverlapScorer(), "len": LengthScorer()}, ranker_params=FAST,
                          candidates_per_scorer=8, language="en")
    return pipe.fit(ids, texts, judged), ids, texts, judged


def test_search_end_to_end(search):
    pipe, ids, texts, _ = search
    out = pipe.search(["red shoe", "blue hat"], k=3)
    assert list(out.columns) == ["query", "item_id", "score", "rank"]
    assert out.groupby("query").size().tolist() == [3, 3]
    top = out[out["rank"] == 1].set_index("query")["item_id"]
    text_of = dict(zip(ids, texts, strict=True))
    assert {"red", "shoe"} <= set(text_of[top["red shoe"]].split())
    arr_ids, arr_scores = pipe.top_k(["red shoe"], 3)
    assert arr_ids.shape == (1, 3) and arr_ids[0].tolist() == out[out["query"] == "red shoe"]["item_id"].tolist()
    scores = pipe.rerank(["red shoe", "red shoe"], [ids[0], ids[1]])
    assert scores.shape == (2,)
    assert pipe.training_summary_["retrieve_queries"] > 0 and pipe.training_summary_["rerank_rows"] > 0
    assert "item.n_judged" in pipe.feature_names_ and "srank.ovl" in pipe.feature_names_


def test_search_rankers_are_cross_fitted_where_valid_is_small(search):
    """Below MIN_DIRECT_UNITS informative valid queries an early-stopping hold-out cannot pick the number of
    trees: both rankers are RANKER_FOLDS-fold ensembles; ``ranker_params`` n_folds overrides; the rule's
    boundary is the guard's bar."""
    from tagrank.hybrid.guard import MIN_DIRECT_UNITS
    from tagrank.hybrid.pipeline_common import RANKER_FOLDS, ranker_folds

    pipe, ids, texts, judged = search
    assert ranker_folds(MIN_DIRECT_UNITS - 1) == RANKER_FOLDS and ranker_folds(MIN_DIRECT_UNITS) is None
    for ranker in (pipe.retrieve_ranker_, pipe.rerank_ranker_):
        assert ranker.n_folds == RANKER_FOLDS
    single = SearchPipeline(dict(pipe.scorers), ranker_params={**FAST, "n_folds": None}, candidates_per_scorer=8,
                            language="en").fit(ids, texts, judged)
    assert single.retrieve_ranker_.n_folds is None and single.rerank_ranker_.n_folds is None


def test_search_runs_retrieval_and_features_in_one_request_scope(search):
    """A scorer with ``request_scope`` (the transformer: encode each query once per search) sees
    its retrieval and its feature calls of one search inside one scope, and nothing after it."""
    from contextlib import contextmanager

    pipe, ids, texts, _ = search
    calls: list[str] = []

    class Scoped(OverlapScorer):
        @contextmanager
        def request_scope(self):
            calls.append("enter")
            yield self
            calls.append("exit")

        def _top_k(self, queries, k):
            calls.append("top_k")
            return super()._top_k(queries, k)

        def _score_pairs(self, left, right):
            calls.append("score_pairs")
            return super()._score_pairs(left, right)

    scoped = Scoped().fit(texts, ids)
    saved = pipe.scorers_["ovl"]
    try:
        pipe.scorers_["ovl"] = scoped
        pipe.builder_.scorers["ovl"] = scoped
        pipe.search(["red shoe"], k=3)
    finally:
        pipe.scorers_["ovl"] = saved
        pipe.builder_.scorers["ovl"] = saved
    assert calls[0] == "enter" and calls[-1] == "exit" and calls.count("enter") == 1
    assert "top_k" in calls and "score_pairs" in calls


def test_search_item_stats_are_leave_one_query_out(search):
    pipe, ids, _, judged = search
    item = judged["item_id"].iloc[0]
    n_all = int((judged["item_id"] == item).sum())
    own = pipe._item_extra(pipe._positions([item, item]), np.array([2.0, np.nan]))
    assert own["item.n_judged"][1] <= n_all
    assert own["item.n_judged"][0] == own["item.n_judged"][1] - 1
    # the lookup tables agree with the training statistics they were built from
    n = pipe.item_n_.get(item, 0.0)
    assert own["item.n_judged"][1] == n
    assert own["item.mean_label"][1] == pytest.approx(pipe.item_sum_[item] / n)
    with pytest.raises(TagrankInputError, match="not in the catalogue"):
        pipe._positions([item, "no-such-item"])


def test_search_save_load(tmp_path, search):
    pipe, *_ = search
    path = pipe.save(tmp_path / "search")
    with pytest.raises(TagrankInputError, match="has no save"):
        SearchPipeline.load(path)
    loaded = SearchPipeline.load(path, scorers=pipe.scorers_)
    pd.testing.assert_frame_equal(loaded.search(["red shoe", "black sock"], 5), pipe.search(["red shoe", "black sock"], 5))


def test_search_load_fails_where_the_scorers_give_other_columns(tmp_path, search):
    """A model trained on other scorer columns (other scorers, or a scorer whose columns changed since
    the save) fails at load with both lists, not with a KeyError at its first request."""
    pipe, *_ = search
    path = pipe.save(tmp_path / "search")
    config = json.loads((path / "config.json").read_text())
    config["feature_names"][0] = "ovl_before"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedModelError, match=r"trained on \['ovl_before'"):
        SearchPipeline.load(path, scorers=pipe.scorers_)


def test_search_load_follows_train_rerank_not_a_left_over_folder(tmp_path, search):
    """A pipeline without a rerank ranker saved over one with it used to load the old
    rerank_ranker/ (other rerank scores); one whose rerank_ranker/ is lost loaded without it."""
    from tagrank.baselines.validation import SavedModelError

    pipe, ids, texts, judged = search
    plain = SearchPipeline(dict(pipe.scorers_), ranker_params=FAST, candidates_per_scorer=8, language="en",
                           train_rerank=False).fit(ids, texts, judged)
    path = pipe.save(tmp_path / "search")
    plain.save(path)
    loaded = SearchPipeline.load(path, scorers=pipe.scorers_)
    assert loaded.rerank_ranker_ is None
    pairs = (["red shoe", "red shoe", "blue hat"], [ids[0], ids[1], ids[2]])
    assert np.array_equal(loaded.rerank(*pairs), plain.rerank(*pairs))
    with_rerank = pipe.save(tmp_path / "again")
    import shutil

    shutil.rmtree(with_rerank / "rerank_ranker")
    with pytest.raises(SavedModelError, match=r"rerank_ranker: no such directory"):
        SearchPipeline.load(with_rerank, scorers=pipe.scorers_)


def test_search_bad_input(search):
    pipe, ids, texts, judged = search
    bad = judged.copy()
    bad.loc[0, "item_id"] = -5
    with pytest.raises(TagrankInputError, match="not in the catalogue"):
        SearchPipeline({"ovl": OverlapScorer()}, ranker_params=FAST).fit(ids, texts, bad)
    with pytest.raises(TagrankInputError, match="empty"):
        pipe.search([""], 3)
    with pytest.raises(NotFittedError):
        SearchPipeline({"ovl": OverlapScorer()}).search(["red"], 3)


# --------------------------------------------------------------------------- eval factories


def _ctx(task: str, fitted: dict, data: dict):
    from tagrank.eval.methods import MethodContext

    return MethodContext(task=task, dataset="toy", language="en", device="cpu", fitted=fitted, data=data,
                         show_progress=False)


def test_hybrid_is_registered_for_every_task():
    from tagrank.eval.hybrid_methods import _recommend, _search, _similarity  # noqa: F401
    from tagrank.eval.methods import REGISTRY, methods_for

    methods_for("search")  # loads every built-in registration
    spec = REGISTRY["hybrid"]
    assert spec.kind == "task" and set(spec.tasks) == {"similarity", "search", "recommend", "taxonomy", "tagrec"}


def _similarity_inputs() -> tuple[dict, dict, list[str]]:
    """(fitted scorers, task data, corpus) of a small similarity task: the score is the word overlap."""
    rng = np.random.default_rng(0)
    words = ["red", "blue", "shoe", "hat", "coat", "big", "small"]
    rows = []
    for i in range(120):
        a = " ".join(rng.choice(words, 3))
        b = " ".join(rng.choice(words, 3))
        rows.append((a, b, float(len(set(a.split()) & set(b.split()))), "train" if i < 80 else "valid"))
    pairs = pd.DataFrame(rows, columns=["left", "right", "score", "split"])
    corpus = sorted(set(pairs["left"]) | set(pairs["right"]))
    fitted = {"ovl": OverlapScorer().fit(corpus), "len": LengthScorer().fit(corpus), "random": object()}
    data = {"train": pairs[pairs["split"] == "train"], "valid": pairs[pairs["split"] == "valid"], "corpus": corpus}
    return fitted, data, corpus


def test_choose_setting_first_wins_ties_and_nan_never_wins():
    from tagrank.eval.hybrid_methods import _choose

    settings = [("a", {"n": 1}), ("b", {"n": 2}), ("c", {"n": 3}), ("d", {"n": 4})]
    values = {1: float("nan"), 2: 0.5, 3: 0.5, 4: 0.1}
    fitted = []

    def fit(setting):
        fitted.append(setting["n"])
        return f"model{setting['n']}"

    chosen, model, scores = _choose(settings, fit, lambda m: values[int(m[-1])])
    assert chosen == {"n": 2} and model == "model2" and fitted == [1, 2, 3, 4]
    assert scores == {"a": None, "b": 0.5, "c": 0.5, "d": 0.1}
    # all undefined: the first; a single setting: fitted, never scored
    assert _choose(settings[:1] + [("e", {"n": 1})], fit, lambda m: float("nan"))[0] == {"n": 1}
    assert _choose(settings[1:2], fit, lambda m: 1 / 0) == ({"n": 2}, "model2", {})


def test_grid_settings_merge_explicit_params_and_drop_duplicates():
    from tagrank.eval.hybrid_methods import SIMILARITY_GRID, _grid_settings

    assert len(_grid_settings(SIMILARITY_GRID, {"metric": "spearman"})) == 12
    # the first point is the regressor's defaults: it wins ties
    assert SIMILARITY_GRID[0] == {"num_leaves": 15, "min_child_samples": 20}
    # an explicit parameter overrides the grid's; the points it makes equal collapse into one
    pinned = _grid_settings(SIMILARITY_GRID, {"num_leaves": 3})
    assert [k for k, _ in pinned] == [
        "min_child_samples=20,num_leaves=3", "min_child_samples=50,num_leaves=3", "min_child_samples=100,num_leaves=3",
        "linear_tree=True,min_child_samples=20,num_leaves=3", "linear_tree=True,min_child_samples=50,num_leaves=3",
        "linear_tree=True,min_child_samples=100,num_leaves=3"]
    # extra_params merge key by key, the explicit ones winning
    merged = _grid_settings([{"extra_params": {"linear_tree": True}}], {"extra_params": {"linear_lambda": 1.0}})
    assert merged == [("linear_tree=True", {"extra_params": {"linear_tree": True, "linear_lambda": 1.0}})]
    assert _grid_settings(None, {"num_leaves": 7}) == [("default", {"num_leaves": 7})]


def test_similarity_factory_selects_its_regressor_on_valid():
    from tagrank.eval import metrics
    from tagrank.eval.hybrid_methods import _grid_key, _similarity

    fitted, data, _ = _similarity_inputs()
    valid = data["valid"]
    grid = [{"num_leaves": 2}, {"num_leaves": 7, "min_child_samples": 5}, {"extra_params": {"linear_tree": True}}]

    def valid_spearman(est) -> float:
        return metrics.spearman(est.score_pairs(valid["left"].tolist(), valid["right"].tolist()),
                                valid["score"].to_numpy(float), on_constant="nan")

    alone = [valid_spearman(_similarity(_ctx("similarity", fitted, data), grid=[p], n_estimators=20,
                                        ablation=False, guard=False)) for p in grid]
    est = _similarity(_ctx("similarity", fitted, data), grid=grid, n_estimators=20, ablation=False, guard=False)
    grid_scores = est.results_params()["regressor_valid_grid"]
    assert list(grid_scores) == [_grid_key(p) for p in grid] == ["num_leaves=2", "min_child_samples=5,num_leaves=7",
                                                                 "linear_tree=True"]
    np.testing.assert_allclose(list(grid_scores.values()), alone, atol=1e-6)
    best = int(np.argmax(alone))
    assert valid_spearman(est) == pytest.approx(alone[best])
    chosen = est.get_params()
    assert all(chosen.get(k) == v for k, v in grid[best].items())
    # explicit parameters win over the grid's; no grid = the parameters alone, nothing recorded
    pinned = _similarity(_ctx("similarity", fitted, data), grid=grid, num_leaves=3, n_estimators=5, ablation=False, guard=False)
    assert pinned.get_params()["num_leaves"] == 3
    assert set(pinned.results_params()["regressor_valid_grid"]) == {"num_leaves=3", "min_child_samples=5,num_leaves=3",
                                                                    "linear_tree=True"}
    plain = _similarity(_ctx("similarity", fitted, data), grid=None, n_estimators=5, ablation=False, guard=False)
    assert plain.results_params()["regressor_valid_grid"] == {} and plain.get_params()["num_leaves"] == 15
    # a point too coarse to split predicts one constant: undefined on valid, recorded as null, never chosen
    coarse = _similarity(_ctx("similarity", fitted, data), grid=[{"min_child_samples": 1000}, grid[1]],
                         n_estimators=5, ablation=False, guard=False)
    assert coarse.results_params()["regressor_valid_grid"]["min_child_samples=1000"] is None
    assert coarse.get_params()["num_leaves"] == 7
    # fit_on="valid": each point scored by its 5 regressors' out-of-fold valid predictions; the best is kept
    cross = _similarity(_ctx("similarity", fitted, data), fit_on="valid", grid=grid, n_estimators=10, ablation=False, guard=False)
    scores = cross.results_params()["regressor_valid_grid"]
    assert len(cross.models) == 5 and len(scores) == 3
    winner = grid[int(np.nanargmax([np.nan if v is None else v for v in scores.values()]))]
    assert all(cross.get_params().get(k) == v for k, v in winner.items())


def test_similarity_factory():
    from tagrank.eval.hybrid_methods import _similarity

    fitted, data, corpus = _similarity_inputs()
    est = _similarity(_ctx("similarity", fitted, data), n_estimators=30)
    pred = est.score_pairs(["red shoe big", "hat"], ["red shoe big", "coat"])
    assert pred.shape == (2,) and pred[0] > pred[1]
    assert est.sources == ["ovl", "len"]
    json.dumps(est.get_params()) and json.dumps(est.results_params())
    cross = _similarity(_ctx("similarity", fitted, data), fit_on="valid", n_estimators=10)
    assert len(cross.models) == 5
    # drop-one ablation per source (and the text statistics), scored from one feature computation
    assert {"-ovl", "-len", "-text stats"} <= set(est.ablation)
    variants = est.score_pairs_ablation(["red shoe big", "hat"], ["red shoe big", "coat"])
    np.testing.assert_array_equal(variants[None], pred)
    assert all(len(models) == 5 for models in cross.ablation.values())
    assert _similarity(_ctx("similarity", fitted, data), n_estimators=5, ablation=False).ablation == {}

    # a supervised source: "auto" learns from the valid pairs, or -- when the source records its
    # fine-tuning recipe -- from the train pairs with cross-fitted scores of that source
    from tagrank.eval import finetune_methods
    from tagrank.hybrid.crossfit import CrossFittedScorer, pair_folds

    class Supervised(OverlapScorer):
        supervised = True

    fitted["sup"] = Supervised().fit(corpus)
    assert _similarity(_ctx("similarity", fitted, data), n_estimators=5, ablation=False).fit_on == "valid"
    fitted["sup"].training_params_ = {"ft.loss": "cosine_mse"}
    train = data["train"]
    fold = pair_folds(train["left"].tolist(), train["right"].tolist(), 5)
    pairs = list(zip(train["left"], train["right"], strict=True))
    seen: list[set] = []

    class Recording(Supervised):
        def score_pairs(self, left, right):
            seen[-1].update(zip(left, right, strict=True))
            return super().score_pairs(left, right)

    def fake_cross_fitted(ctx, full, n_folds):
        folds = [[p for p, f in zip(pairs, fold, strict=True) if f == k] for k in range(n_folds)]
        seen.append(set())
        crossed = CrossFittedScorer(full, [(Recording(bonus=1.0).fit(corpus), keys) for keys in folds], by="pair")
        crossed.fold_params_ = [{"fold": k} for k in range(n_folds)]
        return crossed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(finetune_methods, "similarity_cross_fitted", fake_cross_fitted)
        est = _similarity(_ctx("similarity", fitted, data), n_estimators=5, ablation=False)
    assert est.fit_on == "crossfit" and len(est.models) == 1
    assert est.results_params()["cross_fitted"] == {"sup": [{"fold": k} for k in range(5)]}
    assert seen == [set(pairs)]  # the fold models scored exactly the train pairs
    # serving: the source itself
    assert est.builder.scorers["sup"] is fitted["sup"]


def test_search_factory():
    from tagrank.eval.hybrid_methods import _search

    ids, texts, judged = search_data()
    judged = judged.assign(key=judged["query"])
    keys = sorted(judged["key"].unique())
    split = {k: ("train" if i % 4 else "valid") for i, k in enumerate(keys)}
    judged["split"] = judged["key"].map(split)
    data = SimpleNamespace(
        judgments=judged, item_ids=ids, item_texts=texts, text_of=dict(zip(ids, texts, strict=True)),
        parts={s: judged[judged["split"] == s] for s in ("train", "valid", "test")},
    )
    fitted = {"ovl": OverlapScorer().fit(texts, ids), "len": LengthScorer().fit(texts, ids)}
    est = _search(_ctx("search", fitted, {"search": data}), ranker_params=FAST)
    q = ["red shoe", "red shoe"]
    scores = est.score_pairs(q, [texts[0], texts[5]])
    assert scores.shape == (2,)
    top_ids, top_scores = est.top_k(["blue hat"], 4)
    assert top_ids.shape == (1, 4) and (np.diff(top_scores[0]) <= 0).all()
    json.dumps(est.get_params()) and json.dumps(est.results_params())
    assert est.results_params()["fit_on"] == "train"

    # a supervised source (trained on the train queries): the rankers learn from the valid queries,
    # the item statistics still count the train judgments (no row's own judgment to leave out)
    class Supervised(OverlapScorer):
        supervised = True

    fitted["sup"] = Supervised().fit(texts, ids)
    est = _search(_ctx("search", fitted, {"search": data}), ranker_params=FAST, ablation=False)
    assert est.results_params()["fit_on"] == "valid"
    train = data.parts["train"]
    assert est.pipeline.item_n_.sum() == len(train.groupby(["query", "item_id"]))
    assert est.top_k(["blue hat"], 4)[0].shape == (1, 4)
    with pytest.raises(TagrankInputError, match="fit_on must be one of"):
        _search(_ctx("search", fitted, {"search": data}), ranker_params=FAST, fit_on="test")

    # a source that records its fine-tuning recipe is cross-fitted: the rankers learn from the train
    # queries, each scored by a fold model that did not learn from it, and serve with the full model
    from tagrank.eval import finetune_methods
    from tagrank.hybrid.crossfit import CrossFittedScorer, query_folds

    fitted["sup"].training_params_ = {"ft.loss": "mnrl"}
    folds = query_folds(data.parts["train"]["key"].tolist(), 2)
    calls = []

    def fake_cross_fitted(ctx, full, n_folds):
        calls.append((full, n_folds))
        crossed = CrossFittedScorer(full, [(Supervised(bonus=1.0).fit(texts, ids), fold) for fold in folds])
        crossed.fold_params_ = [{"fold": i} for i in range(len(folds))]
        return crossed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(finetune_methods, "search_cross_fitted", fake_cross_fitted)
        est = _search(_ctx("search", fitted, {"search": data}), ranker_params=FAST, ablation=False, n_folds=3)
    assert calls == [(fitted["sup"], 3)]
    params = est.results_params()
    assert params["fit_on"] == "crossfit" and params["cross_fitted"] == {"sup": [{"fold": 0}, {"fold": 1}]}
    assert params["training"]["retrieve_queries"] == len(sum(folds, []))
    assert est.pipeline.scorers_["sup"] is fitted["sup"]
    with pytest.raises(TagrankInputError, match="shares"):
        SearchPipeline({"ovl": OverlapScorer()}, ranker_params=FAST).fit_fitted(
            ids, texts, judged, scorers={"ovl": OverlapScorer().fit(texts, ids)}, item_stats_from=judged)


def test_recommend_factory(interactions):
    from tagrank.eval.hybrid_methods import _recommend

    train, _ = temporal_user_split(interactions)
    inner_train, inner_valid = temporal_user_split(train)
    fitted = {"pop": TableScorer(by_index=False).fit(train), "group": GroupScorer().fit(train)}
    data = {"items": None, "train": train, "inner_train": inner_train, "inner_valid": inner_valid}
    est = _recommend(_ctx("recommend", fitted, data), candidates_per_generator=10, ranker_params=FAST)
    ids, scores = est.recommend(["u0", "u4"], 3, exclude_seen=True)
    assert ids.shape == (2, 3)
    seen = set(train.loc[train["user_id"] == "u0", "item_id"])
    assert not set(ids[0]) & seen
    params = est.results_params()
    assert params["inner_generators"] == {"pop": "clone", "group": "clone"}
    json.dumps(est.get_params()) and json.dumps(params)
    # the ranker's generators were refitted on inner_train, the serving ones are ctx.fitted
    assert est.pipeline.generators_["pop"] is fitted["pop"]


def test_pipelines_take_the_users_column_names():
    """The same data under the user's own column names gives the same model as under the library's."""
    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.eval.datasets import load_dataset

    sample = load_dataset("sample")
    ids, titles = sample.items["item_id"].tolist(), sample.items["text"].tolist()
    judged = sample.judgments.iloc[:300]
    theirs = judged.rename(columns={"query": "search_term", "item_id": "product_uid", "label": "relevance"})
    before = theirs.copy()
    a = SearchPipeline({"bm25": BM25Scorer()}).fit(ids, titles, judged)
    b = SearchPipeline({"bm25": BM25Scorer()}).fit(
        ids, titles, theirs, query_col="search_term", item_col="product_uid", label_col="relevance")
    pd.testing.assert_frame_equal(theirs, before)  # not mutated
    pd.testing.assert_frame_equal(a.search(["red running shoes"], k=5), b.search(["red running shoes"], k=5))
    with pytest.raises(TagrankInputError, match="no column 'search_trm'"):
        SearchPipeline({"bm25": BM25Scorer()}).fit(ids, titles, theirs, query_col="search_trm")
