"""The report's charts: matplotlib figures embedded as base64 PNG (no timestamp metadata, byte-stable).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from tagrank.eval.report_data import _CURVE_X_KEYS, HIGHLIGHT_METHOD, _fmt3, _num
from tagrank.eval.report_tables import _metric_interval, _metric_value, _perf_goals, _Section
from tagrank.eval.results import REQUIRED_METHOD

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


#: curve fields never drawn as a y series (clock time and position are not training curves)
_CURVE_SKIP = {"elapsed_s", "time_s", "wall_s"}


def _curves(doc: dict[str, Any], methods: list[str]) -> dict[str, list[tuple[str, str, list, dict]]]:
    """Per extra key holding a list of records ({epoch, step, loss, ...}) per method:
    [(method, x name, xs, {y name: ys})]. One x convention for every chart: ``epoch`` where the
    records have it (training curves of different lengths then share a scale), else the first of
    ``step``, ``iteration``, ... ; the other position keys and clock times are not y series."""
    out: dict[str, list[tuple[str, str, list, dict]]] = {}
    for name in methods:
        for key, value in doc["methods"][name].items():
            if key in REQUIRED_METHOD or not isinstance(value, list) or not value:
                continue
            if not all(isinstance(r, dict) for r in value):
                continue
            xkey = next((k for k in _CURVE_X_KEYS if any(k in r for r in value)), None)
            ykeys: list[str] = []
            for r in value:
                for k, v in r.items():
                    if k not in _CURVE_X_KEYS and k not in _CURVE_SKIP and _num(v) is not None and k not in ykeys:
                        ykeys.append(k)
            if not ykeys:
                continue
            xs = [_num(r.get(xkey)) if xkey else i for i, r in enumerate(value)]
            ys = {k: [_num(r.get(k)) for r in value] for k in ykeys}
            out.setdefault(key, []).append((name, xkey or "index", xs, ys))
    return out


def _y_label(doc: dict[str, Any], method: str, yname: str) -> str:
    """``valid_metric`` names its metric where the method's params record it."""
    if yname == "valid_metric":
        metric = (doc["methods"][method].get("params") or {}).get("valid_metric_name")
        if metric:
            return f"valid {metric}"
    return yname


def _curve_chart(title: str, key: str, series: list[tuple[str, str, list, dict]],
                 doc: dict[str, Any] | None = None) -> str:
    """Small multiples: one panel per (method, series) -- every curve on its own y axis, all
    against the same x (epochs where recorded), so a loss and a validation score never share
    a scale."""
    panels = [(name, xname, xs, yname, yvals)
              for name, xname, xs, ys in series for yname, yvals in ys.items()]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = _new_figure(2.6 * ncols + 0.6, 2.3 * nrows + 0.5)
    for i, (name, xname, xs, yname, yvals) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        pts = [(x, y) for x, y in zip(xs, yvals, strict=True) if x is not None and y is not None]
        color = _HIGHLIGHT_COLOR if name == HIGHLIGHT_METHOD else _INK
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], linewidth=1.4, color=color,
                    marker="o" if len(pts) <= 12 else None, markersize=3)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes,
                    color="#888888")
        label = _y_label(doc, name, yname) if doc is not None else yname
        ax.set_title(f"{name}: {label}" if len(series) > 1 else label, fontsize=9)
        ax.set_xlabel(xname)
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.tick_params(labelsize=7)
    methods = ", ".join(dict.fromkeys(name for name, _, _, _ in series))
    fig.suptitle(f"{title}: {methods} {key}", fontsize=10, fontweight="bold")
    fig.tight_layout()
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
