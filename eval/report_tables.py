"""The report's table model: per task and dataset, the main table, the ablation table and the paragraphs around them.

Both renderers (markdown and HTML) draw from these objects, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagrank.eval.report_data import (
    _KNOWN_PERF,
    _KNOWN_TOP,
    MISSING,
    PRIMARY_MARK,
    _flatten_scalars,
    _fmt3,
    _fmt_general,
    _fmt_interval,
    _fmt_p,
    _fmt_ratio,
    _fmt_seconds,
    _fmt_signed,
    _interval,
    _num,
    _slug,
    order_methods,
)
from tagrank.eval.results import REQUIRED_METHOD


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
    figures: _Table | None = None  # per-method figures (grid scores, OOV rates, ...): method | figure | value


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
    return _without_empty_rows(_Table(header, rows, [False] + [True] * (len(cols) + 2) + [False]))


def _without_empty_rows(table: _Table) -> _Table:
    """Rows whose every value cell is missing say nothing: leave them out."""
    rows = [row for row in table.rows if any(c.text != MISSING or c.note for c in row[1:])]
    return _Table(table.header, rows, table.numeric)


#: what an ablation row shows in every value cell when the variant was not run
NOT_RUN = "not run"


def _ablation_rows(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """(group, metrics, ci95, note) per ablation entry, whatever shape the file uses."""
    primary = doc["primary_metric"]
    parsed = []
    for group, value in doc["ablation"].items():
        if isinstance(value, dict) and isinstance(value.get("metrics"), dict):
            note = value.get("note") or value.get("not_run") or value.get("reason") or ""
            if value.get("run") is False or value.get("status") == NOT_RUN:
                note = note or NOT_RUN
            parsed.append((str(group), value["metrics"], value.get("ci95") or {}, str(note)))
        elif isinstance(value, dict):
            parsed.append((str(group), {k: v for k, v in value.items() if _num(v) is not None}, {}, ""))
        elif _num(value) is not None:
            parsed.append((str(group), {primary: value}, {}, ""))
        elif value is None or isinstance(value, str):
            parsed.append((str(group), {}, {}, str(value or NOT_RUN)))
    return parsed


def _ablation_table(doc: dict[str, Any]) -> _Table | None:
    """Drop-one and learning-curve variants of the hybrid. A variant with no measured value says
    ``not run`` (and why, when the file says); one whose every score equals the full model's
    (identical per-unit scores: the paired test has nothing to test) shows its values, a
    change of ±0 and ``not run`` for the p-value, rather than a p of 1.000."""
    ablation = doc.get("ablation")
    if not isinstance(ablation, dict) or not ablation:
        return None
    primary = doc["primary_metric"]
    parsed = _ablation_rows(doc)
    cols: list[str] = []
    for _, metrics, _, _ in parsed:
        for k in metrics:
            if k not in cols:
                cols.append(k)
    if not cols:
        return None
    if primary in cols:
        cols.remove(primary)
        cols.insert(0, primary)
    full = next(((m, ci) for g, m, ci, _ in parsed if g == "all"), None)
    header = ["feature group"] + [f"{c} {PRIMARY_MARK}" if c == primary else c for c in cols]

    def unchanged(metrics: dict[str, Any], ci: dict[str, Any]) -> bool:
        if full is None or _num(metrics.get("p_value")) != 1.0:
            return False
        scores = [c for c in cols if c != "p_value" and not c.startswith("delta ")]
        return all(metrics.get(c) == full[0].get(c) and ci.get(c) == full[1].get(c) for c in scores)

    def cell(col: str, metrics: dict[str, Any], ci: dict[str, Any], same: bool) -> _Cell:
        value = metrics.get(col)
        if col == "p_value":
            return _Cell(NOT_RUN, note="(identical scores)") if same else _Cell(_fmt_p(value))
        if col.startswith("delta "):
            return _Cell("±0") if same else _Cell(_fmt_signed(value))
        return _value_cell(_num(value), _interval(ci.get(col)))

    rows = []
    for group, metrics, ci, note in parsed:
        measured = any(_num(metrics.get(c)) is not None for c in cols)
        if not measured:
            first = _Cell("n/a", note=f"({note})") if note and note != NOT_RUN else _Cell(NOT_RUN)
            rows.append([_Cell(group), first] + [_Cell("") for _ in cols[1:]])
            continue
        same = group != "all" and unchanged(metrics, ci)
        row = [_Cell(group, note=f"({note})" if note else "")] + [cell(c, metrics, ci, same) for c in cols]
        rows.append(row)
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
    return paras


def _figures_table(doc: dict[str, Any], methods: list[str]) -> _Table | None:
    """Each method's own figures (validation-grid scores, OOV rate, training summary, ...),
    one row per figure: method | figure | value (the method named on its first row only)."""
    rows = []
    for name in methods:
        m = doc["methods"][name]
        pairs = [(k, v) for key, val in m.items() if key not in REQUIRED_METHOD
                 for k, v in _flatten_scalars(val, key)]
        for i, (k, v) in enumerate(pairs):
            rows.append([_Cell(name if i == 0 else ""), _Cell(k, code=True), _Cell(_fmt_general(v))])
    return _Table(["method", "figure", "value"], rows, [False, False, True]) if rows else None


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
                    _provenance_paras(doc), _figures_table(doc, methods))


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
        fig_table = _without_empty_rows(_Table(["implementation", *cols], rows, [False] + [True] * len(cols)))
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
