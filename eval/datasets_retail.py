"""Loaders of the retail datasets: Home Depot search, MovieLens, Online Retail, Fashion taxonomy.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.dataset_io import (
    FASHION_ATTRIBUTES,
    FASHION_LEVELS,
    Dataset,
    _blank,
    _check_columns,
    _dataset,
    _fail,
    _first,
    _floats,
    _ids,
    _ints,
    _read_csv,
    _read_text,
    _require,
    _row,
    _texts,
)

# ----------------------------------------------------------------------------- home depot


def load_homedepot(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Home Depot product search relevance (homedepot/train.csv): graded (query, product) judgments.

    Source: Kaggle "Home Depot Product Search Relevance" (2016), train.csv;
    licence: Kaggle competition terms. Read as UTF-8, falling back to Latin-1
    (the original download). ``query`` keeps the original search_term text.
    Items are the distinct product_uid; a product listed with several titles
    keeps its most frequent one (ties: first seen), counted in
    ``items_with_several_titles``.
    """
    path = _require("homedepot", data_dir, "homedepot/train.csv")
    text, encoding = _read_text(path, ("utf-8-sig", "latin-1"))
    frame = _read_csv(path, text)
    _check_columns(frame, ("product_uid", "product_title", "search_term", "relevance"), path)
    item_id = _ids(frame, "product_uid", path)
    title = _texts(frame, "product_title", path)
    query = _texts(frame, "search_term", path)
    label = _floats(frame, "relevance", path)
    judgments = pd.DataFrame({"query": query, "item_id": item_id, "label": label}).reset_index(drop=True)
    titles = pd.DataFrame({"item_id": item_id, "text": title, "order": np.arange(len(frame))})
    ranked = (titles.groupby(["item_id", "text"], sort=False)
              .agg(n=("order", "size"), first=("order", "min")).reset_index()
              .sort_values(["n", "first"], ascending=[False, True], kind="stable"))
    several = int(ranked.groupby("item_id").size().gt(1).sum())
    items = ranked.drop_duplicates("item_id").sort_values("first", kind="stable")
    items = items[["item_id", "text"]].reset_index(drop=True)
    items["tags"] = [[] for _ in range(len(items))]
    counts = {"rows_read": len(frame), "items_with_several_titles": several}
    if encoding == "latin-1":
        counts["read_as_latin1"] = 1
    return _dataset("homedepot", counts, items=items, judgments=judgments)


# ----------------------------------------------------------------------------- movielens


def load_movielens(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """MovieLens latest-small (movielens/ml-latest-small/): movies, ratings and user tag events.

    Source: GroupLens, MovieLens "ml-latest-small" (2018), grouplens.org/datasets/movielens;
    licence: research use, see its README.txt. items.text = title + genres;
    genres "(no genres listed)" becomes an empty list; items.tags = that movie's
    user tags (lower-cased, stripped, unique, sorted). Interactions weight = rating
    (0.5-5). Tags empty after stripping, and ratings/tags of movies absent from
    movies.csv, are dropped and counted.
    """
    folder = "movielens/ml-latest-small"
    movies_path = _require("movielens", data_dir, f"{folder}/movies.csv")
    ratings_path = _require("movielens", data_dir, f"{folder}/ratings.csv")
    tags_path = _require("movielens", data_dir, f"{folder}/tags.csv")

    movies = _read_csv(movies_path)
    _check_columns(movies, ("movieId", "title", "genres"), movies_path)
    movie_id = _ids(movies, "movieId", movies_path)
    dup = movie_id.duplicated().to_numpy()
    if dup.any():
        i = _first(dup)
        raise _fail(movies_path, _row(i), "movieId", "duplicate movie id", movie_id.iat[i])
    titles = _texts(movies, "title", movies_path, strip=True)
    genres = [[g.strip() for g in str(s).split("|") if g.strip() and g.strip() != "(no genres listed)"]
              for s in movies["genres"]]
    known = set(movie_id)
    counts: dict[str, int] = {"movies_rows_read": len(movies)}

    ratings = _read_csv(ratings_path)
    _check_columns(ratings, ("userId", "movieId", "rating", "timestamp"), ratings_path)
    interactions = pd.DataFrame({
        "user_id": _ids(ratings, "userId", ratings_path),
        "item_id": _ids(ratings, "movieId", ratings_path),
        "timestamp": _ints(ratings, "timestamp", ratings_path),
        "weight": _floats(ratings, "rating", ratings_path),
    })
    counts["ratings_rows_read"] = len(ratings)
    unknown = ~interactions["item_id"].isin(known)
    counts["dropped_rating_unknown_movie"] = int(unknown.sum())
    interactions = interactions[~unknown].reset_index(drop=True)

    tags = _read_csv(tags_path)
    _check_columns(tags, ("userId", "movieId", "tag", "timestamp"), tags_path)
    tag_events = pd.DataFrame({
        "user_id": _ids(tags, "userId", tags_path),
        "item_id": _ids(tags, "movieId", tags_path),
        "tag": tags["tag"].astype(str).str.strip().str.lower().astype(str),
        "timestamp": _ints(tags, "timestamp", tags_path),
    })
    counts["tags_rows_read"] = len(tags)
    empty = tag_events["tag"].eq("")
    counts["dropped_empty_tag"] = int(empty.sum())
    unknown = ~tag_events["item_id"].isin(known) & ~empty
    counts["dropped_tag_unknown_movie"] = int(unknown.sum())
    tag_events = tag_events[~empty & ~unknown].reset_index(drop=True)

    tags_of = tag_events.groupby("item_id")["tag"].agg(lambda s: sorted(set(s))).to_dict()
    items = pd.DataFrame({
        "item_id": movie_id.to_numpy(),
        "text": [" ".join([t, *g]) for t, g in zip(titles, genres, strict=True)],
        "tags": [tags_of.get(m, []) for m in movie_id],
        "title": titles.to_numpy(),
        "genres": genres,
    })
    items["item_id"] = items["item_id"].astype(str)
    return _dataset("movielens", counts, items=items, interactions=interactions, tag_events=tag_events)


# ----------------------------------------------------------------------------- online retail


def _unix_seconds(frame: pd.DataFrame, column: str, path: Any) -> pd.Series:
    """Parse a date column to int64 unix seconds (naive times are taken as UTC); bad dates fail."""
    raw = frame[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        if parsed.isna().any():  # e.g. the UCI CSV's "12/1/2010 8:26": let pandas infer the format
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(raw, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = _first(bad)
        raise _fail(path, _row(frame.index[i]), column, "not a parsable date", raw.iloc[i])
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return ((parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).astype(np.int64)


def load_online_retail(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """UCI Online Retail (online_retail/online_retail.parquet): customer purchase events and products.

    Source: Chen, Sain and Guo (2012), UCI Machine Learning Repository "Online
    Retail" (archive.ics.uci.edu/dataset/352); licence: CC BY 4.0. Lines without
    CustomerID are dropped (``dropped_missing_customer``), as are lines with
    Quantity <= 0 (cancellations/returns; ``dropped_nonpositive_quantity``).
    One event per (InvoiceNo, StockCode): duplicate lines are merged
    (``merged_duplicate_lines``) with weight = summed Quantity and timestamp =
    the earliest InvoiceDate (naive times read as UTC) in unix seconds. Items =
    every StockCode with its most frequent Description (ties: alphabetical);
    events of a StockCode that never has a Description are dropped
    (``dropped_no_description``).
    """
    path = _require("online_retail", data_dir, "online_retail/online_retail.parquet")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise TagrankInputError(f"{path}: cannot read Parquet file: {exc}") from None
    _check_columns(frame, ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "CustomerID"), path)
    counts: dict[str, int] = {"rows_read": len(frame)}
    frame = frame.reset_index(drop=True)

    quantity = _floats(frame, "Quantity", path)
    customer = pd.to_numeric(frame["CustomerID"], errors="coerce")
    not_numeric = customer.isna().to_numpy() & ~_blank(frame["CustomerID"])
    if not_numeric.any():
        i = _first(not_numeric)
        raise _fail(path, _row(i), "CustomerID", "customer id is not a number", frame["CustomerID"].iat[i])
    no_customer = customer.isna().to_numpy()
    counts["dropped_missing_customer"] = int(no_customer.sum())
    nonpositive = (quantity.to_numpy() <= 0) & ~no_customer
    counts["dropped_nonpositive_quantity"] = int(nonpositive.sum())

    stock = _ids(frame, "StockCode", path)
    description = frame["Description"].astype(object).where(~_blank(frame["Description"]), None)
    described = pd.DataFrame({"item_id": stock, "text": description}).dropna(subset=["text"])
    described["text"] = described["text"].astype(str).str.strip()
    modes = (described.groupby(["item_id", "text"]).size().rename("n").reset_index()
             .sort_values(["item_id", "n", "text"], ascending=[True, False, True], kind="stable")
             .drop_duplicates("item_id"))
    items = pd.DataFrame({"item_id": modes["item_id"].astype(str).to_numpy(),
                          "text": modes["text"].astype(str).to_numpy()})
    items["tags"] = [[] for _ in range(len(items))]

    keep = frame.index[~no_customer & ~nonpositive]
    kept = frame.loc[keep]
    events = pd.DataFrame({
        "invoice": _ids(kept, "InvoiceNo", path),
        "item_id": stock.loc[keep],
        "user_id": _ids(pd.DataFrame({"CustomerID": customer.loc[keep]}), "CustomerID", path),
        "timestamp": _unix_seconds(kept, "InvoiceDate", path),
        "weight": quantity.loc[keep],
    })
    no_text = ~events["item_id"].isin(set(items["item_id"]))
    counts["dropped_no_description"] = int(no_text.sum())
    events = events[~no_text]
    merged = (events.groupby(["invoice", "item_id"], sort=False)
              .agg(user_id=("user_id", "first"), timestamp=("timestamp", "min"), weight=("weight", "sum"))
              .reset_index())
    counts["merged_duplicate_lines"] = len(events) - len(merged)
    interactions = merged[["user_id", "item_id", "timestamp", "weight"]].reset_index(drop=True)
    interactions = interactions.astype({"user_id": str, "item_id": str, "timestamp": np.int64, "weight": float})
    return _dataset("online_retail", counts, items=items, interactions=interactions)


# ----------------------------------------------------------------------------- fashion


def load_fashion(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion product taxonomy (taxonomy/fashion_styles.csv): product names with 3 levels and 4 attributes.

    Source: Kaggle "Fashion Product Images (Small)", styles.csv (P. Aggarwal,
    2019); licence: Kaggle terms. Lines with too many fields (unquoted commas
    in productDisplayName, the last column) are repaired by re-joining the
    extra fields (``repaired_extra_commas``); lines that cannot be repaired or
    have too few fields are dropped (``dropped_malformed_line``). Rows without
    productDisplayName (``dropped_missing_name``) or without a taxonomy level
    (``dropped_missing_category``) are dropped; a missing attribute value
    (gender, baseColour, season, usage) becomes "".
    """
    path = _require("fashion", data_dir, "taxonomy/fashion_styles.csv")
    text, _ = _read_text(path)
    columns = list(_read_csv(path, text, nrows=0).columns)
    counts = {"rows_read": 0, "repaired_extra_commas": 0, "dropped_malformed_line": 0}
    text_last = bool(columns) and columns[-1] == "productDisplayName"

    def on_bad_line(fields: list[str]) -> list[str] | None:
        """Re-join the overflow of the last (name) column, else drop and count."""
        if text_last and len(fields) > len(columns):
            counts["repaired_extra_commas"] += 1
            return [*fields[: len(columns) - 1], ",".join(fields[len(columns) - 1:])]
        counts["dropped_malformed_line"] += 1
        return None

    frame = _read_csv(path, text, engine="python", on_bad_lines=on_bad_line)
    _check_columns(frame, ("id", "productDisplayName", *FASHION_LEVELS, *FASHION_ATTRIBUTES), path)
    counts["rows_read"] = len(frame) + counts["dropped_malformed_line"]
    short = frame.isna().any(axis=1).to_numpy()  # with keep_default_na=False only absent fields are NaN
    counts["dropped_malformed_line"] += int(short.sum())
    frame = frame[~short]
    no_name = _blank(frame["productDisplayName"])
    counts["dropped_missing_name"] = int(no_name.sum())
    frame = frame[~no_name]
    no_level = np.zeros(len(frame), dtype=bool)
    for level in FASHION_LEVELS:
        no_level |= _blank(frame[level])
    counts["dropped_missing_category"] = int(no_level.sum())
    frame = frame[~no_level]
    item_id = _ids(frame, "id", path)
    dup = item_id.duplicated().to_numpy()
    if dup.any():
        i = _first(dup)
        raise _fail(path, _row(frame.index[i]), "id", "duplicate product id", item_id.iat[i])
    labels = pd.DataFrame({"item_id": item_id, "text": frame["productDisplayName"].astype(str).str.strip()})
    for column in (*FASHION_LEVELS, *FASHION_ATTRIBUTES):
        labels[column] = frame[column].astype(str).str.strip()
    labels = labels.reset_index(drop=True).astype(str)
    return _dataset("fashion", counts, labels=labels, label_columns=(*FASHION_LEVELS, *FASHION_ATTRIBUTES))
