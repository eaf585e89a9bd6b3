"""Users' own column names: map them onto the library's at the public boundary, once."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tagrank.baselines.validation import TagrankInputError


def with_columns(frame: pd.DataFrame, mapping: Mapping[str, str], what: str) -> pd.DataFrame:
    """``frame`` with the user's columns renamed to the library's (``mapping``: library name ->
    the user's name); the input is not mutated. Fails naming the missing column and what exists."""
    if not isinstance(frame, pd.DataFrame):
        raise TagrankInputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        raise TagrankInputError(f"{what} has the column {repeated[0]!r} more than once; columns: {list(frame.columns)}")
    rename = {}
    for canonical, given in mapping.items():
        if given == canonical:
            continue  # the library's own name: nothing to map (a missing one is the caller's check)
        if given not in frame.columns:
            raise TagrankInputError(
                f"{what} has no column {given!r} (given for {canonical!r}); it has {list(frame.columns)}"
            )
        if canonical in frame.columns:
            raise TagrankInputError(
                f"{what} has both {canonical!r} and {given!r}: mapping {given!r} onto {canonical!r} would be ambiguous"
            )
        rename[given] = canonical
    return frame.rename(columns=rename) if rename else frame
