"""evaluate_ranking / evaluate_recommendations: bad ids, scores, ranks and repeated pairs are clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.evaluate import evaluate_ranking, evaluate_recommendations


def _run() -> pd.DataFrame:
    return pd.DataFrame({"query": ["q1", "q1", "q2", "q2"], "item_id": ["a", "b", "c", "d"],
                         "score": [0.9, 0.1, 0.2, 0.8]}, index=[10, 11, 12, 13])


def _judgments() -> pd.DataFrame:
    return pd.DataFrame({"query": ["q1", "q1", "q2"], "item_id": ["a", "b", "d"], "label": [2, 0, 1]},
                        index=[20, 21, 22])


def _recs() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "c"], "rank": [1, 2, 1]},
                        index=[30, 31, 32])


def _held_out() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["b", "c"]}, index=[40, 41])


def test_clean_inputs_score_without_warning_and_are_not_mutated():
    run, j, recs, held = _run(), _judgments(), _recs(), _held_out()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (evaluate_ranking(run, j).to_numpy() == 1.0).all()
        assert evaluate_recommendations(recs, held).loc["u2", "recall@10"] == 1.0
    pd.testing.assert_frame_equal(run, _run())
    pd.testing.assert_frame_equal(j, _judgments())
    pd.testing.assert_frame_equal(recs, _recs())
    pd.testing.assert_frame_equal(held, _held_out())


@pytest.mark.parametrize("col", ["item_id", "query"])
def test_numeric_and_string_ids_never_match_is_an_error(col):
    run = _run().assign(**{col: [1, 2, 3, 4] if col == "item_id" else [1, 1, 2, 2]})
    j = _judgments().assign(**{col: ["1", "2", "4"] if col == "item_id" else ["1", "1", "2"]})
    with pytest.raises(TagrankInputError, match=rf"run\['{col}'\] holds numbers \(int64\) but "
                                                rf"judgments\['{col}'\] holds strings"):
        evaluate_ranking(run, j)


def test_numeric_and_string_user_ids_never_match_is_an_error():
    with pytest.raises(TagrankInputError, match=r"recommendations\['user_id'\] holds numbers \(int64\) but "
                                                r"held_out\['user_id'\] holds strings"):
        evaluate_recommendations(_recs().assign(user_id=[1, 1, 2]), _held_out().assign(user_id=["1", "2"]))


def test_a_run_with_no_judged_pair_warns():
    run = _run().assign(item_id=["w", "x", "y", "z"])
    with pytest.warns(UserWarning, match="all 2 judged queries have no judged item in run"):
        out = evaluate_ranking(run, _judgments())
    assert (out.to_numpy() == 0.0).all()
    with pytest.warns(UserWarning, match="all 2 judged users have no judged item in recommendations"):
        evaluate_recommendations(_recs().assign(item_id=["x", "y", "z"]), _held_out())


def test_repeated_pairs_are_errors_naming_pair_and_rows():
    j = pd.DataFrame({"query": ["q1", "q1", "q1"], "item_id": ["a", "b", "a"], "label": [2, 0, 0]}, index=[5, 6, 7])
    with pytest.raises(TagrankInputError, match=r"judgments repeats \(query, item_id\) = \('q1', 'a'\) at rows \[5, 7\]"):
        evaluate_ranking(_run(), j)
    run = pd.concat([_run(), _run().iloc[[1]].rename(index={11: 99})])
    with pytest.raises(TagrankInputError, match=r"run repeats \(query, item_id\) = \('q1', 'b'\) at rows \[11, 99\]"):
        evaluate_ranking(run, _judgments())
    recs = pd.concat([_recs(), _recs().iloc[[0]].assign(rank=3).rename(index={30: 77})])
    with pytest.raises(TagrankInputError, match=r"recommendations repeats \(user_id, item_id\) = \('u1', 'a'\) "
                                                r"at rows \[30, 77\]"):
        evaluate_recommendations(recs, _held_out())


@pytest.mark.parametrize("frame,col,missing", [
    ("run", "query", np.nan), ("run", "item_id", None), ("judgments", "query", np.nan),
    ("judgments", "item_id", None), ("recommendations", "user_id", None), ("recommendations", "item_id", np.nan),
    ("held_out", "user_id", np.nan), ("held_out", "item_id", None),
])
def test_missing_ids_are_errors_naming_frame_column_and_row(frame, col, missing):
    frames = {"run": _run(), "judgments": _judgments(), "recommendations": _recs(), "held_out": _held_out()}
    bad = frames[frame].copy()
    bad[col] = bad[col].astype(object)
    bad.iloc[1, bad.columns.get_loc(col)] = missing
    frames[frame] = bad
    with pytest.raises(TagrankInputError, match=rf"{frame}\['{col}'\] at row {bad.index[1]} is missing"):
        if frame in ("run", "judgments"):
            evaluate_ranking(frames["run"], frames["judgments"])
        else:
            evaluate_recommendations(frames["recommendations"], frames["held_out"])


@pytest.mark.parametrize("value", ["x", np.nan, np.inf])
def test_scores_must_be_finite_numbers(value):
    run = _run().astype({"score": object})
    run.loc[11, "score"] = value
    with pytest.raises(TagrankInputError, match=r"run\['score'\] at row 11 \(query 'q1'\) is .*finite numbers"):
        evaluate_ranking(run, _judgments())


def test_an_infinite_label_names_the_judgments_row():
    with pytest.raises(TagrankInputError, match=r"judgments\['label'\] at row 21 \(query 'q1'\) is inf"):
        evaluate_ranking(_run(), _judgments().assign(label=[2, np.inf, 1]))


def test_metrics_may_be_one_name():
    out = evaluate_ranking(_run(), _judgments(), metrics="ndcg@10")
    assert list(out.columns) == ["ndcg@10"]
    out = evaluate_recommendations(_recs(), _held_out(), metrics="recall@10")
    assert list(out.columns) == ["recall@10"]


def test_recommendation_ranks_must_be_finite_and_distinct_per_user():
    with pytest.raises(TagrankInputError, match=r"give user 'u1' rank 1 twice \(rows \[30, 31\]\)"):
        evaluate_recommendations(_recs().assign(rank=[1, 1, 1]), _held_out())
    with pytest.raises(TagrankInputError, match=r"recommendations\['rank'\] at row 30 \(user_id 'u1'\) is inf"):
        evaluate_recommendations(_recs().assign(rank=[np.inf, 1, 1]), _held_out())
    # the same rank for two different users is fine
    assert len(evaluate_recommendations(_recs().assign(rank=[1, 2, 1]), _held_out())) == 2
