"""Threads for a tiny forward pass (a short query): the caller's where they measure faster, else one.

A short query's forward pass is ~25 small matrix products that read all of the model's weights
(memory-bound), plus ~100 smaller kernels. On cores nothing else is using, two intra-op threads
stream the weights in halves: the serving request of ``benchmarks/perf_rank_latency.py`` measured
p50 4.6-5.2 ms vs 6.0-6.6 ms on one thread, p99 6.0-6.5 vs 8.7-9.1 ms (2-core Xeon, alternating
blocks of 1,000 requests).
But every parallel product ends at a barrier that waits for a descheduled worker whenever
something else holds a core: with a busy-looping process beside it, the same requests measured
p99 176-231 ms on two threads vs 7.6-8.7 ms on one; and with this process's own OpenBLAS threads
still spinning after NumPy's last product (a whole search over the catalogue), two threads
measured p99 98-131 ms vs 24-32 ms. So :func:`threads_for_tiny_input` decides in two steps:

1. other processes: Linux's ``/proc/stat`` (busy time of the cores in this process's affinity
   mask, the hypervisor's steal included) minus this process's own CPU time, over windows of
   :data:`WINDOW_S` seconds. Threads are granted only for the cores it leaves free. Where it
   cannot be read (not Linux), and for the first window after :data:`STALE_S` seconds without a
   reading (an idle service), one thread. A container's CPU quota is not read: give torch no
   more threads than the quota.
2. this process's own threads, which step 1 cannot tell from the pass's own workers: the pass
   times of one thread and of the granted threads are kept as running averages, the faster
   serves, and every :data:`EXPLORE_EVERY`-th pass on free cores runs the other to keep measuring
   it. A multi-threaded pass :data:`SLOW_FACTOR` times slower than the one-thread average (a
   stall) doubles that interval, up to :data:`MAX_EXPLORE_EVERY`, until the multi-threaded
   average is the lower again; a stall enters its average as :data:`SLOW_FACTOR` times the
   one-thread average, so one stall does not shut the faster choice out for long.

``torch.set_num_threads`` is global to the process: the choice assumes one encoding at a time
(a service worker), as torch's own thread setting does. The thread count never changes a vector:
FusedBert's tiny float32 and bfloat16 inputs give the same bits on one or two threads
(``tests/hybrid/test_fused_bert.py``), so only the time depends on this choice.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

#: seconds between two readings of ``/proc/stat``: its counters move in 10 ms ticks per core
WINDOW_S = 0.2
#: a reading older than this says nothing of the cores now: the next window starts unknown
STALE_S = 1.0
#: cores of other work tolerated beside the threads granted (tick rounding of the estimate)
SLACK_CORES = 0.25
#: a multi-threaded tiny pass this many times slower than the one-thread average is a stall
SLOW_FACTOR = 3.0
#: one tiny pass in this many runs on the choice not in use, to keep measuring it
EXPLORE_EVERY = 16
#: the longest exploration interval, reached by doubling after stalls
MAX_EXPLORE_EVERY = 1024
#: weight of the newest pass in a choice's running average of pass times
AVERAGE_WEIGHT = 0.125

# /proc/stat per-core fields: user nice system idle iowait irq softirq steal guest guest_nice
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # guest time is already counted in user


def busy_seconds(stat_text: str, cpus: Iterable[int]) -> float:
    """Seconds the cores ``cpus`` have spent busy since boot, from the text of ``/proc/stat``
    (user, nice, system, irq, softirq and steal time; idle and iowait are not busy)."""
    wanted = set(cpus)
    ticks = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if len(name) > 3 and name.startswith("cpu") and int(name[3:]) in wanted:
            fields = rest.split()
            ticks += sum(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields))
    return ticks / _CLOCK_TICKS


def _read_proc_stat() -> str | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return fh.read()
    except OSError:
        return None


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set()


try:
    _CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))
except (AttributeError, ValueError, OSError):
    _CLOCK_TICKS = 100.0


class CoreHeadroom:
    """Chooses the threads of tiny forward passes (see the module docstring).

    :meth:`busy_elsewhere` estimates how many cores of this process's affinity mask other
    processes keep busy: a call at least ``window_s`` seconds after the last reading reads
    ``/proc/stat`` again; until a window of at most :data:`STALE_S` seconds has ended the
    estimate is unknown (None). :meth:`threads_for` picks a pass's threads and :meth:`record`
    learns from its time. The readers are parameters so that tests can feed known counters.
    """

    def __init__(
        self,
        window_s: float = WINDOW_S,
        read_stat: Callable[[], str | None] = _read_proc_stat,
        cpus: Callable[[], set[int]] = _affinity,
        own_cpu_seconds: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.read_stat = read_stat
        self.cpus = cpus
        self.own_cpu_seconds = own_cpu_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # (wall, busy, own) of the last reading
        self._estimate: float | None = None
        self._cores = 0  # cores in the affinity mask at the last reading
        self.mean_seconds: dict[int, float] = {}  # threads -> running average pass time
        self.explore_every = EXPLORE_EVERY
        self._since_explore = 0
        self._passes: Counter[int] = Counter()  # tiny passes recorded, by their number of threads

    def _reading(self, cpus: set[int]) -> tuple[float, float, float] | None:
        text = self.read_stat()
        if text is None:
            return None
        return self.clock(), busy_seconds(text, cpus), self.own_cpu_seconds()

    def busy_elsewhere(self) -> float | None:
        """Cores kept busy by other processes over the last window (None: not known, see the class)."""
        with self._lock:
            if self._last is not None and 0.0 <= self.clock() - self._last[0] < self.window_s:
                return self._estimate
            cpus = self.cpus()
            now = self._reading(cpus) if cpus else None
            if now is None:
                self._last, self._estimate = None, None
                return None
            self._cores = len(cpus)
            wall = now[0] - self._last[0] if self._last is not None else 0.0
            if 0.0 < wall <= STALE_S:
                others = (now[1] - self._last[1]) - (now[2] - self._last[2])
                self._estimate = max(0.0, others / wall)
            elif wall > STALE_S or self._last is None:
                self._estimate = None  # no reading yet, or one too old to say what the cores do now
            self._last = now
            return self._estimate

    def free_threads(self, wanted: int) -> int:
        """Up to ``wanted`` threads for the cores other processes leave free (1 while unknown)."""
        if wanted <= 1:
            return 1
        elsewhere = self.busy_elsewhere()
        if elsewhere is None:
            return 1
        return max(1, min(wanted, int(self._cores - elsewhere + SLACK_CORES)))

    def threads_for(self, wanted: int) -> int:
        """The threads of the next tiny pass: :meth:`free_threads` where that many threads have
        the lower (or not yet any) average pass time, else 1; every :attr:`explore_every`-th pass
        on free cores the other choice."""
        free = self.free_threads(wanted)
        if free <= 1:
            return 1
        with self._lock:
            one, many = self.mean_seconds.get(1), self.mean_seconds.get(free)
            use_many = many is None or (one is not None and many < one)
            self._since_explore += 1
            if self._since_explore >= self.explore_every:
                self._since_explore = 0
                use_many = not use_many
        return free if use_many else 1

    def record(self, threads: int, seconds: float) -> None:
        """Learn from a tiny pass that ran on ``threads`` threads in ``seconds`` (module docstring:
        the running averages, stalls and the exploration interval)."""
        with self._lock:
            self._passes[threads] += 1
            one = self.mean_seconds.get(1)
            stall = threads > 1 and one is not None and seconds > SLOW_FACTOR * one
            if stall:
                self.explore_every = min(MAX_EXPLORE_EVERY, 2 * self.explore_every)
                seconds = SLOW_FACTOR * one
            mean = self.mean_seconds.get(threads)
            mean = seconds if mean is None else mean + AVERAGE_WEIGHT * (seconds - mean)
            self.mean_seconds[threads] = mean
            if threads > 1 and one is not None and mean < one:
                self.explore_every = EXPLORE_EVERY  # the multi-threaded choice leads again

    def pass_counts(self) -> dict[int, int]:
        """How many tiny passes were recorded, by their number of threads."""
        with self._lock:
            return dict(self._passes)


_HEADROOM = CoreHeadroom()


def threads_for_tiny_input(wanted: int) -> int:
    """Intra-op threads for a tiny forward pass: up to ``wanted`` where they measure faster and other
    processes leave the cores free, else 1 (module docstring)."""
    return _HEADROOM.threads_for(wanted)


def record_tiny_pass(threads: int, seconds: float) -> None:
    """Report how long a tiny forward pass on ``threads`` threads took (:meth:`CoreHeadroom.record`)."""
    _HEADROOM.record(threads, seconds)


def tiny_passes() -> dict[int, int]:
    """How many tiny forward passes this process has run, by their number of threads (benchmarks
    report it beside their latencies)."""
    return _HEADROOM.pass_counts()


__all__ = [
    "AVERAGE_WEIGHT",
    "EXPLORE_EVERY",
    "MAX_EXPLORE_EVERY",
    "SLACK_CORES",
    "SLOW_FACTOR",
    "STALE_S",
    "WINDOW_S",
    "CoreHeadroom",
    "busy_seconds",
    "record_tiny_pass",
    "threads_for_tiny_input",
    "tiny_passes",
]
