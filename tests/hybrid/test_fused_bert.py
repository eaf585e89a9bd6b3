"""FusedBert reproduces transformers' BertModel (random tiny models of each supported activation,
and the offline all-MiniLM-L6-v2 through the encoder); unsupported models fall back or fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.encoder import TransformerEncoder
from tagrank.hybrid.fused_bert import SMALL_ROWS, FusedBert, supports

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = ["cordless drill", "garden hose 50 ft with spray nozzle and reel", "paint", "LED ceiling light, warm white"]


def tiny_bert(**overrides) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=40, max_position_embeddings=32, **overrides)
    return BertModel(config, add_pooling_layer=True).eval()


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_hidden_states_equal_bert_model(act):
    model = tiny_bert(hidden_act=act)
    torch.manual_seed(1)
    ids = torch.randint(1, 50, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 2:] = False
    with torch.inference_mode():
        ref = model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        out = FusedBert(model)(ids, mask)
        unmasked = FusedBert(model)(ids[:1])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out[mask].numpy(), ref[mask].numpy(), atol=1e-5)  # padded positions unused
    np.testing.assert_allclose(unmasked[0].numpy(), ref[0].numpy(), atol=1e-5)


def test_a_padded_batch_equals_each_text_alone_and_its_padding_is_zero():
    # the packed path (padding skipped in the matrix products) against each text run alone, unpadded
    model = tiny_bert()
    torch.manual_seed(2)
    ids = torch.randint(1, 50, (4, 9))
    lengths = [9, 4, 1, 6]
    mask = torch.arange(9)[None, :] < torch.tensor(lengths)[:, None]
    with torch.inference_mode():
        out = FusedBert(model)(ids, mask)
        for i, n in enumerate(lengths):
            alone = FusedBert(model)(ids[i : i + 1, :n])
            np.testing.assert_allclose(out[i, :n].numpy(), alone[0].numpy(), atol=1e-5)
    assert out.shape == (4, 9, 24)
    assert bool((out[~mask] == 0).all())


def test_supports_only_plain_bert():
    assert supports(tiny_bert())
    assert not supports(tiny_bert(hidden_act="silu"))
    assert not supports(tiny_bert(position_embedding_type="relative_key"))
    distil = DistilBertModel(DistilBertConfig(vocab_size=50, dim=24, n_layers=1, n_heads=4, hidden_dim=40))
    assert not supports(distil)
    with pytest.raises(ValueError, match="plain BERT"):
        FusedBert(distil)


@pytest.mark.parametrize("pooling, normalize", [("mean", True), ("cls", False)])
def test_encoder_backends_agree(pooling, normalize):
    # a batch with padding (lengths differ) and one without (batch_size=1)
    kwargs = {"pooling": pooling, "normalize": normalize, "device": "cpu", "show_progress": False, "dtype": "float32"}
    fused = TransformerEncoder(backend="fused", **kwargs)
    plain = TransformerEncoder(backend="transformers", **kwargs)
    for batch_size in (4, 1):
        np.testing.assert_allclose(fused.encode(TEXTS, batch_size=batch_size),
                                   plain.encode(TEXTS, batch_size=batch_size), atol=1e-5)


def test_auto_falls_back_and_fused_fails_clearly_for_other_models(monkeypatch):
    enc = TransformerEncoder(device="cpu", show_progress=False)
    tokenizer, model, _ = enc._model(torch.device("cpu"))
    distil = DistilBertModel(DistilBertConfig(vocab_size=50, dim=24, n_layers=1, n_heads=4, hidden_dim=40))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert enc._use_fused(model, cpu) and not enc._use_fused(model, cuda)  # auto: CPU only
    assert not enc._use_fused(distil, cpu)
    assert not TransformerEncoder(backend="transformers")._use_fused(model, cpu)
    with pytest.raises(TagrankInputError, match="backend='fused' supports plain BERT"):
        TransformerEncoder(backend="fused")._use_fused(distil, cpu)
    with pytest.raises(TagrankInputError, match="backend must be one of"):
        TransformerEncoder(backend="tensorrt")


def test_bfloat16_backends_agree_with_float32():
    # bfloat16 rounds every product: compare by cosine with the float32 vectors (both backends)
    ref = TransformerEncoder(device="cpu", show_progress=False, dtype="float32").encode(TEXTS, batch_size=4)
    for backend in ("fused", "transformers"):
        emb = TransformerEncoder(device="cpu", dtype="bfloat16", backend=backend, show_progress=False
                                 ).encode(TEXTS, batch_size=4)
        assert emb.dtype == np.float32
        cosine = np.sum(emb * ref, axis=1)  # both L2-normalised
        assert cosine.min() > 0.999, (backend, cosine)


def test_small_inputs_run_on_in_out_weights_and_still_equal_bert_model():
    # below SMALL_ROWS token rows the weights are [in, out] copies (built once, on first use)
    model = tiny_bert()
    fused = FusedBert(model)
    torch.manual_seed(3)
    small = torch.randint(1, 50, (1, SMALL_ROWS - 1))
    large = torch.randint(1, 50, (2, SMALL_ROWS))
    with torch.inference_mode():
        out_large = fused(large)
        assert fused._small_layers is None  # a large input builds no copies
        out_small = fused(small)
        ref_small = model(input_ids=small).last_hidden_state
        ref_large = model(input_ids=large).last_hidden_state
    qkv_small, qkv = fused._layers_for(SMALL_ROWS - 1)[0][0], fused._layers_for(SMALL_ROWS)[0][0]
    assert qkv_small.shape == qkv.shape and qkv_small.t().is_contiguous() and qkv.is_contiguous()
    assert torch.equal(qkv_small, qkv)
    np.testing.assert_allclose(out_small.numpy(), ref_small.numpy(), atol=1e-5)
    np.testing.assert_allclose(out_large.numpy(), ref_large.numpy(), atol=1e-5)


def test_bfloat16_keeps_torchs_layout_for_small_inputs():
    # oneDNN's bfloat16 products measured slower on the [in, out] copies: none are made
    fused = FusedBert(tiny_bert().to(torch.bfloat16))
    with torch.inference_mode():
        fused(torch.randint(1, 50, (1, 5)))
    assert fused._small_layers is None and fused._layers_for(5) is fused.layers


PINNED_LAYOUTS = """
import json, torch
import torch.nn.functional as F
torch.manual_seed(0)
torch.set_num_threads(1)
equal = {}
for k, n in ((384, 1152), (384, 384), (384, 1536), (1536, 384)):  # MiniLM's matrix products
    w, b = torch.randn(n, k) * 0.05, torch.randn(n)
    in_out = w.t().contiguous().t()
    equal[f"{k}x{n}"] = [bool(torch.equal(F.linear(x, w, b), F.linear(x, in_out, b)))
                         for x in (torch.randn(m, k) for m in range(2, 16))]
print(json.dumps(equal))
"""


def _run_json_script(script: str, pin: dict[str, str]) -> dict:
    """The JSON that ``script`` prints last, run in a fresh interpreter with exactly the numerics
    variables ``pin`` (none of the caller's own: libraries read them only when they load)."""
    from tagrank.eval import numerics

    env = {k: v for k, v in os.environ.items() if k not in numerics.AVX2_ENV}
    env.update(pin)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


PINNED_THREADS = """
import json, torch
import torch.nn.functional as F
torch.manual_seed(0)
equal = {}
for dtype in (torch.float32, torch.bfloat16):
    for k, n in ((384, 1152), (384, 384), (384, 1536), (1536, 384)):  # MiniLM's matrix products
        w, b = (torch.randn(n, k) * 0.05).to(dtype), torch.randn(n).to(dtype)
        if dtype == torch.float32:
            w = w.t().contiguous().t()  # the [in, out] copies tiny float32 inputs run on
        xs = [torch.randn(m, k).to(dtype) for m in range(2, 16)]
        out = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out[threads] = [F.linear(x, w, b) for x in xs]
        equal[f"{dtype}:{k}x{n}"] = [bool(torch.equal(a, c)) for a, c in zip(out[1], out[2])]
print(json.dumps(equal))
"""


@pytest.mark.parametrize("pinned", [True, False], ids=["bench-pin", "unpinned"])
def test_tiny_inputs_give_the_same_bits_on_one_or_two_threads(pinned):
    # the encoder runs a tiny input on the cores other work leaves free (hybrid.cpu_headroom): the
    # vectors must not depend on that count, with tagrank bench's AVX2 pin or without it
    from tagrank.baselines.cpu import cpu_flags, is_x86_64
    from tagrank.eval import numerics

    if pinned and (not is_x86_64() or "avx2" not in cpu_flags()):
        pytest.skip("no AVX2 code path to pin on this CPU")
    equal = _run_json_script(PINNED_THREADS, numerics.AVX2_ENV if pinned else {})
    assert {shape: all(rows) for shape, rows in equal.items()} == dict.fromkeys(equal, True)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_minilm_tiny_inputs_give_the_same_vectors_on_one_or_two_threads(dtype, monkeypatch):
    # end to end (attention, norms, GELU, padding, pooling): single queries and padded batches of
    # short texts under SMALL_ROWS tokens in all, encoded on one thread and on two
    import tagrank.hybrid.cpu_headroom as headroom

    singles = ["drill", "cordless drill", "led bulb 60 watt", "garden hose 50 ft reel", "paint roller"]
    batches = [["drill", "paint"], ["hose", "led bulb", "saw"]]
    out = {}
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(2)
            monkeypatch.setattr(headroom, "threads_for_tiny_input", lambda wanted, t=threads: t)
            enc = TransformerEncoder(device="cpu", dtype=dtype, show_progress=False)
            out[threads] = [enc.encode([t]) for t in singles] + [enc.encode(b, batch_size=4) for b in batches]
    finally:
        torch.set_num_threads(before)
    for one, two in zip(out[1], out[2], strict=True):
        np.testing.assert_array_equal(one, two)


def test_the_small_input_layout_keeps_the_bits_of_the_pinned_bench():
    # the benchmark tables do not move: under tagrank bench's AVX2 pin, MKL gives both weight layouts
    # the same bits for 2-15 rows (every real text has at least 3 tokens: [CLS] word [SEP])
    from tagrank.baselines.cpu import cpu_flags, is_x86_64
    from tagrank.eval import numerics

    if not is_x86_64() or "avx2" not in cpu_flags():
        pytest.skip("no AVX2 code path to pin on this CPU")
    equal = _run_json_script(PINNED_LAYOUTS, numerics.AVX2_ENV)  # the bench's pin exactly
    assert {shape: all(rows) for shape, rows in equal.items()} == dict.fromkeys(equal, True)
