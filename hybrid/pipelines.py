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

import importlib
import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.saved import load_guard
from tagrank.baselines.params import Params
from tagrank.baselines.sparse_topk import texts_from_arrays, texts_to_arrays
from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    cap_k,
    label_at,
    check_columns,
    check_k,
    check_texts,
)
from tagrank.hybrid.ablation import feature_groups, fit_ablations, fit_learning_curve
from tagrank.hybrid.candidates import CandidateGenerator
from tagrank.hybrid.features import FeatureBuilder
from tagrank.hybrid.persistence import decode_keys, encode_keys, load_arrays, read_config, save_dir
from tagrank.hybrid.ranker import HybridRanker

#: modules ``load`` may import a saved scorer class from
_LOADABLE_MODULES = ("baselines.", "hybrid.", "tagrank.baselines.", "tagrank.hybrid.")


# --------------------------------------------------------------------------- helpers


def clone(est: Any) -> Any:
    """An unfitted copy with the same constructor parameters (nested estimators cloned too).

    Parameters are read from the attributes named like ``__init__``'s
    arguments (the scikit-learn convention every tagrank estimator follows).
    """
    if isinstance(est, list | tuple):
        return type(est)(clone(e) for e in est)
    if not hasattr(est, "fit") or isinstance(est, type):
        return est
    sig = inspect.signature(type(est).__init__)
    kwargs = {}
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not hasattr(est, name):
            if p.default is p.empty:
                raise TagrankInputError(f"cannot clone {type(est).__name__}: it does not store parameter {name!r}")
            continue
        value = getattr(est, name)
        kwargs[name] = clone(value) if hasattr(value, "fit") and not isinstance(value, type) else value
    return type(est)(**kwargs)


def fit_recommender(est: Any, interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> Any:
    """``est.fit(interactions, items)`` when ``fit`` takes items (content recommenders), else ``fit(interactions)``."""
    params = inspect.signature(est.fit).parameters
    if "items" in params:
        return est.fit(interactions, items=items)
    return est.fit(interactions)


def temporal_user_split(
    interactions: pd.DataFrame, fraction: float = 0.2, min_positives: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier, later): per user with >= ``min_positives`` rows, the last ``max(1, floor(fraction n))``.

    Rows are ordered by (timestamp, item id as text) when there is a
    ``timestamp`` column, else by position; the benchmark's split rule.
    """
    check_columns(interactions, ["user_id", "item_id"], "interactions")
    if not 0 < fraction < 1:
        raise TagrankInputError(f"fraction must be in (0, 1), got {fraction!r}")
    n_rows = len(interactions)
    frame = pd.DataFrame({
        "u": interactions["user_id"].to_numpy(),
        "t": (to_seconds(interactions["timestamp"], "interactions.timestamp") if "timestamp" in interactions.columns
              else np.arange(n_rows)),
        "i": interactions["item_id"].astype(str).to_numpy(),
        "pos": np.arange(n_rows),
    }).sort_values(["u", "t", "i", "pos"], kind="mergesort")
    n = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    late = (n >= min_positives) & (from_end < np.maximum(1, np.floor(fraction * n)).astype(int))
    is_late = np.zeros(n_rows, dtype=bool)
    is_late[frame["pos"].to_numpy()] = late
    return interactions[~is_late].reset_index(drop=True), interactions[is_late].reset_index(drop=True)


def _known_to_all(users: list, generators: Mapping[str, Any]) -> list:
    out = users
    for est in generators.values():
        index = getattr(est, "user_index_", None)
        if index is not None:
            out = [u for u in out if u in index]
    return out


def _provenance_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(("src.", "srank.")) or c == "n_sources"]


def top_lists(
    frame: pd.DataFrame, queries: list, query_col: str, candidate_col: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids [n, k], scores [n, k]) from a scored frame; order score desc, then row order; None / -inf pad."""
    n = len(queries)
    ids = np.full((n, k), None, dtype=object)
    scores = np.full((n, k), -np.inf)
    if len(frame) == 0 or n == 0:
        return ids, scores
    codes, uniques = pd.factorize(pd.Series(queries, dtype=object), sort=False)
    lookup = {q: c for c, q in enumerate(uniques)}
    fq = frame[query_col].map(lookup)
    keep = fq.notna().to_numpy()
    fq = fq.to_numpy()[keep].astype(np.int64)
    s = frame["score"].to_numpy(np.float64)[keep]
    cands = frame[candidate_col].to_numpy(dtype=object)[keep]
    order = np.lexsort((np.arange(len(s)), -s, fq))
    fq, s, cands = fq[order], s[order], cands[order]
    starts = np.flatnonzero(np.r_[True, fq[1:] != fq[:-1]])
    rank = np.arange(len(fq)) - np.repeat(starts, np.diff(np.r_[starts, len(fq)]))
    top = rank < k
    block_ids = np.full((len(uniques), k), None, dtype=object)
    block_scores = np.full((len(uniques), k), -np.inf)
    block_ids[fq[top], rank[top]] = cands[top]
    block_scores[fq[top], rank[top]] = s[top]
    return block_ids[codes], block_scores[codes]


def _class_path(est: Any) -> str:
    return f"{type(est).__module__}:{type(est).__qualname__}"


def _load_class(path: str) -> Any:
    module, _, name = path.partition(":")
    if not module.startswith(_LOADABLE_MODULES):
        raise TagrankInputError(f"refusing to import {path!r}: saved scorers must come from tagrank's own modules")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _save_scorers(path: Path, scorers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Save every scorer that can be saved under ``path/<name>``; returns their (ordered) descriptions."""
    info = []
    for name, est in scorers.items():
        saved = hasattr(est, "save") and hasattr(type(est), "load")
        if saved:
            est.save(path / name)
        info.append({"name": name, "class": _class_path(est), "saved": bool(saved)})
    return info


def _load_scorers(
    path: Path, info: list[dict[str, Any]], given: Mapping[str, Any] | None, what: str
) -> dict[str, Any]:
    names = [meta["name"] for meta in info]
    if given is not None:
        missing = [n for n in names if n not in given]
        if missing:
            raise TagrankInputError(f"{what} {missing} are needed by the saved pipeline but were not given")
        return {n: given[n] for n in names}
    out = {}
    for meta in info:
        name = meta["name"]
        if not meta["saved"]:
            raise TagrankInputError(
                f"{what[:-1]} {name!r} ({meta['class']}) has no save(); pass the fitted objects as {what}="
            )
        out[name] = _load_class(meta["class"]).load(path / name)
    return out


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    from tagrank.hybrid.persistence import jsonable

    out = {}
    for key, value in params.items():
        try:
            out[key] = jsonable(value)
        except TagrankInputError:
            out[key] = repr(value)
    return out


# --------------------------------------------------------------------------- recommend


class RecommendPipeline(Params):
    """Candidate generators + :class:`FeatureBuilder` + :class:`HybridRanker` for top-N recommendation.

    Parameters
    ----------
    generators:
        ``{name: InteractionScorer-like}`` (unfitted: cloned and fitted by
        ``fit``); each needs ``fit``, ``recommend`` and ``score_user_items``.
    ranker_params:
        Overrides of the ranker's defaults (binary labels, NDCG@10 early stopping).
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
    ranker_valid_fraction:
        Share of the training users held out for early stopping.
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
        self.random_state = random_state

    def _ranker(self) -> HybridRanker:
        params = {
            "grade_rule": "binary", "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
            "min_child_samples": 50, "early_stopping_rounds": 30, "eval_at": (10,), "random_state": self.random_state,
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
            isinstance(self.mmr_lambda, int | float) and 0 <= self.mmr_lambda <= 1
        ):
            raise TagrankInputError(f"mmr_lambda must be None or in [0, 1], got {self.mmr_lambda!r}")
        if not 0 <= self.ranker_valid_fraction < 1:
            raise TagrankInputError(f"ranker_valid_fraction must be in [0, 1), got {self.ranker_valid_fraction!r}")
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
        if n_valid >= 1 and len(users) - n_valid >= 1:
            held = set(users[rng.permutation(len(users))[:n_valid]].tolist())
            is_valid = frame["user_id"].isin(held).to_numpy()
            candidate_valid = frame[is_valid]
            if candidate_valid.groupby("user_id")["label"].max().max() > 0:
                valid, fit_frame = candidate_valid, frame[~is_valid]

        def fit(cols: list[str], sources: list[str] | None = None) -> HybridRanker:
            return self._ranker().fit(fit_frame, "user_id", "item_id", "label", feature_cols=cols, valid=valid,
                                      sources=sources)

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
        users = list(user_ids)
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


class SearchPipeline(Params):
    """Text scorers + :class:`FeatureBuilder` + two :class:`HybridRanker` for product search.

    Parameters
    ----------
    scorers:
        ``{name: TextScorer}`` (unfitted for ``fit``; fitted for ``fit_fitted``).
    ranker_params:
        Overrides of the rankers' defaults (grade rule 12 per label unit, NDCG@10).
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
        """The ranker on ``features`` and, with ``ablation``, one refit without each feature group."""
        valid = _informative(valid)

        def fit(cols: list[str], sources: list[str] | None = None) -> HybridRanker:
            return self._ranker().fit(frame, "query", "item_id", "label", feature_cols=cols, valid=valid,
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
            return self._ranker().fit(part, "query", "item_id", "label", feature_cols=features, valid=valid)

        # learning curve: the same ranker on nested subsets of its training queries
        variants.update(fit_learning_curve(fit_queries, len(queries), random_state=self.random_state,
                                           unit="queries"))
        return ranker, variants

    def _ranker(self) -> HybridRanker:
        params = {"grade_rule": 12.0, "n_estimators": 500, "learning_rate": 0.05, "num_leaves": 31,
                  "min_child_samples": 20, "early_stopping_rounds": 50, "eval_at": (10,),
                  "random_state": self.random_state}
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

    def _candidates(self, keys: list, scorers: Mapping[str, Any] | None = None) -> pd.DataFrame:
        gen = CandidateGenerator(self.scorers_ if scorers is None else scorers, k=self.candidates_per_scorer,
                                 query_col="query")
        return gen.generate(keys)

    def _features(self, builder: FeatureBuilder, queries: Sequence[str], items: Sequence[Any],
                  provenance: pd.DataFrame | None, own_labels: np.ndarray | None, as_columns: bool = False
                  ) -> pd.DataFrame | dict[str, np.ndarray]:
        items = list(items)
        pos = self._positions(items)
        catalog_texts = self._lookup()[1]
        extra = self._item_extra(pos, own_labels)
        if provenance is not None:
            extra = {**{str(c): provenance[c].to_numpy() for c in provenance.columns}, **extra}
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
        self._check_fitted()
        queries = check_texts(query_texts, "query_texts")
        cand = self._candidates(list(dict.fromkeys(queries)))
        feats = self._features(self.builder_, cand["query"], cand["item_id"], cand[_provenance_cols(cand)], None)
        return pd.concat([cand[["query", "item_id"]], feats], axis=1)

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
        frame = self.candidate_features(query_texts)
        cols = ["query", "item_id", "score", "rank"]
        return {v: r.rank(frame, k=k, query_col="query", candidate_col="item_id")[cols] for v, r in rankers.items()}

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
        items = list(item_ids)
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
        obj.builder_.feature_names_ = list(obj.feature_names_)
        obj.rerank_ranker_ = None
        if (path / "rerank_ranker").is_dir():
            obj.rerank_ranker_ = HybridRanker.load(path / "rerank_ranker")
            obj.rerank_builder_ = obj._builder().fit()
            obj.rerank_feature_names_ = list(obj.rerank_ranker_.feature_names_)
            obj.rerank_builder_.feature_names_ = list(obj.rerank_feature_names_)
        obj.training_summary_ = dict(config.get("training_summary", {}))
        obj.retrieve_ablation_, obj.rerank_ablation_ = {}, {}
        obj._remember_catalogue()
        return obj


def _informative(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The frame, or None when no query in it has two different labels (it cannot drive early stopping)."""
    if frame is None or len(frame) == 0:
        return None
    spread = frame.groupby("query")["label"].agg(lambda s: s.nunique())
    return frame if (spread > 1).any() else None


__all__ = ["RecommendPipeline", "SearchPipeline", "clone", "fit_recommender", "temporal_user_split"]
