"""The HTML page: ``docs/report.html``, one self-contained file (inline CSS, charts embedded).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from tagrank.eval.report_data import (
    HIGHLIGHT_METHOD,
    MISSING,
    PRIMARY_MARK,
    _display_dir,
    _load,
    _Results,
    _slug,
    portable,
)
from tagrank.eval.report_figures import _RC, _curve_chart, _curves, _primary_chart, _ratio_chart
from tagrank.eval.report_tables import _Para, _perf_section, _Section, _section, _Table

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
    return html.escape(portable(str(text)), quote=True)


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
        if sec.figures is not None:
            parts += ["<details><summary>Per-method figures (validation grid, training summary, …)</summary>",
                      _html_table(sec.figures), "</details>"]
        if sec.ablation is not None:
            parts += ["<p><strong>Ablation</strong> (hybrid without each feature group; <em>N% of training …</em>: the hybrid trained on that share of its training data, a learning curve):</p>",
                      _html_table(sec.ablation)]
        for key, series in _curves(doc, sec.methods).items():
            parts.append(_img(_curve_chart(sec.heading, key, series, doc), f"{sec.heading}: {key}"))
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
