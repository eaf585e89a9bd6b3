"""Every code block of README.md and docs/*.md runs verbatim, in order, in a clean folder.

The README's main job (``tagrank bench`` then ``tagrank report`` with defaults) runs here
too; :mod:`tests.test_reproduce` compares that run with the committed results files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import default_runs
from tests.docs_blocks import blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("CONTRIBUTING.md"))]


def test_readme_runs_as_written(readme_run):
    workdir, outputs = readme_run
    assert outputs, "the README has no runnable block"
    # The main job wrote a fresh run folder and rendered it there; nothing else appeared.
    runs = default_runs(workdir)
    assert len(runs) == 1, runs
    named = {p.name for p in (workdir / "runs").iterdir()} - {runs[0].name}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"--out runs/{name}" in readme for name in named), named
    assert (runs[0] / "report" / "report.html").is_file()
    # the copy of the committed tables (as a checkout has) is untouched, and no docs/ appeared
    copy = workdir / "benchmarks" / "results"
    written = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()
                     and (not (ROOT / "benchmarks" / "results" / p.relative_to(copy)).is_file()
                          or p.read_bytes() != (ROOT / "benchmarks" / "results" / p.relative_to(copy)).read_bytes()))
    assert not written, written
    assert sorted(p.name for p in (workdir / "benchmarks").iterdir()) == ["results"]
    assert not (workdir / "docs").exists()


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name != "README.md"], ids=lambda p: p.name)
def test_other_documents_run_as_written(doc, tmp_path):
    from tests.docs_blocks import run_document

    runnable = [b for b in blocks(doc) if b.skip_reason is None and b.lang in ("python", "bash", "sh")]
    if not runnable:
        pytest.skip(f"{doc.name} has no runnable block")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    run_document(doc, tmp_path, Path(sys.executable).parent)


def test_every_skipped_block_says_why():
    for doc in DOCS:
        for block in blocks(doc):
            if block.skip_reason is not None:
                assert block.skip_reason, f"{doc.name}:{block.line}"
