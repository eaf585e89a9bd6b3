"""Bad and unusual inputs of the Dask paths: rejected as on one machine, with the same message and the
row numbered in the caller's whole input; frames read through their key column; sizes checked."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from tagrank.baselines.validation import TagrankInputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def search_model(tmp_path_factory):
    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.eval.datasets import load_dataset
    from tagrank.hybrid.pipelines import SearchPipeline

    sample = load_dataset("sample")
    pipe = SearchPipeline({"bm25": BM25Scorer()}, ranker_params={"n_estimators": 10}, train_rerank=False).fit(
        sample.items["item_id"].tolist(), sample.items["text"].tolist(), sample.judgments)
    path = pipe.save(tmp_path_factory.mktemp("models") / "search")
    return path, SearchPipeline.load(path)


@pytest.fixture(scope="module")
def encoder():
    from tagrank.hybrid.encoder import TransformerEncoder

    return TransformerEncoder(device="cpu", show_progress=False, batch_size=8)


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(TagrankInputError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# 1. a pandas DataFrame is read through its key column, a Series by value
def test_batch_search_reads_a_dataframe_through_its_column(dask_client, search_model, tmp_path):
    from tagrank.hybrid.dask_batch import batch_search, read_output, score_keys

    path, pipe = search_model
    frame = pd.DataFrame({"query": ["red shoe", "lamp"], "other": ["x", "y"]})
    got = read_output(batch_search(path, frame, tmp_path / "a", k=2, client=dask_client))
    pd.testing.assert_frame_equal(got, score_keys("search", pipe, ["red shoe", "lamp"], 2), check_dtype=False)
    assert set(got["query"]) == {"red shoe", "lamp"}
    renamed = frame.rename(columns={"query": "q"})
    got = read_output(batch_search(path, renamed, tmp_path / "b", k=2, column="q", client=dask_client))
    assert set(got["query"]) == {"red shoe", "lamp"}
    got = read_output(batch_search(path, frame["query"], tmp_path / "c", k=2, client=dask_client))
    assert set(got["query"]) == {"red shoe", "lamp"}
    with pytest.raises(TagrankInputError, match=re.escape("no column 'query'; columns: ['q', 'other']")):
        batch_search(path, renamed, tmp_path / "d", client=dask_client)
    assert list(frame.columns) == ["query", "other"] and frame["query"].tolist() == ["red shoe", "lamp"]


# 2. missing / empty / non-string queries and texts: the single-machine error, the whole input's row
def test_batch_search_rejects_missing_queries_like_search(dask_client, search_model, tmp_path):
    from tagrank.hybrid.dask_batch import batch_search

    path, pipe = search_model
    for bad in (["red shoe", None, "lamp"], ["red shoe", float("nan")], ["red shoe", "  "], ["lamp", 3]):
        want = _message(pipe.search, bad, k=2)
        assert _message(batch_search, path, bad, tmp_path / "x", k=2, client=dask_client) == want
        assert not (tmp_path / "x").exists()  # checked on the client before anything runs
    want = _message(pipe.search, ["red shoe", None])
    assert re.match(r"query_texts\[1\] is missing", want)


def test_batch_search_rejects_missing_queries_read_lazily(dask_client, search_model, tmp_path):
    import dask.dataframe as dd
    from tagrank.hybrid.dask_batch import batch_search

    path, _ = search_model
    queries = ["red shoe", "lamp", "kettle", "drill", "", "chair", "table"]
    pd.DataFrame({"query": queries}).to_csv(tmp_path / "q.csv", index=False)  # row 4: an empty cell
    # read lazily, Dask holds a missing cell as <NA> (its string dtype): the row is the whole file's
    with pytest.raises(TagrankInputError, match=re.escape("query_texts[4] is missing (got ")):
        batch_search(path, tmp_path / "q.csv", tmp_path / "o1", k=2, client=dask_client, npartitions=3)
    pd.DataFrame({"query": [*queries[:4], None, *queries[5:]]}).to_parquet(tmp_path / "q.parquet")
    with pytest.raises(TagrankInputError, match=re.escape("query_texts[4] is missing (got ")):
        batch_search(path, tmp_path / "q.parquet", tmp_path / "o2", k=2, client=dask_client, npartitions=3)
    ddf = dd.from_pandas(pd.DataFrame({"query": [*queries[:4], "ok", "!!", "z"]}), npartitions=3)
    with pytest.raises(TagrankInputError, match=re.escape("query_texts[5] is blank")):
        batch_search(path, ddf, tmp_path / "o3", k=2, client=dask_client)


def test_encode_dask_rejects_what_encode_rejects(dask_client, encoder):
    import dask.dataframe as dd
    from tagrank.hybrid.dask_encode import encode_dask

    for bad in ([1, 2], ["lamp", None], ["lamp", ""], np.array(["lamp", " "])):
        assert _message(encode_dask, encoder, bad, client=dask_client) == _message(encoder.encode, bad)
    texts = [f"item {i}" for i in range(20)]
    texts[15] = None
    # 3. the row in the whole input, not in its partition
    want = _message(encoder.encode, texts)
    assert want.startswith("texts[15] is missing")
    assert _message(encode_dask, encoder, texts, client=dask_client, npartitions=2) == want
    lazy = dd.from_pandas(pd.Series(texts, dtype=object), npartitions=2)
    with pytest.raises(TagrankInputError, match=re.escape("texts[15] is missing (got ")):
        encode_dask(encoder, lazy, client=dask_client).compute()
    ints = dd.from_pandas(pd.Series(np.arange(20)), npartitions=3)  # (an object column Dask turns into str)
    # partitions run in parallel: whichever fails first is reported, by its row in the whole input
    # (row i holds the value i, so the named row and value must agree)
    with pytest.raises(TagrankInputError, match=r"^texts\[(\d+)\] must be a string, got int \1$"):
        encode_dask(encoder, ints, client=dask_client).compute()


# 4. dask_top_k: non-finite items named by their row in the whole matrix, dtypes, empty items
def test_dask_top_k_names_the_items_row_in_the_whole_matrix(dask_client):
    import dask.array as da
    from tagrank.hybrid.dask_topk import dask_top_k

    items = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    items[83, 2] = np.nan
    queries = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(TagrankInputError, match=r"^items row 83 contains NaN or inf"):
        dask_top_k(queries, items, k=3, item_chunk=16, n_shards=4, client=dask_client)
    with pytest.raises(TagrankInputError, match=r"^items row 83 contains NaN or inf"):
        dask_top_k(queries, da.from_array(items, chunks=(30, 4)), k=3, client=dask_client)


def test_dask_top_k_dtype_and_empty_items(dask_client):
    from tagrank.hybrid.dask_topk import dask_top_k

    items = np.ones((10, 2), dtype=np.float32)
    with pytest.raises(TagrankInputError, match="queries must be a numeric matrix, got dtype object"):
        dask_top_k(np.array([[1.0, None]], dtype=object), items, client=dask_client)
    with pytest.raises(TagrankInputError, match="items must be a numeric matrix, got dtype object"):
        dask_top_k(np.ones((1, 2)), items.astype(object), client=dask_client)
    with pytest.raises(TagrankInputError, match="items is empty"):
        dask_top_k(np.ones((1, 2)), np.zeros((0, 2)), k=3, client=dask_client)


# 6. sizes: zero or negative is an error naming the argument, None the default
def test_sizes_must_be_positive(dask_client, search_model, encoder, tmp_path):
    from tagrank.hybrid.dask_batch import batch_recommend, batch_search, read_keys
    from tagrank.hybrid.dask_encode import as_text_series, encode_dask
    from tagrank.hybrid.dask_topk import dask_top_k, shard_items

    path, _ = search_model
    items, queries = np.ones((10, 2), dtype=np.float32), np.ones((1, 2), dtype=np.float32)
    for bad in (0, -1):
        for name, call in [
            ("item_chunk", lambda b: dask_top_k(queries, items, item_chunk=b, client=dask_client)),
            ("n_shards", lambda b: dask_top_k(queries, items, n_shards=b, client=dask_client)),
            ("n_shards", lambda b: shard_items(items, dask_client, n_shards=b)),
            ("npartitions", lambda b: encode_dask(encoder, ["lamp"], npartitions=b, client=dask_client)),
            ("npartitions", lambda b: as_text_series(["lamp"], npartitions=b)),
            ("npartitions", lambda b: read_keys(["lamp"], "query", npartitions=b)),
            ("npartitions", lambda b: batch_search(path, ["lamp"], tmp_path / "s", npartitions=b, client=dask_client)),
            ("npartitions", lambda b: batch_recommend(path, [1], tmp_path / "r", npartitions=b, client=dask_client)),
        ]:
            assert _message(call, bad) == f"{name} must be a positive integer, got {bad}"
    assert len(dask_top_k(queries, items, k=2, item_chunk=None, n_shards=None, client=dask_client)[0]) == 1


# 5. --scheduler: only "local" / "local:..." is the LocalCluster form; anything else is an address
def test_scheduler_addresses_starting_with_local_are_addresses(monkeypatch):
    import distributed
    from tagrank.eval.distributed import connect, local_workers

    assert local_workers("local:2") == 2
    assert local_workers(" local:3 ") == 3
    assert local_workers("localhost:8786") is None
    assert local_workers("tcp://localhost:8786") is None
    assert local_workers("local.example.org:8786") is None
    for bad in ("local", "local:", "local:x", "local:-1"):
        with pytest.raises(TagrankInputError, match="local:N"):
            local_workers(bad)
    with pytest.raises(TagrankInputError, match="N >= 1"):
        local_workers("local:0")
    seen = []
    monkeypatch.setattr(distributed, "Client", lambda address, **kw: seen.append(address) or "client")
    assert connect("localhost:8786", activate=False) == "client"
    assert seen == ["localhost:8786"]
