"""CoreHeadroom: cores busy with other work, from /proc/stat counters minus this process's CPU time,
and the threads a tiny forward pass gets from it (fed known counters)."""

from __future__ import annotations

import pytest

from tagrank.hybrid import cpu_headroom
from tagrank.hybrid.cpu_headroom import (
    AVERAGE_WEIGHT,
    EXPLORE_EVERY,
    MAX_EXPLORE_EVERY,
    SLACK_CORES,
    SLOW_FACTOR,
    STALE_S,
    CoreHeadroom,
    busy_seconds,
)

TICK = cpu_headroom._CLOCK_TICKS


def stat_text(busy_ticks: dict[int, int], idle_ticks: int = 1000) -> str:
    """A /proc/stat whose cores have ``busy_ticks`` of user time and ``idle_ticks`` idle."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{cpu} {busy} 0 0 {idle_ticks} 7 0 0 0 0 0" for cpu, busy in busy_ticks.items()]
    return "\n".join([*lines, "intr 1 2 3", "ctxt 99"]) + "\n"


def test_busy_seconds_adds_the_busy_fields_of_the_chosen_cores_only():
    # cpu0: user 4 + nice 1 + system 3 + irq 2 + softirq 5 + steal 6 = 21 busy ticks; idle, iowait
    # and guest (already inside user) are not busy; cpu1 is outside the mask; "cpu " is the total
    text = "cpu  9 9 9 9 9 9 9 9 9 9\ncpu0 4 1 3 100 50 2 5 6 4 0\ncpu1 70 0 0 0 0 0 0 0 0 0\nintr 5\n"
    assert busy_seconds(text, {0}) == pytest.approx(21 / TICK)
    assert busy_seconds(text, {0, 1}) == pytest.approx(91 / TICK)
    assert busy_seconds(text, set()) == 0.0


class FakeMachine:
    """Clock, /proc/stat and this process's CPU time, moved by hand."""

    def __init__(self, cpus: int = 2):
        self.now, self.own, self.reads = 100.0, 5.0, 0
        self.busy = dict.fromkeys(range(cpus), 0)
        self.cpus = set(range(cpus))
        self.readable = True

    def read(self) -> str | None:
        self.reads += 1
        return stat_text(self.busy) if self.readable else None

    def advance(self, seconds: float, own: float, others: float) -> None:
        """``seconds`` pass; this process uses ``own`` CPU seconds and other work ``others``."""
        self.now += seconds
        self.own += own
        self.busy[0] += round((own + others) * TICK)  # the sum over the cores is what counts

    def headroom(self) -> CoreHeadroom:
        return CoreHeadroom(window_s=0.2, read_stat=self.read, cpus=lambda: self.cpus,
                            own_cpu_seconds=lambda: self.own, clock=lambda: self.now)


def test_the_first_window_is_unknown_and_gives_one_thread():
    m = FakeMachine()
    h = m.headroom()
    assert h.busy_elsewhere() is None and h.free_threads(2) == 1
    m.advance(0.1, own=0.1, others=0.0)  # inside the window: not read again
    assert h.free_threads(2) == 1 and h.threads_for(2) == 1 and m.reads == 1


def test_other_work_is_the_busy_time_less_this_process_s_own():
    m = FakeMachine()
    h = m.headroom()
    h.busy_elsewhere()
    m.advance(1.0, own=1.9, others=0.1)  # this process kept both cores busy
    assert h.busy_elsewhere() == pytest.approx(0.1, abs=2 / TICK)
    assert h.free_threads(2) == 2
    m.advance(1.0, own=1.0, others=1.0)  # a busy loop beside it holds one core
    assert h.free_threads(2) == 1
    assert h.free_threads(1) == 1


def test_granted_threads_are_the_free_cores_rounded_with_the_slack():
    m = FakeMachine(cpus=4)
    h = m.headroom()
    h.busy_elsewhere()
    m.advance(1.0, own=0.5, others=1.5)  # 4 - 1.5 + 0.25 = 2.75 -> 2 threads
    assert h.free_threads(4) == 2
    assert h.free_threads(2) == 2
    m.advance(1.0, own=0.5, others=2.0 - SLACK_CORES)  # exactly 2 free cores with the slack
    assert h.free_threads(4) == 2
    m.advance(1.0, own=0.5, others=3.9)
    assert h.free_threads(4) == 1


def test_unreadable_counters_give_one_thread():
    m = FakeMachine()
    m.readable = False
    h = m.headroom()
    for _ in range(3):
        m.advance(1.0, own=0.1, others=0.0)
        assert h.busy_elsewhere() is None and h.threads_for(2) == 1
    m.cpus = set()  # no affinity mask (not Linux): never read
    reads = m.reads
    m.advance(1.0, own=0.1, others=0.0)
    assert h.threads_for(2) == 1 and m.reads == reads


def free_headroom(cpus: int = 2) -> CoreHeadroom:
    """A headroom whose window has shown the cores free of other processes."""
    m = FakeMachine(cpus)
    h = m.headroom()
    h.busy_elsewhere()
    m.advance(1.0, own=0.5, others=0.0)
    return h


def test_the_faster_choice_serves_and_every_16th_pass_measures_the_other():
    h = free_headroom()
    h.record(1, 0.003)
    h.record(2, 0.002)
    chosen = [h.threads_for(2) for _ in range(2 * EXPLORE_EVERY)]
    assert [i for i, t in enumerate(chosen) if t == 1] == [EXPLORE_EVERY - 1, 2 * EXPLORE_EVERY - 1]
    for _ in range(20):  # two threads turn slower (a spinning thread of this process takes a core)
        h.record(2, 0.005)
    assert h.mean_seconds[2] > h.mean_seconds[1]
    chosen = [h.threads_for(2) for _ in range(2 * EXPLORE_EVERY)]
    assert chosen.count(2) == 2
    assert h.pass_counts() == {1: 1, 2: 21}


def test_two_threads_are_tried_first_once_the_cores_are_known_free():
    h = free_headroom()
    assert h.threads_for(2) == 2  # nothing measured on two threads yet
    h.record(1, 0.003)
    assert h.threads_for(2) == 2


def test_the_running_averages_weigh_the_newest_pass_by_the_average_weight():
    h = free_headroom()
    h.record(1, 0.004)
    h.record(1, 0.012)
    assert h.mean_seconds == {1: pytest.approx(0.004 + AVERAGE_WEIGHT * 0.008)}
    h.record(2, 0.002)
    h.record(2, 0.003)
    assert h.mean_seconds[2] == pytest.approx(0.002 + AVERAGE_WEIGHT * 0.001)


def test_stalls_explore_less_often_enter_the_average_capped_and_a_lead_resets_the_interval():
    h = free_headroom()
    h.record(1, 0.003)
    h.record(2, 0.002)  # two threads lead
    h.record(2, 0.003 * (SLOW_FACTOR - 0.5))  # slower than one thread, not a stall: interval kept
    assert h.explore_every == EXPLORE_EVERY
    mean_before = h.mean_seconds[2]
    h.record(2, 1.0)  # a stall: counted as SLOW_FACTOR times the one-thread average
    assert h.mean_seconds[2] == pytest.approx(mean_before + AVERAGE_WEIGHT * (SLOW_FACTOR * 0.003 - mean_before))
    assert h.explore_every == 2 * EXPLORE_EVERY and h.mean_seconds[2] > h.mean_seconds[1]
    chosen = [h.threads_for(2) for _ in range(4 * EXPLORE_EVERY)]
    assert chosen.count(2) == 2  # one thread serves; two threads tried every 32nd pass, not 16th
    for _ in range(20):
        h.record(2, 1.0)
    assert h.explore_every == MAX_EXPLORE_EVERY
    while h.mean_seconds[2] >= h.mean_seconds[1]:  # two threads fast again: their average falls
        assert h.explore_every == MAX_EXPLORE_EVERY
        h.record(2, 0.001)
    assert h.explore_every == EXPLORE_EVERY


def test_other_processes_on_the_cores_keep_every_pass_on_one_thread():
    m = FakeMachine()
    h = m.headroom()
    h.busy_elsewhere()
    m.advance(1.0, own=1.0, others=1.0)
    h.record(1, 0.003)
    h.record(2, 0.001)  # two threads measured faster before the other process came
    assert [h.threads_for(2) for _ in range(3 * EXPLORE_EVERY)] == [1] * (3 * EXPLORE_EVERY)


def test_a_reading_older_than_the_stale_limit_starts_an_unknown_window():
    # an idle service: the first pass after a long gap must not average other work over the gap
    m = FakeMachine()
    h = m.headroom()
    h.busy_elsewhere()
    m.advance(100.0, own=0.1, others=0.0)
    assert h.busy_elsewhere() is None and h.free_threads(2) == 1
    m.advance(0.3, own=0.1, others=0.3)  # a busy loop started during the gap's last moments
    assert h.free_threads(2) == 1
    m.advance(STALE_S + 0.5, own=0.1, others=0.0)
    assert h.free_threads(2) == 1  # stale again
    m.advance(0.3, own=0.1, others=0.0)
    assert h.free_threads(2) == 2


def test_a_clock_that_has_not_moved_never_divides_by_zero():
    m = FakeMachine()
    h = CoreHeadroom(window_s=0.0, read_stat=m.read, cpus=lambda: m.cpus, own_cpu_seconds=lambda: m.own,
                     clock=lambda: m.now)
    assert h.busy_elsewhere() is None
    assert h.busy_elsewhere() is None  # same instant: no window, no estimate
    m.advance(0.5, own=0.1, others=0.0)
    assert h.busy_elsewhere() == pytest.approx(0.0, abs=2 / TICK)


def test_the_real_counters_of_this_machine_give_a_thread_count_in_range():
    h = CoreHeadroom(window_s=0.0)
    h.busy_elsewhere()
    sum(range(200_000))  # some time of this process's own
    elsewhere = h.busy_elsewhere()
    threads = h.threads_for(2)
    assert threads in (1, 2)
    if cpu_headroom._affinity() and cpu_headroom._read_proc_stat() is not None:  # Linux
        assert elsewhere is not None and elsewhere >= 0.0
    else:
        assert elsewhere is None and threads == 1
