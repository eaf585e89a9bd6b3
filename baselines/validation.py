"""Input checks shared by every layer: clear errors that name the field and the value.

Every public entry point validates its inputs here, so a bad row fails with a
message such as ``texts[3] is empty`` instead of a traceback from deep inside
scikit-learn, LightGBM or torch. Nothing here mutates its input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class TagrankInputError(ValueError):
    """Raised for bad input; the message names the field and the offending value."""


class NotFittedError(RuntimeError):
    """Raised when a method that needs ``fit`` is called before it."""


def _preview(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def is_missing(value: Any) -> bool:
    """True for None, NaN (float or numpy) and pandas NA/NaT."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def check_texts(values: Iterable[Any], field: str = "texts", allow_empty: bool = False) -> list[str]:
    """Return ``values`` as a new list of str; reject None/NaN, non-strings and (unless allowed) blank text."""
    if isinstance(values, str):
        raise TagrankInputError(f"{field} must be a sequence of strings, got a single string {_preview(values)}")
    values = list(values)
    # fast path (a serving request checks a few hundred texts per call): all non-blank str
    if all(type(v) is str for v in values) and (allow_empty or all(not v.isspace() and v for v in values)):
        return values
    out: list[str] = []
    for i, value in enumerate(values):
        if is_missing(value):
            raise TagrankInputError(f"{field}[{i}] is missing (got {_preview(value)})")
        if not isinstance(value, str):
            raise TagrankInputError(f"{field}[{i}] must be a string, got {type(value).__name__} {_preview(value)}")
        if not allow_empty and not value.strip():
            raise TagrankInputError(f"{field}[{i}] is empty (got {_preview(value)})")
        out.append(value)
    return out


def check_nonempty(values: Sequence[Any], field: str) -> None:
    """Reject an empty collection."""
    if len(values) == 0:
        raise TagrankInputError(f"{field} is empty: at least one row is needed")


def check_same_length(**named: Sequence[Any]) -> int:
    """All named sequences must have one length; returns it."""
    lengths = {name: len(seq) for name, seq in named.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise TagrankInputError(f"mismatched lengths: {desc}")
    return next(iter(lengths.values()), 0)


def check_k(k: Any, field: str = "k") -> int:
    """k must be a positive int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise TagrankInputError(f"{field} must be a positive integer, got {_preview(k)}")
    return int(k)


def check_finite(values: np.ndarray, field: str) -> np.ndarray:
    """Reject NaN / inf in a numeric array, naming the first bad index."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiub":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise TagrankInputError(f"{field} must be numeric: {exc}") from None
    bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, bool)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise TagrankInputError(f"{field}[{where}] is not finite (got {arr[idx]!r})")
    return arr


def check_known_ids(ids: Iterable[Any], index: dict[Any, int], field: str) -> np.ndarray:
    """Map ids to row positions via ``index``; an unknown id fails naming it."""
    out = []
    for i, key in enumerate(ids):
        pos = index.get(key)
        if pos is None:
            raise TagrankInputError(f"{field}[{i}] = {_preview(key)} is not a known id (not seen in fit)")
        out.append(pos)
    return np.asarray(out, dtype=np.int64)


def check_columns(frame: Any, required: Sequence[str], field: str) -> None:
    """A DataFrame must carry the named columns."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TagrankInputError(
            f"{field} is missing column(s) {missing}; it has {list(frame.columns)}"
        )
