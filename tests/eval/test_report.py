"""tagrank.eval.report: markdown, HTML and README tables rendered from spec-valid results files."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.report import (
    README_END,
    README_START,
    render_html,
    render_markdown,
    update_readme_tables,
    write_report,
)
from tagrank.eval.results import MethodResult, build_results, write_results

VERSIONS = {"tagrank": "0.1.0", "torch": "2.3.1", "transformers": "", "lightgbm": "4.3.0"}


def _method(primary, value, ci=True, others=None, extra=None, device="cpu", fit_s=1.5):
    metrics = {primary: value, **(others or {})}
    ci95 = {primary: [round(value - 0.011, 4), round(value + 0.011, 4)]} if ci else {}
    return MethodResult(metrics=metrics, ci95=ci95, fit_s=fit_s, score_s=0.25, device=device,
                        params={"seed": 0}, extra=extra or {})


def _write(doc, out, command):
    doc["command"] = command
    doc["created"] = "2026-05-09T07:00:00+00:00"
    doc["versions"] = dict(VERSIONS)
    return write_results(doc, out)


def make_results(root: Path) -> Path:
    """Three task files (one with ablation, notes, curves, extras), one unknown task, one perf."""
    # search/homedepot-rerank: methods deliberately in a scrambled file order.
    methods = {
        "hybrid": _method("ndcg@10", 0.9351, others={"map": 0.71, "mrr": 0.80}),
        "bm25": _method("ndcg@10", 0.9213, others={"map": 0.69, "mrr": 0.78}),
        "random": _method("ndcg@10", 0.9101, ci=False, others={"map": 0.61}),
        "transformer": _method("ndcg@10", 0.9287, others={"map": 0.70, "mrr": 0.79},
                               device="cuda"),
        "tfidf": _method("ndcg@10", 0.9190, others={"map": 0.68, "mrr": 0.77}),
        "zz_custom": _method("ndcg@10", 0.9000, others={"mrr": 0.70}),
    }
    doc = build_results(
        "search", "homedepot", "rerank", "ndcg@10",
        {"unit": "query", "train": 8000, "valid": 1100, "test": 2300, "excluded": 412},
        methods,
        {"metric": "ndcg@10", "best_single": "transformer", "delta": 0.0058, "p_value": 0.0031,
         "test": "paired t-test"},
        extra={"ablation": {"all": {"ndcg@10": 0.9351}, "-transformer": {"ndcg@10": 0.9251},
                            "-bm25": {"metrics": {"ndcg@10": 0.9330, "delta ndcg@10": -0.0021,
                                                 "p_value": 0.00004}}},
               "notes": "Queries whose judged products share one label are excluded.",
               "comparisons": {"transformer_ft_vs_transformer": {
                   "metric": "ndcg@10", "a": "transformer_ft", "b": "transformer", "delta": 0.0123,
                   "p_value": 0.0004, "test": "paired t-test"}}},
    )
    _write(doc, root, "tagrank bench search --dataset homedepot --setting rerank")

    # similarity/stsb_en: a curve for transformer_ft, a top-level extra, a negative value.
    methods = {
        "transformer_ft": _method("spearman", 0.842, others={"pearson": 0.851}, extra={
            "curve": [{"step": 0, "loss": 1.2}, {"step": 100, "loss": 0.6},
                      {"step": 200, "loss": 0.4}]}),
        "jaccard": _method("spearman", -0.05, others={"pearson": 0.02}),
        "transformer_cls": _method("spearman", 0.21, others={"pearson": 0.25}),
        "word2vec": _method("spearman", 0.40, extra={"oov_rate": 0.12}),
        "hybrid": _method("spearman", 0.861, others={"pearson": 0.866}),
    }
    doc = build_results(
        "similarity", "stsb_en", None, "spearman",
        {"unit": "pair", "train": 5749, "valid": 1500, "test": 1379},
        methods,
        {"metric": "spearman", "best_single": "transformer_ft", "delta": 0.019,
         "p_value": 0.00002, "test": "paired bootstrap"},
        extra={"cls_cosine_spread": 0.031},
    )
    _write(doc, root, "tagrank bench similarity --dataset stsb_en")

    # recommend/movielens: no hybrid_vs_best, a metric some methods lack.
    methods = {
        "als": _method("recall@10", 0.105, others={"ndcg@10": 0.09, "coverage@10": 0.2}),
        "popularity": _method("recall@10", 0.071, others={"ndcg@10": 0.06}),
    }
    doc = build_results("recommend", "movielens", None, "recall@10",
                        {"unit": "user", "train": 600, "valid": 0, "test": 600},
                        methods, None)
    _write(doc, root, "tagrank bench recommend --dataset movielens")

    # an unknown task sorts after the fixed ones
    doc = build_results("aaa_custom", "toy", None, "acc", {"unit": "x", "train": 1, "valid": 1,
                        "test": 1}, {"tfidf": _method("acc", 0.5)}, None)
    _write(doc, root, "tagrank bench aaa_custom")

    perf = {
        "device": "cpu", "n": 43500, "versions": VERSIONS,
        "command": "tagrank bench perf encode", "created": "2026-05-09T08:00:00+00:00",
        "figures": {"tagrank": {"sentences_per_s": 2345.6, "peak_mb": 812.0},
                    "sentence_transformers": {"sentences_per_s": 1500.2, "peak_mb": 1020.5}},
        "ratios": {"sentences_per_s_vs_sentence_transformers": 1.5635,
                   "peak_mb_vs_sentence_transformers": 1.2568},
        "goals": {"sentences_per_s_vs_sentence_transformers": 2.0},
        "batch_size": 64,
    }
    (root / "perf").mkdir(parents=True, exist_ok=True)
    (root / "perf" / "encode.json").write_text(json.dumps(perf, indent=2), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def markdown(results) -> str:
    return render_markdown(results)


@pytest.fixture(scope="module")
def html_text(results, tmp_path_factory) -> str:
    out = render_html(results, tmp_path_factory.mktemp("docs") / "report.html")
    return out.read_text(encoding="utf-8")


def _tables(md: str) -> list[list[str]]:
    tables, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _section(md: str, heading: str) -> str:
    start = md.index(f"### {heading}\n")
    nxt = md.find("\n### ", start + 1)
    nxt2 = md.find("\n## ", start + 1)
    ends = [e for e in (nxt, nxt2) if e != -1]
    return md[start: min(ends) if ends else len(md)]


def test_markdown_header_and_one_table_per_file(markdown):
    assert markdown.startswith("# Benchmarks\n")
    assert "generated by `tagrank report`" in markdown
    assert "never edit it by hand" in markdown
    method_tables = [t for t in _tables(markdown) if t[0].startswith("| method |") and "fit s" in t[0]]
    assert len(method_tables) == 4
    # task order: fixed tasks first, unknown after, then performance
    order = [markdown.index(f"## {t}\n") for t in
             ("similarity", "search", "recommend", "aaa_custom", "Performance")]
    assert order == sorted(order)


def test_markdown_methods_in_fixed_order_and_columns(markdown):
    sec = _section(markdown, "homedepot · rerank")
    table = _tables(sec)[0]
    names = [row.split("|")[1].strip() for row in table[2:]]
    assert names == ["random", "tfidf", "bm25", "transformer", "hybrid", "zz_custom"]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["method", "ndcg@10 ★", "map", "mrr", "fit s", "score s", "device"]
    sim = _tables(_section(markdown, "stsb_en"))[0]
    names = [row.split("|")[1].strip() for row in sim[2:]]
    assert names == ["jaccard", "word2vec", "transformer_cls", "transformer_ft", "hybrid"]


def test_markdown_cells_best_bold_intervals_missing(markdown):
    sec = _section(markdown, "homedepot · rerank")
    assert "| hybrid | **0.935** [0.924, 0.946] | 0.710 | 0.800 | 1.50 | 0.25 | cpu |" in sec
    assert "| random | 0.910 | 0.610 | – |" in sec  # no interval, missing mrr
    assert sec.count("**0.") == 1
    assert "| transformer | 0.929 [0.918, 0.940] |" in sec and "| cuda |" in sec
    sim = _section(markdown, "stsb_en")
    assert "**0.861** [0.850, 0.872]" in sim
    assert "| jaccard | -0.050 [-0.061, -0.039] | 0.020 |" in sim


def test_markdown_lines_under_table(markdown):
    sec = _section(markdown, "homedepot · rerank")
    assert "(unit: query): train 8,000 · valid 1,100 · test 2,300 · excluded 412." in sec
    assert ("**hybrid vs best single** (best single method: transformer) on ndcg@10: "
            "Δ = +0.006, p = 0.003 (paired t-test).") in sec
    assert "Produced by `tagrank bench search --dataset homedepot --setting rerank` on " \
           "2026-05-09T07:00:00+00:00." in sec
    assert "<sub>Versions: tagrank 0.1.0 · torch 2.3.1 · lightgbm 4.3.0</sub>" in sec
    assert sec.count("Versions:") == 1
    assert "Queries whose judged products share one label are excluded." in sec
    assert "**transformer_ft vs transformer** on ndcg@10: Δ = +0.012, p = 4.0e-04 (paired t-test)." in sec
    # ablation as a small table
    abl = [t for t in _tables(sec) if t[0].startswith("| feature group")]
    assert len(abl) == 1 and "| -transformer | 0.925 | – | – |" in abl[0]
    assert "| -bm25 | 0.933 | -0.002 | 4.0e-05 |" in abl[0]
    sim = _section(markdown, "stsb_en")
    assert "p = 2.0e-05" in sim
    assert "cls_cosine_spread = 0.031" in sim
    figures = [t for t in _tables(sim) if t[0].startswith("| method | figure | value |")]
    assert len(figures) == 1 and "| word2vec | `oov_rate` | 0.12 |" in figures[0]  # a table, not a text wall
    assert "curve" not in sim  # list-of-records extras are plotted in HTML only
    rec = _section(markdown, "movielens")
    assert "hybrid vs best" not in rec


def test_markdown_performance(markdown):
    perf = markdown[markdown.index("## Performance"):]
    tables = _tables(perf)
    assert tables[0][0] == "| implementation | sentences_per_s | peak_mb |"
    assert "| tagrank | 2346 | 812 |" in tables[0]
    assert "| sentences_per_s_vs_sentence_transformers | 1.56× | 2.00× | no |" in tables[1]
    assert "device: cpu · n: 43,500 · batch_size: 64" in perf
    assert "`tagrank bench perf encode`" in perf


def test_markdown_is_deterministic(results, markdown):
    assert render_markdown(results) == markdown


def test_html_self_contained_with_charts(html_text, results, tmp_path):
    assert html_text.startswith("<!DOCTYPE html>")
    assert "<style>" in html_text and "<link" not in html_text and "<script" not in html_text
    imgs = re.findall(r'<img class="chart" src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                      html_text)
    # 4 primary charts + 1 curve + 1 ratio chart
    assert len(imgs) == 6
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    assert "<b>0.935</b>" in html_text and "[0.924, 0.946]" in html_text
    assert "tagrank bench search --dataset homedepot --setting rerank" in html_text
    assert "Parameters per method" in html_text
    again = render_html(results, tmp_path / "again.html").read_text(encoding="utf-8")
    assert again == html_text  # PNGs carry no timestamp


def test_readme_markers_replaced_rest_untouched(results, tmp_path):
    before, after = "# tagrank\n\nIntro text.\n\n", "\n\n## License\n\nApache-2.0\n"
    readme = tmp_path / "README.md"
    readme.write_text(before + README_START + "\nold table\n" + README_END + after,
                      encoding="utf-8")
    assert update_readme_tables(readme, results) == readme
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(before + README_START) and text.endswith(README_END + after)
    assert "old table" not in text
    block = text[text.index(README_START):text.index(README_END)]
    assert "**similarity**" in block and "**search**" in block
    assert "| method | homedepot · rerank (ndcg@10) |" in block
    assert "| hybrid | **0.935** [0.924, 0.946] |" in block
    assert "| method | movielens (recall@10) |" in block
    update_readme_tables(readme, results)
    assert readme.read_text(encoding="utf-8") == text  # idempotent


def test_readme_missing_markers(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# tagrank\n" + README_START + "\n", encoding="utf-8")
    with pytest.raises(TagrankInputError, match="benchmark-tables:end"):
        update_readme_tables(readme, results)
    assert readme.read_text(encoding="utf-8") == "# tagrank\n" + README_START + "\n"


def test_empty_results_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(TagrankInputError, match="tagrank bench"):
            render_markdown(target)
        with pytest.raises(TagrankInputError, match="tagrank bench"):
            write_report(target, tmp_path / "docs")
    assert not (tmp_path / "docs").exists()


def test_write_report(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{README_START}\n{README_END}\ny\n", encoding="utf-8")
    paths = write_report(results, tmp_path / "docs", readme=readme)
    assert paths == [tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "report.html",
                     readme]
    assert all(p.is_file() for p in paths)
    assert "[docs/benchmarks.md](docs/benchmarks.md)" in readme.read_text(encoding="utf-8")
    # a README without markers fails before anything is written
    bad = tmp_path / "BAD.md"
    bad.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(TagrankInputError, match="not found"):
        write_report(results, tmp_path / "docs2", readme=bad)
    assert not (tmp_path / "docs2").exists()


# ---------------------------------------------------------------------------- polish (issue 15)
def _ablation_doc(root: Path) -> Path:
    """A hybrid whose ablation has an identical variant, a variant with no value, an explicit not-run."""
    full = {"metrics": {"spearman": 0.7}, "ci95": {"spearman": [0.6, 0.8]}}
    methods = {"tfidf": _method("spearman", 0.5, extra={"finetuned_dir": "/home/someone/.tagrank_cache/finetuned/x",
                                                         "model": "/opt/venv/lib/python3.11/site-packages/m/model"}),
               "hybrid": _method("spearman", 0.7)}
    doc = build_results(
        "similarity", "toy", None, "spearman", {"unit": "pair", "train": 10, "valid": 5, "test": 5}, methods,
        None, extra={"ablation": {
            "all": full,
            "-tfidf": {"metrics": {"spearman": 0.7, "delta spearman": 0.0, "p_value": 1.0},
                       "ci95": {"spearman": [0.6, 0.8]}},
            "-word2vec": {"metrics": {"spearman": 0.65, "delta spearman": -0.05, "p_value": 0.04},
                          "ci95": {"spearman": [0.55, 0.75]}},
            "25% of training rows": {"metrics": {"spearman": None, "delta spearman": None, "p_value": None},
                                     "ci95": {}, "note": "spearman undefined (constant predictions)"},
            "-usage prior": {"metrics": {}, "run": False},
        }})
    _write(doc, root, "tagrank bench --data-dir /home/someone/data --task similarity --out /home/someone/out")
    return root


def test_ablation_rows_not_run_and_unchanged_say_so(tmp_path):
    text = render_markdown(_ablation_doc(tmp_path / "results"))
    abl = [t for t in _tables(text) if t[0].startswith("| feature group")][0]
    assert "| -tfidf | 0.700 [0.600, 0.800] | ±0 | not run (identical scores) |" in abl
    assert "| -word2vec | 0.650 [0.550, 0.750] | -0.050 | 0.040 |" in abl
    assert "| 25% of training rows | n/a (spearman undefined (constant predictions)) |  |  |" in abl
    assert "| -usage prior | not run |  |  |" in abl
    assert "1.000" not in "".join(abl)


def test_no_row_is_all_missing(tmp_path):
    text = render_markdown(_ablation_doc(tmp_path / "results"))
    for table in _tables(text):
        for row in table[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")][1:]
            assert any(c not in ("–", "") for c in cells), row


def test_no_machine_path_in_docs(tmp_path):
    results = _ablation_doc(tmp_path / "results")
    paths = write_report(results, tmp_path / "docs")
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert "/home/someone" not in text and "/opt/venv" not in text and str(tmp_path) not in text
    md = paths[0].read_text(encoding="utf-8")
    assert "`tagrank bench --data-dir …/data --task similarity --out …/out`" in md
    assert "`.tagrank_cache/finetuned/x`" not in md and ".tagrank_cache/finetuned/x" in md
    assert "site-packages/m/model" in md


def test_curves_one_panel_each_on_epochs():
    from tagrank.eval.report_figures import _curves

    record = [{"step": 0, "epoch": 0.0, "loss": None, "valid_metric": 0.5, "lr": 1e-5, "elapsed_s": 1.0},
              {"step": 10, "epoch": 0.5, "loss": 0.9, "valid_metric": 0.6, "lr": 2e-5, "elapsed_s": 5.0},
              {"step": 20, "epoch": 1.0, "loss": 0.7, "valid_metric": 0.7, "lr": 0.0, "elapsed_s": 9.0}]
    doc = {"methods": {"transformer_ft": {"metrics": {}, "curve": record}}}
    [(method, xname, xs, ys)] = _curves(doc, ["transformer_ft"])["curve"]
    assert (method, xname, xs) == ("transformer_ft", "epoch", [0.0, 0.5, 1.0])
    assert set(ys) == {"loss", "valid_metric", "lr"}  # no step / epoch / clock time as a y series
