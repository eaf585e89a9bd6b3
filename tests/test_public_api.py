"""The public API: every name ``tagrank`` exports resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tagrank


@pytest.mark.parametrize("name", tagrank.__all__)
def test_every_exported_name_resolves(name):
    value = getattr(tagrank, name)
    assert value is not None
    if name != "__version__":
        assert getattr(value, "__module__", "").startswith("tagrank.")


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'HybridRankr'"):
        tagrank.HybridRankr  # noqa: B018


def test_import_is_lazy():
    """``import tagrank`` loads neither torch nor LightGBM (a service imports it cheaply)."""
    code = "import sys, tagrank; print(sorted(m for m in ('torch', 'lightgbm', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_promised_names_are_exported():
    promised = {"HybridRanker", "HybridRegressor", "SearchPipeline", "RecommendPipeline", "TransformerEncoder",
                "BM25Scorer", "TfidfScorer", "JaccardScorer", "Word2VecScorer", "Item2VecScorer", "ALSScorer",
                "PopularityScorer", "Categoriser", "MultiLabelTagger", "TagClusterer", "TagRecommender",
                "ndcg_at_k", "evaluate_ranking", "evaluate_recommendations", "load_dataset"}
    assert promised <= set(tagrank.__all__)
