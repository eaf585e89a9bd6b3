"""Distributed LambdaRank (quality parity, same saved format) and batch scoring to Parquet, on a LocalCluster;
a worker killed mid-job: Dask reruns its tasks and the output is still complete and equal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.ranker import HybridRanker

pytestmark = pytest.mark.slow


def _ranking_data(n_queries: int, seed: int) -> pd.DataFrame:
    """Queries of 20 candidates; the grade is a known function of the features plus noise."""
    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(n_queries), 20)
    x = rng.standard_normal((len(q), 4))
    rel = x[:, 0] + 0.7 * x[:, 1] * x[:, 2] + 0.3 * rng.standard_normal(len(q))
    frame = pd.DataFrame(x, columns=["bm25", "cosine", "tfidf", "noise"])
    frame["query"] = [f"q{seed}-{i}" for i in q]
    frame["item_id"] = np.tile(np.arange(20), n_queries)
    frame["label"] = np.clip(np.round(rel + 1.0), 0, 3)
    return frame


def _ndcg10(frame: pd.DataFrame, scores: np.ndarray) -> float:
    """Mean NDCG@10 over queries (linear gain = label), written out for the test."""
    out = []
    for _, g in frame.assign(s=scores).groupby("query", sort=False):
        gains = g.sort_values("s", ascending=False, kind="mergesort")["label"].to_numpy()[:10]
        ideal = np.sort(g["label"].to_numpy())[::-1][:10]
        disc = 1.0 / np.log2(np.arange(2, len(gains) + 2))
        if ideal @ disc[: len(ideal)] > 0:
            out.append((gains @ disc[: len(gains)]) / (ideal @ disc[: len(ideal)]))
    return float(np.mean(out))


def test_dask_ranker_quality_parity_and_saved_format(dask_client, tmp_path):
    import dask.dataframe as dd
    from tagrank.hybrid.dask_ranker import fit_ranker_dask

    train, test = _ranking_data(600, 1), _ranking_data(300, 2)
    params = {"n_estimators": 60, "early_stopping_rounds": None, "grade_rule": 1.0, "min_child_samples": 20}
    single = HybridRanker(**params).fit(train)
    # shuffled rows in 4 partitions (a fresh index: from_pandas sorts by it): the queries are spread over all
    # of them before the shuffle on the key
    ddf = dd.from_pandas(train.sample(frac=1.0, random_state=0).reset_index(drop=True), npartitions=4)
    dist = fit_ranker_dask(HybridRanker(**params), ddf, client=dask_client)
    assert dist.n_queries_ == single.n_queries_ == 600
    assert dist.feature_names_ == single.feature_names_
    assert dist.best_iteration_ == 60
    assert abs(_ndcg10(test, dist.predict(test)) - _ndcg10(test, single.predict(test))) <= 0.005
    # the same saved format: loads and serves without Dask, same scores
    loaded = HybridRanker.load(dist.save(tmp_path / "ranker"))
    np.testing.assert_array_equal(loaded.predict(test), dist.predict(test))
    assert sorted(p.name for p in (tmp_path / "ranker").iterdir()) == sorted(
        p.name for p in single.save(tmp_path / "single").iterdir())


def test_dask_ranker_skips_the_shuffle_when_queries_are_already_whole(dask_client, monkeypatch):
    import dask.dataframe as dd
    from tagrank.hybrid.dask_ranker import fit_ranker_dask

    # as large as the parity test above: which partitions each worker trains on is the scheduler's
    # choice, and on 200 queries x 30 trees that alone moved ndcg@10 by up to 0.006 between runs
    train, test = _ranking_data(600, 4), _ranking_data(300, 5)
    params = {"n_estimators": 60, "early_stopping_rounds": None, "grade_rule": 1.0}
    # partitions cut at query boundaries (as a frame written per query would be read back)
    chunks = [train.iloc[i:i + 20 * 150] for i in range(0, len(train), 20 * 150)]
    whole = dd.concat([dd.from_pandas(c, npartitions=1) for c in chunks])
    shuffled = dd.from_pandas(train.sample(frac=1.0, random_state=0).reset_index(drop=True), npartitions=4)

    calls = []
    real = dd.DataFrame.shuffle
    monkeypatch.setattr(dd.DataFrame, "shuffle", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    dist = fit_ranker_dask(HybridRanker(**params), whole, client=dask_client)
    assert calls == []  # already whole: no shuffle
    assert dist.n_queries_ == 600
    single = HybridRanker(**params).fit(train)
    assert abs(_ndcg10(test, dist.predict(test)) - _ndcg10(test, single.predict(test))) <= 0.005
    fit_ranker_dask(HybridRanker(**params), shuffled, client=dask_client)
    assert calls == [1]  # split queries: shuffled on the key
    with pytest.raises(TagrankInputError, match="split over partitions"):
        fit_ranker_dask(HybridRanker(**params), shuffled, client=dask_client, shuffle=False)
    with pytest.raises(TagrankInputError, match="npartitions must be a positive integer, got -1"):
        fit_ranker_dask(HybridRanker(**params), whole, client=dask_client, npartitions=-1)
    with pytest.raises(TagrankInputError, match="shuffle must be"):
        fit_ranker_dask(HybridRanker(**params), whole, client=dask_client, shuffle="yes")


def test_dask_ranker_checks_input(dask_client):
    import dask.dataframe as dd
    from tagrank.hybrid.dask_ranker import fit_ranker_dask

    frame = _ranking_data(20, 3)
    frame.loc[5, "label"] = np.nan
    with pytest.raises(TagrankInputError, match="not finite"):
        fit_ranker_dask(HybridRanker(), dd.from_pandas(frame, npartitions=2), client=dask_client)
    with pytest.raises(TagrankInputError, match="Dask DataFrame"):
        fit_ranker_dask(HybridRanker(), frame, client=dask_client)
    dup = _ranking_data(20, 3)
    dup.loc[1, "item_id"] = 0  # (query, candidate) twice: caught on the worker by the ranker's own check
    with pytest.raises(TagrankInputError, match="more than once"):
        fit_ranker_dask(HybridRanker(n_estimators=5), dd.from_pandas(dup, npartitions=2), client=dask_client)


@pytest.fixture(scope="module")
def recommend_model(tmp_path_factory):
    from tagrank.baselines.als import ALSScorer
    from tagrank.baselines.popularity import PopularityScorer
    from tagrank.eval.datasets import load_dataset
    from tagrank.hybrid.pipelines import RecommendPipeline

    sample = load_dataset("sample")
    pipe = RecommendPipeline({"pop": PopularityScorer(), "als": ALSScorer(factors=8, iterations=3)},
                             candidates_per_generator=30, ranker_params={"n_estimators": 20}).fit(
        sample.interactions, sample.items)
    path = pipe.save(tmp_path_factory.mktemp("models") / "recommend")
    users = sorted(sample.interactions["user_id"].unique())
    return path, RecommendPipeline.load(path), users


def test_batch_recommend_equals_single_machine(dask_client, recommend_model, tmp_path):
    from tagrank.hybrid.dask_batch import batch_recommend, read_output, score_keys

    path, pipe, users = recommend_model
    out = batch_recommend(path, users, tmp_path / "recs", k=5, client=dask_client, npartitions=4)
    got = read_output(out)
    want = score_keys("recommend", pipe, users, 5)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got.groupby("user_id").size().max() == 5 and set(got["user_id"]) == set(users)
    with pytest.raises(TagrankInputError, match="not an empty folder"):
        batch_recommend(path, users, out, client=dask_client)
    with pytest.raises(TagrankInputError, match="needs a saved SearchPipeline"):
        from tagrank.hybrid.dask_batch import batch_search

        batch_search(path, ["red shoes"], tmp_path / "s", client=dask_client)


def test_batch_search_equals_single_machine(dask_client, tmp_path):
    from tagrank.baselines.bm25 import BM25Scorer
    from tagrank.baselines.tfidf import TfidfScorer
    from tagrank.eval.datasets import load_dataset
    from tagrank.hybrid.dask_batch import batch_search, read_output, score_keys
    from tagrank.hybrid.pipelines import SearchPipeline

    sample = load_dataset("sample")
    ids, titles = sample.items["item_id"].tolist(), sample.items["text"].tolist()
    pipe = SearchPipeline({"bm25": BM25Scorer(), "tfidf": TfidfScorer()}, ranker_params={"n_estimators": 20},
                          train_rerank=False).fit(ids, titles, sample.judgments)
    path = pipe.save(tmp_path / "search")
    queries = sorted(sample.judgments["query"].unique())
    pd.DataFrame({"query": queries}).to_parquet(tmp_path / "queries.parquet")
    out = batch_search(path, tmp_path / "queries.parquet", tmp_path / "results", k=4, client=dask_client,
                       npartitions=3)
    got = read_output(out)
    want = score_keys("search", SearchPipeline.load(path), queries, 4)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_worker_killed_mid_job_output_complete(dask_client, recommend_model, tmp_path):
    """A worker process dies while the batch runs: the nanny restarts it, Dask reruns the lost
    partitions, and the output holds every user exactly once, equal to the single-machine answer."""
    import os
    import signal
    import threading

    from tagrank.hybrid.dask_batch import batch_recommend, read_output, score_keys

    path, pipe, users = recommend_model
    many = users * 6  # 24 partitions: the job outlasts the kill
    killed = {}

    def kill_one_worker() -> None:
        import time

        deadline = time.time() + 60
        while time.time() < deadline:
            processing = dask_client.processing()
            busy = [w for w, tasks in processing.items() if any("score_partition" in str(t) for t in tasks)]
            if busy:
                pid = dask_client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)  # the worker process dies mid-task, like a lost machine
                killed["worker"] = busy[0]
                return
            time.sleep(0.05)

    t = threading.Thread(target=kill_one_worker)
    t.start()
    out = batch_recommend(path, many, tmp_path / "recs", k=5, client=dask_client, npartitions=24)
    t.join()
    assert killed, "no worker was busy with the batch: nothing was killed"
    got = read_output(out)
    want = score_keys("recommend", pipe, many, 5)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert killed["worker"] not in dask_client.scheduler_info()["workers"]  # it really died
    dask_client.wait_for_workers(2, timeout=60)  # the nanny brought a fresh worker back


def test_cli_batch_recommend_on_a_scheduler_address(dask_client, recommend_model, tmp_path, capsys):
    """``tagrank batch recommend --scheduler ADDRESS``: a CSV of users in, Parquet parts out, same answer."""
    from tagrank.eval.cli import main
    from tagrank.hybrid.dask_batch import read_output, score_keys

    path, pipe, users = recommend_model
    pd.DataFrame({"user_id": users}).to_csv(tmp_path / "users.csv", index=False)
    code = main(["batch", "recommend", "--model", str(path), "--input", str(tmp_path / "users.csv"),
                 "--output", str(tmp_path / "out"), "--k", "3", "--scheduler", dask_client.scheduler.address])
    assert code == 0 and "wrote" in capsys.readouterr().out
    got = read_output(tmp_path / "out")
    pd.testing.assert_frame_equal(got, score_keys("recommend", pipe, users, 3), check_dtype=False)
    assert main(["batch", "search", "--model", str(path), "--input", str(tmp_path / "users.csv"),
                 "--output", str(tmp_path / "out2"), "--scheduler", "local:x"]) == 2


def test_split_query_check_is_exact_on_a_hash_collision(dask_client, monkeypatch):
    """Equal hashes from two partitions send the check to the exact key count, which names a real split only."""
    import dask
    import numpy as np
    from tagrank.hybrid import dask_ranker

    whole = [dask.delayed(pd.Series)(["a", "a", "b"]), dask.delayed(pd.Series)(["c"])]
    split = [dask.delayed(pd.Series)(["a", "b"]), dask.delayed(pd.Series)(["b", "c"])]
    assert dask_ranker._split_query(whole, dask_client) is None
    assert dask_ranker._split_query(split, dask_client) == "b"
    monkeypatch.setattr(dask_ranker, "_key_hashes", lambda keys: np.zeros(1, dtype=np.uint64))  # all collide
    assert dask_ranker._split_query(whole, dask_client) is None
    assert dask_ranker._split_query(split, dask_client) == "b"


@pytest.mark.parametrize("rows, holders, expected", [
    # already even: nothing moves
    ([10, 10, 10, 10], ["a", "b", "a", "b"], ["a", "b", "a", "b"]),
    # all on one worker (as a fresh cluster may place them): half go to the other
    ([10, 10, 10, 10], ["a", "a", "a", "a"], ["a", "a", "b", "b"]),
    # uneven sizes, share 20, largest first: 16 stays on a (16 <= 20); 10 would take a to 26: to the
    # least loaded, b (10); 8: a would reach 24, so b (18); 6: a would reach 22, least loaded is a (16 < 18)
    ([10, 16, 8, 6], ["a", "a", "a", "a"], ["b", "a", "b", "a"]),
    # a holder that is no longer a worker: placed like a new partition
    ([5, 5], ["gone", "gone"], ["a", "b"]),
])
def test_balanced_placement(rows, holders, expected):
    from tagrank.hybrid.dask_ranker import balanced_placement

    assert balanced_placement(rows, holders, ["a", "b"]) == expected


def test_partitions_on_one_worker_are_spread_before_training(dask_client):
    from distributed import wait
    from tagrank.hybrid.dask_ranker import _balance_over_workers

    workers = sorted(dask_client.scheduler_info()["workers"])
    frames = [pd.DataFrame({"x": np.arange(10) + 10 * i}) for i in range(4)]
    crowded = [dask_client.scatter(f, workers=[workers[0]]) for f in frames]
    wait(crowded)
    placed = _balance_over_workers(dask_client, crowded, [10, 10, 10, 10])
    who = dask_client.who_has(placed)
    holders = [list(who[f.key])[0] for f in placed]
    assert sorted(holders) == [workers[0]] * 2 + [workers[1]] * 2
    for got, want in zip(dask_client.gather(placed), frames, strict=True):
        pd.testing.assert_frame_equal(got, want)
