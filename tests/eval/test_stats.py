"""Tests for eval.stats: bootstrap intervals and paired tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.metrics import spearman
from tagrank.eval.stats import bootstrap_ci, bootstrap_ci_statistic, paired_test


def test_bootstrap_ci_deterministic_and_contains_mean():
    rng = np.random.default_rng(0)
    values = rng.random(300)
    low, high = bootstrap_ci(values)
    assert (low, high) == bootstrap_ci(values, random_state=0)  # same seed, same interval
    assert (low, high) != bootstrap_ci(values, random_state=1)
    assert low < values.mean() < high
    assert isinstance(low, float) and isinstance(high, float)
    # standard error of a mean of U(0,1) over 300 units ~ 0.0167: the 95% width ~ 0.065
    assert 0.04 < high - low < 0.09
    # more units -> narrower; higher confidence -> wider
    big = rng.random(3000)
    lb, hb = bootstrap_ci(big)
    assert hb - lb < (high - low) / 2
    l99, h99 = bootstrap_ci(values, confidence=0.99)
    assert l99 < low and h99 > high
    # constant values -> degenerate interval; one unit is allowed
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)
    assert bootstrap_ci([0.5]) == (0.5, 0.5)


def test_bootstrap_statistic_matches_mean_variant_and_spearman():
    rng = np.random.default_rng(1)
    values = rng.normal(size=123)
    ci = bootstrap_ci(values, n_resamples=200, random_state=7)
    ci2 = bootstrap_ci_statistic(lambda idx: values[idx].mean(), 123, n_resamples=200, random_state=7)
    assert ci == pytest.approx(ci2, abs=1e-12)  # the same resampled units
    x = rng.normal(size=150)
    y = 0.6 * x + rng.normal(size=150)
    rho = spearman(x, y)
    low, high = bootstrap_ci_statistic(lambda idx: spearman(x[idx], y[idx]), 150, n_resamples=300)
    assert low < rho < high and high - low < 0.5
    assert (low, high) == bootstrap_ci_statistic(
        lambda idx: spearman(x[idx], y[idx]), 150, n_resamples=300
    )


def test_bootstrap_coverage_sanity():
    # 200 simulated test sets of 60 units from N(0.3, 1): the 95% interval should cover
    # the true mean in roughly 95% of them (percentile bootstrap is a bit liberal at n=60).
    rng = np.random.default_rng(2)
    covered = sum(
        lo <= 0.3 <= hi
        for lo, hi in (bootstrap_ci(rng.normal(0.3, 1.0, 60), n_resamples=500, random_state=s) for s in range(200))
    )
    assert 0.88 <= covered / 200 <= 0.99


def test_paired_t_and_wilcoxon_match_scipy():
    rng = np.random.default_rng(3)
    a = rng.random(80)
    b = a - 0.03 + rng.normal(0, 0.1, 80)
    res = paired_test(a, b)
    assert res["test"] == "paired t-test"
    assert res["delta"] == pytest.approx(np.mean(a - b))
    assert res["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert res["n_units"] == 80
    w = paired_test(a, b, test="wilcoxon")
    assert w["test"] == "Wilcoxon signed-rank test"
    assert w["p_value"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert w["delta"] == pytest.approx(np.mean(a - b))


def test_resampling_tests_for_means():
    rng = np.random.default_rng(4)
    a = rng.random(100)
    strong = paired_test(a + 0.2, a + rng.normal(0, 0.05, 100), test="permutation")
    assert strong["test"] == "paired permutation test" and strong["n_resamples"] == 1000
    assert strong["p_value"] == pytest.approx(1 / 1001)  # nothing as extreme: the floor
    null = paired_test(a, a + rng.normal(0, 0.1, 100), test="permutation")
    t_null = paired_test(a, a + rng.normal(0, 0.1, 100))
    assert null["p_value"] > 0.01 and t_null["p_value"] > 0.001
    boot = paired_test(a + 0.05, a + rng.normal(0, 0.1, 100), test="bootstrap")
    assert boot["test"] == "paired bootstrap test" and boot["p_value"] < 0.01
    assert boot["ci"][0] < boot["delta"] < boot["ci"][1]
    # deterministic under the seed
    assert paired_test(a, a[::-1], test="bootstrap") == paired_test(a, a[::-1], test="bootstrap")
    # permutation p agrees with the t-test roughly on a moderate effect
    b = a - 0.02 + rng.normal(0, 0.1, 100)
    p_perm = paired_test(a, b, test="permutation", n_resamples=4000)["p_value"]
    p_t = paired_test(a, b)["p_value"]
    assert abs(p_perm - p_t) < 0.05


def test_resampling_tests_for_a_non_mean_statistic():
    rng = np.random.default_rng(5)
    truth = rng.normal(size=120)
    good = truth + rng.normal(0, 0.5, 120)
    bad = truth + rng.normal(0, 2.0, 120)

    def stat(values, idx):
        return spearman(values, truth[idx])

    for test in ("bootstrap", "permutation"):
        res = paired_test(good, bad, test=test, statistic=stat, n_resamples=300)
        assert res["delta"] == pytest.approx(spearman(good, truth) - spearman(bad, truth))
        assert res["p_value"] < 0.01, res
        same = paired_test(good, good, test=test, statistic=stat, n_resamples=50)
        assert same["delta"] == 0.0 and same["p_value"] == 1.0


@pytest.mark.parametrize("test", ["t", "wilcoxon", "permutation", "bootstrap"])
def test_identical_inputs_give_p_one(test):
    a = np.random.default_rng(6).random(30)
    res = paired_test(a, a.copy(), test=test, n_resamples=100)
    assert res["delta"] == 0.0 and res["p_value"] == 1.0


def test_constant_nonzero_difference_t_test():
    a = np.arange(10, dtype=float)
    assert paired_test(a + 1.0, a)["p_value"] == 0.0  # zero variance: scipy would warn
    assert paired_test(a + 0.1, a)["p_value"] < 1e-10  # rounding noise: scipy's answer


def test_bad_inputs():
    with pytest.raises(TagrankInputError, match="a_per_unit has 3, b_per_unit has 2"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(TagrankInputError, match=r"b_per_unit\[1\] is not finite \(got nan\)"):
        paired_test([1, 2], [1, float("nan")])
    with pytest.raises(TagrankInputError, match="test must be one of"):
        paired_test([1, 2], [2, 1], test="z")
    with pytest.raises(TagrankInputError, match="statistic is only for"):
        paired_test([1, 2], [2, 1], statistic=lambda v, i: 0.0)
    with pytest.raises(TagrankInputError, match="needs at least 2 units"):
        paired_test([1], [2])
    with pytest.raises(TagrankInputError, match=r"per_unit_values\[2\] is not finite"):
        bootstrap_ci([0.1, 0.2, float("nan")])
    with pytest.raises(TagrankInputError, match="per_unit_values is empty"):
        bootstrap_ci([])
    with pytest.raises(TagrankInputError, match="confidence must be in"):
        bootstrap_ci([0.1, 0.2], confidence=95)
    with pytest.raises(TagrankInputError, match="n_resamples must be an integer >= 1, got 0"):
        bootstrap_ci([0.1, 0.2], n_resamples=0)
    with pytest.raises(TagrankInputError, match="per_unit_values must be 1-D"):
        bootstrap_ci(np.ones((2, 2)))
    with pytest.raises(TagrankInputError, match="statistic returned nan on bootstrap resample 0"):
        bootstrap_ci_statistic(lambda idx: float("nan"), 5)
    with pytest.raises(TagrankInputError, match="n_units must be an integer >= 1"):
        bootstrap_ci_statistic(lambda idx: 0.0, 0)
