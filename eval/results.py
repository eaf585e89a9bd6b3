"""The results-file format of the benchmark spec: build, validate, write, read.

One JSON file per task, dataset and setting at
``<out>/<task>/<dataset>[-<setting>].json``. Numbers in these files are the
only source of the tables in the docs.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError

REQUIRED_TOP = (
    "task", "dataset", "setting", "primary_metric", "split", "methods",
    "hybrid_vs_best", "versions", "command", "created",
)
REQUIRED_METHOD = ("metrics", "ci95", "fit_s", "score_s", "device", "params")


def library_versions() -> dict[str, str]:
    """Versions of tagrank and the libraries that decide the numbers."""
    from importlib import metadata

    out = {}
    for dist in ("tagrank", "torch", "transformers", "lightgbm", "scikit-learn", "gensim", "implicit", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = ""
    return out


_COMMAND: list[str] | None = None


def set_command(argv: list[str] | None) -> None:
    """Record the CLI command being run (the CLI calls this; None falls back to sys.argv)."""
    global _COMMAND
    _COMMAND = list(argv) if argv is not None else None


def current_command() -> str:
    """The command line that is running, as the user would type it."""
    if _COMMAND is not None:
        return shlex.join(_COMMAND)
    prog = Path(sys.argv[0]).name if sys.argv else "tagrank"
    if prog in ("__main__.py", "cli.py"):
        prog = "tagrank"
    return shlex.join([prog, *sys.argv[1:]])


@dataclass
class MethodResult:
    """One method's row: metrics with 95% intervals, timings, device and parameters."""

    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    fit_s: float
    score_s: float
    device: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "ci95": {k: [float(v[0]), float(v[1])] for k, v in self.ci95.items()},
            "fit_s": round(float(self.fit_s), 4),
            "score_s": round(float(self.score_s), 4),
            "device": self.device,
            "params": _jsonable(self.params),
        }
        out.update(_jsonable(self.extra))
        return out


def _jsonable(value: Any) -> Any:
    """Params may hold numpy scalars, tuples or paths; make them plain JSON."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def results_path(out_dir: str | Path, task: str, dataset: str, setting: str | None = None) -> Path:
    """``<out>/<task>/<dataset>[-<setting>].json``."""
    name = dataset if not setting else f"{dataset}-{setting}"
    return Path(out_dir) / task / f"{name}.json"


def build_results(
    task: str,
    dataset: str,
    setting: str | None,
    primary_metric: str,
    split: dict[str, Any],
    methods: dict[str, MethodResult],
    hybrid_vs_best: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a spec-valid results document."""
    doc: dict[str, Any] = {
        "task": task,
        "dataset": dataset,
        "setting": setting,
        "primary_metric": primary_metric,
        "split": _jsonable(split),
        "methods": {name: m.to_dict() for name, m in methods.items()},
        "hybrid_vs_best": _jsonable(hybrid_vs_best),
        "versions": library_versions(),
        "command": current_command(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if extra:
        doc.update(_jsonable(extra))
    validate_results(doc)
    return doc


def validate_results(doc: dict[str, Any], source: str = "results") -> None:
    """Check a document against the spec's format; raises naming the missing or bad field."""
    for key in REQUIRED_TOP:
        if key not in doc:
            raise TagrankInputError(f"{source}: missing field {key!r}")
    if doc["primary_metric"] is None:
        raise TagrankInputError(f"{source}: primary_metric is empty")
    if not isinstance(doc["methods"], dict):
        raise TagrankInputError(f"{source}: methods must be an object")
    for name, m in doc["methods"].items():
        for key in REQUIRED_METHOD:
            if key not in m:
                raise TagrankInputError(f"{source}: methods.{name} is missing {key!r}")
        for metric, value in m["metrics"].items():
            if value is not None and not (-1.0 - 1e-9 <= value <= 1.0 + 1e-9):
                raise TagrankInputError(f"{source}: methods.{name}.metrics.{metric} = {value} is outside [-1, 1]")
        for metric, ci in m["ci95"].items():
            if len(ci) != 2:
                raise TagrankInputError(f"{source}: methods.{name}.ci95.{metric} must be [low, high]")
    split = doc["split"]
    for key in ("unit", "train", "valid", "test"):
        if key not in split:
            raise TagrankInputError(f"{source}: split is missing {key!r}")


def write_results(doc: dict[str, Any], out_dir: str | Path) -> Path:
    """Validate and write the document to its spec path; returns the path."""
    validate_results(doc)
    path = results_path(out_dir, doc["task"], doc["dataset"], doc["setting"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    """Read and validate one results file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TagrankInputError(f"{path}: not valid JSON ({exc})") from None
    validate_results(doc, source=str(path))
    return doc


def find_results(out_dir: str | Path) -> list[Path]:
    """All task results files under ``out_dir`` (performance results excluded), sorted."""
    root = Path(out_dir)
    return sorted(p for p in root.glob("*/*.json") if p.parent.name != "perf")
