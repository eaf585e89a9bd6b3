"""One Dask LocalCluster (2 single-threaded worker processes) shared by the distributed tests."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")


def _warm() -> None:
    import tagrank.baselines.vectors  # noqa: F401
    import tagrank.hybrid.encoder  # noqa: F401


@pytest.fixture(scope="session")
def dask_client():
    """A client of a LocalCluster of 2 worker processes x 1 thread (what ``connect("local:2")`` starts)."""
    from tagrank.eval.distributed import connect, disconnect

    client = connect("local:2", activate=False)
    client.wait_for_workers(2, timeout=60)
    client.run(_warm)  # import torch and tagrank on the workers once, outside the timed tests
    yield client
    disconnect(client)


@pytest.fixture
def single_thread():
    """Run the single-machine reference with the workers' thread count: BLAS rounding depends on it."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
