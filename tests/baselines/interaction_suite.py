"""Shared behaviour suite for InteractionScorers.

Subclass ``InteractionScorerSuite`` in a ``Test*`` class and provide
``make_scorer()`` (a fresh, small, fast, unfitted scorer with a fixed
``random_state`` where it has one). Override ``deterministic_attrs`` to name
the fitted arrays that must be identical across two fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tagrank.baselines.base import InteractionScorer
from tagrank.baselines.validation import NotFittedError, TagrankInputError


def make_interactions(n_users: int = 12, n_items: int = 9, per_user: int = 4, seed: int = 0) -> pd.DataFrame:
    """A small frame with string user ids, int item ids (users != items count), timestamps, ratings."""
    rng = np.random.default_rng(seed)
    rows = []
    t = 1_600_000_000
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        for it in items:
            t += int(rng.integers(1, 5000))
            rows.append((f"u{u}", int(it) * 10, t, float(rng.integers(1, 6))))
    # a repeated interaction, so duplicates are exercised
    rows.append(rows[0][:2] + (t + 1, 5.0))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])


def brute_force_top_k(
    scorer: InteractionScorer, frame: pd.DataFrame, user: object, k: int, exclude_seen: bool
) -> tuple[list[object], np.ndarray]:
    """Top-k by scoring every item with score_user_items (seen items removed)."""
    items = list(scorer.item_ids_)
    scores = scorer.score_user_items([user] * len(items), items)
    seen = set(frame.loc[frame["user_id"] == user, "item_id"])
    cand = [(-s, i, it) for i, (it, s) in enumerate(zip(items, scores, strict=True)) if not (exclude_seen and it in seen)]
    cand.sort()
    top = cand[:k]
    return [it for _, _, it in top], np.asarray([-s for s, _, _ in top])


class InteractionScorerSuite:
    """Mixin: the contract every InteractionScorer must meet."""

    #: fitted attributes compared exactly across two fits with one random_state
    deterministic_attrs: tuple[str, ...] = ()
    #: tolerance when comparing recommend scores with score_user_items
    atol: float = 1e-5

    def make_scorer(self) -> InteractionScorer:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def frame(cls) -> pd.DataFrame:
        return make_interactions()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, frame: pd.DataFrame) -> InteractionScorer:
        return cls().make_scorer().fit(frame)

    # ------------------------------------------------------------------ basics

    def test_fit_returns_self_and_indexes(self, frame):
        scorer = self.make_scorer()
        assert scorer.fit(frame) is scorer
        assert set(scorer.user_ids_) == set(frame["user_id"])
        assert set(scorer.item_ids_) == set(frame["item_id"])
        assert isinstance(scorer.name, str) and scorer.name != "scorer"

    def test_init_only_stores_params(self):
        scorer = self.make_scorer()
        assert not any(k.endswith("_") and not k.startswith("_") for k in vars(scorer))
        assert type(scorer)(**scorer.get_params()).get_params() == scorer.get_params()

    def test_shapes(self, fitted, frame):
        users = list(fitted.user_ids_[:3])
        ids, scores = fitted.recommend(users, k=4)
        assert ids.shape == (3, 4) and scores.shape == (3, 4)
        assert scores.dtype == np.float64
        ids, scores = fitted.similar_items(list(fitted.item_ids_[:2]), k=3)
        assert ids.shape == (2, 3) and scores.shape == (2, 3)
        s = fitted.score_user_items(users, list(fitted.item_ids_[:3]))
        assert s.shape == (3,) and s.dtype == np.float64 and np.isfinite(s).all()
        ids, scores = fitted.recommend([], k=4)
        assert ids.shape == (0, 4)
        assert fitted.score_user_items([], []).shape == (0,)
        feats = fitted.features(users, list(fitted.item_ids_[:3]))
        assert list(feats.columns) == [fitted.name] and len(feats) == 3

    def test_determinism(self, frame):
        a = self.make_scorer().fit(frame)
        b = self.make_scorer().fit(frame)
        for attr in self.deterministic_attrs:
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
        users = list(a.user_ids_)
        ia, sa = a.recommend(users, k=5)
        ib, sb = b.recommend(users, k=5)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(sa, sb)

    # ------------------------------------------------------------------ correctness

    @pytest.mark.parametrize("exclude_seen", [True, False])
    def test_recommend_matches_brute_force(self, fitted, frame, exclude_seen):
        k = 4
        ids, scores = fitted.recommend(list(fitted.user_ids_), k=k, exclude_seen=exclude_seen)
        for row, user in enumerate(fitted.user_ids_):
            bf_items, bf_scores = brute_force_top_k(fitted, frame, user, k, exclude_seen)
            # same sorted scores; each returned item's own score agrees (robust to float ties)
            np.testing.assert_allclose(scores[row, : len(bf_scores)], bf_scores, atol=self.atol)
            own = fitted.score_user_items([user] * len(bf_items), list(ids[row, : len(bf_items)]))
            np.testing.assert_allclose(own, scores[row, : len(bf_items)], atol=self.atol)
            assert np.all(np.diff(scores[row]) <= 1e-12)

    def test_exclude_seen(self, fitted, frame):
        ids, _ = fitted.recommend(list(fitted.user_ids_), k=len(fitted.item_ids_))
        for row, user in enumerate(fitted.user_ids_):
            seen = set(frame.loc[frame["user_id"] == user, "item_id"])
            got = [x for x in ids[row] if x is not None]
            assert not seen & set(got)
            assert set(got) == set(fitted.item_ids_) - seen
            assert len(got) == len(set(got))
        ids, _ = fitted.recommend(list(fitted.user_ids_), k=len(fitted.item_ids_), exclude_seen=False)
        assert all(set(r) == set(fitted.item_ids_) for r in ids)

    def test_similar_items_exclude_query(self, fitted):
        items = list(fitted.item_ids_)
        ids, scores = fitted.similar_items(items, k=len(items) + 5)
        assert ids.shape == (len(items), len(items) - 1)
        for row, item in enumerate(items):
            assert item not in set(ids[row])
            assert set(ids[row]) == set(items) - {item}
            assert np.all(np.diff(scores[row]) <= 1e-12)

    def test_k_larger_than_catalogue(self, fitted, frame):
        n_items = len(fitted.item_ids_)
        user = fitted.user_ids_[0]
        n_seen = frame.loc[frame["user_id"] == user, "item_id"].nunique()
        ids, scores = fitted.recommend([user], k=10 * n_items)
        assert ids.shape == (1, n_items)
        # unfillable slots (everything left is seen) are None / -inf, never a real id
        assert sum(x is None for x in ids[0]) == n_seen
        assert np.isneginf(scores[0, n_items - n_seen :]).all()
        assert np.isfinite(scores[0, : n_items - n_seen]).all()

    def test_does_not_mutate_input(self, frame):
        before = frame.copy(deep=True)
        scorer = self.make_scorer().fit(frame)
        scorer.recommend(list(scorer.user_ids_[:2]), k=3)
        pd.testing.assert_frame_equal(frame, before)

    # ------------------------------------------------------------------ errors

    def test_unknown_ids(self, fitted):
        with pytest.raises(TagrankInputError, match="user_ids"):
            fitted.recommend(["nobody"])
        with pytest.raises(TagrankInputError, match="item_ids"):
            fitted.similar_items([-12345])
        with pytest.raises(TagrankInputError, match="not a known id"):
            fitted.score_user_items([fitted.user_ids_[0]], [-12345])
        with pytest.raises(TagrankInputError, match="mismatched lengths"):
            fitted.score_user_items([fitted.user_ids_[0]], [])

    def test_bad_k(self, fitted):
        for bad in (0, -1, 2.5, True):
            with pytest.raises(TagrankInputError, match="k must be"):
                fitted.recommend([fitted.user_ids_[0]], k=bad)

    def test_empty_interactions(self, frame):
        with pytest.raises(TagrankInputError, match="empty"):
            self.make_scorer().fit(frame.iloc[:0])

    @pytest.mark.parametrize("column", ["user_id", "item_id"])
    def test_nan_ids(self, frame, column):
        bad = frame.copy()
        bad[column] = bad[column].astype(object)
        bad.loc[3, column] = np.nan
        with pytest.raises(TagrankInputError, match=rf"{column}\[3\] is missing"):
            self.make_scorer().fit(bad)
        bad.index = bad.index + 100  # the error names the row label, not the position
        with pytest.raises(TagrankInputError, match=rf"{column}\[103\] is missing"):
            self.make_scorer().fit(bad)

    def test_missing_column(self, frame):
        with pytest.raises(TagrankInputError, match="missing column"):
            self.make_scorer().fit(frame.drop(columns=["item_id"]))

    def test_not_fitted(self, tmp_path):
        scorer = self.make_scorer()
        with pytest.raises(NotFittedError):
            scorer.recommend(["u0"])
        with pytest.raises(NotFittedError):
            scorer.similar_items([0])
        with pytest.raises(NotFittedError):
            scorer.score_user_items(["u0"], [0])
        with pytest.raises(NotFittedError):
            scorer.save(tmp_path / "m")

    @pytest.mark.cuda
    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
    def test_cuda_scoring_matches_cpu(self, frame):
        scorer = self.make_scorer()
        if "device" not in scorer.get_params():
            pytest.skip("scorer has no device parameter")
        cpu = scorer.set_params(device="cpu").fit(frame)
        users, items = list(cpu.user_ids_), list(cpu.item_ids_)
        _, s_cpu = cpu.recommend(users, k=5)
        pair_users = [users[i % len(users)] for i in range(len(items))]
        p_cpu = cpu.score_user_items(pair_users, items)
        cpu.set_params(device="cuda")
        _, s_gpu = cpu.recommend(users, k=5)
        np.testing.assert_allclose(s_gpu, s_cpu, atol=1e-4)
        np.testing.assert_allclose(cpu.score_user_items(pair_users, items), p_cpu, atol=1e-4)

    # ------------------------------------------------------------------ persistence

    def test_save_load_round_trip(self, fitted, tmp_path):
        path = fitted.save(tmp_path / "model")
        assert (path / "config.json").is_file() and (path / "arrays.npz").is_file()
        loaded = type(fitted).load(path)
        assert loaded.get_params() == fitted.get_params()
        users, items = list(fitted.user_ids_), list(fitted.item_ids_)
        assert list(loaded.user_ids_) == users and list(loaded.item_ids_) == items
        assert type(loaded.item_ids_[0]) is type(fitted.item_ids_[0])
        for a, b in zip(fitted.recommend(users, k=5), loaded.recommend(users, k=5), strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(fitted.similar_items(items, k=3), loaded.similar_items(items, k=3), strict=True):
            np.testing.assert_array_equal(a, b)
        pair_users = [users[i % len(users)] for i in range(len(items))]
        np.testing.assert_array_equal(
            fitted.score_user_items(pair_users, items), loaded.score_user_items(pair_users, items)
        )
        # no pickle anywhere
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            assert all(npz[key].dtype != object for key in npz.files)

    def test_load_rejects_other_format_version(self, fitted, tmp_path):
        import json

        path = fitted.save(tmp_path / "model")
        cfg = json.loads((path / "config.json").read_text())
        cfg["format_version"] = 999
        (path / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(TagrankInputError, match="format_version"):
            type(fitted).load(path)
        with pytest.raises(TagrankInputError, match="nothing: no such directory"):
            type(fitted).load(tmp_path / "nothing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(TagrankInputError, match="not a saved model"):
            type(fitted).load(tmp_path / "empty")
