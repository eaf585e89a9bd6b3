"""Property: the ranker, the pipelines and the tag systems answer well-formed results or raise TagrankInputError.

Fitting a pipeline costs seconds, so the pipelines are fitted once per module on
fixed data and the requests (queries, users, item ids, k) are generated; the
estimators whose fit is cheap are fitted on generated data with fewer examples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagrank.baselines.bm25 import BM25Scorer
from tagrank.baselines.popularity import PopularityScorer
from tagrank.baselines.tfidf import TfidfScorer
from tagrank.hybrid.ranker import HybridRanker
from tests.properties.strategies import (
    call,
    check_ranking,
    good_text,
    hostile_number,
    ids,
    interactions,
    k_value,
    maybe_id,
    maybe_text,
    mostly,
    same,
    snapshot,
)

FAST = {"n_estimators": 10, "learning_rate": 0.3, "num_leaves": 7, "min_child_samples": 2}
FEW = settings(max_examples=8, deadline=None)


# ----------------------------------------------------------------------------- HybridRanker

@st.composite
def ranking_frames(draw):
    if draw(st.integers(0, 3)):  # mostly a rankable frame (queries x candidates, mixed labels), then damaged
        n_q, n_c = draw(st.integers(2, 6)), draw(st.integers(2, 6))
        frame = pd.DataFrame({"query": np.repeat([f"q{i}" for i in range(n_q)], n_c),
                              "item_id": np.tile(np.arange(n_c), n_q),
                              "label": [float(draw(st.integers(0, 3))) for _ in range(n_q * n_c)],
                              "f1": [draw(st.floats(0, 1)) for _ in range(n_q * n_c)],
                              "f2": [draw(st.floats(0, 1)) for _ in range(n_q * n_c)]})
        if draw(st.booleans()):
            frame = frame.sample(frac=1.0, random_state=draw(st.integers(0, 9)))  # unsorted
        for _ in range(draw(st.integers(0, 2))):  # a hostile cell or two
            col = draw(st.sampled_from(["label", "f1", "query", "item_id"]))
            frame[col] = frame[col].astype(object)
            frame.iat[draw(st.integers(0, len(frame) - 1)), list(frame.columns).index(col)] = draw(
                hostile_number if col in ("label", "f1") else maybe_id)
        return frame
    n = draw(st.integers(0, 30))
    queries = draw(st.lists(maybe_id, min_size=1, max_size=5))
    cand = draw(st.lists(ids, min_size=1, max_size=8))
    label = st.one_of(st.integers(0, 3).map(float), st.sampled_from([1.0, 2.33, 3.0]), hostile_number)
    feature = st.one_of(st.floats(-5, 5, allow_nan=False), hostile_number)
    frame = pd.DataFrame({
        "query": pd.Series([draw(st.sampled_from(queries)) for _ in range(n)], dtype=object),
        "item_id": pd.Series([draw(st.sampled_from(cand)) for _ in range(n)], dtype=object),
        "label": pd.Series([draw(st.one_of(label, st.integers(0, 3).map(float))) for _ in range(n)], dtype=object),
        "f1": pd.Series([draw(st.one_of(feature, st.floats(0, 1))) for _ in range(n)], dtype=object),
        "f2": [draw(st.floats(0, 1)) for _ in range(n)],
    })
    if draw(st.booleans()):  # a numeric label column, as most users have
        frame["label"] = pd.to_numeric(frame["label"], errors="coerce")
    if draw(st.booleans()):
        frame["f1"] = pd.to_numeric(frame["f1"], errors="coerce")
    return frame


@FEW
@given(frame=ranking_frames(), other=ranking_frames(), k=k_value)
def test_hybrid_ranker_fit_predict_rank(frame, other, k):
    before = snapshot(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, ranker = call(HybridRanker(**FAST).fit, frame, feature_cols=["f1", "f2"])
    assert same(frame, before)
    if not ok:
        return
    ok, pred = call(ranker.predict, other)
    if ok:
        assert pred.shape == (len(other),) and np.isfinite(pred).all()
    ok, ranked = call(ranker.rank, other, k=k)
    if ok:
        assert np.isfinite(ranked["score"].to_numpy(float)).all()


# ----------------------------------------------------------------------------- SearchPipeline

CATALOG_IDS = [f"p{i}" for i in range(16)]
CATALOG_TEXTS = [f"{c} {t} {w}" for c, t, w in zip(["red", "blue", "green", "black"] * 4,
                                                  ["shoe", "hat", "bag", "sock"] * 4,
                                                  ["wool", "\u7ea2\u8272", "cotton", "\U0001F600"] * 4, strict=True)]


def _judgments() -> pd.DataFrame:
    rows = []
    for q, hits in [("red shoe", [0, 4]), ("blue hat", [1, 5]), ("green bag", [2, 6]), ("black sock", [3, 7]),
                    ("wool shoe", [0, 8]), ("cotton bag", [2, 10]), ("\u7ea2\u8272 hat", [1, 9])]:
        for j in range(16):
            rows.append((q, f"p{j}", 3.0 if j in hits else 1.0 + (j % 2)))
    return pd.DataFrame(rows, columns=["query", "item_id", "label"])


@pytest.fixture(scope="module")
def search():
    from tagrank.hybrid.pipelines import SearchPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SearchPipeline({"bm25": BM25Scorer(), "tfidf": TfidfScorer()}, ranker_params=FAST,
                              candidates_per_scorer=8).fit(CATALOG_IDS, CATALOG_TEXTS, _judgments())


@given(queries=mostly(good_text, maybe_text, 4), k=k_value,
       items=mostly(st.sampled_from(CATALOG_IDS), maybe_id, 4))
def test_search_pipeline_requests(search, queries, k, items):
    before = snapshot((queries, items))
    ok, frame = call(search.search, queries, k)
    if ok:
        assert set(frame["item_id"]) <= set(CATALOG_IDS) and np.isfinite(frame["score"].to_numpy(float)).all()
        assert set(frame["query"]) <= set(queries)
    ok, out = call(search.top_k, queries, k)
    if ok:
        check_ranking(*out, n_rows=len(queries), catalogue=set(CATALOG_IDS), max_k=len(CATALOG_IDS))
    pair_queries = (queries * 4)[: len(items)]
    ok, scores = call(search.rerank, pair_queries, items)
    if ok:
        assert scores.shape == (len(items),) and np.isfinite(scores).all()
    assert same((queries, items), before)


@FEW
@given(judged=st.lists(st.tuples(st.one_of(good_text, maybe_text), st.one_of(st.sampled_from(CATALOG_IDS), maybe_id),
                                 st.one_of(st.sampled_from([1.0, 2.0, 3.0]), hostile_number)), max_size=40))
def test_search_pipeline_fit_on_hostile_judgments(judged):
    from tagrank.hybrid.pipelines import SearchPipeline

    frame = pd.DataFrame(judged, columns=["query", "item_id", "label"])
    frame = pd.concat([_judgments(), frame], ignore_index=True)
    before = snapshot(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, pipe = call(SearchPipeline({"bm25": BM25Scorer()}, ranker_params=FAST, candidates_per_scorer=6,
                                       train_rerank=False).fit, CATALOG_IDS, CATALOG_TEXTS, frame)
    assert same(frame, before)
    if ok:
        ok, out = call(pipe.top_k, ["red shoe"], 3)
        assert ok
        check_ranking(*out, n_rows=1, catalogue=set(CATALOG_IDS), max_k=3)


# ----------------------------------------------------------------------------- RecommendPipeline

def _log() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows, t = [], 0
    for u in range(24):
        for j in rng.choice(18, size=8, replace=False):
            t += 1
            rows.append((f"u{u}", int(j) if u % 2 else f"i{j}", t))  # mixed id types
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


@pytest.fixture(scope="module")
def recommend():
    from tagrank.baselines.als import ALSScorer
    from tagrank.hybrid.pipelines import RecommendPipeline

    gens = {"pop": PopularityScorer(), "als": ALSScorer(factors=4, iterations=3, num_threads=1, device="cpu")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecommendPipeline(gens, ranker_params=FAST, candidates_per_generator=8).fit(_log())


@given(users=mostly(st.sampled_from([f"u{i}" for i in range(24)]), maybe_id, 4),
       items=mostly(st.sampled_from(["i1", 3, "i7"]), maybe_id, 3), k=k_value,
       exclude_seen=st.booleans())
def test_recommend_pipeline_requests(recommend, users, items, k, exclude_seen):
    catalogue = set(_log()["item_id"])
    before = snapshot((users, items))
    ok, out = call(recommend.recommend, users, k, exclude_seen)
    if ok:
        check_ranking(*out, n_rows=len(users), catalogue=catalogue, max_k=len(catalogue))
    ok, out = call(recommend.similar_items, items, k)
    if ok:
        check_ranking(*out, n_rows=len(items), catalogue=catalogue, max_k=len(catalogue))
    assert same((users, items), before)


# ----------------------------------------------------------------------------- tag systems

LEVEL = st.one_of(st.sampled_from(["Apparel", "Footwear", "\u978b", "Shoes", "Tops"]), maybe_text)


@FEW
@given(rows=mostly(st.tuples(good_text, st.lists(st.sampled_from(["Apparel", "Footwear", "\u978b"]), min_size=1,
                                                  max_size=2)),
                  st.tuples(maybe_text, st.lists(LEVEL, max_size=3)), 12),
       queries=mostly(good_text, maybe_text, 3))
def test_categoriser(rows, queries):
    from tagrank.hybrid.categoriser import Categoriser

    texts = [t for t, _ in rows] + ["red shoe", "blue top", "green shoe", "black top"]
    paths = [p for _, p in rows] + [["Footwear", "Shoes"], ["Apparel", "Tops"]] * 2
    before = snapshot((texts, paths))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, cat = call(Categoriser().fit, texts, paths)
    assert same((texts, paths), before)
    if ok:
        ok, pred = call(cat.predict, queries)
        if ok:
            assert len(pred) == len(queries)


@FEW
@given(rows=mostly(st.tuples(good_text, st.lists(st.sampled_from(["shoe", "top", "\u978b"]), max_size=2)),
                  st.tuples(maybe_text, st.lists(LEVEL, max_size=3)), 12),
       queries=mostly(good_text, maybe_text, 3))
def test_multilabel_tagger(rows, queries):
    from tagrank.hybrid.multilabel import MultiLabelTagger

    texts = [t for t, _ in rows] + ["red shoe", "blue top", "green shoe", "black top"] * 2
    sets = [s for _, s in rows] + [["shoe"], ["top"], ["shoe", "green"], ["top"]] * 2
    before = snapshot((texts, sets))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, tagger = call(MultiLabelTagger(thresholds=0.5).fit, texts, sets)
    assert same((texts, sets), before)
    if ok:
        ok, proba = call(tagger.predict_proba, queries)
        if ok:
            assert proba.shape == (len(queries), len(tagger.tags_)) and np.isfinite(proba).all()


@FEW
@given(texts=mostly(good_text, maybe_text, 20), k=st.one_of(st.none(), st.integers(-1, 25)),
       queries=mostly(good_text, maybe_text, 3))
def test_tag_clusterer(texts, k, queries):
    from tagrank.hybrid.tag_clustering import TagClusterer

    before = snapshot(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, clusterer = call(TagClusterer(k=k).fit, texts)
    assert same(texts, before)
    if ok:
        assert len(clusterer.labels_) == len(texts)
        ok, labels = call(clusterer.predict, queries)
        if ok:
            assert len(labels) == len(queries)


@pytest.fixture(scope="module")
def tag_recommender():
    from tagrank.hybrid.tag_recommender import TagRecommender
    from tests.hybrid.test_taxonomy import tag_events

    ev, items = tag_events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TagRecommender(text_scorers="tfidf", n_candidates=10,
                              ranker_params={"min_child_samples": 2, "n_estimators": 20}).fit(ev, items), ev


@given(users=mostly(st.sampled_from(["u0", "u3", "new"]), maybe_id, 3),
       items=mostly(st.sampled_from(["m0", "m3", "new-item"]), maybe_id, 3), k=k_value)
def test_tag_recommender_requests(tag_recommender, users, items, k):
    rec, ev = tag_recommender
    items = (items * 3)[: len(users)]
    ok, out = call(rec.recommend, users, items, k)
    if ok:
        check_ranking(*out, n_rows=len(users), catalogue=set(ev["tag"]), max_k=len(set(ev["tag"])))


@settings(max_examples=5, deadline=None)
@given(extra=interactions(max_rows=20), shuffle=st.booleans())
def test_recommend_pipeline_fit_on_hostile_interactions(extra, shuffle):
    from tagrank.hybrid.pipelines import RecommendPipeline

    frame = pd.concat([_log(), extra], ignore_index=not shuffle)
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=0)
    before = snapshot(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, pipe = call(RecommendPipeline({"pop": PopularityScorer()}, ranker_params=FAST,
                                          candidates_per_generator=6).fit, frame)
    assert same(frame, before)
    if ok:
        ok, out = call(pipe.recommend, ["u0", "u1"], 3)
        assert ok
        check_ranking(*out, n_rows=2, catalogue=set(frame["item_id"]), max_k=3)
