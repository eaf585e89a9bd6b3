"""Candidate union: de-duplication and provenance by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.candidates import MISSING_RANK, CandidateGenerator, union_candidates
from tests.hybrid.test_features import OverlapScorer, TableScorer, tiny_interactions


def test_union_by_hand():
    a = (np.array([["x", "y", None], ["z", "x", "y"]], dtype=object), np.array([[3, 2, -np.inf], [1, 0.5, 0.2]]))
    b = (np.array([["y", "w", "x"], ["x", "x", "q"]], dtype=object), np.ones((2, 3)))
    out = union_candidates({"a": a, "b": b}, ["q1", "q2"])
    assert list(out.columns) == ["query", "item_id", "src.a", "srank.a", "src.b", "srank.b", "n_sources"]
    # first appearance order: source a's list, then b's new candidates; the None slot is skipped
    assert out["query"].tolist() == ["q1", "q1", "q1", "q2", "q2", "q2", "q2"]
    assert out["item_id"].tolist() == ["x", "y", "w", "z", "x", "y", "q"]
    assert out["src.a"].tolist() == [1, 1, 0, 1, 1, 1, 0]
    assert out["srank.a"].tolist() == [1, 2, MISSING_RANK, 1, 2, 3, MISSING_RANK]
    assert out["src.b"].tolist() == [1, 1, 1, 0, 1, 0, 1]
    # b lists x twice for q2: its best rank is kept
    assert out["srank.b"].tolist() == [3, 1, 2, MISSING_RANK, 1, MISSING_RANK, 3]
    assert out["n_sources"].tolist() == [2, 2, 1, 1, 2, 1, 1]
    assert not out.duplicated(["query", "item_id"]).any()


def test_union_options_and_blanks():
    ids = np.array([[5, -1, 7]], dtype=object)
    out = union_candidates({"s": (ids, np.array([[1.0, 0.5, np.nan]]))}, ["u"], query_col="user_id",
                           candidate_col="c", missing_rank=999)
    assert out["c"].tolist() == [5]  # -1 (unfilled) and the NaN score are skipped
    assert list(out.columns[:2]) == ["user_id", "c"]
    # duplicate queries are merged into one group
    two = union_candidates({"s": (np.array([[1], [2]], dtype=object), np.ones((2, 1)))}, ["u", "u"])
    assert two["query"].tolist() == ["u", "u"] and two["item_id"].tolist() == [1, 2]
    none = union_candidates({"s": (np.array([[None]], dtype=object), np.array([[-np.inf]]))}, ["u"])
    assert len(none) == 0 and "srank.s" in none.columns


def test_union_ids_and_queries_of_any_hashable_kind():
    # tuple queries and ids stay single values (np.asarray would split them into columns)
    ids = np.empty((2, 2), dtype=object)
    ids[0, 0], ids[0, 1], ids[1, 0], ids[1, 1] = ("p", 1), ("p", 2), ("p", 2), ("p", 3)
    out = union_candidates({"s": (ids, np.ones((2, 2)))}, [("shop", 1), ("shop", 1)])
    assert out["query"].tolist() == [("shop", 1)] * 3
    assert out["item_id"].tolist() == [("p", 1), ("p", 2), ("p", 3)]
    # pandas' missing markers are unfilled slots too; a string "-1" is an id, not the -1 marker
    marked = np.array([["a", pd.NA, "-1", -1, float("nan")]], dtype=object)
    kept = union_candidates({"s": (marked, np.ones((1, 5)))}, ["q"])
    assert kept["item_id"].tolist() == ["a", "-1"]


def test_union_errors():
    with pytest.raises(TagrankInputError, match="at least one"):
        union_candidates({}, ["q"])
    with pytest.raises(TagrankInputError, match="rows for 2 queries"):
        union_candidates({"s": (np.array([["a"]], dtype=object), np.ones((1, 1)))}, ["q", "r"])
    with pytest.raises(TagrankInputError, match="equal 2-D shapes"):
        union_candidates({"s": (np.array([["a", "b"]], dtype=object), np.ones((1, 1)))}, ["q"])


def test_generator_with_recommenders_and_text_scorers():
    inter = tiny_interactions()
    gen = CandidateGenerator({"t": TableScorer().fit(inter)}, k=2, query_col="user_id")
    out = gen.generate(["u0", "u2"])
    # u0 saw i0, i1 -> only i2 is left; u2 saw i0 -> i2, i1 (scores = item number)
    assert out["item_id"].tolist() == ["i2", "i2", "i1"]
    assert out["srank.t"].tolist() == [1, 1, 2]
    all_items = CandidateGenerator({"t": TableScorer().fit(inter)}, k=2, exclude_seen=False).generate(["u0"])
    assert all_items["item_id"].tolist() == ["i2", "i1"]

    corpus = ["red shoe", "blue shoe", "green hat"]
    text = CandidateGenerator({"o": OverlapScorer().fit(corpus, ids=["A", "B", "C"])}, k={"o": 2})
    out = text.generate(["red shoe"])
    assert out["item_id"].tolist() == ["A", "B"]
    with pytest.raises(TagrankInputError, match="no entry"):
        CandidateGenerator({"o": OverlapScorer().fit(corpus)}, k={"x": 2}).generate(["red"])
    with pytest.raises(TagrankInputError, match="neither"):
        CandidateGenerator({"o": object()}).generate(["red"])
