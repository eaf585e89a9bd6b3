"""The taxonomy ``hybrid``: LightGBM LambdaRank over the candidate paths of fitted categorisers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.saved import load_guard
from tagrank.baselines.validation import (
    NotFittedError,
    SavedModelError,
    TagrankInputError,
    check_k,
    check_nonempty,
    check_same_length,
    check_texts,
)
from tagrank.hybrid.categoriser import Categoriser, _group_sum
from tagrank.hybrid.tag_recommender import _clone
from tagrank.hybrid.taxonomy_paths import _paths_from

#: ``alpha`` values tried by ``StackedCategoriser(balance="valid")``
BALANCE_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class StackedCategoriser:
    """The taxonomy ``hybrid``: LightGBM LambdaRank over candidate paths from fitted categorisers.

    ``bases`` are fitted :class:`Categoriser` objects (same levels), all fitted on
    the texts given to ``fit``. For each text the candidates are the union of
    every base's top ``n_candidates`` known paths; a candidate's features are, per
    base, its path posterior, the posterior mass of its prefix at each level and
    its rank under that base. The ranker learns which candidate is the true path
    (binary grades).

    Out-of-fold: with ``n_folds >= 2`` the training features come from clones of
    each base (same parameters and the same fitted representation, which never
    saw labels) fitted on the other folds of ``fit``'s texts (folds by a hash of
    the row position), so no base scores a text it was trained on; the ranker
    early-stops on ``valid_texts`` scored by the full bases (without them, 20%
    of ``fit``'s texts by hash are held out of the ranker's training for early
    stopping, the balance choice and the guard). With
    ``n_folds=None`` the texts given to ``fit`` must be held out from the bases
    (e.g. the valid split) and 20% of them (by hash) early-stop the ranker.
    ``fit_on="valid"`` does exactly that with ``fit``'s ``valid_texts`` /
    ``valid_paths`` (the training texts are not used); it is what ``"auto"``
    (the default) picks when a base is ``supervised`` (e.g. a
    :class:`hybrid.finetune_categoriser.FineTunedCategoriser`, whose
    representation saw the training labels and cannot be refitted per fold),
    and ``"train"`` otherwise.
    ``predict`` returns the frame of :meth:`Categoriser.predict`, with
    confidences from a softmax over the candidates' ranker scores.

    ``balance`` corrects the ranker's pull towards frequent paths (it learns
    to be right on as many texts as possible, while macro-F1 weighs every
    class alike): a candidate's score becomes ``score - alpha * scale * log prior``,
    where ``prior`` is the path's training frequency (add-one smoothed) and
    ``scale`` the standard deviation of the ranker's scores on the held-out
    candidates (LambdaRank scores have no fixed scale) -- the logit adjustment
    of Menon et al. (2021). ``"valid"`` picks ``alpha`` from
    ``BALANCE_GRID`` by the last level's macro-F1 on the held-out texts that
    early-stop the ranker; a number fixes it; ``None`` turns it off.

    The guard (:mod:`hybrid.guard`, ``guard=True``): the ranker is served only where
    the held-out texts do not find it worse (NDCG@1 = top-path accuracy) than a
    base's own posterior ranking; otherwise that base's posterior is served
    (``ranker_.served_``, ``SourceFallbackWarning``), as it is below 20 training
    texts. ``save`` / ``load``: a directory of config.json + the ranker's LightGBM
    text model + arrays.npz; the bases are passed to ``load`` (fitted as at ``fit``).
    """

    def __init__(
        self,
        bases: dict[str, Categoriser] | None = None,
        n_candidates: int = 5,
        n_folds: int | None = 3,
        ranker_params: dict[str, Any] | None = None,
        fit_on: str = "auto",
        balance: str | float | None = "valid",
        random_state: int = 0,
        guard: bool = True,
    ) -> None:
        self.bases = bases
        self.guard = guard
        self.n_candidates = n_candidates
        self.n_folds = n_folds
        self.fit_on = fit_on
        self.balance = balance
        self.ranker_params = ranker_params
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {"n_candidates": self.n_candidates, "n_folds": self.n_folds, "ranker_params": self.ranker_params,
                "fit_on": self.fit_on, "balance": self.balance, "random_state": self.random_state,
                "guard": self.guard, "bases": sorted(self.bases or {})}

    def results_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(getattr(self, "feature_names_", []))}
        if hasattr(self, "fit_on_"):
            out["fit_on"] = self.fit_on_
        if hasattr(self, "balance_"):
            out["balance"] = self.balance_
            out["valid_macro_f1_by_balance"] = dict(self.balance_scores_)
        if hasattr(self, "ranker_"):
            out["ranker.best_iteration"] = int(self.ranker_.best_iteration_)
            out["served"] = getattr(self.ranker_, "served_", "model")
            out["guard"] = {k: v for k, v in getattr(self.ranker_, "guard_", {}).items() if k != "source_fill"}
        return out

    def _setup(self) -> None:
        bases = self.bases or {}
        if not bases:
            raise TagrankInputError("StackedCategoriser needs at least one fitted Categoriser in bases")
        levels = None
        for name, base in bases.items():
            if not isinstance(base, Categoriser) or not hasattr(base, "paths_"):
                raise TagrankInputError(f"base {name!r} is not a fitted Categoriser")
            if levels is None:
                levels = base.levels_
            elif base.levels_ != levels:
                raise TagrankInputError(f"base {name!r} has levels {base.levels_}, expected {levels}")
        self.levels_ = list(levels)
        paths: list[tuple] = []
        seen: set[tuple] = set()
        for base in bases.values():
            for p in base.paths_:
                if p not in seen:
                    seen.add(p)
                    paths.append(p)
        self.paths_ = paths
        self._path_row = {p: i for i, p in enumerate(paths)}
        self._prefix = [pd.factorize(pd.Series([p[: lv + 1] for p in paths]))[0].astype(np.int64)
                        for lv in range(len(self.levels_))]
        self.feature_names_ = [
            f"{n}.{f}" for n in bases for f in ("posterior", *(f"prefix{lv + 1}" for lv in range(len(self.levels_))), "rank")
        ]

    def _posterior(self, base: Categoriser, texts: list[str]) -> np.ndarray:
        """A base's posterior over the union of the bases' paths (a fold clone can know a training path that
        no base knows: the stacker can never serve it, so its mass is left out)."""
        post = np.zeros((len(texts), len(self.paths_)))
        known = [j for j, p in enumerate(base.paths_) if p in self._path_row]
        cols = np.asarray([self._path_row[base.paths_[j]] for j in known], dtype=np.int64)
        post[:, cols] = base.path_posterior(texts)[:, known]
        return post

    def _frame(self, posts: dict[str, np.ndarray]) -> pd.DataFrame:
        n_cand = check_k(self.n_candidates, "n_candidates")
        n, n_paths = next(iter(posts.values())).shape
        masses, ranks = {}, {}
        chosen = np.zeros((n, n_paths), dtype=bool)
        for name, post in posts.items():
            masses[name] = [_group_sum(post, g)[:, g] for g in self._prefix]
            order = np.lexsort((np.tile(np.arange(n_paths), (n, 1)), -post), axis=-1)
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.tile(np.arange(n_paths), (n, 1)), axis=1)
            ranks[name] = rank + 1
            np.put_along_axis(chosen, order[:, :n_cand], True, axis=1)
        r, c = np.nonzero(chosen)
        frame = pd.DataFrame({"row": r, "path": c})
        for name, post in posts.items():
            frame[f"{name}.posterior"] = post[r, c]
            for lv, m in enumerate(masses[name]):
                frame[f"{name}.prefix{lv + 1}"] = m[r, c]
            frame[f"{name}.rank"] = ranks[name][r, c].astype(np.float64)
        return frame

    def _full_frame(self, texts: list[str]) -> pd.DataFrame:
        return self._frame({n: self._posterior(b, texts) for n, b in (self.bases or {}).items()})

    def _oof_frame(self, texts: list[str], paths: list[tuple[str, ...]], n_folds: int) -> pd.DataFrame:
        import hashlib

        fold = np.asarray([int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % n_folds for i in range(len(texts))])
        posts = {n: np.zeros((len(texts), len(self.paths_))) for n in (self.bases or {})}
        for f in range(n_folds):
            fit_rows, out_rows = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            if len(out_rows) == 0 or len(fit_rows) == 0:
                continue
            for name, base in (self.bases or {}).items():
                params = base.get_params()
                rep = base.representation_
                # the fitted representation is shared (it never saw labels); a top_k-only
                # scorer is an index of the training texts and gets its own copy per fold
                params["representation"] = rep if hasattr(rep, "transform") else _clone(rep)
                params["levels"] = self.levels_
                clone = Categoriser(**params).fit([texts[i] for i in fit_rows], [paths[i] for i in fit_rows])
                posts[name][out_rows] = self._posterior(clone, [texts[i] for i in out_rows])
        return self._frame(posts)

    def _warn_unknown_paths(self, paths: list[tuple[str, ...]], field: str) -> None:
        """Warn where true paths are unknown to every base: the stacker chooses among its bases' paths only."""
        depth = len(self.levels_)
        unknown = [p for p in paths if tuple(p) + (None,) * (depth - len(p)) not in self._path_row]
        if unknown:
            warnings.warn(f"{len(unknown)} of {len(paths)} {field} are unknown to every base (e.g. {unknown[0]!r}): "
                          "the stacker chooses among its bases' paths only, so those texts count as misses; "
                          "fit the bases on data that holds them", UserWarning, stacklevel=3)

    def _labels(self, frame: pd.DataFrame, paths: list[tuple[str, ...]]) -> pd.DataFrame:
        depth = len(self.levels_)
        truth = np.asarray([self._path_row.get(tuple(p) + (None,) * (depth - len(p)), -1) for p in paths])
        frame["label"] = (frame["path"].to_numpy() == truth[frame["row"].to_numpy()]).astype(float)
        return frame

    def fit(
        self, texts: Sequence[str], paths: Any, valid_texts: Sequence[str] | None = None, valid_paths: Any = None,
    ) -> StackedCategoriser:
        """Learn the ranker (see the class docstring for what ``texts`` must be under each ``n_folds``)."""
        import hashlib

        from tagrank.hybrid.ranker import HybridRanker

        self._setup()
        if self.fit_on not in ("auto", "train", "valid"):
            raise TagrankInputError(f"fit_on must be 'auto', 'train' or 'valid', got {self.fit_on!r}")
        if self.balance not in (None, "valid") and (
            isinstance(self.balance, bool) or not isinstance(self.balance, int | float)
            or not np.isfinite(self.balance) or self.balance < 0
        ):
            raise TagrankInputError(f"balance must be 'valid', None or a finite number >= 0, got {self.balance!r}")
        supervised = any(getattr(b, "supervised", False) for b in (self.bases or {}).values())
        self.fit_on_ = self.fit_on if self.fit_on != "auto" else ("valid" if supervised else "train")
        n_folds = self.n_folds
        if self.fit_on_ == "valid":
            if valid_texts is None or valid_paths is None:
                raise TagrankInputError("fit_on='valid' needs valid_texts and valid_paths")
            texts, paths, valid_texts, valid_paths, n_folds = valid_texts, valid_paths, None, None, None
        texts = check_texts(texts, "texts")
        check_nonempty(texts, "texts")
        path_list, _ = _paths_from(paths, self.levels_)
        check_same_length(texts=texts, paths=path_list)
        self._warn_unknown_paths(path_list, "paths")
        if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2):
            raise TagrankInputError(f"n_folds must be None or an integer >= 2, got {n_folds!r}")
        if n_folds is not None and supervised:
            raise TagrankInputError(
                "a supervised base (e.g. FineTunedCategoriser) cannot be refitted per fold: use fit_on='valid'"
            )
        if n_folds is not None:
            train_part = self._labels(self._oof_frame(texts, path_list, n_folds), path_list)
            valid_part = train_part.iloc[0:0]
            if valid_texts is not None:
                v_texts = check_texts(valid_texts, "valid_texts")
                v_paths, _ = _paths_from(valid_paths, self.levels_)
                check_same_length(valid_texts=v_texts, valid_paths=v_paths)
                valid_part = self._labels(self._full_frame(v_texts), v_paths)
            else:  # no valid texts: 20% of the training texts (by hash) are held out of the ranker's training
                held = np.asarray([int(hashlib.sha1(f"held{i}".encode()).hexdigest(), 16) % 100 >= 80
                                   for i in range(len(texts))])[train_part["row"].to_numpy()]
                train_part, valid_part = train_part[~held], train_part[held]
        else:
            frame = self._labels(self._full_frame(texts), path_list)
            in_valid = np.asarray([int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % 100 >= 80
                                   for i in range(len(texts))])[frame["row"].to_numpy()]
            train_part, valid_part = frame[~in_valid], frame[in_valid]
        params = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                  "early_stopping_rounds": 30, "grade_rule": "binary", "eval_at": (1,),
                  "random_state": self.random_state}
        params.update(self.ranker_params or {})

        def learnable(part: pd.DataFrame) -> bool:
            if len(part) == 0:
                return False
            g = part.groupby("row")["label"].agg(["min", "max"])
            return bool((g["max"] > g["min"]).any())

        if not learnable(train_part):
            raise TagrankInputError("no text has its true path among several candidates: nothing to learn")
        self.ranker_ = HybridRanker(**params).fit(
            train_part, query_col="row", candidate_col="path", label_col="label", feature_cols=self.feature_names_,
            valid=valid_part if learnable(valid_part) else None,
            sources=[f"{n}.posterior" for n in (self.bases or {})] if self.guard else None,
        )
        self.log_prior_ = self._log_prior()
        # the adjustment is in units of the ranker's score spread (held-out candidates, else training ones)
        spread = self.ranker_.predict(valid_part if len(valid_part) else train_part)
        self.score_scale_ = float(np.std(spread)) if len(spread) and np.std(spread) > 0 else 1.0
        held_paths = v_paths if n_folds is not None and valid_texts is not None else path_list  # rows index it
        self.balance_, self.balance_scores_ = self._choose_balance(valid_part, held_paths)
        return self

    def _log_prior(self) -> np.ndarray:
        """log of each known path's training frequency (add-one smoothed), from the first base that knows it."""
        counts = np.zeros(len(self.paths_))
        for base in (self.bases or {}).values():
            rows = getattr(base, "_train_rows", None)
            if rows is not None:
                per_path = np.bincount(rows, minlength=len(base.paths_))
                counts[[self._path_row[p] for p in base.paths_]] = per_path
                break
        return np.log(counts + 1.0)

    def _choose_balance(self, held: pd.DataFrame, paths: list[tuple[str, ...]]) -> tuple[float, dict[str, float]]:
        """``alpha`` of the logit adjustment (see the class docstring) and the held-out macro-F1 of each tried."""
        if self.balance is None:
            return 0.0, {}
        if self.balance != "valid":
            return float(self.balance), {}
        if len(held) == 0:
            return 0.0, {}
        from sklearn.metrics import f1_score

        rows = np.unique(held["row"].to_numpy())
        # the last level's label (None where a path stops above it), the same sentinel on both sides
        truth = np.asarray([str(paths[r][-1]) if len(paths[r]) == len(self.levels_) else "None" for r in rows])
        score = self.ranker_.predict(held)
        r, c = held["row"].to_numpy(), held["path"].to_numpy()
        pos = np.searchsorted(rows, r)
        last = np.asarray([str(p[-1]) for p in self.paths_])
        scores: dict[str, float] = {}
        for alpha in BALANCE_GRID:
            logits = np.full((len(rows), len(self.paths_)), -np.inf)
            logits[pos, c] = score - alpha * self.score_scale_ * self.log_prior_[c]
            pred = last[np.argmax(logits, axis=1)]
            scores[str(alpha)] = float(f1_score(truth, pred, average="macro", zero_division=0))
        best = max(BALANCE_GRID, key=lambda a: (scores[str(a)], -a))
        return float(best), scores

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """Best candidate path per text and per-level confidences (softmax over the candidates)."""
        if not hasattr(self, "ranker_"):
            raise NotFittedError("StackedCategoriser is not fitted: call fit() first")
        texts = check_texts(texts, "texts")
        frame = self._full_frame(texts)
        score = self.ranker_.predict(frame) if len(frame) else np.zeros(0)
        r, c = frame["row"].to_numpy(), frame["path"].to_numpy()
        logits = np.full((len(texts), len(self.paths_)), -np.inf)
        logits[r, c] = score - self.balance_ * self.score_scale_ * self.log_prior_[c]
        best = np.argmax(logits, axis=1)
        post = np.exp(logits - logits.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        out: dict[str, Any] = {}
        n = len(texts)
        for lv, name in enumerate(self.levels_):
            out[name] = pd.Series([self.paths_[b][lv] for b in best], dtype=object)
        for lv, name in enumerate(self.levels_):
            g = self._prefix[lv]
            out[f"{name}_confidence"] = _group_sum(post, g)[np.arange(n), g[best]]
        return pd.DataFrame(out)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Directory: config.json (params, levels, paths, balance) + ranker/ (LightGBM text) + arrays.npz;
        the bases are not saved here (pass them, fitted as at ``fit``, to :meth:`load`)."""
        from tagrank.hybrid.persistence import save_dir

        if not hasattr(self, "ranker_"):
            raise NotFittedError("StackedCategoriser is not fitted: call fit() first")
        path = Path(path)
        self.ranker_.save(path / "ranker")
        params = {k: v for k, v in self.get_params().items() if k != "bases"}
        config = {"params": params, "bases": list(self.bases or {}), "levels": list(self.levels_),
                  "paths": [["" if v is None else str(v) for v in p] for p in self.paths_],
                  "path_depths": [sum(v is not None for v in p) for p in self.paths_],
                  "fit_on": self.fit_on_, "balance": float(self.balance_),
                  "balance_scores": dict(self.balance_scores_), "score_scale": float(self.score_scale_)}
        return save_dir(path, type(self).__name__, config, arrays={"log_prior": np.asarray(self.log_prior_)})

    @classmethod
    @load_guard
    def load(cls, path: str | Path, bases: Mapping[str, Categoriser]) -> StackedCategoriser:
        """Load a saved StackedCategoriser over ``bases`` (the same names and known paths as at ``fit``)."""
        from tagrank.hybrid.persistence import load_arrays, read_config
        from tagrank.hybrid.ranker import HybridRanker

        path = Path(path)
        config = read_config(path, cls.__name__)
        missing = [n for n in config["bases"] if n not in (bases or {})]
        if missing:
            raise TagrankInputError(f"bases {missing} are needed by the saved StackedCategoriser but were not given")
        obj = cls(bases={n: bases[n] for n in config["bases"]}, **config["params"])
        obj._setup()
        saved = [tuple(v for v in p[:d]) for p, d in zip(config["paths"], config["path_depths"], strict=True)]
        mine = [tuple(str(v) for v in p if v is not None) for p in obj.paths_]
        if saved != mine:
            raise TagrankInputError("the given bases know other paths than the saved StackedCategoriser's: "
                                    "pass the bases fitted as at fit()")
        obj.ranker_ = HybridRanker.load(path / "ranker")
        obj.fit_on_ = config["fit_on"]
        obj.balance_ = float(config["balance"])
        obj.balance_scores_ = dict(config["balance_scores"])
        obj.score_scale_ = float(config["score_scale"])
        obj.log_prior_ = load_arrays(path).get("log_prior")
        if obj.log_prior_ is None or obj.log_prior_.shape != (len(obj.paths_),):
            raise SavedModelError(f"{path}: arrays.npz must hold log_prior with one value per path "
                                  f"({len(obj.paths_)}), got {None if obj.log_prior_ is None else obj.log_prior_.shape}")
        return obj
