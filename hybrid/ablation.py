"""Feature-group ablation: which groups of a hybrid model's features carry its gain.

A hybrid's features fall into groups: one per source method (its score plus
everything derived from it: ``<m>.rank``, ``<m>.gap``, ``<m>.z``, the
candidate provenance ``src.<m>`` / ``srank.<m>``; ``bm25_norm`` belongs to
``bm25``) and the method-free statistics (text, item, user / co-occurrence,
candidate-list). :func:`fit_ablations` refits the same model without each
group in turn, on the same training and validation rows; evaluating every
variant on the same test units then shows what each group adds (drop-one
ablation: the loss when a group is removed is the gain it carries that no
other group replaces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tagrank.baselines.validation import TagrankInputError

#: method-free feature groups, by feature-name prefix (first match wins)
STAT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("text stats", ("q.", "c.", "len.", "overlap.")),
    # search: how many training queries judged the product and their mean label -- a usage prior
    # (impressions / clicks in a shop), counted from training judgments, never from test
    ("usage prior", ("item.n_judged", "item.mean_label")),
    ("item stats", ("item.",)),
    ("user and co-occurrence stats", ("user.", "cooc.")),
    ("candidate-list stats", ("group.", "n_sources")),
)
#: prefix of provenance features that name their source method after it
PROVENANCE = ("src.", "srank.")
#: the label of the full model in an ablation table; a variant is ``"-" + group``
FULL = "all"


def _source_of(feature: str, sources: Sequence[str]) -> str | None:
    """The longest source name ``feature`` derives from (``transformer_whiten.z`` -> ``transformer_whiten``)."""
    name = feature
    for prefix in PROVENANCE:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    hits = [s for s in sources if name == s or name.startswith(s + "_") or name.startswith(s + ".")]
    return max(hits, key=len) if hits else None


def feature_groups(feature_names: Iterable[str], sources: Sequence[str]) -> dict[str, list[str]]:
    """``{group: [features]}`` in first-seen order: one group per source method, then the statistics groups;
    a feature matching nothing goes to ``"other"``."""
    sources = [str(s) for s in sources]
    groups: dict[str, list[str]] = {}
    for feature in feature_names:
        feature = str(feature)
        group = _source_of(feature, sources)
        if group is None:
            group = next((g for g, prefixes in STAT_GROUPS if feature.startswith(prefixes)), "other")
        groups.setdefault(group, []).append(feature)
    return groups


def fit_ablations(
    fit: Callable[[list[str]], Any], feature_names: Sequence[str], groups: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """``{"-<group>": fit(features without that group)}`` for every group that leaves at least one feature.

    ``fit(feature_cols)`` trains the model the same way as the full one (same rows,
    parameters and seed) on the given feature columns.
    """
    names = [str(f) for f in feature_names]
    if not names:
        raise TagrankInputError("feature_names is empty: nothing to ablate")
    out: dict[str, Any] = {}
    for group, members in groups.items():
        drop = set(members)
        unknown = drop - set(names)
        if unknown:
            raise TagrankInputError(f"feature group {group!r} has features not in feature_names: {sorted(unknown)}")
        kept = [f for f in names if f not in drop]
        if kept and len(kept) < len(names):
            out[f"-{group}"] = fit(kept)
    return out


#: fractions of the training rows in a learning curve (the full model is the fraction 1)
CURVE_FRACTIONS = (0.25, 0.5, 0.75)


def curve_name(fraction: float, unit: str = "rows") -> str:
    """The label of a learning-curve variant in an ablation table: ``"25% of training rows"``."""
    return f"{round(100 * fraction):g}% of training {unit}"


def fit_learning_curve(
    fit_rows: Callable[[Any], Any], n_rows: int, fractions: Sequence[float] = CURVE_FRACTIONS,
    random_state: int = 0, unit: str = "rows",
) -> dict[str, Any]:
    """``{curve_name(f, unit): fit_rows(rows)}``: the same model trained on nested random subsets of its
    ``n_rows`` training units (rows, or queries for a ranker; a fraction f keeps the first
    ``round(f * n_rows)`` of one seeded permutation). Scored on the same test units as the full model,
    the variants show whether the hybrid is still gaining from more training data. A fraction whose
    subset cannot train the model (too few rows, or no informative query) is left out."""
    if n_rows < 1:
        raise TagrankInputError(f"a learning curve needs training rows, got n_rows={n_rows}")
    order = np.random.default_rng(random_state).permutation(n_rows)
    out: dict[str, Any] = {}
    for fraction in fractions:
        if not 0 < fraction < 1:
            raise TagrankInputError(f"learning-curve fractions must be in (0, 1), got {fraction!r}")
        keep = np.sort(order[: max(1, round(fraction * n_rows))])
        try:
            out[curve_name(fraction, unit)] = fit_rows(keep)
        except TagrankInputError:  # the full data trains; this subset is too small to
            continue
    return out


__all__ = ["CURVE_FRACTIONS", "FULL", "STAT_GROUPS", "curve_name", "feature_groups", "fit_ablations",
           "fit_learning_curve"]
