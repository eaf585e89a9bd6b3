"""What a service imports: candidate generation + features + LambdaRank, end to end.

:class:`RecommendPipeline` (user -> items)
    ``fit(interactions, items)`` holds out part of each user's interactions
    (``inner_split``: random per user by default, or temporal -- the last
    ``max(1, floor(valid_fraction * n))`` of users with >= ``min_positives`` --
    or the caller's own split), fits clones of the candidate generators on the
    rest, trains the ranker on the union of their top
    ``candidates_per_generator`` for the users of the held-out part (label 1 =
    the user interacted with the item there), early-stopping on a held-out
    share of those users, guards it against its own generators (``served_``),
    then refits the generators on everything for serving. ``recommend(users, k)`` scores the full generators' candidate
    union in batches; ``mmr_lambda`` re-ranks for diversity (MMR with item
    co-occurrence cosine). ``similar_items`` fuses the generators' item
    neighbours by reciprocal rank (the ranker is trained for user -> item).

:class:`SearchPipeline` (query text -> catalogue items)
    ``fit(catalog_ids, catalog_texts, judgments, valid)`` fits the text scorers
    on the catalogue, then trains a *retrieve* ranker on the union of their
    top ``candidates_per_scorer`` for each training query (unjudged candidates
    get the lowest label: gain 0) and a *rerank* ranker on the judged pairs.
    ``search(queries, k)`` returns a frame (query, item_id, score, rank);
    ``rerank(queries, item_ids)`` scores given pairs.

Both accept unfitted scorers (cloned, scikit-learn style, so the caller's
objects stay untouched) or, through ``fit_from_parts`` / ``fit_fitted``,
scorers that are already fitted. ``save`` writes the ranker(s), the feature
statistics and every scorer that has a ``save`` method; ``load`` restores
them (pass ``generators=`` / ``scorers=`` for scorers without ``save``).
"""

from __future__ import annotations

from tagrank.hybrid.pipeline_common import (  # noqa: F401  re-exported names
    _jsonable_params,
    _load_scorers,
    _save_scorers,
    clone,
    fit_recommender,
    temporal_user_split,
    top_lists,
)
from tagrank.hybrid.recommend_pipeline import RecommendPipeline
from tagrank.hybrid.search_pipeline import SearchPipeline

__all__ = ["RecommendPipeline", "SearchPipeline", "clone", "fit_recommender", "temporal_user_split", "top_lists"]
