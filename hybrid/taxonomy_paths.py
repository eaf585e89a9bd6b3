"""Checking taxonomy paths and labels given to the categorisers (one error per bad row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import (
    TagrankInputError,
    is_missing,
)

_END = "\x00<end>"  # internal label of "the path stops above this level"


def _check_label(value: Any, field: str) -> str:
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        raise TagrankInputError(f"{field} is empty (got {value!r})")
    if not isinstance(value, str):
        raise TagrankInputError(f"{field} must be a string label, got {type(value).__name__} {value!r}")
    return value


def _check_path(path: Any, i: int, depth: int | None, field: str = "paths") -> tuple[str, ...]:
    """One path: a non-empty sequence of labels (trailing None / '' end a shorter path)."""
    if isinstance(path, str) or not isinstance(path, Sequence | np.ndarray | pd.Series):
        raise TagrankInputError(
            f"{field}[{i}] must be a sequence of labels such as ['Apparel', 'Topwear'], got {path!r}"
        )
    labels = list(path)
    while labels and (is_missing(labels[-1]) or (isinstance(labels[-1], str) and not labels[-1].strip())):
        labels.pop()
    if not labels:
        raise TagrankInputError(f"{field}[{i}] is an empty path (got {path!r})")
    if depth is not None and len(labels) > depth:
        raise TagrankInputError(
            f"{field}[{i}] has depth {len(labels)} but the taxonomy has {depth} level(s): {labels!r}"
        )
    return tuple(_check_label(v, f"{field}[{i}][{j}]") for j, v in enumerate(labels))


def _paths_from(paths: Any, levels: Sequence[str] | None) -> tuple[list[tuple[str, ...]], list[str] | None]:
    """Paths from a sequence of sequences or a frame of level columns (returns their names)."""
    if isinstance(paths, pd.DataFrame):
        cols = list(levels) if levels is not None else list(paths.columns)
        missing = [c for c in cols if c not in paths.columns]
        if missing:
            raise TagrankInputError(f"paths is missing level column(s) {missing}; it has {list(paths.columns)}")
        rows = paths[cols].astype(object).to_numpy().tolist()
        return [_check_path(r, i, len(cols)) for i, r in enumerate(rows)], cols
    if paths is None or isinstance(paths, str):
        raise TagrankInputError("paths must be a sequence of label sequences or a DataFrame of level columns")
    depth = len(levels) if levels is not None else None
    return [_check_path(p, i, depth) for i, p in enumerate(paths)], (list(levels) if levels is not None else None)


def _split_frame(texts: Any, paths: Any, text_col: str) -> tuple[Any, Any, list[str] | None]:
    """``fit(frame, ["level1", ...])`` -> (texts, level frame, level names)."""
    if isinstance(texts, pd.DataFrame):
        if text_col not in texts.columns:
            raise TagrankInputError(f"the frame has no text column {text_col!r}; it has {list(texts.columns)}")
        if paths is None or isinstance(paths, str):
            raise TagrankInputError("fit(frame, levels): pass the level column names as a list")
        cols = list(paths)
        return texts[text_col].tolist(), texts, cols
    return texts, paths, None
