"""The committed embedded results are what the code at HEAD produces.

The README's ``tagrank bench`` (run once per session by the ``readme_run`` fixture, on the
embedded default data) is compared file by file with ``benchmarks/results``: identical apart
from timing and environment fields. Floats are compared with ``rel_tol=1e-6``.
The bench pins what it can: the ``tagrank`` command makes OpenBLAS, MKL, oneDNN and torch's
kernels take their AVX2 code paths on every x86-64 CPU (:mod:`tagrank.eval.numerics`; without
it a Xeon with AVX-512 and AMX wrote different numbers from an AVX2 machine in every file),
the transformers run in float32, NumPy's and SciPy's BLAS on one thread, LightGBM on one
thread in deterministic mode, gensim on one worker. Torch keeps its default intra-op threads
(one per core), and a fine-tuned model's last bits follow that count: the committed files were
made on a 2-core machine, as CI's, and a run under ``OMP_NUM_THREADS=1`` moves the fine-tuned
taxonomy tags' F1 by ~0.003 (Dask used to leave that variable behind; see
:func:`tagrank.eval.distributed.local_cluster`). Pinned, the committed files (made on a 2-core
Xeon with AVX-512 and AMX) were compared with the previous ones (an AMD EPYC with AVX2 only):
the search and tagrec files were equal, and the others differed only inside the hybrids'
fitted models and ablation rows, in the fine-tuned taxonomy tags' F1 (by 0.003) and in
transformer_whiten on gensim_wordsim353 (whitening 384 dimensions fitted on ~400 words amplifies
last-bit differences). So this test holds on CI's kind of machine; on another CPU it may fail in
those places.
Any change that moves a number fails here until the results are regenerated with
``tagrank bench --out benchmarks/results`` (and ``tagrank report --results benchmarks/results
--out docs --update-readme``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tagrank.eval import reproduce
from tests.conftest import default_runs

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results"
EMBEDDED = ("sample", "gensim_wordsim353", "gensim_simlex999")
REL_TOL = reproduce.REL_TOL


def _embedded(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.glob("*/*.json"))
            if p.parent.name != "perf" and p.stem.split("-")[0] in EMBEDDED}


@pytest.fixture(scope="module")
def run_dir(readme_run) -> Path:
    workdir, _ = readme_run
    (run,) = default_runs(workdir)
    return run


def test_the_run_wrote_every_committed_embedded_file(run_dir):
    assert sorted(_embedded(run_dir)) == sorted(_embedded(COMMITTED))


@pytest.mark.parametrize("name", sorted(_embedded(COMMITTED)))
def test_embedded_results_reproduce(run_dir, name):
    committed = json.loads((COMMITTED / name).read_text(encoding="utf-8"))
    path = run_dir / name
    assert path.is_file(), f"the bench did not write {name}"
    fresh = json.loads(path.read_text(encoding="utf-8"))
    problems = reproduce.diff_results(committed, fresh, name)
    assert not problems, "results differ from the committed file (regenerate them?):\n" + "\n".join(problems[:40])
    units = COMMITTED / name.replace(".json", ".units.csv.gz")
    if units.is_file():
        a, b = pd.read_csv(units), pd.read_csv(run_dir / units.relative_to(COMMITTED))
        pd.testing.assert_frame_equal(a, b, rtol=REL_TOL, check_exact=False)
