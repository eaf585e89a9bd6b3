"""Connect the command line to a Dask cluster: ``--scheduler ADDRESS`` or ``local:N``.

``connect`` returns a :class:`distributed.Client` and makes it the session's
client (:mod:`hybrid.dask_session`), so the transformer methods of ``tagrank
bench`` encode their corpus and run their exact top-k on the cluster. Needs the
optional extra ``tagrank[dask]`` (``dask[dataframe]``, ``distributed``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from tagrank.baselines.validation import TagrankInputError

_LOCAL = re.compile(r"^local:(\d+)$")


def local_workers(scheduler: str) -> int | None:
    """N of a ``local:N`` scheduler, or None for an address (only ``local`` / ``local:...`` is the local form)."""
    text = scheduler.strip()
    if text != "local" and not text.startswith("local:"):
        return None  # an address, e.g. localhost:8786 or tcp://host:8786
    m = _LOCAL.match(text)
    if not m:
        raise TagrankInputError(f"scheduler {scheduler!r}: write local:N with N the number of workers, e.g. local:2")
    if int(m.group(1)) < 1:
        raise TagrankInputError(f"scheduler {scheduler!r}: local:N needs N >= 1 workers")
    return int(m.group(1))


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:  # pragma: no cover - the extra is installed in dev/CI
        raise TagrankInputError(
            "--scheduler needs Dask: pip install 'tagrank[dask]' (dask[dataframe], distributed)"
        ) from None


# A LocalCluster shares the caller's cores, so what its processes do while idle is taken from the
# work. No dashboard is started, so nobody reads the workers' statistical profile (a sampling thread
# every 10 ms, taking the GIL: ~5% of a top-k on 2 workers x 2 cores) or the 500 ms system
# metrics; the 20 ms event-loop tick only times how long the loop was blocked. Measured on 2 cores,
# a LocalCluster of 2 idle workers used 6.3% of a core with Dask's defaults, 2.1% with these.
# Memory limits (spill, pause, restart) keep their checks every 100 ms.
QUIET_LOCAL_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


def local_cluster(n_workers: int, threads_per_worker: int = 1, **kwargs: Any) -> Any:
    """A :class:`distributed.LocalCluster` of ``n_workers`` worker processes (one thread each by default).

    Dask's nannies write the workers' settings (``OMP_NUM_THREADS=1``, ``MKL_NUM_THREADS=1``,
    ``OPENBLAS_NUM_THREADS=1``, ``PYTHONHASHSEED``, ...) into this process's ``os.environ`` and
    leave them there; any process started afterwards (a ``tagrank bench`` subprocess) would then
    run torch on one thread. The caller's environment is put back once the workers are up. The
    cluster runs with :data:`QUIET_LOCAL_CLUSTER` (no profiler, slower diagnostics ticks)."""
    _require_dask()
    from distributed import LocalCluster

    import dask

    before = dict(os.environ)
    try:
        with dask.config.set(QUIET_LOCAL_CLUSTER):
            return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                                dashboard_address=None, **kwargs)
    finally:
        restore_environ(before)


def restore_environ(before: dict[str, str]) -> None:
    """Put ``os.environ`` back to ``before`` (keys added since removed, changed ones reset)."""
    for key in set(os.environ) - set(before):
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def connect(scheduler: str, activate: bool = True) -> Any:
    """A :class:`distributed.Client` for ``scheduler``: ``local:N`` starts a LocalCluster of N
    single-threaded worker processes; anything else is a scheduler address (``tcp://host:8786``).

    ``activate`` makes it the session's client for the library's distributed paths."""
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise TagrankInputError(f"scheduler must be 'local:N' or a scheduler address, got {scheduler!r}")
    _require_dask()
    from distributed import Client

    n = local_workers(scheduler)
    if n is not None:
        client = Client(local_cluster(n))
    else:
        try:
            client = Client(scheduler.strip(), timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise TagrankInputError(f"could not connect to the Dask scheduler {scheduler!r}: {exc}") from None
    if activate:
        from tagrank.hybrid.dask_session import set_client

        set_client(client)
    return client


def disconnect(client: Any) -> None:
    """Close ``client`` (and the LocalCluster it started); the session falls back to one machine."""
    from tagrank.hybrid.dask_session import active_client, set_client

    if active_client() is client:
        set_client(None)
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def add_batch_parser(sub: Any) -> None:
    """``tagrank batch recommend|search``: score every user / query of a file on a Dask cluster, to Parquet."""
    batch = sub.add_parser(
        "batch", help="score every user (recommend) or query (search) of a file on a Dask cluster, to Parquet",
        description="Load a saved RecommendPipeline / SearchPipeline on each Dask worker once and write its "
                    "top-k for every user id / query text of --input as Parquet parts under --output "
                    "(columns: user_id or query, rank, item_id, score). Needs tagrank[dask].",
    )
    batch.add_argument("kind", choices=["recommend", "search"])
    batch.add_argument("--model", required=True, help="a saved pipeline directory (pipe.save(DIR))")
    batch.add_argument("--input", required=True, help="CSV or Parquet file or folder with the users / queries")
    batch.add_argument("--column", default=None, help="column of --input (default: user_id, or query)")
    batch.add_argument("--output", required=True, help="output folder (must not exist, or be empty)")
    batch.add_argument("--k", type=int, default=10, help="results per user / query (default 10)")
    batch.add_argument("--partitions", type=int, default=None, help="partitions of --input (default: as read)")
    batch.add_argument("--scheduler", default="local:2",
                       help="Dask scheduler ADDRESS, or local:N for a LocalCluster of N workers (default local:2)")
    batch.set_defaults(func=run_batch)


def run_batch(args: Any) -> int:
    """The ``tagrank batch`` command."""
    from tagrank.hybrid.dask_batch import batch_score

    client = connect(args.scheduler, activate=False)
    try:
        out = batch_score(args.kind, args.model, args.input, args.output, k=args.k, column=args.column,
                          npartitions=args.partitions, client=client)
    finally:
        disconnect(client)
    print(f"wrote {out}")
    return 0


__all__ = ["add_batch_parser", "connect", "disconnect", "local_cluster", "local_workers", "run_batch"]
