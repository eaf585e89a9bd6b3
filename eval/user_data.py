"""A user's own dataset from files: judgments (search), interactions (recommend) or
pairs (similarity), an optional item-text file, a column mapping and a split file.

The result is a :class:`~tagrank.eval.datasets.Dataset` in the library's uniform shape,
so ``tagrank bench --judgments ...`` runs the same protocol and tables as on the
built-in datasets. A split file assigns each unit to ``train`` / ``valid`` /
``test`` and replaces the protocol's own split: a query (search), a pair
(similarity), or a (user, item) interaction (recommend: ``train`` / ``test``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tagrank.baselines.validation import TagrankInputError, check_columns

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


def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a frame; a clear error when it is missing or unreadable."""
    p = Path(path)
    if not p.exists():
        raise TagrankInputError(f"{what} file {p}: no such file")
    if p.is_dir() and not any(p.glob("*.parquet")):
        raise TagrankInputError(f"{what} {p} is a directory, not a CSV or Parquet file")
    try:
        if p.suffix.lower() in (".parquet", ".pq") or p.is_dir():
            return pd.read_parquet(p)
        return pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise TagrankInputError(f"{what} file {p} could not be read: {exc}") from None


def rename_columns(frame: pd.DataFrame, columns: dict[str, str], needed: tuple[str, ...], what: str) -> pd.DataFrame:
    """Rename the user's columns to the library's (``columns``: field -> user's column)."""
    mapping = {columns.get(field, CANONICAL[field]): CANONICAL[field] for field in needed}
    check_columns(frame, list(mapping), what)
    return frame.rename(columns=mapping)


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
    split_frame = None
    if split is not None:
        split_frame = read_table(split, "split")
        split_frame = split_frame.rename(columns={columns.get(f, CANONICAL[f]): CANONICAL[f]
                                                 for f in ("query", "user", "left", "right", "split")})
    frames: dict[str, pd.DataFrame] = {}
    if items is not None:
        it = rename_columns(read_table(items, "items"), columns, ("item", "text"), "items file")
        it = it.assign(item_id=it["item_id"].astype(str), text=it["text"].astype(str))
        it["tags"] = [[] for _ in range(len(it))]
        frames["items"] = it[["item_id", "text", "tags"]].reset_index(drop=True)
    if judgments is not None:
        j = rename_columns(read_table(judgments, "judgments"), columns, ("query", "item", "label"), "judgments file")
        j = j.assign(query=j["query"].astype(str), item_id=j["item_id"].astype(str),
                     label=pd.to_numeric(j["label"], errors="coerce"))
        if j["label"].isna().any():
            raise TagrankInputError(f"judgments file: label at row {int(j['label'].isna().to_numpy().argmax())} is not a number")
        j = j.assign(label=rescale_labels(j["label"]))
        if split_frame is not None:
            split_frame = split_frame.assign(query=split_frame["query"].astype(str))
            j = _apply_split(j, split_frame, ("query",), "judgments")
        if "items" not in frames:
            raise TagrankInputError("a search dataset needs --items (item id and text of every judged item)")
        keep = [c for c in ("query", "item_id", "label", "split") if c in j.columns]
        frames["judgments"] = j[keep].reset_index(drop=True)
    if interactions is not None:
        needed = ("user", "item", "time")
        raw = read_table(interactions, "interactions")
        i = rename_columns(raw, columns, needed, "interactions file")
        weight_col = columns.get("weight", "weight")
        weight = pd.to_numeric(raw[weight_col], errors="coerce") if weight_col in raw.columns else 1.0
        i = i.assign(user_id=i["user_id"].astype(str), item_id=i["item_id"].astype(str), weight=weight)
        if split_frame is not None:
            item_col = columns.get("item", "item_id")
            split_frame = split_frame.rename(columns={item_col: "item_id"})
            split_frame = split_frame.assign(user_id=split_frame["user_id"].astype(str),
                                             item_id=split_frame["item_id"].astype(str))
            i = _apply_split(i, split_frame, ("user_id", "item_id"), "interactions")
        keep = [c for c in ("user_id", "item_id", "timestamp", "weight", "split") if c in i.columns]
        frames["interactions"] = i[keep].reset_index(drop=True)
        if "items" not in frames:
            ids = sorted(frames["interactions"]["item_id"].unique())
            frames["items"] = pd.DataFrame({"item_id": ids, "text": ids, "tags": [[] for _ in ids]})
    if pairs is not None:
        p = rename_columns(read_table(pairs, "pairs"), columns, ("left", "right", "score"), "pairs file")
        p = p.assign(left=p["left"].astype(str), right=p["right"].astype(str),
                     score=pd.to_numeric(p["score"], errors="coerce"))
        if split_frame is not None:
            p = _apply_split(p, split_frame, ("left", "right"), "pairs")
        keep = [c for c in ("left", "right", "score", "split") if c in p.columns]
        frames["pairs"] = p[keep].reset_index(drop=True)
    return Dataset(name=name, source="user files", licence="the user's", language=language, **frames)


def task_of(dataset) -> str:
    """The benchmark task whose protocol fits a user's dataset."""
    if dataset.judgments is not None:
        return "search"
    if dataset.interactions is not None:
        return "recommend"
    if dataset.pairs is not None:
        return "similarity"
    raise TagrankInputError("the dataset has no judgments, interactions or pairs")
