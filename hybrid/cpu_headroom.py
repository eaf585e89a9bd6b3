"""How many of this process's CPU cores other work leaves free, to size the threads of a tiny forward pass.

A short query's forward pass is ~25 small matrix products that read all of the model's weights
(memory-bound), plus ~100 smaller kernels. On cores nothing else is using, two intra-op threads
stream the weights in halves: the serving request of ``benchmarks/perf_rank_latency.py`` measured
p99 6.0-6.5 ms vs 8.7-9.1 ms on one thread (2-core Xeon, alternating blocks of 1,000 requests).
But while another process keeps a core busy, every parallel product waits at its barrier for a
descheduled worker: with one busy-looping process beside it, the same requests measured p99
176-231 ms on two threads vs 7.6-8.7 ms on one. So :func:`threads_for_tiny_input` grants the
caller's threads only while the other work on this process's cores leaves them free.

The other work is read from Linux's ``/proc/stat`` (busy time of the cores in this process's
affinity mask, the hypervisor's steal included) minus this process's own CPU time, over windows of
:data:`WINDOW_S` seconds. Where that cannot be read (not Linux) the answer is one thread. Busy
threads of this same process count as its own work and are not seen. Work that starts within a
window is caught by its symptom: a multi-threaded pass :data:`SLOW_FACTOR` times slower than the
fastest one seen drops to one thread until a whole new window shows the cores free again (with a
process busy 1 s in every 2 beside it, at most one such pass per burst measured >100 ms).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

#: seconds between two readings of ``/proc/stat``: its counters move in 10 ms ticks per core
WINDOW_S = 0.2
#: cores of other work tolerated beside the threads granted (tick rounding of the estimate)
SLACK_CORES = 0.25
#: a multi-threaded tiny pass this many times slower than the fastest seen means the cores are taken
SLOW_FACTOR = 3.0

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
    """Estimates how many cores of this process's affinity mask other work keeps busy.

    Each call to :meth:`busy_elsewhere` that comes at least ``window_s`` seconds after the last
    reading reads ``/proc/stat`` again and updates the estimate (cores busy with other work over
    that window); until two readings exist the estimate is unknown (None). The readers are
    parameters so that tests can feed known counters.
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
        self._fastest: float | None = None  # seconds of the fastest multi-threaded pass recorded

    def _reading(self, cpus: set[int]) -> tuple[float, float, float] | None:
        text = self.read_stat()
        if text is None:
            return None
        return self.clock(), busy_seconds(text, cpus), self.own_cpu_seconds()

    def busy_elsewhere(self) -> float | None:
        """Cores kept busy by other work over the last window (None: not known yet, or not Linux)."""
        with self._lock:
            if self._last is not None and self.clock() - self._last[0] < self.window_s:
                return self._estimate
            cpus = self.cpus()
            now = self._reading(cpus) if cpus else None
            if now is None:
                self._last, self._estimate = None, None
                return None
            if self._last is not None:
                wall = now[0] - self._last[0]
                others = (now[1] - self._last[1]) - (now[2] - self._last[2])
                self._estimate = max(0.0, others / wall)
            self._last = now
            return self._estimate

    def record(self, threads: int, seconds: float) -> None:
        """Note a tiny pass that ran on ``threads`` threads in ``seconds``: one :data:`SLOW_FACTOR`
        times slower than the fastest multi-threaded pass seen starts a new window with the estimate
        unknown, so the passes that follow run on one thread until the window shows free cores."""
        if threads <= 1:
            return
        with self._lock:
            if self._fastest is None or seconds < self._fastest:
                self._fastest = seconds
            elif seconds > SLOW_FACTOR * self._fastest:
                cpus = self.cpus()
                self._last = self._reading(cpus) if cpus else None
                self._estimate = None

    def threads_for(self, wanted: int) -> int:
        """``wanted`` threads where the cores leave room for them beside the other work, fewer
        where they do not (at least 1), and 1 while that is not known."""
        if wanted <= 1:
            return 1
        elsewhere = self.busy_elsewhere()
        if elsewhere is None:
            return 1
        free = len(self.cpus()) - elsewhere + SLACK_CORES
        return max(1, min(wanted, int(free)))


_HEADROOM = CoreHeadroom()


def threads_for_tiny_input(wanted: int) -> int:
    """Intra-op threads for a tiny forward pass: ``wanted`` while other work leaves this process's
    cores free, fewer while it does not, 1 where that cannot be told (module docstring)."""
    return _HEADROOM.threads_for(wanted)


def record_tiny_pass(threads: int, seconds: float) -> None:
    """Report how long a tiny forward pass on ``threads`` threads took (:meth:`CoreHeadroom.record`)."""
    _HEADROOM.record(threads, seconds)


__all__ = ["SLACK_CORES", "SLOW_FACTOR", "WINDOW_S", "CoreHeadroom", "busy_seconds", "record_tiny_pass",
           "threads_for_tiny_input"]
