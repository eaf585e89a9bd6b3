"""TransformerScorer: the shared TextScorer suite, known behaviour, variants, persistence."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.hybrid.encoder import TransformerEncoder
from tagrank.hybrid.transformer_scorer import (
    UNRELATED_TAGS,
    TransformerScorer,
    cls_cosine_spread,
    cosine_spread,
)
from tests.baselines.scorer_suite import TextScorerSuite

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", autouse=True)
def _model_loaded_once():
    """Every encoder of one model/device/dtype shares the loaded weights: load them once here."""
    TransformerEncoder(device="cpu", show_progress=False).encode(["warm up"])


class TestTransformerScorer(TextScorerSuite):
    atol = 1e-5
    tie_decimals = 5

    def make_scorer(self):
        return TransformerScorer(device="cpu", batch_size=8, dtype="float32")  # the suite checks float32 exactness


class TestTransformerWhitenScorer(TextScorerSuite):
    atol = 1e-5
    tie_decimals = 5

    def make_scorer(self):
        return TransformerScorer(device="cpu", batch_size=8, whiten=True, whiten_dim=6, dtype="float32")


@pytest.fixture(scope="module")
def scorer() -> TransformerScorer:
    corpus = ["running shoes", "sneakers", "garden hose", "coffee maker", "lawn mower", "espresso machine"]
    return TransformerScorer(device="cpu").fit(corpus)


def test_identical_texts_score_one(scorer):
    texts = ["running shoes", "cordless drill 18V", "运动鞋 running"]
    np.testing.assert_allclose(scorer.score_pairs(texts, texts), 1.0, atol=1e-5)


def test_related_beats_unrelated(scorer):
    s = scorer.score_pairs(["running shoes", "running shoes", "coffee maker"], ["sneakers", "garden hose", "espresso machine"])
    assert s[0] > s[1]
    assert s[2] > s[1]
    ids, _ = scorer.top_k(["trainers for jogging", "watering the lawn"], k=2)
    assert set(ids[0]) == {0, 1}
    assert ids[1, 0] in (2, 4)


def spy_encode(monkeypatch) -> list[list[str]]:
    """Record every batch TransformerEncoder.encode is given (the list returned fills as it runs)."""
    seen: list[list[str]] = []
    original = TransformerEncoder.encode

    def spy(self, texts, **kwargs):
        seen.append(list(texts))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(TransformerEncoder, "encode", spy)
    return seen


def test_score_pairs_encodes_each_distinct_text_once(scorer, monkeypatch):
    seen = spy_encode(monkeypatch)
    left = ["trail runners"] * 5 + ["sneakers"]
    right = ["sneakers", "hose reel"] * 3
    scores = scorer.score_pairs(left, right)
    # corpus texts ("sneakers") are looked up in embeddings_; the rest encoded once each
    assert seen == [["trail runners", "hose reel"]]
    assert scores.shape == (6,)
    np.testing.assert_allclose(scores[0], scores[2])
    seen.clear()
    # a reranking request against the corpus encodes only the query
    corpus_scores = scorer.score_pairs(["trail runners"] * 3, ["sneakers", "garden hose", "coffee maker"])
    assert seen == [["trail runners"]]
    fresh = scorer.encoder_.encode(["trail runners", "sneakers", "garden hose", "coffee maker"])
    np.testing.assert_allclose(corpus_scores, fresh[1:] @ fresh[0], atol=1e-5)


def test_transform_and_names():
    base = TransformerScorer(device="cpu").fit(["a lamp", "a rug"])
    emb = base.transform(["lamp", "rug", "sofa"])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert base.name == "transformer"
    assert TransformerScorer(pooling="cls", normalize=False).name == "transformer_cls"
    assert TransformerScorer(whiten=True).name == "transformer_whiten"
    assert list(TransformerScorer(device="cpu").fit(["x y"]).features(["a"], ["b"]).columns) == ["transformer"]
    with pytest.raises(NotFittedError):
        TransformerScorer().transform(["a"])
    with pytest.raises(TagrankInputError, match=r"texts\[1\]"):
        base.transform(["ok", ""])


def test_cls_variant_scores_raw_cls_cosines():
    corpus = list(UNRELATED_TAGS[:4])
    cls = TransformerScorer(pooling="cls", normalize=False, device="cpu").fit(corpus)
    raw = TransformerEncoder(pooling="cls", normalize=False, device="cpu", show_progress=False).encode(corpus)
    want = (raw[0] @ raw[1]) / np.linalg.norm(raw[0]) / np.linalg.norm(raw[1])
    assert cls.score_pairs([corpus[0]], [corpus[1]])[0] == pytest.approx(want, abs=1e-5)


def test_cls_cosines_sit_higher_and_narrower_than_mean_pooled():
    naive = cls_cosine_spread(UNRELATED_TAGS, device="cpu")
    pooled = cosine_spread(UNRELATED_TAGS, pooling="mean", normalize=True, device="cpu")
    n = len(UNRELATED_TAGS)
    assert naive["n_pairs"] == pooled["n_pairs"] == n * (n - 1) // 2
    assert set(naive) == {"mean", "std", "min", "max", "n_pairs"}
    assert naive["min"] <= naive["mean"] <= naive["max"]
    # the naive [CLS] recipe: unrelated tags look alike; mean pooling spreads them out
    assert naive["mean"] > pooled["mean"] + 0.2
    assert naive["min"] > pooled["mean"]
    with pytest.raises(TagrankInputError, match="at least 2"):
        cosine_spread(["one"], device="cpu")


def test_whiten_variant_fits_on_the_corpus():
    corpus = [f"{c} {n}" for c in ("red", "blue", "green") for n in ("chair", "lamp", "hose", "rug")]
    w = TransformerScorer(whiten=True, whiten_dim=5, device="cpu").fit(corpus)
    assert w.embeddings_.shape == (12, 5)
    np.testing.assert_allclose(np.cov(w.embeddings_, rowvar=False), np.eye(5), atol=1e-3)
    assert w.transform(["red sofa"]).shape == (1, 5)


def test_load_checks_the_model(tmp_path, scorer):
    import json

    path = scorer.save(tmp_path / "s")
    config = json.loads((path / "encoder" / "config.json").read_text())
    config["model"]["fingerprint"] = "f" * 64
    (path / "encoder" / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="differs"):
        TransformerScorer.load(path)
    loaded = TransformerScorer.load(path, check_model=False)
    np.testing.assert_array_equal(loaded.embeddings_, scorer.embeddings_)
    assert loaded.text_rows_ == scorer.text_rows_


def test_query_dtype_encodes_queries_only(tmp_path):
    corpus = ["running shoes", "sneakers", "garden hose", "coffee maker", "lawn mower", "espresso machine"]
    plain = TransformerScorer(device="cpu").fit(corpus)
    fast = TransformerScorer(device="cpu", query_dtype="bfloat16").fit(corpus)
    np.testing.assert_array_equal(fast.embeddings_, plain.embeddings_)  # the corpus stays float32
    queries = ["trail runners", "watering the lawn", "a cup of coffee"]
    right = ["sneakers", "garden hose", "espresso machine"]
    # the query vector is bfloat16-rounded: cosines agree to ~1e-2, not to float32 precision
    np.testing.assert_allclose(fast.score_pairs(queries, right), plain.score_pairs(queries, right), atol=2e-2)
    bf16 = TransformerEncoder(device="cpu", dtype="bfloat16", show_progress=False).encode(queries)
    np.testing.assert_allclose(fast.score_pairs(queries, right),
                               np.sum(bf16 * plain.embeddings_[[1, 2, 5]], axis=1), atol=1e-5)
    assert fast._query_encoder().dtype == "bfloat16" and fast.encoder_.dtype == "auto"
    np.testing.assert_array_equal(fast.transform(queries), plain.transform(queries))  # transform keeps dtype
    ids_fast, _ = fast.top_k(queries, k=2)
    ids_plain, _ = plain.top_k(queries, k=2)
    np.testing.assert_array_equal(ids_fast, ids_plain)
    loaded = TransformerScorer.load(fast.save(tmp_path / "fast"))
    assert loaded.query_dtype == "bfloat16"
    np.testing.assert_array_equal(loaded.score_pairs(queries, right), fast.score_pairs(queries, right))


def test_torch_dtype_query_dtype_survives_save_and_load(tmp_path):
    import torch

    scorer = TransformerScorer(device="cpu", query_dtype=torch.bfloat16).fit(["running shoes", "garden hose"])
    loaded = TransformerScorer.load(scorer.save(tmp_path / "s"))
    np.testing.assert_array_equal(loaded.score_pairs(["trail runners"], ["running shoes"]),
                                  scorer.score_pairs(["trail runners"], ["running shoes"]))


def test_top_k_equals_the_cosine_engine_bit_for_bit(scorer):
    """The served top-k (catalogue normalised once, dot product) is the cosine engine's result exactly."""
    from tagrank.baselines.vectors import top_k

    queries = ["trainers for jogging", "watering the lawn", "a cup of coffee"]
    ids, scores = scorer.top_k(queries, k=4)
    ref_rows, ref_scores = top_k(scorer.encoder_.encode(queries), scorer.embeddings_, k=4, metric="cosine")
    assert np.array_equal(scores, ref_scores)
    assert ids.tolist() == np.asarray(scorer.ids_, dtype=object)[ref_rows].tolist()


def test_top_k_sees_new_embeddings(scorer):
    """The normalised catalogue is rebuilt when ``embeddings_`` is replaced (a refit)."""
    fresh = TransformerScorer(device="cpu").fit(["garden hose", "running shoes"])
    first = fresh.top_k(["jogging"], k=1)[0][0, 0]
    fresh.embeddings_ = fresh.embeddings_[::-1].copy()
    assert fresh.top_k(["jogging"], k=1)[0][0, 0] == 1 - first


def test_request_scope_encodes_a_query_batch_once(scorer, monkeypatch):
    seen = spy_encode(monkeypatch)
    outside = scorer.score_pairs(["trail runners"] * 2, ["sneakers", "garden hose"])
    with scorer.request_scope():
        scorer.top_k(["trail runners"], k=2)
        inside = scorer.score_pairs(["trail runners"] * 2, ["sneakers", "garden hose"])
        with scorer.request_scope():  # nested: still the one memo
            scorer.top_k(["trail runners"], k=2)
    assert seen == [["trail runners"], ["trail runners"]]  # once outside, once for the whole scope
    np.testing.assert_array_equal(inside, outside)
    scorer.top_k(["trail runners"], k=2)  # the scope is over: encoded again
    assert len(seen) == 3
