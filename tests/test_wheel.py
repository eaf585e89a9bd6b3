"""The built wheel installs everything under ``tagrank``: no top-level eval/hybrid/baselines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the source tree, so no build/ folder is left in the checkout.
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", ".tagrank_cache", "build", "dist", "*.egg-info", "__pycache__", "benchmarks", "docs"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (path,) = out.glob("tagrank-*.whl")
    return path


def test_wheel_has_only_the_tagrank_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"tagrank"}
    for module in ("tagrank/baselines/bm25.py", "tagrank/hybrid/ranker.py", "tagrank/eval/cli.py",
                   "tagrank/eval/tasks/search.py", "tagrank/data/sample/items.csv"):
        assert module in names


def test_installed_wheel_imports_as_tagrank_only(wheel, tmp_path):
    """Install into a clean target and import from outside the checkout: tagrank.* resolves
    to the installed copy and no top-level eval / hybrid / baselines module exists."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import importlib.util, json, tagrank, tagrank.hybrid.ranker as r, tagrank.eval.cli as c;"
        "print(json.dumps({'tops': [importlib.util.find_spec(n) is not None for n in ('eval', 'hybrid', 'baselines')],"
        "'ranker': r.__file__, 'version': tagrank.__version__}))"
    )
    import json
    import os

    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["tops"] == [False, False, False]
    assert info["ranker"].startswith(str(target))
