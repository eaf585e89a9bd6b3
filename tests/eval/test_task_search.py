"""The search task's retrieve runs: a method's top-k list is evaluated in the order it returned."""

from __future__ import annotations

import numpy as np
import pytest
from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.tasks.search import evaluate_run, top_k_run


def test_retrieve_list_is_evaluated_in_the_order_returned_even_among_equal_scores():
    # one query, judged: "b" gain 2; the method ranks a tie "a", "b" (both 1.0) in the order b, a
    qrels = {"q": {"b": 2.0}}
    served = top_k_run(["q"], [["b", "a", None]], [[1.0, 1.0, np.nan]])
    assert served == {"q": ["b", "a"]}  # the empty slot dropped, the order kept
    # by hand: b at rank 1 -> NDCG@10 = 1; MRR = 1
    s = evaluate_run(served, qrels, ("ndcg@10", "mrr"))
    assert s.metrics == {"ndcg@10": 1.0, "mrr": 1.0}
    # the same scores as a dict would break the tie by id (a before b): b at rank 2
    by_id = evaluate_run({"q": {"b": 1.0, "a": 1.0}}, qrels, ("ndcg@10", "mrr"))
    assert by_id.metrics["mrr"] == 0.5
    assert np.isclose(by_id.metrics["ndcg@10"], 1.0 / np.log2(3))


def test_retrieve_list_with_a_nan_score_is_an_error_naming_the_query_and_item():
    with pytest.raises(TagrankInputError, match="'q'.*'a'.*NaN"):
        top_k_run(["q"], [["a", "b"]], [[np.nan, 1.0]])
    # -1 marks an empty slot of an integer-id list
    assert top_k_run(["q"], [[7, -1]], [[0.5, -np.inf]]) == {"q": [7]}
