"""Distributed encoding: embed a Dask collection of texts across the workers of a cluster.

:func:`encode_dask` takes a Dask Series (or a DataFrame column, a Parquet folder, or a
plain list) and returns a Dask array [n, dim] whose blocks are the partitions, in order.
The encoder travels as its save (config JSON + whitening safetensors, see
:mod:`hybrid.dask_ship`); each worker loads it once and keeps the model in memory
(:func:`hybrid.encoder.load_model` caches it per process), then encodes each of its
partitions with :meth:`TransformerEncoder.encode` in batches on its own device
(``device="auto"``: the worker's GPU when it has one). The model files themselves are
looked up by path or hub id on the worker: use the default model (installed with
tagrank), a hub id, or a path every worker can read.

Results equal the single-machine ``encode`` to float rounding (each text is encoded
on its own row; only the batch padding differs, and padded positions are masked).
:func:`encode_to_npy` writes one ``.npy`` shard per partition instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from tagrank.baselines.validation import TagrankInputError, check_k, check_texts


def _worker_copy(encoder: Any) -> Any:
    """The encoder as the workers run it: same params and whitening, no driver-side cache or bars."""
    from tagrank.hybrid.encoder import TransformerEncoder

    if not isinstance(encoder, TransformerEncoder):
        raise TagrankInputError(f"encoder must be a TransformerEncoder, got {type(encoder).__name__}")
    params = {**encoder.get_params(), "cache_dir": None, "show_progress": False}
    copy = TransformerEncoder(**params)
    if hasattr(encoder, "whitening_"):
        copy.whitening_ = encoder.whitening_
    return copy


def as_text_series(texts: Any, column: str = "text", npartitions: int | None = None, client: Any = None) -> Any:
    """A Dask Series of texts from a Dask Series / DataFrame column, a Parquet folder or file, or an
    in-memory list / Series / DataFrame column (checked here as ``encode`` checks it, so it fails at once)."""
    import dask.dataframe as dd
    import pandas as pd

    if npartitions is not None:
        check_k(npartitions, "npartitions")
    if isinstance(texts, dd.Series):
        return texts
    if isinstance(texts, dd.DataFrame):
        if column not in texts.columns:
            raise TagrankInputError(f"texts has no column {column!r}; columns: {list(texts.columns)}")
        return texts[column]
    if isinstance(texts, str | os.PathLike):
        path = Path(texts)
        if not path.exists():
            raise TagrankInputError(f"texts: {path} does not exist (expected a Parquet folder or file)")
        return dd.read_parquet(str(path), columns=[column])[column]
    values = _in_memory_texts(texts, column)
    return dd.from_pandas(pd.Series(values, dtype=object, name=column),
                          npartitions=_n_parts(npartitions, client, len(values)), sort=False)


def _in_memory_texts(texts: Any, column: str) -> list[str]:
    """An in-memory list / Series / DataFrame column of texts, checked as ``encode`` checks it."""
    import pandas as pd

    if isinstance(texts, pd.DataFrame):
        if column not in texts.columns:
            raise TagrankInputError(f"texts has no column {column!r}; columns: {list(texts.columns)}")
        texts = texts[column]
    return check_texts(texts, "texts")  # what encode rejects, with its message


def _n_parts(npartitions: int | None, client: Any, n_rows: int) -> int:
    return max(1, min(npartitions or default_partitions(client, n_rows), n_rows or 1))


def text_partitions(texts: Any, column: str = "text", npartitions: int | None = None,
                    client: Any = None) -> list[tuple[Any, Any]]:
    """(partition, its first row) pairs of ``texts`` to encode.

    An in-memory input is split here, on the driver: each task carries its texts and offset and
    depends on no other task, so Dask's queue gives the next partition to whichever worker is free.
    (Through a ``from_pandas`` Series and lazily summed offsets, 16 equal partitions ran 9 / 7 on two
    workers: the encode tasks followed where their inputs had been computed.) A Dask collection or
    a Parquet input keeps its own partitions, with offsets summed lazily (:func:`partition_offsets`)."""
    import dask.dataframe as dd

    if npartitions is not None:
        check_k(npartitions, "npartitions")
    if isinstance(texts, dd.Series | dd.DataFrame | str | os.PathLike):
        return partition_offsets(as_text_series(texts, column, npartitions, client))
    values = _in_memory_texts(texts, column)
    bounds = np.linspace(0, len(values), _n_parts(npartitions, client, len(values)) + 1).astype(np.int64)
    return [(values[a:b], int(a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def check_texts_from(values: list[Any], field: str, offset: int) -> list[str]:
    """:func:`check_texts` of one partition whose first row is row ``offset`` of the whole input
    (an error names the row as the caller numbers it, not its place in the partition)."""
    import pandas as pd

    try:
        return check_texts(values, field)
    except TagrankInputError:
        pass  # checked again with the rows numbered from offset: raises with the row the caller knows
    return check_texts(pd.Series(values, index=pd.RangeIndex(offset, offset + len(values)), dtype=object), field)


def default_partitions(client: Any, n_rows: int, per_worker: int = 2, min_rows: int = 256) -> int:
    """Partitions for ``n_rows``: ``per_worker`` per worker thread, none smaller than ``min_rows``."""
    threads = 1
    if client is not None:
        try:
            threads = max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a client without workers yet
            threads = 1
    return max(1, min(per_worker * threads, max(1, n_rows // min_rows)))


def _encode_partition(part: Any, offset: int, payload: dict[str, bytes], key: str, batch_size: int | None,
                      raw: bool, device: str | None) -> np.ndarray:
    """Runs on a worker: the shipped encoder (loaded once per process) encodes one partition
    (``offset``: its first row in the whole input, for the row an error names)."""
    from tagrank.hybrid.dask_ship import load_shipped
    from tagrank.hybrid.worker_memory import reuse_freed_memory

    enc = load_shipped("TransformerEncoder", payload, key)
    texts = check_texts_from(list(part), "texts", offset)
    fn = enc.encode_raw if raw else enc.encode
    with reuse_freed_memory():  # the worker's malloc setting would page-fault every activation anew
        return fn(texts, batch_size=batch_size, device=device, show_progress=False)


def encode_dask(
    encoder: Any,
    texts: Any,
    column: str = "text",
    batch_size: int | None = None,
    raw: bool = False,
    device: str | None = None,
    client: Any = None,
    npartitions: int | None = None,
) -> Any:
    """Embeddings of ``texts`` as a Dask array [n, dim] (float32), one block per partition, in order.

    ``raw``: the pooled vectors before whitening (``encode_raw``). ``device`` overrides the
    encoder's device on the workers. Run it with ``client.compute(arr).result()`` (or ``.compute()``
    with the process's only / newest client)."""
    import dask
    import dask.array as da
    from tagrank.hybrid.dask_ship import saved_files, shipped

    parts = text_partitions(texts, column, npartitions, client)
    worker_enc = _worker_copy(encoder)
    dim = int(worker_enc.dim) if not raw else int(worker_enc._model(_driver_device(worker_enc))[1].config.hidden_size)
    payload, key = shipped("TransformerEncoder", saved_files(worker_enc))
    fn = dask.delayed(_encode_partition, pure=True)
    blocks = [
        da.from_delayed(fn(part, offset, payload, key, batch_size, raw, device), shape=(np.nan, dim), dtype=np.float32)
        for part, offset in parts
    ]
    return da.concatenate(blocks, axis=0) if blocks else da.zeros((0, dim), dtype=np.float32)


def partition_offsets(series: Any) -> list[tuple[Any, Any]]:
    """(partition, its first row in the whole series) as Delayed pairs: the offsets are a lazy running
    sum of the partitions' lengths, so a partition's checks can name the row as the caller numbers it."""
    import operator

    import dask

    out, start = [], 0
    for part in series.to_delayed():
        out.append((part, start))
        start = dask.delayed(operator.add, pure=True)(start, dask.delayed(len, pure=True)(part))
    return out


def _driver_device(encoder: Any) -> Any:
    from tagrank.baselines.vectors import resolve_device

    return resolve_device("cpu" if str(encoder.device) == "auto" else encoder.device)


def encode_to_npy(encoder: Any, texts: Any, out_dir: str | os.PathLike, column: str = "text",
                  batch_size: int | None = None, client: Any = None) -> list[Path]:
    """Encode ``texts`` on the cluster and write one ``part-NNNNN.npy`` per partition under ``out_dir``
    (the folder must be reachable by the workers, e.g. shared storage); returns the files in order."""
    import dask

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    arr = encode_dask(encoder, texts, column=column, batch_size=batch_size, client=client)
    writes = [dask.delayed(_save_npy)(block, str(root / f"part-{i:05d}.npy")) for i, block in enumerate(arr.to_delayed().ravel())]
    if client is None:
        return [Path(p) for p in dask.compute(*writes)]
    return [Path(p) for p in client.gather(client.compute(writes))]


def _save_npy(block: np.ndarray, path: str) -> str:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(block), allow_pickle=False)
    os.replace(tmp, path)  # atomic: a retried task overwrites, never duplicates
    return path


__all__ = ["as_text_series", "check_texts_from", "default_partitions", "encode_dask", "encode_to_npy",
           "partition_offsets", "text_partitions"]
