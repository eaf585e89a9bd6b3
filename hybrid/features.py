"""FeatureBuilder: fitted scorers -> named feature columns for (query | user, candidate) pairs.

One row per pair. Columns, in this order (``feature_names_`` lists them after
the first ``transform``; later calls must give the same list):

1. **Scorer features**, one block per scorer in the order of the ``scorers``
   dict: each scorer's ``features(left, right)`` (a TextScorer's pair score,
   an InteractionScorer's user-item score; BM25 adds ``bm25_norm``). Columns
   are renamed after the dict key: a column equal to the scorer's own
   ``name`` becomes ``<key>``, one starting with it becomes ``<key><rest>``
   (``bm25_norm``), any other ``<key>.<column>``. Objects without
   ``features`` are scored with ``score_pairs`` / ``score_user_items``. An
   interaction scorer that does not know a user or an item (absent from its
   training data) leaves ``NaN`` there, LightGBM's missing value.
2. **Group statistics** (``group_stats=True``) of each scorer's main (first)
   column within the pair's group (by default: its query or user):
   ``<key>.rank`` (1 = best, ties share the lowest rank), ``<key>.gap`` (the
   group's top score minus this one), ``<key>.z`` (score standardised within
   the group; 0 when the group's scores are all equal); plus ``group.size``.
   These make scores comparable across queries (a BM25 of 12 means little by
   itself; being 0.1 below the query's best means a lot).
3. **Text statistics** (text pairs, ``text_stats=True``): ``q.n_words``,
   ``c.n_words``, ``len.diff`` (|difference|), ``overlap.n`` (distinct query
   words found in the candidate), ``overlap.frac`` (over the query's distinct
   words), ``overlap.all`` (1 when every query word is present), ``q.n_num``
   and ``overlap.num`` (numeric tokens: sizes, model numbers). Words come from
   :class:`baselines.text.Tokenizer` (jieba for Chinese).
4. **Interaction statistics** (user-item pairs, after ``fit(interactions)``):
   ``item.pop`` (distinct users of the item), ``item.pop_recent`` (distinct
   users among the most recent ``recent_fraction`` of interactions, when there
   is a ``timestamp`` column), ``user.n_hist`` (the user's distinct items),
   and with ``cooc=True`` the item co-occurrence cosine (over users) between
   the candidate and the user's last ``history_window`` items:
   ``cooc.mean``, ``cooc.max``, ``cooc.last`` (the most recent item).
5. **Candidate statistics** (``fit(candidate_stats=frame)``): every column of
   a frame indexed by candidate key, as ``cand.<column>`` (NaN when absent).
6. **Extra columns** passed to ``transform(extra=frame)``, appended as given.

Everything is vectorised (pandas groupby, sparse products); dense scorers
score through :mod:`baselines.vectors` inside their own ``score_pairs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.sparse_topk import unique_rows
from tagrank.baselines.validation import NotFittedError, TagrankInputError, check_same_length

KINDS = ("auto", "text", "interaction")
_NUMERIC = frozenset("0123456789")


def scorer_kind(est: Any) -> str:
    """``text`` for TextScorer-like objects (``score_pairs``), ``interaction`` for recommenders."""
    if hasattr(est, "score_user_items") or hasattr(est, "recommend"):
        return "interaction"
    if hasattr(est, "score_pairs"):
        return "text"
    raise TagrankInputError(f"{type(est).__name__} has neither score_pairs nor score_user_items")


def _rename(key: str, own: str, columns: Sequence[Any]) -> list[str]:
    out = []
    for col in columns:
        col = str(col)
        if col == own:
            out.append(key)
        elif own and col.startswith(own):
            out.append(key + col[len(own):])
        else:
            out.append(f"{key}.{col}")
    return out


def _as_columns(values: Any, key: str) -> dict[str, np.ndarray]:
    """A scorer's output -- a frame, a mapping of columns or one score array -- as float64 columns."""
    if isinstance(values, pd.DataFrame):
        return {str(c): values[c].to_numpy(np.float64) for c in values.columns}
    if isinstance(values, Mapping):
        return {str(c): np.asarray(v, dtype=np.float64) for c, v in values.items()}
    return {key: np.asarray(values, dtype=np.float64)}


def _column_values(series: pd.Series) -> np.ndarray:
    """A frame column as an array: numeric and boolean columns (nullable ones too) as float64 with NaN
    for NA, anything else as it is (the ranker then names the non-numeric column)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy()


def _feature_call(est: Any) -> Any:
    """The scorer method that gives its feature columns: ``feature_columns`` (unless a subclass
    overrides ``features`` itself), else ``features``, else ``score_pairs``."""
    features = getattr(type(est), "features", None)
    if hasattr(est, "feature_columns") and (features is None or getattr(features, "wraps_feature_columns", False)):
        return est.feature_columns
    if features is not None:
        return est.features
    return est.score_pairs


#: texts whose tokens are kept per tokenizer language (cleared when full), shared by every builder
TOKEN_MEMO_SIZE = 200_000
_TOKEN_MEMOS: dict[str, dict[str, tuple[set[str], int]]] = {}


def group_stats(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, within its group (``codes``): rank (1 = highest, ties share the lowest rank), gap to the
    group's maximum, and z-score (population std; 0 where the std is ~0). NaN values stay NaN and are
    left out of the group's statistics. Plain numpy: a one-query request costs microseconds, not a groupby."""
    n = len(values)
    rank, gap, z = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if n == 0:
        return rank, gap, z
    n_groups = int(codes.max()) + 1
    valid = ~np.isnan(values)
    v, c = values[valid], codes[valid]
    count = np.bincount(c, minlength=n_groups).astype(np.float64)
    one_group = n_groups == 1  # a request: one query's candidates (same arithmetic, fewer calls)
    top = np.full(n_groups, -np.inf)
    if one_group:
        top[0] = v.max() if len(v) else -np.inf
    else:
        np.maximum.at(top, c, v)
    mean = np.divide(np.bincount(c, weights=v, minlength=n_groups), count, out=np.zeros(n_groups), where=count > 0)
    dev = v - mean[c]
    std = np.sqrt(np.divide(np.bincount(c, weights=dev * dev, minlength=n_groups), count,
                            out=np.zeros(n_groups), where=count > 0))
    # rank: sort by (group, value descending); a row's rank = its position - the group's first position
    # + 1, where tied values take the position of their first occurrence
    order = np.argsort(-v, kind="stable") if one_group else np.lexsort((-v, c))
    sc, sv = c[order], v[order]
    pos = np.arange(len(v))
    group_start = np.r_[True, sc[1:] != sc[:-1]]
    first_of_group = np.maximum.accumulate(np.where(group_start, pos, 0))
    first_of_value = np.maximum.accumulate(np.where(group_start | np.r_[True, sv[1:] != sv[:-1]], pos, 0))
    r = np.empty(len(v))
    r[order] = first_of_value - first_of_group + 1
    rank[valid] = r
    gap[valid] = top[c] - v
    sd = std[c]
    z[valid] = np.divide(dev, sd, out=np.zeros(len(v)), where=sd > 1e-12)
    return rank, gap, z


class FeatureBuilder:
    """Named pairwise features from fitted scorers (see the module docstring for every column).

    Parameters
    ----------
    scorers:
        ``{name: fitted scorer}``; all text scorers or all interaction scorers.
    kind:
        ``"text"`` (left = query texts, right = candidate texts),
        ``"interaction"`` (left = user ids, right = item ids) or ``"auto"``
        (from the scorers).
    group_stats, text_stats:
        Add the per-group statistics / the text statistics.
    language:
        Tokenizer language for the text statistics (``auto``, ``en``, ``zh``).
    cooc, history_window, recent_fraction:
        Interaction statistics (see the module docstring).
    pair_chunk, user_item_chunk:
        Text pairs / user-item pairs handed to a scorer per call (bounds the
        memory of scorers that materialise one vector per pair, e.g. content
        recommenders' sparse profiles); ``None`` = all at once. Text chunks are
        larger because a text scorer re-encodes each chunk's distinct texts.
    """

    def __init__(
        self,
        scorers: Mapping[str, Any],
        kind: str = "auto",
        group_stats: bool = True,
        text_stats: bool = True,
        language: str = "auto",
        cooc: bool = True,
        history_window: int = 5,
        recent_fraction: float = 0.1,
        pair_chunk: int | None = 250_000,
        user_item_chunk: int | None = 50_000,
    ):
        self.scorers = scorers
        self.kind = kind
        self.group_stats = group_stats
        self.text_stats = text_stats
        self.language = language
        self.cooc = cooc
        self.history_window = history_window
        self.recent_fraction = recent_fraction
        self.pair_chunk = pair_chunk
        self.user_item_chunk = user_item_chunk

    # ------------------------------------------------------------------ setup
    def _resolve_kind(self) -> str:
        if self.kind not in KINDS:
            raise TagrankInputError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.scorers, Mapping):
            raise TagrankInputError(f"scorers must be a dict name -> fitted scorer, got {type(self.scorers).__name__}")
        kinds = {name: scorer_kind(est) for name, est in self.scorers.items()}
        if self.kind != "auto":
            bad = [n for n, k in kinds.items() if k != self.kind]
            if bad:
                raise TagrankInputError(f"scorer(s) {bad} are not {self.kind} scorers")
            return self.kind
        if not kinds:
            raise TagrankInputError("kind='auto' needs at least one scorer (or pass kind='text' / 'interaction')")
        found = set(kinds.values())
        if len(found) > 1:
            raise TagrankInputError(f"scorers mix text and interaction scorers: {kinds}")
        return found.pop()

    def fit(
        self,
        interactions: pd.DataFrame | None = None,
        candidate_stats: pd.DataFrame | None = None,
    ) -> FeatureBuilder:
        """Learn the statistics: interaction counts / co-occurrence and candidate statistics.

        ``interactions`` (user_id, item_id[, timestamp]) are those the scorers
        were fitted on; ``candidate_stats`` is indexed by candidate key.
        """
        self.kind_ = self._resolve_kind()
        self.candidate_stats_ = None
        if candidate_stats is not None:
            if not isinstance(candidate_stats, pd.DataFrame):
                raise TagrankInputError("candidate_stats must be a DataFrame indexed by candidate key")
            if not candidate_stats.index.is_unique:
                raise TagrankInputError("candidate_stats has a duplicated index (candidate keys must be unique)")
            self.candidate_stats_ = candidate_stats.astype(np.float64)
        self.interactions_fitted_ = False
        if interactions is not None:
            if self.kind_ != "interaction":
                raise TagrankInputError("interactions are only used for interaction (user-item) features")
            self._fit_interactions(interactions)
        return self

    def _fit_interactions(self, interactions: pd.DataFrame) -> None:
        from tagrank.baselines.validation import check_columns

        check_columns(interactions, ["user_id", "item_id"], "interactions")
        if len(interactions) == 0:
            raise TagrankInputError("interactions is empty")
        users = pd.Index(pd.unique(interactions["user_id"]))
        items = pd.Index(pd.unique(interactions["item_id"]))
        u = users.get_indexer(interactions["user_id"])
        i = items.get_indexer(interactions["item_id"])
        n_u, n_i = len(users), len(items)
        seen = sp.csr_matrix((np.ones(len(u), np.float64), (u, i)), shape=(n_u, n_i))
        seen.sum_duplicates()
        seen.data[:] = 1.0
        self.users_, self.items_ = users, items
        self.item_pop_ = np.asarray(seen.sum(axis=0), dtype=np.float64).ravel()
        self.user_n_hist_ = np.asarray(seen.sum(axis=1), dtype=np.float64).ravel()
        self.has_time_ = "timestamp" in interactions.columns
        order = np.arange(len(u))
        if self.has_time_:
            from tagrank.baselines.timeparse import to_seconds

            t = to_seconds(interactions["timestamp"], "interactions.timestamp")
            order = np.lexsort((np.arange(len(u)), t))
            n_recent = max(1, int(np.ceil(len(u) * float(self.recent_fraction))))
            recent = order[-n_recent:]
            rec = sp.csr_matrix((np.ones(len(recent)), (u[recent], i[recent])), shape=(n_u, n_i))
            rec.sum_duplicates()
            rec.data[:] = 1.0
            self.item_pop_recent_ = np.asarray(rec.sum(axis=0), dtype=np.float64).ravel()
        if self.cooc:
            w = int(self.history_window)
            if w < 1:
                raise TagrankInputError(f"history_window must be >= 1, got {w}")
            x = seen.T.tocsr()  # items x users
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            self.item_vectors_ = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x)
            # each user's last ``w`` distinct items, most recent first (-1 padded)
            frame = pd.DataFrame({"u": u[order], "i": i[order]})
            frame = frame.drop_duplicates(["u", "i"], keep="last")
            frame["r"] = frame.groupby("u").cumcount(ascending=False)
            frame = frame[frame["r"] < w]
            hist = np.full((n_u, w), -1, dtype=np.int64)
            hist[frame["u"].to_numpy(), frame["r"].to_numpy()] = frame["i"].to_numpy()
            self.history_ = hist
        self.interactions_fitted_ = True

    # ------------------------------------------------------------------ state (save / load)
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON config, numeric arrays) of the fitted statistics, for :mod:`hybrid.persistence`."""
        from tagrank.hybrid.persistence import encode_keys

        self._check_ready()
        config: dict[str, Any] = {
            "kind": self.kind_, "interactions_fitted": bool(self.interactions_fitted_),
            "feature_names": list(getattr(self, "feature_names_", [])),
        }
        arrays: dict[str, np.ndarray] = {}
        if self.candidate_stats_ is not None:
            keys, kind = encode_keys(self.candidate_stats_.index, "candidate_stats index")
            config["candidate_stats"] = {"key_kind": kind, "columns": [str(c) for c in self.candidate_stats_.columns]}
            arrays["cs_keys"] = keys
            arrays["cs_values"] = self.candidate_stats_.to_numpy(np.float64)
        if self.interactions_fitted_:
            users, ukind = encode_keys(self.users_, "user ids")
            items, ikind = encode_keys(self.items_, "item ids")
            config.update({"user_kind": ukind, "item_kind": ikind, "has_time": bool(self.has_time_)})
            arrays.update({"users": users, "items": items, "item_pop": self.item_pop_,
                           "user_n_hist": self.user_n_hist_})
            if self.has_time_:
                arrays["item_pop_recent"] = self.item_pop_recent_
            if self.cooc:
                v = self.item_vectors_
                arrays.update({"history": self.history_, "iv_data": v.data, "iv_indices": v.indices,
                               "iv_indptr": v.indptr, "iv_shape": np.asarray(v.shape, np.int64)})
        return config, arrays

    def set_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureBuilder:
        """Restore statistics written by :meth:`get_state` (the scorers are given to ``__init__``)."""
        from tagrank.hybrid.persistence import decode_keys

        self.kind_ = self._resolve_kind() if self.scorers else config["kind"]
        if self.kind_ != config["kind"]:
            raise TagrankInputError(f"saved features are {config['kind']!r} but the scorers are {self.kind_!r}")
        self.candidate_stats_ = None
        if "candidate_stats" in config:
            cs = config["candidate_stats"]
            index = pd.Index(decode_keys(arrays["cs_keys"], cs["key_kind"]), dtype=object)
            self.candidate_stats_ = pd.DataFrame(arrays["cs_values"], index=index, columns=cs["columns"])
        self.interactions_fitted_ = bool(config["interactions_fitted"])
        if self.interactions_fitted_:
            self.users_ = pd.Index(decode_keys(arrays["users"], config["user_kind"]), dtype=object)
            self.items_ = pd.Index(decode_keys(arrays["items"], config["item_kind"]), dtype=object)
            self.item_pop_ = arrays["item_pop"]
            self.user_n_hist_ = arrays["user_n_hist"]
            self.has_time_ = bool(config["has_time"])
            if self.has_time_:
                self.item_pop_recent_ = arrays["item_pop_recent"]
            if self.cooc:
                self.history_ = arrays["history"]
                shape = tuple(int(x) for x in arrays["iv_shape"])
                self.item_vectors_ = sp.csr_matrix(
                    (arrays["iv_data"], arrays["iv_indices"], arrays["iv_indptr"]), shape=shape
                )
        if config.get("feature_names"):
            self.restore_names(config["feature_names"])
        return self

    def restore_names(self, names: Sequence[str]) -> FeatureBuilder:
        """Pin the feature list a saved (or refitted) model was trained on. Text scorers are probed now, so
        a model whose scorers give other columns -- other scorers, or a scorer whose columns changed since
        the model was saved -- fails at load with both lists, not at its first request."""
        saved = [str(n) for n in names]
        if getattr(self, "kind_", None) == "text" and self.scorers:
            self.__dict__.pop("feature_names_", None)
            try:
                probe = list(self.transform_columns([], []))
            finally:
                self.__dict__.pop("feature_names_", None)
            self._check_saved_names(saved, probe)
        self.feature_names_ = saved
        return self

    @staticmethod
    def _check_saved_names(saved: list[str], probe: list[str]) -> None:
        if saved[: len(probe)] != probe:
            raise TagrankInputError(
                f"the scorers give the features {probe} but the saved model was trained on {saved[: len(probe)]} "
                "(other scorers, or a model saved by an older tagrank whose scorer columns differ): refit and save it again"
            )

    # ------------------------------------------------------------------ transform
    def _check_ready(self) -> None:
        if not hasattr(self, "kind_"):
            raise NotFittedError("FeatureBuilder is not fitted: call fit() first")

    def transform(
        self,
        left: Sequence[Any],
        right: Sequence[Any],
        groups: Sequence[Any] | None = None,
        extra: pd.DataFrame | Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Feature frame (index 0..n-1) for the aligned pairs (left[i], right[i]).

        ``groups`` names each pair's group for the group statistics (default:
        ``left``, i.e. its query or user). ``extra`` columns (a frame, or a
        mapping of name -> array) are appended.
        """
        columns = self.transform_columns(left, right, groups=groups, extra=extra)
        return pd.DataFrame(columns) if columns else pd.DataFrame(index=range(len(left)))

    def transform_columns(
        self,
        left: Sequence[Any],
        right: Sequence[Any],
        groups: Sequence[Any] | None = None,
        extra: pd.DataFrame | Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`transform` as ``{feature name: array}`` in feature order, without building a frame
        (what a serving request hands to :meth:`hybrid.ranker.HybridRanker.predict`)."""
        self._check_ready()
        left = list(left)
        right = list(right)
        n = check_same_length(left=left, right=right)
        if groups is not None:
            groups = list(groups)
            check_same_length(left=left, groups=groups)
        if extra is not None:
            if isinstance(extra, pd.DataFrame):
                if len(extra) != n:
                    raise TagrankInputError(f"extra has {len(extra)} rows but there are {n} pairs")
                names = [str(c) for c in extra.columns]
                if len(set(names)) != len(names):
                    dup = sorted({c for c in names if names.count(c) > 1})
                    raise TagrankInputError(f"feature names collide: {dup} (extra has repeated columns)")
                extra = {name: _column_values(extra.iloc[:, j]) for j, name in enumerate(names)}
            elif not isinstance(extra, Mapping):
                raise TagrankInputError(f"extra must be a DataFrame or a mapping of columns, got {type(extra).__name__}")
            for name, values in extra.items():
                if len(values) != n:
                    raise TagrankInputError(f"extra column {name!r} has {len(values)} rows but there are {n} pairs")
        columns: dict[str, np.ndarray] = {}  # assembled as arrays, one DataFrame at the end
        clashes: list[str] = []

        def add(block: Mapping[str, np.ndarray]) -> None:
            for name, values in block.items():
                if name in columns:
                    clashes.append(name)
                columns[name] = values

        mains: list[str] = []
        for key, est in self.scorers.items():
            block = self._scorer_block(key, est, left, right, n)
            mains.append(next(iter(block)))
            add(block)
        if self.group_stats:
            add(self._group_block(columns, mains, left if groups is None else groups, n))
        if self.kind_ == "text" and self.text_stats:
            add(self._text_block(left, right))
        if self.kind_ == "interaction" and self.interactions_fitted_:
            add(self._interaction_block(left, right))
        if self.candidate_stats_ is not None:
            stats = self.candidate_stats_.reindex(pd.Index(right, dtype=object)).to_numpy(np.float64)
            add({f"cand.{c}": stats[:, j] for j, c in enumerate(self.candidate_stats_.columns)})
        if extra is not None:
            add({str(c): np.asarray(v) for c, v in extra.items()})
        if clashes:
            raise TagrankInputError(f"feature names collide: {sorted(set(clashes))} (rename a scorer key or an extra column)")
        names = list(columns)
        if not hasattr(self, "feature_names_"):
            self.feature_names_ = names
        elif names != self.feature_names_:
            raise TagrankInputError(f"features changed between calls: {self.feature_names_} then {names}")
        return columns

    def fit_transform(self, left: Sequence[Any], right: Sequence[Any], **kwargs: Any) -> pd.DataFrame:
        groups = kwargs.pop("groups", None)
        extra = kwargs.pop("extra", None)
        return self.fit(**kwargs).transform(left, right, groups=groups, extra=extra)

    # ------------------------------------------------------------------ blocks
    def _scorer_block(self, key: str, est: Any, left: list, right: list, n: int) -> dict[str, np.ndarray]:
        own = str(getattr(est, "name", key))
        if self.kind_ == "text":
            call = _feature_call(est)
            if n == 0:  # the column names, from a probe pair
                columns = {c: v[:0] for c, v in _as_columns(call(["x"], ["x"]), key).items()}
            else:
                columns = self._chunked_columns(call, key, left, right, self.pair_chunk)
        else:
            columns = self._interaction_scores(key, est, left, right, n)
        for values in columns.values():
            if len(values) != n:
                raise TagrankInputError(f"scorer {key!r} returned {len(values)} rows for {n} pairs")
        return dict(zip(_rename(key, own, list(columns)), columns.values(), strict=True))

    def _chunked_columns(self, call: Any, key: str, left: list, right: list, step: int | None
                         ) -> dict[str, np.ndarray]:
        n = len(left)
        step = n if not step else int(step)
        parts = [_as_columns(call(left[a : a + step], right[a : a + step]), key) for a in range(0, n, step)]
        if len(parts) == 1:
            return parts[0]
        return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}

    def _interaction_scores(self, key: str, est: Any, users: list, items: list, n: int) -> dict[str, np.ndarray]:
        score = est.features if hasattr(est, "features") else est.score_user_items
        step = self.user_item_chunk
        uidx = getattr(est, "user_index_", None)
        iidx = getattr(est, "item_index_", None)
        if uidx is None or iidx is None:
            return self._chunked_columns(score, key, users, items, step)
        known = pd.Series(users, dtype=object).map(uidx).notna().to_numpy() & pd.Series(
            items, dtype=object).map(iidx).notna().to_numpy()
        if known.all():
            return self._chunked_columns(score, key, users, items, step)
        idx = np.flatnonzero(known)
        if len(idx):
            part = self._chunked_columns(score, key, [users[i] for i in idx], [items[i] for i in idx], step)
        else:  # the column names, from a probe pair
            part = {c: v[:0] for c, v in _as_columns(score([next(iter(uidx))], [next(iter(iidx))]), key).items()}
        out = {}
        for c, values in part.items():
            out[c] = np.full(n, np.nan)
            out[c][idx] = values
        return out

    @staticmethod
    def _group_names(mains: list[str]) -> list[str]:
        names = []
        for m in mains:
            names += [f"{m}.rank", f"{m}.gap", f"{m}.z"]
        return [*names, "group.size"]

    def _group_block(self, columns: Mapping[str, np.ndarray], mains: list[str], groups: list, n: int
                     ) -> dict[str, np.ndarray]:
        if n == 0:
            return {c: np.zeros(0) for c in self._group_names(mains)}
        i = next((i for i, g in enumerate(groups) if g is None or g is pd.NA or (isinstance(g, float) and g != g)),
                 None)
        if i is not None:
            raise TagrankInputError(f"groups[{i}] is missing (got {groups[i]!r}); every pair needs a group key")
        _, codes = unique_rows(groups)
        out: dict[str, np.ndarray] = {}
        for main in mains:
            rank, gap, z = group_stats(columns[main], codes)
            out[f"{main}.rank"], out[f"{main}.gap"], out[f"{main}.z"] = rank, gap, z
        out["group.size"] = np.bincount(codes, minlength=codes.max() + 1)[codes].astype(np.float64)
        return out

    def _tokens(self, texts: list[str]) -> tuple[list[set[str]], np.ndarray, np.ndarray]:
        """(word set and word count of each distinct text, each text's distinct position)."""
        from tagrank.baselines.text import Tokenizer

        if not hasattr(self, "_tokenizer"):
            self._tokenizer = Tokenizer(lowercase=True, language=self.language)
        uniques, codes = unique_rows(texts)
        sets, counts = [], []
        memo = _TOKEN_MEMOS.setdefault(str(self.language), {})
        for text in uniques:
            hit = memo.get(text)
            if hit is None:  # catalogue texts recur across requests: tokenise each once (memory bounded)
                words = self._tokenizer.words(str(text))
                hit = (set(words), len(words))
                if len(memo) >= TOKEN_MEMO_SIZE:
                    memo.clear()
                memo[text] = hit
            sets.append(hit[0])
            counts.append(hit[1])
        return sets, np.asarray(counts, dtype=np.float64), codes

    def remember_texts(self, texts: Sequence[str]) -> FeatureBuilder:
        """Tokenise ``texts`` now (a catalogue), so that requests meeting them later only look their
        words up; returns self. The memo is shared by builders of one language and bounded."""
        if self.text_stats:
            self._tokens(list(texts)[:TOKEN_MEMO_SIZE])
        return self

    def _text_block(self, left: list, right: list) -> dict[str, np.ndarray]:
        q_sets, q_counts, q_codes = self._tokens(left)
        c_sets, c_counts, c_codes = self._tokens(right)
        n = len(left)
        # per distinct query: its distinct words and numbers (a request repeats one query 100 times)
        q_distinct = np.asarray([len(q) for q in q_sets], dtype=np.float64)[q_codes]
        q_nums = [[w for w in q if w[:1] in _NUMERIC] for q in q_sets]
        q_num = np.asarray([len(nums) for nums in q_nums], dtype=np.float64)[q_codes]
        pairs = list(zip(q_codes.tolist(), c_codes.tolist(), strict=True))
        overlap = np.fromiter((len(q_sets[a] & c_sets[b]) for a, b in pairs), dtype=np.float64, count=n)
        num_hit = np.zeros(n)
        if any(q_nums):
            num_hit = np.fromiter((sum(1 for w in q_nums[a] if w in c_sets[b]) for a, b in pairs),
                                  dtype=np.float64, count=n)
        qn = q_counts[q_codes]
        cn = c_counts[c_codes]
        frac = np.divide(overlap, q_distinct, out=np.zeros(n), where=q_distinct > 0)
        return {
            "q.n_words": qn, "c.n_words": cn, "len.diff": np.abs(qn - cn),
            "overlap.n": overlap, "overlap.frac": frac,
            "overlap.all": ((overlap == q_distinct) & (q_distinct > 0)).astype(np.float64),
            "q.n_num": q_num, "overlap.num": num_hit,
        }

    def _interaction_block(self, users: list, items: list) -> dict[str, np.ndarray]:
        u = self.users_.get_indexer(pd.Index(users, dtype=object))
        i = self.items_.get_indexer(pd.Index(items, dtype=object))
        n = len(users)

        def lookup(table: np.ndarray, rows: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(n, fill, dtype=np.float64)
            ok = rows >= 0
            out[ok] = table[rows[ok]]
            return out

        cols = {"item.pop": lookup(self.item_pop_, i, 0.0)}
        if self.has_time_:
            cols["item.pop_recent"] = lookup(self.item_pop_recent_, i, 0.0)
        cols["user.n_hist"] = lookup(self.user_n_hist_, u, 0.0)
        if self.cooc:
            cols.update(self._cooc(u, i))
        return cols

    def _cooc(self, u: np.ndarray, i: np.ndarray, budget: int = 4_000_000) -> dict[str, np.ndarray]:
        """Cosine (over users) between each candidate and the user's last items: mean, max, last.

        Pairs are processed in chunks of whole users, so that a chunk's dense
        (pairs x distinct history items) block stays under ``budget`` cells.
        """
        n = len(u)
        mean = np.full(n, np.nan)
        best = np.full(n, np.nan)
        last = np.full(n, np.nan)
        ok = np.flatnonzero((u >= 0) & (i >= 0))
        if len(ok) == 0:
            return {"cooc.mean": mean, "cooc.max": best, "cooc.last": last}
        ok = ok[np.argsort(u[ok], kind="mergesort")]  # whole users per chunk
        bounds = np.flatnonzero(np.r_[True, u[ok][1:] != u[ok][:-1], True])
        w = self.history_.shape[1]
        vec = self.item_vectors_
        chunks, a = [], 0
        for b in range(1, len(bounds)):
            rows_in = bounds[b] - bounds[a]
            if b - a > 1 and rows_in * (b - a) * w > budget:
                chunks.append((bounds[a], bounds[b - 1]))
                a = b - 1
        chunks.append((bounds[a], bounds[-1]))
        for lo, hi in chunks:
            rows = ok[lo:hi]
            hist = self.history_[u[rows]]  # (m, w), -1 padded
            valid = hist >= 0
            if not valid.any():
                continue
            h_items, h_pos = np.unique(hist[valid], return_inverse=True)
            col = np.zeros(hist.shape, dtype=np.int64)
            col[valid] = h_pos
            c_items, c_pos = np.unique(i[rows], return_inverse=True)
            sims = np.asarray((vec[c_items] @ vec[h_items].T).todense())  # (distinct candidates, |h|)
            gathered = sims[c_pos[:, None], col]
            cnt = valid.sum(axis=1)
            has = cnt > 0
            total = np.where(valid, gathered, 0.0).sum(axis=1)
            mean[rows[has]] = total[has] / cnt[has]
            best[rows[has]] = np.where(valid, gathered, -np.inf).max(axis=1)[has]
            last[rows[has]] = gathered[has, 0]
        return {"cooc.mean": mean, "cooc.max": best, "cooc.last": last}


__all__ = ["FeatureBuilder", "scorer_kind"]
