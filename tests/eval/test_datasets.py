"""Tests for eval.datasets: every loader on tiny files written into tmp_path, plus the embedded datasets."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import datasets as ds
from tagrank.eval.datasets import (
    EMBEDDED,
    Dataset,
    DatasetNotFoundError,
    dataset_summary,
    list_datasets,
    load_dataset,
    resolve_data_dir,
)

# ----------------------------------------------------------------------------- tiny files

HOMEDEPOT = (
    "id,product_uid,product_title,search_term,relevance\n"
    "2,100001,Simpson Strong-Tie 12-Gauge Angle,angle bracket,3.0\n"
    "3,100001,Simpson Strong-Tie 12-Gauge Angle,l bracket,2.5\n"
    "9,100002,BEHR Premium Textured Deck Coat,deck over,2.67\n"
    "10,100002,BEHR Premium Textured DeckOver,deck over paint,2.33\n"
    "11,100002,BEHR Premium Textured DeckOver,Deck Over,1.33\n"
)
MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    '2,"American President, The (1995)",Comedy|Drama|Romance\n'
    "3,Some Film (2010),(no genres listed)\n"
)
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964982224\n2,99,1.0,964982225\n"
TAGS = (
    "userId,movieId,tag,timestamp\n"
    "2,1,Funny ,1445714994\n"
    "2,1,funny,1445714995\n"
    "3,1,Pixar,1445714996\n"
    "3,2,   ,1445714997\n"
    "3,99,orphan,1445714998\n"
)
FASHION_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
FASHION = FASHION_HEADER + (
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011.0,Casual,Turtle Check Men Navy Blue Shirt\n"
    '7491,Women,Apparel,Bottomwear,Shorts,Pink,Summer,2011.0,Sports,"Nike Women\'s EM Tempo 3.5"" Pink Short"\n'
    "12345,Women,Apparel,Topwear,Tops,Red,Summer,2012.0,Casual,Name, with, commas\n"
    "42878,Women,Accessories,Bags,Handbags,Black,Winter,2012.0,Casual,\n"
    "30991,Women,Personal Care,Fragrance,Perfume,,,2017.0,,Lotus Perfume\n"
    "55555,Men,Apparel,Topwear\n"
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write a small test file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def _retail_frame() -> pd.DataFrame:
    """Five Online Retail lines: a duplicate invoice line, a missing customer, a returned item."""
    return pd.DataFrame({
        "InvoiceNo": [536365, 536365, 536365, 536366, 536367, 536368],
        "StockCode": ["85123A", "85123A", "71053", "85123A", "71053", "71053"],
        "Description": ["WHITE HANGING HEART", "WHITE HANGING HEART", "WHITE METAL LANTERN",
                        "CREAM HANGING HEART", None, "WHITE METAL LANTERN"],
        "Quantity": [6, 2, 6, 1, 3, -1],
        "InvoiceDate": ["2010-12-01 08:26:00", "2010-12-01 08:26:00", "2010-12-01 08:26:00",
                        "2010-12-01 09:00:00", "2010-12-01 10:00:00", "2010-12-01 11:00:00"],
        "UnitPrice": [2.55, 2.55, 3.39, 2.55, 3.39, 3.39],
        "CustomerID": [17850.0, 17850.0, 17850.0, 13047.0, None, 13047.0],
        "Country": ["United Kingdom"] * 6,
    })


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A complete tiny data dir with every real dataset's files."""
    root = tmp_path / "data"
    _write(root / "homedepot/train.csv", HOMEDEPOT)
    ml = root / "movielens/ml-latest-small"
    _write(ml / "movies.csv", MOVIES)
    _write(ml / "ratings.csv", RATINGS)
    _write(ml / "tags.csv", TAGS)
    (root / "online_retail").mkdir(parents=True)
    _retail_frame().to_parquet(root / "online_retail/online_retail.parquet")
    _write(root / "taxonomy/fashion_styles.csv", FASHION)
    sim = root / "similarity"
    _write(sim / "wordsim353.tsv", "# comment\n# Word 1\tWord 2\tHuman (mean)\nlove\tsex\t6.77\ntiger\tcat\t7.35\n")
    _write(sim / "simlex999.txt", "# SimLex\nold\tnew\t1.58\nsmart\tintelligent\t9.2\n\n")
    stsb = ("split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2\n"
            'train\tmain-captions\tMSRvid\t2012test\t0001\t5.000\tA "quoted plane.\tAn air plane "is" taking off.\n'
            "dev\tmain-news\theadlines\t2013\t0002\t1.5\tOne.\tTwo.\n"
            "test\tmain-forums\tanswers\t2015\t0003\t0\tThree.\tFour.\textra field\n")
    (sim).mkdir(parents=True, exist_ok=True)
    (sim / "stsbenchmark.tsv.gz").write_bytes(gzip.compress(stsb.encode("utf-8")))
    for split, score in (("train", 5), ("valid", 3), ("test", 0)):
        _write(sim / f"stsb_zh/STS-B.{split}.data", f"一架飞机要起飞了。\t一架飞机正在起飞。\t{score}\n")
    _write(sim / "cos960_all.txt", "小心谨慎 谨慎小心 4.0 4 4 4 \n繁琐 烦琐 3.5 4 3 \n")
    _write(sim / "lcqmc_test.txt", "谁有狂三这张高清的\t这张高清图，谁有\t0\n英雄联盟什么英雄最好\t英雄联盟最好英雄是什么\t1\n")
    return root


def _assert_str_ids(frame: pd.DataFrame, *columns: str) -> None:
    """Every value of the id columns is a Python str."""
    for column in columns:
        assert all(isinstance(v, str) for v in frame[column]), column


# ----------------------------------------------------------------------------- resolution, registry


def test_resolve_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAGRANK_DATA", raising=False)
    assert resolve_data_dir() == tmp_path / ".." / "shared" / "data"
    monkeypatch.setenv("TAGRANK_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "missing")) == tmp_path / "missing"  # returned even if absent


def test_env_var_is_used_by_loaders(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGRANK_DATA", str(data_dir))
    assert len(load_dataset("wordsim353").pairs) == 2


def test_list_and_unknown_name() -> None:
    names = list_datasets()
    assert set(EMBEDDED) <= set(names)
    assert {"homedepot", "movielens", "online_retail", "fashion", "stsb_en", "stsb_zh", "cos960", "lcqmc"} <= set(names)
    with pytest.raises(TagrankInputError, match="known datasets: .*homedepot"):
        load_dataset("no_such_data")


def test_missing_file_error_names_path_source_and_hints(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("homedepot", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "homedepot" / "train.csv") in message
    assert "kaggle" in message.lower() and "--data-dir" in message and "TAGRANK_DATA" in message
    assert isinstance(info.value, TagrankInputError)


# ----------------------------------------------------------------------------- embedded


def test_sample_loads_without_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAGRANK_DATA", str(tmp_path / "nowhere"))
    sample = load_dataset("sample")
    assert sample.language == "en" and sample.pairs is None
    assert sample.label_columns == ("level1", "level2", "level3", "gender", "colour", "season", "usage")
    assert list(sample.labels.columns) == ["item_id", "text", *sample.label_columns]
    assert 300 <= len(sample.items) <= 500 and sample.labels["level3"].nunique() >= 20
    _assert_str_ids(sample.items, "item_id")
    _assert_str_ids(sample.interactions, "user_id", "item_id")
    assert all(isinstance(t, list) and t for t in sample.items["tags"])
    labels = set(sample.judgments["label"].round(2))
    assert labels <= {1.0, 1.33, 1.67, 2.0, 2.33, 2.67, 3.0} and len(labels) >= 5
    per_query = sample.judgments.groupby("query")["label"]
    assert per_query.size().mean() > 4 and (per_query.nunique() > 1).mean() > 0.9
    positives = sample.interactions[sample.interactions["weight"] >= 4].groupby("user_id").size()
    assert (positives >= 5).sum() > 0.8 * sample.interactions["user_id"].nunique()
    assert sample.interactions["timestamp"].dtype == "int64"
    tags = sample.tag_events["tag"]
    assert (tags == tags.str.strip().str.lower()).all()


def test_sample_csvs_are_reproducible(tmp_path: Path) -> None:
    from importlib.resources import files

    from tagrank.data import make_sample

    make_sample.write_sample(tmp_path)
    embedded = files("tagrank.data").joinpath("sample")
    for name in ("items", "queries", "interactions", "tag_events"):
        assert (tmp_path / f"{name}.csv").read_bytes() == embedded.joinpath(f"{name}.csv").read_bytes(), name
    assert sum(len(embedded.joinpath(f"{n}.csv").read_bytes()) for n in ("items", "queries", "interactions", "tag_events")) < 300_000


def test_sample_from_folder_rejects_bad_rows(tmp_path: Path) -> None:
    from importlib.resources import files

    embedded = files("tagrank.data").joinpath("sample")
    frames = {n: pd.read_csv(io.StringIO(embedded.joinpath(f"{n}.csv").read_text(encoding="utf-8")),
                             dtype=str, keep_default_na=False)
              for n in ("items", "queries", "interactions", "tag_events")}
    for name, frame in frames.items():
        (frame if name == "items" else frame.head(30)).to_csv(tmp_path / f"{name}.csv", index=False)
    small = ds.load_sample(tmp_path)
    assert len(small.judgments) == 30 and len(small.items) == len(frames["items"])
    bad = frames["interactions"].head(30).copy()
    bad.loc[2, "item_id"] = "P9999"
    bad.to_csv(tmp_path / "interactions.csv", index=False)
    with pytest.raises(TagrankInputError, match=r"interactions\.csv: data row 2 .*'item_id'.*unknown item"):
        ds.load_sample(tmp_path)
    frames["interactions"].head(30).to_csv(tmp_path / "interactions.csv", index=False)
    bad = frames["queries"].head(30).copy()
    bad.loc[3, "label"] = "high"
    bad.to_csv(tmp_path / "queries.csv", index=False)
    with pytest.raises(TagrankInputError, match=r"queries\.csv: data row 3 .*'label'.*not a finite number"):
        ds.load_sample(tmp_path)
    (tmp_path / "queries.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="queries.csv"):
        ds.load_sample(tmp_path)


@pytest.mark.parametrize(("name", "n"), [("gensim_wordsim353", 353), ("gensim_simlex999", 999)])
def test_gensim_copies_load_without_data_dir(name: str, n: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAGRANK_DATA", str(tmp_path / "nowhere"))
    data = load_dataset(name)
    assert len(data.pairs) == n and data.pairs["split"].isna().all()
    assert data.pairs["score"].between(0, 10).all()


# ----------------------------------------------------------------------------- homedepot


def test_homedepot(data_dir: Path) -> None:
    data = load_dataset("homedepot", data_dir)
    assert list(data.judgments.columns) == ["query", "item_id", "label"]
    assert data.judgments["query"].tolist()[-1] == "Deck Over"  # original text kept
    assert data.judgments["label"].tolist() == [3.0, 2.5, 2.67, 2.33, 1.33]
    _assert_str_ids(data.judgments, "item_id")
    items = data.items.set_index("item_id")
    assert list(items.index) == ["100001", "100002"]
    assert items.loc["100002", "text"] == "BEHR Premium Textured DeckOver"  # most frequent title
    assert data.items["tags"].map(len).eq(0).all()
    assert data.counts == {"rows_read": 5, "items_with_several_titles": 1}


def test_homedepot_latin1(data_dir: Path) -> None:
    _write(data_dir / "homedepot/train.csv", HOMEDEPOT.replace("Angle", "Angle café"), encoding="latin-1")
    data = load_dataset("homedepot", data_dir)
    assert data.items["text"].iat[0].endswith("café")
    assert data.counts["read_as_latin1"] == 1


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("relevance\n", "score\n", r"missing column\(s\) \['relevance'\]"),
        (",angle bracket,3.0", ",angle bracket,high", r"data row 0 .*'relevance'.*not a finite number.*'high'"),
        (",l bracket,", ", ,", r"data row 1 .*'search_term'.*empty"),
        ("9,100002,", "9,,", r"data row 2 .*'product_uid'.*missing"),
        (",2.67\n", ",\n", r"data row 2 .*'relevance'.*missing"),
    ],
)
def test_homedepot_malformed(data_dir: Path, old: str, new: str, pattern: str) -> None:
    _write(data_dir / "homedepot/train.csv", HOMEDEPOT.replace(old, new, 1))
    with pytest.raises(TagrankInputError, match=pattern) as info:
        load_dataset("homedepot", data_dir)
    assert "train.csv" in str(info.value)


# ----------------------------------------------------------------------------- movielens


def test_movielens(data_dir: Path) -> None:
    data = load_dataset("movielens", data_dir)
    items = data.items.set_index("item_id")
    assert items.loc["1", "text"] == "Toy Story (1995) Adventure Animation Children"
    assert items.loc["1", "genres"] == ["Adventure", "Animation", "Children"]
    assert items.loc["1", "tags"] == ["funny", "pixar"]
    assert items.loc["3", "genres"] == [] and items.loc["3", "text"] == "Some Film (2010)"
    assert items.loc["2", "tags"] == []
    _assert_str_ids(data.interactions, "user_id", "item_id")
    _assert_str_ids(data.items, "item_id")
    assert data.interactions["weight"].tolist() == [4.0, 3.5, 5.0]
    assert data.interactions["timestamp"].dtype == "int64"
    assert data.tag_events["tag"].tolist() == ["funny", "funny", "pixar"]
    assert data.counts["dropped_empty_tag"] == 1
    assert data.counts["dropped_tag_unknown_movie"] == 1
    assert data.counts["dropped_rating_unknown_movie"] == 1
    assert data.counts["ratings_rows_read"] == 4 and data.counts["tags_rows_read"] == 5


@pytest.mark.parametrize(
    ("filename", "text", "pattern"),
    [
        ("ratings.csv", RATINGS.replace("3.5", "good"), r"ratings\.csv: data row 1 .*'rating'"),
        ("ratings.csv", RATINGS.replace("964981247", "96498.5"), r"data row 1 .*'timestamp'.*not an integer"),
        ("ratings.csv", RATINGS.replace("\n2,1,", "\n,1,"), r"data row 2 .*'userId'.*missing"),
        ("movies.csv", MOVIES.replace("Toy Story (1995)", ""), r"movies\.csv: data row 0 .*'title'.*empty"),
        ("tags.csv", TAGS.replace("timestamp", "time"), r"tags\.csv: missing column\(s\) \['timestamp'\]"),
    ],
)
def test_movielens_malformed(data_dir: Path, filename: str, text: str, pattern: str) -> None:
    _write(data_dir / "movielens/ml-latest-small" / filename, text)
    with pytest.raises(TagrankInputError, match=pattern):
        load_dataset("movielens", data_dir)


def test_movielens_missing_file(data_dir: Path) -> None:
    (data_dir / "movielens/ml-latest-small/tags.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="tags.csv.*\n.*\n.*grouplens"):
        load_dataset("movielens", data_dir)


# ----------------------------------------------------------------------------- online retail


def test_online_retail(data_dir: Path) -> None:
    data = load_dataset("online_retail", data_dir)
    x = data.interactions
    assert list(x.columns) == ["user_id", "item_id", "timestamp", "weight"]
    _assert_str_ids(x, "user_id", "item_id")
    assert x.to_dict("records") == [
        {"user_id": "17850", "item_id": "85123A", "timestamp": 1291191960, "weight": 8.0},
        {"user_id": "17850", "item_id": "71053", "timestamp": 1291191960, "weight": 6.0},
        {"user_id": "13047", "item_id": "85123A", "timestamp": 1291194000, "weight": 1.0},
    ]
    assert data.counts == {"rows_read": 6, "dropped_missing_customer": 1, "dropped_nonpositive_quantity": 1,
                           "dropped_no_description": 0, "merged_duplicate_lines": 1}
    assert dict(zip(data.items["item_id"], data.items["text"], strict=True)) == {
        "71053": "WHITE METAL LANTERN", "85123A": "WHITE HANGING HEART"}


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        ("Quantity", "lots", r"data row 0 .*'Quantity'"),
        ("InvoiceDate", "not a date", r"data row 0 .*'InvoiceDate'.*date"),
        ("CustomerID", 17850.5, r"data row 0 .*'CustomerID'.*not an integer"),
        ("StockCode", None, r"data row 0 .*'StockCode'.*missing"),
    ],
)
def test_online_retail_malformed(data_dir: Path, column: str, value: object, pattern: str) -> None:
    frame = _retail_frame().astype({column: str if isinstance(value, str) else object})
    frame.loc[0, column] = value
    frame.to_parquet(data_dir / "online_retail/online_retail.parquet")
    with pytest.raises(TagrankInputError, match=pattern):
        load_dataset("online_retail", data_dir)


def test_online_retail_missing_column(data_dir: Path) -> None:
    _retail_frame().drop(columns=["CustomerID"]).to_parquet(data_dir / "online_retail/online_retail.parquet")
    with pytest.raises(TagrankInputError, match=r"online_retail\.parquet: missing column\(s\) \['CustomerID'\]"):
        load_dataset("online_retail", data_dir)


# ----------------------------------------------------------------------------- fashion


def test_fashion(data_dir: Path) -> None:
    data = load_dataset("fashion", data_dir)
    labels = data.labels.set_index("item_id")
    assert data.label_columns == ("masterCategory", "subCategory", "articleType", "gender", "baseColour", "season", "usage")
    assert list(data.labels.columns) == ["item_id", "text", *data.label_columns]
    assert list(labels.index) == ["15970", "7491", "12345", "30991"]
    assert labels.loc["7491", "text"] == 'Nike Women\'s EM Tempo 3.5" Pink Short'
    assert labels.loc["12345", "text"] == "Name, with, commas"  # unquoted commas repaired
    assert labels.loc["30991", ["baseColour", "season", "usage"]].tolist() == ["", "", ""]
    assert data.counts == {"rows_read": 6, "repaired_extra_commas": 1, "dropped_malformed_line": 1,
                           "dropped_missing_name": 1, "dropped_missing_category": 0}


def test_fashion_malformed(data_dir: Path) -> None:
    _write(data_dir / "taxonomy/fashion_styles.csv", FASHION.replace("15970,", ",", 1))
    with pytest.raises(TagrankInputError, match=r"data row 0 .*'id'.*missing"):
        load_dataset("fashion", data_dir)
    _write(data_dir / "taxonomy/fashion_styles.csv", FASHION.replace("articleType,", "type,", 1))
    with pytest.raises(TagrankInputError, match=r"missing column\(s\) \['articleType'\]"):
        load_dataset("fashion", data_dir)


# ----------------------------------------------------------------------------- similarity files


def test_similarity_happy_paths(data_dir: Path) -> None:
    wordsim = load_dataset("wordsim353", data_dir)
    assert wordsim.pairs.to_dict("records") == [
        {"left": "love", "right": "sex", "score": 6.77, "split": None},
        {"left": "tiger", "right": "cat", "score": 7.35, "split": None},
    ]
    assert len(load_dataset("simlex999", data_dir).pairs) == 2
    stsb = load_dataset("stsb_en", data_dir)
    assert stsb.pairs["split"].tolist() == ["train", "valid", "test"]
    assert stsb.pairs["left"].iat[0] == 'A "quoted plane.'  # quotes kept verbatim
    assert stsb.counts["rows_with_extra_fields_ignored"] == 1
    zh = load_dataset("stsb_zh", data_dir)
    assert zh.language == "zh" and zh.pairs["split"].tolist() == ["train", "valid", "test"]
    assert zh.pairs["score"].tolist() == [5.0, 3.0, 0.0]
    cos = load_dataset("cos960", data_dir)
    assert cos.pairs["score"].tolist() == [4.0, 3.5] and cos.language == "zh"
    lcqmc = load_dataset("lcqmc", data_dir)
    assert lcqmc.pairs["score"].tolist() == [0.0, 1.0] and lcqmc.pairs["split"].isna().all()


def test_simlex_original_layout(data_dir: Path) -> None:
    text = ("word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\n"
            "old\tnew\tA\t1.58\t2.72\t2.81\nsmart\tintelligent\tA\t9.2\t1.75\t2.46\n")
    _write(data_dir / "similarity/simlex999.txt", text)
    assert load_dataset("simlex999", data_dir).pairs["score"].tolist() == [1.58, 9.2]


@pytest.mark.parametrize(
    ("name", "relative", "text", "pattern"),
    [
        ("wordsim353", "similarity/wordsim353.tsv", "# c\nlove\tsex\tmany\n", r"line 2, column 'score'.*not a number"),
        ("wordsim353", "similarity/wordsim353.tsv", "love\t \t6.0\n", r"line 1, column 'word2'.*empty"),
        ("wordsim353", "similarity/wordsim353.tsv", "love\n", r"line 1, .*expected at least 3"),
        ("stsb_zh", "similarity/stsb_zh/STS-B.valid.data", "a\tb\t3\n\tb\t2\n", r"STS-B\.valid\.data: line 2, column 'sentence1'"),
        ("cos960", "similarity/cos960_all.txt", "a b x 1\n", r"line 1, column 'mean'.*not a number"),
        ("lcqmc", "similarity/lcqmc_test.txt", "a\tb\t2\n", r"line 1, column 'label': expected one of \[0.0, 1.0\]"),
        ("lcqmc", "similarity/lcqmc_test.txt", "a\tb\n", r"line 1, .*expected 3 tab-separated fields"),
        ("lcqmc", "similarity/lcqmc_test.txt", "", r"no data rows"),
    ],
)
def test_similarity_malformed(data_dir: Path, name: str, relative: str, text: str, pattern: str) -> None:
    _write(data_dir / relative, text)
    with pytest.raises(TagrankInputError, match=pattern):
        load_dataset(name, data_dir)


def test_stsb_en_malformed(data_dir: Path) -> None:
    header = "split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2\n"
    path = data_dir / "similarity/stsbenchmark.tsv.gz"
    path.write_bytes(gzip.compress((header + "train\tg\td\ty\t1\tfive\ta\tb\n").encode()))
    with pytest.raises(TagrankInputError, match=r"line 2, column 'score'.*not a number"):
        load_dataset("stsb_en", data_dir)
    path.write_bytes(gzip.compress((header + "holdout\tg\td\ty\t1\t5\ta\tb\n").encode()))
    with pytest.raises(TagrankInputError, match=r"line 2, column 'split'.*unknown split"):
        load_dataset("stsb_en", data_dir)
    path.write_bytes(gzip.compress(header.replace("\tscore", "\tlabel").encode()))
    with pytest.raises(TagrankInputError, match=r"missing column\(s\) \['score'\]"):
        load_dataset("stsb_en", data_dir)


# ----------------------------------------------------------------------------- summary


def test_dataset_summary(data_dir: Path) -> None:
    (data_dir / "similarity/lcqmc_test.txt").unlink()
    _write(data_dir / "similarity/cos960_all.txt", "a b x\n")
    table = dataset_summary(data_dir).set_index("name")
    assert list(table.index) == list_datasets()
    assert table.loc["homedepot", "found"] and table.loc["homedepot", "judgments"] == 5
    assert table.loc["online_retail", "interactions"] == 3
    assert table.loc["sample", "found"] and table.loc["sample", "items"] > 0
    assert not table.loc["lcqmc", "found"] and pd.isna(table.loc["lcqmc", "pairs"])
    assert table.loc["cos960", "found"] and "not a number" in table.loc["cos960", "error"]
    assert str(data_dir) in table.loc["homedepot", "path"]
    fast = dataset_summary(data_dir, count_rows=False)
    assert fast["pairs"].isna().all()


def test_dataset_is_immutable_record() -> None:
    data = load_dataset("gensim_wordsim353")
    assert isinstance(data, Dataset) and "pairs=353 rows" in repr(data)
    with pytest.raises(AttributeError):
        data.name = "other"  # type: ignore[misc]
