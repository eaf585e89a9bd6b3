"""Placing parts of a job on Dask workers so that each worker gets an even share of the rows.

Used for the top-k shards (placed fresh) and the ranker's prepared partitions (already on some
worker: only what balance needs moves). Both jobs wait for their slowest worker.
"""

from __future__ import annotations

from collections.abc import Sequence


def balanced_placement(rows: Sequence[int], holders: Sequence[str | None], workers: Sequence[str]) -> list[str]:
    """The worker for each part: parts taken largest first, each kept on its holder while that worker
    stays within an even share of the rows, otherwise given to the least-loaded worker (ties: the
    first in ``workers``). With no holders (all None) this is plain LPT placement."""
    share = sum(rows) / len(workers)
    load = dict.fromkeys(workers, 0)
    targets: list[str] = [""] * len(rows)
    for i in sorted(range(len(rows)), key=lambda i: (-rows[i], i)):
        holder = holders[i]
        if holder in load and load[holder] + rows[i] <= share:
            target = holder
        else:
            target = min(workers, key=lambda w: load[w])
        load[target] += rows[i]
        targets[i] = target
    return targets


__all__ = ["balanced_placement"]
