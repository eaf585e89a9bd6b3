"""On-disk cache of pooled text embeddings (no pickle).

Layout under ``root``::

    <root>/<namespace>/index.json      key, dim, dtype, shards (rows, bytes, sha256), entries
    <root>/<namespace>/shard-<id>.npy  float32 [rows, dim], one per ``put``

``namespace`` is a sha256 of the key: the model identity (path or id and a
fingerprint of its files), pooling, normalisation, max_length and the compute
dtype, so a different model or recipe never reads another's vectors. Entries
are keyed by the sha1 of each text (UTF-8). The cached vectors are the pooled
(and, per the key, normalised) ones; whitening is applied after the cache.

Integrity: every shard is checked when read (size, sha256, npy header, shape,
dtype, finite values). A shard that fails, or an index that cannot be parsed or
belongs to another key, is dropped with a ``CacheWarning``; its texts count as
misses, so the caller recomputes and stores them again. Writes go to a
temporary file and are renamed into place, and the index is updated under an
exclusive lock, so concurrent writers do not lose each other's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
INDEX_NAME = "index.json"


class CacheWarning(UserWarning):
    """A cache entry was corrupt or did not match its key and will be rebuilt, or the cache
    directory cannot be used (a file, not creatable, not writable) and the run goes on without it."""


def text_hashes(texts: Iterable[str]) -> list[str]:
    """sha1 hex digest of each text's UTF-8 bytes."""
    return [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]


def namespace_of(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:32]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (POSIX); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class EmbeddingCache:
    """Cached float32 vectors of dimension ``dim`` for one ``key`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, key: dict[str, Any], dim: int) -> None:
        self.root = Path(root)
        self.key = json.loads(json.dumps(key, sort_keys=True))
        self.dim = int(dim)
        self.directory = self.root / namespace_of(self.key)
        self.disabled = False
        if self.root.exists() and not self.root.is_dir():
            self._disable(f"{self.root} is a file, not a directory")

    def _disable(self, why: str) -> None:
        """Warn once and run without the cache (nothing is read or written from now on)."""
        if not self.disabled:
            warnings.warn(f"embedding cache_dir cannot be used ({why}); running without the cache",
                          CacheWarning, stacklevel=4)
        self.disabled = True

    # ------------------------------------------------------------------ index
    def _empty_index(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "key": self.key,
            "dim": self.dim,
            "dtype": "float32",
            "shards": {},
            "entries": {},
        }

    def _read_index(self) -> dict[str, Any]:
        path = self.directory / INDEX_NAME
        if not path.exists():
            return self._empty_index()
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            ok = (
                isinstance(index, dict)
                and index.get("format_version") == FORMAT_VERSION
                and index.get("key") == self.key
                and index.get("dim") == self.dim
                and index.get("dtype") == "float32"
                and isinstance(index.get("shards"), dict)
                and isinstance(index.get("entries"), dict)
            )
        except (OSError, ValueError):
            ok = False
        if not ok:
            warnings.warn(f"embedding cache index {path} is corrupt or belongs to another key; rebuilding it", CacheWarning, stacklevel=3)
            return self._empty_index()
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        _atomic_write(self.directory / INDEX_NAME, json.dumps(index, separators=(",", ":")).encode("utf-8"))

    def __len__(self) -> int:
        return len(self._read_index()["entries"])

    # ------------------------------------------------------------------ shards
    def _load_shard(self, name: str, meta: dict[str, Any]) -> np.ndarray | None:
        """The verified array of a shard, or None (with a warning) when it is damaged."""
        path = self.directory / name
        problem = None
        try:
            data = path.read_bytes()
            if len(data) != meta.get("bytes"):
                problem = f"size {len(data)} != {meta.get('bytes')} (truncated?)"
            elif hashlib.sha256(data).hexdigest() != meta.get("sha256"):
                problem = "checksum mismatch"
            else:
                import io

                arr = np.load(io.BytesIO(data), allow_pickle=False)
                if arr.dtype != np.float32:
                    problem = f"dtype {arr.dtype} != float32"
                elif arr.shape != (meta.get("rows"), self.dim):
                    problem = f"shape {arr.shape} != {(meta.get('rows'), self.dim)}"
                elif not np.isfinite(arr).all():
                    problem = "non-finite values"
                else:
                    return arr
        except (OSError, ValueError) as exc:
            problem = f"unreadable ({exc})"
        warnings.warn(f"embedding cache shard {path} is damaged: {problem}; its vectors will be recomputed", CacheWarning, stacklevel=3)
        return None

    def _drop_shards(self, names: Sequence[str]) -> None:
        if not names:
            return
        with _locked(self.directory / ".lock"):
            index = self._read_index()
            bad = set(names)
            index["entries"] = {h: v for h, v in index["entries"].items() if v[0] not in bad}
            for name in bad:
                index["shards"].pop(name, None)
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink()
            self._write_index(index)

    # ------------------------------------------------------------------ API
    def get(self, hashes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask [n] bool, vectors [found, dim] float32) for the texts' hashes."""
        found = np.zeros(len(hashes), dtype=bool)
        try:
            usable = not self.disabled and self.directory.is_dir()
        except OSError:  # e.g. a permission error on a parent
            usable = False
        if not usable or not hashes:
            return found, np.zeros((0, self.dim), dtype=np.float32)
        index = self._read_index()
        entries, shards = index["entries"], index["shards"]
        wanted: dict[str, list[tuple[int, int]]] = {}
        for i, h in enumerate(hashes):
            hit = entries.get(h)
            if hit is not None and hit[0] in shards:
                wanted.setdefault(hit[0], []).append((i, int(hit[1])))
        vectors = np.zeros((len(hashes), self.dim), dtype=np.float32)
        damaged = []
        for name, rows in wanted.items():
            arr = self._load_shard(name, shards[name])
            if arr is None:
                damaged.append(name)
                continue
            pos = np.fromiter((p for p, _ in rows), dtype=np.int64, count=len(rows))
            src = np.fromiter((r for _, r in rows), dtype=np.int64, count=len(rows))
            if src.max(initial=-1) >= arr.shape[0]:
                damaged.append(name)
                continue
            vectors[pos] = arr[src]
            found[pos] = True
        try:
            self._drop_shards(damaged)
        except OSError as exc:  # a read-only cache: the damaged shards stay, the run goes on
            self._disable(f"{type(exc).__name__}: {exc}")
        return found, vectors[found]

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` [n, dim] for the texts' hashes as one new shard."""
        arr = np.ascontiguousarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape != (len(hashes), self.dim):
            raise ValueError(f"vectors must have shape {(len(hashes), self.dim)}, got {arr.shape}")
        if not len(hashes) or self.disabled:
            return
        try:
            self._put(hashes, arr)
        except OSError as exc:  # cache_dir is a file, cannot be created, is read-only, the disk is full
            self._disable(f"{type(exc).__name__}: {exc}")

    def _put(self, hashes: Sequence[str], arr: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        import io

        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        data = buf.getvalue()
        name = f"shard-{uuid.uuid4().hex}.npy"
        _atomic_write(self.directory / name, data)
        with _locked(self.directory / ".lock"):
            index = self._read_index()
            index["shards"][name] = {"rows": int(arr.shape[0]), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for row, h in enumerate(hashes):
                index["entries"][h] = [name, row]
            # Shards whose rows were all superseded are no longer referenced.
            live = {v[0] for v in index["entries"].values()}
            for old in [s for s in index["shards"] if s not in live]:
                index["shards"].pop(old)
                with contextlib.suppress(OSError):
                    (self.directory / old).unlink()
            self._write_index(index)

    def clear(self) -> None:
        """Remove every entry of this key."""
        if not self.directory.exists():
            return
        with _locked(self.directory / ".lock"):
            for p in self.directory.glob("shard-*.npy"):
                with contextlib.suppress(OSError):
                    p.unlink()
            self._write_index(self._empty_index())
