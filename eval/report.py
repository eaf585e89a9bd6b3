"""Render the benchmark results files as documentation.

``tagrank report`` turns the results files that ``tagrank bench`` writes under
``benchmarks/results/`` (format: :mod:`eval.results`, performance files under
``perf/``) into

* ``docs/benchmarks.md`` -- every table, generated, never edited by hand;
* ``docs/report.html`` -- one self-contained page (inline CSS, charts embedded
  as base64 PNG) with the same tables plus charts;
* the compact tables between ``<!-- benchmark-tables:start -->`` and
  ``<!-- benchmark-tables:end -->`` in README.md.

Nothing here computes a metric: every number is read from a results file. The
output is a pure function of the files (no clock, no absolute paths beyond the
ones passed in); the PNGs carry no timestamp metadata, so they are byte-stable
as well on the same matplotlib.

The work is split by job: :mod:`eval.report_data` (reading the results folder,
number formats), :mod:`eval.report_tables` (the table model),
:mod:`eval.report_markdown` (markdown and README tables),
:mod:`eval.report_figures` (charts) and :mod:`eval.report_pages` (the HTML
page). This module writes the files and re-exports the public names.
"""

from __future__ import annotations

from pathlib import Path

from tagrank.eval.report_data import (
    DATASET_ORDER,
    HIGHLIGHT_METHOD,
    METHOD_ORDER,
    MISSING,
    PERF_ORDER,
    PRIMARY_MARK,
    TASK_ORDER,
    _load,
    order_methods,
)
from tagrank.eval.report_markdown import (
    README_END,
    README_START,
    _markdown_text,
    _new_readme_text,
    render_markdown,
    update_readme_tables,
)
from tagrank.eval.report_pages import _render_html_text, render_html

__all__ = [
    "README_END",
    "README_START",
    "render_html",
    "render_markdown",
    "update_readme_tables",
    "write_report",
]
# Still importable from here, as before the split (not part of ``*``).
_REEXPORTED = (DATASET_ORDER, HIGHLIGHT_METHOD, METHOD_ORDER, MISSING, PERF_ORDER, PRIMARY_MARK,
               TASK_ORDER, order_methods)


# --------------------------------------------------------------------------- all


def write_report(
    results_dir: str | Path, docs_dir: str | Path, readme: str | Path | None = None
) -> list[Path]:
    """Write ``<docs_dir>/benchmarks.md`` and ``<docs_dir>/report.html`` from ``results_dir``
    and, when ``readme`` is given, refresh its benchmark tables. Everything is rendered
    (and the README markers checked) before any file is written. Returns the paths written.
    """
    res = _load(results_dir)
    docs = Path(docs_dir)
    markdown = _markdown_text(res, results_dir)
    page = _render_html_text(res, results_dir)
    readme_text = None
    if readme is not None:
        link = _relative_link(docs / "benchmarks.md", Path(readme).parent)
        readme_text = _new_readme_text(Path(readme), res, link)
    docs.mkdir(parents=True, exist_ok=True)
    md_path, html_path = docs / "benchmarks.md", docs / "report.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(page, encoding="utf-8")
    written = [md_path, html_path]
    if readme is not None and readme_text is not None:
        with open(readme, "w", encoding="utf-8", newline="") as fh:
            fh.write(readme_text)
        written.append(Path(readme))
    return written


def _relative_link(target: Path, base: Path) -> str:
    import os

    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:  # different drives on Windows
        return target.as_posix()
