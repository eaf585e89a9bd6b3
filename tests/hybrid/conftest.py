"""Fixtures shared by the transformer test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny batches gain nothing from 2 threads, and on a shared, loaded CPU the threads'
    barriers cost more than the work (training can be 10x slower): run the module single-threaded."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
