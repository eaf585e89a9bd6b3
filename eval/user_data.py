"""A user's own dataset from files: judgments (search), interactions (recommend) or
pairs (similarity), an optional item-text file, a column mapping and a split file.

The result is a :class:`~tagrank.eval.datasets.Dataset` in the library's uniform shape,
so ``tagrank bench --judgments ...`` runs the same protocol and tables as on the
built-in datasets. A split file assigns each unit to ``train`` / ``valid`` /
``test`` and replaces the protocol's own split: a query (search), a pair
(similarity), or a (user, item) interaction (recommend: ``train`` / ``test``).

Id and text columns are read as text (``007`` stays ``"007"``; only an empty cell is
missing). A missing id, query or text, a missing or non-numeric label, score or
weight, and a split file naming a unit the data lacks are errors naming the file,
column and row. Repeated (query, item) judgments are merged by averaging their labels,
as ``SearchPipeline`` does; ``Dataset.counts["merged_duplicate_judgments"]`` says how
many rows were merged, and a warning says so too.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from tagrank.baselines.validation import TagrankInputError, check_columns
from tagrank.eval.dataset_io import _floats, _ids, _row, _texts

#: the library's column names, and the user-facing keys of a column mapping
CANONICAL = {"query": "query", "item": "item_id", "label": "label", "user": "user_id", "time": "timestamp",
             "text": "text", "left": "left", "right": "right", "score": "score", "split": "split",
             "weight": "weight"}
SPLITS = ("train", "valid", "test")


def parse_columns(spec: str | None) -> dict[str, str]:
    """``"query=search_term,item=product_uid"`` -> ``{"query": "search_term", "item": "product_uid"}``."""
    if not spec:
        return {}
    out = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise TagrankInputError(f"--columns entry {part!r} is not of the form name=column")
        if key not in CANONICAL:
            raise TagrankInputError(f"--columns names unknown field {key!r}; known: {sorted(CANONICAL)}")
        out[key] = value
    return out


def read_table(path: str | os.PathLike, what: str, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a frame (``text_columns`` of a CSV read as str, only empty cells missing)."""
    p = Path(path)
    if not p.exists():
        raise TagrankInputError(f"{what} file {p}: no such file")
    if p.is_dir() and not any(p.glob("*.parquet")):
        raise TagrankInputError(f"{what} {p} is a directory, not a CSV or Parquet file")
    try:
        if p.suffix.lower() in (".parquet", ".pq") or p.is_dir():
            return pd.read_parquet(p)
        return pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",",
                           dtype={c: str for c in text_columns}, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise TagrankInputError(f"{what} file {p} could not be read: {exc}") from None


def rename_columns(frame: pd.DataFrame, columns: dict[str, str], needed: tuple[str, ...], what: str) -> pd.DataFrame:
    """Rename the user's columns to the library's (``columns``: field -> user's column)."""
    mapping = {columns.get(field, CANONICAL[field]): CANONICAL[field] for field in needed}
    check_columns(frame, list(mapping), what)
    return frame.rename(columns=mapping)


def _col(columns: dict[str, str], field: str) -> str:
    """The user's name of a field's column."""
    return columns.get(field, CANONICAL[field])


def _split_table(path: str | os.PathLike, columns: dict[str, str], fields: tuple[str, ...]) -> pd.DataFrame:
    """The split file with its key columns (``fields``) and split column checked and renamed to the library's."""
    names = {_col(columns, f): CANONICAL[f] for f in (*fields, "split")}
    raw = read_table(path, "split", tuple(names))
    check_columns(raw, list(names), "split file")
    out = raw[list(names)].rename(columns=names)
    for user_col, col in names.items():
        out[col] = (_ids if col in ("user_id", "item_id") else _texts)(raw, user_col, Path(path))
    return out


def _apply_split(frame: pd.DataFrame, split: pd.DataFrame, keys: tuple[str, ...], what: str) -> pd.DataFrame:
    check_columns(split, [*keys, "split"], "split file")
    bad = sorted(set(split["split"].astype(str)) - set(SPLITS))
    if bad:
        raise TagrankInputError(f"split file: split values must be {list(SPLITS)}, got {bad}")
    if split.duplicated(list(keys)).any():
        row = split.index[split.duplicated(list(keys))][0]
        raise TagrankInputError(f"split file: row {row!r} assigns {split.loc[row, list(keys)].tolist()} a second time")
    merged = frame.drop(columns=["split"], errors="ignore").merge(split[[*keys, "split"]], on=list(keys), how="left")
    missing = merged["split"].isna()
    if missing.any():
        row = int(missing.to_numpy().nonzero()[0][0])
        raise TagrankInputError(
            f"split file assigns no split to {what} row {row} ({merged.loc[row, list(keys)].tolist()})"
        )
    known = set(frame[list(keys)].itertuples(index=False, name=None))
    unknown = [i for i, key in enumerate(split[list(keys)].itertuples(index=False, name=None)) if key not in known]
    if unknown:
        rows = split[list(keys)].iloc[unknown[:5]].itertuples(index=False, name=None)
        shown = [key[0] if len(keys) == 1 else key for key in rows]
        unit = keys[0] if len(keys) == 1 else f"({', '.join(keys)})"
        raise TagrankInputError(
            f"split file: {len(unknown)} row(s) name a {unit} that is not in the {what} file, first at "
            f"{_row(split.index[unknown[0]])}: {shown}{' ...' if len(unknown) > 5 else ''}"
        )
    return merged


def rescale_labels(labels: pd.Series) -> pd.Series:
    """Map a user's graded labels linearly onto the search protocol's 1..3 scale (Home Depot's).

    NDCG with linear gains is unchanged by the rescaling; "relevant" (label >= 2.5 on 1..3)
    becomes "in the top quarter of the user's label range". Negative labels are refused.
    """
    lo, hi = float(labels.min()), float(labels.max())
    if lo < 0:
        row = labels.index[labels.to_numpy() < 0][0]
        raise TagrankInputError(f"judgments label at row {row!r} is {float(labels[row])}: labels must be >= 0")
    if hi == lo:
        raise TagrankInputError(f"every judgments label is {lo}: a ranking needs at least two grades")
    return 1.0 + 2.0 * (labels - lo) / (hi - lo)


def user_dataset(
    judgments: str | os.PathLike | None = None,
    interactions: str | os.PathLike | None = None,
    pairs: str | os.PathLike | None = None,
    items: str | os.PathLike | None = None,
    split: str | os.PathLike | None = None,
    columns: dict[str, str] | None = None,
    name: str = "user",
    language: str = "en",
):
    """Build a Dataset from a user's files (exactly one of judgments / interactions / pairs)."""
    from tagrank.eval.datasets import Dataset

    given = [k for k, v in (("judgments", judgments), ("interactions", interactions), ("pairs", pairs)) if v]
    if len(given) != 1:
        raise TagrankInputError(f"give exactly one of judgments, interactions or pairs, got {given or 'none'}")
    columns = dict(columns or {})
    frames: dict[str, pd.DataFrame] = {}
    counts: dict[str, int] = {}
    if items is not None:
        raw = read_table(items, "items", (_col(columns, "item"), _col(columns, "text")))
        it = rename_columns(raw, columns, ("item", "text"), "items file")
        it = it.assign(item_id=_ids(raw, _col(columns, "item"), Path(items)),
                       text=_texts(raw, _col(columns, "text"), Path(items)))
        it["tags"] = [[] for _ in range(len(it))]
        frames["items"] = it[["item_id", "text", "tags"]].reset_index(drop=True)
    if judgments is not None:
        path = Path(judgments)
        raw = read_table(judgments, "judgments", (_col(columns, "query"), _col(columns, "item"),
                                                     _col(columns, "label")))
        j = rename_columns(raw, columns, ("query", "item", "label"), "judgments file")
        j = j.assign(query=_texts(raw, _col(columns, "query"), path), item_id=_ids(raw, _col(columns, "item"), path),
                     label=_floats(raw, _col(columns, "label"), path))
        j = j.assign(label=rescale_labels(j["label"]))
        if split is not None:
            j = _apply_split(j, _split_table(split, columns, ("query",)), ("query",), "judgments")
        # one label per (query, item): repeats are averaged, as SearchPipeline does (a query has one split)
        n_rows = len(j)
        j = j.groupby([c for c in ("query", "item_id", "split") if c in j.columns], sort=False, as_index=False)[
            "label"].mean()
        if len(j) < n_rows:
            counts["merged_duplicate_judgments"] = n_rows - len(j)
            warnings.warn(f"judgments file {path}: {n_rows - len(j)} row(s) repeat an earlier (query, item) and "
                          f"were merged into it, averaging the labels", UserWarning, stacklevel=2)
        if "items" not in frames:
            raise TagrankInputError("a search dataset needs --items (item id and text of every judged item)")
        keep = [c for c in ("query", "item_id", "label", "split") if c in j.columns]
        frames["judgments"] = j[keep].reset_index(drop=True)
    if interactions is not None:
        needed = ("user", "item", "time")
        path = Path(interactions)
        raw = read_table(interactions, "interactions", (_col(columns, "user"), _col(columns, "item"),
                                                           _col(columns, "weight")))
        i = rename_columns(raw, columns, needed, "interactions file")
        weight_col = _col(columns, "weight")
        weight = _floats(raw, weight_col, path) if weight_col in raw.columns else 1.0
        i = i.assign(user_id=_ids(raw, _col(columns, "user"), path), item_id=_ids(raw, _col(columns, "item"), path),
                     weight=weight)
        if split is not None:
            i = _apply_split(i, _split_table(split, columns, ("user", "item")), ("user_id", "item_id"), "interactions")
        keep = [c for c in ("user_id", "item_id", "timestamp", "weight", "split") if c in i.columns]
        frames["interactions"] = i[keep].reset_index(drop=True)
        if "items" not in frames:
            ids = sorted(frames["interactions"]["item_id"].unique())
            frames["items"] = pd.DataFrame({"item_id": ids, "text": ids, "tags": [[] for _ in ids]})
    if pairs is not None:
        path = Path(pairs)
        raw = read_table(pairs, "pairs", (_col(columns, "left"), _col(columns, "right"),
                                             _col(columns, "score")))
        p = rename_columns(raw, columns, ("left", "right", "score"), "pairs file")
        p = p.assign(left=_texts(raw, _col(columns, "left"), path), right=_texts(raw, _col(columns, "right"), path),
                     score=_floats(raw, _col(columns, "score"), path))
        if split is not None:
            p = _apply_split(p, _split_table(split, columns, ("left", "right")), ("left", "right"), "pairs")
        keep = [c for c in ("left", "right", "score", "split") if c in p.columns]
        frames["pairs"] = p[keep].reset_index(drop=True)
    return Dataset(name=name, source="user files", licence="the user's", language=language, counts=counts, **frames)


def task_of(dataset) -> str:
    """The benchmark task whose protocol fits a user's dataset."""
    if dataset.judgments is not None:
        return "search"
    if dataset.interactions is not None:
        return "recommend"
    if dataset.pairs is not None:
        return "similarity"
    raise TagrankInputError("the dataset has no judgments, interactions or pairs")
