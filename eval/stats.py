"""Uncertainty for benchmark metrics: bootstrap intervals over test units and paired tests.

A *unit* is what the benchmark resamples: a query, a user, a word pair, a product. Every
primary metric carries a 95% percentile-bootstrap interval over units (1,000 resamples,
fixed seed; ``BENCHMARK_SPEC.md``), and ``hybrid`` is compared with the best single method
by a paired test over the same units.

* :func:`bootstrap_ci` -- the metric is the mean of per-unit values (NDCG@10, recall@10,
  accuracy as the mean of 0/1 hits, ...). Vectorised.
* :func:`bootstrap_ci_statistic` -- the metric is not a mean of units (Spearman or ROC AUC
  over pairs, macro-F1, ...): the statistic is recomputed on resampled unit indices.

Both draw resample ``b`` as ``rng.integers(0, n, size=n)`` from
``np.random.default_rng(random_state)``, in order, so for the same seed they resample the
same units: ``bootstrap_ci_statistic(lambda idx: v[idx].mean(), len(v))`` equals
``bootstrap_ci(v)``. A fixed seed gives the same interval on every run.

:func:`paired_test` returns ``{"delta", "p_value", "test", "n_units", ...}``; identical
inputs give ``delta = 0.0`` and ``p_value = 1.0`` for every test (scipy would give NaN for
the t-test and refuse the Wilcoxon test; a zero difference is no evidence of one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tagrank.baselines.validation import TagrankInputError, _preview

__all__ = ["bootstrap_ci", "bootstrap_ci_statistic", "paired_test", "TEST_NAMES"]

TEST_NAMES = {
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "permutation": "paired permutation test",
    "bootstrap": "paired bootstrap test",
}
_CHUNK_CELLS = 2_000_000  # resample-matrix cells per chunk: bounds memory for large n


def _check_values(values: Any, field: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TagrankInputError(f"{field} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise TagrankInputError(f"{field} must be 1-D (one value per unit), got shape {arr.shape}")
    if arr.size == 0:
        raise TagrankInputError(f"{field} is empty: at least one unit is needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TagrankInputError(f"{field}[{i}] is not finite (got {float(arr[i])!r})")
    return arr


def _check_n(value: Any, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise TagrankInputError(f"{field} must be an integer >= {minimum}, got {_preview(value)}")
    return int(value)


def _check_confidence(confidence: Any) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        c = math.nan
    if not 0.0 < c < 1.0:
        raise TagrankInputError(f"confidence must be in (0, 1), got {_preview(confidence)}")
    return c


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    # A resample can make a statistic undefined (e.g. a correlation over constant values): skip it.
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _resample_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    chunk = max(1, _CHUNK_CELLS // n)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    per_unit_values: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``per_unit_values``.

    Resamples units with replacement ``n_resamples`` times (seeded by ``random_state``) and
    returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the
    resampled means. NaN / inf values raise :class:`TagrankInputError` (drop undefined units,
    e.g. queries without a relevant item, first).
    """
    values = _check_values(per_unit_values, "per_unit_values")
    n_resamples = _check_n(n_resamples, "n_resamples")
    confidence = _check_confidence(confidence)
    rng = np.random.default_rng(random_state)
    return _percentile_interval(_resample_means(values, n_resamples, rng), confidence)


def bootstrap_ci_statistic(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of a statistic that is not a mean of units.

    ``statistic(idx)`` gets an int64 array of ``n_units`` resampled unit indices (with
    repeats) and returns a float, e.g. ``lambda idx: spearman(pred[idx], truth[idx])``.
    A non-finite value from any resample raises :class:`TagrankInputError`.
    """
    if not callable(statistic):
        raise TagrankInputError(f"statistic must be callable, got {_preview(statistic)}")
    n_units = _check_n(n_units, "n_units")
    n_resamples = _check_n(n_resamples, "n_resamples")
    confidence = _check_confidence(confidence)
    rng = np.random.default_rng(random_state)
    stats = np.empty(n_resamples)
    for b in range(n_resamples):
        value = float(statistic(rng.integers(0, n_units, size=n_units)))
        if not math.isfinite(value):
            raise TagrankInputError(f"statistic returned {value!r} on bootstrap resample {b}")
        stats[b] = value
    return _percentile_interval(stats, confidence)


def _mean_stat(values: np.ndarray, idx: np.ndarray) -> float:
    return float(values.mean())


def paired_test(
    a_per_unit: np.ndarray,
    b_per_unit: np.ndarray,
    test: str = "t",
    *,
    statistic: Callable[[np.ndarray, np.ndarray], float] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any]:
    """Paired two-sided test of method A vs method B over the same units.

    Args:
        a_per_unit, b_per_unit: one value per unit, aligned (unit i of A is unit i of B).
            Per-unit metric values for a mean metric; for a ``statistic`` they are whatever
            the statistic consumes, e.g. each method's predicted score per pair.
        test: ``"t"`` (scipy.stats.ttest_rel), ``"wilcoxon"`` (scipy.stats.wilcoxon,
            zero differences dropped), ``"permutation"`` (random per-unit swaps of A and B,
            i.e. sign flips of the difference for the mean) or ``"bootstrap"`` (paired
            bootstrap of the difference; p = share of centred resampled differences at
            least as extreme as the observed one).
        statistic: only for ``"permutation"`` / ``"bootstrap"``: ``statistic(values, idx)``
            -> float, where ``values`` are one method's per-unit values at the unit
            indices ``idx`` (already indexed: ``values[j]`` belongs to unit ``idx[j]``).
            Example, Spearman against human scores ``truth``:
            ``lambda v, idx: spearman(v, truth[idx])``. Default: the mean of ``values``.
        n_resamples, random_state: resampling tests only (p-values are >= 1/(n_resamples+1)).
        confidence: level of the bootstrap interval of ``delta`` (``"bootstrap"`` only).

    Returns ``{"delta": stat(A) - stat(B) (mean(a - b) by default), "p_value", "test":
    the test's name (e.g. "paired t-test"), "n_units"}`` plus ``"n_resamples"`` for the
    resampling tests and ``"ci"`` (interval of delta) for the bootstrap. Identical inputs
    give delta 0.0 and p_value 1.0. A constant non-zero difference gives p_value 0.0 under
    the t-test (zero variance).
    """
    a = _check_values(a_per_unit, "a_per_unit")
    b = _check_values(b_per_unit, "b_per_unit")
    if len(a) != len(b):
        raise TagrankInputError(
            f"mismatched lengths: a_per_unit has {len(a)}, b_per_unit has {len(b)} (the test is paired)"
        )
    if test not in TEST_NAMES:
        raise TagrankInputError(f"test must be one of {list(TEST_NAMES)}, got {_preview(test)}")
    if statistic is not None and test in ("t", "wilcoxon"):
        raise TagrankInputError(
            f"statistic is only for test='permutation' or 'bootstrap', not test={test!r}"
        )
    if statistic is not None and not callable(statistic):
        raise TagrankInputError(f"statistic must be callable, got {_preview(statistic)}")
    n = len(a)
    out: dict[str, Any] = {"test": TEST_NAMES[test], "n_units": n}
    diff = a - b
    identical = bool(np.all(a == b))

    if test in ("t", "wilcoxon"):
        out["delta"] = float(diff.mean())
        if identical or np.all(diff == 0):
            out["p_value"] = 1.0
            return out
        if n < 2:
            raise TagrankInputError(f"the {TEST_NAMES[test]} needs at least 2 units, got {n}")
        from scipy import stats as sps

        if test == "t" and np.all(diff == diff[0]):
            out["p_value"] = 0.0  # constant non-zero difference: zero variance, t = +-inf
            return out
        if test == "t":
            p = sps.ttest_rel(a, b).pvalue
        else:
            p = sps.wilcoxon(a, b).pvalue
        out["p_value"] = float(p)
        return out

    n_resamples = _check_n(n_resamples, "n_resamples")
    rng = np.random.default_rng(random_state)
    out["n_resamples"] = n_resamples
    units = np.arange(n)
    if statistic is None:
        observed = float(diff.mean())
    else:
        observed = float(statistic(a, units)) - float(statistic(b, units))
        if not math.isfinite(observed):
            raise TagrankInputError(f"statistic returned a non-finite difference {observed!r}")
    out["delta"] = 0.0 if identical else observed

    if test == "permutation":
        if statistic is None:
            d_perm = np.empty(n_resamples)
            chunk = max(1, _CHUNK_CELLS // n)
            for start in range(0, n_resamples, chunk):
                stop = min(n_resamples, start + chunk)
                signs = np.where(rng.random((stop - start, n)) < 0.5, -1.0, 1.0)
                d_perm[start:stop] = (signs * diff).mean(axis=1)
        else:
            d_perm = np.empty(n_resamples)
            for r in range(n_resamples):
                swap = rng.random(n) < 0.5
                a2, b2 = np.where(swap, b, a), np.where(swap, a, b)
                d_perm[r] = float(statistic(a2, units)) - float(statistic(b2, units))
        extreme = np.abs(d_perm) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    else:  # bootstrap
        confidence = _check_confidence(confidence)
        if statistic is None:
            d_boot = _resample_means(diff, n_resamples, rng)
        else:
            d_boot = np.empty(n_resamples)
            for r in range(n_resamples):
                idx = rng.integers(0, n, size=n)
                d_boot[r] = float(statistic(a[idx], idx)) - float(statistic(b[idx], idx))
        if not np.all(np.isfinite(d_boot)):
            r = int(np.flatnonzero(~np.isfinite(d_boot))[0])
            raise TagrankInputError(f"statistic returned a non-finite value on bootstrap resample {r}")
        out["ci"] = _percentile_interval(d_boot, confidence)
        extreme = np.abs(d_boot - observed) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    if identical:
        out["p_value"] = 1.0
    else:
        out["p_value"] = float(min(1.0, (1 + int(extreme.sum())) / (n_resamples + 1)))
    return out
