"""Shared protocol plumbing: the ablation table entry of a results file."""

from __future__ import annotations

import numpy as np
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.tasks.common import Scored, ablation_table


def test_ablation_table_layout_and_deltas():
    full = Scored(metrics={"ndcg@10": 0.50, "recall@100": 0.8}, ci95={"ndcg@10": [0.45, 0.55]},
                  per_unit={"ndcg@10": np.array([0.5])})
    minus_bm25 = Scored(metrics={"ndcg@10": 0.40, "recall@100": 0.7}, ci95={"ndcg@10": [0.35, 0.45]})
    calls = []

    def paired(a, b):
        calls.append((a, b))
        return {"p_value": 0.01, "test": "fake"}

    table = ablation_table(full, {"-bm25": minus_bm25}, "ndcg@10", paired, ("recall@100", "absent"))
    assert table["all"] == {"metrics": {"ndcg@10": 0.50, "recall@100": 0.8}, "ci95": {"ndcg@10": [0.45, 0.55]}}
    row = table["-bm25"]["metrics"]
    assert row["ndcg@10"] == 0.40 and row["recall@100"] == 0.7 and row["p_value"] == 0.01
    assert np.isclose(row["delta ndcg@10"], -0.10)
    # the variant is compared with the full model, in that order
    assert calls == [(minus_bm25, full)]


def test_ablation_table_records_an_undefined_variant_without_testing_it():
    from tagrank.eval.tasks.similarity import score_metrics

    truth = np.arange(30, dtype=float)
    full = score_metrics(truth + 0.1, truth, False)
    with pytest.raises(TagrankInputError, match="spearman is undefined"):  # a method's own row: an error
        score_metrics(np.full(30, 2.5), truth, False)
    constant = score_metrics(np.full(30, 2.5), truth, False, undefined_ok=True)  # a model too small to split
    assert np.isnan(constant.metrics["spearman"]) and np.isnan(constant.ci95["spearman"]).all()

    def paired(a, b):
        raise AssertionError("an undefined variant must not be tested")

    table = ablation_table(full, {"25% of training rows": constant}, "spearman", paired)
    row = table["25% of training rows"]
    assert row["metrics"] == {"spearman": None, "delta spearman": None, "p_value": None}
    assert row["ci95"] == {"spearman": [None, None]} and "constant" in row["note"]
    assert table["all"]["metrics"]["spearman"] == 1.0


def test_method_comparisons_only_for_pairs_that_ran():
    from tagrank.eval.tasks.common import method_comparisons

    ft = Scored(metrics={"spearman": 0.85}, ci95={})
    base = Scored(metrics={"spearman": 0.82}, ci95={})
    out = method_comparisons({"transformer_ft": ft, "transformer": base}, "spearman",
                             lambda a, b: {"p_value": 0.02, "test": "fake"})
    c = out["transformer_ft_vs_transformer"]
    assert (c["a"], c["b"], c["metric"], c["p_value"], c["test"]) == ("transformer_ft", "transformer", "spearman", 0.02, "fake")
    assert np.isclose(c["delta"], 0.03)
    assert method_comparisons({"transformer": base}, "spearman", lambda a, b: {}) == {}


def test_each_task_pairs_its_own_primary_metric():
    """recommend and tagrec test per-unit recall@10, search per-unit NDCG@10 (not one task's for all)."""
    from tagrank.eval.tasks import recommend, search, tagrec

    a = Scored(metrics={}, ci95={}, per_unit={"recall@10": np.array([1.0, 1.0, 0.5, 1.0]),
                                              "ndcg@10": np.array([0.2, 0.3, 0.4, 0.5])})
    b = Scored(metrics={}, ci95={}, per_unit={"recall@10": np.array([0.0, 0.5, 0.5, 0.0]),
                                              "ndcg@10": np.array([0.2, 0.3, 0.4, 0.5])})
    assert recommend.paired_t(a, b)["delta"] == tagrec.paired_t(a, b)["delta"] == pytest.approx(0.625)
    assert search.paired_t(a, b)["p_value"] == 1.0  # identical NDCG


def test_the_bench_runs_every_blas_on_one_thread(monkeypatch):
    """NumPy's and SciPy's bundled BLAS both run on one thread inside run_bench (a multi-threaded BLAS
    splits sums by core count, and a last-bit change can move a LightGBM split), and the caller's
    setting is back afterwards; torch's OpenMP threads are left alone."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from tagrank.eval import bench

    seen = {}

    def fake(*args, **kwargs):
        import scipy.optimize  # noqa: F401 - whatever a task imports later is limited too
        seen["blas"] = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        return []

    monkeypatch.setattr(bench, "_run_bench", fake)
    with threadpool_limits(limits=2, user_api="blas"):  # a caller with more threads (tests run on one)
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert bench.run_bench(tasks=["recommend"]) == []
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen["blas"] and set(seen["blas"]) == {1}
    assert after == before  # the caller's setting is back
