"""What the report reads: the results folder (task and performance files), the fixed orders and the number formats.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.methods import METHOD_ORDER  # one order for runs and tables
from tagrank.eval.results import REQUIRED_TOP, find_results, read_results

TASK_ORDER = ("similarity", "search", "recommend", "taxonomy", "tagrec")

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
_CURVE_X_KEYS = ("epoch", "step", "iteration", "iter", "x")


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
    text = portable(p.as_posix())
    return text if text.endswith("/") else text + "/"


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


#: an absolute POSIX path inside displayed text (not a URL's ``//host/...``, not ``a/b``)
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/\"'`,;()\[\]{}<>|]+/?)+")


def portable(text: str) -> str:
    """``text`` with every absolute machine path made portable, for docs that travel: a path in a
    site-packages folder becomes ``site-packages/...``, one in a ``.tagrank_cache`` folder
    ``.tagrank_cache/...``, one under the working directory relative to it, any other
    ``…/<last part>``. Results files written before paths were recorded portably still render
    without the machine's layout."""
    cwd = Path.cwd().resolve().as_posix().rstrip("/") + "/"
    # results files write installed packages as <site-packages>/... (eval.results.portable); shown bare,
    # as a raw path's is below (Markdown would take <site-packages> for an HTML tag and hide it)
    text = text.replace("<site-packages>/", "site-packages/")

    def one(match: re.Match[str]) -> str:
        path = match.group(0)
        trail = "/" if path.endswith("/") and len(path) > 1 else ""
        body = path.rstrip("/")
        for marker in ("/site-packages/", "/.tagrank_cache/"):
            if marker in body + "/":
                rest = (body + "/").split(marker, 1)[1].rstrip("/")
                return marker.strip("/") + ("/" + rest if rest else "") + trail
        if (body + "/").startswith(cwd):
            return body[len(cwd):] + trail or "."
        parts = [p for p in body.split("/") if p]
        return "…/" + parts[-1] + trail if parts else path

    return _ABS_PATH.sub(one, text)


def _slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def order_methods(names: Iterable[str]) -> list[str]:
    """Methods in the fixed report order; unknown names last, alphabetically."""
    return sorted(set(names), key=lambda n: (_rank(n, METHOD_ORDER), n))
