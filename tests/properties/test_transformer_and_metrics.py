"""Property: the transformer scorer (few examples: it is the costly one) and the metrics either answer
well-formed values or raise TagrankInputError."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagrank.eval import metrics
from tests.properties.strategies import (
    call,
    check_ranking,
    good_text,
    hostile_number,
    ids,
    k_value,
    maybe_id,
    maybe_text,
    mostly,
)

@pytest.fixture(scope="module")
def transformer():
    import torch

    from tagrank.hybrid.transformer_scorer import TransformerScorer

    torch.set_num_threads(1)  # tiny batches on a shared CPU: one thread is the fastest
    return TransformerScorer(device="cpu", batch_size=8, show_progress=False).fit(
        ["red running shoe", "blue wool hat", "\u7ea2\u8272\u624b\u673a\u58f3", "\U0001F600 party hat"],
        ids=["s", "h", 3, 4.5])


@settings(max_examples=10, deadline=None)
@given(queries=mostly(good_text, maybe_text, 3), k=k_value)
def test_transformer_scorer(transformer, queries, k):
    ok, out = call(transformer.top_k, queries, k)
    if ok:
        check_ranking(*out, n_rows=len(queries), catalogue={"s", "h", 3, 4.5}, max_k=4)
    pairs = (queries * 2)[: len(queries)]
    ok, scores = call(transformer.score_pairs, queries, pairs)
    if ok:
        assert scores.shape == (len(queries),) and np.isfinite(scores).all()


values = mostly(st.floats(-10, 10, allow_nan=False), hostile_number, 12)


@given(pred=values, truth=values)
def test_correlations(pred, truth):
    for fn in (metrics.spearman, metrics.pearson):
        ok, r = call(fn, pred, truth)
        if ok:
            assert -1 - 1e-9 <= r <= 1 + 1e-9
        ok, r = call(fn, pred, truth, on_constant="nan")
        if ok:
            assert math.isnan(r) or -1 - 1e-9 <= r <= 1 + 1e-9


labels = mostly(st.sampled_from(["a", "b", 1, "\u978b"]), maybe_id, 12)


@given(pred=labels, truth=labels)
def test_label_metrics(pred, truth):
    for fn in (metrics.accuracy, metrics.macro_f1, metrics.micro_f1, metrics.ari, metrics.nmi):
        ok, v = call(fn, pred, truth)
        if ok:
            assert math.isfinite(v) and -1 - 1e-9 <= v <= 1 + 1e-9


@given(scores=values, flags=mostly(st.sampled_from([0, 1, True, False]), st.one_of(maybe_id, hostile_number), 12))
def test_roc_auc(scores, flags):
    ok, v = call(metrics.roc_auc, scores, flags)
    if ok:
        assert 0 <= v <= 1


@given(ranked=mostly(ids, maybe_id, 10), relevant=st.one_of(st.sets(ids, max_size=5), st.lists(maybe_id, max_size=4)),
       k=k_value)
def test_ranking_metrics(ranked, relevant, k):
    for fn in (metrics.recall_at_k, metrics.precision_at_k, metrics.map_at_k):
        ok, v = call(fn, ranked, relevant, k)
        if ok:
            assert 0 <= v <= 1 + 1e-9
    ok, v = call(metrics.ndcg_at_k, ranked, {r: 1.0 for r in relevant}, k)
    if ok:
        assert 0 <= v <= 1 + 1e-9
