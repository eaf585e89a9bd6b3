"""hybrid.worker_memory: the malloc thresholds are raised inside a task and the worker's own restored after."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from tagrank.hybrid import worker_memory as wm


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(wm, "_libc", lambda: fake)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return fake


def test_a_dask_worker_setting_is_lifted_for_the_task_and_restored(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # what Dask's nanny sets
    with wm.reuse_freed_memory():
        assert libc.calls == [("mallopt", wm.M_MMAP_THRESHOLD, wm.TASK_MMAP_THRESHOLD),
                              ("mallopt", wm.M_TRIM_THRESHOLD, wm.TASK_TRIM_THRESHOLD)]
    # restored: the worker's trim threshold, and the fixed mmap threshold glibc had (128 KiB)
    assert libc.calls[2:] == [("mallopt", wm.M_TRIM_THRESHOLD, 65536),
                              ("mallopt", wm.M_MMAP_THRESHOLD, 128 * 1024), ("malloc_trim", 0)]


def test_an_explicit_mmap_threshold_is_what_comes_back(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    with wm.reuse_freed_memory():
        pass
    assert libc.calls[2:4] == [("mallopt", wm.M_TRIM_THRESHOLD, 128 * 1024),
                               ("mallopt", wm.M_MMAP_THRESHOLD, 1048576)]


@pytest.mark.parametrize("env", [{}, {"MALLOC_TRIM_THRESHOLD_": "not a number"}])
def test_nothing_changes_where_glibc_adapts_by_itself(libc, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with wm.reuse_freed_memory():
        pass
    assert libc.calls == []


def test_concurrent_tasks_raise_once_and_restore_after_the_last(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    inside, release = threading.Barrier(2), threading.Event()

    def task() -> None:
        with wm.reuse_freed_memory():
            inside.wait()
            release.wait()

    other = threading.Thread(target=task)
    other.start()
    with wm.reuse_freed_memory():
        inside.wait()
        assert len(libc.calls) == 2  # raised once for both tasks
        release.set()
        other.join()
        assert len(libc.calls) == 2  # the other task left, this one still runs
    assert [c[0] for c in libc.calls[2:]] == ["mallopt", "mallopt", "malloc_trim"]


def test_an_error_in_the_task_still_restores(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with pytest.raises(ValueError), wm.reuse_freed_memory():
        raise ValueError("boom")
    assert libc.calls[-1] == ("malloc_trim", 0) and wm._ACTIVE == 0


def test_the_real_c_library_accepts_the_settings():
    # in a child process started as Dask starts a worker: this test process's allocator stays as it is
    if wm._libc() is None:
        pytest.skip("not glibc")
    code = ("from tagrank.hybrid import worker_memory as wm; libc = wm._libc(); "
            "ok = [libc.mallopt(wm.M_MMAP_THRESHOLD, wm.TASK_MMAP_THRESHOLD), "
            "libc.mallopt(wm.M_TRIM_THRESHOLD, wm.TASK_TRIM_THRESHOLD)]\n"
            "with wm.reuse_freed_memory(): block = bytearray(64 << 20)\n"
            "print(ok, wm._ACTIVE)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}).stdout
    assert out.strip() == "[1, 1] 0"  # glibc accepted both values (mallopt returns 1)
