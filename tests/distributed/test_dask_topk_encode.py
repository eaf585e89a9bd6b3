"""Distributed encode and exact top-k equal the single-machine ones (LocalCluster, 2 workers)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from tagrank.baselines.validation import TagrankInputError
from tagrank.baselines.vectors import top_k
from tagrank.hybrid.dask_topk import block_bounds, dask_top_k, merge_top_k, shard_items

pytestmark = pytest.mark.slow


def _data(n=3000, d=16, q=130, seed=0):
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n, d)).astype(np.float32)
    # exact ties across shards: copies of one item far apart, and a query equal to it
    items[[r for r in (5, 1700, 2999) if r < n]] = items[40 % n]
    queries = rng.standard_normal((q, d)).astype(np.float32)
    queries[3] = items[40]
    return queries, items


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_dask_top_k_equals_single_machine(dask_client, single_thread, metric):
    queries, items = _data()
    got = dask_top_k(queries, items, k=7, metric=metric, item_chunk=256, query_chunk=50, client=dask_client)
    want = top_k(queries, items, k=7, metric=metric, item_chunk=256, query_chunk=50)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # the tie: the same vector at rows 5, 40, 1700, 2999 (three shards) comes back in row order
    assert got[0][3][:4].tolist() == [5, 40, 1700, 2999]


def test_dask_top_k_exclude_and_small_shards(dask_client, single_thread):
    queries, items = _data(n=50, q=9)
    exclude = sp.random(9, 50, density=0.8, random_state=1, format="csr")
    got = dask_top_k(queries, items, k=20, exclude=exclude, item_chunk=4, n_shards=12, client=dask_client)
    want = top_k(queries, items, k=20, exclude=exclude, item_chunk=4)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert (got[0] == -1).any()  # some rows cannot be filled: -1 / -inf, as on one machine


def test_sharded_items_reused_and_balanced(dask_client, single_thread):
    queries, items = _data(n=2000)
    sharded = shard_items(items, dask_client, item_chunk=100)
    assert sum(sharded.sizes) == 2000 and len(sharded.futures) >= 2
    from distributed import wait

    wait(sharded.futures)
    owners = dask_client.who_has(sharded.futures)
    assert len({w for ws in owners.values() for w in ws}) == 2  # both workers hold shards
    a = dask_top_k(queries, sharded, k=5, item_chunk=100, client=dask_client)
    b = top_k(queries, items, k=5, item_chunk=100)
    np.testing.assert_array_equal(a[0], b[0])


def test_block_bounds_deal_whole_blocks_evenly():
    # 200,000 rows in 16,384-row blocks: 12 full blocks and one of 3,392; two shards of 6 and 7 blocks,
    # the short block in the larger shard (98,304 vs 101,696 rows)
    assert block_bounds(200_000, 16_384, 2) == [0, 98_304, 200_000]
    assert block_bounds(200_000, 16_384, 1) == [0, 200_000]
    assert block_bounds(32, 4, 3) == [0, 8, 20, 32]  # 8 blocks: 2, 3, 3
    assert block_bounds(5, 16_384, 8) == [0, 5]  # never more shards than blocks
    for n in range(1, 60):
        for chunk in (1, 3, 7, 16):
            for shards in range(1, 9):
                b = block_bounds(n, chunk, shards)
                blocks = [-(-(b[i + 1] - b[i]) // chunk) for i in range(len(b) - 1)]
                assert b[0] == 0 and b[-1] == n and all(x % chunk == 0 for x in b[:-1])
                assert len(blocks) == min(shards, -(-n // chunk)) and min(blocks) >= 1
                assert max(blocks) - min(blocks) <= 1


def test_merge_top_k_tie_rule():
    a = (np.array([[3, 9, -1]]), np.array([[0.5, 0.2, -np.inf]]))
    b = (np.array([[1, 4, 7]]), np.array([[0.5, 0.3, 0.2]]))
    idx, scores = merge_top_k(a, b, 4)
    assert idx.tolist() == [[1, 3, 4, 7]]  # equal scores: lower index first
    assert scores.tolist() == [[0.5, 0.5, 0.3, 0.2]]


def test_dask_top_k_bad_input(dask_client):
    with pytest.raises(TagrankInputError, match="dimension"):
        dask_top_k(np.zeros((2, 3)), np.zeros((10, 4)), client=dask_client)
    with pytest.raises(TagrankInputError, match="queries row 1"):
        dask_top_k(np.array([[0.0, 1.0], [np.nan, 0.0]]), np.ones((10, 2)), client=dask_client)


def test_dask_encode_equals_single_machine(dask_client):
    from tagrank.hybrid.dask_encode import encode_dask
    from tagrank.hybrid.encoder import TransformerEncoder

    texts = [f"{c} {w} no. {i}" for i, (c, w) in enumerate(
        zip(["red", "blue", "green wool", "black leather"] * 15, ["shoe", "running jacket with hood", "lamp", "kettle"] * 15, strict=True))]
    texts[7] = texts[2]  # a duplicate
    enc = TransformerEncoder(device="cpu", show_progress=False, batch_size=8, dtype="float32")
    want = enc.encode(texts)
    got = encode_dask(enc, texts, client=dask_client, npartitions=5).compute()
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-5


def test_in_memory_texts_are_split_on_the_driver_into_independent_tasks():
    import dask
    import dask.dataframe as dd
    import pandas as pd
    from tagrank.hybrid.dask_encode import text_partitions

    texts = [f"item {i}" for i in range(10)]
    parts = text_partitions(texts, npartitions=3)
    # plain lists with known offsets: no upstream task decides where an encode task runs
    assert [(p, o) for p, o in parts] == [(texts[0:3], 0), (texts[3:6], 3), (texts[6:10], 6)]
    assert [len(p) for p, _ in text_partitions(pd.DataFrame({"title": texts}), "title", npartitions=4)] == [2, 3, 2, 3]
    assert text_partitions(texts, npartitions=50)[-1] == (texts[9:10], 9)  # never more partitions than texts
    lazy = text_partitions(dd.from_pandas(pd.Series(texts), npartitions=2))  # a Dask collection keeps its own
    assert [len(p) for p in dask.compute(*[p for p, _ in lazy])] == [5, 5]
    assert dask.compute(*[o for _, o in lazy]) == (0, 5)


def test_dask_encode_from_dask_frame_and_parquet(dask_client, tmp_path):
    import dask.dataframe as dd
    import pandas as pd
    from tagrank.hybrid.dask_encode import encode_dask, encode_to_npy
    from tagrank.hybrid.encoder import TransformerEncoder

    texts = [f"item {i} cordless drill" for i in range(23)]
    enc = TransformerEncoder(device="cpu", show_progress=False)
    want = enc.encode(texts)
    frame = pd.DataFrame({"title": texts})
    frame.to_parquet(tmp_path / "titles.parquet")
    got = encode_dask(enc, tmp_path / "titles.parquet", column="title", client=dask_client).compute()
    assert np.abs(got - want).max() <= 1e-5
    ddf = dd.from_pandas(frame, npartitions=3)
    files = encode_to_npy(enc, ddf, tmp_path / "shards", column="title", client=dask_client)
    assert len(files) == 3
    assert np.abs(np.vstack([np.load(f) for f in files]) - want).max() <= 1e-5
    with pytest.raises(TagrankInputError, match="no column 'text'"):
        encode_dask(enc, ddf, client=dask_client)


def test_session_client_runs_transformer_scorer_on_the_cluster(dask_client, single_thread, monkeypatch):
    """What ``tagrank bench --scheduler`` does: with a session client the transformer scorer's corpus
    encoding and top-k run on the workers, with the single-machine answer."""
    from tagrank.hybrid import dask_session
    from tagrank.hybrid.transformer_scorer import TransformerScorer

    texts = [f"{c} cotton shirt size {i}" for i, c in enumerate(["red", "blue", "white"] * 8)]
    ids = list(range(len(texts)))
    local = TransformerScorer(device="cpu", show_progress=False).fit(texts, ids)
    want = local.top_k(["blue shirt", "size 3"], k=5)
    monkeypatch.setattr(dask_session, "MIN_DISTRIBUTED_ROWS", 1)
    calls = []
    dask_session.set_client(dask_client)
    try:
        import tagrank.hybrid.dask_encode as dask_encode

        real = dask_encode.encode_dask
        monkeypatch.setattr(dask_encode, "encode_dask", lambda *a, **kw: calls.append(1) or real(*a, **kw))
        dist = TransformerScorer(device="cpu", show_progress=False).fit(texts, ids)
        got = dist.top_k(["blue shirt", "size 3"], k=5)
    finally:
        dask_session.set_client(None)
    assert calls, "the corpus was not encoded on the cluster"
    assert np.abs(dist.embeddings_ - local.embeddings_).max() <= 1e-5
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def test_a_local_cluster_leaves_the_callers_environment_as_it_was(monkeypatch):
    """Dask's nannies write OMP_NUM_THREADS=1 and friends into os.environ; a process started later
    (a bench subprocess) would run torch on one thread and compute other numbers."""
    import os

    from tagrank.eval.distributed import local_cluster

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = dict(os.environ)
    cluster = local_cluster(1)
    try:
        assert dict(os.environ) == before
    finally:
        cluster.close()


def test_a_local_cluster_runs_quiet_and_leaves_the_callers_config_alone():
    """tagrank's LocalCluster shares the caller's cores: its workers run without the statistical
    profiler and with slower diagnostics ticks (QUIET_LOCAL_CLUSTER); the caller's config is untouched."""
    import dask
    from distributed import Client
    from tagrank.eval.distributed import QUIET_LOCAL_CLUSTER, local_cluster

    before = {key: dask.config.get(key) for key in QUIET_LOCAL_CLUSTER}
    cluster = local_cluster(1)
    try:
        with Client(cluster) as client:
            seen = client.run(lambda: {key: dask.config.get(key) for key in QUIET_LOCAL_CLUSTER})
            callbacks = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
        assert list(seen.values()) == [QUIET_LOCAL_CLUSTER]
        assert all("profile" not in names for names in callbacks.values())
    finally:
        cluster.close()
    assert {key: dask.config.get(key) for key in QUIET_LOCAL_CLUSTER} == before
