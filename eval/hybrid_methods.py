"""The ``hybrid`` method of each task: LightGBM over the features of every other fitted method.

The protocols build ``hybrid`` last (``spec.build(ctx, **params)``), after every
other method of the task was fitted into ``ctx.fitted``; the factories here
train on the task's train split, early-stop on its valid split and never read
test labels.

* Every hybrid is guarded (:mod:`hybrid.guard`): it serves its learned model only where
  held-out data does not find it worse than its best single source, else that source;
  the results ``params`` record what was ``served`` and the ``guard`` scores.
* **similarity**: the public :class:`hybrid.similarity_pipeline.SimilarityPipeline`
  (a :class:`hybrid.regressor.HybridRegressor`) over every fitted
  scorer's pair score plus text statistics (lengths, word overlap), trained on
  the train pairs' human scores, early-stopped on valid (by Spearman, or ROC
  AUC for binary labels: the task's primary metrics). A method fine-tuned on
  train (``transformer_ft``) scores the train pairs optimistically, so with one
  the default ``fit_on="auto"`` is ``"crossfit"``: its recipe is retrained on
  ``n_folds`` (5) folds of the train pairs
  (:func:`eval.finetune_methods.similarity_cross_fitted`) and each train pair's
  feature comes from the model that did not learn from it; valid and test
  pairs use the method itself. The regressor's tree and leaf sizes, with or
  without linear leaves, are chosen from ``SIMILARITY_GRID`` by the same valid
  metric (recorded as ``regressor_valid_grid``; ``grid=None`` fits the given
  parameters only). ``fit_on="valid"`` (the default for a
  supervised source without a recorded recipe) instead cross-fits 5
  regressors on the valid pairs (each early-stopped on its held-out fold) and
  averages them.
* Every hybrid also fits a drop-one ablation per feature group
  (:mod:`hybrid.ablation`; ``ablation=False`` turns it off), which the
  protocols score on the same test units into the results ``ablation`` table.
  The similarity hybrid adds a learning curve to that table: the same model
  trained on 25%, 50% and 75% of its training rows (nested random subsets).
* **search**: :class:`hybrid.pipelines.SearchPipeline` over the fitted text
  methods (``random`` excluded). ``rerank``: a LambdaRank model trained on the
  train queries' judged pairs; ``retrieve``: a LambdaRank model trained on the
  union of the methods' top 100 for (a sample of) the train queries, unjudged
  candidates as gain 0, re-ranking the same union at test time. (Training on
  the judged candidates alone is far worse for retrieval: on the valid split
  NDCG@10 0.33 vs 0.54.) Product statistics ``item.n_judged`` /
  ``item.mean_label`` count the *train* queries that judged the product
  (leave-one-query-out on train rows): a query-independent prior like an
  impression count, from train data only. It is the second most useful
  feature in ``retrieve`` (valid NDCG@10 0.54 with it, 0.46 without; the
  best single method, bm25, 0.39); ``item_stats=False`` turns it off. With a
  supervised source (``transformer_ft``, trained on the train queries) its
  train-query scores are optimistic, so the default ``fit_on="auto"`` is
  ``"crossfit"``: the train queries are split into ``n_folds`` folds, the
  source's recipe is trained once per fold on the other folds
  (:func:`eval.finetune_methods.search_cross_fitted`), and each train query's
  candidates and features come from the model that did not learn from it
  (:class:`hybrid.crossfit.CrossFittedScorer`); valid and test queries use the
  source itself. ``fit_on="valid"`` (the default for a supervised source
  without a recorded recipe) learns both rankers from the valid queries
  instead (20% of them early-stop), the item statistics still counting train.
* **recommend**: :class:`hybrid.pipelines.RecommendPipeline`. The ranker learns
  from ``inner_valid`` with candidate generators (clones of the fitted methods,
  same parameters) fitted on ``inner_train``; at test time the candidates and
  features come from the methods fitted on all train (``ctx.fitted``). The
  inner split is the protocol's own (``ctx.data["protocol"]``: temporal or
  random), so it matches the outer split; ``inner_split=`` another name
  re-splits train that way instead (used only to measure the choice). The
  pipeline's guard serves a generator instead of the ranker where the
  held-out inner users find the ranker worse (``served`` in the params).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.methods import MethodContext, MethodSpec, register

#: fitted methods that never feed the hybrid
EXCLUDED = ("random", "hybrid", "hybrid_no_prior")
#: methods trained on the task's train split (their train scores are optimistic)
SUPERVISED = ("transformer_ft",)


def _others(ctx: MethodContext, need: str) -> dict[str, Any]:
    out = {n: est for n, est in ctx.fitted.items() if n not in EXCLUDED and hasattr(est, need)}
    if not out:
        raise TagrankInputError(
            f"hybrid needs other fitted methods for task {ctx.task!r}; run it with at least one other method"
        )
    return out


def _supervised(scorers: dict[str, Any]) -> list[str]:
    """The sources that learnt from the train split's labels."""
    return [n for n, e in scorers.items() if n in SUPERVISED or getattr(e, "supervised", False)]


def _resolve_fit_on_crossfit(fit_on: str, scorers: dict[str, Any]) -> str:
    """:func:`_resolve_fit_on` where cross-fitting is offered: ``"auto"`` cross-fits when every supervised
    source records the recipe it was trained with (``transformer_ft`` does), else learns from valid."""
    from tagrank.eval.finetune_methods import has_recipe

    recipe = all(has_recipe(scorers[n]) for n in _supervised(scorers))
    return _resolve_fit_on(fit_on, scorers, "crossfit" if recipe else "valid", ("train", "valid", "crossfit"))


def _resolve_fit_on(fit_on: str, scorers: dict[str, Any], auto_supervised: str = "valid",
                    allowed: tuple[str, ...] = ("train", "valid")) -> str:
    """``"auto"`` -> ``auto_supervised`` when a source learnt from the train split's labels, else ``"train"``."""
    if fit_on == "auto":
        return auto_supervised if _supervised(scorers) else "train"
    if fit_on not in allowed:
        raise TagrankInputError(f"fit_on must be one of {[*allowed, 'auto']}, got {fit_on!r}")
    if fit_on == "crossfit" and not _supervised(scorers):
        return "train"  # nothing to cross-fit: the train split as it is
    return fit_on


def _importance(model: Any, top: int = 15) -> dict[str, float]:
    imp = model.feature_importance("gain")
    total = float(imp.sum()) or 1.0
    return {str(k): round(float(v) / total, 4) for k, v in imp.head(top).items()}


# --------------------------------------------------------------------------- similarity

from tagrank.hybrid.similarity_pipeline import SIMILARITY_GRID  # noqa: E402, F401  (re-exported: the benchmark's grid)
from tagrank.hybrid.similarity_pipeline import choose_setting as _choose  # noqa: E402, F401
from tagrank.hybrid.similarity_pipeline import grid_key as _grid_key  # noqa: E402, F401
from tagrank.hybrid.similarity_pipeline import grid_settings as _grid_settings  # noqa: E402, F401


class SimilarityHybrid:
    """The benchmark's face of a fitted :class:`hybrid.similarity_pipeline.SimilarityPipeline`."""

    name = "hybrid"

    def __init__(self, pipeline: Any, fit_on: str):
        self.pipeline = pipeline
        self.fit_on = fit_on

    @property
    def models(self) -> list[Any]:
        return self.pipeline.models_

    @property
    def builder(self) -> Any:
        return self.pipeline.builder_

    @property
    def sources(self) -> list[str]:
        return list(self.pipeline.scorers_)

    @property
    def ablation(self) -> dict[str, list[Any]]:
        return self.pipeline.ablation_

    def get_params(self) -> dict[str, Any]:
        params = {k: v for k, v in self.models[0].get_params().items() if k != "extra_params" or v}
        return {**params, "fit_on": self.fit_on, "sources": list(self.pipeline.scorers_)}

    def results_params(self) -> dict[str, Any]:
        p = self.pipeline
        return {
            "served": p.served_,
            "guard": {k: v for k, v in p.guard_.items() if k != "source_fill"},
            "cross_fitted": getattr(self, "cross_fitted_", {}),
            "regressor_valid_grid": p.valid_grid_,
            "features": list(p.feature_names_),
            "best_iteration": [int(m.best_iteration_) for m in p.models_],
            "importance_gain": _importance(p.models_[0]),
        }

    def score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        return self.pipeline.score_pairs(left, right)

    @property
    def ablation_variants(self) -> list[str]:
        """The fitted drop-one variants (``"-<group>"``); empty with ``ablation=False``."""
        return list(self.pipeline.ablation_)

    def score_pairs_ablation(self, left: list[str], right: list[str],
                             variants: list[str | None] | None = None) -> dict[str | None, np.ndarray]:
        """``score_pairs`` of the served model (key None) and of each feature-group ablation, features once."""
        return self.pipeline.score_pairs_variants(left, right, variants)


def _similarity(ctx: MethodContext, fit_on: str = "auto", n_folds: int = 5, ablation: bool = True,
                grid: Any = SIMILARITY_GRID, guard: bool = True, **params: Any) -> SimilarityHybrid:
    """The similarity hybrid: the public :class:`SimilarityPipeline` over the other fitted methods, its
    regressor setting chosen from ``grid`` (``None`` or empty = ``params`` only) by the valid metric."""
    from tagrank.hybrid.similarity_pipeline import SimilarityPipeline

    scorers = _others(ctx, "score_pairs")
    fit_on = _resolve_fit_on_crossfit(fit_on, scorers)
    cross_fitted: dict[str, Any] = {}
    if fit_on == "crossfit":
        from tagrank.eval.finetune_methods import similarity_cross_fitted

        cross_fitted = {n: similarity_cross_fitted(ctx, scorers[n], n_folds) for n in _supervised(scorers)}
    train, valid = ctx.data["train"], ctx.data["valid"]
    if fit_on in ("train", "crossfit") and len(train) < 2:
        raise TagrankInputError("the similarity train split has fewer than 2 pairs: hybrid cannot learn")
    pipe = SimilarityPipeline(
        scorers, regressor_params=params, grid=grid if len(valid) else None,
        fit_on="valid" if fit_on == "valid" else "train", n_folds=n_folds, binary=bool(ctx.data.get("binary")),
        language=ctx.language, guard=guard, ablation=ablation, random_state=ctx.random_state,
    )
    cols = ["left", "right", "score"]
    if fit_on == "valid":
        pipe.fit(valid[cols].iloc[:0], valid=valid[cols])
    else:
        pipe.fit(train[cols], valid=valid[cols], train_scorers=cross_fitted or None)
    hybrid = SimilarityHybrid(pipe, fit_on)
    hybrid.cross_fitted_ = {n: est.fold_params_ for n, est in cross_fitted.items()}
    hybrid.valid_grid_ = pipe.valid_grid_
    return hybrid


# --------------------------------------------------------------------------- search


class SearchHybrid:
    """``score_pairs`` (rerank) and ``top_k`` (retrieve) over a fitted :class:`SearchPipeline`."""

    name = "hybrid"

    def __init__(self, pipeline: Any, pair_items: dict[tuple[str, str], Any], text_items: dict[str, Any]):
        self.pipeline = pipeline
        self.pair_items = pair_items
        self.text_items = text_items

    def get_params(self) -> dict[str, Any]:
        params = {k: v for k, v in self.pipeline.get_params().items() if k != "scorers"}
        return {**params, "sources": list(self.pipeline.scorers_)}

    def results_params(self) -> dict[str, Any]:
        p = self.pipeline
        out = {
            "served": {"retrieve": getattr(p.retrieve_ranker_, "served_", "model")},
            "guard": {"retrieve": {k: v for k, v in getattr(p.retrieve_ranker_, "guard_", {}).items()
                                   if k != "source_fill"}},
            "usage_prior": bool(p.item_stats),
            "fit_on": getattr(p, "fit_on_", "train"),
            "cross_fitted": getattr(p, "cross_fitted_", {}),
            "retrieve_features": list(p.feature_names_),
            "retrieve_best_iteration": int(p.retrieve_ranker_.best_iteration_),
            "retrieve_importance_gain": _importance(p.retrieve_ranker_),
            "training": dict(p.training_summary_),
        }
        if p.rerank_ranker_ is not None:
            out["served"]["rerank"] = getattr(p.rerank_ranker_, "served_", "model")
            out["guard"]["rerank"] = {k: v for k, v in getattr(p.rerank_ranker_, "guard_", {}).items()
                                      if k != "source_fill"}
            out.update({
                "rerank_features": list(p.rerank_feature_names_),
                "rerank_best_iteration": int(p.rerank_ranker_.best_iteration_),
                "rerank_importance_gain": _importance(p.rerank_ranker_),
            })
        return out

    def _item(self, key: str, text: str) -> Any:
        item = self.pair_items.get((key, text))
        if item is None:
            item = self.text_items.get(text)
        if item is None:
            raise TagrankInputError(f"item text {text[:60]!r} is not a catalogue text")
        return item

    def score_pairs(self, query_keys: list[str], item_texts: list[str]) -> np.ndarray:
        return self.score_pairs_ablation(query_keys, item_texts, [None])[None]

    def top_k(self, query_keys: list[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.top_k(list(query_keys), k)

    @property
    def ablation_variants(self) -> list[str]:
        """The fitted drop-one variants (``"-<group>"``); empty with ``ablation=False``."""
        return sorted(set(self.pipeline.retrieve_ablation_) | set(self.pipeline.rerank_ablation_))

    def score_pairs_ablation(self, query_keys: list[str], item_texts: list[str],
                             variants: list[str | None] | None = None) -> dict[str | None, np.ndarray]:
        """``score_pairs`` of the model (key None) and of each feature-group ablation, features computed once."""
        keys = list(query_keys)
        items = [self._item(k, t) for k, t in zip(keys, item_texts, strict=True)]
        return self.pipeline.rerank_variants(keys, items, variants)

    def top_k_ablation(self, query_keys: list[str], k: int = 10) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
        """``top_k`` of the model (key None) and of each feature-group ablation, features computed once."""
        from tagrank.hybrid.pipelines import top_lists

        keys = list(query_keys)
        ranked = self.pipeline.search_variants(keys, k)
        return {v: top_lists(r, keys, "query", "item_id", k) for v, r in ranked.items()}


def _search(
    ctx: MethodContext,
    candidates_per_scorer: int = 100,
    max_train_queries: int | None = 3000,
    max_valid_queries: int | None = 1000,
    ranker_params: dict[str, Any] | None = None,
    item_stats: bool = True,
    ablation: bool = True,
    fit_on: str = "auto",
    n_folds: int = 2,
    guard: bool = True,
) -> SearchHybrid:
    from tagrank.hybrid.pipelines import SearchPipeline

    data = ctx.data["search"]
    scorers = _others(ctx, "top_k")
    fit_on = _resolve_fit_on_crossfit(fit_on, scorers)
    train_scorers: dict[str, Any] = {}
    if fit_on == "crossfit":
        from tagrank.eval.finetune_methods import search_cross_fitted

        for name in _supervised(scorers):
            train_scorers[name] = search_cross_fitted(ctx, scorers[name], n_folds)

    def judged(split: str) -> pd.DataFrame:
        part = data.parts[split]
        return pd.DataFrame({"query": part["key"], "item_id": part["item_id"], "label": part["label"]})

    pipe = SearchPipeline(
        scorers, ranker_params=ranker_params, candidates_per_scorer=candidates_per_scorer,
        max_train_queries=max_train_queries, max_valid_queries=max_valid_queries, item_stats=item_stats,
        language=ctx.language, ablation=ablation, random_state=ctx.random_state, guard=guard,
    )
    if fit_on in ("train", "crossfit"):
        pipe.fit_fitted(data.item_ids, data.item_texts, judged("train"), valid=judged("valid"), scorers=scorers,
                        train_scorers=train_scorers)
    else:  # learn from the valid queries (20% of them early-stop); item statistics still count train
        pipe.fit_fitted(data.item_ids, data.item_texts, judged("valid"), valid=None, scorers=scorers,
                        item_stats_from=judged("train"))
    pipe.fit_on_ = fit_on
    pipe.cross_fitted_ = {name: est.fold_params_ for name, est in train_scorers.items()}
    # (query key, item text) -> item id: the identity of judged pairs, no labels
    j = data.judgments
    pair_items = {(k, data.text_of[i]): i for k, i in zip(j["key"], j["item_id"], strict=True)}
    text_items: dict[str, Any] = {}
    for item, text in zip(data.item_ids, data.item_texts, strict=True):
        text_items.setdefault(text, item)
    return SearchHybrid(pipe, pair_items, text_items)


# --------------------------------------------------------------------------- recommend


class RecommendHybrid:
    """``recommend`` over a fitted :class:`RecommendPipeline` (JSON-safe params for the results file)."""

    name = "hybrid"

    def __init__(self, pipeline: Any, rebuilt: dict[str, str]):
        self.pipeline = pipeline
        self.rebuilt = rebuilt

    def get_params(self) -> dict[str, Any]:
        params = {k: v for k, v in self.pipeline.get_params().items() if k != "generators"}
        return {**params, "sources": list(self.pipeline.generators_)}

    def results_params(self) -> dict[str, Any]:
        p = self.pipeline
        return {
            "features": list(p.feature_names_),
            "best_iteration": int(p.ranker_.best_iteration_),
            "importance_gain": _importance(p.ranker_),
            "training": dict(p.training_summary_),
            "inner_generators": dict(self.rebuilt),
            "inner_split": p.inner_split_,
            "served": p.served_,
            "guard": dict(p.guard_),
        }

    def recommend(self, user_ids: list[Any], k: int = 10, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.recommend(user_ids, k, exclude_seen=exclude_seen)

    def similar_items(self, item_ids: list[Any], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return self.pipeline.similar_items(item_ids, k)

    @property
    def ablation_variants(self) -> list[str]:
        """The fitted drop-one variants (``"-<group>"``); empty with ``ablation=False``."""
        return list(self.pipeline.ablation_)

    def recommend_ablation(self, user_ids: list[Any], k: int = 10, exclude_seen: bool = True
                           ) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
        """``recommend`` of the model (key None) and of each feature-group ablation, features computed once."""
        return self.pipeline.recommend_variants(user_ids, k, exclude_seen=exclude_seen)


def _inner_generator(ctx: MethodContext, name: str, fitted: Any, interactions: pd.DataFrame) -> tuple[Any, str]:
    """The method ``name`` refitted on ``interactions``: a clone of the fitted one (same parameters),
    or, when it cannot be cloned, rebuilt from the registry with default parameters."""
    from tagrank.eval.methods import REGISTRY
    from tagrank.hybrid.pipelines import clone, fit_recommender

    items = ctx.data.get("items")
    try:
        est = clone(fitted)
        how = "clone"
    except (TagrankInputError, TypeError):
        spec = REGISTRY[name]
        est = spec.build(ctx)
        how = "registry defaults"
        if spec.kind == "text":
            from tagrank.baselines.content import ContentRecommender

            est = ContentRecommender(est, device=ctx.device)
    return fit_recommender(est, interactions, items), how


def _recommend(
    ctx: MethodContext,
    candidates_per_generator: int = 200,
    max_train_users: int | None = 2000,
    mmr_lambda: float | None = None,
    ranker_params: dict[str, Any] | None = None,
    cooc: bool = True,
    ablation: bool = True,
    inner_split: str | None = None,
) -> RecommendHybrid:
    from tagrank.hybrid.pipelines import RecommendPipeline
    from tagrank.hybrid.user_splits import inner_user_split

    full = _others(ctx, "recommend")
    protocol = ctx.data.get("protocol", "temporal")
    if inner_split is None or inner_split == protocol:  # the protocol's own inner split (matches the outer one)
        inner_split = protocol
        inner_train, inner_valid = ctx.data["inner_train"], ctx.data["inner_valid"]
    else:  # another inner split of the same train part (to measure what the choice costs)
        fraction = 0.25 if inner_split == "random" else 0.2  # the protocols' own fractions
        inner_train, inner_valid = inner_user_split(ctx.data["train"], inner_split, fraction, 5, ctx.random_state + 1)
    inner, rebuilt = {}, {}
    for name, est in full.items():
        inner[name], rebuilt[name] = _inner_generator(ctx, name, est, inner_train)
    pipe = RecommendPipeline(
        full, ranker_params=ranker_params, candidates_per_generator=candidates_per_generator,
        max_train_users=max_train_users, mmr_lambda=mmr_lambda, cooc=cooc, ablation=ablation,
        inner_split=inner_split, random_state=ctx.random_state,
    )
    pipe.fit_from_parts(inner, inner_train, inner_valid, full, ctx.data["train"], split_name=inner_split)
    return RecommendHybrid(pipe, rebuilt)


register(MethodSpec(
    "hybrid", "task", {"similarity": _similarity, "search": _search, "recommend": _recommend},
    ("similarity", "search", "recommend"),
    description="LightGBM over the other methods' features: regression (similarity), LambdaRank (search, recommend)",
))


def _search_no_prior(ctx: MethodContext, **params: Any) -> SearchHybrid:
    """The search hybrid without the usage prior (``item.n_judged`` / ``item.mean_label``, counted from
    training judgments): its own row, so the gain that needs no judgment log stands beside the one that does."""
    return _search(ctx, **{"ablation": False, **params, "item_stats": False})


register(MethodSpec(
    "hybrid_no_prior", "task", {"search": _search_no_prior}, ("search",),
    description="the search hybrid without the usage prior (per-product statistics from training judgments)",
))
