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


def _search_files(tmp_path, judgments: str, items: str = "pid,text\n1,red shirt\n2,blue jeans\n007,green hat\n"):
    (tmp_path / "j.csv").write_text(judgments)
    (tmp_path / "items.csv").write_text(items)
    return {"judgments": tmp_path / "j.csv", "items": tmp_path / "items.csv",
            "columns": {"query": "q", "item": "pid", "label": "grade"}}


def test_ids_keep_their_text(tmp_path):
    ds = user_dataset(**_search_files(tmp_path, "q,pid,grade\nred,1,3\nred,007,0\nblue,2,3\nblue,1,1\n"))
    assert ds.judgments["item_id"].tolist() == ["1", "007", "2", "1"]
    assert ds.items["item_id"].tolist() == ["1", "2", "007"]


@pytest.mark.parametrize("judgments,where", [
    ("q,pid,grade\nred,1,3\nred,,0\nblue,2,3\n", r"data row 1 .*column 'pid': id is missing"),
    ("q,pid,grade\nred,1,3\n,2,0\nblue,2,3\n", r"data row 1 .*column 'q': text is missing"),
    ("q,pid,grade\nred,1,3\nred,2,\nblue,2,3\n", r"data row 1 .*column 'grade': value is missing"),
    ("q,pid,grade\nred,1,3\nred,2,high\nblue,2,3\n", r"data row 1 .*column 'grade': value is not a finite number"),
])
def test_missing_ids_queries_and_labels_name_file_column_and_row(tmp_path, judgments, where):
    with pytest.raises(TagrankInputError, match=r"j\.csv: " + where):
        user_dataset(**_search_files(tmp_path, judgments))


def test_repeated_judgments_are_averaged_like_the_search_pipeline(tmp_path):
    with pytest.warns(UserWarning, match="1 row.* repeat an earlier .query, item. and were merged"):
        ds = user_dataset(**_search_files(tmp_path, "q,pid,grade\nred,1,3\nred,1,0\nblue,2,3\nblue,1,0\n"))
    assert len(ds.judgments) == 3 and ds.counts == {"merged_duplicate_judgments": 1}
    assert ds.judgments["label"].tolist() == [2.0, 3.0, 1.0]  # red/1: mean of 3 and 1 on the 1..3 scale


def test_missing_pair_score_and_interaction_weight_are_errors(tmp_path):
    (tmp_path / "p.csv").write_text("left,right,score\na b,c d,1\ne f,g h,\n")
    with pytest.raises(TagrankInputError, match=r"p\.csv: data row 1 .*column 'score': value is missing"):
        user_dataset(pairs=tmp_path / "p.csv")
    (tmp_path / "i.csv").write_text("user_id,item_id,timestamp,weight\nu1,1,1,x\nu1,2,2,1\n")
    with pytest.raises(TagrankInputError, match=r"i\.csv: data row 0 .*column 'weight': value is not a finite number"):
        user_dataset(interactions=tmp_path / "i.csv")


def test_split_file_naming_unknown_units_is_an_error(tmp_path):
    files = _search_files(tmp_path, "q,pid,grade\nred,1,3\nred,2,0\nblue,2,3\nblue,1,1\n")
    (tmp_path / "split.csv").write_text("q,split\nred,train\nblue,test\nrde,valid\n")
    with pytest.raises(TagrankInputError, match=r"1 row\(s\) name a query that is not in the judgments file.*\['rde'\]"):
        user_dataset(**files, split=tmp_path / "split.csv")
    (tmp_path / "i.csv").write_text("user_id,item_id,timestamp\nu1,1,1\nu1,2,2\n")
    (tmp_path / "isplit.csv").write_text("user_id,item_id,split\nu1,1,train\nu1,2,test\nu2,1,test\n")
    with pytest.raises(TagrankInputError, match=r"name a \(user_id, item_id\) that is not in the interactions file"):
        user_dataset(interactions=tmp_path / "i.csv", split=tmp_path / "isplit.csv")
