"""FeatureBuilder with tiny fake scorers: names, shapes, group statistics by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.base import InteractionScorer, TextScorer
from tagrank.baselines.validation import NotFittedError, TagrankInputError
from tagrank.hybrid.features import FeatureBuilder, scorer_kind

# --------------------------------------------------------------------------- fakes (shared with other tests)


def _words(text: str) -> set[str]:
    return set(text.lower().split())


class OverlapScorer(TextScorer):
    """Shared lower-case words; ``features`` adds ``ovl_norm`` (over the left text's words)."""

    name = "ovl"

    def __init__(self, bonus: float = 0.0):
        self.bonus = bonus

    def _fit(self, texts: list[str]) -> None:
        self.corpus_ = [_words(t) for t in texts]

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        return np.asarray([len(_words(a) & _words(b)) + self.bonus for a, b in zip(left, right, strict=True)], float)

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.asarray([[len(_words(q) & d) for d in self.corpus_] for q in queries], float)
        order = np.lexsort((np.tile(np.arange(scores.shape[1]), (len(queries), 1)), -scores), axis=-1)[:, :k]
        return order, np.take_along_axis(scores, order, 1)

    def features(self, left, right) -> pd.DataFrame:
        s = self.score_pairs(left, right)
        n = np.asarray([len(_words(a)) for a in left], float)
        return pd.DataFrame({"ovl": s, "ovl_norm": s / np.maximum(n, 1)})


class LengthScorer(TextScorer):
    """Number of words of the right text (no ``features`` override: the base gives one column)."""

    name = "length"

    def _fit(self, texts: list[str]) -> None:
        self.n_words_ = np.asarray([len(t.split()) for t in texts], float)

    def _score_pairs(self, left: list[str], right: list[str]) -> np.ndarray:
        return np.asarray([len(b.split()) for b in right], float)

    def _top_k(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-self.n_words_, kind="mergesort")[:k]
        return np.tile(order, (len(queries), 1)), np.tile(self.n_words_[order], (len(queries), 1))


class TableScorer(InteractionScorer):
    """Score = ``item_weight[item] + user_weight[user]`` from the training frame's ``w`` column sums.

    With ``by_index=True`` the score is simply the item's number (``i7`` -> 7) plus
    0.1 x the user's number: easy to check by hand.
    """

    name = "table"

    def __init__(self, by_index: bool = True, seed: int = 0):
        self.by_index = by_index
        self.seed = seed

    def _fit(self, interactions, user_rows, item_rows) -> None:
        n_u, n_i = len(self.user_ids_), len(self.item_ids_)
        seen = np.zeros((n_u, n_i), bool)
        seen[user_rows, item_rows] = True
        self.seen_ = seen
        if self.by_index:
            iw = np.asarray([float(str(i)[1:]) for i in self.item_ids_])
            uw = np.asarray([0.1 * float(str(u)[1:]) for u in self.user_ids_])
        else:
            rng = np.random.default_rng(self.seed)
            iw = seen.sum(0) + rng.uniform(0, 0.5, n_i)
            uw = np.zeros(n_u)
        self.matrix_ = uw[:, None] + iw[None, :]

    def _score_user_items(self, user_rows, item_rows):
        return self.matrix_[user_rows, item_rows]

    def _recommend(self, user_rows, k, exclude_seen):
        s = self.matrix_[user_rows].copy()
        if exclude_seen:
            s[self.seen_[user_rows]] = -np.inf
        order = np.argsort(-s, axis=1, kind="mergesort")[:, :k]
        scores = np.take_along_axis(s, order, 1)
        order[~np.isfinite(scores)] = -1
        return order, scores

    def _similar_items(self, item_rows, k):
        s = np.tile(self.matrix_[0], (len(item_rows), 1))
        s[np.arange(len(item_rows)), item_rows] = -np.inf
        order = np.argsort(-s, axis=1, kind="mergesort")[:, :k]
        return order, np.take_along_axis(s, order, 1)


def tiny_interactions() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u0", "u0", "u1", "u1", "u2"],
        "item_id": ["i0", "i1", "i1", "i2", "i0"],
        "timestamp": [1, 2, 3, 4, 5],
    })


# --------------------------------------------------------------------------- text pairs


@pytest.fixture()
def text_builder():
    corpus = ["red running shoe size 42", "blue shoe", "green hat"]
    scorers = {"ovl": OverlapScorer().fit(corpus), "len": LengthScorer().fit(corpus)}
    return FeatureBuilder(scorers, language="en").fit()


def test_text_feature_names_and_shape(text_builder):
    left = ["red shoe 42", "red shoe 42", "red shoe 42", "hat"]
    right = ["Red running shoe size 42", "blue shoe", "green hat", "green hat"]
    f = text_builder.transform(left, right)
    assert f.shape == (4, len(text_builder.feature_names_))
    assert text_builder.feature_names_ == [
        "ovl", "ovl_norm", "len",
        "ovl.rank", "ovl.gap", "ovl.z", "len.rank", "len.gap", "len.z", "group.size",
        "q.n_words", "c.n_words", "len.diff", "overlap.n", "overlap.frac", "overlap.all", "q.n_num", "overlap.num",
    ]
    assert list(f.columns) == text_builder.feature_names_
    # scorer features
    assert f["ovl"].tolist() == [3, 1, 0, 1]
    assert f["ovl_norm"].tolist() == pytest.approx([1, 1 / 3, 0, 1])
    assert f["len"].tolist() == [5, 2, 2, 2]
    # group statistics within the query "red shoe 42" (rows 0-2) and "hat" (row 3)
    assert f["ovl.rank"].tolist() == [1, 2, 3, 1]
    assert f["ovl.gap"].tolist() == [0, 2, 3, 0]
    scores = np.asarray([3.0, 1.0, 0.0])
    assert f["ovl.z"].tolist()[:3] == pytest.approx(((scores - scores.mean()) / scores.std()).tolist())
    assert f["ovl.z"].iloc[3] == 0.0  # a one-candidate group has no spread
    assert f["len.rank"].tolist() == [1, 2, 2, 1]  # ties share the best rank
    assert f["group.size"].tolist() == [3, 3, 3, 1]
    # text statistics: {red, shoe, 42} vs {red, running, shoe, size, 42}
    row = f.iloc[0]
    assert (row["q.n_words"], row["c.n_words"], row["len.diff"]) == (3, 5, 2)
    assert (row["overlap.n"], row["overlap.frac"], row["overlap.all"]) == (3, 1.0, 1.0)
    assert (row["q.n_num"], row["overlap.num"]) == (1, 1)
    assert f.iloc[1][["overlap.n", "overlap.all", "overlap.num"]].tolist() == [1, 0, 0]


def test_groups_override_and_extra_columns(text_builder):
    left = ["red shoe", "red shoe"]
    right = ["blue shoe", "green hat"]
    f = text_builder.transform(left, right, groups=["a", "b"], extra=pd.DataFrame({"bonus": [7.0, 8.0]}))
    assert f["group.size"].tolist() == [1, 1]
    assert f["bonus"].tolist() == [7.0, 8.0]
    assert text_builder.feature_names_[-1] == "bonus"
    with pytest.raises(TagrankInputError, match="features changed"):
        text_builder.transform(left, right)


def test_switches_and_errors():
    corpus = ["a b", "b c"]
    scorers = {"ovl": OverlapScorer().fit(corpus)}
    bare = FeatureBuilder(scorers, group_stats=False, text_stats=False).fit()
    f = bare.transform(["a"], ["a b"])
    assert list(f.columns) == ["ovl", "ovl_norm"]
    with pytest.raises(TagrankInputError, match="mismatched lengths"):
        bare.transform(["a"], ["a", "b"])
    with pytest.raises(NotFittedError):
        FeatureBuilder(scorers).transform(["a"], ["a"])
    with pytest.raises(TagrankInputError, match="collide"):
        FeatureBuilder(scorers, group_stats=False, text_stats=False).fit().transform(
            ["a"], ["b"], extra=pd.DataFrame({"ovl": [1.0]}))
    with pytest.raises(TagrankInputError, match="mix"):
        FeatureBuilder({"ovl": scorers["ovl"], "t": TableScorer().fit(tiny_interactions())}).fit()
    with pytest.raises(TagrankInputError, match="not interaction"):
        FeatureBuilder(scorers, kind="interaction").fit()
    with pytest.raises(TagrankInputError, match="only used for interaction"):
        FeatureBuilder(scorers).fit(interactions=tiny_interactions())
    assert scorer_kind(scorers["ovl"]) == "text"
    empty = FeatureBuilder(scorers, text_stats=False).fit().transform([], [])
    assert list(empty.columns) == ["ovl", "ovl_norm", "ovl.rank", "ovl.gap", "ovl.z", "group.size"]
    assert len(empty) == 0


# --------------------------------------------------------------------------- user-item pairs


def test_interaction_features_by_hand():
    inter = tiny_interactions()
    builder = FeatureBuilder({"t": TableScorer().fit(inter)}, history_window=5).fit(inter)
    users = ["u0", "u0", "u1", "u0"]
    items = ["i2", "i0", "i0", "i9"]  # i9 is unknown to the scorer and to the statistics
    f = builder.transform(users, items)
    assert builder.feature_names_ == [
        "t", "t.rank", "t.gap", "t.z", "group.size",
        "item.pop", "item.pop_recent", "user.n_hist", "cooc.mean", "cooc.max", "cooc.last",
    ]
    assert f["t"].tolist()[:3] == pytest.approx([2.0, 0.0, 0.1])
    assert np.isnan(f["t"].iloc[3])
    # u0's group: scores 2, 0, NaN -> ranks 1, 2, NaN
    assert f["t.rank"].tolist()[:3] == [1, 2, 1] and np.isnan(f["t.rank"].iloc[3])
    assert f["t.gap"].tolist()[:2] == [0, 2]
    assert f["group.size"].tolist() == [3, 3, 1, 3]
    assert f["item.pop"].tolist() == [1, 2, 2, 0]
    assert f["item.pop_recent"].tolist() == [0, 1, 1, 0]  # the latest 10% = the last interaction (u2, i0)
    assert f["user.n_hist"].tolist() == [2, 2, 2, 2]
    # item vectors over users: i0 = {u0, u2}, i1 = {u0, u1}, i2 = {u1}
    # u0's history, most recent first: i1, i0. cos(i2, i1) = 1/sqrt(2), cos(i2, i0) = 0
    r2 = 1 / np.sqrt(2)
    assert f.loc[0, ["cooc.mean", "cooc.max", "cooc.last"]].tolist() == pytest.approx([r2 / 2, r2, r2])
    # u0 x i0: cos(i0, i1) = 1/2, cos(i0, i0) = 1
    assert f.loc[1, ["cooc.mean", "cooc.max", "cooc.last"]].tolist() == pytest.approx([0.75, 1.0, 0.5])
    # u1's history: i2, i1 -> cos(i0, i2) = 0, cos(i0, i1) = 1/2
    assert f.loc[2, ["cooc.mean", "cooc.max", "cooc.last"]].tolist() == pytest.approx([0.25, 0.5, 0.0])
    assert f.loc[3, ["cooc.mean", "cooc.max", "cooc.last"]].isna().all()


def test_cooc_chunks_match_one_block():
    rng = np.random.default_rng(0)
    inter = pd.DataFrame({"user_id": rng.integers(0, 30, 400).astype(str), "item_id": rng.integers(0, 40, 400),
                          "timestamp": np.arange(400)})
    inter["user_id"] = "u" + inter["user_id"]
    inter["item_id"] = "i" + inter["item_id"].astype(str)
    inter = inter.drop_duplicates(["user_id", "item_id"])
    builder = FeatureBuilder({"t": TableScorer().fit(inter)}).fit(inter)
    users = rng.choice(inter["user_id"].unique(), 300).tolist()
    items = rng.choice(inter["item_id"].unique(), 300).tolist()
    u = builder.users_.get_indexer(pd.Index(users, dtype=object))
    i = builder.items_.get_indexer(pd.Index(items, dtype=object))
    one = builder._cooc(u, i, budget=10**9)
    small = builder._cooc(u, i, budget=50)
    for key in one:
        np.testing.assert_allclose(one[key], small[key])


def test_candidate_stats_and_state_round_trip():
    inter = tiny_interactions()
    stats = pd.DataFrame({"price": [1.0, 2.0]}, index=["i0", "i1"])
    builder = FeatureBuilder({"t": TableScorer().fit(inter)}).fit(inter, candidate_stats=stats)
    f = builder.transform(["u0", "u1"], ["i1", "i2"])
    assert f["cand.price"].iloc[0] == 2.0 and np.isnan(f["cand.price"].iloc[1])
    config, arrays = builder.get_state()
    restored = FeatureBuilder({"t": builder.scorers["t"]}).set_state(config, arrays)
    pd.testing.assert_frame_equal(restored.transform(["u0", "u1"], ["i1", "i2"]), f)


def test_pair_chunks_give_the_same_features(text_builder):
    left = ["red shoe 42", "red shoe 42", "hat", "blue"]
    right = ["Red running shoe size 42", "blue shoe", "green hat", "blue shoe"]
    whole = text_builder.transform(left, right)
    chunked = FeatureBuilder(text_builder.scorers, language="en", pair_chunk=1).fit().transform(left, right)
    pd.testing.assert_frame_equal(whole, chunked)


def test_group_stats_match_a_pandas_groupby_reference():
    """rank / gap / z of group_stats against pandas' groupby on random groups with ties and NaN."""
    from tagrank.hybrid.features import group_stats

    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(1, 60))
        codes = pd.factorize(rng.integers(0, int(rng.integers(1, 6)), n))[0]
        values = rng.integers(0, 5, n).astype(float) + (rng.random(n) if trial % 2 else 0.0)
        values[rng.random(n) < 0.15] = np.nan
        s = pd.Series(values)
        g = s.groupby(codes, sort=False)
        mean, std = g.transform("mean").to_numpy(), g.transform("std", ddof=0).to_numpy()
        z = np.divide(values - mean, std, out=np.zeros(n), where=std > 1e-12)
        z[np.isnan(values)] = np.nan
        rank, gap, got_z = group_stats(values, codes)
        np.testing.assert_array_equal(rank, g.rank(method="min", ascending=False).to_numpy())
        np.testing.assert_allclose(gap, (g.transform("max") - s).to_numpy(), atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(got_z, z, atol=1e-9, equal_nan=True)


def test_group_stats_one_group_fast_path_equals_the_general_path():
    """A request's single group gives exactly (bit for bit) what the grouped arithmetic gives."""
    from tagrank.hybrid.features import group_stats

    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(1, 40))
        values = rng.integers(0, 4, n).astype(float) + (rng.random(n) if trial % 2 else 0.0)
        values[rng.random(n) < 0.2] = np.nan
        one = group_stats(values, np.zeros(n, dtype=np.int64))
        # the same rows as group 0 next to a second group: the general path
        general = group_stats(np.r_[values, 7.0], np.r_[np.zeros(n, dtype=np.int64), 1])
        for got, ref in zip(one, general, strict=True):
            np.testing.assert_array_equal(got, ref[:n])


# --------------------------------------------------------------------------- feature_columns / extra / token memo


class ColumnsScorer(LengthScorer):
    """Overrides ``feature_columns`` only: the builder and ``features()`` both use it."""

    name = "cols"

    def feature_columns(self, left, right):
        s = self.score_pairs(left, right)
        return {"cols": s, "cols_half": s / 2}


def test_feature_columns_feed_the_builder_and_features():
    corpus = ["red running shoe size 42", "blue shoe", "green hat"]
    scorer = ColumnsScorer().fit(corpus)
    left, right = ["shoe", "hat"], ["blue shoe", "green hat"]
    frame = scorer.features(left, right)
    assert list(frame.columns) == ["cols", "cols_half"]
    np.testing.assert_array_equal(frame["cols_half"], [1.0, 1.0])
    builder = FeatureBuilder({"c": scorer}, group_stats=False, text_stats=False).fit()
    out = builder.transform(left, right)
    assert list(out.columns) == ["c", "c_half"]
    np.testing.assert_array_equal(out["c"], [2.0, 2.0])
    empty = builder.transform([], [])
    assert list(empty.columns) == ["c", "c_half"] and len(empty) == 0


def test_extra_as_mapping_equals_extra_as_frame():
    corpus = ["red running shoe size 42", "blue shoe", "green hat"]
    builder = FeatureBuilder({"len": LengthScorer().fit(corpus)}, text_stats=False).fit()
    left, right = ["shoe", "shoe"], ["blue shoe", "green hat"]
    extra = {"item.pop": np.array([3.0, 1.0])}
    pd.testing.assert_frame_equal(builder.transform(left, right, extra=extra),
                                  builder.transform(left, right, extra=pd.DataFrame(extra)))
    with pytest.raises(TagrankInputError, match="extra column 'item.pop' has 1 rows but there are 2 pairs"):
        builder.transform(left, right, extra={"item.pop": np.array([3.0])})
    with pytest.raises(TagrankInputError, match="extra must be a DataFrame or a mapping"):
        builder.transform(left, right, extra=[1.0, 2.0])


def test_remember_texts_tokenises_ahead(monkeypatch):
    from tagrank.baselines.text import Tokenizer

    corpus = ["Remembered catalogue title 7", "another remembered one"]
    builder = FeatureBuilder({"len": LengthScorer().fit(corpus)}, language="en").fit()
    assert builder.remember_texts(corpus) is builder
    before = builder.transform(["remembered title"] * 2, corpus)

    def refuse(self, text):
        if text in corpus:
            raise AssertionError(f"{text!r} was tokenised again")
        return original(self, text)

    original = Tokenizer.words
    monkeypatch.setattr(Tokenizer, "words", refuse)
    after = builder.transform(["remembered title"] * 2, corpus)
    pd.testing.assert_frame_equal(before, after)
    np.testing.assert_array_equal(after["overlap.n"], [2.0, 1.0])


def test_transform_columns_equal_the_frame():
    corpus = ["red running shoe size 42", "blue shoe", "green hat"]
    builder = FeatureBuilder({"ovl": OverlapScorer().fit(corpus), "len": LengthScorer().fit(corpus)}).fit()
    left, right = ["red shoe", "red shoe", "hat"], ["blue shoe", "green hat", "green hat"]
    frame = builder.transform(left, right)
    columns = builder.transform_columns(left, right)
    assert list(columns) == list(frame.columns) == builder.feature_names_
    for name, values in columns.items():
        np.testing.assert_array_equal(values, frame[name].to_numpy())


def test_extra_collisions_nullable_columns_and_missing_groups():
    corpus = ["red running shoe size 42", "blue shoe", "green hat"]
    builder = FeatureBuilder({"len": LengthScorer().fit(corpus)}, text_stats=False).fit()
    left, right = ["shoe", "shoe"], ["blue shoe", "green hat"]
    repeated = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["x", "x"])
    with pytest.raises(TagrankInputError, match=r"feature names collide: \['x'\]"):
        builder.transform(left, right, extra=repeated)
    nullable = pd.DataFrame({"flag": pd.array([True, None], dtype="boolean")})
    out = builder.transform(left, right, extra=nullable)
    np.testing.assert_array_equal(out["flag"].to_numpy(), [1.0, np.nan])
    for missing in (None, float("nan"), pd.NA):
        with pytest.raises(TagrankInputError, match=r"groups\[1\] is missing"):
            builder.transform(left, right, groups=["q", missing])
