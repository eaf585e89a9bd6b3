"""TransformerEncoder: pooling, normalisation, batching, parity with sentence-transformers,
whitening, persistence, input validation. The offline all-MiniLM-L6-v2 is loaded once."""

from __future__ import annotations

import json
import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from tagrank.baselines import cpu as cpu_module
from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.hybrid import encoder as encoder_module
from tagrank.hybrid.encoder import (
    GPU_COSINE_TOLERANCE,
    TransformerEncoder,
    default_model_path,
    fit_whitening,
    model_fingerprint,
)

TEXTS = [
    "cordless drill with two batteries",
    "garden hose 50 ft",
    "LED ceiling light, warm white",
    "running shoes",
    "stainless steel kitchen sink double bowl undermount",
    "paint",
]

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder() -> TransformerEncoder:
    enc = TransformerEncoder(show_progress=False, device="cpu", batch_size=4, dtype="float32")
    enc.encode(["warm up"])  # loads the model once for the module (shared by every encoder)
    return enc


@pytest.fixture(scope="module")
def hf_model(encoder):
    tokenizer, model, _ = encoder._model(torch.device("cpu"))
    return tokenizer, model


def manual_pool(hf_model, texts, pooling="mean"):
    tokenizer, model = hf_model
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        return hidden[:, 0].numpy()
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def test_mean_pooling_equals_manual_computation(encoder, hf_model):
    texts = TEXTS[:3]
    raw = TransformerEncoder(normalize=False, device="cpu", show_progress=False, dtype="float32").encode(texts)
    np.testing.assert_allclose(raw, manual_pool(hf_model, texts), atol=1e-5)
    assert raw.dtype == np.float32 and raw.shape == (3, 384)


def test_cls_pooling_is_the_first_token(hf_model):
    texts = TEXTS[:3]
    raw = TransformerEncoder(pooling="cls", normalize=False, device="cpu", show_progress=False,
                             dtype="float32").encode(texts)
    np.testing.assert_allclose(raw, manual_pool(hf_model, texts, "cls"), atol=1e-5)


def test_normalisation(encoder, hf_model):
    emb = encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    ref = manual_pool(hf_model, TEXTS)
    np.testing.assert_allclose(emb, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)


def test_length_sorted_batching_keeps_order_and_values(encoder):
    texts = TEXTS + ["x " * 40, "tile"]
    batched = encoder.encode(texts, batch_size=3)
    single = encoder.encode(texts, batch_size=1)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    # and each row is the text at that position
    for i in (0, 5, 7):
        np.testing.assert_allclose(batched[i], encoder.encode([texts[i]])[0], atol=1e-5)


def test_equals_sentence_transformers(encoder):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(default_model_path(), device="cpu")
    ref = model.encode(TEXTS, batch_size=4, show_progress_bar=False)
    np.testing.assert_allclose(encoder.encode(TEXTS), ref, atol=1e-5)


def test_duplicates_empty_input_and_no_mutation(encoder):
    texts = ["tile", "grout", "tile"]
    copy = list(texts)
    emb = encoder.encode(texts)
    assert texts == copy
    np.testing.assert_array_equal(emb[0], emb[2])
    empty = encoder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


@pytest.mark.parametrize(
    "bad, match",
    [
        (["ok", ""], r"texts\[1\] is empty"),
        (["ok", "fine", float("nan")], r"texts\[2\] is missing"),
        (["ok", None], r"texts\[1\] is missing"),
        ([3], r"texts\[0\] must be a string"),
        ("a single string", "single string"),
    ],
)
def test_bad_input_names_the_index(encoder, bad, match):
    with pytest.raises(TagrankInputError, match=match):
        encoder.encode(bad)


def test_bad_params():
    with pytest.raises(TagrankInputError, match="pooling"):
        TransformerEncoder(pooling="max")
    with pytest.raises(TagrankInputError, match="batch_size"):
        TransformerEncoder(batch_size=0)
    with pytest.raises(TagrankInputError, match="whiten_dim"):
        TransformerEncoder(whiten_dim=-1)
    with pytest.raises(TagrankInputError, match="dtype"):
        TransformerEncoder(dtype="int4", device="cpu", show_progress=False).encode(["a"])


def test_long_text_is_truncated_at_max_length(encoder):
    short = TransformerEncoder(max_length=16, device="cpu", show_progress=False)
    base = "heavy duty steel shelving unit with five adjustable shelves, locking wheels and a bolt free assembly kit"
    a, b = short.encode([base + " red " * 300, base + " blue " * 300])
    np.testing.assert_allclose(a, b, atol=1e-6)  # the tails differ only past 16 tokens
    assert TransformerEncoder(max_length=100_000, device="cpu").effective_max_length() == 512
    assert encoder.encode(["word " * 2000]).shape == (1, 384)


def test_mixed_chinese_english_runs(encoder):
    emb = encoder.encode(["无线 蓝牙 耳机 wireless earbuds", "运动鞋", "running shoes"])
    assert np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------- whitening


def test_whitened_corpus_has_identity_covariance():
    corpus = [f"{a} {b}" for a in ("red", "blue", "steel", "oak", "white", "large", "mini") for b in
              ("chair", "lamp", "door", "hose", "drill", "rug", "sink", "fan")]
    enc = TransformerEncoder(whiten=True, whiten_dim=16, device="cpu", show_progress=False, batch_size=16)
    out = enc.fit(corpus).encode(corpus)
    assert out.shape == (len(corpus), 16)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(16), atol=1e-3)
    np.testing.assert_allclose(enc.fit_transform(corpus), out, atol=1e-5)


def test_fit_whitening_full_rank():
    x = np.random.default_rng(0).standard_normal((500, 6)) @ np.random.default_rng(1).standard_normal((6, 6))
    mean, w = fit_whitening(x)
    np.testing.assert_allclose(np.cov((x - mean) @ w, rowvar=False), np.eye(6), atol=1e-8)
    with pytest.raises(TagrankInputError, match="whiten_dim"):
        fit_whitening(x, dim=7)


def test_whiten_requires_fit_and_fit_without_whiten_is_noop(encoder):
    with pytest.raises(NotFittedError):
        TransformerEncoder(whiten=True, device="cpu", show_progress=False).encode(["a"])
    plain = TransformerEncoder(device="cpu", show_progress=False, dtype="float32")
    assert plain.fit(TEXTS) is plain
    np.testing.assert_array_equal(plain.encode(TEXTS[:2]), encoder.encode(TEXTS[:2]))


# ---------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path):
    corpus = [f"item {w}" for w in ("lamp", "rug", "sofa", "desk", "fan", "tile", "bulb", "hose", "rake", "saw")]
    enc = TransformerEncoder(whiten=True, whiten_dim=4, device="cpu", show_progress=False, max_length=64).fit(corpus)
    path = enc.save(tmp_path / "enc")
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 1
    assert config["params"]["whiten_dim"] == 4 and config["params"]["max_length"] == 64
    assert config["model"]["fingerprint"] == model_fingerprint(default_model_path())
    assert (path / "whitening.safetensors").exists()
    loaded = TransformerEncoder.load(path)
    assert loaded.get_params() == enc.get_params()
    np.testing.assert_array_equal(loaded.whitening_[1], enc.whitening_[1])
    np.testing.assert_array_equal(loaded.encode(corpus[:3]), enc.encode(corpus[:3]))


def test_load_rejects_another_model_and_bad_dirs(tmp_path):
    path = TransformerEncoder(device="cpu").save(tmp_path / "enc")
    config = json.loads((path / "config.json").read_text())
    config["model"]["fingerprint"] = "0" * 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="differs"):
        TransformerEncoder.load(path)
    assert TransformerEncoder.load(path, check_model=False).pooling == "mean"
    with pytest.raises(TagrankInputError, match="missing: no such directory"):
        TransformerEncoder.load(tmp_path / "missing")


# ---------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@needs_cuda
def test_cuda_fp16_agrees_with_cpu(encoder):
    """Documented tolerance: float16 on CUDA vs float32 on CPU, cosine >= 1 - GPU_COSINE_TOLERANCE."""
    gpu = TransformerEncoder(device="cuda", show_progress=False).encode(TEXTS)
    cpu = encoder.encode(TEXTS)
    cos = (gpu * cpu).sum(1) / np.linalg.norm(gpu, axis=1) / np.linalg.norm(cpu, axis=1)
    assert (cos >= 1 - GPU_COSINE_TOLERANCE).all()


@pytest.mark.cuda
@needs_cuda
def test_cuda_fp32_agrees_with_cpu(encoder):
    gpu = TransformerEncoder(device="cuda", dtype="float32", show_progress=False).encode(TEXTS)
    np.testing.assert_allclose(gpu, encoder.encode(TEXTS), atol=1e-4)


def test_fingerprint_follows_the_files(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 100)
    first = model_fingerprint(tmp_path)
    assert model_fingerprint(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"\1" * 100)
    assert model_fingerprint(tmp_path) != first


def test_fingerprint_sees_a_change_past_the_first_mib_and_in_shards(tmp_path):
    # two fine-tuned models can share their first tensors (embeddings of tokens never seen)
    a, b = tmp_path / "a", tmp_path / "b"
    for d, last in ((a, b"\0"), (b, b"\1")):
        d.mkdir()
        (d / "config.json").write_text('{"hidden_size": 8}')
        (d / "model.safetensors").write_bytes(b"\0" * (3 << 20) + last)
    assert model_fingerprint(a) != model_fingerprint(b)
    assert model_fingerprint(a, version=1) == model_fingerprint(b, version=1)  # what 0.1 missed
    (a / "model-00002-of-00002.safetensors").write_bytes(b"\2")
    before = model_fingerprint(b)
    (b / "model-00002-of-00002.safetensors").write_bytes(b"\3")
    assert model_fingerprint(b) != before and model_fingerprint(a) != model_fingerprint(b)


def test_weight_files_are_the_named_and_sharded_ones(tmp_path):
    from tagrank.hybrid.encoder import _weight_files

    for name in ("model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                 "pytorch_model.bin", "pytorch_model-00001-of-00003.bin", ".hidden.safetensors",
                 "config.json", "vocab.txt", "model.SAFETENSORS", "tf_model.h5"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.safetensors").mkdir()  # a directory is not a weight file
    assert _weight_files(tmp_path) == [".hidden.safetensors", "model-00001-of-00002.safetensors",
                                       "model.safetensors", "model.safetensors.index.json",
                                       "pytorch_model-00001-of-00003.bin", "pytorch_model.bin"]
    assert _weight_files(tmp_path / "missing") == []


def test_a_save_with_the_older_fingerprint_still_loads(tmp_path):
    path = TransformerEncoder(device="cpu").save(tmp_path / "enc")
    config = json.loads((path / "config.json").read_text())
    assert config["model"]["fingerprint_version"] == 2
    del config["model"]["fingerprint_version"]
    config["model"]["fingerprint"] = model_fingerprint(default_model_path(), version=1)
    (path / "config.json").write_text(json.dumps(config))
    assert TransformerEncoder.load(path).pooling == "mean"
    config["model"]["fingerprint"] = "0" * 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TagrankInputError, match="differs"):
        TransformerEncoder.load(path)


# ---------------------------------------------------------------------- precision (issue 18)


@pytest.mark.parametrize("flags, cost, expected", [(frozenset({"avx2"}), 0.3, torch.float32),
                                                   (frozenset({"avx2", "avx512_bf16"}), 0.3, torch.bfloat16),
                                                   (frozenset({"avx2", "avx512_bf16"}), 1.6, torch.float32),
                                                   (frozenset({"amx_bf16", "amx_tile"}), 0.3, torch.bfloat16),
                                                   (frozenset({"amx_bf16", "amx_tile"}), 0.9, torch.float32)])
def test_auto_precision_is_half_only_with_native_support_measured_faster(monkeypatch, flags, cost, expected):
    # the instructions alone are not enough: oneDNN held to AVX-512 bf16 measured bfloat16 1.2-1.7x slower
    monkeypatch.setattr(cpu_module, "_CPU_FLAGS", flags)
    monkeypatch.setattr(encoder_module, "_HALF_COST", {torch.bfloat16: cost})
    assert encoder_module.resolve_dtype("auto", torch.device("cpu")) == expected
    assert encoder_module.resolve_dtype("float32", torch.device("cpu")) == torch.float32


def test_explicit_bf16_without_native_support_warns_with_measured_cost(monkeypatch):
    monkeypatch.setattr(cpu_module, "_CPU_FLAGS", frozenset({"avx2"}))
    monkeypatch.setattr(encoder_module, "_HALF_WARNED", set())
    monkeypatch.setattr(encoder_module, "_HALF_COST", {torch.bfloat16: 4.25})
    enc = TransformerEncoder(dtype="bf16", device="cpu", show_progress=False)
    with pytest.warns(RuntimeWarning, match=r"4\.2x the float32 time"):
        enc.encode(["cordless drill"])
    with warnings.catch_warnings():  # once per process and dtype
        warnings.simplefilter("error")
        enc.encode(["garden hose"])


def test_explicit_bf16_with_the_instructions_but_measured_slower_warns(monkeypatch):
    monkeypatch.setattr(cpu_module, "_CPU_FLAGS", frozenset({"avx512_bf16"}))
    monkeypatch.setattr(encoder_module, "_HALF_WARNED", set())
    monkeypatch.setattr(encoder_module, "_HALF_COST", {torch.bfloat16: 1.6})
    with pytest.warns(RuntimeWarning, match=r"1\.6x the float32 time"):
        TransformerEncoder(dtype="bfloat16", device="cpu", show_progress=False).encode(["cordless drill"])
    monkeypatch.setattr(encoder_module, "_HALF_WARNED", set())
    monkeypatch.setattr(encoder_module, "_HALF_COST", {torch.bfloat16: 0.3})
    with warnings.catch_warnings():  # measured faster: no warning
        warnings.simplefilter("error")
        TransformerEncoder(dtype="bfloat16", device="cpu", show_progress=False).encode(["cordless drill"])


def test_half_precision_cost_is_measured():
    cost = encoder_module.half_precision_cost(torch.bfloat16, repeats=1)
    assert np.isfinite(cost) and cost > 0


def test_int8_dynamic_quantisation_is_close_to_float32(encoder):
    texts = ["cordless drill with two batteries", "garden hose 50 ft", "stainless steel fridge"]
    ref = encoder.encode(texts)
    int8 = TransformerEncoder(dtype="int8", device="cpu", show_progress=False)
    got = int8.encode(texts)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * ref).sum(axis=1).min() > 0.9  # close to float32, not equal
    assert int8.cache_key()["dtype"] == "qint8"  # never mixed with float32 vectors in a cache
    with pytest.raises(TagrankInputError, match="int8"):
        TransformerEncoder(dtype="int8", backend="fused", device="cpu", show_progress=False).encode(["a"])
    with pytest.raises(TagrankInputError, match="CPU only"):
        encoder_module.resolve_dtype("int8", torch.device("cuda"))


def test_small_requests_run_on_one_thread_but_tiny_ones_on_the_free_cores(encoder, monkeypatch):
    # <= SMALL_BATCH_TOKENS tokens: one thread; fewer than SMALL_ROWS tokens through FusedBert: the
    # threads hybrid.cpu_headroom grants (faked here), each pass reported with the threads it ran on
    import tagrank.hybrid.cpu_headroom as headroom

    seen, recorded = [], []
    real = TransformerEncoder._forward

    def spy(self, model, input_ids, mask):
        seen.append(torch.get_num_threads())
        return real(self, model, input_ids, mask)

    granted = {"threads": 2}
    monkeypatch.setattr(TransformerEncoder, "_forward", spy)
    monkeypatch.setattr(headroom, "threads_for_tiny_input", lambda wanted: min(wanted, granted["threads"]))
    monkeypatch.setattr(headroom, "record_tiny_pass", lambda threads, seconds: recorded.append(threads))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tiny_on_two = encoder.encode(["cordless drill"])  # 4 tokens
        assert seen[-1] == 2 and recorded == [2] and torch.get_num_threads() == 2
        granted["threads"] = 1  # other work holds a core
        tiny_on_one = encoder.encode(["cordless drill"])
        assert seen[-1] == 1 and recorded == [2, 1] and torch.get_num_threads() == 2  # restored
        granted["threads"] = 2
        encoder.encode(["cordless drill with two lithium ion batteries, a charger and a hard carrying case"])
        assert seen[-1] == 1 and len(recorded) == 2  # small but not tiny: one thread, not recorded
        TransformerEncoder(show_progress=False, device="cpu", dtype="float32", backend="transformers"
                           ).encode(["cordless drill"])
        assert seen[-1] == 1 and len(recorded) == 2  # the transformers module's bits depend on the threads
        mark = len(seen)
        big = encoder.encode(["cordless drill"] + [f"garden hose {i} ft long green" for i in range(60)],
                             batch_size=64)
        assert seen[mark:] == [2] and len(recorded) == 2  # one big batch: the caller's threads
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(tiny_on_two, tiny_on_one)  # the thread count never changes the bits
    np.testing.assert_allclose(tiny_on_two[0], big[0], atol=1e-5)


def test_a_failing_tiny_pass_restores_the_threads_and_is_not_recorded(encoder, monkeypatch):
    import tagrank.hybrid.cpu_headroom as headroom

    recorded = []

    def boom(self, model, input_ids, mask):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(TransformerEncoder, "_forward", boom)
    monkeypatch.setattr(headroom, "threads_for_tiny_input", lambda wanted: 1)
    monkeypatch.setattr(headroom, "record_tiny_pass", lambda threads, seconds: recorded.append(threads))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            encoder.encode(["a new query text"])
        assert torch.get_num_threads() == 2 and recorded == []
    finally:
        torch.set_num_threads(before)


def test_model_is_the_argument_and_model_name_or_path_a_deprecated_alias():
    """``model=`` (sentence-transformers' word) is the argument; the old name still works, with a FutureWarning."""
    from tagrank.baselines.validation import TagrankInputError
    from tagrank.hybrid.encoder import default_model_path

    path = default_model_path()
    new = TransformerEncoder(model=path, device="cpu", show_progress=False).encode(["red shoe"])
    with pytest.warns(FutureWarning, match="use TransformerEncoder\\(model=...\\)"):
        old = TransformerEncoder(model_name_or_path=path, device="cpu", show_progress=False).encode(["red shoe"])
    np.testing.assert_array_equal(new, old)
    with pytest.raises(TagrankInputError, match="give only model="):
        TransformerEncoder(model=path, model_name_or_path="other", device="cpu").encode(["x"])
