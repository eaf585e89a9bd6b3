"""RecommendPipeline: candidate generators + features + LambdaRank for user -> items (see :mod:`tagrank.hybrid.pipelines`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.params import Params
from tagrank.baselines.saved import load_guard
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    cap_k,
    check_columns,
    check_k,
    check_number,
    id_list,
)
from tagrank.hybrid.ablation import feature_groups, fit_ablations
from tagrank.hybrid.candidates import CandidateGenerator
from tagrank.hybrid.features import FeatureBuilder
from tagrank.hybrid.persistence import load_arrays, read_config, save_dir
from tagrank.hybrid.pipeline_common import (
    _jsonable_params,
    _known_to_all,
    _load_scorers,
    _provenance_cols,
    RANKER_FOLDS,  # noqa: F401 - re-exported: the recommend ranker's folds
    _save_scorers,
    clone,
    fit_recommender,
    ranker_folds,
    top_lists,
)
from tagrank.hybrid.ranker import HybridRanker


class RecommendPipeline(Params):
    """Candidate generators + :class:`FeatureBuilder` + :class:`HybridRanker` for top-N recommendation.

    Parameters
    ----------
    generators:
        ``{name: InteractionScorer-like}`` (unfitted: cloned and fitted by
        ``fit``); each needs ``fit``, ``recommend`` and ``score_user_items``.
    ranker_params:
        Overrides of the ranker's defaults (binary labels, NDCG@10 early stopping). ``n_folds``
        by default: one ranker early-stopped on ``ranker_valid_fraction`` of the users where
        that hold-out has >= ``MIN_DIRECT_UNITS`` (200) users, else ``RANKER_FOLDS`` (5): a
        cross-fitted ensemble (see :class:`HybridRanker`), since a smaller hold-out can
        neither pick the number of trees nor spare its users; recorded in ``ranker_.n_folds``.
    candidates_per_generator:
        Top-k taken from each generator.
    valid_fraction, min_positives:
        The inner split of ``fit``: users with >= ``min_positives`` interactions
        hold out ``valid_fraction`` of them.
    inner_split:
        How ``fit`` holds them out (the ranker learns to predict the held-out
        part from generators fitted on the rest): ``"random"`` (default; per
        user, seeded with ``random_state``: :func:`hybrid.user_splits.random_holdout`),
        ``"temporal"`` (each user's last ones by ``timestamp``), a callable
        ``f(interactions) -> (train, valid)``, or a boolean mask over the rows
        (True = held out). Match it to how the model will be used: ``"temporal"``
        when it predicts users' next interactions, ``"random"`` when it fills in
        missing ones; the default is the one that held up under both
        (README, "recommend protocols"). Recorded as ``inner_split_``.
    guard:
        Measure the learned ranker and each generator's own score on held-out
        inner-split users (:mod:`hybrid.guard`: the ranker's early-stopping users,
        or cross-fitted when they are few) and serve the ranker only where it is
        not worse, else the best generator's ranking, with a
        ``SourceFallbackWarning``; recorded as ``served_`` (``"model"`` or
        ``"source:<generator>"``) and ``guard_``.
    guard_alpha:
        The ranker is served only where its held-out gain over the best generator
        is significant (one-sided paired t-test over held-out users, p < ``guard_alpha``;
        ``None``: any gain). Evidence is required here because the generators are
        refitted on all interactions before serving: the ranker then scores features
        from stronger generators than those it learned on, while each generator's own
        ranking needs no such transfer, so held-out scores favour the ranker.
    ranker_valid_fraction:
        Share of the training users held out for early stopping (with ``n_folds=None`` only).
    max_train_users:
        Cap on the users the ranker learns from (a seeded sample); ``None`` = all.
    mmr_lambda, mmr_depth:
        ``None`` = rank by score; a value in [0, 1] re-ranks each user's top
        ``mmr_depth`` by MMR: ``lambda * relevance - (1 - lambda) * max cosine
        to the items already chosen`` (relevance = score min-max scaled per user).
    cooc, history_window:
        Co-occurrence features (see :mod:`hybrid.features`).
    batch_users:
        Users scored per batch in ``recommend`` (bounds memory).
    ablation:
        Also fit the ranker again without each feature group
        (:func:`hybrid.ablation.feature_groups`) on the same rows
        (``ablation_``, not saved); :meth:`recommend_variants` scores them.
    """

    def __init__(
        self,
        generators: Mapping[str, Any],
        ranker_params: Mapping[str, Any] | None = None,
        candidates_per_generator: int = 200,
        valid_fraction: float = 0.2,
        min_positives: int = 5,
        ranker_valid_fraction: float = 0.2,
        max_train_users: int | None = None,
        mmr_lambda: float | None = None,
        mmr_depth: int = 50,
        cooc: bool = True,
        history_window: int = 5,
        batch_users: int = 512,
        ablation: bool = False,
        inner_split: Any = "random",
        guard: bool = True,
        guard_alpha: float | None = 0.05,
        random_state: int = 0,
    ):
        self.generators = generators
        self.ranker_params = ranker_params
        self.candidates_per_generator = candidates_per_generator
        self.valid_fraction = valid_fraction
        self.min_positives = min_positives
        self.ranker_valid_fraction = ranker_valid_fraction
        self.max_train_users = max_train_users
        self.mmr_lambda = mmr_lambda
        self.mmr_depth = mmr_depth
        self.cooc = cooc
        self.history_window = history_window
        self.batch_users = batch_users
        self.ablation = ablation
        self.inner_split = inner_split
        self.guard = guard
        self.guard_alpha = guard_alpha
        self.random_state = random_state

    def _ranker(self, n_users: int = 0) -> HybridRanker:
        """The ranker for ``n_users`` training users: cross-fitted (``RANKER_FOLDS``) where the
        early-stopping hold-out would be small (< ``MIN_DIRECT_UNITS`` users), unless ``ranker_params``
        sets ``n_folds``."""
        held_out = int(math.floor(n_users * float(self.ranker_valid_fraction)))
        params = {
            "grade_rule": "binary", "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
            "min_child_samples": 50, "early_stopping_rounds": 30, "eval_at": (10,), "random_state": self.random_state,
            "guard_alpha": self.guard_alpha, "n_folds": ranker_folds(held_out),
        }
        params.update(dict(self.ranker_params or {}))
        return HybridRanker(**params)

    def _builder(self, generators: Mapping[str, Any]) -> FeatureBuilder:
        return FeatureBuilder(generators, kind="interaction", cooc=self.cooc, history_window=self.history_window)

    def _check_params(self) -> None:
        if not isinstance(self.generators, Mapping) or not self.generators:
            raise TagrankInputError("generators must be a non-empty dict name -> recommender")
        check_k(self.candidates_per_generator, "candidates_per_generator")
        if self.mmr_lambda is not None and not (
            isinstance(self.mmr_lambda, int | float) and not isinstance(self.mmr_lambda, bool)
            and 0 <= self.mmr_lambda <= 1
        ):
            raise TagrankInputError(f"mmr_lambda must be None or in [0, 1], got {self.mmr_lambda!r}")
        check_number(self.ranker_valid_fraction, "ranker_valid_fraction", 0.0)
        if not self.ranker_valid_fraction < 1:
            raise TagrankInputError(f"ranker_valid_fraction must be in [0, 1), got {self.ranker_valid_fraction!r}")
        check_number(self.valid_fraction, "valid_fraction", 0.0, 1.0)
        check_k(self.min_positives, "min_positives")
        check_k(self.batch_users, "batch_users")
        check_k(self.mmr_depth, "mmr_depth")
        check_k(self.history_window, "history_window")
        if self.max_train_users is not None:
            check_k(self.max_train_users, "max_train_users")
        for flag in ("guard", "cooc", "ablation"):
            if not isinstance(getattr(self, flag), bool | np.bool_):
                raise TagrankInputError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int | np.integer):
            raise TagrankInputError(f"random_state must be an integer seed (every run is seeded), got {self.random_state!r}")
        if isinstance(self.inner_split, str) and self.inner_split not in ("temporal", "random"):
            raise TagrankInputError(
                f"inner_split must be 'temporal', 'random', a callable or a boolean mask, got {self.inner_split!r}"
            )

    # ------------------------------------------------------------------ fit
    def fit(
        self, interactions: pd.DataFrame, items: pd.DataFrame | None = None, *,
        user_col: str = "user_id", item_col: str = "item_id", time_col: str = "timestamp", text_col: str = "text",
    ) -> RecommendPipeline:
        """Inner split (``inner_split``), generators on its train part, ranker on its held-out part, then refit on all.

        ``user_col`` / ``item_col`` / ``time_col`` name the interactions' columns, ``item_col`` /
        ``text_col`` the items' (defaults: the library's own names).
        """
        from tagrank.baselines.columns import with_columns

        interactions = with_columns(
            interactions, {"user_id": user_col, "item_id": item_col, "timestamp": time_col}, "interactions")
        if items is not None:
            items = with_columns(items, {"item_id": item_col, "text": text_col}, "items")
        from tagrank.hybrid.user_splits import describe_split, inner_user_split

        self._check_params()
        check_columns(interactions, ["user_id", "item_id"], "interactions")
        if len(interactions) == 0:
            raise TagrankInputError("interactions is empty")
        early, late = inner_user_split(interactions, self.inner_split, self.valid_fraction, self.min_positives,
                                       self.random_state)
        if len(early) == 0:
            raise TagrankInputError(f"the inner split ({describe_split(self.inner_split)}) held out every "
                                    "interaction: nothing is left to fit the generators on")
        if len(late) == 0:
            raise TagrankInputError(
                f"the inner split ({describe_split(self.inner_split)}) held out nothing: no user has >= "
                f"{self.min_positives} interactions, so there is no held-out part to train the ranker on"
            )
        inner = {n: fit_recommender(clone(g), early, items) for n, g in self.generators.items()}
        full = {n: fit_recommender(clone(g), interactions, items) for n, g in self.generators.items()}
        return self.fit_from_parts(inner, early, late, full, interactions, split_name=describe_split(self.inner_split))

    def training_frame(
        self, generators: Mapping[str, Any], history: pd.DataFrame, future: pd.DataFrame
    ) -> pd.DataFrame:
        """(user_id, item_id, label, features...) for the users of ``future``, candidates from ``generators``."""
        users = sorted(pd.unique(future["user_id"]).tolist(), key=lambda u: (type(u).__name__, u))
        users = _known_to_all(users, generators)
        if self.max_train_users is not None and len(users) > self.max_train_users:
            rng = np.random.default_rng(self.random_state)
            pick = np.sort(rng.choice(len(users), size=int(self.max_train_users), replace=False))
            users = [users[i] for i in pick]
        if not users:
            raise TagrankInputError("no user of the later part is known to every generator")
        builder = self._builder(generators).fit(history)
        gen = CandidateGenerator(generators, k=self.candidates_per_generator, exclude_seen=True, query_col="user_id")
        truth = set(zip(future["user_id"], future["item_id"], strict=True))
        frames = []
        for start in range(0, len(users), int(self.batch_users)):
            cand = gen.generate(users[start : start + int(self.batch_users)])
            feats = builder.transform(cand["user_id"], cand["item_id"], extra=cand[_provenance_cols(cand)])
            label = np.fromiter(
                ((u, i) in truth for u, i in zip(cand["user_id"], cand["item_id"], strict=True)), bool, len(cand)
            ).astype(np.float64)
            frames.append(pd.concat([cand[["user_id", "item_id"]], pd.DataFrame({"label": label}), feats], axis=1))
        self.feature_names_ = list(builder.feature_names_)
        return pd.concat(frames, ignore_index=True)

    def fit_from_parts(
        self,
        inner_generators: Mapping[str, Any],
        inner_train: pd.DataFrame,
        inner_valid: pd.DataFrame,
        generators: Mapping[str, Any],
        train: pd.DataFrame,
        split_name: str = "given",
    ) -> RecommendPipeline:
        """Train the ranker from generators already fitted on ``inner_train`` (labels: ``inner_valid``),
        and serve with ``generators`` already fitted on ``train``; ``split_name`` (how the caller split,
        e.g. ``"temporal"``) is recorded as ``inner_split_``."""
        self._check_params()
        if set(inner_generators) != set(generators):
            raise TagrankInputError(
                f"inner_generators {sorted(inner_generators)} and generators {sorted(generators)} differ"
            )
        generators = {n: generators[n] for n in inner_generators}
        frame = self.training_frame(inner_generators, inner_train, inner_valid)
        users = pd.unique(frame["user_id"])
        rng = np.random.default_rng(self.random_state + 1)
        n_valid = int(math.floor(len(users) * float(self.ranker_valid_fraction)))
        valid = None
        fit_frame = frame
        cross_fitted = self._ranker(len(users)).n_folds is not None  # its folds hold users out: no split
        if not cross_fitted and n_valid >= 1 and len(users) - n_valid >= 1:
            held = set(users[rng.permutation(len(users))[:n_valid]].tolist())
            is_valid = frame["user_id"].isin(held).to_numpy()
            candidate_valid = frame[is_valid]
            if candidate_valid.groupby("user_id")["label"].max().max() > 0:
                valid, fit_frame = candidate_valid, frame[~is_valid]

        def fit(cols: list[str], sources: list[str] | None = None) -> HybridRanker:
            return self._ranker(len(users)).fit(fit_frame, "user_id", "item_id", "label", feature_cols=cols,
                                                valid=valid, sources=sources)

        # the guard compares the ranker with each generator's own score column (its own ranking)
        sources = [n for n in inner_generators if n in self.feature_names_] if self.guard else None
        self.ranker_ = fit(self.feature_names_, sources or None)
        self.inner_split_ = str(split_name)
        self.served_ = getattr(self.ranker_, "served_", "model")
        self.guard_ = dict(getattr(self.ranker_, "guard_", {}) or {})
        self.ablation_ = {}
        if self.ablation:
            groups = feature_groups(self.feature_names_, list(inner_generators))
            self.ablation_ = fit_ablations(fit, self.feature_names_, groups)
        positives = frame.groupby("user_id")["label"].sum()
        self.training_summary_ = {
            "users": int(len(users)), "rows": int(len(frame)), "positives_in_candidates": int(frame["label"].sum()),
            "users_with_a_positive": int((positives > 0).sum()),
            "future_positives": int(len(inner_valid[inner_valid["user_id"].isin(set(users.tolist()))])),
            "valid_users": int(valid["user_id"].nunique()) if valid is not None else 0,
        }
        self.generators_ = dict(generators)
        self.builder_ = self._builder(self.generators_).fit(train)
        self.builder_.feature_names_ = list(self.feature_names_)
        return self

    # ------------------------------------------------------------------ serve
    def _check_fitted(self) -> None:
        if not hasattr(self, "ranker_"):
            raise NotFittedError("RecommendPipeline is not fitted: call fit() first")

    def candidate_features(self, user_ids: Sequence[Any], exclude_seen: bool = True) -> pd.DataFrame:
        """Every candidate of the users with its features (what the ranker scores)."""
        self._check_fitted()
        gen = CandidateGenerator(self.generators_, k=self.candidates_per_generator, exclude_seen=exclude_seen,
                                 query_col="user_id")
        cand = gen.generate(list(user_ids))
        feats = self.builder_.transform(cand["user_id"], cand["item_id"], extra=cand[_provenance_cols(cand)])
        return pd.concat([cand[["user_id", "item_id"]], feats], axis=1)

    def score_candidates(self, user_ids: Sequence[Any], exclude_seen: bool = True) -> pd.DataFrame:
        """Every candidate of the users with its features and ``score`` (one frame; use for inspection)."""
        out = self.candidate_features(user_ids, exclude_seen)
        out["score"] = self.ranker_.predict(out)
        return out

    def recommend(
        self, user_ids: Sequence[Any], k: int = 10, exclude_seen: bool = True, variant: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per user: (item ids [n, k'], scores [n, k']), k' = min(k, catalogue items);
        unfilled slots (a user who has seen nearly everything) are None / -inf.

        A user unknown to the generators fails with TagrankInputError. ``variant``:
        ``None`` (the model) or an ablation ``"-<group>"`` (see ``ablation``).
        """
        return self.recommend_variants(user_ids, k, exclude_seen, [variant])[variant]

    def recommend_variants(
        self, user_ids: Sequence[Any], k: int = 10, exclude_seen: bool = True,
        variants: Sequence[str | None] | None = None,
    ) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
        """:meth:`recommend` under several rankers (default: the model and every ablation), features once."""
        self._check_fitted()
        k = cap_k(k, len(self.builder_.items_))  # never wider than the catalogue
        names = [None, *self.ablation_] if variants is None else list(variants)
        rankers = {}
        for v in names:
            if v is not None and v not in self.ablation_:
                raise TagrankInputError(
                    f"variant {v!r} is not an ablation of this pipeline (fit with ablation=True); "
                    f"known: {sorted(self.ablation_)}"
                )
            rankers[v] = self.ranker_ if v is None else self.ablation_[v]
        users = id_list(user_ids, "user_ids")
        out = {v: (np.full((len(users), k), None, dtype=object), np.full((len(users), k), -np.inf)) for v in rankers}
        distinct = list(dict.fromkeys(users))
        for start in range(0, len(distinct), int(self.batch_users)):
            batch = distinct[start : start + int(self.batch_users)]
            frame = self.candidate_features(batch, exclude_seen)
            pos = {u: j for j, u in enumerate(batch)}
            rows = [i for i, u in enumerate(users) if u in pos]
            take = [pos[users[i]] for i in rows]
            for v, ranker in rankers.items():
                scored = frame[["user_id", "item_id"]].assign(score=ranker.predict(frame))
                if self.mmr_lambda is not None:
                    scored = self._mmr(scored, k)
                b_ids, b_scores = top_lists(scored, batch, "user_id", "item_id", k)
                out[v][0][rows] = b_ids[take]
                out[v][1][rows] = b_scores[take]
        return out

    def _mmr(self, scored: pd.DataFrame, k: int) -> pd.DataFrame:
        """Re-rank each user's top ``mmr_depth`` by MMR; returns (user_id, item_id, score) with score = -position."""
        lam = float(self.mmr_lambda)
        depth = max(int(self.mmr_depth), k)
        vec = self.builder_.item_vectors_ if self.cooc else None
        items_index = self.builder_.items_
        out = []
        for user, group in scored.groupby("user_id", sort=False):
            g = group.sort_values("score", ascending=False, kind="mergesort").head(depth)
            rel = g["score"].to_numpy(np.float64)
            span = rel.max() - rel.min()
            rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
            cand = g["item_id"].to_numpy(dtype=object)
            if vec is not None:
                rows = items_index.get_indexer(pd.Index(cand, dtype=object))
                m = vec[np.maximum(rows, 0)]
                sims = np.asarray((m @ m.T).todense())
                sims[rows < 0, :] = 0.0
                sims[:, rows < 0] = 0.0
            else:
                sims = np.zeros((len(cand), len(cand)))
            chosen: list[int] = []
            best_sim = np.zeros(len(cand))
            free = np.ones(len(cand), dtype=bool)
            for _ in range(min(k, len(cand))):
                value = np.where(free, lam * rel - (1.0 - lam) * best_sim, -np.inf)
                j = int(np.argmax(value))
                chosen.append(j)
                free[j] = False
                best_sim = np.maximum(best_sim, sims[j])
            out.append(pd.DataFrame({
                "user_id": [user] * len(chosen), "item_id": cand[chosen],
                "score": -np.arange(1, len(chosen) + 1, dtype=np.float64),
            }))
        return pd.concat(out, ignore_index=True) if out else scored.iloc[:0]

    def similar_items(self, item_ids: Sequence[Any], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k similar items by reciprocal-rank fusion (1 / (60 + rank)) of the generators' ``similar_items``."""
        self._check_fitted()
        k = cap_k(k, len(self.builder_.items_))  # never wider than the catalogue
        items = list(item_ids)
        fused: list[dict[Any, float]] = [{} for _ in items]
        any_known = np.zeros(len(items), dtype=bool)
        for est in self.generators_.values():
            if not hasattr(est, "similar_items"):
                continue
            index = getattr(est, "item_index_", None)
            known = [j for j, it in enumerate(items) if index is None or it in index]
            if not known:
                continue
            ids, _ = est.similar_items([items[j] for j in known], max(k, self.candidates_per_generator // 4 or 1))
            for row, j in enumerate(known):
                any_known[j] = True
                for r, cand in enumerate(ids[row]):
                    if cand is None or cand == items[j]:
                        continue
                    fused[j][cand] = fused[j].get(cand, 0.0) + 1.0 / (60.0 + r + 1)
        if not any_known.all():
            bad = int(np.argmin(any_known))
            raise TagrankInputError(f"item_ids[{bad}] = {items[bad]!r} is not known to any generator")
        out_ids = np.full((len(items), k), None, dtype=object)
        out_scores = np.full((len(items), k), -np.inf)
        for j, scores in enumerate(fused):
            top = sorted(scores.items(), key=lambda kv: -kv[1])[:k]
            for r, (cand, s) in enumerate(top):
                out_ids[j, r], out_scores[j, r] = cand, s
        return out_ids, out_scores

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Directory: config.json + arrays.npz (feature statistics) + ranker/ + generators/<name>/."""
        self._check_fitted()
        path = Path(path)
        params = {k: v for k, v in self.get_params().items() if k != "generators"}
        from tagrank.hybrid.user_splits import describe_split

        params["inner_split"] = describe_split(self.inner_split)  # a callable / mask is recorded by description
        builder_config, arrays = self.builder_.get_state()
        self.ranker_.save(path / "ranker")
        info = _save_scorers(path / "generators", self.generators_)
        config = {
            "class": type(self).__name__, "params": _jsonable_params(params), "generators": info,
            "builder": builder_config, "feature_names": self.feature_names_,
            "training_summary": self.training_summary_, "inner_split": self.inner_split_, "served": self.served_,
        }
        return save_dir(path, type(self).__name__, config, arrays=arrays)

    @classmethod
    @load_guard
    def load(cls, path: str | Path, generators: Mapping[str, Any] | None = None) -> RecommendPipeline:
        """Load a saved pipeline; generators come from their own saves, or pass the fitted ones."""
        path = Path(path)
        config = read_config(path, cls.__name__)
        gens = _load_scorers(path / "generators", config["generators"], generators, "generators")
        from tagrank.hybrid.user_splits import INNER_SPLITS

        params = dict(config["params"])
        if params.get("inner_split", INNER_SPLITS[0]) not in INNER_SPLITS:  # a user's own split is not saved
            params.pop("inner_split")
        obj = cls(gens, **params)
        obj.ranker_ = HybridRanker.load(path / "ranker")
        obj.feature_names_ = list(config["feature_names"])
        if obj.ranker_.feature_names_ != obj.feature_names_:
            raise TagrankInputError(f"{path}: ranker features do not match the pipeline's feature list")
        obj.generators_ = gens
        obj.builder_ = obj._builder(gens).set_state(config["builder"], load_arrays(path))
        obj.training_summary_ = dict(config.get("training_summary", {}))
        obj.inner_split_ = str(config.get("inner_split", "temporal"))
        obj.served_ = getattr(obj.ranker_, "served_", "model")
        obj.guard_ = dict(getattr(obj.ranker_, "guard_", {}) or {})
        obj.ablation_ = {}
        return obj


# --------------------------------------------------------------------------- search
