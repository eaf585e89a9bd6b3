"""Word2VecScorer: SIF weights by hand, PC removal, OOV accounting, determinism, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.baselines.word2vec import Word2VecScorer, first_principal_component

CORPUS = [
    "red cotton shirt for men",
    "blue cotton shirt for women",
    "red leather shoes for men",
    "black leather shoes for women",
    "blue denim jeans for men",
    "black denim jeans slim fit",
]


def small_w2v(**kw):
    params = dict(vector_size=12, window=3, min_count=1, epochs=5, random_state=0, device="cpu")
    params.update(kw)
    return Word2VecScorer(**params)


@pytest.fixture(scope="module")
def fitted():
    return small_w2v().fit(CORPUS, ids=[f"p{i}" for i in range(len(CORPUS))])


def test_sif_weights_and_vectors_by_hand():
    s = small_w2v(remove_pc=False, sif_a=0.1).fit(["Apple banana apple", "banana cherry"])
    # counts: apple 2, banana 2, cherry 1 of 5 tokens -> p = 0.4, 0.4, 0.2
    w = dict(zip(s.vocab_.tolist(), s.word_weights_, strict=True))
    assert w["apple"] == pytest.approx(0.1 / 0.5)
    assert w["banana"] == pytest.approx(0.1 / 0.5)
    assert w["cherry"] == pytest.approx(0.1 / 0.3)
    v = {word: s.word_vectors_[i].astype(np.float64) for i, word in enumerate(s.vocab_.tolist())}
    expected0 = (2 * 0.2 * v["apple"] + 0.2 * v["banana"]) / 3
    expected1 = (0.2 * v["banana"] + (1 / 3) * v["cherry"]) / 2
    np.testing.assert_allclose(s.corpus_vectors_, np.stack([expected0, expected1]), rtol=1e-5, atol=1e-7)
    # unknown words are skipped: the mean runs over known tokens only
    np.testing.assert_allclose(s.transform(["cherry durian"])[0], 1 / 3 * v["cherry"], rtol=1e-5, atol=1e-7)
    assert s.pc_ is None


def test_principal_component_removal():
    plain = small_w2v(remove_pc=False).fit(CORPUS)
    s = small_w2v(remove_pc=True).fit(CORPUS)
    raw = plain.corpus_vectors_.astype(np.float64)
    u = np.linalg.svd(raw, full_matrices=False)[2][0]
    assert abs(abs(float(u @ s.pc_)) - 1) < 1e-5  # same direction as the first singular vector
    np.testing.assert_allclose(s.corpus_vectors_, raw - np.outer(raw @ s.pc_, s.pc_), atol=1e-6)
    np.testing.assert_allclose(s.corpus_vectors_ @ s.pc_, 0, atol=1e-6)
    assert first_principal_component(np.zeros((0, 3))) is None


def test_oov_accounting():
    corpus = ["apple banana apple", "banana kiwi", "durian"]
    s = small_w2v(min_count=2).fit(corpus)
    assert set(s.vocab_.tolist()) == {"apple", "banana"}
    assert s.oov_rate_ == pytest.approx(1 / 3)  # "durian" has no known word
    assert s.token_oov_rate_ == pytest.approx(2 / 6)  # kiwi, durian
    left, right = ["apple", "durian", "kiwi banana", "mango"], ["banana", "apple", "apple", "kiwi"]
    np.testing.assert_array_equal(s.oov_pairs(left, right), [False, True, False, True])
    np.testing.assert_array_equal(s.oov_mask(["durian kiwi", "Apple!"]), [True, False])
    scores = s.score_pairs(left, right)
    assert scores[1] == 0.0 and scores[3] == 0.0
    assert not s.transform(["durian"]).any()
    with pytest.raises(TagrankInputError, match="mismatched"):
        s.oov_pairs(["apple"], [])


def test_two_fits_identical(fitted):
    again = small_w2v().fit(CORPUS, ids=[f"p{i}" for i in range(len(CORPUS))])
    np.testing.assert_array_equal(fitted.word_vectors_, again.word_vectors_)
    np.testing.assert_array_equal(fitted.corpus_vectors_, again.corpus_vectors_)
    other = small_w2v(random_state=1).fit(CORPUS)
    assert not np.array_equal(fitted.word_vectors_, other.word_vectors_)


def test_scores_and_top_k(fitted):
    s = fitted.score_pairs(CORPUS[:2], CORPUS[:2])
    np.testing.assert_allclose(s, 1.0, atol=1e-5)
    assert fitted.score_pairs([], []).shape == (0,)
    ids, scores = fitted.top_k(CORPUS[:3], k=100)
    assert ids.shape == (3, len(CORPUS)) and scores.shape == (3, len(CORPUS))
    assert list(ids[:, 0]) == ["p0", "p1", "p2"]
    assert np.all(np.diff(scores, axis=1) <= 1e-12)
    vecs = fitted.transform(["red shirt", "zzz"])
    assert vecs.shape == (2, 12) and vecs.dtype == np.float32 and not vecs[1].any()
    feats = fitted.features(["red shirt"], ["blue shirt"])
    assert list(feats.columns) == ["word2vec"]


def test_extra_texts_train_but_are_not_retrieved():
    extra = ["zebra stripes pattern", "zebra stripes print"]
    s = small_w2v().fit(CORPUS[:2], extra_texts=extra)
    assert "zebra" in set(s.vocab_.tolist())
    assert s.corpus_vectors_.shape[0] == 2 and len(s.ids_) == 2
    ids, _ = s.top_k(["zebra stripes"], k=5)
    assert set(ids[0]) == {0, 1}
    assert not hasattr(s, "_pending_extra")
    with pytest.raises(TagrankInputError, match="extra_texts"):
        small_w2v().fit(CORPUS, extra_texts=["ok", None])


def test_chinese_is_segmented():
    corpus = ["苹果手机壳", "苹果手机充电器", "华为手机壳", "华为手机充电器"]
    s = small_w2v(language="auto").fit(corpus)
    vocab = set(s.vocab_.tolist())
    assert "手机" in vocab and "苹果手机壳" not in vocab
    assert s.oov_rate_ == 0.0


def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "w2v")
    loaded = Word2VecScorer.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert list(loaded.ids_) == list(fitted.ids_)
    np.testing.assert_array_equal(loaded.transform(CORPUS), fitted.transform(CORPUS))
    for a, b in zip(fitted.top_k(["red shoes"], k=3), loaded.top_k(["red shoes"], k=3), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.score_pairs(["red shoes", "xyz"], ["black shoes", "men"]),
        fitted.score_pairs(["red shoes", "xyz"], ["black shoes", "men"]),
    )
    assert loaded.oov_rate_ == fitted.oov_rate_
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)
    cfg = json.loads((path / "config.json").read_text())
    cfg["format_version"] = 0
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(TagrankInputError, match="format_version"):
        Word2VecScorer.load(path)


def test_save_load_without_pc(tmp_path):
    s = small_w2v(remove_pc=False).fit(CORPUS)
    loaded = Word2VecScorer.load(s.save(tmp_path / "m"))
    assert loaded.pc_ is None
    np.testing.assert_array_equal(loaded.transform(CORPUS), s.transform(CORPUS))


def test_errors():
    s = small_w2v()
    with pytest.raises(NotFittedError):
        s.transform(["a"])
    with pytest.raises(NotFittedError):
        s.score_pairs(["a"], ["b"])
    with pytest.raises(NotFittedError):
        s.oov_mask(["a"])
    with pytest.raises(TagrankInputError, match="empty"):
        s.fit([])
    with pytest.raises(TagrankInputError, match="missing"):
        s.fit(["a b", float("nan")])
    with pytest.raises(TagrankInputError, match="min_count"):
        small_w2v(min_count=50).fit(CORPUS)
    with pytest.raises(TagrankInputError, match="sif_a"):
        small_w2v(sif_a=0).fit(CORPUS)
    with pytest.raises(TagrankInputError, match="language"):
        small_w2v(language="fr").fit(CORPUS)
    fitted = small_w2v().fit(CORPUS)
    with pytest.raises(TagrankInputError, match="mismatched"):
        fitted.score_pairs(["a"], ["b", "c"])
    with pytest.raises(TagrankInputError, match="empty"):
        fitted.transform(["  "])
