"""Did a run reproduce a results folder? Field-by-field comparison of results files.

``tagrank compare --results benchmarks/results --run DIR`` checks a fresh ``tagrank bench``
run against the committed tables: every results file of the run is compared with the file
of the same name, apart from the fields that record when, where and how fast it ran
(:data:`VOLATILE`), and so is its per-unit side file. Floats are compared with a relative
tolerance of :data:`REL_TOL`: a changed ranking, split, grid choice or seed moves a mean
metric by far more, while the last bits of a float32 product that follow the CPU's SIMD
width move it by far less (see ``tests/test_reproduce.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError

#: fields that record when, where and how fast a run was, not what it computed
VOLATILE = frozenset({"versions", "command", "created", "fit_s", "score_s", "train_s", "encode_s", "time_s"})
REL_TOL = 1e-6
#: absolute slack for per-unit values only: one pair's float32 cosine carries ~1e-7 of rounding
#: (its last bits follow the CPU's SIMD width), a relative 1e-6 of a score near zero is less
UNIT_ABS_TOL = 1e-6


def diff_results(committed: Any, fresh: Any, where: str = "", rel_tol: float = REL_TOL) -> list[str]:
    """Every difference between two parsed results documents (``where`` prefixes the field paths);
    empty when they agree apart from :data:`VOLATILE` fields and ``*_s`` timings."""
    out: list[str] = []
    _diff(committed, fresh, where, out, rel_tol)
    return out


def _diff(a: Any, b: Any, where: str, out: list[str], rel_tol: float) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in VOLATILE or key.endswith("_s"):
                continue
            if key not in a or key not in b:
                out.append(f"{where}.{key}: only in {'committed' if key in a else 'this run'}")
                continue
            _diff(a[key], b[key], f"{where}.{key}", out, rel_tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{where}[{i}]", out, rel_tol)
    elif _number(a) and _number(b) and (isinstance(a, float) or isinstance(b, float)):
        if not (math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))):
            out.append(f"{where}: committed {a!r} != this run {b!r}")
    elif a != b:
        out.append(f"{where}: committed {a!r} != this run {b!r}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def diff_units(committed: Path, fresh: Path, rel_tol: float = REL_TOL, abs_tol: float = UNIT_ABS_TOL) -> list[str]:
    """Differences between two per-unit side files (``*.units.csv.gz``): rows, columns or values
    (floats equal within ``rel_tol`` or ``abs_tol``)."""
    import numpy as np
    import pandas as pd

    a, b = pd.read_csv(committed), pd.read_csv(fresh)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return [f"{fresh.name}: shape/columns {list(a.columns)} x {len(a)} != {list(b.columns)} x {len(b)}"]
    out = []
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            same = np.isclose(xv, yv, rtol=rel_tol, atol=abs_tol) | (np.isnan(xv) & np.isnan(yv))
        else:
            same = (x.astype(str) == y.astype(str)).to_numpy()
        if not same.all():
            i = int(np.argmin(same))
            out.append(f"{fresh.name}: column {col!r}: {int((~same).sum())} of {len(same)} rows differ "
                       f"(first at row {i}: committed {x.iloc[i]!r} != this run {y.iloc[i]!r})")
    return out


@dataclass
class FileComparison:
    """One results file of a run against the committed one: ``status`` is ``same``, ``differs``
    or ``new`` (no committed file of that name); ``problems`` lists the differences."""

    name: str
    status: str
    problems: list[str] = field(default_factory=list)
    primary: tuple[str, float | None, float | None] | None = None  # (metric, committed, run) of the hybrid


def compare_runs(committed_dir: str | Path, run_dir: str | Path, rel_tol: float = REL_TOL) -> list[FileComparison]:
    """Compare every results file under ``run_dir`` (``<task>/<name>.json`` and its side file) with
    the file of the same name under ``committed_dir``."""
    from tagrank.eval.results import units_path

    committed_dir, run_dir = Path(committed_dir), Path(run_dir)
    for label, path in (("--results", committed_dir), ("--run", run_dir)):
        if not path.is_dir():
            raise TagrankInputError(f"{label} {path}: no such directory")
    files = sorted(p for p in run_dir.glob("*/*.json") if p.parent.name != "perf")
    if not files:
        raise TagrankInputError(f"--run {run_dir}: no results files (<task>/<name>.json) to compare")
    out = []
    for path in files:
        name = path.relative_to(run_dir).as_posix()
        old = committed_dir / name
        fresh_doc = _read(path)
        if not old.is_file():
            out.append(FileComparison(name, "new"))
            continue
        old_doc = _read(old)
        problems = diff_results(old_doc, fresh_doc, name, rel_tol)
        units_old, units_new = units_path(old), units_path(path)
        if units_old.is_file() and units_new.is_file():
            problems += diff_units(units_old, units_new, rel_tol)
        elif units_old.is_file() != units_new.is_file():
            problems.append(f"{units_new.name}: only in {'committed' if units_old.is_file() else 'this run'}")
        out.append(FileComparison(name, "differs" if problems else "same", problems, _primary(old_doc, fresh_doc)))
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TagrankInputError(f"{path}: not a readable results file ({exc})") from exc
    if not isinstance(doc, dict):
        raise TagrankInputError(f"{path}: a results file holds a JSON object, got {type(doc).__name__}")
    return doc


def _primary(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, float | None, float | None] | None:
    """(primary metric, committed hybrid value, this run's) where both files have a hybrid row."""
    metric = new.get("primary_metric")

    def value(doc: dict[str, Any]) -> float | None:
        row = (doc.get("methods") or {}).get("hybrid") or {}
        v = (row.get("metrics") or {}).get(metric)
        return float(v) if _number(v) else None

    return (str(metric), value(old), value(new)) if metric else None


def format_comparison(rows: list[FileComparison], max_problems: int = 10) -> str:
    """Plain-text summary: one line per file, then its first differences."""
    lines = []
    for r in rows:
        head = f"{r.status:8s} {r.name}"
        if r.status == "differs" and r.primary and r.primary[1] is not None and r.primary[2] is not None:
            head += f"  (hybrid {r.primary[0]}: committed {r.primary[1]:.4f}, this run {r.primary[2]:.4f})"
        lines.append(head)
        lines += [f"    {p}" for p in r.problems[:max_problems]]
        if len(r.problems) > max_problems:
            lines.append(f"    ... and {len(r.problems) - max_problems} more")
    same = sum(r.status == "same" for r in rows)
    lines.append(f"{same} of {len(rows)} files reproduce the committed ones")
    return "\n".join(lines)


__all__ = ["REL_TOL", "UNIT_ABS_TOL", "VOLATILE", "FileComparison", "compare_runs", "diff_results", "diff_units", "format_comparison"]
