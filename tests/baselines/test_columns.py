"""The column-mapping boundary every pipeline's fit goes through."""

from __future__ import annotations

import pandas as pd
import pytest

from tagrank.baselines.columns import with_columns
from tagrank.baselines.validation import TagrankInputError


def test_a_repeated_column_name_is_a_clear_error():
    frame = pd.DataFrame([["a", "b", 1]], columns=["user_id", "item_id", "item_id"])
    with pytest.raises(TagrankInputError, match="'item_id' more than once"):
        with_columns(frame, {"user_id": "user_id", "item_id": "item_id"}, "interactions")


def test_mapping_renames_without_touching_the_input():
    frame = pd.DataFrame({"u": ["a"], "i": ["b"]})
    out = with_columns(frame, {"user_id": "u", "item_id": "i"}, "interactions")
    assert list(out.columns) == ["user_id", "item_id"] and list(frame.columns) == ["u", "i"]
    with pytest.raises(TagrankInputError, match="no column 'x'"):
        with_columns(frame, {"user_id": "x"}, "interactions")
