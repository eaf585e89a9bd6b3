"""(user, item) -> ranked tags from history, co-occurrence, popularity and text, with explanations.

The signals are combined by :class:`hybrid.ranker.HybridRanker` (LambdaRank);
each suggestion carries the features that carried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.params import Params
from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    cap_k,
    check_k,
    check_number,
    check_same_length,
    check_texts,
    check_unique_ids,
    id_list,
)
from tagrank.hybrid.representations import is_fitted, make_representation


def holdout_last_events(
    events: pd.DataFrame, fraction: float = 0.2, min_events: int = 5
) -> np.ndarray:
    """Boolean mask of the held-out events: per user with >= ``min_events`` events ordered by
    (timestamp, item id, tag), the last ``max(1, floor(fraction * n))`` (the benchmark's rule)."""
    frame = pd.DataFrame({
        "u": events["user_id"].astype(str).to_numpy(),
        "t": (to_seconds(events["timestamp"], "events.timestamp") if "timestamp" in events.columns
              else np.zeros(len(events))),
        "i": events["item_id"].astype(str).to_numpy(),
        "g": events["tag"].astype(str).to_numpy(),
        "pos": np.arange(len(events)),
    }).sort_values(["u", "t", "i", "g", "pos"], kind="mergesort")
    n = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    n_out = np.maximum(1, np.floor(fraction * n)).astype(int)
    out = np.zeros(len(events), dtype=bool)
    out[frame["pos"].to_numpy()] = (n >= min_events) & (from_end < n_out)
    return out


def _clone(estimator: Any) -> Any:
    return type(estimator)(**estimator.get_params())


def _unit_keys(users: Sequence[Any], items: Sequence[Any]) -> list[str]:
    return [f"{u}\t{i}" for u, i in zip(users, items, strict=True)]


class TagRecommender(Params):
    """Rank tags for (user, item): candidate signals combined by LambdaRank, with explanations.

    Signals (features and candidate generators): ``popularity``, ``user_history``,
    ``item_cooccurrence`` (:mod:`baselines.tag_signals`) and, when ``items`` are
    given to ``fit``, the text similarity of each tag to the item's text for every
    scorer of ``text_scorers`` (``"tfidf"``, or ``{name: scorer}``; a fitted
    scorer is used as it is, an unfitted one is fitted on the tag vocabulary).

    Training follows the benchmark's protocol inside the given events: per user
    with >= 5 events, the last 20% (by time, item, tag) are the ranker's labels,
    with the signals fitted on the earlier events only (no leakage); the
    candidates of each held-out (user, item) are the union of every signal's top
    ``n_candidates`` tags of that earlier vocabulary; a candidate is relevant when
    the user gave the item that tag. Held-out units are split 80/20 by a hash of
    the unit for early stopping. The signals are then refitted on all events for
    serving. ``inner_split="random"`` holds out, per user with >= ``min_events``
    distinct items, a seeded random ``holdout_fraction`` of their (user, item)
    units with all their tags (:func:`hybrid.user_splits.random_holdout`) instead
    of the last events; the default ``"temporal"`` matches the tagrec protocol
    (tags for the user's next items). A boolean mask over the events' rows (True = held out; a
    pandas Series is read by its index labels) is a split of the user's own. Recorded as ``inner_split_``.

    ``guard`` (default on) measures the ranker against each signal's own score on
    the held-out units (:mod:`hybrid.guard`) and serves the best signal instead
    where the ranker's gain is not significant (``guard_alpha``; the signals are
    refitted on all events for serving, as in ``RecommendPipeline``), with a
    ``SourceFallbackWarning``; recorded as ``served_`` and ``guard_``.

    ``suggest`` returns each suggestion with ``explanation``: the ``n_explain``
    features with the largest positive contributions
    (:meth:`hybrid.ranker.HybridRanker.explain`, SHAP values).
    """

    def __init__(
        self,
        text_scorers: Any = None,
        n_candidates: int = 50,
        holdout_fraction: float = 0.2,
        min_events: int = 5,
        n_explain: int = 2,
        ranker_params: dict[str, Any] | None = None,
        user_history: Any = None,
        item_cooccurrence: Any = None,
        random_state: int = 0,
        ablation: bool = False,
        inner_split: Any = "temporal",
        guard: bool = True,
        guard_alpha: float | None = 0.05,
    ) -> None:
        self.text_scorers = text_scorers
        self.n_candidates = n_candidates
        self.holdout_fraction = holdout_fraction
        self.min_events = min_events
        self.n_explain = n_explain
        self.ranker_params = ranker_params
        self.user_history = user_history
        self.item_cooccurrence = item_cooccurrence
        self.random_state = random_state
        self.ablation = ablation
        self.inner_split = inner_split
        self.guard = guard
        self.guard_alpha = guard_alpha

    def results_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(getattr(self, "feature_names_", []))}
        if hasattr(self, "inner_split_"):
            out["inner_split"] = self.inner_split_
        if hasattr(self, "fit_on_"):
            out["fit_on"] = self.fit_on_
        if hasattr(self, "balance_"):
            out["balance"] = self.balance_
            out["valid_macro_f1_by_balance"] = dict(self.balance_scores_)
        if hasattr(self, "ranker_"):
            out["ranker.best_iteration"] = self.ranker_.best_iteration_
            out["served"] = self.served_
            out["guard"] = dict(self.guard_)
        out["text_scorers"] = sorted(getattr(self, "text_scorers_", {}))
        return out

    # ------------------------------------------------------------------ signals
    def _signal_prototypes(self) -> list[Any]:
        from tagrank.baselines.tag_signals import (
            ItemCooccurrenceScorer,
            TagPopularityScorer,
            UserHistoryScorer,
        )

        return [
            TagPopularityScorer(),
            _clone(self.user_history) if self.user_history is not None else UserHistoryScorer(),
            _clone(self.item_cooccurrence) if self.item_cooccurrence is not None else ItemCooccurrenceScorer(),
        ]

    def _fit_signals(self, events: pd.DataFrame) -> list[Any]:
        return [s.fit(events) for s in self._signal_prototypes()]

    def _text_scorers(self, vocabulary: list[str]) -> dict[str, Any]:
        spec = self.text_scorers
        if spec is None:
            return {}
        if isinstance(spec, str):
            spec = {spec: make_representation(spec)}
        elif not isinstance(spec, dict):
            raise TagrankInputError(f"text_scorers must be None, 'tfidf' or a dict name -> scorer, got {spec!r}")
        out = {}
        for name, scorer in spec.items():
            scorer = make_representation(scorer)
            if not hasattr(scorer, "score_pairs"):
                raise TagrankInputError(f"text scorer {name!r} has no score_pairs()")
            if not is_fitted(scorer):
                scorer.fit(vocabulary, ids=vocabulary)
            out[str(name)] = scorer
        return out

    # ------------------------------------------------------------------ candidates and features
    def _candidates(
        self, signals: list[Any], texts: dict[str, Any], users: list[Any], items: list[Any],
        vocabulary: set[str] | None, exclude: list[set[str]] | None,
    ) -> pd.DataFrame:
        """One row per (unit, candidate tag) with every feature column."""
        n_cand = check_k(self.n_candidates, "n_candidates")
        mats = [s.score(users, items) for s in signals]
        vocab = signals[0].tags_
        index = signals[0].tag_index_
        picked: list[set[int]] = [set() for _ in users]
        for s in signals:
            tags, _ = s.recommend(users, items, n_cand, exclude=exclude)
            for r, row in enumerate(tags):
                picked[r].update(index[t] for t in row if t is not None)
        item_text = [self.item_text_.get(i) for i in items]
        for scorer in texts.values():
            rows = [r for r, t in enumerate(item_text) if t is not None]
            if not rows:
                continue
            ids, _ = scorer.top_k([item_text[r] for r in rows], min(len(scorer.ids_), n_cand * 3))
            for r, row in zip(rows, ids, strict=True):
                kept = [index[t] for t in row if t is not None and t in index and (vocabulary is None or t in vocabulary)]
                picked[r].update(kept[:n_cand])
        unit_rows, tag_rows = [], []
        for r, cand in enumerate(picked):
            if exclude is not None and exclude[r]:
                cand = cand - {index[t] for t in exclude[r] if t in index}
            cand_sorted = sorted(cand)
            unit_rows.extend([r] * len(cand_sorted))
            tag_rows.extend(cand_sorted)
        unit_rows_a = np.asarray(unit_rows, dtype=np.int64)
        tag_rows_a = np.asarray(tag_rows, dtype=np.int64)
        keys = _unit_keys(users, items)
        frame = pd.DataFrame({
            "unit": np.asarray(keys, dtype=object)[unit_rows_a] if len(unit_rows_a) else np.zeros(0, dtype=object),
            "tag": vocab[tag_rows_a] if len(tag_rows_a) else np.zeros(0, dtype=object),
            "row": unit_rows_a,
        })
        for s, mat in zip(signals, mats, strict=True):
            frame[s.name] = mat[unit_rows_a, tag_rows_a] if len(unit_rows_a) else np.zeros(0)
        for name, scorer in texts.items():
            col = np.full(len(frame), np.nan)
            has = np.asarray([item_text[r] is not None for r in unit_rows_a], dtype=bool)
            if has.any():
                col[has] = scorer.score_pairs(
                    frame["tag"].to_numpy()[has].tolist(), [item_text[r] for r in unit_rows_a[has]]
                )
            frame[name] = col
        return frame

    # ------------------------------------------------------------------ fit
    def fit(
        self, events: pd.DataFrame, items: pd.DataFrame | None = None, *, user_col: str = "user_id",
        item_col: str = "item_id", tag_col: str = "tag", time_col: str = "timestamp", text_col: str = "text",
    ) -> TagRecommender:
        """Learn the ranker on held-out events (see the class docstring), then refit the signals on all events.

        ``user_col`` / ``item_col`` / ``tag_col`` / ``time_col`` name the events' columns, ``item_col`` /
        ``text_col`` the items' (defaults: the library's own names)."""
        from tagrank.baselines.columns import with_columns
        from tagrank.baselines.tag_signals import check_events

        events = with_columns(events, {"user_id": user_col, "item_id": item_col, "tag": tag_col,
                                       "timestamp": time_col}, "events")
        if items is not None:
            items = with_columns(items, {"item_id": item_col, "text": text_col}, "items")
        from tagrank.hybrid.ranker import HybridRanker

        ev = check_events(events)
        custom = None
        if not isinstance(self.inner_split, str):  # a user's own held-out mask, read against the user's rows
            from tagrank.hybrid.user_splits import split_mask

            custom = split_mask(self.inner_split, ev, "events")
        ev = ev.reset_index(drop=True)
        check_k(self.n_explain, "n_explain")
        check_k(self.n_candidates, "n_candidates")
        check_k(self.min_events, "min_events")
        check_number(self.holdout_fraction, "holdout_fraction", 0.0, 1.0)
        if not 0 < self.holdout_fraction < 1:
            raise TagrankInputError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}")
        for flag in ("guard", "ablation"):
            if not isinstance(getattr(self, flag), bool | np.bool_):
                raise TagrankInputError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int | np.integer):
            raise TagrankInputError(f"random_state must be an integer seed (every run is seeded), got {self.random_state!r}")
        self.item_text_: dict[Any, str] = {}
        if items is not None:
            from tagrank.baselines.validation import check_columns

            check_columns(items, ["item_id", "text"], "items")
            check_unique_ids(items["item_id"], "items.item_id")
            texts = check_texts(items["text"].tolist(), "items.text")
            self.item_text_ = dict(zip(items["item_id"].tolist(), texts, strict=True))
        if custom is not None:
            held = custom
        elif self.inner_split == "temporal":
            held = holdout_last_events(ev, float(self.holdout_fraction), int(self.min_events))
        elif self.inner_split == "random":
            from tagrank.hybrid.user_splits import random_holdout

            held = random_holdout(ev, float(self.holdout_fraction), int(self.min_events), int(self.random_state))
        else:
            raise TagrankInputError(
                f"inner_split must be 'temporal', 'random' or a boolean mask over the events, got {self.inner_split!r}")
        self.inner_split_ = "mask" if custom is not None else str(self.inner_split)
        early, late = ev[~held], ev[held]
        if len(early) == 0:
            raise TagrankInputError(f"the inner split ({self.inner_split_}) held out every event: "
                                    "no earlier events are left to fit the signals on")
        if len(late) == 0:
            raise TagrankInputError(
                "the inner split's mask holds out no event: the ranker has nothing to learn from" if custom is not None
                else f"no user has >= {self.min_events} events: the ranker has no held-out events to learn from"
            )
        full_vocab = sorted(set(ev["tag"]))
        self.text_scorers_ = self._text_scorers(full_vocab) if self.item_text_ else {}
        signals = self._fit_signals(early)
        early_vocab = set(signals[0].tags_)
        units = late.groupby(["user_id", "item_id"], sort=True)["tag"].agg(set)
        users = [u for u, _ in units.index]
        items_ = [i for _, i in units.index]
        seen = early.groupby(["user_id", "item_id"])["tag"].agg(set)
        exclude = [seen.get((u, i), set()) for u, i in units.index]
        frame = self._candidates(signals, self.text_scorers_, users, items_, early_vocab, exclude)
        relevant = units.to_numpy()
        frame["label"] = [float(t in relevant[r]) for r, t in zip(frame["row"], frame["tag"], strict=True)]
        features = [s.name for s in signals] + list(self.text_scorers_)
        self.feature_names_ = features
        import hashlib

        in_valid = np.asarray(
            [int(hashlib.sha1(k.encode("utf-8")).hexdigest(), 16) % 100 >= 80 for k in frame["unit"]], dtype=bool
        )
        params = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 10,
                  "early_stopping_rounds": 30, "grade_rule": "binary", "random_state": self.random_state,
                  "guard_alpha": self.guard_alpha}
        params.update(self.ranker_params or {})
        ranker = HybridRanker(**params)
        train_part, valid_part = frame[~in_valid], frame[in_valid]

        def learnable(part: pd.DataFrame) -> bool:
            g = part.groupby("unit")["label"].agg(["min", "max", "size"])
            return bool(((g["max"] > g["min"]) & (g["size"] > 1)).any())

        if not learnable(train_part):
            train_part, valid_part = frame, frame.iloc[0:0]
        if not learnable(train_part):
            raise TagrankInputError(
                "no held-out (user, item) has a relevant candidate tag: the ranker has nothing to learn"
            )
        valid_used = valid_part if learnable(valid_part) else None
        ranker.fit(train_part, query_col="unit", candidate_col="tag", label_col="label", feature_cols=features,
                   valid=valid_used, sources=features if self.guard else None)
        self.ranker_ = ranker
        self.served_ = ranker.served_
        self.guard_ = dict(ranker.guard_)
        self.ablation_: dict[str, Any] = {}
        if self.ablation:  # the ranker without each signal's feature: same rows, candidates, parameters, seed
            from tagrank.hybrid.ablation import fit_ablations

            self.ablation_ = fit_ablations(
                lambda cols: HybridRanker(**params).fit(train_part, query_col="unit", candidate_col="tag",
                                                        label_col="label", feature_cols=cols, valid=valid_used),
                features, {f: [f] for f in features})
        self.n_training_units_ = len(units)
        self.signals_ = self._fit_signals(ev)
        self.tags_ = self.signals_[0].tags_
        return self

    # ------------------------------------------------------------------ serve
    def _check_fitted(self) -> None:
        if not hasattr(self, "ranker_"):
            raise NotFittedError("TagRecommender is not fitted: call fit() first")

    @property
    def ablation_variants(self) -> list[str]:
        """The fitted drop-one variants (``"-<signal>"``); empty unless fitted with ``ablation=True``."""
        return list(getattr(self, "ablation_", {}))

    def _ranked(self, user_ids: Sequence[Any], item_ids: Sequence[Any],
                exclude: Sequence[set[str] | None] | None, ranker: Any = None,
                frame: pd.DataFrame | None = None) -> pd.DataFrame:
        frame = self._candidate_frame(user_ids, item_ids, exclude) if frame is None else frame.copy()
        frame["score"] = (ranker if ranker is not None else self.ranker_).predict(frame) if len(frame) else np.zeros(0)
        order = np.lexsort((frame["tag"].to_numpy(dtype=str), -frame["score"].to_numpy(), frame["row"].to_numpy()))
        frame = frame.iloc[order].reset_index(drop=True)
        frame["rank"] = frame.groupby("row", sort=False).cumcount().to_numpy() + 1
        return frame

    def _candidate_frame(self, user_ids: Sequence[Any], item_ids: Sequence[Any],
                         exclude: Sequence[set[str] | None] | None) -> pd.DataFrame:
        self._check_fitted()
        users, items = id_list(user_ids, "user_ids"), id_list(item_ids, "item_ids")
        check_same_length(user_ids=users, item_ids=items)
        if isinstance(exclude, str):
            raise TagrankInputError(f"exclude must hold one set of tags per (user, item) row, got the string {exclude!r}")
        # a plain string in a row is one tag, not a set of characters
        excl = [{e} if isinstance(e, str) else set(e or ()) for e in exclude] if exclude is not None else None
        if excl is not None:
            check_same_length(user_ids=users, exclude=excl)
        return self._candidates(self.signals_, self.text_scorers_, users, items, None, excl)

    def recommend_ablation(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 10,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
        """:meth:`recommend` of the model (key None) and of each ablation variant, candidates computed once."""
        self._check_fitted()
        k = cap_k(k, len(self.tags_))
        user_ids, item_ids = id_list(user_ids, "user_ids"), id_list(item_ids, "item_ids")  # read once
        exclude = list(exclude) if exclude is not None and not isinstance(exclude, str) else exclude
        frame = self._candidate_frame(user_ids, item_ids, exclude)
        rankers = {None: self.ranker_, **getattr(self, "ablation_", {})}
        return {v: self._top(self._ranked(user_ids, item_ids, exclude, r, frame), len(user_ids), k)
                for v, r in rankers.items()}

    def recommend(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 10,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k tags per (user, item): (tags [n, k'], scores [n, k']), k' = min(k, known tags); short rows
        padded with None / -inf."""
        self._check_fitted()
        k = cap_k(k, len(self.tags_))  # never wider than the tag vocabulary
        user_ids, item_ids = id_list(user_ids, "user_ids"), id_list(item_ids, "item_ids")  # read once
        exclude = list(exclude) if exclude is not None and not isinstance(exclude, str) else exclude
        return self._top(self._ranked(user_ids, item_ids, exclude), len(user_ids), k)

    @staticmethod
    def _top(frame: pd.DataFrame, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(tags [n, k], scores [n, k]) of a ranked candidate frame; short rows padded with None / -inf."""
        tags = np.full((n, k), None, dtype=object)
        scores = np.full((n, k), -np.inf)
        top = frame[frame["rank"] <= k]
        r, c = top["row"].to_numpy(), top["rank"].to_numpy() - 1
        tags[r, c] = top["tag"].to_numpy()
        scores[r, c] = top["score"].to_numpy()
        return tags, scores

    def suggest(
        self, user_ids: Sequence[Any], item_ids: Sequence[Any], k: int = 5,
        exclude: Sequence[set[str] | None] | None = None,
    ) -> pd.DataFrame:
        """Top-k suggestions with explanations: columns user_id, item_id, rank, tag, score,
        explanation (e.g. ``"item_cooccurrence +1.21, user_history +0.40"``), contributions (dict)."""
        k = check_k(k)
        users, items = id_list(user_ids, "user_ids"), id_list(item_ids, "item_ids")
        frame = self._ranked(users, items, exclude)
        top = frame[frame["rank"] <= k].reset_index(drop=True)
        contrib = self.ranker_.explain(top) if len(top) else pd.DataFrame(columns=[*self.feature_names_, "bias"])
        feats = contrib[self.feature_names_].to_numpy() if len(top) else np.zeros((0, len(self.feature_names_)))
        explanations, contributions = [], []
        for row in feats:
            order = np.argsort(-row, kind="stable")
            parts = [(self.feature_names_[j], float(row[j])) for j in order[: max(1, self.n_explain)] if row[j] > 0]
            explanations.append(", ".join(f"{name} {value:+.2f}" for name, value in parts) or "prior (no signal above average)")
            contributions.append({name: float(v) for name, v in zip(self.feature_names_, row, strict=True)})
        rows = top["row"].to_numpy()
        return pd.DataFrame({
            "user_id": [users[r] for r in rows], "item_id": [items[r] for r in rows],
            "rank": top["rank"].to_numpy(), "tag": top["tag"].to_numpy(), "score": top["score"].to_numpy(),
            "explanation": explanations, "contributions": contributions,
        })
