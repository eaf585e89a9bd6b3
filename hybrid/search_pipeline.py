"""SearchPipeline: text scorers + features + LambdaRank for query -> catalogue items (see :mod:`tagrank.hybrid.pipelines`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.params import Params
from tagrank.baselines.saved import load_guard
from tagrank.baselines.sparse_topk import texts_from_arrays, texts_to_arrays
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    cap_k,
    check_columns,
    check_k,
    check_texts,
    id_list,
    label_at,
)
from tagrank.hybrid.ablation import feature_groups, fit_ablations, fit_learning_curve
from tagrank.hybrid.candidates import CandidateGenerator
from tagrank.hybrid.features import FeatureBuilder
from tagrank.hybrid.persistence import decode_keys, encode_keys, load_arrays, read_config, save_dir
from tagrank.hybrid.pipeline_common import (
    _jsonable_params,
    _load_scorers,
    _provenance_cols,
    _save_scorers,
    clone,
    ranker_folds,
    top_lists,
)
from tagrank.hybrid.ranker import HybridRanker, ranked_rows


class SearchPipeline(Params):
    """Text scorers + :class:`FeatureBuilder` + two :class:`HybridRanker` for product search.

    Parameters
    ----------
    scorers:
        ``{name: TextScorer}`` (unfitted for ``fit``; fitted for ``fit_fitted``).
    ranker_params:
        Overrides of the rankers' defaults (grade rule 12 per label unit, NDCG@10). ``n_folds`` by
        default: each ranker early-stopped on the valid queries where they hold >= ``MIN_DIRECT_UNITS``
        (200) with two different labels, else ``RANKER_FOLDS`` (5): a cross-fitted ensemble over the
        train + valid queries (see :class:`HybridRanker`); recorded in each ranker's ``n_folds``.
    candidates_per_scorer:
        Top-k taken from each scorer for retrieval.
    unjudged_label:
        Label of a retrieved but unjudged candidate in training (``None`` = the
        smallest training label, i.e. gain 0).
    max_train_queries, max_valid_queries:
        Caps on the queries the retrieve ranker learns / early-stops from (seeded sample).
    valid_fraction:
        With ``valid=None``, this share of the training queries is held out.
    train_rerank:
        Also train the rerank ranker on the judged pairs (used by ``rerank``).
    item_stats:
        Add ``item.n_judged`` / ``item.mean_label``: how many *other* training
        queries judged the item and their mean label (leave-one-query-out on
        training rows, so train and test see the same statistic).
    language:
        Tokenizer language of the text statistics.
    guard:
        Measure each ranker and each scorer's own score on held-out queries
        (:mod:`hybrid.guard`: valid, or cross-fitted over train + valid when valid
        has fewer than 200 informative queries) and serve the ranker only where
        it is not worse, else the best scorer's ranking (``SourceFallbackWarning``);
        below 20 training queries / 40 positives, or when the ranker learnt no
        split, the best scorer is served. Each ranker's ``served_`` / ``guard_``
        records it (saved with the pipeline).
    ablation:
        Also fit, for each feature group (:func:`hybrid.ablation.feature_groups`),
        each ranker again without that group on the same rows
        (``retrieve_ablation_`` / ``rerank_ablation_``, not saved); score them with
        ``variant="-<group>"`` in :meth:`search_variants` / :meth:`rerank_variants`.
        The same dicts hold a learning curve: each ranker trained on nested 25%,
        50% and 75% subsets of its training queries (``"25% of training queries"``).
    """

    def __init__(
        self,
        scorers: Mapping[str, Any],
        ranker_params: Mapping[str, Any] | None = None,
        candidates_per_scorer: int = 100,
        unjudged_label: float | None = None,
        max_train_queries: int | None = None,
        max_valid_queries: int | None = None,
        valid_fraction: float = 0.2,
        train_rerank: bool = True,
        item_stats: bool = True,
        language: str = "auto",
        ablation: bool = False,
        random_state: int = 0,
        guard: bool = True,
    ):
        self.scorers = scorers
        self.guard = guard
        self.ranker_params = ranker_params
        self.candidates_per_scorer = candidates_per_scorer
        self.unjudged_label = unjudged_label
        self.max_train_queries = max_train_queries
        self.max_valid_queries = max_valid_queries
        self.valid_fraction = valid_fraction
        self.train_rerank = train_rerank
        self.item_stats = item_stats
        self.language = language
        self.ablation = ablation
        self.random_state = random_state

    def _fit_ranker(self, frame: pd.DataFrame, features: list[str], valid: pd.DataFrame | None
                    ) -> tuple[HybridRanker, dict[str, HybridRanker]]:
        """The ranker on ``features`` and, with ``ablation``, one refit without each feature group (each
        with the same recipe: cross-fitted where valid is small, see :meth:`_ranker`)."""
        n_held_out = _n_informative(valid)
        valid = valid if n_held_out else None

        def fit(cols: list[str], sources: list[str] | None = None) -> HybridRanker:
            return self._ranker(n_held_out).fit(frame, "query", "item_id", "label", feature_cols=cols, valid=valid,
                                                sources=sources)

        from tagrank.hybrid.guard import source_columns

        # the guard (hybrid.guard): the ranker is served only where held-out queries do not find it worse
        # than a scorer's own ranking, and never on too few queries or without a split
        ranker = fit(features, source_columns(features, list(self.scorers_)) if self.guard else None)
        if not self.ablation:
            return ranker, {}
        variants = fit_ablations(fit, features, feature_groups(features, list(self.scorers_)))
        queries = pd.unique(frame["query"])

        def fit_queries(keep: np.ndarray) -> HybridRanker:
            part = frame[frame["query"].isin(set(queries[keep]))]
            return self._ranker(n_held_out).fit(part, "query", "item_id", "label", feature_cols=features, valid=valid)

        # learning curve: the same ranker on nested subsets of its training queries
        variants.update(fit_learning_curve(fit_queries, len(queries), random_state=self.random_state,
                                           unit="queries"))
        return ranker, variants

    def _ranker(self, n_held_out: int = 0) -> HybridRanker:
        """A ranker whose early-stopping hold-out has ``n_held_out`` informative queries: cross-fitted
        (``RANKER_FOLDS``, over train + valid) below ``MIN_DIRECT_UNITS`` -- too few to pick the number
        of trees -- unless ``ranker_params`` sets ``n_folds``."""
        params = {"grade_rule": 12.0, "n_estimators": 500, "learning_rate": 0.05, "num_leaves": 31,
                  "min_child_samples": 20, "early_stopping_rounds": 50, "eval_at": (10,),
                  "random_state": self.random_state, "n_folds": ranker_folds(n_held_out)}
        params.update(dict(self.ranker_params or {}))
        return HybridRanker(**params)

    def _builder(self, scorers: Mapping[str, Any] | None = None) -> FeatureBuilder:
        return FeatureBuilder(self.scorers_ if scorers is None else scorers, kind="text", language=self.language)

    @staticmethod
    def _pin_features(serving: FeatureBuilder, training: FeatureBuilder) -> list[str]:
        """The training rows' feature list, which the serving builder (valid rows, requests) must give too."""
        names = list(training.feature_names_)
        if not hasattr(serving, "feature_names_"):
            serving.feature_names_ = list(names)
        elif list(serving.feature_names_) != names:
            raise TagrankInputError(
                f"train_scorers give the features {names} but the scorers give {list(serving.feature_names_)}: "
                "a train scorer must give the same feature columns as the scorer it replaces"
            )
        return names

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        catalog_ids: Sequence[Any],
        catalog_texts: Sequence[str],
        judgments: pd.DataFrame,
        valid: pd.DataFrame | None = None,
        *,
        query_col: str = "query",
        item_col: str = "item_id",
        label_col: str = "label",
    ) -> SearchPipeline:
        """Fit clones of the scorers on the catalogue, then the rankers (see :meth:`fit_fitted`).

        ``query_col`` / ``item_col`` / ``label_col`` name the judgments' (and ``valid``'s) columns.
        """
        from tagrank.baselines.columns import with_columns

        names = {"query": query_col, "item_id": item_col, "label": label_col}
        judgments = with_columns(judgments, names, "judgments")
        if valid is not None:
            valid = with_columns(valid, names, "valid")
        ids = list(catalog_ids)
        texts = check_texts(catalog_texts, "catalog_texts")
        fitted = {name: clone(est).fit(texts, ids) for name, est in self.scorers.items()}
        return self.fit_fitted(ids, texts, judgments, valid, scorers=fitted)

    def _sample(self, keys: list, cap: int | None, salt: int) -> list:
        if cap is None or len(keys) <= cap:
            return keys
        rng = np.random.default_rng(self.random_state + salt)
        return [keys[i] for i in np.sort(rng.choice(len(keys), size=int(cap), replace=False))]

    def fit_fitted(
        self,
        catalog_ids: Sequence[Any],
        catalog_texts: Sequence[str],
        judgments: pd.DataFrame,
        valid: pd.DataFrame | None = None,
        scorers: Mapping[str, Any] | None = None,
        item_stats_from: pd.DataFrame | None = None,
        train_scorers: Mapping[str, Any] | None = None,
    ) -> SearchPipeline:
        """Train the rankers with scorers already fitted on the catalogue (``scorers`` or ``self.scorers``).

        ``judgments`` / ``valid``: frames (query, item_id, label); the query
        text is used as given (normalise it the way queries will arrive).
        ``item_stats_from``: the judged pairs the item statistics count (default:
        ``judgments``, leave-one-query-out); give other queries' judgments when the
        rankers learn from held-out queries (e.g. a scorer was trained on the rest).
        ``train_scorers``: ``{name: scorer}`` replacing some of ``scorers`` for the
        training queries' candidates and features only -- e.g. a
        :class:`hybrid.crossfit.CrossFittedScorer` for a scorer trained on those
        queries; the valid queries and serving use ``scorers``.
        """
        scorers = dict(self.scorers if scorers is None else scorers)
        if not scorers:
            raise TagrankInputError("scorers must be a non-empty dict name -> text scorer")
        check_k(self.candidates_per_scorer, "candidates_per_scorer")
        ids = list(catalog_ids)
        texts = check_texts(catalog_texts, "catalog_texts")
        if len(ids) != len(texts):
            raise TagrankInputError(f"catalog_ids has {len(ids)} entries but catalog_texts has {len(texts)}")
        if len(set(ids)) != len(ids):
            raise TagrankInputError("catalog_ids has duplicates")
        self.scorers_ = scorers
        self.catalog_ = pd.Series(texts, index=pd.Index(ids, dtype=object))
        train = self._judgments(judgments, "judgments")
        if valid is None:
            keys = sorted(train["query"].unique())
            rng = np.random.default_rng(self.random_state + 7)
            n_valid = int(math.floor(len(keys) * float(self.valid_fraction)))
            held = {keys[i] for i in rng.permutation(len(keys))[:n_valid]}
            valid_j, train = train[train["query"].isin(held)], train[~train["query"].isin(held)]
        else:
            valid_j = self._judgments(valid, "valid")
        self.unjudged_label_ = float(train["label"].min() if self.unjudged_label is None else self.unjudged_label)
        own_stats = item_stats_from is None  # training rows are counted in the statistics: leave them out
        if not own_stats:
            stats_from = self._judgments(item_stats_from, "item_stats_from")
            shared = set(stats_from["query"]) & (set(train["query"]) | set(valid_j["query"]))
            if shared:
                raise TagrankInputError(
                    f"item_stats_from shares {len(shared)} queries with the judgments (e.g. {sorted(shared)[0]!r}): "
                    "give other queries' judgments, or leave it None (leave-one-query-out on the judgments)"
                )
        self._fit_item_stats(train if own_stats else stats_from)
        self.builder_ = self._builder().fit()
        train_with = dict(scorers)
        for name, est in dict(train_scorers or {}).items():
            if name not in scorers:
                raise TagrankInputError(f"train_scorers names {name!r}, which is not one of the scorers {sorted(scorers)}")
            train_with[name] = est

        # retrieve ranker: union of the scorers' top-k, unjudged = lowest label
        t_keys = self._sample(sorted(train["query"].unique()), self.max_train_queries, 11)
        v_keys = self._sample(sorted(valid_j["query"].unique()), self.max_valid_queries, 13)
        train_builder = self._builder(train_with).fit()  # one per ranker: a builder fixes its features at first use
        frame = self._retrieve_frame(t_keys, train, exclude_self=own_stats, builder=train_builder, scorers=train_with)
        vframe = self._retrieve_frame(v_keys, valid_j, exclude_self=False) if v_keys else None
        self.feature_names_ = self._pin_features(self.builder_, train_builder)
        self.retrieve_ranker_, self.retrieve_ablation_ = self._fit_ranker(frame, self.feature_names_, vframe)
        self.training_summary_ = {
            "retrieve_queries": len(t_keys), "retrieve_rows": int(len(frame)),
            "retrieve_judged_in_candidates": int(frame["judged"].sum()),
            "valid_queries": len(v_keys),
        }
        del frame, vframe
        self.rerank_ranker_ = None
        self.rerank_ablation_ = {}
        if self.train_rerank:
            self.rerank_builder_ = self._builder().fit()
            train_builder = self._builder(train_with).fit()
            rframe = self._rerank_frame(train, exclude_self=own_stats, builder=train_builder)
            rvalid = self._rerank_frame(valid_j, exclude_self=False) if len(valid_j) else None
            self.rerank_feature_names_ = self._pin_features(self.rerank_builder_, train_builder)
            self.rerank_ranker_, self.rerank_ablation_ = self._fit_ranker(rframe, self.rerank_feature_names_, rvalid)
            self.training_summary_["rerank_rows"] = int(len(rframe))
        self._remember_catalogue()
        return self

    def _remember_catalogue(self) -> None:
        """Tokenise the catalogue for the text statistics once, not on the request that first meets an item."""
        self.builder_.remember_texts(self._lookup()[1])

    def _judgments(self, frame: pd.DataFrame, field: str) -> pd.DataFrame:
        check_columns(frame, ["query", "item_id", "label"], field)
        j = frame[["query", "item_id", "label"]].copy()
        check_texts(j["query"], f"{field}.query")  # a Series: errors name its row label
        y = pd.to_numeric(j["label"], errors="coerce")
        if y.isna().any():
            i = int(np.argmax(y.isna().to_numpy()))
            raise TagrankInputError(f"{field}.label[{label_at(y.index, i)!r}] is not a number (got {j['label'].iat[i]!r})")
        j["label"] = y.astype(np.float64)
        unknown = ~j["item_id"].isin(self.catalog_.index)
        if unknown.any():
            bad = j["item_id"][unknown].iloc[0]
            raise TagrankInputError(f"{field}.item_id {bad!r} is not in the catalogue")
        # one label per (query, item): duplicates are averaged
        return j.groupby(["query", "item_id"], sort=True, as_index=False)["label"].mean()

    def _fit_item_stats(self, train: pd.DataFrame) -> None:
        g = train.groupby("item_id")["label"]
        self.item_n_ = g.size().astype(np.float64)
        self.item_sum_ = g.sum().astype(np.float64)

    def _lookup(self) -> tuple[dict, list[str], np.ndarray, np.ndarray]:
        """(catalogue position of each id, texts, item.n_judged and label sums by position), built once:
        a request then maps its candidates with dict lookups instead of pandas reindexing."""
        key = (self.catalog_, getattr(self, "item_n_", None), getattr(self, "item_sum_", None))
        cached = getattr(self, "_lookup_cache", None)
        if cached is None or any(a is not b for a, b in zip(cached[0], key, strict=True)):
            ids = pd.Index(self.catalog_.index, dtype=object)
            position = {item: i for i, item in enumerate(ids)}
            n = np.zeros(len(ids))
            total = np.zeros(len(ids))
            if self.item_stats and len(self.item_n_):
                at = ids.get_indexer(pd.Index(self.item_n_.index, dtype=object))
                keep = at >= 0
                n[at[keep]] = self.item_n_.to_numpy(np.float64)[keep]
                total[at[keep]] = self.item_sum_.reindex(self.item_n_.index).to_numpy(np.float64)[keep]
            cached = self._lookup_cache = (key, (position, self.catalog_.tolist(), n, total))
        return cached[1]

    def _positions(self, items: Sequence[Any]) -> np.ndarray:
        """Catalogue positions of ``items``; an unknown id is a clear error."""
        position = self._lookup()[0]
        pos = np.fromiter((position.get(item, -1) for item in items), dtype=np.int64, count=len(items))
        if (pos < 0).any():
            raise TagrankInputError(f"item {items[int(np.flatnonzero(pos < 0)[0])]!r} is not in the catalogue")
        return pos

    def _item_extra(self, pos: np.ndarray, labels: np.ndarray | None) -> dict[str, np.ndarray]:
        """``item.n_judged`` / ``item.mean_label`` over training queries, leave-one-query-out when ``labels``."""
        if not self.item_stats:
            return {}
        _, _, n_all, total_all = self._lookup()
        n = n_all[pos]
        total = total_all[pos]
        if labels is not None:  # this row's own judgment is not "elsewhere"
            own = ~np.isnan(labels)
            n = n - own
            total = total - np.where(own, labels, 0.0)
        mean = np.divide(total, n, out=np.full(len(n), np.nan), where=n > 0)
        return {"item.n_judged": n, "item.mean_label": mean}

    def _generator(self, scorers: Mapping[str, Any] | None = None) -> CandidateGenerator:
        """Top-``candidates_per_scorer`` of each scorer (default: the fitted ones), keyed by query."""
        return CandidateGenerator(self.scorers_ if scorers is None else scorers, k=self.candidates_per_scorer,
                                  query_col="query")

    def _candidates(self, keys: list, scorers: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return self._generator(scorers).generate(keys)

    def _features(self, builder: FeatureBuilder, queries: Sequence[str], items: Sequence[Any],
                  provenance: pd.DataFrame | Mapping[str, np.ndarray] | None, own_labels: np.ndarray | None,
                  as_columns: bool = False) -> pd.DataFrame | dict[str, np.ndarray]:
        """Feature columns of the (query, catalogue item) pairs, with the provenance columns and item statistics."""
        items = list(items)
        pos = self._positions(items)
        catalog_texts = self._lookup()[1]
        extra = self._item_extra(pos, own_labels)
        if provenance is not None:
            extra = {**{str(c): np.asarray(provenance[c]) for c in provenance}, **extra}
        transform = builder.transform_columns if as_columns else builder.transform
        return transform(list(queries), [catalog_texts[p] for p in pos], extra=extra)

    def _retrieve_frame(self, keys: list, judged: pd.DataFrame, exclude_self: bool,
                        builder: FeatureBuilder | None = None, scorers: Mapping[str, Any] | None = None
                        ) -> pd.DataFrame:
        cand = self._candidates(keys, scorers)
        lab = judged.set_index(["query", "item_id"])["label"]
        pairs = pd.MultiIndex.from_arrays([cand["query"], cand["item_id"]])
        labels = lab.reindex(pairs).to_numpy(np.float64)
        feats = self._features(builder or self.builder_, cand["query"], cand["item_id"], cand[_provenance_cols(cand)],
                               labels if exclude_self else None)
        out = pd.concat([cand[["query", "item_id"]], feats], axis=1)
        out["judged"] = ~np.isnan(labels)
        out["label"] = np.where(np.isnan(labels), self.unjudged_label_, labels)
        return out

    def _rerank_frame(self, judged: pd.DataFrame, exclude_self: bool, builder: FeatureBuilder | None = None
                      ) -> pd.DataFrame:
        labels = judged["label"].to_numpy(np.float64)
        feats = self._features(builder or self.rerank_builder_, judged["query"], judged["item_id"], None,
                               labels if exclude_self else None)
        out = pd.concat([judged[["query", "item_id"]].reset_index(drop=True), feats], axis=1)
        out["label"] = labels
        return out

    # ------------------------------------------------------------------ serve
    def _check_fitted(self) -> None:
        if not hasattr(self, "retrieve_ranker_"):
            raise NotFittedError("SearchPipeline is not fitted: call fit() first")

    def _variant(self, rankers: Mapping[str, HybridRanker], main: HybridRanker, variant: str | None) -> HybridRanker:
        if variant is None:
            return main
        if variant not in rankers:
            raise TagrankInputError(
                f"variant {variant!r} is not an ablation of this pipeline (fit with ablation=True); "
                f"known: {sorted(rankers)}"
            )
        return rankers[variant]

    def candidate_features(self, query_texts: Sequence[str]) -> pd.DataFrame:
        """The retrieval candidates of the queries with their features: what :meth:`search` ranks."""
        cand, feats = self._candidate_columns(query_texts)
        return pd.DataFrame({"query": cand["query"], "item_id": cand["item_id"], **feats})

    def _candidate_columns(self, query_texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(candidates with provenance, their features), each as ``{name: array}``: a request builds no frame."""
        self._check_fitted()
        queries = check_texts(query_texts, "query_texts")
        with _request_scope(self.scorers_):  # retrieval and features encode the queries once
            cand = self._generator().generate_columns(list(dict.fromkeys(queries)))
            provenance = {c: cand[c] for c in _provenance_cols(cand)}
            feats = self._features(self.builder_, cand["query"], cand["item_id"], provenance, None, as_columns=True)
        return cand, feats

    def search(self, query_texts: Sequence[str], k: int = 10, variant: str | None = None) -> pd.DataFrame:
        """Top-k catalogue items per query: frame (query, item_id, score, rank from 1).

        ``variant``: ``None`` (the model) or an ablation ``"-<group>"`` (see ``ablation``).
        """
        return self.search_variants(query_texts, k, [variant])[variant]

    def search_variants(self, query_texts: Sequence[str], k: int = 10,
                        variants: Sequence[str | None] | None = None) -> dict[str | None, pd.DataFrame]:
        """:meth:`search` under several rankers (default: the model and every ablation), features computed once."""
        self._check_fitted()
        k = check_k(k)
        names = [None, *self.retrieve_ablation_] if variants is None else list(variants)
        rankers = {v: self._variant(self.retrieve_ablation_, self.retrieve_ranker_, v) for v in names}
        cand, feats = self._candidate_columns(query_texts)
        return {v: ranked_rows(cand["query"], cand["item_id"], r.predict(feats), k, "query", "item_id")
                for v, r in rankers.items()}

    def top_k(self, query_texts: Sequence[str], k: int = 10, variant: str | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """``search`` as arrays: (item ids [n, k], scores [n, k]); None / -inf where fewer than k."""
        queries = check_texts(query_texts, "query_texts")
        ranked = self.search(queries, k, variant)
        return top_lists(ranked, queries, "query", "item_id", cap_k(k, len(self.catalog_)))

    def rerank(self, query_texts: Sequence[str], item_ids: Sequence[Any], variant: str | None = None) -> np.ndarray:
        """Scores of given (query, item) pairs; a query's pairs are ranked together (group statistics)."""
        return self.rerank_variants(query_texts, item_ids, [variant])[variant]

    def rerank_variants(self, query_texts: Sequence[str], item_ids: Sequence[Any],
                        variants: Sequence[str | None] | None = None) -> dict[str | None, np.ndarray]:
        """:meth:`rerank` under several rankers (default: the model and every ablation), features computed once."""
        self._check_fitted()
        queries = check_texts(query_texts, "query_texts")
        items = id_list(item_ids, "item_ids")
        if len(items) != len(queries):
            raise TagrankInputError(f"query_texts has {len(queries)} entries but item_ids has {len(items)}")
        if self.rerank_ranker_ is None:
            names = [None, *self.retrieve_ablation_] if variants is None else list(variants)
            rankers = {v: self._variant(self.retrieve_ablation_, self.retrieve_ranker_, v) for v in names}
        else:
            names = [None, *self.rerank_ablation_] if variants is None else list(variants)
            rankers = {v: self._variant(self.rerank_ablation_, self.rerank_ranker_, v) for v in names}
        if not queries:
            return {v: np.zeros(0) for v in rankers}
        if self.rerank_ranker_ is None:
            gen = self._candidates(list(dict.fromkeys(queries)))
            prov = pd.DataFrame({"query": queries, "item_id": items}).merge(
                gen, on=["query", "item_id"], how="left")
            cols = _provenance_cols(gen)
            for c in cols:
                prov[c] = prov[c].fillna(0.0 if not c.startswith("srank.") else float(gen[c].max()))
            feats = self._features(self.builder_, queries, items, prov[cols], None, as_columns=True)
        else:
            feats = self._features(self.rerank_builder_, queries, items, None, None, as_columns=True)
        return {v: r.predict(feats) for v, r in rankers.items()}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Directory: config.json + arrays.npz (catalogue, item statistics) + rankers + scorers/<name>/."""
        self._check_fitted()
        path = Path(path)
        ids, id_kind = encode_keys(self.catalog_.index, "catalog ids")
        item_keys, item_kind = encode_keys(self.item_n_.index, "item ids") if len(self.item_n_) else (np.zeros(0), "int")
        arrays = {"catalog_ids": ids, **texts_to_arrays("catalog_texts", self.catalog_.tolist()),
                  "item_keys": item_keys, "item_n": self.item_n_.to_numpy(np.float64),
                  "item_sum": self.item_sum_.reindex(self.item_n_.index).to_numpy(np.float64)}
        self.retrieve_ranker_.save(path / "retrieve_ranker")
        if self.rerank_ranker_ is not None:
            self.rerank_ranker_.save(path / "rerank_ranker")
        info = _save_scorers(path / "scorers", self.scorers_)
        params = {k: v for k, v in self.get_params().items() if k != "scorers"}
        config = {"class": type(self).__name__, "params": _jsonable_params(params), "scorers": info,
                  "id_kind": id_kind, "item_kind": item_kind, "unjudged_label": self.unjudged_label_,
                  "feature_names": self.feature_names_, "training_summary": self.training_summary_}
        return save_dir(path, type(self).__name__, config, arrays=arrays)

    @classmethod
    @load_guard
    def load(cls, path: str | Path, scorers: Mapping[str, Any] | None = None) -> SearchPipeline:
        """Load a saved pipeline; scorers come from their own saves, or pass the fitted ones."""
        path = Path(path)
        config = read_config(path, cls.__name__)
        fitted = _load_scorers(path / "scorers", config["scorers"], scorers, "scorers")
        obj = cls(fitted, **config["params"])
        obj.scorers_ = fitted
        arrays = load_arrays(path)
        ids = decode_keys(arrays["catalog_ids"], config["id_kind"])
        obj.catalog_ = pd.Series(texts_from_arrays("catalog_texts", arrays), index=pd.Index(ids, dtype=object))
        items = pd.Index(decode_keys(arrays["item_keys"], config["item_kind"]), dtype=object)
        obj.item_n_ = pd.Series(arrays["item_n"], index=items)
        obj.item_sum_ = pd.Series(arrays["item_sum"], index=items)
        obj.unjudged_label_ = float(config["unjudged_label"])
        obj.retrieve_ranker_ = HybridRanker.load(path / "retrieve_ranker")
        obj.feature_names_ = list(config["feature_names"])
        obj.builder_ = obj._builder().fit()
        obj.builder_.restore_names(obj.feature_names_)
        obj.rerank_ranker_ = None
        if obj.train_rerank:  # by the saved parameter: a rerank_ranker/ left by an older save is not this model's
            obj.rerank_ranker_ = HybridRanker.load(path / "rerank_ranker")
            obj.rerank_builder_ = obj._builder().fit()
            obj.rerank_feature_names_ = list(obj.rerank_ranker_.feature_names_)
            obj.rerank_builder_.restore_names(obj.rerank_feature_names_)
        obj.training_summary_ = dict(config.get("training_summary", {}))
        obj.retrieve_ablation_, obj.rerank_ablation_ = {}, {}
        obj._remember_catalogue()
        return obj


@contextmanager
def _request_scope(scorers: Mapping[str, Any]) -> Iterator[None]:
    """Every scorer's ``request_scope`` (those that have one) for the length of one request."""
    with ExitStack() as stack:
        for scorer in scorers.values():
            if hasattr(scorer, "request_scope"):
                stack.enter_context(scorer.request_scope())
        yield


def _n_informative(frame: pd.DataFrame | None) -> int:
    """Queries of ``frame`` with two different labels (those that can judge a ranking)."""
    if frame is None or len(frame) == 0:
        return 0
    return int((frame.groupby("query")["label"].nunique() > 1).sum())
