"""The library's own methods: one ``register`` line each (see :mod:`eval.methods`).

Grids are small and documented; the protocol picks a point on the valid split.
"""

from __future__ import annotations

from eval.methods import MethodContext, MethodSpec, lazy, register


def _random(ctx: MethodContext, **params):
    from baselines.random_scorer import RandomScorer

    return RandomScorer(random_state=ctx.random_state, **params).fit()


register(MethodSpec(
    "random", "task", {"search": _random}, ("search",),
    description="seeded random order (mean of 10 shuffles): the rerank floor",
))
register(MethodSpec(
    "popularity", "interaction", lazy("baselines.popularity:PopularityScorer"), ("recommend",),
    description="most interacted items (distinct users)",
))
register(MethodSpec(
    "jaccard", "text", lazy("baselines.jaccard:JaccardScorer", unit="char", ngram_range=(2, 3)),
    ("similarity", "search", "taxonomy"),
    description="Jaccard over character 2-3-gram sets",
))
