"""A third-party method as a plugin package would ship it: one module plus one entry point.

Its package's setup.cfg would say::

    [options.entry_points]
    tagrank.methods =
        toy = tests.eval.toy_method:methods

``tests/eval/test_plugins.py`` simulates that line with a fake ``importlib.metadata`` entry point.
"""

from __future__ import annotations

from typing import Any

from tagrank.baselines.popularity import PopularityScorer
from tagrank.eval.methods import MethodContext, MethodSpec


class RecentPopularity(PopularityScorer):
    """Popularity with a 30-day half-life: stands for somebody's own interaction scorer."""

    name = "toy_recent"

    def __init__(self, half_life_days: float | None = 30.0, weight_col: str | None = None) -> None:
        super().__init__(half_life_days=half_life_days, weight_col=weight_col)


def _build(ctx: MethodContext, **params: Any) -> RecentPopularity:
    return RecentPopularity(**params)


def methods() -> list[MethodSpec]:
    """The entry point: the plugin's methods (the registry registers what it returns)."""
    return [MethodSpec(
        "toy_recent", "interaction", _build, ("recommend",),
        grid=({"half_life_days": 30.0}, {"half_life_days": 365.0}),
        description="popularity with a time decay, from a plugin",
    )]
