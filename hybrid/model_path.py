"""Where a transformer model comes from: a local directory or a Hugging Face hub id, checked before loading.

Rules (each failure is a :class:`~baselines.validation.ModelPathError`):

* an existing directory is a local model (loaded with ``local_files_only``);
* an existing file is an error ("is a file, not a model directory");
* a path that looks local -- absolute, ``~``, ``.``/``..``, a backslash, more
  than one ``/``, a trailing ``/``, or a name of a local file type -- but does
  not exist is an error: "no such model directory";
* anything else is a hub id (``org/name``). Offline -- ``HF_HUB_OFFLINE=1`` or
  ``TRANSFORMERS_OFFLINE=1`` set, or the hub not reachable within
  :data:`HUB_PROBE_SECONDS` -- it is read from the local cache only
  (``local_files_only``), so a model that is not cached fails at once instead
  of after ~45 s of retries; the message says how to set ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import ModelPathError

#: how long the one reachability probe of the hub may take
HUB_PROBE_SECONDS = 2.0
HUB_HOST = "huggingface.co"
_LOCAL_SUFFIXES = (".json", ".bin", ".safetensors", ".pt", ".pth", ".onnx", ".txt", ".gz", ".zip", ".tar")
_REACHABLE: dict[str, bool] = {}


def env_offline() -> bool:
    """True when the environment forbids the hub (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` truthy)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_local(text: str) -> bool:
    """True when ``text`` is written like a filesystem path rather than a hub id ``org/name``."""
    return (
        os.path.isabs(text)
        or text.startswith(("~", "."))
        or "\\" in text
        or text.count("/") > 1
        or text.endswith("/")
        or text.lower().endswith(_LOCAL_SUFFIXES)
    )


def hub_reachable(host: str = HUB_HOST, timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` (probed once per process)."""
    if host in _REACHABLE:
        return _REACHABLE[host]
    result = [False]

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)  # a DNS lookup that hangs does not hold the caller
    _REACHABLE[host] = result[0]
    return result[0]


def check_model_path(model_name_or_path: Any) -> tuple[str, bool]:
    """(resolved directory or hub id, is_local_directory) after the checks of the module docstring."""
    text = os.fspath(model_name_or_path) if isinstance(model_name_or_path, os.PathLike) else model_name_or_path
    if not isinstance(text, str) or not text.strip():
        raise ModelPathError(f"model_name_or_path must be a directory or a hub id, got {model_name_or_path!r}")
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    if path.exists():
        raise ModelPathError(
            f"model_name_or_path {text!r} is a file, not a model directory: give the directory that holds "
            "config.json, the tokenizer files and the weights"
        )
    if looks_local(text):
        raise ModelPathError(f"no such model directory: {text!r} (resolved to {path.resolve()})")
    return text, False


def hub_options(name: str) -> dict[str, Any]:
    """``from_pretrained`` options for a hub id: cache only when offline (see the module docstring)."""
    if env_offline() or not hub_reachable():
        return {"local_files_only": True}
    return {}


def model_load_error(name: str, local: bool, exc: BaseException) -> ModelPathError:
    """A clear error for a model that transformers could not load."""
    if local:
        return ModelPathError(f"the model directory {name!r} cannot be loaded by transformers: {exc}")
    if not (env_offline() or not _REACHABLE.get(HUB_HOST, True)):
        return ModelPathError(f"model {name!r} cannot be loaded from the Hugging Face hub: {type(exc).__name__}: {exc}")
    why = ("HF_HUB_OFFLINE=1 is set" if env_offline() else f"the hub ({HUB_HOST}) cannot be reached")
    return ModelPathError(
        f"model {name!r} is not a local directory and not in the Hugging Face cache, and {why}: download it where "
        "there is a network (it is cached), or pass a local model directory. Set HF_HUB_OFFLINE=1 (e.g. "
        f"`export HF_HUB_OFFLINE=1`) to never try the network. ({type(exc).__name__}: {str(exc)[:200]})"
    )


__all__ = ["check_model_path", "env_offline", "hub_options", "hub_reachable", "looks_local", "model_load_error"]


def chosen_model(model: Any, model_name_or_path: Any, owner: str) -> Any:
    """The model an estimator was given: ``model`` (the ecosystem's word, as in
    sentence-transformers), or the deprecated ``model_name_or_path`` alias with a FutureWarning."""
    if model_name_or_path is None:
        return model
    import warnings

    if model is not None and str(model) != str(model_name_or_path):
        raise ModelPathError(
            f"{owner} got model={model!r} and model_name_or_path={model_name_or_path!r}: give only model="
        )
    warnings.warn(f"{owner}(model_name_or_path=...) is deprecated; use {owner}(model=...)", FutureWarning, stacklevel=3)
    return model_name_or_path
