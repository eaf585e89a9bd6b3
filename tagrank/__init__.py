"""tagrank: product and tag similarity and ranking.

The code lives in three layered packages, installed as ``tagrank.eval ->
tagrank.hybrid -> tagrank.baselines`` (the repository keeps them as the top-level
folders ``eval/``, ``hybrid/``, ``baselines/``). This module is the public face:
its version and a lazy facade over the public API, so ``from tagrank import
HybridRanker`` works without importing torch or LightGBM until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_PUBLIC: dict[str, str] = {
    # errors
    "TagrankInputError": "tagrank.baselines.validation",
    "NotFittedError": "tagrank.baselines.validation",
    "BlankTextError": "tagrank.baselines.validation",
    "TimestampError": "tagrank.baselines.validation",
    "LabelError": "tagrank.baselines.validation",
    "SavedModelError": "tagrank.baselines.validation",
    "ModelPathError": "tagrank.baselines.validation",
    # classical scorers
    "BM25Scorer": "tagrank.baselines.bm25",
    "TfidfScorer": "tagrank.baselines.tfidf",
    "JaccardScorer": "tagrank.baselines.jaccard",
    "Word2VecScorer": "tagrank.baselines.word2vec",
    "Item2VecScorer": "tagrank.baselines.item2vec",
    "ALSScorer": "tagrank.baselines.als",
    "BPRScorer": "tagrank.baselines.bpr",
    "PopularityScorer": "tagrank.baselines.popularity",
    "RandomScorer": "tagrank.baselines.random_scorer",
    "ContentRecommender": "tagrank.baselines.content",
    "TagPopularityScorer": "tagrank.baselines.tag_signals",
    "UserHistoryScorer": "tagrank.baselines.tag_signals",
    "ItemCooccurrenceScorer": "tagrank.baselines.tag_signals",
    "top_k": "tagrank.baselines.vectors",
    # transformers
    "TransformerEncoder": "tagrank.hybrid.encoder",
    "TransformerScorer": "tagrank.hybrid.transformer_scorer",
    "BiEncoderFineTuner": "tagrank.hybrid.finetune",
    "TransformerClassifier": "tagrank.hybrid.finetune_classifier",
    # hybrid models and pipelines
    "HybridRanker": "tagrank.hybrid.ranker",
    "HybridRegressor": "tagrank.hybrid.regressor",
    "FeatureBuilder": "tagrank.hybrid.features",
    "CandidateGenerator": "tagrank.hybrid.candidates",
    "SearchPipeline": "tagrank.hybrid.pipelines",
    "SimilarityPipeline": "tagrank.hybrid.similarity_pipeline",
    "SourceFallbackWarning": "tagrank.hybrid.guard",
    "NoSplitWarning": "tagrank.hybrid.guard",
    "DistributionShiftWarning": "tagrank.hybrid.guard",
    "RecommendPipeline": "tagrank.hybrid.pipelines",
    # tag systems
    "Categoriser": "tagrank.hybrid.categoriser",
    "MultiLabelTagger": "tagrank.hybrid.multilabel",
    "TagClusterer": "tagrank.hybrid.tag_clustering",
    "TagRecommender": "tagrank.hybrid.tag_recommender",
    "StackedCategoriser": "tagrank.hybrid.stacked_categoriser",
    "FineTunedCategoriser": "tagrank.hybrid.finetune_categoriser",
    # data
    "load_dataset": "tagrank.eval.datasets",
    "list_datasets": "tagrank.eval.datasets",
    "Dataset": "tagrank.eval.datasets",
    # metrics (one per function) and evaluation helpers
    "ndcg_at_k": "tagrank.eval.metrics",
    "map_at_k": "tagrank.eval.metrics",
    "average_precision": "tagrank.eval.metrics",
    "reciprocal_rank": "tagrank.eval.metrics",
    "recall_at_k": "tagrank.eval.metrics",
    "precision_at_k": "tagrank.eval.metrics",
    "hit_rate_at_k": "tagrank.eval.metrics",
    "coverage_at_k": "tagrank.eval.metrics",
    "spearman": "tagrank.eval.metrics",
    "pearson": "tagrank.eval.metrics",
    "roc_auc": "tagrank.eval.metrics",
    "accuracy": "tagrank.eval.metrics",
    "macro_f1": "tagrank.eval.metrics",
    "micro_f1": "tagrank.eval.metrics",
    "per_query_ranking_metrics": "tagrank.eval.metrics",
    "bootstrap_ci": "tagrank.eval.stats",
    "paired_test": "tagrank.eval.stats",
    "evaluate_ranking": "tagrank.eval.evaluate",
    "evaluate_recommendations": "tagrank.eval.evaluate",
    "run_bench": "tagrank.eval.bench",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'tagrank' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
