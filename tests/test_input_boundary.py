"""Issue 17, "no silent wrong answer": one regression test per item seen by a careful new user.

Each test failed on the code before the fix (a silent wrong result or a raw error from
another library) and passes after it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tagrank.baselines.bm25 import BM25Scorer
from tagrank.baselines.jaccard import JaccardScorer
from tagrank.baselines.popularity import PopularityScorer
from tagrank.baselines.tag_signals import UserHistoryScorer
from tagrank.baselines.tfidf import TfidfScorer
from tagrank.baselines.timeparse import TimeSpanWarning, to_seconds
from tagrank.baselines.validation import (
    BlankTextError,
    LabelError,
    TagrankInputError,
    TimestampError,
    check_texts,
    has_content,
)
from tagrank.baselines.vectors import top_k
from tagrank.baselines.word2vec import Word2VecScorer
from tagrank.eval.splits import temporal_user_split as eval_temporal_split
from tagrank.hybrid.labels import GradeRule
from tagrank.hybrid.pipelines import temporal_user_split

CATALOGUE = ["red running shoe", "blue running shoe", "red wool hat", "\u7ea2\u8272\u624b\u673a\u58f3 phone case"]
BLANK_QUERIES = ["!!! ??? ...", "\u200b\u200b", "\x00\x01\x7f", " \u0301 ", "", "   "]


# ----------------------------------------------------------------------------- blank queries

def test_blank_rule_is_stated_once():
    assert not any(has_content(q) for q in BLANK_QUERIES)
    # Chinese only, emoji only, a number, a symbol: content, so valid queries
    assert all(has_content(q) for q in ["\u624b\u673a", "\U0001F600", "2.5", "\u00a9", "\uff21"])


@pytest.mark.parametrize("make", [
    BM25Scorer, TfidfScorer, JaccardScorer,
    lambda: Word2VecScorer(vector_size=8, epochs=1, min_count=1, random_state=0),
], ids=["bm25", "tfidf", "jaccard", "word2vec"])
@pytest.mark.parametrize("query", BLANK_QUERIES[:4], ids=["punctuation", "zero-width", "control", "mark"])
def test_blank_query_is_an_error_in_every_classical_scorer(make, query):
    scorer = make().fit(CATALOGUE)
    with pytest.raises(BlankTextError, match=r"queries\[1\] is blank: it has no letter, number or symbol"):
        scorer.top_k(["red shoe", query], k=2)
    with pytest.raises(BlankTextError, match=r"left\[0\] is blank"):
        scorer.score_pairs([query], ["red shoe"])
    ids, scores = scorer.top_k(["\u624b\u673a", "\U0001F600"], k=2)  # Chinese-only / emoji-only: valid
    assert ids.shape == (2, 2) and np.isfinite(scores).all()


def test_blank_text_names_the_row_label_of_a_series():
    with pytest.raises(BlankTextError, match=r"queries\['b'\] is blank.*'!!!'"):
        check_texts(pd.Series(["ok", "!!!"], index=["a", "b"]), "queries")


def test_texts_seen_valid_before_do_not_hide_a_bad_text():
    # the serving fast path remembers valid texts; what it has not seen is still checked
    assert check_texts(["red drill", "red drill", "saw"], "texts") == ["red drill", "red drill", "saw"]
    with pytest.raises(BlankTextError, match=r"texts\[2\] is blank"):
        check_texts(["red drill", "saw", "!!!"], "texts")
    assert check_texts(["!!!", "saw"], "texts", allow_empty=True) == ["!!!", "saw"]
    with pytest.raises(BlankTextError, match=r"texts\[0\] is blank"):  # allowed once is not valid later
        check_texts(["!!!", "saw"], "texts")
    with pytest.raises(TagrankInputError, match=r"texts\[1\] is missing"):
        check_texts(["saw", None], "texts")
    with pytest.raises(TagrankInputError, match="lone surrogate"):
        check_texts(["saw", "a\ud800"], "texts", allow_empty=True)


def test_blank_query_in_the_transformer_scorer():
    from tagrank.hybrid.transformer_scorer import TransformerScorer

    scorer = TransformerScorer(device="cpu", batch_size=8, show_progress=False).fit(CATALOGUE)
    with pytest.raises(BlankTextError, match=r"is blank"):
        scorer.top_k(["\u200b\u200b"], k=2)  # was: a match with score 0.15
    ids, scores = scorer.top_k(["\u624b\u673a\u58f3"], k=1)
    assert ids[0, 0] == 3 and np.isfinite(scores).all()


# ----------------------------------------------------------------------------- sparse exclude mask

def test_top_k_exclude_uses_stored_values_not_the_pattern():
    q = np.eye(3, dtype=np.float32)
    items = np.eye(3, dtype=np.float32)
    mask = sp.csr_matrix((np.array([0.0, 1.0]), (np.array([0, 1]), np.array([0, 1]))), shape=(3, 3))
    assert mask.nnz == 2  # an explicitly stored 0.0 for (0, 0)
    idx, scores = top_k(q, items, k=1, exclude=mask, device="cpu")
    assert idx[0, 0] == 0 and scores[0, 0] == pytest.approx(1.0)  # the stored 0 excludes nothing
    assert idx[1, 0] != 1  # the stored 1 excludes
    assert mask.nnz == 2 and mask.data.tolist() == [0.0, 1.0]  # the caller's mask is untouched


# ----------------------------------------------------------------------------- timestamps

def _log(n_users: int = 6, per_user: int = 12, seed: int = 0) -> pd.DataFrame:
    """Timestamps 1..n whose text order differs from their numeric order ("9" > "10")."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for u in range(n_users):
        for j in rng.choice(20, size=per_user, replace=False):
            t += 1
            rows.append((f"u{u}", f"i{j}", t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).sample(frac=1.0, random_state=1)


@pytest.mark.parametrize("kind", ["str", "mixed", "iso", "datetime", "ms"])
def test_string_and_mixed_timestamps_split_like_numbers(kind):
    log = _log()
    other = log.copy()
    t = log["timestamp"]
    if kind == "str":
        other["timestamp"] = t.astype(str)
    elif kind == "mixed":
        other["timestamp"] = [v if i % 2 else str(v) for i, v in enumerate(t)]
    elif kind == "iso":
        other["timestamp"] = pd.to_datetime(t, unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    elif kind == "datetime":
        other["timestamp"] = pd.to_datetime(t, unit="s", utc=True)
    else:
        other["timestamp"] = (t + 1_700_000_000) * 1000
        log = log.assign(timestamp=t + 1_700_000_000)
    a_early, a_late = temporal_user_split(log, 0.25, 5)
    b_early, b_late = temporal_user_split(other, 0.25, 5)
    assert a_late[["user_id", "item_id"]].equals(b_late[["user_id", "item_id"]])
    assert eval_temporal_split(log, 0.25, 5).equals(eval_temporal_split(other, 0.25, 5))


def test_string_timestamps_give_the_numeric_recommendations():
    from tagrank.hybrid.pipelines import RecommendPipeline
    from tests.hybrid.test_pipelines import FAST, GroupScorer, synthetic_interactions

    log = synthetic_interactions()
    mixed = log.assign(timestamp=[v if i % 3 else str(v) for i, v in enumerate(log["timestamp"])])
    users = ["u0", "u1", "u5", "u9"]
    out = []
    import inspect

    # the temporal inner split reads the timestamps (the default may be a random one)
    extra = {"inner_split": "temporal"} if "inner_split" in inspect.signature(RecommendPipeline).parameters else {}
    for frame in (log, mixed):
        gens = {"pop": PopularityScorer(half_life_days=1e-4), "group": GroupScorer()}
        pipe = RecommendPipeline(gens, ranker_params=FAST, candidates_per_generator=10, **extra).fit(frame)
        out.append(pipe.recommend(users, k=5))
    assert out[0][0].tolist() == out[1][0].tolist()
    np.testing.assert_allclose(out[0][1], out[1][1])


def test_missing_timestamp_names_the_row_label():
    log = pd.DataFrame({"user_id": ["a"] * 6, "item_id": list("pqrstu"),
                        "timestamp": [1, 2, 3, 4, None, 6]}, index=[10, 11, 12, 13, 14, 15])
    with pytest.raises(TimestampError, match=r"interactions.timestamp\[14\] is missing"):
        temporal_user_split(log)
    with pytest.raises(TimestampError, match=r"interactions.timestamp\[14\] is missing"):
        PopularityScorer(half_life_days=1).fit(log)
    nat = log.assign(timestamp=pd.to_datetime([1, 2, 3, 4, None, 6], unit="D"))
    with pytest.raises(TimestampError, match=r"positives.timestamp\[14\] is missing \(got NaT\)"):
        eval_temporal_split(nat)
    with pytest.raises(TimestampError, match=r"\[12\] is not a number or an ISO-8601 time \(got 'soon'\)"):
        temporal_user_split(log.assign(timestamp=["1", "2", "soon", "4", "5", "6"]))


def test_millisecond_timestamps_decay_like_seconds():
    seconds = pd.DataFrame({"user_id": ["a", "b", "c", "a"], "item_id": ["x", "y", "x", "z"],
                            "timestamp": [1_700_000_000, 1_700_086_400, 1_700_172_800, 1_700_259_200]})
    millis = seconds.assign(timestamp=seconds["timestamp"] * 1000)
    a = PopularityScorer(half_life_days=1.0).fit(seconds)
    b = PopularityScorer(half_life_days=1.0).fit(millis)
    np.testing.assert_allclose(a.score_user_items(["a", "a"], ["x", "y"]), b.score_user_items(["a", "a"], ["x", "y"]))
    events = seconds.assign(tag=["t1", "t2", "t1", "t3"])
    ua = UserHistoryScorer(half_life_days=1.0).fit(events)
    ub = UserHistoryScorer(half_life_days=1.0).fit(events.assign(timestamp=millis["timestamp"]))
    np.testing.assert_allclose(ua.score_tags(["a"] * 2, ["x"] * 2, ["t1", "t3"]),
                               ub.score_tags(["a"] * 2, ["x"] * 2, ["t1", "t3"]))
    np.testing.assert_allclose(to_seconds(millis["timestamp"]), seconds["timestamp"].to_numpy(float))
    np.testing.assert_allclose(to_seconds(millis["timestamp"] * 1000, time_unit="us"),
                               seconds["timestamp"].to_numpy(float))


def test_mixed_units_warn():
    with pytest.warns(TimeSpanWarning, match="units mixed"):
        to_seconds([1_700_000_000, 1_700_000_000_000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_seconds([1, 2, 3])  # small relative times are fine
        to_seconds([1_700_000_000_000, 1_700_000_100_000])


# ----------------------------------------------------------------------------- ranking labels

def test_labels_off_a_declared_scale_or_negative_are_errors():
    with pytest.raises(LabelError, match=r"labels\[2\] = 7 is outside the grading scale 1..3"):
        GradeRule(per_unit=3, min_label=1, max_label=3).fitted([1.0, 2.0, 7.0])
    with pytest.raises(LabelError, match=r"labels\[1\] = -2 is negative"):
        GradeRule(per_unit=3).fitted([1.0, -2.0, 3.0])
    with pytest.raises(LabelError, match=r"labels\[0\] = 2 is outside the grading scale 0..1"):
        GradeRule.coerce("binary").fitted([2, 1, 0])
    rule = GradeRule(per_unit=3).fitted([1.0, 3.0])  # inferred scale 1..3
    with pytest.raises(LabelError, match=r"outside the grading scale 1..3"):
        rule.grades([7.0])


def test_ranker_names_the_row_label_of_a_bad_label():
    from tagrank.hybrid.ranker import HybridRanker

    frame = pd.DataFrame({"query": ["a", "a", "b", "b"], "item_id": [1, 2, 1, 2],
                          "label": [1.0, 3.0, -2.0, 2.0], "f": [0.1, 0.9, 0.2, 0.5]}, index=[7, 8, 9, 10])
    with pytest.raises(LabelError, match=r"frame.label\[9\] = -2 is negative"):
        HybridRanker(n_estimators=5).fit(frame)
    with pytest.raises(LabelError, match=r"frame.label\[10\] = 7 is outside the grading scale 1..3"):
        HybridRanker(n_estimators=5, grade_rule={"per_unit": 3, "min_label": 1, "max_label": 3}).fit(
            frame.assign(label=[1.0, 3.0, 2.0, 7.0]))
    assert issubclass(LabelError, TagrankInputError)


# ----------------------------------------------------------------------------- saved models

def _fitted_ranker():
    from tagrank.hybrid.ranker import HybridRanker

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"query": np.repeat(np.arange(20), 5), "item_id": np.tile(np.arange(5), 20),
                          "f": rng.random(100)})
    frame["label"] = (frame["f"] > 0.5).astype(float)
    return HybridRanker(n_estimators=5, min_child_samples=2).fit(frame)


def test_garbage_config_json_names_the_file(tmp_path):
    from tagrank.baselines.validation import SavedModelError

    bm25 = BM25Scorer().fit(CATALOGUE).save(tmp_path / "bm25")
    pop = PopularityScorer().fit(_log()).save(tmp_path / "pop")
    ranker = _fitted_ranker().save(tmp_path / "ranker")
    for path, cls in [(bm25, BM25Scorer), (pop, PopularityScorer)]:
        (path / "config.json").write_text("{not json", encoding="utf-8")
        with pytest.raises(SavedModelError, match=r"config.json of the saved .* is not valid JSON"):
            cls.load(path)
    from tagrank.hybrid.ranker import HybridRanker

    (ranker / "config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SavedModelError, match=r"config.json of the saved HybridRanker .* must hold a JSON object"):
        HybridRanker.load(ranker)


def test_tampered_parameter_is_checked_like_a_constructor_argument(tmp_path):
    import json

    from tagrank.baselines.validation import SavedModelError

    path = BM25Scorer().fit(CATALOGUE).save(tmp_path / "bm25")
    config = json.loads((path / "config.json").read_text())
    config["params"]["k1"] = "evil"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedModelError, match=r"bad config.json parameter: k1 must be a finite number, got 'evil'"):
        BM25Scorer.load(path)
    with pytest.raises(TagrankInputError, match="k1 must be a finite number"):  # the constructor rule, once
        BM25Scorer(k1="evil").fit(CATALOGUE)
    pop = PopularityScorer(half_life_days=2.0).fit(_log()).save(tmp_path / "pop")
    config = json.loads((pop / "config.json").read_text())
    config["params"]["half_life_days"] = -1
    (pop / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedModelError, match=r"half_life_days must be None or a positive number"):
        PopularityScorer.load(pop)
    config["params"]["surprise"] = 1
    (pop / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedModelError, match=r"saved PopularityScorer .* damaged or was edited by hand"):
        PopularityScorer.load(pop)


def test_corrupt_lightgbm_model_names_model_txt(tmp_path):
    from tagrank.baselines.validation import SavedModelError
    from tagrank.hybrid.ranker import HybridRanker

    path = _fitted_ranker().save(tmp_path / "ranker")
    (path / "model.txt").write_text("tree\nnot a model at all\n", encoding="utf-8")
    with pytest.raises(SavedModelError, match=r"model.txt of the saved model at .* does not match the model_sha256"):
        HybridRanker.load(path)


def test_object_array_in_arrays_npz_is_refused_by_name(tmp_path):
    from tagrank.baselines.validation import SavedModelError

    path = BM25Scorer().fit(CATALOGUE).save(tmp_path / "bm25")
    with np.load(path / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["idf"] = np.array([{"x": 1}, None], dtype=object)
    np.savez(path / "arrays.npz", **arrays)
    with pytest.raises(SavedModelError, match=r"arrays.npz of the saved BM25Scorer .* array 'idf' cannot be loaded "
                                              r"without pickle"):
        BM25Scorer.load(path)
    (path / "arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SavedModelError, match=r"arrays.npz of the saved BM25Scorer .* is damaged"):
        BM25Scorer.load(path)


def test_a_missing_saved_model_says_no_such_directory(tmp_path):
    from tagrank.baselines.validation import SavedModelError
    from tagrank.hybrid.ranker import HybridRanker

    for cls in (BM25Scorer, TfidfScorer, PopularityScorer, HybridRanker, Word2VecScorer):
        with pytest.raises(SavedModelError, match=r"nowhere: no such directory"):
            cls.load(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SavedModelError, match=r"file.txt is a file, not a saved BM25Scorer directory"):
        BM25Scorer.load(tmp_path / "file.txt")


# ----------------------------------------------------------------------------- transformer model paths

def test_a_missing_local_model_path_says_no_such_model_directory(tmp_path):
    from tagrank.baselines.validation import ModelPathError
    from tagrank.hybrid.encoder import TransformerEncoder

    for path in [tmp_path / "no-model", "./models/mine", "~/nothing/here/model"]:
        with pytest.raises(ModelPathError, match="no such model directory"):
            TransformerEncoder(model=path, device="cpu").encode(["red shoe"])
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x00")
    with pytest.raises(ModelPathError, match="is a file, not a model directory"):
        TransformerEncoder(model=weights, device="cpu").encode(["red shoe"])


def test_a_hub_id_offline_fails_at_once_saying_how(monkeypatch):
    import time

    from tagrank.baselines.validation import ModelPathError
    from tagrank.hybrid import model_path
    from tagrank.hybrid.encoder import TransformerEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelPathError, match=r"not in the Hugging Face cache, and HF_HUB_OFFLINE=1 is set.*"
                                             r"export HF_HUB_OFFLINE=1"):
        TransformerEncoder(model="tagrank-test/not-a-model", device="cpu").encode(["x"])
    # the hub unreachable and no env setting: the one probe says so, then the cache only (no 45 s of retries)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(model_path, "_REACHABLE", {model_path.HUB_HOST: False})
    with pytest.raises(ModelPathError, match=r"the hub \(huggingface.co\) cannot be reached.*HF_HUB_OFFLINE=1"):
        TransformerEncoder(model="tagrank-test/not-a-model", device="cpu").encode(["x"])
    assert time.monotonic() - start < 30  # behaviour: no retry loop (the hub's own backoff takes ~45 s)


# ----------------------------------------------------------------------------- embedding cache_dir

@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_an_unusable_cache_dir_warns_and_runs_without_the_cache(tmp_path, kind):
    from tagrank.hybrid.embedding_cache import CacheWarning
    from tagrank.hybrid.encoder import TransformerEncoder

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    cache_dir = blocker if kind == "file" else blocker / "sub" / "cache"
    plain = TransformerEncoder(device="cpu", show_progress=False).encode(["red shoe", "blue hat"])
    with pytest.warns(CacheWarning, match="running without the cache"):
        out = TransformerEncoder(device="cpu", show_progress=False, cache_dir=cache_dir).encode(["red shoe", "blue hat"])
    np.testing.assert_allclose(out, plain, atol=1e-6)
    assert blocker.read_text() == "a file"


# ----------------------------------------------------------------------------- k beyond the catalogue

def test_recommend_with_a_huge_k_is_capped_at_the_catalogue():
    from tagrank.hybrid.pipelines import RecommendPipeline
    from tests.hybrid.test_pipelines import FAST, GroupScorer, synthetic_interactions

    log = synthetic_interactions()
    n_items = log["item_id"].nunique()
    pipe = RecommendPipeline({"pop": PopularityScorer(), "group": GroupScorer()}, ranker_params=FAST,
                             candidates_per_generator=10).fit(log)
    ids, scores = pipe.recommend(["u0", "u1"], k=10**6)
    assert ids.shape == scores.shape == (2, n_items)  # was (2, 1_000_000) padded with None / -inf
    ids, _ = pipe.similar_items(["i0"], k=10**6)
    assert ids.shape[1] <= n_items
    ids, scores = PopularityScorer().fit(log).recommend(["u0"], k=10**6)
    assert ids.shape == (1, n_items)


def _search_pipeline():
    from tagrank.hybrid.pipelines import SearchPipeline
    from tests.hybrid.test_pipelines import FAST

    ids = [f"p{i}" for i in range(12)]
    texts = [f"{c} {t} item" for c, t in zip(["red", "blue", "green"] * 4, ["shoe", "hat", "bag", "sock"] * 3, strict=True)]
    judged = pd.DataFrame({"query": ["red shoe", "red shoe", "blue hat", "blue hat", "green bag", "green bag"] * 2,
                           "item_id": ["p0", "p1", "p1", "p2", "p2", "p3", "p4", "p5", "p5", "p6", "p6", "p7"],
                           "label": [3, 1, 3, 1, 3, 1] * 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SearchPipeline({"bm25": BM25Scorer(), "tfidf": TfidfScorer()}, ranker_params=FAST,
                              candidates_per_scorer=12).fit(ids, texts, judged), ids


def test_search_top_k_with_a_huge_k_is_capped_at_the_catalogue():
    pipe, ids = _search_pipeline()
    out, scores = pipe.top_k(["red shoe"], k=10**6)
    assert out.shape == scores.shape == (1, len(ids))


def test_blank_query_in_search_and_rerank():
    pipe, _ = _search_pipeline()
    for query in ["!!! ??? ...", "\u200b\u200b"]:  # was: a full ranked list with non-zero scores
        with pytest.raises(BlankTextError, match=r"query_texts\[1\] is blank"):
            pipe.search(["red shoe", query], k=3)
        with pytest.raises(BlankTextError, match=r"query_texts\[0\] is blank"):
            pipe.rerank([query], ["p0"])
    assert len(pipe.search(["\u7ea2 shoe"], k=3)) > 0


# ----------------------------------------------------------------------------- found by the property suite

def test_label_metrics_refuse_mixed_string_and_number_labels():
    """Found by tests/properties: sklearn raised a raw ValueError ("Mix of label input types")."""
    from tagrank.eval import metrics

    for fn in (metrics.accuracy, metrics.macro_f1, metrics.micro_f1, metrics.ari, metrics.nmi):
        with pytest.raises(TagrankInputError, match="mix string and number labels"):
            fn(["a"], [1])
    assert metrics.accuracy(["a", "b"], ["a", "c"]) == 0.5


def test_a_lone_surrogate_is_a_clear_error():
    """Found by tests/properties: pandas' string storage raised UnicodeEncodeError from deep inside."""
    with pytest.raises(TagrankInputError, match=r"texts\[1\] is not valid Unicode: it holds a lone surrogate"):
        check_texts(["ok", "shoe \ud800"])
    with pytest.raises(TagrankInputError, match="lone surrogate"):
        BM25Scorer().fit(["red shoe", "\ud800 hat"])


def test_tag_recommender_with_a_huge_k_is_capped_at_the_tag_vocabulary():
    from tagrank.hybrid.tag_recommender import TagRecommender
    from tests.hybrid.test_taxonomy import tag_events

    ev, items = tag_events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = TagRecommender(text_scorers="tfidf", n_candidates=10,
                             ranker_params={"min_child_samples": 2, "n_estimators": 20}).fit(ev, items)
    tags, scores = rec.recommend(["u0"], ["m0"], k=10**6)  # was (1, 1_000_000), padded with None / -inf
    assert tags.shape == scores.shape == (1, ev["tag"].nunique())


def test_search_judgments_errors_name_the_row_label():
    from tagrank.hybrid.pipelines import SearchPipeline

    ids = ["p0", "p1", "p2"]
    judged = pd.DataFrame({"query": ["red shoe", "!!!", "red shoe"], "item_id": ids, "label": [3, 1, 2]},
                          index=[20, 21, 22])
    with pytest.raises(BlankTextError, match=r"judgments.query\[21\] is blank"):
        SearchPipeline({"bm25": BM25Scorer()}).fit(ids, ["red shoe", "blue hat", "green bag"], judged)
    judged = judged.assign(query="red shoe", label=[3, "high", 2])
    with pytest.raises(TagrankInputError, match=r"judgments.label\[21\] is not a number \(got 'high'\)"):
        SearchPipeline({"bm25": BM25Scorer()}).fit(ids, ["red shoe", "blue hat", "green bag"], judged)
