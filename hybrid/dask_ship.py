"""Ship a fitted model to Dask workers through its safe save format, loaded once per worker.

The driver saves the model (``save(dir)``: JSON + LightGBM text + npz/safetensors,
never pickle) and reads the directory into ``{relative path: bytes}``; that
payload travels as one task key, so each worker receives it once. On the worker,
:func:`load_shipped` writes it to a private folder and loads it with the class's
own ``load`` -- only the classes in :data:`LOADERS` (tagrank's own), so no
user-controlled code path is ever unpickled -- and caches the loaded object per
process, keyed by the payload's sha256: every later partition reuses it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError

#: kind -> "module:Class" with a ``load(path)`` classmethod (the only classes a worker will load)
LOADERS = {
    "TransformerEncoder": "tagrank.hybrid.encoder:TransformerEncoder",
    "SearchPipeline": "tagrank.hybrid.pipelines:SearchPipeline",
    "RecommendPipeline": "tagrank.hybrid.pipelines:RecommendPipeline",
    "HybridRanker": "tagrank.hybrid.ranker:HybridRanker",
}

_LOADED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def directory_files(path: str | os.PathLike) -> dict[str, bytes]:
    """Every file under a saved model directory as ``{relative posix path: bytes}``."""
    root = Path(path)
    if not root.is_dir():
        raise TagrankInputError(f"model directory {root}: no such directory")
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    if "config.json" not in files:
        raise TagrankInputError(f"{root} does not hold a saved model (no config.json)")
    return files


def saved_files(obj: Any) -> dict[str, bytes]:
    """The files ``obj.save(dir)`` writes, as a payload."""
    with tempfile.TemporaryDirectory(prefix="tagrank-ship-") as tmp:
        obj.save(Path(tmp) / "model")
        return directory_files(Path(tmp) / "model")


def payload_key(files: dict[str, bytes]) -> str:
    """sha256 over the payload's names and contents (the per-worker cache key)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(len(files[name]).to_bytes(8, "little"))
        h.update(files[name])
    return h.hexdigest()


def _loader(kind: str) -> Any:
    if kind not in LOADERS:
        raise TagrankInputError(f"cannot ship a {kind!r}; known: {sorted(LOADERS)}")
    module, _, name = LOADERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def load_shipped(kind: str, files: dict[str, bytes], key: str | None = None) -> Any:
    """The object of a payload, loaded once per worker process (then served from the cache)."""
    key = key or payload_key(files)
    with _LOCK:
        cached = _LOADED.get((kind, key))
        if cached is not None:
            return cached
        root = Path(tempfile.mkdtemp(prefix=f"tagrank-{kind}-"))
        try:
            for name, data in files.items():
                target = (root / name).resolve()
                if root.resolve() not in target.parents:
                    raise TagrankInputError(f"payload file name {name!r} escapes the model directory")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            obj = _loader(kind).load(root)
        finally:
            # every loader reads its files into memory; the folder is not needed afterwards
            shutil.rmtree(root, ignore_errors=True)
        _LOADED[(kind, key)] = obj
        return obj


def clear_cache() -> None:
    """Forget the loaded objects of this process (tests)."""
    with _LOCK:
        _LOADED.clear()


def shipped(kind: str, files: dict[str, bytes]) -> Any:
    """A Dask ``Delayed`` holding the payload as one task key (sent to each worker once)."""
    import dask

    _loader(kind)  # fail early on an unknown kind
    key = payload_key(files)
    return dask.delayed(files, name=f"tagrank-payload-{kind}-{key[:16]}", traverse=False), key


__all__ = ["LOADERS", "clear_cache", "directory_files", "load_shipped", "payload_key", "saved_files", "shipped"]
