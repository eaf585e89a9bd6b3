"""The committed results rendered by ``write_report`` load in a real browser: every chart decodes, the
console stays clean. Drives the system's chromium headlessly through playwright (never ``playwright
install``); skips, saying why, where either is missing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tagrank.eval.report import write_report

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).is_file()), None)


@pytest.fixture(scope="module")
def page_report(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    if CHROMIUM is None:
        pytest.skip("no chromium binary on this machine (Debian: apt-get install chromium)")
    if not any(RESULTS.rglob("*.json")):
        pytest.skip("no committed results files under benchmarks/results")
    docs = tmp_path_factory.mktemp("docs")
    write_report(RESULTS, docs)
    html_path = docs / "report.html"
    console, failed = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: failed.append(r.url[:120]))
            page.goto(html_path.as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth}))")
            text = page.inner_text("body")
            n_tables = page.evaluate("document.querySelectorAll('table').length")
        finally:
            browser.close()
    return {"html": html_path.read_text(encoding="utf-8"), "images": images, "console": console,
            "failed": failed, "text": text, "n_tables": n_tables}


def test_every_chart_loads(page_report):
    images = page_report["images"]
    assert images, "the report has no chart"
    broken = [i["alt"] for i in images if not i["complete"] or i["w"] <= 0]
    assert not broken, f"charts that did not decode: {broken}"
    assert not page_report["failed"], f"requests that failed: {page_report['failed']}"


def test_console_has_no_error(page_report):
    assert page_report["console"] == []


def test_page_carries_no_machine_path(page_report):
    html = page_report["html"]
    for root in {str(ROOT), str(Path.home()), str(Path.cwd())} - {"/"}:
        assert root + "/" not in html
    assert not re.search(r"(?<![\w.:/~-])/(home|root|work|tmp|usr|opt)/", page_report["text"])


def test_tables_render(page_report):
    assert page_report["n_tables"] >= 10
