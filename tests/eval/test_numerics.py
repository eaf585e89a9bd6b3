"""``tagrank bench`` pins the AVX2 code paths of the numeric libraries before they load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tagrank.baselines import cpu as cpu_module
from tagrank.eval import console, numerics


@pytest.fixture
def clean_env(monkeypatch):
    for key in numerics.AVX2_ENV:
        monkeypatch.setenv(key, "x")  # recorded, so that what a test sets is undone after it
        monkeypatch.delenv(key)
    return monkeypatch


def test_pins_every_variable_on_an_x86_64_cpu_with_avx2(clean_env):
    clean_env.setattr(cpu_module, "_CPU_FLAGS", frozenset({"avx2", "avx512f"}))
    clean_env.setattr(cpu_module.platform, "machine", lambda: "x86_64")
    env = {"MKL_CBWR": "COMPATIBLE"}  # the user's own choice stays
    chosen = numerics.pin_avx2_numerics(env)
    assert env["MKL_CBWR"] == "COMPATIBLE" and "MKL_CBWR" not in chosen
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert set(chosen) == set(numerics.AVX2_ENV) - {"MKL_CBWR"}


@pytest.mark.parametrize("machine, flags", [("aarch64", {"asimd"}), ("x86_64", {"sse4_2", "avx"})])
def test_nothing_is_pinned_where_there_is_no_avx2_path(clean_env, machine, flags):
    clean_env.setattr(cpu_module, "_CPU_FLAGS", frozenset(flags))
    clean_env.setattr(cpu_module.platform, "machine", lambda: machine)
    env: dict[str, str] = {}
    assert numerics.pin_avx2_numerics(env) == {} and env == {}


def test_console_pins_for_bench_only_and_not_with_native_isa(clean_env):
    clean_env.setattr(cpu_module, "_CPU_FLAGS", frozenset({"avx2"}))
    clean_env.setattr(cpu_module.platform, "machine", lambda: "x86_64")
    seen = []
    clean_env.setattr("tagrank.eval.cli.main", lambda argv: seen.append(
        (argv, os.environ.get("OPENBLAS_CORETYPE"))) or 0)
    console.main(["report", "--results", "x"])
    console.main(["bench", "--native-isa"])
    assert seen == [(["report", "--results", "x"], None), (["bench", "--native-isa"], None)]
    console.main(["bench", "--native", "--dtype", "float32"])  # an abbreviation argparse accepts
    console.main(["bench", "--dtype=auto"])  # bfloat16 on AVX2 code would only be emulated
    console.main(["bench", "--dtype", "bfloat16"])
    console.main(["bench", "--dt", "auto"])  # abbreviations of --dtype too
    console.main(["bench", "--dty=bfloat16"])
    assert [env for _, env in seen] == [None] * 7
    console.main(["--verbose", "bench", "--task", "search", "--dtype", "float32"])
    assert seen[-1] == (["--verbose", "bench", "--task", "search", "--dtype", "float32"], "Haswell")


@pytest.mark.parametrize("dtype", ["float32", "auto"])
def test_the_bench_dtype_reaches_the_transformer(tmp_path, dtype):
    from tagrank.eval.bench import run_bench

    (path,) = run_bench(tasks=["similarity"], datasets=["gensim_wordsim353"], methods=["transformer"],
                        out=tmp_path, cache_dir=None, show_progress=False, dtype=dtype)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["methods"]["transformer"]["params"]["dtype"] == dtype


def test_the_console_module_loads_no_numeric_library():
    # the pin only works if nothing before it has loaded NumPy (whose OpenBLAS reads the variable on load)
    code = ("import sys; import tagrank.eval.console, tagrank.eval.numerics; "
            "print(sorted(m for m in ('numpy', 'scipy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
