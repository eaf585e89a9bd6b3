"""Batch scoring on a Dask cluster: ``recommend`` for every user, ``search`` for every query, to Parquet.

The fitted pipeline travels once, as its saved directory (JSON + LightGBM text +
npz, never pickle; :mod:`hybrid.dask_ship`): the driver reads the directory into a
payload that is one task key, each worker loads it once with
``RecommendPipeline.load`` / ``SearchPipeline.load`` and reuses it for all its
partitions. Each partition of users (queries) becomes a long frame -- one row per
(user, rank) -- written as ``part.<i>.parquet`` under the output folder. A
partition lost with its worker is recomputed elsewhere and its file rewritten
whole, so the output has every user once, never twice.

Each part is written by its task itself (pandas + pyarrow, ``part.<NNNNN>.parquet``,
renamed into place when complete); item ids keep their type per part.
Rows: ``user_id, rank, item_id, score`` (recommend) and ``query, rank, item_id,
score`` (search); ranks start at 1, and slots the pipeline cannot fill (fewer
than ``k`` candidates) are left out. The result equals the single-machine
``recommend`` / ``search`` of the same users and queries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tagrank.baselines.validation import TagrankInputError, check_k, check_texts

KINDS = {"recommend": ("RecommendPipeline", "user_id"), "search": ("SearchPipeline", "query")}


def long_frame(kind: str, keys: list[Any], ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """(key, rank, item_id, score) rows of top-k arrays, unfilled slots (None / -inf) left out."""
    key_col = KINDS[kind][1]
    n, k = ids.shape if ids.ndim == 2 else (len(keys), 0)
    rank = np.tile(np.arange(1, k + 1), n)
    key = np.repeat(np.asarray(keys, dtype=object), k)
    flat_ids = ids.reshape(-1)
    flat_scores = scores.reshape(-1).astype(np.float64)
    keep = np.isfinite(flat_scores) & np.array([i is not None for i in flat_ids], dtype=bool)
    out = pd.DataFrame({key_col: key[keep], "rank": rank[keep].astype(np.int64),
                        "item_id": pd.Series(flat_ids[keep], dtype=object), "score": flat_scores[keep]})
    return out.reset_index(drop=True)


def score_keys(kind: str, pipe: Any, keys: list[Any], k: int, exclude_seen: bool = True) -> pd.DataFrame:
    """The single-machine answer for ``keys`` as a long frame (what each partition computes)."""
    if kind == "recommend":
        ids, scores = pipe.recommend(keys, k=k, exclude_seen=exclude_seen)
    else:
        ids, scores = pipe.top_k(keys, k=k)  # its own check: a missing query is an error, never "nan"
    return long_frame(kind, keys, ids, scores)


def _score_partition(part: pd.Series, kind: str, payload: dict[str, bytes], key: str, k: int,
                     exclude_seen: bool, out_dir: str, offsets: list[int],
                     partition_info: dict | None = None) -> pd.DataFrame:
    """Runs on a worker: the shipped pipeline (loaded once per process) scores one partition and
    writes it to ``part.<number>.parquet`` (atomically: a rerun replaces the file, never adds one).

    ``offsets``: each partition's first row in the whole input, so that a bad query names its row there."""
    from tagrank.hybrid.dask_encode import check_texts_from
    from tagrank.hybrid.dask_ship import load_shipped
    from tagrank.hybrid.worker_memory import reuse_freed_memory

    number = int(partition_info["number"]) if partition_info else 0
    keys = part.tolist()
    if kind == "search":
        keys = check_texts_from(keys, "query_texts", offsets[number])
    pipe = load_shipped(KINDS[kind][0], payload, key)
    with reuse_freed_memory():  # query encoding and scoring reuse the heap (see hybrid.worker_memory)
        out = score_keys(kind, pipe, keys, k, exclude_seen)
    path = Path(out_dir) / f"part.{number:05d}.parquet"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    out.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return pd.DataFrame({"part": [number], "rows": [len(out)], "keys": [len(part)]})


def read_keys(source: Any, column: str, npartitions: int | None = None, field: str | None = None) -> Any:
    """A Dask Series of user ids / query texts: a Dask Series or DataFrame, a list / pandas
    Series / DataFrame, or a CSV / Parquet file or folder (``column`` names a frame's column).

    ``field``: in-memory keys are checked here as texts named ``field`` (the queries of ``search``),
    so a bad one fails before anything runs; keys read lazily are checked in their partition."""
    import dask.dataframe as dd

    if npartitions is not None:
        check_k(npartitions, "npartitions")
    if isinstance(source, dd.Series):
        return source
    if isinstance(source, dd.DataFrame):
        if column not in source.columns:
            raise TagrankInputError(f"input has no column {column!r}; columns: {list(source.columns)}")
        return source[column]
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise TagrankInputError(f"input {path}: no such file or folder")
        is_csv = path.suffix.lower() in (".csv", ".tsv") or (path.is_dir() and any(path.glob("*.csv")))
        ddf = dd.read_csv(str(path) if path.is_file() else str(path / "*.csv"), sep="\t" if path.suffix == ".tsv" else ",",
                          dtype={column: object}) if is_csv else dd.read_parquet(str(path))
        if column not in ddf.columns:
            raise TagrankInputError(f"input {path} has no column {column!r}; columns: {list(ddf.columns)}")
        keys = ddf[column]
        return keys.repartition(npartitions=npartitions) if npartitions else keys
    if isinstance(source, pd.DataFrame):
        if column not in source.columns:
            raise TagrankInputError(f"input has no column {column!r}; columns: {list(source.columns)}")
        source = source[column]
    values = pd.Series(check_texts(source, field) if field else list(source), dtype=object, name=column)
    if len(values) == 0:
        raise TagrankInputError("input has no users / queries")
    return dd.from_pandas(values, npartitions=max(1, min(npartitions or 4, len(values))), sort=False)


def batch_score(
    kind: str,
    model: str | os.PathLike,
    keys: Any,
    output: str | os.PathLike,
    k: int = 10,
    column: str | None = None,
    exclude_seen: bool = True,
    npartitions: int | None = None,
    client: Any = None,
) -> Path:
    """Score every user (``kind="recommend"``) or query (``"search"``) of ``keys`` with the saved
    pipeline ``model`` on the cluster and write Parquet under ``output``; returns ``output``.

    ``output`` must not exist yet, or be an empty folder (a rerun never mixes with old parts)."""
    import dask
    from distributed import default_client
    from tagrank.hybrid.dask_ship import directory_files, shipped

    if kind not in KINDS:
        raise TagrankInputError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    k = check_k(k)
    if npartitions is not None:
        check_k(npartitions, "npartitions")
    out = Path(output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TagrankInputError(f"output {out} already exists and is not an empty folder")
    client = client or default_client()
    files = directory_files(model)
    _check_kind(kind, files, model)
    series = read_keys(keys, column or KINDS[kind][1], npartitions, "query_texts" if kind == "search" else None)
    payload, key = shipped(KINDS[kind][0], files)
    lengths = client.compute([dask.delayed(len, pure=True)(part) for part in series.to_delayed()], sync=True)
    offsets = np.r_[0, np.cumsum(lengths, dtype=np.int64)[:-1]].tolist()
    out.mkdir(parents=True, exist_ok=True)
    meta = pd.DataFrame({"part": pd.Series(dtype=np.int64), "rows": pd.Series(dtype=np.int64),
                         "keys": pd.Series(dtype=np.int64)})
    written = client.compute(series.map_partitions(_score_partition, kind, payload, key, k, exclude_seen, str(out),
                                                   offsets, meta=meta, align_dataframes=False)).result()
    if written["part"].nunique() != len(written) or int(written["keys"].sum()) != int(sum(lengths)):
        raise TagrankInputError(f"batch {kind}: the parts written do not cover the input once")  # pragma: no cover
    return out


def _check_kind(kind: str, files: dict[str, bytes], model: Any) -> None:
    import json

    try:
        config = json.loads(files["config.json"])
    except ValueError as exc:
        raise TagrankInputError(f"{model}/config.json is not JSON: {exc}") from None
    found = config.get("kind") or config.get("class")
    if found != KINDS[kind][0]:
        raise TagrankInputError(f"{model} holds a {found!r}; batch {kind} needs a saved {KINDS[kind][0]}")


def batch_recommend(model: str | os.PathLike, users: Any, output: str | os.PathLike, k: int = 10,
                    column: str = "user_id", exclude_seen: bool = True, client: Any = None,
                    npartitions: int | None = None) -> Path:
    """Top-k recommendations of every user in ``users`` to Parquet (see :func:`batch_score`)."""
    return batch_score("recommend", model, users, output, k, column, exclude_seen, npartitions, client)


def batch_search(model: str | os.PathLike, queries: Any, output: str | os.PathLike, k: int = 10,
                 column: str = "query", client: Any = None, npartitions: int | None = None) -> Path:
    """Top-k search results of every query in ``queries`` to Parquet (see :func:`batch_score`)."""
    return batch_score("search", model, queries, output, k, column, True, npartitions, client)


def read_output(path: str | os.PathLike) -> pd.DataFrame:
    """A batch output folder as one pandas frame, in partition order."""
    files = sorted(Path(path).glob("part.*.parquet"))
    if not files:
        raise TagrankInputError(f"{path} holds no Parquet parts")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


__all__ = ["batch_recommend", "batch_score", "batch_search", "long_frame", "read_keys", "read_output", "score_keys"]
