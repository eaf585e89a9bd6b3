"""Input checks shared by every layer: clear errors that name the field and the value.

Every public entry point validates its inputs here, so a bad row fails with a
message such as ``texts[3] is empty`` instead of a traceback from deep inside
scikit-learn, LightGBM or torch. Nothing here mutates its input.

The rules, each stated once:

* **Text** (:func:`check_texts`, :func:`has_content`): a text is *blank* when,
  after the tokenizer's normalisation (NFKC, :class:`baselines.text.Tokenizer`),
  it holds no letter, number or other-symbol character (Unicode categories L*,
  N*, So). Empty, whitespace-only, punctuation-only (``"!!! ???"``), zero-width
  (``"\u200b"``), control-character and lone-combining-mark texts are blank;
  ``"手机"``, ``"2.5"`` and ``"😀"`` are not. A blank text is rejected with
  :class:`BlankTextError` wherever a text is required -- fit corpora, queries,
  pairs, in every scorer (BM25, TF-IDF, Jaccard, word2vec, transformer) and
  pipeline (search, rerank) alike. No API answers a blank query with an empty
  ranking: it is always this error. A text holding a lone surrogate
  (``"\ud800"``, not valid Unicode) is an error too.
* **Errors** name the argument, the row (the pandas row label when the input
  is a Series or frame, else the position) and the value, and are
  :class:`TagrankInputError` subclasses.
* **k** (:func:`cap_k`): a top-k request is capped at the number of rankable
  items; nothing is allocated beyond it.
* **Timestamps**: one parser, :mod:`baselines.timeparse`.
* **Ranking labels**: one grading rule, :mod:`hybrid.labels`.
* **Saved models**: :class:`SavedModelError` names the file of the saved
  model that is bad and why (:mod:`baselines.saved`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd


class TagrankInputError(ValueError):
    """Raised for bad input; the message names the field and the offending value."""


class BlankTextError(TagrankInputError):
    """A required text holds no letter, number or symbol (empty, whitespace, punctuation, zero-width)."""


class TimestampError(TagrankInputError):
    """A timestamp that is missing or cannot be read as a time."""


class LabelError(TagrankInputError):
    """A ranking label outside the grading rule's range (or negative)."""


class SavedModelError(TagrankInputError):
    """A saved model directory (or one of its files) that cannot be loaded; names the file and why."""


class ModelPathError(TagrankInputError):
    """A transformer model path or hub id that cannot be resolved."""


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


#: a letter or digit of any script (Python's unicode \w minus the underscore): content for sure
_ALNUM = re.compile(r"[^\W_]")
#: a lone surrogate: not valid Unicode (cannot be encoded as UTF-8, so no library can store or tokenise it)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Unicode categories that make a text non-blank (see the module docstring)
CONTENT_CATEGORIES = ("L", "N", "So")


def has_content(text: str) -> bool:
    """True when ``text`` holds a letter, number or other-symbol (emoji) after NFKC normalisation."""
    if _ALNUM.search(text):  # fast path: nearly every real text
        return True
    for ch in unicodedata.normalize("NFKC", text):
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "So":
            return True
    return False


def label_at(index: Any, i: int) -> Any:
    """The row label at position ``i`` of a pandas index, as a plain Python value (``21``, not ``np.int64(21)``)."""
    value = index[i]
    return value.item() if isinstance(value, np.generic) else value


def _row_labels(values: Any) -> list[Any] | None:
    """The pandas row labels of a Series (None for a plain sequence: positions then name the rows)."""
    index = getattr(values, "index", None)
    if index is None or callable(index):  # list.index is a method
        return None
    try:
        return list(index)
    except TypeError:  # pragma: no cover - an exotic index
        return None


#: texts already seen to be valid (str, a letter or digit, no lone surrogate): a serving request
#: checks the same catalogue texts in every scorer and every request; bounded, cleared when full
_KNOWN_VALID: set[str] = set()
KNOWN_VALID_SIZE = 200_000


def _fast_valid(values: list[Any], allow_empty: bool) -> bool:
    """True when every value is surely valid: each distinct value a str with a letter or digit and no
    lone surrogate (only texts not seen before are searched). False means: check one by one."""
    try:
        unseen = set(values).difference(_KNOWN_VALID)
    except TypeError:  # an unhashable value: the slow path names it
        return False
    if not all(type(v) is str for v in unseen) or any(_SURROGATE.search(v) for v in unseen):
        return False
    with_content = [v for v in unseen if _ALNUM.search(v)]
    if len(_KNOWN_VALID) + len(with_content) > KNOWN_VALID_SIZE:
        _KNOWN_VALID.clear()
    _KNOWN_VALID.update(with_content)
    return allow_empty or len(with_content) == len(unseen)


def check_texts(values: Iterable[Any], field: str = "texts", allow_empty: bool = False) -> list[str]:
    """Return ``values`` as a new list of str; reject None/NaN, non-strings and (unless allowed) blank text.

    Blank = no letter, number or symbol (:func:`has_content`): the one text rule of the library."""
    if isinstance(values, str):
        raise TagrankInputError(f"{field} must be a sequence of strings, got a single string {_preview(values)}")
    labels = _row_labels(values)
    values = list(values)
    if _fast_valid(values, allow_empty):
        return values
    out: list[str] = []
    for i, value in enumerate(values):
        row = labels[i] if labels is not None else i
        if is_missing(value):
            raise TagrankInputError(f"{field}[{row!r}] is missing (got {_preview(value)})")
        if not isinstance(value, str):
            raise TagrankInputError(f"{field}[{row!r}] must be a string, got {type(value).__name__} {_preview(value)}")
        if _SURROGATE.search(value):
            raise TagrankInputError(
                f"{field}[{row!r}] is not valid Unicode: it holds a lone surrogate (got {_preview(value)})"
            )
        if not allow_empty and not has_content(value):
            what = "empty" if not value.strip() else "blank: it has no letter, number or symbol to match on"
            raise BlankTextError(f"{field}[{row!r}] is {what} (got {_preview(value)})")
        out.append(value)
    return out


def cap_k(k: Any, n_rankable: int, field: str = "k") -> int:
    """``k`` checked (:func:`check_k`) and capped at the number of rankable items (at least 1)."""
    return min(check_k(k, field), max(int(n_rankable), 1))


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


def check_number(value: Any, field: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A real, finite number (not bool, not a string) within [minimum, maximum]; else a clear error."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
    if not ok or not math.isfinite(float(value)):
        raise TagrankInputError(f"{field} must be a finite number, got {_preview(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else f"{minimum:g}"
        hi = "inf" if maximum is None else f"{maximum:g}"
        raise TagrankInputError(f"{field} must be in [{lo}, {hi}], got {_preview(value)}")
    return float(value)


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
    for i, key in enumerate(id_list(ids, field)):
        pos = index.get(key)
        if pos is None:
            raise TagrankInputError(f"{field}[{i}] = {_preview(key)} is not a known id (not seen in fit)")
        out.append(pos)
    return np.asarray(out, dtype=np.int64)


def check_aligned(**named: Any) -> None:
    """pandas Series given side by side are paired by position; where their indexes share labels in
    other places (one is a reordered or filtered copy of the other), a pandas user would expect pairing
    by label, so that is refused. Disjoint indexes (Series from different frames) pair by position."""
    series = [(name, v) for name, v in named.items() if isinstance(v, pd.Series)]
    for name, s in series[1:]:
        first_name, first = series[0]
        if not s.index.equals(first.index) and len(s.index.intersection(first.index)):
            raise TagrankInputError(
                f"{first_name} and {name} are pandas Series whose indexes share labels in other places: they "
                f"are paired by position, not label; align them first (e.g. {name}.reindex({first_name}.index)) or pass arrays"
            )


def id_list(ids: Iterable[Any], field: str) -> list[Any]:
    """``ids`` as a new list; a bare string is refused (it would be read as one id per character)."""
    if isinstance(ids, str | bytes):
        raise TagrankInputError(f"{field} must be a sequence of ids, got a single string {_preview(ids)}: "
                                f"wrap it in a list")
    return list(ids)


def check_unique_ids(ids: Iterable[Any], field: str) -> list[Any]:
    """Ids that key a table (one row each): none missing, none repeated; fails naming the first offender."""
    values = list(ids)
    seen: set[Any] = set()
    for i, key in enumerate(values):
        if is_missing(key):
            raise TagrankInputError(f"{field}[{i}] is missing")
        if key in seen:
            raise TagrankInputError(f"{field}[{i}] = {_preview(key)} is repeated: each id needs one row")
        seen.add(key)
    return values


def check_columns(frame: Any, required: Sequence[str], field: str) -> None:
    """A DataFrame must carry the named columns."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TagrankInputError(
            f"{field} is missing column(s) {missing}; it has {list(frame.columns)}"
        )
