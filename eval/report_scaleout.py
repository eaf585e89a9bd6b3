"""Markdown for ``perf/scaleout.json`` beyond the generic performance tables: equality checks and sizing.

:func:`scaleout_markdown` renders the file's ``equality`` checks (distributed vs
single-machine results) and its ``sizing`` table (workers for a nightly run within
one hour and memory per worker, from the measured per-worker throughput). The
report appends it under the ``scaleout`` performance section.
"""

from __future__ import annotations

from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def equality_table(doc: dict[str, Any]) -> list[str]:
    """Rows ``check | value`` of the file's equality checks (empty when there are none)."""
    checks = doc.get("equality")
    if not isinstance(checks, dict) or not checks:
        return []
    lines = ["| equality check (distributed vs single machine) | value |", "|---|---:|"]
    lines += [f"| {_cell(name)} | {_cell(value)} |" for name, value in checks.items()]
    return lines


def sizing_table(doc: dict[str, Any]) -> list[str]:
    """Rows ``job | workers for 1 hour | memory per worker | measured rate per worker``."""
    rows = doc.get("sizing")
    if not isinstance(rows, list) or not rows:
        return []
    lines = ["| nightly job | workers (1 thread each) for 1 hour | memory per worker (MB) | measured per worker |",
             "|---|---:|---:|---:|"]
    for row in rows:
        if isinstance(row, dict):
            lines.append(f"| {_cell(row.get('job', ''))} | {_cell(row.get('workers_1h', ''))} | "
                         f"{_cell(row.get('memory_per_worker_mb', ''))} | {_cell(row.get('per_worker_rate', ''))} |")
    return lines


def scaleout_markdown(doc: dict[str, Any]) -> str:
    """The equality checks and the sizing table of a ``scaleout`` performance file, as Markdown."""
    out: list[str] = []
    eq = equality_table(doc)
    if eq:
        out += ["**Equality checks**:", "", *eq, ""]
    size = sizing_table(doc)
    if size:
        out += ["**Sizing** (from the measured throughput of one single-threaded worker; linear scaling "
                "assumed, as measured from 1 to 2 workers):", "", *size, ""]
    return "\n".join(out)


__all__ = ["equality_table", "scaleout_markdown", "sizing_table"]
