"""``tagrank compare``: does a run reproduce a results folder? On copies of committed files, changed by hand."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.cli import main
from tagrank.eval.reproduce import compare_runs, diff_results

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "results"
NAME = "recommend/sample.json"


@pytest.fixture
def dirs(tmp_path):
    """(reference folder, run folder), each holding a copy of one committed file and its side file."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    for root in (ref, run):
        (root / "recommend").mkdir(parents=True)
        for f in ("sample.json", "sample.units.csv.gz"):
            shutil.copy(COMMITTED / "recommend" / f, root / "recommend" / f)
    return ref, run


def _edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    fn(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_identical_copies_reproduce(dirs, capsys):
    ref, run = dirs
    (row,) = compare_runs(ref, run)
    assert (row.name, row.status, row.problems) == (NAME, "same", [])
    assert main(["compare", "--results", str(ref), "--run", str(run)]) == 0
    assert "1 of 1 files reproduce" in capsys.readouterr().out


def test_timings_versions_and_dates_are_not_compared(dirs):
    ref, run = dirs

    def volatile(doc):
        doc["created"] = "2000-01-01T00:00:00+00:00"
        doc["versions"]["torch"] = "0.0"
        doc["command"] = "something else"
        for row in doc["methods"].values():
            row["fit_s"] = row["fit_s"] + 100.0
    _edit(run / NAME, volatile)
    assert compare_runs(ref, run)[0].status == "same"


def test_a_changed_metric_is_named_with_both_values(dirs, capsys):
    ref, run = dirs
    old = json.loads((ref / NAME).read_text())["methods"]["hybrid"]["metrics"]["recall@10"]

    def change(doc):
        doc["methods"]["hybrid"]["metrics"]["recall@10"] = old + 0.01
    _edit(run / NAME, change)
    (row,) = compare_runs(ref, run)
    assert row.status == "differs"
    assert any(p.startswith(f"{NAME}.methods.hybrid.metrics.recall@10: committed {old!r}") for p in row.problems)
    assert row.primary == ("recall@10", old, old + 0.01)
    assert main(["compare", "--results", str(ref), "--run", str(run)]) == 1
    out = capsys.readouterr().out
    assert f"differs  {NAME}" in out and "0 of 1 files reproduce" in out


def test_float_noise_below_the_tolerance_is_equal_and_above_is_not():
    a = {"m": {"x": 0.5, "n": 3, "flag": True}}
    assert diff_results(a, {"m": {"x": 0.5 * (1 + 1e-9), "n": 3, "flag": True}}) == []
    assert diff_results(a, {"m": {"x": 0.5 * (1 + 1e-5), "n": 3, "flag": True}}) != []
    assert diff_results(a, {"m": {"x": 0.5, "n": 3, "flag": False}}) == [".m.flag: committed True != this run False"]
    assert diff_results(a, {"m": {"x": 0.5, "n": 3}}) == [".m.flag: only in committed"]
    assert diff_results({"v": [1, 2]}, {"v": [1, 2, 3]}) == [".v: length 2 != 3"]


def test_a_changed_per_unit_value_is_found(dirs):
    ref, run = dirs
    units = run / "recommend" / "sample.units.csv.gz"
    lines = gzip.decompress(units.read_bytes()).decode().splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    col = header.index("value")
    first[col] = str(float(first[col]) + 0.5)
    second = lines[2].split(",")
    second[col] = str(float(second[col]) + 5e-7)  # float32 rounding of one pair's score: not a difference
    lines[2] = ",".join(second)
    lines[1] = ",".join(first)
    units.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (row,) = compare_runs(ref, run)
    assert row.status == "differs"
    assert any("sample.units.csv.gz: column 'value': 1 of" in p and "first at row 0" in p for p in row.problems)


def test_a_file_without_a_committed_twin_is_new_not_a_failure(dirs, capsys):
    ref, run = dirs
    (ref / NAME).unlink()
    assert compare_runs(ref, run)[0].status == "new"
    assert main(["compare", "--results", str(ref), "--run", str(run)]) == 0


@pytest.mark.parametrize("what", ["missing results", "missing run", "empty run", "bad json"])
def test_bad_folders_are_named(dirs, tmp_path, what):
    ref, run = dirs
    if what == "missing results":
        ref = tmp_path / "nope"
        match = "--results .*nope: no such directory"
    elif what == "missing run":
        run = tmp_path / "nope"
        match = "--run .*nope: no such directory"
    elif what == "empty run":
        run = tmp_path / "empty"
        run.mkdir()
        match = "no results files"
    else:
        (run / NAME).write_text("{not json")
        match = "sample.json: not a readable results file"
    with pytest.raises(TagrankInputError, match=match):
        compare_runs(ref, run)


def test_the_cli_reports_a_bad_folder_without_a_traceback(tmp_path, capsys):
    assert main(["compare", "--results", str(tmp_path / "nope"), "--run", str(tmp_path)]) == 2
    assert "tagrank compare: error: --results" in capsys.readouterr().err
