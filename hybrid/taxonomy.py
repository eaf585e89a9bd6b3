"""Tag systems: hierarchical categorisation, multi-label tagging, tag clustering, tag recommendation.

What a service imports to organise a catalogue's tags. Each system lives in its
own module; this one re-exports them so ``from tagrank.hybrid.taxonomy import
Categoriser`` keeps working:

* :class:`Categoriser` (:mod:`hybrid.categoriser`) -- text -> a consistent
  path in a category taxonomy, with per-level confidences and abstention.
* :class:`MultiLabelTagger` (:mod:`hybrid.multilabel`) -- text -> a set of
  tags, per-tag thresholds chosen on a validation set.
* :class:`TagClusterer` (:mod:`hybrid.tag_clustering`) -- k-means families,
  named by their most central members; ``score`` gives ARI / NMI.
* :class:`TagRecommender` (:mod:`hybrid.tag_recommender`) -- (user, item) ->
  ranked tags with a per-suggestion explanation.
* :class:`StackedCategoriser` (:mod:`hybrid.stacked_categoriser`) -- the
  taxonomy ``hybrid``: LambdaRank over the candidate paths of categorisers.

Representations (``"tfidf"`` or any scorer with ``transform``) are in
:mod:`hybrid.representations`, path checks in :mod:`hybrid.taxonomy_paths`.
Bad input raises :class:`baselines.validation.TagrankInputError` naming the row.
"""

from __future__ import annotations

from tagrank.hybrid.categoriser import CLASSIFIERS, Categoriser, _check_threshold, _group_sum, level_metrics
from tagrank.hybrid.multilabel import THRESHOLD_GRID, MultiLabelTagger, _best_threshold, multilabel_f1
from tagrank.hybrid.representations import _JointOvR, is_fitted, make_representation, represent
from tagrank.hybrid.stacked_categoriser import BALANCE_GRID, StackedCategoriser
from tagrank.hybrid.tag_clustering import TagClusterer
from tagrank.hybrid.tag_recommender import TagRecommender, holdout_last_events
from tagrank.hybrid.taxonomy_paths import _END, _paths_from

__all__ = [
    "Categoriser",
    "StackedCategoriser",
    "MultiLabelTagger",
    "TagClusterer",
    "TagRecommender",
    "level_metrics",
    "make_representation",
    "represent",
]
# Also importable from here as before (not part of ``*``): the module constants, the
# helpers other modules and tests used, and the private names the fine-tuned categoriser reads.
_REEXPORTED = (
    CLASSIFIERS, THRESHOLD_GRID, BALANCE_GRID, multilabel_f1, holdout_last_events, is_fitted,
    _END, _paths_from, _check_threshold, _group_sum, _JointOvR, _best_threshold,
)
