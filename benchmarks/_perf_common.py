"""Shared plumbing of the performance benchmarks (spec: "Performance benchmarks").

* every implementation runs in a **fresh subprocess** (``run_worker``), so its
  peak memory is its own: the worker resets its peak-RSS mark
  (``/proc/self/clear_refs``), and reports the growth of ``ru_maxrss`` over the
  resident set just before the measured call (on CUDA:
  ``torch.cuda.max_memory_allocated`` over the memory allocated before);
* timings are repeated in alternating rounds (A, B, A, B, ...) so that load
  from other processes on a shared machine hits both sides alike; a figure is
  the median over rounds and a ratio the median of the per-round ratios;
* ``write_perf`` writes ``benchmarks/results/perf/<name>.json`` with
  ``versions``, ``command``, ``created``, ``device``, ``n``, ``figures`` and
  ``ratios`` (each ratio > 1 when the library is better), plus ``goals``,
  ``machine`` (CPU, threads, load averages) and ``notes``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results" / "perf"

if str(REPO) not in sys.path:  # the scripts run as ``python benchmarks/perf_*.py``
    sys.path.insert(0, str(REPO))


def versions(*extra: str) -> dict[str, str]:
    """tagrank / torch / transformers / ... versions, plus the named distributions."""
    from tagrank.eval.results import library_versions

    out = library_versions()
    for dist in extra:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def command() -> str:
    """The command line that is running, relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    return shlex.join(["python", script_text, *sys.argv[1:]])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str, threads: int = 0) -> dict[str, Any]:
    """Where the numbers were taken: CPU / GPU name, cores, worker threads, load averages."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "worker_threads": threads or torch.get_num_threads(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; falls back to ru_maxrss)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def reset_peak_rss() -> bool:
    """Reset the peak-RSS high-water mark (Linux: ``/proc/self/clear_refs`` 5); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class Measure:
    """Context manager: wall seconds and peak memory growth of the enclosed block."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def __enter__(self) -> Measure:
        import torch

        self.cuda = self.device.startswith("cuda") and torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.reset = reset_peak_rss()
            self.base = rss_bytes()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.t0
        if self.cuda:
            self.peak_mb = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            # ru_maxrss is a high-water mark, reset on entry where the OS allows
            # it; without the reset an earlier, higher peak would be counted
            self.peak_mb = max(peak_rss_bytes() - self.base, 0) / 2**20


def worker_main(run: Any) -> None:
    """Entry of a worker subprocess: ``run(args: dict) -> dict`` printed as the last stdout line."""
    args = json.loads(sys.argv[sys.argv.index("--worker") + 1])
    if args.get("threads"):
        import torch

        torch.set_num_threads(int(args["threads"]))
    result = run(args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


def run_worker(script: str | Path, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``script --worker <json>`` in a fresh interpreter and return its result dict."""
    cmd = [sys.executable, str(script), "--worker", json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    last = [line for line in proc.stdout.splitlines() if line.strip()][-1]
    return json.loads(last)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(library: list[float], reference: list[float], higher_is_better: bool) -> float:
    """Median of per-round ratios, oriented so that > 1 means the library is better."""
    if higher_is_better:
        ratios = [a / b for a, b in zip(library, reference, strict=True)]
    else:
        ratios = [b / a for a, b in zip(library, reference, strict=True)]
    return median(ratios)


def write_perf(name: str, doc: dict[str, Any], out_dir: str | Path | None = None) -> Path:
    """Write ``<out_dir>/<name>.json`` (default benchmarks/results/perf) with the spec's fields."""
    required = ("device", "n", "figures", "ratios")
    missing = [k for k in required if k not in doc]
    if missing:
        raise ValueError(f"performance results need {missing}")
    full = {
        "name": name,
        **doc,
        "command": doc.get("command", command()),
        "created": doc.get("created", datetime.now(UTC).isoformat(timespec="seconds")),
    }
    root = Path(out_dir) if out_dir is not None else RESULTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.json"
    from tagrank.eval.results import portable

    # the same path sanitising as the bench's results: no absolute machine path reaches a committed file
    path.write_text(json.dumps(portable(full), indent=2) + "\n", encoding="utf-8")
    return path


def round_floats(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, digits) for v in value]
    return value


# --------------------------------------------------------------------------- in-process, interleaved
# (issue 18: every implementation runs in the same process, one after the other in each round, at
# each thread count, so that load from other processes on a shared machine hits all alike)

#: instruction-set flags that decide which kernels run (half precision, int8, wide vectors)
_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4_2", "vnni")


def cpu_flags() -> list[str]:
    """The CPU's instruction flags that matter here: avx*, avx512*, amx*, *bf16*, fma, f16c, vnni."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(_FLAG_PREFIXES) or "bf16" in f or "vnni" in f)
    except OSError:
        pass
    return []


def blas_info() -> list[dict[str, Any]]:
    """The BLAS / OpenMP libraries loaded in this process (threadpoolctl): which kernel each runs."""
    from threadpoolctl import threadpool_info

    keep = ("internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer")
    return [{k: lib.get(k) for k in keep if lib.get(k) is not None} for lib in threadpool_info()]


#: what the load averages mean for the figures (the machine is not reserved for a benchmark)
SHARED_NOTE = ("other jobs may have shared these cores while this ran (loadavg_1_5_15, read at the end, shows how "
               "busy the machine was): absolute times are noisy, ratios come from interleaved rounds in one process")


def cpu_machine(threads: list[int], shared_note: bool = True) -> dict[str, Any]:
    """Where CPU numbers were taken: model, flags, cores, the thread counts timed, BLAS kernels, load."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_flags": " ".join(cpu_flags()),
        "native_bf16": any(f in cpu_flags() for f in ("amx_bf16", "avx512_bf16")),
        "cpu_count": os.cpu_count(),
        "threads_timed": threads,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": "; ".join(f"{b.get('internal_api')} {b.get('version') or ''} {b.get('architecture') or ''}".strip()
                          for b in blas_info()),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "openblas_env_unset": not any(k in os.environ for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")),
    }
    if shared_note:
        info["shared_machine"] = SHARED_NOTE
    return info


def speed_probe(repeats: int = 15) -> dict[str, float]:
    """How fast this machine is right now, on one torch thread: ms of one float32 1024 x 1024 matrix
    product (compute; median and min of ``repeats``), GB/s of summing a 256 MB array (memory; median
    of 5), and the 1-minute load. Absolute latencies on a shared VM move with these (the same code
    measured a serving p50 of 5.5 and 8.3 ms minutes apart), so a file that reports them records the
    probe at the start and the end of its run."""
    import time

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
        a @ a  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append((time.perf_counter() - start) * 1000.0)
        big = torch.ones(64 << 20)  # 256 MB: far past the caches
        big.sum()
        stream = []
        for _ in range(5):
            start = time.perf_counter()
            big.sum()
            stream.append(big.numel() * 4 / (time.perf_counter() - start) / 1e9)
    finally:
        torch.set_num_threads(threads)
    return {"matmul_1024_ms_median": round(median(times), 3), "matmul_1024_ms_min": round(min(times), 3),
            "sum_256mb_gbps_median": round(median(stream), 2), "loadavg_1": round(os.getloadavg()[0], 2)}


def set_threads(n: int) -> None:
    """Threads for torch's intra-op pool, every BLAS / OpenMP pool (threadpoolctl) and faiss."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(limits=n)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(n)


def thread_counts(arg: str) -> list[int]:
    """``--threads 1,2,all`` -> [1, 2, cpu_count] (deduplicated, in order)."""
    out: list[int] = []
    for part in arg.split(","):
        n = (os.cpu_count() or 1) if part.strip() == "all" else int(part)
        if n not in out:
            out.append(n)
    return out


def peak_vmhwm_bytes() -> int:
    """Peak resident set (VmHWM) of this process; resettable with :func:`reset_peak_rss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def peak_memory_mb(call: Any) -> tuple[Any, float]:
    """(result, MB the peak resident set grew over the resident set before ``call()``), in process."""
    import gc

    gc.collect()
    reset_peak_rss()
    base = rss_bytes()
    result = call()
    return result, max(peak_vmhwm_bytes() - base, 0) / 2**20


def interleaved(calls: dict[str, Any], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each ``calls[name]()`` over ``repeats`` rounds after ``warmup`` rounds; in each
    round every call runs once, the order rotating from round to round."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def timing(seconds: list[float], per: float | None = None, unit: str = "s") -> dict[str, Any]:
    """Median and min of timed runs (``per``: also items per second)."""
    out: dict[str, Any] = {f"median_{unit}": median(seconds), f"min_{unit}": min(seconds), "repeats": len(seconds)}
    if per:
        out["per_s_median"] = per / median(seconds)
        out["per_s_max"] = per / min(seconds)
    return out


def peer_ratios(times: dict[str, list[float]], library: str, peers: list[str], suffix: str = ""
                ) -> tuple[dict[str, float], dict[str, float]]:
    """({seconds_vs_<peer><suffix>: median of per-round peer/library}, the same from the minima);
    > 1: the library is faster."""
    med, best = {}, {}
    for peer in peers:
        if peer in times:
            med[f"seconds_vs_{peer}{suffix}"] = paired_ratio(times[library], times[peer], higher_is_better=False)
            best[f"seconds_vs_{peer}{suffix}"] = min(times[peer]) / min(times[library])
    return med, best


def write_and_show(name: str, doc: dict[str, Any], out_dir: str | Path | None = None) -> int:
    """:func:`write_perf`, then print the path, every ratio and every agreement figure; returns 0."""
    path = write_perf(name, doc, out_dir)
    print(f"wrote {path}")
    for key, value in {**doc.get("ratios", {}), **doc.get("agreement", {})}.items():
        print(f"{key}: {value}")
    return 0
