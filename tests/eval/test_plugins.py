"""Methods as plugins: the registry reads the ``tagrank.methods`` entry points, built-in and third-party alike."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

import tagrank.eval.methods as registry
from tagrank.eval.methods import ENTRY_POINT_GROUP, MethodPluginError, methods_for

TOY = metadata.EntryPoint(name="toy", value="tests.eval.toy_method:methods", group=ENTRY_POINT_GROUP)


@pytest.fixture
def fresh_registry(monkeypatch):
    """The registry as a new process would load it, with ``entry_points`` replaceable; restored after."""
    registry.load_methods()  # the built-ins land in the real registry first, so restoring keeps them
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    monkeypatch.setattr(registry, "_LOADED", False)

    def use(extra=(), keep_installed=True):
        real = metadata.entry_points

        def entry_points(**kwargs):
            found = list(real(**kwargs)) if keep_installed else []
            return found + list(extra) if kwargs.get("group") == ENTRY_POINT_GROUP else real(**kwargs)

        monkeypatch.setattr(metadata, "entry_points", entry_points)

    return use


def test_builtin_methods_come_from_the_installed_entry_points():
    names = {ep.value for ep in registry.method_entry_points()}
    assert "tagrank.eval.builtin_methods" in names, (
        "the installed metadata lacks tagrank's entry points: run pip install --no-deps -e .")
    assert [s.name for s in methods_for("recommend")][:1] == ["popularity"]


def test_registry_module_names_no_method_module():
    import inspect

    source = inspect.getsource(registry)
    for module in ("builtin_methods", "hybrid_methods", "taxonomy_methods", "finetune_methods",
                   "transformer_methods"):
        assert module not in source


def test_a_third_party_method_reaches_the_bench_table(fresh_registry, tmp_path):
    from tagrank.eval.bench import run_bench
    from tagrank.eval.report import render_markdown

    fresh_registry([TOY])
    assert "toy_recent" in [s.name for s in methods_for("recommend")]
    out = tmp_path / "results"
    paths = run_bench(tasks=["recommend"], datasets=["sample"], methods=["popularity", "toy_recent"],
                      out=out, cache_dir=None, show_progress=False)
    main_file = out / "recommend" / "sample.json"
    assert main_file in paths
    doc = json.loads(main_file.read_text(encoding="utf-8"))
    assert set(doc["methods"]) == {"popularity", "toy_recent"}
    toy = doc["methods"]["toy_recent"]
    assert 0.0 <= toy["metrics"]["recall@10"] <= 1.0
    assert toy["params"]["selected.half_life_days"] in (30.0, 365.0)
    table_rows = [line for line in render_markdown(out).splitlines() if line.startswith("| toy_recent ")]
    assert table_rows, "the plugin's method has no row in the rendered table"


def test_stale_metadata_says_to_reinstall(fresh_registry):
    fresh_registry([TOY], keep_installed=False)
    with pytest.raises(MethodPluginError, match="reinstall"):
        methods_for("recommend")


def test_a_broken_plugin_is_named(fresh_registry):
    fresh_registry([metadata.EntryPoint(name="broken", value="tests.eval.no_such_module", group=ENTRY_POINT_GROUP)])
    with pytest.raises(MethodPluginError, match="'broken'.*no_such_module"):
        methods_for("recommend")
