"""TransformerEncoder(backend="onnx"): the same embeddings as torch, a checked export, clear errors."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid import onnx_backend
from tagrank.hybrid.encoder import TransformerEncoder
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not onnx_backend.available(), reason="needs onnxruntime (tagrank[onnx])")]

TEXTS = ["cordless drill with two batteries", "paint", "stainless steel kitchen sink double bowl undermount",
         "garden hose 50 ft", "running shoes"]


def tiny(kind: str = "bert") -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "distil":
        return DistilBertModel(DistilBertConfig(vocab_size=50, dim=24, n_layers=1, n_heads=4, hidden_dim=40)).eval()
    return BertModel(BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=40, max_position_embeddings=64), add_pooling_layer=False).eval()


@pytest.mark.parametrize("kind", ["bert", "distil"])
def test_hidden_states_equal_the_torch_model_with_and_without_padding(kind):
    model = tiny(kind)
    runner = onnx_backend.OnnxEncoder(model)
    ids = torch.randint(1, 50, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 2:] = False
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        want_unpadded = model(input_ids=ids).last_hidden_state
    np.testing.assert_allclose(runner(ids, mask).numpy()[mask.numpy()], want.numpy()[mask.numpy()], atol=1e-5)
    np.testing.assert_allclose(runner(ids, None).numpy(), want_unpadded.numpy(), atol=1e-5)


def test_encoder_embeddings_equal_the_default_backend():
    # the float32 reference: dtype="auto" is bfloat16 on a CPU with AMX, but float32 under backend="onnx"
    ref = TransformerEncoder(device="cpu", show_progress=False, batch_size=2, dtype="float32")
    onnx = TransformerEncoder(device="cpu", show_progress=False, batch_size=2, backend="onnx")
    np.testing.assert_allclose(onnx.encode(TEXTS), ref.encode(TEXTS), atol=1e-5)  # padded batches
    np.testing.assert_allclose(onnx.encode(["paint"]), ref.encode(["paint"]), atol=1e-5)  # one query
    # more threads: its own session, the same vectors
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        many = onnx.encode([f"{t} {i}" for i in range(40) for t in TEXTS[:2]], batch_size=64)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(many[:2], ref.encode([f"{t} 0" for t in TEXTS[:2]]), atol=1e-5)


def test_a_wrong_export_is_refused(monkeypatch):
    model = tiny()
    other = tiny()
    with torch.no_grad():
        other.encoder.layer[0].output.dense.weight.mul_(-1.0)  # (a constant shift would vanish in LayerNorm)
    real_export = onnx_backend._export
    monkeypatch.setattr(onnx_backend, "_export", lambda m: real_export(other))
    with pytest.raises(TagrankInputError, match="does not reproduce the model"):
        onnx_backend.OnnxEncoder(model)


def test_clear_errors_where_onnx_cannot_run(monkeypatch):
    model = tiny()
    with pytest.raises(TagrankInputError, match="runs on the CPU"):
        onnx_backend.check_usable(model, torch.device("cuda"))
    with pytest.raises(TagrankInputError, match="float32"):
        onnx_backend.check_usable(tiny().to(torch.bfloat16), torch.device("cpu"))
    with pytest.raises(TagrankInputError, match="int8"):
        TransformerEncoder(dtype="int8", backend="onnx", device="cpu", show_progress=False).encode(["a"])
    monkeypatch.setattr(onnx_backend, "available", lambda: False)
    with pytest.raises(TagrankInputError, match=r'pip install "tagrank\[onnx\]"'):
        TransformerEncoder(backend="onnx", device="cpu", show_progress=False).encode(["a"])
    with pytest.raises(TagrankInputError, match="backend must be one of"):
        TransformerEncoder(backend="ort")


def test_an_unexportable_model_fails_clearly(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no symbolic for op X")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(TagrankInputError, match="could not be exported to ONNX.*no symbolic"):
        onnx_backend.OnnxEncoder(tiny())


def test_a_fitted_scorer_serves_queries_through_onnx_and_keeps_its_corpus_vectors():
    from tagrank.hybrid.transformer_scorer import TransformerScorer

    scorer = TransformerScorer(device="cpu", dtype="float32").fit(TEXTS, list(range(len(TEXTS))))
    corpus = scorer.embeddings_.copy()
    before = scorer.score_pairs(["cordless drill"] * len(TEXTS), TEXTS)
    ids_before, top_before = scorer.top_k(["garden hose", "shoes"], 3)
    scorer.set_params(backend="onnx")
    assert scorer._query_encoder().backend == "onnx" and scorer.encoder_.backend == "auto"
    np.testing.assert_allclose(scorer.score_pairs(["cordless drill"] * len(TEXTS), TEXTS), before, atol=1e-5)
    ids_after, top_after = scorer.top_k(["garden hose", "shoes"], 3)
    np.testing.assert_array_equal(ids_after, ids_before)
    np.testing.assert_allclose(top_after, top_before, atol=1e-5)
    assert scorer.embeddings_ is not None and np.array_equal(scorer.embeddings_, corpus)
