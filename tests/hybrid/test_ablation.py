"""Feature-group ablation: grouping by hand, drop-one refits, and the pipelines' variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.ablation import feature_groups, fit_ablations
from tagrank.hybrid.pipelines import RecommendPipeline, SearchPipeline
from tests.hybrid.test_pipelines import (
    FAST,
    GroupScorer,
    LengthScorer,
    OverlapScorer,
    TableScorer,
    search_data,
    synthetic_interactions,
)

SEARCH_FEATURES = [
    "jaccard_char", "tfidf_word", "tfidf_char", "bm25", "bm25_norm", "transformer", "transformer_whiten",
    "bm25.rank", "transformer_whiten.z", "group.size", "q.n_words", "overlap.frac", "src.bm25",
    "srank.transformer", "n_sources", "item.n_judged", "cooc.max", "user.n_hist", "mystery",
]


def test_feature_groups_by_hand():
    groups = feature_groups(SEARCH_FEATURES, ["jaccard", "tfidf", "bm25", "transformer", "transformer_whiten"])
    assert groups == {
        "jaccard": ["jaccard_char"],
        "tfidf": ["tfidf_word", "tfidf_char"],
        "bm25": ["bm25", "bm25_norm", "bm25.rank", "src.bm25"],
        "transformer": ["transformer", "srank.transformer"],
        "transformer_whiten": ["transformer_whiten", "transformer_whiten.z"],
        "candidate-list stats": ["group.size", "n_sources"],
        "text stats": ["q.n_words", "overlap.frac"],
        "usage prior": ["item.n_judged"],
        "user and co-occurrence stats": ["cooc.max", "user.n_hist"],
        "other": ["mystery"],
    }
    # every feature lands in exactly one group
    assert sorted(sum(groups.values(), [])) == sorted(SEARCH_FEATURES)


def test_fit_ablations_drops_each_group_once():
    seen = []

    def fit(cols):
        seen.append(cols)
        return tuple(cols)

    out = fit_ablations(fit, ["a", "b.rank", "c"], {"a": ["a"], "b": ["b.rank"], "everything": ["a", "b.rank", "c"]})
    # a group that would leave no feature is skipped
    assert out == {"-a": ("b.rank", "c"), "-b": ("a", "c")}
    assert seen == [["b.rank", "c"], ["a", "c"]]
    with pytest.raises(TagrankInputError, match="not in feature_names"):
        fit_ablations(fit, ["a"], {"x": ["zzz"]})
    with pytest.raises(TagrankInputError, match="empty"):
        fit_ablations(fit, [], {})


@pytest.fixture(scope="module")
def search_ablated():
    ids, texts, judged = search_data()
    pipe = SearchPipeline({"ovl": OverlapScorer(), "len": LengthScorer()}, ranker_params=FAST,
                          candidates_per_scorer=8, language="en", ablation=True)
    return pipe.fit(ids, texts, judged), ids


def test_search_variants_match_separately_trained_rankers(search_ablated):
    pipe, ids = search_ablated
    assert set(pipe.retrieve_ablation_) >= {"-ovl", "-len", "-text stats"}
    ranked = pipe.search_variants(["red shoe", "blue hat"], 3)
    # the model's own variant is exactly `search`
    pd.testing.assert_frame_equal(ranked[None], pipe.search(["red shoe", "blue hat"], 3))
    dropped = pipe.retrieve_ablation_["-ovl"]
    assert not any(f == "ovl" or f.endswith(".ovl") or f.startswith("ovl.") for f in dropped.feature_names_)
    pd.testing.assert_frame_equal(ranked["-ovl"], pipe.search(["red shoe", "blue hat"], 3, variant="-ovl"))
    scores = pipe.rerank_variants(["red shoe", "red shoe"], [ids[0], ids[1]])
    assert set(scores) == {None, *pipe.rerank_ablation_}
    np.testing.assert_array_equal(scores[None], pipe.rerank(["red shoe", "red shoe"], [ids[0], ids[1]]))
    with pytest.raises(TagrankInputError, match="not an ablation"):
        pipe.search(["red shoe"], 3, variant="-nope")


def test_search_learning_curve_rankers_see_fewer_queries(search_ablated):
    pipe, ids = search_ablated
    curve = [f"{p}% of training queries" for p in (25, 50, 75)]
    assert set(curve) <= set(pipe.retrieve_ablation_)
    full = pipe.retrieve_ranker_
    # every feature kept; only the training queries shrink, nested fractions in order
    assert all(pipe.retrieve_ablation_[name].feature_names_ == full.feature_names_ for name in curve)
    counts = [pipe.retrieve_ablation_[name].n_queries_ for name in curve]
    assert counts == sorted(counts) and counts[-1] < full.n_queries_
    ranked = pipe.search_variants(["red shoe"], 3, [None, curve[0]])
    assert set(ranked) == {None, curve[0]}


def test_without_ablation_there_are_no_variants():
    ids, texts, judged = search_data()
    pipe = SearchPipeline({"ovl": OverlapScorer()}, ranker_params=FAST, candidates_per_scorer=8, language="en")
    pipe.fit(ids, texts, judged)
    assert pipe.retrieve_ablation_ == {} and list(pipe.search_variants(["red shoe"], 2)) == [None]


def test_recommend_variants():
    interactions = synthetic_interactions()
    gens = {"pop": TableScorer(by_index=False), "group": GroupScorer()}
    pipe = RecommendPipeline(gens, ranker_params=FAST, candidates_per_generator=10, ablation=True).fit(interactions)
    assert {"-pop", "-group"} <= set(pipe.ablation_)
    out = pipe.recommend_variants(["u0", "u4"], 3)
    ids, scores = pipe.recommend(["u0", "u4"], 3)
    np.testing.assert_array_equal(out[None][0], ids)
    np.testing.assert_array_equal(out[None][1], scores)
    g_ids, _ = pipe.recommend(["u0", "u4"], 3, variant="-group")
    np.testing.assert_array_equal(out["-group"][0], g_ids)
    with pytest.raises(TagrankInputError, match="not an ablation"):
        pipe.recommend(["u0"], 3, variant="-nope")


def test_learning_curve_fits_nested_seeded_subsets():
    from tagrank.hybrid.ablation import curve_name, fit_learning_curve

    seen = {}
    out = fit_learning_curve(lambda rows: seen.setdefault(len(rows), rows.copy()), 20, (0.25, 0.5), random_state=3)
    assert list(out) == ["25% of training rows", "50% of training rows"] == [curve_name(0.25), curve_name(0.5)]
    small, half = seen[5], seen[10]
    assert set(small) <= set(half) and len(set(half)) == 10  # nested, distinct rows
    again = fit_learning_curve(lambda rows: rows.copy(), 20, (0.25,), random_state=3)
    np.testing.assert_array_equal(again["25% of training rows"], small)  # seeded
    with pytest.raises(TagrankInputError, match=r"fractions must be in \(0, 1\)"):
        fit_learning_curve(lambda rows: rows, 20, (1.0,))
    with pytest.raises(TagrankInputError, match="needs training rows"):
        fit_learning_curve(lambda rows: rows, 0)


def test_learning_curve_leaves_out_subsets_too_small_to_train():
    from tagrank.hybrid.ablation import fit_learning_curve

    def fit_rows(rows):
        if len(rows) < 2:
            raise TagrankInputError("at least two rows are needed")
        return len(rows)

    assert fit_learning_curve(fit_rows, 4, (0.25, 0.5)) == {"50% of training rows": 2}
