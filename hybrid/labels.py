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
metric. Labels below ``min_label`` (e.g. in a validation frame) get grade 0,
labels above the top grade the top grade.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tagrank.baselines.validation import TagrankInputError, check_finite

#: LightGBM's own ceiling on the number of distinct grades is far higher; this
#: keeps label_gain lists small and catches a wrong ``per_unit`` early.
MAX_GRADES = 256


@dataclass(frozen=True)
class GradeRule:
    """``grade = clip(floor((label - min_label) * per_unit + 0.5), 0, max_grade)``.

    ``min_label`` / ``max_grade`` of ``None`` are learned from the training
    labels by :meth:`fitted` (min label; grade of the max label).
    """

    per_unit: float = 12.0
    min_label: float | None = None
    max_grade: int | None = None

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

    @classmethod
    def coerce(cls, value: Any) -> GradeRule:
        """A rule from a GradeRule, a dict of its fields, a number (``per_unit``) or ``"binary"``."""
        if isinstance(value, GradeRule):
            return value
        if value == "binary":
            return cls(per_unit=1.0, min_label=0.0, max_grade=1)
        if isinstance(value, dict):
            unknown = set(value) - {"per_unit", "min_label", "max_grade"}
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

    def fitted(self, labels: Any) -> GradeRule:
        """The rule with ``min_label`` and ``max_grade`` fixed from training labels."""
        y = _labels(labels, "labels")
        if len(y) == 0:
            raise TagrankInputError("labels are empty: cannot fit a grade rule")
        lo = float(y.min()) if self.min_label is None else float(self.min_label)
        top = self.max_grade
        if top is None:
            top = int(max(self._raw(np.asarray([y.max()]), lo)[0], 0))
        if top >= MAX_GRADES:
            raise TagrankInputError(
                f"labels span {top + 1} grades with per_unit={self.per_unit}; at most {MAX_GRADES} are supported "
                "(lower per_unit)"
            )
        return GradeRule(per_unit=float(self.per_unit), min_label=lo, max_grade=int(top))

    def grades(self, labels: Any) -> np.ndarray:
        """Integer grades (int32) of ``labels``; the rule must be fitted."""
        if self.min_label is None or self.max_grade is None:
            raise TagrankInputError("the grade rule is not fitted: call fitted(train_labels) first")
        y = _labels(labels, "labels")
        return np.clip(self._raw(y, float(self.min_label)), 0, self.max_grade).astype(np.int32)

    def label_gain(self) -> list[float]:
        """Linear gain of each grade, ``g / per_unit`` (= label - min_label)."""
        if self.max_grade is None:
            raise TagrankInputError("the grade rule is not fitted: call fitted(train_labels) first")
        return [g / float(self.per_unit) for g in range(self.max_grade + 1)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(labels: Any, field: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    return check_finite(arr, field).astype(np.float64).ravel()


def grade_labels(labels: Any, per_unit: float = 12.0, min_label: float | None = None) -> np.ndarray:
    """Shortcut: fit the rule on ``labels`` and return their grades."""
    return GradeRule(per_unit=per_unit, min_label=min_label).fitted(labels).grades(labels)
