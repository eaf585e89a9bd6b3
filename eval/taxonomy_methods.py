"""Registry lines of the tag-system tasks (``taxonomy``, ``tagrec``).

* ``user_history`` / ``item_cooccurrence`` (tagrec only, kind ``task``): the tag
  signals of :mod:`baselines.tag_signals`, fitted on the train tag events.
* ``hybrid`` for ``taxonomy`` and ``tagrec``: the ``hybrid`` method is
  registered once (:mod:`eval.hybrid_methods`, for similarity / search /
  recommend); this module adds the two task recipes to it (or registers it
  with only these two tasks when that module is absent):

  - taxonomy: :class:`hybrid.stacked_categoriser.StackedCategoriser` over the fitted
    categorisers in ``ctx.fitted``; the protocol fits it on the valid products;
  - tagrec: :class:`hybrid.tag_recommender.TagRecommender` (LambdaRank over the
    candidates of popularity, user_history, item_cooccurrence and the fitted
    text methods), with the signals' selected parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import tagrank.eval.hybrid_methods  # noqa: F401  (registers the hybrid these recipes extend, in any load order)
from tagrank.eval.methods import REGISTRY, MethodContext, MethodSpec, register

TAGREC = ("tagrec",)


def _user_history(ctx: MethodContext, **params: Any):
    from tagrank.baselines.tag_signals import UserHistoryScorer

    return UserHistoryScorer(**params)


def _item_cooccurrence(ctx: MethodContext, **params: Any):
    from tagrank.baselines.tag_signals import ItemCooccurrenceScorer

    return ItemCooccurrenceScorer(**params)


def taxonomy_hybrid(ctx: MethodContext, n_candidates: int = 5, ranker_params: dict[str, Any] | None = None):
    """The taxonomy ``hybrid``: a stacker over every fitted categoriser (fitted by the protocol on valid)."""
    from tagrank.baselines.validation import TagrankInputError
    from tagrank.hybrid.categoriser import Categoriser
    from tagrank.hybrid.stacked_categoriser import StackedCategoriser

    bases = {n: est for n, est in ctx.fitted.items() if isinstance(est, Categoriser)}
    if not bases:
        raise TagrankInputError("hybrid needs other fitted taxonomy methods; run it with at least one other method")
    return StackedCategoriser(bases=bases, n_candidates=n_candidates, ranker_params=ranker_params,
                              random_state=ctx.random_state)


def tagrec_hybrid(ctx: MethodContext, n_candidates: int = 50, ranker_params: dict[str, Any] | None = None,
                  ablation: bool = True):
    """The tagrec ``hybrid``: TagRecommender over the tag signals and the fitted text methods, with a
    drop-one ablation per signal (scored by the protocol into the results ``ablation`` table)."""
    from tagrank.hybrid.tag_recommender import TagRecommender

    text = {n: ctx.fitted[n] for n in ctx.data.get("text_methods", []) if n in ctx.fitted}
    return TagRecommender(
        text_scorers=text or None, n_candidates=n_candidates, ranker_params=ranker_params,
        user_history=ctx.fitted.get("user_history"), item_cooccurrence=ctx.fitted.get("item_cooccurrence"),
        random_state=ctx.random_state, ablation=ablation,
    )


HYBRID_RECIPES = {"taxonomy": taxonomy_hybrid, "tagrec": tagrec_hybrid}

register(MethodSpec(
    "user_history", "task", {"tagrec": _user_history}, TAGREC,
    grid=({"half_life_days": None}, {"half_life_days": 30.0}),
    description="the user's own tag frequencies (optionally time-decayed)",
))
register(MethodSpec(
    "item_cooccurrence", "task", {"tagrec": _item_cooccurrence}, TAGREC,
    grid=({"cooccurrence_weight": 1.0}, {"cooccurrence_weight": 0.3}, {"cooccurrence_weight": 0.0}),
    description="the item's tags plus the tags co-occurring with them on other items",
))


def _add_hybrid_recipes() -> None:
    """Give the registered ``hybrid`` the taxonomy and tagrec recipes (register it if absent)."""
    spec = REGISTRY.get("hybrid")
    if spec is None:
        register(MethodSpec(
            "hybrid", "task", dict(HYBRID_RECIPES), tuple(HYBRID_RECIPES),
            description="LightGBM LambdaRank: stacked categoriser (taxonomy), tag ranker (tagrec)",
        ))
        return
    factory = spec.factory
    if not isinstance(factory, Mapping):
        return  # a single-factory hybrid: leave it alone
    missing = {t: f for t, f in HYBRID_RECIPES.items() if t not in factory}
    if not missing:
        return
    REGISTRY["hybrid"] = dataclasses.replace(
        spec,
        factory={**factory, **missing},
        tasks=tuple(dict.fromkeys((*spec.tasks, *missing))),
        description=spec.description + "; stacked categoriser (taxonomy), tag ranker (tagrec)",
    )


_add_hybrid_recipes()
