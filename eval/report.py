"""Render the benchmark results files as documentation.

``tagrank report`` turns the results files that ``tagrank bench`` writes under
``benchmarks/results/`` (format: :mod:`eval.results`, performance files under
``perf/``) into

* ``docs/benchmarks.md`` -- every table, generated, never edited by hand;
* ``docs/report.html`` -- one self-contained page (inline CSS, charts embedded
  as base64 PNG) with the same tables plus charts;
* the compact tables between ``<!-- benchmark-tables:start -->`` and
  ``<!-- benchmark-tables:end -->`` in README.md.

Nothing here computes a metric: every number is read from a results file. The
output is a pure function of the files (no clock, no absolute paths beyond the
ones passed in); the PNGs carry no timestamp metadata, so they are byte-stable
as well on the same matplotlib.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.results import REQUIRED_METHOD, REQUIRED_TOP, find_results, read_results

__all__ = [
    "README_END",
    "README_START",
    "render_html",
    "render_markdown",
    "update_readme_tables",
    "write_report",
]

TASK_ORDER = ("similarity", "search", "recommend", "taxonomy", "tagrec")
METHOD_ORDER = (
    "random", "popularity", "user_history", "item_cooccurrence", "jaccard", "tfidf", "bm25",
    "word2vec", "item2vec", "als", "transformer_cls", "transformer", "transformer_whiten",
    "transformer_ft", "hybrid",
)
# Datasets in the order the spec lists them; others follow alphabetically.
DATASET_ORDER = (
    "wordsim353", "simlex999", "cos960", "stsb_en", "stsb_zh", "lcqmc", "homedepot",
    "movielens", "online_retail", "fashion",
)
PERF_ORDER = ("encode", "topk", "als", "rank_latency")

README_START = "<!-- benchmark-tables:start -->"
README_END = "<!-- benchmark-tables:end -->"

MISSING = "–"
PRIMARY_MARK = "★"
HIGHLIGHT_METHOD = "hybrid"

_KNOWN_TOP = set(REQUIRED_TOP) | {"notes", "ablation", "comparisons"}
_KNOWN_PERF = {"figures", "ratios", "goals", "versions", "command", "created", "device", "n",
               "name", "notes"}
_CURVE_X_KEYS = ("step", "epoch", "iteration", "iter", "x")


# --------------------------------------------------------------------------- loading


@dataclass
class _Results:
    root: Path
    docs: list[dict[str, Any]]
    perf: list[tuple[str, dict[str, Any]]]


def _rank(value: Any, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


def _doc_key(doc: dict[str, Any]) -> tuple:
    return (
        _rank(doc["task"], TASK_ORDER), str(doc["task"]),
        _rank(doc["dataset"], DATASET_ORDER), str(doc["dataset"]),
        str(doc.get("setting") or ""),
    )


def _no_results_error(root: Path, why: str) -> TagrankInputError:
    return TagrankInputError(
        f"{why}: nothing to report. Run `tagrank bench` first; it writes the results files "
        f"({root}/<task>/<dataset>[-<setting>].json and {root}/perf/<name>.json) that "
        "`tagrank report` renders."
    )


def _read_perf(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TagrankInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise TagrankInputError(f"{path}: a performance results file must be a JSON object")
    if "figures" not in doc and "ratios" not in doc:
        raise TagrankInputError(f"{path}: a performance results file needs 'figures' or 'ratios'")
    for key in ("figures", "ratios", "goals"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], dict | int | float):
            raise TagrankInputError(f"{path}: {key!r} must be an object")
    if isinstance(doc.get("figures"), dict):
        for impl, figs in doc["figures"].items():
            if not isinstance(figs, dict):
                raise TagrankInputError(f"{path}: figures.{impl} must be an object")
    return doc


def _load(results_dir: str | Path) -> _Results:
    root = Path(results_dir)
    if not root.is_dir():
        raise _no_results_error(root, f"results directory {root} does not exist")
    docs = sorted((read_results(p) for p in find_results(root)), key=_doc_key)
    perf_paths = sorted(
        (root / "perf").glob("*.json"), key=lambda p: (_rank(p.stem, PERF_ORDER), p.stem)
    )
    perf = [(p.stem, _read_perf(p)) for p in perf_paths]
    if not docs and not perf:
        raise _no_results_error(root, f"no results files in {root}")
    return _Results(root, docs, perf)


def _display_dir(path: str | Path) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            pass
    text = p.as_posix()
    return text if text.endswith("/") else text + "/"


# --------------------------------------------------------------------------- formatting


def _num(value: Any) -> float | None:
    """A finite float, or None for missing / NaN / non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt3(value: float) -> str:
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def _fmt_general(value: Any) -> str:
    """Any scalar figure: ints with separators, floats to 4 significant digits."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        if value == 0:
            return "0"
        if abs(value) >= 10_000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt_general(v) for v in value)
    return str(value)


def _fmt_seconds(value: Any) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def _fmt_p(value: Any) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    if v < 0.001:
        return f"{v:.1e}"
    return f"{v:.3f}"


def _fmt_signed(value: Any) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    text = _fmt3(v)
    return text if text.startswith("-") or text == "0.000" else "+" + text


def _fmt_ratio(value: Any) -> str:
    v = _num(value)
    return MISSING if v is None else f"{v:.2f}×"


def _interval(ci: Any) -> tuple[float, float] | None:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    lo, hi = _num(ci[0]), _num(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def _fmt_interval(iv: tuple[float, float] | None) -> str:
    return "" if iv is None else f"[{_fmt3(iv[0])}, {_fmt3(iv[1])}]"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flatten_scalars(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """``key = value`` pairs of a scalar, a nested dict of scalars or a short scalar list;
    structures that are not (lists of records, long lists) are left out."""
    if _is_scalar(value):
        return [(prefix, value)]
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out.extend(_flatten_scalars(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and len(value) <= 10 and all(_is_scalar(v) for v in value):
        return [(prefix, value)]
    return []


def _slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def order_methods(names: Iterable[str]) -> list[str]:
    """Methods in the fixed report order; unknown names last, alphabetically."""
    return sorted(set(names), key=lambda n: (_rank(n, METHOD_ORDER), n))


# --------------------------------------------------------------------------- table model


@dataclass(frozen=True)
class _Cell:
    text: str
    bold: bool = False
    note: str = ""  # shown after the text, never bold (the interval)
    code: bool = False


@dataclass
class _Table:
    header: list[str]
    rows: list[list[_Cell]]
    numeric: list[bool]  # right-aligned columns


@dataclass(frozen=True)
class _Seg:
    text: str
    kind: str = "text"  # text | code | strong


@dataclass
class _Para:
    segs: list[_Seg]
    small: bool = False


@dataclass
class _Section:
    """One results file: its table and the lines under it."""

    doc: dict[str, Any]
    heading: str
    anchor: str
    table: _Table
    paras: list[_Para]
    ablation: _Table | None
    methods: list[str]
    provenance: list[_Para]


@dataclass
class _PerfSection:
    name: str
    doc: dict[str, Any]
    anchor: str
    figures: _Table | None
    ratios: _Table | None
    paras: list[_Para] = field(default_factory=list)


def _metric_value(method: dict[str, Any], metric: str) -> float | None:
    metrics = method.get("metrics") or {}
    return _num(metrics.get(metric))


def _metric_interval(method: dict[str, Any], metric: str) -> tuple[float, float] | None:
    return _interval((method.get("ci95") or {}).get(metric))


def _metric_columns(doc: dict[str, Any]) -> list[str]:
    cols = [doc["primary_metric"]]
    for m in doc["methods"].values():
        for k in m.get("metrics") or {}:
            if k not in cols:
                cols.append(k)
    return cols


def _best(values: dict[str, float | None]) -> set[str]:
    """Names whose value, as shown (3 decimals), equals the largest shown value."""
    shown = {k: round(v, 3) for k, v in values.items() if v is not None}
    if not shown:
        return set()
    top = max(shown.values())
    return {k for k, v in shown.items() if v == top}


def _value_cell(value: float | None, iv: tuple[float, float] | None, bold: bool = False) -> _Cell:
    if value is None:
        return _Cell(MISSING)
    return _Cell(_fmt3(value), bold=bold, note=_fmt_interval(iv))


def _main_table(doc: dict[str, Any], methods: list[str]) -> _Table:
    primary = doc["primary_metric"]
    cols = _metric_columns(doc)
    best = _best({n: _metric_value(doc["methods"][n], primary) for n in methods})
    header = ["method", f"{primary} {PRIMARY_MARK}", *cols[1:], "fit s", "score s", "device"]
    rows = []
    for name in methods:
        m = doc["methods"][name]
        row = [_Cell(name)]
        for col in cols:
            row.append(_value_cell(_metric_value(m, col), _metric_interval(m, col),
                                   bold=(col == primary and name in best)))
        row += [_Cell(_fmt_seconds(m.get("fit_s"))), _Cell(_fmt_seconds(m.get("score_s"))),
                _Cell(MISSING if m.get("device") in (None, "") else str(m.get("device")))]
        rows.append(row)
    return _Table(header, rows, [False] + [True] * (len(cols) + 2) + [False])


def _ablation_table(doc: dict[str, Any]) -> _Table | None:
    ablation = doc.get("ablation")
    if not isinstance(ablation, dict) or not ablation:
        return None
    primary = doc["primary_metric"]
    parsed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for group, value in ablation.items():
        if isinstance(value, dict) and isinstance(value.get("metrics"), dict):
            parsed.append((str(group), value["metrics"], value.get("ci95") or {}))
        elif isinstance(value, dict):
            parsed.append((str(group), {k: v for k, v in value.items() if _num(v) is not None}, {}))
        elif _num(value) is not None:
            parsed.append((str(group), {primary: value}, {}))
    cols: list[str] = []
    for _, metrics, _ in parsed:
        for k in metrics:
            if k not in cols:
                cols.append(k)
    if not cols:
        return None
    if primary in cols:
        cols.remove(primary)
        cols.insert(0, primary)
    header = ["feature group"] + [f"{c} {PRIMARY_MARK}" if c == primary else c for c in cols]
    def cell(col: str, metrics: dict[str, Any], ci: dict[str, Any]) -> _Cell:
        value = metrics.get(col)
        if col == "p_value":
            return _Cell(_fmt_p(value))
        if col.startswith("delta "):
            return _Cell(_fmt_signed(value))
        return _value_cell(_num(value), _interval(ci.get(col)))

    rows = [[_Cell(group)] + [cell(c, metrics, ci) for c in cols] for group, metrics, ci in parsed]
    return _Table(header, rows, [False] + [True] * len(cols))


def _split_para(doc: dict[str, Any]) -> _Para:
    split = doc["split"]
    parts = [f"{k} {_fmt_general(split[k])}" for k in ("train", "valid", "test") if k in split]
    if "excluded" in split:
        parts.append(f"excluded {_fmt_general(split['excluded'])}")
    for k, v in split.items():
        if k not in ("unit", "train", "valid", "test", "excluded"):
            parts += [f"{key} {_fmt_general(val)}" for key, val in _flatten_scalars(v, k)]
    return _Para([_Seg("Split", "strong"),
                  _Seg(f" (unit: {split.get('unit', MISSING)}): " + " · ".join(parts) + ".")])


def _hybrid_para(doc: dict[str, Any]) -> _Para | None:
    hvb = doc.get("hybrid_vs_best")
    if not isinstance(hvb, dict) or not hvb:
        return None
    metric = hvb.get("metric", doc["primary_metric"])
    best = hvb.get("best_single", MISSING)
    text = (f" (best single method: {best}) on {metric}: Δ = {_fmt_signed(hvb.get('delta'))}, "
            f"p = {_fmt_p(hvb.get('p_value'))}")
    if hvb.get("test"):
        text += f" ({hvb['test']})"
    extra = [(k, v) for key, val in hvb.items()
             if key not in ("metric", "best_single", "delta", "p_value", "test")
             for k, v in _flatten_scalars(val, key)]
    if extra:
        text += "; " + ", ".join(f"{k} = {_fmt_general(v)}" for k, v in extra)
    return _Para([_Seg("hybrid vs best single", "strong"), _Seg(text + ".")])


def _comparison_paras(doc: dict[str, Any]) -> list[_Para]:
    """``comparisons``: ``{"<a>_vs_<b>": {metric, a, b, delta, p_value, test}}``, one line each."""
    comparisons = doc.get("comparisons")
    if not isinstance(comparisons, dict):
        return []
    paras = []
    for key, c in comparisons.items():
        if not isinstance(c, dict):
            continue
        a, b = c.get("a", key), c.get("b", MISSING)
        text = (f" on {c.get('metric', doc['primary_metric'])}: Δ = {_fmt_signed(c.get('delta'))}, "
                f"p = {_fmt_p(c.get('p_value'))}" + (f" ({c['test']})" if c.get("test") else ""))
        paras.append(_Para([_Seg(f"{a} vs {b}", "strong"), _Seg(text + ".")]))
    return paras


def _extras_paras(doc: dict[str, Any], methods: list[str]) -> list[_Para]:
    paras = []
    top = [(k, v) for key, val in doc.items() if key not in _KNOWN_TOP
           for k, v in _flatten_scalars(val, key)]
    if top:
        paras.append(_Para([_Seg("Other figures", "strong"), _Seg(": " + "; ".join(
            f"{k} = {_fmt_general(v)}" for k, v in top) + ".")]))
    per_method = []
    for name in methods:
        m = doc["methods"][name]
        pairs = [(k, v) for key, val in m.items() if key not in REQUIRED_METHOD
                 for k, v in _flatten_scalars(val, key)]
        if pairs:
            per_method.append(f"{name}: " + ", ".join(f"{k} = {_fmt_general(v)}" for k, v in pairs))
    if per_method:
        paras.append(_Para([_Seg("Per-method figures", "strong"),
                            _Seg(": " + "; ".join(per_method) + ".")]))
    return paras


def _provenance_paras(doc: dict[str, Any]) -> list[_Para]:
    paras = [_Para([_Seg("Produced by "), _Seg(str(doc.get("command") or MISSING), "code"),
                    _Seg(f" on {doc.get('created') or MISSING}.")])]
    versions = doc.get("versions") or {}
    shown = [f"{k} {v}" for k, v in versions.items() if v] if isinstance(versions, dict) else []
    paras.append(_Para([_Seg("Versions: " + (" · ".join(shown) if shown else "not recorded"))],
                       small=True))
    return paras


def _notes_paras(notes: Any) -> list[_Para]:
    if notes in (None, "", []):
        return []
    items = notes if isinstance(notes, list) else [notes]
    return [_Para([_Seg("Note", "strong"), _Seg(": " + str(item))]) for item in items]


def _heading(doc: dict[str, Any]) -> str:
    return f"{doc['dataset']} · {doc['setting']}" if doc.get("setting") else str(doc["dataset"])


def _section(doc: dict[str, Any]) -> _Section:
    methods = order_methods(doc["methods"])
    paras = [_split_para(doc)]
    hybrid = _hybrid_para(doc)
    if hybrid:
        paras.append(hybrid)
    paras += _comparison_paras(doc)
    paras += _extras_paras(doc, methods)
    paras += _notes_paras(doc.get("notes"))
    return _Section(doc, _heading(doc), _slug(doc["task"], doc["dataset"], doc.get("setting")),
                    _main_table(doc, methods), paras, _ablation_table(doc), methods,
                    _provenance_paras(doc))


def _perf_figures(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    figures = doc.get("figures")
    if not isinstance(figures, dict):
        return {}
    return {str(impl): dict(_flatten_scalars(figs, "")) for impl, figs in figures.items()}


def _perf_goals(doc: dict[str, Any]) -> dict[str, float]:
    ratios = doc.get("ratios") if isinstance(doc.get("ratios"), dict) else {}
    goals = doc.get("goals")
    if _num(goals) is not None:
        return {k: float(goals) for k in ratios}
    if not isinstance(goals, dict):
        return {}
    return {k: _num(v) for k, v in goals.items() if _num(v) is not None}


def _perf_section(name: str, doc: dict[str, Any]) -> _PerfSection:
    figures = _perf_figures(doc)
    fig_table = None
    if figures:
        cols: list[str] = []
        for figs in figures.values():
            for k in figs:
                if k not in cols:
                    cols.append(k)
        rows = [[_Cell(impl)] + [_Cell(_fmt_general(figs.get(c))) for c in cols]
                for impl, figs in figures.items()]
        fig_table = _Table(["implementation", *cols], rows, [False] + [True] * len(cols))
    ratios = doc.get("ratios") if isinstance(doc.get("ratios"), dict) else {}
    ratio_table = None
    if ratios:
        goals = _perf_goals(doc)
        has_goals = any(k in goals for k in ratios)
        header = ["ratio (> 1: the library is better)", "value"]
        if has_goals:
            header += ["goal", "meets goal"]
        rows = []
        for rname, value in ratios.items():
            row = [_Cell(rname), _Cell(_fmt_ratio(value))]
            if has_goals:
                goal, v = goals.get(rname), _num(value)
                met = MISSING if goal is None or v is None else ("yes" if v >= goal else "no")
                row += [_Cell(_fmt_ratio(goal)), _Cell(met)]
            rows.append(row)
        ratio_table = _Table(header, rows, [False, True] + ([True, False] if has_goals else []))
    info = [f"device: {doc.get('device') or MISSING}", f"n: {_fmt_general(doc.get('n'))}"]
    info += [f"{k}: {_fmt_general(v)}" for key, val in doc.items() if key not in _KNOWN_PERF
             for k, v in _flatten_scalars(val, key)]
    paras = [_Para([_Seg("Run", "strong"), _Seg(": " + " · ".join(info) + ".")])]
    paras += _notes_paras(doc.get("notes"))
    paras += _provenance_paras(doc)
    return _PerfSection(name, doc, _slug("perf", name), fig_table, ratio_table, paras)


# --------------------------------------------------------------------------- markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_code(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    pad = " " if ticks == "``" else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_cell(cell: _Cell) -> str:
    text = _md_code(cell.text) if cell.code else cell.text
    if cell.bold:
        text = f"**{text}**"
    if cell.note:
        text += " " + cell.note
    return _md_escape(text)


def _md_table(table: _Table) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in table.header) + " |",
             "|" + "|".join("--:" if num else ":--" for num in table.numeric) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _md_para(para: _Para) -> str:
    out = []
    for seg in para.segs:
        if seg.kind == "code":
            out.append(_md_code(seg.text))
        elif seg.kind == "strong":
            out.append(f"**{seg.text}**")
        else:
            out.append(seg.text)
    text = "".join(out)
    return f"<sub>{text}</sub>" if para.small else text


def _legend(results_dir: str | Path) -> list[str]:
    return [
        f"This file is generated by `tagrank report` from the results files in "
        f"`{_display_dir(results_dir)}`; never edit it by hand: re-run `tagrank bench` and "
        "`tagrank report` instead. A version with charts is in [report.html](report.html).",
        f"One table per results file. {PRIMARY_MARK} marks the primary metric and its best value "
        "is in **bold**; a cell reads `value [low, high]` with the 95% bootstrap interval over "
        f"test units; {MISSING} means not measured. `fit s` and `score s` are seconds.",
    ]


def render_markdown(results_dir: str | Path) -> str:
    """The content of ``docs/benchmarks.md`` rendered from the results files in ``results_dir``.

    Raises :class:`TagrankInputError` when ``results_dir`` holds no results (run
    ``tagrank bench`` first) or a file is not spec-valid.
    """
    return _markdown_text(_load(results_dir), results_dir)


def _markdown_text(res: _Results, results_dir: str | Path) -> str:
    out = ["# Benchmarks", "", "<!-- generated by `tagrank report`; do not edit by hand -->", ""]
    for line in _legend(results_dir):
        out += [line, ""]
    task = None
    if not res.docs:
        out += ["No task results yet.", ""]
    for doc in res.docs:
        if doc["task"] != task:
            task = doc["task"]
            out += [f"## {task}", ""]
        sec = _section(doc)
        out += [f"### {sec.heading}", "", _md_table(sec.table), ""]
        for para in sec.paras:
            out += [_md_para(para), ""]
        if sec.ablation is not None:
            out += ["**Ablation** (hybrid without each feature group; `N% of training …`: the hybrid trained on that share of its training data, a learning curve):", "",
                    _md_table(sec.ablation), ""]
        for para in sec.provenance:
            out += [_md_para(para), ""]
    out += ["## Performance", ""]
    if not res.perf:
        out += [f"No performance results yet (`{_display_dir(res.root)}perf/`).", ""]
    else:
        out += ["Each ratio is oriented so that > 1 means the library is better (faster, or "
                "less memory) than the reference run side by side.", ""]
    for name, doc in res.perf:
        ps = _perf_section(name, doc)
        out += [f"### {name}", ""]
        if ps.figures is not None:
            out += [_md_table(ps.figures), ""]
        if ps.ratios is not None:
            out += [_md_table(ps.ratios), ""]
        for para in ps.paras:
            out += [_md_para(para), ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- README


def _readme_block(res: _Results, docs_link: str) -> str:
    if not res.docs:
        raise _no_results_error(res.root, f"no task results files in {res.root}")
    lines = [
        "<!-- generated by `tagrank report`; edits between the markers are overwritten -->",
        "",
        f"Primary metric per method and dataset (95% bootstrap interval; best in **bold**; "
        f"{MISSING}: not run). Every metric, timing and paired test: [{docs_link}]({docs_link}).",
    ]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for doc in res.docs:
        by_task.setdefault(doc["task"], []).append(doc)
    for task, docs in by_task.items():
        methods = order_methods(n for d in docs for n in d["methods"])
        best = [_best({n: _metric_value(d["methods"][n], d["primary_metric"])
                       for n in d["methods"]}) for d in docs]
        header = ["method"] + [f"{_heading(d)} ({d['primary_metric']})" for d in docs]
        rows = []
        for name in methods:
            row = [_Cell(name)]
            for d, b in zip(docs, best, strict=True):
                m = d["methods"].get(name)
                if m is None:
                    row.append(_Cell(MISSING))
                else:
                    metric = d["primary_metric"]
                    row.append(_value_cell(_metric_value(m, metric), _metric_interval(m, metric),
                                           bold=name in b))
            rows.append(row)
        table = _Table(header, rows, [False] + [True] * len(docs))
        lines += ["", f"**{task}**", "", _md_table(table)]
    return "\n".join(lines)


def _replace_between_markers(text: str, block: str, source: str) -> str:
    missing = [m for m in (README_START, README_END) if m not in text]
    if missing:
        raise TagrankInputError(
            f"{source}: marker {' and '.join(repr(m) for m in missing)} not found; put "
            f"{README_START!r} and {README_END!r} on their own lines where the benchmark "
            "tables should go"
        )
    for marker in (README_START, README_END):
        if text.count(marker) > 1:
            raise TagrankInputError(f"{source}: marker {marker!r} occurs more than once")
    start = text.index(README_START) + len(README_START)
    end = text.index(README_END)
    if end < start:
        raise TagrankInputError(f"{source}: {README_END!r} comes before {README_START!r}")
    if "\r\n" in text:
        block = block.replace("\n", "\r\n")
    nl = "\r\n" if "\r\n" in text else "\n"
    return text[:start] + nl + nl + block + nl + nl + text[end:]


def update_readme_tables(
    readme_path: str | Path, results_dir: str | Path, docs_link: str = "docs/benchmarks.md"
) -> Path:
    """Replace the text between the benchmark-table markers of ``readme_path`` with one
    compact table per task (primary metric, datasets as columns, methods as rows); the
    rest of the file is left byte-for-byte as it was. Returns the README path.

    Raises :class:`TagrankInputError` when a marker is missing or duplicated, or when
    there are no task results.
    """
    path = Path(readme_path)
    new = _new_readme_text(path, _load(results_dir), docs_link)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(new)
    return path


def _new_readme_text(path: Path, res: _Results, docs_link: str) -> str:
    if not path.is_file():
        raise TagrankInputError(f"README {path} does not exist")
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    return _replace_between_markers(text, _readme_block(res, docs_link), str(path))


# --------------------------------------------------------------------------- charts

_BASE_COLOR = "#8fa3b8"
_HIGHLIGHT_COLOR = "#e4572e"
_INK = "#2b2b2b"
_GOAL_COLOR = "#1b7f3b"
_RC = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "svg.hashsalt": "tagrank",
}


def _png_uri(fig: Any) -> str:
    """The figure as a base64 PNG; flat-colour charts are stored with a 64-colour palette (a few times
    smaller than RGBA, so the self-contained report stays small enough to keep in the repository)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    buf.seek(0)
    small = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(colors=64).save(small, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(small.getvalue()).decode("ascii")


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _primary_chart(sec: _Section) -> str | None:
    doc, primary = sec.doc, sec.doc["primary_metric"]
    rows = []
    for name in sec.methods:
        m = doc["methods"][name]
        v = _metric_value(m, primary)
        if v is not None:
            rows.append((name, v, _metric_interval(m, primary)))
    if not rows:
        return None
    fig = _new_figure(7.0, 0.34 * len(rows) + 1.1)
    ax = fig.add_subplot()
    ys = list(range(len(rows)))
    vals = [v for _, v, _ in rows]
    ax.barh(ys, vals, height=0.62,
            color=[_HIGHLIGHT_COLOR if n == HIGHLIGHT_METHOD else _BASE_COLOR for n, _, _ in rows])
    ends = []
    for y, (_, v, iv) in zip(ys, rows, strict=True):
        if iv is not None:
            lo, hi = iv
            ax.errorbar([v], [y], xerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]], fmt="none",
                        ecolor=_INK, elinewidth=1.0, capsize=3)
            ends.append((min(lo, v), max(hi, v)))
        else:
            ends.append((v, v))
    lo_lim = min(0.0, min(e[0] for e in ends))
    hi_lim = max(0.0, max(e[1] for e in ends))
    span = (hi_lim - lo_lim) or 1.0
    for y, (_, v, _), (_, end) in zip(ys, rows, ends, strict=True):
        ax.text(max(end, 0.0) + 0.012 * span, y, _fmt3(v), va="center", fontsize=8, color=_INK)
    ax.set_xlim(lo_lim - (0.03 * span if lo_lim < 0 else 0.0), hi_lim + 0.16 * span)
    ax.set_yticks(ys, labels=[n for n, _, _ in rows])
    for label in ax.get_yticklabels():
        if label.get_text() == HIGHLIGHT_METHOD:
            label.set_color(_HIGHLIGHT_COLOR)
            label.set_fontweight("bold")
    ax.invert_yaxis()
    ax.axvline(0.0, color="#888888", linewidth=0.8)
    ax.set_xlabel(f"{primary} (whiskers: 95% bootstrap interval)")
    ax.set_title(f"{doc['task']} / {sec.heading}: {primary}")
    return _png_uri(fig)


def _curves(doc: dict[str, Any], methods: list[str]) -> dict[str, list[tuple[str, str, list, dict]]]:
    """Per extra key holding a list of records ({step, loss, ...}) per method:
    [(method, x name, xs, {y name: ys})]."""
    out: dict[str, list[tuple[str, str, list, dict]]] = {}
    for name in methods:
        for key, value in doc["methods"][name].items():
            if key in REQUIRED_METHOD or not isinstance(value, list) or not value:
                continue
            if not all(isinstance(r, dict) for r in value):
                continue
            xkey = next((k for k in _CURVE_X_KEYS if k in value[0]), None)
            ykeys: list[str] = []
            for r in value:
                for k, v in r.items():
                    if k != xkey and _num(v) is not None and k not in ykeys:
                        ykeys.append(k)
            if not ykeys:
                continue
            xs = [_num(r.get(xkey)) if xkey else i for i, r in enumerate(value)]
            ys = {k: [_num(r.get(k)) for r in value] for k in ykeys}
            out.setdefault(key, []).append((name, xkey or "index", xs, ys))
    return out


def _curve_chart(title: str, key: str, series: list[tuple[str, str, list, dict]]) -> str:
    fig = _new_figure(7.0, 3.2)
    ax = fig.add_subplot()
    ynames = {y for _, _, _, ys in series for y in ys}
    for name, _, xs, ys in series:
        for yname, yvals in ys.items():
            pts = [(x, y) for x, y in zip(xs, yvals, strict=True) if x is not None and y is not None]
            if not pts:
                continue
            label = name if len(ynames) == 1 else f"{name} {yname}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, linewidth=1.4,
                    color=_HIGHLIGHT_COLOR if name == HIGHLIGHT_METHOD and len(series) > 1 else None)
    ax.set_xlabel(series[0][1])
    ax.set_ylabel(next(iter(ynames)) if len(ynames) == 1 else "value")
    ax.set_title(f"{title}: {key}")
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    ax.legend(frameon=False, fontsize=8)
    return _png_uri(fig)


def _ratio_chart(name: str, doc: dict[str, Any]) -> str | None:
    ratios = doc.get("ratios") if isinstance(doc.get("ratios"), dict) else {}
    rows = [(k, _num(v)) for k, v in ratios.items() if _num(v) is not None]
    if not rows:
        return None
    goals = _perf_goals(doc)
    fig = _new_figure(7.0, 0.42 * len(rows) + 1.2)
    ax = fig.add_subplot()
    ys = list(range(len(rows)))
    vals = [v for _, v in rows]
    colors = []
    for k, v in rows:
        goal = goals.get(k)
        ok = v >= goal if goal is not None else v >= 1.0
        colors.append(_BASE_COLOR if ok else _HIGHLIGHT_COLOR)
    ax.barh(ys, vals, height=0.6, color=colors)
    positive = [v for v in vals + list(goals.values()) if v > 0]
    if positive and all(v > 0 for v in vals) and max(positive) / min(positive) > 30:
        ax.set_xscale("log")
    ax.axvline(1.0, color="#888888", linewidth=1.0)
    goal_drawn = False
    for y, (k, v) in zip(ys, rows, strict=True):
        goal = goals.get(k)
        if goal is not None:
            ax.vlines(goal, y - 0.42, y + 0.42, colors=_GOAL_COLOR, linestyles="dashed",
                      linewidth=1.6, label=None if goal_drawn else "goal")
            goal_drawn = True
        ax.text(v, y, f" {v:.2f}×", va="center", fontsize=8, color=_INK)
    hi = max(vals + [g for g in goals.values()] + [1.0])
    if ax.get_xscale() == "linear":
        ax.set_xlim(0.0, hi * 1.18)
    ax.set_yticks(ys, labels=[k for k, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("ratio (> 1: the library is better; grey line: parity)")
    ax.set_title(f"{name} ({doc.get('device') or 'device not recorded'})")
    if goal_drawn:
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    return _png_uri(fig)


# --------------------------------------------------------------------------- HTML

_CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#d8dee4; --card:#ffffff; --bg:#f5f7fa;
        --accent:#e4572e; --base:#8fa3b8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif; }
main { max-width:1120px; margin:0 auto; padding:24px 20px 64px; }
h1 { font-size:28px; margin:8px 0 4px; }
h2 { font-size:21px; margin:36px 0 12px; padding-bottom:6px; border-bottom:2px solid var(--line); }
h3 { font-size:16px; margin:0 0 10px; }
.lede { color:var(--muted); max-width:820px; }
nav.toc { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 16px;
          margin:16px 0; columns:3 220px; font-size:13px; }
nav.toc a { color:var(--ink); text-decoration:none; display:block; }
nav.toc a:hover { color:var(--accent); }
nav.toc .task { font-weight:600; margin-top:4px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px;
        margin:0 0 20px; box-shadow:0 1px 2px rgba(0,0,0,.04); }
.tag { display:inline-block; font-size:12px; color:var(--muted); border:1px solid var(--line);
       border-radius:10px; padding:0 8px; margin-left:6px; font-weight:400; }
img.chart { display:block; max-width:100%; height:auto; margin:6px 0 12px; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; font-size:13px; margin:6px 0 12px; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { text-align:left; background:#f0f3f6; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.highlight td:first-child { color:var(--accent); font-weight:600; }
tbody tr:hover { background:#fafbfc; }
.ci { color:var(--muted); font-size:12px; }
p { margin:6px 0; }
p.small { color:var(--muted); font-size:12px; }
code { background:#eff1f3; border-radius:4px; padding:1px 5px; font-size:12.5px; }
details { margin-top:8px; font-size:13px; }
details summary { cursor:pointer; color:var(--muted); }
details pre { white-space:pre-wrap; word-break:break-word; font-size:12px; margin:2px 0 8px; }
footer { color:var(--muted); font-size:12px; margin-top:40px; }
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: _Table, highlight_col0: str | None = None) -> str:
    head = "".join(f'<th class="{"num" if num else "txt"}">{_h(h)}</th>'
                   for h, num in zip(table.header, table.numeric, strict=True))
    body = []
    for row in table.rows:
        cls = ' class="highlight"' if highlight_col0 and row[0].text == highlight_col0 else ""
        cells = []
        for cell, num in zip(row, table.numeric, strict=True):
            text = f"<code>{_h(cell.text)}</code>" if cell.code else _h(cell.text)
            if cell.bold:
                text = f"<b>{text}</b>"
            if cell.note:
                text += f' <span class="ci">{_h(cell.note)}</span>'
            cells.append(f'<td class="{"num" if num else "txt"}">{text}</td>')
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _html_para(para: _Para) -> str:
    out = []
    for seg in para.segs:
        if seg.kind == "code":
            out.append(f"<code>{_h(seg.text)}</code>")
        elif seg.kind == "strong":
            out.append(f"<strong>{_h(seg.text)}</strong>")
        else:
            out.append(_h(seg.text))
    cls = ' class="small"' if para.small else ""
    return f"<p{cls}>{''.join(out)}</p>"


def _img(uri: str | None, alt: str) -> str:
    return "" if uri is None else f'<img class="chart" src="{uri}" alt="{_h(alt)}">'


def _params_details(sec: _Section) -> str:
    rows = []
    for name in sec.methods:
        params = sec.doc["methods"][name].get("params") or {}
        text = json.dumps(params, ensure_ascii=False, sort_keys=True, indent=1) if params else "{}"
        rows.append(f"<div><b>{_h(name)}</b><pre>{_h(text)}</pre></div>")
    return f"<details><summary>Parameters per method</summary>{''.join(rows)}</details>"


def _html_document(res: _Results, results_dir: str | Path) -> str:
    sections = [_section(doc) for doc in res.docs]
    perf = [_perf_section(name, doc) for name, doc in res.perf]
    toc, task = [], None
    for sec in sections:
        if sec.doc["task"] != task:
            task = sec.doc["task"]
            toc.append(f'<a class="task" href="#task-{_slug(task)}">{_h(task)}</a>')
        toc.append(f'<a href="#{sec.anchor}">{_h(sec.heading)}</a>')
    if perf:
        toc.append('<a class="task" href="#performance">performance</a>')
        toc += [f'<a href="#{p.anchor}">{_h(p.name)}</a>' for p in perf]

    body = [
        "<header><h1>tagrank benchmarks</h1>",
        f'<p class="lede">Generated by <code>tagrank report</code> from the results files in '
        f"<code>{_h(_display_dir(results_dir))}</code>; never edit by hand. One card per results "
        f"file: the chart shows each method's primary metric with its 95% bootstrap interval "
        f"(<span style=\"color:var(--accent);font-weight:600\">hybrid</span> highlighted); in "
        f"the tables {PRIMARY_MARK} marks the primary metric, its best value is bold and "
        f"{MISSING} means not measured.</p></header>",
        f'<nav class="toc">{"".join(toc)}</nav>',
    ]
    task = None
    for sec in sections:
        if sec.doc["task"] != task:
            if task is not None:
                body.append("</section>")
            task = sec.doc["task"]
            body.append(f'<section id="task-{_slug(task)}"><h2>{_h(task)}</h2>')
        doc = sec.doc
        parts = [
            f'<article class="card" id="{sec.anchor}">',
            f'<h3>{_h(sec.heading)}<span class="tag">{_h(doc["task"])}</span>'
            f'<span class="tag">primary: {_h(doc["primary_metric"])}</span></h3>',
            _img(_primary_chart(sec), f"{sec.heading}: {doc['primary_metric']} per method"),
            _html_table(sec.table, HIGHLIGHT_METHOD),
            *(_html_para(p) for p in sec.paras),
        ]
        if sec.ablation is not None:
            parts += ["<p><strong>Ablation</strong> (hybrid without each feature group; <em>N% of training …</em>: the hybrid trained on that share of its training data, a learning curve):</p>",
                      _html_table(sec.ablation)]
        for key, series in _curves(doc, sec.methods).items():
            parts.append(_img(_curve_chart(sec.heading, key, series), f"{sec.heading}: {key}"))
        parts += [_html_para(p) for p in sec.provenance]
        parts += [_params_details(sec), "</article>"]
        body.append("".join(parts))
    if task is not None:
        body.append("</section>")
    body.append('<section id="performance"><h2>Performance</h2>')
    if not perf:
        body.append("<p>No performance results yet.</p>")
    else:
        body.append('<p class="lede">Each ratio is oriented so that &gt; 1 means the library is '
                    "better (faster, or less memory) than the reference run side by side; the "
                    "dashed line marks the goal where the file sets one.</p>")
    for ps in perf:
        parts = [f'<article class="card" id="{ps.anchor}"><h3>{_h(ps.name)}</h3>',
                 _img(_ratio_chart(ps.name, ps.doc), f"{ps.name}: ratios")]
        if ps.figures is not None:
            parts.append(_html_table(ps.figures))
        if ps.ratios is not None:
            parts.append(_html_table(ps.ratios))
        parts += [_html_para(p) for p in ps.paras]
        parts.append("</article>")
        body.append("".join(parts))
    body.append("</section>")
    body.append("<footer>Every number on this page was read from a results file written by "
                "<code>tagrank bench</code>.</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>tagrank benchmarks</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def _render_html_text(res: _Results, results_dir: str | Path) -> str:
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        return _html_document(res, results_dir)


def render_html(results_dir: str | Path, out_path: str | Path) -> Path:
    """Write one self-contained HTML report (inline CSS, charts as base64 PNG) of the
    results in ``results_dir`` to ``out_path``; returns ``out_path``."""
    text = _render_html_text(_load(results_dir), results_dir)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- all


def write_report(
    results_dir: str | Path, docs_dir: str | Path, readme: str | Path | None = None
) -> list[Path]:
    """Write ``<docs_dir>/benchmarks.md`` and ``<docs_dir>/report.html`` from ``results_dir``
    and, when ``readme`` is given, refresh its benchmark tables. Everything is rendered
    (and the README markers checked) before any file is written. Returns the paths written.
    """
    res = _load(results_dir)
    docs = Path(docs_dir)
    markdown = _markdown_text(res, results_dir)
    page = _render_html_text(res, results_dir)
    readme_text = None
    if readme is not None:
        link = _relative_link(docs / "benchmarks.md", Path(readme).parent)
        readme_text = _new_readme_text(Path(readme), res, link)
    docs.mkdir(parents=True, exist_ok=True)
    md_path, html_path = docs / "benchmarks.md", docs / "report.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(page, encoding="utf-8")
    written = [md_path, html_path]
    if readme is not None and readme_text is not None:
        with open(readme, "w", encoding="utf-8", newline="") as fh:
            fh.write(readme_text)
        written.append(Path(readme))
    return written


def _relative_link(target: Path, base: Path) -> str:
    import os

    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:  # different drives on Windows
        return target.as_posix()
