"""Dataset loaders: read the public benchmark datasets into one uniform ``Dataset`` record.

Every loader validates what it reads: a missing file raises ``DatasetNotFoundError``
naming the expected path and the public source; a malformed file raises
``TagrankInputError`` naming the file, the row (``line N`` = 1-based line of the
file, ``data row N`` = 0-based row after the header) and the column. Rows that a
loader drops on purpose (e.g. Online Retail lines without a customer) are counted
in ``Dataset.counts`` under the reason; nothing is dropped silently. All ids are
``str``; timestamps are int64 unix seconds. Loaders never modify the files.

The real data lives outside the repository (see ``resolve_data_dir``); the
``EMBEDDED`` datasets ship with the library (the synthetic ``sample`` catalogue)
or with gensim (its copies of WordSim-353 and SimLex-999).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tagrank.baselines.validation import TagrankInputError

__all__ = [
    "EMBEDDED",
    "Dataset",
    "DatasetNotFoundError",
    "dataset_summary",
    "list_datasets",
    "load_cos960",
    "load_dataset",
    "load_fashion",
    "load_gensim_simlex999",
    "load_gensim_wordsim353",
    "load_homedepot",
    "load_lcqmc",
    "load_movielens",
    "load_online_retail",
    "load_sample",
    "load_simlex999",
    "load_stsb_en",
    "load_stsb_zh",
    "load_wordsim353",
    "resolve_data_dir",
]

EMBEDDED = ("sample", "gensim_wordsim353", "gensim_simlex999")
ENV_VAR = "TAGRANK_DATA"
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"
FRAMES = ("pairs", "items", "judgments", "interactions", "tag_events", "labels")
FASHION_LEVELS = ("masterCategory", "subCategory", "articleType")
FASHION_ATTRIBUTES = ("gender", "baseColour", "season", "usage")
SAMPLE_LEVELS = ("level1", "level2", "level3")
SAMPLE_ATTRIBUTES = ("gender", "colour", "season", "usage")
STSB_SPLITS = {"train": "train", "dev": "valid", "valid": "valid", "test": "test"}


class DatasetNotFoundError(TagrankInputError):
    """Raised when a dataset file is absent; the message names the path and the public source."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset in the library's uniform shape; frames that do not apply are None."""

    name: str
    source: str
    licence: str
    language: str
    pairs: pd.DataFrame | None = field(default=None, repr=False)
    items: pd.DataFrame | None = field(default=None, repr=False)
    judgments: pd.DataFrame | None = field(default=None, repr=False)
    interactions: pd.DataFrame | None = field(default=None, repr=False)
    tag_events: pd.DataFrame | None = field(default=None, repr=False)
    labels: pd.DataFrame | None = field(default=None, repr=False)
    label_columns: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The frames this dataset provides, by name (pairs, items, ...)."""
        return {name: getattr(self, name) for name in FRAMES if getattr(self, name) is not None}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={len(v):,} rows" for k, v in self.frames().items())
        return f"Dataset(name={self.name!r}, language={self.language!r}, {shapes})"


@dataclass(frozen=True)
class _Spec:
    """Registry entry: where a dataset's files are, where it comes from, and its loader."""

    files: tuple[str, ...]  # relative to the data dir ("" entries for embedded datasets)
    source: str
    licence: str
    language: str
    loader: Callable[..., Dataset]
    embedded: bool = False


# ----------------------------------------------------------------------------- paths


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else $TAGRANK_DATA, else ../shared/data from the working dir."""
    return _resolve(data_dir)[0]


def _resolve(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """Resolve the data folder and say how it was chosen (for error messages)."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), "the data_dir argument / --data-dir"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return Path.cwd() / DEFAULT_DATA_DIR, "the default ../shared/data relative to the working directory"


def _require(name: str, data_dir: str | os.PathLike[str] | None, relative: str) -> Path:
    """Path of one dataset file; raises DatasetNotFoundError (with source and hints) if absent."""
    root, how = _resolve(data_dir)
    path = root / relative
    if not path.is_file():
        spec = _SPECS[name]
        raise DatasetNotFoundError(
            f"dataset {name!r}: file not found: {path}\n"
            f"  data dir {root} was taken from {how}.\n"
            f"  The public dataset comes from: {spec.source} (licence: {spec.licence}).\n"
            f"  Download it and place it at <data dir>/{relative}, then pass --data-dir DIR "
            f"(or data_dir=DIR) or set {ENV_VAR}=DIR."
        )
    return path


def _gensim_test_file(filename: str, name: str) -> Path:
    """Path of a file in gensim/test/test_data without importing gensim (slow import)."""
    spec = importlib.util.find_spec("gensim")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "test" / "test_data" / filename
        if path.is_file():
            return path
    raise DatasetNotFoundError(
        f"dataset {name!r}: gensim/test/test_data/{filename} not found "
        f"({'gensim is not installed' if spec is None else f'searched {locations}'}); "
        f"install gensim (pip install gensim) or load the data-dir copy "
        f"{name.removeprefix('gensim_')!r} with --data-dir / {ENV_VAR}. "
        f"Source: {_SPECS[name].source}"
    )


# ----------------------------------------------------------------------------- checks


def _row(index: Any) -> str:
    """How a pandas-read row is named in errors: its 0-based data row (header excluded)."""
    return f"data row {index} (0-based, header excluded)"


def _fail(path: Any, where: str, column: str, problem: str, value: Any = None) -> TagrankInputError:
    """A TagrankInputError naming file, row and column (and the offending value)."""
    got = "" if value is None else f" (got {_preview(value)})"
    return TagrankInputError(f"{path}: {where}, column {column!r}: {problem}{got}")


def _preview(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_columns(frame: pd.DataFrame, required: tuple[str, ...] | list[str], path: Any) -> None:
    """Every required column must be present; the error lists what the file has."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TagrankInputError(
            f"{path}: missing column(s) {missing}; the file has columns {list(frame.columns)}"
        )


def _blank(series: pd.Series) -> np.ndarray:
    """Boolean mask of missing or whitespace-only cells."""
    missing = series.isna().to_numpy()
    text = series.astype(object).where(~missing, "")
    return missing | np.array([isinstance(v, str) and not v.strip() for v in text], dtype=bool)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _ids(frame: pd.DataFrame, column: str, path: Any) -> pd.Series:
    """An id column as stripped str; integral floats (17850.0) become "17850"; NaN/blank fail."""
    series = frame[column]
    bad = _blank(series)
    if bad.any():
        i = _first(bad)
        raise _fail(path, _row(frame.index[i]), column, "id is missing or empty", series.iloc[i])
    if pd.api.types.is_bool_dtype(series):
        raise _fail(path, _row(frame.index[0]), column, "ids must be strings or integers", series.iloc[0])
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=float)
        frac = ~np.isfinite(values) | (values % 1 != 0)
        if frac.any():
            i = _first(frac)
            raise _fail(path, _row(frame.index[i]), column, "numeric id is not an integer", series.iloc[i])
        return pd.Series(values.astype(np.int64).astype(str), index=frame.index, dtype=str)
    return series.astype(str).str.strip().astype(str)


def _texts(frame: pd.DataFrame, column: str, path: Any, strip: bool = False) -> pd.Series:
    """A text column as str; missing or blank text fails naming the row."""
    series = frame[column]
    bad = _blank(series)
    if bad.any():
        i = _first(bad)
        raise _fail(path, _row(frame.index[i]), column, "text is missing or empty", series.iloc[i])
    out = series.astype(str)
    return out.str.strip().astype(str) if strip else out


def _floats(frame: pd.DataFrame, column: str, path: Any) -> pd.Series:
    """A numeric column as float64; missing, non-numeric or infinite values fail naming the row."""
    series = frame[column]
    numbers = pd.to_numeric(series, errors="coerce").astype(float)
    bad = ~np.isfinite(numbers.to_numpy())
    if bad.any():
        i = _first(bad)
        value = series.iloc[i]
        problem = "value is missing" if _blank(series.iloc[[i]])[0] else "value is not a finite number"
        raise _fail(path, _row(frame.index[i]), column, problem, value)
    return numbers


def _ints(frame: pd.DataFrame, column: str, path: Any) -> pd.Series:
    """An integer column (timestamps) as int64; non-integral values fail naming the row."""
    numbers = _floats(frame, column, path) if not pd.api.types.is_integer_dtype(frame[column]) else None
    if numbers is None:
        return frame[column].astype(np.int64)
    frac = (numbers.to_numpy() % 1) != 0
    if frac.any():
        i = _first(frac)
        raise _fail(path, _row(frame.index[i]), column, "value is not an integer", frame[column].iloc[i])
    return numbers.astype(np.int64)


def _read_csv(path: Any, source: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """pandas.read_csv with every cell as str (no NA guessing); parse errors name the file."""
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False}
    options.update(kwargs)
    try:
        return pd.read_csv(io.StringIO(source) if source is not None else path, **options)
    except pd.errors.EmptyDataError:
        raise TagrankInputError(f"{path}: the file is empty (expected a header line)") from None
    except pd.errors.ParserError as exc:
        raise TagrankInputError(f"{path}: malformed CSV: {exc}") from None


def _read_text(path: Path, encodings: tuple[str, ...] = ("utf-8-sig",)) -> tuple[str, str]:
    """Whole file as text, trying each encoding in turn; returns (text, encoding used)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            error = exc
    raise TagrankInputError(f"{path}: cannot decode as {' or '.join(encodings)}: {error}")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) for every line of a UTF-8 (or .gz) file."""
    text, _ = _read_text(path)
    lines = text.split("\n")  # not splitlines(): it also breaks at \x1c, \x85, \u2028 inside text
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r")


def _pair_row(path: Path, number: int, left: str, right: str, score: str,
              names: tuple[str, str, str]) -> tuple[str, str, float]:
    """Validate one parsed pair line: both texts non-empty, score a finite number."""
    for value, column in ((left, names[0]), (right, names[1])):
        if not value.strip():
            raise _fail(path, f"line {number}", column, "text is empty", value)
    try:
        number_value = float(score)
    except ValueError:
        raise _fail(path, f"line {number}", names[2], "score is not a number", score) from None
    if not math.isfinite(number_value):
        raise _fail(path, f"line {number}", names[2], "score is not finite", score)
    return left, right, number_value


def _pairs_frame(rows: list[tuple[str, str, float, str | None]], path: Path) -> pd.DataFrame:
    """The pairs frame (left, right, score, split) from validated rows; an empty file fails."""
    if not rows:
        raise TagrankInputError(f"{path}: no data rows found")
    frame = pd.DataFrame(rows, columns=["left", "right", "score", "split"])
    frame["left"] = frame["left"].astype(str)
    frame["right"] = frame["right"].astype(str)
    frame["score"] = frame["score"].astype(float)
    frame["split"] = frame["split"].astype(object)
    return frame


def _split_fields(line: str) -> list[str]:
    """Tab-separated fields, or whitespace-separated where the line has no tab."""
    return line.split("\t") if "\t" in line else line.split()


def _dataset(name: str, counts: dict[str, int], **frames: Any) -> Dataset:
    """A Dataset with the registry's source, licence and language filled in."""
    spec = _SPECS[name]
    return Dataset(name=name, source=spec.source, licence=spec.licence, language=spec.language,
                   counts={k: int(v) for k, v in counts.items()}, **frames)


# ----------------------------------------------------------------------------- word lists


def _word_pairs(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """WordSim-353 / SimLex-999 style file: '#' comments, word1 <tab> word2 <tab> score.

    Also reads the original SimLex-999.txt layout (header ``word1 word2 POS SimLex999 ...``):
    the score is then the ``SimLex999`` column.
    """
    rows: list[tuple[str, str, float, str | None]] = []
    score_at, score_name, header_seen = 2, "score", False
    for number, line in _lines(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in _split_fields(line)]
        if not header_seen:
            header_seen = True
            lowered = [f.lower() for f in fields]
            if "simlex999" in lowered or lowered[0] in ("word1", "word 1", "w1"):
                if "simlex999" in lowered:
                    score_at, score_name = lowered.index("simlex999"), fields[lowered.index("simlex999")]
                continue
        if len(fields) <= score_at:
            raise _fail(path, f"line {number}", score_name,
                        f"expected at least {score_at + 1} fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[score_at],
                                       ("word1", "word2", score_name))
        rows.append((left, right, score, None))
    frame = _pairs_frame(rows, path)
    return frame, {"rows_read": len(frame)}


def load_wordsim353(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """WordSim-353 word pairs (similarity/wordsim353.tsv, gensim's copy), human score 0-10.

    Source: Finkelstein et al. (2002), WordSimilarity-353 Test Collection; licence:
    no explicit licence, research use, redistributed in gensim's test data.
    """
    path = _require("wordsim353", data_dir, "similarity/wordsim353.tsv")
    pairs, counts = _word_pairs(path)
    return _dataset("wordsim353", counts, pairs=pairs)


def load_simlex999(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """SimLex-999 word pairs (similarity/simlex999.txt), similarity 0-10.

    Source: Hill, Reichart and Korhonen (2015), SimLex-999; licence: no explicit
    licence, research use, redistributed in gensim's test data.
    """
    path = _require("simlex999", data_dir, "similarity/simlex999.txt")
    pairs, counts = _word_pairs(path)
    return _dataset("simlex999", counts, pairs=pairs)


def load_gensim_wordsim353() -> Dataset:
    """WordSim-353 read from the installed gensim package (no data dir needed); same data as wordsim353."""
    pairs, counts = _word_pairs(_gensim_test_file("wordsim353.tsv", "gensim_wordsim353"))
    return _dataset("gensim_wordsim353", counts, pairs=pairs)


def load_gensim_simlex999() -> Dataset:
    """SimLex-999 read from the installed gensim package (no data dir needed); same data as simlex999."""
    pairs, counts = _word_pairs(_gensim_test_file("simlex999.txt", "gensim_simlex999"))
    return _dataset("gensim_simlex999", counts, pairs=pairs)


# ----------------------------------------------------------------------------- sentence pairs


def load_stsb_en(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """English STS Benchmark (similarity/stsbenchmark.tsv.gz), score 0-5, splits train/dev/test.

    Source: Cer et al. (2017), STS Benchmark (SemEval 2012-2017 STS data);
    licence: per original source, see the STS Benchmark wiki. The file is read
    without quote handling (sentences contain '"'); ``dev`` becomes ``valid``.
    Fields after the 8 named ones (present in some copies) are ignored and counted.
    """
    path = _require("stsb_en", data_dir, "similarity/stsbenchmark.tsv.gz")
    lines = _lines(path)
    header_line = next(lines, None)
    if header_line is None:
        raise TagrankInputError(f"{path}: the file is empty (expected a header line)")
    header = header_line[1].split("\t")
    needed = ("split", "score", "sentence1", "sentence2")
    missing = [c for c in needed if c not in header]
    if missing:
        raise TagrankInputError(f"{path}: missing column(s) {missing} in the header (line 1); it has {header}")
    at = {c: header.index(c) for c in needed}
    rows: list[tuple[str, str, float, str | None]] = []
    extra = 0
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(header):
            raise _fail(path, f"line {number}", header[len(fields)] if fields else header[0],
                        f"expected {len(header)} tab-separated fields, got {len(fields)}", line)
        extra += len(fields) > len(header)
        split = fields[at["split"]].strip()
        if split not in STSB_SPLITS:
            raise _fail(path, f"line {number}", "split", f"unknown split (expected one of {sorted(STSB_SPLITS)})", split)
        left, right, score = _pair_row(path, number, fields[at["sentence1"]], fields[at["sentence2"]],
                                       fields[at["score"]], ("sentence1", "sentence2", "score"))
        rows.append((left, right, score, STSB_SPLITS[split]))
    pairs = _pairs_frame(rows, path)
    counts = {"rows_read": len(pairs)}
    if extra:
        counts["rows_with_extra_fields_ignored"] = extra
    return _dataset("stsb_en", counts, pairs=pairs)


def _tab_pairs(path: Path, split: str | None, names: tuple[str, str, str],
               allowed: tuple[float, ...] = ()) -> list[tuple[str, str, float, str | None]]:
    """Headerless 'left <tab> right <tab> score' lines; exactly three fields, score in ``allowed`` if given."""
    rows: list[tuple[str, str, float, str | None]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise _fail(path, f"line {number}", names[min(len(fields), 2)],
                        f"expected 3 tab-separated fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[2].strip(), names)
        if allowed and score not in allowed:
            raise _fail(path, f"line {number}", names[2], f"expected one of {list(allowed)}", fields[2])
        rows.append((left, right, score, split))
    return rows


def load_stsb_zh(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Chinese STS-B (similarity/stsb_zh/STS-B.{train,valid,test}.data), integer score 0-5.

    Source: CNSD, the Chinese translation of STS-B (github.com/pluto-junzeng/CNSD);
    licence: Apache-2.0. Official splits kept as train / valid / test.
    """
    rows: list[tuple[str, str, float, str | None]] = []
    counts: dict[str, int] = {}
    for split in ("train", "valid", "test"):
        path = _require("stsb_zh", data_dir, f"similarity/stsb_zh/STS-B.{split}.data")
        part = _tab_pairs(path, split, ("sentence1", "sentence2", "score"))
        counts[f"{split}_rows_read"] = len(part)
        rows += part
    pairs = _pairs_frame(rows, path)
    counts["rows_read"] = len(pairs)
    return _dataset("stsb_zh", counts, pairs=pairs)


def load_cos960(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """COS960 Chinese word pairs (similarity/cos960_all.txt: w1 w2 mean score_1..score_15), score = mean 0-4.

    Source: Huang et al. (2019), COS960, THUNLP (github.com/thunlp/COS960);
    licence: MIT (see cos960_LICENSE).
    """
    path = _require("cos960", data_dir, "similarity/cos960_all.txt")
    rows: list[tuple[str, str, float, str | None]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 3:
            raise _fail(path, f"line {number}", "mean", f"expected at least 3 space-separated fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[2], ("w1", "w2", "mean"))
        rows.append((left, right, score, None))
    pairs = _pairs_frame(rows, path)
    return _dataset("cos960", {"rows_read": len(pairs)}, pairs=pairs)


def load_lcqmc(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """LCQMC test split (similarity/lcqmc_test.txt: s1 <tab> s2 <tab> label 0/1), score = label.

    Source: Liu et al. (COLING 2018), LCQMC, a Large-scale Chinese Question
    Matching Corpus; licence: research use. Only the test file is shipped, so split is None.
    """
    path = _require("lcqmc", data_dir, "similarity/lcqmc_test.txt")
    pairs = _pairs_frame(_tab_pairs(path, None, ("s1", "s2", "label"), allowed=(0.0, 1.0)), path)
    return _dataset("lcqmc", {"rows_read": len(pairs)}, pairs=pairs)


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


# ----------------------------------------------------------------------------- sample


class _Source:
    """Where the sample's CSVs are read from: the embedded package data or a given folder."""

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        if folder is None:
            from importlib.resources import files

            self.root: Any = files("tagrank.data").joinpath("sample")
            self.label = "tagrank.data/sample"
        else:
            self.root = Path(folder)
            self.label = str(folder)

    def read(self, filename: str) -> tuple[str, pd.DataFrame]:
        """(display path, frame) of one sample CSV; a missing file raises DatasetNotFoundError."""
        resource = self.root.joinpath(filename)
        where = f"{self.label}/{filename}"
        if not resource.is_file():
            raise DatasetNotFoundError(
                f"dataset 'sample': file not found: {where}. The sample is embedded in the "
                f"package (tagrank.data/sample); reinstall tagrank or regenerate it with "
                f"`python data/make_sample.py`. It needs no --data-dir / {ENV_VAR}."
            )
        return where, _read_csv(where, resource.read_text(encoding="utf-8"))


def _known(frame: pd.DataFrame, ids: pd.Series, known: set[str], path: str) -> None:
    """Every item_id must be a catalogue item (the sample is internally consistent)."""
    unknown = ~ids.isin(known).to_numpy()
    if unknown.any():
        i = _first(unknown)
        raise _fail(path, _row(frame.index[i]), "item_id", "unknown item id (not in items.csv)", ids.iat[i])


def load_sample(source_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """The embedded SYNTHETIC catalogue (data/sample/*.csv, made by data/make_sample.py); no data dir needed.

    Source: generated by ``tagrank.data.make_sample`` (numpy seed fixed, not real
    data); licence: Apache-2.0, as tagrank. ``source_dir`` reads the four CSVs
    from another folder instead (tests, regenerated samples).
    """
    src = _Source(source_dir)
    path, raw = src.read("items.csv")
    _check_columns(raw, ("item_id", "title", "tags", *SAMPLE_LEVELS, *SAMPLE_ATTRIBUTES), path)
    item_id = _ids(raw, "item_id", path)
    title = _texts(raw, "title", path)
    tags = [[t.strip().lower() for t in str(s).split("|") if t.strip()] for s in raw["tags"]]
    items = pd.DataFrame({"item_id": item_id, "text": title, "tags": tags})
    labels = pd.DataFrame({"item_id": item_id, "text": title})
    for column in (*SAMPLE_LEVELS, *SAMPLE_ATTRIBUTES):
        labels[column] = _texts(raw, column, path, strip=True) if column in SAMPLE_LEVELS else raw[column].astype(str)
    known = set(item_id)
    counts = {"items_rows_read": len(raw)}

    path, raw = src.read("queries.csv")
    _check_columns(raw, ("query", "item_id", "label"), path)
    judgments = pd.DataFrame({"query": _texts(raw, "query", path), "item_id": _ids(raw, "item_id", path),
                              "label": _floats(raw, "label", path)})
    _known(raw, judgments["item_id"], known, path)
    counts["queries_rows_read"] = len(raw)

    path, raw = src.read("interactions.csv")
    _check_columns(raw, ("user_id", "item_id", "timestamp", "rating"), path)
    interactions = pd.DataFrame({"user_id": _ids(raw, "user_id", path), "item_id": _ids(raw, "item_id", path),
                                 "timestamp": _ints(raw, "timestamp", path),
                                 "weight": _floats(raw, "rating", path)})
    _known(raw, interactions["item_id"], known, path)
    counts["interactions_rows_read"] = len(raw)

    path, raw = src.read("tag_events.csv")
    _check_columns(raw, ("user_id", "item_id", "tag", "timestamp"), path)
    tag_events = pd.DataFrame({"user_id": _ids(raw, "user_id", path), "item_id": _ids(raw, "item_id", path),
                               "tag": _texts(raw, "tag", path).str.strip().str.lower().astype(str),
                               "timestamp": _ints(raw, "timestamp", path)})
    _known(raw, tag_events["item_id"], known, path)
    counts["tag_events_rows_read"] = len(raw)
    return _dataset("sample", counts, items=items, judgments=judgments, interactions=interactions,
                    tag_events=tag_events, labels=labels, label_columns=(*SAMPLE_LEVELS, *SAMPLE_ATTRIBUTES))


# ----------------------------------------------------------------------------- registry

_SIM = "similarity/"
_SPECS: dict[str, _Spec] = {
    "sample": _Spec(("",), "synthetic catalogue generated by tagrank.data.make_sample (fixed seed; not real data)",
                    "Apache-2.0 (part of tagrank)", "en", load_sample, embedded=True),
    "homedepot": _Spec(("homedepot/train.csv",),
                       "Kaggle 'Home Depot Product Search Relevance' (2016), train.csv: "
                       "https://www.kaggle.com/c/home-depot-product-search-relevance",
                       "Kaggle competition terms", "en", load_homedepot),
    "movielens": _Spec(tuple(f"movielens/ml-latest-small/{f}.csv" for f in ("movies", "ratings", "tags")),
                       "GroupLens MovieLens 'ml-latest-small' (2018): https://grouplens.org/datasets/movielens/latest/",
                       "research use, see the dataset's README.txt", "en", load_movielens),
    "online_retail": _Spec(("online_retail/online_retail.parquet",),
                           "UCI Machine Learning Repository 'Online Retail' (Chen et al. 2012): "
                           "https://archive.ics.uci.edu/dataset/352/online+retail",
                           "CC BY 4.0", "en", load_online_retail),
    "fashion": _Spec(("taxonomy/fashion_styles.csv",),
                     "Kaggle 'Fashion Product Images (Small)' styles.csv: "
                     "https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small",
                     "Kaggle terms", "en", load_fashion),
    "wordsim353": _Spec((_SIM + "wordsim353.tsv",),
                        "WordSim-353 (Finkelstein et al. 2002): "
                        "http://www.cs.technion.ac.il/~gabr/resources/data/wordsim353/ "
                        "(copy shipped in gensim/test/test_data/wordsim353.tsv)",
                        "no explicit licence; research use, redistributed with gensim", "en", load_wordsim353),
    "simlex999": _Spec((_SIM + "simlex999.txt",),
                       "SimLex-999 (Hill et al. 2015): https://www.cl.cam.ac.uk/~fh295/simlex.html "
                       "(copy shipped in gensim/test/test_data/simlex999.txt)",
                       "no explicit licence; research use, redistributed with gensim", "en", load_simlex999),
    "gensim_wordsim353": _Spec(("",), "WordSim-353 as shipped in the gensim package (gensim/test/test_data/wordsim353.tsv)",
                               "no explicit licence; research use, redistributed with gensim", "en",
                               load_gensim_wordsim353, embedded=True),
    "gensim_simlex999": _Spec(("",), "SimLex-999 as shipped in the gensim package (gensim/test/test_data/simlex999.txt)",
                              "no explicit licence; research use, redistributed with gensim", "en",
                              load_gensim_simlex999, embedded=True),
    "stsb_en": _Spec((_SIM + "stsbenchmark.tsv.gz",),
                     "STS Benchmark (Cer et al. 2017): https://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark",
                     "per original source (SemEval STS data), see the STS Benchmark wiki", "en", load_stsb_en),
    "stsb_zh": _Spec(tuple(f"{_SIM}stsb_zh/STS-B.{s}.data" for s in ("train", "valid", "test")),
                     "CNSD Chinese translation of STS-B: https://github.com/pluto-junzeng/CNSD",
                     "Apache-2.0", "zh", load_stsb_zh),
    "cos960": _Spec((_SIM + "cos960_all.txt",), "COS960 (Huang et al. 2019, THUNLP): https://github.com/thunlp/COS960",
                    "MIT (cos960_LICENSE)", "zh", load_cos960),
    "lcqmc": _Spec((_SIM + "lcqmc_test.txt",),
                   "LCQMC test split (Liu et al., COLING 2018): http://icrc.hitsz.edu.cn/info/1037/1146.htm",
                   "research use", "zh", load_lcqmc),
}


def list_datasets() -> list[str]:
    """Names accepted by ``load_dataset`` (embedded ones first)."""
    return list(_SPECS)


def _spec(name: str) -> tuple[str, _Spec]:
    """Registry entry for a name (case/space-insensitive); unknown names list the known ones."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _SPECS:
        raise TagrankInputError(f"unknown dataset {name!r}; known datasets: {', '.join(_SPECS)}")
    return key, _SPECS[key]


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a dataset by name; embedded datasets ignore ``data_dir``."""
    key, spec = _spec(name)
    return spec.loader() if spec.embedded else spec.loader(data_dir)


def _display_path(name: str, spec: _Spec, root: Path) -> str:
    """Where a dataset is read from, for the summary table."""
    if name == "sample":
        return "tagrank.data/sample (embedded)"
    if spec.embedded:
        found = importlib.util.find_spec("gensim")
        base = (found.submodule_search_locations or [""])[0] if found is not None else "gensim (not installed)"
        return str(Path(base) / "test" / "test_data")
    paths = [root / f for f in spec.files]
    return str(paths[0] if len(paths) == 1 else Path(os.path.commonpath([str(p) for p in paths])))


def dataset_summary(data_dir: str | os.PathLike[str] | None = None, *, count_rows: bool = True) -> pd.DataFrame:
    """One row per dataset: name, language, found, path, row counts per frame (loads each found dataset).

    A dataset that is found but fails to load gets its message in ``error``;
    with ``count_rows=False`` only file presence is checked (fast).
    """
    root = resolve_data_dir(data_dir)
    rows = []
    for name, spec in _SPECS.items():
        found = all((root / f).is_file() for f in spec.files) if not spec.embedded else True
        row: dict[str, Any] = {"name": name, "language": spec.language, "found": found,
                               "path": _display_path(name, spec, root)}
        row.update({frame: pd.NA for frame in FRAMES})
        row["error"] = ""
        if found and count_rows:
            try:
                loaded = load_dataset(name, root)
                row.update({k: len(v) for k, v in loaded.frames().items()})
            except TagrankInputError as exc:
                row["found"] = not isinstance(exc, DatasetNotFoundError)
                row["error"] = str(exc).splitlines()[0]
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.astype({frame: "Int64" for frame in FRAMES} | {"found": bool})
