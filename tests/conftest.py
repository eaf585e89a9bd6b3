"""Test-wide settings: no network, no GPU assumptions, no user data directory."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
#: the environment as the session started: documentation subprocesses get this one, not what a
#: library may have left in os.environ since (Dask's nannies leave OMP_NUM_THREADS=1 behind)
SESSION_ENV = dict(os.environ)

import pytest  # noqa: E402

try:  # the property-based suite (tests/properties/): bounded examples so CI stays fast and deterministic
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        # deadline: far above an example's cost (~10-200 ms) so a loaded CI box does not flake, far below a hang
        "ci", max_examples=25, deadline=5000, derandomize=True, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )
    settings.register_profile("dev", max_examples=300, deadline=None, derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` when no CUDA GPU is present (CI never has one)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_user_data_dir(monkeypatch):
    """Tests never read the user's TAGRANK_DATA unless they set it themselves."""
    monkeypatch.delenv("TAGRANK_DATA", raising=False)


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """The README's blocks run verbatim in a clean folder (with the checkout's .venv linked in, as
    after the README's set-up command, and a copy of its committed results); returns (folder, outputs). Shared by the README and the
    reproduction tests so the embedded bench runs once per test session."""
    import sys
    from pathlib import Path

    from tests.docs_blocks import run_document

    root = Path(__file__).resolve().parents[1]
    import shutil

    workdir = tmp_path_factory.mktemp("readme")
    (workdir / ".venv").symlink_to(root / ".venv")
    # a checkout holds the committed tables (`tagrank compare` reads them); a copy, so no block can write there
    shutil.copytree(root / "benchmarks" / "results", workdir / "benchmarks" / "results")
    return workdir, run_document(root / "README.md", workdir, Path(sys.executable).parent)


def default_runs(workdir):
    """The run folders the README's default ``tagrank bench`` wrote (``runs/<timestamp>/``);
    runs the README names itself (``--out runs/myshop``) are not among them."""
    import re

    return sorted(p for p in (workdir / "runs").iterdir() if re.fullmatch(r"\d{8}-\d{6}(-\d+)?", p.name))
