"""Graded labels -> the integer grades LightGBM LambdaRank needs, and their gains.

LambdaRank wants integer relevance grades ``0 .. G`` and a gain per grade
(``label_gain``). Graded judgments are often means of several raters (Home
Depot's 1..3 relevance, e.g. 2.33 = the mean of 3, 2, 2), so they are mapped
by one documented rule:

    grade = floor((label - min_label) * per_unit + 0.5)      # round half up
    grade is clipped to 0 .. max_grade

``min_label`` is the smallest label of the training frame unless given;
``per_unit`` is the number of grades per label unit. The default 12 represents
every mean of 3 or 4 raters exactly (thirds and quarters): Home Depot's
1..3 -> grades 0..24, and 2.33 -> round(1.33 * 12) = 16. With ``per_unit=3``
(thirds only) 1..3 -> 0..6 and 2.33 -> 4. Binary labels (0/1) with
``per_unit=1`` stay 0/1.

The gain of grade ``g`` is linear, ``g / per_unit`` (= ``label - min_label``),
which is exactly the benchmark's NDCG gain for Home Depot (relevance - 1), so
the training objective and LightGBM's early-stopping NDCG match the reported
metric.

The range, checked (never clipped silently): labels are relevance, so they
must be finite and >= 0; a label outside the declared range (``min_label`` ..
``max_label``, or the top of ``max_grade``) is a :class:`LabelError` naming
the row label and the value. An undeclared range is inferred from the labels
the rule is fitted on (the ranker fits it on its training and validation
labels together), and later labels outside it are errors too. Declare the
scale (``GradeRule(min_label=1, max_label=3)``, or ``"binary"`` = 0..1) to
catch a 7 on a 1..3 scale in the training labels themselves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tagrank.baselines.validation import LabelError, TagrankInputError, check_finite

#: LightGBM's own ceiling on the number of distinct grades is far higher; this
#: keeps label_gain lists small and catches a wrong ``per_unit`` early.
MAX_GRADES = 256


@dataclass(frozen=True)
class GradeRule:
    """``grade = floor((label - min_label) * per_unit + 0.5)``, which must lie in ``0 .. max_grade``.

    ``min_label`` / ``max_grade`` of ``None`` are learned from the training
    labels by :meth:`fitted` (min label; grade of the max label). ``max_label``
    declares the top of the scale (``max_grade`` then follows from it). Labels
    must be >= 0, and inside the range: see the module docstring.
    """

    per_unit: float = 12.0
    min_label: float | None = None
    max_grade: int | None = None
    max_label: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.per_unit, bool) or not isinstance(self.per_unit, int | float) or not (
            math.isfinite(self.per_unit) and self.per_unit > 0
        ):
            raise TagrankInputError(f"per_unit must be a positive number, got {self.per_unit!r}")
        if self.min_label is not None and not math.isfinite(float(self.min_label)):
            raise TagrankInputError(f"min_label must be finite, got {self.min_label!r}")
        if self.max_grade is not None and (
            isinstance(self.max_grade, bool) or not isinstance(self.max_grade, int | np.integer)
            or not 0 <= self.max_grade < MAX_GRADES
        ):
            raise TagrankInputError(f"max_grade must be an int in 0..{MAX_GRADES - 1}, got {self.max_grade!r}")
        for name in ("min_label", "max_label"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float | np.number)
                                      or not math.isfinite(float(value)) or float(value) < 0):
                raise TagrankInputError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.min_label is not None and self.max_label is not None and self.max_label < self.min_label:
            raise TagrankInputError(f"max_label {self.max_label!r} is below min_label {self.min_label!r}")

    @classmethod
    def coerce(cls, value: Any) -> GradeRule:
        """A rule from a GradeRule, a dict of its fields, a number (``per_unit``) or ``"binary"``."""
        if isinstance(value, GradeRule):
            return value
        if value == "binary":
            return cls(per_unit=1.0, min_label=0.0, max_grade=1)
        if isinstance(value, dict):
            unknown = set(value) - {"per_unit", "min_label", "max_grade", "max_label"}
            if unknown:
                raise TagrankInputError(f"grade_rule has unknown field(s) {sorted(unknown)}")
            return cls(**value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(per_unit=float(value))
        raise TagrankInputError(
            f"grade_rule must be a GradeRule, a dict, a number (grades per label unit) or 'binary', got {value!r}"
        )

    def _raw(self, labels: np.ndarray, min_label: float) -> np.ndarray:
        return np.floor((labels - min_label) * self.per_unit + 0.5)

    def fitted(self, labels: Any, field: str = "labels", index: Any = None) -> GradeRule:
        """The rule with ``min_label`` and ``max_grade`` fixed from training labels (range checked).

        ``index``: the row labels of ``labels`` for error messages (default: positions)."""
        y = _labels(labels, field)
        if len(y) == 0:
            raise TagrankInputError(f"{field} are empty: cannot fit a grade rule")
        _check_range(y, 0.0, None, field, index, "is negative: labels are relevance grades and must be >= 0")
        lo = float(y.min()) if self.min_label is None else float(self.min_label)
        top = self.max_grade
        if top is None and self.max_label is not None:
            top = int(self._raw(np.asarray([float(self.max_label)]), lo)[0])
        if top is None:
            top = int(max(self._raw(np.asarray([y.max()]), lo)[0], 0))
        if top >= MAX_GRADES:
            raise TagrankInputError(
                f"labels span {top + 1} grades with per_unit={self.per_unit}; at most {MAX_GRADES} are supported "
                "(lower per_unit)"
            )
        rule = GradeRule(per_unit=float(self.per_unit), min_label=lo, max_grade=int(top),
                         max_label=None if self.max_label is None else float(self.max_label))
        rule.grades(y, field, index)  # a declared range is checked on the training labels too
        return rule

    def fitted_on(self, parts: list[tuple[Any, str, Any]]) -> GradeRule:
        """:meth:`fitted` over several label sets ``(labels, field, row labels)`` (training and
        validation): the inferred scale covers them all, and each is checked under its own name."""
        for y, field, index in parts:
            self.fitted(y, field, index)
        return self.fitted(np.concatenate([_labels(y, field) for y, field, _ in parts]), parts[0][1])

    def label_range(self) -> tuple[float, float]:
        """(lowest, highest) label of the fitted rule's scale."""
        if self.min_label is None or self.max_grade is None:
            raise TagrankInputError("the grade rule is not fitted: call fitted(train_labels) first")
        top = self.max_label if self.max_label is not None else self.min_label + self.max_grade / self.per_unit
        return float(self.min_label), float(top)

    def grades(self, labels: Any, field: str = "labels", index: Any = None) -> np.ndarray:
        """Integer grades (int32) of ``labels``; the rule must be fitted; a label off the scale is an error."""
        if self.min_label is None or self.max_grade is None:
            raise TagrankInputError("the grade rule is not fitted: call fitted(train_labels) first")
        y = _labels(labels, field)
        raw = self._raw(y, float(self.min_label))
        lo, hi = self.label_range()
        off = (raw < 0) | (raw > self.max_grade) | (y < 0)
        if self.max_label is not None:
            off |= y > hi + 1e-9
        if off.any():
            _check_range(np.where(off, -1.0, 0.0), 0.0, None, field, index,
                         f"is outside the grading scale {lo:g}..{hi:g} (per_unit={self.per_unit:g}); declare the "
                         "scale with GradeRule(min_label=..., max_label=...) or fix the label", values=y)
        return raw.astype(np.int32)

    def label_gain(self) -> list[float]:
        """Linear gain of each grade, ``g / per_unit`` (= label - min_label)."""
        if self.max_grade is None:
            raise TagrankInputError("the grade rule is not fitted: call fitted(train_labels) first")
        return [g / float(self.per_unit) for g in range(self.max_grade + 1)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_range(y: np.ndarray, lo: float, hi: float | None, field: str, index: Any, why: str,
                 values: np.ndarray | None = None) -> None:
    """A :class:`LabelError` at the first label below ``lo`` (or above ``hi``), naming its row label."""
    bad = y < lo if hi is None else (y < lo) | (y > hi)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    row = index[i] if index is not None else i
    row = row.item() if isinstance(row, np.generic) else row
    value = (values if values is not None else y)[i]
    raise LabelError(f"{field}[{row!r}] = {float(value):g} {why}")


def _labels(labels: Any, field: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    return check_finite(arr, field).astype(np.float64).ravel()


def grade_labels(labels: Any, per_unit: float = 12.0, min_label: float | None = None) -> np.ndarray:
    """Shortcut: fit the rule on ``labels`` and return their grades."""
    return GradeRule(per_unit=per_unit, min_label=min_label).fitted(labels).grades(labels)
