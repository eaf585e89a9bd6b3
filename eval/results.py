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
    #: per-test-unit values (metric -> 1-D array), written to the side file, not the JSON
    per_unit: dict[str, Any] = field(default_factory=dict, repr=False)

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
        "_per_unit": {name: m.per_unit for name, m in methods.items() if m.per_unit},
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
    if not isinstance(doc, dict):
        raise TagrankInputError(f"{source}: must hold a JSON object, got {type(doc).__name__}")
    for key in REQUIRED_TOP:
        if key not in doc:
            raise TagrankInputError(f"{source}: missing field {key!r}")
    if doc["primary_metric"] is None:
        raise TagrankInputError(f"{source}: primary_metric is empty")
    if not isinstance(doc["methods"], dict):
        raise TagrankInputError(f"{source}: methods must be an object")
    for name, m in doc["methods"].items():
        if not isinstance(m, dict):
            raise TagrankInputError(f"{source}: methods.{name} must be an object, got {m!r}")
        for key in REQUIRED_METHOD:
            if key not in m:
                raise TagrankInputError(f"{source}: methods.{name} is missing {key!r}")
        for key in ("metrics", "ci95"):
            if not isinstance(m[key], dict):
                raise TagrankInputError(f"{source}: methods.{name}.{key} must be an object, got {m[key]!r}")
        for metric, value in m["metrics"].items():
            if value is not None and not _is_number(value):
                raise TagrankInputError(f"{source}: methods.{name}.metrics.{metric} = {value!r} is not a number")
            if value is not None and not (-1.0 - 1e-9 <= value <= 1.0 + 1e-9):
                raise TagrankInputError(f"{source}: methods.{name}.metrics.{metric} = {value} is outside [-1, 1]")
        for metric, ci in m["ci95"].items():
            if not isinstance(ci, list) or len(ci) != 2 or not all(v is None or _is_number(v) for v in ci):
                raise TagrankInputError(f"{source}: methods.{name}.ci95.{metric} must be [low, high], got {ci!r}")
    split = doc["split"]
    if not isinstance(split, dict):
        raise TagrankInputError(f"{source}: split must be an object, got {split!r}")
    for key in ("unit", "train", "valid", "test"):
        if key not in split:
            raise TagrankInputError(f"{source}: split is missing {key!r}")


def _is_number(value: Any) -> bool:
    """A JSON number (a bool is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def write_results(doc: dict[str, Any], out_dir: str | Path) -> Path:
    """Validate and write the document to its spec path (absolute paths made portable), and
    its per-unit metrics to the side file :func:`units_path`; returns the JSON's path."""
    doc = dict(doc)
    per_unit = doc.pop("_per_unit", None)
    doc = portable(doc)
    validate_results(doc)
    path = results_path(out_dir, doc["task"], doc["dataset"], doc["setting"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    if per_unit:
        write_units(per_unit, units_path(path))
    return path


def units_path(results_file: str | Path) -> Path:
    """``<dataset>[-<setting>].units.csv.gz`` beside a results file."""
    p = Path(results_file)
    return p.with_name(p.name.removesuffix(".json") + ".units.csv.gz")


def write_units(per_unit: dict[str, dict[str, Any]], path: Path) -> None:
    """Per-unit values in long form (method, metric, unit, value): ``unit`` is the position in
    the task's test units, the same for every method of one file, so users can pair them."""
    import numpy as np
    import pandas as pd

    frames = []
    for method, arrays in per_unit.items():
        for metric, values in arrays.items():
            v = np.asarray(values)
            if v.ndim != 1 or v.dtype.kind not in "biuf":
                continue
            frames.append(pd.DataFrame({"method": method, "metric": metric,
                                        "unit": np.arange(len(v)), "value": v.astype(np.float64)}))
    if not frames:
        return
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(path, index=False, float_format="%.10g", compression={"method": "gzip", "mtime": 0})


def read_units(results_file: str | Path):
    """The per-unit metrics saved beside a results file, as a DataFrame (method, metric, unit, value)."""
    import pandas as pd

    path = units_path(results_file)
    if not path.is_file():
        raise TagrankInputError(f"{path}: no per-unit file beside {results_file} (written by runs since 0.2)")
    return pd.read_csv(path)


def portable(value: Any) -> Any:
    """Replace absolute machine paths in a results document: installed packages by
    ``<site-packages>/...``, the working directory's by relative paths, the temporary folder's by
    ``<tmp>/...``, the parent folder's by ``../...``, the home by ``~``."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and "/" in value:
        return _portable_text(value)
    return value


def _portable_text(text: str) -> str:
    import re

    return re.sub(r"(?<![\w.~<>-])/[^\s\"',;:=]+", lambda m: _portable_path(m.group(0)), text)


def _portable_path(path: str) -> str:
    import os
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    prefixes = {paths["purelib"], paths["platlib"], *(site.getsitepackages() if hasattr(site, "getsitepackages") else [])}
    for prefix in sorted(prefixes, key=len, reverse=True):
        prefix = prefix.rstrip("/")
        if path == prefix or path.startswith(prefix + "/"):
            return "<site-packages>" + path[len(prefix):]
    if "/site-packages/" in path:  # another environment's packages (a venv layered on this one's)
        return "<site-packages>/" + path.split("/site-packages/", 1)[1]
    rel = os.path.relpath(path, os.getcwd())
    if not rel.startswith("../"):
        return rel  # inside the working directory
    import tempfile

    tmp = os.path.realpath(tempfile.gettempdir()).rstrip("/")
    if tmp not in ("", "/") and (path == tmp or path.startswith(tmp + "/")):
        return "<tmp>" + path[len(tmp):]  # a scratch folder: the same text wherever the checkout lives
    if not rel.startswith("../../"):
        return rel
    home = os.path.expanduser("~").rstrip("/")
    if home not in ("", "/") and path.startswith(home + "/"):
        return "~" + path[len(home):]
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
