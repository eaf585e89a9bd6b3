"""A user's dataset from files: column mapping, split file, label scale, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.cli import main
from tagrank.eval.results import read_results, read_units
from tagrank.eval.user_data import parse_columns, rescale_labels, user_dataset


def _files(tmp_path, n_queries=40):
    from tagrank.eval.datasets import load_dataset

    sample = load_dataset("sample")
    j = sample.judgments.rename(columns={"query": "q", "item_id": "pid", "label": "grade"})
    j.to_csv(tmp_path / "j.csv", index=False)
    sample.items.rename(columns={"item_id": "pid"})[["pid", "text"]].to_parquet(tmp_path / "items.parquet")
    queries = sample.judgments["query"].drop_duplicates().tolist()
    split = pd.DataFrame({"q": queries, "split": (["train", "valid", "test"] * len(queries))[: len(queries)]})
    split.to_csv(tmp_path / "split.csv", index=False)
    return sample, split


def test_parse_columns():
    assert parse_columns("query=search_term, item=product_uid") == {"query": "search_term", "item": "product_uid"}
    with pytest.raises(TagrankInputError, match="unknown field 'qurey'"):
        parse_columns("qurey=x")
    with pytest.raises(TagrankInputError, match="name=column"):
        parse_columns("query")


def test_user_search_dataset_keeps_the_users_split(tmp_path):
    sample, split = _files(tmp_path)
    ds = user_dataset(judgments=tmp_path / "j.csv", items=tmp_path / "items.parquet", split=tmp_path / "split.csv",
                      columns={"query": "q", "item": "pid", "label": "grade"})
    assert len(ds.judgments) == len(sample.judgments)
    want = dict(zip(split["q"], split["split"], strict=True))
    assert (ds.judgments["split"] == ds.judgments["query"].map(want)).all()


def test_labels_rescale_onto_one_to_three():
    out = rescale_labels(pd.Series([0.0, 2.0, 4.0]))
    assert out.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(TagrankInputError, match="row 1 is -1.0"):
        rescale_labels(pd.Series([0.0, -1.0]))
    with pytest.raises(TagrankInputError, match="at least two grades"):
        rescale_labels(pd.Series([2.0, 2.0]))


def test_split_file_must_cover_every_query(tmp_path):
    _files(tmp_path)
    pd.DataFrame({"q": ["nothing"], "split": ["train"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(TagrankInputError, match="assigns no split"):
        user_dataset(judgments=tmp_path / "j.csv", items=tmp_path / "items.parquet", split=tmp_path / "bad.csv",
                     columns={"query": "q", "item": "pid", "label": "grade"})
    pd.DataFrame({"q": ["x"], "split": ["dev"]}).to_csv(tmp_path / "bad2.csv", index=False)
    with pytest.raises(TagrankInputError, match="'dev'"):
        user_dataset(judgments=tmp_path / "j.csv", items=tmp_path / "items.parquet", split=tmp_path / "bad2.csv",
                     columns={"query": "q", "item": "pid", "label": "grade"})


def test_bench_on_a_users_files_with_their_split(tmp_path):
    _files(tmp_path)
    out = tmp_path / "out"
    code = main(["bench", "--judgments", str(tmp_path / "j.csv"), "--items", str(tmp_path / "items.parquet"),
                 "--split", str(tmp_path / "split.csv"), "--columns", "query=q,item=pid,label=grade",
                 "--method", "bm25", "--method", "tfidf", "--name", "shop", "--out", str(out), "--no-progress"])
    assert code == 0
    doc = read_results(out / "search" / "shop-rerank.json")
    assert doc["dataset"] == "shop" and set(doc["methods"]) == {"bm25", "tfidf"}
    units = read_units(out / "search" / "shop-rerank.json")
    assert set(units["method"]) == {"bm25", "tfidf"}
    # the saved per-unit values average to the file's metric
    for method in ("bm25", "tfidf"):
        mean = units[(units["method"] == method) & (units["metric"] == "ndcg@10")]["value"].mean()
        assert mean == pytest.approx(doc["methods"][method]["metrics"]["ndcg@10"], abs=1e-9)


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "--judgments", str(tmp_path / "none.csv"), "--items", "x.csv", "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
