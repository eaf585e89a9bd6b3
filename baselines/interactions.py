"""Shared helpers for the interaction scorers (popularity, ALS, item2vec).

* the CSR user x item matrix (rows = users, columns = items, in the order the
  scorer indexed them) with summed interaction weights,
* the seen-items exclusion mask handed to :func:`baselines.vectors.top_k`,
* time-ordered per-user item sequences (item2vec),
* the ``save`` / ``load`` directory format shared by every baseline here:
  ``config.json`` (with ``format_version``) + ``arrays.npz`` read with
  ``allow_pickle=False``. Nothing is ever pickled.

Nothing here mutates its input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagrank.baselines.sparse_topk import csr_from_arrays, csr_to_arrays
from tagrank.baselines.timeparse import to_seconds
from tagrank.baselines.saved import load_guard
from tagrank.baselines.validation import SavedModelError, TagrankInputError, check_finite

#: version of the save directory layout; ``load`` refuses any other
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.npz"
TIMESTAMP_COLUMN = "timestamp"


# --------------------------------------------------------------------------- weights


def interaction_weights(interactions: pd.DataFrame, weight_col: str | None) -> np.ndarray:
    """Per-row weights as float64: ``weight_col`` (finite, >= 0) or 1 for every row."""
    if weight_col is None:
        return np.ones(len(interactions), dtype=np.float64)
    if weight_col not in interactions.columns:
        raise TagrankInputError(
            f"weight_col={weight_col!r} is not a column of interactions; it has {list(interactions.columns)}"
        )
    w = check_finite(interactions[weight_col].to_numpy(), f"interactions.{weight_col}").astype(np.float64)
    if (w < 0).any():
        row = int(np.argmax(w < 0))
        raise TagrankInputError(f"interactions.{weight_col}[{row}] is negative (got {w[row]!r})")
    return w


def timestamps_seconds(interactions: pd.DataFrame, column: str = TIMESTAMP_COLUMN,
                       time_unit: str | None = "auto") -> np.ndarray:
    """The timestamp column as float64 Unix seconds, read by :func:`baselines.timeparse.to_seconds`.

    Numbers (unit from their magnitude unless ``time_unit`` is given), datetimes and
    ISO-8601 strings; a missing or unreadable value fails naming its row label.
    """
    if column not in interactions.columns:
        raise TagrankInputError(
            f"interactions needs a {column!r} column here; it has {list(interactions.columns)}"
        )
    return to_seconds(interactions[column], f"interactions.{column}", time_unit)


# --------------------------------------------------------------------------- matrices


def user_item_matrix(
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    n_users: int,
    n_items: int,
    weights: np.ndarray | None = None,
) -> sp.csr_matrix:
    """CSR matrix of shape (n_users, n_items); repeated (user, item) pairs are summed.

    Row i is the user at position i of the scorer's user index, column j the
    item at position j of its item index. The result has sorted indices and no
    explicit zeros other than those whose summed weight is 0.
    """
    user_rows = np.asarray(user_rows, dtype=np.int64)
    item_rows = np.asarray(item_rows, dtype=np.int64)
    if user_rows.shape != item_rows.shape:
        raise TagrankInputError(f"user_rows has {user_rows.shape[0]} rows but item_rows has {item_rows.shape[0]}")
    if len(user_rows) and (user_rows.min() < 0 or user_rows.max() >= n_users):
        raise TagrankInputError("user_rows out of range for n_users")
    if len(item_rows) and (item_rows.min() < 0 or item_rows.max() >= n_items):
        raise TagrankInputError("item_rows out of range for n_items")
    data = np.ones(len(user_rows), dtype=np.float64) if weights is None else np.asarray(weights, np.float64)
    m = sp.coo_matrix((data, (user_rows, item_rows)), shape=(n_users, n_items)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m


def seen_matrix(user_rows: np.ndarray, item_rows: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary (n_users, n_items) CSR of the pairs seen in fit, whatever their weight."""
    m = user_item_matrix(user_rows, item_rows, n_users, n_items)
    m.data[:] = 1.0
    return m.astype(np.float32)


def exclusion_mask(seen: sp.csr_matrix, user_rows: np.ndarray) -> sp.csr_matrix:
    """The rows of ``seen`` for the queried users (one row per query, duplicates allowed)."""
    return seen[np.asarray(user_rows, dtype=np.int64)]


def self_mask(item_rows: np.ndarray, n_items: int) -> sp.csr_matrix:
    """(n_queries, n_items) mask with one entry per query: the query item itself."""
    item_rows = np.asarray(item_rows, dtype=np.int64)
    n = len(item_rows)
    return sp.csr_matrix(
        (np.ones(n, dtype=np.float32), (np.arange(n), item_rows)), shape=(n, n_items)
    )


# --------------------------------------------------------------------------- sequences


def _sort_keys(ids: np.ndarray) -> np.ndarray:
    """Rank of each id in the natural order of the ids (by ``str`` when they are not comparable)."""
    values = list(ids)
    try:
        order = sorted(range(len(values)), key=values.__getitem__)
    except TypeError:
        order = sorted(range(len(values)), key=lambda i: str(values[i]))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(values))
    return ranks


def user_sequences(
    interactions: pd.DataFrame,
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    n_users: int,
    item_ids: np.ndarray,
    time_column: str = TIMESTAMP_COLUMN,
) -> list[np.ndarray]:
    """Each user's item rows ordered by (timestamp, item id); one array per user row.

    Without a ``timestamp`` column, interactions keep their order in the frame.
    Repeated interactions stay in the sequence.
    """
    item_rank = _sort_keys(np.asarray(item_ids, dtype=object))[item_rows]
    if time_column in interactions.columns:
        t = timestamps_seconds(interactions, time_column)
        order = np.lexsort((item_rank, t, user_rows))
    else:
        order = np.lexsort((np.arange(len(user_rows)), user_rows))
    sorted_users = user_rows[order]
    sorted_items = item_rows[order]
    bounds = np.searchsorted(sorted_users, np.arange(n_users + 1))
    return [sorted_items[bounds[u] : bounds[u + 1]] for u in range(n_users)]


# --------------------------------------------------------------------------- persistence


def encode_ids(ids: np.ndarray, field: str) -> tuple[np.ndarray, str]:
    """Ids as a non-object numpy array plus their kind (``int``, ``float`` or ``str``)."""
    values = list(ids)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in values):
        return np.asarray(values, dtype=np.int64), "int"
    if all(isinstance(v, float | np.floating) for v in values):
        return np.asarray(values, dtype=np.float64), "float"
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str), "str"
    kinds = sorted({type(v).__name__ for v in values})
    raise TagrankInputError(
        f"cannot save {field}: ids must be all int, all float or all str, got {kinds}"
    )


def decode_ids(values: np.ndarray, kind: str) -> np.ndarray:
    """Back to an object array of Python scalars (int / float / str)."""
    if kind not in ("int", "float", "str"):
        raise TagrankInputError(f"unknown id kind {kind!r} in saved model")
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) for v in values.tolist()] if kind == "str" else values.tolist()
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise TagrankInputError(f"parameter value {value!r} cannot be saved")
    return value


def save_model_dir(
    path: str | Path, name: str, params: dict[str, Any], arrays: dict[str, np.ndarray], extra: dict[str, Any]
) -> Path:
    """Write ``config.json`` and ``arrays.npz`` under ``path`` (created if needed)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TagrankInputError(f"array {key!r} has dtype object and cannot be saved without pickle")
    config = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "params": {k: _jsonable(v) for k, v in params.items()},
        **{k: _jsonable(v) for k, v in extra.items()},
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    np.savez(path / ARRAYS_FILE, **arrays)
    return path


def load_model_dir(path: str | Path, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a directory written by :func:`save_model_dir`; checks name and ``format_version``."""
    from tagrank.baselines.saved import read_json, read_npz, saved_dir

    path = saved_dir(path, f"{name!r} model")
    cfg_file, arr_file = path / CONFIG_FILE, path / ARRAYS_FILE
    if not cfg_file.is_file() or not arr_file.is_file():
        raise SavedModelError(f"{path} is not a saved model: it needs {CONFIG_FILE} and {ARRAYS_FILE}")
    config = read_json(cfg_file, f"{name!r} model")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise SavedModelError(
            f"{cfg_file} has format_version {version!r}; this version of tagrank reads {FORMAT_VERSION}"
        )
    if config.get("name") != name:
        raise SavedModelError(f"{path} holds a {config.get('name')!r} model, not {name!r}")
    return config, read_npz(arr_file, f"{name!r} model")


class InteractionPersistenceMixin:
    """``save`` / ``load`` for InteractionScorers: ids, seen matrix and the subclass's arrays.

    Subclasses implement ``_state_arrays() -> dict`` and ``_set_state(arrays)``;
    the constructor parameters travel in ``config.json``.
    """

    name: str

    def save(self, path: str | Path) -> Path:
        """Save the fitted model to the directory ``path`` (no pickle)."""
        self._check_fitted("user_ids_")  # type: ignore[attr-defined]
        users, user_kind = encode_ids(self.user_ids_, "user_ids")  # type: ignore[attr-defined]
        items, item_kind = encode_ids(self.item_ids_, "item_ids")  # type: ignore[attr-defined]
        arrays = {"user_ids": users, "item_ids": items, **csr_to_arrays("seen", self.seen_)}  # type: ignore[attr-defined]
        arrays.update(self._state_arrays())
        return save_model_dir(
            path, self.name, self.get_params(), arrays,  # type: ignore[attr-defined]
            {"user_id_kind": user_kind, "item_id_kind": item_kind, "class": type(self).__name__},
        )

    @classmethod
    @load_guard
    def load(cls, path: str | Path) -> Any:
        """Load a model written by ``save``; it scores and recommends (it is not re-trained)."""
        config, arrays = load_model_dir(path, cls.name)
        obj = cls(**config["params"])
        obj.user_ids_ = decode_ids(arrays["user_ids"], config["user_id_kind"])
        obj.item_ids_ = decode_ids(arrays["item_ids"], config["item_id_kind"])
        obj.user_index_ = {u: i for i, u in enumerate(obj.user_ids_)}
        obj.item_index_ = {it: i for i, it in enumerate(obj.item_ids_)}
        obj.seen_ = csr_from_arrays("seen", arrays)
        obj._set_state(arrays)
        return obj

    def _state_arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
