"""The guard (hybrid.guard): a hybrid never serves a model that held-out data finds worse than a source."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.bm25 import BM25Scorer
from tagrank.baselines.jaccard import JaccardScorer
from tagrank.baselines.tfidf import TfidfScorer
from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid import guard as g
from tagrank.hybrid.pipelines import SearchPipeline
from tagrank.hybrid.ranker import HybridRanker
from tagrank.hybrid.regressor import HybridRegressor
from tagrank.hybrid.similarity_pipeline import SimilarityPipeline


def test_decide_serves_the_model_unless_a_source_is_strictly_better():
    assert g.decide({"model": 0.5, "source:a": 0.5, "source:b": 0.4}) == "model"  # ties go to the model
    assert g.decide({"model": 0.5, "source:a": 0.51, "source:b": 0.6}) == "source:b"
    assert g.decide({"model": float("nan"), "source:a": 0.1}) == "source:a"
    assert g.decide({"model": 0.2, "source:a": float("nan")}) == "model"


def test_ndcg_per_query_matches_a_hand_worked_answer():
    # one query, grades [0, 2, 1] scored [3, 2, 1]: DCG = 0 + 2/log2(3) + 1/2, ideal = 2 + 1/log2(3)
    values = g.ndcg_per_query(np.array([3.0, 2, 1]), np.array([0, 2, 1]), np.zeros(3, np.int64), [0, 1, 2], 10)
    expected = (2 / np.log2(3) + 0.5) / (2 + 1 / np.log2(3))
    assert values == pytest.approx([expected])
    # a query whose grades are all equal tells nothing and is skipped
    assert len(g.ndcg_per_query(np.array([1.0, 2]), np.array([1, 1]), np.zeros(2, np.int64), [0, 1], 10)) == 0


def _regression_frame(n: int, seed: int, noise_model: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x[:, 0] + 0.05 * rng.normal(size=n)
    return pd.DataFrame({"good": x[:, 0], "bad": x[:, 1], "noise": x[:, 2], "label": y})


def test_regressor_falls_back_to_a_clearly_better_source_and_records_it():
    frame = _regression_frame(300, 0, True)
    # the model may only see the noise columns: the source "good" is far better on held-out rows
    with pytest.warns(g.SourceFallbackWarning, match="source:good"):
        model = HybridRegressor(n_estimators=30).fit(frame.iloc[:240], "label", ["good", "bad", "noise"],
                                                     valid=frame.iloc[240:], sources=["good", "bad"])
    assert model.served_ in ("model", "source:good")
    restricted = HybridRegressor(n_estimators=30).fit(frame.iloc[:240], "label", ["bad", "noise", "good"],
                                                      valid=frame.iloc[240:], sources=["bad", "good"])
    served = restricted.predict(frame)
    if restricted.served_ == "source:good":
        np.testing.assert_array_equal(served, frame["good"].to_numpy())
    assert set(restricted.guard_scores_) == {"model", "source:bad", "source:good"}


def test_regressor_keeps_a_model_that_beats_every_source(tmp_path):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=400), rng.normal(size=400)
    frame = pd.DataFrame({"a": a, "b": b, "label": a + b})  # needs both: each source alone is worse
    with warnings.catch_warnings():
        warnings.simplefilter("error", g.SourceFallbackWarning)
        model = HybridRegressor(n_estimators=200).fit(frame.iloc[:300], "label", ["a", "b"],
                                                      valid=frame.iloc[300:], sources=["a", "b"])
    assert model.served_ == "model" and model.guard_scores_["model"] > model.guard_scores_["source:a"]
    assert "cross-fitted" in model.guard_["held_out"]  # 100 valid rows < MIN_DIRECT_UNITS
    model.save(tmp_path / "m")
    assert HybridRegressor.load(tmp_path / "m").served_ == "model"


def test_sources_must_be_feature_columns():
    frame = _regression_frame(80, 2, False)
    with pytest.raises(TagrankInputError, match="not feature columns"):
        HybridRegressor(n_estimators=5).fit(frame, "label", ["good", "bad"], sources=["noise"])


def test_constant_model_warns_and_explain_says_so():
    frame = pd.DataFrame({"query": np.repeat(["a", "b"], 3), "item_id": [1, 2, 3] * 2,
                          "x": [1.0, 2, 3, 1, 2, 3], "label": [0, 1, 0, 1, 0, 0]})
    with pytest.warns(g.NoSplitWarning, match="no split"):
        model = HybridRanker(n_estimators=5, min_child_samples=50).fit(frame)
    with pytest.raises(TagrankInputError, match="no split"):
        model.explain(frame)
    with pytest.warns(g.SourceFallbackWarning):
        guarded = HybridRanker(n_estimators=5, min_child_samples=50).fit(frame, sources=["x"])
    assert guarded.served_ == "source:x" and guarded.guard_["constant_model"]
    contrib = guarded.explain(frame)
    np.testing.assert_allclose(contrib.sum(axis=1), guarded.predict(frame))
    np.testing.assert_array_equal(contrib["x"], frame["x"])


def _tiny_catalogue():
    """30 products, 10 queries: far below the guard's minimum of queries."""
    colours = ["red", "blue", "green", "black", "white", "grey"]
    kinds = ["shoe", "boot", "coat", "hat", "bag"]
    ids = [f"p{i}" for i in range(30)]
    texts = [f"{colours[i % 6]} {kinds[i % 5]} model {i}" for i in range(30)]
    rows = []
    for q in range(10):
        colour, kind = colours[q % 6], kinds[q % 5]
        for i, text in enumerate(texts):
            label = 3.0 if (colour in text and kind in text) else 2.0 if (colour in text or kind in text) else None
            if label is not None:
                rows.append({"query": f"{colour} {kind}", "item_id": ids[i], "label": label})
            elif (i + q) % 7 == 0:
                rows.append({"query": f"{colour} {kind}", "item_id": ids[i], "label": 1.0})
    return ids, texts, pd.DataFrame(rows)


def test_search_pipeline_on_small_data_serves_the_best_source():
    ids, texts, judged = _tiny_catalogue()
    scorers = {"bm25": BM25Scorer(), "jaccard": JaccardScorer(), "tfidf": TfidfScorer()}
    with pytest.warns(g.SourceFallbackWarning, match="too little training data"):
        pipe = SearchPipeline(scorers, ranker_params={"n_estimators": 20}, random_state=0).fit(ids, texts, judged)
    ranker = pipe.retrieve_ranker_
    assert ranker.served_.startswith("source:") and ranker.guard_["small_data"]
    source = ranker.served_.split(":", 1)[1]
    # the served ranking is the source's own ranking of the candidates
    queries = sorted(judged["query"].unique())[:4]
    served = pipe.search(queries, k=5)
    frame = pipe.candidate_features(queries)
    for q in queries:
        mine = served[served["query"] == q]["item_id"].tolist()
        part = frame[frame["query"] == q].reset_index(drop=True)
        order = np.lexsort((np.arange(len(part)), -part[source].to_numpy()))
        assert mine == part["item_id"].to_numpy()[order][:5].tolist()
    # the best source is the best on the judged queries, by the guard's own measure
    scores = ranker.guard_["scores"]
    assert scores[ranker.served_] == max(v for v in scores.values() if v is not None)


def test_similarity_pipeline_round_trip_refit_and_shift(tmp_path):
    rng = np.random.default_rng(0)
    words = "red blue green shoe boot shirt dress hat bag coat wool cotton leather small large".split()
    left = [" ".join(rng.choice(words, size=int(rng.integers(3, 7)))) for _ in range(300)]
    right = [(" ".join(rng.choice(words, size=int(rng.integers(3, 7)))) if rng.random() < 0.5 else t) for t in left]
    tfidf, jac = TfidfScorer().fit(left + right), JaccardScorer().fit(left + right)
    label = tfidf.score_pairs(left, right) + 0.5 * jac.score_pairs(left, right)
    pairs = pd.DataFrame({"left": left, "right": right, "score": label})
    pipe = SimilarityPipeline({"tfidf": tfidf, "jaccard": jac}, grid=None,
                              regressor_params={"n_estimators": 40}).fit(pairs)
    assert pipe.served_ in ("model", "source:tfidf_word", "source:jaccard_word")
    assert set(pipe.guard_["scores"]) >= {"source:tfidf_word", "source:jaccard_word"}
    pred = pipe.score_pairs(left[:20], right[:20])
    pipe.save(tmp_path / "p")
    again = SimilarityPipeline.load(tmp_path / "p")
    np.testing.assert_allclose(again.score_pairs(left[:20], right[:20]), pred)
    assert again.served_ == pipe.served_
    # refitting the sources on a new corpus keeps the learned combination and its features
    again.refit_sources(left[:100])
    assert again.models_[0] is not None and again.builder_.feature_names_ == pipe.feature_names_
    # single words against a pipeline trained on 3-6 word texts: a shift, and the best source is served
    with pytest.warns(g.DistributionShiftWarning, match="text length"):
        shifted = pipe.score_pairs(["red", "boot"], ["blue", "boot"])
    best = g.best_source(pipe.guard_["scores"]).split(":", 1)[1]
    np.testing.assert_allclose(shifted, pipe.builder_.transform(["red", "boot"], ["blue", "boot"])[best])
    with warnings.catch_warnings():  # in-distribution requests raise no shift warning
        warnings.simplefilter("error", g.DistributionShiftWarning)
        pipe.score_pairs(left[:50], right[:50])
    # the shift report reads its texts once (iterators give the same report) and checks them
    assert pipe.shift_report(iter(["red"] * 5), iter(["blue boot"] * 5)) == pipe.shift_report(["red"] * 5, ["blue boot"] * 5)
    with pytest.raises(TagrankInputError, match=r"left\[0\] is missing"):
        pipe.shift_report([None], ["a"])
    with pytest.raises(TagrankInputError, match="left has 1, right has 2"):
        pipe.shift_report(["a"], ["a", "b"])


def _ranking_frame(n_queries: int, seed: int) -> pd.DataFrame:
    """Queries of 12 candidates; the label needs both sources "a" and "b" (each alone is half the story)."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        a, b = rng.normal(size=12), rng.normal(size=12)
        score = a + b
        label = (score >= np.sort(score)[-3]).astype(float)
        rows.append(pd.DataFrame({"query": f"q{q}", "item_id": np.arange(12), "a": a, "b": b, "label": label}))
    return pd.concat(rows, ignore_index=True)


def test_paired_p_is_the_one_sided_paired_t_test_of_per_query_ndcg():
    from scipy import stats

    frame = _ranking_frame(40, 0)
    model = HybridRanker(n_estimators=5).fit(frame)
    evaluate = g._ranking_evaluator(model)
    x, y = frame["a"].to_numpy() + frame["b"].to_numpy(), frame["a"].to_numpy()
    ndcg_x, ndcg_y = evaluate.per_query(frame, x), evaluate.per_query(frame, y)
    d = ndcg_x - ndcg_y  # by hand: t = mean / (sd / sqrt(n)), p = P(T_{n-1} > t)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    assert evaluate.paired_p(frame, x, y) == pytest.approx(stats.t.sf(t, len(d) - 1), rel=1e-12)
    assert evaluate.paired_p(frame, y, y) == 1.0  # never differ: no evidence


def test_guard_alpha_serves_the_model_only_on_significant_evidence():
    frame = _ranking_frame(300, 1)
    train, valid = frame[frame["query"].str[1:].astype(int) < 240], frame[frame["query"].str[1:].astype(int) >= 240]
    # the model combines a and b: far better than either source, so it is served with or without alpha
    with warnings.catch_warnings():
        warnings.simplefilter("error", g.SourceFallbackWarning)
        strong = HybridRanker(n_estimators=60, guard_alpha=0.05).fit(train, valid=valid, sources=["a", "b"])
    assert strong.served_ == "model" and strong.guard_["p_value"] < 0.05 and strong.guard_["alpha"] == 0.05
    # a model over "a" and a weak, noisy trace of "b": a held-out gain over "a" (served without alpha)
    # that 60 held-out queries cannot tell from noise (p > 0.05: with alpha, "a" is served)
    weak = frame.assign(weak=0.3 * frame["b"] + np.random.default_rng(4).normal(size=len(frame)))
    kw = {"valid": weak.loc[valid.index], "feature_cols": ["a", "weak"], "sources": ["a"]}
    plain = HybridRanker(n_estimators=60).fit(weak.loc[train.index], **kw)
    assert plain.served_ == "model" and "p_value" not in plain.guard_
    assert plain.guard_scores_["model"] > plain.guard_scores_["source:a"]
    with pytest.warns(g.SourceFallbackWarning, match="not significant"):
        strict = HybridRanker(n_estimators=60, guard_alpha=0.05).fit(weak.loc[train.index], **kw)
    assert strict.served_ == "source:a" and strict.guard_["p_value"] >= 0.05
    np.testing.assert_array_equal(strict.predict(weak), weak["a"].to_numpy())


def test_guard_alpha_is_checked():
    frame = _ranking_frame(30, 3)
    with pytest.raises(TagrankInputError, match="alpha must be None or in"):
        HybridRanker(n_estimators=5, guard_alpha=1.5).fit(frame, sources=["a"])
    with pytest.raises(TagrankInputError, match="needs a ranker"):
        g.guard_model(HybridRegressor(n_estimators=5).fit(_regression_frame(80, 2, False), "label", ["good", "bad"]),
                      _regression_frame(80, 2, False), None, ["good"], alpha=0.05)


@pytest.mark.parametrize("scorer", [
    JaccardScorer(unit="word"), JaccardScorer(unit="char"),
    TfidfScorer(analyzer="word"), TfidfScorer(analyzer="char"), TfidfScorer(analyzer="both"),
    BM25Scorer(), BM25Scorer(analyzer="char", ngram_range=(3, 3)),
], ids=lambda s: f"{type(s).__name__}-{s.get_params().get('analyzer', s.get_params().get('unit'))}")
def test_a_source_column_is_the_scorers_own_score(scorer):
    """What the guard serves as "source:<name>" is that method's own ranking, as the benchmark tables
    score it: the scorer's first feature column equals its ``score_pairs`` (for TF-IDF over words and
    characters, the mean of the two cosines, not one of them)."""
    from tagrank.hybrid.features import FeatureBuilder

    corpus = ["red leather shoes", "blue suede shoes", "red cotton shirt", "running shoes men", "green wool hat"]
    scorer = scorer.fit(corpus)
    builder = FeatureBuilder({"s": scorer}, kind="text", language="en").fit()
    left = ["red shoes", "suede", "wool hat", "running", "red shoes"]
    right = ["red leather shoes", "red cotton shirt", "green wool hat", "blue suede shoes", "running shoes men"]
    frame = builder.transform(left, right)
    (column,) = g.source_columns(builder.feature_names_, ["s"])
    np.testing.assert_array_equal(frame[column].to_numpy(), scorer.score_pairs(left, right))
