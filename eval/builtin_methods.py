"""The library's classical methods: one ``register`` line each (see :mod:`eval.methods`).

Loaded through the ``tagrank.methods`` entry point ``baselines`` (setup.cfg), like the
other method modules (``transformer_methods``, ``finetune_methods``, ``hybrid_methods``,
``taxonomy_methods``) and any third-party plugin.

Grids are small and documented; the protocol picks a point on the valid split
(never on test) and records it under ``params["selected.*"]``.
"""

from __future__ import annotations

from tagrank.eval.methods import MethodContext, MethodSpec, lazy, register


def _random(ctx: MethodContext, **params):
    from tagrank.baselines.random_scorer import RandomScorer

    return RandomScorer(random_state=ctx.random_state, **params).fit()


TEXT_TASKS = ("similarity", "search", "taxonomy")

register(MethodSpec(
    "random", "task", {"search": _random}, ("search",),
    description="seeded random order (mean of 10 shuffles): the rerank floor",
))
register(MethodSpec(
    "popularity", "interaction", lazy("tagrank.baselines.popularity:PopularityScorer"), ("recommend", "tagrec"),
    description="most interacted items (distinct users)",
))
register(MethodSpec(
    "jaccard", "text", lazy("tagrank.baselines.jaccard:JaccardScorer", unit="char"), TEXT_TASKS,
    grid=({"ngram_range": (2, 3)}, {"ngram_range": (3, 3)}, {"unit": "word"}),
    description="Jaccard over character n-gram (or word) sets",
))
register(MethodSpec(
    "tfidf", "text", lazy("tagrank.baselines.tfidf:TfidfScorer"), (*TEXT_TASKS, "recommend", "tagrec"),
    grid=({"analyzer": "char"}, {"analyzer": "word"}, {"analyzer": "both"}),
    description="TF-IDF (sublinear tf) over words and/or character n-grams, cosine",
))
register(MethodSpec(
    "bm25", "text", lazy("tagrank.baselines.bm25:BM25Scorer"), ("search",),
    grid=({"k1": 1.2, "b": 0.75}, {"k1": 0.9, "b": 0.4}, {"k1": 1.5, "b": 0.9}),
    description="Okapi BM25 (Lucene idf) on sparse matrices",
))
register(MethodSpec(
    "word2vec", "text", lazy("tagrank.baselines.word2vec:Word2VecScorer", epochs=5), TEXT_TASKS,
    grid=({"remove_pc": True}, {"remove_pc": False}),
    description="gensim word2vec (5 epochs) on the task corpus + the language corpus, SIF sentence vectors",
))
register(MethodSpec(
    "item2vec", "interaction", lazy("tagrank.baselines.item2vec:Item2VecScorer", min_count=5), ("recommend",),
    description="gensim word2vec (skip-gram) over each user's time-ordered items",
))
register(MethodSpec(
    "als", "interaction", lazy("tagrank.baselines.als:ALSScorer"), ("recommend",),
    grid=(
        {"weighting": "bm25", "bm25_B": 0.0, "factors": 64},
        {"weighting": "raw", "alpha": 5.0, "factors": 32},
        {"weighting": "raw", "alpha": 5.0, "factors": 128, "regularization": 0.1},
        {"weighting": "raw", "alpha": 10.0, "factors": 64},
        {"weighting": "raw", "alpha": 2.0, "factors": 16},
    ),
    description="implicit AlternatingLeastSquares with confidence weighting",
))
register(MethodSpec(
    "bpr", "interaction", lazy("tagrank.baselines.bpr:BPRScorer"), ("recommend",),
    grid=(
        {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
        {"factors": 128, "learning_rate": 0.01, "regularization": 0.001, "iterations": 100},
        {"factors": 64, "learning_rate": 0.005, "regularization": 0.01, "iterations": 200},
        {"factors": 32, "learning_rate": 0.02, "regularization": 0.01, "iterations": 100},
    ),
    description="implicit BayesianPersonalizedRanking (pairwise ranking MF, one SGD thread: reproducible)",
))
