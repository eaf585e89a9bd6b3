"""Reading a saved model directory: every failure is a :class:`SavedModelError` naming the file and why.

The save formats (``config.json`` + ``arrays.npz`` + LightGBM ``model.txt``) are
written by the estimators; these readers are the one place that opens them:

* :func:`saved_dir` -- the directory must exist ("no such directory") and be one;
* :func:`read_json` -- ``config.json`` must be UTF-8 JSON holding an object;
* :func:`read_npz` -- ``arrays.npz`` is read with ``allow_pickle=False``; an object
  array (which would need pickle) or a damaged archive is refused by name;
* :func:`load_guard` -- the decorator on every estimator's ``load``: the saved
  parameters are checked again like constructor arguments (the estimator's
  ``_check_params``), and any other failure while restoring the state (a
  tampered value, a missing key) becomes a SavedModelError naming the model.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tagrank.baselines.validation import ModelPathError, SavedModelError, TagrankInputError


def saved_dir(path: Any, what: str) -> Path:
    """``path`` as a Path to an existing directory, else a clear error."""
    try:
        p = Path(path)
    except TypeError:
        raise SavedModelError(f"path of a saved {what} must be a str or os.PathLike, got {path!r}") from None
    if not p.exists():
        raise SavedModelError(f"{p}: no such directory (a saved {what} is the directory its save() wrote)")
    if not p.is_dir():
        raise SavedModelError(f"{p} is a file, not a saved {what} directory")
    return p


def read_json(file: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``file`` (a saved model's config), or a SavedModelError saying why not."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SavedModelError(f"{file.parent} is not a saved {what}: {file.name} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedModelError(f"{file.name} of the saved {what} at {file.parent} cannot be read: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedModelError(f"{file.name} of the saved {what} at {file.parent} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SavedModelError(
            f"{file.name} of the saved {what} at {file.parent} must hold a JSON object, got {type(doc).__name__}"
        )
    return doc


def read_npz(file: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of ``file`` (never unpickled), or a SavedModelError naming the bad array."""
    try:
        with np.load(file, allow_pickle=False) as npz:
            out = {}
            for key in npz.files:
                try:
                    out[key] = npz[key]
                except ValueError as exc:  # an object array: it would need pickle
                    raise SavedModelError(
                        f"{file.name} of the saved {what} at {file.parent}: array {key!r} cannot be loaded "
                        f"without pickle, which tagrank never does ({exc})"
                    ) from None
            return out
    except SavedModelError:
        raise
    except FileNotFoundError:
        raise SavedModelError(f"{file.parent} is not a saved {what}: {file.name} is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SavedModelError(f"{file.name} of the saved {what} at {file.parent} is damaged: {exc}") from None


def load_guard(load: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an estimator's ``load(cls, path, ...)``: bad path / file / parameter -> SavedModelError.

    Put it under ``@classmethod``. After the load, the estimator's ``_check_params``
    (if it has one) runs on the loaded parameters, as ``fit`` would."""

    @functools.wraps(load)
    def wrapper(cls: type, path: Any, *args: Any, **kwargs: Any) -> Any:
        what = cls.__name__
        where = saved_dir(path, what)
        try:
            obj = load(cls, where, *args, **kwargs)
            check = getattr(obj, "_check_params", None)
            if callable(check):
                check()
        except (SavedModelError, ModelPathError):
            raise
        except TagrankInputError as exc:
            raise SavedModelError(f"the saved {what} at {where} has a bad config.json parameter: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a tampered value or a missing key, from any library
            raise SavedModelError(
                f"the saved {what} at {where} is damaged or was edited by hand: {type(exc).__name__}: {exc}"
            ) from None
        return obj

    return wrapper


__all__ = ["load_guard", "read_json", "read_npz", "saved_dir"]
