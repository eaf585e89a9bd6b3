"""EmbeddingCache: round trip, keys, corruption detection; the encoder's use of it."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from tagrank.hybrid.embedding_cache import INDEX_NAME, CacheWarning, EmbeddingCache, text_hashes
from tagrank.hybrid.encoder import TransformerEncoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


KEY = {"model": {"name_or_path": "m", "fingerprint": "f"}, "pooling": "mean", "normalize": True, "max_length": 8, "dtype": "float32"}


def filled(tmp_path, n=5, dim=4):
    cache = EmbeddingCache(tmp_path, KEY, dim=dim)
    vecs = np.arange(n * dim, dtype=np.float32).reshape(n, dim)
    hashes = text_hashes([f"t{i}" for i in range(n)])
    cache.put(hashes, vecs)
    return cache, hashes, vecs


def shard_of(cache):
    (shard,) = cache.directory.glob("shard-*.npy")
    return shard


def test_round_trip_and_misses(tmp_path):
    cache, hashes, vecs = filled(tmp_path)
    found, got = cache.get([hashes[3], "nope", hashes[0]])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(got, vecs[[3, 0]])
    assert len(cache) == 5
    assert EmbeddingCache(tmp_path / "empty", KEY, 4).get(hashes)[0].sum() == 0


def test_keys_are_isolated(tmp_path):
    cache, hashes, _ = filled(tmp_path)
    other = EmbeddingCache(tmp_path, {**KEY, "pooling": "cls"}, dim=4)
    assert other.directory != cache.directory
    assert not other.get(hashes)[0].any()


def test_text_hashes_are_sha1_of_utf8():
    import hashlib

    assert text_hashes(["运动鞋"]) == [hashlib.sha1("运动鞋".encode()).hexdigest()]


def test_index_is_json_and_shards_are_plain_npy(tmp_path):
    cache, _, vecs = filled(tmp_path)
    index = json.loads((cache.directory / INDEX_NAME).read_text())
    assert index["key"] == KEY and index["dim"] == 4 and index["dtype"] == "float32"
    np.testing.assert_array_equal(np.load(shard_of(cache), allow_pickle=False), vecs)


def test_superseded_shards_are_removed(tmp_path):
    cache, hashes, vecs = filled(tmp_path)
    cache.put(hashes, vecs + 1)
    assert len(list(cache.directory.glob("shard-*.npy"))) == 1
    np.testing.assert_array_equal(cache.get(hashes)[1], vecs + 1)


def truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


def wrong_dim(path):
    np.save(path, np.zeros((5, 3), dtype=np.float32))


def wrong_dtype(path):
    np.save(path, np.zeros((5, 4), dtype=np.float64))


def resealed(fn):
    """Damage the shard but update size and checksum, so the npy checks must catch it."""

    def damage(path):
        import hashlib

        fn(path)
        index_path = path.parent / INDEX_NAME
        index = json.loads(index_path.read_text())
        data = path.read_bytes()
        index["shards"][path.name].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        index_path.write_text(json.dumps(index))

    return damage


@pytest.mark.parametrize(
    "damage",
    [truncate, flip_byte, wrong_dim, wrong_dtype, resealed(wrong_dim), resealed(wrong_dtype), lambda p: p.unlink()],
    ids=["truncated", "checksum", "dim", "dtype", "dim-resealed", "dtype-resealed", "missing"],
)
def test_damaged_shard_is_a_miss_with_a_warning(tmp_path, damage):
    cache, hashes, vecs = filled(tmp_path)
    damage(shard_of(cache))
    with pytest.warns(CacheWarning, match="damaged"):
        found, got = cache.get(hashes)
    assert not found.any() and got.shape == (0, 4)
    assert len(cache) == 0  # dropped from the index
    cache.put(hashes, vecs)  # rebuilt
    found, got = cache.get(hashes)
    assert found.all()
    np.testing.assert_array_equal(got, vecs)


def test_corrupt_index_is_rebuilt(tmp_path):
    cache, hashes, vecs = filled(tmp_path)
    (cache.directory / INDEX_NAME).write_text("{not json")
    with pytest.warns(CacheWarning, match="index"):
        assert not cache.get(hashes)[0].any()
    with pytest.warns(CacheWarning):
        cache.put(hashes, vecs)
    assert cache.get(hashes)[0].all()


def test_put_checks_shape(tmp_path):
    cache = EmbeddingCache(tmp_path, KEY, dim=4)
    with pytest.raises(ValueError, match="shape"):
        cache.put(["a"], np.zeros((1, 3)))


# ---------------------------------------------------------------------- with the encoder

TEXTS = ["garden hose", "cordless drill", "garden hose", "oak table"]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return TransformerEncoder(device="cpu", show_progress=False).encode(TEXTS)


def no_forward(*args, **kwargs):
    raise AssertionError("the model ran although every text was cached")


def test_cache_hit_skips_the_model(tmp_path, monkeypatch, reference):
    enc = TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path)
    first = enc.encode(TEXTS)
    np.testing.assert_array_equal(first, reference)
    monkeypatch.setattr(TransformerEncoder, "_forward", no_forward)
    again = TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path).encode(TEXTS[::-1])
    np.testing.assert_array_equal(again, first[::-1])


def test_cache_key_separates_recipes(tmp_path, reference):
    TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path).encode(TEXTS)
    cls = TransformerEncoder(pooling="cls", normalize=False, device="cpu", show_progress=False, cache_dir=tmp_path)
    out = cls.encode(TEXTS)
    assert not np.allclose(out, reference)
    assert len(list(tmp_path.iterdir())) == 2


def test_whitening_is_applied_after_the_cache(tmp_path, reference):
    corpus = [f"{c} {n}" for c in ("red", "blue", "green", "black") for n in ("chair", "lamp", "hose")]
    enc = TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path, whiten=True, whiten_dim=3)
    out = enc.fit_transform(corpus)
    plain = TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path)
    np.testing.assert_allclose((plain.encode(corpus) - enc.whitening_[0]) @ enc.whitening_[1], out, atol=1e-5)


def test_corrupt_cache_file_is_rebuilt(tmp_path, reference):
    enc = TransformerEncoder(device="cpu", show_progress=False, cache_dir=tmp_path)
    enc.encode(TEXTS)
    (shard,) = tmp_path.glob("*/shard-*.npy")
    flip_byte(shard)
    with pytest.warns(CacheWarning, match="damaged"):
        out = enc.encode(TEXTS)
    np.testing.assert_array_equal(out, reference)
    (shard2,) = tmp_path.glob("*/shard-*.npy")
    assert shard2 != shard
    cache = EmbeddingCache(tmp_path, enc.cache_key(), dim=384)
    assert cache.get(text_hashes(TEXTS))[0].all()


def test_cache_key_separates_the_kernels_that_computed_the_vectors(monkeypatch):
    # AVX2 and AVX-512 code differ in the last bits: a pinned run must not read what a native run wrote
    import torch

    enc = TransformerEncoder(device="cpu", show_progress=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    avx2 = enc.cache_key()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert enc.cache_key() != avx2 and enc.cache_key()["kernels"] == "AVX512"
