"""One parse of time at the boundary: any timestamp column -> float64 Unix seconds.

Every consumer of a ``timestamp`` column (the interaction scorers' time decay and
sequences, both temporal user splits, the tag signals, the tag holdout) reads it
through :func:`to_seconds`, so strings, mixed int/str and numbers give the same
order, splits and weights.

Accepted values, per cell:

* numbers (int, float, numpy numbers; not bool) and numeric strings
  (``"1700000000"``): Unix epoch numbers in ``time_unit``;
* ``datetime`` / ``pandas.Timestamp`` / ``numpy.datetime64`` values and ISO-8601
  strings (``"2024-03-01"``, ``"2024-03-01T12:00:00+01:00"``); naive times are
  taken as UTC.

``time_unit`` is ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"auto"`` (default):
the unit of the numbers is read from their magnitude, the largest absolute value
``m``: ``m < 1e11`` seconds (up to the year 5138), ``< 1e14`` milliseconds,
``< 1e17`` microseconds, else nanoseconds. So the seconds and the milliseconds
versions of the same log give the same seconds. Epoch-like numbers (>= 1e8) of
different detected units in one column, or a span of more than
:data:`MAX_PLAUSIBLE_SPAN_YEARS` years, warn with :class:`TimeSpanWarning`.

A missing value (None, NaN, NaT), inf, bool or anything unreadable fails with a
:class:`~baselines.validation.TimestampError` naming the column, the row label
and the value.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TimestampError, _preview, is_missing

TIME_UNITS = ("auto", "s", "ms", "us", "ns")
_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
#: an interaction log spanning longer than this is implausible (mixed units?)
MAX_PLAUSIBLE_SPAN_YEARS = 200
_SECONDS_PER_YEAR = 365.25 * 86400.0


class TimeSpanWarning(UserWarning):
    """The timestamps span an implausibly long time (e.g. seconds and milliseconds mixed)."""


def detect_unit(values: np.ndarray) -> str:
    """The epoch unit of finite numbers from their largest magnitude (see the module docstring)."""
    m = float(np.max(np.abs(values))) if len(values) else 0.0
    if m < 1e11:
        return "s"
    if m < 1e14:
        return "ms"
    if m < 1e17:
        return "us"
    return "ns"


def _check_unit(time_unit: Any) -> str:
    if time_unit is None:
        return "auto"
    if time_unit not in TIME_UNITS:
        raise TimestampError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r}")
    return str(time_unit)


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (``12``, not ``np.int64(12)``) for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _bad(field: str, label: Any, value: Any, why: str) -> TimestampError:
    return TimestampError(f"{field}[{_plain(label)!r}] {why} (got {_preview(_plain(value))})")


def _datetime_seconds(values: pd.Series) -> np.ndarray:
    """A datetime64 Series (naive = UTC, or tz-aware) as float64 seconds; no missing values."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = values.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return ns.astype(np.float64) / 1e9


def _cell(value: Any, field: str, label: Any) -> tuple[float, bool]:
    """(value, is_number) of one object cell: a number to scale later, or seconds of a time."""
    if isinstance(value, bool | np.bool_):
        raise _bad(field, label, value, "is a bool, not a time")
    if isinstance(value, int | np.integer):
        return float(value), True
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise _bad(field, label, value, "is not a finite time")
        return float(value), True
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            if not math.isfinite(number):
                raise _bad(field, label, value, "is not a finite time")
            return number, True
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            raise _bad(field, label, value, "is not a number or an ISO-8601 time") from None
        if stamp is pd.NaT:
            raise _bad(field, label, value, "is missing")
        return _stamp_seconds(stamp), False
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date | np.datetime64):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            raise _bad(field, label, value, "is not a readable time") from None
        if stamp is pd.NaT:
            raise _bad(field, label, value, "is missing")
        return _stamp_seconds(stamp), False
    raise _bad(field, label, value, f"is a {type(value).__name__}, not a number, datetime or ISO-8601 string")


def _stamp_seconds(stamp: pd.Timestamp) -> float:
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return float(stamp.value) / 1e9 if stamp.unit == "ns" else float(stamp.as_unit("ns").value) / 1e9


def to_seconds(values: Any, field: str = "timestamp", time_unit: str | None = "auto") -> np.ndarray:
    """``values`` (a Series, array or list) as float64 Unix seconds; see the module docstring.

    Errors name ``field[row label]`` (the Series index, else the position) and the value."""
    unit = _check_unit(time_unit)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values) if not isinstance(values, np.ndarray)
                                                                   else values)
    labels = series.index
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise _bad(field, labels[i], series.iat[i], "is missing")
    if pd.api.types.is_datetime64_any_dtype(series):
        return _datetime_seconds(series)
    if pd.api.types.is_bool_dtype(series) and len(series):
        raise _bad(field, labels[0], series.iat[0], "is a bool, not a time")
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers)
        if bad.any():
            i = int(np.argmax(bad))
            raise _bad(field, labels[i], series.iat[i], "is not a finite time")
        return _scale(numbers, np.ones(len(numbers), bool), unit, field)
    out = np.empty(len(series), dtype=np.float64)
    is_number = np.zeros(len(series), dtype=bool)
    for i, value in enumerate(series.tolist()):
        if is_missing(value):
            raise _bad(field, labels[i], value, "is missing")
        out[i], is_number[i] = _cell(value, field, labels[i])
    return _scale(out, is_number, unit, field)


def _scale(values: np.ndarray, is_number: np.ndarray, unit: str, field: str) -> np.ndarray:
    """Numbers divided into seconds by their unit (given or detected); times stay; span checked."""
    out = values.astype(np.float64, copy=True)
    mixed = False
    if is_number.any():
        numbers = out[is_number]
        if unit == "auto":
            unit = detect_unit(numbers)
            epoch_like = np.abs(numbers[np.abs(numbers) >= 1e8])  # past 1973 in seconds
            mixed = len(epoch_like) > 0 and detect_unit(epoch_like[[epoch_like.argmin()]]) != unit
        out[is_number] = numbers / _PER_SECOND[unit]
    if len(out):
        span = float(out.max() - out.min())
        if mixed or span > MAX_PLAUSIBLE_SPAN_YEARS * _SECONDS_PER_YEAR:
            warnings.warn(
                f"{field} spans {span / _SECONDS_PER_YEAR:.0f} years once read as Unix seconds: are units mixed "
                f"(seconds and milliseconds in one column)? Pass time_unit= or convert the column",
                TimeSpanWarning, stacklevel=3,
            )
    return out


__all__ = ["TIME_UNITS", "TimeSpanWarning", "detect_unit", "to_seconds"]
