"""The ``tagrank`` CLI end to end on the embedded default data (fast methods only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagrank.eval.cli import main
from tagrank.eval.results import find_results, read_results


def test_bench_then_report_on_embedded_data(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["bench", "--task", "recommend", "--method", "popularity", "--out", str(out), "--no-progress"])
    assert code == 0
    files = find_results(out)
    assert [p.relative_to(out).as_posix() for p in files] == ["recommend/sample-random.json", "recommend/sample.json"]
    doc = read_results(out / "recommend" / "sample.json")
    assert doc["primary_metric"] == "recall@10"
    assert doc["methods"]["popularity"]["device"] == "cpu"
    assert doc["command"].startswith("tagrank bench") or "bench" in doc["command"]
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmark-tables:start -->\n<!-- benchmark-tables:end -->\nrest\n")
    assert main(["report", "--results", str(out), "--out", str(tmp_path / "docs"), "--update-readme", str(readme)]) == 0
    assert (tmp_path / "docs" / "benchmarks.md").read_text().count("popularity") >= 1
    assert "popularity" in readme.read_text() and readme.read_text().endswith("rest\n")


def test_bench_is_deterministic(tmp_path):
    for name in ("a", "b"):
        main(["bench", "--task", "recommend", "--method", "popularity", "--out", str(tmp_path / name), "--no-progress"])
    a = read_results(tmp_path / "a" / "recommend" / "sample.json")["methods"]
    b = read_results(tmp_path / "b" / "recommend" / "sample.json")["methods"]
    assert a["popularity"]["metrics"] == b["popularity"]["metrics"]
    assert a["popularity"]["ci95"] == b["popularity"]["ci95"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--dataset", "homedepot"], "--data-dir"),
        (["bench", "--task", "nope"], "unknown task"),
        (["bench", "--method", "nope", "--task", "recommend"], "unknown method"),
        (["bench", "--data-dir", "/no/such/dir"], "no such directory"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cuda_without_gpu_is_a_clear_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["bench", "--device", "cuda", "--task", "recommend"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_data_lists_embedded_and_missing_datasets(tmp_path, capsys):
    assert main(["data", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "sample" in text and "homedepot" in text


def test_defaults_write_a_fresh_run_folder_and_render_it_there(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--task", "recommend", "--method", "popularity", "--no-progress"]) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "recommend" / "sample.json").is_file()
    assert f"results in {Path('runs') / runs[0].name}" in capsys.readouterr().out
    assert main(["report"]) == 0
    assert (runs[0] / "report" / "benchmarks.md").is_file() and (runs[0] / "report" / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing else written


def test_newest_run_is_the_one_written_last_not_the_last_name(tmp_path):
    import os

    from tagrank.eval.cli import latest_run_dir

    for name, mtime in (("20261204-073946", 2_000), ("myshop", 1_000), ("empty", 3_000)):
        (tmp_path / name / "search").mkdir(parents=True)
        if name != "empty":
            f = tmp_path / name / "search" / "x.json"
            f.write_text("{}")
            os.utime(f, (mtime, mtime))
    assert latest_run_dir(tmp_path).name == "20261204-073946"
    os.utime(tmp_path / "myshop" / "search" / "x.json", (5_000, 5_000))
    assert latest_run_dir(tmp_path).name == "myshop"


def test_report_without_a_run_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert "run `tagrank bench` first" in capsys.readouterr().err


def test_version_and_plain_help(capsys):
    import tagrank

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"tagrank {tagrank.__version__}"
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":mod:" not in text
    for word in ("similarity", "gensim_wordsim353", "homedepot", "bm25", "hybrid", "default: auto"):
        assert word in text


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_data_dir_that_is_not_a_directory_fails(tmp_path, capsys, kind):
    path = tmp_path / "nope"
    if kind == "file":
        path.write_text("x")
    assert main(["data", "--data-dir", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and ("no such directory" in err or "is a file" in err)


def test_model_loading_bars_only_with_verbose(tmp_path):
    """transformers' "Loading weights" bars are silenced unless --verbose (a fresh process each:
    the setting is read when transformers is imported)."""
    import os
    import subprocess
    import sys

    def run(verbose: bool) -> str:
        code = ("import sys; from tagrank.eval import cli; "
                f"args = cli.build_parser(False).parse_args({['--verbose'] if verbose else []!r} + ['data']); "
                "args.verbose or cli.quiet_libraries(); "
                "from tagrank import TransformerEncoder; TransformerEncoder(device='cpu').encode(['a tag'])")
        # a clean environment: an earlier in-process main() set the quiet variables in this one
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS")}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    assert "Loading weights" not in run(False)
    assert "Loading weights" in run(True)
