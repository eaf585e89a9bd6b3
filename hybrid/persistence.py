"""Save / load helpers for the hybrid layer: a directory, never a pickle.

Layout of a saved model directory::

    config.json   {"format_version": 1, "kind": "<class name>", ...}   (JSON, sorted keys)
    model.txt     LightGBM's text model (Booster.save_model), when there is one; its sha256 is
                  config.json's ``model_sha256``, checked before LightGBM reads the file
    arrays.npz    numeric arrays (np.savez, read with allow_pickle=False), when there are any

``load_dir`` checks the ``format_version`` and the ``kind`` and fails with a
clear :class:`TagrankInputError` otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from tagrank.baselines.saved import read_json, read_npz, saved_dir
from tagrank.baselines.validation import SavedModelError, TagrankInputError

#: version of the hybrid save layout; ``load_dir`` refuses any other
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.txt"
ARRAYS_FILE = "arrays.npz"


def jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars/arrays, tuples, nested dicts); non-finite floats rejected."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise TagrankInputError(f"value {value!r} cannot be saved as JSON")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TagrankInputError(f"value of type {type(value).__name__} cannot be saved as JSON: {value!r}")


def save_dir(
    path: str | Path,
    kind: str,
    config: dict[str, Any],
    booster: Any = None,
    arrays: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``config.json`` (+ ``model.txt`` from a LightGBM booster, + ``arrays.npz``)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    doc = {"format_version": FORMAT_VERSION, "kind": kind, **jsonable(config)}
    if booster is not None:
        booster.save_model(str(path / MODEL_FILE), num_iteration=-1)
        doc["model_sha256"] = hashlib.sha256((path / MODEL_FILE).read_bytes()).hexdigest()
    if arrays:
        for key, arr in arrays.items():
            if np.asarray(arr).dtype == object:
                raise TagrankInputError(f"array {key!r} has dtype object and cannot be saved without pickle")
        np.savez(path / ARRAYS_FILE, **arrays)
    (path / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    return path


def read_config(path: str | Path, kind: str | tuple[str, ...]) -> dict[str, Any]:
    """``config.json`` of a saved directory, after the version and kind checks."""
    what = kind if isinstance(kind, str) else " or ".join(kind)
    path = saved_dir(path, what)
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise SavedModelError(f"{path} is not a saved tagrank model: {CONFIG_FILE} is missing")
    config = read_json(cfg_file, what)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise SavedModelError(
            f"{cfg_file} has format_version {version!r}; this version of tagrank reads {FORMAT_VERSION}"
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if config.get("kind") not in kinds:
        raise SavedModelError(f"{path} holds a {config.get('kind')!r} model, not {' or '.join(kinds)}")
    return config


def load_booster(path: str | Path, sha256: str | None = None) -> Any:
    """The LightGBM booster saved in ``path/model.txt``, checked against ``sha256`` (from config.json)
    when given and for LightGBM's end markers always: a cut file can crash LightGBM or load fewer trees."""
    import lightgbm as lgb

    model_file = Path(path) / MODEL_FILE
    if not model_file.is_file():
        raise SavedModelError(f"{path} has no {MODEL_FILE}")
    data = model_file.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise SavedModelError(
            f"{MODEL_FILE} of the saved model at {path} does not match the model_sha256 of its {CONFIG_FILE}: "
            "the file is truncated or was changed after save()"
        )
    if b"\nend of trees" not in data or (b"\nparameters:" in data and b"\nend of parameters" not in data):
        raise SavedModelError(f"{MODEL_FILE} of the saved model at {path} is truncated: LightGBM's end markers are missing")
    try:
        return lgb.Booster(model_file=str(model_file))
    except (lgb.basic.LightGBMError, OSError, ValueError) as exc:
        raise SavedModelError(f"{MODEL_FILE} of the saved model at {path} is not a valid LightGBM model: {exc}") from None


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``path/arrays.npz`` (empty dict when there is none); never unpickles."""
    arr_file = Path(path) / ARRAYS_FILE
    if not arr_file.is_file():
        return {}
    return read_npz(arr_file, "model")


def encode_keys(values: Any, field: str) -> tuple[np.ndarray, str]:
    """Ids as a non-object array plus their kind (``int``, ``float`` or ``str``) for ``arrays.npz``."""
    vals = list(values)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in vals):
        return np.asarray(vals, dtype=np.int64), "int"
    if all(isinstance(v, float | np.floating) for v in vals):
        return np.asarray(vals, dtype=np.float64), "float"
    if all(isinstance(v, str) for v in vals):
        return np.asarray(vals, dtype=str), "str"
    kinds = sorted({type(v).__name__ for v in vals})
    raise TagrankInputError(f"cannot save {field}: ids must be all int, all float or all str, got {kinds}")


def decode_keys(values: np.ndarray, kind: str) -> np.ndarray:
    """Back to an object array of Python scalars."""
    if kind not in ("int", "float", "str"):
        raise TagrankInputError(f"unknown id kind {kind!r} in saved model")
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) for v in values.tolist()] if kind == "str" else values.tolist()
    return out
