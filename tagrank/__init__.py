"""tagrank: product and tag similarity and ranking.

The code lives in three layered packages (``eval -> hybrid -> baselines``); this
module is the distribution's name-plate: its version and a lazy facade over the
public API, so ``from tagrank import HybridRanker`` works without importing torch
until it is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    # name: module that defines it
    "load_dataset": "eval.datasets",
    "list_datasets": "eval.datasets",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'tagrank' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
