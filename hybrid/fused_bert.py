"""A fused forward pass for BERT-family encoders: the arithmetic of transformers' ``BertModel``
with less dispatch, for low-latency encoding of one short query.

Encoding one query of about eight tokens with all-MiniLM-L6-v2 on one CPU core
takes ~10 ms through ``BertModel.forward``; about half of that is Python and
module dispatch around 37 small matrix products. :class:`FusedBert` runs the
same computation from the model's own weights -- embeddings (word + position
+ token type 0, LayerNorm), then per layer self-attention (Q, K and V in one
matrix product, ``scaled_dot_product_attention``), output projection + residual
+ LayerNorm, feed-forward + residual + LayerNorm -- and skips the pooler, which
mean pooling does not use. Its hidden states match ``BertModel``'s to float
rounding (tested within 1e-5). In a padded batch the real tokens are packed into one
matrix, so the matrix products, which are nearly all the work, skip the padding.

Below :data:`SMALL_ROWS` token rows (a short query), MKL's float32 matrix product takes a
small-matrix path that runs 1.3-2x faster when the weight is stored ``[in, out]`` than in torch's
``[out, in]``: one 6-token query measured p50 2.6 vs 3.6 ms on one thread of an AVX-512 Xeon,
p99 3.9 vs 7.1 ms. So those inputs run on transposed copies of the weights (built on first use,
~42 MB for MiniLM) -- float32 on CPU only: bfloat16 goes through oneDNN, where the copies
measured 10% slower (p50 3.0 vs 2.7 ms), and GPUs were not measured. With ``tagrank``'s AVX2
numerics pin (:mod:`tagrank.eval.numerics`) the two layouts give the same bits at these sizes
(checked on 400 queries), so the benchmark tables do not move; without it they may differ in the
last bits (~5e-6), as MKL's small and large paths already do from each other. From :data:`SMALL_ROWS` rows on, the layouts can differ in the last
bits even under the pin, so batches keep torch's layout.

Only plain BERT is supported (``model_type == "bert"``, absolute positions,
encoder only, a GELU or ReLU activation); :func:`supports` says whether a model
qualifies, and the encoder falls back to the transformers module otherwise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: inputs with fewer token rows than this run on ``[in, out]`` copies of the weights (module docstring)
SMALL_ROWS = 16

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


def supports(model: Any) -> bool:
    """True when ``model`` is a plain BERT encoder that :class:`FusedBert` reproduces."""
    config = getattr(model, "config", None)
    return (
        config is not None
        and getattr(config, "model_type", None) == "bert"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and isinstance(getattr(config, "hidden_act", None), str)
        and config.hidden_act in _ACTIVATIONS
        and hasattr(model, "embeddings")
        and hasattr(model, "encoder")
    )


class FusedBert:
    """Last hidden states of a BERT model from its weights (see the module docstring).

    The weights are views of (or, for the fused Q/K/V, concatenated copies of)
    the model's parameters in the model's dtype; build one per loaded model.
    """

    def __init__(self, model: Any) -> None:
        if not supports(model):
            raise ValueError(f"FusedBert supports plain BERT encoders, not {type(model).__name__}")
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.eps = float(config.layer_norm_eps)
        self.activation = _ACTIVATIONS[config.hidden_act]
        emb = model.embeddings
        self.word = emb.word_embeddings.weight.detach()
        self.position = emb.position_embeddings.weight.detach()
        self.token_type = emb.token_type_embeddings.weight.detach()[0]
        self.emb_norm = (emb.LayerNorm.weight.detach(), emb.LayerNorm.bias.detach())
        self.layers = []
        for layer in model.encoder.layer:
            att = layer.attention
            q, k, v = att.self.query, att.self.key, att.self.value
            self.layers.append((
                torch.cat([q.weight, k.weight, v.weight]).detach().contiguous(),
                torch.cat([q.bias, k.bias, v.bias]).detach().contiguous(),
                att.output.dense.weight.detach(), att.output.dense.bias.detach(),
                att.output.LayerNorm.weight.detach(), att.output.LayerNorm.bias.detach(),
                layer.intermediate.dense.weight.detach(), layer.intermediate.dense.bias.detach(),
                layer.output.dense.weight.detach(), layer.output.dense.bias.detach(),
                layer.output.LayerNorm.weight.detach(), layer.output.LayerNorm.bias.detach(),
            ))
        self._small_layers: list[tuple] | None = None

    def _layers_for(self, rows: int) -> list[tuple]:
        """The layer weights for an input of ``rows`` token rows: below :data:`SMALL_ROWS` (float32 on
        CPU), views ``[out, in]`` of ``[in, out]`` copies (``F.linear`` then hands MKL an untransposed matrix)."""
        if rows >= SMALL_ROWS or self.word.dtype != torch.float32 or self.word.device.type != "cpu":
            return self.layers
        if self._small_layers is None:
            self._small_layers = [tuple(w.t().contiguous().t() if w.dim() == 2 else w for w in layer)
                                  for layer in self.layers]
        return self._small_layers

    def __call__(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states [batch, length, hidden] of ``input_ids``; ``mask`` (bool, True = token) or None.
        With padding, the hidden states of padding positions are zero (pooling ignores them)."""
        if mask is None or bool(mask.all()):
            return self._padded(input_ids)
        return self._packed(input_ids, mask.to(torch.bool))

    def _padded(self, input_ids: torch.Tensor) -> torch.Tensor:
        """A batch without padding: every step on the [batch, length, hidden] tensor."""
        b, n = input_ids.shape
        d, heads = self.hidden, self.heads
        x = self.word[input_ids] + self.position[:n] + self.token_type
        x = F.layer_norm(x, (d,), *self.emb_norm, self.eps)
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b in self._layers_for(b * n):
            qkv = F.linear(x, qkv_w, qkv_b).view(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            att = att.transpose(1, 2).reshape(b, n, d)
            x = self._after_attention(att, x, (o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b))
        return x

    def _after_attention(self, att: torch.Tensor, x: torch.Tensor, w: tuple) -> torch.Tensor:
        """Output projection + residual + LayerNorm, then feed-forward + residual + LayerNorm (any row layout)."""
        o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b = w
        d = self.hidden
        x = F.layer_norm(F.linear(att, o_w, o_b) + x, (d,), n1_w, n1_b, self.eps)
        h = self.activation(F.linear(x, i_w, i_b))
        return F.layer_norm(F.linear(h, f_w, f_b) + x, (d,), n2_w, n2_b, self.eps)

    def _packed(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A padded batch with its real tokens packed into one [tokens, hidden] matrix: the matrix
        products, LayerNorms and activation (nearly all the work) skip the padding; only attention,
        which needs each text's tokens side by side, runs on the padded layout, masked."""
        b, n = input_ids.shape
        d, heads = self.hidden, self.heads
        real = mask.reshape(-1).nonzero().squeeze(1)  # positions of the real tokens in the flat batch
        positions = torch.arange(n, device=input_ids.device).repeat(b)[real]
        x = self.word[input_ids.reshape(-1)[real]] + self.position[positions] + self.token_type
        x = F.layer_norm(x, (d,), *self.emb_norm, self.eps)
        attn_mask = mask[:, None, None, :]
        padded = x.new_zeros(b * n, 3 * d)  # padding rows stay zero: masked keys, discarded queries
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b in self._layers_for(len(real)):
            padded.index_copy_(0, real, F.linear(x, qkv_w, qkv_b))
            qkv = padded.view(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask)
            att = att.transpose(1, 2).reshape(b * n, d).index_select(0, real)
            x = self._after_attention(att, x, (o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b))
        return x.new_zeros(b * n, d).index_copy_(0, real, x).view(b, n, d)
