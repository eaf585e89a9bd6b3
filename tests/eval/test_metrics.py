"""Tests for eval.metrics: hand-worked answers, cross-checks against ranx / scipy / sklearn, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import metrics as M

L2_3 = math.log2(3)  # 1.5849625
L2_5 = math.log2(5)  # 2.3219281


# ----------------------------------------------------------------------------- known answers


def test_ndcg_linear_and_exponential_hand_worked():
    ranked = ["a", "b", "c", "d"]
    rel = {"a": 3, "b": 2, "c": 0, "d": 1}
    # linear: DCG@4 = 3/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5)
    #              = 3 + 1.2618595 + 0 + 0.4306766 = 4.6925361
    #         ideal order 3,2,1,0: IDCG@4 = 3 + 2/log2(3) + 1/log2(4) + 0 = 4.7618595
    #         NDCG@4 = 4.6925361 / 4.7618595 = 0.9854420
    dcg = 3 + 2 / L2_3 + 1 / L2_5
    idcg = 3 + 2 / L2_3 + 1 / 2
    assert M.ndcg_at_k(ranked, rel, 4) == pytest.approx(dcg / idcg)
    assert M.ndcg_at_k(ranked, rel, 4) == pytest.approx(0.9854420, abs=1e-7)
    # exponential: gains 2^g - 1 = 7, 3, 0, 1
    #   DCG@4 = 7 + 3/log2(3) + 0 + 1/log2(5) = 7 + 1.8927893 + 0.4306766 = 9.3234659
    #   IDCG@4 = 7 + 3/log2(3) + 1/2 = 9.3927893;  NDCG@4 = 0.9926195
    dcg_e = 7 + 3 / L2_3 + 1 / L2_5
    idcg_e = 7 + 3 / L2_3 + 1 / 2
    assert M.ndcg_at_k(ranked, rel, 4, gain="exponential") == pytest.approx(dcg_e / idcg_e)
    assert M.ndcg_at_k(ranked, rel, 4, gain="exponential") == pytest.approx(0.9926195, abs=1e-7)
    # @2: top two (3, 2) are already ideal -> 1.0
    assert M.ndcg_at_k(ranked, rel, 2) == pytest.approx(1.0)
    # @1 with the best item second: ranked b,a -> DCG@1 = 2, IDCG@1 = 3 -> 2/3
    assert M.ndcg_at_k(["b", "a"], rel, 1) == pytest.approx(2 / 3)
    # k larger than the list is fine (same as the whole list)
    assert M.ndcg_at_k(ranked, rel, 100) == pytest.approx(dcg / idcg)


def test_ndcg_ideal_uses_all_judged_gains_and_zero_idcg():
    # z (gain 2) is judged but not retrieved: DCG@2 = 0 + 1/log2(3) = 0.6309298
    # IDCG@2 = 2/log2(2) + 1/log2(3) = 2.6309298 -> NDCG@2 = 0.2398124
    assert M.ndcg_at_k(["a", "b"], {"a": 0, "b": 1, "z": 2}, 2) == pytest.approx(
        (1 / L2_3) / (2 + 1 / L2_3)
    )
    # unjudged items have gain 0; a query without positive gain has IDCG = 0 -> 0.0
    assert M.ndcg_at_k(["x", "y"], {"a": 0}, 2) == 0.0
    assert M.ndcg_at_k(["x", "y"], {}, 2) == 0.0
    # float gains are fine
    assert M.ndcg_at_k(["a", "b"], {"a": 0.5, "b": 1.5}, 2) == pytest.approx(
        (0.5 + 1.5 / L2_3) / (1.5 + 0.5 / L2_3)
    )


def test_binary_metrics_hand_worked():
    ranked = ["a", "b", "c", "d", "e"]
    rel = {"a", "c", "f"}  # f is relevant but never retrieved: R = 3
    # AP = (P@1 + P@3) / R = (1/1 + 2/3) / 3 = 0.5555556
    assert M.average_precision(ranked, rel) == pytest.approx((1 + 2 / 3) / 3)
    # AP@2 = P@1 / R = 1 / 3 (trec_eval: divide by R, not min(R, k))
    assert M.average_precision(ranked, rel, k=2) == pytest.approx(1 / 3)
    assert M.map_at_k(ranked, rel, 2) == pytest.approx(1 / 3)
    # RR: first relevant of {c, e} is c at rank 3 -> 1/3; cut at 2 -> 0
    assert M.reciprocal_rank(ranked, {"c", "e"}) == pytest.approx(1 / 3)
    assert M.reciprocal_rank(ranked, {"c", "e"}, k=2) == 0.0
    # recall@3 = |{a, c}| / 3 = 2/3; precision@3 = 2/3; precision@10 over 5 ranked = 2/10
    assert M.recall_at_k(ranked, rel, 3) == pytest.approx(2 / 3)
    assert M.recall_at_k(ranked, rel, 1) == pytest.approx(1 / 3)
    assert M.precision_at_k(ranked, rel, 3) == pytest.approx(2 / 3)
    assert M.precision_at_k(ranked, rel, 10) == pytest.approx(2 / 10)
    # hit rate
    assert M.hit_rate_at_k(ranked, rel, 1) == 1.0
    assert M.hit_rate_at_k(ranked, {"c"}, 2) == 0.0
    assert M.hit_rate_at_k(ranked, {"c"}, 3) == 1.0
    # no relevant item -> 0.0 everywhere
    for f in (M.average_precision, M.reciprocal_rank):
        assert f(ranked, set()) == 0.0
    assert M.recall_at_k(ranked, [], 3) == 0.0
    # already-cut lists are fine
    assert M.average_precision(ranked[:2], rel) == pytest.approx(1 / 3)


def test_coverage_hand_worked():
    recs = [[1, 2, 3], [2, 4, 5], [6]]
    # top-2: {1, 2} | {2, 4} | {6} = {1, 2, 4, 6} -> 4 / 10
    assert M.coverage_at_k(recs, 10, 2) == pytest.approx(0.4)
    # top-3: {1..6} -> 6 / 10
    assert M.coverage_at_k(recs, 10, 3) == pytest.approx(0.6)
    assert M.coverage_at_k({"u1": ["a"], "u2": ["a"]}, 4, 5) == pytest.approx(0.25)
    assert M.coverage_at_k([], 4, 5) == 0.0


def test_rank_by_scores_ties():
    # scores desc, ties by id asc: c (2), then a, b (1), then d (0)
    assert M.rank_by_scores(["b", "a", "c", "d"], [1, 1, 2, 0]) == ["c", "a", "b", "d"]
    assert M.rank_by_scores(["b", "a", "c", "d"], [1, 1, 2, 0], k=2) == ["c", "a"]
    assert M.rank_by_scores([3, 1, 2], [0.0, 0.0, 0.0]) == [1, 2, 3]
    assert list(M.rank_by_scores(["b", "a"], [1, 1], return_indices=True)) == [1, 0]
    # -inf is allowed (masked items go last)
    assert M.rank_by_scores(["a", "b"], [-np.inf, 0.0]) == ["b", "a"]
    # equal ids keep input order (stable)
    assert list(M.rank_by_scores(["a", "a", "b"], [1, 1, 1], return_indices=True)) == [0, 1, 2]
    # mixed but mutually comparable ids (python path)
    assert M.rank_by_scores([2, 1.5, 1], [1, 1, 1]) == [1, 1.5, 2]


def test_rank_by_scores_randomised_order_independent_and_k():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        ids = [f"i{j:03d}" for j in rng.permutation(200)[:n]]
        scores = rng.integers(0, 4, size=n).astype(float)  # heavy ties
        full = M.rank_by_scores(ids, scores)
        expected = [i for _, i in sorted(zip(-scores, ids, strict=True))]
        assert full == expected
        perm = rng.permutation(n)
        assert M.rank_by_scores([ids[p] for p in perm], scores[perm]) == full
        k = int(rng.integers(1, n + 3))
        assert M.rank_by_scores(ids, scores, k=k) == full[:k]
        int_ids = [int(i[1:]) for i in ids]
        assert M.rank_by_scores(int_ids, scores, k=k) == [int(i[1:]) for i in full[:k]]


# ----------------------------------------------------------------------------- run vs qrels


def _random_run_qrels(seed, n_queries=50, distinct=True, n_items=40):
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for q in range(n_queries):
        pool = [f"d{j}" for j in rng.permutation(n_items)]
        retrieved = pool[: int(rng.integers(5, 30))]
        judged = pool[int(rng.integers(0, 8)) : int(rng.integers(10, 20))]
        gains = rng.integers(0, 3, size=len(judged))
        gains[int(rng.integers(len(judged)))] = 2  # at least one item relevant at threshold 2
        qrels[f"q{q}"] = {d: int(g) for d, g in zip(judged, gains, strict=True)}
        if distinct:
            scores = rng.permutation(len(retrieved)) + rng.random(len(retrieved)) * 0.5
        else:
            scores = rng.integers(0, 3, size=len(retrieved)).astype(float)
        run[f"q{q}"] = {d: float(s) for d, s in zip(retrieved, scores, strict=True)}
    return run, qrels


def _ranx_per_query(evaluate, qrels, run, names):
    """ranx's per-query scores as {metric: {qid: value}} (its arrays follow sorted qids)."""
    evaluate(qrels, run, names, return_mean=False)
    return {name: dict(run.scores[name]) for name in names}


def test_cross_check_against_ranx():
    from ranx import Qrels, Run, evaluate

    run, qrels = _random_run_qrels(0)
    qids = list(qrels)

    graded = ["ndcg@5", "ndcg@10", "ndcg", "ndcg_exp@10"]
    ours = M.per_query_ranking_metrics(run, qrels, graded, relevance_threshold=1)
    ranx_names = ["ndcg@5", "ndcg@10", "ndcg", "ndcg_burges@10"]
    theirs = _ranx_per_query(evaluate, Qrels(qrels), Run(run), ranx_names)
    for our, their in zip(graded, ranx_names, strict=True):
        np.testing.assert_allclose(
            ours.loc[qids, our].to_numpy(), [theirs[their][q] for q in qids], atol=1e-12, err_msg=our
        )

    binary = ["map", "map@10", "mrr", "mrr@3", "recall@10", "precision@5", "hr@10", "hr@1"]
    ranx_binary = ["map", "map@10", "mrr", "mrr@3", "recall@10", "precision@5", "hit_rate@10", "hit_rate@1"]
    for threshold in (1, 2, 1.5):
        # ranx counts any listed qrel with score >= 1 as relevant: hand it binary qrels
        bin_qrels = {
            q: {d: 1 for d, g in rel.items() if g >= threshold} for q, rel in qrels.items()
        }
        ours_b = M.per_query_ranking_metrics(run, qrels, binary, relevance_threshold=threshold)
        theirs_b = _ranx_per_query(evaluate, Qrels(bin_qrels), Run(run), ranx_binary)
        for our, their in zip(binary, ranx_binary, strict=True):
            np.testing.assert_allclose(
                ours_b.loc[qids, our].to_numpy(), [theirs_b[their][q] for q in qids], atol=1e-12,
                err_msg=f"{our} @ threshold {threshold}",
            )


def test_run_formats_agree_and_ties_follow_rank_by_scores():
    run, qrels = _random_run_qrels(1, n_queries=40, distinct=False)  # many tied scores
    names = ["ndcg@3", "ndcg", "map", "mrr", "recall@5", "precision@3", "hr@2", "map@4", "ndcg_exp@5"]
    from_scores = M.per_query_ranking_metrics(run, qrels, names, 1)
    ranked_run = {q: M.rank_by_scores(list(d), list(d.values())) for q, d in run.items()}
    from_lists = M.per_query_ranking_metrics(ranked_run, qrels, names, 1)
    pd.testing.assert_frame_equal(from_scores, from_lists)
    frame = pd.DataFrame(
        [(q, d, s) for q, items in run.items() for d, s in items.items()],
        columns=["qid", "item", "score"],
    ).sample(frac=1.0, random_state=0)  # row order must not matter
    pd.testing.assert_frame_equal(M.per_query_ranking_metrics(frame, qrels, names, 1), from_scores)
    # and each column equals the per-query functions
    for q in list(qrels)[:10]:
        ranked, rel = ranked_run[q], qrels[q]
        rel_set = {d for d, g in rel.items() if g >= 1}
        row = from_scores.loc[q]
        assert row["ndcg@3"] == pytest.approx(M.ndcg_at_k(ranked, rel, 3))
        # no cutoff: DCG over the whole list, IDCG over every judged gain (ranx, trec_eval)
        assert row["ndcg"] == pytest.approx(M.ndcg_at_k(ranked, rel, max(len(ranked), len(rel))))
        assert row["ndcg_exp@5"] == pytest.approx(M.ndcg_at_k(ranked, rel, 5, "exponential"))
        assert row["map"] == pytest.approx(M.average_precision(ranked, rel_set))
        assert row["map@4"] == pytest.approx(M.map_at_k(ranked, rel_set, 4))
        assert row["mrr"] == pytest.approx(M.reciprocal_rank(ranked, rel_set))
        assert row["recall@5"] == pytest.approx(M.recall_at_k(ranked, rel_set, 5))
        assert row["precision@3"] == pytest.approx(M.precision_at_k(ranked, rel_set, 3))
        assert row["hr@2"] == pytest.approx(M.hit_rate_at_k(ranked, rel_set, 2))


def test_per_query_frame_shape_and_missing_queries():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    run = {"q1": ["a", "x"], "q2": {"x": 2.0, "b": 1.0}, "q3": ["c"], "extra": ["z"]}
    df = M.per_query_ranking_metrics(run, qrels, ["ndcg@10", "mrr", "hit_rate@1"], 1)
    assert list(df.index) == ["q1", "q2", "q3"] and df.index.name == "qid"
    assert list(df.columns) == ["ndcg@10", "mrr", "hit_rate@1"]
    assert df.loc["q1", "mrr"] == 1.0 and df.loc["q2", "mrr"] == 0.5
    assert df.loc["q3"].tolist() == [0.0, 0.0, 0.0]  # no relevant item: callers exclude
    with pytest.raises(TagrankInputError, match="'q2' is missing from run"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["mrr"], 1)
    df0 = M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["mrr"], 1, on_missing_query="zero")
    assert df0["mrr"].tolist() == [1.0, 0.0, 0.0]


def test_vectorised_helpers_match_per_query():
    rng = np.random.default_rng(7)
    units, ranks, gains, per_q = [], [], [], []
    for u in range(25):
        ranked = [f"d{j}" for j in rng.permutation(30)[: int(rng.integers(1, 20))]]
        judged = [f"d{j}" for j in rng.permutation(30)[: int(rng.integers(0, 10))]]
        rel = {d: float(rng.integers(0, 4)) for d in judged}
        per_q.append((ranked, rel))
        units.append(np.full(len(judged), u))
        ranks.append(M.judged_ranks(ranked, judged))
        gains.append(np.array([rel[d] for d in judged]))
    unit, rank, gain = (np.concatenate(x) for x in (units, ranks, gains))
    unit = unit.astype(np.int64)
    relevant = gain >= 2
    for k in (1, 3, 10):
        nd = M.ndcg_per_unit(unit, rank, gain, 25, k)
        nde = M.ndcg_per_unit(unit, rank, gain, 25, k, gain="exponential")
        ap = M.average_precision_per_unit(unit, rank, relevant, 25, k)
        rr = M.reciprocal_rank_per_unit(unit, rank, relevant, 25, k)
        rc = M.recall_per_unit(unit, rank, relevant, 25, k)
        pr = M.precision_per_unit(unit, rank, relevant, 25, k)
        hr = M.hit_rate_per_unit(unit, rank, relevant, 25, k)
        for u, (ranked, rel) in enumerate(per_q):
            rs = {d for d, g in rel.items() if g >= 2}
            assert nd[u] == pytest.approx(M.ndcg_at_k(ranked, rel, k))
            assert nde[u] == pytest.approx(M.ndcg_at_k(ranked, rel, k, "exponential"))
            assert ap[u] == pytest.approx(M.average_precision(ranked, rs, k))
            assert rr[u] == pytest.approx(M.reciprocal_rank(ranked, rs, k))
            assert rc[u] == pytest.approx(M.recall_at_k(ranked, rs, k))
            assert pr[u] == pytest.approx(M.precision_at_k(ranked, rs, k))
            assert hr[u] == pytest.approx(M.hit_rate_at_k(ranked, rs, k))


@settings(max_examples=60, deadline=None)
@given(
    gains=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
    k=st.integers(1, 15),
)
def test_ndcg_properties(gains, seed, k):
    items = [f"i{j}" for j in range(len(gains))]
    rel = dict(zip(items, gains, strict=True))
    shuffled = list(np.random.default_rng(seed).permutation(items))
    for kind in ("linear", "exponential"):
        value = M.ndcg_at_k(shuffled, rel, k, kind)
        assert 0.0 <= value <= 1.0 + 1e-12
        ideal = sorted(items, key=lambda i: -rel[i])
        assert M.ndcg_at_k(ideal, rel, k, kind) == pytest.approx(1.0 if max(gains) > 0 else 0.0)


# ----------------------------------------------------------------------------- scipy / sklearn


def test_correlations_match_scipy():
    from scipy import stats as sps

    rng = np.random.default_rng(11)
    for _ in range(5):
        x = rng.normal(size=80)
        y = 0.5 * x + rng.normal(size=80)
        y[:10] = np.round(y[:10])  # some ties
        assert M.spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
        assert M.pearson(x, y) == pytest.approx(sps.pearsonr(x, y).statistic)
    assert M.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_classification_and_clustering_match_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(5)
    scores = rng.normal(size=200)
    labels = (scores + rng.normal(size=200) > 0).astype(int)
    assert M.roc_auc(scores, labels) == pytest.approx(skm.roc_auc_score(labels, scores))
    assert M.roc_auc(scores, labels.astype(bool)) == pytest.approx(skm.roc_auc_score(labels, scores))
    truth = rng.choice(["shirt", "shoe", "bag", "watch"], size=300)
    pred = np.where(rng.random(300) < 0.6, truth, rng.choice(["shirt", "shoe", "bag", "cap"], size=300))
    assert M.accuracy(pred, truth) == pytest.approx(skm.accuracy_score(truth, pred))
    assert M.macro_f1(pred, truth) == pytest.approx(
        skm.f1_score(truth, pred, average="macro", zero_division=0)
    )
    assert M.micro_f1(list(pred), list(truth)) == pytest.approx(skm.f1_score(truth, pred, average="micro"))
    assert M.ari(pred, truth) == pytest.approx(skm.adjusted_rand_score(truth, pred))
    assert M.nmi(pred, truth) == pytest.approx(skm.normalized_mutual_info_score(truth, pred))
    # multi-label indicator matrices (tags_micro_f1 / tags_macro_f1)
    yt = rng.integers(0, 2, size=(50, 6))
    yp = np.where(rng.random((50, 6)) < 0.7, yt, 1 - yt)
    assert M.micro_f1(yp, yt) == pytest.approx(skm.f1_score(yt, yp, average="micro"))
    assert M.macro_f1(yp, yt) == pytest.approx(skm.f1_score(yt, yp, average="macro", zero_division=0))
    assert M.accuracy(yp, yt) == pytest.approx(skm.accuracy_score(yt, yp))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3", None])
def test_bad_k(k):
    with pytest.raises(TagrankInputError, match="k must be a positive integer"):
        M.ndcg_at_k(["a"], {"a": 1}, k)
    with pytest.raises(TagrankInputError, match="k must be a positive integer"):
        M.recall_at_k(["a"], {"a"}, k)


def test_bad_ranking_inputs():
    with pytest.raises(TagrankInputError, match=r"relevance\['b'\] must be >= 0, got -1"):
        M.ndcg_at_k(["a"], {"a": 1, "b": -1}, 3)
    with pytest.raises(TagrankInputError, match=r"relevance\['a'\] must be finite"):
        M.ndcg_at_k(["a"], {"a": float("nan")}, 3)
    with pytest.raises(TagrankInputError, match="gain must be one of"):
        M.ndcg_at_k(["a"], {"a": 1}, 3, gain="log")
    with pytest.raises(TagrankInputError, match=r"ranked\[2\] = 'a' is a duplicate"):
        M.average_precision(["a", "b", "a"], {"a"})
    with pytest.raises(TagrankInputError, match="got a mapping"):
        M.average_precision(["a"], {"a": 0})
    with pytest.raises(TagrankInputError, match="ranked must be a sequence"):
        M.reciprocal_rank("abc", {"a"})
    with pytest.raises(TagrankInputError, match="mismatched lengths: item_ids has 2, scores has 1"):
        M.rank_by_scores(["a", "b"], [1.0])
    with pytest.raises(TagrankInputError, match="scores must be numeric"):
        M.rank_by_scores(["a", "b"], [1.0, "x"])
    with pytest.raises(TagrankInputError, match=r"scores\[1\] is NaN \(item 'b'\)"):
        M.rank_by_scores(["a", "b"], [1.0, float("nan")])
    with pytest.raises(TagrankInputError, match="catalog_size = 2 is smaller than the 3"):
        M.coverage_at_k([["a", "b", "c"]], 2, 3)
    with pytest.raises(TagrankInputError, match="catalog_size must be a positive integer"):
        M.coverage_at_k([["a"]], 0, 3)
    with pytest.raises(TagrankInputError, match="rank 1 appears twice for unit 0"):
        M.ndcg_per_unit(np.array([0, 0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]), 1)
    with pytest.raises(TagrankInputError, match=r"unit\[0\] = 3 is outside"):
        M.recall_per_unit(np.array([3]), np.array([1.0]), np.array([True]), 2, 5)
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        M.recall_per_unit(np.array([0, 0]), np.array([1.0]), np.array([True]), 2, 5)


def test_bad_per_query_inputs():
    qrels = {"q1": {"a": 1}}
    with pytest.raises(TagrankInputError, match=r"unknown ranking metric 'ndgc@10'"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["ndgc@10"], 1)
    with pytest.raises(TagrankInputError, match=r"'recall' needs a cutoff"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["recall"], 1)
    with pytest.raises(TagrankInputError, match="k must be a positive integer, got 0"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["ndcg@0"], 1)
    with pytest.raises(TagrankInputError, match="not of the form"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["ndcg@ten"], 1)
    with pytest.raises(TagrankInputError, match="lists 'mrr' twice"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["mrr", "mrr"], 1)
    with pytest.raises(TagrankInputError, match=r"run\['q1'\]\['b'\] score is NaN"):
        M.per_query_ranking_metrics({"q1": {"a": 1.0, "b": float("nan")}}, qrels, ["mrr"], 1)
    with pytest.raises(TagrankInputError, match=r"qrels\['q1'\]\['a'\] must be >= 0, got -2"):
        M.per_query_ranking_metrics({"q1": ["a"]}, {"q1": {"a": -2}}, ["mrr"], 1)
    with pytest.raises(TagrankInputError, match="relevance_threshold must be a number > 0"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["mrr"], None)
    with pytest.raises(TagrankInputError, match="relevance_threshold must be a number > 0.*got 0"):
        M.per_query_ranking_metrics({"q1": ["a"]}, qrels, ["mrr"], 0)
    with pytest.raises(TagrankInputError, match="missing column"):
        M.per_query_ranking_metrics(pd.DataFrame({"qid": ["q1"], "doc": ["a"]}), qrels, ["mrr"], 1)
    with pytest.raises(TagrankInputError, match="item 'a' twice for qid 'q1'"):
        frame = pd.DataFrame({"qid": ["q1", "q1"], "item": ["a", "a"], "score": [1.0, 2.0]})
        M.per_query_ranking_metrics(frame, qrels, ["mrr"], 1)


def test_bad_correlation_and_label_inputs():
    with pytest.raises(TagrankInputError, match="mismatched lengths: pred has 3, truth has 2"):
        M.spearman([1, 2, 3], [1, 2])
    with pytest.raises(TagrankInputError, match=r"pred\[1\] is not finite \(got nan\)"):
        M.pearson([1, float("nan"), 3], [1, 2, 3])
    with pytest.raises(TagrankInputError, match="pred is constant"):
        M.spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(TagrankInputError, match="truth is constant"):
        M.pearson([1, 2, 3], [5, 5, 5])
    assert math.isnan(M.spearman([1, 1, 1], [1, 2, 3], on_constant="nan"))
    assert math.isnan(M.pearson([1, 2, 3], [5, 5, 5], on_constant="nan"))
    with pytest.raises(TagrankInputError, match="at least 2 pairs"):
        M.spearman([1], [2])
    with pytest.raises(TagrankInputError, match="single class"):
        M.roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(TagrankInputError, match=r"labels\[1\] must be 0 or 1, got 2"):
        M.roc_auc([0.1, 0.2], [0, 2])
    with pytest.raises(TagrankInputError, match=r"scores\[0\] is not finite"):
        M.roc_auc([float("nan"), 0.2], [0, 1])
    with pytest.raises(TagrankInputError, match="mismatched lengths: pred has 2, truth has 3"):
        M.accuracy(["a", "b"], ["a", "b", "c"])
    with pytest.raises(TagrankInputError, match=r"truth\[1\] is missing"):
        M.macro_f1(["a", "b"], ["a", None])
    with pytest.raises(TagrankInputError, match=r"pred\[0\] is missing"):
        M.ari([float("nan"), 1.0], [1, 2])
    with pytest.raises(TagrankInputError, match="pred is empty"):
        M.nmi([], [])


def test_flags_and_score_maps_are_not_read_as_ids_or_rankings():
    """A Series of relevance flags is not a set of ids; {item: score} and sets are not rankings."""
    import pandas as pd

    from tagrank.baselines.validation import TagrankInputError
    from tagrank.eval.metrics import average_precision, ndcg_at_k, recall_at_k

    flags = pd.Series({"a": 1, "b": 0, "c": 1})
    for bad in (flags, np.array([True, False, True])):
        with pytest.raises(TagrankInputError, match="collection of relevant item ids"):
            recall_at_k(["a", "b", "c"], bad, 3)
        with pytest.raises(TagrankInputError, match="collection of relevant item ids"):
            average_precision(["a", "b", "c"], bad)
    assert recall_at_k(["a", "b", "c"], set(flags.index[flags > 0]), 3) == 1.0
    for bad in (pd.Series({"b": 0.1, "a": 0.9}), {"b": 0.1, "a": 0.9}, {"a", "b"}, np.array([["a", "b"]])):
        with pytest.raises(TagrankInputError, match="ranked order"):
            ndcg_at_k(bad, {"a": 1}, 2)
    assert ndcg_at_k(np.array(["a", "b"], dtype=object), {"a": 1}, 2) == 1.0
