"""Hypothesis strategies for hostile input, and the suite's one invariant.

The invariant (:func:`call`): a public call either returns, or raises a
:class:`TagrankInputError`; any other exception type fails the test. The
per-estimator tests then check the returned value is well formed (shape,
finite scores, ids from the catalogue) and the inputs were not mutated.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import event
from hypothesis import strategies as st

from tagrank.baselines.validation import TagrankInputError

# ----------------------------------------------------------------------------- text

WORDS = ["red", "blue", "shoe", "hat", "phone", "case", "wool", "2.5", "men's", "don't", "iPhone15",
         "\u7ea2\u8272", "\u624b\u673a\u58f3", "\u8fd0\u52a8\u978b", "caf\u00e9", "na\u0131ve"]
SPECIAL = [
    "\u200b", "\u200d", "\ufeff", "\u00ad",  # zero-width / format
    "\x00", "\x07", "\x1b", "\x7f", "\u0085",  # control
    "\u0301", "\u0308", "\u20e3",  # combining marks
    "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u202e", "\u200f",  # RTL text and marks
    "\U0001F600", "\U0001F1EB\U0001F1F7", "\U0001F44D\U0001F3FD", "\u2764\ufe0f",  # emoji
    "!!!", "???", "...", "|", "--", "\t", "\n", "  ", "\u3000", "\uff21\uff22\uff23\uff11",  # punctuation, widths
    "\ud800",  # a lone surrogate
]


def _join(parts: list[str]) -> str:
    return "".join(parts)


token = st.one_of(st.sampled_from(WORDS), st.sampled_from(SPECIAL), st.text(max_size=6), st.just(" "))
valid_token = st.one_of(st.sampled_from(WORDS), st.sampled_from(SPECIAL[:-1]), st.text(max_size=6), st.just(" "))
#: mixed Chinese/English words, emoji, RTL, zero-width, control and combining characters, blanks
text = st.one_of(
    st.lists(token, max_size=8).map(_join),
    st.sampled_from(["", " ", "!!! ??? ...", "\u200b\u200b", "\x00\x01", "\u0301", "\U0001F600"]),
    st.text(max_size=30),
)
#: a text with at least one word, among hostile characters (so fits mostly succeed and the next call is reached)
_around = st.lists(valid_token, max_size=4).map(_join)
good_text = st.builds(lambda pre, w, post: f"{pre}{w}{post}", _around, st.sampled_from(WORDS), _around)
#: a huge text (tens of thousands of characters)
huge_text = st.builds(lambda w, n: " ".join([w] * n), st.sampled_from(WORDS), st.integers(2000, 6000))
#: what a user might pass where a text is expected: texts, and NaN / None / numbers now and then
maybe_text = st.one_of(good_text, good_text, good_text, good_text, text, st.none(), st.just(float("nan")), st.integers(-3, 3), st.just(b"bytes"))

# ----------------------------------------------------------------------------- ids and numbers

ids = st.one_of(st.integers(-5, 40), st.sampled_from(["a", "b", "c", "\u7ea2", "", "1", "10"]),
                st.floats(allow_nan=False, allow_infinity=False, width=16))
maybe_id = st.one_of(ids, ids, ids, st.none(), st.just(float("nan")))
number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-10, 10))
hostile_number = st.one_of(number, number, number, st.just(float("nan")), st.just(float("inf")),
                           st.just(-float("inf")), st.none(), st.just("3"), st.just(True))
timestamp = st.one_of(st.integers(0, 2_000_000_000), st.integers(1_600_000_000_000, 1_700_000_000_000),
                      st.integers(1, 1000).map(str), st.just("2024-03-01T12:00:00"), st.just("2024-03-01"),
                      st.just(float("nan")), st.none(), st.just("soon"), st.just(float("inf")))
k_value = st.one_of(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.just(10**6),
                    st.sampled_from([0, -2, 2.5, True, "3"]))


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy, max_size: int) -> st.SearchStrategy:
    """Lists that are all valid 3 times out of 4, else mix in hostile values (so both paths run)."""
    low = min(1, max_size)
    return st.one_of(st.lists(valid, min_size=low, max_size=max_size), st.lists(valid, min_size=low, max_size=max_size),
                     st.lists(valid, max_size=max_size), st.lists(st.one_of(valid, hostile), max_size=max_size))


@st.composite
def interactions(draw: Any, min_rows: int = 0, max_rows: int = 40, clean: bool = False) -> pd.DataFrame:
    """(user_id, item_id[, timestamp][, weight]) with duplicates, mixed id types, hostile cells."""
    n = draw(st.integers(min_rows, max_rows))
    user_pool = draw(st.lists(ids if clean else maybe_id, min_size=1, max_size=6))
    item_pool = draw(st.lists(ids if clean else maybe_id, min_size=1, max_size=10))
    rows = {
        "user_id": [draw(st.sampled_from(user_pool)) for _ in range(n)],
        "item_id": [draw(st.sampled_from(item_pool)) for _ in range(n)],
    }
    if clean or draw(st.booleans()):
        stamp = st.integers(0, 10**6) if clean else timestamp
        rows["timestamp"] = [draw(stamp) for _ in range(n)]
    if clean or draw(st.booleans()):
        w = st.floats(0, 10, allow_nan=False) if clean else hostile_number
        rows["weight"] = [draw(w) for _ in range(n)]
    frame = pd.DataFrame(rows)
    if n and draw(st.booleans()):  # a non-default, unsorted index
        frame.index = draw(st.permutations(list(range(100, 100 + n))))
    return frame


# ----------------------------------------------------------------------------- the invariant

def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """(True, result) or (False, the TagrankInputError); any other exception propagates (a failure)."""
    name = getattr(fn, "__qualname__", "call")
    try:
        out = fn(*args, **kwargs)
    except TagrankInputError as exc:
        assert str(exc), "a TagrankInputError must say what is wrong"
        event(f"{name}: {type(exc).__name__}")  # --hypothesis-show-statistics: how often each path runs
        return False, exc
    event(f"{name}: ok")
    return True, out


def snapshot(value: Any) -> Any:
    """A deep copy to compare against after a call (inputs must not be mutated)."""
    return copy.deepcopy(value)


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN (for the not-mutated check)."""
    if isinstance(a, pd.DataFrame | pd.Series):
        return isinstance(b, type(a)) and a.equals(b) and list(a.index) == list(b.index)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and all(same(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a is b or a == b


def check_ranking(ids_out: np.ndarray, scores: np.ndarray, n_rows: int, catalogue: set, max_k: int) -> None:
    """A well-formed top-k answer: [n_rows, k'] with k' <= max_k, ids from the catalogue (None = empty slot,
    score -inf), other scores finite and non-increasing along each row."""
    assert ids_out.shape == scores.shape and ids_out.shape[0] == n_rows and ids_out.shape[1] <= max_k
    for row_ids, row_scores in zip(ids_out, scores, strict=True):
        for item, score in zip(row_ids, row_scores, strict=True):
            if item is None:
                assert score == -np.inf
            else:
                assert item in catalogue and np.isfinite(score), (item, score)
        finite = row_scores[np.isfinite(row_scores)]
        assert np.all(np.diff(finite) <= 1e-9)
